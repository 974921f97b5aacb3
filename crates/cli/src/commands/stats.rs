//! `berth stats`: docker's columns (CONTAINER ID, NAME, CPU %, MEM USAGE /
//! LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS) computed from the daemon's
//! samples as the docker CLI computes them, once (`--no-stream`) or
//! redrawn twice a second from one stream per container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use berth_api_client::{Client, ListOptions};
use berth_api_types::stats::{BlkioStats, CpuStats, MemoryStats, NetworkStats, StatsResponse};
use serde_json::{Value, json};

use super::images::{ListFormat, human_size, list_format, render_rows};
use crate::flags::system::StatsFlags;
use crate::printer::Printer;

const DEFAULT_FORMAT: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

/// The figures of one row, as the docker CLI's `StatsEntry`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Entry {
    /// What the user named (or the short ID when listing).
    pub(crate) container: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) cpu_percent: f64,
    pub(crate) memory: f64,
    pub(crate) memory_limit: f64,
    pub(crate) memory_percent: f64,
    pub(crate) net_rx: f64,
    pub(crate) net_tx: f64,
    pub(crate) block_read: f64,
    pub(crate) block_write: f64,
    pub(crate) pids: u64,
    /// No sample came (yet): every figure shows as `--`.
    pub(crate) invalid: bool,
}

/// docker's `calculateCPUPercentUnix`: the container's share of the
/// host's CPU time between two samples, times the online CPUs.
pub(crate) fn cpu_percent(pre: &CpuStats, now: &CpuStats) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "percentages")]
    let (cpu_delta, system_delta, mut cpus) = (
        now.cpu_usage.total_usage as f64 - pre.cpu_usage.total_usage as f64,
        now.system_cpu_usage as f64 - pre.system_cpu_usage as f64,
        f64::from(now.online_cpus),
    );
    if cpus == 0.0 {
        #[allow(clippy::cast_precision_loss, reason = "a CPU count")]
        let n = now.cpu_usage.percpu_usage.len() as f64;
        cpus = n;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// docker's `calculateMemUsageUnixNoCache`: usage less the inactive page
/// cache (`total_inactive_file` on cgroup v1, `inactive_file` on v2).
#[allow(clippy::cast_precision_loss, reason = "display only")]
pub(crate) fn memory_usage(mem: &MemoryStats) -> f64 {
    if let Some(v) = mem.stats.get("total_inactive_file")
        && *v < mem.usage
    {
        return (mem.usage - v) as f64;
    }
    let v = mem.stats.get("inactive_file").copied().unwrap_or(0);
    if v < mem.usage {
        (mem.usage - v) as f64
    } else {
        mem.usage as f64
    }
}

/// Bytes read and written: the `Read`/`Write` (or `read`/`write`)
/// entries of `io_service_bytes_recursive`.
pub(crate) fn block_io(blkio: &BlkioStats) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for e in blkio.io_service_bytes_recursive.iter().flatten() {
        match e.op.bytes().next() {
            Some(b'r' | b'R') => read += e.value,
            Some(b'w' | b'W') => write += e.value,
            _ => {}
        }
    }
    (read, write)
}

fn network(nets: Option<&std::collections::BTreeMap<String, NetworkStats>>) -> (u64, u64) {
    nets.into_iter()
        .flat_map(|m| m.values())
        .fold((0, 0), |(rx, tx), n| (rx + n.rx_bytes, tx + n.tx_bytes))
}

impl Entry {
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    pub(crate) fn from_sample(container: &str, r: &StatsResponse) -> Self {
        let memory = memory_usage(&r.memory_stats);
        let memory_limit = r.memory_stats.limit as f64;
        let (block_read, block_write) = block_io(&r.blkio_stats);
        let (rx, tx) = network(r.networks.as_ref());
        Self {
            container: container.to_owned(),
            id: r.id.clone(),
            name: r.name.strip_prefix('/').unwrap_or(&r.name).to_owned(),
            cpu_percent: cpu_percent(&r.precpu_stats, &r.cpu_stats),
            memory,
            memory_limit,
            memory_percent: if memory_limit == 0.0 {
                0.0
            } else {
                memory / memory_limit * 100.0
            },
            net_rx: rx as f64,
            net_tx: tx as f64,
            block_read: block_read as f64,
            block_write: block_write as f64,
            pids: r.pids_stats.current,
            invalid: false,
        }
    }

