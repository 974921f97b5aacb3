//! The container side: what init (or an exec'd process) does between the
//! clone and `execve`.
//!
//! Runs single-threaded in the new namespaces. Any failure is sent to main
//! as `Message::Error` and the process exits; nothing here may panic, since
//! a panic in a forked child would print to whatever stderr it inherited and
//! leave main waiting for a message.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Process};

use super::Spawn;
use super::channel::{Channel, Message};

/// Whether this is a container's init or a process exec'd into one.
pub(crate) enum InitKind {
    Container {
        /// `exec.fifo`, opened read-write: init blocks reading it until
        /// `start` writes a byte.
        fifo: OwnedFd,
        no_pivot: bool,
    },
    Exec,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(super) fn run(spawn: &mut Spawn<'_>, chan: Channel) -> ! {
    let err = match run_inner(spawn, &chan) {
        Ok(never) => match never {},
        Err(err) => err,
    };
    let _ = chan.send(&Message::Error(err));
    berth_sys::process::exit_now(1)
}

fn ctx<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> String {
    let what = what.into();
    move |err| format!("{what}: {err}")
}

fn run_inner(spawn: &mut Spawn<'_>, chan: &Channel) -> Result<Infallible, String> {
    let is_exec = matches!(spawn.kind, InitKind::Exec);
    let _ = berth_sys::prctl::set_name(if is_exec {
        "berth:[2:EXEC]"
    } else {
        "berth:[2:INIT]"
    });
    // The signal mask survives execve; main blocks signals for forwarding.
    nix::sys::signal::SigSet::empty()
        .thread_set_mask()
        .map_err(ctx("cannot reset the signal mask"))?;
    chan.expect(Message::Go, "was told to continue")
        .map_err(|e| e.to_string())?;

    let spec = spawn.spec;
    let process = spawn.process;
    // Container init runs its first mounts while main moves it into its
    // cgroup; this waits for that (once), then enters the new cgroup
    // namespace, whose root is thereby the container's cgroup.
    let joined = std::cell::Cell::new(is_exec);
    let new_cgroupns = !is_exec && spawn.plan.creates(LinuxNamespaceType::Cgroup);
    let join_cgroup = || -> Result<(), String> {
        if joined.get() {
            return Ok(());
        }
        chan.expect(Message::CgroupJoined, "joined its cgroup")
            .map_err(|e| e.to_string())?;
        joined.set(true);
        if new_cgroupns {
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                .map_err(ctx("cannot create the cgroup namespace"))?;
        }
        Ok(())
    };
    let in_user_ns =
        spawn.plan.creates(LinuxNamespaceType::User) || spawn.plan.joins(LinuxNamespaceType::User);
    if in_user_ns {
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(ctx("cannot become root (gid 0) in the user namespace"))?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(ctx("cannot become root (uid 0) in the user namespace"))?;
    }

    let mut hook_state: Option<String> = None;
    if let InitKind::Container { fifo, no_pivot } = &spawn.kind {
        if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(hostname).map_err(ctx("hostname: cannot set it"))?;
        }
        if let Some(domain) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            fs_err::write("/proc/sys/kernel/domainname", domain)
                .map_err(ctx("domainname: cannot set it"))?;
        }
        // Relative bind-mount sources are relative to the bundle.
        nix::unistd::chdir(spawn.bundle).map_err(ctx(format!(
            "cannot enter the bundle {}",
            spawn.bundle.display()
        )))?;
        let opts = crate::rootfs::RootfsOptions {
            rootfs: spawn.rootfs,
            in_user_namespace: in_user_ns,
            terminal: process.terminal().unwrap_or(false),
            cgroup_namespace: spawn.plan.creates(LinuxNamespaceType::Cgroup),
            before_cgroup_mount: Some(&join_cgroup),
        };
        crate::rootfs::prepare_rootfs(spec, &opts).map_err(|e| e.to_string())?;
        // No cgroup mount in the spec: the process must still be in its
        // cgroup before hooks and exec.
        join_cgroup()?;
        let hooks = spec.hooks().as_ref();
        let any = |h: Option<&Vec<oci_spec::runtime::Hook>>| h.is_some_and(|v| !v.is_empty());
        #[allow(deprecated)]
        let prestart = hooks.and_then(|h| h.prestart().as_ref());
        if any(prestart)
            || any(hooks.and_then(|h| h.create_runtime().as_ref()))
            || any(hooks.and_then(|h| h.create_container().as_ref()))
            || any(hooks.and_then(|h| h.start_container().as_ref()))
        {
            chan.send(&Message::RunHooks).map_err(|e| e.to_string())?;
            let got = match chan.recv().map_err(|e| e.to_string())? {
                Some((Message::HooksDone(state), _)) => state,
                Some((Message::Error(e), _)) => return Err(e),
                _ => return Err("lost contact with berth-runtime while hooks ran".into()),
            };
            if let Some(list) = hooks.and_then(|h| h.create_container().as_ref()) {
                crate::hooks::run_hooks(list, got.as_bytes(), "createContainer")
                    .map_err(|e| e.to_string())?;
            }
            hook_state = Some(got);
        }
        crate::rootfs::pivot_root(spawn.rootfs, *no_pivot).map_err(|e| e.to_string())?;
        if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
            crate::rootfs::apply_sysctls(sysctl).map_err(|e| e.to_string())?;
        }
        let _ = fifo;
    }

    nix::unistd::setsid().map_err(ctx("cannot start a new session"))?;
    if process.terminal().unwrap_or(false) {
        setup_console(spawn, chan, !is_exec)?;
    }
    if !is_exec {
        crate::rootfs::finalize_rootfs(spec).map_err(|e| e.to_string())?;
    }
    if let Some(adj) = process.oom_score_adj() {
        fs_err::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(ctx("process.oomScoreAdj"))?;
    }
    set_rlimits(process)?;

    let nnp = process.no_new_privileges().unwrap_or(false);
    let seccomp = spawn.seccomp.take();
    if let (Some(filter), false) = (&seccomp, nnp) {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it
        // happens before the capabilities are dropped.
        crate::seccomp::install(filter).map_err(ctx("linux.seccomp"))?;
    }
    let capabilities = process.capabilities().as_ref();
    crate::caps::apply_bounding(capabilities).map_err(|e| e.to_string())?;
    berth_sys::prctl::set_keep_caps(true).map_err(ctx("cannot keep capabilities"))?;
    set_user(process, in_user_ns)?;
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).map_err(ctx(format!("process.cwd: cannot enter {}", cwd.display())))?;
    ensure_cwd_inside_root()?;
    berth_sys::prctl::set_keep_caps(false).map_err(ctx("cannot reset keep-caps"))?;
    crate::caps::apply_process(capabilities).map_err(|e| e.to_string())?;
    let umask = process.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(Mode::from_bits_truncate(umask as nix::libc::mode_t));

    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // As runc: HOME comes from the image's /etc/passwd, else "/".
        env.push(format!("HOME={}", home_dir(process.user().uid())));
    }
    let args = process.args().clone().unwrap_or_default();
    let exe = find_executable(&args, &env)?;
    if nnp {
        berth_sys::prctl::set_no_new_privs().map_err(ctx("process.noNewPrivileges"))?;
    }

    if let InitKind::Container { fifo, .. } = &spawn.kind {
        chan.send(&Message::Ready).map_err(|e| e.to_string())?;
        // Block until `start` writes a byte into exec.fifo.
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(fifo, &mut byte) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => return Err(format!("waiting for start on exec.fifo: {err}")),
            }
        }
        // startContainer hooks run in the container, after start, before
        // the user's program (their paths resolve inside the container).
        if let (Some(list), Some(state)) = (
            spec.hooks()
                .as_ref()
                .and_then(|h| h.start_container().as_ref()),
            &hook_state,
        ) && let Err(err) = crate::hooks::run_hooks(list, state.as_bytes(), "startContainer")
        {
            eprintln!("berth-runtime: {err}");
            berth_sys::process::exit_now(1);
        }
    }
    if let (Some(filter), true) = (&seccomp, nnp) {
        // With no_new_privs, load the filter as late as possible so that it
        // only has to allow what the container's program needs.
        crate::seccomp::install(filter).map_err(ctx("linux.seccomp"))?;
    }
    // CVE-2024-21626: no descriptor of ours may survive into the container.
    berth_sys::fd::cloexec_from(3 + spawn.preserve_fds as i32)
        .map_err(ctx("cannot close inherited descriptors"))?;
    let c_args = to_cstrings(&args, "process.args")?;
    let c_env = to_cstrings(&env, "process.env")?;
    let c_exe = CString::new(exe.as_os_str().as_encoded_bytes())
        .map_err(|_| "process.args[0] contains a NUL byte".to_string())?;
    let err = match nix::unistd::execve(&c_exe, &c_args, &c_env) {
        Ok(never) => match never {},
        Err(err) => err,
    };
    let msg = format!(
        "exec {:?}: {}",
        args.first().map(String::as_str).unwrap_or(""),
        err.desc().to_lowercase()
    );
    if matches!(spawn.kind, InitKind::Container { .. }) {
        // main is gone: the container's stderr is the only place left.
        eprintln!("berth-runtime: {msg}");
        berth_sys::process::exit_now(if err == nix::errno::Errno::ENOENT {
            127
        } else {
            126
        });
    }
    Err(msg)
}

