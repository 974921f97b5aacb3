//! Port publishing on the real kernel: host ports held by bound sockets,
//! DNAT through nftables for the host's own connections (to 127.0.0.1 and
//! to its address), for traffic arriving from outside, and hairpin traffic
//! from a container to its own published port and to another container's
//! on the same bridge (without `br_netfilter`'s help); TCP and UDP; a port
//! in use; removal.
//!
//! Everything happens in three network namespaces this test makes by
//! `unshare(CLONE_NEWNET)` on threads of its own: "host" (a bridge, the
//! nftables table, the held ports), "container" (behind the bridge, with
//! the servers) and "outside" (a client routed through the host). They,
//! their links and the table go away with the threads' last sockets; the
//! machine's own namespace is never touched. The links are made with
//! iproute2 (`ip`) as test fixtures: berth's own netlink code is not what
//! this test checks.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use berth_net::ports::{
    self, Allocator, Binding, PortError, PortKey, PortRules, Proto, Request, Target,
};
use common::thread_ns::Netns;

const TABLE: &str = "bt-ports";
const TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `addr`, reads the greeting line.
fn greeting(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn udp_echo(addr: SocketAddr) -> std::io::Result<String> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.send_to(b"ping", addr)?;
    let mut buf = [0u8; 64];
    let (n, _) = s.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn sa(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)
}

fn tcp(port: u16) -> PortKey {
    PortKey {
        port,
        proto: Proto::Tcp,
    }
}

