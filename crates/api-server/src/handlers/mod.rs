//! Handlers: one function per route, turning engine data into API types.

mod build;
mod containers;
mod events;
pub(crate) mod exec;
mod images;
pub(crate) mod networks;
mod params;
mod prune;
mod pull;
mod push;
mod stats;
mod system;
pub(crate) mod volumes;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use crate::backend::Backends;
use crate::error::ApiError;
use crate::routes::Route;

/// Runs `route` for a request made at API `version` (already checked to be
/// in range; the newest when the path had none).
pub(crate) async fn handle(
    route: Route,
    version: &str,
    backends: &Backends,
    req: Request,
) -> Response {
    match route {
        Route::Ping => system::ping(false),
        Route::PingHead => system::ping(true),
        Route::Version => json_response(StatusCode::OK, &system::version(&*backends.system)),
        Route::Info => json_response(StatusCode::OK, &system::info(&*backends.system, version)),
        Route::ImageList => images::list(backends.images.clone(), req).await,
        Route::ImageInspect(name) => images::inspect(backends.images.clone(), name).await,
        Route::ImageHistory(name) => images::history(backends.images.clone(), name).await,
        Route::ImageTag(name) => images::tag(backends.images.clone(), name, req).await,
        Route::ImageDelete(name) => images::delete(backends.images.clone(), name, req).await,
        Route::ImageGet(name) => images::save(backends.images.clone(), vec![name]).await,
        Route::ImagesGet => {
            let names = images::save_names(&req);
            images::save(backends.images.clone(), names).await
        }
        Route::ImageLoad => images::load(backends.images.clone(), req).await,
        Route::ImageCreate => images::create(backends.images.clone(), req).await,
        Route::ImagePush(name) => push::push(backends.images.clone(), name, req).await,
        Route::Auth => push::auth(backends.images.clone(), req).await,
        Route::ContainerCreate => {
            containers::create(backends.containers.clone(), req, version).await
        }
        Route::ContainerList => containers::list(backends.containers.clone(), req).await,
        Route::ContainerStart(id) => containers::start(backends.containers.clone(), id).await,
        Route::ContainerWait(id) => containers::wait(backends.containers.clone(), id, req).await,
        Route::ContainerStop(id) => containers::stop(backends.containers.clone(), id, req).await,
        Route::ContainerKill(id) => containers::kill(backends.containers.clone(), id, req).await,
        Route::ContainerInspect(id) => {
            containers::inspect(backends.containers.clone(), id, req).await
        }
        Route::ContainerLogs(id) => containers::logs(backends.containers.clone(), id, req).await,
        Route::ContainerAttach(id) => {
            containers::attach(backends.containers.clone(), id, req).await
        }
        Route::ContainerResize(id) => {
            containers::resize(backends.containers.clone(), id, req).await
        }
        Route::ContainerUpdate(id) => {
            containers::update(backends.containers.clone(), id, req).await
        }
        Route::ContainerDelete(id) => {
            containers::delete(backends.containers.clone(), id, req).await
        }
        Route::ContainerTop(id) => containers::fs::top(backends.containers.clone(), id, req).await,
        Route::ContainerChanges(id) => {
            containers::fs::changes(backends.containers.clone(), id).await
        }
        Route::ContainerExport(id) => containers::fs::export(backends.containers.clone(), id).await,
        Route::ContainerArchiveHead(id) => {
            containers::fs::archive_head(backends.containers.clone(), id, req).await
        }
        Route::ContainerArchiveGet(id) => {
            containers::fs::archive_get(backends.containers.clone(), id, req).await
        }
        Route::ContainerArchivePut(id) => {
            containers::fs::archive_put(backends.containers.clone(), id, req).await
        }
        Route::Commit => containers::fs::commit(backends.containers.clone(), req).await,
        Route::ContainerRestart(id) => {
            containers::restart(backends.containers.clone(), id, req).await
        }
        Route::ContainerPause(id) => containers::pause(backends.containers.clone(), id).await,
        Route::ContainerUnpause(id) => containers::unpause(backends.containers.clone(), id).await,
        Route::ContainerRename(id) => {
            containers::rename(backends.containers.clone(), id, req).await
        }
        Route::ContainerStats(id) => stats::stats(backends.containers.clone(), id, req).await,
        Route::ExecCreate(id) => exec::create(backends.exec.clone(), id, req).await,
        Route::ExecStart(id) => exec::start(backends.exec.clone(), id, req).await,
        Route::ExecResize(id) => exec::resize(backends.exec.clone(), id, req).await,
        Route::ExecInspect(id) => exec::inspect(backends.exec.clone(), id).await,
        Route::SystemDf => prune::disk_usage(backends.system.clone(), version).await,
        Route::ContainersPrune => prune::containers(backends.system.clone(), req).await,
        Route::ImagesPrune => prune::images(backends.system.clone(), req).await,
        Route::VolumesPrune => volumes::prune(backends.volumes.clone(), req, version).await,
        Route::VolumeList => volumes::list(backends.volumes.clone(), req).await,
        Route::VolumeCreate => volumes::create(backends.volumes.clone(), req).await,
        Route::VolumeInspect(name) => volumes::inspect(backends.volumes.clone(), name).await,
        Route::VolumeDelete(name) => volumes::delete(backends.volumes.clone(), name, req).await,
        Route::NetworksPrune => networks::prune(backends.networks.clone(), req).await,
        Route::NetworkList => networks::list(backends.networks.clone(), req).await,
        Route::NetworkInspect(id) => networks::inspect(backends.networks.clone(), id).await,
        Route::NetworkCreate => networks::create(backends.networks.clone(), req, version).await,
        Route::NetworkDelete(id) => networks::remove(backends.networks.clone(), id).await,
        Route::NetworkConnect(id) => networks::connect(backends.networks.clone(), id, req).await,
        Route::NetworkDisconnect(id) => {
            networks::disconnect(backends.networks.clone(), id, req).await
        }
        Route::Build => build::build(backends.images.clone(), req).await,
        Route::BuildPrune => match prune::build_cache(&req) {
            r if r.status().is_success() => build::prune(backends.images.clone()).await,
            r => r,
        },
        Route::Events => events::events(backends.system.clone(), req).await,
        Route::NotFound => ApiError::page_not_found().into_response_body(),
    }
}

/// A JSON body as Go's `json.NewEncoder(w).Encode` writes it (newline-terminated).
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize a response");
            let mut response = Response::new(Body::from(
                "{\"message\":\"cannot serialize the response\"}\n",
            ));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}
