//! The container endpoints: `POST /containers/create`, `POST
//! /containers/{id}/wait`, `GET /containers/json`.
//!
//! Field names follow moby's `api/swagger.yaml` (v1.51): `ContainerConfig`
//! (the create body, the fields berth handles today; unknown fields are
//! ignored as dockerd does), `ContainerCreateResponse`,
//! `ContainerWaitResponse`, `ContainerSummary`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The body of `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub hostname: String,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub user: String,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub tty: bool,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub open_stdin: bool,
    /// `null` and absent both mean "the image's".
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub image: String,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    /// Only what berth acts on.
    pub host_config: Option<CreateHostConfig>,
    /// What the client means to attach to (kept for inspect).
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub attach_stderr: bool,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub stdin_once: bool,
    /// `--stop-signal`; empty or absent: the image's.
    pub stop_signal: Option<String>,
    /// `--health-*`, `--no-healthcheck`; absent: the image's.
    pub healthcheck: Option<crate::health::HealthConfig>,
    /// `--stop-timeout` in seconds; absent: 10.
    pub stop_timeout: Option<i64>,
    /// `--domainname`.
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub domainname: String,
    /// `-v /path`: anonymous volumes (`{"/path": {}}`).
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// `--network`'s endpoints (`--ip`, `--network-alias`).
    pub networking_config: Option<crate::network::NetworkingConfig>,
    /// `--mac-address` as API < 1.44 clients send it (docker 20.10);
    /// newer ones put it in the endpoint's `MacAddress`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub mac_address: String,
    /// `--expose` and the ports of `-p` (`{"80/tcp": {}}`).
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
}

/// The parts of a create request's `HostConfig` berth acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateHostConfig {
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub auto_remove: bool,
    /// `--log-driver` and `--log-opt`s.
    pub log_config: Option<LogConfig>,
    /// The client's terminal `[height, width]` (API 1.42+); `[0, 0]` or
    /// absent when it has none.
    pub console_size: Option<[u16; 2]>,
    /// `--memory`, `--cpus`, `--pids-limit`, `--ulimit`, ...
    #[serde(flatten)]
    pub resources: crate::resources::Resources,
    /// `--restart`.
    pub restart_policy: Option<RestartPolicy>,
    /// `--init`; absent or `null`: the daemon's default.
    pub init: Option<bool>,
    /// `--network`: `default`, `bridge`, `host`, `none`,
    /// `container:<id>` or a network's name.
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub network_mode: String,
    /// Security and isolation (`--privileged`, `--cap-add`, ...).
    #[serde(flatten)]
    pub security: SecurityHostConfig,
    /// `-v`, `--mount`, `--volumes-from`, `--volume-driver`.
    #[serde(flatten)]
    pub mounts: MountHostConfig,
    /// `-p`, `-P`.
    #[serde(flatten)]
    pub ports: crate::ports::PortsHostConfig,
    /// `--dns`, `--dns-search`, `--dns-option`, `--add-host`.
    #[serde(flatten)]
    pub dns: crate::dns::DnsHostConfig,
    /// `--link`: `name[:alias]` (`null` is the same as none).
    pub links: Option<Vec<String>>,
}

/// The mount fields of a create request's `HostConfig` (`null` is the
/// same as absent). `Mounts` entries are docker's `mount.Mount` objects,
/// checked by the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountHostConfig {
    pub binds: Option<Vec<String>>,
    pub mounts: Option<Vec<serde_json::Value>>,
    pub volumes_from: Option<Vec<String>>,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub volume_driver: String,
}

/// The security and isolation fields of a create request's `HostConfig`
/// (`null` lists and maps are the same as absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityHostConfig {
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub privileged: bool,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub readonly_rootfs: bool,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub security_opt: Option<Vec<String>>,
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub pid_mode: String,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub ipc_mode: String,
    #[serde(
        rename = "UTSMode",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub uts_mode: String,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub shm_size: i64,
}

/// `HostConfig.RestartPolicy`: `{"Name": "on-failure", "MaximumRetryCount": 3}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `no`, `always`, `on-failure`, `unless-stopped`; empty is `no`.
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub name: String,
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub maximum_retry_count: i64,
}

/// `HostConfig.LogConfig`: `{"Type": "json-file", "Config": {"max-size": "10m"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    #[serde(rename = "Type", deserialize_with = "crate::resources::zero_if_null")]
    pub driver: String,
    /// `null` is the same as none.
    #[serde(rename = "Config")]
    pub config: Option<BTreeMap<String, String>>,
}

/// The answer to `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `Error` of [`ContainerWaitResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitExitError {
    pub message: String,
}

