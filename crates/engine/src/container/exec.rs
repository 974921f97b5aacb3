//! Exec: extra processes in a running container (`docker exec`).
//!
//! As dockerd, an exec is created (a record in memory, nothing runs), then
//! started once: the process spec is the container's own (`config.json` of
//! its bundle: capabilities, rlimits, no_new_privs, ...) with the exec's
//! command, environment, user, working directory and terminal; `privileged`
//! gives it every capability of the host's bounding set. The shim runs it
//! (`Request::Exec`) and owns its stdio; an attached start connects to the
//! shim's attach socket *before* the process starts, so no output is lost.
//!
//! Records live in memory only (dockerd does not store them either): they
//! go when their container stops or is removed, and exited ones are
//! dropped after [`KEEP_EXITED`]. Exec processes live in the container's
//! pid namespace, so the kernel kills them when its init exits: a stop
//! never waits for them.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use berth_shim_proto::{Reply, Request};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process as OciProcess, Spec};

use super::model::Status;
use super::{AttachOptions, ContainerError, Containers, Inner, lock, resolve, shim, spec};
use crate::error::{Classify, ErrorClass};

type Result<T, E = ContainerError> = std::result::Result<T, E>;

/// How long an exited exec stays inspectable while its container runs
/// (dockerd's exec GC runs every 5 minutes and removes one on its second
/// pass).
const KEEP_EXITED: Duration = Duration::from_secs(600);

/// What `POST /containers/{id}/exec` asks for (docker's `ExecConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    /// The command and its arguments; must not be empty.
    pub cmd: Vec<String>,
    /// `KEY=value` entries added to (and overriding) the container's.
    pub env: Vec<String>,
    /// Empty: the container's user.
    pub user: String,
    /// Empty: the container's working directory.
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
    /// As given (`ctrl-p,ctrl-q`); checked by the API layer.
    pub detach_keys: String,
    /// `[height, width]` of the terminal at start.
    pub console_size: Option<[u16; 2]>,
}

/// An exec as `GET /exec/{id}/json` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    /// With the container's user, working directory and environment
    /// filled in.
    pub config: ExecConfig,
    pub running: bool,
    /// Set once it has exited (or failed to start: 126, 127 as dockerd).
    pub exit_code: Option<i32>,
    /// Host pid once started, 0 before.
    pub pid: i32,
}

/// How `POST /exec/{id}/start` runs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStartOptions {
    /// Nobody attaches: the process gets no stdin and its output is dropped.
    pub detach: bool,
    /// Overrides the size given at create.
    pub console_size: Option<[u16; 2]>,
}

#[derive(Debug)]
struct Record {
    info: ExecInfo,
    started: bool,
    exited_at: Option<Instant>,
}

/// The exec records of every container (a field of the container service).
#[derive(Debug, Default)]
pub(crate) struct Execs {
    table: std::sync::Mutex<HashMap<String, Record>>,
}

impl Execs {
    /// Drops the records of `container_id` (it stopped or is gone).
    pub(crate) fn forget_container(&self, container_id: &str) {
        lock(&self.table).retain(|_, r| r.info.container_id != container_id);
    }

    /// A health probe runs as `pid`: as dockerd, it is one of the
    /// container's execs (`ExecIDs`, `GET /exec/{id}/json`) while it does.
    pub(crate) fn probe_started(&self, info: &ExecInfo, pid: i32) {
        let mut info = info.clone();
        info.running = true;
        info.pid = pid;
        lock(&self.table).insert(
            info.id.clone(),
            Record {
                info,
                started: true,
                exited_at: None,
            },
        );
    }

    /// The probe ended: dockerd drops it at once.
    pub(crate) fn probe_done(&self, exec_id: &str) {
        lock(&self.table).remove(exec_id);
    }
}

fn no_such_exec(id: &str) -> ContainerError {
    ContainerError::ExecNotFound(id.to_owned())
}

fn not_running(id: &str) -> ContainerError {
    ContainerError::Conflict {
        message: format!("Container {id} is not running"),
    }
}

