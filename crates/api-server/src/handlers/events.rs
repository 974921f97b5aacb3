//! `GET /events?since=&until=&filters=`: the engine's events as a stream of
//! JSON objects (one per line, as Go's `json.Encoder` writes them).
//!
//! As dockerd: `since` replays the kept events from that time on, `until`
//! ends the stream at that time (at once when it is past), both in unix
//! seconds with an optional fraction; without `until` the stream lasts
//! until the client goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use berth_api_types::event::{EventActor, EventMessage};
use berth_api_types::timestamp::parse_timestamp;
use berth_engine::events::{Event, EventFilter, EventType, now_nanos};

use super::params::{filters, param, query};
use crate::backend::SystemBackend;
use crate::error::ApiError;

/// How often a waiting stream checks that its client is still there.
const CHECK_CLIENT: Duration = Duration::from_secs(1);

fn timestamp(q: &[(String, String)], name: &str) -> Result<Option<i128>, ApiError> {
    match param(q, name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => parse_timestamp(v).map(Some).ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "invalid value for \"{name}\": \"{v}\" is not a unix timestamp (seconds, optionally with a fraction)"
            ))
        }),
    }
}

/// Docker's message for an engine event.
pub(crate) fn message(ev: &Event) -> EventMessage {
    let (status, id, from) = match ev.kind {
        EventType::Container => (
            ev.action.clone(),
            ev.actor_id.clone(),
            ev.attributes.get("image").cloned().unwrap_or_default(),
        ),
        EventType::Image => (ev.action.clone(), ev.actor_id.clone(), String::new()),
        _ => (String::new(), String::new(), String::new()),
    };
    EventMessage {
        status,
        id,
        from,
        kind: ev.kind.as_str().to_owned(),
        action: ev.action.clone(),
        actor: EventActor {
            id: ev.actor_id.clone(),
            attributes: ev.attributes.clone(),
        },
        scope: "local".to_owned(),
        time: ev.time(),
        time_nano: i64::try_from(ev.time_nano).unwrap_or(i64::MAX),
    }
}

pub(crate) async fn events(backend: Arc<dyn SystemBackend>, req: Request) -> Response {
    let q = query(req.uri());
    let parsed = (|| {
        let since = timestamp(&q, "since")?;
        let until = timestamp(&q, "until")?.filter(|t| *t != 0);
        let filter = EventFilter::new(filters(&q)?)
            .map_err(|e| ApiError::invalid_argument(e.to_string()))?;
        Ok::<_, ApiError>((since, until, filter))
    })();
    let (since, until, filter) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response_body(),
    };
    let mut sub = backend.subscribe_events(since);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(64);
    tokio::task::spawn_blocking(move || {
        // `until` as a point on the monotonic clock.
        let end = until.map(|u| {
            let left = u128::try_from(u - now_nanos()).unwrap_or(0);
            Instant::now() + Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX))
        });
        loop {
            let now = Instant::now();
            let wake = end.map_or(now + CHECK_CLIENT, |e| e.min(now + CHECK_CLIENT));
            match sub.next_until(Some(wake)) {
                // Kept events past `until` (or live ones after it): done.
                Some(ev) if until.is_some_and(|u| ev.time_nano > u) => break,
                Some(ev) if filter.matches(&ev) && !send(&tx, &ev) => break,
                Some(_) => {}
                None if tx.is_closed() || end.is_some_and(|e| Instant::now() >= e) => break,
                None => {}
            }
        }
    });
    let mut response = Response::new(Body::from_stream(super::images::ChannelStream(rx)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Sends one event as a JSON line; false when the client is gone.
fn send(tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>, ev: &Event) -> bool {
    let Ok(mut line) = serde_json::to_vec(&message(ev)) else {
        return true;
    };
    line.push(b'\n');
    tx.blocking_send(Ok(Bytes::from(line))).is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn messages_carry_dockers_deprecated_fields_for_containers() {
        let labels = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        let mut ev =
            Event::container("c0ffee", "/web", "busybox", &labels, "die").attr("exitCode", "3");
        ev.time_nano = 1_700_000_000_123_456_789;
        let json = serde_json::to_value(message(&ev)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "die", "id": "c0ffee", "from": "busybox",
                "Type": "container", "Action": "die",
                "Actor": {"ID": "c0ffee", "Attributes": {
                    "a": "b", "exitCode": "3", "image": "busybox", "name": "web"}},
                "scope": "local", "time": 1_700_000_000, "timeNano": 1_700_000_000_123_456_789_i64
            })
        );
        let vol = Event::new(EventType::Volume, "create", "data");
        let json = serde_json::to_value(message(&vol)).unwrap();
        assert!(json.get("status").is_none(), "{json}");
    }
}
