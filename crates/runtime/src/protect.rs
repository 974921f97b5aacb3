//! Keeping the runtime binary out of the container's reach (CVE-2019-5736).
//!
//! A process that enters a container (init, or `exec`) is visible inside it
//! until it calls `execve`, and `/proc/<pid>/exe` of that process is the
//! runtime binary. In CVE-2019-5736 a malicious image made that final
//! `execve` run the runtime itself (`#!/proc/self/exe`) and then overwrote
//! it through `/proc/self/exe`. So berth-runtime never enters a container
//! while its executable is a writable file on the host:
//!
//! 1. If it already runs from a read-only mount or a sealed memfd, fine.
//! 2. Otherwise it makes a detached read-only bind mount of its own binary
//!    (`open_tree` + `mount_setattr`, Linux 5.12+) and re-executes from it.
//!    The mount is in no namespace, so nobody can make it writable again,
//!    and exec'ing it shares the page cache: about as cheap as a plain
//!    re-exec. (runc 1.2 reached a similar design with overlayfs.)
//! 3. On older kernels it falls back to copying itself into a sealed memfd,
//!    as runc and crun do; that costs a copy of the whole binary per call.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{AtFlags, FcntlArg, SealFlag};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::statvfs::FsFlags;

const MEMFD_NAME: &str = "berth-runtime";

/// Returns when the running binary cannot be written from a container;
/// otherwise re-executes from a protected copy (never returns on success).
/// Errors protecting the binary.
#[derive(Debug, thiserror::Error)]
#[error("cannot protect the runtime binary (CVE-2019-5736): {what}: {source}")]
pub struct ProtectError {
    what: &'static str,
    source: std::io::Error,
}

fn err<E: Into<std::io::Error>>(what: &'static str) -> impl FnOnce(E) -> ProtectError {
    move |e| ProtectError {
        what,
        source: e.into(),
    }
}

/// Call first thing in any binary that will put a process into a container
/// (the `berth-runtime` command, `berth-shim`).
pub fn ensure_protected_executable() -> Result<(), ProtectError> {
    if is_protected() {
        return Ok(());
    }
    let (args, env) = argv_envp()?;
    let exe = fs_err::read_link("/proc/self/exe").map_err(err("readlink /proc/self/exe"))?;
    if let Ok(fd) = berth_sys::mount::readonly_file_clone(&exe) {
        // execveat only returns on failure; then try the memfd.
        let _ = nix::unistd::execveat(fd.as_fd(), c"", &args, &env, AtFlags::AT_EMPTY_PATH);
    }
    let memfd = memfd_create(
        MEMFD_NAME,
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(err("memfd_create"))?;
    // Plain std::fs::File on both sides lets std::io::copy use
    // copy_file_range/sendfile instead of a read/write loop.
    let (mut src, _) = fs_err::File::open("/proc/self/exe")
        .map_err(err("open /proc/self/exe"))?
        .into_parts();
    let mut dst = std::fs::File::from(memfd);
    std::io::copy(&mut src, &mut dst).map_err(err("copy the binary into a memfd"))?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(&dst, FcntlArg::F_ADD_SEALS(seals)).map_err(err("seal the memfd"))?;
    let err = match nix::unistd::fexecve(&dst, &args, &env) {
        Ok(never) => match never {},
        Err(err) => err,
    };
    Err(ProtectError {
        what: "fexecve of the sealed copy",
        source: err.into(),
    })
}

/// The binary is on a read-only mount, or is a sealed memfd of ours.
fn is_protected() -> bool {
    if nix::sys::statvfs::statvfs("/proc/self/exe")
        .is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
    {
        return true;
    }
    fs_err::read_link("/proc/self/exe").is_ok_and(|p| {
        p.as_os_str()
            .as_bytes()
            .starts_with(format!("/memfd:{MEMFD_NAME}").as_bytes())
    })
}

fn argv_envp() -> Result<(Vec<CString>, Vec<CString>), ProtectError> {
    let nul = |_| ProtectError {
        what: "an argument or environment variable contains a NUL byte",
        source: std::io::ErrorKind::InvalidInput.into(),
    };
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(nul)?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .map_err(nul)?;
    Ok((args, env))
}
