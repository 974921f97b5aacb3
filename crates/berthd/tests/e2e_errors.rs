//! Bad input to the lifecycle commands, through berth, docker 28 and
//! docker 20.10: docker's messages and exit codes, and nothing changed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;

use common::api::request;
use common::clients::{CLIENTS, fails_saying, fails_with, ok};
use common::{Daemon, import_busybox};

/// Every container's name, status and pid: what must not change.
fn snapshot(d: &Daemon) -> String {
    d.ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.Names}} {{.State}} {{.ID}}",
    ])
}

#[test]
fn unknown_containers_and_ambiguous_prefixes() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "live", "busybox", "sleep", "1000"]);
    let before = snapshot(&d);
    for client in CLIENTS {
        for cmd in [
            &["start", "nope"][..],
            &["stop", "nope"],
            &["restart", "nope"],
            &["kill", "nope"],
            &["pause", "nope"],
            &["unpause", "nope"],
            &["rm", "nope"],
            &["wait", "nope"],
            &["logs", "nope"],
            &["container", "inspect", "nope"],
        ] {
            fails_saying(&d, client, cmd, 1, "No such container: nope");
        }
        fails_saying(
            &d,
            client,
            &["rename", "nope", "other"],
            1,
            "No such container: nope",
        );
    }
    assert_eq!(snapshot(&d), before);
    // Seventeen containers: two share a first hex digit.
    let mut by_prefix: BTreeMap<char, Vec<String>> = BTreeMap::new();
    for k in 0..17 {
        let id = d.ok(&["create", "--name", &format!("c{k}"), "busybox", "true"]);
        let id = id.trim().to_owned();
        by_prefix
            .entry(id.chars().next().unwrap())
            .or_default()
            .push(id);
    }
    let (prefix, ids) = by_prefix.iter().find(|(_, ids)| ids.len() > 1).unwrap();
    let prefix = prefix.to_string();
    let before = snapshot(&d);
    for client in CLIENTS {
        let message = format!("multiple IDs found with provided prefix: {prefix}");
        for cmd in ["start", "stop", "kill", "pause", "restart", "rm"] {
            fails_saying(&d, client, &[cmd, &prefix], 1, &message);
        }
        fails_saying(&d, client, &["rename", &prefix, "other"], 1, &message);
    }
    assert_eq!(snapshot(&d), before);
    // A unique prefix works.
    let unique = &ids[0][..20];
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.Id}}", unique]).trim(),
        ids[0]
    );
}

#[test]
fn invalid_values_and_wrong_states_change_nothing() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let before = snapshot(&d);
    for client in CLIENTS {
        // Flag values the CLI itself rejects: docker's usage error, 125.
        fails_with(&d, client, &["stop", "-t", "soon", "up"], 125);
        fails_with(&d, client, &["restart", "--time", "x", "up"], 125);
        // Values the daemon rejects.
        fails_saying(
            &d,
            client,
            &["kill", "-s", "SIGNOPE", "up"],
            1,
            "Invalid signal: SIGNOPE",
        );
        fails_saying(
            &d,
            client,
            &["kill", "-s", "0", "up"],
            1,
            "Invalid signal: 0",
        );
        // Wrong states.
        fails_saying(&d, client, &["kill", "idle"], 1, "is not running");
        fails_saying(&d, client, &["pause", "idle"], 1, "is not running");
        fails_saying(&d, client, &["unpause", "up"], 1, "is not paused");
        fails_saying(
            &d,
            client,
            &["rm", "up"],
            1,
            "container is running: stop the container before removing or force remove",
        );
        fails_saying(
            &d,
            client,
            &["rename", "up", "idle"],
            1,
            "is already in use by container",
        );
        fails_saying(
            &d,
            client,
            &["rename", "up", "b@d"],
            1,
            "Invalid container name (b@d)",
        );
        // Start of a running container: no error, its name (dockerd: 304).
        assert_eq!(ok(&d, client, &["start", "up"]), "up\n");
        assert_eq!(snapshot(&d), before, "{} changed something", client.0);
    }
    let pid = d.ok(&[
        "inspect",
        "--format",
        "{{.State.Pid}} {{.State.Paused}}",
        "up",
    ]);
    assert!(pid.trim().ends_with(" false"), "{pid}");
    // The API's answers, as the docker CLI sees them: 304 for a start of a
    // running container and a stop of a stopped one.
    assert_eq!(status_of(&d, "POST", "/containers/up/start"), 304);
    assert_eq!(status_of(&d, "POST", "/containers/idle/stop"), 304);
    // dockerd: a plain error for an unpause of what is not paused (500).
    assert_eq!(status_of(&d, "POST", "/containers/up/unpause"), 500);
    assert_eq!(
        status_of(&d, "POST", "/containers/up/kill?signal=NOPE"),
        400
    );
    assert_eq!(status_of(&d, "POST", "/containers/up/stop?t=soon"), 400);
    assert_eq!(
        status_of(&d, "POST", "/containers/up/rename?name=idle"),
        409
    );
    assert_eq!(status_of(&d, "POST", "/containers/up/rename?name="), 400);
    assert_eq!(status_of(&d, "POST", "/containers/nope/pause"), 404);
    assert_eq!(snapshot(&d), before);
}

/// The status of `method path` (no body).
fn status_of(d: &Daemon, method: &str, path: &str) -> u16 {
    request(d, method, path, "").0
}
