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
