//! `GET /system/df` and the prune endpoints: `POST /containers/prune`,
//! `/images/prune` (the engine's), and `/build/prune`, which answers that
//! nothing was removed: berth has no build cache yet (so `docker system
//! prune` works through all of its steps). `/volumes/prune` is in
//! [`super::volumes`], `/networks/prune` in [`super::networks`].

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_api_types::prune as api;
use berth_engine::events::now_nanos;
use berth_engine::image::DeleteItem;
use berth_engine::prune::{PruneError, PruneFilters};

use super::json_response;
use super::params::{filters, query};
use crate::backend::SystemBackend;
use crate::error::ApiError;

type Backend = Arc<dyn SystemBackend>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PruneError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| ApiError::from_engine(&e)),
        Err(e) => Err(ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("prune task failed: {e}"),
        )),
    }
}

fn respond<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response_body(),
    }
}

fn prune_filters(req: &Request, accepted: &[&str]) -> Result<PruneFilters, ApiError> {
    let map = filters(&query(req.uri()))?;
    let now = now_nanos();
    let until = |v: &str| berth_api_types::timestamp::filter_time(v, now);
    PruneFilters::parse(&map, accepted, until).map_err(|e| ApiError::from_engine(&e))
}

fn unix_now() -> i64 {
    i64::try_from(now_nanos() / 1_000_000_000).unwrap_or(0)
}

fn bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `GET /system/df`. Before API 1.44 images also carried `VirtualSize`
/// (the same as `Size`), which docker 20.10 computes with.
pub(crate) async fn disk_usage(backend: Backend, version: &str) -> Response {
    let old = berth_api_types::version::compare(version, "1.44") == std::cmp::Ordering::Less;
    let r = blocking(move || backend.disk_usage()).await.map(|du| {
        let now = unix_now();
        api::DiskUsage {
            layers_size: bytes(du.layers_size),
            images: du
                .images
                .iter()
                .map(|u| {
                    let mut s = super::images::summary(&u.details);
                    s.shared_size = bytes(u.shared_size);
                    s.containers = i64::try_from(u.containers).unwrap_or(i64::MAX);
                    s
                })
                .collect(),
            containers: du
                .containers
                .into_iter()
                .map(|c| super::containers::summary(c, now))
                .collect(),
            volumes: du.volumes.into_iter().map(super::volumes::to_api).collect(),
            build_cache: Vec::new(),
        }
    });
    let r = r.and_then(|du| {
        let mut v = serde_json::to_value(du)
            .map_err(|e| ApiError::new(berth_engine::ErrorClass::Internal, e.to_string()))?;
        if old && let Some(images) = v["Images"].as_array_mut() {
            for i in images {
                i["VirtualSize"] = i["Size"].clone();
            }
        }
        Ok(v)
    });
    respond(r)
}

/// `POST /containers/prune?filters=` (`until`, `label`, `label!`).
pub(crate) async fn containers(backend: Backend, req: Request) -> Response {
    let f = match prune_filters(&req, &["until", "label", "label!"]) {
        Ok(f) => f,
        Err(e) => return e.into_response_body(),
    };
    let r = blocking(move || backend.prune_containers(&f))
        .await
        .map(|rep| api::ContainersPruneReport {
            containers_deleted: (!rep.containers.is_empty()).then_some(rep.containers),
            space_reclaimed: rep.space_reclaimed,
        });
    respond(r)
}

/// `POST /images/prune?filters=` (`dangling`, `until`, `label`, `label!`).
pub(crate) async fn images(backend: Backend, req: Request) -> Response {
    let f = match prune_filters(&req, &["dangling", "until", "label", "label!"]) {
        Ok(f) => f,
        Err(e) => return e.into_response_body(),
    };
    let r = blocking(move || backend.prune_images(&f)).await.map(|rep| {
        let deleted: Vec<api::ImageDeleted> = rep
            .images
            .into_iter()
            .map(|item| match item {
                DeleteItem::Untagged(r) => api::ImageDeleted {
                    untagged: r,
                    ..api::ImageDeleted::default()
                },
                DeleteItem::Deleted(d) => api::ImageDeleted {
                    deleted: d.to_string(),
                    ..api::ImageDeleted::default()
                },
            })
            .collect();
        api::ImagesPruneReport {
            images_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: rep.space_reclaimed,
        }
    });
    respond(r)
}

/// `POST /build/prune?filters=`: the filters are checked; berth has no
/// build cache yet, so nothing is removed.
pub(crate) fn build_cache(req: &Request) -> Response {
    let accepted = &[
        "until",
        "id",
        "parent",
        "type",
        "description",
        "inuse",
        "shared",
        "private",
    ];
    match prune_filters(req, accepted) {
        Ok(_) => json_response(StatusCode::OK, &api::BuildCachePruneReport::default()),
        Err(e) => e.into_response_body(),
    }
}
