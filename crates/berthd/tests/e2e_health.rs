//! Health checks end to end, through the docker CLI 28 and 20.10 and the
//! berth CLI: `--health-cmd`/`--health-interval`/`--health-retries`/
//! `--health-timeout`/`--health-start-period`, `--no-healthcheck`, an
//! image's `HEALTHCHECK`; the status in `ps` (`Up ... (healthy)`) and in
//! inspect (`State.Health` with its log), the `health` filter, checks
//! stopping with the container and resuming after berthd restarts, and bad
//! input (root only: containers need mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::api::request;
use common::clients::{BERTH, CLIENTS, Client, DOCKER, DOCKER20, ok, tag, text};
use common::{Daemon, import_busybox};

/// `GET path` on the API socket: the JSON body.
fn get(d: &Daemon, path: &str) -> serde_json::Value {
    let (status, body) = request(d, "GET", path, "");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn health(d: &Daemon, name: &str) -> serde_json::Value {
    get(d, &format!("/containers/{name}/json"))["State"]["Health"].clone()
}

/// Waits (up to 90 s) until the container's health status is `want`.
fn wait_status(d: &Daemon, name: &str, want: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let h = health(d, name);
        if h["Status"] == want {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became {want}: {h}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The STATUS column `ps` shows for `name` through `cli`.
fn ps_status(cli: Client, d: &Daemon, name: &str) -> String {
    let filter = format!("name=^{name}$");
    ok(
        d,
        cli,
        &["ps", "-a", "-f", &filter, "--format", "{{.Status}}"],
    )
    .trim()
    .to_owned()
}

fn ps_names(cli: Client, d: &Daemon, filter: &str) -> Vec<String> {
    let mut names: Vec<String> = ok(
        d,
        cli,
        &["ps", "-a", "-f", filter, "--format", "{{.Names}}"],
    )
    .lines()
    .map(str::to_owned)
    .collect();
    names.sort();
    names
}

/// `hc`: busybox with a `HEALTHCHECK CMD-SHELL test -e /ok` every second,
/// loaded from a docker-archive written here.
fn load_healthcheck_image(d: &Daemon) {
    let root = d.dir.path().join("hcroot");
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "sleep", "test", "touch"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let archive = d.dir.path().join("hcarchive");
    fs_err::create_dir_all(&archive).unwrap();
    common::tar_dir(&root, &archive.join("layer.tar"));
    let sha = |path: &std::path::Path| {
        let out = Command::new("sha256sum").arg(path).output().unwrap();
        assert!(out.status.success(), "sha256sum (coreutils) is needed");
        text(&out.stdout).split(' ').next().unwrap().to_owned()
    };
    let diff_id = sha(&archive.join("layer.tar"));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["sleep", "1000"],
            "Healthcheck": {
                "Test": ["CMD-SHELL", "test -e /ok"],
                "Interval": 1_000_000_000,
                "Retries": 2,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    });
    let config_path = archive.join("config.json");
    fs_err::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let config_name = format!("{}.json", sha(&config_path));
    fs_err::rename(&config_path, archive.join(&config_name)).unwrap();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": ["hc:latest"],
        "Layers": ["layer.tar"],
    }]);
    fs_err::write(
        archive.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let tar = d.dir.path().join("hc.tar");
    common::tar_dir(&archive, &tar);
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
}

