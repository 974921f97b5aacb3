//! MAC addresses of container interfaces as docker 28 has them, end to end
//! (root only), through the real docker 28 CLI, docker 20.10 and `berth`:
//! - `run --mac-address M` (the first network), `--network
//!   name=NET,mac-address=M`, and `network connect` with the API's
//!   `EndpointConfig.MacAddress`: the container's interface has M, and
//!   inspect shows it (`NetworkSettings.Networks.X.MacAddress`, the default
//!   bridge's top-level `NetworkSettings.MacAddress`, `Config.MacAddress`,
//!   `network inspect`'s `Containers`);
//! - a chosen MAC stays across container restarts and berthd restarts; one
//!   nobody chose is random (unicast, locally administered) and made anew
//!   at each start, as docker 28;
//! - refusals: `--mac-address` with `--network host`, `none` or
//!   `container:X` (dockerd's "conflicting options: mac-address and the
//!   network mode"), a malformed MAC (the docker CLI's message, and
//!   dockerd's through the API), a multicast MAC; nothing is left made.
//!
//! Subnets: the daemon's `10.214.<x>.0/27`s; no traffic leaves the host's
//! loopback (the test reads addresses, it sends nothing).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::process::Command;

use common::Daemon;
use common::api::request;
use common::clients::{BERTH, Client, DOCKER, DOCKER20, fails_saying, inspect, names, ok, text};
use common::net::create_network;

/// busybox with `sh`, `sleep`, `cat` and `ip`, as `busybox`.
fn import_busybox(d: &Daemon) {
    common::import_busybox_as(d, "busybox", &["sh", "sleep", "cat", "ip"], &[]);
}

/// The MAC address of `ifname` inside container `name`.
fn mac_inside(d: &Daemon, name: &str, ifname: &str) -> String {
    let path = format!("/sys/class/net/{ifname}/address");
    ok(d, DOCKER, &["exec", name, "cat", &path])
        .trim()
        .to_owned()
}

/// A random MAC as docker 28 makes them: unicast, locally administered.
fn assert_generated(mac: &str) {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    assert_eq!(bytes.len(), 6, "{mac}");
    assert_eq!(bytes[0] & 0x03, 0x02, "{mac} is not unicast and local");
}

/// `run -d --name NAME FLAGS... busybox sleep 600` with `client`.
fn run_sleeper(d: &Daemon, client: Client, name: &str, flags: &[&str]) {
    let args = [
        &["run", "-d", "--name", name],
        flags,
        &["busybox", "sleep", "600"],
    ]
    .concat();
    ok(d, client, &args);
}

