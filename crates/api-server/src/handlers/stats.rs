//! `GET /containers/{id}/stats?stream=&one-shot=`: docker's `StatsResponse`,
//! with the fields dockerd fills for cgroup v1 and for v2 (which lacks
//! per-CPU usage, `max_usage`, most block I/O lists, and has its own
//! `memory.stat` keys).
//!
//! As dockerd: `stream` (the default) sends a sample now and one a second
//! after, each with the previous one's CPU figures as `precpu_stats`;
//! `stream=0` answers one sample whose `precpu_stats` come from a sample
//! taken just before (so a CPU % can be computed from it), `one-shot=1`
//! with `stream=0` answers at once without that first sample. A container
//! that is not running gives samples with only `name` and `id`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use berth_api_types::stats as api;
use berth_engine::container::logs::format_rfc3339_nanos;
use berth_engine::container::stats::{BlkioEntry, StatsSample};
use berth_engine::container::{Container, ContainerError};

use super::params::{param, query};
use crate::backend::ContainerBackend;
use crate::error::ApiError;

/// How often a stream samples (dockerd's collector interval).
const INTERVAL: Duration = Duration::from_secs(1);

/// How far apart the two samples of a `stream=0` answer are: the docker
/// CLI gives up on a container whose answer takes 2 s.
const PRIME: Duration = Duration::from_millis(500);

/// The `memory.stat` keys dockerd reports on cgroup v1, each present.
const V1_MEMORY_KEYS: [&str; 32] = [
    "active_anon",
    "active_file",
    "cache",
    "dirty",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
    "inactive_anon",
    "inactive_file",
    "mapped_file",
    "pgfault",
    "pgmajfault",
    "pgpgin",
    "pgpgout",
    "rss",
    "rss_huge",
    "total_active_anon",
    "total_active_file",
    "total_cache",
    "total_dirty",
    "total_inactive_anon",
    "total_inactive_file",
    "total_mapped_file",
    "total_pgfault",
    "total_pgmajfault",
    "total_pgpgin",
    "total_pgpgout",
    "total_rss",
    "total_rss_huge",
    "total_unevictable",
    "total_writeback",
    "unevictable",
    "writeback",
];

/// The `memory.stat` keys dockerd reports on cgroup v2, each present.
const V2_MEMORY_KEYS: [&str; 31] = [
    "active_anon",
    "active_file",
    "anon",
    "anon_thp",
    "file",
    "file_dirty",
    "file_mapped",
    "file_writeback",
    "inactive_anon",
    "inactive_file",
    "kernel_stack",
    "pgactivate",
    "pgdeactivate",
    "pgfault",
    "pglazyfree",
    "pglazyfreed",
    "pgmajfault",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "shmem",
    "slab",
    "slab_reclaimable",
    "slab_unreclaimable",
    "sock",
    "thp_collapse_alloc",
    "thp_fault_alloc",
    "unevictable",
    "workingset_activate",
    "workingset_nodereclaim",
    "workingset_refault",
];

fn entries(list: &[BlkioEntry], lower: bool) -> Vec<api::BlkioStatEntry> {
    list.iter()
        .filter(|e| !lower || matches!(e.op.as_str(), "Read" | "Write"))
        .map(|e| api::BlkioStatEntry {
            major: e.major,
            minor: e.minor,
            op: if lower {
                e.op.to_ascii_lowercase()
            } else {
                e.op.clone()
            },
            value: e.value,
        })
        .collect()
}

