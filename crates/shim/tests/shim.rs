//! berth-shim end to end: the real binary, a busybox bundle, the real
//! runtime. Root only (CI runs as root).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use berth_shim_proto::attach::AttachRequest;
use berth_shim_proto::{ErrorClass, ExitStatus, Reply, Request, Status};
use common::*;
use serde_json::{Value, json};

fn exit_of(reply: Reply) -> ExitStatus {
    match reply {
        Reply::Exited(e) => e,
        other => panic!("expected an exit, got {other:?}"),
    }
}

fn is_rfc3339_nano(t: &str) -> bool {
    // 2026-11-23T12:00:00.123456789Z
    let b = t.as_bytes();
    b.len() == 30
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[29] == b'Z'
        && t[20..29].bytes().all(|c| c.is_ascii_digit())
}

#[test]
fn start_logs_and_exit_status() {
    let env = Env::new();
    env.bundle(
        "logs",
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; printf 'no newline'; exit 3",
        ],
        |_| {},
    );
    let shim = env.shim("logs", &[]);
    assert_eq!(
        shim.ok(Request::State),
        Reply::State {
            status: Status::Created,
            pid: shim.init_pid,
            exit: None
        }
    );
    shim.ok(Request::Start);
    let exit = exit_of(shim.ok(Request::Wait { exec_id: None }));
    assert_eq!(exit.exit_code, 3);
    assert!(is_rfc3339_nano(&exit.exited_at), "{}", exit.exited_at);

    // exit.json on disk says the same (a restarted daemon reads it).
    let on_disk: ExitStatus =
        serde_json::from_slice(&fs_err::read(shim.state_dir.join("exit.json")).unwrap()).unwrap();
    assert_eq!(on_disk, exit);
    let Reply::State {
        status,
        exit: Some(e),
        ..
    } = shim.ok(Request::State)
    else {
        panic!("no exit in state");
    };
    assert_eq!(status, Status::Stopped);
    assert_eq!(e, exit);
    // The shim stays until Delete.
    assert!(shim.alive());

    let log = fs_err::read_to_string(env.log_path("logs")).unwrap();
    let mut records = BTreeSet::new();
    for line in log.lines() {
        // Exact layout: field order and escaping as Docker's json-file.
        let v: Value = serde_json::from_str(line).unwrap();
        let t = v["time"].as_str().unwrap();
        assert!(is_rfc3339_nano(t), "{line}");
        let expect = format!(
            "{{\"log\":{},\"stream\":\"{}\",\"time\":\"{t}\"}}",
            serde_json::to_string(v["log"].as_str().unwrap()).unwrap(),
            v["stream"].as_str().unwrap()
        );
        assert_eq!(line, expect);
        records.insert((
            v["stream"].as_str().unwrap().to_string(),
            v["log"].as_str().unwrap().to_string(),
        ));
    }
    let want: BTreeSet<(String, String)> = [
        ("stdout", "out\n"),
        ("stderr", "err\n"),
        ("stdout", "no newline"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(records, want, "log:\n{log}");
    assert!(log.ends_with('\n'));

    shim.ok(Request::Delete { force: false });
    assert!(shim.wait_gone());
}

#[test]
fn two_waiters_and_kill() {
    let env = Env::new();
    env.bundle("wait", &["sleep", "100"], |_| {});
    let shim = env.shim("wait", &[]);
    shim.ok(Request::Start);
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..2 {
        let mut conn = shim.connect();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let r = call_on(&mut conn, &Request::Wait { exec_id: None });
            let _ = tx.send(r);
        });
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(rx.try_recv().is_err(), "Wait answered while running");
    // Other requests are served meanwhile.
    let Reply::State { status, .. } = shim.ok(Request::State) else {
        panic!()
    };
    assert_eq!(status, Status::Running);
    // An unknown request is an error, and the connection stays usable.
    let mut conn = shim.connect();
    berth_shim_proto::frame::write_frame(&mut conn, &json!({"op": "frobnicate"})).unwrap();
    let resp: berth_shim_proto::Response = berth_shim_proto::frame::read_frame(&mut conn)
        .unwrap()
        .unwrap();
    let berth_shim_proto::Response::Err(err) = resp else {
        panic!("{resp:?}")
    };
    assert_eq!(err.class, ErrorClass::InvalidArgument);
    assert!(matches!(
        call_on(&mut conn, &Request::State),
        Ok(Reply::State { .. })
    ));
    // Pause and resume go to the runtime (cgroup freezer).
    shim.ok(Request::Pause);
    let Reply::State { status, .. } = shim.ok(Request::State) else {
        panic!()
    };
    assert_eq!(status, Status::Paused);
    shim.ok(Request::Resume);
    let Reply::State { status, .. } = shim.ok(Request::State) else {
        panic!()
    };
    assert_eq!(status, Status::Running);
    // New limits are applied and visible in the stats.
    let resources = serde_json::from_value(json!({"pids": {"limit": 77}})).unwrap();
    shim.ok(Request::Update { resources });
    let Reply::Stats { stats } = shim.ok(Request::Stats) else {
        panic!()
    };
    assert_eq!(stats["pids"]["limit"], 77, "{stats}");
    assert_eq!(stats["pids"]["current"], 1, "{stats}");
    // A bad signal is the client's fault.
    let err = shim
        .call(Request::Kill {
            signal: 999,
            all: false,
        })
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidArgument);
    shim.ok(Request::Kill {
        signal: 9,
        all: false,
    });
    for _ in 0..2 {
        let r = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(exit_of(r.unwrap()).exit_code, 137);
    }
    // Killing a stopped container is a conflict, as in Docker.
    let err = shim
        .call(Request::Kill {
            signal: 15,
            all: false,
        })
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Conflict);
}

