//! The container endpoints: create, start, wait, attach (the hijacked
//! stream), resize, list, inspect, logs, stop, kill, remove, and the pull
//! that `run` tries when an image is missing.
//!
//! `wait` and `attach` are split in two, as the docker CLI needs them: the
//! call returns once the daemon has answered (so the wait or attach is in
//! place before the container starts), and the result or the stream is
//! read afterwards ([`PendingWait`], [`AttachStream`], [`BodyStream`]).
//! [`Demux`] splits docker's multiplexed stream (8-byte frame headers) into
//! stdout and stderr.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use berth_api_types::container::{ContainerCreateResponse, ContainerWaitResponse};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::images::encode;
use crate::{Client, Error, RawResponse, api_error, new_request};

/// `GET /containers/json` options (`docker ps`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub all: bool,
    /// `-n`/`-l`; `None` for no limit.
    pub limit: Option<u32>,
    pub size: bool,
    /// The JSON filter map (`{"status":["exited"]}`), empty for none.
    pub filters: String,
}

/// `GET /containers/{id}/logs` options (`docker logs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    /// `--details`: the log entries' extra attributes.
    pub details: bool,
    /// `all` or a number of lines.
    pub tail: Option<String>,
    /// Unix seconds (with an optional fraction), as the docker CLI sends them.
    pub since: Option<String>,
    pub until: Option<String>,
}

/// Which streams an attach asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// `detachKeys` (docker's `--detach-keys` syntax); the daemon's
    /// default, ctrl-p ctrl-q, when `None`.
    pub detach_keys: Option<String>,
}

impl Client {
    /// `POST /containers/create?name=`; `config` is docker's create body
    /// (`ContainerConfig` plus `HostConfig`), kept as JSON so that every
    /// field the caller sets reaches the daemon.
    pub async fn container_create(
        &self,
        name: Option<&str>,
        config: &serde_json::Value,
    ) -> Result<ContainerCreateResponse, Error> {
        let mut path = "/containers/create".to_owned();
        if let Some(name) = name {
            path.push_str(&format!("?name={}", encode(name)));
        }
        let body = serde_json::to_vec(config).map_err(|e| Error::Request(e.to_string()))?;
        let raw = self
            .call(Method::POST, &path, body, Some("application/json"))
            .await?;
        Self::decode("/containers/create", &raw)
    }

    /// `POST /containers/{id}/start`.
    pub async fn container_start(&self, id: &str) -> Result<(), Error> {
        let path = format!("/containers/{}/start", encode(id));
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `POST /containers/{id}/wait?condition=`: returns once the daemon has
    /// answered with its headers (the wait is registered then); the exit
    /// status comes from [`PendingWait::result`].
    pub async fn container_wait(&self, id: &str, condition: &str) -> Result<PendingWait, Error> {
        let path = format!(
            "/containers/{}/wait?condition={}",
            encode(id),
            encode(condition)
        );
        let body = self.open(Method::POST, &path, None).await?;
        Ok(PendingWait { body })
    }

    /// `POST /containers/{id}/attach?stream=1&...` with docker's hijack
    /// (`Connection: Upgrade`, `Upgrade: tcp`, answered `101`): the
    /// connection becomes the container's streams.
    pub async fn container_attach(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> Result<AttachStream, Error> {
        let mut path = format!(
            "/containers/{}/attach?stream=1&stdin={}&stdout={}&stderr={}",
            encode(id),
            u8::from(opts.stdin),
            u8::from(opts.stdout),
            u8::from(opts.stderr)
        );
        if let Some(keys) = &opts.detach_keys {
            path.push_str(&format!("&detachKeys={}", encode(keys)));
        }
        self.hijack(&path, Vec::new()).await
    }

    /// `POST path` with docker's hijack (`Connection: Upgrade`, `Upgrade:
    /// tcp`, answered `101`): the connection becomes a stream of the
    /// container's or an exec's stdio. `body` is JSON when not empty.
    pub(crate) async fn hijack(&self, path: &str, body: Vec<u8>) -> Result<AttachStream, Error> {
        let body = Bytes::from(body);
        self.versioned_call(path, |uri| self.hijack_at(uri, body.clone()))
            .await
    }

    async fn hijack_at(&self, uri: String, body: Bytes) -> Result<AttachStream, Error> {
        let mut sender = self.connect().await?;
        let mut request = new_request(Method::POST, uri)
            .header(hyper::header::CONNECTION, "Upgrade")
            .header(hyper::header::UPGRADE, "tcp");
        if !body.is_empty() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let (parts, body) = response.into_parts();
            let raw = RawResponse::collect(parts, body).await?;
            if raw.status.is_success() {
                return Err(Error::Request(format!(
                    "the daemon answered the attach with {} instead of 101 Switching Protocols",
                    raw.status
                )));
            }
            return Err(api_error(&raw));
        }
        let multiplexed = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v != "application/vnd.docker.raw-stream");
        let upgraded = hyper::upgrade::on(response).await.map_err(Error::Http)?;
        let parts = upgraded
            .downcast::<TokioIo<UnixStream>>()
            .map_err(|_| Error::Request("the attach connection cannot be taken over".into()))?;
        Ok(AttachStream {
            stream: parts.io.into_inner(),
            buffered: parts.read_buf,
            multiplexed,
        })
    }

