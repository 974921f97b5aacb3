//! Resource usage of a container (docker's `/containers/{id}/stats`):
//! its cgroup's counters (read directly, as the shim's `Stats` request
//! would, without a round trip per sample), the host's CPU time for the
//! CPU % formula, and the traffic of its network interfaces (read from
//! `/proc/<pid>/net/dev`, which shows the container's network namespace).
//!
//! Docker API shapes (and the cgroup v1/v2 differences in them) are the
//! API layer's business; this module hands out plain figures.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use berth_cgroups::{
    BlkioEntry, BlkioStats, CgroupLayout, CpuStats, MemoryStats, PidsStats, Stats,
};

use super::{Container, ContainerError, Containers, Status};

/// Counters of one network interface (a line of `/proc/net/dev`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetDevStats {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// One sample of a container's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSample {
    /// When it was read, nanoseconds since the epoch.
    pub read: i128,
    /// The cgroup's counters; `None` when the container is not running.
    pub cgroup: Option<berth_cgroups::Stats>,
    /// Whether they come from cgroup v2 (whose `memory.stat` keys and
    /// missing counters docker reports as they are).
    pub cgroup_v2: bool,
    /// The host's CPU time (all CPUs, all modes but steal and guest) in
    /// nanoseconds, from `/proc/stat` (docker's `system_cpu_usage`).
    pub system_cpu_usage: u64,
    /// CPUs the host has online (`cpuN` lines of `/proc/stat`).
    pub online_cpus: u32,
    /// The host's memory, the limit docker reports for an unlimited
    /// container.
    pub machine_memory: u64,
    /// The container's interfaces other than `lo`; empty when it has
    /// none or shares the host's network namespace.
    pub networks: Vec<NetDevStats>,
}

/// The host's cgroup layout, detected once.
fn host_layout() -> Result<&'static CgroupLayout, ContainerError> {
    static LAYOUT: OnceLock<Result<CgroupLayout, String>> = OnceLock::new();
    LAYOUT
        .get_or_init(|| berth_cgroups::detect().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| ContainerError::Internal {
            message: format!("cannot find the cgroup hierarchies: {e}"),
        })
}

/// The counters of cgroup `path` (absolute, as in `linux.cgroupsPath`) in
/// `layout`.
pub fn cgroup_stats(
    layout: &CgroupLayout,
    path: &str,
    id: &str,
) -> Result<berth_cgroups::Stats, ContainerError> {
    let internal = |e: berth_cgroups::Error| ContainerError::Internal {
        message: format!("cannot read the statistics of cgroup {path}: {e}"),
    };
    berth_cgroups::manager(layout, Some(path), id)
        .map_err(internal)?
        .stats()
        .map_err(internal)
}

/// `/proc/stat`'s aggregate `cpu` line as nanoseconds (user, nice,
/// system, idle, iowait, irq, softirq, as dockerd adds them) and the
/// number of `cpuN` lines.
pub fn parse_proc_stat(text: &str) -> (u64, u32) {
    /// `USER_HZ`: 100 on every architecture (see `berth_cgroups`).
    const NS_PER_TICK: u64 = 10_000_000;
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                total = fields
                    .take(7)
                    .filter_map(|f| f.parse::<u64>().ok())
                    .sum::<u64>()
                    .saturating_mul(NS_PER_TICK);
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

/// The interfaces of a `/proc/net/dev`, without `lo`.
pub fn parse_net_dev(text: &str) -> Vec<NetDevStats> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            let at = |i: usize| v.get(i).copied().unwrap_or(0);
            Some(NetDevStats {
                name: name.to_owned(),
                rx_bytes: at(0),
                rx_packets: at(1),
                rx_errors: at(2),
                rx_dropped: at(3),
                tx_bytes: at(8),
                tx_packets: at(9),
                tx_errors: at(10),
                tx_dropped: at(11),
            })
        })
        .collect()
}

/// The interfaces of process `pid`'s network namespace, unless that is
/// berthd's own (a container on the host's network has no interfaces of
/// its own, and docker reports none).
fn networks(proc: &Path, pid: i32) -> Vec<NetDevStats> {
    let ns = |p: PathBuf| fs_err::read_link(p).ok();
    let own = ns(proc.join("self/ns/net"));
    let theirs = ns(proc.join(pid.to_string()).join("ns/net"));
    if theirs.is_none() || theirs == own {
        return Vec::new();
    }
    fs_err::read_to_string(proc.join(pid.to_string()).join("net/dev"))
        .map(|t| parse_net_dev(&t))
        .unwrap_or_default()
}

