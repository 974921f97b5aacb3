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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use berth_net::ports::{Binding, PortKey, PortRules, Proto, Target};
use berth_net::sockredir::{Frontend, RedirectError, SockRedirect};
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
    let s = UdpSocket::bind(unspecified(addr, 0))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.send_to(b"ping", addr)?;
    let mut buf = [0u8; 64];
    let (n, from) = s.recv_from(&mut buf)?;
    Ok((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
}

/// Through a connected UDP socket: the echo must come back, and the
/// socket's peer.
fn udp_connected(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let s = UdpSocket::bind(unspecified(addr, 0))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.connect(addr)?;
    s.send(b"pong")?;
    let mut buf = [0u8; 8];
    let n = s.recv(&mut buf)?;
    assert_eq!(&buf[..n], b"pong");
    s.peer_addr()
}

/// Every address of `like`'s family, at `port`.
fn unspecified(like: SocketAddr, port: u16) -> SocketAddr {
    match like {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
    }
}

fn published(proto: Proto) -> Frontend {
    Frontend {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, PUBLISHED)),
        proto,
    }
}

fn both_published() -> BTreeMap<Frontend, SocketAddr> {
    BTreeMap::from([
        (published(Proto::Tcp), SocketAddr::from((CONTAINER, 80))),
        (published(Proto::Udp), SocketAddr::from((CONTAINER, 53))),
    ])
}

/// A server on `addr` that writes `tag` and the peer address it sees to
/// each connection.
fn serve_tcp(addr: SocketAddr, tag: &'static str) {
    let l = TcpListener::bind(addr).unwrap();
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
}

/// A UDP echo on `addr`.
fn serve_udp(addr: SocketAddr) {
    let u = UdpSocket::bind(addr).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = u.recv_from(&mut buf) {
            let _ = u.send_to(&buf[..n], from);
        }
    });
}

#[test]
fn host_connections_to_published_ports_skip_nat() {
    common::root();
    let (host, ctr) = (Netns::new(), Netns::new());
    host.bridge("bt-sr0", &[format!("{GATEWAY}/24")]);
    let (addrs, gateways) = ([format!("{CONTAINER}/24")], [GATEWAY.to_string()]);
    host.plug("bt-sr0", "vsr0", &ctr, "csr0", &addrs, &gateways);
    // The container: a TCP server on 80 that writes the peer it sees, a
    // UDP echo on 53, and a server of its own on 127.0.0.1:<published
    // port> (its loopback must never be redirected).
    ctr.run(|| {
        serve_tcp("0.0.0.0:80".parse().unwrap(), "web");
        serve_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, PUBLISHED)), "inner");
        serve_udp("0.0.0.0:53".parse().unwrap());
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
        Some(SocketAddr::from((CONTAINER, 80)))
    );

    let seen = host.run(move || tcp_visit(target)).unwrap();
    assert_eq!(seen.greeting, format!("web {GATEWAY}"), "{seen:?}");
    // The socket was connected to the container from the start (its
    // source is the bridge's address, not 127.0.0.1), yet its peer reads
    // as the published address.
    assert_eq!(seen.local.ip(), IpAddr::V4(GATEWAY), "{seen:?}");
    assert_eq!(seen.peer, target, "{seen:?}");

    let (echo, from) = host.run(move || udp_visit(target)).unwrap();
    assert_eq!(echo, "ping");
    assert_eq!(from, target, "recvfrom shows the published address");

    // A connected UDP socket: connect() is redirected too.
    let peer = host.run(move || udp_connected(target)).unwrap();
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
/// 127.0.0.1), also from an IPv6 socket to `::ffff:127.0.0.1` (TCP, UDP
/// connected and not); removing the owner's rules removes the redirection.
#[test]
fn port_rules_redirect_the_host_connections() {
    common::root();
    const GW: Ipv4Addr = Ipv4Addr::new(10, 213, 182, 1);
    const CTR: Ipv4Addr = Ipv4Addr::new(10, 213, 182, 2);
    const PORT: u16 = 18081;
    let (host, ctr) = (Netns::new(), Netns::new());
    host.bridge("bt-sr1", &[format!("{GW}/24")]);
    let (addrs, gateways) = ([format!("{CTR}/24")], [GW.to_string()]);
    host.plug("bt-sr1", "vsr1", &ctr, "csr1", &addrs, &gateways);
    ctr.run(|| {
        let l = TcpListener::bind("0.0.0.0:80").unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut s = s;
                let _ = s.write_all(b"web");
            }
        });
        serve_udp("0.0.0.0:53".parse().unwrap());
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
            container_ip: Some(CTR),
            container_ip6: None,
            bridge: "bt-sr1".into(),
        };
        let udp = Binding {
            key: PortKey {
                port: 53,
                proto: Proto::Udp,
            },
            ..binding
        };
        rules.set("c1", t, &[binding, udp]).unwrap();
        rules
    });
    let seen = host.run(move || tcp_visit(target)).unwrap();
    assert_eq!(seen.greeting, "web");
    assert_eq!(seen.local.ip(), IpAddr::V4(GW), "{seen:?}");
    assert_eq!(seen.peer, target);

    // A dual-stack client: an IPv6 socket to `::ffff:127.0.0.1` (IPv4 in
    // IPv6's form) is redirected too, to `::ffff:<container>`, and its
    // peer reads as the address it asked for.
    let mapped = SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), PORT));
    let seen = host.run(move || tcp_visit(mapped)).unwrap();
    assert_eq!(seen.greeting, "web");
    assert_eq!(seen.local.ip(), IpAddr::V6(GW.to_ipv6_mapped()), "{seen:?}");
    assert_eq!(seen.peer, mapped);
    // UDP from such a socket, connected and not: the replies come from
    // the address it asked for.
    assert_eq!(host.run(move || udp_connected(mapped)).unwrap(), mapped);
    let (echo, from) = host.run(move || udp_visit(mapped)).unwrap();
    assert_eq!(echo, "ping");
    assert_eq!(from, mapped, "recvfrom shows the published address");

    let rules = host.run(move || {
        rules.remove("c1").unwrap();
        rules
    });
    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "after removal: {refused:?}");
    drop(rules);
}

