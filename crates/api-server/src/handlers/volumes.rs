//! `/volumes` handlers: `GET /volumes` (filters `dangling`, `name`,
//! `driver`, `label`), `POST /volumes/create`, `GET /volumes/{name}`,
//! `DELETE /volumes/{name}?force=`, `POST /volumes/prune` (filters `label`,
//! `label!`, `all`; before API 1.42 every unused volume is pruned, after it
//! only anonymous ones unless `all=true`, as dockerd).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_api_types::prune::VolumesPruneReport;
use berth_api_types::volume as api;
use berth_engine::Engine;
use berth_engine::volume::{
    CreateRequest, ListFilters, PruneFilters, PruneReport, Volume, VolumeError,
};

use super::json_response;
use super::params::{filters, flag, query};
use crate::error::ApiError;

/// What the volume routes need. The calls block (file I/O, mount(2)):
/// handlers run them on a blocking thread.
pub trait VolumeBackend: Send + Sync {
    fn create_volume(&self, req: CreateRequest) -> Result<Volume, VolumeError>;
    fn inspect_volume(&self, name: &str) -> Result<Volume, VolumeError>;
    fn list_volumes(&self, filters: &ListFilters) -> Result<Vec<Volume>, VolumeError>;
    fn remove_volume(&self, name: &str, force: bool) -> Result<(), VolumeError>;
    fn prune_volumes(&self, filters: &PruneFilters) -> Result<PruneReport, VolumeError>;
}

impl VolumeBackend for Engine {
    fn create_volume(&self, req: CreateRequest) -> Result<Volume, VolumeError> {
        self.volumes().create(req)
    }
    fn inspect_volume(&self, name: &str) -> Result<Volume, VolumeError> {
        self.volumes().get(name)
    }
    fn list_volumes(&self, filters: &ListFilters) -> Result<Vec<Volume>, VolumeError> {
        self.volumes().list(filters)
    }
    fn remove_volume(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        self.volumes().remove(name, force)
    }
    fn prune_volumes(&self, filters: &PruneFilters) -> Result<PruneReport, VolumeError> {
        self.volumes().prune(filters)
    }
}

pub(crate) type Backend = Arc<dyn VolumeBackend>;

/// Volume bodies are small.
const MAX_BODY: usize = 1 << 20;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VolumeError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| ApiError::from_engine(&e)),
        Err(e) => Err(ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("volume task failed: {e}"),
        )),
    }
}

fn respond<T: serde::Serialize>(status: StatusCode, r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => json_response(status, &v),
        Err(e) => e.into_response_body(),
    }
}

/// The engine's volume in the API's shape.
pub(crate) fn to_api(v: Volume) -> api::Volume {
    api::Volume {
        created_at: v.created_at,
        driver: v.driver,
        labels: v.labels,
        mountpoint: v.mountpoint.to_string_lossy().into_owned(),
        name: v.name,
        options: v.options,
        scope: v.scope,
        usage_data: v.usage.map(|u| api::UsageData {
            size: u.size,
            ref_count: u.ref_count,
        }),
    }
}

/// `GET /volumes?filters=`.
pub(crate) async fn list(backend: Backend, req: Request) -> Response {
    let parsed = filters(&query(req.uri()))
        .and_then(|m| ListFilters::parse(&m).map_err(|e| ApiError::from_engine(&e)));
    let f = match parsed {
        Ok(f) => f,
        Err(e) => return e.into_response_body(),
    };
    let r = blocking(move || backend.list_volumes(&f))
        .await
        .map(|vs| api::VolumeListResponse {
            volumes: vs.into_iter().map(to_api).collect(),
            warnings: None,
        });
    respond(StatusCode::OK, r)
}

/// `POST /volumes/create`: 201 and the volume.
pub(crate) async fn create(backend: Backend, req: Request) -> Response {
    let bytes = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::invalid_argument(e.to_string()).into_response_body(),
    };
    let body: api::VolumeCreateOptions = if bytes.iter().all(u8::is_ascii_whitespace) {
        api::VolumeCreateOptions::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(b) => b,
            Err(e) => {
                return ApiError::invalid_argument(format!("invalid JSON: {e}"))
                    .into_response_body();
            }
        }
    };
    let request = CreateRequest {
        name: Some(body.name).filter(|n| !n.is_empty()),
        driver: Some(body.driver).filter(|d| !d.is_empty()),
        driver_opts: body.driver_opts,
        labels: body.labels,
    };
    respond(
        StatusCode::CREATED,
        blocking(move || backend.create_volume(request))
            .await
            .map(to_api),
    )
}

/// `GET /volumes/{name}`.
pub(crate) async fn inspect(backend: Backend, name: String) -> Response {
    respond(
        StatusCode::OK,
        blocking(move || backend.inspect_volume(&name))
            .await
            .map(to_api),
    )
}

/// `DELETE /volumes/{name}?force=`: 204.
pub(crate) async fn delete(backend: Backend, name: String, req: Request) -> Response {
    let force = flag(&query(req.uri()), "force");
    match blocking(move || backend.remove_volume(&name, force)).await {
        Ok(()) => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Err(e) => e.into_response_body(),
    }
}

/// The prune filters a request at API `version` means: before 1.42 there
/// was no `all` and every unused volume was pruned.
fn prune_filters(
    mut map: BTreeMap<String, Vec<String>>,
    version: &str,
) -> Result<PruneFilters, ApiError> {
    if berth_api_types::version::compare(version, "1.42") == std::cmp::Ordering::Less {
        map.insert("all".to_owned(), vec!["true".to_owned()]);
    }
    PruneFilters::parse(&map).map_err(|e| ApiError::from_engine(&e))
}

/// `POST /volumes/prune?filters=`.
pub(crate) async fn prune(backend: Backend, req: Request, version: &str) -> Response {
    let f = match filters(&query(req.uri())).and_then(|m| prune_filters(m, version)) {
        Ok(f) => f,
        Err(e) => return e.into_response_body(),
    };
    let r = blocking(move || backend.prune_volumes(&f))
        .await
        .map(|rep| VolumesPruneReport {
            volumes_deleted: (!rep.deleted.is_empty()).then_some(rep.deleted),
            space_reclaimed: rep.space_reclaimed,
        });
    respond(StatusCode::OK, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, vs)| {
                (
                    (*k).to_owned(),
                    vs.iter().map(|v| (*v).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn prune_prunes_everything_unused_before_api_1_42() {
        assert!(prune_filters(map(&[]), "1.41").unwrap().all);
        assert!(!prune_filters(map(&[]), "1.42").unwrap().all);
        assert!(!prune_filters(map(&[]), "1.51").unwrap().all);
        assert!(prune_filters(map(&[("all", &["1"])]), "1.51").unwrap().all);
        let e = prune_filters(map(&[("until", &["1h"])]), "1.51").unwrap_err();
        assert_eq!(e.message(), "invalid filter 'until'");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn volumes_map_to_dockers_shape() {
        let v = Volume {
            name: "data".into(),
            driver: "local".into(),
            mountpoint: "/d/volumes/data/_data".into(),
            created_at: "2026-12-06T14:00:00Z".into(),
            labels: None,
            options: None,
            scope: "local".into(),
            usage: Some(berth_engine::volume::UsageData {
                size: 5,
                ref_count: 1,
            }),
        };
        let a = to_api(v);
        assert_eq!(a.mountpoint, "/d/volumes/data/_data");
        assert_eq!(a.usage_data.unwrap().ref_count, 1);
    }
}
