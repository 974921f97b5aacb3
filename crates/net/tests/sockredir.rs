//! Socket-level redirection of published ports on the real kernel: the
//! cgroup eBPF programs of `berth_net::sockredir` attached to the root of
//! the cgroup2 hierarchy, for a network namespace this test makes.
//!
//! There is no nftables rule here at all, so a host connection to
//! `127.0.0.1:<port>` that reaches the "container" was carried by the
//! redirection alone; its local address being the bridge's shows that the
//! kernel routed it to the container's address from the start.
//!
//! Two network namespaces made by `unshare(CLONE_NEWNET)` on threads of
//! this test: "host" (a bridge; the programs are loaded there and only act
//! on its sockets) and "container" (behind the bridge, with the servers).
//! Both go away with their threads; the programs are detached when the
//! test drops their links, or when the test process ends.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use berth_net::ports::{Binding, PortKey, PortRules, Proto, Target};
use berth_net::sockredir::{Frontend, SockRedirect};
use common::thread_ns::Netns;

const TIMEOUT: Duration = Duration::from_secs(5);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 213, 181, 1);
const CONTAINER: Ipv4Addr = Ipv4Addr::new(10, 213, 181, 2);
const PUBLISHED: u16 = 18080;

/// What a TCP client saw: its own address, its peer's, and the server's
/// greeting (the server writes the peer address it sees).
#[derive(Debug)]
struct Seen {
    local: SocketAddr,
    peer: SocketAddr,
    greeting: String,
}

fn tcp_visit(addr: SocketAddr) -> std::io::Result<Seen> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf)?;
    Ok(Seen {
        local: s.local_addr()?,
        peer: s.peer_addr()?,
        greeting: String::from_utf8_lossy(&buf[..n]).into_owned(),
    })
}

/// Sends a datagram to `addr` from an unconnected socket; the echo and
/// the address it came from.
fn udp_visit(addr: SocketAddr) -> std::io::Result<(String, SocketAddr)> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.send_to(b"ping", addr)?;
    let mut buf = [0u8; 64];
    let (n, from) = s.recv_from(&mut buf)?;
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
}

fn published(proto: Proto) -> Frontend {
    Frontend {
        addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, PUBLISHED),
        proto,
    }
}

fn both_published() -> BTreeMap<Frontend, SocketAddrV4> {
    BTreeMap::from([
        (published(Proto::Tcp), SocketAddrV4::new(CONTAINER, 80)),
        (published(Proto::Udp), SocketAddrV4::new(CONTAINER, 53)),
    ])
}