/// IPv6: a host connection to `[::1]:<port>` goes straight to the
/// container's IPv6 address (TCP, and UDP both unconnected and
/// connected), its peer reads `[::1]:<port>`; the container's own `::1`
/// is left alone; an IPv4 container address for an IPv6 frontend is
/// refused; unpublished, the entries are gone.
#[test]
fn host_ipv6_connections_to_published_ports_go_straight_to_the_container() {
    common::root();
    const GW4: Ipv4Addr = Ipv4Addr::new(10, 213, 183, 1);
    const CTR4: Ipv4Addr = Ipv4Addr::new(10, 213, 183, 2);
    const GW6: &str = "fd00:213:183::1";
    const CTR6: &str = "fd00:213:183::2";
    const PORT: u16 = 18082;
    let (gw6, ctr6): (Ipv6Addr, Ipv6Addr) = (GW6.parse().unwrap(), CTR6.parse().unwrap());
    let (host, ctr) = (Netns::new(), Netns::new());
    host.bridge("bt-sr2", &[format!("{GW4}/24"), format!("{GW6}/64")]);
    let addrs = [format!("{CTR4}/24"), format!("{CTR6}/64")];
    let gateways = [GW4.to_string(), GW6.to_owned()];
    host.plug("bt-sr2", "vsr2", &ctr, "csr2", &addrs, &gateways);
    let lo6 = |port| SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    ctr.run(move || {
        serve_tcp(SocketAddr::from((ctr6, 80)), "web6");
        serve_tcp(SocketAddr::from((CTR4, 80)), "web4");
        serve_tcp(lo6(PORT), "inner");
        serve_udp(SocketAddr::from((ctr6, 53)));
    });
    let target = lo6(PORT);
    let front = |proto| Frontend {
        addr: target,
        proto,
    };
    let front4 = Frontend {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, PORT)),
        proto: Proto::Tcp,
    };
    let wanted = BTreeMap::from([
        (front(Proto::Tcp), SocketAddr::from((ctr6, 80))),
        (front(Proto::Udp), SocketAddr::from((ctr6, 53))),
        (front4, SocketAddr::from((CTR4, 80))),
    ]);

    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "before publishing: {refused:?}");
    let redirect = host.run(move || {
        let r = SockRedirect::attach().unwrap_or_else(|e| panic!("cannot attach: {e}"));
        r.sync(&wanted).unwrap();
        r
    });
    assert_eq!(
        redirect.lookup(front(Proto::Udp)).unwrap(),
        Some(SocketAddr::from((ctr6, 53)))
    );

    // TCP: connected to the container's address from the start (the
    // bridge's address is the source, not ::1), the peer reads [::1]:PORT.
    let seen = host.run(move || tcp_visit(target)).unwrap();
    assert_eq!(seen.greeting, format!("web6 {GW6}"), "{seen:?}");
    assert_eq!(seen.local.ip(), IpAddr::V6(gw6), "{seen:?}");
    assert_eq!(seen.peer, target, "{seen:?}");
    // The same port over IPv4 has its own entry, to the IPv4 address.
    let seen4 = host.run(move || tcp_visit(front4.addr)).unwrap();
    assert_eq!(seen4.greeting, format!("web4 {GW4}"), "{seen4:?}");

    // UDP, unconnected (sendmsg6 and recvmsg6) and connected.
    let (echo, from) = host.run(move || udp_visit(target)).unwrap();
    assert_eq!(echo, "ping");
    assert_eq!(from, target, "recvfrom shows the published address");
    let peer = host.run(move || udp_connected(target)).unwrap();
    assert_eq!(peer, target);

    // The container's own ::1 is its own.
    let inner = ctr.run(move || tcp_visit(target)).unwrap();
    assert_eq!(inner.greeting, "inner ::1", "{inner:?}");

    // A socket keeps its address family: an IPv4 container address for an
    // IPv6 frontend is an error, and changes nothing.
    let mixed = BTreeMap::from([(front(Proto::Tcp), SocketAddr::from((CTR4, 80)))]);
    let err = redirect.sync(&mixed).unwrap_err();
    assert!(matches!(err, RedirectError::Family { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "published port [::1]:{PORT} cannot lead to {CTR4}:80: a socket cannot change its address family"
        )
    );
    assert_eq!(
        redirect.lookup(front(Proto::Tcp)).unwrap(),
        Some(SocketAddr::from((ctr6, 80)))
    );

    // Unpublished: the entries are gone and the port leads nowhere.
    redirect.sync(&BTreeMap::new()).unwrap();
    for f in [front(Proto::Tcp), front(Proto::Udp), front4] {
        assert_eq!(redirect.lookup(f).unwrap(), None, "{f:?}");
    }
    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "after unpublishing: {refused:?}");
    drop(redirect);
}

