//! `berth volume create|inspect|ls|prune|rm`: docker's output and exit
//! codes.

use std::collections::BTreeMap;

use anyhow::anyhow;
use berth_api_client::Client;
use berth_api_types::prune::VolumesPruneReport;
use berth_api_types::volume::{Volume, VolumeCreateOptions};
use serde_json::{Value, json};

use super::images::{ListFormat, inspect_each, list_format, remove_each, render_rows};
use super::system::human_size4;
use crate::flags::volume::{
    VolumeCreateFlags, VolumeFlags, VolumeInspectFlags, VolumeLsFlags, VolumePruneFlags,
    VolumeRmFlags,
};
use crate::printer::Printer;

pub(crate) async fn run(
    client: &Client,
    cmd: &VolumeFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match cmd {
        VolumeFlags::Create(f) => create(client, f, printer).await,
        VolumeFlags::Inspect(f) => inspect(client, f, printer).await,
        VolumeFlags::Ls(f) => list(client, f, printer).await,
        VolumeFlags::Prune(f) => prune(client, f, printer).await,
        VolumeFlags::Rm(f) => remove(client, f, printer).await,
    }
}

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

/// docker's `MapOpts` and `ConvertKVStringsToMap`: `k=v`, or `k` alone
/// for an empty value.
fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

async fn create(
    client: &Client,
    f: &VolumeCreateFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let name = match (&f.volume, &f.name) {
        (Some(_), Some(n)) if !n.is_empty() => {
            return Err(anyhow!(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
            ));
        }
        (Some(v), _) => v.clone(),
        (None, n) => n.clone().unwrap_or_default(),
    };
    let opts = VolumeCreateOptions {
        name,
        driver: f.driver.clone(),
        // As docker 28's CLI: empty maps are left out (`null` in inspect;
        // docker 20.10 sends `{}`).
        driver_opts: Some(key_values(&f.opt)).filter(|m| !m.is_empty()),
        labels: Some(key_values(&f.label)).filter(|m| !m.is_empty()),
    };
    let v = client.volume_create(&opts).await.map_err(api)?;
    printer.data(&format!("{}\n", v.name))?;
    Ok(())
}

async fn inspect(
    client: &Client,
    f: &VolumeInspectFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    inspect_each(
        &f.volumes,
        |name| client.volume_inspect_as::<crate::ojson::OValue>(name),
        f.format.as_deref(),
        printer,
    )
    .await
}

fn headers() -> Value {
    json!({
        "ID": "ID", "Name": "VOLUME NAME", "Group": "GROUP", "Driver": "DRIVER",
        "Scope": "SCOPE", "Availability": "AVAILABILITY", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Status": "STATUS",
    })
}

/// A row of docker's volume formatter (also what `--format json` prints).
pub(crate) fn row(v: &Volume) -> Value {
    let labels = v
        .labels
        .as_ref()
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let (links, size) = match v.usage_data {
        Some(u) => (u.ref_count.to_string(), human_size4(u.size)),
        None => ("N/A".to_owned(), "N/A".to_owned()),
    };
    json!({
        "Availability": "N/A",
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": labels,
        "Links": links,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": v.scope,
        "Size": size,
        "Status": "N/A",
    })
}

/// `sortorder.NaturalLess`: digit runs compare as numbers.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
            // Equal values: the shorter run (fewer leading zeros) first.
            let ord = (i - si).cmp(&(j - sj));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

async fn list(client: &Client, f: &VolumeLsFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let filters = super::containers::filters_json(&f.filter)?;
    let mut resp = client.volume_list(&filters).await.map_err(api)?;
    resp.volumes.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let format = match (f.format.as_deref(), f.quiet) {
        (None | Some(""), true) => ListFormat::Raw("{{.Name}}".to_owned()),
        (format, _) => list_format(format, "{{.Driver}}\t{{.Name}}"),
    };
    let rows: Vec<Value> = resp.volumes.iter().map(row).collect();
    printer.data(&render_rows(&format, &rows, &headers())?)?;
    Ok(())
}

async fn remove(client: &Client, f: &VolumeRmFlags, printer: &mut Printer) -> anyhow::Result<()> {
    // With `--force` the daemon itself passes over a missing volume.
    remove_each(
        &f.volumes,
        false,
        |name| client.volume_remove(name, f.force),
        printer,
    )
    .await
}

async fn prune(client: &Client, f: &VolumePruneFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let mut specs = f.prune.filter.clone();
    let mut warning = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
    if f.all {
        if specs.iter().any(|s| {
            s.split_once('=')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("all"))
        }) {
            return Err(anyhow!(
                "conflicting options: cannot specify both --all and --filter all=1"
            ));
        }
        specs.push("all=true".to_owned());
        warning = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";
    }
    if !f.prune.force && !super::system::confirm(printer, warning)? {
        return Ok(());
    }
    let filters = super::containers::filters_json(&specs)?;
    let report: VolumesPruneReport = client.prune("volumes", &filters).await.map_err(api)?;
    let deleted = report.volumes_deleted.unwrap_or_default();
    let mut out = String::new();
    let mut reclaimed = 0;
    if !deleted.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for name in &deleted {
            out.push_str(name);
            out.push('\n');
        }
        out.push('\n');
        reclaimed = report.space_reclaimed;
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size4(i64::try_from(reclaimed).unwrap_or(i64::MAX))
    ));
    printer.data(&out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::*;

    #[test]
    fn natural_order_as_dockers_ls() {
        let mut names = vec!["vol10", "vol2", "a", "vol1", "B", "vol02"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["B", "a", "vol1", "vol2", "vol02", "vol10"]);
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
    }

    #[test]
    fn rows_as_dockers_formatter() {
        let v = Volume {
            name: "data".into(),
            driver: "local".into(),
            labels: Some(BTreeMap::from([
                ("b".to_owned(), "2".to_owned()),
                ("a".to_owned(), "1".to_owned()),
            ])),
            scope: "local".into(),
            ..Volume::default()
        };
        let r = row(&v);
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Links"], "N/A");
        assert_eq!(r["Size"], "N/A");
        let table = render_rows(
            &list_format(None, "{{.Driver}}\t{{.Name}}"),
            &[r],
            &headers(),
        )
        .unwrap();
        assert_eq!(table, "DRIVER    VOLUME NAME\nlocal     data\n");
        assert_eq!(
            key_values(&["a=b=c".to_owned(), "k".to_owned()]),
            BTreeMap::from([
                ("a".to_owned(), "b=c".to_owned()),
                ("k".to_owned(), String::new())
            ])
        );
    }
}