#[test]
fn chosen_macs_are_set_shown_and_kept() {
    let mut d = Daemon::start();
    import_busybox(&d);
    create_network(&d, DOCKER, "macnet", 0, &[]);
    let clients: [(Client, &str); 2] = [(DOCKER, "d"), (BERTH, "b")];
    for (i, (client, tag)) in clients.iter().enumerate() {
        // `--mac-address` on the default bridge.
        let mac = format!("02:42:be:00:00:0{i}");
        let name = format!("bri-{tag}");
        run_sleeper(&d, *client, &name, &["--mac-address", &mac]);
        assert_eq!(mac_inside(&d, &name, "eth0"), mac, "{}", client.0);
        let shown = inspect(
            &d,
            &name,
            "{{.NetworkSettings.Networks.bridge.MacAddress}} {{.NetworkSettings.MacAddress}} {{.Config.MacAddress}}",
        );
        assert_eq!(shown, format!("{mac} {mac} {mac}"), "{}", client.0);
        // The long form on a user network, in another spelling.
        let mac = format!("02:42:BE:00:01:0{i}");
        let lower = mac.to_ascii_lowercase();
        let name = format!("usr-{tag}");
        let net = format!("name=macnet,mac-address={mac}");
        run_sleeper(&d, *client, &name, &["--network", &net]);
        assert_eq!(mac_inside(&d, &name, "eth0"), lower, "{}", client.0);
        let shown = inspect(&d, &name, "{{.NetworkSettings.Networks.macnet.MacAddress}}");
        assert_eq!(shown, lower, "{}", client.0);
        let format = format!(
            "{{{{range .Containers}}}}{{{{if eq .Name \"{name}\"}}}}{{{{.MacAddress}}}}{{{{end}}}}{{{{end}}}}"
        );
        let listed = ok(
            &d,
            DOCKER,
            &["network", "inspect", "--format", &format, "macnet"],
        );
        assert_eq!(listed.trim(), lower, "{}", client.0);
    }
    // docker 20.10 sends `--mac-address` as the container-wide
    // `Config.MacAddress` (API 1.41).
    let mac = "02:42:be:00:00:20";
    run_sleeper(&d, DOCKER20, "old", &["--mac-address", mac]);
    assert_eq!(mac_inside(&d, "old", "eth0"), mac);
    let shown = ok(
        &d,
        DOCKER20,
        &[
            "inspect",
            "--format",
            "{{.Config.MacAddress}} {{.NetworkSettings.MacAddress}}",
            "old",
        ],
    );
    assert_eq!(shown.trim(), format!("{mac} {mac}"));

    // No MAC asked for: a random one, made anew at each start; the
    // container-wide field stays empty.
    run_sleeper(&d, DOCKER, "rnd", &[]);
    let first = mac_inside(&d, "rnd", "eth0");
    assert_generated(&first);
    assert_eq!(inspect(&d, "rnd", "{{.NetworkSettings.MacAddress}}"), first);
    assert_eq!(inspect(&d, "rnd", "{{.Config.MacAddress}}"), "");
    ok(&d, DOCKER, &["restart", "-t", "0", "rnd"]);
    let second = mac_inside(&d, "rnd", "eth0");
    assert_generated(&second);
    assert_ne!(first, second, "docker 28 makes a new MAC at each start");

    // `network connect` with EndpointConfig.MacAddress, through the API
    // (the docker CLI has no flag for it): on the running container now.
    let (code, body) = request(
        &d,
        "POST",
        "/v1.50/networks/macnet/connect",
        r#"{"Container":"bri-d","EndpointConfig":{"MacAddress":"02:42:be:00:02:01"}}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(mac_inside(&d, "bri-d", "eth1"), "02:42:be:00:02:01");
    // And on a stopped one: at its next start.
    ok(
        &d,
        DOCKER,
        &["create", "--name", "later", "busybox", "sleep", "600"],
    );
    let (code, body) = request(
        &d,
        "POST",
        "/networks/macnet/connect",
        r#"{"Container":"later","EndpointConfig":{"MacAddress":"02:42:be:00:02:02"}}"#,
    );
    assert_eq!(code, 200, "{body}");
    ok(&d, DOCKER, &["start", "later"]);
    assert_eq!(mac_inside(&d, "later", "eth1"), "02:42:be:00:02:02");
    assert_eq!(
        inspect(
            &d,
            "later",
            "{{.NetworkSettings.Networks.macnet.MacAddress}}"
        ),
        "02:42:be:00:02:02"
    );

    // berthd restarts: running containers keep their MACs (chosen or not),
    // and a chosen one is chosen again at the next start.
    d.restart();
    assert_eq!(mac_inside(&d, "bri-b", "eth0"), "02:42:be:00:00:01");
    assert_eq!(mac_inside(&d, "rnd", "eth0"), second);
    assert_eq!(
        inspect(&d, "rnd", "{{.NetworkSettings.MacAddress}}"),
        second
    );
    for name in ["bri-d", "usr-b", "old"] {
        ok(&d, DOCKER, &["restart", "-t", "0", name]);
    }
    assert_eq!(mac_inside(&d, "bri-d", "eth0"), "02:42:be:00:00:00");
    assert_eq!(mac_inside(&d, "bri-d", "eth1"), "02:42:be:00:02:01");
    assert_eq!(mac_inside(&d, "usr-b", "eth0"), "02:42:be:00:01:01");
    assert_eq!(mac_inside(&d, "old", "eth0"), "02:42:be:00:00:20");
    assert_eq!(
        inspect(&d, "bri-d", "{{.Config.MacAddress}}"),
        "02:42:be:00:00:00"
    );
}

#[test]
fn macs_are_refused_where_docker_refuses_them() {
    let d = Daemon::start();
    import_busybox(&d);
    run_sleeper(&d, DOCKER, "base", &[]);
    let before = names(&d);
    let conflict = "conflicting options: mac-address and the network mode";
    for client in [DOCKER, BERTH, DOCKER20] {
        for mode in ["host", "none", "container:base"] {
            let args = [
                "run",
                "--rm",
                "--network",
                mode,
                "--mac-address",
                "02:42:be:00:00:09",
                "busybox",
                "true",
            ];
            fails_saying(&d, client, &args, 125, conflict);
        }
    }
    // A malformed MAC: the clients' own check.
    for client in [DOCKER, BERTH] {
        for args in [
            &[
                "run",
                "--rm",
                "--mac-address",
                "02:42:be",
                "busybox",
                "true",
            ][..],
            &[
                "run",
                "--rm",
                "--network",
                "name=bridge,mac-address=02:42:be",
                "busybox",
                "true",
            ][..],
        ] {
            fails_saying(&d, client, args, 125, "02:42:be is not a valid mac address");
        }
        let args = [
            "run",
            "--rm",
            "--mac-address",
            "01:00:5e:00:00:01",
            "busybox",
            "true",
        ];
        let multicast = "invalid MAC address 01:00:5e:00:00:01: it is a multicast address";
        fails_saying(&d, client, &args, 125, multicast);
    }
    // dockerd's messages, through the API.
    let (code, body) = request(
        &d,
        "POST",
        "/v1.50/containers/create",
        r#"{"Image":"busybox","Cmd":["true"],"NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"nope"}}}}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("invalid config for network bridge: invalid MAC address nope"),
        "{body}"
    );
    let (code, body) = request(
        &d,
        "POST",
        "/networks/bridge/connect",
        r#"{"Container":"base","EndpointConfig":{"MacAddress":"nope"}}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"invalid MAC address nope\""), "{body}");
    let (code, body) = request(
        &d,
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"busybox","Cmd":["true"],"MacAddress":"02:42:be:00:00:0a","HostConfig":{"NetworkMode":"bridge"},"NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"02:42:be:00:00:0b"}}}}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains(
            "the container-wide MAC address must match the endpoint-specific MAC address"
        ),
        "{body}"
    );
    // Nothing made by any of them.
    assert_eq!(names(&d), before);
    let out = Command::new("ip")
        .args(["-o", "link", "show", "master", &d.net.bridge])
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
}
