//! Resource limits: docker's `Resources` (embedded in a create request's
//! `HostConfig`, and the body of `POST /containers/{id}/update` together
//! with `RestartPolicy`) and the update's answer.
//!
//! Go's zero values mean "not set": `0` and `""` here, `null` for the
//! pointer fields (`MemorySwappiness`, `OomKillDisable`, `PidsLimit`). The
//! docker CLI sends every field, so each one also accepts `null`.

use serde::{Deserialize, Deserializer, Serialize};

/// The resource fields of `HostConfig` berth acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// Bytes; 0 = unlimited.
    #[serde(deserialize_with = "zero_if_null")]
    pub memory: i64,
    /// Memory + swap in bytes; -1 = unlimited swap, 0 = not set.
    #[serde(deserialize_with = "zero_if_null")]
    pub memory_swap: i64,
    /// Soft limit in bytes.
    #[serde(deserialize_with = "zero_if_null")]
    pub memory_reservation: i64,
    /// 0-100; `null` or -1: the host's.
    pub memory_swappiness: Option<i64>,
    /// Obsolete: kernel memory limits are gone from Linux; ignored with a warning.
    #[serde(deserialize_with = "zero_if_null")]
    pub kernel_memory: i64,
    pub oom_kill_disable: Option<bool>,
    /// Relative weight (cgroup v1 `cpu.shares`).
    #[serde(deserialize_with = "zero_if_null")]
    pub cpu_shares: i64,
    /// CPUs in units of 10^-9 (`--cpus`).
    #[serde(deserialize_with = "zero_if_null")]
    pub nano_cpus: i64,
    /// CFS period in microseconds.
    #[serde(deserialize_with = "zero_if_null")]
    pub cpu_period: i64,
    /// CFS quota in microseconds; -1 = unlimited.
    #[serde(deserialize_with = "zero_if_null")]
    pub cpu_quota: i64,
    #[serde(deserialize_with = "zero_if_null")]
    pub cpuset_cpus: String,
    #[serde(deserialize_with = "zero_if_null")]
    pub cpuset_mems: String,
    /// `null`: not set; 0 or -1: unlimited.
    pub pids_limit: Option<i64>,
    /// 10-1000; 0 = not set.
    #[serde(deserialize_with = "zero_if_null")]
    pub blkio_weight: u16,
    /// Per-device weights (`--blkio-weight-device /dev/sda:200`).
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    /// Bytes per second read from a device (`--device-read-bps`).
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    /// Bytes per second written to a device (`--device-write-bps`).
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    /// Reads per second from a device (`--device-read-iops`).
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    /// Writes per second to a device (`--device-write-iops`).
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    /// Real-time scheduler period in microseconds (`--cpu-rt-period`).
    #[serde(deserialize_with = "zero_if_null")]
    pub cpu_realtime_period: i64,
    /// Real-time scheduler runtime in microseconds (`--cpu-rt-runtime`).
    #[serde(deserialize_with = "zero_if_null")]
    pub cpu_realtime_runtime: i64,
    pub ulimits: Option<Vec<Ulimit>>,
}

/// One per-device weight (`{"Path": "/dev/sda", "Weight": 200}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    #[serde(deserialize_with = "zero_if_null")]
    pub path: String,
    #[serde(deserialize_with = "zero_if_null")]
    pub weight: u16,
}

/// One per-device rate (`{"Path": "/dev/sda", "Rate": 1048576}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    #[serde(deserialize_with = "zero_if_null")]
    pub path: String,
    #[serde(deserialize_with = "zero_if_null")]
    pub rate: u64,
}

/// One `--ulimit` (`nofile=1024:2048`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

/// `RestartPolicy` of an update (`{"Name": "on-failure", "MaximumRetryCount": 3}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    #[serde(deserialize_with = "zero_if_null")]
    pub name: String,
    #[serde(deserialize_with = "zero_if_null")]
    pub maximum_retry_count: i64,
}

/// The body of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateRequest {
    #[serde(flatten)]
    pub resources: Resources,
    pub restart_policy: Option<RestartPolicy>,
}

/// The answer to `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerUpdateResponse {
    pub warnings: Vec<String>,
}

/// Go decodes `null` into a non-pointer field as its zero value.
pub(crate) fn zero_if_null<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_body_from_the_docker_cli() {
        let body = r#"{"BlkioWeight":0,"CpuShares":512,"Memory":104857600,
            "NanoCpus":500000000,"CpusetCpus":"","MemorySwap":-1,"PidsLimit":20,
            "Ulimits":null,"MemorySwappiness":null,"KernelMemory":0,
            "RestartPolicy":{"Name":"","MaximumRetryCount":0}}"#;
        let req: ContainerUpdateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.resources.cpu_shares, 512);
        assert_eq!(req.resources.memory, 104_857_600);
        assert_eq!(req.resources.nano_cpus, 500_000_000);
        assert_eq!(req.resources.memory_swap, -1);
        assert_eq!(req.resources.pids_limit, Some(20));
        assert!(req.resources.ulimits.is_none());
        assert_eq!(req.restart_policy.unwrap_or_default().name, "");
    }

    #[test]
    fn nulls_are_zero_values() {
        let r: Resources =
            serde_json::from_str(r#"{"Memory":null,"CpusetCpus":null,"BlkioWeight":null}"#)
                .unwrap();
        assert_eq!(r, Resources::default());
        let u: Ulimit =
            serde_json::from_str(r#"{"Name":"nofile","Soft":1024,"Hard":2048}"#).unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
    }
}
