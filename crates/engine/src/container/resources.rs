//! Resource limits of a container (docker's `HostConfig` resources:
//! `--memory`, `--memory-swap`, `--cpus`, `--cpu-shares`, `--pids-limit`,
//! `--ulimit`, ...): the stored model, dockerd's checks and defaults
//! (`verifyPlatformContainerResources`, `adaptContainerSettings`), the OCI
//! `linux.resources` and `process.rlimits` they become, and `update`, which
//! changes them on a running container (through its shim) or a stopped one.
//!
//! Go's zero values mean "not set", as in docker: `0`, `""`, `None`.

use std::sync::{Mutex, OnceLock};

use berth_shim_proto::Request;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ContainerError, Containers, Status, lock, resolve, shim};

/// dockerd's `linuxMinMemory`.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period `--cpus` uses (100 ms, as docker).
const NANO_CPU_PERIOD: i64 = 100_000;

/// The limits as stored with the container (`CreateOptions::resources`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// Bytes; 0 = unlimited.
    pub memory: i64,
    /// Memory + swap in bytes; -1 = unlimited swap; 0 = not set.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    /// 0-100; `None`: the host's.
    pub memory_swappiness: Option<i64>,
    /// Obsolete, kept only to show what was asked (always 0 once checked).
    pub kernel_memory: i64,
    pub oom_kill_disable: Option<bool>,
    pub cpu_shares: i64,
    /// CPUs in units of 10^-9.
    pub nano_cpus: i64,
    /// Microseconds.
    pub cpu_period: i64,
    /// Microseconds; -1 = unlimited.
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `None`: not set; 0 or negative: unlimited.
    pub pids_limit: Option<i64>,
    /// 10-1000; 0 = not set.
    pub blkio_weight: u16,
    /// `--blkio-weight-device`: per-device weights.
    pub blkio_weight_device: Vec<WeightDevice>,
    /// `--device-read-bps`: bytes per second.
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    /// `--device-write-bps`: bytes per second.
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    /// `--device-read-iops`: operations per second.
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    /// `--device-write-iops`: operations per second.
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    /// `--cpu-rt-period`, microseconds; 0 = not set.
    pub cpu_realtime_period: i64,
    /// `--cpu-rt-runtime`, microseconds; 0 = not set.
    pub cpu_realtime_runtime: i64,
    pub ulimits: Vec<Ulimit>,
}

/// One `--blkio-weight-device` (`/dev/sda:200`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    pub path: String,
    /// 10-1000; 0 = not set.
    pub weight: u16,
}

/// One `--device-{read,write}-{bps,iops}` (`/dev/sda:1mb`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    pub path: String,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// One `--ulimit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ... (docker's names, without `RLIMIT_`).
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

/// What an update changes (docker's `UpdateConfig`): zero values leave a
/// field as it is; `restart_policy` replaces the policy when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceUpdate {
    pub resources: Resources,
    pub restart_policy: Option<super::restart::RestartPolicy>,
}

/// What the host offers, as dockerd's `sysinfo` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLimits {
    /// CPUs this process may run on (Go's `runtime.NumCPU`).
    pub ncpu: i64,
    /// `cpuset.cpus` / `cpuset.mems` of the root cpuset (`0-1`).
    pub cpus: String,
    pub mems: String,
    /// The kernel accounts swap (v1 `memory.memsw.*`, v2 `memory.swap.max`).
    pub swap_limit: bool,
    /// cgroup v2 (no `memory.oom_control`, no swappiness).
    pub v2: bool,
    /// The hard limits of this process (`RLIMIT_*`), which a container may
    /// not exceed without CAP_SYS_RESOURCE.
    pub rlimit_hard: Vec<(String, u64)>,
    /// berthd may raise hard limits (CAP_SYS_RESOURCE).
    pub cap_sys_resource: bool,
    /// The kernel has a block I/O weight (v1 `blkio.weight` or
    /// `blkio.bfq.weight`: only with the CFQ or BFQ scheduler; v2 `io`).
    pub blkio_weight: bool,
    /// Per-device weights (v1 `blkio.weight_device` or
    /// `blkio.bfq.weight_device`; v2 `io`).
    pub blkio_weight_device: bool,
    /// Per-device bandwidth and IOPS limits (v1 `blkio.throttle.*`; v2 `io`).
    pub blkio_throttle: bool,
    /// The real-time scheduler's group budget (v1 `cpu.rt_runtime_us`; v2
    /// has none).
    pub cpu_realtime: bool,
}

