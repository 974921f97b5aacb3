//! Waiting for a foreground container process: signal forwarding, the
//! terminal proxy for `run -t`/`exec -t` without a console socket, exit
//! codes, and waiting for a killed container to disappear.
//!
//! Signals are received through a `signalfd` instead of handlers, so no code
//! runs in signal context and the loop is a plain `poll`.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Errors while waiting.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("cannot set up signal forwarding: {0}")]
    Setup(nix::errno::Errno),
    #[error("waiting for the container failed: {0}")]
    Wait(nix::errno::Errno),
}

const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
    Signal::SIGCONT,
];

/// Blocks the forwarded signals and receives them through a signalfd.
pub struct Forwarder {
    fd: SignalFd,
    old_mask: SigSet,
}

impl Forwarder {
    /// Blocks the signals we forward (call before the child exists).
    pub fn new() -> Result<Self, WaitError> {
        let mut set = SigSet::empty();
        for s in FORWARDED {
            set.add(*s);
        }
        let old_mask = set
            .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
            .map_err(WaitError::Setup)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(WaitError::Setup)?;
        Ok(Self { fd, old_mask })
    }

    /// Forwards signals to `pid` (and proxies the pty, if any) until it
    /// exits; returns its exit code (128 + signal when killed).
    pub fn wait(self, pid: Pid, pty: Option<BorrowedFd<'_>>) -> Result<i32, WaitError> {
        let _raw = pty.and_then(|_| RawMode::enter());
        if let Some(master) = pty {
            copy_winsize(master);
        }
        let stdin = std::io::stdin();
        let mut stdin_open = pty.is_some();
        let mut buf = vec![0u8; 32 * 1024];
        let result = loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => break Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => break Ok(128 + sig as i32),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => break Err(WaitError::Wait(err)),
            }
            let mut fds = vec![PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            if let Some(master) = pty {
                fds.push(PollFd::new(master, PollFlags::POLLIN));
                if stdin_open {
                    fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
                }
            }
            match poll(&mut fds, PollTimeout::from(1000u16)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(err) => break Err(WaitError::Wait(err)),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            if ready[0] {
                while let Ok(Some(info)) = self.fd.read_signal() {
                    let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                        continue;
                    };
                    match sig {
                        Signal::SIGCHLD => {}
                        Signal::SIGWINCH => {
                            if let Some(master) = pty {
                                copy_winsize(master);
                            }
                        }
                        sig => {
                            let _ = nix::sys::signal::kill(pid, sig);
                        }
                    }
                }
            }
            if let Some(master) = pty {
                if ready.get(1).copied().unwrap_or(false) {
                    match nix::unistd::read(master, &mut buf) {
                        Ok(0) | Err(_) => {}
                        Ok(n) => write_all(std::io::stdout().as_fd(), &buf[..n]),
                    }
                }
                if stdin_open && ready.get(2).copied().unwrap_or(false) {
                    match nix::unistd::read(stdin.as_fd(), &mut buf) {
                        Ok(0) | Err(_) => stdin_open = false,
                        Ok(n) => write_all(master, &buf[..n]),
                    }
                }
            }
        };
        // Drain what the container wrote last.
        if let Some(master) = pty {
            let _ = nix::fcntl::fcntl(
                master,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            while let Ok(n) = nix::unistd::read(master, &mut buf) {
                if n == 0 {
                    break;
                }
                write_all(std::io::stdout().as_fd(), &buf[..n]);
            }
        }
        let _ = self.old_mask.thread_set_mask();
        result
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn copy_winsize(master: BorrowedFd<'_>) {
    if let Ok(size) = berth_sys::tty::window_size(std::io::stdin().as_fd()) {
        let _ = berth_sys::tty::set_window_size(master, size);
    }
}

/// Puts the caller's terminal in raw mode and restores it on drop.
struct RawMode {
    saved: termios::Termios,
}

impl RawMode {
    fn enter() -> Option<Self> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Polls until process `pid` (started at `start`) is gone or a zombie, or
/// `timeout` passes.
pub fn until_gone(pid: i32, start: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        // Reap it if it is our child (run, or a create in this process).
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        match crate::state::process_start(pid) {
            Some((s, false)) if s == start => {}
            _ => return true,
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