#[test]
fn health_transitions_in_ps_and_inspect_through_every_client() {
    let d = Daemon::start();
    import_busybox(&d);
    let names: Vec<String> = CLIENTS.iter().map(|c| format!("hc-{}", tag(*c))).collect();
    for (&cli, name) in CLIENTS.iter().zip(&names) {
        ok(
            &d,
            cli,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--health-cmd",
                "cat /ok",
                "--health-interval",
                "2s",
                "--health-retries",
                "2",
                "busybox",
                "sleep",
                "1000",
            ],
        );
    }
    for (&cli @ (who, _), name) in CLIENTS.iter().zip(&names) {
        // The merged config is the container's `Config.Healthcheck`.
        let c = get(&d, &format!("/containers/{name}/json"));
        assert_eq!(
            c["Config"]["Healthcheck"],
            serde_json::json!({"Test": ["CMD-SHELL", "cat /ok"], "Interval": 2_000_000_000u64, "Retries": 2}),
            "{who}"
        );
        // Failing twice in a row: unhealthy, with the output in the log.
        let h = wait_status(&d, name, "unhealthy");
        assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
        let log = h["Log"].as_array().unwrap();
        assert!(!log.is_empty() && log.len() <= 5, "{h}");
        assert_eq!(log[0]["ExitCode"], 1, "{h}");
        assert!(
            log[0]["Output"].as_str().unwrap().contains("/ok"),
            "the check's stderr is its output: {h}"
        );
        assert!(ps_status(cli, &d, name).ends_with("(unhealthy)"), "{who}");
    }
    // Starting: a container whose checks all run later.
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "slow",
            "--health-cmd",
            "true",
            "--health-interval",
            "1h",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    for cli @ (who, _) in CLIENTS {
        assert!(
            ps_status(cli, &d, "slow").ends_with("(health: starting)"),
            "{who}: {}",
            ps_status(cli, &d, "slow")
        );
        assert_eq!(ps_names(cli, &d, "health=starting"), ["slow"], "{who}");
    }
    assert_eq!(health(&d, "slow")["Status"], "starting");
    // The check passes: healthy, the streak is reset.
    for name in &names {
        ok(&d, BERTH, &["exec", name, "sh", "-c", "echo fine > /ok"]);
    }
    for (&cli @ (who, _), name) in CLIENTS.iter().zip(&names) {
        let h = wait_status(&d, name, "healthy");
        assert_eq!(h["FailingStreak"], 0, "{h}");
        let last = h["Log"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["ExitCode"], 0, "{h}");
        assert_eq!(last["Output"], "fine\n", "{h}");
        assert!(!last["Start"].as_str().unwrap().is_empty());
        assert!(!last["End"].as_str().unwrap().is_empty());
        let status = ps_status(cli, &d, name);
        assert!(
            status.starts_with("Up ") && status.ends_with(" (healthy)"),
            "{who}: {status}"
        );
    }
    // The health filter, through every client.
    for cli @ (who, _) in CLIENTS {
        assert_eq!(
            ps_names(cli, &d, "health=healthy"),
            names_sorted(&names),
            "{who}"
        );
        assert!(ps_names(cli, &d, "health=unhealthy").is_empty(), "{who}");
    }
    // The log keeps the last 5 results.
    let deadline = Instant::now() + Duration::from_secs(90);
    while health(&d, &names[0])["Log"].as_array().unwrap().len() < 5 {
        assert!(Instant::now() < deadline, "the log never filled");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(health(&d, &names[0])["Log"].as_array().unwrap().len(), 5);
    // Stopped: checks stop, the status reads unhealthy (as dockerd).
    d.ok(&["stop", "-t", "0", &names[0]]);
    let h = health(&d, &names[0]);
    assert_eq!(h["Status"], "unhealthy", "{h}");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        health(&d, &names[0])["Log"],
        h["Log"],
        "no checks after the stop"
    );
    for cli @ (who, _) in CLIENTS {
        assert!(
            ps_status(cli, &d, &names[0]).starts_with("Exited (137)"),
            "{who}"
        );
    }
}

fn names_sorted(names: &[String]) -> Vec<String> {
    let mut n = names.to_vec();
    n.sort();
    n
}