impl Containers {
    /// Sets up an exec in a running container; its ID. Nothing runs yet.
    pub fn exec_create(&self, id_or_name: &str, config: ExecConfig) -> Result<String> {
        if config.cmd.is_empty() {
            return Err(ContainerError::InvalidArgument {
                message: "No exec command specified".into(),
            });
        }
        let (container, env, user, working_dir) = {
            let table = lock(&self.inner.table);
            let c = resolve(&table, id_or_name)?;
            if c.state.status != Status::Running {
                return Err(not_running(&c.id));
            }
            // moby's getActiveContainer (errExecPaused).
            if c.state.paused {
                return Err(ContainerError::Conflict {
                    message: format!(
                        "Container {} is paused, unpause the container before exec",
                        c.id
                    ),
                });
            }
            // As dockerd: the links' variables too (their targets running).
            let base = self.inner.env_with_links(&table, c)?;
            let env = exec_env(&base, c.process.tty, config.tty, &config.env);
            let user = if config.user.is_empty() {
                c.process.user.clone()
            } else {
                config.user.clone()
            };
            let working_dir = if config.working_dir.is_empty() {
                c.process.working_dir.clone()
            } else {
                config.working_dir.clone()
            };
            (c.clone(), env, user, working_dir)
        };
        let id = super::store::new_id()?;
        let action = format!("exec_create: {}", config.cmd.join(" "));
        let info = ExecInfo {
            id: id.clone(),
            container_id: container.id.clone(),
            config: ExecConfig {
                env,
                user,
                working_dir,
                ..config
            },
            running: false,
            exit_code: None,
            pid: 0,
        };
        let mut execs = lock(&self.inner.execs.table);
        execs.retain(|_, r| r.exited_at.is_none_or(|t| t.elapsed() < KEEP_EXITED));
        execs.insert(
            id.clone(),
            Record {
                info,
                started: false,
                exited_at: None,
            },
        );
        drop(execs);
        self.inner
            .emit(&container, &action, &[("execID", id.clone())]);
        Ok(id)
    }

    /// Whether the exec exists and its container runs (dockerd checks
    /// this before it hijacks the connection of an attached start).
    pub fn exec_check(&self, exec_id: &str) -> Result<ExecInfo> {
        let info = lock(&self.inner.execs.table)
            .get(exec_id)
            .map(|r| r.info.clone())
            .ok_or_else(|| no_such_exec(exec_id))?;
        let running = lock(&self.inner.table)
            .get(&info.container_id)
            .map(|c| c.state.status == Status::Running);
        match running {
            None => Err(no_such_exec(exec_id)),
            Some(false) => Err(not_running(&info.container_id)),
            Some(true) => Ok(info),
        }
    }

    /// Starts an exec, once. Attached (`!opts.detach`), the returned
    /// connection carries its output (docker's multiplexed frames without
    /// a terminal, raw with one) and takes its stdin, as for
    /// [`Containers::attach`]. A process that cannot be started gets exit
    /// code 127 (not found) or 126 (anything else), as dockerd.
    pub fn exec_start(&self, exec_id: &str, opts: ExecStartOptions) -> Result<Option<UnixStream>> {
        let info = {
            let mut execs = lock(&self.inner.execs.table);
            let r = execs
                .get_mut(exec_id)
                .ok_or_else(|| no_such_exec(exec_id))?;
            if r.info.exit_code.is_some() {
                return Err(ContainerError::Conflict {
                    message: format!("Error: Exec command {exec_id} has already run"),
                });
            }
            if r.started {
                return Err(ContainerError::Conflict {
                    message: format!("Error: Exec command {exec_id} is already running"),
                });
            }
            r.started = true;
            r.info.running = true;
            r.info.clone()
        };
        match self.inner.launch_exec(&info, opts) {
            Ok((pid, stream)) => {
                if let Some(r) = lock(&self.inner.execs.table).get_mut(exec_id) {
                    r.info.pid = pid;
                }
                let action = format!("exec_start: {}", info.config.cmd.join(" "));
                self.inner
                    .emit_for(&info.container_id, &action, &[("execID", info.id.clone())]);
                Inner::spawn_exec_waiter(&self.inner, &info);
                Ok(stream)
            }
            Err(e) => {
                let code = start_failure_code(&info.config.cmd[0], &e.to_string());
                if let Some(r) = lock(&self.inner.execs.table).get_mut(exec_id) {
                    r.info.running = false;
                    r.info.exit_code = Some(code);
                    r.exited_at = Some(Instant::now());
                }
                Err(e)
            }
        }
    }

