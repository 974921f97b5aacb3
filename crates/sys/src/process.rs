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

/// Proof, checked at creation, that the calling process had one thread.
///
/// `clone_fork` needs it. Take it right before forking: reading
/// `/proc/self/stat` stops working once a process has joined another
/// pid namespace's mount namespace (its `/proc` no longer shows itself),
/// so a child that must fork again after `setns` takes the token first.
/// The token is neither `Send` nor `Sync`, so it cannot wander to a thread.
#[derive(Debug)]
pub struct SingleThreaded(std::marker::PhantomData<*const ()>);

impl SingleThreaded {
    /// Checks that the process has exactly one thread right now.
    pub fn check() -> Result<Self> {
        match thread_count() {
            Some(1) => Ok(Self(std::marker::PhantomData)),
            _ => Err(SysError {
                call: "fork (the process must be single-threaded)",
                errno: nix::errno::Errno::EDEADLK,
            }),
        }
    }
}

/// `clone(2)` without a new stack, so it behaves like `fork(2)` with extra
/// flags: new namespaces (`CLONE_NEW*`) and/or `CLONE_PARENT`.
///
/// `_proof` shows the caller checked it is single-threaded (see
/// [`SingleThreaded`]) and has started no thread since.
pub fn clone_fork(_proof: &SingleThreaded, flags: CloneFlags) -> Result<Forked> {
    // SAFETY: the process has a single thread (the caller holds a
    // SingleThreaded token, which cannot leave this thread), so the child
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
pub fn fork(proof: &SingleThreaded) -> Result<Forked> {
    clone_fork(proof, CloneFlags::empty())
}

/// Leaves the process immediately with `code`, without running atexit
/// handlers or flushing stdio buffers that belong to the parent (`_exit(2)`).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}
