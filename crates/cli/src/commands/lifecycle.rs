//! `restart`, `pause`, `unpause`, `rename`: docker's output (each
//! container's name as given, errors together at the end, exit 1).

use anyhow::anyhow;
use berth_api_client::Client;

use super::containers::{Done, each};
use crate::flags::lifecycle::{PauseFlags, RenameFlags, RestartFlags};
use crate::printer::Printer;

pub(crate) async fn restart(
    client: &Client,
    f: &RestartFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    each(&f.containers, printer, |name| async move {
        let signal = f.signal.as_deref().filter(|s| !s.is_empty());
        client.container_restart(&name, f.time, signal).await?;
        Ok(Done::Line(name))
    })
    .await
}

pub(crate) async fn pause(
    client: &Client,
    f: &PauseFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    each(&f.containers, printer, |name| async move {
        client.container_pause(&name).await?;
        Ok(Done::Line(name))
    })
    .await
}

pub(crate) async fn unpause(
    client: &Client,
    f: &PauseFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    each(&f.containers, printer, |name| async move {
        client.container_unpause(&name).await?;
        Ok(Done::Line(name))
    })
    .await
}

/// docker's `rename`: nothing on success; the daemon's error, then
/// `Error: failed to rename container named OLD`.
pub(crate) async fn rename(client: &Client, f: &RenameFlags) -> anyhow::Result<()> {
    let (old, new) = (f.container.trim(), f.new_name.trim());
    if old.is_empty() || new.is_empty() {
        return Err(anyhow!("Error: Neither old nor new names may be empty"));
    }
    if let Err(e) = client.container_rename(old, new).await {
        eprintln!("{e}");
        return Err(anyhow!("Error: failed to rename container named {old}"));
    }
    Ok(())
}
