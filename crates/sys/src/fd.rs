//! File descriptor hygiene before a process enters a container.
//!
//! Every descriptor the runtime holds that the container should not see must
//! be closed or marked close-on-exec before `execve`. CVE-2024-21626 ("Leaky
//! Vessels", GHSA-xr7r-f8xq-vfvv) was a runc leak of a host directory fd into
//! the container, which let a process reach the host filesystem through
//! `/proc/self/fd/N`.

use std::os::fd::RawFd;

use crate::{Result, SysError};

/// Marks every descriptor numbered `first` and above close-on-exec
/// (`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`), falling back to walking
/// `/proc/self/fd` on kernels without `close_range` (before 5.11).
pub fn cloexec_from(first: RawFd) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; it closes nothing, so no Rust object's fd becomes invalid.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let err = SysError::last("close_range");
    let Ok(dir) = fs_err::read_dir("/proc/self/fd") else {
        return Err(err);
    };
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        else {
            continue;
        };
        if fd >= first {
            // SAFETY: F_SETFD only changes the descriptor's flags. A stale
            // number (the read_dir fd itself, already closed) yields EBADF,
            // which is ignored.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                }
            }
        }
    }
    Ok(())
}

/// Closes every descriptor numbered `first` and above.
///
/// Only for a freshly forked child that owns no Rust object holding one of
/// those descriptors (or that will never touch such an object again before
/// `exec`/`_exit`).
pub fn close_from(first: RawFd) -> Result<()> {
    // SAFETY: the caller promises no live Rust object will use a descriptor
    // in this range afterwards (documented contract above).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(SysError::last("close_range"))
    }
}
