//! The container's streams through the real docker CLI (28 and Debian's
//! 20.10) against berthd: a terminal without `-i` (raw output), `run -it`
//! under a real pseudo-terminal (window size at start and on resize, typed
//! input), `POST /containers/{id}/resize`, `logs -f`, `--since`/`--until`,
//! `--tail` and rotation (`--log-opt max-size/max-file`), attach with
//! `logs=1`, and `--rm` leaving nothing behind (root only: containers need
//! mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::api::request_bytes;
use common::clients::{DOCKER, DOCKER20, describe, ok, program};
use common::{Daemon, PtyClient, import_busybox};

/// docker's multiplexed frames as (stream, text) pairs.
fn demux(mut body: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    while body.len() >= 8 {
        let len = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
        out.push((
            body[0],
            String::from_utf8_lossy(&body[8..8 + len]).into_owned(),
        ));
        body = &body[8 + len..];
    }
    assert!(body.is_empty(), "a partial frame: {body:?}");
    out
}

/// `sh -c` script printing `line 0` .. `line n-1`, sleeping `pause` between.
fn counter(n: usize, pause: &str) -> String {
    format!("i=0; while [ $i -lt {n} ]; do echo line $i; i=$((i+1)); sleep {pause}; done")
}

fn numbers(out: &str) -> Vec<usize> {
    out.lines()
        .map(|l| {
            l.trim()
                .strip_prefix("line ")
                .unwrap_or_else(|| panic!("not a counter line: {l:?} in {out}"))
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn tty_without_stdin_is_a_raw_stream() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in [DOCKER, DOCKER20] {
        // No 8-byte frame headers, stderr merged into the terminal, and
        // the terminal's line discipline turns \n into \r\n.
        let out = client.1(
            &d,
            &[
                "run",
                "-t",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "echo out; echo err >&2",
            ],
        );
        assert!(out.status.success(), "{who}: {}", describe(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "out\r\nerr\r\n",
            "{who}"
        );
        let out = client.1(&d, &["run", "-t", "busybox", "sh", "-c", "exit 7"]);
        assert_eq!(out.status.code(), Some(7), "{who}: {}", describe(&out));
    }
}

#[test]
fn resize_endpoint() {
    let d = Daemon::start();
    import_busybox(&d);
    let (status, body) = request_bytes(&d, "POST", "/containers/nope/resize?h=10&w=20", "");
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("No such container: nope"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let id = d.ok(&["create", "-t", "--name", "idle", "busybox", "true"]);
    let (status, body) = request_bytes(&d, "POST", "/containers/idle/resize?h=10&w=20", "");
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains(&format!("Container {} is not running", id.trim())),
        "{}",
        String::from_utf8_lossy(&body)
    );
    for bad in ["h=x&w=20", "w=20", "h=10&w=-1", "h=10&w=70000"] {
        let (status, body) =
            request_bytes(&d, "POST", &format!("/containers/idle/resize?{bad}"), "");
        assert_eq!(status, 400, "{bad}: {}", String::from_utf8_lossy(&body));
    }
    // The size reaches the container's terminal: it waits to see it.
    d.ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "rs",
        "busybox",
        "sh",
        "-c",
        "while [ \"$(busybox stty size 2>/dev/null)\" != \"33 77\" ]; do sleep 0.1; done; echo resized",
    ]);
    let (status, body) = request_bytes(&d, "POST", "/v1.51/containers/rs/resize?h=33&w=77", "");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(d.ok(&["wait", "rs"]).trim(), "0");
    assert_eq!(d.ok(&["logs", "rs"]), "resized\r\n");
    // Without a terminal there is nothing to resize: success, as dockerd.
    d.ok(&["run", "-d", "--name", "pipes", "busybox", "sleep", "100"]);
    let (status, body) = request_bytes(&d, "POST", "/containers/pipes/resize?h=10&w=10", "");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    d.ok(&["rm", "-f", "pipes", "rs", "idle"]);
}

/// A command line for the container's shell that prints `mark` (computed,
/// so the echo of the typed line does not match) once its terminal is
/// `rows` x `cols`.
fn when_size(rows: u16, cols: u16, mark: u32) -> String {
    format!(
        "while [ \"$(busybox stty size 2>/dev/null)\" != \"{rows} {cols}\" ]; do sleep 0.1; done; echo size-$(({mark}+0))-ok"
    )
}

#[test]
fn run_it_under_a_terminal() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in [DOCKER, DOCKER20] {
        let mut t = PtyClient::spawn(
            &d,
            program(client),
            &["run", "-it", "--rm", "busybox", "sh"],
            24,
            80,
        );
        // The prompt, then the size the terminal had at start.
        t.expect("# ");
        t.type_line("busybox stty size; echo start-$((1+1))");
        t.expect("start-2");
        t.type_line(&when_size(24, 80, 1));
        t.expect("size-1-ok");
        // A resize of the client's terminal reaches the container.
        t.resize(40, 100);
        t.type_line(&when_size(40, 100, 2));
        t.expect("size-2-ok");
        // Typed input reaches the shell, its output comes back.
        t.type_line("echo hi-$((40+2))");
        t.expect("hi-42");
        t.type_line("exit");
        assert_eq!(t.wait(), Some(0), "{who}; the screen:\n{}", t.screen());
        // ConsoleSize (CLI 28) or the first resize (20.10): the container
        // printed the size at start.
        assert!(t.screen().contains("24 80"), "{who}: {}", t.screen());
        // --rm: gone.
        assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "{who}");
    }
}