#[test]
fn health_timeouts_image_checks_and_berthd_restarts() {
    let mut d = Daemon::start();
    import_busybox(&d);
    load_healthcheck_image(&d);
    // A check that outlives --health-timeout is killed and fails (-1).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hung",
        "--health-cmd",
        "echo started; sleep 30",
        "--health-timeout",
        "500ms",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let h = wait_status(&d, "hung", "unhealthy");
    let first = &h["Log"][0];
    assert_eq!(first["ExitCode"], -1, "{h}");
    assert_eq!(
        first["Output"], "Health check exceeded timeout (500ms): started\n",
        "{h}"
    );
    // Failures within --health-start-period do not count.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "grace",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "--health-start-period",
        "1h",
        "busybox",
        "sleep",
        "1000",
    ]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while health(&d, "grace")["Log"].as_array().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no checks ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    let h = health(&d, "grace");
    assert_eq!(
        (h["Status"].as_str(), h["FailingStreak"].as_i64()),
        (Some("starting"), Some(0)),
        "{h}"
    );
    // The image's HEALTHCHECK, also when the user changes only its timing.
    d.ok(&["run", "-d", "--name", "img", "hc"]);
    ok(
        &d,
        DOCKER20,
        &["run", "-d", "--name", "img2", "--health-retries", "5", "hc"],
    );
    let c = get(&d, "/containers/img2/json");
    assert_eq!(
        c["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "test -e /ok"], "Interval": 1_000_000_000u64, "Retries": 5})
    );
    wait_status(&d, "img", "unhealthy");
    d.ok(&["exec", "img", "touch", "/ok"]);
    wait_status(&d, "img", "healthy");
    // --no-healthcheck turns the image's off.
    for cli @ (who, _) in CLIENTS {
        let name = format!("off-{}", tag(cli));
        ok(
            &d,
            cli,
            &["run", "-d", "--name", &name, "--no-healthcheck", "hc"],
        );
        let c = get(&d, &format!("/containers/{name}/json"));
        // As dockerd's merge: the timing still comes from the image.
        assert_eq!(
            c["Config"]["Healthcheck"]["Test"],
            serde_json::json!(["NONE"])
        );
        assert!(c["State"]["Health"].is_null(), "{c}");
        assert_eq!(ps_status(cli, &d, &name).matches('(').count(), 0, "{who}");
        assert!(ps_names(cli, &d, "health=none").contains(&name), "{who}");
    }
    // berthd restarts (kill -9): checks resume for running containers.
    let before = health(&d, "img")["Log"].as_array().unwrap().last().unwrap()["Start"].clone();
    d.kill9();
    d.restart();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let h = health(&d, "img");
        let last = h["Log"].as_array().unwrap().last().unwrap()["Start"].clone();
        if last != before && h["Status"] == "healthy" {
            break;
        }
        assert!(Instant::now() < deadline, "checks did not resume: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ps_status(DOCKER, &d, "img").ends_with("(healthy)"));
    d.ok(&["stop", "-t", "0", "img"]);
    assert_eq!(health(&d, "img")["Status"], "unhealthy");
}

#[test]
fn health_bad_input_is_refused_as_docker() {
    let d = Daemon::start();
    import_busybox(&d);
    for cli @ (who, _) in CLIENTS {
        for (args, message) in [
            (
                &["--health-interval", "soon"][..],
                "invalid argument \"soon\" for \"--health-interval\" flag",
            ),
            (
                &["--health-timeout", "-1s"][..],
                "--health-timeout cannot be negative",
            ),
            (
                &["--health-retries", "-1"][..],
                "--health-retries cannot be negative",
            ),
            (
                &["--no-healthcheck", "--health-cmd", "true"][..],
                "--no-healthcheck conflicts with --health-* options",
            ),
        ] {
            let mut all = vec!["run", "-d", "--name", "bad"];
            all.extend_from_slice(args);
            all.extend_from_slice(&["busybox", "true"]);
            let out = cli.1(&d, &all);
            assert_eq!(
                out.status.code(),
                Some(125),
                "{who} {args:?}: {}",
                text(&out.stderr)
            );
            assert!(
                text(&out.stderr).contains(message),
                "{who} {args:?}: {}",
                text(&out.stderr)
            );
        }
        let out = cli.1(&d, &["ps", "-f", "health=bogus"]);
        assert!(!out.status.success(), "{who}");
        assert!(
            text(&out.stderr).contains("Unrecognised filter value for health: bogus"),
            "{who}: {}",
            text(&out.stderr)
        );
    }
    // Nothing was created.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // The daemon's own checks (dockerd's validateHealthCheck).
    for (hc, message) in [
        (
            r#"{"Test":["CMD","true"],"Interval":10}"#,
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            r#"{"Test":["CMD","true"],"Timeout":5}"#,
            "Timeout in Healthcheck cannot be less than 1ms",
        ),
        (
            r#"{"Test":["CMD","true"],"Retries":-2}"#,
            "Retries in Healthcheck cannot be negative",
        ),
    ] {
        let body = format!(r#"{{"Image":"busybox","Cmd":["true"],"Healthcheck":{hc}}}"#);
        let (status, answer) = request(&d, "POST", "/containers/create", &body);
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains(message), "{answer}");
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_running_probe_is_one_of_the_containers_execs() {
    // As dockerd: while a probe runs it is in `ExecIDs` and inspectable
    // through `/exec/{id}/json`; once done it is gone from both.
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "probed",
        "--health-cmd",
        "sleep 2",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "1000",
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let c = get(&d, "/containers/probed/json");
        if let Some(id) = c["ExecIDs"].as_array().and_then(|a| a.first()) {
            break id.as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no probe in ExecIDs: {c}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (status, body) = request(&d, "GET", &format!("/exec/{id}/json"), "");
    // It may have ended right then; if it is still known, it is the probe.
    if status == 200 {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ProcessConfig"]["entrypoint"], "/bin/sh", "{v}");
        assert_eq!(
            v["ProcessConfig"]["arguments"],
            serde_json::json!(["-c", "sleep 2"]),
            "{v}"
        );
    } else {
        assert_eq!(status, 404, "{body}");
    }
    // A finished probe is forgotten: never listed once its result is in.
    wait_status(&d, "probed", "healthy");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = request(&d, "GET", &format!("/exec/{id}/json"), "");
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the probe {id} stayed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ids = get(&d, "/containers/probed/json")["ExecIDs"].clone();
    assert!(
        !ids.as_array()
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(id.as_str()))),
        "{ids}"
    );
    d.ok(&["rm", "-f", "probed"]);
}
