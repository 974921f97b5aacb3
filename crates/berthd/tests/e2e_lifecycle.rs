//! The container lifecycle through all three clients (berth, docker 28,
//! docker 20.10): start (several, -a, -i, of a running one), restart (-t,
//! -s, of a stopped and a created one, new pid), stop (image STOPSIGNAL,
//! --stop-signal, -s, SIGKILL after the timeout), kill (-s by name and
//! number), pause/unpause (the cgroup freezer; stop/kill/rm of a paused
//! container; live restore of a paused container), rename, wait (several
//! containers; the API's `condition`s), several names at once (all in
//! flight together, reported in the order given).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Output;

use common::clients::{
    BERTH, Client, DOCKER, DOCKER20, fails_saying, inspect, ok, tag, text, with_stdin,
};
use common::{Daemon, cgroup_dirs, import_busybox, unix_now};

/// The three clients: ours and both docker CLIs (berth first: the tests
/// name containers by position).
const CLIENTS: [Client; 3] = [BERTH, DOCKER, DOCKER20];

/// `client args`, which must fail with exit status 1 and `needle` on stderr.
fn fails(d: &Daemon, client: Client, args: &[&str], needle: &str) {
    fails_saying(d, client, args, 1, needle);
}

/// The v1 freezer state of a container (`FROZEN`, `THAWED`).
fn freezer_state(d: &Daemon, id: &str) -> String {
    let dir = cgroup_dirs(&d.cgroup_parent)
        .into_iter()
        .find(|p| p.join(id).join("freezer.state").exists())
        .unwrap_or_else(|| panic!("no freezer cgroup for {id} under {}", d.cgroup_parent));
    fs_err::read_to_string(dir.join(id).join("freezer.state"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A container that runs until its TERM trap makes it exit with `code`.
fn trapping(code: u8) -> String {
    format!("trap 'exit {code}' TERM; while true; do sleep 0.1; done")
}

#[test]
fn pause_unpause_and_what_a_paused_container_allows() {
    let d = Daemon::start();
    import_busybox(&d);
    for (i, &client) in CLIENTS.iter().enumerate() {
        let n = format!("p{i}");
        let id = ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &n,
                "busybox",
                "sh",
                "-c",
                &trapping(7),
            ],
        );
        let id = id.trim();
        assert_eq!(ok(&d, client, &["pause", &n]), format!("{n}\n"));
        assert_eq!(
            inspect(
                &d,
                &n,
                "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
            ),
            "paused true true"
        );
        assert_eq!(freezer_state(&d, id), "FROZEN");
        let ps = ok(
            &d,
            client,
            &[
                "ps",
                "--format",
                "{{.Names}} {{.Status}}",
                "-f",
                &format!("name=^{n}$"),
            ],
        );
        assert!(
            ps.trim().starts_with(&format!("{n} Up ")) && ps.trim().ends_with("(Paused)"),
            "{ps}"
        );
        let paused = ok(
            &d,
            client,
            &["ps", "-q", "--no-trunc", "-f", "status=paused"],
        );
        assert!(paused.contains(id), "{paused}");
        let running = ok(
            &d,
            client,
            &["ps", "-q", "--no-trunc", "-f", "status=running"],
        );
        assert!(!running.contains(id), "{running}");
        fails(&d, client, &["pause", &n], "is already paused");
        fails(
            &d,
            client,
            &["exec", &n, "true"],
            "is paused, unpause the container before exec",
        );
        // The API refuses attach (the docker CLIs check first and say
        // "You cannot attach to a paused container, unpause it first").
        let (status, body) = post(&d, &format!("/containers/{n}/attach?stream=1&stdout=1"));
        assert_eq!(status, 409, "{body}");
        assert!(
            body.contains("is paused, unpause the container before attach"),
            "{body}"
        );
        fails(
            &d,
            client,
            &["rm", &n],
            "container is paused and must be unpaused first",
        );
        fails(
            &d,
            client,
            &["start", &n],
            "cannot start a paused container, try unpause instead",
        );
        assert_eq!(ok(&d, client, &["unpause", &n]), format!("{n}\n"));
        assert_eq!(
            inspect(
                &d,
                &n,
                "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
            ),
            "running false true"
        );
        assert_eq!(freezer_state(&d, id), "THAWED");
        fails(&d, client, &["unpause", &n], "is not paused");

        // stop of a paused container: the stop signal is sent and the
        // container thawed, so its TERM trap runs (exit 7, not 137).
        ok(&d, client, &["pause", &n]);
        assert_eq!(ok(&d, client, &["stop", "-t", "60", &n]), format!("{n}\n"));
        assert_eq!(
            inspect(&d, &n, "{{.State.ExitCode}} {{.State.Paused}}"),
            "7 false"
        );
        fails(&d, client, &["pause", &n], "is not running");
        fails(&d, client, &["unpause", &n], "is not paused");

        // kill of a paused container (SIGKILL thaws it too).
        ok(&d, client, &["start", &n]);
        ok(&d, client, &["pause", &n]);
        assert_eq!(ok(&d, client, &["kill", &n]), format!("{n}\n"));
        assert_eq!(ok(&d, client, &["wait", &n]).trim(), "137");

        // rm -f of a paused container.
        ok(&d, client, &["start", &n]);
        ok(&d, client, &["pause", &n]);
        assert_eq!(ok(&d, client, &["rm", "-f", &n]), format!("{n}\n"));
        fails(&d, client, &["inspect", &n], "No such");
    }
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn a_paused_container_stays_paused_across_a_berthd_restart() {
    let mut d = Daemon::start();
    import_busybox(&d);
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "lr",
        "busybox",
        "sh",
        "-c",
        &trapping(9),
    ]);
    let id = id.trim();
    d.ok(&["pause", "lr"]);
    d.kill9();
    d.restart();
    assert_eq!(
        inspect(&d, "lr", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert_eq!(freezer_state(&d, id), "FROZEN");
    let info = d.ok(&[
        "info",
        "--format",
        "{{.ContainersPaused}} {{.ContainersRunning}}",
    ]);
    assert_eq!(info.trim(), "1 0");
    d.ok(&["unpause", "lr"]);
    assert_eq!(freezer_state(&d, id), "THAWED");
    // Paused again, then thawed behind berthd's back while it is down:
    // the shim's answer wins over the stored flag.
    d.ok(&["pause", "lr"]);
    d.kill9();
    let dir = cgroup_dirs(&d.cgroup_parent)
        .into_iter()
        .find(|p| p.join(id).join("freezer.state").exists())
        .unwrap();
    fs_err::write(dir.join(id).join("freezer.state"), "THAWED").unwrap();
    d.restart();
    assert_eq!(
        inspect(&d, "lr", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );
    d.ok(&["stop", "lr"]);
    assert_eq!(inspect(&d, "lr", "{{.State.ExitCode}}"), "9");
}

#[test]
fn restart_gives_a_new_process() {
    let d = Daemon::start();
    import_busybox(&d);
    for (i, &client) in CLIENTS.iter().enumerate() {
        let n = format!("r{i}");
        let script = format!("echo started; {}", trapping(0));
        ok(
            &d,
            client,
            &["run", "-d", "--name", &n, "busybox", "sh", "-c", &script],
        );
        let pid = inspect(&d, &n, "{{.State.Pid}}");
        assert_eq!(
            ok(&d, client, &["restart", "-t", "30", &n]),
            format!("{n}\n")
        );
        let pid2 = inspect(&d, &n, "{{.State.Pid}}");
        assert_ne!(pid, pid2);
        assert_eq!(inspect(&d, &n, "{{.State.Status}}"), "running");
        // Of a stopped container: it just starts.
        ok(&d, client, &["stop", &n]);
        assert_eq!(inspect(&d, &n, "{{.State.Status}}"), "exited");
        assert_eq!(ok(&d, client, &["restart", &n]), format!("{n}\n"));
        let pid3 = inspect(&d, &n, "{{.State.Pid}}");
        assert_eq!(inspect(&d, &n, "{{.State.Status}}"), "running");
        assert_ne!(pid2, pid3);
        let logs = d.ok(&["logs", &n]);
        assert_eq!(logs.matches("started").count(), 3, "{logs}");
        // Of a created container.
        let c = format!("rc{i}");
        ok(
            &d,
            client,
            &["create", "--name", &c, "busybox", "sleep", "1000"],
        );
        assert_eq!(ok(&d, client, &["restart", &c]), format!("{c}\n"));
        assert_eq!(inspect(&d, &c, "{{.State.Status}}"), "running");
        ok(&d, client, &["rm", "-f", &n, &c]);
    }
    // `restart -s` (API 1.42 `signal`): docker 28 and berth send it.
    for client in [BERTH, DOCKER] {
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                "rs",
                "busybox",
                "sh",
                "-c",
                &trapping(0),
            ],
        );
        let pid = inspect(&d, "rs", "{{.State.Pid}}");
        ok(&d, client, &["restart", "-s", "KILL", "-t", "60", "rs"]);
        assert_ne!(inspect(&d, "rs", "{{.State.Pid}}"), pid);
        ok(&d, client, &["rm", "-f", "rs"]);
    }
}

#[test]
fn stop_signals_and_the_timeout() {
    let d = Daemon::start();
    import_busybox(&d);
    // An image whose STOPSIGNAL is SIGUSR1.
    let tar = d.dir.path().join("bb.tar");
    d.ok(&[
        "import",
        "--change",
        "STOPSIGNAL SIGUSR1",
        tar.to_str().unwrap(),
        "bbsig",
    ]);
    let traps = "trap 'exit 3' USR1; trap 'exit 4' TERM; trap 'exit 5' USR2; \
                 while true; do sleep 0.1; done";
    for (i, &client @ (who, _)) in CLIENTS.iter().enumerate() {
        let n = format!("img{i}");
        ok(
            &d,
            client,
            &["run", "-d", "--name", &n, "bbsig", "sh", "-c", traps],
        );
        assert_eq!(ok(&d, client, &["stop", "-t", "60", &n]), format!("{n}\n"));
        assert_eq!(inspect(&d, &n, "{{.State.ExitCode}}"), "3", "{who}");
        // Stop of a stopped container changes nothing (304) and is no error.
        assert_eq!(ok(&d, client, &["stop", &n]), format!("{n}\n"));

        // SIGKILL after the timeout: TERM is ignored.
        let k = format!("ign{i}");
        let ignore = "trap '' TERM; while true; do sleep 0.1; done";
        ok(
            &d,
            client,
            &["run", "-d", "--name", &k, "busybox", "sh", "-c", ignore],
        );
        ok(&d, client, &["stop", "-t", "1", &k]);
        assert_eq!(inspect(&d, &k, "{{.State.ExitCode}}"), "137");
        ok(&d, client, &["rm", &n, &k]);
    }
    // --stop-signal at create (docker's Config.StopSignal).
    for client in CLIENTS {
        d.ok(&["rm", "-f", "ss"]);
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                "ss",
                "--stop-signal",
                "USR2",
                "busybox",
                "sh",
                "-c",
                traps,
            ],
        );
        assert_eq!(inspect(&d, "ss", "{{.Config.StopSignal}}"), "USR2");
        ok(&d, client, &["stop", "-t", "60", "ss"]);
        assert_eq!(inspect(&d, "ss", "{{.State.ExitCode}}"), "5");
    }
    // `stop -s` (API 1.42 `signal`).
    for client in [BERTH, DOCKER] {
        d.ok(&["rm", "-f", "ss"]);
        ok(
            &d,
            client,
            &["run", "-d", "--name", "ss", "busybox", "sh", "-c", traps],
        );
        ok(&d, client, &["stop", "-s", "USR1", "-t", "60", "ss"]);
        assert_eq!(inspect(&d, "ss", "{{.State.ExitCode}}"), "3");
    }
}

