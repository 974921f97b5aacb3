//! Finding other firewalls' forward chains that drop berth's traffic (root
//! only), as dockerd's iptables FORWARD policy DROP does. Everything happens
//! in a network namespace the test makes (its nftables tables die with it);
//! the host's own rules are never read or touched.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::Write;
use std::process::{Command, Stdio};

use berth_net::firewall::{DroppingChain, advice, dropping_forward_chains};
use berth_net::netns;

/// Runs `nft -f -` with `script` (in the calling thread's namespace).
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

#[test]
fn a_forward_policy_drop_elsewhere_is_found_until_the_bridge_is_let_through() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (network namespaces, nftables)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ns");
    netns::create(&path).unwrap();
    let found = netns::run_in(&path, || {
        let mut found = Vec::new();
        // Nothing but berth's own table, which may drop as it likes.
        nft(
            "table inet bt-fw-own { chain forward { type filter hook forward priority 0; policy drop; }; }",
        );
        found.push(dropping_forward_chains("bt-fw-own", "btfw0").unwrap());
        // What `iptables -P FORWARD DROP` makes with iptables-nft.
        nft(
            "table ip filter { chain FORWARD { type filter hook forward priority 0; policy drop; }; }",
        );
        found.push(dropping_forward_chains("bt-fw-own", "btfw0").unwrap());
        // The fix the warning gives, for another bridge, then for ours.
        nft("add rule ip filter FORWARD iifname \"other0\" accept");
        found.push(dropping_forward_chains("bt-fw-own", "btfw0").unwrap());
        nft("add rule ip filter FORWARD iifname \"btfw0\" accept");
        found.push(dropping_forward_chains("bt-fw-own", "btfw0").unwrap());
        found
    });
    let _ = netns::remove(&path);
    let found = found.unwrap();
    let filter = DroppingChain {
        family: "ip".into(),
        table: "filter".into(),
        chain: "FORWARD".into(),
    };
    assert_eq!(found[0], []);
    assert_eq!(found[1], std::slice::from_ref(&filter));
    assert_eq!(found[2], std::slice::from_ref(&filter));
    assert_eq!(found[3], []);
    let text = advice("btfw0", &[filter]);
    assert!(text.contains("`FORWARD` of table `ip filter`"), "{text}");
}
