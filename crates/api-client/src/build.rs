//! `POST /build`: a build from a context tar, its output messages
//! delivered as they arrive (`{"stream": ...}` text, `{"aux": {"ID": ...}}`
//! with the image).

use http_body_util::Full;
use hyper::Method;
use hyper::body::Bytes;

use crate::containers::BodyStream;
use crate::images::encode;
use crate::{Client, Error, RawResponse, api_error, new_request};

/// What a build asks for (`docker build` flags, as the API's query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context.
    pub dockerfile: Option<String>,
    /// `NAME=value` resolved by the caller.
    pub build_args: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    pub network: Option<String>,
    pub platform: Option<String>,
    pub force_rm: bool,
}

impl BuildOptions {
    fn query(&self) -> String {
        let mut q = vec!["rm=1".to_owned()];
        for t in &self.tags {
            q.push(format!("t={}", encode(t)));
        }
        if let Some(d) = &self.dockerfile {
            q.push(format!("dockerfile={}", encode(d)));
        }
        let map = |pairs: &[(String, String)]| {
            let m: serde_json::Map<String, serde_json::Value> = pairs
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            serde_json::Value::Object(m).to_string()
        };
        if !self.build_args.is_empty() {
            q.push(format!("buildargs={}", encode(&map(&self.build_args))));
        }
        if !self.labels.is_empty() {
            q.push(format!("labels={}", encode(&map(&self.labels))));
        }
        if let Some(t) = &self.target {
            q.push(format!("target={}", encode(t)));
        }
        if self.no_cache {
            q.push("nocache=1".to_owned());
        }
        if self.pull {
            q.push("pull=1".to_owned());
        }
        if self.quiet {
            q.push("q=1".to_owned());
        }
        if self.force_rm {
            q.push("forcerm=1".to_owned());
        }
        if let Some(n) = &self.network {
            q.push(format!("networkmode={}", encode(n)));
        }
        if let Some(p) = &self.platform {
            q.push(format!("platform={}", encode(p)));
        }
        q.join("&")
    }
}

/// One message of the build's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildMessage {
    /// Text to show as is.
    Stream(String),
    /// The image built.
    Id(String),
}

impl Client {
    /// Builds from `context` (a tar), calling `on_message` for each
    /// message; an error message in the stream is an error. Returns the
    /// image ID.
    pub async fn build(
        &self,
        context: Vec<u8>,
        opts: &BuildOptions,
        mut on_message: impl FnMut(&BuildMessage),
    ) -> Result<Option<String>, Error> {
        let path = format!("/build?{}", opts.query());
        let uri = self.versioned(&path).await?;
        let mut sender = self.connect().await?;
        let request = new_request(Method::POST, uri)
            .header(hyper::header::CONTENT_TYPE, "application/x-tar")
            .body(Full::new(Bytes::from(context)))
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            return Err(api_error(&RawResponse::collect(parts, body).await?));
        }
        let mut body = BodyStream::new(body);
        let mut id = None;
        let mut buf: Vec<u8> = Vec::new();
        let mut handle = |line: &[u8]| -> Result<(), Error> {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let v: serde_json::Value =
                serde_json::from_slice(line).map_err(|source| Error::Decode {
                    path: "build output".to_owned(),
                    source,
                })?;
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                return Err(Error::Stream(e.to_owned()));
            }
            if let Some(i) = v.pointer("/aux/ID").and_then(|i| i.as_str()) {
                id = Some(i.to_owned());
                on_message(&BuildMessage::Id(i.to_owned()));
            }
            if let Some(s) = v.get("stream").and_then(|s| s.as_str()) {
                on_message(&BuildMessage::Stream(s.to_owned()));
            }
            Ok(())
        };
        while let Some(chunk) = body.chunk().await {
            buf.extend_from_slice(&chunk?);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                handle(&line)?;
            }
        }
        handle(&buf)?;
        Ok(id)
    }
}
