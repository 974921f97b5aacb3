//! `GET /containers/{id}/logs`, `POST /containers/{id}/attach` and
//! `POST /containers/{id}/resize`: the container's streams and terminal.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types::container as api;
use berth_engine::container::logs::parse_unix_timestamp;
use berth_engine::container::{
    AttachHandle, AttachOptions, ContainerError, LogConfig, LogDriver, LogEvent, LogQuery,
    LogRecord, LogStream,
};

use super::{Backend, blocking, flag, query_of};
use crate::error::ApiError;

/// `HostConfig.LogConfig` of a create request as the engine takes it.
pub(super) fn log_config(host: Option<&api::CreateHostConfig>) -> LogConfig {
    let Some(cfg) = host.and_then(|h| h.log_config.as_ref()) else {
        return LogConfig::default();
    };
    LogConfig {
        driver: cfg.driver.clone(),
        config: cfg.config.clone().unwrap_or_default(),
    }
}

/// `HostConfig.ConsoleSize` (`[height, width]`); `[0, 0]` is "none".
pub(super) fn console_size(host: Option<&api::CreateHostConfig>) -> Option<[u16; 2]> {
    host.and_then(|h| h.console_size)
        .filter(|[h, w]| *h > 0 && *w > 0)
}

/// A parameter that is there and not empty.
fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    crate::handlers::params::param(q, name).filter(|v| !v.is_empty())
}

/// `since`/`until` as dockerd reads them (`timetypes.ParseTimestamps`):
/// unix seconds with an optional fraction.
fn timestamp(q: &[(String, String)], name: &str) -> Result<Option<i128>, ApiError> {
    match param(q, name) {
        None => Ok(None),
        Some(v) => match parse_unix_timestamp(v) {
            Some(t) => Ok(Some(t)),
            None => Err(ApiError::invalid_argument(format!(
                "invalid value for \"{name}\": \"{v}\" is not a unix timestamp (seconds, optionally with a fraction)"
            ))),
        },
    }
}

