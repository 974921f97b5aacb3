//! `GET /containers/{id}/logs` and `POST /containers/{id}/attach`: the
//! container's output streams.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_engine::container::{AttachHandle, AttachOptions, ContainerError};

use super::{Backend, blocking, flag, query_of};
use crate::error::ApiError;

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
    let mut r = Response::new(Body::from_stream(crate::handlers::images::ChannelStream(
        rx,
    )));
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
