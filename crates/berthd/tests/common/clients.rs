//! The clients a test drives berthd with, by name (for messages) and
//! runner, and the two checks most tests make on what they print.

use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use super::Daemon;

/// A client: its name in failure messages, and how it runs `args`.
pub(crate) type Client = (&'static str, fn(&Daemon, &[&str]) -> Output);

pub(crate) const BERTH: Client = ("berth", Daemon::berth);
pub(crate) const DOCKER: Client = ("docker 28", Daemon::docker);
pub(crate) const DOCKER20: Client = ("docker 20.10", Daemon::docker20);
/// The three, docker 28 first.
pub(crate) const CLIENTS: [Client; 3] = [DOCKER, DOCKER20, BERTH];

/// The program `client` runs, as [`Daemon::client_command`] and
/// [`super::PtyClient::spawn`] take it.
pub(crate) fn program((name, _): Client) -> &'static str {
    if name == BERTH.0 {
        super::BERTH
    } else if name == DOCKER.0 {
        super::DOCKER_28
    } else if name == DOCKER20.0 {
        super::DOCKER_20
    } else {
        panic!("no client named {name:?}")
    }
}

/// A short name for `client`, for container names: `berth`, `d28`, `d20`.
pub(crate) fn tag(client: Client) -> &'static str {
    match program(client) {
        super::BERTH => "berth",
        super::DOCKER_28 => "d28",
        _ => "d20",
    }
}

/// `args` through `client`, as a command to run as needed.
pub(crate) fn command(d: &Daemon, client: Client, args: &[&str]) -> Command {
    d.client_command(program(client), args)
}

/// `args` through `client` with `input` on its standard input.
pub(crate) fn with_stdin(d: &Daemon, client: Client, args: &[&str], input: &[u8]) -> Output {
    super::output_with_stdin(&mut command(d, client, args), input)
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A client's exit code, stdout and stderr, for failure messages.
pub(crate) fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Runs `args` with `client`; stdout, asserting success (with berthd's
/// log when it failed).
pub(crate) fn ok(d: &Daemon, client @ (_, run): Client, args: &[&str]) -> String {
    succeeded(d, client, args, &run(d, args))
}

/// [`ok`] with `input` on the client's standard input.
pub(crate) fn ok_stdin(d: &Daemon, client: Client, args: &[&str], input: &[u8]) -> String {
    succeeded(d, client, args, &with_stdin(d, client, args, input))
}

/// `out` of `client args` (run as the caller needed, e.g. from
/// [`command`]): stdout, asserting success (with berthd's log when it
/// failed).
pub(crate) fn succeeded(d: &Daemon, (name, _): Client, args: &[&str], out: &Output) -> String {
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

/// Runs `args` with `client`, expecting failure with `code`; stderr.
pub(crate) fn fails_with(d: &Daemon, client: Client, args: &[&str], code: i32) -> String {
    let (got, err) = fails(d, client, args);
    assert_eq!(got, code, "{} {args:?}: {err}", client.0);
    err
}

/// Runs `args` with `client`, expecting failure with `code` and `needle`
/// on stderr.
pub(crate) fn fails_saying(d: &Daemon, client: Client, args: &[&str], code: i32, needle: &str) {
    let err = fails_with(d, client, args, code);
    assert!(
        err.contains(needle),
        "{} {args:?}: {needle:?} not in {err}",
        client.0
    );
}

/// `inspect --format FORMAT NAME` with docker 28: its output, trimmed.
pub(crate) fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    ok(d, DOCKER, &["inspect", "--format", format, name])
        .trim()
        .to_owned()
}

/// The container's status (docker 28's inspect); empty while it does not
/// exist.
pub(crate) fn status(d: &Daemon, name: &str) -> String {
    let out = d.docker(&["inspect", "-f", "{{.State.Status}}", name]);
    text(&out.stdout).trim().to_owned()
}

/// Waits (up to 60 s) for `child` to exit; kills it (by pid) on timeout.
pub(crate) fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A one-letter name for `client`, for container names: `b` for berth,
/// `d` for either docker.
pub(crate) fn short((name, _): Client) -> &'static str {
    if name == BERTH.0 { "b" } else { "d" }
}

/// The names of all containers (docker 28's `ps -a`), sorted.
pub(crate) fn names(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = ok(d, DOCKER, &["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}
