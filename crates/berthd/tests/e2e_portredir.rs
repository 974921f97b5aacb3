//! The host's own connections to published ports are carried by the
//! socket-level redirection (crates/net/src/sockredir, docs/networking.md),
//! not by nftables DNAT nor by the IPv6 proxy, end to end (root only),
//! through the real docker 28 CLI and `berth`.
//!
//! What shows it is the client socket's own address (`getsockname()`): a
//! connection to `127.0.0.1:P` that DNAT carries keeps `127.0.0.1` as its
//! local address (the rewrite happens to its packets, not to the socket),
//! and one to `[::1]:P` that the proxy accepts has `::1`; a redirected
//! socket was connected to the container's address from the start, so its
//! local address is the bridge's, while its peer still reads as the
//! published address. An IPv4-only container published on `::` is the
//! contrast: its `[::1]` connections still go through the proxy.
//!
//! berthd runs in a network namespace of the test's own (the test thread
//! moves there and berthd inherits it), so its programs act only on that
//! namespace's sockets, and the bridges and nftables table it makes go
//! with it. Subnets: the daemon's `10.214.<x>.0/27` and `fd00:21a:<x>::/64`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use common::Daemon;

const TIMEOUT: Duration = Duration::from_secs(5);
const SERVE: &str = "mkdir -p /w && echo hello > /w/i.html && exec httpd -f -p 80 -h /w";

/// busybox with `sh`, `mkdir` and `httpd`, as `busybox`.
fn import_busybox(d: &Daemon) {
    let root = d.dir.path().join("bbr");
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "mkdir", "httpd"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = d.dir.path().join("bbr.tar");
    common::tar_dir(&root, &tar);
    d.ok(&["import", tar.to_str().unwrap(), "busybox"]);
}

/// What one HTTP GET of `/i.html` at `addr` saw: the client socket's own
/// address, its peer's, and the body.
#[derive(Debug)]
struct Visit {
    local: SocketAddr,
    peer: SocketAddr,
    body: String,
}

fn visit_once(addr: SocketAddr) -> std::io::Result<Visit> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let (local, peer) = (s.local_addr()?, s.peer_addr()?);
    s.write_all(b"GET /i.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok(Visit { local, peer, body })
}

/// [`visit_once`], retried while the server starts.
fn visit(d: &Daemon, addr: SocketAddr) -> Visit {
    let mut last = None;
    for _ in 0..50 {
        match visit_once(addr) {
            Ok(v) if v.body == "hello\n" => return v,
            other => last = Some(other),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{addr}: {last:?}\nberthd log:\n{}", d.log());
}

/// The host port of `name`'s `80/tcp` on `host` (`0.0.0.0` or `[::]`).
fn port(d: &Daemon, name: &str, host: &str) -> u16 {
    let ports = d.ok(&["port", name, "80/tcp"]);
    ports
        .lines()
        .find_map(|l| l.strip_prefix(host)?.strip_prefix(':'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no {host} binding in {ports}"))
}

#[test]
fn host_connections_to_published_ports_are_redirected_not_nated_nor_proxied() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (network namespaces, eBPF, nftables)"
    );
    common::net::enter_own_netns();

    let d = Daemon::start();
    import_busybox(&d);
    let x = d.net.subnet.split('.').nth(2).unwrap().to_owned();
    let (s4, s6) = (d.net.user_subnet_27(0), format!("fd00:21a:{x}::/64"));
    let bridge = format!("com.docker.network.bridge.name={}", d.net.user_bridge(0));
    d.ok(&[
        "network", "create", "--ipv6", "--subnet", &s4, "--subnet", &s6, "-o", &bridge, "six",
    ]);
    let gw = |field: &str| -> IpAddr {
        d.ok(&[
            "network",
            "inspect",
            "-f",
            &format!("{{{{range .IPAM.Config}}}}{{{{if eq .Subnet \"{field}\"}}}}{{{{.Gateway}}}}{{{{end}}}}{{{{end}}}}"),
            "six",
        ])
        .trim()
        .parse()
        .unwrap()
    };
    let (gw4, gw6) = (gw(&s4), gw(&s6));

    // A dual-stack container, published on every address (docker 28).
    common::run_detached(
        &d,
        ("web", "six"),
        &["-p", "80"],
        "busybox",
        &["sh", "-c", SERVE],
    );
    let p = port(&d, "web", "0.0.0.0");
    assert_eq!(port(&d, "web", "[::]"), p);
    for (ip, bridge_ip) in [("127.0.0.1", gw4), ("::1", gw6)] {
        let addr = SocketAddr::new(ip.parse().unwrap(), p);
        let v = visit(&d, addr);
        assert_eq!(
            v.local.ip(),
            bridge_ip,
            "{addr} was not redirected at the socket level (DNAT leaves 127.0.0.1, the proxy ::1): {v:?}\nberthd log:\n{}",
            d.log()
        );
        assert_eq!(v.peer, addr, "{v:?}");
    }

    // An IPv4-only container (the default bridge), through berth: IPv4 is
    // redirected, [::1] is the proxy's (a socket cannot change family).
    let out = d.berth(&[
        "run", "-d", "--name", "web4", "-p", "80", "busybox", "sh", "-c", SERVE,
    ]);
    assert!(out.status.success(), "{out:?}");
    let p4 = port(&d, "web4", "0.0.0.0");
    let v = visit(&d, SocketAddr::from(([127, 0, 0, 1], p4)));
    assert_eq!(v.local.ip().to_string(), d.net.gateway(), "{v:?}");
    // A dual-stack client's IPv6 socket to `::ffff:127.0.0.1` is
    // redirected too (to `::ffff:<container>`), its peer unchanged.
    let mapped = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped(), p4));
    let v = visit(&d, mapped);
    assert_eq!(
        v.local.ip().to_canonical().to_string(),
        d.net.gateway(),
        "{mapped} was not redirected at the socket level: {v:?}"
    );
    assert!(v.local.is_ipv6(), "{v:?}");
    assert_eq!(v.peer, mapped, "{v:?}");
    let lo6 = SocketAddr::from((Ipv6Addr::LOCALHOST, p4));
    let v = visit(&d, lo6);
    assert_eq!(v.local.ip(), IpAddr::V6(Ipv6Addr::LOCALHOST), "{v:?}");
    assert_eq!(v.peer, lo6, "{v:?}");

    // Removed: nothing answers any more, on either family.
    d.ok(&["rm", "-f", "web", "web4"]);
    for addr in [
        SocketAddr::from(([127, 0, 0, 1], p)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, p)),
        lo6,
    ] {
        assert!(visit_once(addr).is_err(), "{addr} still answers");
    }
    d.ok(&["network", "rm", "six"]);
    let log = d.log();
    assert!(!log.contains("redirection unavailable"), "{log}");
}