/// Docker's shape of one sample (without `precpu_stats`/`preread`).
pub(crate) fn response(c: &Container, s: &StatsSample) -> api::StatsResponse {
    let mut out = api::StatsResponse {
        name: format!("/{}", c.name),
        id: c.id.clone(),
        ..api::StatsResponse::default()
    };
    let Some(cg) = &s.cgroup else {
        return out;
    };
    out.read = format_rfc3339_nanos(s.read);
    let v2 = s.cgroup_v2;
    out.pids_stats = api::PidsStats {
        current: cg.pids.current,
        limit: cg.pids.limit.unwrap_or(0),
    };
    out.blkio_stats = if v2 {
        let bytes = entries(&cg.blkio.io_service_bytes, true);
        api::BlkioStats {
            io_service_bytes_recursive: (!bytes.is_empty()).then_some(bytes),
            ..api::BlkioStats::default()
        }
    } else {
        api::BlkioStats {
            io_service_bytes_recursive: Some(entries(&cg.blkio.io_service_bytes, false)),
            io_serviced_recursive: Some(entries(&cg.blkio.io_serviced, false)),
            io_queue_recursive: Some(Vec::new()),
            io_service_time_recursive: Some(Vec::new()),
            io_wait_time_recursive: Some(Vec::new()),
            io_merged_recursive: Some(Vec::new()),
            io_time_recursive: Some(Vec::new()),
            sectors_recursive: Some(Vec::new()),
        }
    };
    out.cpu_stats = api::CpuStats {
        cpu_usage: api::CpuUsage {
            total_usage: cg.cpu.usage_total,
            percpu_usage: if v2 {
                Vec::new()
            } else {
                cg.cpu.percpu_usage.clone()
            },
            usage_in_kernelmode: cg.cpu.usage_system,
            usage_in_usermode: cg.cpu.usage_user,
        },
        system_cpu_usage: s.system_cpu_usage,
        online_cpus: s.online_cpus,
        throttling_data: api::ThrottlingData {
            periods: cg.cpu.periods,
            throttled_periods: cg.cpu.throttled_periods,
            throttled_time: cg.cpu.throttled_time,
        },
    };
    let keys: &[&str] = if v2 { &V2_MEMORY_KEYS } else { &V1_MEMORY_KEYS };
    let stats: BTreeMap<String, u64> = keys
        .iter()
        .map(|k| {
            (
                (*k).to_owned(),
                cg.memory.stat.get(*k).copied().unwrap_or(0),
            )
        })
        .collect();
    // An unlimited container (or a limit above the machine's memory)
    // reports the machine's memory, as dockerd.
    let machine = s.machine_memory;
    let limit = match cg.memory.limit {
        Some(l) if machine == 0 || l <= machine => l,
        _ => machine,
    };
    out.memory_stats = api::MemoryStats {
        usage: cg.memory.usage,
        max_usage: if v2 {
            0
        } else {
            cg.memory.max_usage.unwrap_or(0)
        },
        stats,
        failcnt: cg.memory.failcnt,
        limit,
    };
    if !s.networks.is_empty() {
        out.networks = Some(
            s.networks
                .iter()
                .map(|n| {
                    (
                        n.name.clone(),
                        api::NetworkStats {
                            rx_bytes: n.rx_bytes,
                            rx_packets: n.rx_packets,
                            rx_errors: n.rx_errors,
                            rx_dropped: n.rx_dropped,
                            tx_bytes: n.tx_bytes,
                            tx_packets: n.tx_packets,
                            tx_errors: n.tx_errors,
                            tx_dropped: n.tx_dropped,
                        },
                    )
                })
                .collect(),
        );
    }
    out
}

/// Docker's boolean query values (`1`, `true`, ...), with a default.
fn bool_param(q: &[(String, String)], name: &str, default: bool) -> bool {
    match param(q, name) {
        None => default,
        Some(v) => !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "no" | "false" | "none"
        ),
    }
}

