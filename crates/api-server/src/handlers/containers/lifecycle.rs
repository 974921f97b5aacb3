//! `POST /containers/{id}/start|stop|restart|kill|pause|unpause|rename`
//! and `DELETE /containers/{id}`: docker's answers (204, or 304 when a
//! start or stop changes nothing) and messages (moby's
//! `api/server/router/container/container_routes.go`).

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_engine::container::{Change, parse_signal};

use super::{Backend, blocking, flag, no_content, param, query_of};
use crate::error::ApiError;

/// `204 No Content`, or `304 Not Modified` when nothing changed.
fn changed(r: Result<Change, ApiError>) -> Response {
    match r {
        Ok(Change::Done) => no_content(Ok(())),
        Ok(Change::Unchanged) => {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        }
        Err(e) => e.into_response_body(),
    }
}

/// `t` of stop and restart: seconds to wait before SIGKILL (`-1`: wait
/// for ever as dockerd, here a day); absent means the container's default.
fn stop_timeout(q: &[(String, String)]) -> Result<Option<Duration>, ApiError> {
    match param(q, "t") {
        None | Some("") => Ok(None),
        Some(t) => match t.parse::<i64>() {
            Ok(n) if n < 0 => Ok(Some(Duration::from_secs(86_400))),
            Ok(n) => Ok(Some(Duration::from_secs(n.unsigned_abs()))),
            Err(_) => Err(ApiError::invalid_argument(format!(
                "invalid value for t: {t}: use a whole number of seconds"
            ))),
        },
    }
}

/// A signal by name (`SIGTERM`, `TERM`) or number; `None` when absent.
fn signal(q: &[(String, String)]) -> Result<Option<i32>, ApiError> {
    match param(q, "signal") {
        None | Some("") => Ok(None),
        Some(text) => parse_signal(text)
            .map(Some)
            .ok_or_else(|| ApiError::invalid_argument(format!("Invalid signal: {text}"))),
    }
}

/// moby wraps the errors of some operations (`Cannot kill container: x:
/// ...`); the class stays.
fn wrapped(e: ApiError, prefix: &str) -> ApiError {
    let message = format!("{prefix}: {}", e.message());
    ApiError::new(e.class(), message)
}

/// `POST /containers/{id}/start`: 304 when it is running already.
pub(crate) async fn start(backend: Backend, id: String) -> Response {
    changed(blocking(move || backend.start_container_checked(&id)).await)
}

/// `POST /containers/{id}/stop?t=&signal=`: 304 when it is not running.
pub(crate) async fn stop(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let (timeout, sig) = match (stop_timeout(&q), signal(&q)) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(e), _) | (_, Err(e)) => return e.into_response_body(),
    };
    changed(blocking(move || backend.stop_container_with(&id, timeout, sig)).await)
}

/// `POST /containers/{id}/restart?t=&signal=`.
pub(crate) async fn restart(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let (timeout, sig) = match (stop_timeout(&q), signal(&q)) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(e), _) | (_, Err(e)) => return e.into_response_body(),
    };
    let name = id.clone();
    let r = blocking(move || backend.restart_container(&id, timeout, sig)).await;
    no_content(r.map_err(|e| match e.class() {
        berth_engine::ErrorClass::NotFound => e,
        _ => wrapped(e, &format!("Cannot restart container {name}")),
    }))
}

/// `POST /containers/{id}/kill?signal=` (default `SIGKILL`).
pub(crate) async fn kill(backend: Backend, id: String, req: Request) -> Response {
    let sig = match signal(&query_of(&req)) {
        Ok(s) => s.unwrap_or(9),
        Err(e) => return e.into_response_body(),
    };
    let name = id.clone();
    let r = blocking(move || backend.kill_container_with(&id, sig)).await;
    no_content(r.map_err(|e| match e.class() {
        berth_engine::ErrorClass::NotFound => e,
        _ => wrapped(e, &format!("Cannot kill container: {name}")),
    }))
}

/// `POST /containers/{id}/pause`.
pub(crate) async fn pause(backend: Backend, id: String) -> Response {
    no_content(blocking(move || backend.pause_container(&id)).await)
}

/// `POST /containers/{id}/unpause`.
pub(crate) async fn unpause(backend: Backend, id: String) -> Response {
    no_content(blocking(move || backend.unpause_container(&id)).await)
}

/// `POST /containers/{id}/rename?name=`.
pub(crate) async fn rename(backend: Backend, id: String, req: Request) -> Response {
    let name = param(&query_of(&req), "name").unwrap_or("").to_owned();
    no_content(blocking(move || backend.rename_container(&id, &name)).await)
}

/// `DELETE /containers/{id}?force=&v=&link=`.
pub(crate) async fn delete(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    if flag(&q, "link") {
        // `rm -l NAME`: as dockerd, NAME is looked up first (a link name
        // `parent/alias` is a name too: 404 "No such container" when it
        // is none); a container's own name is refused with dockerd's
        // plain error (500).
        return no_content(blocking(move || backend.remove_container_link(&id)).await);
    }
    let (force, volumes) = (flag(&q, "force"), flag(&q, "v"));
    no_content(blocking(move || backend.remove_container_with(&id, force, volumes)).await)
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
    fn timeouts_and_signals() {
        assert_eq!(stop_timeout(&q(&[])).unwrap(), None);
        assert_eq!(
            stop_timeout(&q(&[("t", "3")])).unwrap(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            stop_timeout(&q(&[("t", "-1")])).unwrap(),
            Some(Duration::from_secs(86_400))
        );
        assert!(stop_timeout(&q(&[("t", "soon")])).is_err());
        assert_eq!(signal(&q(&[("signal", "SIGUSR1")])).unwrap(), Some(10));
        assert_eq!(signal(&q(&[("signal", "9")])).unwrap(), Some(9));
        assert_eq!(
            signal(&q(&[("signal", "NOPE")])).unwrap_err().message(),
            "Invalid signal: NOPE"
        );
    }
}
