//! One module per command: settings in, API calls, output through the printer.

pub(crate) mod attach;
pub(crate) mod build;
pub(crate) mod compose;
pub(crate) mod containers;
pub(crate) mod dns;
pub(crate) mod events;
pub(crate) mod exec;
pub(crate) mod fs;
pub(crate) mod health;
pub(crate) mod images;
pub(crate) mod info;
pub(crate) mod lifecycle;
pub(crate) mod login;
pub(crate) mod mounts;
pub(crate) mod network;
pub(crate) mod parallel;
pub(crate) mod ports;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod registry;
pub(crate) mod resources;
pub(crate) mod run;
pub(crate) mod run_policy;
pub(crate) mod security;
pub(crate) mod stats;
pub(crate) mod system;
pub(crate) mod update;
pub(crate) mod version;
pub(crate) mod volume;

use berth_api_client::Client;
use serde::Serialize;

use crate::printer::Printer;
use crate::settings::{Command, Format, Settings};
use crate::template::Template;

/// Build facts of this binary, shared by `version` and `info`.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const GIT_COMMIT: &str = env!("BERTH_GIT_COMMIT");
pub(crate) const COMPILER: &str = env!("BERTH_COMPILER");
pub(crate) const BUILD_TIME: &str = env!("BERTH_BUILD_TIME");

pub(crate) async fn run(settings: Settings, printer: &mut Printer) -> anyhow::Result<()> {
    let client = Client::new(settings.host.clone());
    match &settings.command {
        Command::Version { format } => version::run(&client, format, printer).await,
        Command::Info { format } => info::run(&client, &settings, format, printer).await,
        Command::Image(c) => images::run(&client, c, printer).await,
        Command::Container(c) => containers::run(&client, c, printer).await,
        Command::Inspect(f) => containers::inspect(&client, f, printer).await,
        Command::Observe(c) => system::run(&client, c, printer).await,
        Command::Volume(c) => volume::run(&client, c, printer).await,
        Command::Network(c) => network::run(&client, c, printer).await,
        Command::Compose(c) => compose::run(&client, c, printer).await,
        Command::Registry(c) => registry::run(c, printer).await,
        Command::Login(f) => login::login(&client, f, printer).await,
        Command::Logout(f) => login::logout(f, printer),
        Command::Build(f) => build::run(&client, f, printer).await,
        Command::Builder(c) => build::builder(&client, c, printer).await,
        Command::ShortVersion => {
            printer.data(&format!("berth version {VERSION}, build {GIT_COMMIT}\n"))?;
            Ok(())
        }
        Command::Help => {
            use clap::CommandFactory;
            let help = crate::flags::Flags::command().render_help().to_string();
            printer.data(&format!("{help}\n"))?;
            Ok(())
        }
    }
}

/// Renders `value` for `--format json` or a template; docker ends both with a
/// newline. `json` serializes the typed value, so fields keep the API's
/// order; templates run over its JSON tree (whose keys are sorted).
pub(crate) fn render<T: Serialize>(format: &Format, value: &T) -> anyhow::Result<String> {
    let text = match format {
        // Commands print `Pretty` with their own layout and never get here
        // with it; JSON is the faithful fallback if one does.
        Format::Json | Format::Pretty => serde_json::to_string(value)?,
        Format::Template(t) => {
            Template::parse(t)?.render_ordered(&crate::ojson::OValue::from_serialize(value)?)?
        }
    };
    Ok(text + "\n")
}

/// `linux/amd64`-style names, as the docker CLI prints them.
pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// docker's `reformatDate`: an RFC 3339 time shown as Go's ANSIC layout
/// (`Mon Jan _2 15:04:05 2006`) in its own offset; anything else unchanged.
pub(crate) fn ansic(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.format("%a %b %e %H:%M:%S %Y").to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansic_matches_go() {
        // docker 28.2.2's own build time and how its CLI prints it.
        assert_eq!(
            ansic("2025-05-30T12:07:14.000000000+00:00"),
            "Fri May 30 12:07:14 2025"
        );
        assert_eq!(ansic("2026-11-03T09:00:00Z"), "Tue Nov  3 09:00:00 2026");
        assert_eq!(ansic(""), "");
        assert_eq!(ansic("yesterday"), "yesterday");
    }
}
