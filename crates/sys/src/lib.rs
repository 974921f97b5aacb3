//! `berth-sys` is the one crate in berth that may use `unsafe`.
//!
//! Everything here is a thin, safe wrapper around one Linux syscall (or a
//! short, fixed sequence of them) that neither `nix` nor the standard library
//! exposes safely. Each `unsafe` block carries a `// SAFETY:` comment that
//! lists the invariants it relies on. File descriptors cross this boundary as
//! [`std::os::fd::OwnedFd`] / [`std::os::fd::BorrowedFd`], never as raw
//! integers owned by nobody.
//!
//! Modules:
//! - [`process`]: `fork`/`clone` for a single-threaded caller, with namespace
//!   flags and `CLONE_PARENT`.
//! - [`fd`]: `close_range`, marking every inherited descriptor close-on-exec.
//! - [`seccomp`]: loading a compiled classic-BPF filter.
//! - [`tty`]: making a pty the controlling terminal, window sizes.
//! - [`prctl`]: the few `prctl` options the runtime needs.

pub mod bpf;
pub mod fd;
pub mod mem;
pub mod mount;
pub mod prctl;
pub mod process;
pub mod seccomp;
pub mod socket;
pub mod tty;

/// The result of a failed syscall: which call, and the errno it returned.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {errno}")]
pub struct SysError {
    /// The syscall or libc function that failed.
    pub call: &'static str,
    /// The error the kernel reported.
    pub errno: nix::errno::Errno,
}

impl SysError {
    pub(crate) fn last(call: &'static str) -> Self {
        Self {
            call,
            errno: nix::errno::Errno::last(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, SysError>;