#[test]
fn kill_with_signals_by_name_and_number() {
    let d = Daemon::start();
    import_busybox(&d);
    let script = "trap 'echo got-usr1' USR1; trap 'exit 6' USR2; \
                  while true; do sleep 0.1; done";
    for (i, &client) in CLIENTS.iter().enumerate() {
        let n = format!("k{i}");
        ok(
            &d,
            client,
            &["run", "-d", "--name", &n, "busybox", "sh", "-c", script],
        );
        // By name, then with the SIG prefix; a signal pending while the
        // shell waits for `sleep` would merge with a second one, so each
        // is seen handled before the next is sent.
        for (k, sig) in ["USR1", "SIGUSR1"].iter().enumerate() {
            assert_eq!(ok(&d, client, &["kill", "-s", sig, &n]), format!("{n}\n"));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while d.ok(&["logs", &n]).matches("got-usr1").count() <= k {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{}",
                    d.ok(&["logs", &n])
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        assert_eq!(inspect(&d, &n, "{{.State.Status}}"), "running");
        fails(
            &d,
            client,
            &["kill", "-s", "NOPE", &n],
            "Invalid signal: NOPE",
        );
        assert_eq!(inspect(&d, &n, "{{.State.Status}}"), "running");
        assert_eq!(ok(&d, client, &["kill", "-s", "12", &n]), format!("{n}\n"));
        assert_eq!(ok(&d, client, &["wait", &n]).trim(), "6");
        fails(&d, client, &["kill", &n], "is not running");
        ok(&d, client, &["start", &n]);
        ok(&d, client, &["kill", &n]);
        assert_eq!(inspect(&d, &n, "{{.State.ExitCode}}"), "137");
        ok(&d, client, &["rm", &n]);
    }
}

#[test]
fn rename_everywhere_and_across_restarts() {
    let mut d = Daemon::start();
    import_busybox(&d);
    for (i, &client) in CLIENTS.iter().enumerate() {
        let (old, new) = (format!("old{i}"), format!("new{i}"));
        let id = ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &old,
                "busybox",
                "sh",
                "-c",
                &trapping(0),
            ],
        );
        let id = id.trim().to_owned();
        ok(
            &d,
            client,
            &["create", "--name", "taken", "busybox", "true"],
        );
        assert_eq!(ok(&d, client, &["rename", &old, &new]), "");
        assert_eq!(
            inspect(&d, &new, "{{.Name}} {{.Id}}"),
            format!("/{new} {id}")
        );
        fails(&d, client, &["inspect", &old], "No such");
        let ps = ok(
            &d,
            client,
            &["ps", "--format", "{{.Names}}", "-f", &format!("id={id}")],
        );
        assert_eq!(ps.trim(), new);
        // The old name is free again.
        ok(&d, client, &["create", "--name", &old, "busybox", "true"]);
        ok(&d, client, &["rm", &old]);
        // Conflicts and bad names change nothing.
        fails(
            &d,
            client,
            &["rename", &new, "taken"],
            "is already in use by container",
        );
        fails(
            &d,
            client,
            &["rename", &new, "bad name!"],
            "Invalid container name (bad name!)",
        );
        fails(
            &d,
            client,
            &["rename", &new, &new],
            "same name as its current name",
        );
        fails(
            &d,
            client,
            &["rename", "nope", "x"],
            "No such container: nope",
        );
        assert_eq!(inspect(&d, &new, "{{.Name}}"), format!("/{new}"));
        // The new name works for the other commands, also after a restart.
        assert_eq!(
            ok(&d, client, &["restart", "-t", "60", &new]),
            format!("{new}\n")
        );
        assert_eq!(inspect(&d, &id, "{{.Name}}"), format!("/{new}"));
        assert_eq!(ok(&d, client, &["stop", &new]), format!("{new}\n"));
        ok(&d, client, &["rm", "taken"]);
    }
    // The name survives a restart of berthd.
    d.kill9();
    d.restart();
    let names = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["new0", "new1", "new2"]);
    d.ok(&["start", "new1"]);
    assert_eq!(inspect(&d, "new1", "{{.State.Status}}"), "running");
    d.ok(&["rm", "-f", "new0", "new1", "new2"]);
}

