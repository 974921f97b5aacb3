//! Requests, responses and the status types they carry.
//!
//! Everything is JSON with snake_case tags so it reads well in a debug log
//! and a Go or shell client could speak it too:
//!
//! ```json
//! {"op":"kill","signal":15,"all":false}
//! {"ok":{"kind":"done"}}
//! {"err":{"class":"Conflict","message":"container \"c1\" is stopped: ..."}}
//! ```

use oci_spec::runtime::{LinuxResources, Process};
use serde::{Deserialize, Serialize};

/// A request on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Starts the created container (its init execs the process).
    /// Reply: [`Reply::Done`].
    Start,
    /// Reply: [`Reply::State`].
    State,
    /// Sends `signal` to init, or to every process of the container
    /// (`all`). Reply: [`Reply::Done`].
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Starts `process` in the running container. A terminal is allocated
    /// when `process.terminal` is true. `stdin` gives it a stdin pipe fed
    /// by attach clients (otherwise `/dev/null`). Attach to its streams with
    /// `AttachRequest { exec_id: Some(..) }` *before* this request to see
    /// all of its output. Reply: [`Reply::Started`].
    Exec {
        exec_id: String,
        process: Box<Process>,
        #[serde(default)]
        stdin: bool,
    },
    /// Reply: [`Reply::ExecState`].
    ExecState { exec_id: String },
    /// Drops what the shim keeps of an exec that has exited (or of clients waiting for an exec that never
    /// started), so frequent execs (health checks) do not add up.
    /// With attach clients left, it goes once they have had the rest of
    /// its output. Reply: [`Reply::Done`]; `Conflict` while it runs.
    ForgetExec { exec_id: String },
    /// Sets the terminal size of the container (`exec_id: None`) or of an
    /// exec. Reply: [`Reply::Done`]; `InvalidArgument` without a terminal.
    Resize {
        #[serde(default)]
        exec_id: Option<String>,
        width: u16,
        height: u16,
    },
    /// Answers when the container's init (or the exec) has exited, at once
    /// if it already has. Any number of waiters. Reply: [`Reply::Exited`].
    Wait {
        #[serde(default)]
        exec_id: Option<String>,
    },
    /// Reply: [`Reply::Stats`].
    Stats,
    /// New cgroup limits. Reply: [`Reply::Done`].
    Update { resources: Box<LinuxResources> },
    /// Freezes the container. Reply: [`Reply::Done`].
    Pause,
    /// Thaws the container. Reply: [`Reply::Done`].
    Resume,
    /// Deletes the container (cgroup, runtime state); with `force` a live
    /// one is killed first, otherwise that is a `Conflict`. The shim answers,
    /// then exits. Reply: [`Reply::Done`].
    Delete {
        #[serde(default)]
        force: bool,
    },
    /// Like `Delete { force: true }`: the shim kills what is left of the
    /// container, deletes it and exits. Reply: [`Reply::Done`].
    Shutdown,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok(Reply),
    Err(ShimError),
}

impl From<Result<Reply, ShimError>> for Response {
    fn from(r: Result<Reply, ShimError>) -> Self {
        match r {
            Ok(reply) => Self::Ok(reply),
            Err(err) => Self::Err(err),
        }
    }
}

