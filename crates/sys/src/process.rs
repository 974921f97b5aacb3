//! Process creation for a single-threaded caller.
//!
//! The runtime forks while it sets up a container. `fork` in a multi-threaded
//! process is only safe if the child calls nothing but async-signal-safe
//! functions, which the runtime cannot promise (it allocates, formats errors,
//! parses JSON). So these wrappers refuse to run unless the calling process
//! has exactly one thread, which turns a subtle memory-safety hazard into a
//! clear error. The berth daemon is multi-threaded and never calls them: it
//! execs `berth-shim` instead (see docs/design.md).

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::{Result, SysError};

/// Which side of a fork/clone the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// In the parent; carries the child's pid.
    Parent(Pid),
    /// In the child.
    Child,
}

/// Number of threads of the calling process, read from `/proc/self/stat`.
pub fn thread_count() -> Option<usize> {
    let stat = fs_err::read_to_string("/proc/self/stat").ok()?;
    // The second field (comm) may contain spaces and parentheses; fields
    // after the last ')' are fixed. num_threads is field 20 (1-based), i.e.
    // the 18th field after comm.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(17)?.parse().ok()
}

fn ensure_single_threaded(call: &'static str) -> Result<()> {
    match thread_count() {
        Some(1) => Ok(()),
        _ => Err(SysError {
            call,
            errno: nix::errno::Errno::EDEADLK,
        }),
    }
}

/// `clone(2)` without a new stack, so it behaves like `fork(2)` with extra
/// flags: new namespaces (`CLONE_NEW*`) and/or `CLONE_PARENT`.
///
/// The caller must be single-threaded; otherwise this returns an error with
/// `EDEADLK` and creates nothing.
pub fn clone_fork(flags: CloneFlags) -> Result<Forked> {
    ensure_single_threaded("clone")?;
    // SAFETY: the process has a single thread (checked above), so the child
    // starts with a consistent copy of the whole address space, as after
    // fork(2). The stack pointer argument is NULL, which makes the kernel
    // reuse the caller's stack copy-on-write, exactly like fork. The
    // parent/child tid pointers are unused because no CLONE_*TID flag is
    // accepted from the caller (only namespace and CLONE_PARENT flags reach
    // here, see the mask below).
    let ret = unsafe {
        let allowed = CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUSER
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWCGROUP
            | CloneFlags::CLONE_PARENT;
        let bits = (flags & allowed).bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
        libc::syscall(
            libc::SYS_clone,
            bits,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(SysError::last("clone")),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// `fork(2)` for a single-threaded caller.
pub fn fork() -> Result<Forked> {
    clone_fork(CloneFlags::empty())
}

/// Leaves the process immediately with `code`, without running atexit
/// handlers or flushing stdio buffers that belong to the parent (`_exit(2)`).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}
