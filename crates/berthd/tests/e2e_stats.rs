//! `GET /containers/{id}/stats` on this host's cgroup v1 (the v2 mapping
//! is tested on fixture directories in the engine and api-server), through
//! the API directly, the docker CLI 28 and 20.10, and `berth stats`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::clients::{BERTH, CLIENTS, DOCKER, command, ok};
use common::{Daemon, import_busybox};
use serde_json::Value;

/// `GET path` over HTTP/1.0 (a close-delimited body): status and body.
fn get(d: &Daemon, path: &str) -> (u16, String) {
    let mut s = UnixStream::connect(d.socket()).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: berth\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

fn get_json(d: &Daemon, path: &str) -> Value {
    let (status, body) = get(d, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// `stats ARGS` through docker 28, docker 20.10 and berth.
fn stats_all(d: &Daemon, args: &[&str]) -> Vec<(String, String)> {
    let mut full = vec!["stats"];
    full.extend_from_slice(args);
    CLIENTS
        .iter()
        .map(|&client| (client.0.to_owned(), ok(d, client, &full)))
        .collect()
}

fn machine_memory() -> u64 {
    let meminfo = fs_err::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

fn online_cpus() -> u64 {
    fs_err::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count() as u64
}

#[test]
fn stats_api_on_cgroup_v1() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    d.ok(&["create", "--name", "stopped", "busybox", "true"]);

    // stream=0: two samples, the first as precpu.
    let s = get_json(&d, "/containers/busy/stats?stream=0");
    assert_eq!(s["name"], "/busy");
    assert_eq!(s["id"].as_str().unwrap().len(), 64);
    assert_ne!(s["read"], "0001-01-01T00:00:00Z");
    assert_ne!(s["preread"], "0001-01-01T00:00:00Z");
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let total = cpu["cpu_usage"]["total_usage"].as_u64().unwrap();
    assert!(total > 0, "{s}");
    assert!(pre["cpu_usage"]["total_usage"].as_u64().unwrap() <= total);
    assert!(
        cpu["system_cpu_usage"].as_u64().unwrap() > pre["system_cpu_usage"].as_u64().unwrap(),
        "{s}"
    );
    assert_eq!(cpu["online_cpus"].as_u64().unwrap(), online_cpus());
    // v1: per-CPU usage, max_usage, the v1 memory.stat keys.
    assert_eq!(
        cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0) as u64,
        online_cpus(),
        "{s}"
    );
    let mem = &s["memory_stats"];
    assert!(mem["usage"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(mem["limit"].as_u64().unwrap(), machine_memory());
    assert!(mem["stats"]["total_inactive_file"].is_u64(), "{s}");
    assert!(mem["max_usage"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(
        s["pids_stats"]["current"], 1,
        "sh runs its loop itself: {s}"
    );
    assert!(s["blkio_stats"]["io_service_bytes_recursive"].is_array());
    assert_eq!(s["num_procs"], 0);
    assert_eq!(s["storage_stats"], serde_json::json!({}));
    // On the default bridge: its `eth0`, as docker reports it.
    assert!(s["networks"]["eth0"]["rx_bytes"].is_u64(), "{s}");

    // one-shot: one sample, no precpu.
    let s = get_json(&d, "/containers/busy/stats?stream=0&one-shot=1");
    assert_eq!(s["preread"], "0001-01-01T00:00:00Z");
    assert!(s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);

    // A container that is not running: name and id only.
    let s = get_json(&d, "/containers/stopped/stats?stream=0");
    assert_eq!(s["read"], "0001-01-01T00:00:00Z");
    assert_eq!(s["name"], "/stopped");
    assert_eq!(s["memory_stats"], serde_json::json!({}));

    // Streaming: a sample a second, each with the previous one's figures.
    let mut sock = UnixStream::connect(d.socket()).unwrap();
    write!(
        sock,
        "GET /containers/busy/stats HTTP/1.0\r\nHost: b\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(sock).lines().map_while(Result::ok);
    let samples: Vec<Value> = lines
        .by_ref()
        .skip_while(|l| !l.is_empty())
        .skip(1)
        .take(2)
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    assert_eq!(samples[0]["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(samples[1]["preread"], samples[0]["read"]);
    assert_eq!(
        samples[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        samples[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );

    // Errors.
    let (status, body) = get(&d, "/containers/nope/stats?stream=0");
    assert_eq!(status, 404);
    assert!(body.contains("No such container: nope"), "{body}");
    let (status, _) = get(&d, "/containers/busy/stats?stream=1&one-shot=1");
    assert_eq!(status, 400);
    d.ok(&["rm", "-f", "busy"]);
}

#[test]
fn stats_through_docker_and_berth_cli() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    d.ok(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"]);
    d.ok(&["create", "--name", "stopped", "busybox", "true"]);

    // The same header, and rows that agree where the figures are stable.
    let fmt = "{{.Name}}|{{.MemPerc}}|{{.NetIO}}|{{.PIDs}}";
    for (client, out) in stats_all(&d, &["--no-stream", "--format", fmt, "idle", "busy"]) {
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{client}: {out}");
        assert!(lines[0].starts_with("idle|"), "{client}: {out}");
        assert!(lines[1].starts_with("busy|"), "{client}: {out}");
        // NetIO: received / sent on the default bridge's eth0 (the kernel's
        // own IPv6 chatter counts, so not necessarily 0B / 0B).
        for line in &lines {
            let fields: Vec<&str> = line.split('|').collect();
            assert_eq!(fields.len(), 4, "{client}: {out}");
            assert!(
                fields[2].contains("B / ") && fields[2].ends_with('B'),
                "{client}: {out}"
            );
            assert_eq!(fields[3], "1", "{client}: {out}");
        }
    }
    // A busy loop uses CPU; every client computes it from the samples.
    for (client, out) in stats_all(&d, &["--no-stream", "--format", "{{.CPUPerc}}", "busy"]) {
        let pct: f64 = out.trim().trim_end_matches('%').parse().unwrap();
        assert!(pct > 1.0, "{client}: {out}");
    }
    // The memory limit of an unlimited container is the machine's.
    let limits: Vec<String> = stats_all(&d, &["--no-stream", "--format", "{{.MemUsage}}", "idle"])
        .into_iter()
        .map(|(_, o)| o.trim().split(" / ").nth(1).unwrap().to_owned())
        .collect();
    assert!(limits.iter().all(|l| *l == limits[0]), "{limits:?}");

    // Default table: docker's header; running containers only, or all.
    let tables = stats_all(&d, &["--no-stream"]);
    for (client, out) in &tables {
        let mut lines = out.lines();
        let header = lines.next().unwrap();
        let cols: Vec<&str> = header
            .split("  ")
            .filter(|c| !c.trim().is_empty())
            .collect();
        assert_eq!(
            cols.iter().map(|c| c.trim()).collect::<Vec<_>>(),
            [
                "CONTAINER ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "NET I/O",
                "BLOCK I/O",
                "PIDS"
            ],
            "{client}: {out}"
        );
        let names: Vec<&str> = lines
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(names, ["idle", "busy"], "{client}: {out}");
    }
    let stopped = stats_all(
        &d,
        &[
            "--no-stream",
            "-a",
            "--format",
            "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}",
        ],
    );
    for (client, out) in &stopped {
        assert!(
            out.lines()
                .any(|l| l == "stopped 0.00% 0B / 0B 0.00% 0B / 0B 0B / 0B 0"),
            "{client}: {out}"
        );
        assert_eq!(out.lines().count(), 3, "{client}: {out}");
    }
    // --no-trunc and json.
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "idle"]);
    for (client, out) in stats_all(
        &d,
        &["--no-stream", "--no-trunc", "--format", "{{.ID}}", "idle"],
    ) {
        assert_eq!(out.trim(), id.trim(), "{client}");
    }
    let json = ok(
        &d,
        BERTH,
        &["stats", "--no-stream", "--format", "json", "idle"],
    );
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], "idle");
    assert_eq!(v["Container"], "idle");
    assert_eq!(v["PIDs"], "1");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "BlockIO",
            "CPUPerc",
            "Container",
            "ID",
            "MemPerc",
            "MemUsage",
            "Name",
            "NetIO",
            "PIDs"
        ]
    );

    // Streaming: the table is redrawn with live figures.
    for client @ (who, _) in [BERTH, DOCKER] {
        let mut cmd = command(&d, client, &["stats", "busy"]);
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut screen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        // Three redraws that show the container with a CPU figure.
        loop {
            let text = String::from_utf8_lossy(&screen).into_owned();
            let draws = text
                .split("\x1b[H")
                .filter(|t| t.contains("busy") && t.contains('%') && !t.contains("--"))
                .count();
            if draws >= 3 {
                break;
            }
            assert!(Instant::now() < deadline, "{who}: {text}");
            if let Ok(chunk) = rx.recv_timeout(Duration::from_secs(1)) {
                screen.extend(chunk);
            }
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    }

    // A missing container: docker's error, exit 1.
    let out = d.berth(&["stats", "--no-stream", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error response from daemon: No such container: nope"
    );
    let out = d.docker(&["stats", "--no-stream", "nope"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such container: nope"),
        "{out:?}"
    );
    d.ok(&["rm", "-f", "busy", "idle"]);
}
