//! What the privileged network tests share: a network namespace of the
//! test's own, pinned in its temporary directory and removed on drop, and
//! the check that the tests run as root. Each test binary includes it with
//! `mod common;`.

#![allow(dead_code, reason = "each test binary uses a different part")]

pub(crate) mod thread_ns;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_net::link::{self, Endpoint, Netlink};
use berth_net::netns;
use ipnet::Ipv4Net;

/// Fails the test unless it runs as root (it never skips).
pub(crate) fn root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (network namespaces, netlink, nftables)"
    );
}

/// A namespace pinned in a temp dir; removed on drop.
pub(crate) struct Ns {
    pub(crate) path: PathBuf,
}

impl Ns {
    /// A new namespace at `dir/name`, as the kernel makes it (only `lo`,
    /// down).
    pub(crate) fn new(dir: &Path, name: &str) -> Self {
        let path = dir.join(name);
        netns::create(&path).unwrap();
        Self { path }
    }

    /// A new namespace at `dir/name` with its loopback up.
    pub(crate) fn with_loopback(dir: &Path, name: &str) -> Self {
        let ns = Self::new(dir, name);
        ns.netlink().set_up_by_name("lo").unwrap();
        ns
    }

    /// Runs `f` on a thread inside the namespace.
    pub(crate) fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        netns::run_in(&self.path, f).unwrap()
    }

    /// A netlink socket opened inside the namespace.
    pub(crate) fn netlink(&self) -> Netlink {
        self.run(Netlink::new).unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::remove(&self.path);
    }
}

/// Plugs a new container namespace `name` into `bridge` (in `host`) with
/// the IPv4 address `addr` (`a.b.c.d/len`); default route via `gw`.
pub(crate) fn container(
    dir: &Path,
    host: &Ns,
    name: &str,
    bridge: &str,
    addr: &str,
    gw: Option<Ipv4Addr>,
) -> Ns {
    let c = Ns::with_loopback(dir, name);
    let ep = Endpoint {
        gateway: gw,
        ..endpoint(name, bridge, addr.parse().unwrap())
    };
    plug(host, &c, &ep);
    c
}

/// The endpoint `eth0` of container `name` on `bridge` with `address`
/// (its MAC made from it); no gateway, no IPv6.
pub(crate) fn endpoint(name: &str, bridge: &str, address: Ipv4Net) -> Endpoint {
    Endpoint {
        bridge: bridge.to_owned(),
        host_ifname: link::host_ifname(name, bridge),
        ifname: "eth0".to_owned(),
        mac: link::mac_for(address.addr()),
        address: Some(address),
        gateway: None,
        address6: None,
        gateway6: None,
    }
}

/// Attaches `ep` (from `host`) to the namespace `c`.
pub(crate) fn plug(host: &Ns, c: &Ns, ep: &Endpoint) {
    let fd = netns::open(&c.path).unwrap();
    let mut inside = c.netlink();
    host.run(|| {
        let mut h = Netlink::new().unwrap();
        link::attach(&mut h, &mut inside, std::os::fd::AsFd::as_fd(&fd), ep).unwrap();
    });
}
