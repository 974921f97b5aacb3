//! `/containers/...`: create and wait here; start, stop, restart, kill,
//! pause, unpause, rename and delete in [`lifecycle`]; list and inspect in
//! [`info`]; logs and attach (the streams) in [`streams`].
//!
//! The engine blocks (a `wait` for as long as the container runs), so every
//! call runs on a blocking thread.

pub(super) mod fs;
mod info;
mod lifecycle;
pub(crate) mod mounts;
mod ports;
mod resources;
mod security;
mod streams;

pub(crate) use info::{inspect, list, summary};
pub(crate) use lifecycle::{delete, kill, pause, rename, restart, start, stop, unpause};
pub(crate) use resources::update;
pub(crate) use streams::{
    SpliceOptions, attach, logs, resize, splice_with, terminal_size, wants_upgrade,
};

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types::container as api;
use berth_engine::container::health::HealthConfig;
use berth_engine::container::networking::DnsSettings;
use berth_engine::container::{ContainerError, CreateOptions, WaitCondition};

use super::json_response;
use crate::backend::ContainerBackend;
use crate::error::ApiError;

pub(super) type Backend = Arc<dyn ContainerBackend>;

/// Create bodies larger than this are refused (dockerd has no limit, but a
/// config is small).
const MAX_BODY: usize = 4 << 20;

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ContainerError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| ApiError::from_engine(&e)),
        Err(e) => Err(ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("container task failed: {e}"),
        )),
    }
}

pub(super) fn no_content(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Err(e) => e.into_response_body(),
    }
}

pub(super) fn query_of(req: &Request) -> Vec<(String, String)> {
    super::params::query(req.uri())
}

pub(super) use super::params::{flag, param};

/// `POST /containers/create?name=`.
pub(crate) async fn create(backend: Backend, req: Request, version: &str) -> Response {
    let q = query_of(&req);
    let name = param(&q, "name")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::invalid_argument(e.to_string()).into_response_body(),
    };
    let body: api::ContainerCreateRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::invalid_argument(format!("invalid JSON: {e}")).into_response_body();
        }
    };
    if body.image.is_empty() {
        return ApiError::invalid_argument("config cannot be empty in order to create a container")
            .into_response_body();
    }
    let restart_policy = match restart_policy(body.host_config.as_ref()) {
        Ok(p) => p,
        Err(e) => return e.into_response_body(),
    };
    let mounts = match mounts::options(body.host_config.as_ref(), body.volumes.as_ref()) {
        Ok(m) => m,
        Err(e) => return e.into_response_body(),
    };
    if let Err(e) = crate::compat::check_create_mounts(version, &mounts.mounts) {
        return e.into_response_body();
    }
    let network = match crate::handlers::networks::container_networks(
        body.host_config
            .as_ref()
            .map_or("", |h| h.network_mode.as_str()),
        body.networking_config,
        &body.mac_address,
    ) {
        Ok(n) => n,
        Err(e) => return e.into_response_body(),
    };
    let links = match body
        .host_config
        .as_ref()
        .and_then(|h| h.links.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|l| berth_engine::container::links::parse_link(l))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(l) => l,
        Err(e) => return ApiError::invalid_argument(e).into_response_body(),
    };
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    let opts = CreateOptions {
        name,
        // An empty list is "not given" (the CLI sends `[]` for none).
        cmd: body.cmd.filter(|c| !c.is_empty()),
        entrypoint: body.entrypoint.filter(|e| !e.is_empty()),
        env: body.env.unwrap_or_default(),
        working_dir: non_empty(body.working_dir),
        user: non_empty(body.user),
        hostname: non_empty(body.hostname),
        tty: body.tty,
        open_stdin: body.open_stdin,
        labels: body.labels.unwrap_or_default(),
        auto_remove: body.host_config.as_ref().is_some_and(|h| h.auto_remove),
        log_config: streams::log_config(body.host_config.as_ref()),
        console_size: streams::console_size(body.host_config.as_ref()),
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        stdin_once: body.stdin_once,
        stop_signal: body.stop_signal.filter(|s| !s.is_empty()),
        healthcheck: body.healthcheck.map(|h| HealthConfig {
            test: h.test.unwrap_or_default(),
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            start_interval: h.start_interval,
            retries: h.retries,
        }),
        restart_policy,
        init: body.host_config.as_ref().and_then(|h| h.init),
        stop_timeout: body.stop_timeout,
        resources: body
            .host_config
            .as_ref()
            .map(|h| resources::from_api(&h.resources))
            .unwrap_or_default(),
        security: security::options(body.host_config.as_ref(), body.domainname),
        mounts,
        ports: ports::options(
            body.host_config.as_ref().map(|h| &h.ports),
            body.exposed_ports.as_ref(),
        ),
        dns: body
            .host_config
            .as_ref()
            .map(|h| dns_settings(&h.dns))
            .unwrap_or_default(),
        network,
        links,
    };
    let warnings = opts.resources.create_warnings();
    let image = body.image;
    match blocking(move || backend.create_container(&image, opts)).await {
        Ok(c) => json_response(
            StatusCode::CREATED,
            &api::ContainerCreateResponse { id: c.id, warnings },
        ),
        Err(e) => e.into_response_body(),
    }
}

