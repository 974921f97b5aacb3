//! `attach`, detach keys, `--no-stdin`, `--sig-proxy` and several clients
//! at once, through the berth CLI and the real docker CLIs (28 and 20.10),
//! and the daemon's own detach-key handling through the Engine API.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::Duration;

use common::api::{request, upgrade};
use common::clients::{
    BERTH, Client, DOCKER, DOCKER20, command, describe, inspect, program, status, tag,
};
use common::{Daemon, Piped, PtyClient, import_busybox, until};
use nix::sys::signal::Signal;

/// berth first: [`several_clients_at_once_and_no_stdin`] gives each its
/// part by position.
const CLIENTS: [Client; 3] = [BERTH, DOCKER, DOCKER20];

fn assert_running(d: &Daemon, name: &str) {
    assert_eq!(
        inspect(d, name, "{{.State.Status}}"),
        "running",
        "{name} should still run"
    );
}

/// Waits (up to 60 s) until `name` has exited; its exit code.
fn exit_code_of(d: &Daemon, name: &str) -> String {
    until(&format!("{name} to exit"), || status(d, name) == "exited");
    inspect(d, name, "{{.State.ExitCode}}")
}

/// The screen of `t` shows `want` at least `n` times (echo and output).
fn expect_n(t: &PtyClient, want: &str, n: usize) {
    t.pty.expect(want, n);
}

#[test]
fn detach_keys_leave_the_container_running_and_it_can_be_attached_again() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        let name = format!("cat-{}", tag(client));
        // `run -it`: a partial sequence followed by another key reaches
        // the container (cat -v shows ^P as "^P"; the terminal's echo
        // shows it too), the whole default sequence detaches quietly.
        let mut t = PtyClient::spawn(
            &d,
            program(client),
            &["run", "-it", "--name", &name, "busybox", "cat", "-v"],
            24,
            80,
        );
        until("the container to run", || status(&d, &name) == "running");
        t.type_line("first");
        expect_n(&t, "first", 2);
        t.type_keys(b"\x10z\r");
        expect_n(&t, "^Pz", 2);
        t.type_keys(&[0x10, 0x11]);
        assert_eq!(t.wait(), Some(0), "{who} run -it: {}", t.screen());
        assert!(
            !t.screen().contains("read escape sequence"),
            "{who} run -it: {}",
            t.screen()
        );
        assert_running(&d, &name);

        // `attach` with custom keys: input reaches the container; the keys
        // detach, and docker reports "read escape sequence" (exit 1).
        let mut a = PtyClient::spawn(
            &d,
            program(client),
            &["attach", "--detach-keys=ctrl-x,x", &name],
            24,
            80,
        );
        a.type_line("second");
        expect_n(&a, "second", 2);
        a.type_keys(b"\x18x");
        assert_eq!(a.wait(), Some(1), "{who} attach: {}", a.screen());
        a.expect("read escape sequence");
        assert_running(&d, &name);

        // Attached again: end of input (^D) ends cat, and attach exits
        // with its status.
        let mut a = PtyClient::spawn(&d, program(client), &["attach", &name], 24, 80);
        a.type_line("third");
        expect_n(&a, "third", 2);
        a.type_keys(b"\x04");
        assert_eq!(a.wait(), Some(0), "{who} attach: {}", a.screen());
        assert_eq!(exit_code_of(&d, &name), "0");

        // `start -ai` with custom keys, which detach quietly (exit 0).
        let mut s = PtyClient::spawn(
            &d,
            program(client),
            &["start", "-ai", "--detach-keys", "ctrl-e,e", &name],
            24,
            80,
        );
        until("the container to run again", || {
            status(&d, &name) == "running"
        });
        s.type_line("fourth");
        expect_n(&s, "fourth", 2);
        // The default keys are no detach keys here: they reach cat (the
        // container's terminal takes ^Q as flow control).
        s.type_keys(b"\x10\x11\r");
        expect_n(&s, "^P", 2);
        s.type_keys(b"\x05e");
        assert_eq!(s.wait(), Some(0), "{who} start -ai: {}", s.screen());
        assert!(!s.screen().contains("read escape sequence"));
        assert_running(&d, &name);
        d.ok(&["rm", "-f", &name]);
    }
}

