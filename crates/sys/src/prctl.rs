//! The `prctl(2)` options the runtime uses.

use crate::{Result, SysError};

fn prctl(call: &'static str, option: libc::c_int, arg: libc::c_ulong) -> Result<()> {
    // SAFETY: every option passed by this module takes a plain integer as its
    // second argument and no pointers; unused arguments are zero.
    let ret = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret < 0 {
        Err(SysError::last(call))
    } else {
        Ok(())
    }
}

/// `PR_SET_DUMPABLE`: a non-dumpable process cannot be ptraced and its
/// `/proc/<pid>` files (including `exe`) are owned by root, which keeps a
/// container from opening the runtime binary while it is being set up.
pub fn set_dumpable(dumpable: bool) -> Result<()> {
    prctl(
        "prctl(PR_SET_DUMPABLE)",
        libc::PR_SET_DUMPABLE,
        dumpable as libc::c_ulong,
    )
}

/// `PR_SET_CHILD_SUBREAPER`: orphaned descendants are re-parented to us.
pub fn set_child_subreaper(on: bool) -> Result<()> {
    prctl(
        "prctl(PR_SET_CHILD_SUBREAPER)",
        libc::PR_SET_CHILD_SUBREAPER,
        on as libc::c_ulong,
    )
}

/// `PR_SET_PDEATHSIG`: the signal we get when our parent dies.
pub fn set_parent_death_signal(signal: i32) -> Result<()> {
    prctl(
        "prctl(PR_SET_PDEATHSIG)",
        libc::PR_SET_PDEATHSIG,
        signal as libc::c_ulong,
    )
}

/// `PR_SET_NO_NEW_PRIVS`: execve can never grant more privileges.
pub fn set_no_new_privs() -> Result<()> {
    prctl("prctl(PR_SET_NO_NEW_PRIVS)", libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// `PR_SET_KEEPCAPS`: keep permitted capabilities across a uid change.
pub fn set_keep_caps(on: bool) -> Result<()> {
    prctl(
        "prctl(PR_SET_KEEPCAPS)",
        libc::PR_SET_KEEPCAPS,
        on as libc::c_ulong,
    )
}

/// `PR_SET_NAME`: the thread name shown in `ps` (at most 15 bytes).
pub fn set_name(name: &str) -> Result<()> {
    let mut buf = [0u8; 16];
    for (dst, src) in buf.iter_mut().zip(name.bytes().take(15)) {
        *dst = src;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes
    // from the pointer; `buf` is 16 bytes and its last byte is always 0.
    let ret = unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
    if ret < 0 {
        Err(SysError::last("prctl(PR_SET_NAME)"))
    } else {
        Ok(())
    }
}