#[test]
fn logs_follow_until_the_container_exits() {
    let d = Daemon::start();
    import_busybox(&d);
    for (n, client @ (who, _)) in [DOCKER, DOCKER20].into_iter().enumerate() {
        let name = format!("f{n}");
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "busybox",
                "sh",
                "-c",
                &counter(12, "0.2"),
            ],
        );
        // Returns when the container exits, with every line.
        let out = ok(&d, client, &["logs", "-f", &name]);
        assert_eq!(numbers(&out), (0..12).collect::<Vec<_>>(), "{who}");
        let state = d.ok(&["inspect", "--format", "{{.State.Status}}", &name]);
        assert_eq!(state.trim(), "exited");
        // On a stopped container, -f returns at once with the whole log.
        let out = ok(&d, client, &["logs", "-f", "--tail", "3", &name]);
        assert_eq!(numbers(&out), [9, 10, 11], "{who}");
    }
}

#[test]
fn logs_since_until_and_timestamps() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ts",
        "busybox",
        "sh",
        "-c",
        &counter(10, "0.05"),
    ]);
    assert_eq!(d.ok(&["wait", "ts"]).trim(), "0");
    let stamped = d.ok(&["logs", "--timestamps", "ts"]);
    let stamps: Vec<&str> = stamped
        .lines()
        .map(|l| l.split_once(' ').unwrap().0)
        .collect();
    assert_eq!(stamps.len(), 10, "{stamped}");
    for s in &stamps {
        // Docker's RFC3339NanoFixed: always nine digits, UTC.
        assert_eq!(s.len(), 30, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
    }
    for client @ (who, _) in [DOCKER, DOCKER20] {
        // since and until are inclusive; the CLI sends unix seconds with
        // nanoseconds.
        let out = ok(&d, client, &["logs", "--since", stamps[6], "ts"]);
        assert_eq!(numbers(&out), [6, 7, 8, 9], "{who}");
        let out = ok(&d, client, &["logs", "--until", stamps[2], "ts"]);
        assert_eq!(numbers(&out), [0, 1, 2], "{who}");
        let out = ok(
            &d,
            client,
            &["logs", "--since", stamps[3], "--until", stamps[5], "ts"],
        );
        assert_eq!(numbers(&out), [3, 4, 5], "{who}");
        let out = ok(
            &d,
            client,
            &["logs", "--since", "2000-01-01T00:00:00Z", "ts"],
        );
        assert_eq!(numbers(&out).len(), 10, "{who}");
    }
    // The API takes a fraction as moby's ParseTimestamps does.
    let (status, body) = request_bytes(&d, "GET", "/containers/ts/logs?stdout=1&since=1.5", "");
    assert_eq!(status, 200);
    assert_eq!(demux(&body).len(), 10);
    let (status, _) = request_bytes(
        &d,
        "GET",
        "/containers/ts/logs?stdout=1&since=yesterday",
        "",
    );
    assert_eq!(status, 400);
}

