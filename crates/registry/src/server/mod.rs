//! The registry server behind `berth registry serve`: the OCI distribution
//! spec (Docker's registry API v2) over plain HTTP, storing blobs with
//! `berth-image`'s content store (see [`storage`] for the layout).
//!
//! ```no_run
//! # async fn f() -> Result<(), String> {
//! use berth_registry::server::{Config, Registry};
//! let reg = Registry::open(&Config { root: "/var/lib/berth-registry".into(), htpasswd: None, tls: None })?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await.map_err(|e| e.to_string())?;
//! reg.serve(listener, std::future::pending(), |line| eprintln!("{line}")).await.map_err(|e| e.to_string())
//! # }
//! ```

pub mod auth;
pub mod error;
pub mod gc;
mod handlers;
pub mod storage;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use gc::{GcReport, garbage_collect};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where blobs, manifests and tags live.
    pub root: PathBuf,
    /// An htpasswd file (bcrypt entries): when set, every request needs basic auth.
    pub htpasswd: Option<PathBuf>,
    /// A PEM certificate (chain) and private key: when set, serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A registry: storage, uploads in progress, auth.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    storage: storage::Storage,
    htpasswd: Option<auth::Htpasswd>,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<handlers::Upload>>>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Registry {
    /// Opens the storage under `config.root` (creating it, and removing
    /// uploads a previous run left) and reads the htpasswd file.
    pub fn open(config: &Config) -> Result<Self, String> {
        let storage = storage::Storage::open(&config.root).map_err(|e| {
            format!(
                "cannot use `{}` as the registry's root: {e}",
                config.root.display()
            )
        })?;
        let htpasswd = match &config.htpasswd {
            Some(p) => Some(
                auth::Htpasswd::load(p)
                    .map_err(|e| format!("cannot read the htpasswd file `{}`: {e}", p.display()))?,
            ),
            None => None,
        };
        let tls = match &config.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                htpasswd,
                uploads: Mutex::new(HashMap::new()),
                tls,
            }),
        })
    }

    /// Serves HTTP on `listener` until `shutdown` completes, calling `log`
    /// with one line per request.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        log: impl Fn(&str) + Send + Sync + 'static,
    ) -> std::io::Result<()> {
        let log: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(log);
        if let Some(acceptor) = self.inner.tls.clone() {
            return self.serve_tls(listener, acceptor, shutdown, log).await;
        }
        let reg = self.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let reg = reg.clone();
            let log = log.clone();
            async move { handlers::handle(reg, req, log).await }
        });
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The HTTPS accept loop: each connection is a TLS handshake, then
    /// HTTP/1.1 on it. At shutdown it stops accepting; connections in
    /// flight end with the process.
    async fn serve_tls(
        self,
        listener: tokio::net::TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
        shutdown: impl Future<Output = ()> + Send + 'static,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        log(&format!("accept failed: {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => return Ok(()),
            };
            let (reg, acceptor, log) = (self.clone(), acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let stream = match acceptor.accept(tcp).await {
                    Ok(s) => s,
                    Err(e) => {
                        log(&format!("{peer} TLS handshake failed: {e}"));
                        return;
                    }
                };
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut req = req.map(axum::body::Body::new);
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        let (reg, log) = (reg.clone(), log.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(handlers::handle(reg, req, log).await)
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    }
}
