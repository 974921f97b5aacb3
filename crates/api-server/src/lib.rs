//! berthd's Docker Engine API server.
//!
//! The layer is a translator: [`routes::route`] is the one table of every
//! (method, path) the API answers; [`compat`] is the only place that knows
//! Engine API versions (path prefixes, headers, per-version adapters);
//! [`error::status_for`] is the only place an error class becomes an HTTP
//! status; handlers turn engine data into `berth-api-types` shapes. Handlers
//! reach the engine through narrow backend traits ([`Backends`]), so they are
//! tested with fakes and never see the engine's internals.
//!
//! ```no_run
//! # async fn run(engine: std::sync::Arc<berth_engine::Engine>) -> std::io::Result<()> {
//! let listener = tokio::net::UnixListener::bind("/run/berth/berth.sock")?;
//! berth_api_server::serve(listener, berth_api_server::Backends::new(engine), async {}).await
//! # }
//! ```

pub mod backend;
pub mod compat;
pub mod error;
pub mod fs_backend;
mod handlers;
pub mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
pub use backend::{Backends, ContainerBackend, ImageBackend, SystemBackend};
pub use error::{ApiError, status_for};
pub use handlers::exec::ExecBackend;
pub use handlers::volumes::VolumeBackend;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The axum application: every request goes through [`dispatch`].
pub fn router(backends: Backends) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(Arc::new(backends))
}

/// How long shutdown waits for in-flight requests. Long polls (`wait`,
/// `logs -f`, `events`) never finish on their own; they are cut off here.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish (up to [`SHUTDOWN_GRACE`]), and
/// returns.
///
/// hyper is driven directly rather than through `axum::serve` for two
/// reasons: header names go out in Go's canonical case (`Api-Version`,
/// `Ostype`), as dockerd sends them, for clients that match them
/// case-sensitively; and connections keep HTTP upgrades, which `attach` and
/// `exec` hijack.
pub async fn serve(
    listener: UnixListener,
    backends: Backends,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(backends);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap finished connection tasks so the set does not grow.
        while connections.try_join_next().is_some() {}
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept an API connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let mut builder = http1::Builder::new();
            builder.title_case_headers(true);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    // Finish the request in flight, then close; idle
                    // keep-alive connections close at once.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "API connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "closing API connections still busy after {}s",
            SHUTDOWN_GRACE.as_secs()
        );
        connections.abort_all();
    }
    Ok(())
}