/// `PortRules` with an IPv6 container, as the daemon publishes `-p
/// PORT:80` on a dual-stack network: the host's `[::1]` connection is
/// redirected (its local address is the bridge's, where the proxy would
/// have shown `::1`), the map has the entry; removing the owner removes it.
#[test]
fn port_rules_redirect_the_hosts_ipv6_connections() {
    common::root();
    const GW4: Ipv4Addr = Ipv4Addr::new(10, 213, 184, 1);
    const CTR4: Ipv4Addr = Ipv4Addr::new(10, 213, 184, 2);
    const GW6: &str = "fd00:213:184::1";
    const CTR6: &str = "fd00:213:184::2";
    const PORT: u16 = 18083;
    let (gw6, ctr6): (Ipv6Addr, Ipv6Addr) = (GW6.parse().unwrap(), CTR6.parse().unwrap());
    let (host, ctr) = (Netns::new(), Netns::new());
    host.bridge("bt-sr3", &[format!("{GW4}/24"), format!("{GW6}/64")]);
    let addrs = [format!("{CTR4}/24"), format!("{CTR6}/64")];
    let gateways = [GW4.to_string(), GW6.to_owned()];
    host.plug("bt-sr3", "vsr3", &ctr, "csr3", &addrs, &gateways);
    ctr.run(|| serve_tcp("[::]:80".parse().unwrap(), "web"));
    let target = SocketAddr::from((Ipv6Addr::LOCALHOST, PORT));
    let frontend = Frontend {
        addr: target,
        proto: Proto::Tcp,
    };
    let rules = host.run(move || {
        let rules = PortRules::new("bt-sockredir6");
        assert!(rules.redirect_host_connections());
        assert!(rules.redirects_host_connections());
        let key = PortKey {
            port: 80,
            proto: Proto::Tcp,
        };
        let bindings =
            [Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()].map(|host_ip: IpAddr| {
                Binding {
                    key,
                    host_ip,
                    host_port: PORT,
                }
            });
        let t = Target {
            container_ip: Some(CTR4),
            container_ip6: Some(ctr6),
            bridge: "bt-sr3".into(),
        };
        rules.set("c1", t, &bindings).unwrap();
        rules
    });
    assert_eq!(
        rules.redirect().unwrap().lookup(frontend).unwrap(),
        Some(SocketAddr::from((ctr6, 80)))
    );
    let seen = host.run(move || tcp_visit(target)).unwrap();
    assert_eq!(seen.greeting, format!("web {GW6}"), "{seen:?}");
    assert_eq!(seen.local.ip(), IpAddr::V6(gw6), "{seen:?}");
    assert_eq!(seen.peer, target);

    let rules = host.run(move || {
        rules.remove("c1").unwrap();
        rules
    });
    assert_eq!(rules.redirect().unwrap().lookup(frontend).unwrap(), None);
    let refused = host.run(move || tcp_visit(target).map(|s| s.greeting));
    assert!(refused.is_err(), "after removal: {refused:?}");
    drop(rules);
}
