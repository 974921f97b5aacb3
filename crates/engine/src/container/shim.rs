//! Talking to `berth-shim`: starting it (exec, never fork) and its control
//! socket. Blocking I/O; callers on an async runtime use `spawn_blocking`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_shim_proto::attach::AttachRequest;
use berth_shim_proto::frame::{read_frame, write_frame};
use berth_shim_proto::{
    ATTACH_SOCKET, CONTROL_SOCKET, EXIT_FILE, ExitStatus, Ready, Reply, Request, Response,
};

use super::ContainerError;

/// How to start one shim.
#[derive(Debug, Clone)]
pub(crate) struct Launch<'a> {
    pub binary: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub state_dir: &'a Path,
    pub runtime_root: &'a Path,
    /// The json-file log; `None` for `--log-driver none`.
    pub log_path: Option<&'a Path>,
    /// `(max-size in bytes, 0 = unlimited; max-file)`.
    pub log_rotation: (u64, u32),
    /// Attributes for every log record (the log options' `labels`, `env`,
    /// `tag`, ...); empty for none.
    pub log_attrs: &'a std::collections::BTreeMap<String, String>,
    pub stdin: bool,
    pub terminal: bool,
}

/// Runs the shim and reads its ready line: `(shim pid, init pid)`.
pub(crate) fn spawn(l: &Launch<'_>) -> Result<(i32, i32), ContainerError> {
    let mut cmd = Command::new(l.binary);
    cmd.arg("--id")
        .arg(l.id)
        .arg("--bundle")
        .arg(l.bundle)
        .arg("--state-dir")
        .arg(l.state_dir)
        .arg("--runtime-root")
        .arg(l.runtime_root);
    if let Some(path) = l.log_path {
        cmd.arg("--log-path").arg(path);
        let (max_size, max_file) = l.log_rotation;
        if max_size > 0 {
            cmd.arg("--log-max-size")
                .arg(max_size.to_string())
                .arg("--log-max-file")
                .arg(max_file.to_string());
        }
        if !l.log_attrs.is_empty() {
            let json =
                serde_json::to_string(l.log_attrs).map_err(|e| ContainerError::Internal {
                    message: format!("cannot encode the log attributes: {e}"),
                })?;
            cmd.arg("--log-attrs").arg(json);
        }
    }
    if l.stdin {
        cmd.arg("--stdin");
    }
    if l.terminal {
        cmd.arg("--terminal");
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| ContainerError::Shim {
            message: format!("cannot run {}: {e}", l.binary.display()),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    match serde_json::from_str::<Ready>(line) {
        Ok(Ready::Ready { pid, init_pid }) => Ok((pid, init_pid)),
        Ok(Ready::Error(err)) => Err(ContainerError::from_shim(err)),
        Err(_) => Err(ContainerError::Shim {
            message: format!(
                "berth-shim exited with {} without a ready line: {}{}",
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
    }
}

/// A connection to a shim's control socket.
pub(crate) fn connect(state_dir: &Path) -> Result<UnixStream, ContainerError> {
    let path = state_dir.join(CONTROL_SOCKET);
    UnixStream::connect(&path).map_err(|e| ContainerError::ShimGone {
        message: format!("cannot reach the shim at {}: {e}", path.display()),
    })
}

/// One request on an open connection.
pub(crate) fn call(stream: &mut UnixStream, req: &Request) -> Result<Reply, ContainerError> {
    let lost = |e: String| ContainerError::ShimGone {
        message: format!("shim connection: {e}"),
    };
    write_frame(stream, req).map_err(|e| lost(e.to_string()))?;
    let resp: Option<Response> = read_frame(stream).map_err(|e| lost(e.to_string()))?;
    match resp {
        None => Err(lost("closed before answering".into())),
        Some(Response::Ok(reply)) => Ok(reply),
        Some(Response::Err(err)) => Err(ContainerError::from_shim(err)),
    }
}

/// A connection to the attach socket, after the handshake.
pub(crate) fn attach(
    state_dir: &Path,
    opts: &super::AttachOptions,
) -> Result<UnixStream, ContainerError> {
    attach_to(state_dir, None, opts)
}

/// A connection to the streams of the container (`exec_id: None`) or of
/// one exec (the shim waits for an exec that has not started yet).
pub(crate) fn attach_to(
    state_dir: &Path,
    exec_id: Option<&str>,
    opts: &super::AttachOptions,
) -> Result<UnixStream, ContainerError> {
    let path = state_dir.join(ATTACH_SOCKET);
    let lost = |e: String| ContainerError::ShimGone {
        message: format!("cannot attach at {}: {e}", path.display()),
    };
    let mut stream = UnixStream::connect(&path).map_err(|e| lost(e.to_string()))?;
    let req = AttachRequest {
        exec_id: exec_id.map(str::to_owned),
        stdin: opts.stdin,
        stdout: opts.stdout,
        stderr: opts.stderr,
        close_stdin: opts.close_stdin,
    };
    write_frame(&mut stream, &req).map_err(|e| lost(e.to_string()))?;
    let resp: Option<Response> = read_frame(&mut stream).map_err(|e| lost(e.to_string()))?;
    match resp {
        None => Err(lost("closed before answering".into())),
        Some(Response::Ok(_)) => Ok(stream),
        Some(Response::Err(err)) => Err(ContainerError::from_shim(err)),
    }
}

/// One request on a fresh connection.
pub(crate) fn request(state_dir: &Path, req: &Request) -> Result<Reply, ContainerError> {
    call(&mut connect(state_dir)?, req)
}

/// The exit status the shim recorded, if any.
pub(crate) fn read_exit(state_dir: &Path) -> Option<ExitStatus> {
    let bytes = fs_err::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether `pid` is a live (not zombie) process.
pub(crate) fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let stat = PathBuf::from(format!("/proc/{pid}/stat"));
    match fs_err::read_to_string(&stat) {
        // pid (comm) S ...: the state follows the last ')'.
        Ok(text) => text
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness() {
        assert!(pid_alive(std::process::id() as i32));
        assert!(!pid_alive(0));
        assert!(!pid_alive(i32::MAX));
    }
}
