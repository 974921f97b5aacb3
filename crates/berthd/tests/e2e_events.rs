//! `GET /events` through the real docker CLI (28 and 20.10) and `berth
//! events`: container and image events with docker's attributes, filters,
//! `--since`/`--until`, `--format`, live streaming.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::clients::{BERTH, CLIENTS, DOCKER, command, ok, succeeded};
use common::{DOCKER_28, Daemon, import_busybox, unix_now};
use serde_json::Value;

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `(Type, Action, name attribute)` of each event.
fn summary(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["Type"].as_str().unwrap_or("").to_owned(),
                e["Action"].as_str().unwrap_or("").to_owned(),
                e["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect()
}

/// `events ARGS` through docker 28, docker 20.10 and berth: the same
/// output from each (TZ=UTC: docker prints local time, berth UTC).
fn events_all_clients(d: &Daemon, args: &[&str]) -> String {
    let mut full = vec!["events"];
    full.extend_from_slice(args);
    let mut outputs: Vec<(&str, String)> = CLIENTS
        .iter()
        .map(|&client| {
            let out = command(d, client, &full).env("TZ", "UTC").output().unwrap();
            (client.0, succeeded(d, client, &full, &out))
        })
        .collect();
    for (client, text) in &outputs[1..] {
        assert_eq!(
            *text, outputs[0].1,
            "{client} and docker 28 differ for events {args:?}"
        );
    }
    outputs.remove(0).1
}

#[test]
fn lifecycle_and_image_events_with_filters_and_formats() {
    let d = Daemon::start();
    let since = unix_now().saturating_sub(1).to_string();
    import_busybox(&d);
    d.ok(&["run", "--name", "ev1", "--label", "tier=web", "hello-world"]);
    d.ok(&["tag", "hello-world", "mine:v1"]);
    d.ok(&["rmi", "mine:v1"]);
    d.ok(&["run", "-d", "--name", "ev2", "busybox", "sleep", "100"]);
    d.ok(&["kill", "ev2"]);
    d.ok(&["wait", "ev2"]);
    d.ok(&["rm", "ev1"]);
    let until = (unix_now() + 1).to_string();
    std::thread::sleep(Duration::from_millis(1100));

    // Everything, as JSON lines: the same from every client.
    let all = json_lines(&events_all_clients(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--format",
            "{{json .}}",
        ],
    ));
    let s = summary(&all);
    let container = |name: &str| -> Vec<String> {
        s.iter()
            .filter(|(t, _, n)| t == "container" && n == name)
            .map(|(_, a, _)| a.clone())
            .collect()
    };
    assert_eq!(
        container("ev1"),
        ["create", "attach", "start", "die", "destroy"],
        "{s:?}"
    );
    assert_eq!(
        container("ev2"),
        ["create", "start", "kill", "die"],
        "{s:?}"
    );
    let find = |name: &str, action: &str| -> &Value {
        all.iter()
            .find(|e| e["Actor"]["Attributes"]["name"] == name && e["Action"] == action)
            .unwrap_or_else(|| panic!("no {action} of {name} in {s:?}"))
    };
    let die = find("ev1", "die");
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "0");
    assert_eq!(die["Actor"]["Attributes"]["image"], "hello-world");
    assert_eq!(die["Actor"]["Attributes"]["tier"], "web");
    assert_eq!(die["status"], "die");
    assert_eq!(die["from"], "hello-world");
    assert_eq!(die["scope"], "local");
    assert_eq!(die["id"], die["Actor"]["ID"]);
    assert_eq!(die["Actor"]["ID"].as_str().unwrap().len(), 64);
    assert_eq!(
        die["time"].as_i64().unwrap(),
        die["timeNano"].as_i64().unwrap() / 1_000_000_000
    );
    assert_eq!(find("ev2", "kill")["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(find("ev2", "die")["Actor"]["Attributes"]["exitCode"], "137");
    let hello_id = d.ok(&["inspect", "-f", "{{.Id}}", "hello-world"]);
    let tag = find("mine:v1", "tag");
    assert_eq!(tag["Type"], "image");
    assert_eq!(tag["Actor"]["ID"], hello_id.trim());
    assert_eq!(find("mine:v1", "untag")["Actor"]["ID"], hello_id.trim());
    assert!(
        s.iter().any(|(t, a, _)| t == "image" && a == "import"),
        "{s:?}"
    );

    // Filters (the daemon applies them; every client sends docker's JSON).
    let only = |args: &[&str]| -> Vec<(String, String, String)> {
        let mut full = vec![
            "--since",
            &since,
            "--until",
            &until,
            "--format",
            "{{json .}}",
        ];
        full.extend_from_slice(args);
        summary(&json_lines(&events_all_clients(&d, &full)))
    };
    assert_eq!(
        only(&["--filter", "container=ev1", "--filter", "event=die"]),
        [("container".into(), "die".into(), "ev1".into())]
    );
    assert!(
        only(&["--filter", "type=image"])
            .iter()
            .all(|(t, _, _)| t == "image")
    );
    assert_eq!(
        only(&["--filter", "label=tier=web", "--filter", "event=start"]),
        [("container".into(), "start".into(), "ev1".into())]
    );
    assert_eq!(
        only(&["--filter", "image=busybox", "--filter", "event=die"]),
        [("container".into(), "die".into(), "ev2".into())]
    );
    assert_eq!(
        only(&[
            "--filter",
            "event=tag",
            "--filter",
            "event=untag",
            "--filter",
            "image=mine"
        ]),
        [
            ("image".into(), "tag".into(), "mine:v1".into()),
            ("image".into(), "untag".into(), "mine:v1".into())
        ]
    );

    // docker's default line: time, type, action, ID, sorted attributes.
    let pretty = events_all_clients(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=ev1",
            "--filter",
            "event=die",
        ],
    );
    let id = die["Actor"]["ID"].as_str().unwrap();
    let line = pretty.trim_end();
    assert_eq!(pretty.lines().count(), 1, "{pretty}");
    assert!(
        line.contains(&format!("Z container die {id} (execDuration=")),
        "{pretty}"
    );
    assert!(
        line.ends_with(", exitCode=0, image=hello-world, name=ev1, tier=web)"),
        "{pretty}"
    );
    // `json` is docker 28's shorthand for `{{json .}}` (20.10 lacks it).
    let json = ok(
        &d,
        BERTH,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=ev1",
            "--filter",
            "event=die",
            "--format",
            "json",
        ],
    );
    assert_eq!(json_lines(&json), std::slice::from_ref(die));
    // A template per event.
    let tpl = events_all_clients(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=ev2",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    assert_eq!(tpl, "create ev2\nstart ev2\nkill ev2\ndie ev2\n");
    d.ok(&["rm", "-f", "ev2"]);
}

