//! `POST /images/create?fromImage=`: a pull, its progress messages
//! delivered as they arrive.

use berth_api_types::JsonMessage;
use hyper::Method;

use crate::containers::BodyStream;
use crate::images::encode;
use crate::{Client, Error};

impl Client {
    /// Pulls `image` at `tag` (a tag, or `sha256:...` for a digest),
    /// calling `on_message` for each progress message; an error message
    /// in the stream is an error. `platform` is `os[/arch[/variant]]`.
    pub async fn image_pull_stream(
        &self,
        image: &str,
        tag: &str,
        platform: Option<&str>,
        on_message: impl FnMut(&JsonMessage),
    ) -> Result<(), Error> {
        self.image_pull_stream_auth(image, tag, platform, None, on_message)
            .await
    }

    /// [`Client::image_pull_stream`] sending `registry_auth` as
    /// `X-Registry-Auth` (base64url JSON, as the docker CLI does).
    pub async fn image_pull_stream_auth(
        &self,
        image: &str,
        tag: &str,
        platform: Option<&str>,
        registry_auth: Option<&str>,
        on_message: impl FnMut(&JsonMessage),
    ) -> Result<(), Error> {
        let mut path = format!(
            "/images/create?fromImage={}&tag={}",
            encode(image),
            encode(tag)
        );
        if let Some(p) = platform.filter(|p| !p.is_empty()) {
            path.push_str(&format!("&platform={}", encode(p)));
        }
        let body = BodyStream::new(
            self.open_with_auth(Method::POST, &path, registry_auth)
                .await?,
        );
        read_messages(body, on_message).await
    }
}

/// Reads a stream of JSON progress messages, calling `on_message` for
/// each; an error message is an error.
pub(crate) async fn read_messages(
    mut body: BodyStream,
    mut on_message: impl FnMut(&JsonMessage),
) -> Result<(), Error> {
    let mut buf: Vec<u8> = Vec::new();
    let mut handle = |line: &[u8]| -> Result<(), Error> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let m: JsonMessage = serde_json::from_slice(line).map_err(|source| Error::Decode {
            path: "progress stream".to_owned(),
            source,
        })?;
        if let Some(e) = &m.error {
            return Err(Error::Stream(e.clone()));
        }
        on_message(&m);
        Ok(())
    };
    while let Some(chunk) = body.chunk().await {
        buf.extend_from_slice(&chunk?);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            handle(&line)?;
        }
    }
    handle(&buf)
}
