//! Runs OCI lifecycle hooks (`prestart`, `createRuntime`,
//! `createContainer`, `startContainer`, `poststart`, `poststop`).
//!
//! Per the runtime spec (`config.md#posix-platform-hooks`), each hook is an
//! executable started with the given `args` (`args[0]` is `argv[0]`) and
//! exactly the given `env`, receives the container's state JSON on stdin,
//! and fails the phase when it exits non-zero or outlives its `timeout`.
//! [`run_hooks`] runs a phase's hooks in order and stops at the first
//! failure; what a failure means for the container (kill it, or only warn
//! for `poststart`/`poststop`) is the caller's decision.
//!
//! No shell is involved. A hook's stdout and stderr are captured rather than
//! inherited, because the runtime's stdio may be the container's; stderr
//! (up to [`OUTPUT_LIMIT`] bytes) goes into the error message.
//!
//! ```no_run
//! # fn demo(spec: &oci_spec::runtime::Spec, state: &[u8]) -> Result<(), berth_runtime::hooks::HookError> {
//! if let Some(hooks) = spec.hooks().as_ref().and_then(|h| h.prestart().clone()) {
//!     berth_runtime::hooks::run_hooks(&hooks, state, "prestart")?;
//! }
//! # Ok(()) }
//! ```

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;

/// How much of a hook's stderr an error message keeps.
pub const OUTPUT_LIMIT: usize = 4096;

/// How long to wait for a hook's output after it exited: a hook may leave
/// a background process holding the pipe, and the runtime must not hang on
/// it.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The executable could not be started.
    #[error("{phase} hook `{}` could not be started", path.display())]
    Spawn {
        /// The hook phase, e.g. `prestart`.
        phase: String,
        /// The hook's `path`.
        path: PathBuf,
        /// Why `execve` (or `fork`) failed.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the hook failed.
    #[error("{phase} hook `{}`: waiting for it failed", path.display())]
    Wait {
        /// The hook phase.
        phase: String,
        /// The hook's `path`.
        path: PathBuf,
        /// The `waitpid` error.
        #[source]
        source: std::io::Error,
    },
    /// The spec requires a positive timeout.
    #[error("{phase} hook `{}` has timeout {timeout}; it must be greater than zero", path.display())]
    InvalidTimeout {
        /// The hook phase.
        phase: String,
        /// The hook's `path`.
        path: PathBuf,
        /// The configured timeout.
        timeout: i64,
    },
    /// The hook ran longer than its timeout and was killed.
    #[error("{phase} hook `{}` timed out after {timeout} s and was killed", path.display())]
    Timeout {
        /// The hook phase.
        phase: String,
        /// The hook's `path`.
        path: PathBuf,
        /// The configured timeout in seconds.
        timeout: i64,
    },
    /// The hook exited non-zero or was killed by a signal.
    #[error(
        "{phase} hook `{}` failed ({status}){}",
        path.display(),
        if stderr.is_empty() { String::new() } else { format!(": {stderr}") }
    )]
    Failed {
        /// The hook phase.
        phase: String,
        /// The hook's `path`.
        path: PathBuf,
        /// How it ended.
        status: ExitStatus,
        /// The start of its stderr, trimmed.
        stderr: String,
    },
}

/// Runs `hooks` in order, each with `state_json` on stdin, stopping at the
/// first that fails. `phase` names the hook list in errors.
pub fn run_hooks(hooks: &[Hook], state_json: &[u8], phase: &str) -> Result<(), HookError> {
    for hook in hooks {
        run_hook(hook, state_json, phase)?;
    }
    Ok(())
}

fn run_hook(hook: &Hook, state_json: &[u8], phase: &str) -> Result<(), HookError> {
    let path = hook.path().clone();
    let timeout = match hook.timeout() {
        Some(timeout) if timeout <= 0 => {
            return Err(HookError::InvalidTimeout {
                phase: phase.to_owned(),
                path,
                timeout,
            });
        }
        other => other,
    };

    let mut command = Command::new(&path);
    if let Some((argv0, rest)) = hook.args().as_deref().and_then(<[String]>::split_first) {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for entry in hook.env().iter().flatten() {
        // `environ` entries are `KEY=value`; an entry without `=` is passed
        // as an empty variable, the closest `Command` can express. `Command`
        // orders the environment by name; a later duplicate wins.
        let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        command.env(key, value);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills whatever it started.
        .process_group(0);

    let mut child = command.spawn().map_err(|source| HookError::Spawn {
        phase: phase.to_owned(),
        path: path.clone(),
        source,
    })?;

    // Feed stdin from a thread: a hook need not read it, and a state larger
    // than the pipe buffer would otherwise block us. EPIPE is expected then.
    if let Some(mut stdin) = child.stdin.take() {
        let state = state_json.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&state);
        });
    }
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);

    let status = wait(&mut child, timeout).map_err(|source| HookError::Wait {
        phase: phase.to_owned(),
        path: path.clone(),
        source,
    })?;
    let Some(status) = status else {
        return Err(HookError::Timeout {
            phase: phase.to_owned(),
            path,
            timeout: timeout.unwrap_or_default(),
        });
    };
    drop(stdout);
    if status.success() {
        return Ok(());
    }
    let stderr = stderr
        .and_then(|rx| rx.recv_timeout(OUTPUT_GRACE).ok())
        .unwrap_or_default();
    Err(HookError::Failed {
        phase: phase.to_owned(),
        path,
        status,
        stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
    })
}

