//! `--init` through the real docker CLI (28 and Debian's 20.10) and the
//! berth CLI: berth-init runs as pid 1 (bound at /sbin/docker-init), reaps
//! orphaned children (no zombies, while a container without it keeps one),
//! forwards `docker stop`'s SIGTERM to the command (exit 143 instead of a
//! SIGKILL's 137) and passes exit codes through (root only: containers need
//! mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::time::{Duration, Instant};

use common::clients::{CLIENTS, inspect, ok, text};
use common::{Daemon, import_busybox};

/// The host pids of `pid` and its descendants with their states (`R`,
/// `S`, `Z`, ...), from /proc.
fn tree(pid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let status = fs_err::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
        let state = status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .map(|s| s.trim().chars().next().unwrap_or('?').to_string())
            .unwrap_or_default();
        out.push((p, state));
        let children =
            fs_err::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        todo.extend(
            children
                .split_whitespace()
                .map(|c| c.parse::<i32>().unwrap()),
        );
    }
    out
}

#[test]
fn init_reaps_orphans_and_forwards_signals() {
    let d = Daemon::start();
    import_busybox(&d);
    // An orphan: the subshell's `sleep 1` outlives its parent and is
    // re-parented to pid 1, which then execs a program that never waits.
    let orphan = "(sleep 1 &); exec sleep 1000";
    for (client, name, init) in [
        (CLIENTS[0], "with", true),
        (CLIENTS[1], "with20", true),
        (CLIENTS[2], "withb", true),
        (CLIENTS[0], "without", false),
    ] {
        let mut args = vec!["run", "-d", "--name", name];
        if init {
            args.push("--init");
        }
        args.extend(["busybox", "sh", "-c", orphan]);
        ok(&d, client, &args);
        let want_init = if init { "true" } else { "<nil>" };
        assert_eq!(
            inspect(&d, name, "{{.HostConfig.Init}}"),
            want_init,
            "{name}"
        );
        // The command is still the container's own in inspect.
        assert_eq!(inspect(&d, name, "{{.Path}}"), "sh", "{name}");
    }
    // Once the orphans have exited (after 1 s): without init a zombie is
    // left under pid 1; with it, none.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pid: i32 = inspect(&d, "without", "{{.State.Pid}}").parse().unwrap();
        if tree(pid).iter().any(|(_, s)| s == "Z") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no zombie without init: {:?}",
            tree(pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    for name in ["with", "with20", "withb"] {
        let pid: i32 = inspect(&d, name, "{{.State.Pid}}").parse().unwrap();
        let procs = tree(pid);
        // berth-init, then `sleep 1000`; the orphan was reaped.
        assert_eq!(procs.len(), 2, "{name}: {procs:?}");
        assert!(procs.iter().all(|(_, s)| s != "Z"), "{name}: {procs:?}");
        let cmdline = fs_err::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            text(&cmdline).starts_with("/sbin/docker-init\0--\0sh\0"),
            "{name}: {:?}",
            text(&cmdline)
        );
    }

    // `stop`: SIGTERM reaches `sleep` through init (143); without init
    // pid 1 ignores it and only the SIGKILL after the timeout ends it (137).
    for (client, name) in [
        (CLIENTS[0], "with"),
        (CLIENTS[1], "with20"),
        (CLIENTS[2], "withb"),
    ] {
        ok(&d, client, &["stop", "-t", "60", name]);
        assert_eq!(inspect(&d, name, "{{.State.ExitCode}}"), "143", "{name}");
    }
    ok(&d, CLIENTS[0], &["stop", "-t", "1", "without"]);
    assert_eq!(inspect(&d, "without", "{{.State.ExitCode}}"), "137");
}

#[test]
fn init_passes_exit_codes_and_output_through() {
    let d = Daemon::start();
    import_busybox(&d);
    for client in CLIENTS {
        let out = (client.1)(
            &d,
            &[
                "run",
                "--rm",
                "--init",
                "busybox",
                "sh",
                "-c",
                "echo pid $$; exit 3",
            ],
        );
        assert_eq!(out.status.code(), Some(3), "{}: {out:?}", client.0);
        // The command is not pid 1: init is.
        let stdout = text(&out.stdout);
        assert!(
            stdout.starts_with("pid ") && stdout.trim() != "pid 1",
            "{}: {stdout}",
            client.0
        );
        // A command that does not exist: 127, with init's message.
        let out = (client.1)(&d, &["run", "--rm", "--init", "busybox", "nosuchcmd"]);
        assert_eq!(out.status.code(), Some(127), "{}: {out:?}", client.0);
        assert!(
            text(&out.stderr).contains("nosuchcmd"),
            "{}: {}",
            client.0,
            text(&out.stderr)
        );
    }
    // `--init=false` is kept as such.
    ok(
        &d,
        CLIENTS[0],
        &["create", "--name", "off", "--init=false", "busybox", "sh"],
    );
    assert_eq!(inspect(&d, "off", "{{.HostConfig.Init}}"), "false");
}
