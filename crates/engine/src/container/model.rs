//! The container as the engine stores it (`<data-root>/containers/<id>/config.v2.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the caller asked for at create time (docker's `Config`, the parts
/// the engine handles today). `None` means "the image's value".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateOptions {
    /// Container name (without the leading `/`); generated when missing.
    pub name: Option<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` entries, added to (and overriding) the image's.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub labels: BTreeMap<String, String>,
    /// Remove the container when it exits (docker's `HostConfig.AutoRemove`).
    #[serde(default)]
    pub auto_remove: bool,
    /// docker's `HostConfig.LogConfig` (driver and `--log-opt`s).
    #[serde(default)]
    pub log_config: super::logs::LogConfig,
    /// The terminal's initial `[height, width]` (docker's
    /// `HostConfig.ConsoleSize`); `None` when not given.
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
    /// docker's `Config.AttachStdin`/`AttachStdout`/`AttachStderr`/
    /// `StdinOnce`: what the client that created it meant to attach to
    /// (kept for inspect; attaching is a request of its own).
    #[serde(default)]
    pub attach_stdin: bool,
    #[serde(default)]
    pub attach_stdout: bool,
    #[serde(default)]
    pub attach_stderr: bool,
    #[serde(default)]
    pub stdin_once: bool,
    /// `--stop-signal` (docker's `Config.StopSignal`); the image's if `None`.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--health-*`/`--no-healthcheck` (docker's `Config.Healthcheck` as
    /// sent); merged with the image's at create.
    #[serde(default)]
    pub healthcheck: Option<super::health::HealthConfig>,
    /// `--restart` (docker's `HostConfig.RestartPolicy`).
    #[serde(default)]
    pub restart_policy: super::restart::RestartPolicy,
    /// `--init` (docker's `HostConfig.Init`); `None`: the daemon's default.
    #[serde(default)]
    pub init: Option<bool>,
    /// `--stop-timeout` in seconds (docker's `Config.StopTimeout`; -1: wait
    /// for ever); `None`: 10 s.
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// `--memory`, `--cpus`, `--pids-limit`, `--ulimit`, ... (docker's
    /// `HostConfig` resources).
    #[serde(default)]
    pub resources: super::resources::Resources,
    /// Capabilities, seccomp, namespaces, read-only root, tmpfs, groups
    /// (docker's `HostConfig` security fields and `Config.Domainname`).
    #[serde(default)]
    pub security: super::security::SecurityOptions,
    /// `-v`, `--mount`, `--volumes-from`, `--volume-driver` and `-v /path`
    /// (docker's `HostConfig.Binds`/`Mounts`/`VolumesFrom`/`VolumeDriver`,
    /// `Config.Volumes`), as given.
    #[serde(default)]
    pub mounts: super::mounts::MountOptions,
    /// `-p`, `-P`, `--expose` (docker's `HostConfig.PortBindings`,
    /// `PublishAllPorts`, `Config.ExposedPorts`).
    #[serde(default)]
    pub ports: super::ports::PortOptions,
    /// `--dns`, `--dns-search`, `--dns-option`, `--add-host` (docker's
    /// `HostConfig.Dns`, `DnsSearch`, `DnsOptions`, `ExtraHosts`).
    #[serde(default)]
    pub dns: super::networking::DnsSettings,
    /// `--network`, `--ip`, `--network-alias`, `network connect` (docker's
    /// `HostConfig.NetworkMode` and `NetworkingConfig.EndpointsConfig`).
    #[serde(default)]
    pub network: crate::network::ContainerNetworks,
    /// `--link` on the default bridge (docker's `HostConfig.Links`), by
    /// the linked containers' IDs once created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<super::links::Link>,
}

/// The lifecycle status, with docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    /// Waiting out the back-off before its restart policy starts it again.
    Restarting,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