#[test]
fn publish_tcp_and_udp_through_nftables() {
    common::root();
    let (host, ctr, ctr2) = (Netns::new(), Netns::new(), Netns::new());
    let outside = Netns::new();
    let ot = outside.tid.to_string();
    host.bridge("bt0", &["10.213.77.1/24".into()]);
    let gateways = ["10.213.77.1".to_owned()];
    host.plug(
        "bt0",
        "vc0",
        &ctr,
        "ce0",
        &["10.213.77.2/24".into()],
        &gateways,
    );
    host.plug(
        "bt0",
        "vc1",
        &ctr2,
        "ce1",
        &["10.213.77.3/24".into()],
        &gateways,
    );
    host.sh(&[
        "ip link set vc0 type bridge_slave hairpin on",
        "ip link add vo0 type veth peer name oe0",
        "ip addr add 10.214.77.1/24 dev vo0",
        "ip link set vo0 up",
        &format!("ip link set oe0 netns {ot}"),
    ]);
    outside.sh(&[
        "ip addr add 10.214.77.2/24 dev oe0",
        "ip link set oe0 up",
        "ip route add default via 10.214.77.1",
    ]);
    // The container's servers: a TCP greeting on 80, a UDP echo on 53.
    ctr.run(|| {
        let l = TcpListener::bind("0.0.0.0:80").unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut s = s;
                let peer = s
                    .peer_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let _ = s.write_all(format!("hello from {peer}").as_bytes());
            }
        });
        let u = UdpSocket::bind("0.0.0.0:53").unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
            }
        });
    });

    // The host: forwarding in its own namespace, berth's table as netcore
    // makes it (its base chains and a network's rules), route_localnet on
    // the bridge. Port publishing adds its own chains to it.
    host.run(|| {
        fs_err::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        // This namespace's own br_netfilter switch (per namespace; absent
        // when the module is not loaded, which is the same as off): off, as
        // on a host without docker, so bridged replies skip netfilter.
        let brnf = std::path::Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
        if brnf.exists() {
            fs_err::write(brnf, "0").unwrap();
        }
        let table = berth_net::nft::Table::new(TABLE);
        table
            .add_network(&berth_net::nft::NetworkRules {
                id: "n1".into(),
                bridge: "bt0".into(),
                subnet: Some("10.213.77.0/24".parse().unwrap()),
                subnet6: None,
                internal: false,
            })
            .unwrap();
        ports::enable_route_localnet("bt0").unwrap();
    });

    let (alloc6, rules, bindings) = host.run(|| {
        let alloc = Allocator::with_range((40000, 40099));
        let rules = PortRules::new(TABLE);
        let requests = [
            Request {
                key: tcp(80),
                host_ip: None,
                host_ports: Some((8080, 8080)),
            },
            Request {
                key: tcp(80),
                host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                host_ports: Some((8081, 8081)),
            },
            Request {
                key: tcp(80),
                host_ip: None,
                host_ports: None,
            },
            Request {
                key: PortKey {
                    port: 53,
                    proto: Proto::Udp,
                },
                host_ip: None,
                host_ports: Some((5353, 5353)),
            },
        ];
        let bindings = alloc.reserve("c1", &requests).unwrap();
        let target = Target {
            container_ip: Some(Ipv4Addr::new(10, 213, 77, 2)),
            container_ip6: None,
            bridge: "bt0".into(),
        };
        rules.set("c1", target, &bindings).unwrap();
        (alloc, rules, bindings)
    });
    let random = bindings
        .iter()
        .find(|b| (40000..40100).contains(&b.host_port))
        .map(|b| b.host_port)
        .expect("a random port from the range");
    // An IPv4 and (the host has IPv6) an IPv6 binding per unaddressed request.
    assert!(bindings.contains(&Binding {
        key: tcp(80),
        host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        host_port: 8080
    }));

    // The host's own connections: to 127.0.0.1 and to its address.
    let seen = host.run(move || {
        (
            greeting(sa([127, 0, 0, 1], 8080)),
            greeting(sa([10, 214, 77, 1], 8080)),
            greeting(sa([127, 0, 0, 1], 8081)),
            greeting(sa([10, 214, 77, 1], 8081)),
            greeting(sa([127, 0, 0, 1], random)),
            udp_echo(sa([127, 0, 0, 1], 5353)),
        )
    });
    // Loopback sources are masqueraded to the bridge's address.
    assert_eq!(seen.0.unwrap(), "hello from 10.213.77.1");
    assert!(seen.1.unwrap().starts_with("hello from"));
    assert!(seen.2.unwrap().starts_with("hello from"));
    assert!(seen.3.is_err(), "8081 is published on 127.0.0.1 only");
    assert!(seen.4.unwrap().starts_with("hello from"));
    assert_eq!(seen.5.unwrap(), "ping");

    // IPv6 on the host's loopback: the proxy (nftables cannot DNAT IPv6 to
    // an IPv4 container), then the IPv4 path with its masquerade.
    let (v6, alloc) = host.run(move || {
        alloc6
            .proxy_ipv6("c1", Ipv4Addr::new(10, 213, 77, 2), false)
            .unwrap();
        let v6 = greeting(SocketAddr::new(
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            8080,
        ));
        (v6, alloc6)
    });
    assert_eq!(v6.unwrap(), "hello from 10.213.77.1");
    // From outside, through prerouting: the client's own address arrives.
    let from_outside = outside.run(|| greeting(sa([10, 214, 77, 1], 8080)));
    assert_eq!(from_outside.unwrap(), "hello from 10.214.77.2");
    // Hairpin: the container reaches its own published port.
    let hairpin = ctr.run(|| greeting(sa([10, 213, 77, 1], 8080)));
    assert_eq!(hairpin.unwrap(), "hello from 10.213.77.1");
    // Another container of the bridge, through the published port: the
    // answer comes back through the host (masqueraded to the bridge's
    // address, as docker's proxy would connect), not straight over the
    // bridge from an address the client never called.
    let neighbour = ctr2.run(|| greeting(sa([10, 213, 77, 1], 8080)));
    assert_eq!(neighbour.unwrap(), "hello from 10.213.77.1");

    // The port is held: another program cannot take it, nor can another
    // owner; something else's port is docker's bind error.
    let checks = host.run(move || {
        let squatter = TcpListener::bind("0.0.0.0:8090").unwrap();
        let taken = TcpListener::bind("127.0.0.1:8080").is_err();
        let again = alloc.reserve(
            "c2",
            &[Request {
                key: tcp(80),
                host_ip: None,
                host_ports: Some((8080, 8080)),
            }],
        );
        let busy = alloc.reserve(
            "c2",
            &[Request {
                key: tcp(80),
                host_ip: None,
                host_ports: Some((8090, 8090)),
            }],
        );
        drop(squatter);
        (taken, again.map(|_| ()), busy.map(|_| ()), alloc)
    });
    let (taken, again, busy, alloc) = checks;
    assert!(taken);
    assert_eq!(
        again.unwrap_err().to_string(),
        "Bind for 0.0.0.0:8080 failed: port is already allocated"
    );
    let busy = busy.unwrap_err();
    assert!(matches!(busy, PortError::Bind { .. }));
    assert_eq!(
        busy.to_string(),
        "failed to bind host port for 0.0.0.0:8090/tcp: address already in use"
    );
    assert!(alloc.held("c2").is_empty());

    // Removal: no rule of c1 left, the port free and unpublished.
    let after = host.run(move || {
        rules.remove("c1").unwrap();
        alloc.release("c1");
        let listed = Command::new("nft")
            .args(["list", "table", "inet", TABLE])
            .output()
            .unwrap();
        let free = TcpListener::bind("0.0.0.0:8080").is_ok();
        let gone = greeting(sa([127, 0, 0, 1], 8080)).is_err()
            && greeting(SocketAddr::new(
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                8080,
            ))
            .is_err();
        (
            String::from_utf8_lossy(&listed.stdout).into_owned(),
            free,
            gone,
        )
    });
    assert!(!after.0.contains("\"c1\""), "{}", after.0);
    assert!(after.0.contains("chain ports-dnat"), "{}", after.0);
    assert!(after.1 && after.2);
}

