//! The exec endpoints: `POST /containers/{id}/exec`, `POST /exec/{id}/start`,
//! `GET /exec/{id}/json` (moby's `ExecConfig`, `ExecStartConfig`,
//! `ExecInspectResponse`).

use serde::{Deserialize, Serialize};

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateRequest {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// `[height, width]` (API 1.42+); `null` when there is no terminal.
    pub console_size: Option<[u16; 2]>,
    pub detach_keys: String,
    pub tty: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub privileged: bool,
    pub user: String,
    pub working_dir: String,
}

/// The answer to a create: `{"Id": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdResponse {
    #[serde(rename = "Id")]
    pub id: String,
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartRequest {
    pub detach: bool,
    pub tty: bool,
    pub console_size: Option<[u16; 2]>,
}

/// `ProcessConfig` of [`ExecInspect`] (lower-case names, as dockerd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecProcessConfig {
    pub tty: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
}

/// The answer to `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    /// `null` until the process has exited.
    pub exit_code: Option<i64>,
    pub process_config: ExecProcessConfig,
    pub open_stdin: bool,
    pub open_stderr: bool,
    pub open_stdout: bool,
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// The detach keys as bytes, base64 (Go's `[]byte` in JSON).
    pub detach_keys: String,
    pub pid: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_as_the_docker_cli_sends_it() {
        let body = r#"{"User":"","Privileged":false,"Tty":true,"ConsoleSize":[24,80],
            "AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"DetachKeys":"",
            "Env":null,"WorkingDir":"","Cmd":["sh"]}"#;
        let r: ExecCreateRequest = serde_json::from_str(body).unwrap();
        assert!(r.tty && r.attach_stdin);
        assert_eq!(r.console_size, Some([24, 80]));
        assert_eq!(r.cmd.as_deref(), Some(&["sh".to_owned()][..]));
        let s: ExecStartRequest = serde_json::from_str(r#"{"Detach":true}"#).unwrap();
        assert!(s.detach && !s.tty);
    }

    #[test]
    fn inspect_names() {
        let v = serde_json::to_value(ExecInspect::default()).unwrap();
        for k in [
            "ID",
            "ContainerID",
            "ExitCode",
            "ProcessConfig",
            "Pid",
            "OpenStdin",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert!(v["ExitCode"].is_null());
        assert!(v["ProcessConfig"].get("tty").is_some());
    }
}
