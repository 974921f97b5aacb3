//! The observing and clean-up commands: `events` ([`super::events`]),
//! `stats` ([`super::stats`]), `system df` and the prune commands.

use anyhow::anyhow;
use berth_api_client::Client;
use berth_api_types::ImageSummary;
use berth_api_types::prune::{
    BuildCachePruneReport, ContainersPruneReport, DiskUsage, ImagesPruneReport,
    NetworksPruneReport, VolumesPruneReport,
};
use serde_json::{Value, json};

use super::containers::{filters_json, ps_headers, ps_row_of};
use super::images::{
    ListFormat, human_size, list_format, now, render_rows, since, split_reference,
};
use super::stats::go_g4;
use crate::flags::common::PruneFlags;
use crate::flags::system::{DfFlags, ImagePruneFlags, ObserveCommand, SystemPruneFlags};
use crate::printer::Printer;

pub(crate) async fn run(
    client: &Client,
    cmd: &ObserveCommand,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match cmd {
        ObserveCommand::Events(f) => super::events::events(client, f, printer).await,
        ObserveCommand::Stats(f) => super::stats::stats(client, f, printer).await,
        ObserveCommand::Df(f) => df(client, f, printer).await,
        ObserveCommand::SystemPrune(f) => system_prune(client, f, printer).await,
    }
}

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

/// docker's `units.HumanSize`: decimal units, four significant digits.
pub(crate) fn human_size4(size: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g4(v), UNITS[i])
}

fn size_u(n: u64) -> String {
    human_size4(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `N (P%)` as docker's disk usage shows what could be reclaimed.
fn reclaimable(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size4(reclaimable),
            reclaimable * 100 / total
        )
    } else {
        human_size4(reclaimable)
    }
}

/// Asks `question [y/N] ` on stdout; a `y` line is yes (docker's
/// `prompt.Confirm`). End of input is no.
pub(crate) fn confirm(printer: &mut Printer, question: &str) -> anyhow::Result<bool> {
    printer.data(&format!("{question} [y/N] "))?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y"))
}

/// docker's `--filter` values as the API's JSON map, with the image
/// prune's `dangling` added when `dangling` is given.
pub(crate) fn prune_filters(specs: &[String], dangling: Option<bool>) -> anyhow::Result<String> {
    let mut specs = specs.to_vec();
    if let Some(d) = dangling {
        specs.push(format!("dangling={d}"));
    }
    if specs.is_empty() {
        return Ok(String::new());
    }
    filters_json(&specs)
}

async fn run_container_prune(client: &Client, filter: &[String]) -> anyhow::Result<(u64, String)> {
    let r: ContainersPruneReport = client
        .prune("containers", &prune_filters(filter, None)?)
        .await
        .map_err(api)?;
    let deleted = r.containers_deleted.unwrap_or_default();
    if deleted.is_empty() {
        return Ok((0, String::new()));
    }
    let mut out = "Deleted Containers:\n".to_owned();
    for id in deleted {
        out.push_str(&id);
        out.push('\n');
    }
    Ok((r.space_reclaimed, out))
}

async fn run_image_prune(
    client: &Client,
    all: bool,
    filter: &[String],
) -> anyhow::Result<(u64, String)> {
    let r: ImagesPruneReport = client
        .prune("images", &prune_filters(filter, Some(!all))?)
        .await
        .map_err(api)?;
    let deleted = r.images_deleted.unwrap_or_default();
    if deleted.is_empty() {
        return Ok((0, String::new()));
    }
    let mut out = "Deleted Images:\n".to_owned();
    for d in deleted {
        if !d.untagged.is_empty() {
            out.push_str(&format!("untagged: {}\n", d.untagged));
        } else {
            out.push_str(&format!("deleted: {}\n", d.deleted));
        }
    }
    Ok((r.space_reclaimed, out))
}

/// What every prune ends with (each step's output first, then a blank
/// line, as docker's `Println` of it).
fn prune_output(steps: &[String], reclaimed: u64) -> String {
    let mut out = String::new();
    for s in steps.iter().filter(|s| !s.is_empty()) {
        out.push_str(s);
        out.push('\n');
    }
    out.push_str(&format!("Total reclaimed space: {}\n", size_u(reclaimed)));
    out
}

pub(crate) async fn container_prune(
    client: &Client,
    f: &PruneFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    if !f.force
        && !confirm(
            printer,
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )?
    {
        return Ok(());
    }
    let (reclaimed, out) = run_container_prune(client, &f.filter).await?;
    printer.data(&prune_output(&[out], reclaimed))?;
    Ok(())
}

