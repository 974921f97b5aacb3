//! Receiving a file descriptor over a unix socket (`SCM_RIGHTS`).

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use crate::{Result, SysError};

/// Receives one datagram into `buf`, and the first descriptor attached to it
/// (any further ones are closed). Retries on `EINTR`. Returns the number of
/// bytes received (0 when the peer has closed) and the descriptor.
pub fn recv_with_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>)> {
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut first = None;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for raw in fds {
                                // SAFETY: the kernel installed `raw` in our
                                // descriptor table as part of this recvmsg;
                                // nothing else knows the number, so this
                                // OwnedFd is its only owner.
                                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                                if first.is_none() {
                                    first = Some(owned);
                                }
                            }
                        }
                    }
                }
                return Ok((msg.bytes, first));
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => {
                return Err(SysError {
                    call: "recvmsg",
                    errno,
                });
            }
        }
    }
}

/// The cookie of the network namespace `sock` belongs to
/// (`getsockopt(SO_NETNS_COOKIE)`, Linux 5.14): a 64-bit id that is never
/// reused while the system runs, the same value eBPF programs get from
/// `bpf_get_netns_cookie`.
pub fn netns_cookie(sock: BorrowedFd<'_>) -> Result<u64> {
    /// `SO_NETNS_COOKIE` from include/uapi/asm-generic/socket.h.
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `cookie` is a writable u64 and `len` says so; the kernel
    // writes at most `len` bytes into it and the new length into `len`.
    let ret = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(SysError::last("getsockopt(SO_NETNS_COOKIE)"));
    }
    Ok(cookie)
}
