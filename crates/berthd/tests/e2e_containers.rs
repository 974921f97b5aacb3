//! The real docker CLI drives berthd's container endpoints: create, start,
//! wait, ps, rm (root only: containers need mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;

use common::{Daemon, cgroup_dirs, import_busybox};

#[test]
fn docker_create_start_wait_ps_rm() {
    let d = Daemon::start();
    let id = d.ok(&["create", "--name", "c1", "hello-world"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(ps.trim(), "c1 Created");
    assert_eq!(d.ok(&["start", "c1"]).trim(), "c1");
    assert_eq!(d.ok(&["wait", "c1"]).trim(), "0");
    let ps = d.ok(&["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"]);
    assert!(
        ps.trim()
            .starts_with(&format!("{} c1 Exited (0)", &id[..12])),
        "{ps}"
    );
    // Not running: plain `ps` lists nothing.
    assert_eq!(d.ok(&["ps", "-q"]).trim(), "");
    let log = fs_err::read_to_string(
        d.dir
            .path()
            .join("d/containers")
            .join(id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    assert!(log.contains("Hello"), "{log}");
    // logs (multiplexed, demuxed by the CLI after an inspect) and inspect.
    let out = d.ok(&["logs", "c1"]);
    assert!(out.contains("Hello"), "{out}");
    let tail = d.ok(&["logs", "--tail", "1", "c1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{.Config.Image}}",
            "c1"
        ])
        .trim(),
        "exited 0 /c1 hello-world"
    );
    let out = d.docker(&["inspect", "nope"]);
    assert!(!out.status.success());

    let out = d.docker(&["create", "--name", "c1", "hello-world"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is already in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(d.ok(&["rm", "c1"]).trim(), "c1");
    // `run -d`: create + start; then wait and remove it.
    let id2 = d.ok(&["run", "-d", "--name", "c2", "hello-world"]);
    assert_eq!(id2.trim().len(), 64, "{id2}");
    assert_eq!(d.ok(&["wait", "c2"]).trim(), "0");
    assert_eq!(d.ok(&["rm", "c2"]).trim(), "c2");
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    for dir in cgroup_dirs(&d.cgroup_parent) {
        assert!(!dir.join(id).exists(), "{} left", dir.join(id).display());
    }
    let out = d.docker(&["rm", "c1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such container: c1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn docker_stop_kill_and_force_rm() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "st", "busybox", "sleep", "1000"]);
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.trim().starts_with("st Up "), "{ps}");
    let pid: i32 = d
        .ok(&["inspect", "--format", "{{.State.Pid}}", "st"])
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ec",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(d.ok(&["wait", "ec"]).trim(), "0");
    let out = d.docker(&["logs", "ec"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    d.ok(&["rm", "ec"]);
    assert_eq!(d.ok(&["stop", "-t", "1", "st"]).trim(), "st");
    let code: i32 = d.ok(&["wait", "st"]).trim().parse().unwrap();
    assert!(code == 137 || code == 143, "{code}");

    d.ok(&["run", "-d", "--name", "kl", "busybox", "sleep", "1000"]);
    assert_eq!(d.ok(&["kill", "kl"]).trim(), "kl");
    assert_eq!(d.ok(&["wait", "kl"]).trim(), "137");
    let out = d.docker(&["kill", "kl"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    d.ok(&["run", "-d", "--name", "fr", "busybox", "sleep", "1000"]);
    let out = d.docker(&["rm", "fr"]);
    assert!(!out.status.success());
    assert_eq!(d.ok(&["rm", "-f", "fr"]).trim(), "fr");
    d.ok(&["rm", "st", "kl"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn docker_run_attached() {
    let d = Daemon::start();
    // --rm: the daemon removes the container when it exits (AutoRemove).
    let out = d.docker(&["run", "--rm", "hello-world"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("\nHello from berth!"), "{stdout:?}");
    assert_eq!(d.ok(&["ps", "-a", "-q"]).trim(), "");

    import_busybox(&d);
    let out = d.docker(&[
        "run",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let out = d.docker_stdin(&["run", "-i", "busybox", "cat"], b"hi\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    // --rm waits for `removed`: the container exits and goes in one step,
    // and the code still reaches the client (docker 28 and 20.10).
    for _ in 0..3 {
        let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 4"]);
        assert_eq!(out.status.code(), Some(4), "{out:?}");
        let out = d.docker20(&["run", "--rm", "busybox", "sh", "-c", "exit 5"]);
        assert_eq!(out.status.code(), Some(5), "{out:?}");
    }
}

/// The harness ends what a test leaves running (as when it fails midway):
/// containers outlive berthd by design, so dropping the daemon must not
/// leak their processes, shims, mounts or cgroups.
#[test]
fn dropped_daemon_leaves_no_containers_behind() {
    let d = Daemon::start();
    import_busybox(&d);
    let id = d.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim().to_owned();
    let pid = d.ok(&["inspect", "--format", "{{.State.Pid}}", &id]);
    let pid: i32 = pid.trim().parse().unwrap();
    let dir = d.dir.path().to_owned();
    let parent = d.cgroup_parent.clone();
    drop(d);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || fs_err::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "the container's process {pid} is still running"
    );
    let mounts = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&format!("{}/", dir.display())),
        "mounts left under {}",
        dir.display()
    );
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(cgroup_dirs(&parent).is_empty(), "cgroups left: {parent}");
}
