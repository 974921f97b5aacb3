//! Starting a process inside a container: the main side of the protocol.
//!
//! ```text
//! main ──clone(CLONE_NEW*)──────────────────────────────▶ init
//!   or ──fork──▶ stage-1 ──setns(paths)──clone(CLONE_PARENT|CLONE_NEW*)──▶ init
//! main: uid/gid maps ──Go──▶ init (mounts)   main: cgroup ──CgroupJoined──▶ init
//! init ──RunHooks──▶ main (prestart, createRuntime) ──HooksDone(state)──▶ init
//! init ──Ready──▶ main            (create: init then blocks on exec.fifo)
//! init: execve -> channel closes   (exec: end-of-file means success)
//! ```
//!
//! stage-1 only exists when namespaces must be joined by path: `setns` into
//! a pid namespace only affects children, and joining a mount namespace
//! changes what every later path means, so the joins happen in a throwaway
//! process whose child (made a sibling of init's caller with CLONE_PARENT)
//! becomes the container. When nothing is joined, main clones init directly
//! and saves a fork — the common case for `berth run`.

pub mod channel;
mod init;

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Process, Spec};

use self::channel::{Channel, ChannelError, Message};
use crate::namespaces::Plan;

pub(crate) use init::InitKind;

/// Errors starting the container process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("cannot start the container process: {0}")]
    Clone(berth_sys::SysError),
    #[error("cannot write {path}: {source}")]
    IdMap {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot add the container process to its cgroup: {0}")]
    Cgroup(String),
    #[error("{phase} hook failed: {message}")]
    Hook {
        phase: &'static str,
        message: String,
    },
}

/// What to start and how.
pub(crate) struct Spawn<'a> {
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub plan: Plan,
    pub kind: InitKind,
    /// Connected `--console-socket`, if any.
    pub console_socket: Option<OwnedFd>,
    /// Ask init to hand the pty master back over the channel (foreground `-t`).
    pub want_pty: bool,
    pub preserve_fds: u32,
    /// Compiled `linux.seccomp`, installed by init.
    pub seccomp: Option<crate::seccomp::Filter>,
}

/// Callbacks main runs while init waits.
pub(crate) trait MainHooks {
    /// Adds `pid` to the container's cgroup.
    fn join_cgroup(&mut self, pid: i32) -> Result<(), String>;
    /// Runs prestart and createRuntime hooks; returns the state JSON that
    /// init passes to createContainer hooks.
    fn run_hooks(&mut self, pid: i32) -> Result<String, ProcessError>;
}

/// The started process.
#[derive(Debug)]
pub(crate) struct Started {
    pub pid: Pid,
    pub pty_master: Option<OwnedFd>,
}

/// Starts the container (or exec) process and drives the protocol until
/// init is ready (create) or has exec'd (exec).
///
/// On error the process, if it was started, has been killed and reaped.
pub(crate) fn spawn(
    mut spawn: Spawn<'_>,
    hooks: &mut dyn MainHooks,
) -> Result<Started, ProcessError> {
    let (main_end, child_end) = channel::pair()?;
    // The cgroup namespace is unshared by init itself after it joined its
    // cgroup, so that the namespace's root is the container's cgroup.
    let clone_flags = spawn.plan.new - CloneFlags::CLONE_NEWCGROUP;
    let proof = berth_sys::process::SingleThreaded::check().map_err(ProcessError::Clone)?;
    let pid = if spawn.plan.join.is_empty() {
        match berth_sys::process::clone_fork(&proof, clone_flags).map_err(ProcessError::Clone)? {
            berth_sys::process::Forked::Child => {
                drop(main_end);
                init::run(&mut spawn, child_end)
            }
            berth_sys::process::Forked::Parent(pid) => pid,
        }
    } else {
        match berth_sys::process::fork(&proof).map_err(ProcessError::Clone)? {
            berth_sys::process::Forked::Child => {
                drop(main_end);
                stage1(&mut spawn, &proof, clone_flags, child_end)
            }
            berth_sys::process::Forked::Parent(stage1) => {
                let got = main_end.recv();
                let _ = waitpid(stage1, None);
                match got? {
                    Some((Message::InitPid(pid), _)) => Pid::from_raw(pid),
                    Some((Message::Error(msg), _)) => return Err(ChannelError::Remote(msg).into()),
                    Some((other, _)) => {
                        return Err(ChannelError::Unexpected {
                            expected: "the init pid",
                            got: other,
                        }
                        .into());
                    }
                    None => return Err(ChannelError::Closed("reported its pid").into()),
                }
            }
        }
    };
    drop(child_end);
    match drive(&spawn, pid, &main_end, hooks) {
        Ok(pty_master) => Ok(Started { pid, pty_master }),
        Err(err) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(pid, None);
            Err(err)
        }
    }
}

