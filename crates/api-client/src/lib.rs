//! A typed Docker Engine API client for berthd, over its unix socket.
//!
//! The principal type is [`Client`]: built from a [`Host`], it sends its own
//! API version first and falls back to the docker CLI's negotiation (ping,
//! then use the lower of the server's `Api-Version` and ours) when the daemon
//! says that version is too new; it exposes one typed method per endpoint.
//! Errors ([`Error`]) keep the daemon's `{"message"}` and HTTP status, and
//! a daemon that is not there reads as docker's "Cannot connect" message.
//!
//! ```no_run
//! # async fn demo() -> Result<(), berth_api_client::Error> {
//! let client = berth_api_client::Client::new("unix:///run/berth/berth.sock".parse()?);
//! let version = client.version().await?;
//! println!("server {}", version.version);
//! # Ok(()) }
//! ```

pub mod build;
mod containers;
mod error;
mod exec;
mod fs;
mod host;
mod images;
mod lifecycle;
mod networks;
mod pull;
mod push;
mod resources;
mod system;
mod volumes;

use std::sync::OnceLock;

use berth_api_types::{
    API_VERSION, ErrorResponse, MIN_API_VERSION, PingInfo, SystemInfo, SystemVersion, version,
};
pub use containers::{
    AttachOptions, AttachReader, AttachStream, BodyStream, Demux, ListOptions, LogsOptions,
    PendingWait, StreamKind,
};
pub use error::Error;
pub use fs::CommitOptions;
pub use host::{DEFAULT_HOST, Host};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
pub use images::encode;
pub use push::{AuthConfig, AuthResponse};
pub use system::EventsOptions;

/// A request to berthd with the headers docker's clients send. `Host` is
/// meaningless on a unix socket but required by HTTP/1.1; docker uses
/// this name.
fn new_request<U>(method: Method, uri: U) -> hyper::http::request::Builder
where
    hyper::Uri: TryFrom<U>,
    <hyper::Uri as TryFrom<U>>::Error: Into<hyper::http::Error>,
{
    Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::HOST, "api.moby.localhost")
        .header(hyper::header::USER_AGENT, USER_AGENT)
}
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

/// The `User-Agent` berth's client sends.
const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)");

/// A client for one daemon.
#[derive(Debug)]
pub struct Client {
    host: Host,
    /// The version requests use once negotiated (`None` until then).
    version: OnceLock<String>,
}

