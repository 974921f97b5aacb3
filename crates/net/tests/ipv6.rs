//! The IPv6 data path, for real (root only): a bridge with its IPv6
//! gateway, veths with IPv6 addresses usable at once (no duplicate address
//! detection) and an IPv6 default route, berth's nftables rules for IPv6
//! (isolation, masquerade, `--internal`), and published ports DNATed to a
//! container's IPv6 address (with `::1` served by the small proxy).
//!
//! As in `datapath.rs`, nothing touches the machine's own namespace: the
//! "host" is a namespace of the test's, and the containers and an
//! "outside" peer are further namespaces plugged into its bridges.
//! Dropping the guards removes the namespaces, their links and tables.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use berth_net::link::{self, Endpoint, Netlink};
use berth_net::nft::{NetworkRules, Table};
use berth_net::ports::{Allocator, PortKey, PortRules, Proto, Request, Target};
use ipnet::{Ipv4Net, Ipv6Net};

use common::{Ns, root};

const TIMEOUT: Duration = Duration::from_secs(3);

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Net {
    s.parse().unwrap()
}

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A bridge in `host` with both gateways.
fn bridge(host: &Ns, name: &str, bip: &str, bip6: &str) {
    host.run(|| {
        let mut h = Netlink::new().unwrap();
        h.ensure_bridge(name, v4(bip)).unwrap();
        h.ensure_bridge_v6(name, v6(bip6)).unwrap();
        // Again: nothing changes, no error.
        h.ensure_bridge_v6(name, v6(bip6)).unwrap();
    });
}

/// Plugs a new container namespace `name` into `bridge` (in `host`) with
/// `addr` and `addr6`; default routes via `gw`/`gw6`.
fn container(
    dir: &Path,
    host: &Ns,
    name: &str,
    bridge: &str,
    (addr, addr6): (&str, &str),
    gw: Option<(&str, &str)>,
) -> Ns {
    let c = Ns::with_loopback(dir, name);
    let ep = Endpoint {
        gateway: gw.map(|(g, _)| g.parse().unwrap()),
        address6: Some(v6(addr6)),
        gateway6: gw.map(|(_, g)| ip6(g)),
        ..common::endpoint(name, bridge, v4(addr))
    };
    c.run(link::enable_ipv6_here).unwrap();
    common::plug(host, &c, &ep);
    c
}

/// A server in `ns` on `[addr]:port` that greets each client with the
/// address it came from.
fn greeter(ns: &Ns, addr: IpAddr, port: u16) {
    let l = ns
        .run(|| TcpListener::bind(SocketAddr::new(addr, port)))
        .unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let peer = s
                .peer_addr()
                .map(|a| a.ip().to_canonical().to_string())
                .unwrap_or_default();
            let _ = s.write_all(peer.as_bytes());
        }
    });
}

/// From inside `ns`: connects to `[addr]:port`, reads the greeting (the
/// address the server saw the client come from).
fn greeting(ns: &Ns, addr: IpAddr, port: u16) -> std::io::Result<String> {
    ns.run(|| {
        let mut s = TcpStream::connect_timeout(&SocketAddr::new(addr, port), TIMEOUT)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    })
}

fn sysctl(ns: &Ns, path: &str) -> String {
    ns.run(|| fs_err::read_to_string(path).unwrap().trim().to_owned())
}