/// Splits off the version prefix, routes, checks the version, runs the
/// handler, and stamps the daemon headers on whatever comes back.
async fn dispatch(State(backends): State<Arc<Backends>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (version, rest) = compat::split_version(&path);
    let route = routes::route(&method, rest);
    // dockerd answers an unknown path with 404 whatever the version says, and
    // checks the version only for routes it has.
    let result = match (&route, version.map(compat::check)) {
        (routes::Route::NotFound, _) => Err(ApiError::page_not_found()),
        (_, Some(Err(e))) => Err(e),
        (_, _) => Ok(()),
    };
    let mut response = match result {
        Err(e) => e.into_response_body(),
        Ok(()) => {
            let version = version.unwrap_or(compat::API_VERSION).to_owned();
            handlers::handle(route, &version, &backends, req).await
        }
    };
    compat::stamp_headers(response.headers_mut());
    tracing::debug!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    //! The whole request path (compat → route → handler → headers) without a
    //! socket, on a fake backend.

    use std::io::{Read, Write};
    use std::path::PathBuf;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use berth_engine::image::{
        DeleteItem, Digest, HistoryEntry, ImageDetails, ImageError, ImportRequest, LoadedImage,
    };
    use berth_engine::{
        BuildInfo, CgroupInfo, CgroupVersion, ContainerCounts, HostInfo, RuntimeInfo, SystemInfo,
        VersionInfo,
    };
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    struct Fake;

    /// What the fake answers for any container: there is none.
    fn no_container<T>(id: &str) -> Result<T, berth_engine::container::ContainerError> {
        Err(berth_engine::container::ContainerError::NotFound(
            id.to_owned(),
        ))
    }

    /// What the fake answers for any exec: there is none.
    fn no_exec<T>(id: &str) -> Result<T, berth_engine::container::ContainerError> {
        Err(berth_engine::container::ContainerError::ExecNotFound(
            id.to_owned(),
        ))
    }

    impl SystemBackend for Fake {
        fn system_info(&self) -> SystemInfo {
            SystemInfo {
                id: "00000000-0000-4000-8000-000000000000".into(),
                containers: ContainerCounts {
                    total: 3,
                    running: 1,
                    paused: 0,
                    stopped: 2,
                },
                images: 4,
                storage_driver: "overlay2".into(),
                storage_status: vec![("Backing Filesystem".into(), "extfs".into())],
                data_root: PathBuf::from("/var/lib/berth"),
                exec_root: PathBuf::from("/run/berth"),
                host: HostInfo {
                    kernel_version: "6.1.0".into(),
                    operating_system: "Test OS".into(),
                    os_version: "1".into(),
                    os_type: "linux".into(),
                    architecture: "x86_64".into(),
                    ncpu: 2,
                    mem_total: 1 << 30,
                    hostname: "box".into(),
                    ipv4_forwarding: true,
                    seccomp: true,
                },
                cgroup: CgroupInfo {
                    version: CgroupVersion::V2,
                    memory_limit: true,
                    swap_limit: true,
                    cpu_cfs_period: true,
                    cpu_cfs_quota: true,
                    cpu_shares: true,
                    cpuset: true,
                    pids_limit: true,
                    oom_kill_disable: false,
                },
                cgroup_driver: "cgroupfs".into(),
                logging_driver: "json-file".into(),
                runtimes: vec![RuntimeInfo {
                    name: "berth-runtime".into(),
                    path: PathBuf::from("/usr/bin/berth-runtime"),
                }],
                default_runtime: "berth-runtime".into(),
                debug: false,
                server_version: "0.1.0".into(),
                open_fds: 10,
                threads: 3,
                system_time: "2026-11-23T13:08:01.000000000Z".into(),
                live_restore: false,
                warnings: vec![],
            }
        }

        fn version(&self) -> VersionInfo {
            VersionInfo {
                build: BuildInfo {
                    version: "0.1.0".into(),
                    git_commit: "abcdef0".into(),
                    build_time: "2026-11-23T13:08:01Z".into(),
                    compiler: "rustc 1.95.0".into(),
                },
                os: "linux".into(),
                arch: "aarch64".into(),
                kernel_version: "6.1.0".into(),
            }
        }
    }

    impl ImageBackend for Fake {
        fn list_images(&self) -> Result<Vec<ImageDetails>, ImageError> {
            Ok(Vec::new())
        }
        fn inspect_image(&self, name: &str) -> Result<ImageDetails, ImageError> {
            Err(ImageError::not_found(name))
        }
        fn image_history(&self, name: &str) -> Result<Vec<HistoryEntry>, ImageError> {
            Err(ImageError::not_found(name))
        }
        fn tag_image(&self, name: &str, _: &str, _: &str) -> Result<(), ImageError> {
            Err(ImageError::not_found(name))
        }
        fn delete_image(
            &self,
            name: &str,
            _: bool,
            _: bool,
        ) -> Result<Vec<DeleteItem>, ImageError> {
            Err(ImageError::not_found(name))
        }
        fn save_images(&self, _: &[String], _: &mut dyn Write) -> Result<(), ImageError> {
            Err(ImageError::not_found("x"))
        }
        fn load_images(&self, _: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError> {
            Err(ImageError::not_found("x"))
        }
        fn import_image(&self, _: &mut dyn Read, _: &ImportRequest) -> Result<Digest, ImageError> {
            Err(ImageError::not_found("x"))
        }
        fn pull_image(
            &self,
            _: &berth_engine::image::PullRequest,
            _: &(dyn Fn(berth_engine::image::PullEvent) + Sync),
        ) -> Result<berth_engine::image::PullOutcome, berth_engine::image::PullError> {
            Err(berth_engine::image::PullError::InvalidArgument(
                "no registry in the fake backend".into(),
            ))
        }
    }

    impl crate::backend::LifecycleBackend for Fake {
        fn start_container_checked(
            &self,
            id: &str,
        ) -> Result<berth_engine::container::Change, berth_engine::container::ContainerError>
        {
            no_container(id)
        }
        fn stop_container_with(
            &self,
            id: &str,
            _: Option<std::time::Duration>,
            _: Option<i32>,
        ) -> Result<berth_engine::container::Change, berth_engine::container::ContainerError>
        {
            no_container(id)
        }
        fn restart_container(
            &self,
            id: &str,
            _: Option<std::time::Duration>,
            _: Option<i32>,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn kill_container_with(
            &self,
            id: &str,
            _: i32,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn pause_container(&self, id: &str) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn unpause_container(
            &self,
            id: &str,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn rename_container(
            &self,
            id: &str,
            _: &str,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn remove_container_with(
            &self,
            id: &str,
            _: bool,
            _: bool,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
    }

    impl ContainerBackend for Fake {
        fn create_container(
            &self,
            image: &str,
            _: berth_engine::container::CreateOptions,
        ) -> Result<berth_engine::container::Container, berth_engine::container::ContainerError>
        {
            Err(berth_engine::container::ContainerError::ImageNotFound(
                image.to_owned(),
            ))
        }
        fn start_container(&self, id: &str) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn wait_container(
            &self,
            id: &str,
            _: berth_engine::container::WaitCondition,
        ) -> Result<berth_engine::container::WaitHandle, berth_engine::container::ContainerError>
        {
            no_container(id)
        }
        fn list_containers(&self) -> Vec<berth_engine::container::Container> {
            Vec::new()
        }
        fn inspect_container(
            &self,
            id: &str,
        ) -> Result<berth_engine::container::Container, berth_engine::container::ContainerError>
        {
            no_container(id)
        }
        fn container_log_path(&self, id: &str) -> PathBuf {
            PathBuf::from(id)
        }
        fn container_log(
            &self,
            id: &str,
        ) -> Result<String, berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn attach_container(
            &self,
            id: &str,
            _: berth_engine::container::AttachOptions,
        ) -> Result<berth_engine::container::AttachHandle, berth_engine::container::ContainerError>
        {
            no_container(id)
        }
        fn container_logs(
            &self,
            id: &str,
            _: &berth_engine::container::LogQuery,
            _: &mut dyn FnMut(berth_engine::container::LogEvent<'_>) -> bool,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn resize_container(
            &self,
            id: &str,
            _: u16,
            _: u16,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn update_container(
            &self,
            id: &str,
            _: &berth_engine::container::resources::ResourceUpdate,
        ) -> Result<Vec<String>, berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn stop_container(
            &self,
            id: &str,
            _: Option<std::time::Duration>,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn kill_container(
            &self,
            id: &str,
            _: i32,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
        fn remove_container(
            &self,
            id: &str,
            _: bool,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_container(id)
        }
    }

    impl crate::handlers::exec::ExecBackend for Fake {
        fn exec_create(
            &self,
            container: &str,
            _: berth_engine::container::exec::ExecConfig,
        ) -> Result<String, berth_engine::container::ContainerError> {
            Err(berth_engine::container::ContainerError::NotFound(
                container.to_owned(),
            ))
        }
        fn exec_check(
            &self,
            id: &str,
        ) -> Result<berth_engine::container::exec::ExecInfo, berth_engine::container::ContainerError>
        {
            no_exec(id)
        }
        fn exec_start(
            &self,
            id: &str,
            _: berth_engine::container::exec::ExecStartOptions,
        ) -> Result<Option<std::os::unix::net::UnixStream>, berth_engine::container::ContainerError>
        {
            no_exec(id)
        }
        fn exec_inspect(
            &self,
            id: &str,
        ) -> Result<berth_engine::container::exec::ExecInfo, berth_engine::container::ContainerError>
        {
            no_exec(id)
        }
        fn exec_resize(
            &self,
            id: &str,
            _: u16,
            _: u16,
        ) -> Result<(), berth_engine::container::ContainerError> {
            no_exec(id)
        }
    }

    impl VolumeBackend for Fake {
        fn create_volume(
            &self,
            req: berth_engine::volume::CreateRequest,
        ) -> Result<berth_engine::volume::Volume, berth_engine::volume::VolumeError> {
            Err(berth_engine::volume::VolumeError::NotFound(
                req.name.unwrap_or_default(),
            ))
        }
        fn inspect_volume(
            &self,
            name: &str,
        ) -> Result<berth_engine::volume::Volume, berth_engine::volume::VolumeError> {
            Err(berth_engine::volume::VolumeError::NotFound(name.to_owned()))
        }
        fn list_volumes(
            &self,
            _: &berth_engine::volume::ListFilters,
        ) -> Result<Vec<berth_engine::volume::Volume>, berth_engine::volume::VolumeError> {
            Ok(Vec::new())
        }
        fn remove_volume(
            &self,
            name: &str,
            _: bool,
        ) -> Result<(), berth_engine::volume::VolumeError> {
            Err(berth_engine::volume::VolumeError::NotFound(name.to_owned()))
        }
        fn prune_volumes(
            &self,
            _: &berth_engine::volume::PruneFilters,
        ) -> Result<berth_engine::volume::PruneReport, berth_engine::volume::VolumeError> {
            Ok(berth_engine::volume::PruneReport::default())
        }
    }

    impl crate::handlers::networks::NetworkBackend for Fake {
        fn list_networks(
            &self,
            _: &std::collections::BTreeMap<String, Vec<String>>,
        ) -> Result<Vec<berth_engine::network::Network>, berth_engine::network::NetworkError>
        {
            Ok(Vec::new())
        }
        fn inspect_network(
            &self,
            id: &str,
        ) -> Result<berth_engine::network::Network, berth_engine::network::NetworkError> {
            Err(berth_engine::network::NetworkError::NotFound(id.to_owned()))
        }
        fn create_network(
            &self,
            req: berth_engine::network::CreateRequest,
        ) -> Result<berth_engine::network::Network, berth_engine::network::NetworkError> {
            Err(berth_engine::network::NetworkError::NameInUse(req.name))
        }
        fn remove_network(&self, id: &str) -> Result<(), berth_engine::network::NetworkError> {
            Err(berth_engine::network::NetworkError::NotFound(id.to_owned()))
        }
        fn connect_network(
            &self,
            id: &str,
            _: &str,
            _: berth_engine::network::EndpointConfig,
        ) -> Result<(), berth_engine::container::ContainerError> {
            Err(berth_engine::network::NetworkError::NotFound(id.to_owned()).into())
        }
        fn disconnect_network(
            &self,
            id: &str,
            _: &str,
            _: bool,
        ) -> Result<(), berth_engine::container::ContainerError> {
            Err(berth_engine::network::NetworkError::NotFound(id.to_owned()).into())
        }
        fn prune_networks(&self, _: &berth_engine::prune::PruneFilters) -> Vec<String> {
            Vec::new()
        }
    }

    async fn call(method: &str, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let app = router(Backends {
            system: Arc::new(Fake),
            images: Arc::new(Fake),
            containers: Arc::new(Fake),
            exec: Arc::new(Fake),
            volumes: Arc::new(Fake),
            networks: Arc::new(Fake),
        });
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn every_response_carries_the_daemon_headers() {
        for (method, path) in [
            ("GET", "/_ping"),
            ("HEAD", "/_ping"),
            ("GET", "/v1.51/info"),
            ("GET", "/v1.99/version"),
            ("GET", "/nope"),
        ] {
            let (_, headers, _) = call(method, path).await;
            assert_eq!(headers["api-version"], "1.51", "{method} {path}");
            assert_eq!(headers["ostype"], "linux");
            assert_eq!(headers["docker-experimental"], "false");
            assert_eq!(headers["server"], compat::SERVER_HEADER);
        }
    }

    #[tokio::test]
    async fn version_maps_engine_data() {
        let (status, _, body) = call("GET", "/v1.41/version").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.ends_with('\n'), "Go's encoder ends with a newline");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Arch"], "arm64");
        assert_eq!(v["GitCommit"], "abcdef0");
        assert_eq!(v["GoVersion"], "rustc 1.95.0");
        assert_eq!(v["Components"][0]["Details"]["MinAPIVersion"], "1.24");
        assert_eq!(v["Components"][0]["Details"]["Arch"], "arm64");
    }

    #[tokio::test]
    async fn info_maps_engine_data_per_version() {
        let (_, _, body) = call("GET", "/info").await;
        let i: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(i["Containers"], 3);
        assert_eq!(i["ContainersStopped"], 2);
        assert_eq!(i["Images"], 4);
        assert_eq!(i["CgroupVersion"], "2");
        assert_eq!(i["DriverStatus"][0][1], "extfs");
        assert_eq!(
            i["Runtimes"]["berth-runtime"]["path"],
            "/usr/bin/berth-runtime"
        );
        assert_eq!(i["SecurityOptions"][0], "name=seccomp,profile=builtin");
        assert_eq!(i["Swarm"]["LocalNodeState"], "inactive");
        assert!(i.get("BridgeNfIptables").is_none());
        let (_, _, old) = call("GET", "/v1.41/info").await;
        let old: serde_json::Value = serde_json::from_str(&old).unwrap();
        assert_eq!(old["BridgeNfIptables"], false);
    }

    #[tokio::test]
    async fn errors_and_unknown_routes() {
        let (status, headers, body) = call("GET", "/v1.52/info").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            body,
            "{\"message\":\"client version 1.52 is too new. Maximum supported API version is 1.51\"}\n"
        );
        let (status, _, body) = call("DELETE", "/info").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, "{\"message\":\"page not found\"}\n");
        let (status, _, body) = call("GET", "/v1.51/images/nope/json").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, "{\"message\":\"No such image: nope\"}\n");
        let (status, _, body) = call("GET", "/images/json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "[]\n");
        let (status, headers, body) = call("HEAD", "/v1.24/_ping").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "");
        assert_eq!(headers["content-length"], "0");
    }
}
