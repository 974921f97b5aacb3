//! `berth-cgroups` owns everything berth does with Linux control groups:
//! finding the hierarchies ([`detect`]), turning an OCI `linux.cgroupsPath`
//! into directories, writing `linux.resources` limits, moving processes in,
//! freezing, reading usage for `berth stats`, and removing the directories.
//!
//! One [`Manager`] trait covers cgroup v1, the v1 "hybrid" layout (v1
//! controllers plus a cgroup2 mount with no controllers that matter, as on
//! the machines berth is developed on) and cgroup v2. Pick one with
//! [`manager`]:
//!
//! ```no_run
//! # fn main() -> berth_cgroups::Result<()> {
//! let layout = berth_cgroups::detect()?;
//! let cg = berth_cgroups::manager(&layout, Some("/berth/abc"), "abc")?;
//! cg.apply(None)?; // create the directories (and write limits, if any)
//! cg.add_task(1234)?;
//! let stats = cg.stats()?;
//! cg.remove()?;
//! # let _ = stats; Ok(()) }
//! ```
//!
//! A manager holds no open files and no kernel state: it is a pure function
//! of (layout, cgroups path, container id), so `berth-runtime kill`,
//! `delete` or `ps`, run as separate processes, rebuild the same manager and
//! reach the same directories. (A *relative* cgroups path also depends on
//! the caller's own cgroup, exactly as in runc; callers that need it stable
//! should pass an absolute path.)
//!
//! The hierarchy roots are parameters of [`CgroupLayout`], so unit tests
//! run on tempdirs. Files that do not exist in such a fixture are created on
//! write; on cgroupfs a missing file is an error. The one thing a fixture
//! cannot do is hold the v2 device eBPF program: v2 device rules need a
//! real cgroup2 directory.

mod convert;
mod devices;
mod error;
#[cfg(test)]
mod fixture;
mod fsutil;
mod layout;
mod path;
mod stats;
mod v1;
mod v2;

use oci_spec::runtime::LinuxResources;

pub use devices::{ACC_MKNOD, ACC_READ, ACC_WRITE, DeviceException, DeviceKind, DevicePolicy};
pub use error::{Error, Result};
pub use layout::{CgroupLayout, detect, detect_from};
pub use stats::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats, Stats};
pub use v1::V1Manager;
pub use v2::V2Manager;

/// A container's cgroup, in every hierarchy the layout has.
///
/// Lifecycle: [`apply`](Manager::apply) (create + limits) →
/// [`add_task`](Manager::add_task) for the container's init → any number of
/// [`update`](Manager::update), [`freeze`](Manager::freeze) /
/// [`thaw`](Manager::thaw), [`stats`](Manager::stats),
/// [`pids`](Manager::pids) → [`remove`](Manager::remove) once every process
/// has exited.
pub trait Manager: Send + Sync + std::fmt::Debug {
    /// Creates the cgroup directories (and missing parents) and writes the
    /// limits in `resources`. On v1 the new `cpuset` directories get their
    /// parent's `cpuset.cpus`/`cpuset.mems` first, without which adding a
    /// task fails with `ENOSPC`; on v2 the needed controllers are enabled
    /// in every ancestor's `cgroup.subtree_control`.
    ///
    /// Idempotent. If writing a limit fails, a cgroup directory created by
    /// this call is removed again before the error is returned.
    fn apply(&self, resources: Option<&LinuxResources>) -> Result<()>;

    /// Moves process `pid` (all its threads) into the cgroup, in every
    /// hierarchy (`cgroup.procs`).
    fn add_task(&self, pid: i32) -> Result<()>;

    /// Writes new limits to an existing cgroup (`runc update`). Fields that
    /// are unset are left as they are.
    fn update(&self, resources: &LinuxResources) -> Result<()>;

    /// Freezes every process in the cgroup and waits until the kernel
    /// reports the cgroup frozen.
    fn freeze(&self) -> Result<()>;

    /// Thaws the cgroup.
    fn thaw(&self) -> Result<()>;

    /// Whether the cgroup is (completely) frozen.
    fn is_frozen(&self) -> Result<bool>;

    /// The pids of every process in the cgroup and in cgroups below it.
    fn pids(&self) -> Result<Vec<i32>>;

    /// Current resource usage.
    fn stats(&self) -> Result<Stats>;

    /// How many processes of the cgroup the kernel's OOM killer has killed
    /// since it was created (v1 `memory.oom_control` `oom_kill`, Linux
    /// 4.13+; v2 `memory.events` `oom_kill`). 0 without a memory
    /// controller. Read it before [`remove`](Manager::remove): docker's
    /// `State.OOMKilled` comes from it.
    fn oom_kills(&self) -> Result<u64>;

    /// Removes the container's cgroup directories (and any cgroups the
    /// container created below them), retrying briefly while the kernel
    /// still reports them busy. Directories that do not exist are fine.
    /// Parents such as `/berth` are left alone: other containers use them.
    fn remove(&self) -> Result<()>;

    /// The cgroup directories, one per hierarchy (co-mounted controllers
    /// share one), for logs and for joining from `exec`.
    fn paths(&self) -> Vec<std::path::PathBuf>;
}

/// Builds the manager for a container.
///
/// `cgroups_path` is the OCI `linux.cgroupsPath`: an absolute path is
/// relative to each hierarchy's root, a relative one to the caller's own
/// cgroup (read from `/proc/self/cgroup`), and `None` means
/// `/berth/<container_id>`. The systemd form `slice:prefix:name` is an
/// error ([`Error::SystemdPath`]).
pub fn manager(
    layout: &CgroupLayout,
    cgroups_path: Option<&str>,
    container_id: &str,
) -> Result<Box<dyn Manager>> {
    let parsed = path::parse(cgroups_path, container_id)?;
    let own = match parsed {
        path::CgroupPath::FromOwn(_) => Some(path::OwnCgroups::read_self()?),
        path::CgroupPath::FromRoot(_) => None,
    };
    build(layout, &parsed, own.as_ref())
}

/// [`manager`] with the content of `/proc/self/cgroup` given by the caller
/// (used for relative paths only): for tests, or to resolve against another
/// process's cgroup (`/proc/<pid>/cgroup`).
pub fn manager_with_own_cgroup(
    layout: &CgroupLayout,
    cgroups_path: Option<&str>,
    container_id: &str,
    proc_cgroup: &str,
) -> Result<Box<dyn Manager>> {
    let parsed = path::parse(cgroups_path, container_id)?;
    let own = path::OwnCgroups::parse(proc_cgroup);
    build(layout, &parsed, Some(&own))
}

fn build(
    layout: &CgroupLayout,
    parsed: &path::CgroupPath,
    own: Option<&path::OwnCgroups>,
) -> Result<Box<dyn Manager>> {
    match layout {
        CgroupLayout::V1 { mounts, unified } => Ok(Box::new(V1Manager::new(
            mounts,
            unified.as_deref(),
            parsed,
            own,
        )?)),
        CgroupLayout::V2 { root } => Ok(Box::new(V2Manager::new(root, parsed, own)?)),
    }
}