#[test]
fn exec_exit_code_output_and_delete_cleanup() {
    let env = Env::new();
    env.bundle("exec", &["sleep", "100"], |_| {});
    let shim = env.shim("exec", &[]);
    shim.ok(Request::Start);

    let Reply::Started { pid } = shim.ok(Request::Exec {
        exec_id: "e1".into(),
        process: process(&["sh", "-c", "exit 5"]),
        stdin: false,
    }) else {
        panic!()
    };
    assert!(pid > 0);
    let exit = exit_of(shim.ok(Request::Wait {
        exec_id: Some("e1".into()),
    }));
    assert_eq!(exit.exit_code, 5);
    assert_eq!(
        shim.ok(Request::ExecState {
            exec_id: "e1".into()
        }),
        Reply::ExecState {
            pid,
            exit: Some(exit)
        }
    );

    // Attach before the exec exists: none of its output is lost.
    let mut att = shim.attach(AttachRequest {
        exec_id: Some("e2".into()),
        stdout: true,
        stderr: true,
        ..Default::default()
    });
    shim.ok(Request::Exec {
        exec_id: "e2".into(),
        process: process(&["sh", "-c", "echo hi; echo oops >&2; exit 1"]),
        stdin: false,
    });
    let (out, err) = read_mux(&mut att);
    assert_eq!(out, b"hi\n");
    assert_eq!(err, b"oops\n");
    assert_eq!(
        exit_of(shim.ok(Request::Wait {
            exec_id: Some("e2".into())
        }))
        .exit_code,
        1
    );
    // Exec output is not the container's log.
    let log = fs_err::read_to_string(env.log_path("exec")).unwrap_or_default();
    assert!(!log.contains("hi"), "{log}");

    let err = shim
        .call(Request::Exec {
            exec_id: "e1".into(),
            process: process(&["true"]),
            stdin: false,
        })
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Conflict);
    let err = shim
        .call(Request::Wait {
            exec_id: Some("nope".into()),
        })
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::NotFound);
    let err = shim
        .call(Request::Resize {
            exec_id: None,
            width: 80,
            height: 24,
        })
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidArgument);

    let Reply::Stats { stats } = shim.ok(Request::Stats) else {
        panic!()
    };
    assert!(stats["pids"].is_object(), "{stats}");

    // A running container is only deleted with force.
    let err = shim.call(Request::Delete { force: false }).unwrap_err();
    assert_eq!(err.class, ErrorClass::Conflict);
    shim.ok(Request::Delete { force: true });
    assert!(shim.wait_gone(), "the shim did not exit after Delete");
    assert!(
        !env.runtime_root.join(&shim.id).exists(),
        "runtime state left behind"
    );
    let left = cgroup_exists(&env.cgroup_rel("exec"));
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    assert!(!shim.state_dir.join("control.sock").exists());
    // The exit status stays for the daemon.
    let on_disk: ExitStatus =
        serde_json::from_slice(&fs_err::read(shim.state_dir.join("exit.json")).unwrap()).unwrap();
    assert_eq!(on_disk.exit_code, 137);
}

