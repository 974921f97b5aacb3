//! The image endpoints.
//!
//! Archive bodies (`load`, `import`) are sent from memory and `save`
//! answers are read into memory: simple, and fine for the image sizes
//! berth handles today; streaming both ways is the next step.

use berth_api_types::{HistoryResponseItem, ImageDeleteResponseItem, ImageSummary, JsonMessage};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use crate::host::Host;
use crate::{Client, Error, RawResponse, USER_AGENT, api_error};

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    async fn versioned(&self, path: &str) -> Result<String, Error> {
        Ok(format!("/v{}{path}", self.api_version().await?))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<RawResponse, Error> {
        let uri = self.versioned(path).await?;
        let raw = self.send_body(method, &uri, body, content_type).await?;
        if !raw.status.is_success() {
            return Err(api_error(&raw));
        }
        Ok(raw)
    }

    fn decode<T: serde::de::DeserializeOwned>(path: &str, raw: &RawResponse) -> Result<T, Error> {
        serde_json::from_slice(&raw.body).map_err(|source| Error::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// `GET /images/json`; `filters` is the JSON filter map.
    pub async fn images(&self, all: bool, filters: &str) -> Result<Vec<ImageSummary>, Error> {
        let mut path = format!("/images/json?all={}", u8::from(all));
        if !filters.is_empty() {
            path.push_str(&format!("&filters={}", encode(filters)));
        }
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode("/images/json", &raw)
    }

    /// `GET /images/{name}/json`, as a JSON tree (for `--format`).
    pub async fn image_inspect(&self, name: &str) -> Result<serde_json::Value, Error> {
        let path = format!("/images/{name}/json");
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `GET /images/{name}/history`.
    pub async fn image_history(&self, name: &str) -> Result<Vec<HistoryResponseItem>, Error> {
        let path = format!("/images/{name}/history");
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `POST /images/{name}/tag`.
    pub async fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<(), Error> {
        let path = format!(
            "/images/{name}/tag?repo={}&tag={}",
            encode(repo),
            encode(tag)
        );
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `DELETE /images/{name}`.
    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>, Error> {
        let path = format!(
            "/images/{name}?force={}&noprune={}",
            u8::from(force),
            u8::from(no_prune)
        );
        let raw = self.call(Method::DELETE, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `GET /images/get?names=...`: the archive.
    pub async fn image_save(&self, names: &[String]) -> Result<Vec<u8>, Error> {
        let q: Vec<String> = names
            .iter()
            .map(|n| format!("names={}", encode(n)))
            .collect();
        let path = format!("/images/get?{}", q.join("&"));
        Ok(self.call(Method::GET, &path, Vec::new(), None).await?.body)
    }

    /// `POST /images/load`: the JSON messages of the answer.
    pub async fn image_load(&self, archive: Vec<u8>) -> Result<Vec<JsonMessage>, Error> {
        let raw = self
            .call(
                Method::POST,
                "/images/load?quiet=1",
                archive,
                Some("application/x-tar"),
            )
            .await?;
        json_messages(&raw)
    }

    /// `POST /images/create?fromSrc=-`: import a rootfs tar.
    pub async fn image_import(
        &self,
        archive: Vec<u8>,
        repo: &str,
        tag: &str,
        changes: &[String],
        message: &str,
    ) -> Result<Vec<JsonMessage>, Error> {
        let mut path = format!(
            "/images/create?fromSrc=-&repo={}&tag={}&message={}",
            encode(repo),
            encode(tag),
            encode(message)
        );
        for c in changes {
            path.push_str(&format!("&changes={}", encode(c)));
        }
        let raw = self
            .call(Method::POST, &path, archive, Some("application/x-tar"))
            .await?;
        json_messages(&raw)
    }

    /// Sends one request with `body` on a fresh connection and reads the
    /// whole answer. `path` is sent as given.
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<RawResponse, Error> {
        let Host::Unix(socket) = self.host();
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|source| Error::connect(self.host(), source))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Http)?;
        tokio::spawn(conn);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "api.moby.localhost")
            .header(hyper::header::USER_AGENT, USER_AGENT);
        if let Some(ct) = content_type {
            request = request.header(hyper::header::CONTENT_TYPE, ct);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(Error::Http)?
            .to_bytes()
            .to_vec();
        Ok(RawResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// The JSON lines of a progress answer; an `error` line is an error.
fn json_messages(raw: &RawResponse) -> Result<Vec<JsonMessage>, Error> {
    let mut out = Vec::new();
    for line in raw.body.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let m: JsonMessage = serde_json::from_slice(line).map_err(|source| Error::Decode {
            path: "progress stream".to_owned(),
            source,
        })?;
        if let Some(e) = &m.error {
            return Err(Error::Stream(e.clone()));
        }
        out.push(m);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(encode("CMD [\"sh\"]"), "CMD%20%5B%22sh%22%5D");
        assert_eq!(encode("a/b:1"), "a%2Fb%3A1");
    }
}
