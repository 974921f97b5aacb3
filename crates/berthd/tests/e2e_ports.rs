//! Published ports (`-p`, `-P`, `--expose`) through the berth CLI and the
//! real docker 28 CLI: what inspect shows (`HostConfig.PortBindings`,
//! `Config.ExposedPorts`, `NetworkSettings.Ports`), `port` and the PORTS
//! column of `ps` (berth's output must equal docker 28's, which formats the
//! same API answers itself), random host ports from the kernel's ephemeral
//! range that are really held while the container runs and given back at
//! its stop, a host port in use failing the start with docker's message and
//! nothing held, and docker's parse errors (exit 125, nothing created).
//!
//! Host ports are checked by binding them from the test on 127.0.0.1: the
//! test contacts nothing but loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::Daemon;
use common::clients::{BERTH, DOCKER, fails, fails_saying, inspect, names, ok, text};
use common::net::{free_port, http_get};

/// Whether the host port is held by someone (a bind on 127.0.0.1 fails).
fn held(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err()
}

/// busybox (with httpd, wget and what the scripts use) as `img`, with
/// `EXPOSE 80/tcp 90/udp`.
fn import_image(d: &Daemon) {
    let applets = [
        "sh", "sleep", "echo", "cat", "httpd", "wget", "mkdir", "true", "ip",
    ];
    common::import_busybox_as(d, "img", &applets, &["EXPOSE 80/tcp 90/udp"]);
}

#[test]
fn published_ports_show_and_hold() {
    let d = Daemon::start();
    import_image(&d);
    let (lo, hi) = berth_net_range();
    let fixed = free_port();
    for (i, client) in [BERTH, DOCKER].into_iter().enumerate() {
        let name = format!("web{i}");
        let fixed = fixed + u16::try_from(i).unwrap();
        let publish_fixed = format!("{fixed}:80");
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "-p",
                &publish_fixed,
                "-p",
                "127.0.0.1::8000",
                "-p",
                "1234/udp",
                "--expose",
                "7000-7001",
                "img",
                "sleep",
                "60",
            ],
        );
        let bindings = inspect(&d, &name, "{{json .HostConfig.PortBindings}}");
        assert_eq!(
            bindings,
            format!(
                r#"{{"1234/udp":[{{"HostIp":"","HostPort":""}}],"80/tcp":[{{"HostIp":"","HostPort":"{fixed}"}}],"8000/tcp":[{{"HostIp":"127.0.0.1","HostPort":""}}]}}"#
            ),
            "{}",
            client.0
        );
        assert_eq!(
            inspect(&d, &name, "{{json .Config.ExposedPorts}}"),
            r#"{"1234/udp":{},"7000/tcp":{},"7001/tcp":{},"80/tcp":{},"8000/tcp":{},"90/udp":{}}"#
        );
        // The fixed port on 0.0.0.0 and ::, a random one on 127.0.0.1.
        let ports = inspect(&d, &name, "{{json .NetworkSettings.Ports}}");
        let v: serde_json::Value = serde_json::from_str(&ports).unwrap();
        assert_eq!(
            v["80/tcp"],
            serde_json::json!([
                {"HostIp": "0.0.0.0", "HostPort": fixed.to_string()},
                {"HostIp": "::", "HostPort": fixed.to_string()},
            ]),
            "{ports}"
        );
        assert!(v["90/udp"].is_null() && v["7000/tcp"].is_null(), "{ports}");
        let random: u16 = v["8000/tcp"][0]["HostPort"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(v["8000/tcp"][0]["HostIp"], "127.0.0.1");
        assert!((lo..=hi).contains(&random), "{random} not in {lo}-{hi}");
        assert!(held(fixed) && held(random), "ports not held: {ports}");
        let udp: u16 = v["1234/udp"][0]["HostPort"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(std::net::UdpSocket::bind(("0.0.0.0", udp)).is_err());

        // `port` and the PORTS column: berth prints what docker 28 prints.
        for args in [
            vec!["port", name.as_str()],
            vec!["port", name.as_str(), "80"],
            vec!["port", name.as_str(), "8000/tcp"],
            vec![
                "ps",
                "--filter",
                &format!("name={name}"),
                "--format",
                "{{.Ports}}",
            ],
        ] {
            let want = ok(&d, DOCKER, &args);
            assert_eq!(ok(&d, BERTH, &args), want, "{args:?}");
        }
        let all = ok(&d, BERTH, &["port", &name]);
        assert!(
            all.contains(&format!(
                "80/tcp -> 0.0.0.0:{fixed}\n80/tcp -> [::]:{fixed}\n"
            )),
            "{all}"
        );
        let (code, err) = fails(&d, BERTH, &["port", &name, "90/udp"]);
        assert_eq!(code, 1);
        assert_eq!(
            err.trim(),
            format!("Error: No public port '90/udp' published for {name}")
        );

        // Stopped: nothing held, nothing shown.
        ok(&d, client, &["stop", "-t", "0", &name]);
        assert!(!held(fixed) && !held(random));
        assert_eq!(inspect(&d, &name, "{{json .NetworkSettings.Ports}}"), "{}");
        ok(&d, client, &["rm", &name]);
    }
}

