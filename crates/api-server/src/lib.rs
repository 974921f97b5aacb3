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
mod handlers;
pub mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
pub use backend::{Backends, SystemBackend};
pub use error::{ApiError, status_for};
use tokio::net::UnixListener;

/// The axum application: every request goes through [`dispatch`].
pub fn router(backends: Backends) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(Arc::new(backends))
}

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// accepting and waits for in-flight requests to finish.
pub async fn serve(
    listener: UnixListener,
    backends: Backends,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(backends))
        .with_graceful_shutdown(shutdown)
        .await
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
        Ok(()) => handlers::handle(route, &backends, req).await,
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