#[test]
fn start_several_attached_and_interactive() {
    let d = Daemon::start();
    import_busybox(&d);
    for (i, &client @ (who, _)) in CLIENTS.iter().enumerate() {
        let names: Vec<String> = (0..3).map(|k| format!("s{i}{k}")).collect();
        for n in &names {
            ok(
                &d,
                client,
                &["create", "--name", n, "busybox", "sleep", "1000"],
            );
        }
        let mut args = vec!["start"];
        args.extend(names.iter().map(String::as_str));
        assert_eq!(ok(&d, client, &args), format!("{}\n", names.join("\n")));
        for n in &names {
            assert_eq!(inspect(&d, n, "{{.State.Status}}"), "running");
        }
        // Start of a running container is no error (dockerd: 304).
        let pid = inspect(&d, &names[0], "{{.State.Pid}}");
        assert_eq!(
            ok(&d, client, &["start", &names[0]]),
            format!("{}\n", names[0])
        );
        assert_eq!(inspect(&d, &names[0], "{{.State.Pid}}"), pid);
        // -a: the output, and the container's exit code as ours.
        let a = format!("a{i}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &a,
                "busybox",
                "sh",
                "-c",
                "echo hello; exit 3",
            ],
        );
        let o = client.1(&d, &["start", "-a", &a]);
        assert_eq!(text(&o.stdout), "hello\n", "{who}: {}", text(&o.stderr));
        assert_eq!(o.status.code(), Some(3), "{who}");
        // -ai: our stdin reaches the container.
        let c = format!("c{i}");
        ok(
            &d,
            client,
            &["create", "-i", "--name", &c, "busybox", "cat"],
        );
        let o = with_stdin(&d, client, &["start", "-ai", &c], b"typed\n");
        assert_eq!(text(&o.stdout), "typed\n", "{who}: {}", text(&o.stderr));
        assert!(o.status.success(), "{who}: {}", text(&o.stderr));
        let mut rm = vec!["rm", "-f", &a, &c];
        rm.extend(names.iter().map(String::as_str));
        ok(&d, client, &rm);
    }
}

