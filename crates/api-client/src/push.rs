//! `POST /images/{name}/push` (progress messages as they arrive) and
//! `POST /auth` (docker login), both carrying registry credentials.

use berth_api_types::JsonMessage;
use http_body_util::Full;
use hyper::Method;
use hyper::body::{Bytes, Incoming};
use serde::{Deserialize, Serialize};

use crate::containers::BodyStream;
use crate::images::encode;
use crate::pull::read_messages;
use crate::{Client, Error, RawResponse, api_error, new_request};

/// What `POST /auth` sends: the credentials and the registry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthConfig {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
    /// The registry (`127.0.0.1:5000`, `https://index.docker.io/v1/`).
    pub serveraddress: String,
}

/// `POST /auth`'s answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthResponse {
    /// `Login Succeeded`.
    #[serde(rename = "Status", default)]
    pub status: String,
    /// A token to store instead of the password (empty for most registries).
    #[serde(rename = "IdentityToken", default)]
    pub identity_token: String,
}

impl Client {
    /// A streaming request with an optional `X-Registry-Auth` header.
    pub(crate) async fn open_with_auth(
        &self,
        method: Method,
        path: &str,
        registry_auth: Option<&str>,
    ) -> Result<Incoming, Error> {
        self.versioned_call(path, |uri| {
            let method = method.clone();
            async move {
                let mut sender = self.connect().await?;
                let mut request = new_request(method, uri);
                if let Some(a) = registry_auth.filter(|a| !a.is_empty()) {
                    request = request.header("X-Registry-Auth", a);
                }
                let request = request
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| Error::Request(e.to_string()))?;
                let response = sender.send_request(request).await.map_err(Error::Http)?;
                let (parts, body) = response.into_parts();
                if !parts.status.is_success() {
                    return Err(api_error(&RawResponse::collect(parts, body).await?));
                }
                Ok(body)
            }
        })
        .await
    }

    /// Pushes `image` at `tag` (empty: every tag of the repository),
    /// calling `on_message` for each progress message; an error message
    /// in the stream is an error.
    pub async fn image_push_stream(
        &self,
        image: &str,
        tag: &str,
        registry_auth: Option<&str>,
        on_message: impl FnMut(&JsonMessage),
    ) -> Result<(), Error> {
        let mut path = format!("/images/{image}/push");
        if !tag.is_empty() {
            path.push_str(&format!("?tag={}", encode(tag)));
        }
        let body = BodyStream::new(
            self.open_with_auth(Method::POST, &path, registry_auth)
                .await?,
        );
        read_messages(body, on_message).await
    }

    /// `POST /auth`: the daemon checks the credentials against the registry.
    pub async fn auth(&self, config: &AuthConfig) -> Result<AuthResponse, Error> {
        let body = serde_json::to_vec(config).map_err(|e| Error::Request(e.to_string()))?;
        let raw = self
            .versioned_call("/auth", |uri| {
                let body = body.clone();
                async move {
                    let mut sender = self.connect().await?;
                    let request = new_request(Method::POST, uri)
                        .header(hyper::header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .map_err(|e| Error::Request(e.to_string()))?;
                    let response = sender.send_request(request).await.map_err(Error::Http)?;
                    let (parts, body) = response.into_parts();
                    let raw = RawResponse::collect(parts, body).await?;
                    if !raw.status.is_success() {
                        return Err(api_error(&raw));
                    }
                    Ok(raw)
                }
            })
            .await?;
        serde_json::from_slice(&raw.body).map_err(|source| Error::Decode {
            path: "/auth".to_owned(),
            source,
        })
    }
}