impl HostLimits {
    /// Reads this host's limits once.
    pub fn get() -> &'static HostLimits {
        static HOST: OnceLock<HostLimits> = OnceLock::new();
        HOST.get_or_init(HostLimits::detect)
    }

    fn detect() -> Self {
        let read = |p: &str| {
            fs_err::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let online = read("/sys/devices/system/cpu/online").unwrap_or_else(|| "0".into());
        let (cpus, mems) = if v2 {
            (
                read("/sys/fs/cgroup/cpuset.cpus.effective").unwrap_or(online),
                read("/sys/fs/cgroup/cpuset.mems.effective").unwrap_or_else(|| "0".into()),
            )
        } else {
            (
                read("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap_or(online),
                read("/sys/fs/cgroup/cpuset/cpuset.mems").unwrap_or_else(|| "0".into()),
            )
        };
        let swap_limit = if v2 {
            // The root has no memory.swap.max; a child of it does when
            // swap is accounted, and so does this process's own cgroup.
            read("/proc/self/cgroup")
                .and_then(|c| {
                    c.lines()
                        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
                })
                .is_some_and(|own| {
                    std::path::Path::new("/sys/fs/cgroup")
                        .join(own.trim_start_matches('/'))
                        .join("memory.swap.max")
                        .exists()
                })
        } else {
            std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        };
        let ncpu = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .map(|set| {
                (0..nix::sched::CpuSet::count())
                    .filter(|i| set.is_set(*i).unwrap_or(false))
                    .count()
            })
            .unwrap_or(1);
        let rlimit_hard = RLIMITS
            .iter()
            .filter_map(|(name, _, res)| {
                nix::sys::resource::getrlimit(*res)
                    .ok()
                    .map(|(_, hard)| ((*name).to_owned(), hard))
            })
            .collect();
        // Bit 24 of the effective set (capability(7)).
        let cap_sys_resource = read("/proc/self/status").is_some_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .is_some_and(|caps| caps & (1 << 24) != 0)
        });
        let v1_has = |controller: &str, files: &[&str]| {
            files.iter().any(|f| {
                std::path::Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join(f)
                    .exists()
            })
        };
        let io_v2 = v2
            && read("/sys/fs/cgroup/cgroup.controllers")
                .is_some_and(|c| c.split_whitespace().any(|c| c == "io"));
        let blkio_weight = io_v2 || (!v2 && v1_has("blkio", &["blkio.weight", "blkio.bfq.weight"]));
        let blkio_weight_device =
            io_v2 || (!v2 && v1_has("blkio", &["blkio.weight_device", "blkio.bfq.weight_device"]));
        let blkio_throttle = io_v2 || (!v2 && v1_has("blkio", &["blkio.throttle.read_bps_device"]));
        let cpu_realtime = !v2 && v1_has("cpu", &["cpu.rt_runtime_us"]);
        Self {
            ncpu: i64::try_from(ncpu.max(1)).unwrap_or(1),
            cpus,
            mems,
            swap_limit,
            v2,
            rlimit_hard,
            cap_sys_resource,
            blkio_weight,
            blkio_weight_device,
            blkio_throttle,
            cpu_realtime,
        }
    }
}

/// docker's ulimit names, the OCI names they become, and nix's.
const RLIMITS: &[(&str, &str, nix::sys::resource::Resource)] = {
    use nix::sys::resource::Resource as R;
    &[
        ("core", "RLIMIT_CORE", R::RLIMIT_CORE),
        ("cpu", "RLIMIT_CPU", R::RLIMIT_CPU),
        ("data", "RLIMIT_DATA", R::RLIMIT_DATA),
        ("fsize", "RLIMIT_FSIZE", R::RLIMIT_FSIZE),
        ("locks", "RLIMIT_LOCKS", R::RLIMIT_LOCKS),
        ("memlock", "RLIMIT_MEMLOCK", R::RLIMIT_MEMLOCK),
        ("msgqueue", "RLIMIT_MSGQUEUE", R::RLIMIT_MSGQUEUE),
        ("nice", "RLIMIT_NICE", R::RLIMIT_NICE),
        ("nofile", "RLIMIT_NOFILE", R::RLIMIT_NOFILE),
        ("nproc", "RLIMIT_NPROC", R::RLIMIT_NPROC),
        ("rss", "RLIMIT_RSS", R::RLIMIT_RSS),
        ("rtprio", "RLIMIT_RTPRIO", R::RLIMIT_RTPRIO),
        ("rttime", "RLIMIT_RTTIME", R::RLIMIT_RTTIME),
        ("sigpending", "RLIMIT_SIGPENDING", R::RLIMIT_SIGPENDING),
        ("stack", "RLIMIT_STACK", R::RLIMIT_STACK),
        ("as", "RLIMIT_AS", R::RLIMIT_AS),
    ]
};

fn invalid(message: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument {
        message: message.into(),
    }
}

