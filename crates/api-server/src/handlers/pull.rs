//! `POST /images/create?fromImage=`: a pull, answered with dockerd's JSON
//! progress lines. An error before the first line is a plain JSON error
//! with its status (404 for an unknown manifest, as dockerd); after it,
//! an `errorDetail` line ends the stream.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use berth_engine::ErrorClass;
use berth_engine::image::{Credentials, Progress, PullEvent, PullOutcome, PullRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::images::{CHANNEL_DEPTH, ChannelStream};
use super::params::{param, query};
use crate::backend::ImageBackend;
use crate::error::ApiError;

enum Msg {
    Line(Value),
    Done(Result<PullOutcome, ApiError>),
}

/// The pull request a `create?fromImage=` query asks for.
pub(super) fn pull_request(q: &[(String, String)]) -> Result<PullRequest, ApiError> {
    let image = param(q, "fromImage").unwrap_or("");
    let tag = param(q, "tag").unwrap_or("");
    if image.is_empty() {
        return Err(ApiError::invalid_argument("invalid reference format"));
    }
    let reference = match tag {
        "" => {
            let last = image.rsplit('/').next().unwrap_or(image);
            if !image.contains('@') && !last.contains(':') {
                return Err(ApiError::invalid_argument(format!(
                    "pulling all tags of a repository (--all-tags) is not supported by berth yet; \
                     pull one tag, for example {image}:latest"
                )));
            }
            image.to_owned()
        }
        // `fromImage=busybox&tag=sha256:...` is a pull by digest.
        t if t.contains(':') => format!("{image}@{t}"),
        t => format!("{image}:{t}"),
    };
    Ok(PullRequest {
        reference,
        platform: param(q, "platform")
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        credentials: None,
    })
}

#[derive(Debug, Default, Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    identitytoken: String,
    #[serde(default)]
    registrytoken: String,
}

/// `X-Registry-Auth`: base64url JSON (`username`, `password`,
/// `serveraddress`, ...). Empty or `{}` is no credentials.
pub(super) fn registry_auth(header: Option<&str>) -> Result<Option<Credentials>, ApiError> {
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid_argument(
            "invalid X-Registry-Auth header: expected base64url-encoded JSON",
        )
    };
    let bytes = berth_registry_base64(h).ok_or_else(bad)?;
    let a: AuthConfig = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let (mut username, mut password) = (a.username, a.password);
    if username.is_empty()
        && !a.auth.is_empty()
        && let Some(up) = berth_registry_base64(&a.auth)
        && let Ok(up) = String::from_utf8(up)
        && let Some((u, p)) = up.split_once(':')
    {
        username = u.to_owned();
        password = p.to_owned();
    }
    if username.is_empty() && a.identitytoken.is_empty() && a.registrytoken.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username,
        password,
        identity_token: Some(a.identitytoken).filter(|t| !t.is_empty()),
        registry_token: Some(a.registrytoken).filter(|t| !t.is_empty()),
    }))
}

fn berth_registry_base64(s: &str) -> Option<Vec<u8>> {
    berth_engine::image::base64_decode(s)
}

/// Docker's `units.HumanSize`: decimal units, 3 significant digits.
pub(super) fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{:.*}", digits, s.parse::<f64>().unwrap_or(v));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// Docker's progress bar: `[=====>      ]  1.2MB/2.3MB`.
pub(super) fn progress_bar(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    if total == 0 {
        return human_size(current);
    }
    let done = (current.min(total) * WIDTH / total) as usize;
    let mut bar = "=".repeat(done);
    if done < WIDTH as usize {
        bar.push('>');
        bar.push_str(&" ".repeat(WIDTH as usize - done - 1));
    }
    format!("[{bar}] {:>7}/{}", human_size(current), human_size(total))
}

/// The JSON lines dockerd sends for one event.
fn event_lines(ev: PullEvent) -> Vec<Value> {
    let plain = |status: &str, id: &str| json!({"status": status, "progressDetail": {}, "id": id});
    match ev {
        PullEvent::Registry(Progress::PullingFrom { repository, tag }) => {
            vec![json!({"status": format!("Pulling from {repository}"), "id": tag})]
        }
        PullEvent::Registry(Progress::LayerExists { id }) => vec![plain("Already exists", &id)],
        PullEvent::Registry(Progress::LayerQueued { id }) => vec![plain("Pulling fs layer", &id)],
        PullEvent::Registry(Progress::LayerDownloading { id, current, total }) => vec![json!({
            "status": "Downloading",
            "progressDetail": {"current": current, "total": total},
            "progress": progress_bar(current, total),
            "id": id,
        })],
        PullEvent::Registry(Progress::LayerDownloaded { id }) => vec![
            plain("Verifying Checksum", &id),
            plain("Download complete", &id),
        ],
        PullEvent::Extracting { id, size } => vec![json!({
            "status": "Extracting",
            "progressDetail": {"current": size, "total": size},
            "progress": progress_bar(size, size),
            "id": id,
        })],
        PullEvent::PullComplete { id } => vec![plain("Pull complete", &id)],
    }
}

