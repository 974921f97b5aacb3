//! `/containers/...`: create, start, wait, list (`json`), delete.
//!
//! The engine blocks (a `wait` for as long as the container runs), so every
//! call runs on a blocking thread.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types::container as api;
use berth_engine::container::{
    AttachHandle, AttachOptions, Container, ContainerError, CreateOptions, Status, WaitCondition,
};

use super::json_response;
use crate::backend::ContainerBackend;
use crate::error::ApiError;

type Backend = Arc<dyn ContainerBackend>;

/// Create bodies larger than this are refused (dockerd has no limit, but a
/// config is small).
const MAX_BODY: usize = 4 << 20;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ContainerError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| ApiError::from_engine(&e)),
        Err(e) => Err(ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("container task failed: {e}"),
        )),
    }
}

fn no_content(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(e) => e.into_response_body(),
    }
}

fn query_of(req: &Request) -> Vec<(String, String)> {
    super::images::query(req.uri())
}

fn flag(q: &[(String, String)], name: &str) -> bool {
    q.iter().find(|(k, _)| k == name).is_some_and(|(_, v)| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "no" | "false" | "none"
        )
    })
}

/// `POST /containers/create?name=`.
pub(crate) async fn create(backend: Backend, req: Request) -> Response {
    let q = query_of(&req);
    let name = q
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty());
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::invalid_argument(e.to_string()).into_response_body(),
    };
    let body: api::ContainerCreateRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::invalid_argument(format!("invalid JSON: {e}")).into_response_body();
        }
    };
    if body.image.is_empty() {
        return ApiError::invalid_argument("config cannot be empty in order to create a container")
            .into_response_body();
    }
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    let opts = CreateOptions {
        name,
        // An empty list is "not given" (the CLI sends `[]` for none).
        cmd: body.cmd.filter(|c| !c.is_empty()),
        entrypoint: body.entrypoint.filter(|e| !e.is_empty()),
        env: body.env.unwrap_or_default(),
        working_dir: non_empty(body.working_dir),
        user: non_empty(body.user),
        hostname: non_empty(body.hostname),
        tty: body.tty,
        open_stdin: body.open_stdin,
        labels: body.labels.unwrap_or_default(),
        auto_remove: body.host_config.is_some_and(|h| h.auto_remove),
    };
    let image = body.image;
    match blocking(move || backend.create_container(&image, opts)).await {
        Ok(c) => json_response(
            StatusCode::CREATED,
            &api::ContainerCreateResponse {
                id: c.id,
                warnings: Vec::new(),
            },
        ),
        Err(e) => e.into_response_body(),
    }
}

