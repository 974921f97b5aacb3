//! The kernel data path, for real (root only): network namespaces, a
//! bridge, veth pairs with addresses and routes, and berth's nftables table
//! (isolation, `--internal`, masquerade).
//!
//! Nothing here touches the host's network namespace: every test makes a
//! namespace of its own ("host"), creates its bridges, veths and nftables
//! table inside it, and the "containers" (and an "outside" peer) are
//! further namespaces plugged into those bridges. Dropping the guards
//! removes the namespaces, which takes their links and tables with them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use berth_net::link::{self, Endpoint, Netlink};
use berth_net::netns;
use berth_net::nft::{NetworkRules, Table};
use ipnet::Ipv4Net;

use common::{Ns, container, root};

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

/// A listener on `addr:port` inside `ns`.
fn listen(ns: &Ns, addr: Ipv4Addr, port: u16) -> TcpListener {
    ns.run(|| TcpListener::bind(SocketAddrV4::new(addr, port)))
        .unwrap()
}

/// A TCP connection from inside `ns` to `addr:port`; the address the
/// listener saw it come from, or the error.
fn connect(
    ns: &Ns,
    listener: &TcpListener,
    addr: Ipv4Addr,
    port: u16,
) -> std::io::Result<SocketAddr> {
    let target = SocketAddr::V4(SocketAddrV4::new(addr, port));
    let stream = ns.run(|| TcpStream::connect_timeout(&target, Duration::from_secs(2)))?;
    let (_conn, peer) = listener.accept()?;
    drop(stream);
    Ok(peer)
}

#[test]
fn a_namespace_is_made_without_forking_and_removed() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let ns = Ns::new(dir.path(), "ns1");
    assert!(netns::is_netns(&ns.path));
    // Only `lo`, down, in a new namespace.
    let links = ns.netlink().links().unwrap();
    assert_eq!(
        links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["lo"]
    );
    assert!(!links[0].up);
    // Our own thread is still in the host's namespace.
    let here = fs_err::read_link("/proc/thread-self/ns/net").unwrap();
    let there = ns.run(|| fs_err::read_link("/proc/thread-self/ns/net").unwrap());
    assert_ne!(here, there);
    // Creating over an existing file is refused and leaves it alone.
    assert!(netns::create(&ns.path).is_err());
    assert!(netns::is_netns(&ns.path));
    netns::remove(&ns.path).unwrap();
    assert!(!ns.path.exists());
    // Removing again is fine.
    netns::remove(&ns.path).unwrap();
}

#[test]
fn containers_on_one_bridge_reach_each_other_and_the_host_reaches_them() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::new(dir.path(), "host");
    let bip = net("10.213.250.1/24");
    let mut h = host.netlink();
    let br = h.ensure_bridge("br-t1", bip).unwrap();
    // Idempotent: same index, no error for the existing address.
    assert_eq!(h.ensure_bridge("br-t1", bip).unwrap(), br);

    let c1 = container(
        dir.path(),
        &host,
        "c1",
        "br-t1",
        "10.213.250.2/24",
        Some(bip.addr()),
    );
    let c2 = container(
        dir.path(),
        &host,
        "c2",
        "br-t1",
        "10.213.250.3/24",
        Some(bip.addr()),
    );

    // Inside: lo and eth0, both up; eth0 has the MAC derived from the IP.
    let links = c1.netlink().links().unwrap();
    let mut names: Vec<_> = links.iter().map(|l| l.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["eth0", "lo"]);
    assert!(links.iter().all(|l| l.up), "{links:?}");

    // The host ends are ports of the bridge, up.
    let ports: Vec<_> = h
        .links()
        .unwrap()
        .into_iter()
        .filter(|l| l.master == Some(br))
        .collect();
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert!(ports.iter().all(|l| l.name.starts_with("vb") && l.up));

    // c1 -> c2, the host -> c1, c1 -> the host (gateway).
    let l2 = listen(&c2, Ipv4Addr::new(10, 213, 250, 3), 8000);
    let peer = connect(&c1, &l2, Ipv4Addr::new(10, 213, 250, 3), 8000).unwrap();
    assert_eq!(peer.ip().to_string(), "10.213.250.2");
    let l1 = listen(&c1, Ipv4Addr::UNSPECIFIED, 8001);
    let peer = connect(&host, &l1, Ipv4Addr::new(10, 213, 250, 2), 8001).unwrap();
    assert_eq!(peer.ip().to_string(), "10.213.250.1");
    let lh = listen(&host, bip.addr(), 8002);
    connect(&c1, &lh, bip.addr(), 8002).unwrap();

    // Deleting the host end takes the container's eth0 with it.
    let host_end = link::host_ifname("c1", "br-t1");
    assert!(h.delete_link(&host_end).unwrap());
    assert!(!h.delete_link(&host_end).unwrap());
    let names: Vec<_> = c1
        .netlink()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["lo"]);
    assert!(h.delete_link("br-t1").unwrap());
    assert_eq!(h.link_index("br-t1").unwrap(), None);
}