/// Waits for `child`, killing its process group after `timeout` seconds.
/// `None` means it timed out.
fn wait(child: &mut Child, timeout: Option<i64>) -> std::io::Result<Option<ExitStatus>> {
    let Some(timeout) = timeout else {
        return child.wait().map(Some);
    };
    let timeout = Duration::from_secs(u64::try_from(timeout).unwrap_or(0));
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            // The group id is the hook's pid (process_group(0)).
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Reads `pipe` to the end on a thread, keeping the first [`OUTPUT_LIMIT`]
/// bytes and discarding the rest (so the hook never blocks on a full pipe).
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn sh_hook(script: &str, env: &[&str], timeout: Option<i64>) -> Hook {
        let mut hook = Hook::default();
        hook.set_path(PathBuf::from("/bin/sh"));
        hook.set_args(Some(vec!["sh".into(), "-c".into(), script.into()]));
        hook.set_env(Some(env.iter().map(|e| (*e).to_owned()).collect()));
        hook.set_timeout(timeout);
        hook
    }

    fn read(path: &Path) -> String {
        fs_err::read_to_string(path).unwrap()
    }

    #[test]
    fn state_arrives_on_stdin_and_env_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().display().to_string();
        let state =
            br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
        // /proc/$$/environ is the shell's initial environment, exactly
        // what the runtime passed (dash would add PWD to `env`'s output).
        let hook = sh_hook(
            "cat > \"$OUT/state\"; tr '\\0' '\\n' < /proc/$$/environ > \"$OUT/env\"",
            &[&format!("OUT={out}"), "FOO=bar baz", "EMPTY="],
            Some(10),
        );
        run_hooks(&[hook], state, "createRuntime").unwrap();
        assert_eq!(read(&dir.path().join("state")).as_bytes(), state);
        let mut env: Vec<String> = read(&dir.path().join("env"))
            .lines()
            .map(str::to_owned)
            .collect();
        env.sort();
        assert_eq!(env, ["EMPTY=", "FOO=bar baz", &format!("OUT={out}")]);
    }

    #[test]
    fn args0_is_argv0() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cmdline");
        let mut hook = Hook::default();
        hook.set_path(PathBuf::from("/bin/sh"));
        hook.set_args(Some(vec![
            "my-hook".into(),
            "-c".into(),
            "tr '\\0' ' ' < /proc/$$/cmdline > \"$0\"".into(),
            file.display().to_string(),
        ]));
        run_hooks(&[hook], b"{}", "prestart").unwrap();
        assert!(read(&file).starts_with("my-hook -c "), "{}", read(&file));
    }

    #[test]
    fn hooks_run_in_order_and_stop_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let env = format!("LOG={}", log.display());
        let hooks = [
            sh_hook("echo one >> \"$LOG\"", &[&env], None),
            sh_hook("echo two >> \"$LOG\"; exit 1", &[&env], None),
            sh_hook("echo three >> \"$LOG\"", &[&env], None),
        ];
        assert!(run_hooks(&hooks, b"{}", "poststop").is_err());
        assert_eq!(read(&log), "one\ntwo\n");
    }

    #[test]
    fn nonzero_exit_names_phase_path_status_and_stderr() {
        let hook = sh_hook("echo out; echo 'boom: no network' >&2; exit 3", &[], None);
        let err = run_hooks(&[hook], b"{}", "prestart").unwrap_err();
        assert_eq!(
            err.to_string(),
            "prestart hook `/bin/sh` failed (exit status: 3): boom: no network"
        );
        let HookError::Failed { status, .. } = err else {
            panic!("{err:?}");
        };
        assert_eq!(status.code(), Some(3));
    }

    #[test]
    fn stderr_is_truncated() {
        let hook = sh_hook(
            "head -c 100000 /dev/zero | tr '\\0' x >&2; exit 1",
            &[],
            None,
        );
        let HookError::Failed { stderr, .. } = run_hooks(&[hook], b"{}", "prestart").unwrap_err()
        else {
            panic!("expected Failed");
        };
        assert_eq!(stderr.len(), OUTPUT_LIMIT);
    }

    #[test]
    fn timeout_kills_the_hook_and_what_it_started() {
        // The background sleep keeps stdout/stderr open; killing only the
        // hook would leave the runtime waiting for it.
        let hook = sh_hook("sleep 10 & sleep 10", &[], Some(1));
        let start = Instant::now();
        let err = run_hooks(&[hook], b"{}", "createContainer").unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(
            err.to_string(),
            "createContainer hook `/bin/sh` timed out after 1 s and was killed"
        );
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    }

    #[test]
    fn a_hook_that_ignores_a_large_state_still_succeeds() {
        let state = vec![b'x'; 1 << 20];
        let hook = sh_hook("exit 0", &[], Some(10));
        run_hooks(&[hook], &state, "poststart").unwrap();
    }

    #[test]
    fn missing_executable_and_bad_timeout_are_errors() {
        let mut hook = Hook::default();
        hook.set_path(PathBuf::from("/nonexistent/hook"));
        let err = run_hooks(&[hook], b"{}", "prestart").unwrap_err();
        assert_eq!(
            err.to_string(),
            "prestart hook `/nonexistent/hook` could not be started"
        );
        assert!(matches!(err, HookError::Spawn { .. }));

        let hook = sh_hook("exit 0", &[], Some(0));
        let err = run_hooks(&[hook], b"{}", "prestart").unwrap_err();
        assert_eq!(
            err.to_string(),
            "prestart hook `/bin/sh` has timeout 0; it must be greater than zero"
        );
    }

    #[test]
    fn no_args_uses_the_path_as_argv0() {
        let mut hook = Hook::default();
        hook.set_path(PathBuf::from("/bin/true"));
        run_hooks(&[hook], b"{}", "prestart").unwrap();
    }
}
