//! The observing and clean-up commands: `events` ([`super::events`]),
//! `stats` ([`super::stats`]), `system df` and the prune commands.

use berth_api_client::Client;

use crate::flags::system::ObserveCommand;
use crate::printer::Printer;

pub(crate) async fn run(
    client: &Client,
    cmd: &ObserveCommand,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match cmd {
        ObserveCommand::Events(f) => super::events::events(client, f, printer).await,
        ObserveCommand::Stats(f) => super::stats::stats(client, f, printer).await,
    }
}
