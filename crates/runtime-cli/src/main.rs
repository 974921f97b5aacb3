//! `berth-runtime`: a runc-compatible command line over the `berth-runtime`
//! library, so containerd's runc shim, Podman (`--runtime`) and dockerd
//! (`--add-runtime`) can use berth's runtime in place of runc.
//!
//! This file only maps flags to library calls and errors to exit codes.

mod cli;
mod log;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let logger = log::Logger::new(args.log.as_deref(), args.log_format, args.debug);
    logger.debug(&format!(
        "command: {:?}",
        std::env::args().collect::<Vec<_>>()
    ));
    if args.command.enters_container()
        && let Err(err) = berth_runtime::protect::ensure_protected_executable()
    {
        logger.error(&err.to_string());
        return ExitCode::from(1);
    }
    match cli::run(args, &logger) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            logger.error(&format!("{err:#}"));
            ExitCode::from(1)
        }
    }
}
