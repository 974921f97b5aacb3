//! The new mount API calls the runtime needs (`open_tree`, `mount_setattr`).

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::{Result, SysError};

// The same numbers on every architecture (the unified syscall table, 5.2+).
const SYS_OPEN_TREE: libc::c_long = 428;
const SYS_MOUNT_SETATTR: libc::c_long = 442;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: u64 = 1;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes a detached, read-only bind mount of the single file at `path` and
/// returns an `O_PATH` descriptor of the file on it.
///
/// The mount belongs to no mount namespace, so nothing can remount it
/// writable; anything that reaches the file through the descriptor (or
/// through `/proc/<pid>/exe` of a process exec'd from it) gets `EROFS` when
/// it tries to write. Needs Linux 5.12 (`mount_setattr`).
pub fn readonly_file_clone(path: &Path) -> Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError {
        call: "open_tree",
        errno: nix::errno::Errno::EINVAL,
    })?;
    // SAFETY: open_tree reads the NUL-terminated path, which lives until the
    // call returns, and returns a new descriptor or -1; no memory is written.
    let fd = unsafe {
        libc::syscall(
            SYS_OPEN_TREE,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(SysError::last("open_tree"));
    }
    // SAFETY: the kernel just returned this new descriptor; nothing else
    // owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: mount_setattr reads `attr` (a live, correctly laid out
    // struct mount_attr of the size passed) and the empty path string; it
    // only changes the detached mount that `fd` refers to.
    let ret = unsafe {
        libc::syscall(
            SYS_MOUNT_SETATTR,
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(SysError::last("mount_setattr"));
    }
    Ok(fd)
}