pub(crate) async fn image_prune(
    client: &Client,
    f: &ImagePruneFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let warning = if f.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !f.prune.force && !confirm(printer, warning)? {
        return Ok(());
    }
    let (reclaimed, out) = run_image_prune(client, f.all, &f.prune.filter).await?;
    printer.data(&prune_output(&[out], reclaimed))?;
    Ok(())
}

async fn system_prune(
    client: &Client,
    f: &SystemPruneFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    if f.volumes && f.prune.filter.iter().any(|s| s.starts_with("until=")) {
        return Err(anyhow!(
            "ERROR: The \"until\" filter is not supported with \"--volumes\""
        ));
    }
    if !f.prune.force {
        let mut warnings = vec![
            "all stopped containers",
            "all networks not used by at least one container",
        ];
        if f.volumes {
            warnings.push("all anonymous volumes not used by at least one container");
        }
        if f.all {
            warnings.push("all images without at least one container associated to them");
            warnings.push("all build cache");
        } else {
            warnings.push("all dangling images");
            warnings.push("unused build cache");
        }
        let mut text = "WARNING! This will remove:\n".to_owned();
        for w in warnings {
            text.push_str(&format!("  - {w}\n"));
        }
        if !f.prune.filter.is_empty() {
            let mut filters = f.prune.filter.clone();
            filters.sort();
            text.push_str("\n  Items to be pruned will be filtered with:\n");
            for flt in filters {
                text.push_str(&format!("  - {flt}\n"));
            }
        }
        text.push_str("\nAre you sure you want to continue?");
        if !confirm(printer, &text)? {
            return Ok(());
        }
    }
    let mut steps = Vec::new();
    let mut reclaimed = 0;
    let (r, out) = run_container_prune(client, &f.prune.filter).await?;
    reclaimed += r;
    steps.push(out);
    // Then networks, volumes (with --volumes), images and the build cache,
    // in docker's order (berth has no build cache: that step removes nothing).
    let net: NetworksPruneReport = client
        .prune("networks", &prune_filters(&f.prune.filter, None)?)
        .await
        .map_err(api)?;
    let nets = net.networks_deleted.unwrap_or_default();
    if !nets.is_empty() {
        steps.push(format!("Deleted Networks:\n{}\n", nets.join("\n")));
    }
    if f.volumes {
        let vol: VolumesPruneReport = client
            .prune("volumes", &prune_filters(&f.prune.filter, None)?)
            .await
            .map_err(api)?;
        let vols = vol.volumes_deleted.unwrap_or_default();
        if !vols.is_empty() {
            steps.push(format!("Deleted Volumes:\n{}\n", vols.join("\n")));
            reclaimed += vol.space_reclaimed;
        }
    }
    let (r, out) = run_image_prune(client, f.all, &f.prune.filter).await?;
    reclaimed += r;
    steps.push(out);
    let cache: BuildCachePruneReport = client
        .prune("build", &prune_filters(&f.prune.filter, None)?)
        .await
        .map_err(api)?;
    let caches = cache.caches_deleted.unwrap_or_default();
    if !caches.is_empty() {
        steps.push(format!(
            "Deleted build cache objects:\n{}\n",
            caches.join("\n")
        ));
        reclaimed += cache.space_reclaimed;
    }
    printer.data(&prune_output(&steps, reclaimed))?;
    Ok(())
}

fn df_headers() -> Value {
    json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
           "Reclaimable": "RECLAIMABLE"})
}