#[test]
fn attach_multiplexes_and_forwards_stdin() {
    let env = Env::new();
    env.bundle("attach", &["sh", "-c", "cat; echo done >&2"], |_| {});
    let shim = env.shim("attach", &["--stdin"]);
    let mut a = shim.attach(AttachRequest {
        stdin: true,
        stdout: true,
        stderr: true,
        close_stdin: true,
        exec_id: None,
    });
    // A second client sees the same output.
    let mut b = shim.attach(AttachRequest {
        stdout: true,
        stderr: true,
        ..Default::default()
    });
    shim.ok(Request::Start);
    write_all(&mut a, b"ping\n");
    write_all(&mut a, b"pong\n");
    a.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, err) = read_mux(&mut a);
    assert_eq!(out, b"ping\npong\n");
    assert_eq!(err, b"done\n");
    let (out_b, err_b) = read_mux(&mut b);
    assert_eq!((out_b, err_b), (out, err));
    assert_eq!(
        exit_of(shim.ok(Request::Wait { exec_id: None })).exit_code,
        0
    );
    let log = fs_err::read_to_string(env.log_path("attach")).unwrap();
    assert!(
        log.contains(r#"{"log":"ping\n","stream":"stdout","#),
        "{log}"
    );
}

#[test]
fn terminal_resize_and_raw_output() {
    let env = Env::new();
    env.bundle("tty", &["sh", "-c", "stty size; printf 'x\\n'"], |c| {
        c["process"]["terminal"] = json!(true)
    });
    let shim = env.shim("tty", &["--terminal"]);
    let mut a = shim.attach(AttachRequest {
        stdout: true,
        ..Default::default()
    });
    shim.ok(Request::Resize {
        exec_id: None,
        width: 123,
        height: 45,
    });
    shim.ok(Request::Start);
    let out = read_all(&mut a);
    // Raw bytes (no frame headers); the pty turns \n into \r\n.
    assert_eq!(String::from_utf8_lossy(&out), "45 123\r\nx\r\n");
    assert_eq!(
        exit_of(shim.ok(Request::Wait { exec_id: None })).exit_code,
        0
    );
    let log = fs_err::read_to_string(env.log_path("tty")).unwrap();
    assert!(
        log.contains(r#"{"log":"45 123\r\n","stream":"stdout","#),
        "{log}"
    );
}

#[test]
fn log_rotation() {
    let env = Env::new();
    env.bundle(
        "rot",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done",
        ],
        |_| {},
    );
    let shim = env.shim("rot", &["--log-max-size", "1000", "--log-max-file", "3"]);
    shim.ok(Request::Start);
    assert_eq!(
        exit_of(shim.ok(Request::Wait { exec_id: None })).exit_code,
        0
    );
    let path = env.log_path("rot");
    let numbered = |n: u32| std::path::PathBuf::from(format!("{}.{n}", path.display()));
    assert!(numbered(1).exists() && numbered(2).exists());
    assert!(!numbered(3).exists());
    for p in [path.clone(), numbered(1), numbered(2)] {
        let len = fs_err::metadata(&p).unwrap().len();
        // At most one record over the limit, as Docker's json-file.
        assert!(len <= 1000 + 100, "{} is {len} bytes", p.display());
    }
    let current = fs_err::read_to_string(&path).unwrap();
    assert!(
        current
            .lines()
            .last()
            .unwrap()
            .starts_with(r#"{"log":"line-299\n""#),
        "{current}"
    );
}

#[test]
fn survives_the_death_of_its_starter() {
    use std::io::BufRead;
    let env = Env::new();
    env.bundle(
        "orphan",
        &["sh", "-c", "read x; echo got $x; exit 4"],
        |_| {},
    );
    // The "daemon": a shell that execs nothing itself but starts the shim
    // and then lingers, as berthd would; it is SIGKILLed afterwards.
    let mut starter = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$@\"; exec sleep 1000")
        .arg(bin())
        .args(env.shim_args("orphan", &["--stdin"]))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(starter.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let shim = env.guard("orphan", &line, true);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(starter.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    starter.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(shim.alive(), "the shim died with its starter");
    // Its own session: signals to the starter's group do not reach it.
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(shim.pid))).unwrap();
    assert_eq!(sid.as_raw(), shim.pid);
    assert_eq!(
        fs_err::read_to_string(shim.state_dir.join("shim.pid")).unwrap(),
        shim.pid.to_string()
    );

    let mut a = shim.attach(AttachRequest {
        stdin: true,
        stdout: true,
        ..Default::default()
    });
    shim.ok(Request::Start);
    write_all(&mut a, b"hello\n");
    let (out, _) = read_mux(&mut a);
    assert_eq!(out, b"got hello\n");
    assert_eq!(
        exit_of(shim.ok(Request::Wait { exec_id: None })).exit_code,
        4
    );
    if let Some(kib) = rss_kib(shim.pid) {
        eprintln!("berth-shim VmRSS: {kib} KiB (debug build)");
    }
    shim.ok(Request::Shutdown);
    assert!(shim.wait_gone());
    assert!(!env.runtime_root.join(&shim.id).exists());
}