/// One request on the daemon's socket, read to the end (`Connection:
/// close`): the status code and the body.
fn post(d: &Daemon, path: &str) -> (u16, String) {
    let mut s = UnixStream::connect(d.socket()).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// Waits in a thread: `POST /containers/{name}/wait?condition=`.
fn wait_in_thread(
    d: &Daemon,
    name: &str,
    condition: &str,
) -> std::thread::JoinHandle<(u16, String)> {
    let socket = d.socket();
    let path = format!("/containers/{name}/wait?condition={condition}");
    let handle = std::thread::spawn(move || {
        let mut s = UnixStream::connect(socket).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, raw)
    });
    // The wait is registered once the headers are back; give the request
    // time to arrive (a later start is still caught: `next-exit`).
    std::thread::sleep(std::time::Duration::from_millis(300));
    handle
}

#[test]
fn wait_for_several_containers_and_each_condition() {
    let d = Daemon::start();
    import_busybox(&d);
    for (i, &client) in CLIENTS.iter().enumerate() {
        let names: Vec<String> = (1..=3).map(|k| format!("w{i}{k}")).collect();
        for (k, n) in names.iter().enumerate() {
            let script = format!("sleep 1; exit {}", k + 1);
            ok(
                &d,
                client,
                &["run", "-d", "--name", n, "busybox", "sh", "-c", &script],
            );
        }
        let mut args = vec!["wait"];
        args.extend(names.iter().map(String::as_str));
        assert_eq!(ok(&d, client, &args), "1\n2\n3\n");
        // Waiting for what has exited already answers at once.
        assert_eq!(ok(&d, client, &["wait", &names[1]]), "2\n");
        fails(&d, client, &["wait", "nope"], "No such container: nope");
    }
    // next-exit: a wait set up before the start sees the exit of that start.
    d.ok(&["create", "--name", "nx", "busybox", "sh", "-c", "exit 4"]);
    let waiter = wait_in_thread(&d, "nx", "next-exit");
    d.ok(&["start", "nx"]);
    let (status, body) = waiter.join().unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"StatusCode\":4"), "{body}");
    // not-running of a stopped container: at once, with its last code.
    let (status, body) = post(&d, "/containers/nx/wait?condition=not-running");
    assert_eq!(status, 200);
    assert!(body.contains("\"StatusCode\":4"), "{body}");
    // removed: only when it is gone, not at its exit.
    d.ok(&["run", "-d", "--name", "rmw", "busybox", "sleep", "1000"]);
    let waiter = wait_in_thread(&d, "rmw", "removed");
    d.ok(&["kill", "rmw"]);
    assert!(!waiter.is_finished());
    d.ok(&["rm", "rmw"]);
    let (status, body) = waiter.join().unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"StatusCode\":137"), "{body}");
    let (status, body) = post(&d, "/containers/nx/wait?condition=sometime");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn several_names_are_handled_at_once_and_reported_in_order() {
    let d = Daemon::start();
    import_busybox(&d);
    let names = ["many0", "many1", "many2"];
    for n in names {
        d.ok(&["run", "-d", "--name", n, "busybox", "sleep", "1000"]);
    }
    // `sleep` as pid 1 ignores SIGTERM, so each stop sends SIGTERM, waits
    // its timeout and sends SIGKILL. With the requests in flight together
    // every SIGTERM is sent before the first SIGKILL (one after the other,
    // they would alternate).
    assert_eq!(
        ok(&d, BERTH, &["stop", "-t", "2", "many0", "many1", "many2"]),
        "many0\nmany1\nmany2\n"
    );
    let until = (unix_now() + 1).to_string();
    let events = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=kill",
        "--format",
        "{{.Actor.Attributes.signal}}",
    ]);
    assert_eq!(
        events.lines().collect::<Vec<_>>(),
        ["15", "15", "15", "9", "9", "9"],
        "{events}"
    );

    for client @ (who, _) in CLIENTS {
        let t = tag(client);
        let (a, b) = (format!("{t}-a"), format!("{t}-b"));
        for n in [&a, &b] {
            d.ok(&["create", "--name", n, "busybox", "sleep", "1000"]);
        }
        // Each name's result in the order given; the failures at the end,
        // exit 1.
        let o = client.1(&d, &["start", &a, "nosuch", &b]);
        assert_eq!(o.status.code(), Some(1), "{who}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), format!("{a}\n{b}\n"), "{who}");
        assert!(
            text(&o.stderr).contains("No such container: nosuch"),
            "{who}: {}",
            text(&o.stderr)
        );
        assert!(
            text(&o.stderr).contains("Error: failed to start containers: nosuch"),
            "{who}: {}",
            text(&o.stderr)
        );
        for verb in [
            &["pause"][..],
            &["unpause"],
            &["restart", "-t", "0"],
            &["kill"],
        ] {
            let mut args = verb.to_vec();
            args.extend([a.as_str(), "nosuch", b.as_str()]);
            let o = client.1(&d, &args);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{who} {verb:?}: {}",
                text(&o.stderr)
            );
            assert_eq!(text(&o.stdout), format!("{a}\n{b}\n"), "{who} {verb:?}");
            assert!(
                text(&o.stderr).contains("No such container: nosuch"),
                "{who} {verb:?}: {}",
                text(&o.stderr)
            );
        }
        let o = client.1(&d, &["rm", &a, "nosuch", &b]);
        assert_eq!(o.status.code(), Some(1), "{who} rm: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), format!("{a}\n{b}\n"), "{who} rm");
        assert!(
            text(&o.stderr).contains("No such container: nosuch"),
            "{who} rm: {}",
            text(&o.stderr)
        );
        // `rm -f` of what is not there: the daemon's message, exit 0.
        let o = client.1(&d, &["rm", "-f", "nosuch"]);
        assert_eq!(o.status.code(), Some(0), "{who} rm -f: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("No such container: nosuch"),
            "{who} rm -f: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn rm_link_and_unpause_refusals_as_dockerd() {
    // Checked against dockerd 20.10 with both docker CLIs: `rm -l` looks
    // the name up first (a link `parent/alias` is a name; `lk` has no
    // links, so none is found), and a container's own name is
    // "the default link name"; unpause of what is not paused is a plain
    // error. Nothing is removed or changed.
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "lk", "busybox", "sleep", "1000"]);
    for client @ (who, _) in CLIENTS {
        fails(
            &d,
            client,
            &["rm", "-l", "nosuch"],
            "No such container: nosuch",
        );
        fails(
            &d,
            client,
            &["rm", "-l", "/lk/alias"],
            "No such container: lk/alias",
        );
        fails(
            &d,
            client,
            &["rm", "-l", "lk"],
            "Conflict, cannot remove the default link name of the container",
        );
        fails(&d, client, &["unpause", "lk"], "is not paused");
        assert_eq!(inspect(&d, "lk", "{{.State.Status}}"), "running", "{who}");
    }
    let (status, body) = delete(&d, "/containers/lk?link=1");
    assert_eq!(status, 500, "{body}");
    let (status, body) = delete(&d, "/containers/lk/alias?link=1");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No such container: lk/alias"), "{body}");
    let (status, body) = post(&d, "/containers/lk/unpause");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("is not paused"), "{body}");
    d.ok(&["rm", "-f", "lk"]);
}

