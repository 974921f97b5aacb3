//! The cgroup v2 manager.
//!
//! One hierarchy, one directory per container. Controllers must be enabled
//! top-down: a controller is usable in a cgroup only if it is listed in the
//! parent's `cgroup.subtree_control`, which may only list controllers in the
//! parent's own `cgroup.controllers` (Documentation/admin-guide/cgroup-v2.rst,
//! "Enabling and Disabling"). File names and value conversions follow runc's
//! `libcontainer/cgroups/fs2`; the device controller is an eBPF program
//! (see [`crate::devices`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::convert::{self, invalid, mem_v2};
use crate::devices::{self, DevicePolicy};
use crate::error::{Error, Result};
use crate::fsutil::{self, exists, read_opt, write};
use crate::path::{CgroupPath, OwnCgroups};
use crate::stats::{self, Stats};

/// How long [`V2Manager::freeze`] waits for `frozen 1`.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// Controllers enabled whenever the host offers them, limits or not:
/// `berth stats` reads their files (`memory.current`, `io.stat`,
/// `pids.current`; `cpu.stat` has throttling data only with `cpu`).
/// Others (`cpuset`, `hugetlb`, `rdma`, `misc`) are enabled only when a
/// limit needs them, so berth does not switch on, say, hugetlb accounting
/// at the root of a host that did not ask for it.
const STATS_CONTROLLERS: &[&str] = &["cpu", "io", "memory", "pids"];

/// Controllers a `linux.resources.unified` key can belong to.
const V2_CONTROLLERS: &[&str] = &[
    "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc",
];

/// A container's cgroup on a v2 host.
#[derive(Debug, Clone)]
pub struct V2Manager {
    /// The cgroup2 mount point.
    root: PathBuf,
    /// The container's directory.
    dir: PathBuf,
}

impl V2Manager {
    pub(crate) fn new(root: &Path, path: &CgroupPath, own: Option<&OwnCgroups>) -> Result<Self> {
        Ok(Self {
            root: root.to_owned(),
            dir: root.join(path.for_v2(own)?),
        })
    }

