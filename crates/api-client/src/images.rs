//! The image endpoints.
//!
//! Archives stream both ways: `load` and `import` send their body from a
//! reader in 64 KiB chunks ([`ReaderBody`]), and `save` writes the answer
//! to a writer frame by frame, so no archive is held in memory.

use berth_api_types::{HistoryResponseItem, ImageDeleteResponseItem, ImageSummary, JsonMessage};
use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::body::Bytes;
use hyper::body::Frame;

use crate::{Client, Error, RawResponse, api_error, new_request};

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
    pub(crate) async fn versioned(&self, path: &str) -> Result<String, Error> {
        Ok(format!("/v{}{path}", self.api_version().await?))
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<RawResponse, Error> {
        let body = Bytes::from(body);
        self.versioned_call(path, |uri| {
            let (method, body) = (method.clone(), body.clone());
            async move {
                let raw = self.send_bytes(method, &uri, body, content_type).await?;
                // As docker's client: 2xx and 3xx are answers (a start of a
                // running container is 304), 4xx and 5xx errors.
                if !(raw.status.is_success() || raw.status.is_redirection()) {
                    return Err(api_error(&raw));
                }
                Ok(raw)
            }
        })
        .await
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        path: &str,
        raw: &RawResponse,
    ) -> Result<T, Error> {
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
        self.image_inspect_as(name).await
    }

    /// `GET /images/{name}/json` decoded into `T` (e.g. a type that keeps
    /// the daemon's key order).
    pub async fn image_inspect_as<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<T, Error> {
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

    /// `GET /images/get?names=...`: streams the archive into `out`.
    pub async fn image_save(&self, names: &[String], out: &mut dyn Write) -> Result<(), Error> {
        let q: Vec<String> = names
            .iter()
            .map(|n| format!("names={}", encode(n)))
            .collect();
        let path = self
            .versioned(&format!("/images/get?{}", q.join("&")))
            .await?;
        let mut sender = self.connect().await?;
        let request = new_request(Method::GET, path)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let (parts, mut body) = response.into_parts();
        if !parts.status.is_success() {
            return Err(api_error(&RawResponse::collect(parts, body).await?));
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(Error::Http)?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data)
                    .map_err(|e| Error::Request(format!("writing the archive: {e}")))?;
            }
        }
        out.flush()
            .map_err(|e| Error::Request(format!("writing the archive: {e}")))?;
        Ok(())
    }

    /// `POST /images/load`: the JSON messages of the answer.
    pub async fn image_load(
        &self,
        archive: Box<dyn Read + Send>,
    ) -> Result<Vec<JsonMessage>, Error> {
        let uri = self.versioned("/images/load?quiet=1").await?;
        let raw = self
            .send_reader(Method::POST, &uri, archive, "application/x-tar")
            .await?;
        json_messages(&raw)
    }

    /// `POST /images/create?fromSrc=-`: import a rootfs tar.
    pub async fn image_import(
        &self,
        archive: Box<dyn Read + Send>,
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
        let uri = self.versioned(&path).await?;
        let raw = self
            .send_reader(Method::POST, &uri, archive, "application/x-tar")
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
        self.send_bytes(method, path, Bytes::from(body), content_type)
            .await
    }

    async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<RawResponse, Error> {
        let mut sender = self.connect().await?;
        let mut request = new_request(method, path);
        if let Some(ct) = content_type {
            request = request.header(hyper::header::CONTENT_TYPE, ct);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let (parts, body) = response.into_parts();
        RawResponse::collect(parts, body).await
    }
}

impl Client {
    /// Sends a request whose body is read from `reader` as it goes; a
    /// daemon error status is an error.
    pub(crate) async fn send_reader(
        &self,
        method: Method,
        path: &str,
        reader: Box<dyn Read + Send>,
        content_type: &str,
    ) -> Result<RawResponse, Error> {
        let mut sender = self.connect().await?;
        let request = new_request(method, path)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(ReaderBody {
                reader,
                done: false,
            })
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let (parts, body) = response.into_parts();
        let raw = RawResponse::collect(parts, body).await?;
        if !raw.status.is_success() {
            return Err(api_error(&raw));
        }
        Ok(raw)
    }
}

/// A request body read from a file or stdin in chunks (chunked transfer
/// encoding). Reads block; the CLI has nothing else to do meanwhile.
struct ReaderBody {
    reader: Box<dyn Read + Send>,
    done: bool,
}

const CHUNK: usize = 64 * 1024;

impl hyper::body::Body for ReaderBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Ok(n) => {
                    buf.truncate(n);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// The JSON lines of a progress answer; an `error` line is an error.
pub(crate) fn json_messages(raw: &RawResponse) -> Result<Vec<JsonMessage>, Error> {
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
