//! `POST /images/{name}/push?tag=` (dockerd's progress lines) and
//! `POST /auth` (docker login: the daemon checks the credentials against
//! the registry; the CLI stores them).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::ErrorClass;
use berth_engine::image::{Credentials, PushEvent, PushProgress, PushRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::images::{CHANNEL_DEPTH, ChannelStream};
use super::params::{param, query};
use super::pull::{json_stream, line, progress_bar, registry_auth};
use crate::backend::ImageBackend;
use crate::error::ApiError;

/// Largest `POST /auth` body read.
const MAX_AUTH_BODY: usize = 64 * 1024;

enum Msg {
    Line(Value),
    Done(Result<(), ApiError>),
}

/// The reference a push asks for: `name` (the path) and `tag` (the
/// query); no tag is every tag of the repository.
pub(super) fn push_reference(name: &str, tag: &str) -> String {
    if tag.is_empty() {
        name.to_owned()
    } else {
        format!("{name}:{tag}")
    }
}

/// The JSON lines dockerd sends for one event.
fn event_lines(ev: PushEvent) -> Vec<Value> {
    let plain = |status: &str, id: &str| json!({"status": status, "progressDetail": {}, "id": id});
    match ev {
        PushEvent::Repository { name } => {
            vec![json!({"status": format!("The push refers to repository [{name}]")})]
        }
        PushEvent::Registry(PushProgress::Preparing { id }) => vec![plain("Preparing", &id)],
        PushEvent::Registry(PushProgress::Waiting { id }) => vec![plain("Waiting", &id)],
        PushEvent::Registry(PushProgress::Pushing { id, current, total }) => vec![json!({
            "status": "Pushing",
            "progressDetail": {"current": current, "total": total},
            "progress": progress_bar(current, total),
            "id": id,
        })],
        PushEvent::Registry(PushProgress::Pushed { id }) => vec![plain("Pushed", &id)],
        PushEvent::Registry(PushProgress::Exists { id }) => {
            vec![plain("Layer already exists", &id)]
        }
        PushEvent::Registry(PushProgress::Mounted { id, from }) => {
            vec![plain(&format!("Mounted from {from}"), &id)]
        }
        PushEvent::Pushed { tag, digest, size } => vec![
            json!({"status": format!("{tag}: digest: {digest} size: {size}")}),
            json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size}}),
        ],
    }
}

/// `POST /images/{name}/push?tag=TAG`.
pub(super) async fn push(backend: Arc<dyn ImageBackend>, name: String, req: Request) -> Response {
    let q = query(req.uri());
    let tag = param(&q, "tag").unwrap_or("");
    let auth = req
        .headers()
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok());
    let credentials = match registry_auth(auth) {
        Ok(c) => c,
        Err(e) => return e.into_response_body(),
    };
    let request = PushRequest {
        reference: push_reference(&name, tag),
        credentials,
    };
    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    tokio::task::spawn_blocking(move || {
        let progress = tx.clone();
        let r = backend.push_image(&request, &|ev| {
            for l in event_lines(ev) {
                let _ = progress.blocking_send(Msg::Line(l));
            }
        });
        let _ = tx.blocking_send(Msg::Done(r.map_err(|e| ApiError::from_engine(&e))));
    });
    // An error before the first line is a plain error with its status.
    let first = match rx.recv().await {
        Some(Msg::Line(l)) => l,
        Some(Msg::Done(Ok(()))) => return json_stream(Body::empty()),
        Some(Msg::Done(Err(e))) => return e.into_response_body(),
        None => {
            return ApiError::new(ErrorClass::Internal, "the push stopped unexpectedly")
                .into_response_body();
        }
    };
    let (btx, brx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(async move {
        if btx.send(Ok(line(&first))).await.is_err() {
            return;
        }
        while let Some(m) = rx.recv().await {
            let l = match m {
                Msg::Line(l) => l,
                Msg::Done(Ok(())) => continue,
                Msg::Done(Err(e)) => {
                    if e.class() == ErrorClass::Internal {
                        tracing::error!(error = %e.message(), "push failed");
                    }
                    let msg = e.message().to_owned();
                    json!({"errorDetail": {"message": msg}, "error": msg})
                }
            };
            if btx.send(Ok(line(&l))).await.is_err() {
                return;
            }
        }
    });
    json_stream(Body::from_stream(ChannelStream(brx)))
}

#[derive(Debug, Default, Deserialize)]
struct AuthBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    serveraddress: String,
    #[serde(default)]
    identitytoken: String,
    #[serde(default)]
    registrytoken: String,
}

/// `POST /auth`: `{"Status":"Login Succeeded","IdentityToken":""}` or a
/// 401 with the registry's refusal.
pub(super) async fn auth(backend: Arc<dyn ImageBackend>, req: Request) -> Response {
    let bytes = match axum::body::to_bytes(req.into_body(), MAX_AUTH_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::invalid_argument(format!("reading the request body: {e}"))
                .into_response_body();
        }
    };
    let body: AuthBody = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::invalid_argument(format!("invalid JSON in the request body: {e}"))
                .into_response_body();
        }
    };
    let credentials = Credentials {
        username: body.username,
        password: body.password,
        identity_token: Some(body.identitytoken).filter(|t| !t.is_empty()),
        registry_token: Some(body.registrytoken).filter(|t| !t.is_empty()),
    };
    let server = body.serveraddress;
    let r =
        tokio::task::spawn_blocking(move || backend.registry_login(&server, &credentials)).await;
    match r {
        Ok(Ok(())) => super::json_response(
            StatusCode::OK,
            &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
        ),
        Ok(Err(e)) => {
            let unauthorized = matches!(
                &e,
                berth_engine::image::PushError::Registry(
                    berth_registry_error
                ) if berth_registry_error.is_unauthorized()
            );
            if unauthorized {
                super::json_response(StatusCode::UNAUTHORIZED, &json!({"message": e.to_string()}))
            } else {
                ApiError::from_engine(&e).into_response_body()
            }
        }
        Err(e) => {
            ApiError::new(ErrorClass::Internal, format!("login failed: {e}")).into_response_body()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_lines() {
        assert_eq!(
            push_reference("127.0.0.1:5000/foo", "1"),
            "127.0.0.1:5000/foo:1"
        );
        assert_eq!(
            push_reference("127.0.0.1:5000/foo", ""),
            "127.0.0.1:5000/foo"
        );
        let l = event_lines(PushEvent::Registry(PushProgress::Mounted {
            id: "abc".into(),
            from: "library/x".into(),
        }));
        assert_eq!(l[0]["status"], "Mounted from library/x");
        let d = format!("sha256:{}", "a".repeat(64));
        let l = event_lines(PushEvent::Pushed {
            tag: "latest".into(),
            digest: d.parse().unwrap_or_else(|_| panic!("digest")),
            size: 527,
        });
        assert_eq!(l[0]["status"], format!("latest: digest: {d} size: 527"));
        assert_eq!(l[1]["aux"]["Size"], 527);
    }
}
