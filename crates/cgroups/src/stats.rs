//! Resource usage of a cgroup, as `berth stats` and the Engine API's
//! `/containers/{id}/stats` need it, and the parsers for the v1 and v2
//! files it comes from.
//!
//! Missing files give zero or `None` rather than an error: a controller that
//! is not mounted (v1) or not enabled (v2) simply has nothing to report.
//! Malformed content is an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::fsutil::{parse_flat_keyed, read_opt, read_u64_opt};

/// Usage figures for one cgroup.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Memory controller.
    pub memory: MemoryStats,
    /// cpu / cpuacct controllers.
    pub cpu: CpuStats,
    /// pids controller.
    pub pids: PidsStats,
    /// blkio (v1) / io (v2) controller.
    pub blkio: BlkioStats,
}

/// Memory usage. Docker's CLI shows `usage - stat["total_inactive_file"]`
/// (v1) or `usage - stat["inactive_file"]` (v2), so the raw `memory.stat`
/// is kept.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Current usage in bytes (`memory.usage_in_bytes` / `memory.current`).
    pub usage: u64,
    /// Peak usage in bytes (`memory.max_usage_in_bytes` / `memory.peak`,
    /// the latter since Linux 5.19).
    pub max_usage: Option<u64>,
    /// Limit in bytes; `None` when unlimited.
    pub limit: Option<u64>,
    /// Times the limit was hit (`memory.failcnt`, v1; `max` in
    /// `memory.events`, v2).
    pub failcnt: u64,
    /// Swap usage in bytes (v1: memsw usage minus usage; v2:
    /// `memory.swap.current`), when the kernel accounts swap.
    pub swap_usage: Option<u64>,
    /// `memory.stat`, key by key.
    pub stat: BTreeMap<String, u64>,
}

/// CPU time, in nanoseconds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CpuStats {
    /// Total CPU time consumed.
    pub usage_total: u64,
    /// Time in user mode.
    pub usage_user: u64,
    /// Time in kernel mode.
    pub usage_system: u64,
    /// Per-CPU totals (v1 `cpuacct.usage_percpu`; empty on v2).
    pub percpu_usage: Vec<u64>,
    /// CFS enforcement periods that elapsed.
    pub periods: u64,
    /// Periods in which the group was throttled.
    pub throttled_periods: u64,
    /// Total time throttled.
    pub throttled_time: u64,
}

/// Number of tasks.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    /// Tasks in the cgroup (`pids.current`).
    pub current: u64,
    /// `pids.max`; `None` when unlimited.
    pub limit: Option<u64>,
}

/// One per-device counter, in the shape of Docker's `BlkioStatEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// `Read`, `Write`, ... (v1 spelling; v2 counters are mapped to it).
    pub op: String,
    /// The counter.
    pub value: u64,
}

/// Block I/O.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioStats {
    /// Bytes read, summed over devices.
    pub read_bytes: u64,
    /// Bytes written, summed over devices.
    pub write_bytes: u64,
    /// Bytes per device and operation.
    pub io_service_bytes: Vec<BlkioEntry>,
    /// I/O operations per device and operation.
    pub io_serviced: Vec<BlkioEntry>,
}

/// `USER_HZ`: `cpuacct.stat` counts in clock ticks, which the kernel
/// exports to user space as 100 per second on every architecture
/// (`sysconf(_SC_CLK_TCK)`; runc assumes the same).
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

/// v1 memory limits at or above this are "unlimited": the kernel reports
/// `PAGE_COUNTER_MAX` pages, i.e. `LONG_MAX` rounded down to a page.
const V1_UNLIMITED: u64 = 1 << 62;

fn parse_err(path: &Path, reason: String) -> Error {
    Error::Parse {
        what: "read statistics".to_owned(),
        path: path.to_owned(),
        reason,
    }
}

