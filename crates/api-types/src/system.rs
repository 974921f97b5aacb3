//! The system endpoints: `GET /_ping`, `GET /version`, `GET /info`.
//!
//! Optional fields the daemon may leave out are `Option` with
//! `skip_serializing_if`, so a response never claims a value berth does not
//! have; fields the docker CLI prints unconditionally are always present.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What `/_ping` answers in its headers (the body is just `OK`).
///
/// The docker CLI reads these to negotiate the API version and to pick a
/// builder, so the client keeps them typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PingInfo {
    /// `Api-Version`: the newest version the daemon speaks.
    pub api_version: Option<String>,
    /// `Ostype`: `linux`.
    pub os_type: Option<String>,
    /// `Docker-Experimental`.
    pub experimental: bool,
    /// `Builder-Version`: `1` is the classic builder, `2` BuildKit.
    pub builder_version: Option<String>,
}

/// `Platform` in `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlatformName {
    pub name: String,
}

/// One entry of `Components` in `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    /// Free-form strings; the docker CLI reads `ApiVersion`, `MinAPIVersion`,
    /// `GitCommit`, `GoVersion`, `BuildTime`, `Os`, `Arch` and `Experimental`
    /// from the `Engine` component's details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// `GET /version` (swagger: `SystemVersion`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemVersion {
    #[serde(rename = "Platform", default)]
    pub platform: PlatformName,
    #[serde(rename = "Components", default)]
    pub components: Vec<ComponentVersion>,
    #[serde(rename = "Version", default)]
    pub version: String,
    #[serde(rename = "ApiVersion", default)]
    pub api_version: String,
    #[serde(rename = "MinAPIVersion", default)]
    pub min_api_version: String,
    #[serde(rename = "GitCommit", default)]
    pub git_commit: String,
    #[serde(rename = "GoVersion", default)]
    pub go_version: String,
    #[serde(rename = "Os", default)]
    pub os: String,
    #[serde(rename = "Arch", default)]
    pub arch: String,
    #[serde(rename = "KernelVersion", default)]
    pub kernel_version: String,
    #[serde(
        rename = "Experimental",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub experimental: bool,
    #[serde(rename = "BuildTime", default)]
    pub build_time: String,
}

/// `Plugins` in `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginsInfo {
    #[serde(default)]
    pub volume: Vec<String>,
    #[serde(default)]
    pub network: Vec<String>,
    #[serde(default)]
    pub authorization: Option<Vec<String>>,
    #[serde(default)]
    pub log: Vec<String>,
}

/// An entry of `RegistryConfig.IndexConfigs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexInfo {
    pub name: String,
    #[serde(default)]
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

/// `RegistryConfig` in `GET /info`; the docker CLI prints its insecure
/// registries and mirrors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs", default)]
    pub insecure_registry_cidrs: Vec<String>,
    #[serde(rename = "IndexConfigs", default)]
    pub index_configs: BTreeMap<String, IndexInfo>,
    #[serde(rename = "Mirrors", default)]
    pub mirrors: Vec<String>,
}

/// An entry of `Runtimes` in `GET /info` (lower-case keys, as in swagger).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(
        rename = "runtimeArgs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_args: Option<Vec<String>>,
}

/// `ContainerdCommit`, `RuncCommit`, `InitCommit` in `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Commit {
    #[serde(rename = "ID", default)]
    pub id: String,
}

/// `Swarm` in `GET /info`: berth has no swarm mode, so it always says
/// `inactive` (the docker CLI prints `Swarm: inactive`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInfo {
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    #[serde(rename = "NodeAddr", default)]
    pub node_addr: String,
    #[serde(default)]
    pub local_node_state: String,
    #[serde(default)]
    pub control_available: bool,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub remote_managers: Option<Vec<serde_json::Value>>,
}