#[test]
fn ipv6_endpoints_are_isolated_masqueraded_and_internal_ones_stay_in() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::with_loopback(dir.path(), "host");
    bridge(&host, "br6-a", "10.213.240.1/24", "fd42:240::1/64");
    bridge(&host, "br6-b", "10.213.241.1/24", "fd42:241::1/64");
    bridge(&host, "br6-i", "10.213.242.1/24", "fd42:242::1/64");
    // "The outside": behind a bridge that is not berth's.
    bridge(&host, "br6-up", "10.213.243.1/24", "fd42:243::1/64");
    assert_eq!(
        sysctl(&host, "/proc/sys/net/ipv6/conf/br6-a/accept_ra"),
        "0"
    );
    assert_eq!(
        sysctl(&host, "/proc/sys/net/ipv6/conf/br6-a/disable_ipv6"),
        "0"
    );
    // Forwarding in the test's namespace only.
    let before = fs_err::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").unwrap();
    host.run(link::enable_ip6_forward).unwrap();
    assert_eq!(
        fs_err::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").unwrap(),
        before
    );

    let gw = |n: u8| {
        let (a, b) = (format!("10.213.{n}.1"), format!("fd42:{n}::1"));
        (a, b)
    };
    let (ga, gb, gu) = (gw(240), gw(241), gw(243));
    let a1 = container(
        dir.path(),
        &host,
        "a1",
        "br6-a",
        ("10.213.240.2/24", "fd42:240::2/64"),
        Some((&ga.0, &ga.1)),
    );
    let a2 = container(
        dir.path(),
        &host,
        "a2",
        "br6-a",
        ("10.213.240.3/24", "fd42:240::3/64"),
        Some((&ga.0, &ga.1)),
    );
    let b1 = container(
        dir.path(),
        &host,
        "b1",
        "br6-b",
        ("10.213.241.2/24", "fd42:241::2/64"),
        Some((&gb.0, &gb.1)),
    );
    let i1 = container(
        dir.path(),
        &host,
        "i1",
        "br6-i",
        ("10.213.242.2/24", "fd42:242::2/64"),
        None,
    );
    let out = container(
        dir.path(),
        &host,
        "out",
        "br6-up",
        ("10.213.243.2/24", "fd42:243::2/64"),
        Some((&gu.0, &gu.1)),
    );
    assert_eq!(
        sysctl(&a1, "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"),
        "0"
    );

    let at = |s: &str| IpAddr::V6(ip6(s));
    for (ns, addr) in [
        (&a2, "fd42:240::3"),
        (&b1, "fd42:241::2"),
        (&out, "fd42:243::2"),
        (&a1, "fd42:240::2"),
    ] {
        greeter(ns, at(addr), 9000);
    }
    // Usable at once (no DAD): a1 -> a2 right after plugging, by IPv6.
    assert_eq!(
        greeting(&a1, at("fd42:240::3"), 9000).unwrap(),
        "fd42:240::2"
    );
    // The host reaches a container; the default route takes a1 out.
    assert_eq!(
        greeting(&host, at("fd42:240::2"), 9000).unwrap(),
        "fd42:240::1"
    );
    assert_eq!(
        greeting(&a1, at("fd42:243::2"), 9000).unwrap(),
        "fd42:240::2"
    );
    // Without berth's rules, the namespace routes between the bridges.
    assert_eq!(
        greeting(&a1, at("fd42:241::2"), 9000).unwrap(),
        "fd42:240::2"
    );

    let table = Table::new("bt_ipv6");
    let rules = |id: &str, br: &str, s: &str, s6: &str, internal: bool| NetworkRules {
        id: id.into(),
        bridge: br.into(),
        subnet: Some(v4(s)),
        subnet6: Some(v6(s6)),
        internal,
    };
    // `aaaa` has rules as an IPv6-only network's (`--ipv4=false`): no
    // IPv4 subnet; its IPv6 traffic is isolated and masqueraded the same.
    let nets = [
        NetworkRules {
            subnet: None,
            ..rules("aaaa", "br6-a", "10.213.240.0/24", "fd42:240::/64", false)
        },
        rules("bbbb", "br6-b", "10.213.241.0/24", "fd42:241::/64", false),
        rules("iiii", "br6-i", "10.213.242.0/24", "fd42:242::/64", true),
    ];
    host.run(|| {
        for n in &nets {
            table.add_network(n).unwrap();
        }
    });

    // Same network: fine. Another network: dropped, both ways.
    assert_eq!(
        greeting(&a1, at("fd42:240::3"), 9000).unwrap(),
        "fd42:240::2"
    );
    assert!(greeting(&a1, at("fd42:241::2"), 9000).is_err());
    assert!(greeting(&b1, at("fd42:240::2"), 9000).is_err());
    // Out: masqueraded behind the uplink's IPv6 address.
    assert_eq!(
        greeting(&a1, at("fd42:243::2"), 9000).unwrap(),
        "fd42:243::1"
    );
    // The outside cannot open connections to container addresses.
    assert!(greeting(&out, at("fd42:240::2"), 9000).is_err());
    // Internal: no IPv6 default route, and no way out even with one.
    assert!(greeting(&i1, at("fd42:243::2"), 9000).is_err());
    i1.run(|| {
        let mut nl = Netlink::new().unwrap();
        let eth0 = nl.link_index("eth0").unwrap().unwrap();
        nl.add_default_route6(ip6("fd42:242::1"), eth0).unwrap();
    });
    assert!(greeting(&i1, at("fd42:243::2"), 9000).is_err());

    // Each network's rules carry its tag: four filter rules, two
    // masquerades (IPv4 and IPv6), one for the IPv6-only network.
    let tagged = host
        .run(|| table.tagged_rules(|c| c == "net:bbbb"))
        .unwrap();
    assert_eq!(tagged.len(), 6, "{tagged:?}");
    let tagged = host
        .run(|| table.tagged_rules(|c| c == "net:aaaa"))
        .unwrap();
    assert_eq!(tagged.len(), 5, "{tagged:?}");
    host.run(|| table.delete()).unwrap();
}

