//! `POST /containers/{id}/exec`, `POST /exec/{id}/start`,
//! `POST /exec/{id}/resize`, `GET /exec/{id}/json`.
//!
//! An attached start hijacks the connection as `attach` does (answer 101,
//! then the exec's streams: multiplexed frames without a terminal, raw with
//! one) and shares its proxy ([`super::containers::splice_with`]: with a
//! terminal and stdin, the exec's `DetachKeys` end the session and leave the
//! process running, as attach's `detachKeys` do). As dockerd,
//! the exec is checked before the hijack (an unknown one is a plain 404);
//! without `Upgrade: tcp` an attached start answers `200` with the output
//! as the body, as dockerd answers a client that does not upgrade;
//! a failure to start the process after it is written into the stream
//! (`<message>\r\n` on stdout) and the client reads the exit code (126 or
//! 127) from `GET /exec/{id}/json`.

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types::detach_keys::DetachKeys;
use berth_api_types::exec as api;
use berth_engine::Engine;
use berth_engine::container::ContainerError;
use berth_engine::container::exec::{ExecConfig, ExecInfo, ExecStartOptions};

use super::containers::{
    SpliceOptions, blocking, query_of, splice_with, terminal_size, wants_upgrade,
};
use super::json_response;
use crate::error::ApiError;

/// What the exec routes need. The calls block: handlers run them on a
/// blocking thread.
pub trait ExecBackend: Send + Sync {
    fn exec_create(&self, container: &str, config: ExecConfig) -> Result<String, ContainerError>;
    /// The exec, if it exists and its container runs.
    fn exec_check(&self, id: &str) -> Result<ExecInfo, ContainerError>;
    fn exec_start(
        &self,
        id: &str,
        opts: ExecStartOptions,
    ) -> Result<Option<UnixStream>, ContainerError>;
    fn exec_inspect(&self, id: &str) -> Result<ExecInfo, ContainerError>;
    fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<(), ContainerError>;
}

impl ExecBackend for Engine {
    fn exec_create(&self, container: &str, config: ExecConfig) -> Result<String, ContainerError> {
        self.containers().exec_create(container, config)
    }
    fn exec_check(&self, id: &str) -> Result<ExecInfo, ContainerError> {
        self.containers().exec_check(id)
    }
    fn exec_start(
        &self,
        id: &str,
        opts: ExecStartOptions,
    ) -> Result<Option<UnixStream>, ContainerError> {
        self.containers().exec_start(id, opts)
    }
    fn exec_inspect(&self, id: &str) -> Result<ExecInfo, ContainerError> {
        self.containers().exec_inspect(id)
    }
    fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<(), ContainerError> {
        self.containers().exec_resize(id, height, width)
    }
}

pub(crate) type Backend = Arc<dyn ExecBackend>;

/// Exec bodies are small.
const MAX_BODY: usize = 1 << 20;

async fn body_of<T: serde::de::DeserializeOwned + Default>(req: Request) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::invalid_argument(e.to_string()))?;
    // The docker CLI always sends a body; an empty one is all defaults.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid_argument(format!("invalid JSON: {e}")))
}

/// `[0, 0]` is "no size".
fn console(size: Option<[u16; 2]>) -> Option<[u16; 2]> {
    size.filter(|[h, w]| *h > 0 && *w > 0)
}

/// `POST /containers/{id}/exec`: 201 `{"Id": ...}`.
pub(crate) async fn create(backend: Backend, container: String, req: Request) -> Response {
    let body: api::ExecCreateRequest = match body_of(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response_body(),
    };
    if let Err(e) = detach_key_bytes(&body.detach_keys) {
        return e.into_response_body();
    }
    let config = ExecConfig {
        cmd: body.cmd.unwrap_or_default(),
        env: body.env.unwrap_or_default(),
        user: body.user,
        working_dir: body.working_dir,
        tty: body.tty,
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        privileged: body.privileged,
        detach_keys: body.detach_keys,
        console_size: console(body.console_size),
    };
    match blocking(move || backend.exec_create(&container, config)).await {
        Ok(id) => json_response(StatusCode::CREATED, &api::IdResponse { id }),
        Err(e) => e.into_response_body(),
    }
}

/// Detach keys as bytes, as dockerd's `term.ToBytes` reads them (empty
/// for none: the default, ctrl-p ctrl-q, applies).
fn detach_key_bytes(keys: &str) -> Result<Vec<u8>, ApiError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    DetachKeys::parse(keys)
        .map(|k| k.bytes().to_vec())
        .map_err(|e| ApiError::invalid_argument(e.to_string()))
}

