//! `volume create|inspect|ls|rm|prune`, volume events, `system df` and
//! `system prune --volumes` through the docker CLI (28 and 20.10) and
//! `berth`: docker's output, filters, errors and exit codes; volumes
//! outlive a berthd restart.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::process::Output;

use common::{BERTH, DOCKER_20, DOCKER_28, Daemon};
use serde_json::Value;

const CLIENTS: [&str; 3] = [DOCKER_28, DOCKER_20, BERTH];

fn run(d: &Daemon, client: &str, args: &[&str]) -> Output {
    d.client_command(client, args).output().unwrap()
}

fn run_with(d: &Daemon, client: &str, args: &[&str], input: &str) -> Output {
    common::output_with_stdin(&mut d.client_command(client, args), input.as_bytes())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", stdout(o), stderr(o));
    stdout(o)
}

/// Fails with exit status 1 and `message` on stderr (docker's
/// `Error response from daemon: ` prefix included).
#[track_caller]
fn fails(o: &Output, message: &str, what: &str) {
    assert_eq!(o.status.code(), Some(1), "{what}: {o:?}");
    assert_eq!(stderr(o).trim_end(), message, "{what}");
}

/// How `client` reports the volume `nope` missing: docker 20.10's client
/// words a 404 its own way, docker 28 (and berth) pass dockerd's message.
fn no_such_nope(client: &str) -> &'static str {
    if client == DOCKER_20 {
        "Error: No such volume: nope"
    } else {
        "Error response from daemon: get nope: no such volume"
    }
}

fn short(client: &str) -> &'static str {
    match client {
        DOCKER_28 => "d28",
        DOCKER_20 => "d20",
        _ => "b",
    }
}

