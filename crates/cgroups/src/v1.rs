//! The cgroup v1 manager (also used for the hybrid layout).
//!
//! Each controller has its own hierarchy (or shares one with co-mounted
//! controllers), so the container gets one directory per hierarchy, and a
//! process must be written to `cgroup.procs` in each. File names and write
//! orders follow runc's `libcontainer/cgroups/fs` and the kernel's
//! Documentation/admin-guide/cgroup-v1/*.
//!
//! In the hybrid layout the cgroup2 mount (`/sys/fs/cgroup/unified`) carries
//! no controller berth uses, but systemd and tools such as `systemd-cgls`
//! track processes there; like runc, berth also creates the container's
//! directory there and moves the process in. That part is best effort: it
//! never fails a container.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::convert::{self, invalid, mem_v1};
use crate::devices::DevicePolicy;
use crate::error::{Error, Result};
use crate::fsutil::{self, exists, read_opt, write};
use crate::path::{CgroupPath, OwnCgroups};
use crate::stats::{self, Stats};

/// How long [`V1Manager::freeze`] waits for `FREEZING` to become `FROZEN`.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// A container's cgroup on a v1 (or hybrid) host.
#[derive(Debug, Clone)]
pub struct V1Manager {
    /// Controller (or `name=...`) to hierarchy root.
    roots: BTreeMap<String, PathBuf>,
    /// Controller (or `name=...`) to the container's directory.
    dirs: BTreeMap<String, PathBuf>,
    /// The container's directory in the hybrid cgroup2 mount.
    unified: Option<PathBuf>,
}

impl V1Manager {
    pub(crate) fn new(
        mounts: &HashMap<String, PathBuf>,
        unified: Option<&Path>,
        path: &CgroupPath,
        own: Option<&OwnCgroups>,
    ) -> Result<Self> {
        let mut roots = BTreeMap::new();
        let mut dirs = BTreeMap::new();
        for (controller, root) in mounts {
            let rel = path.for_v1(controller, own)?;
            dirs.insert(controller.clone(), root.join(rel));
            roots.insert(controller.clone(), root.clone());
        }
        // The process's place in the unified hierarchy: best effort, so a
        // missing `0::` line just means "do not join".
        let unified = unified.and_then(|root| path.for_v2(own).ok().map(|rel| root.join(rel)));
        Ok(Self {
            roots,
            dirs,
            unified,
        })
    }

