//! `POST /build`: the classic builder's endpoint (what `docker build` uses
//! against a daemon whose `/_ping` says `Builder-Version: 1`). The body is
//! the build context as a tar (maybe compressed); the answer is dockerd's
//! JSON message stream: `{"stream": "Step 1/2 : FROM busybox\n"}` lines,
//! `{"aux": {"ID": "sha256:..."}}` with the image, and an
//! `{"errorDetail": ..., "error": ...}` line if a step fails. An error
//! before anything was sent (a missing Dockerfile, a bad query) is a plain
//! JSON error with its status, as dockerd answers it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use berth_engine::ErrorClass;
use berth_engine::build::{BuildError, BuildRequest, ExecError, Progress};
use serde_json::{Value, json};

use super::pull::json_stream;
use tokio::sync::mpsc;

use super::images::{CHANNEL_DEPTH, ChannelStream, body_reader};
use super::params::{flag, param, params, query};
use crate::backend::ImageBackend;
use crate::error::ApiError;

enum Msg {
    Text(String),
    Done(Result<String, ApiError>),
}

/// The build a `POST /build` query asks for (the Dockerfile's text and the
/// context directory are filled in by the engine).
pub(super) fn build_request(q: &[(String, String)]) -> Result<(BuildRequest, bool), ApiError> {
    let json_map = |name: &str| -> Result<BTreeMap<String, String>, ApiError> {
        let Some(text) = param(q, name).filter(|t| !t.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let raw: BTreeMap<String, Option<String>> = serde_json::from_str(text).map_err(|e| {
            ApiError::invalid_argument(format!(
                "invalid {name} parameter (expected a JSON object of strings): {e}"
            ))
        })?;
        // A `null` value is a build arg the client could not resolve.
        Ok(raw
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    };
    let network = param(q, "networkmode")
        .filter(|n| !n.is_empty() && *n != "default")
        .map(str::to_owned);
    let req = BuildRequest {
        dockerfile_name: param(q, "dockerfile")
            .filter(|d| !d.is_empty())
            .unwrap_or("Dockerfile")
            .to_owned(),
        build_args: json_map("buildargs")?,
        labels: json_map("labels")?,
        target: param(q, "target")
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        tags: params(q, "t")
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        no_cache: flag(q, "nocache"),
        pull: flag(q, "pull"),
        platform: param(q, "platform")
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        network,
        ..BuildRequest::default()
    };
    for t in &req.tags {
        if berth_engine::image::Reference::parse_normalized(t).is_err() {
            return Err(ApiError::invalid_argument(format!(
                "invalid reference format: {t}"
            )));
        }
    }
    Ok((req, flag(q, "q")))
}

/// The class of a build error: bad input is the client's, a missing base
/// image is not found, a failed step is the daemon's (as dockerd answers).
fn classify(e: &BuildError) -> ErrorClass {
    match e {
        BuildError::Parse { .. } | BuildError::Invalid(_) => ErrorClass::InvalidArgument,
        BuildError::Exec(ExecError::ImageNotFound(_)) => ErrorClass::NotFound,
        BuildError::Exec(ExecError::Source(_)) => ErrorClass::InvalidArgument,
        BuildError::Exec(_) => ErrorClass::Internal,
    }
}

struct Sender {
    tx: mpsc::Sender<Msg>,
    quiet: bool,
}

impl Progress for Sender {
    fn text(&mut self, text: &str) {
        if !self.quiet {
            let _ = self.tx.blocking_send(Msg::Text(text.to_owned()));
        }
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    Bytes::from(b)
}

fn done_lines(r: Result<String, ApiError>, quiet: bool) -> Vec<Value> {
    match r {
        Ok(id) => {
            let mut v = vec![json!({"aux": {"ID": id}})];
            if quiet {
                v.push(json!({"stream": format!("{id}\n")}));
            }
            v
        }
        Err(e) => {
            let msg = e.message().to_owned();
            vec![json!({"errorDetail": {"message": msg}, "error": msg})]
        }
    }
}

/// `POST /build?t=&dockerfile=&buildargs=&...` with the context as body.
pub(super) async fn build(backend: Arc<dyn ImageBackend>, req: Request) -> Response {
    let q = query(req.uri());
    let (request, quiet) = match build_request(&q) {
        Ok(r) => r,
        Err(e) => return e.into_response_body(),
    };
    let mut body = body_reader(req.into_body());
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    tokio::task::spawn_blocking(move || {
        let mut progress = Sender {
            tx: tx.clone(),
            quiet,
        };
        let r = backend
            .build_image(&mut body, request, &mut progress)
            .map_err(|e| ApiError::new(classify(&e), e.to_string()));
        let _ = tx.blocking_send(Msg::Done(r));
    });
    let first = match rx.recv().await {
        Some(Msg::Text(t)) => json!({"stream": t}),
        Some(Msg::Done(Ok(id))) => {
            let mut body = Vec::new();
            for l in done_lines(Ok(id), quiet) {
                body.extend_from_slice(&line(&l));
            }
            return json_stream(Body::from(body));
        }
        Some(Msg::Done(Err(e))) => return e.into_response_body(),
        None => {
            return ApiError::new(ErrorClass::Internal, "the build stopped unexpectedly")
                .into_response_body();
        }
    };
    let (btx, brx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(async move {
        if btx.send(Ok(line(&first))).await.is_err() {
            return;
        }
        while let Some(m) = rx.recv().await {
            let out = match m {
                Msg::Text(t) => vec![json!({"stream": t})],
                Msg::Done(r) => done_lines(r, quiet),
            };
            for l in &out {
                // The client went away: the build runs to its end (its
                // context and containers are cleaned up as usual) and its
                // output is dropped.
                if btx.send(Ok(line(l))).await.is_err() {
                    return;
                }
            }
        }
    });
    json_stream(Body::from_stream(ChannelStream(brx)))
}

/// `POST /build/prune`: forgets the build cache and removes the images it
/// kept that nothing else names.
pub(super) async fn prune(backend: Arc<dyn ImageBackend>) -> Response {
    let r = tokio::task::spawn_blocking(move || backend.prune_build_cache()).await;
    match r {
        Ok(Ok(rep)) => super::json_response(
            axum::http::StatusCode::OK,
            &json!({
                "CachesDeleted": rep.deleted,
                "SpaceReclaimed": rep.space_reclaimed,
            }),
        ),
        Ok(Err(e)) => ApiError::new(ErrorClass::Internal, e.to_string()).into_response_body(),
        Err(e) => ApiError::new(ErrorClass::Internal, e.to_string()).into_response_body(),
    }
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
    fn requests_from_queries() {
        let (r, quiet) = build_request(&q(&[
            ("t", "a:1"),
            ("t", "b"),
            ("dockerfile", "sub/Dockerfile.x"),
            ("buildargs", r#"{"A":"1","B":null}"#),
            ("labels", r#"{"l":"v"}"#),
            ("target", "build"),
            ("nocache", "1"),
            ("pull", "true"),
            ("q", "1"),
            ("networkmode", "none"),
        ]))
        .unwrap();
        assert!(quiet);
        assert_eq!(r.tags, vec!["a:1", "b"]);
        assert_eq!(r.dockerfile_name, "sub/Dockerfile.x");
        assert_eq!(r.build_args.len(), 1);
        assert_eq!(r.labels["l"], "v");
        assert_eq!(r.target.as_deref(), Some("build"));
        assert!(r.no_cache && r.pull);
        assert_eq!(r.network.as_deref(), Some("none"));
        let (d, quiet) = build_request(&[]).unwrap();
        assert!(!quiet);
        assert_eq!(d.dockerfile_name, "Dockerfile");
        assert!(build_request(&q(&[("buildargs", "[1]")])).is_err());
        assert!(build_request(&q(&[("t", "Bad:Tag:x")])).is_err());
    }
}