fn done_lines(o: &PullOutcome) -> Vec<Value> {
    let name = o.reference.familiar_string();
    let status = if o.up_to_date {
        format!("Status: Image is up to date for {name}")
    } else {
        format!("Status: Downloaded newer image for {name}")
    };
    vec![
        json!({"status": format!("Digest: {}", o.repo_digest)}),
        json!({"status": status}),
    ]
}

pub(super) fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

/// `POST /images/create?fromImage=NAME&tag=TAG[&platform=]`.
pub(super) async fn pull(backend: Arc<dyn ImageBackend>, req: Request) -> Response {
    let q = query(req.uri());
    let mut request = match pull_request(&q) {
        Ok(r) => r,
        Err(e) => return e.into_response_body(),
    };
    let auth = req
        .headers()
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok());
    request.credentials = match registry_auth(auth) {
        Ok(c) => c,
        Err(e) => return e.into_response_body(),
    };
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    tokio::task::spawn_blocking(move || {
        let progress = tx.clone();
        let r = backend.pull_image(&request, &|ev| {
            for l in event_lines(ev) {
                let _ = progress.blocking_send(Msg::Line(l));
            }
        });
        let _ = tx.blocking_send(Msg::Done(r.map_err(|e| ApiError::from_engine(&e))));
    });
    let first = match rx.recv().await {
        Some(Msg::Line(l)) => l,
        Some(Msg::Done(Ok(o))) => {
            let lines = done_lines(&o);
            let mut body = Vec::new();
            for l in &lines {
                body.extend_from_slice(&line(l));
            }
            return json_stream(Body::from(body));
        }
        Some(Msg::Done(Err(e))) => return e.into_response_body(),
        None => {
            return ApiError::new(ErrorClass::Internal, "the pull stopped unexpectedly")
                .into_response_body();
        }
    };
    let (btx, brx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(async move {
        if btx.send(Ok(line(&first))).await.is_err() {
            return;
        }
        while let Some(m) = rx.recv().await {
            let out: Vec<Value> = match m {
                Msg::Line(l) => vec![l],
                Msg::Done(Ok(o)) => done_lines(&o),
                Msg::Done(Err(e)) => {
                    if e.class() == ErrorClass::Internal {
                        tracing::error!(error = %e.message(), "pull failed");
                    }
                    let msg = e.message().to_owned();
                    vec![json!({"errorDetail": {"message": msg}, "error": msg})]
                }
            };
            for l in &out {
                if btx.send(Ok(line(l))).await.is_err() {
                    return;
                }
            }
        }
    });
    json_stream(Body::from_stream(ChannelStream(brx)))
}

pub(super) fn json_stream(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pull_requests_from_queries() {
        let r = pull_request(&q(&[("fromImage", "127.0.0.1:5000/bb"), ("tag", "latest")]))
            .map(|r| r.reference);
        assert_eq!(r.ok(), Some("127.0.0.1:5000/bb:latest".into()));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = pull_request(&q(&[("fromImage", "bb"), ("tag", &d)])).map(|r| r.reference);
        assert_eq!(r.ok(), Some(format!("bb@{d}")));
        let r = pull_request(&q(&[("fromImage", "bb:1"), ("platform", "linux/arm64")]))
            .unwrap_or_else(|e| panic!("{}", e.message()));
        assert_eq!(r.reference, "bb:1");
        assert_eq!(r.platform.as_deref(), Some("linux/arm64"));
        let e = pull_request(&q(&[("fromImage", "bb"), ("tag", "")]))
            .err()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(e.contains("--all-tags"), "{e}");
    }

    #[test]
    fn registry_auth_header() {
        let enc = berth_engine::image::base64_encode(
            br#"{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}"#,
        )
        .replace('+', "-")
        .replace('/', "_");
        let c = registry_auth(Some(&enc)).ok().flatten().unwrap_or_default();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        let empty = berth_engine::image::base64_encode(b"{}");
        assert!(registry_auth(Some(&empty)).ok().flatten().is_none());
        assert!(registry_auth(None).ok().flatten().is_none());
        assert!(registry_auth(Some("!!!")).is_err());
    }

    #[test]
    fn sizes_and_bars() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_226_000), "2.23MB");
        assert_eq!(human_size(12_345), "12.3kB");
        let b = progress_bar(50, 100);
        assert!(b.starts_with("[=========================>"), "{b}");
    }
}
