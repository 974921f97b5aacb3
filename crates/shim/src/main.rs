//! `berth-shim`: the per-container monitor that `berthd` starts (exec, never
//! fork) for each container.
//!
//! ```text
//! berth-shim --id ID --bundle DIR --state-dir DIR --runtime-root DIR
//!            [--log-path FILE [--log-max-size BYTES] [--log-max-file N]]
//!            [--stdin] [--terminal]
//! ```
//!
//! - `--id`: the container id given to the runtime.
//! - `--bundle`: the OCI bundle (`config.json` + rootfs).
//! - `--state-dir`: the shim's own directory, created if missing (0700);
//!   it holds `control.sock`, `attach.sock`, `exit.json`, `shim.pid` and
//!   `shim.log` (see `berth-shim-proto`). Keep it short: unix socket paths
//!   are limited to 107 bytes.
//! - `--runtime-root`: the runtime's state root (`berth-runtime --root`).
//! - `--log-path`: the json-file log; none without it. `--log-max-size`
//!   (bytes, 0 = unlimited) and `--log-max-file` (default 1) rotate it as
//!   Docker's `max-size`/`max-file`.
//! - `--stdin`: give the container a stdin pipe fed by attach clients
//!   (otherwise `/dev/null`).
//! - `--terminal`: the container has a terminal (must match
//!   `process.terminal` in the bundle); its output is raw, not multiplexed.
//!
//! On start the shim forks; the detached child creates the container (init
//! blocked until a `Start` request; the runtime's work runs in a throwaway
//! grandchild, `detach::in_child`, so its memory does not stay resident in
//! the shim), listens on both sockets, writes
//! `shim.pid` and reports; the parent prints that report, one
//! `berth_shim_proto::Ready` JSON line, on its standard output and exits
//! (0 when ready, 1 on error, 2 on a bad command line). The daemon runs the
//! command like any other and reads its output. The shim lives until `Delete` or
//! `Shutdown`, also after the container exits, so the daemon (or a
//! restarted daemon) can collect the exit status.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::ExitCode;

use berth_shim::{args, detach, shim};
use berth_shim_proto::{ErrorClass, PID_FILE, Ready, ShimError};

fn say_ready(out: OwnedFd, ready: &Ready) {
    let mut file = std::fs::File::from(out);
    let mut line = serde_json::to_string(ready).unwrap_or_default();
    line.push('\n');
    let _ = file.write_all(line.as_bytes());
}

fn fail(message: String) -> Ready {
    Ready::Error(ShimError::new(ErrorClass::Internal, message))
}

fn main() -> ExitCode {
    // Before anything else: the shim puts processes into containers, so its
    // binary must not be writable from them (CVE-2019-5736). This may
    // re-exec; fds (the daemon's pipe) are inherited across it.
    if let Err(err) = berth_runtime::protect::ensure_protected_executable() {
        println!(
            "{}",
            serde_json::to_string(&fail(err.to_string())).unwrap_or_default()
        );
        return ExitCode::FAILURE;
    }
    let args = match args::Args::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(err) => {
            let ready = Ready::Error(ShimError::new(
                ErrorClass::InvalidArgument,
                format!("{err}\n{}", args::USAGE),
            ));
            println!("{}", serde_json::to_string(&ready).unwrap_or_default());
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("berth-shim: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut args: args::Args) -> anyhow::Result<ExitCode> {
    // Absolute paths: the detached shim works from `/`.
    for p in [
        &mut args.bundle,
        &mut args.state_dir,
        &mut args.runtime_root,
    ] {
        *p = std::path::absolute(&*p)?;
    }
    if let Some(p) = &mut args.log_path {
        *p = std::path::absolute(&*p)?;
    }
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&args.state_dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.state_dir.display()))?;
    }
    let ready = match detach::detach(&args.state_dir) {
        Ok(detach::Detached::Child(fd)) => fd,
        Ok(detach::Detached::Parent(code)) => return Ok(ExitCode::from(code)),
        Err(err) => {
            println!(
                "{}",
                serde_json::to_string(&fail(err.to_string())).unwrap_or_default()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let shim = match shim::Shim::create(&args) {
        Ok(shim) => shim,
        Err(err) => {
            eprintln!("berth-shim: {err}");
            let class = match &err {
                shim::ShimFatal::Runtime(e) => shim::class_of(e),
                shim::ShimFatal::Reported(e) => e.class,
                _ => ErrorClass::Internal,
            };
            say_ready(ready, &Ready::Error(ShimError::new(class, err.to_string())));
            return Ok(ExitCode::FAILURE);
        }
    };
    let pid = std::process::id() as i32;
    fs_err::write(args.state_dir.join(PID_FILE), pid.to_string())?;
    say_ready(
        ready,
        &Ready::Ready {
            pid,
            init_pid: shim.init_pid(),
        },
    );
    shim.run()?;
    Ok(ExitCode::SUCCESS)
}