    /// The exec as it is now (its exit code once it has exited).
    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInfo> {
        let info = lock(&self.inner.execs.table)
            .get(exec_id)
            .map(|r| r.info.clone())
            .ok_or_else(|| no_such_exec(exec_id))?;
        if !info.running || info.pid == 0 {
            return Ok(info);
        }
        Ok(self.inner.refresh_exec(info))
    }

    /// Sets the size of the exec's terminal. A resize that arrives before
    /// the process runs waits for it (up to 10 s, as dockerd).
    pub fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let info = loop {
            let info = self.exec_check(exec_id)?;
            if info.pid > 0 || info.exit_code.is_some() {
                break info;
            }
            if Instant::now() >= deadline {
                return Err(ContainerError::Internal {
                    message: "timeout waiting for exec session ready".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !info.config.tty || info.exit_code.is_some() {
            return Ok(());
        }
        let req = Request::Resize {
            exec_id: Some(exec_id.to_owned()),
            width,
            height,
        };
        match shim::request(&self.inner.shim_dir(&info.container_id), &req) {
            Ok(_) => Ok(()),
            Err(_) if self.exiting(&info.container_id) => Err(not_running(&info.container_id)),
            // It exited meanwhile.
            Err(e) if e.class() == ErrorClass::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The IDs of the container's execs that have not exited (docker's
    /// `ExecIDs`; `None` when there are none, as dockerd's `null`).
    pub fn exec_ids(&self, container_id: &str) -> Option<Vec<String>> {
        let candidates: Vec<ExecInfo> = lock(&self.inner.execs.table)
            .values()
            .filter(|r| r.info.container_id == container_id && r.info.exit_code.is_none())
            .map(|r| r.info.clone())
            .collect();
        let mut ids: Vec<String> = candidates
            .into_iter()
            .map(|i| {
                if i.running && i.pid > 0 {
                    self.inner.refresh_exec(i)
                } else {
                    i
                }
            })
            .filter(|i| i.exit_code.is_none())
            .map(|i| i.id)
            .collect();
        ids.sort();
        (!ids.is_empty()).then_some(ids)
    }
}

impl Inner {
    /// Builds the process, attaches (unless detached) and starts it: its
    /// host pid and the attach connection.
    fn launch_exec(
        &self,
        info: &ExecInfo,
        opts: ExecStartOptions,
    ) -> Result<(i32, Option<UnixStream>)> {
        let cid = &info.container_id;
        {
            let table = lock(&self.table);
            let c = table.get(cid).ok_or_else(|| no_such_exec(&info.id))?;
            if c.state.status != Status::Running || c.busy {
                return Err(not_running(cid));
            }
        }
        let console = opts.console_size.or(info.config.console_size);
        let process = self.exec_process(info, console)?;
        let state_dir = self.shim_dir(cid);
        let stdin = info.config.attach_stdin && !opts.detach;
        let stream = if opts.detach {
            None
        } else {
            let attach = AttachOptions {
                stdin,
                stdout: info.config.attach_stdout,
                stderr: info.config.attach_stderr,
                close_stdin: stdin,
            };
            Some(shim::attach_to(&state_dir, Some(&info.id), &attach)?)
        };
        let req = Request::Exec {
            exec_id: info.id.clone(),
            process: Box::new(process),
            stdin,
        };
        match shim::request(&state_dir, &req) {
            Ok(Reply::Started { pid }) => Ok((pid, stream)),
            Ok(other) => Err(ContainerError::Internal {
                message: format!("unexpected answer from the shim to an exec: {other:?}"),
            }),
            Err(ContainerError::ShimRequest { class, message }) => {
                // Drop the attach client the shim holds for it.
                drop(stream);
                let _ = shim::request(
                    &state_dir,
                    &Request::ForgetExec {
                        exec_id: info.id.clone(),
                    },
                );
                Err(ContainerError::ShimRequest {
                    class,
                    // dockerd passes containerd's wording on; clients print it.
                    message: format!(
                        "OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown"
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The container's process spec with the exec's changes.
    pub(crate) fn exec_process(
        &self,
        info: &ExecInfo,
        console: Option<[u16; 2]>,
    ) -> Result<OciProcess> {
        let cid = &info.container_id;
        let path = self.bundle_dir(cid).join("config.json");
        let bytes = fs_err::read(&path).map_err(|e| super::store::io(&path, e))?;
        let spec: Spec = serde_json::from_slice(&bytes).map_err(|e| ContainerError::Internal {
            message: format!("{}: {e}", path.display()),
        })?;
        let mut p = spec.process().clone().unwrap_or_default();
        let c = &info.config;
        p.set_args(Some(c.cmd.clone()));
        p.set_env(Some(c.env.clone()));
        p.set_cwd(if c.working_dir.is_empty() {
            "/".into()
        } else {
            c.working_dir.clone().into()
        });
        p.set_terminal(Some(c.tty));
        p.set_console_size(match (c.tty, console) {
            (true, Some([h, w])) if h > 0 && w > 0 => Some(
                oci_spec::runtime::BoxBuilder::default()
                    .height(u64::from(h))
                    .width(u64::from(w))
                    .build()
                    .map_err(|e| ContainerError::Internal {
                        message: format!("console size: {e}"),
                    })?,
            ),
            _ => None,
        });
        let rootfs = self.rootfs_dir(cid);
        let (uid, gid) = spec::resolve_user(&rootfs, &c.user)?;
        let mut user = p.user().clone();
        if uid != user.uid() || gid != user.gid() {
            user.set_uid(uid);
            user.set_gid(gid);
            user.set_additional_gids(None);
        }
        p.set_user(user);
        if c.privileged {
            let all = host_capabilities();
            let mut caps = LinuxCapabilities::default();
            caps.set_bounding(Some(all.clone()));
            caps.set_effective(Some(all.clone()));
            caps.set_permitted(Some(all));
            caps.set_inheritable(None);
            caps.set_ambient(None);
            p.set_capabilities(Some(caps));
        }
        Ok(p)
    }

    /// Emits a container event, if the container is still there.
    fn emit_for(&self, container_id: &str, action: &str, extra: &[(&str, String)]) {
        let c = lock(&self.table).get(container_id).cloned();
        if let Some(c) = c {
            self.emit(&c, action, extra);
        }
    }

    /// Records the exit of a started exec (and emits `exec_die`) on a
    /// thread of its own that waits on the shim.
    fn spawn_exec_waiter(this: &std::sync::Arc<Self>, info: &ExecInfo) {
        let inner = std::sync::Arc::clone(this);
        let exec_id = info.id.clone();
        let container_id = info.container_id.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("exec-{}", &exec_id[..12.min(exec_id.len())]))
            .stack_size(512 * 1024)
            .spawn(move || {
                let req = Request::Wait {
                    exec_id: Some(exec_id.clone()),
                };
                let code = match shim::request(&inner.shim_dir(&container_id), &req) {
                    Ok(Reply::Exited(status)) => status.exit_code,
                    // The shim is gone: the container (and the exec) ended.
                    _ => 137,
                };
                inner.exec_exited(&exec_id, code);
                // The exit is recorded here: the shim can drop its record
                // (a container that runs for months with an exec a minute
                // would otherwise keep every one).
                let _ = shim::request(
                    &inner.shim_dir(&container_id),
                    &Request::ForgetExec {
                        exec_id: exec_id.clone(),
                    },
                );
                inner.emit_for(
                    &container_id,
                    "exec_die",
                    &[("execID", exec_id.clone()), ("exitCode", code.to_string())],
                );
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start an exec waiter");
        }
    }

    /// Records that an exec exited with `code` (once).
    fn exec_exited(&self, exec_id: &str, code: i32) {
        if let Some(r) = lock(&self.execs.table).get_mut(exec_id)
            && r.info.exit_code.is_none()
        {
            r.info.running = false;
            r.info.exit_code = Some(code);
            r.exited_at = Some(Instant::now());
        }
    }

    /// Asks the shim how a running exec is doing and records its exit.
    fn refresh_exec(&self, mut info: ExecInfo) -> ExecInfo {
        let req = Request::ExecState {
            exec_id: info.id.clone(),
        };
        let exit = match shim::request(&self.shim_dir(&info.container_id), &req) {
            Ok(Reply::ExecState { exit, .. }) => exit.map(|s| s.exit_code),
            // The shim is gone: the container (and so the exec) ended.
            Err(e) if e.class() != ErrorClass::InvalidArgument => Some(137),
            _ => None,
        };
        // The waiter may have recorded the exit (and had the shim forget
        // the exec) between our read of the table and this question: its
        // code is the real one, not the "shim gone" guess.
        let recorded = lock(&self.execs.table)
            .get(&info.id)
            .and_then(|r| r.info.exit_code);
        if let Some(code) = recorded.or(exit) {
            info.running = false;
            info.exit_code = Some(code);
            self.exec_exited(&info.id, code);
        }
        info
    }
}

/// dockerd's exec environment: `PATH`, `HOSTNAME`, `TERM` when the exec
/// has a terminal, then the container's configured variables, then the
/// exec's (`ReplaceOrAppendEnvValues`). The container's `TERM=xterm` came
/// from its own terminal and is not passed to an exec without one.
pub(crate) fn exec_env(
    container: &[String],
    container_tty: bool,
    tty: bool,
    extra: &[String],
) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_owned();
    let mut out: Vec<String> = container
        .iter()
        .filter(|e| tty || !container_tty || e.as_str() != "TERM=xterm")
        .cloned()
        .collect();
    if tty && !out.iter().any(|e| key(e) == "TERM") {
        out.push("TERM=xterm".into());
    }
    for e in extra {
        let k = key(e);
        if let Some(slot) = out.iter_mut().find(|x| key(x) == k) {
            slot.clone_from(e);
        } else {
            out.push(e.clone());
        }
    }
    out
}

/// dockerd's `translateContainerdStartErr` for an exec: 127 when the
/// command is not there, 126 when it cannot be run (and for any other
/// failure to start).
fn start_failure_code(cmd: &str, message: &str) -> i32 {
    let m = message.to_lowercase();
    if m.contains(&cmd.to_lowercase())
        && (m.contains("executable file not found") || m.contains("no such file or directory"))
    {
        127
    } else {
        126
    }
}

/// Every capability in berthd's bounding set, as the OCI spec's type:
/// what a privileged exec gets (see [`super::security::host_capabilities`]).
pub(crate) fn host_capabilities() -> std::collections::HashSet<Capability> {
    capability_set(&super::security::host_capabilities())
}

/// `CAP_*` names as the OCI spec's capabilities (unknown names dropped).
fn capability_set(names: &[String]) -> std::collections::HashSet<Capability> {
    names
        .iter()
        .filter_map(|name| {
            serde_json::from_value::<Capability>(serde_json::Value::String(name.clone())).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_as_dockerd() {
        let c = [
            "PATH=/bin".to_owned(),
            "HOSTNAME=h".into(),
            "TERM=xterm".into(),
            "A=1".into(),
        ];
        assert_eq!(
            exec_env(&c, true, false, &["A=2".into(), "B=3".into()]),
            ["PATH=/bin", "HOSTNAME=h", "A=2", "B=3"]
        );
        assert_eq!(
            exec_env(&c[..2], false, true, &[]),
            ["PATH=/bin", "HOSTNAME=h", "TERM=xterm"]
        );
        assert_eq!(exec_env(&c, true, true, &[]), c);
    }

    #[test]
    fn start_failures_as_dockerd() {
        assert_eq!(
            start_failure_code(
                "nosuch",
                "exec: \"nosuch\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(
            start_failure_code("/x", "exec: \"/x\": no such file or directory"),
            127
        );
        assert_eq!(
            start_failure_code("/etc", "exec: \"/etc\": permission denied"),
            126
        );
    }

    fn caps_of_mask(mask: u64) -> std::collections::HashSet<Capability> {
        capability_set(&super::super::security::caps_in_mask(mask))
    }

    #[test]
    fn capability_masks() {
        let caps = caps_of_mask(0b1 | 1 << 21);
        assert_eq!(caps.len(), 2);
        assert!(caps.contains(&Capability::Chown));
        assert!(caps.contains(&Capability::SysAdmin));
        assert_eq!(
            caps_of_mask(u64::MAX).len(),
            super::super::security::CAPS.len()
        );
    }
}