/// Which IPv6 bindings the proxy listens on: none for a container with an
/// IPv6 address when the socket-level redirection carries `[::1]`; `::`
/// and `::1` when it does not; all of them once the ports lead to an
/// IPv4-only address (called again, it starts what it newly needs). A
/// port without a listener refuses; with one, the proxy accepts (and
/// hangs up, nothing being behind the addresses used here).
#[test]
fn the_ipv6_proxy_listens_only_where_nothing_else_carries_the_port() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (network namespaces)"
    );
    let host = Netns::new();
    host.sh(&["ip -6 addr add fd00:213:185::1/64 dev lo nodad"]);
    let listening = host.run(|| {
        let alloc = Allocator::with_range((40000, 40100));
        let at = |ip: &str, port| Request {
            key: tcp(80),
            host_ip: Some(ip.parse().unwrap()),
            host_ports: Some((port, port)),
        };
        let requests = [at("::", 8080), at("::1", 8081), at("fd00:213:185::1", 8082)];
        let accepts = |ip: &str, port: u16| {
            TcpStream::connect_timeout(&SocketAddr::new(ip.parse().unwrap(), port), TIMEOUT).is_ok()
        };
        let probe = || {
            (
                accepts("::1", 8080),
                accepts("::1", 8081),
                accepts("fd00:213:185::1", 8082),
            )
        };
        let c6: IpAddr = "fd00:213:186::2".parse().unwrap();
        let c4: IpAddr = "10.213.186.2".parse().unwrap();
        let mut seen = Vec::new();
        // Redirected: nothing listens.
        alloc.reserve("c6", &requests).unwrap();
        alloc.proxy_ipv6("c6", c6, true).unwrap();
        seen.push(probe());
        alloc.release("c6");
        // Not redirected: `::` and `::1` (DNAT carries the host address).
        alloc.reserve("c6", &requests).unwrap();
        alloc.proxy_ipv6("c6", c6, false).unwrap();
        seen.push(probe());
        // Moved to an IPv4-only network: every IPv6 binding.
        alloc.proxy_ipv6("c6", c4, true).unwrap();
        seen.push(probe());
        alloc.release("c6");
        seen.push(probe());
        seen
    });
    assert_eq!(
        listening,
        [
            (false, false, false),
            (true, true, false),
            (true, true, true),
            (false, false, false),
        ]
    );
}