    /// The row as docker's stats formatter offers it to templates.
    fn row(&self, no_trunc: bool) -> Value {
        let id = if no_trunc {
            self.id.clone()
        } else {
            self.id.chars().take(12).collect()
        };
        let name = if self.name.is_empty() {
            "--".to_owned()
        } else {
            self.name.clone()
        };
        let or = |v: String, invalid: &str| {
            if self.invalid { invalid.to_owned() } else { v }
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "byte counts"
        )]
        let size = |v: f64| human_size(v as i64);
        json!({
            "Container": self.container,
            "ID": id,
            "Name": name,
            "CPUPerc": or(format!("{:.2}%", self.cpu_percent), "--"),
            "MemUsage": or(format!("{} / {}", bytes_size(self.memory), bytes_size(self.memory_limit)), "-- / --"),
            "MemPerc": or(format!("{:.2}%", self.memory_percent), "--"),
            "NetIO": or(format!("{} / {}", size(self.net_rx), size(self.net_tx)), "--"),
            "BlockIO": or(format!("{} / {}", size(self.block_read), size(self.block_write)), "--"),
            "PIDs": or(self.pids.to_string(), "--"),
        })
    }
}

fn headers() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

/// Go's `%.4g` of a value below 10000 (trailing zeros dropped).
pub(crate) fn go_g4(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    #[allow(clippy::cast_possible_truncation, reason = "a small exponent")]
    let exp = v.abs().log10().floor() as i32;
    let decimals = usize::try_from((3 - exp).max(0)).unwrap_or(0);
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// docker's `units.BytesSize`: binary units, four significant digits
/// (`1.5MiB`, `7.638GiB`).
pub(crate) fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g4(v), UNITS[i])
}

fn render(entries: &[Entry], format: &ListFormat, no_trunc: bool) -> anyhow::Result<String> {
    let rows: Vec<Value> = entries.iter().map(|e| e.row(no_trunc)).collect();
    render_rows(format, &rows, &headers())
}

/// The containers to show: those named, else the running ones (every
/// one with `--all`), newest first, by short ID.
async fn listed(client: &Client, all: bool) -> anyhow::Result<Vec<String>> {
    let opts = ListOptions {
        all,
        ..ListOptions::default()
    };
    let list = client.containers(&opts).await.map_err(api)?;
    Ok(list
        .iter()
        .filter_map(|c| c["Id"].as_str())
        .map(|id| id.chars().take(12).collect())
        .collect())
}

/// Reads one JSON sample per line from a stats answer.
async fn next_sample(
    stream: &mut berth_api_client::BodyStream,
    pending: &mut Vec<u8>,
) -> Option<anyhow::Result<StatsResponse>> {
    loop {
        if let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(
                serde_json::from_slice(&line)
                    .map_err(|e| anyhow!("cannot read the daemon's statistics: {e}")),
            );
        }
        match stream.chunk().await? {
            Ok(chunk) => pending.extend_from_slice(&chunk),
            Err(e) => return Some(Err(api(e))),
        }
    }
}

/// One sample of `container` (`stream=0`: the daemon primes the CPU
/// figures itself).
async fn sample_once(client: &Client, container: &str) -> anyhow::Result<Entry> {
    let mut stream = client
        .container_stats(container, false, false)
        .await
        .map_err(api)?;
    let mut pending = Vec::new();
    match next_sample(&mut stream, &mut pending).await {
        Some(r) => Ok(Entry::from_sample(container, &r?)),
        None => Err(anyhow!("no statistics for {container}")),
    }
}

pub(crate) async fn stats(
    client: &Client,
    f: &StatsFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let format = list_format(f.format.as_deref(), DEFAULT_FORMAT);
    if let ListFormat::Raw(t) | ListFormat::Table(Some(t)) = &format {
        crate::template::Template::parse(t)?;
    }
    let named = !f.containers.is_empty();
    if f.no_stream {
        let names = if named {
            f.containers.clone()
        } else {
            listed(client, f.all).await?
        };
        // Concurrently: each answer takes a moment (two samples).
        let mut tasks = Vec::new();
        for name in names {
            let host = client.host().clone();
            let version = client.api_version().await.map_err(api)?.to_owned();
            tasks.push(tokio::spawn(async move {
                let client = Client::with_version(host, &version);
                sample_once(&client, &name).await
            }));
        }
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(e)) => entries.push(e),
                Ok(Err(e)) => errors.push(e.to_string()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            return Err(anyhow!("{}", errors.join("\n")));
        }
        printer.data(&render(&entries, &format, f.no_trunc)?)?;
        return Ok(());
    }
    stream(client, f, &format, printer).await
}

type Shared = Arc<Mutex<HashMap<String, Entry>>>;

/// Keeps `entries[container]` up to date from a stats stream until it ends.
fn follow(client: &Client, version: String, container: String, entries: Shared) {
    let host = client.host().clone();
    tokio::spawn(async move {
        let client = Client::with_version(host, &version);
        let opened = client.container_stats(&container, true, false).await;
        let mut stream = match opened {
            Ok(s) => s,
            // Gone meanwhile: its row shows `--`, as docker's does.
            Err(_) => return,
        };
        let mut pending = Vec::new();
        while let Some(Ok(r)) = next_sample(&mut stream, &mut pending).await {
            let mut e = Entry::from_sample(&container, &r);
            // A first sample has no previous CPU figures: no CPU % yet.
            if r.preread == berth_api_types::stats::ZERO_TIME {
                e.cpu_percent = 0.0;
            }
            lock(&entries).insert(container.clone(), e);
        }
        if let Some(e) = lock(&entries).get_mut(&container) {
            e.invalid = true;
        }
    });
}

