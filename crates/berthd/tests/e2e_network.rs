//! Container networking end to end (root only), through the real docker 28
//! CLI and berth: addresses on the default bridge, containers pinging each
//! other, the host reaching a container, `--network none|host|container:X`,
//! a daemon restart with running containers, and nothing left behind.
//!
//! Each daemon has its own bridge, 10.213.x.0/24 subnet and nftables table
//! (see `common::net`); traffic goes only to those container addresses.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::net::Ipv4Addr;

use common::Daemon;
use common::net::{http_get, link_exists, link_names, links, table_exists};

/// busybox with the applets these tests use.
fn import_busybox(d: &Daemon) {
    let applets = [
        "sh", "sleep", "echo", "cat", "ip", "ping", "httpd", "mkdir", "hostname", "ls", "true",
    ];
    common::import_busybox_as(d, "busybox", &applets, &[]);
}

/// The IPv4 address (without prefix) of `eth0` in container `name`.
fn ip_of(d: &Daemon, name: &str) -> Ipv4Addr {
    ip_on(d, name, "eth0")
}

/// Files in the daemon's `<exec-root>/netns`.
fn netns_files(d: &Daemon) -> Vec<String> {
    fs_err::read_dir(d.exec_root().join("netns"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn containers_on_the_default_bridge_reach_each_other_and_the_host_reaches_them() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "na", "busybox", "sleep", "600"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "nb",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-b > /www/index.html && exec httpd -f -p 8080 -h /www",
    ]);
    let (ip_a, ip_b) = (ip_of(&d, "na"), ip_of(&d, "nb"));
    let subnet_prefix = d.net.subnet.trim_end_matches("0/24");
    for ip in [ip_a, ip_b] {
        assert!(
            ip.to_string().starts_with(subnet_prefix),
            "{ip} is not in {}",
            d.net.subnet
        );
    }
    assert_ne!(ip_a, ip_b);
    // The default route goes via the bridge.
    let routes = d.ok(&["exec", "na", "ip", "route"]);
    assert!(
        routes.contains(&format!("default via {}", d.net.gateway())),
        "{routes}"
    );
    // Only lo and eth0 inside.
    let links = links(&d, "na");
    assert_eq!(links, ["lo", "eth0"], "{links:?}");

    // Container to container by IP, both ways.
    d.ok(&[
        "exec",
        "na",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &ip_b.to_string(),
    ]);
    d.ok(&[
        "exec",
        "nb",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &ip_a.to_string(),
    ]);
    // And through berth's CLI.
    let out = d.berth(&[
        "exec",
        "na",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &ip_b.to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    // The host reaches a container's address.
    let page = http_get((ip_b, 8080).into()).unwrap();
    assert!(page.contains("hello-from-b"), "{page}");

    // Two veths in the test's bridge, two namespaces, the table is there.
    let ports = d.net.bridge_ports();
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert!(ports.iter().all(|p| p.starts_with("vb")), "{ports:?}");
    assert_eq!(netns_files(&d).len(), 2);
    assert!(d.net.table_exists());

    // Stopping one takes its veth and namespace; rm -f the other too.
    d.ok(&["stop", "-t", "1", "nb"]);
    assert_eq!(d.net.bridge_ports().len(), 1);
    assert_eq!(netns_files(&d).len(), 1);
    // Its address is given back and it gets one again at the next start.
    d.ok(&["start", "nb"]);
    let again = ip_of(&d, "nb");
    d.ok(&[
        "exec",
        "na",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &again.to_string(),
    ]);
    d.ok(&["rm", "-f", "na", "nb"]);
    assert!(d.net.bridge_ports().is_empty());
    assert!(netns_files(&d).is_empty());
    for p in &ports {
        assert!(!link_exists(p), "veth {p} is left");
    }
}

#[test]
fn network_modes_none_host_and_container() {
    let d = Daemon::start();
    import_busybox(&d);

    // none: only lo.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(link_names(&out), ["lo"], "{out}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "addr",
    ]);
    assert!(out.contains("127.0.0.1"), "lo is up: {out}");

    // host: the host's interfaces.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    let inside = link_names(&out);
    let host: Vec<String> = fs_err::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .collect();
    assert!(
        host.iter().any(|h| inside.contains(h)),
        "host links {host:?} not in {inside:?}"
    );

    // container:X shares X's namespace (its address, its eth0).
    d.ok(&["run", "-d", "--name", "nx", "busybox", "sleep", "600"]);
    let ip_x = ip_of(&d, "nx");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:nx",
        "busybox",
        "ip",
        "-4",
        "-o",
        "addr",
    ]);
    assert!(out.contains(&format!("inet {ip_x}/")), "{out}");
    // A container joined to x adds no veth of its own.
    assert_eq!(d.net.bridge_ports().len(), 1);

    // Joining a missing container is refused, nothing is left.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nope",
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    // Joining a stopped one too.
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:idle",
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("non running container"), "{stderr}");

    d.ok(&["rm", "-f", "nx", "idle"]);
    assert!(d.net.bridge_ports().is_empty());
    assert!(netns_files(&d).is_empty());
}