#[test]
fn bad_bundle_reports_an_error_line() {
    let env = Env::new();
    env.bundle("bad", &["true"], |c| {
        c["process"]["cwd"] = json!("relative")
    });
    let out = std::process::Command::new(bin())
        .args(env.shim_args("bad", &[]))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["error"]["class"], "InvalidArgument", "{line}");
    assert!(!env.runtime_root.join(env.id("bad")).exists());
    assert!(cgroup_exists(&env.cgroup_rel("bad")).is_empty());
}

/// Prints the resident memory of a shim serving a running container with
/// an attached client (the target is 1 MiB for a release build:
/// `BERTH_SHIM_BIN=target/release/berth-shim cargo test rss -- --nocapture`).
#[test]
fn rss_of_a_running_shim() {
    let env = Env::new();
    env.bundle(
        "rss",
        &["sh", "-c", "while true; do echo tick; sleep 0.05; done"],
        |_| {},
    );
    let shim = env.shim("rss", &[]);
    let mut a = shim.attach(AttachRequest {
        stdout: true,
        ..Default::default()
    });
    shim.ok(Request::Start);
    let mut h = [0u8; 8];
    std::io::Read::read_exact(&mut a, &mut h).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let kib = rss_kib(shim.pid).unwrap();
    let status = fs_err::read_to_string(format!("/proc/{}/status", shim.pid)).unwrap();
    let detail: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("Rss") || l.starts_with("VmRSS"))
        .collect();
    eprintln!("berth-shim ({}) {detail:?}", bin());
    if let Ok(p) = std::env::var("BERTH_SHIM_SMAPS") {
        fs_err::copy(format!("/proc/{}/smaps", shim.pid), p).unwrap();
    }
    assert!(kib > 0);
    shim.ok(Request::Shutdown);
    assert!(shim.wait_gone());
}