/// Appends one record as the logs and attach answers carry it: a frame
/// header (without a terminal), the timestamp when asked, the output.
fn encode(rec: &LogRecord, tty: bool, timestamps: bool, out: &mut Vec<u8>) {
    let stamp = timestamps.then(|| rec.timestamp());
    let len = rec.log.len() + stamp.as_ref().map_or(0, |s| s.len() + 1);
    if !tty {
        let kind: u8 = match rec.stream {
            LogStream::Stdout => 1,
            LogStream::Stderr => 2,
        };
        out.extend_from_slice(&[kind, 0, 0, 0]);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
    if let Some(s) = stamp {
        out.extend_from_slice(s.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(rec.log.as_bytes());
}

/// What to send of a log read.
#[derive(Debug, Clone, Copy)]
struct LogSend {
    tty: bool,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
}

/// Reads the log on a blocking thread into `tx`, in chunks of up to
/// 32 KiB (flushed whenever a follow waits), until the read ends or the
/// receiver is gone.
fn spawn_log_reader(
    backend: Backend,
    id: String,
    query: LogQuery,
    send: LogSend,
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        const CHUNK: usize = 32 * 1024;
        let mut buf: Vec<u8> = Vec::new();
        let flush = |buf: &mut Vec<u8>| -> bool {
            if buf.is_empty() {
                return !tx.is_closed();
            }
            tx.blocking_send(Ok(Bytes::from(std::mem::take(buf))))
                .is_ok()
        };
        let mut sink = |ev: LogEvent<'_>| -> bool {
            match ev {
                LogEvent::Record(rec) => {
                    let wanted = match rec.stream {
                        LogStream::Stdout => send.stdout,
                        LogStream::Stderr => send.stderr,
                    };
                    if wanted {
                        encode(rec, send.tty, send.timestamps, &mut buf);
                    }
                    buf.len() < CHUNK || flush(&mut buf)
                }
                LogEvent::Idle => flush(&mut buf),
            }
        };
        let result = backend.container_logs(&id, &query, &mut sink);
        if flush(&mut buf)
            && let Err(e) = result
        {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    })
}

fn stream_content_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

/// `GET /containers/{id}/logs?stdout&stderr&follow&since&until&tail&timestamps`:
/// the json-file log with its rotated files; with `follow`, new records
/// as they come until the container stops. Multiplexed frames without a
/// terminal, raw with one.
pub(crate) async fn logs(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let stdout = flag(&q, "stdout");
    let stderr = flag(&q, "stderr");
    if !stdout && !stderr {
        return ApiError::invalid_argument("You must choose at least one stream")
            .into_response_body();
    }
    // dockerd: a tail that is not a number (`all`) or negative is all.
    let tail = param(&q, "tail").and_then(|v| v.parse::<usize>().ok());
    let since = match timestamp(&q, "since") {
        Ok(t) => t.filter(|t| *t > 0),
        Err(e) => return e.into_response_body(),
    };
    // dockerd takes `until=0` as "no limit".
    let until = match timestamp(&q, "until") {
        Ok(t) => t.filter(|t| *t != 0),
        Err(e) => return e.into_response_body(),
    };
    let query = LogQuery {
        tail,
        since,
        until,
        follow: flag(&q, "follow"),
    };
    let b = backend.clone();
    let c = match blocking(move || b.inspect_container(&id)).await {
        Ok(c) => c,
        Err(e) => return e.into_response_body(),
    };
    if let Err(e) = c.options.log_config.driver().and_then(|d| match d {
        LogDriver::None => Err(ContainerError::InvalidArgument {
            message: "configured logging driver does not support reading".into(),
        }),
        LogDriver::JsonFile { .. } => Ok(()),
    }) {
        return ApiError::from_engine(&e).into_response_body();
    }
    let send = LogSend {
        tty: c.process.tty,
        stdout,
        stderr,
        timestamps: flag(&q, "timestamps"),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    spawn_log_reader(backend, c.id, query, send, tx);
    let mut response = Response::new(Body::from_stream(crate::handlers::images::ChannelStream(
        rx,
    )));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, stream_content_type(c.process.tty));
    response
}

/// `POST /containers/{id}/resize?h=&w=`: the container's terminal size.
pub(crate) async fn resize(backend: Backend, id: String, req: Request) -> Response {
    let (height, width) = match terminal_size(&query_of(&req)) {
        Ok(s) => s,
        Err(e) => return e.into_response_body(),
    };
    match blocking(move || backend.resize_container(&id, height, width)).await {
        Ok(()) => Response::new(Body::empty()),
        Err(e) => e.into_response_body(),
    }
}

/// `h` and `w` of a resize (container or exec): `(height, width)`.
pub(crate) fn terminal_size(q: &[(String, String)]) -> Result<(u16, u16), ApiError> {
    let dim = |name: &str| -> Result<u16, ApiError> {
        let v = q
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str());
        // dockerd: `strconv.Atoi(r.Form.Get("h"))`, an invalid parameter.
        let n: i64 = v.parse().map_err(|_| {
            ApiError::invalid_argument(format!("strconv.Atoi: parsing \"{v}\": invalid syntax"))
        })?;
        u16::try_from(n).map_err(|_| {
            ApiError::invalid_argument(format!(
                "invalid terminal size {name}={n}: must be between 0 and 65535"
            ))
        })
    };
    Ok((dim("h")?, dim("w")?))
}

/// How long an attach to a container that is not running waits for its
/// start (the docker CLI attaches, then starts).
const ATTACH_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether the request asks for docker's hijack (`Connection: Upgrade`,
/// `Upgrade: tcp`).
pub(crate) fn wants_upgrade(req: &Request) -> bool {
    let has = |name: header::HeaderName, want: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "tcp")
}