fn drive(
    spawn: &Spawn<'_>,
    pid: Pid,
    chan: &Channel,
    hooks: &mut dyn MainHooks,
) -> Result<Option<OwnedFd>, ProcessError> {
    if spawn.plan.creates(LinuxNamespaceType::User) {
        let linux = spawn.spec.linux().as_ref();
        write_id_map(
            pid,
            "uid_map",
            linux.and_then(|l| l.uid_mappings().as_deref()),
        )?;
        write_id_map(
            pid,
            "gid_map",
            linux.and_then(|l| l.gid_mappings().as_deref()),
        )?;
    }
    match spawn.kind {
        InitKind::Exec => {
            hooks
                .join_cgroup(pid.as_raw())
                .map_err(ProcessError::Cgroup)?;
            chan.send(&Message::Go)?;
        }
        InitKind::Container { .. } => {
            // Let init set up its mounts while we move it into its cgroup:
            // on cgroup v1 the first migration waits for an RCU grace
            // period (cgroup_threadgroup_rwsem), often 5-15 ms, which is
            // the single most expensive step of `create`. init waits for
            // CgroupJoined before anything that depends on its cgroup.
            chan.send(&Message::Go)?;
            hooks
                .join_cgroup(pid.as_raw())
                .map_err(ProcessError::Cgroup)?;
            chan.send(&Message::CgroupJoined)?;
        }
    }
    let mut pty = None;
    loop {
        match chan.recv()? {
            None => {
                return match spawn.kind {
                    // exec: the channel is close-on-exec, so end-of-file
                    // means execve succeeded.
                    InitKind::Exec => Ok(pty),
                    InitKind::Container { .. } => {
                        Err(ChannelError::Closed("finished creating the container").into())
                    }
                };
            }
            Some((Message::RunHooks, _)) => {
                let state = hooks.run_hooks(pid.as_raw())?;
                chan.send(&Message::HooksDone(state))?;
            }
            Some((Message::PtyMaster, fd)) => pty = fd,
            Some((Message::Ready, _)) => return Ok(pty),
            Some((Message::Error(msg), _)) => return Err(ChannelError::Remote(msg).into()),
            Some((other, _)) => {
                return Err(ChannelError::Unexpected {
                    expected: "the container's progress",
                    got: other,
                }
                .into());
            }
        }
    }
}

/// stage-1: join namespaces by path, clone init, report its pid, exit.
fn stage1(
    spawn: &mut Spawn<'_>,
    proof: &berth_sys::process::SingleThreaded,
    flags: CloneFlags,
    chan: Channel,
) -> ! {
    let _ = berth_sys::prctl::set_name("berth:[1:STAGE]");
    if let Err(err) = spawn.plan.join_all() {
        let _ = chan.send(&Message::Error(err.to_string()));
        berth_sys::process::exit_now(1);
    }
    match berth_sys::process::clone_fork(proof, flags | CloneFlags::CLONE_PARENT) {
        Ok(berth_sys::process::Forked::Child) => init::run(spawn, chan),
        Ok(berth_sys::process::Forked::Parent(pid)) => {
            let code = match chan.send(&Message::InitPid(pid.as_raw())) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            berth_sys::process::exit_now(code)
        }
        Err(err) => {
            let _ = chan.send(&Message::Error(format!(
                "cannot start the container process: {err}"
            )));
            berth_sys::process::exit_now(1)
        }
    }
}

fn write_id_map(
    pid: Pid,
    file: &str,
    mappings: Option<&[LinuxIdMapping]>,
) -> Result<(), ProcessError> {
    let mut text = String::new();
    for m in mappings.unwrap_or_default() {
        text.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    let path = format!("/proc/{pid}/{file}");
    fs_err::write(&path, text).map_err(|source| ProcessError::IdMap { path, source })
}