fn stat_map(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>> {
    Ok(read_opt(&dir.join(file), "read statistics")?
        .map(|c| {
            parse_flat_keyed(&c)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        })
        .unwrap_or_default())
}

fn num(dir: &Path, file: &str) -> Result<Option<u64>> {
    read_u64_opt(&dir.join(file), "read statistics")
}

/// Memory statistics of a v1 `memory` cgroup directory.
pub(crate) fn memory_v1(dir: &Path) -> Result<MemoryStats> {
    let usage = num(dir, "memory.usage_in_bytes")?.unwrap_or(0);
    let memsw = num(dir, "memory.memsw.usage_in_bytes")?;
    Ok(MemoryStats {
        usage,
        max_usage: num(dir, "memory.max_usage_in_bytes")?,
        limit: num(dir, "memory.limit_in_bytes")?.filter(|l| *l < V1_UNLIMITED),
        failcnt: num(dir, "memory.failcnt")?.unwrap_or(0),
        swap_usage: memsw.map(|m| m.saturating_sub(usage)),
        stat: stat_map(dir, "memory.stat")?,
    })
}

/// Memory statistics of a v2 cgroup directory.
pub(crate) fn memory_v2(dir: &Path) -> Result<MemoryStats> {
    Ok(MemoryStats {
        usage: num(dir, "memory.current")?.unwrap_or(0),
        max_usage: num(dir, "memory.peak")?,
        limit: num(dir, "memory.max")?,
        failcnt: stat_map(dir, "memory.events")?
            .get("max")
            .copied()
            .unwrap_or(0),
        swap_usage: num(dir, "memory.swap.current")?,
        stat: stat_map(dir, "memory.stat")?,
    })
}

/// The `oom_kill` counter of a flat-keyed file in `dir` (v1
/// `memory.oom_control`, v2 `memory.events`); 0 when it is missing.
pub(crate) fn oom_kills(dir: &Path, file: &str) -> Result<u64> {
    Ok(stat_map(dir, file)?.get("oom_kill").copied().unwrap_or(0))
}

/// CPU statistics from v1 `cpuacct` and `cpu` directories (either may be
/// absent).
pub(crate) fn cpu_v1(cpuacct: Option<&Path>, cpu: Option<&Path>) -> Result<CpuStats> {
    let mut stats = CpuStats::default();
    if let Some(dir) = cpuacct {
        stats.usage_total = num(dir, "cpuacct.usage")?.unwrap_or(0);
        // cpuacct.usage_user/usage_sys (ns, Linux 4.7+) are precise;
        // cpuacct.stat (ticks) is the fallback.
        match (
            num(dir, "cpuacct.usage_user")?,
            num(dir, "cpuacct.usage_sys")?,
        ) {
            (Some(user), Some(sys)) => {
                stats.usage_user = user;
                stats.usage_system = sys;
            }
            _ => {
                let st = stat_map(dir, "cpuacct.stat")?;
                stats.usage_user = st.get("user").copied().unwrap_or(0) * NS_PER_TICK;
                stats.usage_system = st.get("system").copied().unwrap_or(0) * NS_PER_TICK;
            }
        }
        let percpu = dir.join("cpuacct.usage_percpu");
        if let Some(content) = read_opt(&percpu, "read statistics")? {
            stats.percpu_usage = content
                .split_whitespace()
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|e| parse_err(&percpu, format!("`{v}` is not a number: {e}")))
                })
                .collect::<Result<_>>()?;
        }
    }
    if let Some(dir) = cpu {
        // v1 cpu.stat: nr_periods, nr_throttled, throttled_time (ns).
        let st = stat_map(dir, "cpu.stat")?;
        stats.periods = st.get("nr_periods").copied().unwrap_or(0);
        stats.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        stats.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    Ok(stats)
}

