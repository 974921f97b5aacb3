//! berthd's warning about another firewall's forward chain that drops by
//! policy (as dockerd's iptables `FORWARD` policy DROP does), end to end
//! (root only): the test thread moves to a network namespace of its own,
//! makes there the chain `iptables -P FORWARD DROP` makes with iptables-nft
//! (`table ip filter`), starts berthd there (a child inherits its thread's
//! namespace) and runs a container through the docker 28 CLI; berthd's log
//! must name the chain and the fix. The table goes at the end and the
//! namespace with the test's thread: the host's own rules are never read
//! nor touched.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Daemon;

/// Runs `nft -f -` with `script` (in this thread's namespace).
fn nft(script: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft failed on: {script}");
}

/// Deletes the test's `ip filter` table when dropped (even on failure).
struct FilterTable;

impl Drop for FilterTable {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", "filter"])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn a_forward_chain_dropping_by_policy_is_reported_in_the_log() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (network namespaces, nftables)"
    );
    common::net::enter_own_netns();
    assert!(
        Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout
            .is_empty(),
        "a fresh network namespace has no nftables tables"
    );
    nft("table ip filter { chain FORWARD { type filter hook forward priority 0; policy drop; }; }");
    let table = FilterTable;

    let d = Daemon::start();
    common::import_busybox(&d);
    d.ok(&["run", "-d", "--name", "fw", "busybox", "sleep", "1000"]);
    // The check runs on a thread of its own after the bridge is set up.
    let want = format!(
        "the forward chain `FORWARD` of table `ip filter` drops packets by default (dockerd sets iptables' FORWARD policy to DROP), and berth's accept rules cannot override that: containers on bridge `{}`",
        d.net.bridge
    );
    let fix = format!("iptables -I DOCKER-USER -i {} -j ACCEPT", d.net.bridge);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.log().contains(&want) {
        assert!(
            Instant::now() < deadline,
            "no firewall warning in berthd's log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = d.log();
    let line = log.lines().find(|l| l.contains(&want)).unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains(&fix), "{line}");
    d.ok(&["rm", "-f", "fw"]);
    drop(d);
    drop(table);
    let left = Command::new("nft")
        .args(["list", "table", "ip", "filter"])
        .output()
        .unwrap();
    assert!(!left.status.success(), "the test's table is gone");
}
