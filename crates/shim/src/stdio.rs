//! The container side of stdio: pipes (or `/dev/null`) placed on fds 0, 1
//! and 2 while the runtime forks.
//!
//! The runtime's init and exec processes inherit the caller's fds 0/1/2, so
//! the shim puts the pipe ends meant for the container there just for the
//! duration of `create_with_pty`/`exec_start` and then restores its own
//! (`/dev/null` and its diagnostics log). The shim keeps the other ends,
//! non-blocking, for its event loop.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag};

/// Errors setting up stdio.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("cannot set up the container's stdio: {call}: {errno}")]
    Sys {
        call: &'static str,
        errno: nix::errno::Errno,
    },
}

fn sys(call: &'static str) -> impl FnOnce(nix::errno::Errno) -> StdioError {
    move |errno| StdioError::Sys { call, errno }
}

/// The descriptors for one process (the container's init or an exec).
#[derive(Debug)]
pub struct Stdio {
    /// What the process gets as 0, 1, 2.
    pub child: [OwnedFd; 3],
    /// Our write end of its stdin pipe.
    pub stdin: Option<OwnedFd>,
    /// Our read ends of its stdout and stderr pipes.
    pub out: [Option<OwnedFd>; 2],
}

fn dev_null() -> Result<OwnedFd, StdioError> {
    nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open /dev/null"))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StdioError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2"))
}

/// Makes `fd` non-blocking (the shim never blocks on a container).
pub fn set_nonblocking(fd: impl AsFd) -> Result<(), StdioError> {
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map(drop)
        .map_err(sys("fcntl(O_NONBLOCK)"))
}

impl Stdio {
    /// Pipes for stdout and stderr, and for stdin when `stdin`; with a
    /// `terminal` the runtime gives the process the pty slave, so the child
    /// side is `/dev/null` and we keep nothing.
    pub fn new(stdin: bool, terminal: bool) -> Result<Self, StdioError> {
        if terminal {
            return Ok(Self {
                child: [dev_null()?, dev_null()?, dev_null()?],
                stdin: None,
                out: [None, None],
            });
        }
        let (child_in, our_in) = if stdin {
            let (r, w) = pipe()?;
            set_nonblocking(&w)?;
            (r, Some(w))
        } else {
            (dev_null()?, None)
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        set_nonblocking(&out_r)?;
        set_nonblocking(&err_r)?;
        Ok(Self {
            child: [child_in, out_w, err_w],
            stdin: our_in,
            out: [Some(out_r), Some(err_r)],
        })
    }

    /// Runs `f` with the child's descriptors on 0, 1 and 2, then puts the
    /// shim's own back, and drops the child's ends (only the process holds
    /// them now, so end-of-file arrives when it exits).
    pub fn around_spawn<T>(&mut self, f: impl FnOnce() -> T) -> Result<T, StdioError> {
        // try_clone_to_owned dups with F_DUPFD_CLOEXEC: the saved copies
        // never reach the container.
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            fd.try_clone_to_owned()
                .map_err(|e| sys("dup")(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))))
        };
        let saved = [
            dup(std::io::stdin().as_fd())?,
            dup(std::io::stdout().as_fd())?,
            dup(std::io::stderr().as_fd())?,
        ];
        nix::unistd::dup2_stdin(&self.child[0]).map_err(sys("dup2"))?;
        nix::unistd::dup2_stdout(&self.child[1]).map_err(sys("dup2"))?;
        nix::unistd::dup2_stderr(&self.child[2]).map_err(sys("dup2"))?;
        let result = f();
        nix::unistd::dup2_stdin(&saved[0]).map_err(sys("dup2"))?;
        nix::unistd::dup2_stdout(&saved[1]).map_err(sys("dup2"))?;
        nix::unistd::dup2_stderr(&saved[2]).map_err(sys("dup2"))?;
        // Replace the child's ends with /dev/null so ours are the only
        // copies left in the shim.
        self.child = [dev_null()?, dev_null()?, dev_null()?];
        Ok(result)
    }
}
