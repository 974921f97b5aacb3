//! The receiving end of `--console-socket`: callers (berth-shim, tests,
//! anything that passes `--console-socket`) get the container's pty master
//! here.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Errors receiving the pty master.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console socket: receive failed: {0}")]
    Recv(berth_sys::SysError),
    #[error("console socket: the runtime closed the connection without sending a pty")]
    NoPty,
}

/// Receives the pty master that init (or an exec'd process) sends over an
/// accepted `--console-socket` connection, with the slave's path.
pub fn receive_pty_master(conn: &UnixStream) -> Result<(OwnedFd, String), ConsoleError> {
    let mut buf = [0u8; 4096];
    let (len, fd) =
        berth_sys::socket::recv_with_fd(conn.as_fd(), &mut buf).map_err(ConsoleError::Recv)?;
    let fd = fd.ok_or(ConsoleError::NoPty)?;
    Ok((fd, String::from_utf8_lossy(&buf[..len]).into_owned()))
}
