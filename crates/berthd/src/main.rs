//! `berthd`: the berth daemon.
//!
//! Thin wiring, as ARCHITECTURE.md asks: parse dockerd-style flags
//! ([`flags`]), set up logging, take the pid file and the socket
//! ([`pidfile`], [`listener`]), open the engine, and serve the API until
//! SIGTERM or SIGINT. Shutdown stops accepting, lets in-flight requests
//! finish, removes the socket and the pid file, and exits 0.

mod flags;
mod listener;
mod pidfile;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use berth_engine::{BuildInfo, Engine, EngineConfig};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let flags = flags::Flags::parse();
    let settings = match flags::Settings::resolve(flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            return ExitCode::from(1);
        }
    };
    init_logging(&settings);
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // dockerd's prefix for the same situation.
            eprintln!("failed to start daemon: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(settings: &flags::Settings) {
    use tracing_subscriber::EnvFilter;

    // BERTHD_LOG (tracing's directive syntax) refines the level for debugging
    // a single module without drowning in the rest.
    let filter = EnvFilter::try_from_env("BERTHD_LOG")
        .unwrap_or_else(|_| EnvFilter::new(settings.log_level.as_str()));
    // Colour only for a terminal, and never with NO_COLOR set: logs usually
    // go to a journal or a file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match settings.log_format {
        flags::LogFormat::Json => builder.json().init(),
        flags::LogFormat::Text => builder.init(),
    }
}

fn run(settings: flags::Settings) -> anyhow::Result<()> {
    let pidfile = pidfile::Pidfile::acquire(&settings.pidfile)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berthd")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(&settings));
    // Remove the pid file last, after the socket: while it exists, a second
    // berthd refuses to start and so cannot race our cleanup.
    drop(pidfile);
    result
}

/// Startup order matters: signals first (a SIGTERM during startup still
/// cleans up), then the socket (a second daemon on the same socket fails
/// before touching the data root), then the engine, then serving.
async fn serve(settings: &flags::Settings) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let shutdown = async move {
        let name = tokio::select! {
            _ = term.recv() => "terminated",
            _ = int.recv() => "interrupt",
        };
        tracing::info!(signal = name, "Processing signal '{name}'");
    };

    let (listener, socket_guard) =
        listener::UnixSocket::bind(&settings.socket, &settings.socket_group)?.into_parts();
    tracing::info!(socket = %settings.socket.display(), "API listen on {}", settings.socket.display());

    let mut config = EngineConfig::new(&settings.data_root, &settings.exec_root);
    config.debug = settings.debug;
    config.build = BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: env!("BERTH_GIT_COMMIT").to_owned(),
        build_time: env!("BERTH_BUILD_TIME").to_owned(),
        compiler: env!("BERTH_COMPILER").to_owned(),
    };
    config.runtime_path = runtime_path();
    config.cgroup_parent = settings.cgroup_parent.clone();
    config.default_init = settings.init;
    config.host_resolv_conf = settings.host_resolv_conf.clone();
    config.network = settings.network.clone();
    let engine = Arc::new(Engine::open(config).context("cannot open the engine")?);
    engine
        .images()
        .set_insecure_registries(settings.insecure_registries.clone());
    tracing::info!(
        data_root = %settings.data_root.display(),
        exec_root = %settings.exec_root.display(),
        "Daemon has completed initialization"
    );

    let backends = berth_api_server::Backends::new(engine);
    let served = berth_api_server::serve(listener, backends, shutdown).await;
    drop(socket_guard);
    served.context("API server failed")?;
    tracing::info!("Daemon shutdown complete");
    Ok(())
}

/// `berth-runtime` next to this binary if it is there (an installed or built
/// tree), else the bare name for a `PATH` lookup.
fn runtime_path() -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("berth-runtime")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| berth_engine::system::DEFAULT_RUNTIME.into())
}