/// `POST /exec/{id}/start`: detached, 200 once the process runs;
/// otherwise the hijacked stream (or, without an upgrade, the output as
/// the body: [`start_plain`]).
pub(crate) async fn start(backend: Backend, id: String, mut req: Request) -> Response {
    let upgrade = wants_upgrade(&req);
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let body: api::ExecStartRequest = match body_of(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response_body(),
    };
    let opts = ExecStartOptions {
        detach: body.detach,
        console_size: console(body.console_size),
    };
    if body.detach {
        return match blocking(move || backend.exec_start(&id, opts).map(drop)).await {
            Ok(()) => Response::new(Body::empty()),
            Err(e) => e.into_response_body(),
        };
    }
    let b = backend.clone();
    let check = id.clone();
    let info = match blocking(move || b.exec_check(&check)).await {
        Ok(i) => i,
        Err(e) => return e.into_response_body(),
    };
    let tty = info.config.tty;
    let Some(on_upgrade) = on_upgrade else {
        return start_plain(backend, id, opts, tty);
    };
    // Checked at create; an unknown sequence cannot get here.
    let keys = DetachKeys::from_param(Some(&info.config.detach_keys)).unwrap_or_default();
    let splice_opts = SpliceOptions::for_session(tty, info.config.attach_stdin, keys);
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "exec upgrade failed");
                return;
            }
        };
        let mut client = hyper_util::rt::TokioIo::new(upgraded);
        match started_stream(backend, id, opts).await {
            Ok(shim) => {
                splice_with(client, shim, splice_opts).await;
            }
            Err(e) => {
                // dockerd: the error goes to the client's stdout.
                let _ = client.write_all(&error_output(e.message(), tty)).await;
                let _ = client.shutdown().await;
            }
        }
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if tty {
            "application/vnd.docker.raw-stream"
        } else {
            "application/vnd.docker.multiplexed-stream"
        }),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    r
}

/// Starts the exec and connects to its streams (the shim's attach socket).
async fn started_stream(
    backend: Backend,
    id: String,
    opts: ExecStartOptions,
) -> Result<tokio::net::UnixStream, ApiError> {
    let stream = blocking(move || {
        let stream = backend.exec_start(&id, opts)?;
        let stream = stream.ok_or_else(|| ContainerError::Internal {
            message: "the exec started without its streams".into(),
        })?;
        stream
            .set_nonblocking(true)
            .map_err(|e| ContainerError::Internal {
                message: format!("exec attach socket: {e}"),
            })?;
        Ok(stream)
    })
    .await?;
    tokio::net::UnixStream::from_std(stream).map_err(|e| {
        ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("exec attach socket: {e}"),
        )
    })
}

/// A start that failed once the answer was sent: dockerd writes the
/// message to the client's stdout (a stdout frame without a terminal).
fn error_output(message: &str, tty: bool) -> Vec<u8> {
    let text = format!("{message}\r\n");
    let mut out = Vec::new();
    if !tty {
        out.extend_from_slice(&[1, 0, 0, 0]);
        out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out
}

/// An attached start without `Upgrade: tcp` (a plain HTTP client): as
/// dockerd, `200` with `Content-Type: application/vnd.docker.raw-stream`
/// and the exec's output as the body until the process ends (docker's
/// multiplexed frames without a terminal, as on an upgraded connection;
/// a start that fails writes its message there). Nothing more comes from
/// the client, so the process's stdin, if attached, stays open until the
/// client goes away, as with dockerd's hijacked connection.
fn start_plain(backend: Backend, id: String, opts: ExecStartOptions, tty: bool) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::spawn(async move {
        let shim = match started_stream(backend, id, opts).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx
                    .send(Ok(Bytes::from(error_output(e.message(), tty))))
                    .await;
                return;
            }
        };
        super::images::forward(shim, &tx).await;
    });
    let mut r = Response::new(Body::from_stream(super::images::ChannelStream(rx)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    r
}

/// `POST /exec/{id}/resize?h=&w=`.
pub(crate) async fn resize(backend: Backend, id: String, req: Request) -> Response {
    let (height, width) = match terminal_size(&query_of(&req)) {
        Ok(s) => s,
        Err(e) => return e.into_response_body(),
    };
    match blocking(move || backend.exec_resize(&id, height, width)).await {
        Ok(()) => Response::new(Body::empty()),
        Err(e) => e.into_response_body(),
    }
}

/// `GET /exec/{id}/json`.
pub(crate) async fn inspect(backend: Backend, id: String) -> Response {
    match blocking(move || backend.exec_inspect(&id)).await {
        Ok(info) => json_response(StatusCode::OK, &inspect_body(info)),
        Err(e) => e.into_response_body(),
    }
}

fn inspect_body(info: ExecInfo) -> api::ExecInspect {
    let c = info.config;
    let mut cmd = c.cmd.into_iter();
    api::ExecInspect {
        id: info.id,
        running: info.running,
        exit_code: info.exit_code.map(i64::from),
        process_config: api::ExecProcessConfig {
            tty: c.tty,
            entrypoint: cmd.next().unwrap_or_default(),
            arguments: cmd.collect(),
            privileged: Some(c.privileged),
            user: c.user,
        },
        open_stdin: c.attach_stdin,
        open_stderr: c.attach_stderr,
        open_stdout: c.attach_stdout,
        can_remove: false,
        container_id: info.container_id,
        detach_keys: base64(&detach_key_bytes(&c.detach_keys).unwrap_or_default()),
        pid: i64::from(info.pid),
    }
}

/// Standard base64 with padding (Go's encoding of `[]byte` in JSON).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_as_dockerd() {
        assert_eq!(detach_key_bytes("").unwrap(), b"");
        assert_eq!(detach_key_bytes("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(detach_key_bytes("a,ctrl-@,ctrl-\\").unwrap(), [b'a', 0, 28]);
        assert!(detach_key_bytes("ctrl-").is_err());
        assert!(detach_key_bytes("nope").is_err());
    }

    #[test]
    fn go_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }
}
