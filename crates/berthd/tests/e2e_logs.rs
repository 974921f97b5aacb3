//! `logs` through the berth CLI and the real docker CLIs (28 and 20.10):
//! `--details` with the log options' attributes, `--since`/`--until`/
//! `--timestamps`/`--tail`, `--follow` across log rotation, logs of exited
//! containers, and `run` streaming its output as it comes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::clients::{CLIENTS, Client, DOCKER, command, describe, status, tag, text};
use common::{Daemon, Piped, import_busybox, until};

/// `args` through `client`; must succeed. Its stdout and stderr.
fn ok(d: &Daemon, client: Client, args: &[&str]) -> (String, String) {
    let out = client.1(d, args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        client.0,
        describe(&out)
    );
    (text(&out.stdout), text(&out.stderr))
}

fn wait_exited(d: &Daemon, name: &str) {
    until(&format!("{name} to exit"), || status(d, name) == "exited");
}

/// `2006-01-02T15:04:05.000000000Z` (always nine digits, UTC).
fn is_docker_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 30
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            29 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn details_show_the_log_options_attributes() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        let name = format!("det-{}", tag(client));
        // Created by the client under test: its --log-opt reach berthd.
        ok(
            &d,
            client,
            &[
                "run",
                "--name",
                &name,
                "-e",
                "APP_MODE=prod x",
                "-e",
                "APP_ZONE=eu",
                "-l",
                "team=core",
                "-l",
                "tier=front",
                "--log-opt",
                "labels=team,nosuch",
                "--log-opt",
                "env-regex=^APP_M",
                "--log-opt",
                "tag={{.Name}}/{{.ImageName}}",
                "busybox",
                "sh",
                "-c",
                "echo hello; echo oops >&2",
            ],
        );
        let want = format!("APP_MODE=prod+x,tag={name}%2Fbusybox,team=core ");
        for reader @ (rwho, _) in CLIENTS {
            let (out, err) = ok(&d, reader, &["logs", "--details", &name]);
            assert_eq!(out, format!("{want}hello\n"), "{rwho} reading {who}'s");
            assert_eq!(err, format!("{want}oops\n"), "{rwho} reading {who}'s");
            // The timestamp comes first, then the attributes.
            let (out, _) = ok(&d, reader, &["logs", "--details", "-t", &name]);
            let (stamp, rest) = out.split_once(' ').unwrap();
            assert!(is_docker_timestamp(stamp), "{rwho}: {out}");
            assert_eq!(rest, format!("{want}hello\n"), "{rwho}");
            // Without --details nothing changes.
            let (out, _) = ok(&d, reader, &["logs", &name]);
            assert_eq!(out, "hello\n", "{rwho}");
        }
        // On disk as dockerd's json-file driver writes it.
        let id = d.ok(&["inspect", "-f", "{{.Id}}", &name]);
        let id = id.trim();
        let file = d
            .data_root()
            .join("containers")
            .join(id)
            .join(format!("{id}-json.log"));
        let log = fs_err::read_to_string(&file).unwrap();
        assert!(
            log.contains(&format!(
                r#""stream":"stdout","attrs":{{"APP_MODE":"prod x","tag":"{name}/busybox","team":"core"}},"time":"#
            )),
            "{log}"
        );
    }
    // No attributes: --details prints the separating space alone.
    d.ok(&["run", "--name", "plain", "busybox", "echo", "hi"]);
    for reader @ (rwho, _) in CLIENTS {
        let (out, _) = ok(&d, reader, &["logs", "--details", "plain"]);
        assert_eq!(out, " hi\n", "{rwho}");
    }
    // A bad template or expression is refused at create, naming the option.
    for client @ (who, _) in CLIENTS {
        for opt in ["tag={{.Nope}}", "env-regex=("] {
            let out = client.1(&d, &["create", "--log-opt", opt, "busybox"]);
            assert!(!out.status.success(), "{who} {opt}: {}", describe(&out));
            let err = text(&out.stderr);
            let key = opt.split('=').next().unwrap();
            assert!(
                err.contains(&format!("invalid {key} log option")),
                "{who}: {err}"
            );
        }
    }
}

