//! Resource limits: `POST /containers/{id}/update`, the limits of a
//! create request's `HostConfig`, and how inspect shows them.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_api_types::resources as api;
use berth_engine::container::resources::{
    ResourceUpdate, Resources, ThrottleDevice, Ulimit, WeightDevice,
};
use serde_json::{Value, json};

use super::{Backend, MAX_BODY, blocking};
use crate::error::ApiError;
use crate::handlers::json_response;

/// The engine's limits for the API's.
pub(super) fn from_api(r: &api::Resources) -> Resources {
    Resources {
        memory: r.memory,
        memory_swap: r.memory_swap,
        memory_reservation: r.memory_reservation,
        memory_swappiness: r.memory_swappiness,
        kernel_memory: r.kernel_memory,
        oom_kill_disable: r.oom_kill_disable,
        cpu_shares: r.cpu_shares,
        nano_cpus: r.nano_cpus,
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        pids_limit: r.pids_limit,
        blkio_weight: r.blkio_weight,
        blkio_weight_device: r
            .blkio_weight_device
            .iter()
            .flatten()
            .map(|d| WeightDevice {
                path: d.path.clone(),
                weight: d.weight,
            })
            .collect(),
        blkio_device_read_bps: throttles(r.blkio_device_read_bps.as_deref()),
        blkio_device_write_bps: throttles(r.blkio_device_write_bps.as_deref()),
        blkio_device_read_iops: throttles(r.blkio_device_read_iops.as_deref()),
        blkio_device_write_iops: throttles(r.blkio_device_write_iops.as_deref()),
        cpu_realtime_period: r.cpu_realtime_period,
        cpu_realtime_runtime: r.cpu_realtime_runtime,
        ulimits: r
            .ulimits
            .iter()
            .flatten()
            .map(|u| Ulimit {
                name: u.name.clone(),
                hard: u.hard,
                soft: u.soft,
            })
            .collect(),
    }
}

fn throttles(list: Option<&[api::ThrottleDevice]>) -> Vec<ThrottleDevice> {
    list.unwrap_or_default()
        .iter()
        .map(|d| ThrottleDevice {
            path: d.path.clone(),
            rate: d.rate,
        })
        .collect()
}

/// Inspect's form of per-device rates: `[{"Path": ..., "Rate": ...}]`.
fn throttle_json(list: &[ThrottleDevice]) -> Value {
    Value::Array(
        list.iter()
            .map(|d| json!({"Path": d.path, "Rate": d.rate}))
            .collect(),
    )
}

/// Writes the stored limits over inspect's `HostConfig` defaults.
pub(super) fn fill_host_config(host_config: &mut Value, r: &Resources) {
    let Some(map) = host_config.as_object_mut() else {
        return;
    };
    let ulimits: Vec<Value> = r
        .ulimits
        .iter()
        .map(|u| json!({"Name": u.name, "Hard": u.hard, "Soft": u.soft}))
        .collect();
    for (key, value) in [
        ("Memory", json!(r.memory)),
        ("MemorySwap", json!(r.memory_swap)),
        ("MemoryReservation", json!(r.memory_reservation)),
        ("MemorySwappiness", json!(r.memory_swappiness)),
        ("OomKillDisable", json!(r.oom_kill_disable)),
        ("CpuShares", json!(r.cpu_shares)),
        ("NanoCpus", json!(r.nano_cpus)),
        ("CpuPeriod", json!(r.cpu_period)),
        ("CpuQuota", json!(r.cpu_quota)),
        ("CpusetCpus", json!(r.cpuset_cpus)),
        ("CpusetMems", json!(r.cpuset_mems)),
        ("PidsLimit", json!(r.pids_limit)),
        ("BlkioWeight", json!(r.blkio_weight)),
        (
            "BlkioWeightDevice",
            Value::Array(
                r.blkio_weight_device
                    .iter()
                    .map(|d| json!({"Path": d.path, "Weight": d.weight}))
                    .collect(),
            ),
        ),
        (
            "BlkioDeviceReadBps",
            throttle_json(&r.blkio_device_read_bps),
        ),
        (
            "BlkioDeviceWriteBps",
            throttle_json(&r.blkio_device_write_bps),
        ),
        (
            "BlkioDeviceReadIOps",
            throttle_json(&r.blkio_device_read_iops),
        ),
        (
            "BlkioDeviceWriteIOps",
            throttle_json(&r.blkio_device_write_iops),
        ),
        ("CpuRealtimePeriod", json!(r.cpu_realtime_period)),
        ("CpuRealtimeRuntime", json!(r.cpu_realtime_runtime)),
        ("Ulimits", json!(ulimits)),
    ] {
        map.insert(key.to_owned(), value);
    }
}

/// `POST /containers/{id}/update`: docker's `UpdateConfig` (resources and
/// `RestartPolicy`); answers `{"Warnings": [...]}`.
pub(crate) async fn update(backend: Backend, id: String, req: Request) -> Response {
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::invalid_argument(e.to_string()).into_response_body(),
    };
    let body: api::ContainerUpdateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        api::ContainerUpdateRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return ApiError::invalid_argument(format!("invalid JSON: {e}"))
                    .into_response_body();
            }
        }
    };
    // An empty name leaves the policy as it is (dockerd).
    let restart_policy = match body.restart_policy.as_ref().filter(|p| !p.name.is_empty()) {
        None => None,
        Some(p) => {
            match berth_engine::container::RestartPolicy::parse(&p.name, p.maximum_retry_count) {
                Ok(policy) => Some(policy),
                Err(e) => return ApiError::invalid_argument(e).into_response_body(),
            }
        }
    };
    let update = ResourceUpdate {
        resources: from_api(&body.resources),
        restart_policy,
    };
    match blocking(move || backend.update_container(&id, &update)).await {
        Ok(warnings) => json_response(StatusCode::OK, &api::ContainerUpdateResponse { warnings }),
        Err(e) => e.into_response_body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_shows_the_stored_limits() {
        let mut hc = json!({"Memory": 0, "PidsLimit": null, "Ulimits": [], "Privileged": false});
        fill_host_config(
            &mut hc,
            &Resources {
                memory: 64 << 20,
                pids_limit: Some(20),
                ulimits: vec![Ulimit {
                    name: "nofile".into(),
                    hard: 2048,
                    soft: 1024,
                }],
                ..Resources::default()
            },
        );
        assert_eq!(hc["Memory"], 67_108_864);
        assert_eq!(hc["PidsLimit"], 20);
        assert_eq!(
            hc["Ulimits"],
            json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}])
        );
        assert_eq!(hc["Privileged"], false);
        assert_eq!(hc["MemorySwappiness"], Value::Null);
    }
}