    /// The container's directory for `controller`, if that controller is
    /// mounted.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    fn require(&self, controller: &str, what: &str) -> Result<&Path> {
        self.dir(controller)
            .ok_or_else(|| Error::ControllerUnavailable {
                what: what.to_owned(),
                controller: controller.to_owned(),
                path: self.mount_parent(),
            })
    }

    /// Where the hierarchies are mounted (for error messages).
    fn mount_parent(&self) -> PathBuf {
        self.roots
            .values()
            .next()
            .and_then(|r| r.parent())
            .map_or_else(|| PathBuf::from("/sys/fs/cgroup"), Path::to_path_buf)
    }

    /// One directory per hierarchy (co-mounted controllers share one).
    fn hierarchy_dirs(&self) -> Vec<&Path> {
        let set: BTreeSet<&Path> = self.dirs.values().map(PathBuf::as_path).collect();
        set.into_iter().collect()
    }

    /// Creates the directory in every hierarchy; returns those this call
    /// created (the leaf directories only).
    fn create(&self) -> Result<Vec<PathBuf>> {
        let mut created = Vec::new();
        for dir in self.hierarchy_dirs() {
            let new = fsutil::mkdir_all(dir)?;
            if new.last().is_some_and(|d| d == dir) {
                created.push(dir.to_owned());
            }
        }
        if let (Some(dir), Some(root)) = (self.dir("cpuset"), self.roots.get("cpuset")) {
            ensure_cpuset(root, dir)?;
        }
        if let Some(dir) = &self.unified {
            // Best effort, see the module docs.
            let _ = fsutil::mkdir_all(dir);
        }
        Ok(created)
    }

    /// Refuses resources that cannot be applied here (unified keys, limits
    /// for controllers that are not mounted) without touching anything.
    fn check(&self, res: &LinuxResources) -> Result<()> {
        if let Some(unified) = res.unified().as_ref().filter(|u| !u.is_empty()) {
            let mut keys: Vec<&str> = unified.keys().map(String::as_str).collect();
            keys.sort_unstable();
            return Err(Error::UnifiedOnV1 {
                keys: keys.join(", "),
            });
        }
        for (controller, what) in convert::needed_controllers(res) {
            self.require(controller, what)?;
        }
        Ok(())
    }

    fn set(&self, res: &LinuxResources) -> Result<()> {
        self.check(res)?;
        self.set_memory(res)?;
        self.set_cpu(res)?;
        self.set_cpuset(res)?;
        if let Some(pids) = res.pids() {
            let dir = self.require("pids", "set pids limit")?;
            write(
                &dir.join("pids.max"),
                &convert::pids_max(pids.limit()),
                "set pids limit",
            )?;
        }
        self.set_blkio(res)?;
        self.set_hugetlb(res)?;
        self.set_network(res)?;
        self.set_rdma(res)?;
        self.set_devices(res)?;
        Ok(())
    }

    fn set_memory(&self, res: &LinuxResources) -> Result<()> {
        let Some(m) = res.memory() else {
            return Ok(());
        };
        // 0 means "not set", as in runc.
        let limit = m.limit().unwrap_or(0);
        let mut swap = m.swap().unwrap_or(0);
        let reservation = m.reservation().unwrap_or(0);
        if limit == 0
            && swap == 0
            && reservation == 0
            && m.swappiness().is_none()
            && m.disable_oom_killer() != Some(true)
        {
            return Ok(());
        }
        let dir = self.require("memory", "set memory limits")?;
        let limit_file = dir.join("memory.limit_in_bytes");
        let swap_file = dir.join("memory.memsw.limit_in_bytes");
        if limit < -1 {
            return Err(invalid("memory limit", format!("{limit} is negative")));
        }
        if swap != 0 && swap != -1 {
            if swap < 0 {
                return Err(invalid("memory swap limit", format!("{swap} is negative")));
            }
            if limit > 0 && swap < limit {
                return Err(invalid(
                    "memory swap limit",
                    format!("memory+swap ({swap}) must not be below the memory limit ({limit})"),
                ));
            }
        }
        // Unlimited memory with swap not given: make swap unlimited too,
        // if the kernel accounts swap at all (runc setMemoryAndSwap).
        if limit == -1 && swap == 0 && exists(&swap_file) {
            swap = -1;
        }
        let write_limit = |v: i64| -> Result<()> {
            if v == 0 {
                return Ok(());
            }
            write(&limit_file, &mem_v1("memory limit", v)?, "set memory limit")
        };
        let write_swap = |v: i64| -> Result<()> {
            if v == 0 {
                return Ok(());
            }
            write(
                &swap_file,
                &mem_v1("memory swap limit", v)?,
                "set memory+swap limit (needs swap accounting: `swapaccount=1`)",
            )
        };
        // memsw must stay >= the memory limit at every step, so raise memsw
        // first when the new memsw is above the current limit, and lower the
        // limit first otherwise (runc setMemoryAndSwap).
        if limit != 0 && swap != 0 {
            // The kernel reports "unlimited" as a huge number; "-1" (what
            // was written) is accepted too, for fixtures.
            let current = match read_opt(&limit_file, "read the memory limit")? {
                Some(s) if s.trim() == "-1" => u64::MAX,
                Some(s) => fsutil::parse_u64_or_max(&limit_file, &s, "read the memory limit")?
                    .unwrap_or(u64::MAX),
                None => u64::MAX,
            };
            if swap_first(current, swap) {
                write_swap(swap)?;
                write_limit(limit)?;
            } else {
                write_limit(limit)?;
                write_swap(swap)?;
            }
        } else {
            write_limit(limit)?;
            write_swap(swap)?;
        }
        if reservation != 0 {
            write(
                &dir.join("memory.soft_limit_in_bytes"),
                &mem_v1("memory reservation", reservation)?,
                "set memory reservation",
            )?;
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(invalid(
                    "memory swappiness",
                    format!("{s} is above the maximum of 100"),
                ));
            }
            write(
                &dir.join("memory.swappiness"),
                &s.to_string(),
                "set memory swappiness",
            )?;
        }
        if m.disable_oom_killer() == Some(true) {
            write(
                &dir.join("memory.oom_control"),
                "1",
                "disable the OOM killer",
            )?;
        }
        // `kernel` and `kernelTCP` are ignored: kernel memory limits are
        // deprecated (Linux 5.4) and gone (6.1); runc ignores them too.
        Ok(())
    }

    fn set_cpu(&self, res: &LinuxResources) -> Result<()> {
        let Some(c) = res.cpu() else {
            return Ok(());
        };
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            let dir = self.require("cpu", "set cpu shares")?;
            write(
                &dir.join("cpu.shares"),
                &shares.to_string(),
                "set cpu shares",
            )?;
        }
        let period = c.period().filter(|p| *p != 0);
        let quota = c.quota().filter(|q| *q != 0);
        if period.is_some() || quota.is_some() {
            let dir = self.require("cpu", "set cpu quota")?;
            let period_file = dir.join("cpu.cfs_period_us");
            let mut retry_period = false;
            if let Some(p) = period
                && let Err(e) = write(&period_file, &p.to_string(), "set cpu period")
            {
                // A smaller period can be refused (EINVAL) while the old
                // quota/new period ratio exceeds the parent's; runc then
                // sets the quota first and retries.
                match &e {
                    Error::Write { err, .. }
                        if quota.is_some() && err.raw_os_error() == Some(libc::EINVAL) =>
                    {
                        retry_period = true;
                    }
                    _ => return Err(e),
                }
            }
            if let Some(q) = quota {
                write(
                    &dir.join("cpu.cfs_quota_us"),
                    &q.to_string(),
                    "set cpu quota",
                )?;
            }
            if let (true, Some(p)) = (retry_period, period) {
                write(&period_file, &p.to_string(), "set cpu period")?;
            }
        }
        if let Some(burst) = c.burst() {
            let dir = self.require("cpu", "set cpu burst")?;
            write(
                &dir.join("cpu.cfs_burst_us"),
                &burst.to_string(),
                "set cpu burst",
            )?;
        }
        if let Some(idle) = c.idle() {
            let dir = self.require("cpu", "set cpu idle")?;
            write(&dir.join("cpu.idle"), &idle.to_string(), "set cpu idle")?;
        }
        // Realtime budget: period before runtime, as runc does, so the
        // runtime is checked against the new period.
        if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
            let dir = self.require("cpu", "set realtime period")?;
            write(
                &dir.join("cpu.rt_period_us"),
                &p.to_string(),
                "set realtime period",
            )?;
        }
        if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
            let dir = self.require("cpu", "set realtime runtime")?;
            write(
                &dir.join("cpu.rt_runtime_us"),
                &r.to_string(),
                "set realtime runtime",
            )?;
        }
        Ok(())
    }

    fn set_cpuset(&self, res: &LinuxResources) -> Result<()> {
        let Some(c) = res.cpu() else {
            return Ok(());
        };
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            let dir = self.require("cpuset", "set cpuset cpus")?;
            write(&dir.join("cpuset.cpus"), cpus, "set cpuset cpus")?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            let dir = self.require("cpuset", "set cpuset mems")?;
            write(&dir.join("cpuset.mems"), mems, "set cpuset mems")?;
        }
        Ok(())
    }

    fn set_blkio(&self, res: &LinuxResources) -> Result<()> {
        let Some(b) = res.block_io() else {
            return Ok(());
        };
        let Some(dir) = self.dir("blkio") else {
            // needed_controllers() already failed if anything was set.
            return Ok(());
        };
        // CFQ's blkio.weight is gone since Linux 5.0; BFQ exposes
        // blkio.bfq.weight with the same range and syntax (runc does this
        // fallback too).
        let weight_file =
            if !exists(&dir.join("blkio.weight")) && exists(&dir.join("blkio.bfq.weight")) {
                dir.join("blkio.bfq.weight")
            } else {
                dir.join("blkio.weight")
            };
        let weight_device_file = if weight_file.ends_with("blkio.bfq.weight") {
            dir.join("blkio.bfq.weight_device")
        } else {
            dir.join("blkio.weight_device")
        };
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            write(&weight_file, &w.to_string(), "set block I/O weight")?;
        }
        if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
            write(
                &dir.join("blkio.leaf_weight"),
                &w.to_string(),
                "set block I/O leaf weight (CFQ only, removed in Linux 5.0)",
            )?;
        }
        for wd in b.weight_device().iter().flatten() {
            let d = convert::dev("block I/O weight device", wd.major(), wd.minor())?;
            if let Some(w) = wd.weight() {
                write(
                    &weight_device_file,
                    &format!("{d} {w}"),
                    "set block I/O device weight",
                )?;
            }
            if let Some(w) = wd.leaf_weight() {
                write(
                    &dir.join("blkio.leaf_weight_device"),
                    &format!("{d} {w}"),
                    "set block I/O device leaf weight",
                )?;
            }
        }
        for (list, file, what) in [
            (
                b.throttle_read_bps_device(),
                "blkio.throttle.read_bps_device",
                "set read bps limit",
            ),
            (
                b.throttle_write_bps_device(),
                "blkio.throttle.write_bps_device",
                "set write bps limit",
            ),
            (
                b.throttle_read_iops_device(),
                "blkio.throttle.read_iops_device",
                "set read iops limit",
            ),
            (
                b.throttle_write_iops_device(),
                "blkio.throttle.write_iops_device",
                "set write iops limit",
            ),
        ] {
            for t in list.iter().flatten() {
                let d = convert::dev(what, t.major(), t.minor())?;
                write(&dir.join(file), &format!("{d} {}", t.rate()), what)?;
            }
        }
        Ok(())
    }

    fn set_hugetlb(&self, res: &LinuxResources) -> Result<()> {
        for h in res.hugepage_limits().iter().flatten() {
            let dir = self.require("hugetlb", "set hugepage limits")?;
            let size = convert::hugepage_size(h.page_size())?;
            let value = mem_v1("hugepage limit", h.limit())?;
            write(
                &dir.join(format!("hugetlb.{size}.limit_in_bytes")),
                &value,
                "set hugepage limit",
            )?;
            // Reservation accounting (Linux 5.7+) gets the same limit, as
            // runc does, so a reserve-then-fault pattern is limited too.
            let rsvd = dir.join(format!("hugetlb.{size}.rsvd.limit_in_bytes"));
            if exists(&rsvd) {
                write(&rsvd, &value, "set hugepage reservation limit")?;
            }
        }
        Ok(())
    }

    fn set_network(&self, res: &LinuxResources) -> Result<()> {
        let Some(n) = res.network() else {
            return Ok(());
        };
        if let Some(id) = n.class_id() {
            let dir = self.require("net_cls", "set network class id")?;
            write(
                &dir.join("net_cls.classid"),
                &id.to_string(),
                "set network class id",
            )?;
        }
        for p in n.priorities().iter().flatten() {
            let dir = self.require("net_prio", "set network priorities")?;
            write(
                &dir.join("net_prio.ifpriomap"),
                &format!("{} {}", p.name(), p.priority()),
                "set network priority",
            )?;
        }
        Ok(())
    }

    fn set_rdma(&self, res: &LinuxResources) -> Result<()> {
        let Some(rdma) = res.rdma() else {
            return Ok(());
        };
        let mut devices: Vec<_> = rdma.iter().collect();
        devices.sort_by(|a, b| a.0.cmp(b.0));
        for (device, limit) in devices {
            if let Some(line) = convert::rdma_line(device, limit)? {
                let dir = self.require("rdma", "set rdma limits")?;
                write(&dir.join("rdma.max"), &line, "set rdma limit")?;
            }
        }
        Ok(())
    }

    fn set_devices(&self, res: &LinuxResources) -> Result<()> {
        let Some(rules) = res.devices().as_ref().filter(|r| !r.is_empty()) else {
            return Ok(());
        };
        let policy = DevicePolicy::from_rules(rules)?;
        let dir = self.require("devices", "set device access rules")?;
        // On `update` of a running container the wildcard write resets the
        // rules before the exceptions are re-added, so for a moment the
        // container has only the default. runc avoids that by diffing
        // against `devices.list`; berth does not yet.
        let current = read_opt(&dir.join("devices.list"), "read device access rules")?;
        for (i, (file, value)) in policy.v1_writes().into_iter().enumerate() {
            // Writing `a` to devices.allow needs the parent to allow all;
            // skip it when this cgroup already does (fresh cgroups under an
            // unrestricted parent), so nested setups do not get EPERM.
            if i == 0
                && file == "devices.allow"
                && current.as_deref().map(str::trim) == Some("a *:* rwm")
            {
                continue;
            }
            write(&dir.join(file), &value, "set device access rules")?;
        }
        Ok(())
    }

    fn freezer_state(&self) -> Result<Option<(PathBuf, String)>> {
        let Some(dir) = self.dir("freezer") else {
            return Ok(None);
        };
        let path = dir.join("freezer.state");
        let state = read_opt(&path, "read the freezer state")?;
        Ok(state.map(|s| (path, s.trim().to_owned())))
    }
}

