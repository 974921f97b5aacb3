//! Resource limit flags: those `run`/`create` and `update` share
//! ([`LimitFlags`]), the ones only `run`/`create` have
//! ([`ResourceFlags`]), and `update`'s ([`UpdateFlags`]). Values stay
//! strings here so a bad one gets docker's message
//! (`crate::commands::resources`), not clap's.

use clap::Args;

/// Limits both `run`/`create` and `update` take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct LimitFlags {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    /// (default 0)
    #[arg(
        long = "blkio-weight",
        value_name = "uint16",
        allow_negative_numbers = true
    )]
    pub(crate) blkio_weight: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", allow_negative_numbers = true)]
    pub(crate) cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_negative_numbers = true)]
    pub(crate) cpu_quota: Option<String>,
    /// Limit CPU real-time period in microseconds
    #[arg(
        long = "cpu-rt-period",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) cpu_rt_period: Option<String>,
    /// Limit CPU real-time runtime in microseconds
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) cpu_rt_runtime: Option<String>,
    /// CPU shares (relative weight)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) cpu_shares: Option<String>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal", allow_hyphen_values = true)]
    pub(crate) cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub(crate) cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub(crate) cpuset_mems: Option<String>,
    /// Kernel memory limit (obsolete: ignored with a warning)
    #[arg(long = "kernel-memory", value_name = "bytes", hide = true)]
    pub(crate) kernel_memory: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub(crate) memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub(crate) memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(
        long = "memory-swap",
        value_name = "bytes",
        allow_negative_numbers = true
    )]
    pub(crate) memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_negative_numbers = true)]
    pub(crate) pids_limit: Option<String>,
}

/// The resource flags of `run` and `create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct ResourceFlags {
    #[command(flatten)]
    pub(crate) limits: LimitFlags,
    /// Block IO weight (relative device weight) (default [])
    #[arg(long = "blkio-weight-device", value_name = "list")]
    pub(crate) blkio_weight_device: Vec<String>,
    /// Limit read rate (bytes per second) from a device (default [])
    #[arg(long = "device-read-bps", value_name = "list")]
    pub(crate) device_read_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device (default [])
    #[arg(long = "device-read-iops", value_name = "list")]
    pub(crate) device_read_iops: Vec<String>,
    /// Limit write rate (bytes per second) to a device (default [])
    #[arg(long = "device-write-bps", value_name = "list")]
    pub(crate) device_write_bps: Vec<String>,
    /// Limit write rate (IO per second) to a device (default [])
    #[arg(long = "device-write-iops", value_name = "list")]
    pub(crate) device_write_iops: Vec<String>,
    /// Tune container memory swappiness (0 to 100) (default -1)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) memory_swappiness: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub(crate) oom_kill_disable: bool,
    /// Ulimit options (e.g. nofile=1024:2048)
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub(crate) ulimit: Vec<String>,
}

/// `update [OPTIONS] CONTAINER [CONTAINER...]`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct UpdateFlags {
    #[command(flatten)]
    pub(crate) limits: LimitFlags,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string")]
    pub(crate) restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}
