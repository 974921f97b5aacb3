//! Networking of running containers while things change, end to end (root
//! only), through the real docker 28 CLI: `network connect`/`disconnect`
//! of a running container (interfaces, embedded DNS, /etc/hosts), published
//! ports and the default route following docker's gateway endpoint, a
//! berthd restart with running containers (DNS servers back, addresses and
//! interfaces unchanged, no stale nftables rule), `--network
//! container:<missing>` and `--aux-address`.
//!
//! Each daemon has its own bridge, subnets (10.213.x.0/24 for the default
//! bridge, 10.214.x.0/24 for its user networks) and nftables table (see
//! `common::net`); traffic goes only to loopback and container addresses.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::Daemon;
use common::clients::{DOCKER, fails, inspect, text};
use common::net::{create_network, free_port, http_get, links, lookup, nxdomain_daemon};

/// busybox with the applets these tests use, as `busybox`.
fn import_busybox(d: &Daemon) {
    let applets = [
        "sh", "sleep", "echo", "cat", "ip", "httpd", "mkdir", "nslookup", "true",
    ];
    common::import_busybox_as(d, "busybox", &applets, &[]);
}

/// A daemon whose containers' resolver files come from a host file naming
/// a local upstream that answers every name NXDOMAIN (at 127.213.x.53, x
/// the daemon's own subnet byte), so no lookup leaves the host.
fn daemon() -> (Daemon, tempfile::TempDir) {
    let (d, dir) = nxdomain_daemon(213);
    import_busybox(&d);
    (d, dir)
}

/// The address of container `name` on network `net`.
fn ip_on(d: &Daemon, name: &str, net: &str) -> String {
    inspect(
        d,
        name,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    )
}

/// `network create` of user network `k` of this daemon (its own /27 and
/// bridge name), with `extra` flags; the subnet's gateway.
fn network(d: &Daemon, name: &str, k: u8, extra: &[&str]) -> String {
    create_network(d, DOCKER, name, k, extra);
    d.net.user_gateway_27(k)
}

/// Ports of the bridge `bridge` (the host ends of veths in it).
fn bridge_ports(bridge: &str) -> usize {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "master", bridge])
        .output()
        .unwrap();
    text(&out.stdout).lines().count()
}

/// The rules of the daemon's table, as `nft -j list table inet NAME` gives
/// them: (chain, comment, rule as JSON text).
fn table_rules(d: &Daemon) -> Vec<(String, String, String)> {
    let out = Command::new("nft")
        .args(["-j", "list", "table", "inet", &d.net.table])
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .map(|r| {
            (
                r["chain"].as_str().unwrap_or("").to_owned(),
                r["comment"].as_str().unwrap_or("").to_owned(),
                r.to_string(),
            )
        })
        .collect()
}

const SERVE: &str =
    "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www";