/// Whether memsw must be written before the memory limit: when the new
/// memsw is unlimited or above the current memory limit (otherwise lowering
/// the limit first keeps `memsw >= limit` at every step).
fn swap_first(current_limit: u64, swap: i64) -> bool {
    swap == -1 || u64::try_from(swap).is_ok_and(|s| current_limit < s)
}

/// Gives every directory from `root` down to `leaf` the `cpuset.cpus` and
/// `cpuset.mems` of its parent when its own are empty.
///
/// A new v1 cpuset cgroup starts with both empty, and the kernel refuses
/// tasks in such a cgroup (ENOSPC) unless `cgroup.clone_children` was set on
/// the parent; runc fills them from the parent instead
/// (`cpusetEnsureParent`), and so does berth, so the result does not depend
/// on a flag another program may have changed.
fn ensure_cpuset(root: &Path, leaf: &Path) -> Result<()> {
    let Ok(rel) = leaf.strip_prefix(root) else {
        return Ok(());
    };
    let mut parent = root.to_path_buf();
    for comp in rel.components() {
        let dir = parent.join(comp);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = read_opt(&dir.join(file), "read cpuset")?.unwrap_or_default();
            if !own.trim().is_empty() {
                continue;
            }
            let from_parent =
                read_opt(&parent.join(file), "read the parent's cpuset")?.unwrap_or_default();
            let value = from_parent.trim();
            if !value.is_empty() {
                write(&dir.join(file), value, "copy the parent's cpuset")?;
            }
        }
        parent = dir;
    }
    Ok(())
}

