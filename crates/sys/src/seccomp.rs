//! Loading a seccomp filter that the runtime compiled to classic BPF.

use crate::{Result, SysError};

/// One classic-BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `SECCOMP_FILTER_FLAG_TSYNC`
pub const FLAG_TSYNC: u32 = 1;
/// `SECCOMP_FILTER_FLAG_LOG`
pub const FLAG_LOG: u32 = 2;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`
pub const FLAG_SPEC_ALLOW: u32 = 4;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// Installs `program` as a seccomp filter for the calling thread with
/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`.
///
/// The caller must hold `CAP_SYS_ADMIN` or have set `no_new_privs`.
pub fn load_filter(program: &[SockFilter], flags: u32) -> Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| SysError {
        call: "seccomp(SECCOMP_SET_MODE_FILTER)",
        errno: nix::errno::Errno::E2BIG,
    })?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `SockFilter` is #[repr(C)] with the same layout as
    // `struct sock_filter` (u16, u8, u8, u32). `prog` points to `program`,
    // which outlives the call; the kernel copies the program and never
    // writes through the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        Err(SysError::last("seccomp(SECCOMP_SET_MODE_FILTER)"))
    } else {
        Ok(())
    }
}