#[test]
fn host_connections_to_published_ports_skip_nat() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (network namespaces, eBPF)"
    );
    let host = Netns::new();
    let ctr = Netns::new();
    let ct = ctr.tid.to_string();
    host.sh(&[
        "ip link add bt-sr0 type bridge",
        &format!("ip addr add {GATEWAY}/24 dev bt-sr0"),
        "ip link set bt-sr0 up",
        "ip link add vsr0 type veth peer name csr0",
        "ip link set vsr0 master bt-sr0",
        "ip link set vsr0 up",
        &format!("ip link set csr0 netns {ct}"),
    ]);
    ctr.sh(&[
        &format!("ip addr add {CONTAINER}/24 dev csr0"),
        "ip link set csr0 up",
        &format!("ip route add default via {GATEWAY}"),
    ]);
    // The container: a TCP server on 80 that writes the peer it sees, a
    // UDP echo on 53, and a server of its own on 127.0.0.1:<published
    // port> (its loopback must never be redirected).
    ctr.run(|| {
        let serve = |l: TcpListener, tag: &'static str| {
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let mut s = s;
                    let peer = s
                        .peer_addr()
                        .map(|a| a.ip().to_string())
                        .unwrap_or_default();
                    let _ = s.write_all(format!("{tag} {peer}").as_bytes());
                }
            });
        };
        serve(TcpListener::bind("0.0.0.0:80").unwrap(), "web");
        serve(
            TcpListener::bind(("127.0.0.1", PUBLISHED)).unwrap(),
            "inner",
        );
        let u = UdpSocket::bind("0.0.0.0:53").unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
            }
        });
    });

    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, PUBLISHED));
    // Nothing is published yet: nothing listens on the host's port.
    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "before publishing: {refused:?}");

    let redirect = host.run(|| {
        let r = SockRedirect::attach().unwrap_or_else(|e| panic!("cannot attach: {e}"));
        r.sync(&both_published()).unwrap();
        r
    });
    assert_eq!(
        redirect.lookup(published(Proto::Tcp)).unwrap(),
        Some(SocketAddrV4::new(CONTAINER, 80))
    );

    let seen = host.run(move || tcp_visit(target)).unwrap();
    assert_eq!(seen.greeting, format!("web {GATEWAY}"), "{seen:?}");
    // The socket was connected to the container from the start (its
    // source is the bridge's address, not 127.0.0.1), yet its peer reads
    // as the published address.
    assert_eq!(seen.local.ip(), std::net::IpAddr::V4(GATEWAY), "{seen:?}");
    assert_eq!(seen.peer, target, "{seen:?}");

    let (echo, from) = host.run(move || udp_visit(target)).unwrap();
    assert_eq!(echo, "ping");
    assert_eq!(from, target, "recvfrom shows the published address");

    // A connected UDP socket: connect() is redirected too.
    let peer = host
        .run(move || {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.connect(target)?;
            s.send(b"pong")?;
            let mut buf = [0u8; 8];
            let n = s.recv(&mut buf)?;
            assert_eq!(&buf[..n], b"pong");
            s.peer_addr()
        })
        .unwrap();
    assert_eq!(peer, target);

    // The container's own 127.0.0.1 is not the host's.
    let inner = ctr.run(move || tcp_visit(target)).unwrap();
    assert_eq!(inner.greeting, "inner 127.0.0.1", "{inner:?}");

    // Unpublished: the entries are gone and the port leads nowhere.
    redirect.sync(&BTreeMap::new()).unwrap();
    assert_eq!(redirect.lookup(published(Proto::Tcp)).unwrap(), None);
    assert_eq!(redirect.lookup(published(Proto::Udp)).unwrap(), None);
    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "after unpublishing: {refused:?}");

    // Published again, then the owner drops its links: the programs are
    // detached (the map they read still has the entry, so a redirect now
    // would mean they are still attached).
    redirect.sync(&both_published()).unwrap();
    let again = host.run(move || tcp_visit(target)).unwrap();
    assert_eq!(again.greeting, format!("web {GATEWAY}"));
    drop(redirect);
    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "after the links were closed: {refused:?}");
}

/// The same through `PortRules`, as the daemon publishes: the nftables
/// DNAT rules are there too, yet the host's connection is redirected at
/// the socket level (with DNAT alone its local address would be
/// 127.0.0.1); removing the owner's rules removes the redirection.
#[test]
fn port_rules_redirect_the_host_connections() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (network namespaces, nftables, eBPF)"
    );
    const GW: Ipv4Addr = Ipv4Addr::new(10, 213, 182, 1);
    const CTR: Ipv4Addr = Ipv4Addr::new(10, 213, 182, 2);
    const PORT: u16 = 18081;
    let host = Netns::new();
    let ctr = Netns::new();
    let ct = ctr.tid.to_string();
    host.sh(&[
        "ip link add bt-sr1 type bridge",
        &format!("ip addr add {GW}/24 dev bt-sr1"),
        "ip link set bt-sr1 up",
        "ip link add vsr1 type veth peer name csr1",
        "ip link set vsr1 master bt-sr1",
        "ip link set vsr1 up",
        &format!("ip link set csr1 netns {ct}"),
    ]);
    ctr.sh(&[
        &format!("ip addr add {CTR}/24 dev csr1"),
        "ip link set csr1 up",
        &format!("ip route add default via {GW}"),
    ]);
    ctr.run(|| {
        let l = TcpListener::bind("0.0.0.0:80").unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut s = s;
                let _ = s.write_all(b"web");
            }
        });
    });
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, PORT));
    let rules = host.run(|| {
        let rules = PortRules::new("bt-sockredir");
        assert!(rules.redirect_host_connections());
        let binding = Binding {
            key: PortKey {
                port: 80,
                proto: Proto::Tcp,
            },
            host_ip: Ipv4Addr::UNSPECIFIED.into(),
            host_port: PORT,
        };
        let t = Target {
            container_ip: CTR,
            container_ip6: None,
            bridge: "bt-sr1".into(),
        };
        rules.set("c1", t, &[binding]).unwrap();
        rules
    });
    let seen = host.run(move || tcp_visit(target)).unwrap();
    assert_eq!(seen.greeting, "web");
    assert_eq!(seen.local.ip(), std::net::IpAddr::V4(GW), "{seen:?}");
    assert_eq!(seen.peer, target);

    let rules = host.run(move || {
        rules.remove("c1").unwrap();
        rules
    });
    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "after removal: {refused:?}");
    drop(rules);
}
