//! The container-to-container fast path ([`berth_net::fastpath`]), for
//! real (root only, Linux 6.6+ for tcx): frames between two endpoints of
//! one network skip the bridge (the receiver's host-side veth transmits
//! none of them), frames to an endpoint of another network are never
//! handed over, and once the endpoints leave the fast path the bridge
//! carries the traffic again.
//!
//! Everything happens in namespaces of the test's own: a "host"
//! namespace holds the bridges (and the programs' links), the
//! "containers" are further namespaces plugged into them. Dropping the
//! guards removes the namespaces, which takes the links with them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use berth_net::fastpath::FastPath;
use berth_net::link::{self, Netlink};

use common::{Ns, container, root};

/// Datagrams each UDP round sends.
const DATAGRAMS: u32 = 2000;

/// `(rx_packets, tx_packets)` of `ifname` in the namespace of `ns`
/// (`/proc/thread-self/net/dev`, read from a thread inside it).
fn counters(ns: &Ns, ifname: &str) -> (u64, u64) {
    let dev = ns.run(|| fs_err::read_to_string("/proc/thread-self/net/dev").unwrap());
    let line = dev
        .lines()
        .find_map(|l| {
            let (name, rest) = l.split_once(':')?;
            (name.trim() == ifname).then_some(rest)
        })
        .unwrap_or_else(|| panic!("no {ifname} in\n{dev}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    (n[1], n[9])
}

/// Runs `ip args` inside `ns`.
fn ip(ns: &Ns, args: &[&str]) {
    let out = ns.run(|| Command::new("ip").args(args).output().unwrap());
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends [`DATAGRAMS`] UDP datagrams from `from` to `to:port` (a socket
/// of `rx`, bound before); the number that arrived.
fn udp_round(from: &Ns, rx: &UdpSocket, to: Ipv4Addr, port: u16) -> u32 {
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let reader = {
        let rx = rx.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut got = 0u32;
            while rx.recv(&mut buf).is_ok() {
                got += 1;
            }
            got
        })
    };
    from.run(|| {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        let payload = [0x5au8; 1000];
        for i in 0..DATAGRAMS {
            s.send_to(&payload, SocketAddrV4::new(to, port)).unwrap();
            // Let the receiver keep up now and then (no drops from a full
            // socket buffer).
            if i % 100 == 99 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    reader.join().unwrap()
}

/// A TCP stream of `len` bytes from `from` to `listener` (at `to:port`);
/// the bytes that arrived, in order.
fn tcp_stream(from: &Ns, listener: TcpListener, to: Ipv4Addr, port: u16, len: usize) -> Vec<u8> {
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got
    });
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    from.run(|| {
        let mut s = TcpStream::connect_timeout(
            &std::net::SocketAddr::V4(SocketAddrV4::new(to, port)),
            Duration::from_secs(5),
        )
        .unwrap();
        s.write_all(&data).unwrap();
    });
    let got = reader.join().unwrap();
    assert!(
        got == data,
        "the stream arrived changed ({} bytes)",
        got.len()
    );
    got
}

/// Endpoint `name`'s host-side veth, its index and its container's MAC,
/// as the daemon would give them to [`FastPath::add`].
fn endpoint(h: &mut Netlink, name: &str, bridge: &str, addr: Ipv4Addr) -> (String, u32, [u8; 6]) {
    let ifname = link::host_ifname(name, bridge);
    let index = h.link_index(&ifname).unwrap().unwrap();
    (ifname, index, link::mac_for(addr))
}

#[test]
fn frames_between_endpoints_of_one_network_skip_the_bridge_and_never_cross_networks() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::new(dir.path(), "host");
    let mut h = host.netlink();
    let (bx, by) = ("br-fpx", "br-fpy");
    h.ensure_bridge(bx, "10.213.230.1/24".parse().unwrap())
        .unwrap();
    h.ensure_bridge(by, "10.213.231.1/24".parse().unwrap())
        .unwrap();
    let (a_ip, b_ip, c_ip) = (
        Ipv4Addr::new(10, 213, 230, 2),
        Ipv4Addr::new(10, 213, 230, 3),
        Ipv4Addr::new(10, 213, 231, 2),
    );
    let a = container(dir.path(), &host, "fpa", bx, "10.213.230.2/24", None);
    let b = container(dir.path(), &host, "fpb", bx, "10.213.230.3/24", None);
    let c = container(dir.path(), &host, "fpc", by, "10.213.231.2/24", None);
    let ea = endpoint(&mut h, "fpa", bx, a_ip);
    let eb = endpoint(&mut h, "fpb", bx, b_ip);
    let ec = endpoint(&mut h, "fpc", by, c_ip);

    // Network X has A and B on its fast path, network Y has C.
    let fp = FastPath::new();
    host.run(|| {
        for (net, (ifname, index, mac)) in [("X", &ea), ("X", &eb), ("Y", &ec)] {
            let attached = fp.add(net, ifname, *index, *mac).unwrap();
            assert!(
                attached,
                "the kernel has no fast path: {:?}",
                fp.unavailable()
            );
        }
    });
    let mut x = fp.members("X");
    x.sort();
    let mut want = vec![ea.0.clone(), eb.0.clone()];
    want.sort();
    assert_eq!(x, want);
    assert_eq!(fp.members("Y"), [ec.0.as_str()]);

    // A -> B over UDP: B gets (nearly) every datagram, but its host-side
    // veth, the bridge's port towards it, transmits almost nothing (the
    // first datagram waits for ARP, whose request the bridge floods).
    let rx = b
        .run(|| UdpSocket::bind(SocketAddrV4::new(b_ip, 9000)))
        .unwrap();
    let (_, tx_before) = counters(&host, &eb.0);
    let (rx_b_before, _) = counters(&b, "eth0");
    let got = udp_round(&a, &rx, b_ip, 9000);
    let (_, tx_after) = counters(&host, &eb.0);
    let (rx_b_after, _) = counters(&b, "eth0");
    assert!(got > DATAGRAMS / 2, "B got {got} of {DATAGRAMS} datagrams");
    assert!(
        rx_b_after - rx_b_before >= u64::from(got),
        "B's eth0 counted {} packets for {got} datagrams",
        rx_b_after - rx_b_before
    );
    assert!(
        tx_after - tx_before < 20,
        "the bridge sent {} packets to B for {got} datagrams: the fast path was not used",
        tx_after - tx_before
    );

    // A TCP stream of a few MB arrives intact, still without the bridge
    // (ACKs go the other way through the fast path too).
    let listener = b
        .run(|| TcpListener::bind(SocketAddrV4::new(b_ip, 9001)))
        .unwrap();
    let (_, tx_before) = counters(&host, &eb.0);
    let (_, tx_a_before) = counters(&host, &ea.0);
    tcp_stream(&a, listener, b_ip, 9001, 4 << 20);
    let (_, tx_after) = counters(&host, &eb.0);
    let (_, tx_a_after) = counters(&host, &ea.0);
    assert!(
        tx_after - tx_before < 20 && tx_a_after - tx_a_before < 20,
        "the bridge carried the stream: {} packets to B, {} to A",
        tx_after - tx_before,
        tx_a_after - tx_a_before
    );

    // A sends to C's MAC (network Y) with a static neighbour entry: X's
    // program does not know that MAC, the frames go to bridge X, which
    // has no port for it: C receives nothing.
    let c_mac = link::format_mac(ec.2);
    ip(&a, &["route", "add", &format!("{c_ip}/32"), "dev", "eth0"]);
    ip(
        &a,
        &[
            "neigh",
            "replace",
            &c_ip.to_string(),
            "lladdr",
            &c_mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    );
    let rx_c = c
        .run(|| UdpSocket::bind(SocketAddrV4::new(c_ip, 9000)))
        .unwrap();
    let (rx_c_before, _) = counters(&c, "eth0");
    let got = udp_round(&a, &rx_c, c_ip, 9000);
    let (rx_c_after, _) = counters(&c, "eth0");
    assert_eq!(got, 0, "C (network Y) got datagrams from A (network X)");
    assert!(
        rx_c_after - rx_c_before < 10,
        "C's eth0 received {} packets while A sent to its MAC",
        rx_c_after - rx_c_before
    );

    // B leaves the fast path (as before its veth is deleted): A -> B goes
    // through the bridge again, and still arrives.
    fp.remove("X", &eb.0).unwrap();
    assert_eq!(fp.members("X"), [ea.0.as_str()]);
    let (_, tx_before) = counters(&host, &eb.0);
    let got = udp_round(&a, &rx, b_ip, 9000);
    let (_, tx_after) = counters(&host, &eb.0);
    assert!(got > DATAGRAMS / 2, "B got {got} of {DATAGRAMS} datagrams");
    assert!(
        tx_after - tx_before >= u64::from(got),
        "the bridge sent {} packets to B for {got} datagrams",
        tx_after - tx_before
    );

    // Dropping the fast path detaches every program: traffic still flows.
    drop(fp);
    let got = udp_round(&a, &rx, b_ip, 9000);
    assert!(got > DATAGRAMS / 2, "B got {got} of {DATAGRAMS} datagrams");
    for (ifname, ..) in [&ea, &eb, &ec] {
        h.delete_link(ifname).unwrap();
    }
    h.delete_link(bx).unwrap();
    h.delete_link(by).unwrap();
}

#[test]
fn a_reused_interface_index_or_name_replaces_the_old_entry() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::new(dir.path(), "host");
    let mut h = host.netlink();
    let bx = "br-fpz";
    h.ensure_bridge(bx, "10.213.232.1/24".parse().unwrap())
        .unwrap();
    let a_ip = Ipv4Addr::new(10, 213, 232, 2);
    let _a = container(dir.path(), &host, "fpd", bx, "10.213.232.2/24", None);
    let ea = endpoint(&mut h, "fpd", bx, a_ip);
    let fp = FastPath::new();
    host.run(|| {
        assert!(fp.add("X", &ea.0, ea.1, ea.2).unwrap());
        // The same veth again (a daemon that plugs it anew): one entry.
        assert!(fp.add("X", &ea.0, ea.1, ea.2).unwrap());
        assert_eq!(fp.members("X"), [ea.0.as_str()]);
        // Another network now names that index (its veth was deleted
        // behind berth's back and the kernel reused the index): it leaves
        // network X.
        assert!(fp.add("Y", "other", ea.1, [2, 0, 0, 0, 0, 9]).unwrap());
    });
    assert!(fp.members("X").is_empty());
    assert_eq!(fp.members("Y"), ["other"]);
    fp.remove_network("Y");
    assert!(fp.members("Y").is_empty());
    // Removing what is not there is fine.
    fp.remove("X", &ea.0).unwrap();
    fp.remove("nowhere", "nothing").unwrap();
}

#[test]
fn endpoints_queued_for_the_worker_join_soon_and_leave_at_once() {
    root();
    let dir = tempfile::tempdir().unwrap();
    let host = Ns::new(dir.path(), "host");
    let mut h = host.netlink();
    let bq = "br-fpq";
    h.ensure_bridge(bq, "10.213.233.1/24".parse().unwrap())
        .unwrap();
    let a_ip = Ipv4Addr::new(10, 213, 233, 2);
    let _a = container(dir.path(), &host, "fpq", bq, "10.213.233.2/24", None);
    let ea = endpoint(&mut h, "fpq", bq, a_ip);
    // Made inside the host namespace: the worker attaches there.
    let fp = host.run(FastPath::new);
    fp.add_soon("Q", &ea.0, ea.1, ea.2);
    fp.settle();
    assert_eq!(fp.members("Q"), [ea.0.as_str()]);
    // Out of the map at once; the worker closes the link (the links
    // berthd holds are counted in e2e_fastpath; tests here share one
    // process).
    fp.remove("Q", &ea.0).unwrap();
    assert!(fp.members("Q").is_empty());
    // Removed while queued or while being attached: never left on.
    for _ in 0..20 {
        fp.add_soon("Q", &ea.0, ea.1, ea.2);
        fp.remove("Q", &ea.0).unwrap();
        assert!(fp.members("Q").is_empty());
    }
    // And a network removed with an attach queued.
    fp.add_soon("Q", &ea.0, ea.1, ea.2);
    fp.remove_network("Q");
    fp.settle();
    assert!(fp.members("Q").is_empty());
    // Joined again after all that: the worker still works.
    fp.add_soon("Q", &ea.0, ea.1, ea.2);
    fp.settle();
    assert_eq!(fp.members("Q"), [ea.0.as_str()]);
    drop(fp);
}