    /// `POST /containers/{id}/resize?h=&w=`.
    pub async fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<(), Error> {
        let path = format!("/containers/{}/resize?h={height}&w={width}", encode(id));
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `GET /containers/json`, as JSON trees (the list formatter reads
    /// fields the typed summary does not keep, such as `SizeRw`).
    pub async fn containers(&self, opts: &ListOptions) -> Result<Vec<serde_json::Value>, Error> {
        self.containers_as(opts).await
    }

    /// `GET /containers/json`, each entry parsed as `T` (the fields a
    /// caller needs, the rest skipped).
    pub async fn containers_as<T: serde::de::DeserializeOwned>(
        &self,
        opts: &ListOptions,
    ) -> Result<Vec<T>, Error> {
        let mut path = format!("/containers/json?all={}", u8::from(opts.all));
        if let Some(n) = opts.limit {
            path.push_str(&format!("&limit={n}"));
        }
        if opts.size {
            path.push_str("&size=1");
        }
        if !opts.filters.is_empty() {
            path.push_str(&format!("&filters={}", encode(&opts.filters)));
        }
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode("/containers/json", &raw)
    }

    /// `GET /containers/{id}/json?size=`, as a JSON tree (for `--format`).
    pub async fn container_inspect(
        &self,
        id: &str,
        size: bool,
    ) -> Result<serde_json::Value, Error> {
        self.container_inspect_as(id, size).await
    }

    /// `GET /containers/{id}/json` decoded into `T` (e.g. a type that keeps
    /// the daemon's key order, which `serde_json::Value` sorts).
    pub async fn container_inspect_as<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        size: bool,
    ) -> Result<T, Error> {
        let mut path = format!("/containers/{}/json", encode(id));
        if size {
            path.push_str("?size=1");
        }
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `GET /containers/{id}/logs`: the answer's body as it arrives
    /// (multiplexed frames unless the container has a terminal).
    pub async fn container_logs(&self, id: &str, opts: &LogsOptions) -> Result<BodyStream, Error> {
        let mut path = format!(
            "/containers/{}/logs?stdout={}&stderr={}&follow={}&timestamps={}&details={}",
            encode(id),
            u8::from(opts.stdout),
            u8::from(opts.stderr),
            u8::from(opts.follow),
            u8::from(opts.timestamps),
            u8::from(opts.details)
        );
        for (key, value) in [
            ("tail", &opts.tail),
            ("since", &opts.since),
            ("until", &opts.until),
        ] {
            if let Some(v) = value {
                path.push_str(&format!("&{key}={}", encode(v)));
            }
        }
        let body = self.open(Method::GET, &path, None).await?;
        Ok(BodyStream { body })
    }

    /// `POST /containers/{id}/stop?t=&signal=`.
    pub async fn container_stop(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), Error> {
        let path = crate::lifecycle::stop_path(id, "stop", timeout, signal);
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `POST /containers/{id}/kill?signal=` (the daemon's default, SIGKILL,
    /// when `None`).
    pub async fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<(), Error> {
        let mut path = format!("/containers/{}/kill", encode(id));
        if let Some(s) = signal {
            path.push_str(&format!("?signal={}", encode(s)));
        }
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `DELETE /containers/{id}?force=&v=`.
    pub async fn container_remove(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), Error> {
        let path = format!(
            "/containers/{}?force={}&v={}",
            encode(id),
            u8::from(force),
            u8::from(volumes)
        );
        self.call(Method::DELETE, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `DELETE /containers/{name}?link=1` (`rm -l`): removes the legacy
    /// link `name` (`parent/alias`, sent with its slash as the docker CLI
    /// does).
    pub async fn container_remove_link(&self, name: &str) -> Result<(), Error> {
        let path = format!(
            "/containers/{}?link=1",
            name.split('/').map(encode).collect::<Vec<_>>().join("/")
        );
        self.call(Method::DELETE, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `POST /images/create?fromImage=&tag=` (a pull): the progress
    /// messages; an error status or an error line is an error.
    pub async fn image_pull(&self, image: &str, tag: &str) -> Result<(), Error> {
        let path = format!(
            "/images/create?fromImage={}&tag={}",
            encode(image),
            encode(tag)
        );
        let raw = self.call(Method::POST, &path, Vec::new(), None).await?;
        crate::images::json_messages(&raw)?;
        Ok(())
    }

    /// Sends a request and returns once the status line and headers are
    /// in; an error status is an error. The body is read by the caller.
    pub(crate) async fn open(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
    ) -> Result<Incoming, Error> {
        self.versioned_call(path, |uri| self.open_at(method.clone(), uri, content_type))
            .await
    }

    async fn open_at(
        &self,
        method: Method,
        uri: String,
        content_type: Option<&str>,
    ) -> Result<Incoming, Error> {
        let mut sender = self.connect().await?;
        let mut request = new_request(method, uri);
        if let Some(ct) = content_type {
            request = request.header(hyper::header::CONTENT_TYPE, ct);
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
}

/// A wait the daemon has accepted; its body is the exit status.
#[derive(Debug)]
pub struct PendingWait {
    body: Incoming,
}

impl PendingWait {
    /// The exit status, once the condition holds. A failure the daemon
    /// reports in the body (`Error.Message`) is an error.
    pub async fn result(self) -> Result<ContainerWaitResponse, Error> {
        let body = self.body.collect().await.map_err(Error::Http)?.to_bytes();
        let answer: ContainerWaitResponse =
            serde_json::from_slice(&body).map_err(|source| Error::Decode {
                path: "/containers/{id}/wait".to_owned(),
                source,
            })?;
        if let Some(e) = &answer.error
            && !e.message.is_empty()
        {
            return Err(Error::Stream(e.message.clone()));
        }
        Ok(answer)
    }
}

/// A response body read chunk by chunk (`logs`, `logs -f`).
#[derive(Debug)]
pub struct BodyStream {
    pub(crate) body: Incoming,
}

impl BodyStream {
    pub(crate) fn new(body: Incoming) -> Self {
        Self { body }
    }

    /// The next chunk; `None` at the end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        loop {
            match self.body.frame().await? {
                Err(e) => return Some(Err(Error::Http(e))),
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(data));
                    }
                }
            }
        }
    }
}

/// The hijacked attach connection: the container's output to read (after
/// any bytes that came with the `101` answer), its stdin to write.
#[derive(Debug)]
pub struct AttachStream {
    stream: UnixStream,
    buffered: Bytes,
    multiplexed: bool,
}

impl AttachStream {
    /// Whether the output is docker's multiplexed stream (no terminal) or
    /// raw (a terminal), from the answer's `Content-Type`.
    pub fn multiplexed(&self) -> bool {
        self.multiplexed
    }

    /// The output half and the input half. Shutting the input half down
    /// half-closes the connection, which closes the container's stdin.
    pub fn into_split(self) -> (AttachReader, OwnedWriteHalf) {
        let (read, write) = self.stream.into_split();
        (
            AttachReader {
                buffered: self.buffered,
                read,
            },
            write,
        )
    }
}

/// The output half of an [`AttachStream`].
#[derive(Debug)]
pub struct AttachReader {
    buffered: Bytes,
    read: OwnedReadHalf,
}

impl AsyncRead for AttachReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.buffered.is_empty() {
            let n = self.buffered.len().min(buf.remaining());
            let head = self.buffered.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

/// Which stream a frame of docker's multiplexed stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin,
    Stdout,
    Stderr,
    /// Stream 3: an error from the daemon, sent in the stream (API 1.42+).
    SystemErr,
}

/// An incremental parser of docker's multiplexed stream: each frame is an
/// 8-byte header `[stream, 0, 0, 0, size (u32, big endian)]` then `size`
/// bytes. Feed it chunks as they arrive; it returns whole frames.
#[derive(Debug, Default)]
pub struct Demux {
    pending: Vec<u8>,
}

impl Demux {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `chunk` and returns the frames it completes, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<(StreamKind, Vec<u8>)>, Error> {
        self.pending.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut at = 0;
        while self.pending.len() - at >= 8 {
            let header = &self.pending[at..at + 8];
            let kind = match header[0] {
                0 => StreamKind::Stdin,
                1 => StreamKind::Stdout,
                2 => StreamKind::Stderr,
                3 => StreamKind::SystemErr,
                other => {
                    return Err(Error::Stream(format!(
                        "unrecognized stream {other} in the multiplexed output"
                    )));
                }
            };
            let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if self.pending.len() - at - 8 < size {
                break;
            }
            frames.push((kind, self.pending[at + 8..at + 8 + size].to_vec()));
            at += 8 + size;
        }
        self.pending.drain(..at);
        Ok(frames)
    }

    /// Bytes of an incomplete frame left at the end of the stream.
    pub fn leftover(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![kind, 0, 0, 0];
        f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn demux_splits_frames_across_chunks() {
        let mut bytes = frame(1, b"hello\n");
        bytes.extend(frame(2, b"oops\n"));
        bytes.extend(frame(1, b""));
        let mut d = Demux::new();
        let mut got = Vec::new();
        // One byte at a time: headers and payloads split anywhere.
        for b in &bytes {
            got.extend(d.push(&[*b]).unwrap());
        }
        assert_eq!(
            got,
            vec![
                (StreamKind::Stdout, b"hello\n".to_vec()),
                (StreamKind::Stderr, b"oops\n".to_vec()),
                (StreamKind::Stdout, Vec::new()),
            ]
        );
        assert_eq!(d.leftover(), 0);
        assert_eq!(d.push(&bytes).unwrap().len(), 3);
        assert!(Demux::new().push(&frame(9, b"x")).is_err());
    }
}
