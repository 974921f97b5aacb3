//! `berth registry serve` and `berth registry garbage-collect`: a local
//! registry, the role `docker run registry:2` plays for Docker users. The
//! server itself is `berth_registry::server`.

use berth_registry::server::{Config, Registry, garbage_collect};

use crate::flags::registry::{RegistryFlags, RegistryGcFlags, RegistryServeFlags};
use crate::printer::Printer;

pub(crate) async fn run(flags: &RegistryFlags, printer: &mut Printer) -> anyhow::Result<()> {
    match flags {
        RegistryFlags::Serve(f) => serve(f).await,
        RegistryFlags::GarbageCollect(f) => gc(f, printer),
    }
}

async fn serve(f: &RegistryServeFlags) -> anyhow::Result<()> {
    let config = Config {
        root: f.root.clone(),
        htpasswd: f.htpasswd.clone(),
        tls: f.tls_cert.clone().zip(f.tls_key.clone()),
    };
    let reg = Registry::open(&config).map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(&f.addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "\n\nhint: another program listens there; stop it or pick another `--addr`"
        } else {
            ""
        };
        anyhow::anyhow!("cannot listen on `{}`: {e}{hint}", f.addr)
    })?;
    let local = listener
        .local_addr()
        .map_or_else(|_| f.addr.clone(), |a| a.to_string());
    eprintln!(
        "berth registry listening on {}://{local} (root {}{})",
        if f.tls_cert.is_some() {
            "https"
        } else {
            "http"
        },
        f.root.display(),
        if f.htpasswd.is_some() {
            ", basic auth"
        } else {
            ""
        }
    );
    let shutdown = async {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
        eprintln!("berth registry: shutting down");
    };
    reg.serve(listener, shutdown, |line| eprintln!("{line}"))
        .await
        .map_err(|e| anyhow::anyhow!("the registry server failed: {e}"))
}

fn gc(f: &RegistryGcFlags, printer: &mut Printer) -> anyhow::Result<()> {
    if !f.root.join("repositories").is_dir() {
        anyhow::bail!(
            "`{}` is not a registry root (no `repositories` directory); pass the `--root` given to `berth registry serve`",
            f.root.display()
        );
    }
    let mut lines = Vec::new();
    let report = garbage_collect(&f.root, f.dry_run, |l| lines.push(l.to_owned()))
        .map_err(anyhow::Error::msg)?;
    for l in lines {
        printer.data(&format!("{l}\n"))?;
    }
    let bytes: u64 = report.removed.iter().map(|(_, s)| s).sum();
    printer.data(&format!(
        "{} blobs {}, {bytes} bytes; {} blobs kept\n",
        report.removed.len(),
        if f.dry_run {
            "eligible for deletion"
        } else {
            "deleted"
        },
        report.kept
    ))?;
    Ok(())
}