impl Resources {
    /// dockerd's checks at create (`update` false) or update: the first
    /// error, or the warnings; values the host cannot honour are dropped
    /// (with a warning) and docker's defaults filled in, so what is stored
    /// is what applies.
    pub fn check(
        &mut self,
        host: &HostLimits,
        update: bool,
    ) -> Result<Vec<String>, ContainerError> {
        let mut warnings = Vec::new();
        // fixMemorySwappiness: -1 is the CLI's "not given".
        if self.memory_swappiness == Some(-1) {
            self.memory_swappiness = None;
        }
        if self.memory != 0 && self.memory < MIN_MEMORY {
            return Err(invalid("Minimum memory limit allowed is 6MB"));
        }
        if self.memory > 0 && self.memory_swap != -1 && !host.swap_limit {
            warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".to_owned());
            self.memory_swap = -1;
        }
        if self.memory > 0 && self.memory_swap > 0 && self.memory_swap < self.memory {
            return Err(invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
        if self.memory == 0 && self.memory_swap > 0 && !update {
            return Err(invalid(
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ));
        }
        if self.memory_swap < -1 {
            return Err(invalid(format!(
                "Invalid value {} for memory swap: use -1 for unlimited swap or a size of at least the memory limit",
                self.memory_swap
            )));
        }
        if self.memory_swappiness.is_some() && host.v2 {
            warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".to_owned());
            self.memory_swappiness = None;
        }
        if let Some(s) = self.memory_swappiness
            && !(0..=100).contains(&s)
        {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
        if self.memory_reservation != 0 && self.memory_reservation < MIN_MEMORY {
            return Err(invalid("Minimum memory reservation allowed is 6MB"));
        }
        if self.memory > 0 && self.memory_reservation > 0 && self.memory < self.memory_reservation {
            return Err(invalid(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ));
        }
        if self.kernel_memory != 0 {
            // Kernel memory limits are deprecated since Linux 5.4 and gone
            // since 6.1; dockerd discards them the same way.
            warnings.push("Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. Limitation discarded.".to_owned());
            self.kernel_memory = 0;
        }
        if self.oom_kill_disable == Some(true) && host.v2 {
            warnings.push(
                "Your kernel does not support OomKillDisable. OomKillDisable discarded.".to_owned(),
            );
            self.oom_kill_disable = None;
        }
        if self.oom_kill_disable == Some(true) && self.memory == 0 {
            warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".to_owned());
        }
        if self.nano_cpus > 0 && self.cpu_period > 0 {
            return Err(invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
        if self.nano_cpus > 0 && self.cpu_quota > 0 {
            return Err(invalid(
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
            ));
        }
        // The kernel's smallest quota is 1 ms of the 100 ms period: 0.01.
        if self.nano_cpus < 0
            || (self.nano_cpus > 0 && self.nano_cpus < 10_000_000)
            || self.nano_cpus > host.ncpu.saturating_mul(1_000_000_000)
        {
            return Err(invalid(format!(
                "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available",
                n = host.ncpu
            )));
        }
        if self.cpu_shares < 0 {
            return Err(invalid(format!(
                "Invalid CPU shares {}: the value must be a positive number (the default weight is 1024)",
                self.cpu_shares
            )));
        }
        if self.cpu_period != 0 && !(1000..=1_000_000).contains(&self.cpu_period) {
            return Err(invalid(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
            ));
        }
        if self.cpu_quota > 0 && self.cpu_quota < 1000 {
            return Err(invalid(
                "CPU cfs quota can not be less than 1ms (i.e. 1000)",
            ));
        }
        if self.cpu_quota < -1 {
            return Err(invalid(format!(
                "Invalid CPU cfs quota {}: use -1 for no quota or at least 1000 (1ms)",
                self.cpu_quota
            )));
        }
        check_cpuset(&self.cpuset_cpus, &host.cpus, "cpus", "CPUs")?;
        check_cpuset(&self.cpuset_mems, &host.mems, "mems", "memory nodes")?;
        if self.blkio_weight > 0 && !(10..=1000).contains(&self.blkio_weight) {
            return Err(invalid("Range of blkio weight is from 10 to 1000"));
        }
        // dockerd's verifyPlatformContainerResources: a weight the kernel
        // cannot apply (no CFQ/BFQ scheduler) is dropped, not an error.
        if self.blkio_weight > 0 && !host.blkio_weight {
            warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".to_owned());
            self.blkio_weight = 0;
        }
        self.check_block_devices(host, &mut warnings)?;
        self.check_realtime(host)?;
        for u in &self.ulimits {
            check_ulimit(u, host)?;
        }
        if !update {
            // adaptContainerSettings: swap defaults to the memory limit
            // again (twice the memory), and OomKillDisable to false.
            if self.memory > 0 && self.memory_swap == 0 {
                self.memory_swap = self.memory.saturating_mul(2);
            }
            if self.oom_kill_disable.is_none() {
                self.oom_kill_disable = Some(false);
            }
            // A limit of 0 or below is "unlimited", shown as not set.
            if self.pids_limit.is_some_and(|p| p <= 0) {
                self.pids_limit = None;
            }
        }
        Ok(warnings)
    }

    /// The per-device block I/O settings: paths under /dev and weights in
    /// range, and, as dockerd, whatever the kernel cannot apply dropped with
    /// a warning.
    fn check_block_devices(
        &mut self,
        host: &HostLimits,
        warnings: &mut Vec<String>,
    ) -> Result<(), ContainerError> {
        for d in &self.blkio_weight_device {
            check_device_path(&d.path)?;
            if d.weight > 0 && !(10..=1000).contains(&d.weight) {
                return Err(invalid(format!(
                    "invalid weight for device {}: {} (a weight is between 10 and 1000)",
                    d.path, d.weight
                )));
            }
        }
        for d in self
            .blkio_device_read_bps
            .iter()
            .chain(&self.blkio_device_write_bps)
            .chain(&self.blkio_device_read_iops)
            .chain(&self.blkio_device_write_iops)
        {
            check_device_path(&d.path)?;
        }
        if !self.blkio_weight_device.is_empty() && !host.blkio_weight_device {
            warnings.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".to_owned());
            self.blkio_weight_device.clear();
        }
        if !host.blkio_throttle {
            // dockerd's words: what is missing, and what is discarded.
            for (list, what, discarded) in [
                (
                    &mut self.blkio_device_read_bps,
                    "BPS Block I/O read limit",
                    "BPS Block I/O read limit",
                ),
                (
                    &mut self.blkio_device_write_bps,
                    "BPS Block I/O write limit",
                    "BPS Block I/O write limit",
                ),
                (
                    &mut self.blkio_device_read_iops,
                    "IOPS Block read limit",
                    "Block I/O IOPS read limit",
                ),
                (
                    &mut self.blkio_device_write_iops,
                    "IOPS Block write limit",
                    "Block I/O IOPS write limit",
                ),
            ] {
                if !list.is_empty() {
                    warnings.push(format!("Your kernel does not support {what} or the cgroup is not mounted. {discarded} discarded."));
                    list.clear();
                }
            }
        }
        Ok(())
    }

    /// dockerd's checks of `--cpu-rt-period` and `--cpu-rt-runtime`.
    fn check_realtime(&self, host: &HostLimits) -> Result<(), ContainerError> {
        if (self.cpu_realtime_period > 0 || self.cpu_realtime_runtime > 0) && !host.cpu_realtime {
            return Err(invalid(
                "Your kernel does not support CPU real-time scheduler",
            ));
        }
        if self.cpu_realtime_period < 0 || self.cpu_realtime_runtime < -1 {
            return Err(invalid(
                "Invalid CPU real-time values: the period must be positive and the runtime positive or -1",
            ));
        }
        if self.cpu_realtime_period != 0
            && self.cpu_realtime_runtime != 0
            && self.cpu_realtime_runtime > self.cpu_realtime_period
        {
            return Err(invalid(
                "cpu-rt-runtime cannot be higher than cpu-rt-period",
            ));
        }
        Ok(())
    }

    /// The warnings a create with these limits gets (the create itself
    /// checks again and fails on errors).
    pub fn create_warnings(&self) -> Vec<String> {
        self.clone()
            .check(HostLimits::get(), false)
            .unwrap_or_default()
    }

    /// docker's `UpdateContainer`: the fields `new` sets, over these.
    pub fn merge(&self, new: &Resources) -> Result<Resources, ContainerError> {
        let conflict = |m: &str| Err(invalid(m));
        if new.nano_cpus > 0 && self.cpu_period > 0 {
            return conflict(
                "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
            );
        }
        if new.nano_cpus > 0 && self.cpu_quota > 0 {
            return conflict(
                "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
            );
        }
        if new.cpu_period > 0 && self.nano_cpus > 0 {
            return conflict(
                "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
            );
        }
        if new.cpu_quota > 0 && self.nano_cpus > 0 {
            return conflict(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
            );
        }
        let mut r = self.clone();
        if new.blkio_weight != 0 {
            r.blkio_weight = new.blkio_weight;
        }
        if new.cpu_realtime_period != 0 {
            r.cpu_realtime_period = new.cpu_realtime_period;
        }
        if new.cpu_realtime_runtime != 0 {
            r.cpu_realtime_runtime = new.cpu_realtime_runtime;
        }
        if new.cpu_shares != 0 {
            r.cpu_shares = new.cpu_shares;
        }
        if new.nano_cpus != 0 {
            r.nano_cpus = new.nano_cpus;
        }
        if new.cpu_period != 0 {
            r.cpu_period = new.cpu_period;
        }
        if new.cpu_quota != 0 {
            r.cpu_quota = new.cpu_quota;
        }
        if !new.cpuset_cpus.is_empty() {
            r.cpuset_cpus.clone_from(&new.cpuset_cpus);
        }
        if !new.cpuset_mems.is_empty() {
            r.cpuset_mems.clone_from(&new.cpuset_mems);
        }
        if new.memory != 0 {
            if new.memory > self.memory_swap && new.memory_swap == 0 {
                return conflict(
                    "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
                );
            }
            r.memory = new.memory;
        }
        if new.memory_swap != 0 {
            r.memory_swap = new.memory_swap;
        }
        if new.memory_reservation != 0 {
            r.memory_reservation = new.memory_reservation;
        }
        if let Some(p) = new.pids_limit {
            // Both 0 and -1 mean "unlimited" in an update.
            r.pids_limit = Some(if p <= 0 { 0 } else { p });
        }
        if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
            return conflict(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            );
        }
        Ok(r)
    }

    /// `linux.resources` without devices (those belong to the spec): the
    /// limits to write at create, or on a running container's cgroup.
    pub(crate) fn linux_resources(&self) -> Value {
        let mut out = serde_json::Map::new();
        let mut memory = serde_json::Map::new();
        if self.memory != 0 {
            memory.insert("limit".into(), json!(self.memory));
        }
        if self.memory_reservation != 0 {
            memory.insert("reservation".into(), json!(self.memory_reservation));
        }
        if self.memory_swap != 0 {
            memory.insert("swap".into(), json!(self.memory_swap));
        }
        if let Some(s) = self.memory_swappiness {
            memory.insert("swappiness".into(), json!(s));
        }
        if self.oom_kill_disable == Some(true) {
            memory.insert("disableOOMKiller".into(), json!(true));
        }
        if !memory.is_empty() {
            out.insert("memory".into(), Value::Object(memory));
        }
        let mut cpu = serde_json::Map::new();
        if self.cpu_shares > 0 {
            cpu.insert("shares".into(), json!(self.cpu_shares));
        }
        if !self.cpuset_cpus.is_empty() {
            cpu.insert("cpus".into(), json!(self.cpuset_cpus));
        }
        if !self.cpuset_mems.is_empty() {
            cpu.insert("mems".into(), json!(self.cpuset_mems));
        }
        if self.nano_cpus > 0 {
            cpu.insert("period".into(), json!(NANO_CPU_PERIOD));
            cpu.insert(
                "quota".into(),
                json!(self.nano_cpus.saturating_mul(NANO_CPU_PERIOD) / 1_000_000_000),
            );
        }
        if self.cpu_period != 0 {
            cpu.insert("period".into(), json!(self.cpu_period));
        }
        if self.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(self.cpu_quota));
        }
        if self.cpu_realtime_period != 0 {
            cpu.insert("realtimePeriod".into(), json!(self.cpu_realtime_period));
        }
        if self.cpu_realtime_runtime != 0 {
            cpu.insert("realtimeRuntime".into(), json!(self.cpu_realtime_runtime));
        }
        if !cpu.is_empty() {
            out.insert("cpu".into(), Value::Object(cpu));
        }
        if let Some(p) = self.pids_limit {
            // The OCI spec: 0 or below is unlimited (`pids.max` = max).
            out.insert("pids".into(), json!({"limit": if p > 0 { p } else { -1 }}));
        }
        if self.blkio_weight != 0 {
            out.insert("blockIO".into(), json!({"weight": self.blkio_weight}));
        }
        Value::Object(out)
    }

    /// `linux.resources.blockIO`'s per-device entries, with each path's
    /// device numbers as the host has them now; a path that is not there
    /// fails the start, as in dockerd (`stat /dev/x: no such file or
    /// directory`).
    fn block_io_devices(&self) -> Result<serde_json::Map<String, Value>, ContainerError> {
        let numbers = |path: &str| -> Result<(u64, u64), ContainerError> {
            let st = nix::sys::stat::stat(path)
                .map_err(|e| invalid(format!("stat {path}: {}", e.desc().to_lowercase())))?;
            Ok((
                nix::sys::stat::major(st.st_rdev),
                nix::sys::stat::minor(st.st_rdev),
            ))
        };
        let mut out = serde_json::Map::new();
        let weights = self
            .blkio_weight_device
            .iter()
            .map(|d| {
                let (major, minor) = numbers(&d.path)?;
                Ok(json!({"major": major, "minor": minor, "weight": d.weight}))
            })
            .collect::<Result<Vec<_>, ContainerError>>()?;
        if !weights.is_empty() {
            out.insert("weightDevice".into(), Value::Array(weights));
        }
        for (list, key) in [
            (&self.blkio_device_read_bps, "throttleReadBpsDevice"),
            (&self.blkio_device_write_bps, "throttleWriteBpsDevice"),
            (&self.blkio_device_read_iops, "throttleReadIOPSDevice"),
            (&self.blkio_device_write_iops, "throttleWriteIOPSDevice"),
        ] {
            let entries = list
                .iter()
                .map(|d| {
                    let (major, minor) = numbers(&d.path)?;
                    Ok(json!({"major": major, "minor": minor, "rate": d.rate}))
                })
                .collect::<Result<Vec<_>, ContainerError>>()?;
            if !entries.is_empty() {
                out.insert(key.into(), Value::Array(entries));
            }
        }
        Ok(out)
    }

    /// Adds the limits to a spec being built (`config.json` as JSON):
    /// `linux.resources` and `process.rlimits`.
    pub(crate) fn apply_to_spec(&self, spec: &mut Value) -> Result<(), ContainerError> {
        let devices = self.block_io_devices()?;
        if let (Some(target), Value::Object(limits)) = (
            spec["linux"]["resources"].as_object_mut(),
            self.linux_resources(),
        ) {
            target.extend(limits);
            if !devices.is_empty() {
                let block_io = target.entry("blockIO").or_insert_with(|| json!({}));
                if let Some(block_io) = block_io.as_object_mut() {
                    block_io.extend(devices);
                }
            }
        }
        if !self.ulimits.is_empty() {
            let rlimits: Vec<Value> = self
                .ulimits
                .iter()
                .filter_map(|u| {
                    let (_, oci, _) = RLIMITS.iter().find(|(n, _, _)| *n == u.name)?;
                    Some(json!({"type": oci, "hard": rlim(u.hard), "soft": rlim(u.soft)}))
                })
                .collect();
            spec["process"]["rlimits"] = Value::Array(rlimits);
        }
        Ok(())
    }
}

/// A per-device setting names a device node: an absolute path under /dev
/// (the docker CLI checks the same before sending).
fn check_device_path(path: &str) -> Result<(), ContainerError> {
    if path.starts_with("/dev/") && !path.split('/').any(|part| part == "..") {
        Ok(())
    } else {
        Err(invalid(format!(
            "bad format for device path: {path} (a block device's path under /dev, such as /dev/sda)"
        )))
    }
}

/// -1 is "unlimited" (RLIM_INFINITY).
fn rlim(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// A `--ulimit`: a known name, soft ≤ hard, and a hard limit berthd can
/// give (without CAP_SYS_RESOURCE nobody may raise a hard limit, and the
/// container would fail at start with EPERM).
fn check_ulimit(u: &Ulimit, host: &HostLimits) -> Result<(), ContainerError> {
    if !RLIMITS.iter().any(|(n, _, _)| *n == u.name) {
        return Err(invalid(format!("invalid ulimit type: {}", u.name)));
    }
    let above = u.hard != -1 && (u.soft == -1 || u.soft > u.hard);
    if above {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {} > {}",
            u.soft, u.hard
        )));
    }
    if u.soft < -1 || u.hard < -1 {
        return Err(invalid(format!(
            "invalid ulimit {}: limits must be -1 (unlimited) or not negative",
            u.name
        )));
    }
    if host.cap_sys_resource {
        return Ok(());
    }
    let host_hard = host
        .rlimit_hard
        .iter()
        .find(|(n, _)| *n == u.name)
        .map(|(_, h)| *h);
    if let Some(max) = host_hard
        && rlim(u.hard) > max
    {
        let shown = |v: u64| {
            if v == u64::MAX {
                "unlimited".to_owned()
            } else {
                v.to_string()
            }
        };
        return Err(invalid(format!(
            "ulimit {name}: the hard limit {want} is above the host's hard limit {have}, which berthd cannot raise (it lacks CAP_SYS_RESOURCE); use --ulimit {name}=<soft>:<hard> with a hard limit of at most {have}",
            name = u.name,
            want = shown(rlim(u.hard)),
            have = shown(max),
        )));
    }
    Ok(())
}