#[test]
fn running_containers_keep_their_network_across_a_daemon_restart_and_nothing_is_left() {
    let mut d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "na", "busybox", "sleep", "600"]);
    d.ok(&["run", "-d", "--name", "nb", "busybox", "sleep", "600"]);
    let ip_b = ip_of(&d, "nb");
    let ports = d.net.bridge_ports();
    assert_eq!(ports.len(), 2);

    // kill -9: containers live on; the new daemon rebuilds the table.
    d.kill9();
    d.restart();
    d.ok(&[
        "exec",
        "na",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &ip_b.to_string(),
    ]);
    assert!(d.net.table_exists());
    // A container started now gets another address.
    d.ok(&["run", "-d", "--name", "nc", "busybox", "sleep", "600"]);
    let ip_c = ip_of(&d, "nc");
    assert_ne!(ip_c, ip_b);
    assert_ne!(ip_c, ip_of(&d, "na"));
    d.ok(&[
        "exec",
        "nc",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        &ip_b.to_string(),
    ]);
    let mut veths = d.net.bridge_ports();
    assert_eq!(veths.len(), 3);

    // A container that exits on its own loses its veth too.
    d.ok(&["run", "--name", "quick", "busybox", "true"]);
    assert_eq!(d.net.bridge_ports().len(), 3);
    d.ok(&["rm", "quick"]);

    // The daemon stops with containers running; the harness ends them.
    let (bridge, table) = (d.net.bridge.clone(), d.net.table.clone());
    let exec_root = d.exec_root();
    veths.extend(ports);
    drop(d);
    for v in &veths {
        assert!(!link_exists(v), "veth {v} is left");
    }
    assert!(!link_exists(&bridge), "bridge {bridge} is left");
    assert!(!table_exists(&table), "nftables table {table} is left");
    assert!(
        !exec_root.join("netns").exists()
            || fs_err::read_dir(exec_root.join("netns"))
                .unwrap()
                .next()
                .is_none()
    );
}

/// The IPv4 address of `dev` in container `name`.
fn ip_on(d: &Daemon, name: &str, dev: &str) -> Ipv4Addr {
    let out = d.ok(&["exec", name, "ip", "-4", "-o", "addr", "show", "dev", dev]);
    let cidr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_else(|| panic!("no inet address on {dev} in {out:?}"));
    cidr.split('/').next().unwrap().parse().unwrap()
}

/// Whether `from` pings `to` (one packet, 2 s).
fn pings(d: &Daemon, from: &str, to: Ipv4Addr) -> bool {
    d.docker(&["exec", from, "ping", "-c", "1", "-W", "2", &to.to_string()])
        .status
        .success()
}

#[test]
fn user_networks_are_isolated_until_connected_and_leave_nothing_when_removed() {
    let d = Daemon::start();
    import_busybox(&d);
    let (neta, netb) = (d.net.user_subnet(0), d.net.user_subnet(1));
    d.ok(&["network", "create", "--subnet", &neta, "neta"]);
    d.ok(&["network", "create", "--subnet", &netb, "netb"]);
    let ids: Vec<String> = ["neta", "netb"]
        .iter()
        .map(|n| {
            d.ok(&["network", "inspect", "-f", "{{.Id}}", n])
                .trim()
                .to_owned()
        })
        .collect();
    for (name, net) in [("a1", "neta"), ("a2", "neta"), ("b1", "netb")] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "sleep",
            "600",
        ]);
    }
    let (a2, b1) = (ip_on(&d, "a2", "eth0"), ip_on(&d, "b1", "eth0"));
    assert!(neta.starts_with(&a2.to_string()[..a2.to_string().rfind('.').unwrap()]));
    // Same network: yes. Another network: no, either way.
    assert!(pings(&d, "a1", a2));
    assert!(!pings(&d, "a1", b1));
    assert!(!pings(&d, "b1", a2));

    // Connected to netb as well, a1 reaches b1 through its eth1.
    d.ok(&["network", "connect", "netb", "a1"]);
    let a1_on_b = ip_on(&d, "a1", "eth1");
    assert!(pings(&d, "a1", b1));
    assert!(pings(&d, "b1", a1_on_b));
    // Still isolated for those not connected.
    assert!(!pings(&d, "a2", b1));
    d.ok(&["network", "disconnect", "netb", "a1"]);
    let links = links(&d, "a1");
    assert_eq!(links, ["lo", "eth0"], "{links:?}");
    assert!(!pings(&d, "a1", b1));

    // Removing the containers and networks takes bridges and rules.
    d.ok(&["rm", "-f", "a1", "a2", "b1"]);
    let bridges: Vec<String> = ids.iter().map(|id| format!("br-{}", &id[..12])).collect();
    for b in &bridges {
        assert!(link_exists(b), "bridge {b} of a network in use");
    }
    d.ok(&["network", "rm", "neta", "netb"]);
    for b in &bridges {
        assert!(!link_exists(b), "bridge {b} is left");
    }
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "inet", &d.net.table])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    for id in &ids {
        assert!(
            !rules.contains(&format!("net:{id}")),
            "rules of {id} are left:\n{rules}"
        );
    }
}
