//! `GET /containers/{id}/stats`: docker's `StatsResponse`, field for field
//! (the docker CLI computes its columns from these).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Go's zero `time.Time` as dockerd writes it (`preread` of a first
/// sample, `read` of a container that is not running).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero32(n: &u32) -> bool {
    *n == 0
}

/// One sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsResponse {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub read: String,
    pub preread: String,
    #[serde(default)]
    pub pids_stats: PidsStats,
    #[serde(default)]
    pub blkio_stats: BlkioStats,
    #[serde(default)]
    pub num_procs: u32,
    #[serde(default)]
    pub storage_stats: StorageStats,
    #[serde(default)]
    pub cpu_stats: CpuStats,
    #[serde(default)]
    pub precpu_stats: CpuStats,
    #[serde(default)]
    pub memory_stats: MemoryStats,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

impl Default for StatsResponse {
    fn default() -> Self {
        Self {
            name: String::new(),
            id: String::new(),
            read: ZERO_TIME.to_owned(),
            preread: ZERO_TIME.to_owned(),
            pids_stats: PidsStats::default(),
            blkio_stats: BlkioStats::default(),
            num_procs: 0,
            storage_stats: StorageStats::default(),
            cpu_stats: CpuStats::default(),
            precpu_stats: CpuStats::default(),
            memory_stats: MemoryStats::default(),
            networks: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStatEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Every list is `null` when the kernel does not report it (cgroup v2
/// fills only `io_service_bytes_recursive`, as dockerd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    #[serde(default)]
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    #[serde(default)]
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// Windows only; always `{}` here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageStats {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    pub total_usage: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    #[serde(default)]
    pub cpu_usage: CpuUsage,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system_cpu_usage: u64,
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub online_cpus: u32,
    #[serde(default)]
    pub throttling_data: ThrottlingData,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failcnt: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}