    /// The container's cgroup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Controllers `res` needs, as (v2 controller, what needs it).
    fn required(res: &LinuxResources) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (c, what) in convert::needed_controllers(res) {
            let c = match c {
                "blkio" => "io",
                // Device rules are an eBPF program, not a controller;
                // net_cls/net_prio have no v2 equivalent (ignored, as runc
                // does: their job moved to eBPF/netfilter).
                "devices" | "net_cls" | "net_prio" => continue,
                other => other,
            };
            if !out.iter().any(|(have, _)| have == c) {
                out.push((c.to_owned(), what.to_owned()));
            }
        }
        for key in res.unified().iter().flat_map(|u| u.keys()) {
            let controller = validate_unified_key(key)?;
            if let Some(c) = controller.filter(|c| V2_CONTROLLERS.contains(c))
                && !out.iter().any(|(have, _)| have == c)
            {
                out.push((c.to_owned(), format!("set `{key}`")));
            }
        }
        Ok(out)
    }

    /// Enables the stats controllers and `required` in the
    /// `cgroup.subtree_control` of every ancestor of the container's
    /// directory, from the root down. A controller missing from an
    /// ancestor's `cgroup.controllers` is an error if required, and skipped
    /// otherwise.
    fn enable_controllers(&self, required: &[(String, String)]) -> Result<()> {
        let Ok(rel) = self.dir.strip_prefix(&self.root) else {
            return Ok(());
        };
        let mut wanted: Vec<&str> = STATS_CONTROLLERS.to_vec();
        for (c, _) in required {
            if !wanted.contains(&c.as_str()) {
                wanted.push(c);
            }
        }
        let mut ancestors = vec![self.root.clone()];
        let mut cur = self.root.clone();
        let comps: Vec<_> = rel.components().collect();
        for comp in comps.iter().take(comps.len().saturating_sub(1)) {
            cur = cur.join(comp);
            ancestors.push(cur.clone());
        }
        // What the previous ancestor made available to this one. Real
        // cgroups list it in their own `cgroup.controllers`; test fixtures
        // have no such file in the directories berth creates, so fall back
        // to what was enabled one level up.
        let mut inherited: BTreeSet<String> = BTreeSet::new();
        for (depth, dir) in ancestors.iter().enumerate() {
            let controllers_file = dir.join("cgroup.controllers");
            let available: BTreeSet<String> =
                match read_opt(&controllers_file, "list available controllers")? {
                    Some(c) => c.split_whitespace().map(str::to_owned).collect(),
                    None if depth > 0 => inherited.clone(),
                    None => BTreeSet::new(),
                };
            for (c, what) in required {
                if !available.contains(c) {
                    return Err(Error::ControllerUnavailable {
                        what: what.clone(),
                        controller: c.clone(),
                        path: controllers_file,
                    });
                }
            }
            let subtree_file = dir.join("cgroup.subtree_control");
            let current: BTreeSet<String> = read_opt(&subtree_file, "list enabled controllers")?
                .map(|c| c.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            let missing: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|c| available.contains(*c) && !current.contains(*c))
                .collect();
            if !missing.is_empty() {
                let all = plus_list(&missing);
                if let Err(e) = write(&subtree_file, &all, "enable cgroup controllers") {
                    // The stats controllers are a nicety; only the required
                    // ones may fail the container (e.g. `cpu` cannot be
                    // enabled while realtime tasks sit in a child cgroup).
                    let needed: Vec<&str> = missing
                        .iter()
                        .copied()
                        .filter(|c| required.iter().any(|(r, _)| r == c))
                        .collect();
                    if needed.len() == missing.len() {
                        return Err(e);
                    }
                    if !needed.is_empty() {
                        write(
                            &subtree_file,
                            &plus_list(&needed),
                            "enable cgroup controllers",
                        )?;
                    }
                }
            }
            let enabled_now: BTreeSet<String> =
                read_opt(&subtree_file, "list enabled controllers")?
                    .map(|c| c.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
            // A fixture's subtree_control holds only the last write
            // ("+cpu +memory"); strip the pluses and merge.
            inherited = enabled_now
                .into_iter()
                .map(|c| c.trim_start_matches('+').to_owned())
                .chain(current)
                .filter(|c| available.contains(c))
                .collect();
        }
        Ok(())
    }

    fn set(&self, res: &LinuxResources) -> Result<()> {
        self.set_memory(res)?;
        self.set_cpu(res)?;
        if let Some(pids) = res.pids() {
            write(
                &self.dir.join("pids.max"),
                &convert::pids_max(pids.limit()),
                "set pids limit",
            )?;
        }
        self.set_io(res)?;
        for h in res.hugepage_limits().iter().flatten() {
            let size = convert::hugepage_size(h.page_size())?;
            let value = mem_v2("hugepage limit", h.limit())?;
            write(
                &self.dir.join(format!("hugetlb.{size}.max")),
                &value,
                "set hugepage limit",
            )?;
            let rsvd = self.dir.join(format!("hugetlb.{size}.rsvd.max"));
            if exists(&rsvd) {
                write(&rsvd, &value, "set hugepage reservation limit")?;
            }
        }
        if let Some(rdma) = res.rdma() {
            let mut devices: Vec<_> = rdma.iter().collect();
            devices.sort_by(|a, b| a.0.cmp(b.0));
            for (device, limit) in devices {
                if let Some(line) = convert::rdma_line(device, limit)? {
                    write(&self.dir.join("rdma.max"), &line, "set rdma limit")?;
                }
            }
        }
        if let Some(rules) = res.devices().as_ref().filter(|r| !r.is_empty()) {
            let policy = DevicePolicy::from_rules(rules)?;
            devices::install_v2(&self.dir, &policy)?;
        }
        // Last, so explicit unified values override the converted ones
        // (runc applies them last too).
        if let Some(unified) = res.unified() {
            let mut keys: Vec<_> = unified.iter().collect();
            keys.sort();
            for (key, value) in keys {
                validate_unified_key(key)?;
                write(&self.dir.join(key), value, &format!("set `{key}`"))?;
            }
        }
        Ok(())
    }

    fn set_memory(&self, res: &LinuxResources) -> Result<()> {
        let Some(m) = res.memory() else {
            return Ok(());
        };
        let limit = m.limit().unwrap_or(0);
        let swap_file = self.dir.join("memory.swap.max");
        let explicit_swap = m.swap().is_some_and(|s| s != 0);
        let swap = convert::swap_v2(limit, m.swap().unwrap_or(0))?;
        // The implicit "unlimited swap too" only applies where the kernel
        // accounts swap; an explicit one must fail loudly if it cannot.
        if swap != 0 && (explicit_swap || exists(&swap_file)) {
            write(
                &swap_file,
                &mem_v2("memory swap limit", swap)?,
                "set swap limit (needs swap accounting)",
            )?;
        }
        if limit != 0 {
            write(
                &self.dir.join("memory.max"),
                &mem_v2("memory limit", limit)?,
                "set memory limit",
            )?;
        }
        if let Some(r) = m.reservation().filter(|r| *r != 0) {
            // v2's memory.low is the closest thing to v1's soft limit: both
            // protect the group under memory pressure (runc maps it so).
            write(
                &self.dir.join("memory.low"),
                &mem_v2("memory reservation", r)?,
                "set memory reservation",
            )?;
        }
        // swappiness, disableOOMKiller, kernel and kernelTCP have no v2
        // files; runc and crun ignore them on v2 and so does berth.
        Ok(())
    }

    fn set_cpu(&self, res: &LinuxResources) -> Result<()> {
        let Some(c) = res.cpu() else {
            return Ok(());
        };
        if c.realtime_period().is_some_and(|p| p != 0)
            || c.realtime_runtime().is_some_and(|r| r != 0)
        {
            return Err(invalid(
                "cpu realtime limit",
                "cgroup v2 has no realtime bandwidth control (`cpu.rt_*`); unset `realtimePeriod` and `realtimeRuntime`",
            ));
        }
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            write(
                &self.dir.join("cpu.weight"),
                &convert::shares_to_weight(shares).to_string(),
                "set cpu weight",
            )?;
        }
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            // "$MAX $PERIOD": a missing period keeps the current one.
            let mut value = if quota > 0 {
                quota.to_string()
            } else {
                "max".to_owned()
            };
            if period != 0 {
                value.push_str(&format!(" {period}"));
            }
            write(&self.dir.join("cpu.max"), &value, "set cpu quota")?;
        }
        if let Some(burst) = c.burst() {
            write(
                &self.dir.join("cpu.max.burst"),
                &burst.to_string(),
                "set cpu burst",
            )?;
        }
        if let Some(idle) = c.idle() {
            write(
                &self.dir.join("cpu.idle"),
                &idle.to_string(),
                "set cpu idle",
            )?;
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(&self.dir.join("cpuset.cpus"), cpus, "set cpuset cpus")?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(&self.dir.join("cpuset.mems"), mems, "set cpuset mems")?;
        }
        Ok(())
    }

    fn set_io(&self, res: &LinuxResources) -> Result<()> {
        let Some(b) = res.block_io() else {
            return Ok(());
        };
        // BFQ's io.bfq.weight takes v1 blkio values unchanged; io.weight
        // (the io.cost model) has a different range (runc fs2/io.go).
        let bfq = self.dir.join("io.bfq.weight");
        let use_bfq = exists(&bfq);
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            if use_bfq {
                write(&bfq, &w.to_string(), "set block I/O weight")?;
            } else {
                write(
                    &self.dir.join("io.weight"),
                    &format!("default {}", convert::blkio_weight_to_io_weight(w)),
                    "set block I/O weight",
                )?;
            }
        }
        // leafWeight has no v2 counterpart (CFQ only); ignored as by runc.
        for wd in b.weight_device().iter().flatten() {
            let Some(w) = wd.weight() else {
                continue;
            };
            let d = convert::dev("block I/O weight device", wd.major(), wd.minor())?;
            if use_bfq {
                write(&bfq, &format!("{d} {w}"), "set block I/O device weight")?;
            } else {
                write(
                    &self.dir.join("io.weight"),
                    &format!("{d} {}", convert::blkio_weight_to_io_weight(w)),
                    "set block I/O device weight",
                )?;
            }
        }
        let io_max = self.dir.join("io.max");
        for (list, key, what) in [
            (b.throttle_read_bps_device(), "rbps", "set read bps limit"),
            (b.throttle_write_bps_device(), "wbps", "set write bps limit"),
            (
                b.throttle_read_iops_device(),
                "riops",
                "set read iops limit",
            ),
            (
                b.throttle_write_iops_device(),
                "wiops",
                "set write iops limit",
            ),
        ] {
            for t in list.iter().flatten() {
                let d = convert::dev(what, t.major(), t.minor())?;
                // 0 removes a v1 throttle; in io.max that is "max".
                let rate = if t.rate() == 0 {
                    "max".to_owned()
                } else {
                    t.rate().to_string()
                };
                write(&io_max, &format!("{d} {key}={rate}"), what)?;
            }
        }
        Ok(())
    }

    fn events(&self) -> Result<Option<String>> {
        read_opt(&self.dir.join("cgroup.events"), "read cgroup events")
    }
}

