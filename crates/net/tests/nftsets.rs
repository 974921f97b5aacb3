//! berth's isolation with nftables sets, for real (root only): however many
//! networks there are, the `forward` chain keeps its five fixed rules and
//! each network is a few set elements; two of twenty networks are still
//! kept apart, one network's containers still reach each other, a removed
//! network's elements go, and a rebuild writes the sets again.
//!
//! Everything happens in a network namespace of the test's own ("host"),
//! with the test's own bridges and table; dropping the guards removes them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use berth_net::link;
use berth_net::nft::{self, NetworkRules, Table};
use ipnet::Ipv4Net;

use common::{Ns, container, root};

const TABLE: &str = "bt_nftsets";

/// Network `k` of the twenty: bridge `bs-<k>`, subnet `10.213.<160+k>.0/24`;
/// the last one internal.
fn rules(k: u8) -> NetworkRules {
    NetworkRules {
        id: format!("net{k:02}"),
        bridge: format!("bs-{k}"),
        subnet: Some(
            format!("10.213.{}.0/24", 160 + u16::from(k))
                .parse()
                .unwrap(),
        ),
        subnet6: None,
        internal: k == 19,
    }
}

/// The gateway of network `k`: `10.213.<160+k>.1`.
fn gw(k: u8) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::new(10, 213, 160 + k, 1))
}

/// Whether a TCP connection from `ns` to `addr:port` (where `listener`
/// listens) gets through.
fn reaches(ns: &Ns, listener: &TcpListener, addr: &str, port: u16) -> bool {
    let target = SocketAddr::V4(SocketAddrV4::new(addr.parse().unwrap(), port));
    match ns.run(|| TcpStream::connect_timeout(&target, Duration::from_secs(1))) {
        Ok(stream) => {
            let accepted = listener.accept().is_ok();
            drop(stream);
            accepted
        }
        Err(_) => false,
    }
}

/// The table as `nft -j` lists it inside `host`.
fn listing(host: &Ns) -> serde_json::Value {
    let out = host.run(|| {
        std::process::Command::new("nft")
            .args(["-j", "list", "table", "inet", TABLE])
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// How many rules the `forward` chain has.
fn forward_rules(host: &Ns) -> usize {
    listing(host)["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["rule"]["chain"] == nft::FORWARD)
        .count()
}

/// How many elements set `name` has.
fn elements(host: &Ns, name: &str) -> usize {
    listing(host)["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["set"]["name"] == name)
        .and_then(|o| o["set"]["elem"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn twenty_networks_keep_five_forward_rules_and_stay_apart() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::new(dir.path(), "host");
    host.run(link::enable_ip_forward).unwrap();
    let mut h = host.netlink();
    let nets: Vec<NetworkRules> = (0..20).map(rules).collect();
    for n in &nets[..2] {
        let gw = n.subnet.unwrap().network().octets();
        let bip = Ipv4Net::new(Ipv4Addr::new(gw[0], gw[1], gw[2], 1), 24).unwrap();
        h.ensure_bridge(&n.bridge, bip).unwrap();
    }
    let a1 = container(dir.path(), &host, "a1", "bs-0", "10.213.160.2/24", gw(0));
    let a2 = container(dir.path(), &host, "a2", "bs-0", "10.213.160.3/24", gw(0));
    let b1 = container(dir.path(), &host, "b1", "bs-1", "10.213.161.2/24", gw(1));
    let listen = |ns: &Ns, addr: &str| {
        let addr = SocketAddrV4::new(addr.parse().unwrap(), 9000);
        ns.run(|| TcpListener::bind(addr)).unwrap()
    };
    let (la2, lb1, la1) = (
        listen(&a2, "10.213.160.3"),
        listen(&b1, "10.213.161.2"),
        listen(&a1, "10.213.160.2"),
    );
    // Without berth's table the namespace routes between the bridges.
    assert!(reaches(&a1, &lb1, "10.213.161.2", 9000));

    let table = Table::new(TABLE);
    host.run(|| table.add_network(&nets[0])).unwrap();
    assert_eq!(forward_rules(&host), 5);
    for n in &nets[1..] {
        host.run(|| table.add_network(n)).unwrap();
    }
    // Twenty networks: still five rules; their bridges are set elements.
    assert_eq!(forward_rules(&host), 5);
    for set in [
        nft::SET_SELF,
        nft::SET_REPLIES,
        nft::SET_PUBLISHED,
        nft::SET_ISOLATED,
    ] {
        assert_eq!(elements(&host, set), 20, "{set}");
    }
    assert_eq!(elements(&host, nft::SET_INTERNAL), 1);
    // Adding a network again changes nothing.
    host.run(|| table.add_network(&nets[3])).unwrap();
    assert_eq!(forward_rules(&host), 5);
    assert_eq!(elements(&host, nft::SET_ISOLATED), 20);

    // One network: reachable. Two networks: apart, both ways.
    assert!(reaches(&a1, &la2, "10.213.160.3", 9000));
    assert!(!reaches(&a1, &lb1, "10.213.161.2", 9000));
    assert!(!reaches(&b1, &la1, "10.213.160.2", 9000));

    // A removed network takes its elements and its masquerade rule along.
    assert_eq!(host.run(|| table.remove_network("net01")).unwrap(), 5);
    assert_eq!(forward_rules(&host), 5);
    assert_eq!(elements(&host, nft::SET_ISOLATED), 19);
    assert_eq!(elements(&host, nft::SET_SELF), 19);
    // Nothing isolates b's bridge now: a reaches b again.
    assert!(reaches(&a1, &lb1, "10.213.161.2", 9000));

    // A rebuild (berthd's start) writes the rules once and the sets anew.
    host.run(|| table.rebuild(&nets, Vec::new())).unwrap();
    assert_eq!(forward_rules(&host), 5);
    assert_eq!(elements(&host, nft::SET_ISOLATED), 20);
    assert_eq!(elements(&host, nft::SET_INTERNAL), 1);
    assert!(!reaches(&a1, &lb1, "10.213.161.2", 9000));
    assert!(reaches(&a1, &la2, "10.213.160.3", 9000));
    host.run(|| table.rebuild(&nets[..2], Vec::new())).unwrap();
    assert_eq!(forward_rules(&host), 5);
    assert_eq!(elements(&host, nft::SET_ISOLATED), 2);
    assert_eq!(elements(&host, nft::SET_INTERNAL), 0);
    host.run(|| table.delete()).unwrap();
}
