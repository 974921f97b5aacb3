//! `berth info`: the Client and Server sections of `docker info`.

use std::fmt::Write as _;

use berth_api_client::Client;
use berth_api_types::SystemInfo;
use serde::Serialize;
use serde_json::{Value, json};

use super::{VERSION, render};
use crate::printer::Printer;
use crate::settings::{Format, Settings};

/// docker's `info --format` data: the server's info with the client's facts
/// under `ClientInfo`.
#[derive(Serialize)]
struct InfoOutput<'a> {
    #[serde(flatten)]
    info: &'a SystemInfo,
    #[serde(rename = "ClientInfo")]
    client_info: Value,
}

pub(crate) async fn run(
    client: &Client,
    settings: &Settings,
    format: &Format,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let info = client.info().await;
    if !matches!(format, Format::Pretty) {
        let info = info.map_err(|e| anyhow::anyhow!("{e}"))?;
        let output = InfoOutput {
            info: &info,
            client_info: json!({
                "Debug": settings.debug,
                "Version": VERSION,
                "Context": "default",
                "Plugins": [],
                "Warnings": null,
            }),
        };
        printer.data(&render(format, &output)?)?;
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(out, "Client:");
    let _ = writeln!(out, " Version:    {VERSION}");
    let _ = writeln!(out, " Context:    default");
    let _ = writeln!(out, " Debug Mode: {}", settings.debug);
    let _ = writeln!(out);
    let _ = writeln!(out, "Server:");
    match info {
        Ok(info) => {
            out.push_str(&pretty_server(&info));
            printer.data(&out)?;
            for warning in &info.warnings {
                printer.warn(warning);
            }
            Ok(())
        }
        Err(e) => {
            printer.data(&out)?;
            // docker's wording when the server half cannot be printed.
            printer.warn(&format!("ERROR: {e}"));
            Err(anyhow::anyhow!("errors pretty printing info"))
        }
    }
}

/// The server half of docker CLI 28's `info` layout.
fn pretty_server(i: &SystemInfo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, " Containers: {}", i.containers);
    let _ = writeln!(o, "  Running: {}", i.containers_running);
    let _ = writeln!(o, "  Paused: {}", i.containers_paused);
    let _ = writeln!(o, "  Stopped: {}", i.containers_stopped);
    let _ = writeln!(o, " Images: {}", i.images);
    let _ = writeln!(o, " Server Version: {}", i.server_version);
    let _ = writeln!(o, " Storage Driver: {}", i.driver);
    for [k, v] in &i.driver_status {
        let _ = writeln!(o, "  {k}: {v}");
    }
    let _ = writeln!(o, " Logging Driver: {}", i.logging_driver);
    let _ = writeln!(o, " Cgroup Driver: {}", i.cgroup_driver);
    let _ = writeln!(o, " Cgroup Version: {}", i.cgroup_version);
    let _ = writeln!(o, " Plugins:");
    let _ = writeln!(o, "  Volume: {}", i.plugins.volume.join(" "));
    let _ = writeln!(o, "  Network: {}", i.plugins.network.join(" "));
    if let Some(authz) = i.plugins.authorization.as_ref().filter(|a| !a.is_empty()) {
        let _ = writeln!(o, "  Authorization: {}", authz.join(" "));
    }
    let _ = writeln!(o, "  Log: {}", i.plugins.log.join(" "));
    let _ = writeln!(o, " Swarm: {}", i.swarm.local_node_state);
    let runtimes: Vec<&str> = i.runtimes.keys().map(String::as_str).collect();
    let _ = writeln!(o, " Runtimes: {}", runtimes.join(" "));
    let _ = writeln!(o, " Default Runtime: {}", i.default_runtime);
    let _ = writeln!(o, " Init Binary: {}", i.init_binary);
    let _ = writeln!(o, " containerd version: {}", i.containerd_commit.id);
    let _ = writeln!(o, " runc version: {}", i.runc_commit.id);
    let _ = writeln!(o, " init version: {}", i.init_commit.id);
    if !i.security_options.is_empty() {
        let _ = writeln!(o, " Security Options:");
        for opt in &i.security_options {
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", name)) => {
                        let _ = writeln!(o, "  {name}");
                    }
                    Some((k, v)) => {
                        let _ = writeln!(o, "   {}: {v}", title(k));
                    }
                    None => {}
                }
            }
        }
    }
    let _ = writeln!(o, " Kernel Version: {}", i.kernel_version);
    let _ = writeln!(o, " Operating System: {}", i.operating_system);
    let _ = writeln!(o, " OSType: {}", i.os_type);
    let _ = writeln!(o, " Architecture: {}", i.architecture);
    let _ = writeln!(o, " CPUs: {}", i.ncpu);
    let _ = writeln!(o, " Total Memory: {}", bytes_size(i.mem_total));
    let _ = writeln!(o, " Name: {}", i.name);
    let _ = writeln!(o, " ID: {}", i.id);
    let _ = writeln!(o, " Docker Root Dir: {}", i.docker_root_dir);
    let _ = writeln!(o, " Debug Mode: {}", i.debug);
    if i.debug {
        let _ = writeln!(o, "  File Descriptors: {}", i.nfd);
        let _ = writeln!(o, "  Goroutines: {}", i.ngoroutines);
        let _ = writeln!(o, "  System Time: {}", i.system_time);
        let _ = writeln!(o, "  EventsListeners: {}", i.nevents_listener);
    }
    if !i.labels.is_empty() {
        let _ = writeln!(o, " Labels:");
        for l in &i.labels {
            let _ = writeln!(o, "  {l}");
        }
    }
    let _ = writeln!(o, " Experimental: {}", i.experimental_build);
    if let Some(registry) = &i.registry_config {
        let insecure: Vec<&str> = registry
            .index_configs
            .values()
            .filter(|c| !c.secure)
            .map(|c| c.name.as_str())
            .chain(registry.insecure_registry_cidrs.iter().map(String::as_str))
            .collect();
        if !insecure.is_empty() {
            let _ = writeln!(o, " Insecure Registries:");
            for r in insecure {
                let _ = writeln!(o, "  {r}");
            }
        }
        if !registry.mirrors.is_empty() {
            let _ = writeln!(o, " Registry Mirrors:");
            for m in &registry.mirrors {
                let _ = writeln!(o, "  {m}");
            }
        }
    }
    let _ = writeln!(o, " Live Restore Enabled: {}", i.live_restore_enabled);
    let _ = writeln!(o);
    o
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// Go's `units.BytesSize`: binary units, four significant digits (`23.54GiB`).
fn bytes_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    #[allow(clippy::cast_precision_loss)] // display only
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", go_g4(size), UNITS[unit])
}

/// `%.4g` for 0 ≤ v < 10000: four significant digits, trailing zeros dropped.
fn go_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    #[allow(clippy::cast_possible_truncation)] // log10 of a value < 10000
    let int_digits = (v.abs().log10().floor() as i32 + 1).max(1);
    let decimals = usize::try_from((4 - int_digits).max(0)).unwrap_or(0);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(bytes_size(25_275_404_288), "23.54GiB");
        assert_eq!(bytes_size(2 * 1024 * 1024 * 1024), "2GiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(512), "512B");
        assert_eq!(bytes_size(0), "0B");
    }

    #[test]
    fn security_options_are_split_like_docker() {
        let info = SystemInfo {
            security_options: vec!["name=seccomp,profile=builtin".to_owned()],
            ..Default::default()
        };
        let text = pretty_server(&info);
        assert!(
            text.contains(" Security Options:\n  seccomp\n   Profile: builtin\n"),
            "{text}"
        );
    }
}
