//! `GET /containers/json` (list) and `GET /containers/{id}/json` (inspect).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_api_types::container as api;
use berth_engine::container::filter::ListOptions;
use berth_engine::container::{ContainerDetails, ListedContainer, SizeInfo, Status};
use serde_json::json;

use super::{Backend, blocking, flag, query_of};
use crate::error::ApiError;
use crate::handlers::json_response;

/// The options of `GET /containers/json?all=&limit=&size=&filters=`.
fn list_options(q: &[(String, String)]) -> Result<ListOptions, ApiError> {
    let limit = match crate::handlers::params::param(q, "limit") {
        None | Some("") => 0,
        // Older clients send -1 for "no limit".
        Some(v) => match v.parse::<i64>() {
            Ok(n) => usize::try_from(n).unwrap_or(0),
            Err(_) => {
                return Err(ApiError::invalid_argument(format!(
                    "strconv.Atoi: parsing {v:?}: invalid syntax"
                )));
            }
        },
    };
    Ok(ListOptions {
        all: flag(q, "all"),
        limit,
        size: flag(q, "size"),
        filters: crate::handlers::params::filters(q)?,
    })
}

/// `GET /containers/json`: running ones, or all; filtered, limited, with
/// sizes (newest first).
pub(crate) async fn list(backend: Backend, req: Request) -> Response {
    let opts = match list_options(&query_of(&req)) {
        Ok(o) => o,
        Err(e) => return e.into_response_body(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let listed = blocking(move || {
        let list = backend.list_containers_with(&opts)?;
        let listed: Vec<_> = list.iter().map(|l| &l.container).collect();
        let names = backend.container_names(&listed);
        let networks: Vec<_> = listed
            .iter()
            .zip(names)
            .map(|(c, names)| (backend.container_networks(c), names))
            .collect();
        Ok((list, networks))
    });
    match listed.await {
        Ok((list, networks)) => {
            let out: Vec<api::ContainerSummary> = list
                .into_iter()
                .zip(networks)
                .map(|(c, (nets, names))| {
                    let (id, name) = (c.container.id.clone(), c.container.name.clone());
                    let mut s = summary(c, now);
                    s.names = names;
                    for (net, cfg, ep) in &nets {
                        let user = !matches!(net.as_str(), "bridge" | "host" | "none");
                        let settings = crate::handlers::networks::endpoint_settings(
                            &id,
                            &name,
                            cfg,
                            ep.as_ref(),
                            user,
                        );
                        s.network_settings.networks.insert(
                            net.clone(),
                            serde_json::to_value(settings).unwrap_or_default(),
                        );
                    }
                    s
                })
                .collect();
            json_response(StatusCode::OK, &out)
        }
        Err(e) => e.into_response_body(),
    }
}

fn bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// dockerd's `Command` column: the path, then the arguments, each one
/// that has a space in single quotes.
fn command(args: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if i > 0 && a.contains(' ') {
            out.push('\'');
            out.push_str(a);
            out.push('\'');
        } else {
            out.push_str(a);
        }
    }
    out
}

pub(crate) fn summary(listed: ListedContainer, now: i64) -> api::ContainerSummary {
    let ListedContainer {
        container: c,
        image,
        size,
    } = listed;
    let status = match c.state.status {
        Status::Created => "Created".to_owned(),
        Status::Running => format!(
            "Up {}{}",
            human_duration(now - unix_seconds(&c.state.started_at)),
            if c.state.paused {
                " (Paused)".to_owned()
            } else {
                berth_engine::container::health::status_suffix(&c)
            }
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            human_duration(now - unix_seconds(&c.state.finished_at))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_duration(now - unix_seconds(&c.state.finished_at))
        ),
    };
    let mode = network_mode(&c);
    let ports = super::ports::summary(&c);
    api::ContainerSummary {
        names: vec![format!("/{}", c.name)],
        image,
        image_id: c.image,
        command: command(&c.process.args),
        created: unix_seconds(&c.created),
        ports,
        labels: c.labels,
        state: c.state.status_name().to_owned(),
        status,
        host_config: api::SummaryHostConfig { network_mode: mode },
        network_settings: api::SummaryNetworkSettings::default(),
        mounts: super::mounts::mounts(&c.mount_points),
        size_rw: size.map(|s| bytes(s.rw)),
        size_root_fs: size.map(|s| bytes(s.root_fs)),
        id: c.id,
    }
}

/// `HostConfig.NetworkMode` as stored (`default` when none was given).
fn network_mode(c: &berth_engine::container::Container) -> String {
    match c.options.network.mode.as_str() {
        "" => "default".to_owned(),
        m => m.to_owned(),
    }
}

/// Docker's `units.HumanDuration`.
fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match s {
        0 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".to_owned(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".to_owned(),
        _ if h < 48 => format!("{h} hours"),
        _ if d < 14 => format!("{d} days"),
        _ if d < 60 => format!("{} weeks", d / 7),
        _ if d < 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// RFC 3339 -> Unix seconds; 0 if empty or malformed.
fn unix_seconds(s: &str) -> i64 {
    crate::handlers::params::unix_seconds(Some(s))
}

/// `HostConfig` as it applies to the container: what was stored at create
/// (`AutoRemove`, `LogConfig`, `ConsoleSize`, `RestartPolicy`, `Init`),
/// and for everything berth does not offer yet the value that describes
/// what it does (no binds, not privileged, the `none` network, a private IPC
/// namespace, the 64 MiB `/dev/shm` it mounts).
fn host_config(d: &ContainerDetails) -> serde_json::Value {
    let o = &d.container.options;
    let log_type = if o.log_config.driver.is_empty() {
        "json-file"
    } else {
        o.log_config.driver.as_str()
    };
    // Two halves: one `json!` this long exceeds the macro recursion limit.
    let mut v = json!({
        "Binds": null,
        "ContainerIDFile": "",
        "LogConfig": {"Type": log_type, "Config": o.log_config.config},
        "NetworkMode": network_mode(&d.container),
        "PortBindings": {},
        "RestartPolicy": o.restart_policy,
        "AutoRemove": o.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "ConsoleSize": o.console_size.unwrap_or([0, 0]),
        "CapAdd": null,
        "CapDrop": null,
        "Dns": o.dns.dns,
        "DnsOptions": o.dns.dns_options,
        "DnsSearch": o.dns.dns_search,
        "ExtraHosts": (!o.dns.extra_hosts.is_empty()).then_some(&o.dns.extra_hosts),
        "GroupAdd": null,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": false,
        "PublishAllPorts": false,
        "ReadonlyRootfs": false,
        "SecurityOpt": null,
        "UTSMode": "",
        "UsernsMode": "",
    });
    let rest = json!({
        "ShmSize": 67_108_864,
        "Runtime": berth_engine::system::DEFAULT_RUNTIME,
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": null,
        "OomKillDisable": null,
        "PidsLimit": null,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
    });
    if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), rest) {
        map.extend(more);
        // dockerd leaves `Init` out unless the client set it.
        if let Some(init) = o.init {
            map.insert("Init".to_owned(), json!(init));
        }
    }
    super::resources::fill_host_config(&mut v, &o.resources);
    super::security::host_config(&o.security, &mut v);
    super::mounts::host_config(&o.mounts, &mut v);
    super::ports::host_config(&o.ports, &mut v);
    v
}