/// The answer to `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerWaitResponse {
    pub status_code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitExitError>,
}

/// `HostConfig` of [`ContainerSummary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

/// `NetworkSettings` of [`ContainerSummary`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, serde_json::Value>,
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    /// With the leading `/`.
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<crate::ports::Port>,
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`.
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    pub mounts: Vec<MountPoint>,
    /// With `size=1`: bytes in the writable layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// With `size=1`: the writable layer plus the image's layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_from_the_docker_cli() {
        let body = r#"{"Hostname":"","User":"","AttachStdin":false,"Tty":false,
            "OpenStdin":false,"Env":null,"Cmd":["echo","hi"],"Image":"busybox",
            "WorkingDir":"","Entrypoint":null,"Labels":{},"HostConfig":{"NetworkMode":"default"}}"#;
        let req: ContainerCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.image, "busybox");
        assert_eq!(req.cmd.as_deref(), Some(&["echo".into(), "hi".into()][..]));
        assert!(req.env.is_none() && req.entrypoint.is_none());
    }

    #[test]
    fn wait_response_json() {
        let r = ContainerWaitResponse {
            status_code: 3,
            error: None,
        };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"StatusCode":3}"#);
    }
}

/// `State` of [`ContainerInspect`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// Only for containers with a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

/// `Config` of [`ContainerInspect`] (the fields berth keeps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    // Go's `container.Config` field order, which dockerd's JSON and the
    // docker CLI's templates follow.
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// The image's and the container's exposed ports (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// The merged health check, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::health::HealthConfig>,
    pub image: String,
    /// Volumes declared by the image (`null`: none).
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    /// Deprecated, still shown by dockerd 28: the MAC address asked for on
    /// the network of `HostConfig.NetworkMode`, not a generated one
    /// (absent when none was asked for).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    /// Always `null` (no `ONBUILD` triggers run for containers).
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// `GraphDriver` of [`ContainerInspect`]: the storage driver and its paths
/// (`LowerDir`, `UpperDir`, `MergedDir`, `WorkDir` for overlay2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectGraphDriver {
    pub data: BTreeMap<String, String>,
    pub name: String,
}

/// One entry of a container's `Mounts` (docker's `types.MountPoint`, in its
/// field order; `Name` and `Driver` only for volumes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `volume`, `bind` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// The answer to `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    /// With the leading `/`.
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    pub host_config: serde_json::Value,
    pub graph_driver: InspectGraphDriver,
    /// With `size=1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// With `size=1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub mounts: Vec<MountPoint>,
    pub config: InspectConfig,
    pub network_settings: serde_json::Value,
    /// Exec sessions that have not exited (`null`: none).
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
}

/// What docker-compose 1.29 (docker-py 5) sends: Go reads a `null` into a
/// plain field as its zero value, so dockerd accepts it.
#[cfg(test)]
mod docker_py_tests {
    use super::*;

    #[test]
    fn create_body_from_docker_compose_1_29() {
        let body = r#"{"ExposedPorts": {"80/tcp": {}}, "Tty": false, "OpenStdin": false,
            "StdinOnce": false, "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
            "Env": ["GREETING=compose"], "Cmd": ["sh", "-c", "httpd -f"], "Image": "busybox",
            "Volumes": {"/bind": {}, "/vol": {}}, "NetworkDisabled": false, "User": null,
            "WorkingDir": null, "Hostname": null, "Domainname": null, "MacAddress": null,
            "StopSignal": null, "StopTimeout": null,
            "HostConfig": {"NetworkMode": "p_back", "RestartPolicy": {"Name": "unless-stopped",
            "MaximumRetryCount": 0}, "VolumesFrom": [], "Binds": ["/d:/bind:ro", "p_v:/vol:rw"],
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18237"}]},
            "Links": [], "LogConfig": {"Type": "", "Config": {}}, "Init": null, "Privileged": null,
            "ReadonlyRootfs": null, "PidMode": null, "IpcMode": null, "ShmSize": null,
            "PublishAllPorts": null, "AutoRemove": null, "VolumeDriver": null},
            "NetworkingConfig": {"EndpointsConfig": {"p_back": {"Aliases": ["web"], "IPAMConfig": {}}}},
            "Labels": {"com.docker.compose.project": "p"},
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000, "Timeout": 2000000000,
            "Retries": 3, "StartPeriod": null}}"#;
        let req: ContainerCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.user, "");
        let host = req.host_config.unwrap();
        assert_eq!(host.restart_policy.unwrap().name, "unless-stopped");
        assert_eq!(host.network_mode, "p_back");
        let health = req.healthcheck.unwrap();
        assert_eq!((health.retries, health.start_period), (3, 0));
    }
}