/// Parses a cpuset list (`0-2,4`) into its numbers; `None` if malformed.
fn parse_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// dockerd's `IsCpusetCpusAvailable` / `...Mems...` with its messages.
fn check_cpuset(
    requested: &str,
    available: &str,
    what: &str,
    plural: &str,
) -> Result<(), ContainerError> {
    if requested.is_empty() {
        return Ok(());
    }
    let Some(want) = parse_list(requested) else {
        return Err(invalid(format!(
            "Invalid value {requested} for cpuset {what}: invalid format: {requested}"
        )));
    };
    let have = parse_list(available).unwrap_or_default();
    if want.iter().any(|n| !have.contains(n)) {
        return Err(invalid(format!(
            "Requested {plural} are not available - requested {requested}, available: {available}"
        )));
    }
    Ok(())
}

impl super::Inner {
    /// Records that the OOM killer struck during the run that is ending
    /// (the exit handling stores it with the exit).
    pub(super) fn note_oom(&self, id: &str, oom_killed: bool) {
        let mut table = lock(&self.table);
        if let Some(c) = table.get_mut(id)
            && c.state.status == Status::Running
        {
            c.state.oom_killed = oom_killed;
            if oom_killed {
                // docker's `oom` event, before the `die` of the exit.
                let c = c.clone();
                drop(table);
                self.emit(&c, "oom", &[]);
            }
        }
    }
}