/// `DELETE path`: the status and the body.
fn delete(d: &Daemon, path: &str) -> (u16, String) {
    let mut s = UnixStream::connect(d.socket()).unwrap();
    write!(
        s,
        "DELETE {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    (all[9..12].parse().unwrap(), all)
}

/// `DELETE path` on `conn`, a connection opened beforehand: the status and
/// the body.
fn delete_on(mut conn: UnixStream, path: &str) -> (u16, String) {
    write!(
        conn,
        "DELETE {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    conn.read_to_string(&mut all).unwrap();
    (all[9..12].parse().unwrap(), all)
}

#[test]
fn a_second_rm_while_the_first_runs_is_refused_as_dockerd() {
    // dockerd marks a container `RemovalInProgress` before anything else;
    // a second `rm` meanwhile is a 409 naming the container as given.
    // Both requests go out together on connections opened beforehand; the
    // first kills a running container and waits for its exit, which the
    // second cannot outrun. Whichever wins, exactly one removes it.
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "twice", "busybox", "sleep", "1000"]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let conn = UnixStream::connect(d.socket()).unwrap();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                delete_on(conn, "/containers/twice?force=1")
            })
        })
        .collect();
    let mut answers: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    answers.sort_by_key(|a| a.0);
    assert_eq!(answers[0].0, 204, "{answers:?}");
    assert_eq!(answers[1].0, 409, "{answers:?}");
    assert!(
        answers[1]
            .1
            .contains("{\"message\":\"removal of container twice is already in progress\"}"),
        "{answers:?}"
    );
    // Through the clients: two `rm -f` at once, one removes it; the other
    // either meets the removal in progress or finds nothing left, as with
    // dockerd.
    for client @ (who, _) in CLIENTS {
        ok(
            &d,
            BERTH,
            &["run", "-d", "--name", "twice", "busybox", "sleep", "1000"],
        );
        let outs: Vec<Output> = std::thread::scope(|s| {
            let both: Vec<_> = (0..2)
                .map(|_| s.spawn(|| client.1(&d, &["rm", "-f", "twice"])))
                .collect();
            both.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let removed = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(removed, 1, "{who}: {outs:?}");
        let refused = outs.iter().find(|o| !o.status.success()).unwrap();
        let err = text(&refused.stderr);
        assert!(
            err.contains(
                "Error response from daemon: removal of container twice is already in progress"
            ) || err.contains("No such container: twice"),
            "{who}: {err}"
        );
        assert_eq!(refused.status.code(), Some(1), "{who}: {err}");
        assert!(d.ok(&["ps", "-aq", "--filter", "name=twice"]).is_empty());
    }
}