/// The runtime state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: Status,
    /// Init's host pid while running, 0 otherwise.
    pub pid: i32,
    /// The shim's pid while one runs for the container, 0 otherwise.
    pub shim_pid: i32,
    pub exit_code: i32,
    /// RFC 3339; empty until first started.
    pub started_at: String,
    /// RFC 3339; empty until first exited.
    pub finished_at: String,
    /// Why a start failed, docker's `State.Error`.
    pub error: String,
    /// The kernel's OOM killer killed a process of the container during
    /// its last run (docker's `State.OOMKilled`).
    #[serde(default)]
    pub oom_killed: bool,
    /// Frozen by `pause` (docker's `State.Paused`); the status stays
    /// `Running`, as in docker, where a paused container is running too.
    #[serde(default)]
    pub paused: bool,
}

impl State {
    /// docker's `State.Status` / `ps` STATE: `paused` for a paused
    /// running container, else the status's name.
    pub fn status_name(&self) -> &'static str {
        if self.paused && self.status == Status::Running {
            "paused"
        } else {
            self.status.as_str()
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self {
            status: Status::Created,
            pid: 0,
            shim_pid: 0,
            exit_code: 0,
            started_at: String::new(),
            finished_at: String::new(),
            error: String::new(),
            oom_killed: false,
            paused: false,
        }
    }
}

/// The resolved process of a container (image defaults merged with options).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Process {
    /// Entrypoint + cmd: `args[0]` is docker's `Path`, the rest its `Args`.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    /// As given (`uid[:gid]` or `name[:group]`), empty = root.
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// The image ID (`sha256:...`).
    pub image: String,
    /// The image as the user named it.
    pub image_ref: String,
    /// What the user asked for.
    pub options: CreateOptions,
    /// What will run.
    pub process: Process,
    pub labels: BTreeMap<String, String>,
    /// The image's stop signal, if it has one (`SIGQUIT`, `3`, ...).
    #[serde(default)]
    pub stop_signal: Option<String>,
    pub state: State,
    /// The health check (merged config) and its state, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Healthcheck>,
    /// Restart policy bookkeeping (docker's `RestartCount`, ...).
    #[serde(default)]
    pub restart: super::restart::RestartState,
    /// Its mounts as resolved at create (docker's `MountPoints`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<super::mounts::MountPoint>,
    /// The host ports held while it runs (docker's `NetworkSettings.Ports`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub published_ports: super::ports::PortMap,
    /// How many exits this engine has seen (for `wait` with `next-exit`);
    /// not stored.
    #[serde(skip)]
    pub(crate) exits: u64,
    /// A start or an exit is being handled (outside the table lock).
    #[serde(skip)]
    pub(crate) busy: bool,
}

/// When `wait` returns (docker's `condition`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// At once if the container is not running, else at its exit.
    #[default]
    NotRunning,
    /// At the container's next exit (even if it is not started yet):
    /// what `docker run` uses before it starts the container.
    NextExit,
    /// When the container has been removed.
    Removed,
}

impl WaitCondition {
    /// Docker's names: `not-running` (also empty), `next-exit`, `removed`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "not-running" => Some(Self::NotRunning),
            "next-exit" => Some(Self::NextExit),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// Parses a signal given as a number or a name (`SIGTERM`, `TERM`).
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = text.trim_start_matches("SIG").to_ascii_uppercase();
    let n = match name.as_str() {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return None,
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("kill"), Some(9));
        assert_eq!(parse_signal("3"), Some(3));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("SIGNOPE"), None);
    }

    #[test]
    fn a_paused_running_container_reads_paused() {
        let mut s = State {
            status: Status::Running,
            paused: true,
            ..State::default()
        };
        assert_eq!(s.status_name(), "paused");
        s.status = Status::Exited;
        assert_eq!(s.status_name(), "exited");
        // Documents stored before pause existed read as not paused.
        let old: State = serde_json::from_str(
            r#"{"Status":"running","Pid":1,"ShimPid":2,"ExitCode":0,"StartedAt":"","FinishedAt":"","Error":""}"#,
        )
        .unwrap();
        assert!(!old.paused);
    }

    #[test]
    fn status_json_is_docker_names() {
        assert_eq!(
            serde_json::to_string(&Status::Exited).unwrap(),
            "\"exited\""
        );
    }
}