fn line(r: &api::StatsResponse) -> Bytes {
    let mut v = serde_json::to_vec(r).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

pub(crate) async fn stats(
    backend: Arc<dyn ContainerBackend>,
    id: String,
    req: Request,
) -> Response {
    let q = query(req.uri());
    let stream = bool_param(&q, "stream", true);
    let one_shot = bool_param(&q, "one-shot", false);
    if one_shot && stream {
        return ApiError::invalid_argument("cannot have stream=true and one-shot=true")
            .into_response_body();
    }
    // The first sample answers whether the container exists.
    let b = backend.clone();
    let name = id.clone();
    let first = match tokio::task::spawn_blocking(move || b.container_stats(&name)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return ApiError::from_engine(&e).into_response_body(),
        Err(e) => {
            return ApiError::new(berth_engine::ErrorClass::Internal, e.to_string())
                .into_response_body();
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut pre: Option<api::StatsResponse> = None;
        let mut next = Some(first);
        let mut sampled_at = std::time::Instant::now();
        let mut primed = stream || one_shot;
        loop {
            let (c, s) = match next.take() {
                Some(x) => x,
                None => match backend.container_stats(&id) {
                    Ok(x) => x,
                    // Removed meanwhile: the stream ends.
                    Err(ContainerError::NotFound(_)) => break,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                        break;
                    }
                },
            };
            let mut r = response(&c, &s);
            if let Some(p) = &pre {
                r.precpu_stats = p.cpu_stats.clone();
                r.preread = p.read.clone();
            }
            pre = Some(r.clone());
            // `stream=0` of a running container: the first sample only
            // primes the CPU figures.
            let not_running = s.cgroup.is_none();
            if (primed || not_running) && (tx.blocking_send(Ok(line(&r))).is_err() || !stream) {
                break;
            }
            let pause = if primed { INTERVAL } else { PRIME };
            primed = true;
            let wake = sampled_at + pause;
            // Sleep in short steps so a gone client is noticed.
            while std::time::Instant::now() < wake {
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(
                    wake.saturating_duration_since(std::time::Instant::now())
                        .min(Duration::from_millis(200)),
                );
            }
            sampled_at = std::time::Instant::now();
        }
    });
    let mut response = Response::new(Body::from_stream(super::images::ChannelStream(rx)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use berth_engine::container::stats::{
        BlkioStats, CpuStats, MemoryStats, NetDevStats, PidsStats,
    };

    use super::*;

    fn container() -> Container {
        let mut c: Container = serde_json::from_value(serde_json::json!({
            "Id": "c0ffee", "Name": "web", "Created": "", "Image": "sha256:1", "ImageRef": "busybox",
            "Options": {"Name": null, "Cmd": null, "Entrypoint": null, "Env": [], "WorkingDir": null,
                        "User": null, "Hostname": null, "Tty": false, "OpenStdin": false, "Labels": {}},
            "Process": {"Args": ["sh"], "Env": [], "WorkingDir": "", "User": "", "Hostname": "h",
                        "Tty": false, "OpenStdin": false},
            "Labels": {}, "StopSignal": null,
            "State": {"Status": "running", "Pid": 1, "ShimPid": 2, "ExitCode": 0, "StartedAt": "",
                      "FinishedAt": "", "Error": ""},
            "Exits": 0
        }))
        .unwrap();
        c.name = "web".into();
        c
    }

    fn sample(v2: bool) -> StatsSample {
        let entry = |op: &str, value| BlkioEntry {
            major: 8,
            minor: 0,
            op: op.into(),
            value,
        };
        StatsSample {
            read: 1_700_000_000_000_000_000,
            cgroup: Some(berth_engine::container::stats::Stats {
                memory: MemoryStats {
                    usage: 10 << 20,
                    max_usage: Some(12 << 20),
                    limit: None,
                    failcnt: 1,
                    swap_usage: None,
                    stat: [
                        ("total_inactive_file".to_owned(), 1 << 20),
                        ("inactive_file".to_owned(), 2 << 20),
                    ]
                    .into_iter()
                    .collect(),
                },
                cpu: CpuStats {
                    usage_total: 3_000,
                    usage_user: 2_000,
                    usage_system: 1_000,
                    percpu_usage: if v2 { vec![] } else { vec![1_000, 2_000] },
                    periods: 0,
                    throttled_periods: 0,
                    throttled_time: 0,
                },
                pids: PidsStats {
                    current: 3,
                    limit: None,
                },
                blkio: BlkioStats {
                    read_bytes: 4096,
                    write_bytes: 8192,
                    io_service_bytes: vec![
                        entry("Read", 4096),
                        entry("Write", 8192),
                        entry("Discard", 0),
                    ],
                    io_serviced: vec![entry("Read", 1), entry("Write", 2)],
                },
            }),
            cgroup_v2: v2,
            system_cpu_usage: 5_000_000,
            online_cpus: 2,
            machine_memory: 8 << 30,
            networks: vec![NetDevStats {
                name: "eth0".into(),
                rx_bytes: 100,
                tx_bytes: 200,
                ..NetDevStats::default()
            }],
        }
    }

    #[test]
    fn v1_sample_as_dockerd() {
        let r = serde_json::to_value(response(&container(), &sample(false))).unwrap();
        assert_eq!(r["name"], "/web");
        assert_eq!(r["read"], "2023-11-14T22:13:20.000000000Z");
        assert_eq!(r["preread"], "0001-01-01T00:00:00Z");
        assert_eq!(
            r["cpu_stats"]["cpu_usage"]["percpu_usage"],
            serde_json::json!([1000, 2000])
        );
        assert_eq!(r["cpu_stats"]["cpu_usage"]["usage_in_kernelmode"], 1000);
        assert_eq!(r["cpu_stats"]["online_cpus"], 2);
        assert_eq!(r["cpu_stats"]["system_cpu_usage"], 5_000_000);
        assert_eq!(r["memory_stats"]["max_usage"], 12 << 20);
        assert_eq!(r["memory_stats"]["limit"], 8_u64 << 30);
        assert_eq!(r["memory_stats"]["stats"]["total_inactive_file"], 1 << 20);
        assert_eq!(r["memory_stats"]["stats"].as_object().unwrap().len(), 32);
        assert_eq!(
            r["blkio_stats"]["io_service_bytes_recursive"][2]["op"],
            "Discard"
        );
        assert_eq!(
            r["blkio_stats"]["io_queue_recursive"],
            serde_json::json!([])
        );
        assert_eq!(r["pids_stats"], serde_json::json!({"current": 3}));
        assert_eq!(r["networks"]["eth0"]["tx_bytes"], 200);
    }

    #[test]
    fn v2_sample_as_dockerd() {
        let r = serde_json::to_value(response(&container(), &sample(true))).unwrap();
        assert!(
            r["cpu_stats"]["cpu_usage"].get("percpu_usage").is_none(),
            "{r}"
        );
        assert!(r["memory_stats"].get("max_usage").is_none(), "{r}");
        assert_eq!(r["memory_stats"]["stats"]["inactive_file"], 2 << 20);
        assert!(
            r["memory_stats"]["stats"]
                .get("total_inactive_file")
                .is_none()
        );
        assert_eq!(
            r["blkio_stats"]["io_service_bytes_recursive"],
            serde_json::json!([
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 0, "op": "write", "value": 8192}
            ])
        );
        assert_eq!(
            r["blkio_stats"]["io_serviced_recursive"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn a_stopped_container_has_only_its_name() {
        let s = StatsSample::default();
        let r = serde_json::to_value(response(&container(), &s)).unwrap();
        assert_eq!(r["read"], "0001-01-01T00:00:00Z");
        assert_eq!(r["memory_stats"], serde_json::json!({}));
        assert_eq!(r["pids_stats"], serde_json::json!({}));
        assert!(r.get("networks").is_none());
    }
}