/// Volume names as `docker volume ls -q` lists them.
fn names(d: &Daemon) -> Vec<String> {
    d.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn inspect(d: &Daemon, name: &str) -> Value {
    let text = d.ok(&["volume", "inspect", name]);
    let v: Value = serde_json::from_str(&text).unwrap();
    v[0].clone()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn create_inspect_ls_rm_through_every_client() {
    let d = Daemon::start();
    let data_root = std::fs::canonicalize(d.data_root()).unwrap();
    for client in CLIENTS {
        let c = short(client);
        let named = format!("{c}-data");
        // create prints the name; with labels and local driver options.
        let o = run(
            &d,
            client,
            &[
                "volume",
                "create",
                "--label",
                "app=web",
                "--label",
                "tier",
                "-d",
                "local",
                "-o",
                "type=tmpfs",
                "-o",
                "device=tmpfs",
                "-o",
                "o=size=1m",
                &named,
            ],
        );
        assert_eq!(ok(&o, client), format!("{named}\n"), "{client}");
        // Again: the same volume, no error.
        let o = run(&d, client, &["volume", "create", &named]);
        assert_eq!(ok(&o, client), format!("{named}\n"), "{client}");
        // --name, as older scripts use it.
        let o = run(
            &d,
            client,
            &["volume", "create", "--name", &format!("{c}-old")],
        );
        assert_eq!(ok(&o, client), format!("{c}-old\n"), "{client}");
        // No name: an anonymous volume, 64 hex digits.
        let o = run(&d, client, &["volume", "create"]);
        let anon = ok(&o, client).trim().to_owned();
        assert_eq!(anon.len(), 64, "{client}: {anon}");
        assert!(anon.chars().all(|ch| ch.is_ascii_hexdigit()), "{anon}");

        // inspect: docker's document.
        let o = run(&d, client, &["volume", "inspect", &named]);
        let text = ok(&o, client);
        let doc: Value = serde_json::from_str(&text).unwrap();
        let v = &doc[0];
        assert_eq!(v["Name"], named.as_str(), "{client}: {text}");
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["Labels"]["app"], "web");
        assert_eq!(v["Labels"]["tier"], "");
        assert_eq!(v["Options"]["type"], "tmpfs");
        assert_eq!(v["Options"]["o"], "size=1m");
        assert_eq!(
            v["Mountpoint"],
            data_root
                .join(format!("volumes/{named}/_data"))
                .to_str()
                .unwrap()
        );
        let created = v["CreatedAt"].as_str().unwrap();
        assert!(
            created.len() == 20 && created.ends_with('Z'),
            "{client}: {created}"
        );
        assert!(
            text.starts_with("[\n    {\n        \"CreatedAt\": "),
            "{client}: {text}"
        );
        let anon_doc = inspect(&d, &anon);
        assert_eq!(anon_doc["Labels"]["com.docker.volume.anonymous"], "");
        // What the CLI sends when no option is given: docker 20.10 empty
        // maps, docker 28 (and berth) none.
        let none = if client == DOCKER_20 {
            serde_json::json!({})
        } else {
            Value::Null
        };
        let old = inspect(&d, &format!("{c}-old"));
        assert_eq!(
            (&old["Options"], &old["Labels"]),
            (&none, &none),
            "{client}"
        );
        let o = run(
            &d,
            client,
            &[
                "volume",
                "inspect",
                "-f",
                "{{.Name}} {{.Driver}} {{.Labels.app}}",
                &named,
            ],
        );
        assert_eq!(ok(&o, client), format!("{named} local web\n"), "{client}");

        // ls: docker's table, sorted by name.
        let o = run(&d, client, &["volume", "ls"]);
        let table = ok(&o, client);
        let mut lines = table.lines();
        assert_eq!(
            lines.next(),
            Some("DRIVER    VOLUME NAME"),
            "{client}: {table}"
        );
        assert!(
            table.contains(&format!("\nlocal     {named}\n")),
            "{client}: {table}"
        );
        let listed: Vec<&str> = lines
            .map(|l| l.trim_start_matches("local").trim())
            .collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted, "{client}");
        let o = run(&d, client, &["volume", "ls", "-q"]);
        assert!(ok(&o, client).lines().any(|l| l == named), "{client}");
        let o = run(
            &d,
            client,
            &[
                "volume",
                "ls",
                "--filter",
                "label=app=web",
                "--format",
                "{{.Name}}|{{.Driver}}|{{.Labels}}",
            ],
        );
        // docker prints the labels in Go's map order: compare them as a set.
        let out = ok(&o, client);
        let (head, labels) = out.trim_end().rsplit_once('|').unwrap();
        let mut labels: Vec<&str> = labels.split(',').collect();
        labels.sort_unstable();
        assert_eq!(
            (head, labels),
            (format!("{named}|local").as_str(), vec!["app=web", "tier="]),
            "{client}"
        );
        let o = run(
            &d,
            client,
            &[
                "volume",
                "ls",
                "-q",
                "-f",
                &format!("name={c}-"),
                "-f",
                "driver=local",
            ],
        );
        assert_eq!(ok(&o, client), format!("{named}\n{c}-old\n"), "{client}");
        let o = run(
            &d,
            client,
            &[
                "volume",
                "ls",
                "-q",
                "-f",
                "label!=app",
                "-f",
                &format!("name=^{c}-"),
            ],
        );
        assert_eq!(ok(&o, client), format!("{c}-old\n"), "{client}");
        // Nothing uses them: all dangling.
        let o = run(&d, client, &["volume", "ls", "-q", "-f", "dangling=false"]);
        assert_eq!(ok(&o, client), "", "{client}");
        let o = run(
            &d,
            client,
            &[
                "volume",
                "ls",
                "-q",
                "-f",
                "dangling=true",
                "-f",
                &format!("name={named}"),
            ],
        );
        assert_eq!(ok(&o, client), format!("{named}\n"), "{client}");

        // rm prints each name; an unknown one fails after the others.
        let o = run(&d, client, &["volume", "rm", &named, "nope", &anon]);
        assert_eq!(stdout(&o), format!("{named}\n{anon}\n"), "{client}");
        fails(&o, no_such_nope(client), client);
        // -f: an unknown volume is not an error.
        let o = run(
            &d,
            client,
            &["volume", "rm", "-f", "nope", &format!("{c}-old")],
        );
        assert_eq!(ok(&o, client), format!("nope\n{c}-old\n"), "{client}");
        assert!(
            !names(&d).iter().any(|n| n.starts_with(&format!("{c}-"))),
            "{client}"
        );
        assert!(!data_root.join(format!("volumes/{named}")).exists());
    }
    assert!(names(&d).is_empty());
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let d = Daemon::start();
    let volumes_dir = d.data_root().join("volumes");
    for client in CLIENTS {
        let create = |args: &[&str]| {
            let mut all = vec!["volume", "create"];
            all.extend_from_slice(args);
            run(&d, client, &all)
        };
        fails(
            &create(&["a/b"]),
            "Error response from daemon: create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path",
            client,
        );
        fails(
            &create(&["x"]),
            "Error response from daemon: create x: volume name is too short, names should be at least two alphanumeric characters",
            client,
        );
        fails(
            &create(&["-d", "flocker", "vol"]),
            "Error response from daemon: create vol: error looking up volume plugin flocker: plugin \"flocker\" not found",
            client,
        );
        fails(
            &create(&["-o", "foo=bar", "vol"]),
            "Error response from daemon: create vol: invalid option: \"foo\"",
            client,
        );
        fails(
            &create(&["-o", "type=tmpfs", "vol"]),
            "Error response from daemon: create vol: missing required option: \"device\"",
            client,
        );
        fails(
            &create(&["-o", "size=10m", "vol"]),
            "Error response from daemon: create vol: quota size requested but no quota support",
            client,
        );
        fails(
            &run(&d, client, &["volume", "inspect", "nope"]),
            no_such_nope(client),
            client,
        );
        fails(
            &run(&d, client, &["volume", "rm", "nope"]),
            no_such_nope(client),
            client,
        );
        let o = run(&d, client, &["volume", "ls", "-f", "until=1h"]);
        fails(
            &o,
            "Error response from daemon: invalid filter 'until'",
            client,
        );
        let o = run(&d, client, &["volume", "ls", "-f", "dangling=maybe"]);
        fails(
            &o,
            "Error response from daemon: invalid filter 'dangling=[maybe]'",
            client,
        );
        let o = run(
            &d,
            client,
            &["volume", "prune", "-f", "--filter", "until=1h"],
        );
        fails(
            &o,
            "Error response from daemon: invalid filter 'until'",
            client,
        );
    }
    // Usage errors are the CLI's own (exit status 125 for docker's).
    let o = run(&d, BERTH, &["volume", "create", "--name", "a1", "b1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stderr(&o).contains("conflicting options: cannot specify a volume-name through both --name and as a positional arg"),
        "{o:?}"
    );
    let o = run(
        &d,
        BERTH,
        &["volume", "prune", "-a", "-f", "--filter", "all=1"],
    );
    assert!(
        stderr(&o).contains("conflicting options: cannot specify both --all and --filter all=1"),
        "{o:?}"
    );
    assert!(names(&d).is_empty());
    assert_eq!(fs_err::read_dir(volumes_dir).unwrap().count(), 0);
}

#[test]
fn prune_takes_anonymous_volumes_unless_all_and_old_clients_take_all() {
    let d = Daemon::start();
    for client in CLIENTS {
        let c = short(client);
        let keep = format!("{c}-keep");
        let named = format!("{c}-named");
        d.ok(&["volume", "create", &named]);
        d.ok(&["volume", "create", "--label", "keep=1", &keep]);
        let anon = d.ok(&["volume", "create"]).trim().to_owned();
        let mountpoint = inspect(&d, &anon)["Mountpoint"]
            .as_str()
            .unwrap()
            .to_owned();
        fs_err::write(format!("{mountpoint}/f"), vec![0u8; 2000]).unwrap();

        // The prompt; "n" keeps everything.
        let o = run_with(&d, client, &["volume", "prune"], "n\n");
        let out = ok(&o, client);
        let warning = if client == DOCKER_20 {
            "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
        } else {
            "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
        };
        assert!(out.starts_with(warning), "{client}: {out}");
        assert_eq!(names(&d).len(), 3, "{client}");

        if client == DOCKER_20 {
            // API 1.41: every unused volume (but the label filter).
            let o = run(
                &d,
                client,
                &["volume", "prune", "-f", "--filter", "label!=keep"],
            );
            let out = ok(&o, client);
            let mut deleted: Vec<&str> = out
                .strip_prefix("Deleted Volumes:\n")
                .unwrap_or_else(|| panic!("{out}"))
                .split("\n\n")
                .next()
                .unwrap()
                .lines()
                .collect();
            deleted.sort();
            let mut want = vec![anon.as_str(), named.as_str()];
            want.sort();
            assert_eq!(deleted, want, "{out}");
            assert!(out.ends_with("\n\nTotal reclaimed space: 2kB\n"), "{out}");
        } else {
            // Only the anonymous one.
            let o = run(&d, client, &["volume", "prune", "-f"]);
            assert_eq!(
                ok(&o, client),
                format!("Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 2kB\n"),
                "{client}"
            );
            // -a: every unused one, but the label filter.
            let o = run_with(
                &d,
                client,
                &["volume", "prune", "-a", "--filter", "label!=keep"],
                "y\n",
            );
            assert_eq!(
                ok(&o, client),
                format!(
                    "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] Deleted Volumes:\n{named}\n\nTotal reclaimed space: 0B\n"
                ),
                "{client}"
            );
        }
        assert_eq!(names(&d), std::slice::from_ref(&keep), "{client}");
        let o = run(&d, client, &["volume", "prune", "-f"]);
        if client == DOCKER_20 {
            // Every unused volume, the labelled one too.
            assert_eq!(
                ok(&o, client),
                format!("Deleted Volumes:\n{keep}\n\nTotal reclaimed space: 0B\n")
            );
        } else {
            // Nothing anonymous left.
            assert_eq!(ok(&o, client), "Total reclaimed space: 0B\n", "{client}");
            d.ok(&["volume", "rm", &keep]);
        }
    }
}

#[test]
fn volumes_outlive_a_berthd_restart() {
    let mut d = Daemon::start();
    d.ok(&[
        "volume",
        "create",
        "--label",
        "a=b",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        "device=/nonexistent",
        "bound",
    ]);
    d.ok(&["volume", "create", "plain"]);
    let anon = d.ok(&["volume", "create"]).trim().to_owned();
    let before: Vec<Value> = ["bound", "plain", anon.as_str()]
        .iter()
        .map(|n| inspect(&d, n))
        .collect();
    let mountpoint = before[1]["Mountpoint"].as_str().unwrap().to_owned();
    fs_err::write(format!("{mountpoint}/kept"), b"data").unwrap();

    // A clean stop and a kill -9 both keep everything.
    let _ = nix::sys::signal::kill(d.pid(), nix::sys::signal::Signal::SIGTERM);
    let _ = d.child.wait();
    d.restart();
    d.kill9();
    d.restart();
    let after: Vec<Value> = ["bound", "plain", anon.as_str()]
        .iter()
        .map(|n| inspect(&d, n))
        .collect();
    assert_eq!(before, after);
    assert_eq!(fs_err::read(format!("{mountpoint}/kept")).unwrap(), b"data");
    let mut listed = names(&d);
    listed.sort();
    let mut want = vec!["bound".to_owned(), "plain".to_owned(), anon.clone()];
    want.sort();
    assert_eq!(listed, want);
    for client in CLIENTS {
        let o = run(&d, client, &["volume", "ls", "-q", "-f", "label=a=b"]);
        assert_eq!(ok(&o, client), "bound\n", "{client}");
    }
}

#[test]
fn volume_events_disk_usage_and_system_prune() {
    let d = Daemon::start();
    let since = unix_now().to_string();
    d.ok(&["volume", "create", "--label", "x=y", "sized"]);
    let mountpoint = inspect(&d, "sized")["Mountpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    fs_err::write(format!("{mountpoint}/f"), vec![0u8; 1500]).unwrap();
    fs_err::create_dir(format!("{mountpoint}/dir")).unwrap();
    fs_err::write(format!("{mountpoint}/dir/g"), vec![0u8; 500]).unwrap();
    // A volume with options: not counted, as dockerd does not.
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "ram",
    ]);

    // df: one local volume, unused, 2kB, all of it reclaimable.
    for client in CLIENTS {
        let o = run(&d, client, &["system", "df"]);
        let out = ok(&o, client);
        let row: Vec<&str> = out
            .lines()
            .find(|l| l.starts_with("Local Volumes"))
            .unwrap()
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(
            row,
            ["Local Volumes", "1", "0", "2kB", "2kB (100%)"],
            "{client}: {out}"
        );
    }
    for client in [DOCKER_28, BERTH] {
        let o = run(&d, client, &["system", "df", "-v"]);
        let out = ok(&o, client);
        assert!(
            out.contains("Local Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\nsized         0         2kB\n"),
            "{client}: {out}"
        );
    }
    let o = run(
        &d,
        DOCKER_28,
        &[
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}}",
        ],
    );
    assert!(ok(&o, "df --format").contains("Local Volumes 1 0 2kB\n"));

    // system prune --volumes: anonymous volumes only with docker 28 and
    // berth, every unused one with 20.10 (API 1.41).
    for client in [DOCKER_28, BERTH] {
        let anon = d.ok(&["volume", "create"]).trim().to_owned();
        let o = run(&d, client, &["system", "prune", "--volumes", "-f"]);
        let out = ok(&o, client);
        assert!(
            out.contains(&format!("Deleted Volumes:\n{anon}\n")),
            "{client}: {out}"
        );
        let mut left = names(&d);
        left.sort();
        assert_eq!(left, ["ram", "sized"], "{client}");
    }
    let o = run(&d, DOCKER_20, &["system", "prune", "--volumes", "-f"]);
    let out = ok(&o, "docker 20.10");
    assert!(out.contains("Deleted Volumes:\nsized\n"), "{out}");
    // The tmpfs volume has options: prune leaves it, as dockerd does.
    assert_eq!(names(&d), ["ram"]);
    d.ok(&["volume", "rm", "ram"]);

    // Events: create and destroy with the driver; one prune per prune.
    let until = (unix_now() + 1).to_string();
    let ev = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}",
    ]);
    let lines: Vec<&str> = ev.lines().collect();
    assert!(lines.contains(&"volume create sized local"), "{ev}");
    assert!(lines.contains(&"volume create ram local"), "{ev}");
    assert!(lines.contains(&"volume destroy sized local"), "{ev}");
    assert!(lines.contains(&"volume destroy ram local"), "{ev}");
    assert!(lines.iter().any(|l| l.starts_with("volume prune ")), "{ev}");
    let filtered = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "volume=ram",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(filtered, "create\ndestroy\n");
}