fn log_files(d: &Daemon, id: &str) -> Vec<PathBuf> {
    let dir = d.data_root().join("containers").join(id);
    let base = dir.join(format!("{id}-json.log"));
    let mut files = vec![base.clone()];
    for n in 1..10 {
        let p = PathBuf::from(format!("{}.{n}", base.display()));
        if p.exists() {
            files.push(p);
        }
    }
    files
}

/// The `log` of every record in `files`, oldest file first.
fn records(files: &[PathBuf]) -> String {
    let mut out = String::new();
    for f in files.iter().rev() {
        for line in fs_err::read_to_string(f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            out.push_str(v["log"].as_str().unwrap());
        }
    }
    out
}

#[test]
fn logs_over_rotated_files() {
    let d = Daemon::start();
    import_busybox(&d);
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "rot",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        &counter(200, "0"),
    ]);
    let id = id.trim();
    assert_eq!(d.ok(&["wait", "rot"]).trim(), "0");
    let files = log_files(&d, id);
    assert_eq!(files.len(), 3, "max-file=3: {files:?}");
    for f in &files {
        // Rotated once the file reached 1000 bytes (docker's units are
        // decimal): never much more than that.
        let len = fs_err::metadata(f).unwrap().len();
        assert!(len < 1000 + 100, "{} is {len} bytes", f.display());
    }
    let kept = records(&files);
    let kept_numbers = numbers(&kept);
    assert!(kept_numbers.len() > 20, "{kept}");
    assert_eq!(*kept_numbers.last().unwrap(), 199);
    for client @ (who, _) in [DOCKER, DOCKER20] {
        // Every retained line, oldest file first, in order.
        let out = ok(&d, client, &["logs", "rot"]);
        assert_eq!(out, kept, "{who}");
        let got = numbers(&out);
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{who}: {got:?}");
        // A tail longer than the current file reaches into older ones.
        let out = ok(&d, client, &["logs", "--tail", "25", "rot"]);
        assert_eq!(numbers(&out), (175..200).collect::<Vec<_>>(), "{who}");
    }

    // Following a container whose log rotates while it is read: every
    // line after the first one seen, none twice, up to the last. (Four
    // older files: a follower held up for a while still finds the file it
    // was reading.)
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rotf",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=5",
        "busybox",
        "sh",
        "-c",
        &counter(120, "0.03"),
    ]);
    let out = d.ok(&["logs", "-f", "rotf"]);
    let got = numbers(&out);
    assert_eq!(*got.last().unwrap(), 119, "{out}");
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");

    // Drivers and options dockerd would refuse are refused at create.
    let out = d.docker(&["run", "--log-driver", "syslog", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("logger: no log driver named 'syslog' is registered"),
        "{}",
        describe(&out)
    );
    let out = d.docker(&["create", "--log-opt", "max-size=lots", "busybox", "true"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid size: 'lots'"),
        "{}",
        describe(&out)
    );
    let out = d.docker(&["create", "--log-opt", "colour=blue", "busybox", "true"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown log opt 'colour' for json-file log driver"),
        "{}",
        describe(&out)
    );
    // --log-driver none: no log, and `logs` says why.
    d.ok(&[
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "x",
    ]);
    let out = d.docker(&["logs", "quiet"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("configured logging driver does not support reading"),
        "{}",
        describe(&out)
    );
}

#[test]
fn attach_replays_the_log() {
    let d = Daemon::start();
    import_busybox(&d);
    // Prints one line, then waits for /go to appear (made from the host
    // through the mounted root), then prints another.
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "att",
        "busybox",
        "sh",
        "-c",
        "echo one; echo warn >&2; while [ ! -e /go ]; do sleep 0.05; done; echo two",
    ]);
    let id = id.trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.ok(&["logs", "att"]).contains("one") {
        assert!(Instant::now() < deadline, "no output from the container");
        std::thread::sleep(Duration::from_millis(50));
    }
    // logs=1 without stream: the log so far, then the end.
    let (status, body) = request_bytes(
        &d,
        "POST",
        "/containers/att/attach?logs=1&stdout=1&stderr=1",
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(
        demux(&body),
        [(1, "one\n".to_owned()), (2, "warn\n".to_owned())]
    );
    let (status, body) = request_bytes(&d, "POST", "/containers/att/attach?logs=1&stdout=1", "");
    assert_eq!(status, 200);
    assert_eq!(demux(&body), [(1, "one\n".to_owned())]);
    // logs=1&stream=1: the replay, then live output until the exit.
    let rootfs = d.exec_root().join("containers").join(&id).join("rootfs");
    let go = rootfs.join("go");
    let sock = d.socket();
    let reader = std::thread::spawn(move || {
        let mut s = UnixStream::connect(sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "POST /containers/att/attach?logs=1&stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        let mut created = false;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            // Once the replay is in, let the container go on.
            if !created && String::from_utf8_lossy(&all).contains("warn") {
                fs_err::write(&go, "").unwrap();
                created = true;
            }
        }
        all
    });
    let all = reader.join().unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        demux(&all[split + 4..]),
        [
            (1, "one\n".to_owned()),
            (2, "warn\n".to_owned()),
            (1, "two\n".to_owned())
        ]
    );
    assert_eq!(d.ok(&["wait", "att"]).trim(), "0");
}

/// Mount points under `dir` (from this process's mountinfo).
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    fs_err::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// Every path under `dir` whose name contains `id`.
fn paths_naming(dir: &Path, id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.to_string_lossy().contains(id) {
                out.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn rm_leaves_nothing_at_exit() {
    let d = Daemon::start();
    import_busybox(&d);
    for (n, client @ (who, _)) in [DOCKER, DOCKER20].into_iter().enumerate() {
        let cidfile = d.dir.path().join(format!("cid{n}"));
        let out = ok(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--cidfile",
                cidfile.to_str().unwrap(),
                "busybox",
                "echo",
                "bye",
            ],
        );
        assert_eq!(out, "bye\n");
        let id = fs_err::read_to_string(&cidfile).unwrap();
        assert_eq!(id.len(), 64, "{id}");
        // When `run --rm` returns, the container is gone whole: no mount,
        // snapshot, bundle, document or log.
        assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "{who}");
        assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
        assert_eq!(paths_naming(&d.data_root(), &id), Vec::<PathBuf>::new());
        assert_eq!(paths_naming(&d.exec_root(), &id), Vec::<PathBuf>::new());
    }
    // Detached with --rm, stopped: the same once the removal is seen.
    let id = d.ok(&["run", "-d", "--rm", "busybox", "sleep", "100"]);
    let id = id.trim();
    assert!(
        !mounts_under(d.dir.path()).is_empty(),
        "a running container has its root mounted"
    );
    d.ok(&["stop", "-t", "1", id]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.ok(&["ps", "-aq"]).trim().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the --rm container was not removed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
    assert_eq!(paths_naming(&d.data_root(), id), Vec::<PathBuf>::new());
    assert_eq!(paths_naming(&d.exec_root(), id), Vec::<PathBuf>::new());
}