/// After `chdir(process.cwd)`, the working directory must be inside the
/// container's root; a leaked host directory fd used as cwd
/// (`/proc/self/fd/N`) would show up as an unreachable path.
fn ensure_cwd_inside_root() -> Result<(), String> {
    match nix::unistd::getcwd() {
        Ok(path) if path.is_absolute() => Ok(()),
        Ok(path) => Err(format!(
            "process.cwd: resolves outside the container ({})",
            path.display()
        )),
        Err(err) => Err(format!(
            "process.cwd: resolves outside the container ({err})"
        )),
    }
}

/// The home directory of `uid` in the container's `/etc/passwd`.
fn home_dir(uid: u32) -> String {
    let passwd = fs_err::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 6 && fields[2].parse::<u32>().ok() == Some(uid))
                .then(|| fields[5].to_string())
        })
        .find(|home| !home.is_empty())
        .unwrap_or_else(|| "/".to_string())
}

fn to_cstrings(items: &[String], field: &str) -> Result<Vec<CString>, String> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| format!("{field}: {s:?} contains a NUL byte"))
        })
        .collect()
}

fn find_executable(args: &[String], env: &[String]) -> Result<PathBuf, String> {
    let name = args.first().ok_or("process.args: empty")?;
    let check = |p: &Path| {
        nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
            && fs_err::metadata(p).is_ok_and(|m| m.is_file())
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        if check(&p) {
            return Ok(p);
        }
        return Err(match fs_err::metadata(&p) {
            Err(_) => format!("exec: {name:?}: no such file or directory"),
            Ok(_) => format!("exec: {name:?}: permission denied"),
        });
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        if check(&p) {
            return Ok(p);
        }
    }
    Err(format!(
        "exec: {name:?}: executable file not found in $PATH"
    ))
}