/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=`.
///
/// With `Connection: Upgrade` + `Upgrade: tcp` the answer is `101` and the
/// connection becomes the container's streams; otherwise `200` with the
/// output as the body. `logs=1` first replays the json-file log (the
/// streams asked for, as frames without a terminal); `stream=1` then
/// passes the shim's bytes through unchanged (docker's multiplexed frames
/// without a terminal, raw with one). A container that is not running is
/// attached at its next start. As dockerd, the replay is read before the
/// live attach, so output written in between is in neither.
pub(crate) async fn attach(backend: Backend, id: String, mut req: Request) -> Response {
    let q = query_of(&req);
    let b = backend.clone();
    let lookup = id.clone();
    let c = match blocking(move || b.inspect_container(&lookup)).await {
        Ok(c) => c,
        Err(e) => return e.into_response_body(),
    };
    let stdin = flag(&q, "stdin");
    let opts = AttachOptions {
        stdin,
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        // The docker CLI attaches stdin only with `-i`, and then sets
        // StdinOnce: its end-of-file closes the process's stdin.
        close_stdin: stdin,
    };
    let content_type = stream_content_type(c.process.tty);
    let replay = if flag(&q, "logs") {
        let send = LogSend {
            tty: c.process.tty,
            stdout: opts.stdout,
            stderr: opts.stderr,
            timestamps: false,
        };
        let b = backend.clone();
        let id = c.id.clone();
        let read = blocking(move || {
            let mut out = Vec::new();
            b.container_logs(&id, &LogQuery::default(), &mut |ev| {
                if let LogEvent::Record(rec) = ev {
                    let wanted = match rec.stream {
                        LogStream::Stdout => send.stdout,
                        LogStream::Stderr => send.stderr,
                    };
                    if wanted {
                        encode(rec, send.tty, false, &mut out);
                    }
                }
                true
            })?;
            Ok(out)
        });
        match read.await {
            Ok(out) => out,
            Err(e) => return e.into_response_body(),
        }
    } else {
        Vec::new()
    };
    // Registered before answering: the client starts the container as
    // soon as it has the answer, and the attach must be in place by then.
    let handle = if flag(&q, "stream") {
        let id = c.id;
        match blocking(move || backend.attach_container(&id, opts)).await {
            Ok(h) => Some(h),
            Err(e) => return e.into_response_body(),
        }
    } else {
        None
    };
    if wants_upgrade(&req) {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "attach upgrade failed");
                    return;
                }
            };
            let mut client = hyper_util::rt::TokioIo::new(upgraded);
            if !replay.is_empty() && client.write_all(&replay).await.is_err() {
                return;
            }
            let Some(handle) = handle else {
                let _ = client.shutdown().await;
                return;
            };
            let shim = match connect_shim(handle).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e.message(), "attach failed");
                    return;
                }
            };
            splice(client, shim).await;
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, content_type);
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        return r;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        if !replay.is_empty() && tx.send(Ok(Bytes::from(replay))).await.is_err() {
            return;
        }
        let Some(handle) = handle else {
            return;
        };
        let mut shim = match connect_shim(handle).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx
                    .send(Err(std::io::Error::other(e.message().to_owned())))
                    .await;
                return;
            }
        };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match shim.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    let mut r = Response::new(Body::from_stream(crate::handlers::images::ChannelStream(
        rx,
    )));
    r.headers_mut().insert(header::CONTENT_TYPE, content_type);
    r
}

async fn connect_shim(handle: AttachHandle) -> Result<tokio::net::UnixStream, ApiError> {
    let stream = blocking(move || {
        let s = handle.stream(ATTACH_START_TIMEOUT)?;
        s.set_nonblocking(true).map_err(|e| ContainerError::Shim {
            message: format!("attach socket: {e}"),
        })?;
        Ok(s)
    })
    .await?;
    tokio::net::UnixStream::from_std(stream).map_err(|e| {
        ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("attach socket: {e}"),
        )
    })
}

/// Copies both ways until the container's output ends. The client's
/// end-of-file half-closes the shim connection (closing stdin when asked).
pub(crate) async fn splice<C>(client: C, shim: tokio::net::UnixStream)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::AsyncWriteExt;
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut shim_r, mut shim_w) = shim.into_split();
    let input = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_r, &mut shim_w).await;
        let _ = shim_w.shutdown().await;
    });
    let _ = tokio::io::copy(&mut shim_r, &mut client_w).await;
    let _ = client_w.flush().await;
    let _ = client_w.shutdown().await;
    input.abort();
}