/// `HostConfig.Dns`, `DnsSearch`, `DnsOptions`, `ExtraHosts` of a create
/// body.
fn dns_settings(h: &berth_api_types::dns::DnsHostConfig) -> DnsSettings {
    DnsSettings {
        dns: h.dns.clone().unwrap_or_default(),
        dns_search: h.dns_search.clone().unwrap_or_default(),
        dns_options: h.dns_options.clone().unwrap_or_default(),
        extra_hosts: h.extra_hosts.clone().unwrap_or_default(),
    }
}

/// `HostConfig.RestartPolicy`, checked as dockerd does.
fn restart_policy(
    h: Option<&api::CreateHostConfig>,
) -> Result<berth_engine::container::RestartPolicy, ApiError> {
    let Some(p) = h.and_then(|h| h.restart_policy.as_ref()) else {
        return Ok(Default::default());
    };
    berth_engine::container::RestartPolicy::parse(&p.name, p.maximum_retry_count)
        .map_err(ApiError::invalid_argument)
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`.
pub(crate) async fn wait(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let text = param(&q, "condition").unwrap_or("");
    let Some(condition) = WaitCondition::parse(text) else {
        return ApiError::invalid_argument(format!("invalid condition: \"{text}\""))
            .into_response_body();
    };
    // Checked before answering: an unknown container is a plain 404.
    let handle = match blocking(move || backend.wait_container(&id, condition)).await {
        Ok(h) => h,
        Err(e) => return e.into_response_body(),
    };
    // As dockerd: the status line and headers go out at once (the docker
    // CLI waits for them before it starts the container), the body when
    // the condition holds; a failure then is the body's `Error`.
    let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    tokio::spawn(async move {
        let result = blocking(move || handle.wait()).await;
        let body = match result {
            Ok(code) => api::ContainerWaitResponse {
                status_code: i64::from(code),
                error: None,
            },
            Err(e) => api::ContainerWaitResponse {
                status_code: -1,
                error: Some(api::WaitExitError {
                    message: e.message().to_owned(),
                }),
            },
        };
        let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
        bytes.push(b'\n');
        let _ = tx.send(Bytes::from(bytes));
    });
    let mut response = Response::new(Body::from_stream(OnceStream(Some(rx))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A body of one chunk that arrives later.
struct OnceStream(Option<tokio::sync::oneshot::Receiver<Bytes>>);

impl futures_core::Stream for OnceStream {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        let Some(rx) = self.0.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        match std::pin::Pin::new(rx).poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(r) => {
                self.0 = None;
                std::task::Poll::Ready(r.ok().map(Ok))
            }
        }
    }
}
