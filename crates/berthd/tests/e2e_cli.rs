//! The berth CLI's container commands against berthd: `run` (attached,
//! detached, `-i`, `-it` under a real pseudo-terminal), its exit codes
//! (the container's, 125, 126, 127), `create`, `start`, `ps`/`container
//! ls`, `logs`, `inspect`, `stop`, `kill`, `rm`, `wait` (root only:
//! containers need mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::clients::{BERTH, ok, text, wait_child, with_stdin};
use common::{Daemon, Pty, import_busybox};

/// An image with busybox and `/notexec`, a script without the execute bit.
fn import_noexec(d: &Daemon) {
    let root = d.dir.path().join("noexec");
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    fs_err::write(root.join("notexec"), "#!/bin/sh\necho hi\n").unwrap();
    let tar = d.dir.path().join("noexec.tar");
    common::tar_dir(&root, &tar);
    ok(d, BERTH, &["import", tar.to_str().unwrap(), "noexec"]);
}

#[test]
fn berth_run_output_and_exit_codes() {
    let d = Daemon::start();
    import_busybox(&d);
    import_noexec(&d);

    let out = d.berth(&["run", "hello-world"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Hello from berth!"),
        "{}",
        text(&out.stdout)
    );

    // stdout and stderr demultiplexed, the container's exit code.
    let out = d.berth(&[
        "run",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");

    // Not found: 127; not executable: 126 (docker's rules on the start error).
    let out = d.berth(&["run", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("berth: Error response from daemon: ")
            && text(&out.stderr).contains("nosuchcmd"),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth(&["run", "noexec", "/notexec"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );

    // No such image: docker's message, the (failing) pull's error, 125.
    let out = d.berth(&["run", "nosuchimage"]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "Unable to find image 'nosuchimage:latest' locally\nberth: Error response from daemon: "
        ),
        "{err}"
    );
    assert!(err.ends_with("See 'berth run --help'.\n"), "{err}");
    // A bad flag: 125.
    let out = d.berth(&["run", "--nope", "busybox"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).starts_with("unknown flag: --nope\n"),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth(&["ps", "--nope"]);
    assert_eq!(out.status.code(), Some(125));

    // Stdin reaches the container; its end closes the container's stdin.
    let out = with_stdin(&d, BERTH, &["run", "-i", "busybox", "cat"], b"hi\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    // Without a terminal, `-it` is refused as docker refuses it.
    let out = with_stdin(&d, BERTH, &["run", "-it", "busybox", "cat"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "the input device is not a TTY\n");

    // -e, -w, -u, --hostname, --entrypoint, --name.
    let out = ok(
        &d,
        BERTH,
        &[
            "run",
            "--name",
            "opts",
            "-e",
            "A=1",
            "--env",
            "B=two words",
            "-w",
            "/bin",
            "-u",
            "1:2",
            "--hostname",
            "box",
            "--entrypoint",
            "sh",
            "busybox",
            "-c",
            "echo \"$A|$B|$(pwd)|$(busybox id -u):$(busybox id -g)|$(busybox hostname)\"",
        ],
    );
    assert_eq!(out, "1|two words|/bin|1:2|box\n");
    assert_eq!(
        ok(
            &d,
            BERTH,
            &[
                "inspect",
                "--format",
                "{{.Name}} {{.Config.Hostname}} {{.Config.User}}",
                "opts"
            ]
        ),
        "/opts box 1:2\n"
    );
    let out = d.berth(&["run", "--name", "opts", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("is already in use"),
        "{}",
        text(&out.stderr)
    );

    // Without a terminal, our signals go to the container (--sig-proxy).
    let mut child = d
        .berth_command(&[
            "run",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-term; exit 9' TERM; echo ready; while true; do sleep 1; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !text(&seen).contains("ready\n") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "no `ready` from the container: {}", text(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_child(&mut child, "berth run (SIGTERM proxied)");
    stdout.read_to_end(&mut seen).unwrap();
    assert_eq!(status.code(), Some(9));
    assert_eq!(text(&seen), "ready\ngot-term\n");

    // --rm: gone once `run` returns.
    ok(&d, BERTH, &["rm", "opts"]);
    assert_eq!(
        ok(&d, BERTH, &["run", "--rm", "busybox", "echo", "bye"]),
        "bye\n"
    );
    assert_eq!(
        ok(&d, BERTH, &["ps", "-a", "--format", "{{.Command}}"])
            .matches("bye")
            .count(),
        0
    );
}

#[test]
fn berth_detached_ps_logs_inspect_stop_kill_rm_wait() {
    let d = Daemon::start();
    import_busybox(&d);
    let id = ok(
        &d,
        BERTH,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "echo started; while true; do sleep 1; done",
        ],
    );
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok(&d, BERTH, &["logs", "web"]).contains("started") {
        assert!(Instant::now() < deadline, "no output from web");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ok(&d, BERTH, &["logs", "--tail", "1", "web"]), "started\n");
    let stamped = ok(&d, BERTH, &["logs", "-t", "web"]);
    assert!(
        stamped.ends_with(" started\n") && stamped.starts_with("20"),
        "{stamped}"
    );

    // docker's columns and truncation.
    let ps = ok(&d, BERTH, &["ps"]);
    let lines: Vec<&str> = ps.lines().collect();
    assert_eq!(lines.len(), 2, "{ps}");
    let cells = |l: &str| -> Vec<String> {
        l.split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        cells(lines[0]),
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    let row = cells(lines[1]);
    assert_eq!(row[0], id[..12]);
    assert_eq!(row[1], "busybox");
    // Quoted, cut to 20 characters with an ellipsis.
    assert!(
        row[2].starts_with("\"sh -c ") && row[2].ends_with("…\"") && row[2].chars().count() == 22,
        "{row:?}"
    );
    assert!(row[3].ends_with(" ago"), "{row:?}");
    assert!(row[4].starts_with("Up "), "{row:?}");
    assert_eq!(row[5], "web");
    // The header and the row line up.
    assert_eq!(lines[0].find("IMAGE"), lines[1].find("busybox"));
    assert_eq!(ok(&d, BERTH, &["ps", "-q"]), format!("{}\n", &id[..12]));
    assert_eq!(
        ok(&d, BERTH, &["ps", "-q", "--no-trunc"]),
        format!("{id}\n")
    );

    // A created container: only with -a, and the latest.
    let c2 = ok(&d, BERTH, &["create", "--name", "c2", "busybox", "true"]);
    assert_eq!(c2.trim().len(), 64);
    assert_eq!(ok(&d, BERTH, &["ps", "--format", "{{.Names}}"]), "web\n");
    assert_eq!(
        ok(
            &d,
            BERTH,
            &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]
        )
        .lines()
        .count(),
        2
    );
    assert_eq!(
        ok(
            &d,
            BERTH,
            &["ps", "-l", "--format", "{{.Names}} {{.State}}"]
        ),
        "c2 created\n"
    );
    assert_eq!(
        ok(&d, BERTH, &["ps", "-n", "2", "--format", "{{.Names}}"]),
        "c2\nweb\n"
    );
    assert_eq!(
        ok(
            &d,
            BERTH,
            &["ps", "-a", "-f", "status=created", "--format", "{{.Names}}"]
        ),
        "c2\n"
    );
    assert_eq!(
        ok(
            &d,
            BERTH,
            &["ps", "-a", "--format", "table {{.Names}}\\t{{.State}}"]
        ),
        "NAMES     STATE\nc2        created\nweb       running\n"
    );
    // The management forms are the same commands.
    let fmt = "{{.ID}} {{.Image}} {{.Command}} {{.Names}} {{.State}}";
    let ps = ok(&d, BERTH, &["ps", "-a", "--format", fmt]);
    assert_eq!(
        ok(&d, BERTH, &["container", "ls", "-a", "--format", fmt]),
        ps
    );
    assert_eq!(
        ok(&d, BERTH, &["container", "ps", "-a", "--format", fmt]),
        ps
    );
    assert_eq!(
        ok(&d, BERTH, &["container", "list", "-a", "--format", fmt]),
        ps
    );

    // inspect: containers and images, with templates.
    let pid: i32 = ok(&d, BERTH, &["inspect", "--format", "{{.State.Pid}}", "web"])
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(
        ok(
            &d,
            BERTH,
            &[
                "container",
                "inspect",
                "-f",
                "{{.State.Status}} {{.Id}}",
                "web"
            ]
        ),
        format!("running {id}\n")
    );
    assert!(ok(&d, BERTH, &["inspect", "-f", "{{.Id}}", "busybox"]).starts_with("sha256:"));
    let json: serde_json::Value =
        serde_json::from_str(&ok(&d, BERTH, &["inspect", "web", "busybox"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["Id"], id.as_str());
    let out = d.berth(&["inspect", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(text(&out.stderr), "Error: No such object: nope\n");
    let out = d.berth(&["inspect", "--type", "container", "busybox"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such container: busybox"),
        "{}",
        text(&out.stderr)
    );

    // logs -f follows until the container stops.
    let mut follow = d
        .berth_command(&["logs", "-f", "web"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stop: several names, the missing one reported, exit 1.
    let out = d.berth(&["stop", "-t", "1", "web", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "web\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nope\n"
    );
    wait_child(&mut follow, "berth logs -f");
    let mut followed = String::new();
    follow
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut followed)
        .unwrap();
    assert!(followed.starts_with("started\n"), "{followed}");
    assert!(
        ok(
            &d,
            BERTH,
            &[
                "ps",
                "-a",
                "--filter",
                "name=web",
                "--format",
                "{{.Status}}"
            ]
        )
        .starts_with("Exited ("),
    );

    // kill, then wait: the signal's status.
    ok(
        &d,
        BERTH,
        &["run", "-d", "--name", "k1", "busybox", "sleep", "1000"],
    );
    assert_eq!(ok(&d, BERTH, &["kill", "-s", "KILL", "k1"]), "k1\n");
    assert_eq!(ok(&d, BERTH, &["wait", "k1"]), "137\n");
    let out = d.berth(&["kill", "k1"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a stopped container cannot be killed"
    );

    // start -a: attached, with the container's exit code; start alone.
    ok(
        &d,
        BERTH,
        &[
            "create",
            "--name",
            "s1",
            "busybox",
            "sh",
            "-c",
            "echo from-start; exit 4",
        ],
    );
    let out = d.berth(&["start", "-a", "s1"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from-start\n");
    assert_eq!(ok(&d, BERTH, &["start", "s1"]), "s1\n");
    assert_eq!(ok(&d, BERTH, &["wait", "s1"]), "4\n");
    let out = d.berth(&["start", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nope\nError: failed to start containers: nope\n"
    );

    // rm: several names; -f reports what is not there on stderr, exit 0.
    assert_eq!(ok(&d, BERTH, &["rm", "web", "c2", "k1"]), "web\nc2\nk1\n");
    let out = d.berth(&["container", "rm", "s1", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "s1\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nope\n"
    );
    assert_eq!(ok(&d, BERTH, &["rm", "-f", "nope"]), "");
    assert_eq!(ok(&d, BERTH, &["ps", "-aq"]), "");
}

#[test]
fn berth_run_it_under_a_pseudo_terminal() {
    use nix::sys::termios::LocalFlags;

    let d = Daemon::start();
    import_busybox(&d);
    let mut pty = Pty::open(30, 100);
    let before = pty.termios();
    assert!(
        before
            .local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO)
    );
    let mut child = pty.spawn(&d.berth_command(&["run", "-it", "--name", "tty1", "busybox", "sh"]));
    pty.expect("# ", 1);
    // berth put our terminal in raw mode; the container's terminal echoes.
    let during = pty.termios();
    assert!(!during.local_flags.contains(LocalFlags::ICANON));
    assert!(!during.local_flags.contains(LocalFlags::ECHO));
    // Typed input reaches the shell; its output reaches us.
    pty.type_line("echo typed-$((6*7))");
    pty.expect("typed-42", 1);
    // The terminal's size reaches the container at start...
    pty.type_line("busybox stty size");
    pty.expect("30 100", 1);
    // ...and when it changes (SIGWINCH -> POST /containers/{id}/resize).
    rustix::termios::tcsetwinsize(
        &pty.master,
        rustix::termios::Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut asked = 0;
    while !pty.screen().contains("40 120") {
        assert!(
            Instant::now() < deadline,
            "the new size did not reach the container:\n{}",
            pty.screen()
        );
        asked += 1;
        pty.type_line("busybox stty size");
        pty.expect("# ", asked + 3);
    }
    pty.type_line("exit 7");
    let status = wait_child(&mut child, "berth run -it");
    assert_eq!(status.code(), Some(7), "{}", pty.screen());
    assert_eq!(pty.termios(), before, "the terminal was not restored");
    ok(&d, BERTH, &["rm", "tty1"]);

    // A signal that ends berth leaves the terminal as it was too.
    let prompts = pty.screen().matches("# ").count();
    let mut child = pty.spawn(&d.berth_command(&["run", "-it", "--name", "tty2", "busybox", "sh"]));
    pty.expect("# ", prompts + 1);
    assert!(!pty.termios().local_flags.contains(LocalFlags::ICANON));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_child(&mut child, "berth run -it (SIGTERM)");
    assert_eq!(status.code(), Some(128 + 15));
    assert_eq!(
        pty.termios(),
        before,
        "the terminal was not restored after SIGTERM"
    );
    ok(&d, BERTH, &["rm", "-f", "tty2"]);
}
