//! The container-to-container fast path, end to end (root only, Linux
//! 6.6+), through the real docker 28 CLI: two containers on one user
//! network talk over HTTP (busybox `httpd` and `wget`) and the bridge
//! carries (almost) none of their packets: each one's host-side veth, the
//! bridge's port towards it (found from the container's `eth0` peer
//! index), transmits far fewer packets than the container receives. That
//! holds after `docker restart` of one of them (new veth, new random MAC)
//! and after berthd is killed and started again (the programs are
//! attached anew for running containers); a container of another network
//! that sends to the server's MAC directly reaches nothing; berthd holds
//! one tcx link per endpoint through `network connect`/`disconnect`,
//! stop, kill and start, and none once the containers are gone.
//!
//! Subnets: the daemon's `10.214.<x>.0/27` and `.32/27`; traffic stays
//! between the test's containers.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::Daemon;
use common::clients::{DOCKER, fails, inspect, ok};

const BRIDGE_OPT: &str = "com.docker.network.bridge.name";

/// busybox with what the test runs inside, as `bbfp`.
fn import_busybox(d: &Daemon) {
    let root = d.dir.path().join("bbfp");
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "sleep", "cat", "ip", "wget", "httpd", "dd", "mkdir", "wc", "seq", "echo", "arp",
        "ping",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = d.dir.path().join("bbfp.tar");
    common::tar_dir(&root, &tar);
    d.ok(&["import", tar.to_str().unwrap(), "bbfp"]);
}

/// User network `k` of this daemon, on a bridge of the test's own.
fn network(d: &Daemon, name: &str, k: u8) {
    let subnet = d.net.user_subnet_27(k);
    let opt = format!("{BRIDGE_OPT}={}", d.net.user_bridge(k));
    ok(
        d,
        DOCKER,
        &["network", "create", "--subnet", &subnet, "-o", &opt, name],
    );
}

/// The HTTP server: `/big` (4 MiB) and `/small` on port 8080.
const SERVE: &str = "mkdir -p /www && dd if=/dev/zero of=/www/big bs=4096 count=1024 2>/dev/null \
                     && echo hi > /www/small && exec httpd -f -p 8080 -h /www";

/// A counter of `eth0` inside container `name`
/// (`/sys/class/net/eth0/statistics/<stat>`).
fn inside(d: &Daemon, name: &str, stat: &str) -> u64 {
    let path = format!("/sys/class/net/eth0/statistics/{stat}");
    ok(d, DOCKER, &["exec", name, "cat", &path])
        .trim()
        .parse()
        .unwrap()
}

/// The host-side veth of container `name`'s `eth0`: the host's link whose
/// index is the container interface's peer index (`iflink`).
fn host_veth(d: &Daemon, name: &str) -> String {
    let peer = ok(
        d,
        DOCKER,
        &["exec", name, "cat", "/sys/class/net/eth0/iflink"],
    )
    .trim()
    .to_owned();
    fs_err::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .find(|e| fs_err::read_to_string(e.path().join("ifindex")).is_ok_and(|i| i.trim() == peer))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("no host link with index {peer} for {name}'s eth0"))
}

/// A counter of the host's link `ifname`.
fn host(ifname: &str, stat: &str) -> u64 {
    fs_err::read_to_string(format!("/sys/class/net/{ifname}/statistics/{stat}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The tcx links berthd holds (`link_type: tcx` in the fdinfo of its
/// `anon_inode:bpf_link` descriptors): one per endpoint on the fast path.
fn tcx_links(d: &Daemon) -> usize {
    let pid = d.pid();
    fs_err::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|e| {
            fs_err::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == "anon_inode:bpf_link")
        })
        .filter(|e| {
            let info = format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy());
            fs_err::read_to_string(info).is_ok_and(|i| {
                i.lines()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["link_type:", "tcx"])
            })
        })
        .count()
}

/// `docker run -d --name NAME --network NET FLAGS... bbfp CMD...`.
fn run_on(d: &Daemon, name: &str, net: &str, flags: &[&str], cmd: &[&str]) {
    common::run_detached(d, (name, net), flags, "bbfp", cmd);
}

/// Waits until berthd holds `n` tcx links, after `what` (it attaches and
/// detaches them on a thread of its own, within milliseconds).
fn wait_links(d: &Daemon, n: usize, what: &str) {
    common::until(&format!("{n} tcx links after {what}"), || tcx_links(d) == n);
}

/// Container `name`'s address on its network.
fn address(d: &Daemon, name: &str) -> String {
    inspect(
        d,
        name,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    )
}