/// docker's four summary rows.
fn df_rows(du: &DiskUsage) -> Vec<Value> {
    let used_images: Vec<&ImageSummary> = du.images.iter().filter(|i| i.containers > 0).collect();
    let used: i64 = used_images
        .iter()
        .filter(|i| i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    let active = |s: &str| {
        ["running", "paused", "restarting"]
            .iter()
            .any(|a| s.contains(a))
    };
    let rw: i64 = du.containers.iter().filter_map(|c| c.size_rw).sum();
    let idle_rw: i64 = du
        .containers
        .iter()
        .filter(|c| !active(&c.state))
        .filter_map(|c| c.size_rw)
        .sum();
    let running = du.containers.iter().filter(|c| active(&c.state)).count();
    // docker's volume row: sizes of -1 (unreadable) left out.
    let usage: Vec<(i64, i64)> = du
        .volumes
        .iter()
        .filter_map(|v| v.usage_data.map(|u| (u.size, u.ref_count)))
        .collect();
    let volumes_active = usage.iter().filter(|(_, refs)| *refs > 0).count();
    let volumes_size: i64 = usage.iter().filter(|(s, _)| *s != -1).map(|(s, _)| s).sum();
    let volumes_idle: i64 = usage
        .iter()
        .filter(|(s, refs)| *s != -1 && *refs == 0)
        .map(|(s, _)| s)
        .sum();
    let row = |t: &str, total: usize, active: usize, size: String, recl: String| {
        json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": size, "Reclaimable": recl})
    };
    vec![
        row(
            "Images",
            du.images.len(),
            used_images.len(),
            human_size4(du.layers_size),
            reclaimable(du.layers_size - used, du.layers_size),
        ),
        row(
            "Containers",
            du.containers.len(),
            running,
            human_size4(rw),
            reclaimable(idle_rw, rw),
        ),
        row(
            "Local Volumes",
            du.volumes.len(),
            volumes_active,
            human_size4(volumes_size),
            reclaimable(volumes_idle, volumes_size),
        ),
        row(
            "Build Cache",
            du.build_cache.len(),
            0,
            human_size4(0),
            human_size4(0),
        ),
    ]
}

/// `system df -v`: each kind's own table.
fn df_verbose(du: &DiskUsage) -> anyhow::Result<String> {
    let table = |t: &str| ListFormat::Table(Some(t.to_owned()));
    let mut out = "Images space usage:\n\n".to_owned();
    let images: Vec<Value> = du
        .images
        .iter()
        .map(|i| {
            let (repo, tag) = i
                .repo_tags
                .first()
                .map(|t| split_reference(t))
                .unwrap_or_else(|| ("<none>".to_owned(), "<none>".to_owned()));
            let hex = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
            json!({
                "Repository": repo, "Tag": tag, "ID": hex.chars().take(12).collect::<String>(),
                "CreatedSince": since(i.created), "Size": human_size(i.size),
                "SharedSize": if i.shared_size < 0 { "N/A".to_owned() } else { human_size4(i.shared_size) },
                "UniqueSize": if i.shared_size < 0 { "N/A".to_owned() } else { human_size4(i.size - i.shared_size) },
                "Containers": if i.containers < 0 { "N/A".to_owned() } else { i.containers.to_string() },
            })
        })
        .collect();
    out.push_str(&render_rows(
        &table("{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"),
        &images,
        &json!({"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
                "Containers": "CONTAINERS"}),
    )?);
    out.push_str("\nContainers space usage:\n\n");
    let now = now();
    let containers: Vec<Value> = du
        .containers
        .iter()
        .map(|c| {
            // docker leaves the virtual size out here.
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["SizeRootFs"] = json!(0);
            ps_row_of(v, true, now)
        })
        .collect::<anyhow::Result<_>>()?;
    out.push_str(&render_rows(
        &table("{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"),
        &containers,
        &ps_headers(),
    )?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    let volumes: Vec<Value> = du.volumes.iter().map(super::volume::row).collect();
    out.push_str(&render_rows(
        &table("{{.Name}}\t{{.Links}}\t{{.Size}}"),
        &volumes,
        &json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}),
    )?);
    out.push_str(&format!("\nBuild cache usage: {}\n\n", human_size4(0)));
    out.push_str(&render_rows(
        &table("{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}"),
        &[],
        &json!({"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
                "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}),
    )?);
    Ok(out)
}

async fn df(client: &Client, f: &DfFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let format = list_format(
        f.format.as_deref(),
        "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    );
    let du = client.system_df().await.map_err(api)?;
    let text = if f.verbose {
        if f.format.is_some() {
            return Err(anyhow!("--format and --verbose cannot be used together"));
        }
        df_verbose(&du)?
    } else {
        render_rows(&format, &df_rows(&du), &df_headers())?
    };
    printer.data(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_prune_text_as_docker() {
        assert_eq!(human_size4(1_225_000), "1.225MB");
        assert_eq!(human_size4(0), "0B");
        assert_eq!(human_size4(212), "212B");
        assert_eq!(reclaimable(11_630_000, 16_430_000), "11.63MB (70%)");
        assert_eq!(reclaimable(0, 0), "0B");
        assert_eq!(
            prune_output(&["Deleted Containers:\nabc\n".to_owned()], 12),
            "Deleted Containers:\nabc\n\nTotal reclaimed space: 12B\n"
        );
        assert_eq!(
            prune_output(&[String::new()], 0),
            "Total reclaimed space: 0B\n"
        );
        assert_eq!(
            prune_filters(&["until=1h".to_owned()], Some(true)).unwrap(),
            r#"{"dangling":{"true":true},"until":{"1h":true}}"#
        );
    }
}