fn plus_list(controllers: &[&str]) -> String {
    controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that a `linux.resources.unified` key names a file in the
/// container's directory (no `/`, no `..`, not hidden) and returns its
/// controller prefix (`memory` for `memory.high`).
fn validate_unified_key(key: &str) -> Result<Option<&str>> {
    if key.is_empty() || key.contains('/') || key.starts_with('.') || key.contains('\0') {
        return Err(invalid(
            "`linux.resources.unified` key",
            format!("`{key}` is not a cgroup file name"),
        ));
    }
    Ok(key.split_once('.').map(|(c, _)| c))
}

fn frozen(events: &str) -> bool {
    fsutil::parse_flat_keyed(events)
        .iter()
        .any(|(k, v)| *k == "frozen" && *v == 1)
}

impl crate::Manager for V2Manager {
    fn apply(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let required = match resources {
            Some(res) => Self::required(res)?,
            None => Vec::new(),
        };
        let created = fsutil::mkdir_all(&self.dir)?;
        let result = self
            .enable_controllers(&required)
            .and_then(|()| resources.map_or(Ok(()), |res| self.set(res)));
        if let Err(e) = result {
            // Remove the container's directory if this call made it; the
            // original error is the one worth reporting. Parents such as
            // `/berth` stay: another container may be using them by now.
            if created.last().is_some_and(|d| *d == self.dir) {
                let _ = fsutil::remove_tree(&self.dir);
            }
            return Err(e);
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        write(
            &self.dir.join("cgroup.procs"),
            &pid.to_string(),
            &format!("add process {pid} to the cgroup"),
        )
    }

    fn update(&self, resources: &LinuxResources) -> Result<()> {
        let required = Self::required(resources)?;
        self.enable_controllers(&required)?;
        self.set(resources)
    }

    fn freeze(&self) -> Result<()> {
        let freeze = self.dir.join("cgroup.freeze");
        write(
            &freeze,
            "1",
            "freeze the container (cgroup.freeze needs Linux 5.2)",
        )?;
        // Writing cgroup.freeze starts freezing; "frozen 1" in
        // cgroup.events says it is done (cgroup-v2.rst, "Core Interface
        // Files").
        let start = Instant::now();
        let mut delay = Duration::from_millis(1);
        loop {
            let events = self.events()?.unwrap_or_default();
            if frozen(&events) {
                return Ok(());
            }
            if start.elapsed() >= FREEZE_TIMEOUT {
                let _ = fsutil::write_raw(&freeze, "0");
                return Err(Error::FreezeTimeout {
                    path: self.dir.join("cgroup.events"),
                    state: events.trim().replace('\n', ", "),
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    fn thaw(&self) -> Result<()> {
        write(&self.dir.join("cgroup.freeze"), "0", "thaw the container")
    }

    fn is_frozen(&self) -> Result<bool> {
        Ok(self.events()?.is_some_and(|e| frozen(&e)))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        fsutil::procs_recursive(&self.dir, &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            memory: stats::memory_v2(&self.dir)?,
            cpu: stats::cpu_v2(&self.dir)?,
            pids: stats::pids(&self.dir)?,
            blkio: stats::blkio_v2(&self.dir)?,
        })
    }

    fn oom_kills(&self) -> Result<u64> {
        stats::oom_kills(&self.dir, "memory.events")
    }

    fn remove(&self) -> Result<()> {
        fsutil::remove_tree(&self.dir)
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }
}

#[cfg(test)]
#[path = "v2_tests.rs"]
mod tests;