#[test]
fn published_ports_reach_an_ipv6_container_by_dnat_and_loopback_by_proxy() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::with_loopback(dir.path(), "host");
    bridge(&host, "br6-p", "10.213.244.1/24", "fd42:244::1/64");
    bridge(&host, "br6-o", "10.213.245.1/24", "fd42:245::1/64");
    host.run(|| {
        link::enable_ip_forward().unwrap();
        link::enable_ip6_forward().unwrap();
    });
    let c = container(
        dir.path(),
        &host,
        "c",
        "br6-p",
        ("10.213.244.2/24", "fd42:244::2/64"),
        Some(("10.213.244.1", "fd42:244::1")),
    );
    let out = container(
        dir.path(),
        &host,
        "out",
        "br6-o",
        ("10.213.245.2/24", "fd42:245::2/64"),
        Some(("10.213.245.1", "fd42:245::1")),
    );
    // Hairpin: the container reaches its own published port through the
    // host's address (with iproute2: /sys shows the machine's namespace).
    let veth = link::host_ifname("c", "br6-p");
    let status = host.run(|| {
        std::process::Command::new("ip")
            .args([
                "link",
                "set",
                &veth,
                "type",
                "bridge_slave",
                "hairpin",
                "on",
            ])
            .status()
    });
    assert!(status.unwrap().success());
    greeter(&c, IpAddr::V6(Ipv6Addr::UNSPECIFIED), 80);

    const TABLE: &str = "bt_ipv6_ports";
    let table = Table::new(TABLE);
    host.run(|| {
        table
            .add_network(&NetworkRules {
                id: "pppp".into(),
                bridge: "br6-p".into(),
                subnet: Some(v4("10.213.244.0/24")),
                subnet6: Some(v6("fd42:244::/64")),
                internal: false,
            })
            .unwrap();
    });
    let key = PortKey {
        port: 80,
        proto: Proto::Tcp,
    };
    // `-p 8080:80` (every address) and `-p [fd42:245::1]:8081:80`.
    let requests = [
        Request {
            key,
            host_ip: None,
            host_ports: Some((8080, 8080)),
        },
        Request {
            key,
            host_ip: Some(IpAddr::V6(ip6("fd42:245::1"))),
            host_ports: Some((8081, 8081)),
        },
    ];
    let alloc = host.run(|| Allocator::with_range((40000, 40100)));
    let bindings = host.run(|| alloc.reserve("c", &requests)).unwrap();
    assert_eq!(bindings.len(), 3, "{bindings:?}");
    let port_rules = PortRules::new(TABLE);
    let c6 = ip6("fd42:244::2");
    let target = Target {
        container_ip: Some(Ipv4Addr::new(10, 213, 244, 2)),
        container_ip6: Some(c6),
        bridge: "br6-p".into(),
    };
    host.run(|| port_rules.set("c", target, &bindings)).unwrap();
    // From a thread in the host namespace: the proxy's threads connect
    // from there.
    host.run(|| alloc.proxy_ipv6("c", c6, false)).unwrap();

    let at = |s: &str| IpAddr::V6(ip6(s));
    // The host, to one of its own addresses: DNAT, its own address as source.
    assert_eq!(
        greeting(&host, at("fd42:245::1"), 8080).unwrap(),
        "fd42:245::1"
    );
    assert_eq!(
        greeting(&host, at("fd42:245::1"), 8081).unwrap(),
        "fd42:245::1"
    );
    // To ::1: the proxy, which connects from the bridge's address.
    assert_eq!(greeting(&host, at("::1"), 8080).unwrap(), "fd42:244::1");
    // From outside, routed through the host: DNAT, the client's address kept.
    assert_eq!(
        greeting(&out, at("fd42:245::1"), 8080).unwrap(),
        "fd42:245::2"
    );
    assert_eq!(
        greeting(&out, at("fd42:245::1"), 8081).unwrap(),
        "fd42:245::2"
    );
    // Hairpin: masqueraded, so the answer comes back the same way.
    assert!(greeting(&c, at("fd42:245::1"), 8080).is_ok());
    // IPv4 keeps working beside it.
    assert_eq!(
        greeting(&out, IpAddr::V4(Ipv4Addr::new(10, 213, 245, 1)), 8080).unwrap(),
        "10.213.245.2"
    );

    // Removed: nothing answers any more.
    host.run(|| port_rules.remove("c")).unwrap();
    alloc.release("c");
    assert!(greeting(&out, at("fd42:245::1"), 8080).is_err());
    assert!(greeting(&host, at("::1"), 8080).is_err());
    host.run(|| table.delete()).unwrap();
}