/// A raw answer: status, headers, body. Lets callers (and tests) look at what
/// the typed methods hide.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// An answer whose body is read to its end.
    async fn collect(
        parts: hyper::http::response::Parts,
        body: hyper::body::Incoming,
    ) -> Result<Self, Error> {
        let body = body
            .collect()
            .await
            .map_err(Error::Http)?
            .to_bytes()
            .to_vec();
        Ok(Self {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

impl Client {
    pub fn new(host: Host) -> Self {
        Self {
            host,
            version: OnceLock::new(),
        }
    }

    /// A client that always uses `version` and never negotiates.
    pub fn with_version(host: Host, version: &str) -> Self {
        let client = Self::new(host);
        let _ = client.version.set(version.to_owned());
        client
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The newest API version this client speaks.
    pub fn client_version(&self) -> &'static str {
        API_VERSION
    }

    /// The version requests use: negotiated on first use.
    pub async fn api_version(&self) -> Result<&str, Error> {
        if let Some(v) = self.version.get() {
            return Ok(v);
        }
        let ping = self.ping().await?;
        let negotiated = negotiate(API_VERSION, ping.api_version.as_deref());
        Ok(self.version.get_or_init(|| negotiated))
    }

    /// Runs `attempt` on `path` with the version prefix (`/v1.51/...`).
    ///
    /// Until a version is agreed, the request goes out with ours
    /// ([`API_VERSION`]) instead of a `GET /_ping` first: a daemon as new
    /// as this client (berthd, a current dockerd) answers it straight away.
    /// Only a daemon that answers that our version is too new is pinged
    /// (docker's negotiation, [`Client::api_version`]) and the request
    /// repeated with the agreed version; a daemon refuses an unsupported
    /// version before doing anything, so the repeat is safe. `attempt`
    /// must turn an error status into [`Error::Api`].
    pub(crate) async fn versioned_call<T, F, Fut>(&self, path: &str, attempt: F) -> Result<T, Error>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        if let Some(v) = self.version.get() {
            return attempt(format!("/v{v}{path}")).await;
        }
        let result = attempt(format!("/v{API_VERSION}{path}")).await;
        match &result {
            Err(Error::Api {
                status: 400,
                message,
            }) if version_too_new(message) => {
                let version = self.api_version().await?.to_owned();
                attempt(format!("/v{version}{path}")).await
            }
            // Any answer but that one: the daemon serves our version.
            Ok(_) | Err(Error::Api { .. }) => {
                let _ = self.version.set(API_VERSION.to_owned());
                result
            }
            Err(_) => result,
        }
    }

    /// `GET /_ping` (unversioned, as the docker CLI sends it).
    pub async fn ping(&self) -> Result<PingInfo, Error> {
        let raw = self.send(Method::GET, "/_ping").await?;
        let header = |name: &str| {
            raw.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if !raw.status.is_success() {
            return Err(api_error(&raw));
        }
        Ok(PingInfo {
            api_version: header("api-version"),
            os_type: header("ostype"),
            experimental: header("docker-experimental").as_deref() == Some("true"),
            builder_version: header("builder-version"),
        })
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<SystemVersion, Error> {
        self.get_json("/version").await
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<SystemInfo, Error> {
        self.get_json("/info").await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let raw = self
            .versioned_call(path, |uri| async move {
                let raw = self.send(Method::GET, &uri).await?;
                if !raw.status.is_success() {
                    return Err(api_error(&raw));
                }
                Ok(raw)
            })
            .await?;
        serde_json::from_slice(&raw.body).map_err(|source| Error::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// A fresh connection to the daemon, driven on a task of its own until
    /// the answer ends (or, after a `101`, the upgraded stream does).
    async fn connect<B>(&self) -> Result<hyper::client::conn::http1::SendRequest<B>, Error>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Host::Unix(socket) = &self.host;
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|source| Error::connect(&self.host, source))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Http)?;
        tokio::spawn(conn.with_upgrades());
        Ok(sender)
    }

    /// Sends one request without a body on a fresh connection and reads the
    /// whole answer. `path` is sent as given (no version prefix added).
    pub async fn send(&self, method: Method, path: &str) -> Result<RawResponse, Error> {
        let mut sender = self.connect().await?;
        let request = new_request(method, path)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let (parts, body) = response.into_parts();
        RawResponse::collect(parts, body).await
    }
}

/// Docker's negotiation: a server that sends no version is assumed to be
/// the oldest supported one; otherwise use the lower of the two.
pub fn negotiate(client: &str, server: Option<&str>) -> String {
    match server {
        None | Some("") => MIN_API_VERSION.to_owned(),
        Some(server) if version::less_than(server, client) => server.to_owned(),
        Some(_) => client.to_owned(),
    }
}

/// Whether a daemon's 400 says it does not serve the version asked for
/// because it is newer than its own: dockerd's words since API 1.25
/// ("client version 1.52 is too new. Maximum supported API version is
/// 1.51") and before ("client is newer than server").
fn version_too_new(message: &str) -> bool {
    (message.starts_with("client version ") && message.contains(" is too new"))
        || message.starts_with("client is newer than server")
}

fn api_error(raw: &RawResponse) -> Error {
    let message = serde_json::from_slice::<ErrorResponse>(&raw.body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&raw.body).trim().to_owned());
    Error::Api {
        status: raw.status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_takes_the_lower_version() {
        assert_eq!(negotiate("1.51", Some("1.51")), "1.51");
        assert_eq!(negotiate("1.51", Some("1.41")), "1.41");
        assert_eq!(negotiate("1.51", Some("1.52")), "1.51");
        assert_eq!(negotiate("1.51", Some("1.9")), "1.9");
        assert_eq!(negotiate("1.51", None), "1.24");
    }

    #[test]
    fn a_too_new_version_is_recognised_in_dockerd_words() {
        assert!(version_too_new(
            "client version 1.52 is too new. Maximum supported API version is 1.51"
        ));
        assert!(version_too_new(
            "client is newer than server (client API version: 1.24, server API version: 1.23)"
        ));
        assert!(!version_too_new("No such container: x"));
        assert!(!version_too_new(
            "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
        ));
    }
}
