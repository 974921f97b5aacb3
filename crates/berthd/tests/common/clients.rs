//! The clients a test drives berthd with, by name (for messages) and
//! runner, and the two checks most tests make on what they print.

use std::process::Output;

use super::Daemon;

/// A client: its name in failure messages, and how it runs `args`.
pub(crate) type Client = (&'static str, fn(&Daemon, &[&str]) -> Output);

pub(crate) const BERTH: Client = ("berth", Daemon::berth);
pub(crate) const DOCKER: Client = ("docker 28", Daemon::docker);
pub(crate) const DOCKER20: Client = ("docker 20.10", Daemon::docker20);
/// The three, docker 28 first.
pub(crate) const CLIENTS: [Client; 3] = [DOCKER, DOCKER20, BERTH];

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `args` with `client`; stdout, asserting success (with berthd's
/// log when it failed).
pub(crate) fn ok(d: &Daemon, (name, run): Client, args: &[&str]) -> String {
    let out = run(d, args);
    assert!(
        out.status.success(),
        "{name} {args:?}: {}{}\nberthd log:\n{}",
        text(&out.stdout),
        text(&out.stderr),
        d.log()
    );
    text(&out.stdout)
}

/// Runs `args` with `client`, expecting failure: (exit code, stderr).
pub(crate) fn fails(d: &Daemon, (name, run): Client, args: &[&str]) -> (i32, String) {
    let out = run(d, args);
    assert!(
        !out.status.success(),
        "{name} {args:?} succeeded: {}",
        text(&out.stdout)
    );
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

/// `inspect --format FORMAT NAME` with docker 28: its output, trimmed.
pub(crate) fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    ok(d, DOCKER, &["inspect", "--format", format, name])
        .trim()
        .to_owned()
}