/// `network connect` of a running container: eth1 appears, the embedded
/// DNS server answers for it on that network (by name and alias) and the
/// network's members resolve it; its /etc/hosts gets the address as
/// dockerd writes it. `disconnect` (and `disconnect -f`) take all of it
/// away again.
#[test]
fn connect_and_disconnect_a_running_container() {
    let (d, _dir) = daemon();
    network(&d, "lnb", 0, &[]);
    let nb_bridge = d.net.user_bridge(0);
    d.ok(&["run", "-d", "--name", "c1", "busybox", "sleep", "600"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "lnb",
        "busybox",
        "sleep",
        "600",
    ]);
    let peer_ip = ip_on(&d, "peer", "lnb");
    let hostname = inspect(&d, "c1", "{{.Config.Hostname}}");
    let hosts_before = d.ok(&["exec", "c1", "cat", "/etc/hosts"]);
    assert_eq!(links(&d, "c1"), ["lo", "eth0"]);
    let resolv = d.ok(&["exec", "c1", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");

    for round in 0..2 {
        d.ok(&["network", "connect", "--alias", "cee", "lnb", "c1"]);
        assert_eq!(links(&d, "c1"), ["lo", "eth0", "eth1"], "round {round}");
        let ip = ip_on(&d, "c1", "lnb");
        let addr = d.ok(&["exec", "c1", "ip", "-4", "-o", "addr", "show", "eth1"]);
        assert!(addr.contains(&format!("inet {ip}/27")), "{addr}");
        assert_eq!(bridge_ports(&nb_bridge), 2);
        // dockerd appends the new address's line.
        let hosts = d.ok(&["exec", "c1", "cat", "/etc/hosts"]);
        assert_eq!(hosts, format!("{hosts_before}{ip}\t{hostname}\n"));
        let resolv = d.ok(&["exec", "c1", "cat", "/etc/resolv.conf"]);
        assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
        // Both ways on the network, by name and alias.
        assert_eq!(lookup(&d, "c1", "peer"), [peer_ip.as_str()]);
        assert_eq!(lookup(&d, "peer", "c1"), [ip.as_str()]);
        assert_eq!(lookup(&d, "peer", "cee"), [ip.as_str()]);
        assert_eq!(lookup(&d, "peer", "c1.lnb"), [ip.as_str()]);

        let mut args = vec!["network", "disconnect"];
        if round == 1 {
            args.push("-f");
        }
        args.extend(["lnb", "c1"]);
        d.ok(&args);
        assert_eq!(links(&d, "c1"), ["lo", "eth0"], "round {round}");
        assert_eq!(bridge_ports(&nb_bridge), 1);
        assert_eq!(d.ok(&["exec", "c1", "cat", "/etc/hosts"]), hosts_before);
        assert!(lookup(&d, "peer", "c1").is_empty());
        assert!(lookup(&d, "peer", "cee").is_empty());
        assert!(lookup(&d, "c1", "peer").is_empty());
        assert_eq!(
            inspect(&d, "c1", "{{json .NetworkSettings.Networks.lnb}}"),
            "null"
        );
    }
    let (_, err) = fails(&d, DOCKER, &["network", "disconnect", "lnb", "c1"]);
    assert!(err.contains("is not connected to network lnb"), "{err}");

    // `--network container:<missing>`: created as dockerd does, the start
    // answers "No such container" (a 404 at create would make the docker
    // CLI try to pull the image).
    let (code, err) = fails(
        &d,
        DOCKER,
        &[
            "run",
            "--rm",
            "--network",
            "container:nope",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("No such container: nope"), "{err}");
    assert!(!err.contains("Unable to find image"), "{err}");
    d.ok(&[
        "create",
        "--name",
        "joiner",
        "--network",
        "container:nope",
        "busybox",
        "true",
    ]);
    let (_, err) = fails(&d, DOCKER, &["start", "joiner"]);
    assert!(err.contains("No such container: nope"), "{err}");

    d.ok(&["rm", "-f", "c1", "peer", "joiner"]);
    assert_eq!(bridge_ports(&nb_bridge), 0);
    d.ok(&["network", "rm", "lnb"]);
}

/// Published ports are on the endpoint that gives the default gateway, as
/// docker chooses it (not internal, then by network name), and move with
/// the default route when that endpoint comes and goes on a running
/// container.
#[test]
fn published_ports_follow_the_gateway_endpoint() {
    let (d, _dir) = daemon();
    let gw_zz = network(&d, "zz", 0, &[]);
    let gw_aa = network(&d, "aa", 1, &[]);
    network(&d, "ab", 2, &["--internal"]);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let id = d
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "zz",
            "-p",
            &publish,
            "busybox",
            "sh",
            "-c",
            SERVE,
        ])
        .trim()
        .to_owned();
    let ip_zz = ip_on(&d, "web", "zz");
    let route = || d.ok(&["exec", "web", "ip", "route", "show", "default"]);
    let check = |gw: &str, ip: &str| {
        assert!(
            route().contains(&format!("default via {gw} ")),
            "{}",
            route()
        );
        assert_eq!(d.net.dnat_targets(&id), [format!("{ip}:80")]);
        assert_eq!(
            http_get(([127, 0, 0, 1], port).into()).unwrap(),
            "hello-from-web\n"
        );
    };
    check(&gw_zz, &ip_zz);

    // `aa` sorts before `zz`: the gateway and the ports move to it.
    d.ok(&["network", "connect", "aa", "web"]);
    let ip_aa = ip_on(&d, "web", "aa");
    check(&gw_aa, &ip_aa);
    // An internal network never gives the gateway, whatever its name.
    d.ok(&["network", "connect", "ab", "web"]);
    check(&gw_aa, &ip_aa);
    // Its gateway endpoint gone, they go back to `zz`.
    d.ok(&["network", "disconnect", "aa", "web"]);
    check(&gw_zz, &ip_zz);
    d.ok(&["network", "disconnect", "ab", "web"]);
    check(&gw_zz, &ip_zz);
    // Without a gateway endpoint the rules go; the host port stays held.
    d.ok(&["network", "disconnect", "zz", "web"]);
    assert!(d.net.dnat_targets(&id).is_empty());
    assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
    d.ok(&["network", "connect", "aa", "web"]);
    let ip_aa = ip_on(&d, "web", "aa");
    check(&gw_aa, &ip_aa);

    // A container started on two networks: the ports are on `aa`'s.
    let port2 = free_port();
    let publish2 = format!("127.0.0.1:{port2}:80");
    d.ok(&[
        "create",
        "--name",
        "two",
        "--network",
        "zz",
        "-p",
        &publish2,
        "busybox",
        "sh",
        "-c",
        SERVE,
    ]);
    d.ok(&["network", "connect", "aa", "two"]);
    let two = inspect(&d, "two", "{{.Id}}");
    d.ok(&["start", "two"]);
    let ip_two = ip_on(&d, "two", "aa");
    assert_eq!(d.net.dnat_targets(&two), [format!("{ip_two}:80")]);
    assert_eq!(
        http_get(([127, 0, 0, 1], port2).into()).unwrap(),
        "hello-from-web\n"
    );
    let routes = d.ok(&["exec", "two", "ip", "route", "show", "default"]);
    assert!(
        routes.contains(&format!("default via {gw_aa} ")),
        "{routes}"
    );

    d.ok(&["rm", "-f", "web", "two"]);
    assert!(d.net.dnat_targets(&id).is_empty());
}

/// A berthd restart with containers running (live restore): their DNS
/// servers answer again, their interfaces and addresses are unchanged, and
/// the nftables rules of a network removed and of containers that died
/// while berthd was down are gone.
#[test]
fn a_restart_keeps_running_containers_networks_and_drops_stale_rules() {
    let (mut d, _dir) = daemon();
    network(&d, "r1", 0, &[]);
    network(&d, "r2", 1, &[]);
    network(&d, "rgone", 2, &[]);
    let r1 = inspect(&d, "r1", "{{.Id}}");
    let gone = inspect(&d, "rgone", "{{.Id}}");
    let port = free_port();
    let dies_port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let dies_publish = format!("127.0.0.1:{dies_port}:80");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ca",
        "--network",
        "r1",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&["network", "connect", "r2", "ca"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cb",
        "--network",
        "r1",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        SERVE,
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "dies",
        "--network",
        "r1",
        "-p",
        &dies_publish,
        "busybox",
        "sh",
        "-c",
        SERVE,
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cg",
        "--network",
        "rgone",
        "busybox",
        "sleep",
        "600",
    ]);
    let ids: Vec<String> = ["cb", "dies", "cg"]
        .iter()
        .map(|n| inspect(&d, n, "{{.Id}}"))
        .collect();
    assert_eq!(
        http_get(([127, 0, 0, 1], dies_port).into()).unwrap(),
        "hello-from-web\n"
    );
    let b_ip = ip_on(&d, "cb", "r1");
    let addrs = d.ok(&["exec", "ca", "ip", "-4", "-o", "addr"]);
    let nets = inspect(&d, "ca", "{{json .NetworkSettings.Networks}}");
    assert_eq!(links(&d, "ca"), ["lo", "eth0", "eth1"]);
    assert_eq!(lookup(&d, "ca", "cb"), [b_ip.as_str()]);
    let comments: Vec<String> = table_rules(&d).into_iter().map(|r| r.1).collect();
    for want in [&ids[1], &format!("net:{gone}")] {
        assert!(comments.contains(want), "{want}: {comments:?}");
    }

    // berthd goes; while it is down `dies` and `g` die and `rgone` is
    // removed from the data root.
    let pids: Vec<i32> = ["dies", "cg"]
        .iter()
        .map(|n| inspect(&d, n, "{{.State.Pid}}").parse().unwrap())
        .collect();
    d.kill9();
    for pid in pids {
        assert!(pid > 0);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    }
    fs_err::remove_file(d.data_root().join("networks").join(format!("{gone}.json"))).unwrap();
    d.restart();

    // The survivors: same addresses and interfaces, DNS answering.
    assert_eq!(
        inspect(&d, "ca", "{{json .NetworkSettings.Networks}}"),
        nets
    );
    assert_eq!(d.ok(&["exec", "ca", "ip", "-4", "-o", "addr"]), addrs);
    assert_eq!(links(&d, "ca"), ["lo", "eth0", "eth1"]);
    assert_eq!(lookup(&d, "ca", "cb"), [b_ip.as_str()]);
    assert_eq!(lookup(&d, "cb", "ca"), [ip_on(&d, "ca", "r1")]);
    assert_eq!(
        http_get(([127, 0, 0, 1], port).into()).unwrap(),
        "hello-from-web\n"
    );
    // No rule of the dead or of the removed network; the living's are there.
    let comments: Vec<String> = table_rules(&d).into_iter().map(|r| r.1).collect();
    for stale in [&ids[1], &ids[2], &format!("net:{gone}")] {
        assert!(!comments.contains(stale), "{stale}: {comments:?}");
    }
    for want in [&ids[0], &format!("net:{r1}")] {
        assert!(comments.contains(want), "{want}: {comments:?}");
    }
    assert_eq!(inspect(&d, "dies", "{{.State.Running}}"), "false");
    // A connect after the restart names the next interface.
    network(&d, "r3", 3, &[]);
    d.ok(&["network", "connect", "r3", "ca"]);
    assert_eq!(links(&d, "ca"), ["lo", "eth0", "eth1", "eth2"]);

    // Nothing running any more: a restart leaves no table behind.
    d.ok(&["rm", "-f", "ca", "cb", "dies", "cg"]);
    d.kill9();
    d.restart();
    assert!(!common::net::table_exists(&d.net.table));
}