fn graph_driver(d: &ContainerDetails) -> api::InspectGraphDriver {
    let mut data = std::collections::BTreeMap::new();
    if let Some(s) = &d.storage {
        let p = |p: &std::path::Path| p.to_string_lossy().into_owned();
        if !s.lower_dirs.is_empty() {
            let lower: Vec<String> = s.lower_dirs.iter().map(|d| p(d)).collect();
            data.insert("LowerDir".to_owned(), lower.join(":"));
        }
        data.insert("UpperDir".to_owned(), p(&s.upper_dir));
        data.insert("MergedDir".to_owned(), p(&s.merged_dir));
        if let Some(w) = &s.work_dir {
            data.insert("WorkDir".to_owned(), p(w));
        }
    }
    api::InspectGraphDriver {
        data,
        name: "overlay2".to_owned(),
    }
}

fn inspect_body(d: ContainerDetails) -> api::ContainerInspect {
    let host_config = host_config(&d);
    let graph_driver = graph_driver(&d);
    let network_ports = super::ports::network_ports(&d.container);
    let exposed_ports = super::ports::exposed_ports(&d.container.options.ports);
    let ContainerDetails {
        container: c,
        entrypoint,
        cmd,
        size,
        log_path,
        exec_ids,
        ..
    } = d;
    // dockerd's `Config.Env`: the user's variables, then the image's.
    let env = berth_engine::container::links::config_env(&c);
    let mut args = c.process.args.clone();
    let path = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    let log_path_dir = log_path.parent().map(std::path::Path::to_owned);
    let log_path = if c.options.log_config.driver == "none" {
        String::new()
    } else {
        log_path.to_string_lossy().into_owned()
    };
    let [resolv_conf_path, hostname_path, hosts_path] =
        berth_engine::container::networking::resolution_paths(
            log_path_dir.as_deref().unwrap_or(std::path::Path::new("")),
        );
    let SizeInfo { rw, root_fs } = size.unwrap_or_default();
    api::ContainerInspect {
        resolv_conf_path,
        hostname_path,
        hosts_path,
        created: c.created,
        path,
        args,
        state: api::ContainerState {
            status: c.state.status_name().to_owned(),
            // dockerd: a restarting container is running too.
            running: matches!(c.state.status, Status::Running | Status::Restarting),
            restarting: c.state.status == Status::Restarting,
            paused: c.state.paused && c.state.status == Status::Running,
            pid: i64::from(c.state.pid),
            exit_code: i64::from(c.state.exit_code),
            error: c.state.error,
            oom_killed: c.state.oom_killed,
            started_at: or_zero_time(c.state.started_at),
            finished_at: or_zero_time(c.state.finished_at),
            health: c.health.as_ref().and_then(|h| h.state.clone()).map(|s| {
                berth_api_types::health::Health {
                    status: s.status,
                    failing_streak: s.failing_streak,
                    log: s
                        .log
                        .into_iter()
                        .map(|r| berth_api_types::health::HealthcheckResult {
                            start: r.start,
                            end: r.end,
                            exit_code: r.exit_code,
                            output: r.output,
                        })
                        .collect(),
                }
            }),
            ..api::ContainerState::default()
        },
        image: c.image,
        log_path,
        name: format!("/{}", c.name),
        restart_count: i64::from(c.restart.count),
        driver: "overlay2".to_owned(),
        platform: "linux".to_owned(),
        app_armor_profile: c.options.security.apparmor_profile(),
        host_config,
        graph_driver,
        size_rw: size.map(|_| bytes(rw)),
        size_root_fs: size.map(|_| bytes(root_fs)),
        mounts: super::mounts::mounts(&c.mount_points),
        network_settings: json!({
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": "",
            "Ports": network_ports,
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "EndpointID": "",
            "Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "MacAddress": "",
            "Networks": {},
        }),
        config: api::InspectConfig {
            hostname: c.process.hostname,
            domainname: c.options.security.domainname.clone(),
            user: c.process.user,
            attach_stdin: c.options.attach_stdin,
            attach_stdout: c.options.attach_stdout,
            attach_stderr: c.options.attach_stderr,
            tty: c.process.tty,
            open_stdin: c.process.open_stdin,
            stdin_once: c.options.stdin_once,
            env,
            cmd,
            image: c.image_ref,
            working_dir: c.process.working_dir,
            entrypoint,
            on_build: None,
            volumes: super::mounts::config_volumes(&c.options.mounts, &c.mount_points),
            labels: c.labels,
            stop_signal: c.stop_signal,
            healthcheck: c
                .health
                .as_ref()
                .map(|h| berth_api_types::health::HealthConfig {
                    test: Some(h.config.test.clone()),
                    interval: h.config.interval,
                    timeout: h.config.timeout,
                    start_period: h.config.start_period,
                    start_interval: h.config.start_interval,
                    retries: h.config.retries,
                }),
            stop_timeout: c.options.stop_timeout,
            exposed_ports,
            mac_address: crate::handlers::networks::config_mac_address(&c.options.network),
        },
        exec_ids,
        id: c.id,
        ..api::ContainerInspect::default()
    }
}