/// CPU statistics from a v2 `cpu.stat` (microseconds, converted to ns).
pub(crate) fn cpu_v2(dir: &Path) -> Result<CpuStats> {
    let st = stat_map(dir, "cpu.stat")?;
    let get = |k: &str| st.get(k).copied().unwrap_or(0);
    Ok(CpuStats {
        usage_total: get("usage_usec") * 1000,
        usage_user: get("user_usec") * 1000,
        usage_system: get("system_usec") * 1000,
        percpu_usage: Vec::new(),
        periods: get("nr_periods"),
        throttled_periods: get("nr_throttled"),
        throttled_time: get("throttled_usec") * 1000,
    })
}

/// `pids.current` / `pids.max` (same files in v1 and v2).
pub(crate) fn pids(dir: &Path) -> Result<PidsStats> {
    Ok(PidsStats {
        current: num(dir, "pids.current")?.unwrap_or(0),
        limit: num(dir, "pids.max")?,
    })
}

/// Parses a v1 blkio file: `MAJ:MIN Op value` lines and a final `Total n`.
pub(crate) fn parse_blkio_v1(path: &Path, content: &str) -> Result<Vec<BlkioEntry>> {
    let mut out = Vec::new();
    for line in content.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [dev, op, value] = fields[..] else {
            continue; // "Total 123" and empty lines
        };
        let bad = |what: &str| parse_err(path, format!("bad {what} in line `{line}`"));
        let (major, minor) = dev.split_once(':').ok_or_else(|| bad("device"))?;
        out.push(BlkioEntry {
            major: major.parse().map_err(|_| bad("major"))?,
            minor: minor.parse().map_err(|_| bad("minor"))?,
            op: op.to_owned(),
            value: value.parse().map_err(|_| bad("value"))?,
        });
    }
    Ok(out)
}

fn totals(stats: &mut BlkioStats) {
    for e in &stats.io_service_bytes {
        match e.op.as_str() {
            "Read" => stats.read_bytes += e.value,
            "Write" => stats.write_bytes += e.value,
            _ => {}
        }
    }
}

/// Block I/O statistics of a v1 `blkio` directory.
///
/// The throttle counters see every I/O that reaches the block layer,
/// whichever scheduler is in use; the `_recursive` variant includes child
/// cgroups. The BFQ ones are the fallback on kernels without throttling.
pub(crate) fn blkio_v1(dir: &Path) -> Result<BlkioStats> {
    let mut stats = BlkioStats::default();
    for (bytes, ios) in [
        (
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_serviced_recursive",
        ),
        (
            "blkio.throttle.io_service_bytes",
            "blkio.throttle.io_serviced",
        ),
        (
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.bfq.io_serviced_recursive",
        ),
    ] {
        let path = dir.join(bytes);
        let Some(content) = read_opt(&path, "read statistics")? else {
            continue;
        };
        stats.io_service_bytes = parse_blkio_v1(&path, &content)?;
        let ios_path = dir.join(ios);
        if let Some(content) = read_opt(&ios_path, "read statistics")? {
            stats.io_serviced = parse_blkio_v1(&ios_path, &content)?;
        }
        break;
    }
    totals(&mut stats);
    Ok(stats)
}

/// Parses v2 `io.stat`: `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..
/// dbytes=.. dios=..` per device.
pub(crate) fn parse_io_stat(path: &Path, content: &str) -> Result<BlkioStats> {
    let mut stats = BlkioStats::default();
    for line in content.lines() {
        let mut fields = line.split_whitespace();
        let Some(dev) = fields.next() else {
            continue;
        };
        let bad = |what: &str| parse_err(path, format!("bad {what} in line `{line}`"));
        let (major, minor) = dev.split_once(':').ok_or_else(|| bad("device"))?;
        let major: u64 = major.parse().map_err(|_| bad("major"))?;
        let minor: u64 = minor.parse().map_err(|_| bad("minor"))?;
        for kv in fields {
            let Some((key, value)) = kv.split_once('=') else {
                continue;
            };
            // Keys this code does not know (cost.*, newer ones) are skipped.
            let (list, op) = match key {
                "rbytes" => (&mut stats.io_service_bytes, "Read"),
                "wbytes" => (&mut stats.io_service_bytes, "Write"),
                "dbytes" => (&mut stats.io_service_bytes, "Discard"),
                "rios" => (&mut stats.io_serviced, "Read"),
                "wios" => (&mut stats.io_serviced, "Write"),
                "dios" => (&mut stats.io_serviced, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value: value.parse().map_err(|_| bad(key))?,
            });
        }
    }
    totals(&mut stats);
    Ok(stats)
}