impl crate::Manager for V1Manager {
    fn apply(&self, resources: Option<&LinuxResources>) -> Result<()> {
        if let Some(res) = resources {
            // Refuse what cannot work before creating anything.
            self.check(res)?;
        }
        let created = self.create()?;
        if let Some(res) = resources
            && let Err(e) = self.set(res)
        {
            for dir in &created {
                // The original error is the one worth reporting.
                let _ = fsutil::remove_tree(dir);
            }
            return Err(e);
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        let what = format!("add process {pid} to the cgroup");
        for dir in self.hierarchy_dirs() {
            write(&dir.join("cgroup.procs"), &pid.to_string(), &what)?;
        }
        if let Some(dir) = &self.unified {
            // Best effort, see the module docs.
            let _ = fsutil::write_raw(&dir.join("cgroup.procs"), &pid.to_string());
        }
        Ok(())
    }

    fn update(&self, resources: &LinuxResources) -> Result<()> {
        self.set(resources)
    }

    fn freeze(&self) -> Result<()> {
        let dir = self.require("freezer", "freeze the container")?;
        let path = dir.join("freezer.state");
        let start = Instant::now();
        let mut last_write = start;
        write(&path, "FROZEN", "freeze the container")?;
        let mut delay = Duration::from_millis(1);
        loop {
            let state = read_opt(&path, "read the freezer state")?.unwrap_or_default();
            let state = state.trim();
            if state == "FROZEN" {
                return Ok(());
            }
            if start.elapsed() >= FREEZE_TIMEOUT {
                // Do not leave the container half frozen.
                let _ = fsutil::write_raw(&path, "THAWED");
                return Err(Error::FreezeTimeout {
                    path,
                    state: state.to_owned(),
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            // A task that forks while the group freezes can keep it in
            // FREEZING; writing FROZEN again makes the kernel retry.
            if last_write.elapsed() >= Duration::from_millis(100) {
                write(&path, "FROZEN", "freeze the container")?;
                last_write = Instant::now();
            }
            sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    fn thaw(&self) -> Result<()> {
        let dir = self.require("freezer", "thaw the container")?;
        write(&dir.join("freezer.state"), "THAWED", "thaw the container")
    }

    fn is_frozen(&self) -> Result<bool> {
        Ok(self
            .freezer_state()?
            .is_some_and(|(_, state)| state == "FROZEN"))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        // Every hierarchy holds the same processes; prefer the ones a
        // container cannot easily leave.
        let dir = [
            "pids", "freezer", "memory", "cpu", "devices", "cpuacct", "cpuset", "blkio",
        ]
        .iter()
        .find_map(|c| self.dir(c))
        .or_else(|| self.hierarchy_dirs().into_iter().next());
        let mut pids = Vec::new();
        if let Some(dir) = dir {
            fsutil::procs_recursive(dir, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(dir) = self.dir("memory") {
            s.memory = stats::memory_v1(dir)?;
        }
        s.cpu = stats::cpu_v1(self.dir("cpuacct"), self.dir("cpu"))?;
        if let Some(dir) = self.dir("pids") {
            s.pids = stats::pids(dir)?;
        }
        if let Some(dir) = self.dir("blkio") {
            s.blkio = stats::blkio_v1(dir)?;
        }
        Ok(s)
    }

    fn oom_kills(&self) -> Result<u64> {
        match self.dir("memory") {
            Some(dir) => stats::oom_kills(dir, "memory.oom_control"),
            None => Ok(0),
        }
    }

    fn remove(&self) -> Result<()> {
        let mut first_err = None;
        for dir in self.hierarchy_dirs() {
            if let Err(e) = fsutil::remove_tree(dir) {
                first_err.get_or_insert(e);
            }
        }
        if let Some(dir) = &self.unified {
            // Best effort, see the module docs.
            let _ = fsutil::remove_tree(dir);
        }
        first_err.map_or(Ok(()), Err)
    }

    fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .hierarchy_dirs()
            .into_iter()
            .map(Path::to_path_buf)
            .collect();
        paths.extend(self.unified.iter().cloned());
        paths
    }
}

#[cfg(test)]
#[path = "v1_tests.rs"]
mod tests;
