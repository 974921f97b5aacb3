//! `berth-init`: the pid 1 of a container run with `--init` (docker's
//! `docker-init`, which is tini). berthd bind-mounts it read-only at
//! `/sbin/docker-init` and runs `/sbin/docker-init -- COMMAND [ARG...]`.
//!
//! A program written to be an ordinary process misbehaves as pid 1: the
//! kernel drops signals it has no handler for (so `docker stop` waits out
//! its timeout), and orphaned children are re-parented to it and never
//! reaped (zombies pile up). berth-init fixes both, as tini does:
//! - it runs the command as its only child, in a process group of its own
//!   (the terminal's foreground group when stdin is a terminal);
//! - it blocks every asynchronous signal and forwards each one it receives
//!   (TERM, INT, HUP, QUIT, USR1, USR2, WINCH, ...) to the child;
//! - on SIGCHLD it reaps every exited process, and when the child has
//!   exited it exits with the child's status (128 + the signal's number if
//!   a signal killed it).
//!
//! It is compiled statically (crates/engine/build.rs), so it runs in any
//! image, even one without a C library.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, tcsetpgrp};

/// Signals raised by a fault in this process itself: never blocked.
const SYNCHRONOUS: [Signal; 7] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

fn usage() -> ExitCode {
    eprintln!("Usage: berth-init [--] PROGRAM [ARGS...]");
    eprintln!("Runs PROGRAM as the child of a minimal init that forwards signals to it");
    eprintln!("and reaps zombie processes (berth's --init).");
    ExitCode::from(1)
}

/// The command: everything after an optional leading `--`.
fn command(mut args: Vec<OsString>) -> Vec<OsString> {
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    args
}

/// The exit status to report for the child's end.
fn exit_code(status: WaitStatus) -> Option<u8> {
    match status {
        WaitStatus::Exited(_, code) => Some(u8::try_from(code & 0xff).unwrap_or(u8::MAX)),
        WaitStatus::Signaled(_, signal, _) => {
            Some(u8::try_from(128 + signal as i32).unwrap_or(u8::MAX))
        }
        _ => None,
    }
}

/// The first argument of the helper that execs the command: berth-init
/// runs itself as the child, which clears the signal mask it inherited and
/// then becomes the command (a blocked mask survives `fork` and `exec`, and
/// changing it between the two needs `unsafe` code).
const EXEC_MARKER: &str = "--berth-init-exec";

/// The child: unblock every signal, then become `program`.
fn exec_unblocked(program: &OsString, rest: &[OsString]) -> ExitCode {
    if let Err(e) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None) {
        eprintln!("berth-init: cannot unblock signals: {e}");
        return ExitCode::from(126);
    }
    let e = Command::new(program).args(rest).exec();
    eprintln!("berth-init: cannot run {}: {e}", program.to_string_lossy());
    // As a shell (and tini): not found 127, not executable 126.
    ExitCode::from(match e.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    })
}

fn main() -> ExitCode {
    let raw_args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if raw_args.first().is_some_and(|a| a == EXEC_MARKER) {
        return match raw_args.split_first().and_then(|(_, r)| r.split_first()) {
            Some((program, rest)) => exec_unblocked(program, rest),
            None => usage(),
        };
    }
    let args = command(raw_args);
    let Some((program, rest)) = args.split_first() else {
        return usage();
    };
    if program == "-h" || program == "--help" {
        return usage();
    }

    // Block before the child exists, so no signal meant for it is lost: a
    // blocked signal stays pending until the loop below takes it. The
    // child unblocks them before it becomes the command.
    let mut blocked = SigSet::all();
    for s in SYNCHRONOUS {
        blocked.remove(s);
    }
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None) {
        eprintln!("berth-init: cannot block signals: {e}");
        return ExitCode::from(1);
    }

    let child = match Command::new("/proc/self/exe")
        .arg(EXEC_MARKER)
        .arg(program)
        .args(rest)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-init: cannot run {}: {e}", program.to_string_lossy());
            // As a shell (and tini): not found 127, not executable 126.
            return ExitCode::from(match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            });
        }
    };
    let Ok(raw) = i32::try_from(child.id()) else {
        return ExitCode::from(1);
    };
    let child = Pid::from_raw(raw);
    // With a terminal, the child's group is the foreground one, so what
    // the terminal sends (^C) and reads go to it. SIGTTOU is blocked here,
    // so this works from the background too. A child that already stopped
    // itself waiting to be in the foreground (job-control shells do) is
    // continued.
    let stdin = std::io::stdin();
    if stdin.is_terminal() && tcsetpgrp(&stdin, child).is_ok() {
        let _ = kill(Pid::from_raw(-raw), Signal::SIGCONT);
    }

    loop {
        let signal = match blocked.wait() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("berth-init: waiting for signals: {e}");
                return ExitCode::from(1);
            }
        };
        if signal != Signal::SIGCHLD {
            // The child may have exited meanwhile (ESRCH): nothing to do.
            let _ = kill(child, signal);
            continue;
        }
        // Reap everything that exited: the child and any orphans.
        let mut code = None;
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status) => {
                    if status.pid() == Some(child) {
                        code = exit_code(status);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(e) => {
                    eprintln!("berth-init: reaping: {e}");
                    break;
                }
            }
        }
        if let Some(code) = code {
            return ExitCode::from(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_double_dash_is_dropped() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(command(v(&["--", "sh", "-c", "x"])), v(&["sh", "-c", "x"]));
        assert_eq!(command(v(&["sleep", "--", "1"])), v(&["sleep", "--", "1"]));
        assert!(command(v(&["--"])).is_empty());
    }

    #[test]
    fn exit_codes_as_a_shell() {
        let pid = Pid::from_raw(42);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGTERM, false)),
            Some(143)
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, true)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }
}