/// Block I/O statistics of a v2 directory.
pub(crate) fn blkio_v2(dir: &Path) -> Result<BlkioStats> {
    let path = dir.join("io.stat");
    match read_opt(&path, "read statistics")? {
        Some(content) => parse_io_stat(&path, &content),
        None => Ok(BlkioStats::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(dir: &Path, file: &str, content: &str) {
        fs_err::write(dir.join(file), content).unwrap();
    }

    #[test]
    fn v1_memory() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "memory.usage_in_bytes", "1048576\n");
        put(d.path(), "memory.max_usage_in_bytes", "2097152\n");
        put(d.path(), "memory.limit_in_bytes", "9223372036854771712\n");
        put(d.path(), "memory.memsw.usage_in_bytes", "1148576\n");
        put(d.path(), "memory.failcnt", "3\n");
        put(
            d.path(),
            "memory.stat",
            "cache 4096\nrss 8192\ntotal_inactive_file 4096\n",
        );
        let m = memory_v1(d.path()).unwrap();
        assert_eq!(m.usage, 1048576);
        assert_eq!(m.max_usage, Some(2097152));
        assert_eq!(m.limit, None, "LONG_MAX rounded to a page is unlimited");
        assert_eq!(m.failcnt, 3);
        assert_eq!(m.swap_usage, Some(100000));
        assert_eq!(m.stat["total_inactive_file"], 4096);

        put(d.path(), "memory.limit_in_bytes", "67108864\n");
        assert_eq!(memory_v1(d.path()).unwrap().limit, Some(67108864));
    }

    #[test]
    fn v2_memory() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "memory.current", "5000\n");
        put(d.path(), "memory.peak", "9000\n");
        put(d.path(), "memory.max", "max\n");
        put(d.path(), "memory.swap.current", "0\n");
        put(
            d.path(),
            "memory.events",
            "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n",
        );
        put(d.path(), "memory.stat", "anon 4096\ninactive_file 100\n");
        let m = memory_v2(d.path()).unwrap();
        assert_eq!(m.usage, 5000);
        assert_eq!(m.max_usage, Some(9000));
        assert_eq!(m.limit, None);
        assert_eq!(m.failcnt, 7);
        assert_eq!(m.swap_usage, Some(0));
        assert_eq!(m.stat["inactive_file"], 100);

        put(d.path(), "memory.max", "1048576\n");
        assert_eq!(memory_v2(d.path()).unwrap().limit, Some(1048576));
        put(d.path(), "memory.max", "lots\n");
        let err = memory_v2(d.path()).unwrap_err().to_string();
        assert!(err.contains("`lots` is not a number"), "{err}");
    }

    #[test]
    fn missing_files_are_zero() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(memory_v2(d.path()).unwrap(), MemoryStats::default());
        assert_eq!(cpu_v2(d.path()).unwrap(), CpuStats::default());
        assert_eq!(pids(d.path()).unwrap(), PidsStats::default());
        assert_eq!(blkio_v1(d.path()).unwrap(), BlkioStats::default());
    }

    #[test]
    fn v1_cpu_precise_and_ticks() {
        let acct = tempfile::tempdir().unwrap();
        let cpu = tempfile::tempdir().unwrap();
        put(acct.path(), "cpuacct.usage", "3000000000\n");
        put(acct.path(), "cpuacct.stat", "user 150\nsystem 50\n");
        put(
            acct.path(),
            "cpuacct.usage_percpu",
            "1000000000 2000000000 \n",
        );
        put(
            cpu.path(),
            "cpu.stat",
            "nr_periods 10\nnr_throttled 4\nthrottled_time 123456\n",
        );
        let s = cpu_v1(Some(acct.path()), Some(cpu.path())).unwrap();
        assert_eq!(s.usage_total, 3_000_000_000);
        assert_eq!(s.usage_user, 1_500_000_000);
        assert_eq!(s.usage_system, 500_000_000);
        assert_eq!(s.percpu_usage, vec![1_000_000_000, 2_000_000_000]);
        assert_eq!(
            (s.periods, s.throttled_periods, s.throttled_time),
            (10, 4, 123456)
        );

        put(acct.path(), "cpuacct.usage_user", "2000\n");
        put(acct.path(), "cpuacct.usage_sys", "1000\n");
        let s = cpu_v1(Some(acct.path()), None).unwrap();
        assert_eq!((s.usage_user, s.usage_system), (2000, 1000));
        assert_eq!(s.periods, 0);
    }

    #[test]
    fn v2_cpu() {
        let d = tempfile::tempdir().unwrap();
        put(
            d.path(),
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\nnr_bursts 0\n",
        );
        let s = cpu_v2(d.path()).unwrap();
        assert_eq!(s.usage_total, 1_500_000);
        assert_eq!(s.usage_user, 1_000_000);
        assert_eq!(s.usage_system, 500_000);
        assert_eq!(
            (s.periods, s.throttled_periods, s.throttled_time),
            (7, 2, 30_000)
        );
    }

    #[test]
    fn pids_stats() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "pids.current", "4\n");
        put(d.path(), "pids.max", "max\n");
        assert_eq!(
            pids(d.path()).unwrap(),
            PidsStats {
                current: 4,
                limit: None
            }
        );
        put(d.path(), "pids.max", "100\n");
        assert_eq!(pids(d.path()).unwrap().limit, Some(100));
    }

    #[test]
    fn v1_blkio_prefers_recursive_throttle() {
        let d = tempfile::tempdir().unwrap();
        put(
            d.path(),
            "blkio.throttle.io_service_bytes",
            "8:0 Read 1\n8:0 Write 1\nTotal 2\n",
        );
        put(
            d.path(),
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n8:16 Read 100\nTotal 12388\n",
        );
        put(
            d.path(),
            "blkio.throttle.io_serviced_recursive",
            "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
        );
        let s = blkio_v1(d.path()).unwrap();
        assert_eq!(s.read_bytes, 4196);
        assert_eq!(s.write_bytes, 8192);
        assert_eq!(s.io_service_bytes.len(), 7);
        assert_eq!(
            s.io_serviced[1],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 2
            }
        );
        put(
            d.path(),
            "blkio.throttle.io_service_bytes_recursive",
            "8:x Read 1\n",
        );
        assert!(blkio_v1(d.path()).is_err());
    }

    #[test]
    fn v2_io_stat() {
        let d = tempfile::tempdir().unwrap();
        put(
            d.path(),
            "io.stat",
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=10 wbytes=0 rios=1 wios=0 dbytes=0 dios=0 cost.vrate=1.0\n",
        );
        let s = blkio_v2(d.path()).unwrap();
        assert_eq!(s.read_bytes, 4106);
        assert_eq!(s.write_bytes, 8192);
        assert_eq!(s.io_service_bytes.len(), 6);
        assert_eq!(s.io_serviced.len(), 6);
        assert_eq!(s.io_service_bytes[0].op, "Read");
        assert_eq!(s.io_service_bytes[3].major, 253);
    }

    #[test]
    fn stats_serialize() {
        let json = serde_json::to_value(Stats::default()).unwrap();
        assert_eq!(json["memory"]["limit"], serde_json::Value::Null);
        assert_eq!(json["cpu"]["usage_total"], 0);
    }
}
