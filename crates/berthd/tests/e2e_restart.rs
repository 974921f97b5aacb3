//! Restart policies (`--restart`) and `--stop-timeout` through the real
//! docker CLI (28 and Debian's 20.10) and the berth CLI: restarts with
//! docker's back-off, `RestartCount` and the `Restarting` state, on-failure
//! limits, a stop by the user ending it, removal of a restarting container,
//! docker's errors for bad specs, and the policies applied when berthd
//! starts again (root only: containers need mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::time::{Duration, Instant};

use common::clients::{BERTH, DOCKER, DOCKER20, fails_with, inspect, ok, text};
use common::{Daemon, import_busybox};

/// Polls `inspect` of `name` until `want` holds (up to 60 s); the last value.
fn wait_inspect(d: &Daemon, name: &str, format: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = inspect(d, name, format);
        if want(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {format} is still {v:?}\nberthd log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(d: &Daemon, name: &str) -> u32 {
    inspect(d, name, "{{.RestartCount}}").parse().unwrap()
}

#[test]
fn on_failure_retries_up_to_its_limit_and_always_until_stopped() {
    let d = Daemon::start();
    import_busybox(&d);

    // on-failure:2 through docker 28: two restarts, then it stays exited.
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "of",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "echo run; exit 3",
        ],
    );
    let st = wait_inspect(&d, "of", "{{.State.Status}} {{.RestartCount}}", |v| {
        v == "exited 2"
    });
    assert_eq!(st, "exited 2");
    assert_eq!(
        inspect(
            &d,
            "of",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.ExitCode}}"
        ),
        "on-failure:2 3"
    );
    // Every run appended to the one log.
    let logs = ok(&d, DOCKER, &["logs", "of"]);
    assert_eq!(logs.matches("run").count(), 3, "{logs}\n{}", d.log());

    // on-failure does not restart a success (docker 20.10).
    ok(
        &d,
        DOCKER20,
        &[
            "run",
            "-d",
            "--name",
            "fine",
            "--restart",
            "on-failure",
            "busybox",
            "sh",
            "-c",
            "exit 0",
        ],
    );
    wait_inspect(&d, "fine", "{{.State.Status}}", |v| v == "exited");
    assert_eq!(count(&d, "fine"), 0);
    assert_eq!(
        inspect(&d, "fine", "{{.HostConfig.RestartPolicy.Name}}"),
        "on-failure"
    );

    // always through berth: restarts with a growing back-off, so it is
    // seen waiting (`Restarting (1) ...` in ps, State.Restarting in
    // inspect, no pid), and still listed by plain `ps`.
    ok(
        &d,
        BERTH,
        &[
            "run",
            "-d",
            "--name",
            "al",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "exit 1",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        let ps = ok(&d, DOCKER, &["ps", "--format", "{{.Names}} {{.Status}}"]);
        if let Some(line) = ps.lines().find(|l| l.starts_with("al Restarting (1) ")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "never restarting: {ps}\nberthd log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.ends_with(" ago"), "{status}");
    let ps = ok(
        &d,
        BERTH,
        &["ps", "-a", "--format", "{{.Names}} {{.Status}}"],
    );
    assert!(ps.lines().any(|l| l.starts_with("al ")), "{ps}");
    assert!(count(&d, "al") >= 1);
    assert_eq!(
        inspect(&d, "al", "{{.HostConfig.RestartPolicy.Name}}"),
        "always"
    );

    // A restarting container is not removed without force.
    let wait = wait_inspect(&d, "al", "{{.State.Status}}", |v| v == "restarting");
    assert_eq!(wait, "restarting");
    // It may be between two restarts (restarting) or briefly running when
    // the rm arrives; either way it is refused and stays.
    let err = fails_with(&d, DOCKER, &["rm", "al"], 1);
    assert!(
        err.contains("container is restarting") || err.contains("container is running"),
        "{err}"
    );

    // A stop by the user ends it: exited, and no more restarts.
    ok(&d, DOCKER, &["stop", "al"]);
    let log = || d.log();
    assert_eq!(
        inspect(&d, "al", "{{.State.Status}}"),
        "exited",
        "{}",
        log()
    );
    let restarts = count(&d, "al");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        inspect(&d, "al", "{{.State.Status}}"),
        "exited",
        "{}",
        log()
    );
    assert_eq!(count(&d, "al"), restarts, "{}", log());
    // A start by the user starts the count over.
    ok(&d, BERTH, &["start", "al"]);
    wait_inspect(&d, "al", "{{.RestartCount}}", |v| v != "0");
    ok(&d, BERTH, &["rm", "-f", "al"]);
    assert!(!ok(&d, DOCKER, &["ps", "-a", "--format", "{{.Names}}"]).contains("al"));
}

#[test]
fn attached_run_and_wait_return_at_the_exit_while_it_restarts() {
    let d = Daemon::start();
    import_busybox(&d);
    // `docker run` (attached) returns the first exit's code; the container
    // goes on restarting.
    for (client, name) in [(DOCKER, "a28"), (DOCKER20, "a20"), (BERTH, "ab")] {
        let out = (client.1)(
            &d,
            &[
                "run",
                "--name",
                name,
                "--restart",
                "unless-stopped",
                "busybox",
                "sh",
                "-c",
                "echo hi; exit 5",
            ],
        );
        assert_eq!(out.status.code(), Some(5), "{}: {out:?}", client.0);
        assert_eq!(text(&out.stdout), "hi\n", "{}", client.0);
        wait_inspect(&d, name, "{{.RestartCount}}", |v| v != "0");
        // `wait` on a restarting container ends at its next exit.
        let code = ok(&d, client, &["wait", name]);
        assert_eq!(code.trim(), "5", "{}", client.0);
        // kill by the user calls the restart off too.
        let _ = (client.1)(&d, &["kill", name]);
        wait_inspect(&d, name, "{{.State.Status}}", |v| v == "exited");
        let n = count(&d, name);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(inspect(&d, name, "{{.State.Status}}"), "exited");
        assert_eq!(count(&d, name), n);
    }
}

#[test]
fn bad_restart_specs_are_refused_as_docker_does() {
    let d = Daemon::start();
    import_busybox(&d);
    let unknown = "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'";
    let count_only =
        "invalid restart policy: maximum retry count can only be used with 'on-failure'";
    for client in [DOCKER, DOCKER20, BERTH] {
        let err = fails_with(
            &d,
            client,
            &[
                "run",
                "-d",
                "--restart",
                "sometimes",
                "busybox",
                "sh",
                "-c",
                "exit 0",
            ],
            125,
        );
        assert!(err.contains(unknown), "{}: {err}", client.0);
        let err = fails_with(
            &d,
            client,
            &[
                "run",
                "-d",
                "--restart",
                "always:3",
                "busybox",
                "sh",
                "-c",
                "exit 0",
            ],
            125,
        );
        assert!(err.contains(count_only), "{}: {err}", client.0);
        let err = fails_with(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--restart",
                "always",
                "busybox",
                "sh",
                "-c",
                "exit 0",
            ],
            125,
        );
        assert!(
            err.contains("conflicting options: cannot specify both --restart and --rm")
                || err.contains("Conflicting options: --restart and --rm"),
            "{}: {err}",
            client.0
        );
        let err = fails_with(
            &d,
            client,
            &[
                "run",
                "--restart",
                "on-failure:x",
                "busybox",
                "sh",
                "-c",
                "exit 0",
            ],
            125,
        );
        assert!(
            err.contains("maximum retry count must be an integer"),
            "{}: {err}",
            client.0
        );
    }
    // Nothing was created.
    assert_eq!(ok(&d, DOCKER, &["ps", "-aq"]).trim(), "");
}

