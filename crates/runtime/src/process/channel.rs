//! The typed channel between the runtime's main process and the container's
//! init (or exec) process.
//!
//! One `SOCK_SEQPACKET` socket pair, created close-on-exec before the fork;
//! each message is one JSON datagram, so a message is never split or merged,
//! and a peer that dies shows up as end-of-file instead of a hang. Every
//! `wait_*` method names what it waited for, so a protocol slip is a clear
//! error rather than a deadlock.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};

/// Messages exchanged during create and exec.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Message {
    /// stage-1 -> main: the pid of the init process it cloned.
    InitPid(i32),
    /// main -> init: maps written (and for exec: cgroup joined); carry on.
    Go,
    /// main -> init: init is now in the container's cgroup.
    CgroupJoined,
    /// init -> main: mounts are done; run prestart/createRuntime hooks.
    RunHooks,
    /// main -> init: hooks ran; carries the state JSON for createContainer hooks.
    HooksDone(String),
    /// init -> main: the pty master follows as SCM_RIGHTS (foreground `-t`).
    PtyMaster,
    /// init -> main: the container is created; init now waits for `start`.
    Ready,
    /// either way: something failed; the sender exits.
    Error(String),
}

/// Errors on the channel.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("cannot create the sync socket pair: {0}")]
    Create(nix::errno::Errno),
    #[error("sync socket: send failed: {0}")]
    Send(nix::errno::Errno),
    #[error("sync socket: receive failed: {0}")]
    Recv(nix::errno::Errno),
    #[error("the container process exited before it {0}")]
    Closed(&'static str),
    #[error("{0}")]
    Remote(String),
    #[error("sync socket: expected {expected}, got {got:?}")]
    Unexpected {
        expected: &'static str,
        got: Message,
    },
    #[error("sync socket: malformed message: {0}")]
    Malformed(serde_json::Error),
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// Creates a connected pair of channel ends.
pub fn pair() -> Result<(Channel, Channel), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ChannelError::Create)?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Message) -> Result<(), ChannelError> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Message, fd: Option<RawFd>) -> Result<(), ChannelError> {
        let data = serde_json::to_vec(msg).map_err(ChannelError::Malformed)?;
        let iov = [IoSlice::new(&data)];
        let fds;
        let cmsgs: &[ControlMessage<'_>] = match fd {
            Some(fd) => {
                fds = [fd];
                &[ControlMessage::ScmRights(&fds)]
            }
            None => &[],
        };
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => return Err(ChannelError::Send(err)),
            }
        }
    }

    /// Receives one message (and a descriptor, if one was attached).
    /// `None` means the peer closed its end.
    pub fn recv(&self) -> Result<Option<(Message, Option<OwnedFd>)>, ChannelError> {
        let mut buf = vec![0u8; 64 * 1024];
        let (len, fd) = berth_sys::socket::recv_with_fd(self.fd.as_fd(), &mut buf)
            .map_err(|e| ChannelError::Recv(e.errno))?;
        if len == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..len]).map_err(ChannelError::Malformed)?;
        Ok(Some((msg, fd)))
    }

    /// Waits for exactly `expected`; a remote `Error` becomes `Remote`.
    pub fn expect(&self, expected: Message, what: &'static str) -> Result<(), ChannelError> {
        match self.recv()? {
            None => Err(ChannelError::Closed(what)),
            Some((Message::Error(msg), _)) => Err(ChannelError::Remote(msg)),
            Some((got, _)) if got == expected => Ok(()),
            Some((got, _)) => Err(ChannelError::Unexpected {
                expected: what,
                got,
            }),
        }
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