impl From<Response> for Result<Reply, ShimError> {
    fn from(r: Response) -> Self {
        match r {
            Response::Ok(reply) => Ok(reply),
            Response::Err(err) => Err(err),
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Done,
    /// The container: `pid` is init's pid in the shim's (host) pid
    /// namespace; `exit` is set once init has exited and been reaped.
    State {
        status: Status,
        pid: i32,
        #[serde(default)]
        exit: Option<ExitStatus>,
    },
    /// An exec process was started with this host pid.
    Started {
        pid: i32,
    },
    /// An exec process; `exit` is set once it has exited.
    ExecState {
        pid: i32,
        #[serde(default)]
        exit: Option<ExitStatus>,
    },
    /// The answer to `Wait`.
    Exited(ExitStatus),
    /// `berth_cgroups::Stats` as JSON (the engine, which may depend on
    /// berth-cgroups, reads it; this crate stays free of it).
    Stats {
        stats: serde_json::Value,
    },
}

/// The container's lifecycle status, as the OCI state calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

/// How a process ended. Also the content of [`crate::EXIT_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, or 128 + the signal number when it was killed.
    pub exit_code: i32,
    /// When the shim reaped it, RFC 3339 with nanoseconds, UTC.
    pub exited_at: String,
    /// For the container's init: the kernel's OOM killer killed one of the
    /// container's processes while it ran (its cgroup's `oom_kill` count).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
}

/// What kind of failure, so the daemon can map it to an HTTP status
/// without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorClass {
    /// No such exec (or the container's state is gone).
    NotFound,
    /// Not possible in the current state (e.g. kill a stopped container).
    Conflict,
    /// The request itself is wrong (bad signal, bad process, no terminal).
    InvalidArgument,
    /// Anything else.
    Internal,
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ShimError {
    pub class: ErrorClass,
    pub message: String,
}

impl ShimError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

/// The one line the shim prints on its standard output once the container
/// is created and both sockets listen (or creating it failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ready {
    /// `pid`: the shim (after it detached); `init_pid`: the container's
    /// init, blocked until [`Request::Start`].
    Ready {
        pid: i32,
        init_pid: i32,
    },
    Error(ShimError),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn requests_have_stable_json() {
        let kill: Request = serde_json::from_value(json!({"op": "kill", "signal": 9})).unwrap();
        assert!(matches!(
            kill,
            Request::Kill {
                signal: 9,
                all: false
            }
        ));
        assert_eq!(
            serde_json::to_value(Request::Resize {
                exec_id: None,
                width: 80,
                height: 24
            })
            .unwrap(),
            json!({"op": "resize", "exec_id": null, "width": 80, "height": 24})
        );
        assert_eq!(
            serde_json::to_value(Request::Start).unwrap(),
            json!({"op": "start"})
        );
        let exec: Request = serde_json::from_value(json!({
            "op": "exec", "exec_id": "e1",
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}}
        }))
        .unwrap();
        let Request::Exec {
            exec_id,
            process,
            stdin,
        } = exec
        else {
            panic!("not an exec");
        };
        assert_eq!(exec_id, "e1");
        assert!(!stdin);
        assert_eq!(process.args().as_deref(), Some(&["true".to_string()][..]));
    }

    #[test]
    fn responses_round_trip() {
        let cases = [
            Response::Ok(Reply::Done),
            Response::Ok(Reply::State {
                status: Status::Stopped,
                pid: 42,
                exit: Some(ExitStatus {
                    exit_code: 137,
                    exited_at: "2026-11-23T12:00:00.000000000Z".into(),
                    oom_killed: true,
                }),
            }),
            Response::Err(ShimError::new(ErrorClass::NotFound, "no such exec")),
            Response::Ok(Reply::Stats {
                stats: json!({"pids": {"current": 1}}),
            }),
        ];
        for case in cases {
            let text = serde_json::to_string(&case).unwrap();
            let back: Response = serde_json::from_str(&text).unwrap();
            assert_eq!(back, case, "{text}");
        }
        assert_eq!(
            serde_json::to_value(Response::Ok(Reply::Done)).unwrap(),
            json!({"ok": {"kind": "done"}})
        );
        assert_eq!(
            serde_json::to_value(Response::Err(ShimError::new(ErrorClass::Conflict, "x"))).unwrap(),
            json!({"err": {"class": "Conflict", "message": "x"}})
        );
    }

    #[test]
    fn ready_line() {
        assert_eq!(
            serde_json::to_string(&Ready::Ready {
                pid: 1,
                init_pid: 2
            })
            .unwrap(),
            r#"{"ready":{"pid":1,"init_pid":2}}"#
        );
    }
}