#[test]
fn since_until_timestamps_and_tail() {
    let d = Daemon::start();
    import_busybox(&d);
    // One second apart, so each line has a timestamp of its own.
    d.ok(&[
        "run",
        "--name",
        "times",
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1; echo two; sleep 1; echo three",
    ]);
    for client @ (who, _) in CLIENTS {
        let (out, _) = ok(&d, client, &["logs", "--timestamps", "times"]);
        let lines: Vec<(&str, &str)> = out.lines().map(|l| l.split_once(' ').unwrap()).collect();
        assert_eq!(
            lines.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
            ["one", "two", "three"],
            "{who}"
        );
        assert!(
            lines.iter().all(|(s, _)| is_docker_timestamp(s)),
            "{who}: {out}"
        );
        let two = lines[1].0;
        // Both bounds are inclusive, as dockerd's.
        let (out, _) = ok(&d, client, &["logs", "--since", two, "times"]);
        assert_eq!(out, "two\nthree\n", "{who} --since {two}");
        let (out, _) = ok(&d, client, &["logs", "--until", two, "times"]);
        assert_eq!(out, "one\ntwo\n", "{who} --until {two}");
        let (out, _) = ok(
            &d,
            client,
            &["logs", "--since", two, "--until", two, "times"],
        );
        assert_eq!(out, "two\n", "{who}");
        // Relative times: everything is newer than an hour ago.
        let (out, _) = ok(&d, client, &["logs", "--since", "1h", "times"]);
        assert_eq!(out, "one\ntwo\nthree\n", "{who}");
        let (out, _) = ok(&d, client, &["logs", "--until", "1h", "times"]);
        assert_eq!(out, "", "{who}");
        for tail in [["-n", "1"], ["--tail", "1"]] {
            let (out, _) = ok(&d, client, &["logs", tail[0], tail[1], "times"]);
            assert_eq!(out, "three\n", "{who} {tail:?}");
        }
        let (out, _) = ok(&d, client, &["logs", "--tail=2", "-t", "times"]);
        assert_eq!(
            out,
            format!("{} two\n{} three\n", lines[1].0, lines[2].0),
            "{who}"
        );
        // A bad time is refused before anything is read.
        let out = client.1(&d, &["logs", "--since", "yesterday", "times"]);
        assert!(!out.status.success(), "{who}: {}", describe(&out));
        assert!(
            text(&out.stderr).contains("yesterday"),
            "{who}: {}",
            describe(&out)
        );
    }
}

#[test]
fn logs_of_exited_containers() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        let name = format!("ex-{}", tag(client));
        let out = client.1(
            &d,
            &[
                "run",
                "--name",
                &name,
                "busybox",
                "sh",
                "-c",
                "echo out; echo err >&2; exit 3",
            ],
        );
        assert_eq!(out.status.code(), Some(3), "{who}: {}", describe(&out));
        wait_exited(&d, &name);
        for reader @ (rwho, _) in CLIENTS {
            // Streams stay apart; a follow of a stopped container ends.
            for args in [vec!["logs", &name], vec!["logs", "-f", &name]] {
                let (out, err) = ok(&d, reader, &args);
                assert_eq!(
                    (out.as_str(), err.as_str()),
                    ("out\n", "err\n"),
                    "{rwho} {args:?}"
                );
            }
        }
    }
    // With a terminal everything is one stream, with the terminal's \r\n.
    d.ok(&[
        "run",
        "-t",
        "--name",
        "ttyex",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    for reader @ (rwho, _) in CLIENTS {
        let (out, err) = ok(&d, reader, &["logs", "ttyex"]);
        assert_eq!(
            (out.as_str(), err.as_str()),
            ("out\r\nerr\r\n", ""),
            "{rwho}"
        );
    }
}

#[test]
fn follow_survives_log_rotation() {
    let d = Daemon::start();
    import_busybox(&d);
    // ~110 bytes a record: a rotation about every nine lines, paced so
    // the follower (which looks every 100 ms) sees every file.
    let script = "echo ready; read go; i=0; while [ $i -lt 100 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); sleep 0.05; done";
    for client @ (who, _) in CLIENTS {
        let name = format!("rot-{}", tag(client));
        d.ok(&[
            "run",
            "-d",
            "-i",
            "--name",
            &name,
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=5",
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        let mut follow = Piped::spawn(command(&d, client, &["logs", "-f", &name]));
        follow.expect("ready");
        // Start the lines: input through an attached client.
        let mut input = Piped::spawn(command(&d, DOCKER, &["attach", &name]));
        until("the container to get its go", || {
            input.send("go\n");
            std::thread::sleep(std::time::Duration::from_millis(300));
            follow.output().contains("line-0-")
        });
        assert_eq!(follow.wait().code(), Some(0), "{who}: {}", follow.output());
        let seen: Vec<String> = follow
            .output()
            .lines()
            .filter(|l| l.starts_with("line-"))
            .map(|l| l.split('-').nth(1).unwrap().to_owned())
            .collect();
        let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(seen, want, "{who}: every line once, in order");
        // The log did rotate meanwhile.
        let id = d.ok(&["inspect", "-f", "{{.Id}}", &name]);
        let id = id.trim();
        let dir = d.data_root().join("containers").join(id);
        assert!(
            dir.join(format!("{id}-json.log.4")).exists(),
            "{who}: no rotation"
        );
        input.wait();
    }
}

#[test]
fn run_streams_output_as_it_comes() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        for tty in [false, true] {
            let name = format!("live-{}-{tty}", tag(client));
            let mut args = vec!["run", "--name", &name];
            if tty {
                args.push("-t");
            }
            args.extend(["busybox", "sh", "-c", "echo first; exec sleep 1000"]);
            let mut run = Piped::spawn(command(&d, client, &args));
            // The first line arrives while the process still runs.
            run.expect("first");
            assert_eq!(status(&d, &name), "running", "{who}");
            assert!(run.child.try_wait().unwrap().is_none(), "{who}");
            d.ok(&["kill", &name]);
            assert_eq!(run.wait().code(), Some(137), "{who}: {}", run.output());
        }
    }
}
