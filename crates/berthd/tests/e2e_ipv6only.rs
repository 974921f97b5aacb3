//! IPv6-only networks (`network create --ipv6 --ipv4=false`, docker 28)
//! end to end, through the real docker 28 CLI: the network has only its
//! IPv6 subnet (inspect: `EnableIPv4: false`), its bridge only the IPv6
//! gateway address, containers only IPv6 addresses (and a link-local one),
//! the embedded DNS answers AAAA and no A, `/etc/hosts` has only the IPv6
//! line, a published port is published on IPv6 only, `network connect`
//! and a daemon restart keep it so, berth's CLI makes one too, and
//! dockerd's refusals. API < 1.48 never reads `EnableIPv4`.
//!
//! Subnets: the daemon's and `fd00:21a:<x>:<k + 1>::/64` (x reserved per
//! test daemon); traffic goes only to loopback and container addresses.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::clients::{self, DOCKER, text};
use common::{Daemon, import_busybox};

/// docker 28, which must succeed: its output, trimmed.
fn ok(d: &Daemon, args: &[&str]) -> String {
    clients::ok(d, DOCKER, args).trim().to_owned()
}

/// docker 28, which must fail: its standard error.
fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.docker(args);
    assert!(
        !out.status.success(),
        "docker {args:?} succeeded: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// `fd00:21a:<x>:<k + 1>::/64`, unique to this daemon.
fn subnet6(d: &Daemon, k: u8) -> String {
    let x = d.net.subnet.split('.').nth(2).unwrap();
    format!("fd00:21a:{x}:{}::/64", k + 1)
}

fn ip(args: &[&str]) -> String {
    text(&Command::new("ip").args(args).output().unwrap().stdout)
}

/// An HTTP GET of `/i.html` at `addr`; the body.
fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /i.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply.split("\r\n\r\n").nth(1).unwrap_or("").to_owned())
}