#[test]
fn events_stream_live_and_end_at_until() {
    let d = Daemon::start();
    // A live stream (no --until) per client sees a run happen.
    let mut clients: Vec<std::process::Child> = Vec::new();
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    for (i, &client) in CLIENTS.iter().enumerate() {
        let args = [
            "events",
            "--filter",
            "container=live",
            "--format",
            "{{.Action}}",
        ];
        let mut cmd = command(&d, client, &args);
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((i, line));
            }
        });
        clients.push(child);
    }
    // The streams are open once /events answered: wait until each client
    // has connected (berthd logs nothing per request, so give them time by
    // emitting a first event until every client reports it).
    let mut seen = [Vec::new(), Vec::new(), Vec::new()];
    let mut n = 0;
    while seen.iter().any(Vec::is_empty) {
        n += 1;
        assert!(n < 60, "clients never saw events: {seen:?}");
        d.ok(&["create", "--name", "live", "hello-world"]);
        d.ok(&["rm", "live"]);
        while let Ok((i, line)) = rx.recv_timeout(Duration::from_millis(500)) {
            seen[i].push(line);
        }
    }
    for s in &mut seen {
        s.clear();
    }
    d.ok(&["run", "--name", "live", "hello-world"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.iter().any(|s| !s.contains(&"die".to_owned())) {
        assert!(
            std::time::Instant::now() < deadline,
            "no die event: {seen:?}"
        );
        if let Ok((i, line)) = rx.recv_timeout(Duration::from_secs(1)) {
            seen[i].push(line);
        }
    }
    for s in &seen {
        assert_eq!(s, &["create", "attach", "start", "die"]);
    }
    for mut c in clients {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = c.wait();
    }

    // --until in the future: the stream ends by itself then.
    let until = (unix_now() + 2).to_string();
    ok(&d, BERTH, &["events", "--until", &until]);
    ok(&d, DOCKER, &["events", "--until", &until]);

    // Bad input.
    let out = d.berth(&["events", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "failed to parse value as time or duration: \"yesterday\""
    );
    let out = d.berth(&["events", "--filter", "nope=1", "--until", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error response from daemon: invalid filter 'nope'"
    );
    let out = DOCKER.1(&d, &["events", "--filter", "nope=1", "--until", "1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid filter 'nope'"),
        "{out:?}"
    );
}

/// `POST path` with docker's upgrade headers: the connection once the
/// `101` head has been read.
fn upgraded(d: &Daemon, path: &str) -> std::os::unix::net::UnixStream {
    let (status, head, s) = common::api::upgrade(d, path);
    assert_eq!(status, 101, "{head}");
    s
}

#[test]
fn detach_event_when_the_daemon_sees_the_detach_keys() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    import_busybox(&d);
    let since = unix_now().saturating_sub(1).to_string();
    d.ok(&["run", "-d", "-it", "--name", "det", "busybox", "cat"]);
    // A client that sends the keys (docker-py, or the API by hand): the
    // daemon's proxy ends the attach on them, and dockerd logs `detach`.
    let mut s = upgraded(
        &d,
        "/containers/det/attach?stream=1&stdin=1&stdout=1&stderr=1",
    );
    s.write_all(b"hi\r\x10\x11").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    // The docker CLI (and berth) hold the keys back and close the
    // connection: to dockerd that is the input's end, no detach (checked
    // against dockerd 20.10 with docker 28 and 20.10), so no event.
    let mut t = common::PtyClient::spawn(&d, DOCKER_28, &["attach", "det"], 24, 80);
    t.type_line("typed");
    t.pty.expect("typed", 2);
    t.type_keys(&[0x10, 0x11]);
    assert_eq!(t.wait(), Some(1), "{}", t.screen());
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Status}}", "det"])
            .trim(),
        "running"
    );
    let until = (unix_now() + 1).to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let all = json_lines(&events_all_clients(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=det",
            "--format",
            "{{json .}}",
        ],
    ));
    let actions: Vec<String> = summary(&all)
        .into_iter()
        .map(|(_, a, _)| a)
        .filter(|a| a != "resize")
        .collect();
    assert_eq!(
        actions,
        ["create", "start", "attach", "detach", "attach"],
        "{all:?}"
    );
    let detach = all.iter().find(|e| e["Action"] == "detach").unwrap();
    assert_eq!(detach["Type"], "container");
    assert_eq!(detach["Actor"]["Attributes"]["name"], "det");
    assert_eq!(detach["Actor"]["Attributes"]["image"], "busybox");
    assert_eq!(detach["status"], "detach");
    d.ok(&["rm", "-f", "det"]);
}
