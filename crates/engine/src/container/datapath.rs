//! The kernel side of a container's network: its netns and its endpoints
//! on networks (veths into the networks' bridges, addresses, routes) and
//! the networks' nftables rules.
//!
//! The data path ([`DataPath`]) runs at start and at exit, from the
//! container service:
//! - `bridge` (the default) or a user network: a network namespace pinned
//!   at `<exec-root>/netns/<id>`, one veth per endpoint the network service
//!   hands out ([`crate::network::Networks::attach`]), plugged into the
//!   network's bridge (created on first use, with its nftables rules);
//!   the spec's network namespace is that file.
//! - `none`: a namespace with only `lo`, up.
//! - `host`: no namespace of its own (the spec has no network entry).
//! - `container:X`: X's namespace (`/proc/<X's pid>/ns/net`); X must run.
//!
//! At exit, stop, removal and failed start ([`DataPath::teardown`]) the
//! veths and the namespace go and the addresses are given back. At daemon
//! start ([`DataPath::open`]) the nftables table is rebuilt from the
//! networks of running containers and namespaces of containers that are
//! no longer running are removed.
//!
//! Endpoints of a network also join its fast path ([`fastpath`]): frames
//! between them skip the bridge and netfilter.

mod fastpath;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_net::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use berth_net::link::{self, Netlink};
use berth_net::{netns, nft};
use serde_json::{Value, json};

use super::ContainerError;
use super::model::Container;
use crate::NetworkConfig;
use crate::network::{DRIVER_BRIDGE, Endpoint, Networks};

/// The network namespace entry of a container's spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum SpecNetns {
    /// A fresh, empty namespace made by the runtime (no data path set up).
    #[default]
    Fresh,
    /// The host's: no network namespace entry.
    Host,
    /// The namespace at this path.
    Path(PathBuf),
}

impl SpecNetns {
    /// The `linux.namespaces` entry, if there is one.
    pub(crate) fn entry(&self) -> Option<Value> {
        match self {
            Self::Fresh => Some(json!({"type": "network"})),
            Self::Host => None,
            Self::Path(p) => Some(json!({"type": "network", "path": p})),
        }
    }
}

/// The kernel side of containers' networks: namespaces, bridges, veths,
/// the nftables table.
#[derive(Debug)]
pub struct DataPath {
    netns_dir: PathBuf,
    config: NetworkConfig,
    table: nft::Table,
    networks: Networks,
    /// Networks whose bridge and rules are in place in this daemon's life.
    ready: Mutex<BTreeSet<String>>,
    /// The container-to-container fast path's programs and links.
    fastpath: berth_net::fastpath::FastPath,
}

fn internal(message: String) -> ContainerError {
    ContainerError::Internal { message }
}

impl DataPath {
    /// The data path of an engine; `running` are the containers running
    /// now (after live restore): namespaces of others are removed, and the
    /// nftables table is rebuilt for the networks they are on.
    pub fn open(
        exec_root: &Path,
        config: &NetworkConfig,
        networks: Networks,
        running: &BTreeSet<String>,
    ) -> Result<Self, ContainerError> {
        let netns_dir = exec_root.join("netns");
        fs_err::create_dir_all(&netns_dir).map_err(|e| internal(e.to_string()))?;
        let dp = Self {
            netns_dir,
            config: config.clone(),
            table: nft::Table::new(&config.nft_table),
            networks,
            ready: Mutex::new(BTreeSet::new()),
            fastpath: berth_net::fastpath::FastPath::new(),
        };
        dp.sweep(running);
        dp.rebuild(running);
        dp.restore_fastpath(running);
        Ok(dp)
    }

    /// The pinned namespace of container `id`.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// The endpoints of container `id` (for port publishing).
    pub(crate) fn endpoints(&self, id: &str) -> Vec<crate::network::Endpoint> {
        self.networks.endpoints_for(id)
    }

    /// The network service the data path takes endpoints from.
    pub fn networks(&self) -> &Networks {
        &self.networks
    }

    /// The nftables table's name (for port publishing's rules).
    pub fn table(&self) -> &nft::Table {
        &self.table
    }

    /// Removes the namespaces of containers that are not running.
    fn sweep(&self, running: &BTreeSet<String>) {
        for e in fs_err::read_dir(&self.netns_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !running.contains(&name) {
                self.delete_veths(&name);
                if let Err(e) = netns::remove(&e.path()) {
                    tracing::warn!(container = name, error = %e, "cannot remove a stale network namespace");
                }
            }
        }
    }