#[test]
fn exec_with_a_terminal_and_stdin() {
    let env = Env::new();
    env.bundle("exectty", &["sleep", "100"], |_| {});
    let shim = env.shim("exectty", &[]);
    shim.ok(Request::Start);
    let mut a = shim.attach(AttachRequest {
        exec_id: Some("t1".into()),
        stdin: true,
        stdout: true,
        ..Default::default()
    });
    let mut p = process(&["sh", "-c", "read line; stty size; echo \"[$line]\""]);
    p.set_terminal(Some(true));
    shim.ok(Request::Exec {
        exec_id: "t1".into(),
        process: p,
        stdin: true,
    });
    shim.ok(Request::Resize {
        exec_id: Some("t1".into()),
        width: 90,
        height: 30,
    });
    write_all(&mut a, b"abc\r");
    let out = String::from_utf8_lossy(&read_all(&mut a)).into_owned();
    // The terminal echoes the input, then the output follows, raw.
    assert!(out.ends_with("30 90\r\n[abc]\r\n"), "{out:?}");
    assert_eq!(
        exit_of(shim.ok(Request::Wait {
            exec_id: Some("t1".into())
        }))
        .exit_code,
        0
    );
    shim.ok(Request::Shutdown);
    assert!(shim.wait_gone());
}

#[test]
fn forget_exec_drops_an_exited_exec_once_its_clients_are_served() {
    let env = Env::new();
    env.bundle("forget", &["sleep", "100"], |_| {});
    let shim = env.shim("forget", &[]);
    shim.ok(Request::Start);
    let state = |id: &str| shim.call(Request::ExecState { exec_id: id.into() });

    // Exited, nobody attached: gone at once.
    shim.ok(Request::Exec {
        exec_id: "done".into(),
        process: process(&["sh", "-c", "exit 2"]),
        stdin: false,
    });
    let exit = exit_of(shim.ok(Request::Wait {
        exec_id: Some("done".into()),
    }));
    assert_eq!(exit.exit_code, 2);
    assert_eq!(
        shim.ok(Request::ForgetExec {
            exec_id: "done".into()
        }),
        Reply::Done
    );
    assert_eq!(state("done").unwrap_err().class, ErrorClass::NotFound);

    // Still running: refused, and kept.
    shim.ok(Request::Exec {
        exec_id: "runs".into(),
        process: process(&["sleep", "100"]),
        stdin: false,
    });
    let err = shim
        .call(Request::ForgetExec {
            exec_id: "runs".into(),
        })
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Conflict);
    assert!(state("runs").is_ok());

    // Exited with a client that has not read its output yet: the client
    // still gets all of it, then the record goes.
    let mut att = shim.attach(AttachRequest {
        exec_id: Some("read".into()),
        stdout: true,
        stderr: true,
        ..Default::default()
    });
    shim.ok(Request::Exec {
        exec_id: "read".into(),
        process: process(&["sh", "-c", "echo hi; echo oops >&2"]),
        stdin: false,
    });
    exit_of(shim.ok(Request::Wait {
        exec_id: Some("read".into()),
    }));
    assert_eq!(
        shim.ok(Request::ForgetExec {
            exec_id: "read".into()
        }),
        Reply::Done
    );
    let (out, err) = read_mux(&mut att);
    assert_eq!(out, b"hi\n");
    assert_eq!(err, b"oops\n");
    let mut gone = false;
    for _ in 0..500 {
        if state("read").is_err_and(|e| e.class == ErrorClass::NotFound) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(gone, "the forgotten exec stayed after its client left");
    shim.ok(Request::Delete { force: true });
    assert!(shim.wait_gone(), "the shim did not exit after Delete");
}
