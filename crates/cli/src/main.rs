//! `berth`: docker's commands and flags, talking to berthd.
//!
//! The flow is the same for every command: clap definitions ([`flags`]) →
//! resolved settings with environment applied ([`settings`]) → the command
//! ([`commands`]) calling `berth-api-client` → output through the
//! [`printer::Printer`]. `main` owns the exit codes.

mod commands;
mod flags;
mod printer;
mod settings;
mod template;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Flags::parse();
    let settings = match settings::Settings::resolve(flags, |k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let debug = settings.debug;
    // One thread: the CLI waits on one socket at a time.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut printer = printer::Printer::default();
    match runtime.block_on(commands::run(settings, &mut printer)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // docker prints the bare message; the cause chain only helps when
            // debugging.
            if debug {
                eprintln!("{e:#}");
            } else {
                eprintln!("{e}");
            }
            ExitCode::from(1)
        }
    }
}
