//! Re-executing from a sealed copy of ourselves (CVE-2019-5736).
//!
//! A process that enters a container (init, or `exec`) is visible inside it
//! until it calls `execve`, and `/proc/<pid>/exe` of that process is the
//! runtime binary on the host. In CVE-2019-5736 a malicious container opened
//! it and overwrote runc. Like runc and crun, berth-runtime first copies
//! itself into a memfd, seals it against every kind of write, and re-executes
//! from it: the only binary a container can ever reach is that sealed,
//! anonymous copy, and the file on the host is never exposed.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use anyhow::{Context, Result};
use nix::fcntl::{FcntlArg, SealFlag};
use nix::sys::memfd::{MFdFlags, memfd_create};

const MEMFD_NAME: &str = "berth-runtime";

/// Returns when running from a sealed memfd copy; otherwise makes one and
/// `fexecve`s it (never returns on success).
pub(crate) fn ensure_sealed() -> Result<()> {
    let exe = fs_err::read_link("/proc/self/exe")?;
    if exe
        .as_os_str()
        .as_bytes()
        .starts_with(format!("/memfd:{MEMFD_NAME}").as_bytes())
    {
        return Ok(());
    }
    let memfd = memfd_create(
        MEMFD_NAME,
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .context("memfd_create")?;
    let mut src = fs_err::File::open("/proc/self/exe")?;
    let mut dst = fs_err::File::from_parts(std::fs::File::from(memfd), "memfd:berth-runtime");
    std::io::copy(&mut src, &mut dst).context("copying the runtime binary into a memfd")?;
    let (dst, _) = dst.into_parts();
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    nix::fcntl::fcntl(&dst, FcntlArg::F_ADD_SEALS(seals)).context("sealing the memfd")?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .context("an argument contains a NUL byte")?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .context("an environment variable contains a NUL byte")?;
    let err = match nix::unistd::fexecve(&dst, &args, &env) {
        Ok(never) => match never {},
        Err(err) => err,
    };
    Err(err).context("fexecve of the sealed runtime binary")
}