    /// The table again, from the networks running containers are on; the
    /// bridges of those networks are made sure of.
    fn rebuild(&self, running: &BTreeSet<String>) {
        let mut nets = std::collections::BTreeMap::new();
        for id in running {
            for ep in self.networks.endpoints_for(id) {
                if let Some(rules) = rules_of(&ep) {
                    nets.insert(ep.network_id.clone(), (rules, ep));
                }
            }
        }
        // Nothing running on a network: no rule is wanted. A table left by
        // an earlier life (networks removed and containers that died while
        // berthd was down) goes; rules come back when a network is next
        // used. Adding and deleting in one transaction leaves no table
        // when there was none.
        if nets.is_empty() {
            if let Err(e) = self.table.delete() {
                tracing::warn!(error = %e, "cannot remove the stale nftables table");
            }
            return;
        }
        let mut ready = lock(&self.ready);
        for (id, (_, ep)) in &nets {
            if let Err(e) = self.ensure_bridge(ep) {
                tracing::warn!(network = id, error = %e, "cannot set up a network's bridge");
            }
        }
        let rules: Vec<nft::NetworkRules> = nets.values().map(|(r, _)| r.clone()).collect();
        match self.table.rebuild(&rules, Vec::new()) {
            Ok(()) => ready.extend(nets.into_keys()),
            Err(e) => tracing::warn!(error = %e, "cannot rebuild the nftables table"),
        }
    }

    fn ensure_bridge(&self, ep: &Endpoint) -> Result<(), ContainerError> {
        let (bip, bip6) = (bridge_address(ep), bridge_address6(ep));
        if bip.is_none() && bip6.is_none() {
            return Ok(());
        }
        let mut nl = Netlink::new().map_err(|e| internal(e.to_string()))?;
        if let Some(bip) = bip {
            nl.ensure_bridge(&ep.bridge_name, bip)
                .map_err(|e| internal(e.to_string()))?;
            if self.config.ip_forward
                && let Err(e) = link::enable_ip_forward()
            {
                tracing::warn!(error = %e, "cannot enable net.ipv4.ip_forward");
            }
        } else {
            // An IPv6-only network: only the IPv6 gateway address.
            nl.ensure_bridge_link(&ep.bridge_name)
                .map_err(|e| internal(e.to_string()))?;
        }
        if let Some(bip6) = bip6 {
            nl.ensure_bridge_v6(&ep.bridge_name, bip6)
                .map_err(|e| internal(e.to_string()))?;
            if self.config.ip_forward
                && let Err(e) = link::enable_ip6_forward()
            {
                tracing::warn!(error = %e, "cannot enable net.ipv6.conf.all.forwarding");
            }
        }
        warn_if_firewall_drops(self.table.name(), &ep.bridge_name);
        Ok(())
    }

    /// The network's bridge and rules, once per daemon life.
    fn ensure_network(&self, ep: &Endpoint) -> Result<(), ContainerError> {
        let mut ready = lock(&self.ready);
        if ready.contains(&ep.network_id) {
            return Ok(());
        }
        self.ensure_bridge(ep)?;
        if let Some(rules) = rules_of(ep) {
            // A rule set left from before (a crash): replace it.
            self.table
                .remove_network(&rules.id)
                .and_then(|_| self.table.add_network(&rules))
                .map_err(|e| internal(e.to_string()))?;
        }
        ready.insert(ep.network_id.clone());
        Ok(())
    }