/// `client` downloads `/big` and 100 times `/small` from `server`; the
/// packets each container's `eth0` received, against the packets its
/// host-side veth transmitted in that time (what the bridge forwarded
/// to it), must show the fast path: under a tenth.
fn assert_fast_path(d: &Daemon, client: &str, server: &str) {
    let ip = address(d, server);
    let small = format!("http://{ip}:8080/small");
    common::until("the server to answer", || {
        d.docker(&["exec", client, "wget", "-q", "-O", "/dev/null", &small])
            .status
            .success()
    });
    let veths = [host_veth(d, client), host_veth(d, server)];
    let names = [client, server];
    let before: Vec<(u64, u64)> = names
        .iter()
        .zip(&veths)
        .map(|(n, v)| (inside(d, n, "rx_packets"), host(v, "tx_packets")))
        .collect();
    let script = format!(
        "wget -q -O - http://{ip}:8080/big | wc -c; \
         for i in $(seq 100); do wget -q -O /dev/null {small} || exit 1; done"
    );
    let out = ok(d, DOCKER, &["exec", client, "sh", "-c", &script]);
    assert_eq!(out.trim(), "4194304", "the download arrived incomplete");
    for ((n, v), (rx0, tx0)) in names.iter().zip(&veths).zip(before) {
        let rx = inside(d, n, "rx_packets") - rx0;
        let tx = host(v, "tx_packets") - tx0;
        assert!(rx >= 300, "{n} received only {rx} packets");
        assert!(
            tx * 10 < rx,
            "the bridge forwarded {tx} of the {rx} packets {n} received: no fast path\n\
             berthd log:\n{}",
            d.log()
        );
    }
}

#[test]
fn containers_of_one_network_talk_past_the_bridge_and_networks_stay_apart() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (it runs berthd)"
    );
    let mut d = Daemon::start();
    import_busybox(&d);
    network(&d, "fpa", 0);
    network(&d, "fpb", 1);

    run_on(&d, "srv", "fpa", &[], &["sh", "-c", SERVE]);
    run_on(&d, "cli", "fpa", &[], &["sleep", "600"]);
    // On the other network, allowed to set its own routes and neighbours.
    run_on(
        &d,
        "other",
        "fpb",
        &["--cap-add", "NET_ADMIN"],
        &["sleep", "600"],
    );
    // One link per endpoint (berthd attaches them a few milliseconds
    // after the start, on a thread of its own).
    wait_links(&d, 3, "three starts");
    assert_fast_path(&d, "cli", "srv");

    // A restart: a new veth and a new MAC for the server; the client's
    // frames go to the new one, still past the bridge.
    ok(&d, DOCKER, &["restart", "-t", "1", "srv"]);
    wait_links(&d, 3, "restart");
    assert_fast_path(&d, "cli", "srv");

    // berthd killed and started again: the containers run on and their
    // endpoints are put back on the fast path.
    d.restart();
    wait_links(&d, 3, "berthd's restart");
    assert_fast_path(&d, "cli", "srv");

    // A container of network fpb that sends straight to the server's MAC
    // (a static neighbour entry, a route on its own eth0): fpb's program
    // does not know that MAC, fpb's bridge has no port for it, nothing
    // arrives.
    let ip = address(&d, "srv");
    let mac = inspect(
        &d,
        "srv",
        "{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}",
    );
    let setup = format!(
        "ip route add {ip}/32 dev eth0 && \
         arp -i eth0 -s {ip} {mac}"
    );
    ok(&d, DOCKER, &["exec", "other", "sh", "-c", &setup]);
    let (rx0, tx0) = (
        inside(&d, "srv", "rx_packets"),
        inside(&d, "other", "tx_packets"),
    );
    let ping = [
        "exec", "other", "ping", "-c", "30", "-i", "0.05", "-W", "1", &ip,
    ];
    fails(&d, DOCKER, &ping);
    let rx = inside(&d, "srv", "rx_packets") - rx0;
    let sent = inside(&d, "other", "tx_packets") - tx0;
    assert!(sent >= 30, "other sent only {sent} packets");
    assert!(
        rx < 10,
        "srv received {rx} packets while other pinged it 30 times"
    );
    let url = format!("http://{ip}:8080/small");
    let wget = [
        "exec",
        "other",
        "wget",
        "-q",
        "-T",
        "2",
        "-O",
        "/dev/null",
        &url,
    ];
    fails(&d, DOCKER, &wget);
    // And the usual way (through the gateway), the networks' isolation
    // refuses it too.
    ok(
        &d,
        DOCKER,
        &["exec", "other", "ip", "route", "del", &format!("{ip}/32")],
    );
    fails(&d, DOCKER, &wget);

    // Links follow the endpoints: `network connect`/`disconnect`, stop,
    // kill (the container exits), start.
    let links = |n: usize, what: &str| wait_links(&d, n, what);
    ok(&d, DOCKER, &["network", "connect", "fpa", "other"]);
    links(4, "network connect");
    ok(&d, DOCKER, &["network", "disconnect", "fpa", "other"]);
    links(3, "network disconnect");
    ok(&d, DOCKER, &["stop", "-t", "1", "srv"]);
    links(2, "stop");
    ok(&d, DOCKER, &["kill", "cli"]);
    links(1, "kill");
    ok(&d, DOCKER, &["start", "srv", "cli"]);
    links(3, "start");
    assert_fast_path(&d, "cli", "srv");

    // Gone with the containers: no link of theirs stays behind.
    ok(&d, DOCKER, &["rm", "-f", "srv", "cli", "other"]);
    wait_links(&d, 0, "rm");
    ok(&d, DOCKER, &["network", "rm", "fpa", "fpb"]);
}