#[test]
fn ipv6_only_networks_have_no_ipv4_anywhere() {
    let mut d = Daemon::start();
    import_busybox(&d);
    let sub = subnet6(&d, 0);
    let prefix = sub.trim_end_matches("/64").to_owned();
    let bridge = d.net.user_bridge(0);
    let opt = format!("com.docker.network.bridge.name={bridge}");

    // dockerd's refusals.
    let e = fails(&d, &["network", "create", "--ipv4=false", "nothing"]);
    assert!(e.contains("IPv4 or IPv6 must be enabled"), "{e}");
    let v4 = d.net.user_subnet_27(1);
    let e = fails(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--ipv4=false",
            "--subnet",
            &v4,
            "v4sub",
        ],
    );
    assert!(e.contains("needs IPv4"), "{e}");
    assert!(!ok(&d, &["network", "ls"]).contains("v4sub"));

    let six = ok(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--ipv4=false",
            "--subnet",
            &sub,
            "-o",
            &opt,
            "six",
        ],
    );
    assert_eq!(
        ok(
            &d,
            &[
                "network",
                "inspect",
                "-f",
                "{{.EnableIPv4}} {{.EnableIPv6}} {{json .IPAM.Config}}",
                "six"
            ]
        ),
        format!("false true [{{\"Subnet\":\"{sub}\",\"Gateway\":\"{prefix}1\"}}]")
    );

    // `--ip` (IPv4) has nowhere to go.
    let e = fails(
        &d,
        &[
            "run",
            "-d",
            "--network",
            "six",
            "--ip",
            "10.214.0.9",
            "busybox",
            "true",
        ],
    );
    assert!(
        e.contains("user specified IP address is supported only when connecting to networks with user configured subnets"),
        "{e}"
    );

    for name in ["aa", "bb"] {
        ok(
            &d,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "six",
                "busybox",
                "sleep",
                "1000",
            ],
        );
    }
    // The bridge: the IPv6 gateway, no IPv4 address.
    assert_eq!(ip(&["-o", "-4", "addr", "show", "dev", &bridge]), "");
    let br6 = ip(&["-o", "-6", "addr", "show", "dev", &bridge]);
    assert!(br6.contains(&format!("inet6 {prefix}1/64")), "{br6}");

    // Inspect: no IPv4 address, the IPv6 one.
    let b = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{with .NetworkSettings.Networks.six}}[{{.IPAddress}}] [{{.Gateway}}] {{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}}{{end}}",
            "bb",
        ],
    );
    let (head, rest) = b.split_at(8);
    assert_eq!(head, "[] [] fd", "{b}");
    let b6 = format!("fd{}", rest.split(' ').next().unwrap());
    assert!(b6.starts_with(&prefix), "{b}");
    assert!(b.ends_with(&format!(" 64 {prefix}1")), "{b}");

    // Inside: IPv6 only (global and link-local), the IPv6 default route.
    let v4addrs = ok(
        &d,
        &["exec", "bb", "busybox", "ip", "-4", "addr", "show", "eth0"],
    );
    assert!(!v4addrs.contains("inet "), "{v4addrs}");
    let v6addrs = ok(
        &d,
        &["exec", "bb", "busybox", "ip", "-6", "addr", "show", "eth0"],
    );
    assert!(
        v6addrs.contains(&format!("inet6 {b6}/64 scope global")),
        "{v6addrs}"
    );
    assert!(v6addrs.contains("scope link"), "{v6addrs}");
    let routes = ok(&d, &["exec", "bb", "busybox", "ip", "-6", "route"]);
    assert!(
        routes.contains(&format!("default via {prefix}1 dev eth0")),
        "{routes}"
    );
    // /etc/hosts: the container's IPv6 line, no IPv4 one for it.
    let hosts = ok(&d, &["exec", "bb", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{b6}\t")), "{hosts}");
    assert!(
        !hosts
            .lines()
            .any(|l| l.starts_with("10.") || l.starts_with("172.")),
        "{hosts}"
    );

    // The embedded DNS: AAAA with the address, no A.
    ok(
        &d,
        &[
            "exec", "aa", "busybox", "ping", "-6", "-c", "1", "-W", "5", "bb",
        ],
    );
    let aaaa = ok(
        &d,
        &["exec", "aa", "busybox", "nslookup", "-type=AAAA", "bb"],
    );
    assert!(aaaa.contains(&b6), "{aaaa}");
    let a = d.docker(&["exec", "aa", "busybox", "nslookup", "-type=A", "bb"]);
    let a = text(&a.stdout);
    assert!(!a.contains("Name:"), "{a}");

    // A published port: the IPv6 side only, DNATed to the IPv6 address.
    common::run_detached(
        &d,
        ("web", "six"),
        &["-p", "80"],
        "busybox",
        &["sh", "-c", common::HTTPD6],
    );
    let ports = ok(&d, &["port", "web", "80/tcp"]);
    let port: u16 = ports
        .strip_prefix("[::]:")
        .unwrap_or_else(|| panic!("not only an IPv6 binding: {ports}"))
        .parse()
        .unwrap();
    let table = text(
        &Command::new("nft")
            .args(["list", "table", "inet", &d.net.table])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(table.contains("dnat ip6 to ["), "{table}");
    assert!(!table.contains("dnat ip to"), "{table}");
    let mut body = Err(std::io::Error::other("not tried"));
    for _ in 0..50 {
        body = get(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        if body.as_deref().is_ok_and(|b| b == "hello6\n") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(body.unwrap(), "hello6\n");

    // `network connect` of a running container on the default bridge: an
    // IPv6 address on the new interface, no IPv4 one.
    ok(
        &d,
        &["run", "-d", "--name", "plain", "busybox", "sleep", "1000"],
    );
    ok(&d, &["network", "connect", "six", "plain"]);
    let p = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{with .NetworkSettings.Networks.six}}[{{.IPAddress}}] {{.GlobalIPv6Address}}{{end}}",
            "plain",
        ],
    );
    let p6 = p.strip_prefix("[] ").unwrap_or_else(|| panic!("{p}"));
    assert!(p6.starts_with(&prefix), "{p}");
    let eth1 = ok(
        &d,
        &["exec", "plain", "busybox", "ip", "addr", "show", "eth1"],
    );
    assert!(eth1.contains(&format!("inet6 {p6}/64")), "{eth1}");
    assert!(!eth1.contains("inet "), "{eth1}");
    ok(
        &d,
        &[
            "exec", "plain", "busybox", "ping", "-6", "-c", "1", "-W", "5", &b6,
        ],
    );

    // A daemon restart (live restore): the bridge, the rules and the
    // published port come back as they were.
    d.kill9();
    d.restart();
    let br6 = ip(&["-o", "-6", "addr", "show", "dev", &bridge]);
    assert!(br6.contains(&format!("inet6 {prefix}1/64")), "{br6}");
    assert_eq!(ip(&["-o", "-4", "addr", "show", "dev", &bridge]), "");
    assert_eq!(
        get(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).unwrap(),
        "hello6\n"
    );
    ok(
        &d,
        &[
            "exec", "aa", "busybox", "ping", "-6", "-c", "1", "-W", "5", "bb",
        ],
    );

    // The same through berth's own CLI.
    let sub2 = subnet6(&d, 1);
    let out = d.berth(&[
        "network",
        "create",
        "--ipv6",
        "--ipv4=false",
        "--subnet",
        &sub2,
        "six2",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = d.berth(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv4}} {{json .IPAM.Config}}",
        "six2",
    ]);
    let out = text(&out.stdout);
    let (v4, config) = out.trim().split_once(' ').unwrap();
    assert_eq!(v4, "false", "{out}");
    let config: serde_json::Value = serde_json::from_str(config).unwrap();
    assert_eq!(
        config,
        serde_json::json!([{"Subnet": sub2, "Gateway": format!("{}1", sub2.trim_end_matches("/64"))}]),
        "{out}"
    );
    let out = d.berth(&["network", "create", "--ipv4=false", "nothing"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        text(&out.stderr).contains("IPv4 or IPv6 must be enabled"),
        "{out:?}"
    );

    // Everything goes with the containers and the network.
    ok(&d, &["rm", "-f", "aa", "bb", "web", "plain"]);
    ok(&d, &["network", "rm", "six", "six2"]);
    assert!(!common::net::link_exists(&bridge), "bridge {bridge} left");
    let table = text(
        &Command::new("nft")
            .args(["list", "table", "inet", &d.net.table])
            .output()
            .unwrap()
            .stdout,
    );
    assert!(!table.contains(&six), "{table}");
}

#[test]
fn enable_ipv4_is_read_from_api_1_48_only() {
    let d = Daemon::start();
    let body = r#"{"Name":"old","EnableIPv6":true,"EnableIPv4":false}"#;
    let (status, reply) = common::api::request(&d, "POST", "/v1.47/networks/create", body);
    assert_eq!(status, 201, "{reply}");
    let (_, net) = common::api::request(&d, "GET", "/v1.48/networks/old", "");
    let net: serde_json::Value = serde_json::from_str(&net).unwrap();
    assert_eq!(net["EnableIPv4"], true, "{net}");
    let body = r#"{"Name":"new","EnableIPv6":true,"EnableIPv4":false}"#;
    let (status, reply) = common::api::request(&d, "POST", "/v1.48/networks/create", body);
    assert_eq!(status, 201, "{reply}");
    let (_, net) = common::api::request(&d, "GET", "/v1.48/networks/new", "");
    let net: serde_json::Value = serde_json::from_str(&net).unwrap();
    assert_eq!(net["EnableIPv4"], false, "{net}");
    let config = net["IPAM"]["Config"].as_array().unwrap();
    assert_eq!(config.len(), 1, "{net}");
    assert!(
        config[0]["Subnet"].as_str().unwrap().starts_with("fd"),
        "{net}"
    );
    // Without IPv6 either: dockerd's refusal.
    let body = r#"{"Name":"none","EnableIPv6":false,"EnableIPv4":false}"#;
    let (status, reply) = common::api::request(&d, "POST", "/v1.48/networks/create", body);
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("IPv4 or IPv6 must be enabled"), "{reply}");
    common::api::request(&d, "DELETE", "/networks/old", "");
    common::api::request(&d, "DELETE", "/networks/new", "");
}