fn lock(m: &Shared) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Streams: one stats stream per container, the table redrawn every
/// 500 ms (docker clears the screen and writes from its top-left corner).
/// Without names, the container list is refreshed every second.
async fn stream(
    client: &Client,
    f: &StatsFlags,
    format: &ListFormat,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let version = client.api_version().await.map_err(api)?.to_owned();
    let entries: Shared = Arc::new(Mutex::new(HashMap::new()));
    let mut order: Vec<String> = Vec::new();
    if !f.containers.is_empty() {
        // Named containers must exist, as docker checks first.
        for name in &f.containers {
            client.container_inspect(name, false).await.map_err(api)?;
            order.push(name.clone());
        }
    }
    let mut followed: Vec<String> = Vec::new();
    let mut tick: u64 = 0;
    loop {
        if f.containers.is_empty() && tick.is_multiple_of(2) {
            order = listed(client, f.all).await?;
        }
        for name in &order {
            if !followed.contains(name) {
                followed.push(name.clone());
                lock(&entries).insert(
                    name.clone(),
                    Entry {
                        container: name.clone(),
                        id: name.clone(),
                        invalid: true,
                        ..Entry::default()
                    },
                );
                follow(client, version.clone(), name.clone(), entries.clone());
            }
        }
        if f.containers.is_empty() {
            // Gone from the list (exited without -a, removed): dropped.
            followed.retain(|n| order.contains(n));
        }
        let shown: Vec<Entry> = {
            let map = lock(&entries);
            order.iter().filter_map(|n| map.get(n).cloned()).collect()
        };
        let table = render(&shown, format, f.no_trunc)?;
        printer.data(&format!("\x1b[2J\x1b[H{table}"))?;
        tick += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_api_types::stats::{BlkioStatEntry, CpuUsage};

    use super::*;

    #[test]
    fn sizes_as_docker_units() {
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(8_201_420_800.0), "7.638GiB");
        assert_eq!(bytes_size(1_048_576.0), "1MiB");
        assert_eq!(bytes_size(1023.0), "1023B");
        assert_eq!(go_g4(0.3456), "0.3456");
        assert_eq!(go_g4(12.345), "12.35");
    }

    #[test]
    fn columns_from_a_sample() {
        let r = StatsResponse {
            name: "/web".into(),
            id: "0123456789abcdef".into(),
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: 500,
                    ..CpuUsage::default()
                },
                system_cpu_usage: 2_000,
                online_cpus: 2,
                ..CpuStats::default()
            },
            precpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: 0,
                    ..CpuUsage::default()
                },
                system_cpu_usage: 1_000,
                online_cpus: 2,
                ..CpuStats::default()
            },
            memory_stats: MemoryStats {
                usage: 3 << 20,
                stats: BTreeMap::from([("total_inactive_file".to_owned(), 1 << 20)]),
                limit: 8 << 20,
                ..MemoryStats::default()
            },
            blkio_stats: BlkioStats {
                io_service_bytes_recursive: Some(vec![
                    BlkioStatEntry {
                        op: "Read".into(),
                        value: 4096,
                        ..BlkioStatEntry::default()
                    },
                    BlkioStatEntry {
                        op: "write".into(),
                        value: 1_000_000,
                        ..BlkioStatEntry::default()
                    },
                ]),
                ..BlkioStats::default()
            },
            ..StatsResponse::default()
        };
        let row = Entry::from_sample("web", &r).row(false);
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["Name"], "web");
        // 500 of 1000 ns of host time, on 2 CPUs.
        assert_eq!(row["CPUPerc"], "100.00%");
        assert_eq!(row["MemUsage"], "2MiB / 8MiB");
        assert_eq!(row["MemPerc"], "25.00%");
        assert_eq!(row["NetIO"], "0B / 0B");
        assert_eq!(row["BlockIO"], "4.1kB / 1MB");
        assert_eq!(row["PIDs"], "0");
        let invalid = Entry {
            invalid: true,
            ..Entry::default()
        };
        assert_eq!(invalid.row(false)["MemUsage"], "-- / --");
        let text = render(
            &[Entry::from_sample("web", &r)],
            &list_format(None, DEFAULT_FORMAT),
            false,
        )
        .unwrap();
        assert!(
            text.starts_with("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O     PIDS\n"),
            "{text}"
        );
    }
}