/// `-P`: every exposed port (the image's and `--expose`) on a random port.
#[test]
fn publish_all_and_ranges() {
    let d = Daemon::start();
    import_image(&d);
    let base = free_port().max(20000);
    let range = format!("{base}-{}:9000-9002", base + 2);
    for client in [BERTH, DOCKER] {
        ok(
            &d,
            client,
            &[
                "run", "-d", "--name", "all", "-P", "--expose", "5000", "-p", &range, "img",
                "sleep", "60",
            ],
        );
        let ports = inspect(&d, "all", "{{json .NetworkSettings.Ports}}");
        let v: serde_json::Value = serde_json::from_str(&ports).unwrap();
        for key in ["80/tcp", "90/udp", "5000/tcp"] {
            assert_eq!(v[key].as_array().map(Vec::len), Some(2), "{key}: {ports}");
        }
        for (i, key) in ["9000/tcp", "9001/tcp", "9002/tcp"].iter().enumerate() {
            assert_eq!(
                v[key][0]["HostPort"],
                (base + u16::try_from(i).unwrap()).to_string(),
                "{ports}"
            );
        }
        let args = ["ps", "--format", "{{.Ports}}"];
        let want = ok(&d, DOCKER, &args);
        assert_eq!(ok(&d, BERTH, &args), want);
        assert!(
            want.contains(&format!("0.0.0.0:{base}-{}->9000-9002/tcp", base + 2))
                || want.contains(&format!("0.0.0.0:{base}->9000/tcp")),
            "{want}"
        );
        ok(&d, client, &["rm", "-f", "all"]);
        assert!(!held(base));
    }
}

/// A host port in use: the start fails with docker's message, nothing is
/// held and the container is not running; a second container on a port a
/// first one holds gets "port is already allocated".
#[test]
fn ports_in_use() {
    let d = Daemon::start();
    import_image(&d);
    let squatter = TcpListener::bind("0.0.0.0:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let spare = free_port();
    for client in [BERTH, DOCKER] {
        let publish = [format!("{spare}:81"), format!("{taken}:80")];
        let (code, err) = fails(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                "busy",
                "-p",
                &publish[0],
                "-p",
                &publish[1],
                "img",
                "sleep",
                "60",
            ],
        );
        assert_eq!(code, 125, "{err}");
        assert!(
            err.contains("driver failed programming external connectivity on endpoint busy")
                && err.contains(&format!(
                    "failed to bind host port for 0.0.0.0:{taken}/tcp: address already in use"
                )),
            "{err}"
        );
        // The other port was given back: all or nothing.
        assert!(!held(spare));
        assert_eq!(inspect(&d, "busy", "{{.State.Running}}"), "false");
        ok(&d, client, &["rm", "busy"]);
    }
    drop(squatter);

    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "first",
            "-p",
            &format!("{spare}:80"),
            "img",
            "sleep",
            "60",
        ],
    );
    for client in [BERTH, DOCKER] {
        let publish = format!("{spare}:80");
        let args = [
            "run", "-d", "--name", "second", "-p", &publish, "img", "sleep", "60",
        ];
        let message = format!("Bind for 0.0.0.0:{spare} failed: port is already allocated");
        fails_saying(&d, client, &args, 125, &message);
        ok(&d, client, &["rm", "second"]);
    }
    ok(&d, DOCKER, &["rm", "-f", "first"]);
    assert!(!held(spare));
}

/// Bad `-p`/`--expose` values: docker's message, exit 125, nothing created.
#[test]
fn bad_publish_values() {
    let d = Daemon::start();
    import_image(&d);
    let cases = [
        ("-p", "abc:80", "invalid hostPort: abc"),
        ("-p", "8080:abc", "invalid containerPort: abc"),
        ("-p", "8080:80/xyz", "invalid proto: xyz"),
        ("-p", "1.2.3:8080:80", "invalid IP address: 1.2.3"),
        (
            "-p",
            "9000-9002:80-81",
            "invalid ranges specified for container and host Ports: 80-81 and 9000-9002",
        ),
        ("-p", "70000:80", "invalid hostPort: 70000"),
        ("--expose", "1:2", "invalid port format for --expose: 1:2"),
    ];
    for client in [BERTH, DOCKER] {
        for (flag, value, message) in cases {
            fails_saying(
                &d,
                client,
                &["run", "-d", flag, value, "img", "true"],
                125,
                message,
            );
        }
    }
    assert!(names(&d).is_empty(), "{:?}", names(&d));
}

