//! Leaving the daemon: fork once, new session, subreaper.
//!
//! The daemon execs `berth-shim` with its stdout on a pipe. The shim makes a
//! private pipe and forks. The child calls `setsid()` so no signal aimed at
//! the daemon's process group or terminal reaches it, becomes a child
//! subreaper so the container's orphans are reparented to it (and reaped by
//! it) rather than to the host's init, and replaces its stdio with
//! `/dev/null` (stdin, stdout) and `<state-dir>/shim.log` (stderr). The
//! parent relays the child's one ready line from the private pipe to the
//! daemon's pipe and exits (0 if the line says ready), so the daemon can
//! simply run the command and read its output to end-of-file.
//!
//! Why relay instead of letting the child write to the daemon's pipe: the
//! container's init is forked from the shim and holds copies of the shim's
//! descriptors until it execs (at `Start`), so the daemon would not see
//! end-of-file before then.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use berth_shim_proto::{ErrorClass, Ready, SHIM_LOG, ShimError};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// Errors while detaching.
#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("cannot detach from the daemon: {0}")]
    Sys(#[from] berth_sys::SysError),
    #[error("cannot detach from the daemon: {call}: {errno}")]
    Nix {
        call: &'static str,
        errno: nix::errno::Errno,
    },
    #[error("cannot detach from the daemon: {0}")]
    Io(#[from] std::io::Error),
}

fn nix(call: &'static str) -> impl FnOnce(nix::errno::Errno) -> DetachError {
    move |errno| DetachError::Nix { call, errno }
}

/// Which side of the fork we are on after [`detach`].
#[derive(Debug)]
pub enum Detached {
    /// The original process: exit with this code (the ready line has been
    /// relayed to stdout).
    Parent(u8),
    /// The detached shim; the ready line goes to this descriptor.
    Child(OwnedFd),
}

/// Forks and detaches (see the module documentation).
pub fn detach(state_dir: &Path) -> Result<Detached, DetachError> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(nix("pipe2"))?;
    let proof = berth_sys::process::SingleThreaded::check()?;
    if let berth_sys::process::Forked::Parent(_) = berth_sys::process::fork(&proof)? {
        drop(write);
        return Ok(Detached::Parent(relay(read)));
    }
    drop(read);
    nix::unistd::setsid().map_err(nix("setsid"))?;
    berth_sys::prctl::set_child_subreaper(true)?;
    // Nothing of ours keeps the daemon's working directory busy.
    nix::unistd::chdir("/").map_err(nix("chdir /"))?;
    let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(nix("open /dev/null"))?;
    let log_path = state_dir.join(SHIM_LOG);
    let log = nix::fcntl::open(
        &log_path,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(nix("open shim.log"))?;
    nix::unistd::dup2_stdin(&null).map_err(nix("dup2"))?;
    nix::unistd::dup2_stdout(&null).map_err(nix("dup2"))?;
    nix::unistd::dup2_stderr(&log).map_err(nix("dup2"))?;
    Ok(Detached::Child(write))
}

/// Copies the child's first line to stdout; the exit code for the parent.
fn relay(read: OwnedFd) -> u8 {
    let mut line = Vec::new();
    let mut file = std::fs::File::from(read);
    let mut byte = [0u8; 1];
    // Byte by byte up to the newline: the child's end stays open (the
    // container's init holds a copy), so there is no end-of-file to wait for.
    while let Ok(1) = file.read(&mut byte) {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    if line.is_empty() {
        let msg = "the detached shim exited before it was ready (see shim.log)";
        let err = Ready::Error(ShimError::new(ErrorClass::Internal, msg));
        line = serde_json::to_vec(&err).unwrap_or_default();
        line.push(b'\n');
    }
    let ok = matches!(serde_json::from_slice(&line), Ok(Ready::Ready { .. }));
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&line).and_then(|()| out.flush());
    if ok { 0 } else { 1 }
}

/// The longest error message the creating child reports.
const REPORT_MAX: usize = 4096;

/// What [`in_child`]'s work produced: the container's init pid and, with a
/// terminal, the pty master.
pub type Created = (i32, Option<OwnedFd>);

/// Runs `work` (the runtime creating the container) in a throwaway child
/// and returns what it produced.
///
/// Why: creating a container runs most of the runtime (spec parsing,
/// seccomp compilation, cgroups, mounts) once, and its heap, stack and
/// touched text would otherwise stay resident in the shim for the whole
/// life of the container. The child does that work and exits; the
/// container's init, forked by the child, is re-parented to the shim, a
/// child subreaper (as runc's init is re-parented to containerd's shim), so
/// the shim reaps it as before. The child sends the init pid (or the error)
/// and the pty master over a socket pair (`SCM_RIGHTS`); the descriptors it
/// inherited (the container's pipe ends) close when it exits.
pub fn in_child(
    work: impl FnOnce() -> Result<Created, ShimError>,
) -> Result<Result<Created, ShimError>, DetachError> {
    use nix::sys::socket::{
        AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair,
    };
    use std::os::fd::{AsFd, AsRawFd};

    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(nix("socketpair"))?;
    let proof = berth_sys::process::SingleThreaded::check()?;
    let child = match berth_sys::process::fork(&proof)? {
        berth_sys::process::Forked::Parent(pid) => pid,
        berth_sys::process::Forked::Child => {
            drop(ours);
            let result = work();
            let (body, fd) = match result {
                Ok((pid, pty)) => (serde_json::to_vec(&Ok::<i32, ShimError>(pid)), pty),
                Err(mut e) => {
                    // One datagram, read into a small buffer: keep it short.
                    if e.message.len() > REPORT_MAX {
                        let mut end = REPORT_MAX;
                        while !e.message.is_char_boundary(end) {
                            end -= 1;
                        }
                        e.message.truncate(end);
                    }
                    (serde_json::to_vec(&Err::<i32, ShimError>(e)), None)
                }
            };
            let body = body.unwrap_or_default();
            let iov = [std::io::IoSlice::new(&body)];
            let raw = fd.as_ref().map(|f| [f.as_raw_fd()]);
            let cmsg: Vec<ControlMessage<'_>> = raw
                .as_ref()
                .map(|r| vec![ControlMessage::ScmRights(r)])
                .unwrap_or_default();
            let sent = sendmsg::<()>(theirs.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None);
            berth_sys::process::exit_now(if sent.is_ok() { 0 } else { 1 });
        }
    };
    drop(theirs);
    let mut buf = vec![0u8; REPORT_MAX + 1024];
    let received = berth_sys::socket::recv_with_fd(ours.as_fd(), &mut buf);
    // The child exits right after sending; reap it here (the event loop's
    // reaper only knows the container's processes).
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(child, None) {}
    let (n, fd) = received?;
    if n == 0 {
        return Ok(Err(ShimError::new(
            ErrorClass::Internal,
            "the process creating the container exited without reporting (see shim.log)",
        )));
    }
    let reported: Result<i32, ShimError> = serde_json::from_slice(&buf[..n]).map_err(|e| {
        DetachError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad report from the process creating the container: {e}"),
        ))
    })?;
    Ok(reported.map(|pid| (pid, fd)))
}