/// Go's zero time, as dockerd reports a time that has not happened.
fn or_zero_time(t: String) -> String {
    if t.is_empty() {
        "0001-01-01T00:00:00Z".to_owned()
    } else {
        t
    }
}

/// `GET /containers/{id}/json?size=`.
pub(crate) async fn inspect(backend: Backend, id: String, req: Request) -> Response {
    let size = flag(&query_of(&req), "size");
    let details = blocking(move || {
        let d = backend.container_details(&id, size)?;
        let networks = backend.container_networks(&d.container);
        let links = backend.container_links(&d.container).0;
        Ok((d, networks, links))
    });
    match details.await {
        Ok((d, networks, links)) => {
            let (id, name) = (d.container.id.clone(), d.container.name.clone());
            let mut body = inspect_body(d);
            if !links.is_empty() {
                body.host_config["Links"] = json!(links);
            }
            crate::handlers::networks::fill_network_settings(
                &mut body.network_settings,
                &id,
                &name,
                &networks,
            );
            json_response(StatusCode::OK, &body)
        }
        Err(e) => e.into_response_body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_arguments_with_spaces() {
        let a = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(command(&a(&["sh", "-c", "echo hi"])), "sh -c 'echo hi'");
        assert_eq!(command(&a(&["/my prog"])), "/my prog");
        assert_eq!(command(&[]), "");
    }

    #[test]
    fn list_options_from_the_query() {
        let q = |s: &str| {
            s.split('&')
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect::<Vec<_>>()
        };
        let o = list_options(&q(
            r#"all=1&limit=-1&size=true&filters={"status":{"exited":true}}"#,
        ))
        .unwrap();
        assert!(o.all && o.size);
        assert_eq!(o.limit, 0);
        assert_eq!(o.filters["status"], ["exited"]);
        assert_eq!(list_options(&q("limit=2")).unwrap().limit, 2);
        assert!(list_options(&q("limit=x")).is_err());
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(unix_seconds("2000-03-01T00:00:01.5Z"), 951_868_801);
        assert_eq!(unix_seconds("junk"), 0);
    }
}