/// Serialises updates, so two at once cannot interleave their
/// read-merge-apply-store steps.
static UPDATES: Mutex<()> = Mutex::new(());

impl Containers {
    /// `docker update`: merges `update` into the container's limits and
    /// stores them; a running container gets them at once (its shim
    /// writes its cgroup), a stopped one at its next start. Returns
    /// dockerd's warnings. On error nothing changes.
    pub fn update(
        &self,
        id_or_name: &str,
        update: &ResourceUpdate,
    ) -> Result<Vec<String>, ContainerError> {
        let _serial = lock(&UPDATES);
        let mut new = update.resources.clone();
        let warnings = new.check(HostLimits::get(), true)?;
        let fail = |id: &str, e: ContainerError| {
            let message = format!("Cannot update container {id}: {e}");
            match e {
                ContainerError::InvalidArgument { .. } => invalid(message),
                ContainerError::Conflict { .. } => ContainerError::Conflict { message },
                _ => ContainerError::Internal { message },
            }
        };
        let (id, merged, running) = {
            let table = lock(&self.inner.table);
            let c = resolve(&table, id_or_name)?;
            if c.busy {
                return Err(super::busy(&c.id));
            }
            let merged = c
                .options
                .resources
                .merge(&new)
                .map_err(|e| fail(&c.id, e))?;
            if c.options.auto_remove && update.restart_policy.is_some_and(|p| !p.is_none()) {
                return Err(fail(
                    &c.id,
                    ContainerError::Conflict {
                        message: "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                    },
                ));
            }
            (c.id.clone(), merged, c.state.status == Status::Running)
        };
        if running {
            let resources = serde_json::from_value(merged.linux_resources())
                .map_err(|e| fail(&id, invalid(format!("limits: {e}"))))?;
            let sent = shim::request(
                &self.inner.shim_dir(&id),
                &Request::Update {
                    resources: Box::new(resources),
                },
            );
            // A container that exited meanwhile just keeps the new limits
            // for its next start.
            if let Err(e) = sent
                && !self.exiting(&id)
            {
                return Err(fail(&id, e));
            }
        }
        let mut table = lock(&self.inner.table);
        let c = table.get_mut(&id).ok_or_else(|| super::gone(&id))?;
        let before = (c.options.resources.clone(), c.options.restart_policy);
        c.options.resources = merged;
        if let Some(p) = update.restart_policy {
            // Read at the next exit (and at berthd's start), as dockerd's
            // `UpdateMonitor`.
            c.options.restart_policy = p;
        }
        if let Err(e) = self.inner.store.save(c) {
            (c.options.resources, c.options.restart_policy) = before;
            return Err(e);
        }
        let c = c.clone();
        drop(table);
        self.inner.emit(&c, "update", &[]);
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostLimits {
        HostLimits {
            ncpu: 2,
            cpus: "0-1".into(),
            mems: "0".into(),
            swap_limit: true,
            v2: false,
            rlimit_hard: vec![("nofile".into(), 20_000), ("nproc".into(), u64::MAX)],
            cap_sys_resource: false,
            blkio_weight: true,
            blkio_weight_device: true,
            blkio_throttle: true,
            cpu_realtime: true,
        }
    }

    fn err(r: Resources) -> String {
        let mut r = r;
        r.check(&host(), false).unwrap_err().to_string()
    }

    #[test]
    fn docker_defaults_at_create() {
        let mut r = Resources {
            memory: 64 << 20,
            memory_swappiness: Some(-1),
            pids_limit: Some(-1),
            ..Resources::default()
        };
        assert!(r.check(&host(), false).unwrap().is_empty());
        assert_eq!(r.memory_swap, 128 << 20);
        assert_eq!(r.memory_swappiness, None);
        assert_eq!(r.oom_kill_disable, Some(false));
        assert_eq!(r.pids_limit, None);
    }

    #[test]
    fn a_weight_the_kernel_lacks_is_dropped_with_dockerds_warning() {
        let mut r = Resources {
            blkio_weight: 300,
            ..Resources::default()
        };
        let no_weight = HostLimits {
            blkio_weight: false,
            ..host()
        };
        let warnings = r.check(&no_weight, false).unwrap();
        assert_eq!(r.blkio_weight, 0);
        assert!(warnings[0].contains("Weight discarded"), "{warnings:?}");
    }

    #[test]
    fn dockerd_messages() {
        let r = |f: fn(&mut Resources)| {
            let mut r = Resources::default();
            f(&mut r);
            err(r)
        };
        assert_eq!(
            r(|r| r.memory = 1024),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            r(|r| {
                r.memory = 64 << 20;
                r.memory_swap = 32 << 20;
            }),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(
            r(|r| r.memory_swap = 64 << 20),
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        );
        assert_eq!(
            r(|r| {
                r.nano_cpus = 500_000_000;
                r.cpu_period = 50_000;
            }),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set"
        );
        assert_eq!(
            r(|r| r.nano_cpus = -1_000_000_000),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert_eq!(
            r(|r| r.nano_cpus = 3_000_000_000),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert_eq!(
            r(|r| r.cpu_period = 10),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        );
        assert_eq!(
            r(|r| r.cpuset_cpus = "7".into()),
            "Requested CPUs are not available - requested 7, available: 0-1"
        );
        assert_eq!(
            r(|r| r.cpuset_cpus = "x".into()),
            "Invalid value x for cpuset cpus: invalid format: x"
        );
        assert_eq!(
            r(|r| r.blkio_weight = 5),
            "Range of blkio weight is from 10 to 1000"
        );
        assert_eq!(
            r(|r| r.memory_swappiness = Some(101)),
            "Invalid value: 101, valid memory swappiness range is 0-100"
        );
        let too_high = r(|r| {
            r.ulimits = vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 30_000,
            }]
        });
        assert!(
            too_high.contains("above the host's hard limit 20000"),
            "{too_high}"
        );
        assert_eq!(
            r(|r| r.ulimits = vec![Ulimit {
                name: "bogus".into(),
                soft: 1,
                hard: 1
            }]),
            "invalid ulimit type: bogus"
        );
    }

    #[test]
    fn obsolete_and_unsupported_values_warn() {
        let mut r = Resources {
            kernel_memory: 64 << 20,
            oom_kill_disable: Some(true),
            ..Resources::default()
        };
        let w = r.check(&host(), false).unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(r.kernel_memory, 0);
        let mut v2 = host();
        v2.v2 = true;
        let mut r = Resources {
            memory: 64 << 20,
            oom_kill_disable: Some(true),
            memory_swappiness: Some(10),
            ..Resources::default()
        };
        let w = r.check(&v2, false).unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(r.oom_kill_disable, Some(false));
        assert_eq!(r.memory_swappiness, None);
    }

    #[test]
    fn update_merges_as_dockerd() {
        let had = Resources {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            nano_cpus: 500_000_000,
            ..Resources::default()
        };
        let m = had
            .merge(&Resources {
                memory: 100 << 20,
                cpu_shares: 512,
                pids_limit: Some(-1),
                ..Resources::default()
            })
            .unwrap();
        assert_eq!((m.memory, m.memory_swap), (100 << 20, 128 << 20));
        assert_eq!((m.cpu_shares, m.nano_cpus), (512, 500_000_000));
        assert_eq!(m.pids_limit, Some(0));
        let e = had
            .merge(&Resources {
                cpu_quota: 20_000,
                ..Resources::default()
            })
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        );
        let e = had
            .merge(&Resources {
                memory: 200 << 20,
                ..Resources::default()
            })
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Memory limit should be smaller"), "{e}");
        let m = Resources::default()
            .merge(&Resources {
                memory: 200 << 20,
                memory_swap: -1,
                ..Resources::default()
            })
            .unwrap();
        assert_eq!((m.memory, m.memory_swap), (200 << 20, -1));
    }

    #[test]
    fn spec_values_as_docker_writes_them() {
        let r = Resources {
            memory: 64 << 20,
            memory_swap: 64 << 20,
            nano_cpus: 500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            pids_limit: Some(20),
            blkio_weight: 300,
            oom_kill_disable: Some(false),
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            }],
            ..Resources::default()
        };
        let mut spec = json!({"process": {}, "linux": {"resources": {"devices": []}}});
        r.apply_to_spec(&mut spec).unwrap();
        assert_eq!(
            spec["linux"]["resources"],
            json!({
                "devices": [],
                "memory": {"limit": 67_108_864, "swap": 67_108_864},
                "cpu": {"shares": 512, "cpus": "0", "period": 100_000, "quota": 50_000},
                "pids": {"limit": 20},
                "blockIO": {"weight": 300},
            })
        );
        assert_eq!(
            spec["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}])
        );
        // The spec type accepts it.
        let _: oci_spec::runtime::LinuxResources =
            serde_json::from_value(spec["linux"]["resources"].clone()).unwrap();
        let unlimited = Resources {
            pids_limit: Some(0),
            ..Resources::default()
        };
        assert_eq!(unlimited.linux_resources(), json!({"pids": {"limit": -1}}));
    }

    fn throttle(path: &str, rate: u64) -> ThrottleDevice {
        ThrottleDevice {
            path: path.into(),
            rate,
        }
    }

    #[test]
    fn device_limits_become_major_minor_entries() {
        // /dev/null is 1:3 on every Linux; the kernel would refuse a
        // character device in blkio, but the conversion is the same.
        let r = Resources {
            blkio_weight_device: vec![WeightDevice {
                path: "/dev/null".into(),
                weight: 200,
            }],
            blkio_device_read_bps: vec![throttle("/dev/null", 1 << 20)],
            blkio_device_write_iops: vec![throttle("/dev/null", 50)],
            cpu_realtime_period: 1_000_000,
            cpu_realtime_runtime: 950_000,
            ..Resources::default()
        };
        let mut spec = json!({"linux": {"resources": {"devices": []}}, "process": {}});
        r.apply_to_spec(&mut spec).unwrap();
        let res = &spec["linux"]["resources"];
        assert_eq!(
            res["blockIO"],
            json!({
                "weightDevice": [{"major": 1, "minor": 3, "weight": 200}],
                "throttleReadBpsDevice": [{"major": 1, "minor": 3, "rate": 1_048_576}],
                "throttleWriteIOPSDevice": [{"major": 1, "minor": 3, "rate": 50}],
            })
        );
        assert_eq!(
            res["cpu"],
            json!({"realtimePeriod": 1_000_000, "realtimeRuntime": 950_000})
        );
        let _: oci_spec::runtime::LinuxResources = serde_json::from_value(res.clone()).unwrap();
        // A device that is not there fails the start, as in dockerd.
        let gone = Resources {
            blkio_device_read_bps: vec![throttle("/dev/berth-no-such-disk", 1)],
            ..Resources::default()
        };
        let e = gone.apply_to_spec(&mut spec).unwrap_err().to_string();
        assert!(
            e.contains("stat /dev/berth-no-such-disk: no such file or directory"),
            "{e}"
        );
    }

    #[test]
    fn device_limits_are_checked_and_dropped_where_the_kernel_lacks_them() {
        let bad_path = Resources {
            blkio_device_read_bps: vec![throttle("/etc/passwd", 1)],
            ..Resources::default()
        };
        assert!(err(bad_path).contains("bad format for device path: /etc/passwd"));
        let bad_weight = Resources {
            blkio_weight_device: vec![WeightDevice {
                path: "/dev/sda".into(),
                weight: 5,
            }],
            ..Resources::default()
        };
        assert!(err(bad_weight).contains("invalid weight for device /dev/sda: 5"));
        let mut r = Resources {
            blkio_weight_device: vec![WeightDevice {
                path: "/dev/sda".into(),
                weight: 200,
            }],
            blkio_device_read_bps: vec![throttle("/dev/sda", 1)],
            blkio_device_write_iops: vec![throttle("/dev/sda", 1)],
            ..Resources::default()
        };
        let bare = HostLimits {
            blkio_weight_device: false,
            blkio_throttle: false,
            ..host()
        };
        let warnings = r.check(&bare, false).unwrap();
        assert_eq!(
            warnings,
            [
                "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.",
                "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. BPS Block I/O read limit discarded.",
                "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.",
            ]
        );
        assert!(r.blkio_weight_device.is_empty() && r.blkio_device_read_bps.is_empty());
        assert!(r.blkio_device_write_iops.is_empty());
    }

    #[test]
    fn realtime_values_as_dockerd_checks_them() {
        let rt = |period, runtime| Resources {
            cpu_realtime_period: period,
            cpu_realtime_runtime: runtime,
            ..Resources::default()
        };
        assert_eq!(
            err(rt(1000, 2000)),
            "cpu-rt-runtime cannot be higher than cpu-rt-period"
        );
        let no_rt = HostLimits {
            cpu_realtime: false,
            ..host()
        };
        assert_eq!(
            rt(1_000_000, 950_000)
                .check(&no_rt, false)
                .unwrap_err()
                .to_string(),
            "Your kernel does not support CPU real-time scheduler"
        );
        assert!(rt(1_000_000, 950_000).check(&host(), false).is_ok());
        let merged = Resources::default().merge(&rt(1_000_000, 0)).unwrap();
        assert_eq!(merged.cpu_realtime_period, 1_000_000);
    }
}