    /// A network is gone (`network rm`): its rules and its bridge go too.
    pub fn remove_network(&self, network_id: &str, bridge: &str) {
        lock(&self.ready).remove(network_id);
        self.fastpath.remove_network(network_id);
        if let Err(e) = self.table.remove_network(network_id) {
            tracing::warn!(network = network_id, error = %e, "cannot remove a network's nftables rules");
        }
        if bridge.is_empty() {
            return;
        }
        match Netlink::new().and_then(|mut nl| nl.delete_link(bridge)) {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(network = network_id, error = %e, "cannot delete a network's bridge")
            }
        }
    }

    /// Sets up container `c`'s network before its process starts (`joined`
    /// is the pid of the container it joins with `container:X`). On failure
    /// nothing is left.
    pub(crate) fn setup(
        &self,
        c: &Container,
        joined: Option<i32>,
    ) -> Result<SpecNetns, ContainerError> {
        let cfg = &c.options.network;
        if cfg.joined_container().is_some() {
            let pid = joined.ok_or_else(|| ContainerError::Conflict {
                message: format!(
                    "cannot join network of a non running container: {}",
                    cfg.joined_container().unwrap_or_default()
                ),
            })?;
            return Ok(SpecNetns::Path(PathBuf::from(format!(
                "/proc/{pid}/ns/net"
            ))));
        }
        let endpoints = self
            .networks
            .attach(&c.id, &c.name, cfg)
            .map_err(ContainerError::from)?;
        if cfg.mode_name() == "host" {
            return Ok(SpecNetns::Host);
        }
        let path = self.netns_path(&c.id);
        let made = self.plug_all(&c.id, &path, &endpoints);
        match made {
            Ok(()) => Ok(SpecNetns::Path(path)),
            Err(e) => {
                self.teardown(&c.id);
                Err(e)
            }
        }
    }

    fn plug_all(
        &self,
        id: &str,
        path: &Path,
        endpoints: &[Endpoint],
    ) -> Result<(), ContainerError> {
        // Left by a crash between setup and teardown.
        if path.exists() {
            self.delete_veths(id);
            netns::remove(path).map_err(|e| internal(e.to_string()))?;
        }
        let bridged: Vec<&Endpoint> = endpoints
            .iter()
            .filter(|e| {
                e.driver == DRIVER_BRIDGE
                    && (matches!(e.address, Some(IpAddr::V4(_))) || e.address6.is_some())
            })
            .collect();
        let ipv6 = bridged.iter().any(|e| e.address6.is_some());
        // One thread makes the namespace, opens the socket inside it and
        // brings `lo` up (thread hand-offs cost most on a busy host).
        let mut inside = netns::create_then(path, || {
            let mut nl = inside_netlink_here(ipv6)?;
            nl.set_up_by_name("lo").map_err(|e| e.to_string())?;
            Ok::<_, String>(nl)
        })
        .map_err(|e| internal(e.to_string()))?
        .map_err(internal)?;
        if bridged.is_empty() {
            return Ok(());
        }
        let fd = netns::open(path).map_err(|e| internal(e.to_string()))?;
        let mut host = Netlink::new().map_err(|e| internal(e.to_string()))?;
        // The default routes go via docker's gateway endpoints.
        let gw = super::netlive::gateway_endpoints(endpoints);
        let is =
            |g: Option<&Endpoint>, ep: &Endpoint| g.is_some_and(|g| g.network_id == ep.network_id);
        for (i, ep) in bridged.into_iter().enumerate() {
            self.ensure_network(ep)?;
            let route = (is(gw.v4, ep), is(gw.v6, ep));
            let spec = link_endpoint(id, ep, i, route)?;
            link::attach(&mut host, &mut inside, fd.as_fd(), &spec)
                .map_err(|e| internal(e.to_string()))?;
            self.fast_add(&mut host, ep, &spec);
        }
        Ok(())
    }

    /// `network connect` of a running container: a veth for its new
    /// endpoint `ep`, named after the highest `eth<N>` inside plus one. No
    /// default route changes.
    pub fn plug(&self, container_id: &str, ep: &Endpoint) -> Result<(), ContainerError> {
        if ep.driver != DRIVER_BRIDGE {
            return Ok(());
        }
        let path = self.netns_path(container_id);
        if !netns::is_netns(&path) {
            return Err(ContainerError::Conflict {
                message: format!(
                    "container {container_id} has no network namespace of its own to connect"
                ),
            });
        }
        self.ensure_network(ep)?;
        let mut inside = inside_netlink(&path, ep.address6.is_some())?;
        let next = inside
            .links()
            .map_err(|e| internal(e.to_string()))?
            .iter()
            .filter_map(|l| l.name.strip_prefix("eth")?.parse::<usize>().ok())
            .max()
            .map_or(0, |n| n + 1);
        let spec = link_endpoint(container_id, ep, next, (false, false))?;
        let fd = netns::open(&path).map_err(|e| internal(e.to_string()))?;
        let mut host = Netlink::new().map_err(|e| internal(e.to_string()))?;
        link::attach(&mut host, &mut inside, fd.as_fd(), &spec)
            .map_err(|e| internal(e.to_string()))?;
        self.fast_add(&mut host, ep, &spec);
        Ok(())
    }

    /// `network disconnect` of a running container: its veth on that
    /// network goes.
    pub fn unplug(&self, container_id: &str, network_id: &str) {
        let name = link::host_ifname(container_id, network_id);
        self.fast_remove(network_id, &name);
        if let Err(e) = Netlink::new().and_then(|mut nl| nl.delete_link(&name)) {
            tracing::warn!(container = container_id, link = name, error = %e, "cannot delete a veth");
        }
    }

    /// Deletes the host ends of `id`'s veths (their peers go with them).
    fn delete_veths(&self, id: &str) {
        let Ok(mut nl) = Netlink::new() else {
            return;
        };
        let wanted: std::collections::BTreeMap<String, String> = self
            .networks
            .list()
            .iter()
            .map(|n| (link::host_ifname(id, &n.id), n.id.clone()))
            .collect();
        for (name, network_id) in wanted {
            self.fast_remove(&network_id, &name);
            if let Err(e) = nl.delete_link(&name) {
                tracing::warn!(container = id, link = name, error = %e, "cannot delete a veth");
            }
        }
    }

    /// Undoes [`DataPath::setup`]: veths, namespace, addresses. Repeatable.
    pub(crate) fn teardown(&self, id: &str) {
        let path = self.netns_path(id);
        if path.exists() {
            self.delete_veths(id);
            if let Err(e) = netns::remove(&path) {
                tracing::warn!(container = id, error = %e, "cannot remove a network namespace");
            }
        }
        self.networks.detach(id);
    }
}