/// The host's figures every sample carries.
fn host_sample(proc: &Path) -> (u64, u32, u64) {
    let (system, cpus) = fs_err::read_to_string(proc.join("stat"))
        .map(|t| parse_proc_stat(&t))
        .unwrap_or((0, 0));
    let memory = crate::host::HostPaths::default().mem_total();
    (system, cpus, memory)
}

impl Containers {
    /// One sample of the container's usage (see [`StatsSample`]); a
    /// container that is not running has no cgroup figures.
    pub fn stats(&self, id_or_name: &str) -> Result<(Container, StatsSample), ContainerError> {
        let c = self.get(id_or_name)?;
        let proc = Path::new("/proc");
        let mut sample = StatsSample {
            cgroup_v2: self.inner.settings.cgroup_v2,
            ..StatsSample::default()
        };
        if c.state.status == Status::Running {
            let path = format!(
                "{}/{}",
                self.inner.settings.cgroup_parent.trim_end_matches('/'),
                c.id
            );
            let layout = host_layout()?;
            sample.cgroup_v2 = layout.is_v2();
            match cgroup_stats(layout, &path, &c.id) {
                Ok(s) => sample.cgroup = Some(s),
                // It exited meanwhile (its cgroup is gone): no figures.
                Err(_) if self.exiting(&c.id) => {}
                Err(e) => return Err(e),
            }
            sample.networks = networks(proc, c.state.pid);
        }
        (
            sample.system_cpu_usage,
            sample.online_cpus,
            sample.machine_memory,
        ) = host_sample(proc);
        sample.read = crate::events::now_nanos();
        Ok((c, sample))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_and_net_dev() {
        let stat = "cpu  2331753 0 521021 1773799 19788 0 4328 1295 0 0\n\
                    cpu0 1115292 0 248963 953925 6194 0 323 652 0 0\n\
                    cpu1 1216460 0 272058 819874 13594 0 4005 642 0 0\n\
                    intr 1 2 3\nctxt 5\n";
        let (total, cpus) = parse_proc_stat(stat);
        assert_eq!(
            total,
            (2331753 + 521021 + 1773799 + 19788 + 4328) * 10_000_000
        );
        assert_eq!(cpus, 2);
        let dev = "Inter-|   Receive                                                |  Transmit\n \
                   face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
                   lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
                   eth0:    1296      16    1    2    0     0          0         0      726       9    3    4    0     0       0          0\n";
        assert_eq!(
            parse_net_dev(dev),
            [NetDevStats {
                name: "eth0".into(),
                rx_bytes: 1296,
                rx_packets: 16,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 726,
                tx_packets: 9,
                tx_errors: 3,
                tx_dropped: 4,
            }]
        );
    }

    /// cgroup v2 through a fixture directory: the same counters a v2
    /// host's files give, in the shape the API layer maps.
    #[test]
    fn v2_fixture_counters() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs_err::write(root.join("cgroup.controllers"), "cpu io memory pids").unwrap();
        let dir = root.join("berth/c1");
        fs_err::create_dir_all(&dir).unwrap();
        for (file, text) in [
            ("memory.current", "10485760\n"),
            ("memory.max", "max\n"),
            (
                "memory.stat",
                "anon 4194304\nfile 6291456\ninactive_file 2097152\nactive_file 4194304\n",
            ),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n"),
            (
                "cpu.stat",
                "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
            ),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            (
                "io.stat",
                "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
        ] {
            fs_err::write(dir.join(file), text).unwrap();
        }
        let layout = CgroupLayout::V2 {
            root: root.to_owned(),
        };
        let s = cgroup_stats(&layout, "/berth/c1", "c1").unwrap();
        assert_eq!(s.memory.usage, 10_485_760);
        assert_eq!(s.memory.limit, None);
        assert_eq!(s.memory.stat["inactive_file"], 2_097_152);
        assert_eq!(s.cpu.usage_total, 2_000_000_000);
        assert_eq!(s.cpu.usage_user, 1_500_000_000);
        assert!(s.cpu.percpu_usage.is_empty());
        assert_eq!(s.pids.current, 3);
        assert_eq!((s.blkio.read_bytes, s.blkio.write_bytes), (4096, 8192));
    }
}
