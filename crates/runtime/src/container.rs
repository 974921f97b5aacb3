//! The container lifecycle: create, start, run, state, kill, delete, exec,
//! ps, pause and resume, on top of the state directory under `--root`.
//!
//! Every operation re-reads the state from disk; nothing is cached between
//! commands, because each runc-style command is a separate process.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, LinuxNamespaceType, Process, Spec};

use crate::namespaces::{NamespaceError, Plan};
use crate::process::{self, InitKind, MainHooks, ProcessError, Spawn};
use crate::spec::SpecError;
use crate::state::{EXEC_FIFO, State, StateError, StateRoot, Status};
use crate::wait;

/// Everything that can go wrong in a lifecycle operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("linux.seccomp: {0}")]
    Seccomp(String),
    #[error("{phase} hook failed: {message}")]
    Hook {
        phase: &'static str,
        message: String,
    },
    #[error("container \"{id}\" is {status}: {what}")]
    WrongStatus {
        id: String,
        status: Status,
        what: &'static str,
    },
    #[error("{what} {path}: {}", crate::spec::io_reason(source))]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
    #[error("{first}\n(while cleaning up: {cleanup})")]
    WithCleanup { first: Box<Error>, cleanup: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { what, path, source }
}

/// Options for `create` and `run`.
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
}

/// Options for `exec`.
#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
}

/// Receives warnings (labels that cannot be applied, ...).
pub type WarningSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// The runtime, rooted at a state directory (`--root`).
#[derive(Clone)]
pub struct Runtime {
    root: StateRoot,
    warn: Option<WarningSink>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("root", &self.root).finish()
    }
}

struct Cgroup {
    manager: Box<dyn berth_cgroups::Manager>,
}

/// The host's cgroup layout, read from /proc/self/mountinfo once per
/// process (it does not change under us, and every lifecycle step needs it).
fn cgroup_layout() -> Result<&'static berth_cgroups::CgroupLayout, Error> {
    static LAYOUT: std::sync::OnceLock<berth_cgroups::CgroupLayout> = std::sync::OnceLock::new();
    if let Some(layout) = LAYOUT.get() {
        return Ok(layout);
    }
    let layout = berth_cgroups::detect().map_err(|e| Error::Cgroup(e.to_string()))?;
    Ok(LAYOUT.get_or_init(|| layout))
}

fn cgroup_for(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup, Error> {
    let layout = cgroup_layout()?;
    let manager = berth_cgroups::manager(layout, cgroups_path, id)
        .map_err(|e| Error::Cgroup(e.to_string()))?;
    Ok(Cgroup { manager })
}

/// `linux.resources` plus the device rules every container gets, as runc's
/// `AllowedDevices`: mknod of anything, the default devices, ptys, tun, and
/// each device listed in `linux.devices`. Without them a spec that starts
/// with "deny all" (as `runc spec` writes) could not even open /dev/null.
fn effective_resources(spec: &Spec) -> Option<oci_spec::runtime::LinuxResources> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let linux = spec.linux().as_ref()?;
    let mut resources = linux.resources().clone().unwrap_or_default();
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    let mut devices = resources.devices().clone().unwrap_or_default();
    if devices.is_empty() {
        // No rules at all means "deny everything else", as in runc.
        let mut deny = LinuxDeviceCgroup::default();
        deny.set_allow(false);
        deny.set_access(Some("rwm".to_string()));
        devices.push(deny);
    }
    let c = LinuxDeviceType::C;
    devices.extend([
        rule(c, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(c, Some(1), Some(3), "rwm"),
        rule(c, Some(1), Some(8), "rwm"),
        rule(c, Some(1), Some(7), "rwm"),
        rule(c, Some(5), Some(0), "rwm"),
        rule(c, Some(1), Some(5), "rwm"),
        rule(c, Some(1), Some(9), "rwm"),
        rule(c, Some(136), None, "rwm"),
        rule(c, Some(5), Some(2), "rwm"),
        rule(c, Some(10), Some(200), "rwm"),
    ]);
    for dev in linux.devices().iter().flatten() {
        let typ = match dev.typ() {
            LinuxDeviceType::U => c,
            other => other,
        };
        devices.push(rule(typ, Some(dev.major()), Some(dev.minor()), "rwm"));
    }
    resources.set_devices(Some(devices));
    Some(resources)
}

fn cgroups_path(spec: &Spec) -> Option<String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.display().to_string())
}

