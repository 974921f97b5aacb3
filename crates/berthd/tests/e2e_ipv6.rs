//! IPv6 networks end to end, through the real docker 28 CLI: two containers
//! on an `--ipv6` network ping each other by name over IPv6 (the embedded
//! DNS answers AAAA), inspect shows their IPv6 settings, `--ip6` is
//! honoured, `/etc/hosts` has the IPv6 line, a published port is reached
//! over `[::1]` from the test's namespace (and over 127.0.0.1), an
//! `--internal` IPv6 network has no way out, and everything (bridges,
//! rules) goes with the containers and networks.
//!
//! Subnets: the daemon's `10.214.<x>.0/27`s and `fd00:216:<x>:<k>::/64`s (x
//! reserved per test daemon); traffic goes only to loopback and container
//! addresses.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::clients::{self, DOCKER, text};
use common::{Daemon, import_busybox};

const BRIDGE_OPT: &str = "com.docker.network.bridge.name";

/// docker 28, which must succeed: its output, trimmed.
fn ok(d: &Daemon, args: &[&str]) -> String {
    clients::ok(d, DOCKER, args).trim().to_owned()
}

/// `fd00:216:<x>:<k + 1>::/64`, unique to this daemon.
fn subnet6(d: &Daemon, k: u8) -> String {
    let x = d.net.subnet.split('.').nth(2).unwrap();
    format!("fd00:216:{x}:{}::/64", k + 1)
}

/// An IPv6 network `name` (user network `k` of this daemon).
fn create(d: &Daemon, name: &str, k: u8, extra: &[&str]) -> String {
    let (v4, v6) = (d.net.user_subnet_27(k), subnet6(d, k));
    let opt = format!("{BRIDGE_OPT}={}", d.net.user_bridge(k));
    let mut args = vec![
        "network", "create", "--ipv6", "--subnet", &v4, "--subnet", &v6, "-o", &opt,
    ];
    args.extend_from_slice(extra);
    args.push(name);
    ok(d, &args)
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

fn nft_table(d: &Daemon) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "inet", &d.net.table])
        .output()
        .unwrap();
    text(&out.stdout)
}

