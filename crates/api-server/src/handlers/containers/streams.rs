//! `GET /containers/{id}/logs`, `POST /containers/{id}/attach` and
//! `POST /containers/{id}/resize`: the container's streams and terminal.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types::container as api;
use berth_api_types::detach_keys::{DetachKeys, DetachScanner};
use berth_api_types::timestamp::parse_timestamp;
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
        Some(v) => match parse_timestamp(v) {
            Some(t) => Ok(Some(t)),
            None => Err(ApiError::invalid_argument(format!(
                "invalid value for \"{name}\": \"{v}\" is not a unix timestamp (seconds, optionally with a fraction)"
            ))),
        },
    }
}

/// Go's `url.QueryEscape`, as dockerd writes `--details` attributes.
fn query_escape(text: &str, out: &mut Vec<u8>) {
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
}

/// dockerd's `--details` prefix: `key=value,key2=value2 ` (escaped as a
/// query; just the space when the record has no attributes).
fn details_prefix(rec: &LogRecord) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (k, v)) in rec.attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        query_escape(k, &mut out);
        out.push(b'=');
        query_escape(v, &mut out);
    }
    out.push(b' ');
    out
}

/// Appends one record as the logs and attach answers carry it: a frame
/// header (without a terminal), the timestamp when asked, the attributes
/// with `details`, the output.
fn encode(rec: &LogRecord, tty: bool, timestamps: bool, details: bool, out: &mut Vec<u8>) {
    let stamp = timestamps.then(|| rec.timestamp());
    let attrs = details.then(|| details_prefix(rec));
    let len = rec.log.len()
        + stamp.as_ref().map_or(0, |s| s.len() + 1)
        + attrs.as_ref().map_or(0, Vec::len);
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
    if let Some(a) = attrs {
        out.extend_from_slice(&a);
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
    details: bool,
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
                        encode(rec, send.tty, send.timestamps, send.details, &mut buf);
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

/// `GET /containers/{id}/logs?stdout&stderr&follow&since&until&tail&timestamps&details`:
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
        details: flag(&q, "details"),
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

/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=`.
///
/// With `Connection: Upgrade` + `Upgrade: tcp` the answer is `101` and the
/// connection becomes the container's streams; otherwise `200` with the
/// output as the body. `logs=1` first replays the json-file log (the
/// streams asked for, as frames without a terminal); `stream=1` then
/// passes the shim's bytes through unchanged (docker's multiplexed frames
/// without a terminal, raw with one). A container that is not running is
/// attached at its next start. As dockerd, the replay is read before the
/// live attach, so output written in between is in neither. With a
/// terminal and stdin, the client's input is watched for the detach keys
/// (`detachKeys`, default ctrl-p ctrl-q), which end the attach and leave
/// the container running; so does the input's end ([`SpliceOptions`]).
pub(crate) async fn attach(backend: Backend, id: String, mut req: Request) -> Response {
    let q = query_of(&req);
    // Checked first, as dockerd does (before looking the container up).
    let detach_keys = match DetachKeys::from_param(param(&q, "detachKeys")) {
        Ok(k) => k,
        Err(e) => return ApiError::invalid_argument(e.to_string()).into_response_body(),
    };
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
        // dockerd's `CloseStdin: StdinOnce`: the docker CLI sets it when
        // `run -i`/`create -i` attach stdin, and then the client's
        // end-of-file closes the process's stdin; a `run -d -i` container
        // keeps it open for the next client.
        close_stdin: stdin && c.options.stdin_once,
    };
    let content_type = stream_content_type(c.process.tty);
    let splice_opts = SpliceOptions::for_session(c.process.tty, stdin, detach_keys);
    let replay = if flag(&q, "logs") {
        let send = LogSend {
            tty: c.process.tty,
            stdout: opts.stdout,
            stderr: opts.stderr,
            timestamps: false,
            details: false,
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
                        encode(rec, send.tty, false, false, &mut out);
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
    // For the `detach` event when the session ends by the keys.
    let (events, full_id) = (backend.clone(), c.id.clone());
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
            if splice_with(client, shim, splice_opts).await == SpliceEnd::Detached {
                tracing::debug!(id = %id, "attach: detached by the client's keys");
                // dockerd's `detach` event (an EscapeError in its proxy).
                let _ = blocking(move || {
                    events.container_detached(&full_id);
                    Ok(())
                })
                .await;
            }
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
        if !replay.is_empty() && tx.send(Ok(Bytes::from(replay))).await.is_err() {
            return;
        }
        let Some(handle) = handle else {
            return;
        };
        let shim = match connect_shim(handle).await {
            Ok(s) => s,
            Err(e) => {
                let _ = tx
                    .send(Err(std::io::Error::other(e.message().to_owned())))
                    .await;
                return;
            }
        };
        crate::handlers::images::forward(shim, &tx).await;
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

/// How [`splice_with`] proxies a hijacked session (docker's
/// `AttachConfig`). The default is a plain copy both ways: the client's
/// end-of-file half-closes the shim connection (closing stdin when the
/// shim was asked to), and the output is copied until it ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpliceOptions {
    /// Watch the client's input for this sequence: a partial match that
    /// turns out different is passed on, a full one ends the session
    /// (the process keeps running). dockerd does this only for a process
    /// with a terminal and stdin attached.
    pub(crate) detach_keys: Option<DetachKeys>,
    /// End the session when the client's input ends, without closing the
    /// process's stdin (dockerd with a terminal). Otherwise the input's end
    /// is passed on as a half-close (closing stdin when the shim was told
    /// to) and the output is copied until it ends.
    pub(crate) end_on_input_eof: bool,
}

impl SpliceOptions {
    /// What dockerd does for an attach or exec whose process has a
    /// terminal (`tty`) and whose client sends input (`stdin`): look for
    /// `keys`, and end the session when the input ends.
    pub(crate) fn for_session(tty: bool, stdin: bool, keys: DetachKeys) -> Self {
        let interactive = tty && stdin;
        Self {
            detach_keys: interactive.then_some(keys),
            end_on_input_eof: interactive,
        }
    }
}

/// How a spliced session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpliceEnd {
    /// The process's output ended (it exited), or the client went away.
    OutputEnded,
    /// The client sent the detach keys.
    Detached,
    /// The client's input ended ([`SpliceOptions::end_on_input_eof`]).
    InputEnded,
}

/// How the client's input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputEnd {
    Eof,
    Detached,
}

/// Copies the client's input to the shim, through `scanner` when there is
/// one, until the input ends, the detach keys come, or the shim stops
/// taking input.
async fn pump_input<R>(
    mut client: R,
    shim: &mut tokio::net::unix::OwnedWriteHalf,
    mut scanner: Option<DetachScanner>,
) -> InputEnd
where
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Vec::new();
    loop {
        let n = client.read(&mut buf).await.unwrap_or(0);
        out.clear();
        if n == 0 {
            if let Some(s) = &mut scanner {
                s.finish(&mut out);
                let _ = shim.write_all(&out).await;
            }
            return InputEnd::Eof;
        }
        let (data, detached) = match &mut scanner {
            Some(s) => {
                let detached = s.feed(&buf[..n], &mut out);
                (&out[..], detached)
            }
            None => (&buf[..n], false),
        };
        if !data.is_empty() && shim.write_all(data).await.is_err() {
            return InputEnd::Eof;
        }
        if detached {
            return InputEnd::Detached;
        }
    }
}

/// Copies both ways as `opts` says (see [`SpliceOptions`]); how it ended.
/// On a detach or the input's end (with `end_on_input_eof`) the client's
/// connection is shut down and the shim's dropped: the shim forgets this
/// client and the process runs on.
pub(crate) async fn splice_with<C>(
    client: C,
    shim: tokio::net::UnixStream,
    opts: SpliceOptions,
) -> SpliceEnd
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::AsyncWriteExt;
    let (client_r, mut client_w) = tokio::io::split(client);
    let (mut shim_r, mut shim_w) = shim.into_split();
    let scanner = opts.detach_keys.map(DetachScanner::new);
    let end_on_eof = opts.end_on_input_eof;
    let mut input = tokio::spawn(async move {
        let end = pump_input(client_r, &mut shim_w, scanner).await;
        if end == InputEnd::Eof && !end_on_eof {
            let _ = shim_w.shutdown().await;
        }
        end
    });
    let end = {
        let output = async {
            let _ = tokio::io::copy(&mut shim_r, &mut client_w).await;
        };
        tokio::pin!(output);
        tokio::select! {
            () = &mut output => SpliceEnd::OutputEnded,
            r = &mut input => match r {
                Ok(InputEnd::Detached) => SpliceEnd::Detached,
                Ok(InputEnd::Eof) if end_on_eof => SpliceEnd::InputEnded,
                _ => {
                    output.await;
                    SpliceEnd::OutputEnded
                }
            },
        }
    };
    input.abort();
    drop(shim_r);
    let _ = client_w.flush().await;
    let _ = client_w.shutdown().await;
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_as_dockerd_prints_them() {
        let mut rec = LogRecord {
            stream: LogStream::Stdout,
            log: "hi\n".into(),
            time: 0,
            attrs: Vec::new(),
        };
        let line = |rec: &LogRecord, ts: bool| {
            let mut out = Vec::new();
            encode(rec, true, ts, true, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(line(&rec, false), " hi\n");
        rec.attrs = vec![
            ("a b".into(), "x=y,z".into()),
            ("tag".into(), "web/1~ü".into()),
        ];
        assert_eq!(line(&rec, false), "a+b=x%3Dy%2Cz,tag=web%2F1~%C3%BC hi\n");
        assert_eq!(
            line(&rec, true),
            "1970-01-01T00:00:00.000000000Z a+b=x%3Dy%2Cz,tag=web%2F1~%C3%BC hi\n"
        );
        // Without a terminal the frame's length covers the prefix.
        let mut out = Vec::new();
        encode(&rec, false, false, true, &mut out);
        assert_eq!(&out[..8], &[1, 0, 0, 0, 0, 0, 0, 36]);
        assert_eq!(out.len(), 8 + 36);
    }
}