struct CreateHooks<'a> {
    cgroup: &'a Cgroup,
    spec: &'a Spec,
    id: &'a str,
    bundle: &'a Path,
    rootfs: &'a Path,
    created: &'a str,
}

impl MainHooks for CreateHooks<'_> {
    fn join_cgroup(&mut self, pid: i32) -> Result<(), String> {
        self.cgroup.manager.add_task(pid).map_err(|e| e.to_string())
    }

    fn run_hooks(&mut self, pid: i32) -> Result<String, ProcessError> {
        let state = State {
            id: self.id.to_string(),
            bundle: self.bundle.to_path_buf(),
            rootfs: self.rootfs.to_path_buf(),
            pid,
            pid_start: 0,
            created: self.created.to_string(),
            owner: String::new(),
            cgroups_path: None,
            spec: self.spec.clone(),
        };
        let json = serde_json::to_string(&state.oci(Status::Creating)).unwrap_or_default();
        let hooks = self.spec.hooks().as_ref();
        #[allow(deprecated)]
        let prestart = hooks.and_then(|h| h.prestart().as_ref());
        for (phase, list) in [
            ("prestart", prestart),
            (
                "createRuntime",
                hooks.and_then(|h| h.create_runtime().as_ref()),
            ),
        ] {
            if let Some(list) = list {
                crate::hooks::run_hooks(list, json.as_bytes(), phase).map_err(|e| {
                    ProcessError::Hook {
                        phase,
                        message: e.to_string(),
                    }
                })?;
            }
        }
        Ok(json)
    }
}

struct ExecHooks<'a> {
    cgroup: &'a Cgroup,
}

impl MainHooks for ExecHooks<'_> {
    fn join_cgroup(&mut self, pid: i32) -> Result<(), String> {
        self.cgroup.manager.add_task(pid).map_err(|e| e.to_string())
    }

    fn run_hooks(&mut self, _pid: i32) -> Result<String, ProcessError> {
        Ok(String::new())
    }
}

fn connect_console(path: Option<&Path>) -> Result<Option<OwnedFd>, Error> {
    match path {
        None => Ok(None),
        Some(p) => {
            let stream =
                UnixStream::connect(p).map_err(io("cannot connect to --console-socket", p))?;
            Ok(Some(OwnedFd::from(stream)))
        }
    }
}

fn compile_seccomp(spec: &Spec) -> Result<Option<crate::seccomp::Filter>, Error> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        None => Ok(None),
        Some(s) => crate::seccomp::compile(s)
            .map(Some)
            .map_err(|e| Error::Seccomp(e.to_string())),
    }
}

/// Writes `pid` to `path` atomically, as runc does.
fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let tmp = path.with_extension("berth-tmp");
    fs_err::write(&tmp, pid.to_string()).map_err(io("cannot write the pid file", &tmp))?;
    fs_err::rename(&tmp, path).map_err(io("cannot write the pid file", path))
}