#[test]
fn bad_detach_keys_are_refused() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "s1", "busybox", "sleep", "1000"]);
    for client @ (who, _) in CLIENTS {
        for keys in ["ctrl-P", "ctrl-", "ab", "a,,b"] {
            let flag = format!("--detach-keys={keys}");
            let out = client.1(&d, &["attach", &flag, "s1"]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{who} {flag}: {}",
                describe(&out)
            );
            let err = String::from_utf8_lossy(&out.stderr);
            if client.0 == BERTH.0 {
                assert_eq!(
                    err.trim(),
                    format!("Error response from daemon: Invalid detach keys ({keys}) provided")
                );
            } else {
                // The docker CLI does not show the daemon's message of a
                // refused upgrade (as with dockerd).
                assert!(err.contains("received 400"), "{who}: {err}");
            }
        }
        // `run -i` attaches stdin (no terminal needed), then is refused.
        let out = command(
            &d,
            client,
            &["run", "-i", "--detach-keys=nope", "busybox", "true"],
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(1), "{who} run: {}", describe(&out));
    }
    assert_running(&d, "s1");
    // Through the API, before the container is looked up (as dockerd).
    for path in [
        "/containers/s1/attach?stream=1&stdout=1&detachKeys=ctrl-P",
        "/containers/nosuch/attach?stream=1&stdout=1&detachKeys=ctrl-P",
    ] {
        let (status, body) = request(&d, "POST", path, "");
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains(r#""message":"Invalid detach keys (ctrl-P) provided""#),
            "{body}"
        );
    }
}

/// Reads from an attach connection until `want` has been seen `n` times
/// (or the connection ends: then it fails).
fn read_until(s: &mut UnixStream, seen: &mut String, want: &str, n: usize) {
    let mut buf = [0u8; 4096];
    while seen.matches(want).count() < n {
        let got = s.read(&mut buf).unwrap();
        assert!(
            got > 0,
            "the attach ended before {want:?} x{n}; saw {seen:?}"
        );
        seen.push_str(&String::from_utf8_lossy(&buf[..got]));
    }
}

/// Reads until the daemon ends the attach (end of file).
fn read_to_end(s: &mut UnixStream) -> String {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    String::from_utf8_lossy(&rest).into_owned()
}

#[test]
fn the_daemon_detaches_on_the_keys_sent_through_the_api() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "-it", "--name", "raw", "busybox", "cat", "-v"]);
    let attach = "/containers/raw/attach?stream=1&stdin=1&stdout=1&stderr=1";

    // Custom keys, all in one write: a partial match then another byte is
    // passed on; the whole sequence ends the attach.
    let (status, head, mut s) = upgrade(&d, &format!("{attach}&detachKeys=ctrl-a,b"));
    assert_eq!(status, 101, "{head}");
    s.write_all(b"\x01z\r").unwrap();
    let mut seen = String::new();
    read_until(&mut s, &mut seen, "^Az", 2);
    s.write_all(b"x\x01b").unwrap();
    read_to_end(&mut s);
    assert_running(&d, "raw");

    // The default keys; what came before them in the same write arrives.
    let (status, head, mut s) = upgrade(&d, attach);
    assert_eq!(status, 101, "{head}");
    s.write_all(b"before\r\x10\x11after\r").unwrap();
    let rest = read_to_end(&mut s);
    assert_running(&d, "raw");
    assert!(!rest.contains("after"), "{rest}");

    // With a terminal, the end of the client's input ends the attach but
    // does not close the container's stdin (dockerd).
    let (status, head, mut s) = upgrade(&d, attach);
    assert_eq!(status, 101, "{head}");
    s.write_all(b"last\r").unwrap();
    let mut seen = String::new();
    read_until(&mut s, &mut seen, "last", 2);
    s.shutdown(std::net::Shutdown::Write).unwrap();
    read_to_end(&mut s);
    assert_running(&d, "raw");
    let logs = String::from_utf8_lossy(&d.docker(&["logs", "raw"]).stdout).into_owned();
    assert!(logs.contains("before"), "{logs}");
    assert!(!logs.contains("after"), "{logs}");
}

#[test]
fn several_clients_at_once_and_no_stdin() {
    let d = Daemon::start();
    import_busybox(&d);
    // `-d -i`: stdin stays open between clients (no StdinOnce).
    d.ok(&["run", "-d", "-i", "--name", "multi", "busybox", "sh"]);
    let mut clients: Vec<Piped> = CLIENTS
        .iter()
        .map(|c| Piped::spawn(command(&d, *c, &["attach", "multi"])))
        .collect();
    let mut quiet = Piped::spawn(command(&d, BERTH, &["attach", "--no-stdin", "multi"]));
    let mut quiet_docker = Piped::spawn(command(&d, DOCKER, &["attach", "--no-stdin", "multi"]));
    // Each client's input reaches the container; everyone sees the output.
    // (The first line may race the attach of later clients: repeat it.)
    until("every client to see a line", || {
        clients[0].send("echo ready-$((1+1))\n");
        std::thread::sleep(Duration::from_millis(300));
        clients
            .iter()
            .chain([&quiet, &quiet_docker])
            .all(|c| c.output().contains("ready-2"))
    });
    for i in 0..clients.len() {
        clients[i].send(&format!("echo from-$(({i}+100))\n"));
        let want = format!("from-{}", i + 100);
        for c in clients.iter().chain([&quiet, &quiet_docker]) {
            c.expect(&want);
        }
    }
    // `--no-stdin`: what these clients read goes nowhere.
    quiet.send("echo never-$((2+2))\n");
    quiet_docker.send("echo never-$((2+2))\n");
    clients[1].send("echo after-$((3+3))\n");
    for c in clients.iter().chain([&quiet, &quiet_docker]) {
        c.expect("after-6");
        assert!(!c.output().contains("never-4"), "{}", c.output());
    }
    // One client's end of input does not close the container's stdin.
    clients[0].close_stdin();
    clients[2].send("echo still-$((4+4))\n");
    for c in &clients {
        c.expect("still-8");
    }
    // `exit 5` ends the container: every client exits with its status.
    clients[1].send("exit 5\n");
    for c in clients.iter_mut().chain([&mut quiet, &mut quiet_docker]) {
        assert_eq!(c.wait().code(), Some(5), "{}", c.output());
    }
}