/// Warns, from a thread of its own (it runs `nft`, and no container start
/// should wait for it), when another firewall's forward chain drops what
/// berth's table accepts for `bridge` ([`berth_net::firewall`]).
fn warn_if_firewall_drops(own_table: &str, bridge: &str) {
    let (own_table, bridge) = (own_table.to_owned(), bridge.to_owned());
    let check = move || match berth_net::firewall::dropping_forward_chains(&own_table, &bridge) {
        Ok(chains) if !chains.is_empty() => {
            let advice = berth_net::firewall::advice(&bridge, &chains);
            tracing::warn!(bridge, "{advice}");
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(bridge, error = %e, "cannot list the host's nftables chains"),
    };
    if let Err(e) = std::thread::Builder::new()
        .name("firewall-check".into())
        .spawn(check)
    {
        tracing::debug!(error = %e, "cannot start the firewall check");
    }
}

/// A netlink socket in the container's namespace at `path`; with `ipv6`
/// IPv6 is turned on there first (its endpoints get IPv6 addresses).
fn inside_netlink(path: &Path, ipv6: bool) -> Result<Netlink, ContainerError> {
    netns::run_in(path, || inside_netlink_here(ipv6))
        .map_err(|e| internal(e.to_string()))?
        .map_err(internal)
}

/// [`inside_netlink`] on a thread already in the container's namespace.
fn inside_netlink_here(ipv6: bool) -> Result<Netlink, String> {
    if ipv6 {
        link::enable_ipv6_here().map_err(|e| {
            format!("cannot turn IPv6 on in the container's network namespace: {e}")
        })?;
    }
    Netlink::new().map_err(|e| e.to_string())
}

/// The nftables rules of an endpoint's network (bridge networks with a
/// subnet: IPv4, IPv6 or both).
fn rules_of(ep: &Endpoint) -> Option<nft::NetworkRules> {
    let subnet = match ep.subnet {
        Some(IpNet::V4(s)) => Some(s.trunc()),
        _ => None,
    };
    let subnet6 = match ep.subnet6 {
        Some(IpNet::V6(s6)) => Some(s6.trunc()),
        _ => None,
    };
    (ep.driver == DRIVER_BRIDGE && (subnet.is_some() || subnet6.is_some())).then(|| {
        nft::NetworkRules {
            id: ep.network_id.clone(),
            bridge: ep.bridge_name.clone(),
            subnet,
            subnet6,
            internal: ep.internal,
        }
    })
}

/// The bridge's own IPv6 address on an IPv6 network: the IPv6 gateway
/// with the subnet's prefix.
fn bridge_address6(ep: &Endpoint) -> Option<Ipv6Net> {
    match (ep.subnet6, ep.gateway6) {
        (Some(IpNet::V6(s)), Some(IpAddr::V6(gw))) => Ipv6Net::new(gw, s.prefix_len()).ok(),
        _ => None,
    }
}

/// The bridge's own address: the gateway with the subnet's prefix.
fn bridge_address(ep: &Endpoint) -> Option<Ipv4Net> {
    match (ep.subnet, ep.gateway) {
        (Some(IpNet::V4(s)), Some(IpAddr::V4(gw))) => Ipv4Net::new(gw, s.prefix_len()).ok(),
        _ => None,
    }
}

/// The veth of endpoint number `index` (`eth<index>`); it carries the
/// IPv4 (IPv6) default route if `route.0` (`route.1`) and its network is
/// not internal (and has IPv6).
fn link_endpoint(
    id: &str,
    ep: &Endpoint,
    index: usize,
    (route, route6): (bool, bool),
) -> Result<link::Endpoint, ContainerError> {
    let address = match (ep.subnet, ep.address) {
        (Some(IpNet::V4(subnet)), Some(IpAddr::V4(addr))) => Some(
            Ipv4Net::new(addr, subnet.prefix_len())
                .map_err(|e| internal(format!("address {addr}: {e}")))?,
        ),
        _ => None,
    };
    let gateway = match ep.gateway {
        Some(IpAddr::V4(gw)) if route && !ep.internal && address.is_some() => Some(gw),
        _ => None,
    };
    let address6 = match (ep.subnet6, ep.address6) {
        (Some(IpNet::V6(s6)), Some(IpAddr::V6(a6))) => Some(
            Ipv6Net::new(a6, s6.prefix_len())
                .map_err(|e| internal(format!("address {a6}: {e}")))?,
        ),
        _ => None,
    };
    let gateway6: Option<Ipv6Addr> = match ep.gateway6 {
        Some(IpAddr::V6(gw)) if route6 && !ep.internal && address6.is_some() => Some(gw),
        _ => None,
    };
    if address.is_none() && address6.is_none() {
        return Err(internal(format!(
            "network {} gave no address",
            ep.network_name
        )));
    }
    let mac = match (parse_mac(&ep.mac), address) {
        (Some(mac), _) => mac,
        (None, Some(a)) => link::mac_for(a.addr()),
        (None, None) => link::random_mac().map_err(|e| internal(e.to_string()))?,
    };
    Ok(link::Endpoint {
        bridge: ep.bridge_name.clone(),
        host_ifname: link::host_ifname(id, &ep.network_id),
        ifname: format!("eth{index}"),
        mac,
        address,
        gateway,
        address6,
        gateway6,
    })
}

/// `02:42:ac:11:00:02` → bytes.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The gateway address of an IPv4 endpoint, if any.
pub fn gateway_v4(ep: &Endpoint) -> Option<Ipv4Addr> {
    match ep.gateway {
        Some(IpAddr::V4(gw)) => Some(gw),
        _ => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl super::Containers {
    /// Gives the service its data path (once; the engine does it after
    /// opening the network service).
    pub fn set_datapath(&self, datapath: std::sync::Arc<DataPath>) {
        let _ = self.inner.datapath.set(datapath);
        // Opening it made the table anew: published ports go back in.
        self.inner.republish_ports();
        // And running containers' DNS servers (after a daemon restart).
        self.inner.restore_dns();
    }

    /// The data path, once set.
    pub fn datapath(&self) -> Option<&std::sync::Arc<DataPath>> {
        self.inner.datapath.get()
    }
}

impl super::Inner {
    /// Sets `c`'s network up (at start) and says which namespace its spec
    /// names.
    pub(super) fn network_spec(&self, c: &Container) -> Result<SpecNetns, ContainerError> {
        let Some(dp) = self.datapath.get() else {
            return Ok(SpecNetns::Fresh);
        };
        let joined = match c.options.network.joined_container() {
            Some(other) => {
                let table = super::lock(&self.table);
                // dockerd's answer for a container that is not there.
                let d =
                    super::resolve(&table, other).map_err(|_| ContainerError::NotFoundMessage {
                        message: format!("No such container: {other}"),
                    })?;
                (d.state.status == super::Status::Running && d.state.pid > 0).then_some(d.state.pid)
            }
            None => None,
        };
        dp.setup(c, joined)
    }

    /// Undoes [`Inner::network_spec`]; repeatable.
    pub(super) fn teardown_network(&self, id: &str) {
        if let Some(dp) = self.datapath.get() {
            dp.teardown(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02"),
            Some([0x02, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(parse_mac(""), None);
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
        assert_eq!(parse_mac("02:42:ac:11:00:02:03"), None);
        assert_eq!(parse_mac("zz:42:ac:11:00:02"), None);
    }

    #[test]
    fn spec_entries() {
        assert_eq!(SpecNetns::Fresh.entry(), Some(json!({"type": "network"})));
        assert_eq!(SpecNetns::Host.entry(), None);
        assert_eq!(
            SpecNetns::Path("/run/berth/netns/x".into()).entry(),
            Some(json!({"type": "network", "path": "/run/berth/netns/x"}))
        );
    }
}