#[test]
fn stop_timeout_is_kept_and_used_by_stop() {
    let d = Daemon::start();
    import_busybox(&d);
    // On SIGTERM the shell takes 4 s to exit 7: with --stop-timeout 1 the
    // SIGKILL comes first (137); with the default 10 s it exits 7.
    let script =
        "trap 'echo got-term; sleep 4; exit 7' TERM; echo up; while true; do sleep 0.1; done";
    for (client, name, timeout) in [
        (DOCKER, "t28", Some("1")),
        (DOCKER20, "t20", Some("1")),
        (BERTH, "tb", Some("1")),
        (DOCKER, "plain", None),
    ] {
        let mut args = vec!["run", "-d", "--name", name];
        if let Some(t) = timeout {
            args.extend(["--stop-timeout", t]);
        }
        args.extend(["busybox", "sh", "-c", script]);
        ok(&d, client, &args);
        let want = timeout.map_or("<nil>", |t| t);
        assert_eq!(inspect(&d, name, "{{.Config.StopTimeout}}"), want, "{name}");
        // Wait until the trap is set (the script printed `up`).
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ok(&d, client, &["logs", name]).contains("up") {
            assert!(Instant::now() < deadline, "{name} never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        ok(&d, client, &["stop", name]);
        let code = inspect(&d, name, "{{.State.ExitCode}}");
        let logs = ok(&d, client, &["logs", name]);
        assert!(logs.contains("got-term"), "{name}: {logs}");
        let want = if timeout.is_some() { "137" } else { "7" };
        assert_eq!(code, want, "{name}: {logs}");
    }
}

#[test]
fn policies_are_applied_when_berthd_starts_again() {
    let mut d = Daemon::start();
    import_busybox(&d);
    for (name, policy) in [
        ("always", "always"),
        ("unless", "unless-stopped"),
        ("died", "unless-stopped"),
        ("never", "no"),
    ] {
        ok(
            &d,
            DOCKER,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--restart",
                policy,
                "busybox",
                "sleep",
                "1000",
            ],
        );
    }
    // Stopped by the user: `always` comes back with berthd, the others not.
    for name in ["always", "unless", "never"] {
        ok(&d, DOCKER, &["stop", "-t", "0", name]);
    }
    // on-failure after a success: stays exited.
    ok(
        &d,
        DOCKER20,
        &[
            "run",
            "-d",
            "--name",
            "ok",
            "--restart",
            "on-failure:3",
            "busybox",
            "sh",
            "-c",
            "exit 0",
        ],
    );
    wait_inspect(&d, "ok", "{{.State.Status}}", |v| v == "exited");

    // berthd dies; meanwhile `died`'s process is killed (by its pid).
    let pid: i32 = inspect(&d, "died", "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0);
    d.kill9();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    d.restart();

    wait_inspect(&d, "always", "{{.State.Status}}", |v| v == "running");
    wait_inspect(&d, "died", "{{.State.Status}}", |v| v == "running");
    let new_pid: i32 = inspect(&d, "died", "{{.State.Pid}}").parse().unwrap();
    assert_ne!(new_pid, pid);
    // Give a wrong start a moment to show before checking what stays down.
    std::thread::sleep(Duration::from_secs(1));
    for name in ["unless", "never", "ok"] {
        assert_eq!(inspect(&d, name, "{{.State.Status}}"), "exited", "{name}");
    }
    assert_eq!(
        inspect(&d, "never", "{{.HostConfig.RestartPolicy.Name}}"),
        "no"
    );
    // And a second restart of berthd keeps the running ones running.
    d.restart();
    assert_eq!(inspect(&d, "always", "{{.State.Status}}"), "running");
    for name in ["always", "died"] {
        ok(&d, BERTH, &["rm", "-f", name]);
    }
}