/// `network create --aux-address`: those addresses are never handed out
/// and inspect shows them (`IPAM.Config[].AuxiliaryAddresses`).
#[test]
fn aux_addresses_are_kept_from_containers() {
    let (d, _dir) = daemon();
    let x = d.net.subnet.split('.').nth(2).unwrap().to_owned();
    let subnet = format!("10.214.{x}.64/29");
    let aux1 = format!("router=10.214.{x}.66");
    let aux2 = format!("printer=10.214.{x}.67");
    let bridge = format!("com.docker.network.bridge.name={}", d.net.user_bridge(0));
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--aux-address",
        &aux1,
        "--aux-address",
        &aux2,
        "-o",
        &bridge,
        "auxnet",
    ]);
    let config = inspect(&d, "auxnet", "{{json .IPAM.Config}}");
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        config[0]["AuxiliaryAddresses"],
        serde_json::json!({"router": format!("10.214.{x}.66"), "printer": format!("10.214.{x}.67")}),
        "{config}"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "--network",
        "auxnet",
        "busybox",
        "sleep",
        "600",
    ]);
    assert_eq!(ip_on(&d, "first", "auxnet"), format!("10.214.{x}.68"));
    let taken = format!("10.214.{x}.66");
    let (_, err) = fails(
        &d,
        DOCKER,
        &[
            "run",
            "--rm",
            "--network",
            "auxnet",
            "--ip",
            &taken,
            "busybox",
            "true",
        ],
    );
    assert!(err.contains("Address already in use"), "{err}");
    // The docker CLI checks that each belongs to a subnet.
    let (_, err) = fails(
        &d,
        DOCKER,
        &[
            "network",
            "create",
            "--subnet",
            &subnet,
            "--aux-address",
            "r=10.9.9.9",
            "other",
        ],
    );
    assert!(
        err.contains("no matching subnet for aux-address 10.9.9.9"),
        "{err}"
    );
    d.ok(&["rm", "-f", "first"]);
    d.ok(&["network", "rm", "auxnet"]);
}