#[test]
fn ipv6_networks_resolve_ping_publish_and_isolate() {
    let d = Daemon::start();
    import_busybox(&d);
    let six = create(&d, "six", 0, &[]);
    let inner = create(&d, "inner", 1, &["--internal"]);
    let prefix = subnet6(&d, 0).trim_end_matches("/64").to_owned();
    let ip6 = format!("{prefix}99");

    let run = |args: &[&str]| {
        ok(
            &d,
            &[&["run", "-d"], args, &["busybox", "sleep", "1000"]].concat(),
        )
    };
    run(&[
        "--name",
        "aa",
        "--network",
        "six",
        "--network-alias",
        "alpha",
    ]);
    run(&["--name", "bb", "--network", "six", "--ip6", &ip6]);
    run(&["--name", "ii", "--network", "inner"]);

    // Inspect: the endpoint's IPv6 settings.
    let b = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{with .NetworkSettings.Networks.six}}{{.GlobalIPv6Address}} {{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}}{{end}}",
            "bb",
        ],
    );
    assert_eq!(b, format!("{ip6} 64 {prefix}1"));
    let a6 = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}",
            "aa",
        ],
    );
    assert!(a6.starts_with(&prefix) && a6 != ip6, "{a6}");

    // Inside: the address (not tentative), the IPv6 default route.
    let addrs = ok(
        &d,
        &["exec", "bb", "busybox", "ip", "-6", "addr", "show", "eth0"],
    );
    let global = addrs
        .lines()
        .find(|l| l.contains(&format!("inet6 {ip6}/64 scope global")))
        .unwrap_or_else(|| panic!("no {ip6} in {addrs}"));
    assert!(!global.contains("tentative"), "{addrs}");
    let routes = ok(&d, &["exec", "bb", "busybox", "ip", "-6", "route"]);
    assert!(
        routes.contains(&format!("default via {prefix}1 dev eth0")),
        "{routes}"
    );
    // /etc/hosts has the IPv6 line, as docker writes it.
    let hosts = ok(&d, &["exec", "bb", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip6}\t")), "{hosts}");
    assert!(
        hosts.contains("::1\tlocalhost ip6-localhost ip6-loopback"),
        "{hosts}"
    );

    // By name and alias over IPv6 (AAAA from the embedded DNS).
    for name in ["bb", "alpha", "aa.six"] {
        let from = if name == "bb" { "aa" } else { "bb" };
        ok(
            &d,
            &[
                "exec", from, "busybox", "ping", "-6", "-c", "1", "-W", "5", name,
            ],
        );
    }
    let answer = ok(
        &d,
        &["exec", "aa", "busybox", "nslookup", "-type=AAAA", "bb"],
    );
    assert!(answer.contains(&ip6), "{answer}");

    // Published port: [::1] (random host port) and every address (both
    // families), DNATed to the container's IPv6 address.
    common::run_detached(
        &d,
        ("web", "six"),
        &["-p", "[::1]::80", "-p", "80"],
        "busybox",
        &["sh", "-c", common::HTTPD6],
    );
    let ports = ok(&d, &["port", "web", "80/tcp"]);
    let port_of = |host: &str| -> u16 {
        ports
            .lines()
            .find_map(|l| l.strip_prefix(host))
            .and_then(|p| p.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {host} binding in {ports}"))
            .parse()
            .unwrap()
    };
    let (lo6, any4, any6) = (port_of("[::1]"), port_of("0.0.0.0"), port_of("[::]"));
    assert_eq!(any4, any6, "{ports}");
    let web6 = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}",
            "web",
        ],
    );
    let table = nft_table(&d);
    assert!(
        table.contains(&format!("dnat ip6 to [{web6}]:80")),
        "{table}"
    );
    // httpd may take a moment to listen.
    let mut body = Err(std::io::Error::other("not tried"));
    for _ in 0..50 {
        body = get(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, lo6)));
        if body.as_deref().is_ok_and(|b| b == "hello6\n") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(body.unwrap(), "hello6\n");
    assert_eq!(
        get(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, any6))).unwrap(),
        "hello6\n"
    );
    assert_eq!(
        get(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, any4))).unwrap(),
        "hello6\n"
    );

    // --internal: no default route, no way to another network.
    let routes = ok(&d, &["exec", "ii", "busybox", "ip", "-6", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    let out = d.docker(&[
        "exec", "ii", "busybox", "ping", "-6", "-c", "1", "-W", "2", &a6,
    ]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    // Its bridge is in the set of internal bridges `iifname @net_internal
    // drop` matches.
    let inner_bridge = d.net.user_bridge(1);
    let internal = table
        .split("set net_internal {")
        .nth(1)
        .and_then(|s| s.split('}').next())
        .unwrap_or_default();
    assert!(internal.contains(&format!("\"{inner_bridge}\"")), "{table}");

    // Everything goes with the containers and networks.
    ok(&d, &["rm", "-f", "aa", "bb", "ii", "web"]);
    ok(&d, &["network", "rm", "six", "inner"]);
    for k in 0..2 {
        assert!(
            !common::net::link_exists(&d.net.user_bridge(k)),
            "bridge {} left",
            d.net.user_bridge(k)
        );
    }
    let table = nft_table(&d);
    for id in [&six, &inner] {
        assert!(!table.contains(id.as_str()), "{table}");
    }
    assert!(!table.contains("ip6"), "{table}");
    assert!(
        std::net::TcpListener::bind(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, lo6))).is_ok(),
        "the [::1] port is still held"
    );
}

#[test]
fn the_default_bridge_gets_ipv6_from_daemon_flags() {
    let sub = format!("fd00:217:{:x}::/64", std::process::id() & 0xffff);
    let d = Daemon::start_with(&["--ipv6", "--fixed-cidr-v6", &sub]);
    import_busybox(&d);
    let prefix = sub.trim_end_matches("/64");
    assert_eq!(
        ok(
            &d,
            &[
                "network",
                "inspect",
                "-f",
                "{{.EnableIPv6}} {{json .IPAM.Config}}",
                "bridge"
            ]
        ),
        format!(
            "true [{{\"Subnet\":\"{}\",\"Gateway\":\"{}\"}},{{\"Subnet\":\"{sub}\",\"Gateway\":\"{prefix}1\"}}]",
            d.net.subnet,
            d.net.gateway()
        )
    );
    for name in ["d1", "d2"] {
        ok(
            &d,
            &["run", "-d", "--name", name, "busybox", "sleep", "1000"],
        );
    }
    let v6 = |name: &str| {
        ok(
            &d,
            &[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.bridge.GlobalIPv6Address}} {{.NetworkSettings.Networks.bridge.IPv6Gateway}}",
                name,
            ],
        )
    };
    let d2 = v6("d2");
    let (addr, gw) = d2.split_once(' ').unwrap();
    assert!(addr.starts_with(prefix), "{d2}");
    assert_eq!(gw, format!("{prefix}1"));
    ok(
        &d,
        &[
            "exec", "d1", "busybox", "ping", "-6", "-c", "1", "-W", "5", addr,
        ],
    );
    ok(&d, &["rm", "-f", "d1", "d2"]);
}
