//! `berth`: docker's commands and flags, talking to berthd.
//!
//! The flow is the same for every command: clap definitions ([`flags`]) →
//! resolved settings with environment applied ([`settings`]) → the command
//! ([`commands`]) calling `berth-api-client` → output through the
//! [`printer::Printer`]. `main` owns the exit codes.

mod commands;
mod credentials;
mod flags;
mod ojson;
mod printer;
mod settings;
mod template;
mod terminal;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    terminal::install_panic_hook();
    let flags = match flags::Flags::try_parse() {
        Ok(f) => f,
        Err(e) => {
            use clap::error::ErrorKind;
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::SUCCESS,
                // docker: a usage error is exit status 125.
                _ => ExitCode::from(125),
            };
        }
    };
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
    let result = runtime.block_on(commands::run(settings, &mut printer));
    // Nothing left to wait for: a task still reading a socket is dropped.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<commands::run::StatusError>().is_some() => {
            let code = e
                .downcast_ref::<commands::run::StatusError>()
                .map_or(1, |s| s.code);
            if let Some(m) = e
                .downcast_ref::<commands::run::StatusError>()
                .and_then(|s| s.message.as_deref())
            {
                eprintln!("{m}");
            }
            ExitCode::from(code)
        }
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