#[test]
fn a_failed_attach_leaves_no_veth() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::new(dir.path(), "host");
    let mut h = host.netlink();
    h.ensure_bridge("br-t2", net("10.213.251.1/24")).unwrap();
    let c = Ns::new(dir.path(), "c");
    let fd = netns::open(&c.path).unwrap();
    let mut inside = c.netlink();
    let ep = Endpoint {
        bridge: "br-t2".into(),
        host_ifname: link::host_ifname("c", "br-t2"),
        ifname: "eth0".into(),
        mac: [0x02, 0x42, 10, 213, 251, 2],
        address: Some(net("10.213.251.2/24")),
        // Not on the subnet: the route is refused.
        gateway: Some(Ipv4Addr::new(192, 0, 2, 99)),
        address6: None,
        gateway6: None,
    };
    let err = host
        .run(|| {
            let mut h = Netlink::new().unwrap();
            link::attach(&mut h, &mut inside, std::os::fd::AsFd::as_fd(&fd), &ep)
        })
        .unwrap_err();
    assert!(err.to_string().contains("default route"), "{err}");
    assert_eq!(h.link_index(&ep.host_ifname).unwrap(), None);
    assert_eq!(inside.link_index("eth0").unwrap(), None);
    // A missing bridge is a clear error too.
    let ep2 = Endpoint {
        bridge: "br-nope".into(),
        ..ep.clone()
    };
    let err = host
        .run(|| {
            let mut h = Netlink::new().unwrap();
            link::attach(&mut h, &mut inside, std::os::fd::AsFd::as_fd(&fd), &ep2)
        })
        .unwrap_err();
    assert!(err.to_string().contains("br-nope"), "{err}");
}