/// `GET /info` (swagger: `SystemInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Containers", default)]
    pub containers: i64,
    #[serde(rename = "ContainersRunning", default)]
    pub containers_running: i64,
    #[serde(rename = "ContainersPaused", default)]
    pub containers_paused: i64,
    #[serde(rename = "ContainersStopped", default)]
    pub containers_stopped: i64,
    #[serde(rename = "Images", default)]
    pub images: i64,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "DriverStatus", default)]
    pub driver_status: Vec<[String; 2]>,
    #[serde(rename = "DockerRootDir", default)]
    pub docker_root_dir: String,
    #[serde(rename = "Plugins", default)]
    pub plugins: PluginsInfo,
    #[serde(rename = "MemoryLimit", default)]
    pub memory_limit: bool,
    #[serde(rename = "SwapLimit", default)]
    pub swap_limit: bool,
    #[serde(rename = "CpuCfsPeriod", default)]
    pub cpu_cfs_period: bool,
    #[serde(rename = "CpuCfsQuota", default)]
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares", default)]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet", default)]
    pub cpu_set: bool,
    #[serde(rename = "PidsLimit", default)]
    pub pids_limit: bool,
    #[serde(rename = "OomKillDisable", default)]
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding", default)]
    pub ipv4_forwarding: bool,
    /// Deprecated: always false since Docker 28, omitted from API 1.49 on.
    #[serde(
        rename = "BridgeNfIptables",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bridge_nf_iptables: Option<bool>,
    /// Deprecated: always false since Docker 28, omitted from API 1.49 on.
    #[serde(
        rename = "BridgeNfIp6tables",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bridge_nf_ip6tables: Option<bool>,
    #[serde(rename = "Debug", default)]
    pub debug: bool,
    #[serde(rename = "NFd", default)]
    pub nfd: i64,
    #[serde(rename = "NGoroutines", default)]
    pub ngoroutines: i64,
    #[serde(rename = "SystemTime", default)]
    pub system_time: String,
    #[serde(rename = "LoggingDriver", default)]
    pub logging_driver: String,
    #[serde(rename = "CgroupDriver", default)]
    pub cgroup_driver: String,
    #[serde(rename = "CgroupVersion", default)]
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener", default)]
    pub nevents_listener: i64,
    #[serde(rename = "KernelVersion", default)]
    pub kernel_version: String,
    #[serde(rename = "OperatingSystem", default)]
    pub operating_system: String,
    #[serde(rename = "OSVersion", default)]
    pub os_version: String,
    #[serde(rename = "OSType", default)]
    pub os_type: String,
    #[serde(rename = "Architecture", default)]
    pub architecture: String,
    #[serde(rename = "NCPU", default)]
    pub ncpu: i64,
    #[serde(rename = "MemTotal", default)]
    pub mem_total: i64,
    #[serde(rename = "IndexServerAddress", default)]
    pub index_server_address: String,
    #[serde(rename = "RegistryConfig", default)]
    pub registry_config: Option<RegistryConfig>,
    #[serde(rename = "HttpProxy", default)]
    pub http_proxy: String,
    #[serde(rename = "HttpsProxy", default)]
    pub https_proxy: String,
    #[serde(rename = "NoProxy", default)]
    pub no_proxy: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Labels", default)]
    pub labels: Vec<String>,
    #[serde(rename = "ExperimentalBuild", default)]
    pub experimental_build: bool,
    #[serde(rename = "ServerVersion", default)]
    pub server_version: String,
    #[serde(rename = "Runtimes", default)]
    pub runtimes: BTreeMap<String, Runtime>,
    #[serde(rename = "DefaultRuntime", default)]
    pub default_runtime: String,
    #[serde(rename = "Swarm", default)]
    pub swarm: SwarmInfo,
    #[serde(rename = "LiveRestoreEnabled", default)]
    pub live_restore_enabled: bool,
    #[serde(rename = "Isolation", default)]
    pub isolation: String,
    #[serde(rename = "InitBinary", default)]
    pub init_binary: String,
    #[serde(rename = "ContainerdCommit", default)]
    pub containerd_commit: Commit,
    #[serde(rename = "RuncCommit", default)]
    pub runc_commit: Commit,
    #[serde(rename = "InitCommit", default)]
    pub init_commit: Commit,
    #[serde(rename = "SecurityOptions", default)]
    pub security_options: Vec<String>,
    #[serde(rename = "CDISpecDirs", default)]
    pub cdi_spec_dirs: Vec<String>,
    #[serde(rename = "Warnings", default)]
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_uses_swagger_field_names() {
        let v = SystemVersion {
            api_version: "1.51".into(),
            min_api_version: "1.24".into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["ApiVersion"], "1.51");
        assert_eq!(json["MinAPIVersion"], "1.24");
        assert!(json.get("Experimental").is_none(), "omitted when false");
        assert!(json["Platform"]["Name"].is_string());
    }

    #[test]
    fn info_uses_swagger_field_names() {
        let json = serde_json::to_value(SystemInfo::default()).unwrap();
        for key in [
            "ID",
            "NCPU",
            "MemTotal",
            "OSType",
            "CPUShares",
            "CPUSet",
            "IPv4Forwarding",
            "CgroupVersion",
            "DockerRootDir",
            "NFd",
            "NEventsListener",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        let registry = serde_json::to_value(RegistryConfig::default()).unwrap();
        assert!(registry.get("InsecureRegistryCIDRs").is_some());
    }

    #[test]
    fn info_decodes_dockerd_sample() {
        // Trimmed from a real dockerd 28 answer: unknown fields are ignored,
        // the ones we know land in place.
        let body = r#"{"ID":"abc","Containers":2,"Driver":"overlay2",
            "DriverStatus":[["Backing Filesystem","extfs"]],"Runtimes":{"runc":{"path":"runc"}},
            "Swarm":{"NodeID":"","LocalNodeState":"inactive"},"FirewallBackend":{"Driver":"iptables"}}"#;
        let info: SystemInfo = serde_json::from_str(body).unwrap();
        assert_eq!(info.containers, 2);
        assert_eq!(info.driver_status[0][1], "extfs");
        assert_eq!(info.runtimes["runc"].path.as_deref(), Some("runc"));
        assert_eq!(info.swarm.local_node_state, "inactive");
    }
}
