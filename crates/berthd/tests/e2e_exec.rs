//! `exec` end to end, through the docker CLI 28 and 20.10 and the berth
//! CLI: output and exit codes (126, 127 as docker), `-i` with stdin, `-t`
//! under a real pseudo-terminal with resize, `-d`, `-e`/`--env-file`,
//! `-u`, `-w`, `--privileged` (the effective capability set), exec on a
//! stopped container, exec processes dying with their container, and the
//! Engine API's answers to bad requests (root only: containers need mounts
//! and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::time::{Duration, Instant};

use common::api::{exchange, request};
use common::clients::{
    BERTH, CLIENTS, DOCKER, DOCKER20, command, ok, tag, text, wait_child, with_stdin,
};
use common::{Daemon, Pty, import_busybox};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The capability sets of a process as `/proc/<pid>/status` shows them.
fn cap_line(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: i64) -> bool {
    fs_err::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_owned()))
        .is_some_and(|r| !r.starts_with('Z') && !r.starts_with('X'))
}

#[test]
fn exec_output_exit_codes_and_options_through_every_client() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "-e",
        "FROM_RUN=r",
        "busybox",
        "sleep",
        "1000",
    ]);
    let host_caps = cap_line(
        &fs_err::read_to_string("/proc/self/status").unwrap(),
        "CapBnd:",
    );
    let env_file = d.dir.path().join("exec.env");
    fs_err::write(&env_file, "# comment\nFROM_FILE=f\n").unwrap();
    let env_file = env_file.to_str().unwrap().to_owned();
    for cli @ (who, _) in CLIENTS {
        // Output and the command's own exit code.
        assert_eq!(ok(&d, cli, &["exec", "c1", "echo", "hello"]), "hello\n");
        let out = cli.1(
            &d,
            &["exec", "c1", "sh", "-c", "echo out; echo err >&2; exit 3"],
        );
        assert_eq!(out.status.code(), Some(3), "{who}");
        assert_eq!(text(&out.stdout), "out\n", "{who}");
        assert_eq!(text(&out.stderr), "err\n", "{who}");
        // Not found: 127; not executable (a directory): 126.
        let out = cli.1(&d, &["exec", "c1", "nosuchcmd"]);
        assert_eq!(out.status.code(), Some(127), "{who}: {}", text(&out.stderr));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(all.contains("executable file not found"), "{who}: {all}");
        let out = cli.1(&d, &["exec", "c1", "/bin"]);
        assert_eq!(out.status.code(), Some(126), "{who}: {}", text(&out.stderr));
        // -i: stdin reaches the process, its end closes the process's stdin.
        let out = with_stdin(&d, cli, &["exec", "-i", "c1", "cat"], b"piped line\n");
        assert!(out.status.success(), "{who}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "piped line\n", "{who}");
        // Without -i the process gets no stdin.
        let out = with_stdin(&d, cli, &["exec", "c1", "cat"], b"ignored\n");
        assert_eq!(text(&out.stdout), "", "{who}");
        // -e, --env-file, -u, -w; the container's environment is kept.
        let out = ok(
            &d,
            cli,
            &[
                "exec",
                "-e",
                "A=1",
                "-e",
                "HOSTNAME=x",
                "--env-file",
                &env_file,
                "-u",
                "1000:1000",
                "-w",
                "/bin",
                "c1",
                "sh",
                "-c",
                "echo $A $HOSTNAME $FROM_FILE $FROM_RUN $(pwd) $(busybox id -u):$(busybox id -g)",
            ],
        );
        assert_eq!(out, "1 x f r /bin 1000:1000\n", "{who}");
        // The container's user and directory by default.
        assert_eq!(
            ok(&d, cli, &["exec", "c1", "sh", "-c", "busybox id -u; pwd"]),
            "0\n/\n",
            "{who}"
        );
        let out = cli.1(&d, &["exec", "-u", "nosuchuser", "c1", "true"]);
        assert_ne!(out.status.code(), Some(0), "{who}");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            all.contains("unable to find user nosuchuser"),
            "{who}: {all}"
        );
        // Docker's 14 default capabilities, every one of the host's with
        // --privileged.
        let status = ok(&d, cli, &["exec", "c1", "cat", "/proc/self/status"]);
        assert_eq!(cap_line(&status, "CapEff:"), "00000000a80425fb", "{who}");
        let status = ok(
            &d,
            cli,
            &["exec", "--privileged", "c1", "cat", "/proc/self/status"],
        );
        assert_eq!(cap_line(&status, "CapEff:"), host_caps, "{who}");
        assert_eq!(cap_line(&status, "CapBnd:"), host_caps, "{who}");
        // -d: nothing printed, the process runs on.
        let marker = format!("/marker-{}", tag(cli));
        let out = ok(
            &d,
            cli,
            &[
                "exec",
                "-d",
                "c1",
                "sh",
                "-c",
                &format!("echo done > {marker}"),
            ],
        );
        assert_eq!(out, "", "{who}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while cli.1(&d, &["exec", "c1", "cat", &marker]).stdout != b"done\n" {
            assert!(Instant::now() < deadline, "{who}: -d never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        // -t without -i: a terminal, raw output (no frame headers).
        let out = ok(
            &d,
            cli,
            &["exec", "-t", "c1", "sh", "-c", "busybox tty; echo $TERM"],
        );
        assert!(out.starts_with("/dev/pts/"), "{who}: {out:?}");
        assert!(out.ends_with("xterm\r\n"), "{who}: {out:?}");
        // Bad input: an unknown container, a missing command, an unknown flag.
        let out = cli.1(&d, &["exec", "nosuchcontainer", "true"]);
        assert_eq!(out.status.code(), Some(1), "{who}");
        assert!(
            text(&out.stderr).contains("No such container: nosuchcontainer"),
            "{who}: {}",
            text(&out.stderr)
        );
        let out = cli.1(&d, &["exec", "c1"]);
        assert_ne!(out.status.code(), Some(0), "{who}");
        assert!(
            text(&out.stderr).contains("requires at least 2 arguments"),
            "{who}: {}",
            text(&out.stderr)
        );
        let out = cli.1(&d, &["exec", "--nosuchflag", "c1", "true"]);
        assert_eq!(out.status.code(), Some(125), "{who}: {}", text(&out.stderr));
    }
    // A stopped container: docker's conflict, exit status 1, nothing made.
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let id = d
        .ok(&["inspect", "-f", "{{.Id}}", "idle"])
        .trim()
        .to_owned();
    for cli @ (who, _) in CLIENTS {
        let out = cli.1(&d, &["exec", "idle", "true"]);
        assert_eq!(out.status.code(), Some(1), "{who}");
        assert!(
            text(&out.stderr).contains(&format!("Container {id} is not running")),
            "{who}: {}",
            text(&out.stderr)
        );
    }
    let (status, body) = request(&d, "GET", "/containers/idle/json", "");
    assert_eq!(status, 200);
    assert!(json(&body)["ExecIDs"].is_null(), "{body}");
}

/// Asks `stty size` (20 times at most, 300 ms apart) until the screen
/// shows `size`; fails with `what` after 30 s.
fn wait_size(pty: &mut Pty, size: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut asked = 0;
    while !pty.screen().contains(size) {
        assert!(Instant::now() < deadline, "{what}:\n{}", pty.screen());
        if asked < 20 {
            pty.type_line("busybox stty size");
            asked += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn exec_tty_under_a_pty_with_resize() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "t1", "busybox", "sleep", "1000"]);
    for cli @ (who, _) in CLIENTS {
        let mut pty = Pty::open(33, 101);
        let mut child = pty.spawn(&command(&d, cli, &["exec", "-it", "t1", "sh"]));
        pty.expect("# ", 1);
        pty.type_line("echo typed-$((6*7)) $TERM");
        pty.expect("typed-42 xterm", 1);
        // The size at start (ConsoleSize, or the first resize for 20.10).
        wait_size(&mut pty, "33 101", &format!("{who}: no size"));
        // SIGWINCH -> POST /exec/{id}/resize.
        pty.resize(40, 120);
        wait_size(
            &mut pty,
            "40 120",
            &format!("{who}: the new size did not reach the exec"),
        );
        pty.type_line("exit 5");
        let status = wait_child(&mut child, who);
        assert_eq!(status.code(), Some(5), "{who}: {}", pty.screen());
        // The terminal is back in its normal mode.
        let after = pty.termios();
        assert!(
            after
                .local_flags
                .contains(nix::sys::termios::LocalFlags::ICANON),
            "{who}"
        );
    }
    // -it without a terminal on stdin is refused, as docker.
    for cli @ (who, _) in [DOCKER, BERTH] {
        let out = with_stdin(&d, cli, &["exec", "-it", "t1", "true"], b"");
        assert_ne!(out.status.code(), Some(0), "{who}");
        assert!(
            text(&out.stderr).contains("the input device is not a TTY"),
            "{who}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn exec_processes_die_with_their_container() {
    let d = Daemon::start();
    import_busybox(&d);
    // init is `sleep` as pid 1: it ignores SIGTERM, so stop ends in SIGKILL.
    d.ok(&["run", "-d", "--name", "k1", "busybox", "sleep", "1000"]);
    ok(&d, DOCKER, &["exec", "-d", "k1", "sleep", "1001"]);
    ok(&d, BERTH, &["exec", "-d", "k1", "sleep", "1002"]);
    let mut attached = command(&d, DOCKER20, &["exec", "k1", "sleep", "1003"])
        .spawn()
        .unwrap();
    let mut attached_berth = command(&d, BERTH, &["exec", "k1", "sleep", "1004"])
        .spawn()
        .unwrap();
    // All four show in ExecIDs, each with a live host pid.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ids = loop {
        let (_, body) = request(&d, "GET", "/containers/k1/json", "");
        let ids: Vec<String> = json(&body)["ExecIDs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let pids: Vec<i64> = ids
            .iter()
            .map(|id| {
                json(&request(&d, "GET", &format!("/exec/{id}/json"), "").1)["Pid"]
                    .as_i64()
                    .unwrap_or(0)
            })
            .collect();
        if ids.len() == 4 && pids.iter().all(|p| *p > 0) {
            break ids;
        }
        assert!(Instant::now() < deadline, "execs not all running: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut pids = Vec::new();
    for id in &ids {
        let v = json(&request(&d, "GET", &format!("/exec/{id}/json"), "").1);
        assert_eq!(v["Running"], true, "{v}");
        assert!(v["ExitCode"].is_null(), "{v}");
        assert_eq!(v["ProcessConfig"]["entrypoint"], "sleep", "{v}");
        let pid = v["Pid"].as_i64().unwrap();
        assert!(alive(pid), "exec pid {pid}");
        pids.push(pid);
    }
    // stop returns (does not wait for the execs) and takes them along.
    let mut stop = command(&d, DOCKER, &["stop", "-t", "1", "k1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_child(&mut stop, "docker stop").success());
    for pid in &pids {
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(*pid) {
            assert!(
                Instant::now() < deadline,
                "exec pid {pid} outlived its container"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The attached clients end with the exec.
    assert!(!wait_child(&mut attached, "docker 20.10 exec").success());
    assert!(!wait_child(&mut attached_berth, "berth exec").success());
    // As dockerd, the execs are forgotten with the container's stop.
    for id in &ids {
        let (status, body) = request(&d, "GET", &format!("/exec/{id}/json"), "");
        assert_eq!(status, 404, "{body}");
        assert!(
            body.contains(&format!("No such exec instance: {id}")),
            "{body}"
        );
    }
    // It starts again, without execs.
    d.ok(&["start", "k1"]);
    let (_, body) = request(&d, "GET", "/containers/k1/json", "");
    assert!(json(&body)["ExecIDs"].is_null(), "{body}");
    assert_eq!(ok(&d, BERTH, &["exec", "k1", "echo", "again"]), "again\n");
}

#[test]
fn exec_api_answers_as_dockerd() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "a1", "busybox", "sleep", "1000"]);
    // Bad bodies and names.
    let (status, body) = request(&d, "POST", "/containers/a1/exec", r#"{"Cmd":[]}"#);
    assert_eq!(
        (status, body.contains("No exec command specified")),
        (400, true),
        "{body}"
    );
    let (status, body) = request(&d, "POST", "/containers/a1/exec", "{not json");
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(
        &d,
        "POST",
        "/containers/a1/exec",
        r#"{"Cmd":["true"],"DetachKeys":"ctrl-"}"#,
    );
    assert_eq!(
        (status, body.contains("Invalid detach keys")),
        (400, true),
        "{body}"
    );
    let (status, body) = request(&d, "POST", "/containers/nosuch/exec", r#"{"Cmd":["true"]}"#);
    assert_eq!(
        (status, body.contains("No such container: nosuch")),
        (404, true),
        "{body}"
    );
    for (method, path) in [
        ("GET", "/exec/nosuch/json"),
        ("POST", "/exec/nosuch/start"),
        ("POST", "/exec/nosuch/resize?h=1&w=1"),
    ] {
        let (status, body) = request(&d, method, path, "{}");
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert!(body.contains("No such exec instance: nosuch"), "{body}");
    }
    // Create, inspect before start, start detached, inspect after.
    let (status, body) = request(
        &d,
        "POST",
        "/v1.41/containers/a1/exec",
        r#"{"Cmd":["sh","-c","exit 4"],"User":"1","WorkingDir":"/bin","DetachKeys":"ctrl-p,ctrl-q"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let id = json(&body)["Id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    let v = json(&request(&d, "GET", &format!("/exec/{id}/json"), "").1);
    assert_eq!(v["ID"], id.as_str());
    assert_eq!(v["Running"], false);
    assert!(v["ExitCode"].is_null(), "{v}");
    assert_eq!(v["Pid"], 0);
    assert_eq!(v["CanRemove"], false, "{v}");
    assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(
        v["ProcessConfig"]["arguments"],
        serde_json::json!(["-c", "exit 4"])
    );
    assert_eq!(v["ProcessConfig"]["user"], "1");
    assert_eq!(v["DetachKeys"], "EBE=", "ctrl-p,ctrl-q as bytes, base64");
    let cid = json(&request(&d, "GET", "/containers/a1/json", "").1)["Id"].clone();
    assert_eq!(v["ContainerID"], cid);
    let (status, body) = request(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Detach":true}"#,
    );
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let v = json(&request(&d, "GET", &format!("/exec/{id}/json"), "").1);
        if v["Running"] == false {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(v["ExitCode"], 4, "{v}");
    assert!(v["Pid"].as_i64().unwrap() > 0, "{v}");
    // Once is enough.
    let (status, body) = request(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Detach":true}"#,
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("has already run"), "{body}");
    // Resize: bad sizes are refused; without a terminal it is a no-op.
    let (status, _) = request(&d, "POST", &format!("/exec/{id}/resize?h=x&w=1"), "");
    assert_eq!(status, 400);
    // A start that fails records docker's exit code.
    let (_, body) = request(
        &d,
        "POST",
        "/containers/a1/exec",
        r#"{"Cmd":["nosuchcmd"]}"#,
    );
    let id = json(&body)["Id"].as_str().unwrap().to_owned();
    let (status, body) = request(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Detach":true}"#,
    );
    assert!(status >= 400, "{body}");
    assert!(body.contains("executable file not found"), "{body}");
    let v = json(&request(&d, "GET", &format!("/exec/{id}/json"), "").1);
    assert_eq!(v["ExitCode"], 127, "{v}");
    // An attached start without `Upgrade: tcp` (a plain HTTP client):
    // as dockerd, 200, `application/vnd.docker.raw-stream`, and the output
    // (multiplexed frames without a terminal) until the process ends.
    let (_, body) = request(
        &d,
        "POST",
        "/containers/a1/exec",
        r#"{"Cmd":["sh","-c","echo out; echo err >&2; exit 3"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    let id = json(&body)["Id"].as_str().unwrap().to_owned();
    let (_, head, body) = exchange(
        &d,
        "POST",
        &format!("/exec/{id}/start"),
        r#"{"Detach":false}"#,
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/vnd.docker.raw-stream"),
        "{head}"
    );
    assert_eq!(
        frames(&body),
        [(1, "out\n".to_owned()), (2, "err\n".to_owned())]
            .into_iter()
            .collect(),
        "{body:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let v = json(&request(&d, "GET", &format!("/exec/{id}/json"), "").1);
        if v["Running"] == false {
            break v;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(v["ExitCode"], 3, "{v}");
    assert_eq!(v["CanRemove"], false, "{v}");
    // One that fails to start says so in the stream, as dockerd.
    let (_, body) = request(
        &d,
        "POST",
        "/containers/a1/exec",
        r#"{"Cmd":["nosuchcmd"],"AttachStdout":true}"#,
    );
    let id = json(&body)["Id"].as_str().unwrap().to_owned();
    let (_, head, body) = exchange(&d, "POST", &format!("/exec/{id}/start"), "{}");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let out: String = frames(&body)
        .into_iter()
        .filter(|(s, _)| *s == 1)
        .map(|(_, t)| t)
        .collect();
    assert!(out.contains("executable file not found"), "{out}");
}

/// docker's multiplexed frames: `(stream, payload)` per stream, each
/// stream's payloads joined (stdout and stderr interleave freely).
fn frames(mut b: &[u8]) -> std::collections::BTreeSet<(u8, String)> {
    let mut joined = std::collections::BTreeMap::<u8, String>::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        joined
            .entry(b[0])
            .or_default()
            .push_str(&text(&b[8..8 + n]));
        b = &b[8 + n..];
    }
    assert!(b.is_empty(), "a partial frame: {b:?}");
    joined.into_iter().collect()
}