#[test]
fn nftables_isolates_networks_masquerades_and_keeps_internal_networks_in() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::new(dir.path(), "host");
    let mut h = host.netlink();
    // Forwarding in the test's own namespace only (the host's stays as is).
    let before = fs_err::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    host.run(link::enable_ip_forward).unwrap();
    assert_eq!(
        fs_err::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        before
    );

    let (a, b, i, up) = (
        net("10.213.252.1/24"),
        net("10.213.253.1/24"),
        net("10.213.254.1/24"),
        net("10.213.255.1/24"),
    );
    for (name, bip) in [("br-a", a), ("br-b", b), ("br-i", i), ("br-up", up)] {
        h.ensure_bridge(name, bip).unwrap();
    }
    let a1 = container(
        dir.path(),
        &host,
        "a1",
        "br-a",
        "10.213.252.2/24",
        Some(a.addr()),
    );
    let a2 = container(
        dir.path(),
        &host,
        "a2",
        "br-a",
        "10.213.252.3/24",
        Some(a.addr()),
    );
    let b1 = container(
        dir.path(),
        &host,
        "b1",
        "br-b",
        "10.213.253.2/24",
        Some(b.addr()),
    );
    let i1 = container(dir.path(), &host, "i1", "br-i", "10.213.254.2/24", None);
    // "The outside": a peer behind another bridge that is not berth's.
    let out = container(
        dir.path(),
        &host,
        "out",
        "br-up",
        "10.213.255.2/24",
        Some(up.addr()),
    );

    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let lb = listen(&b1, ip("10.213.253.2"), 9000);
    let la2 = listen(&a2, ip("10.213.252.3"), 9000);
    let lout = listen(&out, ip("10.213.255.2"), 9000);
    let la1 = listen(&a1, ip("10.213.252.2"), 9001);

    // Without berth's rules the namespace routes between the bridges.
    connect(&a1, &lb, ip("10.213.253.2"), 9000).unwrap();
    let peer = connect(&a1, &lout, ip("10.213.255.2"), 9000).unwrap();
    assert_eq!(peer.ip().to_string(), "10.213.252.2");

    let table = Table::new("bt_datapath");
    let nets = [
        NetworkRules {
            id: "aaaa".into(),
            bridge: "br-a".into(),
            subnet: Some(a.trunc()),
            subnet6: None,
            internal: false,
        },
        NetworkRules {
            id: "bbbb".into(),
            bridge: "br-b".into(),
            subnet: Some(b.trunc()),
            subnet6: None,
            internal: false,
        },
        NetworkRules {
            id: "iiii".into(),
            bridge: "br-i".into(),
            subnet: Some(i.trunc()),
            subnet6: None,
            internal: true,
        },
    ];
    host.run(|| {
        for n in &nets {
            table.add_network(n).unwrap();
        }
    });

    // Same network: fine. Other network: dropped, both ways.
    connect(&a1, &la2, ip("10.213.252.3"), 9000).unwrap();
    assert!(connect(&a1, &lb, ip("10.213.253.2"), 9000).is_err());
    assert!(connect(&b1, &la1, ip("10.213.252.2"), 9001).is_err());
    // To the outside: masqueraded behind the uplink's address.
    let peer = connect(&a1, &lout, ip("10.213.255.2"), 9000).unwrap();
    assert_eq!(peer.ip().to_string(), "10.213.255.1");
    // The outside cannot open connections to container addresses.
    assert!(connect(&out, &la1, ip("10.213.252.2"), 9001).is_err());
    // The host itself still reaches containers (not forwarded).
    connect(&host, &la1, ip("10.213.252.2"), 9001).unwrap();
    // Internal: no way out, even with a route.
    assert!(
        i1.run(|| {
            TcpStream::connect_timeout(
                &SocketAddr::V4(SocketAddrV4::new(ip("10.213.255.2"), 9000)),
                Duration::from_secs(1),
            )
        })
        .is_err()
    );

    // Rules are found and removed by their tag.
    let tagged = host
        .run(|| table.tagged_rules(|c| c == "net:bbbb"))
        .unwrap();
    assert_eq!(tagged.len(), 5, "{tagged:?}");
    assert_eq!(host.run(|| table.remove_network("bbbb")).unwrap(), 5);
    assert_eq!(host.run(|| table.remove_network("bbbb")).unwrap(), 0);
    // b's drop rule is gone: a reaches b again (nothing isolates b now).
    connect(&a1, &lb, ip("10.213.253.2"), 9000).unwrap();

    // Rebuild from a list: exactly those networks' rules, no others.
    host.run(|| table.rebuild(&nets[..1], Vec::new())).unwrap();
    let all = host.run(|| table.tagged_rules(|_| true)).unwrap();
    assert_eq!(all.len(), 5, "{all:?}");
    assert!(
        host.run(|| table.tagged_rules(|c| c == "net:iiii"))
            .unwrap()
            .is_empty()
    );
    host.run(|| table.delete()).unwrap();
    host.run(|| table.delete()).unwrap();
    assert!(
        host.run(|| table.tagged_rules(|_| true))
            .unwrap()
            .is_empty()
    );
}