/// The kernel's ephemeral range, where random host ports come from.
fn berth_net_range() -> (u16, u16) {
    let text = fs_err::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let mut it = text.split_whitespace().map(|s| s.parse::<u16>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// One quick try: whether anything answers on `addr`.
fn answers(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port)
}

/// The rules of berth's table that name container `id` (by comment).
fn rules_of(d: &Daemon, id: &str) -> Vec<String> {
    let out = Command::new("nft")
        .args(["list", "table", "inet", &d.net.table])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(id))
        .map(|l| l.trim().to_owned())
        .collect()
}

const SERVE: &str = "mkdir -p /www && echo hello-from-web > /www/index.html && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www";

/// Published ports carry traffic: from the host to 127.0.0.1 (IPv4 by
/// DNAT, `::1` through the IPv6 proxy) and to the host's address on the
/// bridge; a random and a fixed port; the rules go at stop, come back with a
/// restarted daemon, and a start that fails on a port in use leaves no
/// rule, veth or namespace behind.
#[test]
fn published_ports_carry_traffic() {
    let mut d = Daemon::start();
    import_image(&d);
    let gateway = d.net.gateway();
    for (i, client) in [BERTH, DOCKER].into_iter().enumerate() {
        let name = format!("web{i}");
        let fixed = free_port();
        let publish = format!("{fixed}:80");
        ok(
            &d,
            client,
            &[
                "run", "-d", "--name", &name, "-p", &publish, "-p", "81", "img", "sh", "-c", SERVE,
            ],
        );
        let id = inspect(&d, &name, "{{.Id}}");
        let random: u16 = ok(&d, client, &["port", &name, "81"])
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .unwrap()
            .parse()
            .unwrap();
        for addr in [
            at("127.0.0.1", fixed),
            at("127.0.0.1", random),
            at(&gateway, fixed),
            at(&gateway, random),
            at("::1", fixed),
        ] {
            assert_eq!(
                http_get(addr).unwrap_or_else(|e| panic!(
                    "{} {addr}: {e}\nberthd log:\n{}",
                    client.0,
                    d.log()
                )),
                "hello-from-web\n",
                "{addr}"
            );
        }
        // Hairpin (the container to its own published port through the
        // host's address) is routed traffic: it needs forwarding, which the
        // test daemons leave off (`--ip-forward=false`, the host's setting
        // is not the tests' to change). crates/net/tests/ports.rs checks it
        // in a network namespace of its own with forwarding on.
        assert!(!rules_of(&d, &id).is_empty());

        // A daemon restart keeps the container, its ports and its rules.
        if i == 0 {
            d.kill9();
            d.restart();
            let table = Command::new("nft")
                .args(["list", "table", "inet", &d.net.table])
                .output()
                .unwrap();
            assert_eq!(
                http_get(at("127.0.0.1", fixed)).unwrap_or_else(|e| panic!(
                    "after a restart: {e}\n{}\nberthd log:\n{}",
                    text(&table.stdout),
                    d.log()
                )),
                "hello-from-web\n"
            );
            assert!(held(fixed));
        }

        ok(&d, client, &["stop", "-t", "0", &name]);
        assert!(rules_of(&d, &id).is_empty(), "{:?}", rules_of(&d, &id));
        assert!(!answers(at("127.0.0.1", fixed)) && !held(fixed));
        ok(&d, client, &["rm", &name]);
    }

    // A port in use: the start fails and leaves nothing.
    let squatter = TcpListener::bind("0.0.0.0:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    for client in [BERTH, DOCKER] {
        let publish = format!("{taken}:80");
        let (code, err) = fails(
            &d,
            client,
            &[
                "run", "-d", "--name", "busy", "-p", &publish, "img", "sh", "-c", SERVE,
            ],
        );
        assert_eq!(code, 125, "{err}");
        let id = inspect(&d, "busy", "{{.Id}}");
        assert!(rules_of(&d, &id).is_empty());
        assert!(
            d.net.bridge_ports().is_empty(),
            "{:?}",
            d.net.bridge_ports()
        );
        let netns: Vec<_> = fs_err::read_dir(d.exec_root().join("netns"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(netns.is_empty(), "{netns:?}");
        ok(&d, client, &["rm", "busy"]);
    }
}