#[test]
fn sig_proxy_forwards_signals_without_a_terminal() {
    let d = Daemon::start();
    import_busybox(&d);
    let script = "trap 'echo got-INT' INT; trap 'echo got-TERM; exit 7' TERM; while :; do echo tick; sleep 1; done";
    for client @ (who, _) in CLIENTS {
        let name = format!("sig-{}", tag(client));
        d.ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", script]);
        let mut a = Piped::spawn(command(&d, client, &["attach", &name]));
        a.expect("tick");
        a.signal(Signal::SIGINT);
        a.expect("got-INT");
        a.signal(Signal::SIGTERM);
        a.expect("got-TERM");
        assert_eq!(a.wait().code(), Some(7), "{who}: {}", a.output());
        assert_eq!(exit_code_of(&d, &name), "7");

        // `--sig-proxy=false`: the client goes, the container does not
        // hear of it.
        let name = format!("nosig-{}", tag(client));
        d.ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", script]);
        let mut a = Piped::spawn(command(&d, client, &["attach", "--sig-proxy=false", &name]));
        a.expect("tick");
        a.signal(Signal::SIGINT);
        if client.0 != DOCKER.0 {
            // Killed by it. (docker 28 takes a first ^C as "stop streaming"
            // and then waits for the container's exit.)
            a.wait();
        }
        // Two more ticks: a trap would have run by then.
        let ticks = |d: &Daemon| {
            String::from_utf8_lossy(&d.docker(&["logs", &name]).stdout)
                .matches("tick")
                .count()
        };
        let before = ticks(&d);
        until("two more ticks", || ticks(&d) >= before + 2);
        let logs = String::from_utf8_lossy(&d.docker(&["logs", &name]).stdout).into_owned();
        assert!(!logs.contains("got-INT"), "{who}: {logs}");
        assert_running(&d, &name);
        d.ok(&["rm", "-f", &name]);
    }
}

#[test]
fn attach_refuses_what_docker_refuses() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["create", "--name", "new", "busybox", "true"]);
    d.ok(&[
        "run", "-d", "-t", "--name", "tty", "busybox", "sleep", "1000",
    ]);
    for client @ (who, _) in CLIENTS {
        let out = client.1(&d, &["attach", "new"]);
        assert_eq!(out.status.code(), Some(1), "{who}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("attach to a stopped container, start it first"),
            "{who}: {}",
            describe(&out)
        );
        let out = client.1(&d, &["attach", "nosuch"]);
        assert_eq!(out.status.code(), Some(1), "{who}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("No such container: nosuch"),
            "{who}: {}",
            describe(&out)
        );
        // A terminal container needs a terminal on stdin, unless --no-stdin.
        let out = command(&d, client, &["attach", "tty"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{who}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("the input device is not a TTY"),
            "{who}: {}",
            describe(&out)
        );
    }
    // `container attach` is the same command.
    let out = d.berth(&["container", "attach", "new"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn exec_detaches_through_the_same_proxy() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "host", "busybox", "sleep", "1000"]);
    for (n, client @ (who, _)) in CLIENTS.into_iter().enumerate() {
        let mut t = PtyClient::spawn(
            &d,
            program(client),
            &["exec", "-it", "--detach-keys=ctrl-x,x", "host", "cat", "-v"],
            24,
            80,
        );
        until("the exec to run", || {
            inspect(&d, "host", "{{len .ExecIDs}}") == (n + 1).to_string()
        });
        t.type_line("typed");
        expect_n(&t, "typed", 2);
        // A partial sequence reaches the process.
        t.type_keys(b"\x18z\r");
        expect_n(&t, "^Xz", 2);
        t.type_keys(b"\x18x");
        assert_eq!(t.wait(), Some(1), "{who} exec: {}", t.screen());
        t.expect("read escape sequence");
        // The exec's process runs on.
        assert_eq!(inspect(&d, "host", "{{len .ExecIDs}}"), (n + 1).to_string());
    }
    assert_running(&d, "host");
}