fn set_rlimits(process: &Process) -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    for rl in process.rlimits().iter().flatten() {
        let resource = match rl.typ() {
            PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
            PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
            PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
            PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
            PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
            PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
            PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
            PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
            PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
            PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
            PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
            PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
            PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
            PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
            PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
            PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
        };
        setrlimit(resource, rl.soft(), rl.hard()).map_err(|err| {
            let hint = if err == nix::errno::Errno::EPERM {
                " (raising a hard limit above the host's needs CAP_SYS_RESOURCE)"
            } else {
                ""
            };
            format!(
                "process.rlimits: cannot set {} to soft {} hard {}: {}{hint}",
                rl.typ(),
                rl.soft(),
                rl.hard(),
                err.desc().to_lowercase()
            )
        })?;
    }
    Ok(())
}

fn set_user(process: &Process, in_user_ns: bool) -> Result<(), String> {
    let user = process.user();
    let gid = Gid::from_raw(user.gid());
    let uid = Uid::from_raw(user.uid());
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // In a user namespace whose setgroups file says "deny", setgroups fails;
    // only call it when there is something to set or we can.
    let setgroups_allowed = !in_user_ns
        || fs_err::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "allow");
    if setgroups_allowed || !groups.is_empty() {
        nix::unistd::setgroups(&groups).map_err(ctx("process.user.additionalGids"))?;
    }
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(ctx(format!("process.user.gid: cannot switch to {gid}")))?;
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(ctx(format!("process.user.uid: cannot switch to {uid}")))?;
    Ok(())
}

/// Creates the container's pty, makes it the controlling terminal and
/// stdio, and hands the master to whoever asked: the `--console-socket`
/// (as runc does, with the slave's path as the message) or main.
fn setup_console(spawn: &mut Spawn<'_>, chan: &Channel, is_init: bool) -> Result<(), String> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(ctx("cannot open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(ctx("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(ctx("unlockpt"))?;
    let slave_path = nix::pty::ptsname_r(&master).map_err(ctx("ptsname"))?;
    if let Some(size) = spawn.process.console_size() {
        let _ = berth_sys::tty::set_window_size(
            master.as_fd(),
            berth_sys::tty::WinSize {
                rows: u16::try_from(size.height()).unwrap_or(u16::MAX),
                cols: u16::try_from(size.width()).unwrap_or(u16::MAX),
            },
        );
    }
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(ctx(format!("cannot open {slave_path}")))?;
    if is_init && Path::new("/dev/console").exists() {
        nix::mount::mount(
            Some(slave_path.as_str()),
            "/dev/console",
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(ctx("cannot bind the console to /dev/console"))?;
    }
    if let Some(sock) = spawn.console_socket.take() {
        let iov = [IoSlice::new(slave_path.as_bytes())];
        let fds = [master.as_raw_fd()];
        sendmsg::<()>(
            sock.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(ctx("cannot send the pty to --console-socket"))?;
    } else if spawn.want_pty {
        chan.send_with_fd(&Message::PtyMaster, Some(master.as_raw_fd()))
            .map_err(|e| e.to_string())?;
    } else {
        return Err("process.terminal is true but no --console-socket was given".to_string());
    }
    drop(master);
    berth_sys::tty::set_controlling_terminal(slave.as_fd())
        .map_err(ctx("cannot make the pty the controlling terminal"))?;
    nix::unistd::dup2_stdin(&slave).map_err(ctx("dup2 stdin"))?;
    nix::unistd::dup2_stdout(&slave).map_err(ctx("dup2 stdout"))?;
    nix::unistd::dup2_stderr(&slave).map_err(ctx("dup2 stderr"))?;
    Ok(())
}