/// `POST /containers/{id}/start`.
pub(crate) async fn start(backend: Backend, id: String) -> Response {
    no_content(blocking(move || backend.start_container(&id)).await)
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`.
pub(crate) async fn wait(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let text = q
        .iter()
        .find(|(k, _)| k == "condition")
        .map_or("", |(_, v)| v.as_str());
    let Some(condition) = WaitCondition::parse(text) else {
        return ApiError::invalid_argument(format!("invalid condition: \"{text}\""))
            .into_response_body();
    };
    // Checked before answering: an unknown container is a plain 404.
    let handle = match blocking(move || backend.wait_container(&id, condition)).await {
        Ok(h) => h,
        Err(e) => return e.into_response_body(),
    };
    // As dockerd: the status line and headers go out at once (the docker
    // CLI waits for them before it starts the container), the body when
    // the condition holds; a failure then is the body's `Error`.
    let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    tokio::spawn(async move {
        let result = blocking(move || handle.wait()).await;
        let body = match result {
            Ok(code) => api::ContainerWaitResponse {
                status_code: i64::from(code),
                error: None,
            },
            Err(e) => api::ContainerWaitResponse {
                status_code: -1,
                error: Some(api::WaitExitError {
                    message: e.message().to_owned(),
                }),
            },
        };
        let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
        bytes.push(b'\n');
        let _ = tx.send(Bytes::from(bytes));
    });
    let mut response = Response::new(Body::from_stream(OnceStream(Some(rx))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A body of one chunk that arrives later.
struct OnceStream(Option<tokio::sync::oneshot::Receiver<Bytes>>);

impl futures_core::Stream for OnceStream {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        let Some(rx) = self.0.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        match std::pin::Pin::new(rx).poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(r) => {
                self.0 = None;
                std::task::Poll::Ready(r.ok().map(Ok))
            }
        }
    }
}

/// `POST /containers/{id}/stop?t=SECONDS` (default 10; `-1` waits forever
/// as dockerd, here: a day).
pub(crate) async fn stop(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let timeout = match q.iter().find(|(k, _)| k == "t").map(|(_, v)| v.as_str()) {
        None | Some("") => None,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n < 0 => Some(std::time::Duration::from_secs(86_400)),
            Ok(n) => Some(std::time::Duration::from_secs(n.unsigned_abs())),
            Err(_) => {
                return ApiError::invalid_argument(format!("invalid value for t: {t}"))
                    .into_response_body();
            }
        },
    };
    no_content(blocking(move || backend.stop_container(&id, timeout)).await)
}

/// `POST /containers/{id}/kill?signal=` (default `SIGKILL`).
pub(crate) async fn kill(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let text = q
        .iter()
        .find(|(k, _)| k == "signal")
        .map_or("", |(_, v)| v.as_str());
    let signal = if text.is_empty() {
        9
    } else {
        match berth_engine::container::parse_signal(text) {
            Some(n) => n,
            None => {
                return ApiError::invalid_argument(format!("Invalid signal: {text}"))
                    .into_response_body();
            }
        }
    };
    no_content(blocking(move || backend.kill_container(&id, signal)).await)
}

/// `DELETE /containers/{id}?force=`.
pub(crate) async fn delete(backend: Backend, id: String, req: Request) -> Response {
    let force = flag(&query_of(&req), "force");
    no_content(blocking(move || backend.remove_container(&id, force)).await)
}

/// `GET /containers/json?all=`: running ones, or all (newest first).
pub(crate) async fn list(backend: Backend, req: Request) -> Response {
    let all = flag(&query_of(&req), "all");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let listed = blocking(move || Ok(backend.list_containers())).await;
    match listed {
        Ok(list) => {
            let out: Vec<api::ContainerSummary> = list
                .into_iter()
                .filter(|c| all || c.state.status == Status::Running)
                .map(|c| summary(c, now))
                .collect();
            json_response(StatusCode::OK, &out)
        }
        Err(e) => e.into_response_body(),
    }
}

fn summary(c: Container, now: i64) -> api::ContainerSummary {
    let status = match c.state.status {
        Status::Created => "Created".to_owned(),
        Status::Running => format!(
            "Up {}",
            human_duration(now - unix_seconds(&c.state.started_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_duration(now - unix_seconds(&c.state.finished_at))
        ),
    };
    api::ContainerSummary {
        names: vec![format!("/{}", c.name)],
        image: c.image_ref,
        image_id: c.image,
        command: c.process.args.join(" "),
        created: unix_seconds(&c.created),
        ports: Vec::new(),
        labels: c.labels,
        state: c.state.status.as_str().to_owned(),
        status,
        host_config: api::SummaryHostConfig {
            network_mode: "none".to_owned(),
        },
        network_settings: api::SummaryNetworkSettings::default(),
        mounts: Vec::new(),
        id: c.id,
    }
}

/// Docker's `units.HumanDuration`.
fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        0 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".to_owned(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".to_owned(),
        _ if h < 48 => format!("{h} hours"),
        _ if d < 14 => format!("{d} days"),
        _ if d < 60 => format!("{} weeks", d / 7),
        _ if d < 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// RFC 3339 (`2026-11-23T12:00:00.123Z`, UTC) -> Unix seconds; 0 if malformed.
fn unix_seconds(s: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(hh), Some(mm), Some(ss)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return 0;
    };
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86400 + hh * 3600 + mm * 60 + ss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(unix_seconds("2000-03-01T00:00:01.5Z"), 951_868_801);
        assert_eq!(unix_seconds("junk"), 0);
    }
}

fn inspect_body(c: Container, log_path: std::path::PathBuf) -> api::ContainerInspect {
    let mut args = c.process.args.clone();
    let path = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    api::ContainerInspect {
        created: c.created,
        path,
        args,
        state: api::ContainerState {
            status: c.state.status.as_str().to_owned(),
            running: c.state.status == Status::Running,
            pid: i64::from(c.state.pid),
            exit_code: i64::from(c.state.exit_code),
            error: c.state.error,
            started_at: or_zero_time(c.state.started_at),
            finished_at: or_zero_time(c.state.finished_at),
            ..api::ContainerState::default()
        },
        image: c.image,
        log_path: log_path.to_string_lossy().into_owned(),
        name: format!("/{}", c.name),
        driver: "overlay2".to_owned(),
        platform: "linux".to_owned(),
        host_config: serde_json::json!({"NetworkMode": "none", "LogConfig": {"Type": "json-file", "Config": {}}}),
        network_settings: serde_json::json!({"Networks": {}}),
        config: api::InspectConfig {
            hostname: c.process.hostname,
            user: c.options.user.unwrap_or_default(),
            tty: c.process.tty,
            open_stdin: c.process.open_stdin,
            env: c.process.env,
            cmd: c.options.cmd,
            image: c.image_ref,
            working_dir: c.options.working_dir.unwrap_or_default(),
            entrypoint: c.options.entrypoint,
            labels: c.labels,
            ..api::InspectConfig::default()
        },
        id: c.id,
        ..api::ContainerInspect::default()
    }
}

/// Go's zero time, as dockerd reports a time that has not happened.
fn or_zero_time(t: String) -> String {
    if t.is_empty() {
        "0001-01-01T00:00:00Z".to_owned()
    } else {
        t
    }
}

/// `GET /containers/{id}/json`.
pub(crate) async fn inspect(backend: Backend, id: String) -> Response {
    let r = blocking(move || {
        let c = backend.inspect_container(&id)?;
        let log = backend.container_log_path(&c.id);
        Ok(inspect_body(c, log))
    })
    .await;
    match r {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => e.into_response_body(),
    }
}

/// One line of a json-file log.
#[derive(serde::Deserialize)]
struct LogLine {
    log: String,
    stream: String,
    time: String,
}

/// `GET /containers/{id}/logs?stdout&stderr&tail&timestamps`: what the
/// json-file log holds now (`follow` is not supported yet: it returns what
/// is there). Multiplexed frames without a terminal, raw with one.
pub(crate) async fn logs(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let stdout = flag(&q, "stdout");
    let stderr = flag(&q, "stderr");
    let timestamps = flag(&q, "timestamps");
    let tail: Option<usize> = q
        .iter()
        .find(|(k, _)| k == "tail")
        .and_then(|(_, v)| v.parse().ok());
    if !stdout && !stderr {
        return ApiError::invalid_argument("You must choose at least one stream")
            .into_response_body();
    }
    let r = blocking(move || {
        let c = backend.inspect_container(&id)?;
        let text = backend.container_log(&c.id)?;
        let lines: Vec<LogLine> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<LogLine>(l).ok())
            .filter(|l| (l.stream == "stdout" && stdout) || (l.stream == "stderr" && stderr))
            .collect();
        let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
        let mut out = Vec::new();
        for l in lines.into_iter().skip(skip) {
            let mut payload = Vec::new();
            if timestamps {
                payload.extend_from_slice(l.time.as_bytes());
                payload.push(b' ');
            }
            payload.extend_from_slice(l.log.as_bytes());
            if !c.process.tty {
                let kind: u8 = if l.stream == "stderr" { 2 } else { 1 };
                out.extend_from_slice(&[kind, 0, 0, 0]);
                out.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(0).to_be_bytes());
            }
            out.extend_from_slice(&payload);
        }
        Ok((c.process.tty, out))
    })
    .await;
    match r {
        Ok((tty, out)) => {
            let mut response = Response::new(Body::from(out));
            let kind = if tty {
                "application/vnd.docker.raw-stream"
            } else {
                "application/vnd.docker.multiplexed-stream"
            };
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            response
        }
        Err(e) => e.into_response_body(),
    }
}

/// How long an attach to a container that is not running waits for its
/// start (the docker CLI attaches, then starts).
const ATTACH_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether the request asks for docker's hijack (`Connection: Upgrade`,
/// `Upgrade: tcp`).
fn wants_upgrade(req: &Request) -> bool {
    let has = |name: header::HeaderName, want: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "tcp")
}

/// `POST /containers/{id}/attach?stream=1&stdin=&stdout=&stderr=`.
///
/// With `Connection: Upgrade` + `Upgrade: tcp` the answer is `101` and the
/// connection becomes the container's streams; otherwise `200` with the
/// output as the body. Either way the shim's bytes pass through unchanged
/// (docker's multiplexed frames without a terminal, raw with one). A
/// container that is not running is attached at its next start.
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
    let content_type = if c.process.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    // Registered before answering: the client starts the container as
    // soon as it has the answer, and the attach must be in place by then.
    let id = c.id;
    let handle = match blocking(move || backend.attach_container(&id, opts)).await {
        Ok(h) => h,
        Err(e) => return e.into_response_body(),
    };
    if wants_upgrade(&req) {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "attach upgrade failed");
                    return;
                }
            };
            let shim = match connect_shim(handle).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e.message(), "attach failed");
                    return;
                }
            };
            splice(hyper_util::rt::TokioIo::new(upgraded), shim).await;
        });
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        return r;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
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
    let mut r = Response::new(Body::from_stream(super::images::ChannelStream(rx)));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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
async fn splice<C>(client: C, shim: tokio::net::UnixStream)
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