fn run_hook_list(
    list: Option<&Vec<Hook>>,
    state: &State,
    status: Status,
    phase: &'static str,
) -> Result<(), Error> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let json = serde_json::to_string(&state.oci(status)).unwrap_or_default();
    crate::hooks::run_hooks(list, json.as_bytes(), phase).map_err(|e| Error::Hook {
        phase,
        message: e.to_string(),
    })
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: StateRoot::new(root),
            warn: None,
        }
    }

    /// Sends warnings (e.g. AppArmor/SELinux labels that are ignored) to
    /// `sink` instead of dropping them.
    pub fn with_warnings(mut self, sink: WarningSink) -> Self {
        self.warn = Some(sink);
        self
    }

    fn warn_all(&self, warnings: Vec<String>) {
        if let Some(sink) = &self.warn {
            for w in warnings {
                sink(&w);
            }
        }
    }

    pub fn state_root(&self) -> &StateRoot {
        &self.root
    }

    /// Creates the container: init is left blocked until `start`.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<State, Error> {
        let (state, _pty) = self.create_inner(id, opts, |_| Ok(false))?;
        Ok(state)
    }

    /// `want_pty` decides, from the spec, whether init hands its pty
    /// master back to us (foreground `run -t`, berth-shim) instead of to a
    /// console socket.
    fn create_inner(
        &self,
        id: &str,
        opts: &CreateOptions,
        want_pty: impl FnOnce(&Spec) -> Result<bool, Error>,
    ) -> Result<(State, Option<OwnedFd>), Error> {
        crate::state::validate_id(id)?;
        let bundle = fs_err::canonicalize(&opts.bundle)
            .map_err(io("cannot open the bundle", &opts.bundle))?;
        let spec = crate::spec::load(&bundle)?;
        let rootfs = crate::spec::validate(&spec, &bundle)?;
        let want_pty = want_pty(&spec)?;
        self.warn_all(crate::spec::lsm_warnings(&spec, spec.process().as_ref()));
        let linux = spec.linux().as_ref();
        let namespaces = linux
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let plan = Plan::from_spec(&namespaces)?;
        if !plan.creates(LinuxNamespaceType::Mount) {
            return Err(Error::Other(
                "linux.namespaces: berth-runtime needs a new mount namespace (add {\"type\": \"mount\"})"
                    .into(),
            ));
        }
        let seccomp = compile_seccomp(&spec)?;
        let console_socket = connect_console(opts.console_socket.as_deref())?;
        let process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::Other("process: missing".into()))?;

        let dir = self.root.create_dir(id)?;
        let mut cleanup = Cleanup {
            dir: Some(dir.clone()),
            cgroup: None,
        };
        let cg_path = cgroups_path(&spec);
        let result = (|| -> Result<(State, Option<OwnedFd>), Error> {
            let fifo_path = dir.join(EXEC_FIFO);
            nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
                .map_err(|e| io("cannot create", &fifo_path)(e.into()))?;
            let fifo =
                nix::fcntl::open(&fifo_path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(|e| io("cannot open", &fifo_path)(e.into()))?;
            let cgroup = cgroup_for(cg_path.as_deref(), id)?;
            cleanup.cgroup = Some(cgroup_for(cg_path.as_deref(), id)?);
            cgroup
                .manager
                .apply(effective_resources(&spec).as_ref())
                .map_err(|e| Error::Cgroup(e.to_string()))?;
            let created = crate::state::now_rfc3339();
            let started = {
                let mut hooks = CreateHooks {
                    cgroup: &cgroup,
                    spec: &spec,
                    id,
                    bundle: &bundle,
                    rootfs: &rootfs,
                    created: &created,
                };
                process::spawn(
                    Spawn {
                        spec: &spec,
                        process: &process,
                        rootfs: &rootfs,
                        bundle: &bundle,
                        plan,
                        kind: InitKind::Container {
                            fifo,
                            no_pivot: opts.no_pivot,
                        },
                        console_socket,
                        want_pty,
                        preserve_fds: opts.preserve_fds,
                        seccomp,
                    },
                    &mut hooks,
                )?
            };
            let pid = started.pid.as_raw();
            let pid_start = crate::state::process_start(pid)
                .map(|(s, _)| s)
                .ok_or_else(|| Error::Other("the container's init exited during create".into()))?;
            let state = State {
                id: id.to_string(),
                bundle: bundle.clone(),
                rootfs: rootfs.clone(),
                pid,
                pid_start,
                created,
                owner: String::new(),
                cgroups_path: cg_path.clone(),
                spec: spec.clone(),
            };
            if let Err(err) = self
                .root
                .save(&state)
                .map_err(Error::from)
                .and_then(|()| match &opts.pid_file {
                    Some(p) => write_pid_file(p, pid),
                    None => Ok(()),
                })
            {
                let _ = nix::sys::signal::kill(started.pid, Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(started.pid, None);
                return Err(err);
            }
            Ok((state, started.pty_master))
        })();
        match result {
            Ok(ok) => {
                cleanup.disarm();
                Ok(ok)
            }
            Err(err) => Err(cleanup.run(err)),
        }
    }

    /// Loads a container's state and its current status.
    pub fn state(&self, id: &str) -> Result<(State, Status), Error> {
        let state = self.root.load(id)?;
        let status = self.status(&state);
        Ok((state, status))
    }

    /// Every container under the root with its status.
    pub fn list(&self) -> Result<Vec<(State, Status)>, Error> {
        let mut out = Vec::new();
        for id in self.root.list()? {
            if let Ok(state) = self.root.load(&id) {
                let status = self.status(&state);
                out.push((state, status));
            }
        }
        Ok(out)
    }

    fn status(&self, state: &State) -> Status {
        match crate::state::process_start(state.pid) {
            Some((start, false)) if start == state.pid_start => {}
            _ => return Status::Stopped,
        }
        if self.root.dir(&state.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Ok(cg) = cgroup_for(state.cgroups_path.as_deref(), &state.id)
            && cg.manager.is_frozen().unwrap_or(false)
        {
            return Status::Paused;
        }
        Status::Running
    }

    /// Releases init: it execs the container's process.
    pub fn start(&self, id: &str) -> Result<(), Error> {
        let (state, status) = self.state(id)?;
        if status != Status::Created {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status,
                what: "only a created container can be started",
            });
        }
        self.start_created(&state)
    }

    fn start_created(&self, state: &State) -> Result<(), Error> {
        let id = state.id.as_str();
        let fifo_path = self.root.dir(id).join(EXEC_FIFO);
        let fifo = nix::fcntl::open(
            &fifo_path,
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            if e == nix::errno::Errno::ENXIO {
                Error::Other(format!("container \"{id}\": its init process is gone"))
            } else {
                io("cannot open", &fifo_path)(e.into())
            }
        })?;
        nix::unistd::write(&fifo, b"0").map_err(|e| io("cannot write", &fifo_path)(e.into()))?;
        drop(fifo);
        fs_err::remove_file(&fifo_path).map_err(io("cannot remove", &fifo_path))?;
        let hooks = state.spec.hooks().as_ref();
        if let Err(err) = run_hook_list(
            hooks.and_then(|h| h.poststart().as_ref()),
            state,
            Status::Running,
            "poststart",
        ) {
            // The spec: a failing poststart hook is logged, the container keeps running.
            // runc however kills it; we follow runc so failures are never silent.
            let _ = nix::sys::signal::kill(Pid::from_raw(state.pid), Signal::SIGKILL);
            return Err(err);
        }
        Ok(())
    }

    /// Sends `signal` to init, or to every process in the container (`all`).
    pub fn kill(&self, id: &str, signal: Signal, all: bool) -> Result<(), Error> {
        let (state, status) = self.state(id)?;
        if status == Status::Stopped && !all {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status,
                what: "the container is not running",
            });
        }
        if all {
            let cg = cgroup_for(state.cgroups_path.as_deref(), id)?;
            let frozen = status == Status::Paused;
            for pid in cg
                .manager
                .pids()
                .map_err(|e| Error::Cgroup(e.to_string()))?
            {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
            }
            if frozen && signal == Signal::SIGKILL {
                let _ = cg.manager.thaw();
            }
            return Ok(());
        }
        nix::sys::signal::kill(Pid::from_raw(state.pid), signal)
            .map_err(|e| Error::Other(format!("cannot signal container \"{id}\": {e}")))
    }

    /// Deletes a container. A running one needs `force` (it is killed first).
    pub fn delete(&self, id: &str, force: bool) -> Result<(), Error> {
        let (state, status) = self.state(id)?;
        match status {
            Status::Stopped => {}
            Status::Created => self.kill_and_wait(&state)?,
            _ if force => self.kill_and_wait(&state)?,
            _ => {
                return Err(Error::WrongStatus {
                    id: id.to_string(),
                    status,
                    what: "stop it first, or use `delete --force`",
                });
            }
        }
        self.destroy(&state)
    }

    fn kill_and_wait(&self, state: &State) -> Result<(), Error> {
        let cg = cgroup_for(state.cgroups_path.as_deref(), &state.id)?;
        let _ = nix::sys::signal::kill(Pid::from_raw(state.pid), Signal::SIGKILL);
        for pid in cg.manager.pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = cg.manager.thaw();
        wait::until_gone(
            state.pid,
            state.pid_start,
            std::time::Duration::from_secs(10),
        );
        Ok(())
    }

    /// Removes the cgroup and state, runs poststop hooks.
    fn destroy(&self, state: &State) -> Result<(), Error> {
        let cg = cgroup_for(state.cgroups_path.as_deref(), &state.id)?;
        // Processes that outlived init (no pid namespace) are killed too.
        for pid in cg.manager.pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let mut errors = Vec::new();
        if let Err(e) = cg.manager.remove() {
            errors.push(format!("cgroup: {e}"));
        }
        let hooks = state.spec.hooks().as_ref();
        if let Err(e) = run_hook_list(
            hooks.and_then(|h| h.poststop().as_ref()),
            state,
            Status::Stopped,
            "poststop",
        ) {
            errors.push(e.to_string());
        }
        self.root.remove(&state.id)?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Other(errors.join("; ")))
        }
    }

    /// Pids of every process in the container's cgroup.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>, Error> {
        let (state, _) = self.state(id)?;
        let cg = cgroup_for(state.cgroups_path.as_deref(), id)?;
        cg.manager.pids().map_err(|e| Error::Cgroup(e.to_string()))
    }

    /// Freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<(), Error> {
        let (state, status) = self.state(id)?;
        if status != Status::Running {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status,
                what: "only a running container can be paused",
            });
        }
        let cg = cgroup_for(state.cgroups_path.as_deref(), id)?;
        cg.manager
            .freeze()
            .map_err(|e| Error::Cgroup(e.to_string()))
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), Error> {
        let (state, status) = self.state(id)?;
        if status != Status::Paused {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status,
                what: "only a paused container can be resumed",
            });
        }
        let cg = cgroup_for(state.cgroups_path.as_deref(), id)?;
        cg.manager.thaw().map_err(|e| Error::Cgroup(e.to_string()))
    }

    /// Applies new resource limits to a container's cgroup.
    pub fn update(
        &self,
        id: &str,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Result<(), Error> {
        let (state, _) = self.state(id)?;
        let cg = cgroup_for(state.cgroups_path.as_deref(), id)?;
        cg.manager
            .update(resources)
            .map_err(|e| Error::Cgroup(e.to_string()))
    }

    /// How many of the container's processes the OOM killer has killed
    /// (read before `delete`, which removes the cgroup).
    pub fn oom_kills(&self, id: &str) -> Result<u64, Error> {
        let (state, _) = self.state(id)?;
        let cg = cgroup_for(state.cgroups_path.as_deref(), id)?;
        cg.manager
            .oom_kills()
            .map_err(|e| Error::Cgroup(e.to_string()))
    }

    /// Resource usage of a container.
    pub fn stats(&self, id: &str) -> Result<berth_cgroups::Stats, Error> {
        let (state, _) = self.state(id)?;
        let cg = cgroup_for(state.cgroups_path.as_deref(), id)?;
        cg.manager.stats().map_err(|e| Error::Cgroup(e.to_string()))
    }

    /// `run`: create, start, and unless `detach`, wait for the container to
    /// exit (forwarding signals), delete it (unless `keep`), and return its
    /// exit code.
    pub fn run(
        &self,
        id: &str,
        opts: &CreateOptions,
        detach: bool,
        keep: bool,
    ) -> Result<i32, Error> {
        let no_socket = opts.console_socket.is_none();
        // Block forwarded signals before init exists, so none is lost.
        let forwarder = if detach {
            None
        } else {
            Some(wait::Forwarder::new().map_err(|e| Error::Other(e.to_string()))?)
        };
        let (state, pty) = self.create_inner(id, opts, |spec| {
            let terminal = spec
                .process()
                .as_ref()
                .and_then(|p| p.terminal())
                .unwrap_or(false);
            if terminal && no_socket && detach {
                return Err(Error::Other(
                    "process.terminal is true: `run --detach` needs --console-socket".into(),
                ));
            }
            Ok(terminal && no_socket && !detach)
        })?;
        if let Err(err) = self.start_created(&state) {
            let _ = self.delete(id, true);
            return Err(err);
        }
        let Some(forwarder) = forwarder else {
            return Ok(0);
        };
        let code = forwarder
            .wait(Pid::from_raw(state.pid), pty.as_ref().map(|p| p.as_fd()))
            .map_err(|e| Error::Other(e.to_string()));
        // init was our child and has been reaped: nothing to wait for.
        let deleted = if keep { Ok(()) } else { self.destroy(&state) };
        let code = code?;
        deleted?;
        Ok(code)
    }

    /// Runs `process` inside a running container. Returns the exit code, or
    /// 0 when detached.
    pub fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32, Error> {
        let terminal = process.terminal().unwrap_or(false);
        if terminal && opts.console_socket.is_none() && opts.detach {
            return Err(Error::Other(
                "a terminal with --detach needs --console-socket".into(),
            ));
        }
        let want_pty = terminal && opts.console_socket.is_none();
        let forwarder = if opts.detach {
            None
        } else {
            Some(wait::Forwarder::new().map_err(|e| Error::Other(e.to_string()))?)
        };
        let started = self.exec_spawn(
            id,
            process,
            opts.console_socket.as_deref(),
            want_pty,
            opts.preserve_fds,
        )?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, started.pid)?;
        }
        match forwarder {
            None => Ok(0),
            Some(f) => f
                .wait(
                    Pid::from_raw(started.pid),
                    started.pty_master.as_ref().map(|p| p.as_fd()),
                )
                .map_err(|e| Error::Other(e.to_string())),
        }
    }

    /// For a caller that supervises processes itself (berth-shim): starts
    /// `process` in the container and returns at once. The process is a
    /// child of the caller; with `process.terminal` the pty master comes
    /// back too.
    pub fn exec_start(
        &self,
        id: &str,
        process: &Process,
        preserve_fds: u32,
    ) -> Result<Spawned, Error> {
        let want_pty = process.terminal().unwrap_or(false);
        self.exec_spawn(id, process, None, want_pty, preserve_fds)
    }

    /// For a caller that supervises the container itself (berth-shim):
    /// `create`, but the pty master (when `process.terminal` is true and no
    /// console socket is given) is returned instead of sent anywhere. init
    /// is a child of the caller, which must reap it.
    pub fn create_with_pty(
        &self,
        id: &str,
        opts: &CreateOptions,
    ) -> Result<(State, Option<OwnedFd>), Error> {
        let no_socket = opts.console_socket.is_none();
        self.create_inner(id, opts, |_| Ok(no_socket))
    }

    fn exec_spawn(
        &self,
        id: &str,
        process: &Process,
        console_socket: Option<&Path>,
        want_pty: bool,
        preserve_fds: u32,
    ) -> Result<Spawned, Error> {
        let (state, status) = self.state(id)?;
        if !matches!(status, Status::Running | Status::Created) {
            return Err(Error::WrongStatus {
                id: id.to_string(),
                status,
                what: "cannot exec in a container that is not running",
            });
        }
        crate::spec::validate_process(process, "process")?;
        self.warn_all(crate::spec::lsm_warnings(&state.spec, Some(process)));
        let namespaces = state
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let plan = Plan::enter_process(state.pid, &namespaces)?;
        let seccomp = compile_seccomp(&state.spec)?;
        let console_socket = connect_console(console_socket)?;
        let cgroup = cgroup_for(state.cgroups_path.as_deref(), id)?;
        let started = process::spawn(
            Spawn {
                spec: &state.spec,
                process,
                rootfs: &state.rootfs,
                bundle: &state.bundle,
                plan,
                kind: InitKind::Exec,
                console_socket,
                want_pty,
                preserve_fds,
                seccomp,
            },
            &mut ExecHooks { cgroup: &cgroup },
        )?;
        Ok(Spawned {
            pid: started.pid.as_raw(),
            pty_master: started.pty_master,
        })
    }
}

/// A process started by [`Runtime::exec_start`].
#[derive(Debug)]
pub struct Spawned {
    /// Its pid in the caller's pid namespace.
    pub pid: i32,
    /// The pty master, when the process has a terminal.
    pub pty_master: Option<OwnedFd>,
}

/// Undoes a half-finished create: the cgroup and the state directory.
struct Cleanup {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
}

impl Cleanup {
    fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
    }

    fn run(mut self, err: Error) -> Error {
        let mut problems = Vec::new();
        if let Some(cg) = self.cgroup.take() {
            for pid in cg.manager.pids().unwrap_or_default() {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            if let Err(e) = cg.manager.remove() {
                problems.push(format!("cgroup: {e}"));
            }
        }
        if let Some(dir) = self.dir.take()
            && let Err(e) = fs_err::remove_dir_all(&dir)
        {
            problems.push(e.to_string());
        }
        if problems.is_empty() {
            err
        } else {
            Error::WithCleanup {
                first: Box::new(err),
                cleanup: problems.join("; "),
            }
        }
    }
}
