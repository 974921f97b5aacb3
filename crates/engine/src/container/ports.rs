//! A container's published and exposed ports: what was asked at create
//! (docker's `HostConfig.PortBindings`, `HostConfig.PublishAllPorts`,
//! `Config.ExposedPorts`, merged with the image's `EXPOSE`), and the host
//! ports held for it while it runs (docker's `NetworkSettings.Ports`).
//!
//! At start [`PortService::reserve`] takes every host port (random ones
//! from the kernel's ephemeral range) by holding a bound socket for each,
//! all or nothing, so a port in use fails the start before anything else
//! is set up; at stop [`PortService::release`] gives them back. The DNAT
//! rules ([`PortService::publish`]) follow once the container has an
//! address on its network.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use berth_net::ports::{self as net, Allocator, PortKey, PortRules, Request, Target};
use serde::{Deserialize, Serialize};

use super::ContainerError;

/// One host address and port as docker writes them (`HostIp`, `HostPort`;
/// empty: every address, a random port).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostBinding {
    #[serde(rename = "HostIp", default)]
    pub host_ip: String,
    #[serde(rename = "HostPort", default)]
    pub host_port: String,
}

/// `80/tcp` -> the host addresses it is published on.
pub type PortMap = BTreeMap<String, Vec<HostBinding>>;

/// The port options of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortOptions {
    /// `-p` (docker's `HostConfig.PortBindings`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub port_bindings: PortMap,
    /// `-P` (docker's `HostConfig.PublishAllPorts`).
    #[serde(default)]
    pub publish_all: bool,
    /// `--expose`, the ports of `-p` and, after create, the image's
    /// `EXPOSE` (docker's `Config.ExposedPorts`), as `80/tcp` keys.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub exposed: BTreeSet<String>,
}

fn invalid(message: String) -> ContainerError {
    ContainerError::InvalidArgument { message }
}

/// `80/tcp`, `80` or a range `80-82/tcp` as single keys.
fn expand(key: &str) -> Result<Vec<String>, ContainerError> {
    let (ports, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = if proto.is_empty() { "tcp" } else { proto };
    let bad = || invalid(format!("invalid port specification: \"{key}\""));
    let (a, b) = net::parse_range(ports).ok_or_else(bad)?;
    net::Proto::parse(proto).ok_or_else(bad)?;
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

impl PortOptions {
    /// Checks the bindings as dockerd does (`invalid port specification`),
    /// normalises the keys (`80` -> `80/tcp`) and adds every published
    /// port to the exposed ones.
    pub fn check(&mut self) -> Result<(), ContainerError> {
        let mut bindings = PortMap::new();
        for (key, list) in std::mem::take(&mut self.port_bindings) {
            let (port, _) = key.split_once('/').unwrap_or((&key, ""));
            if net::parse_port(port).is_none() {
                return Err(invalid(format!("invalid port specification: \"{port}\"")));
            }
            let normal: PortKey = key.parse().map_err(invalid)?;
            for b in &list {
                let (hp, _) = b.host_port.split_once('/').unwrap_or((&b.host_port, ""));
                if !hp.is_empty() && net::parse_range(hp).is_none() {
                    return Err(invalid(format!(
                        "invalid port specification: \"{}\"",
                        b.host_port
                    )));
                }
                if !b.host_ip.is_empty() && b.host_ip.parse::<IpAddr>().is_err() {
                    return Err(invalid(format!("invalid IP address: {}", b.host_ip)));
                }
            }
            bindings.entry(normal.to_string()).or_default().extend(list);
        }
        let mut exposed = BTreeSet::new();
        for key in std::mem::take(&mut self.exposed) {
            exposed.extend(expand(&key)?);
        }
        exposed.extend(bindings.keys().cloned());
        self.exposed = exposed;
        self.port_bindings = bindings;
        Ok(())
    }

    /// Adds the image's `EXPOSE` ports (bad keys are skipped: the image is
    /// not the user's input).
    pub fn merge_image<'a>(&mut self, image: impl IntoIterator<Item = &'a String>) {
        for key in image {
            if let Ok(keys) = expand(key) {
                self.exposed.extend(keys);
            }
        }
    }

    /// What to reserve at start: every binding, and with `-P` every
    /// exposed port that has none, on a random port of every address.
    pub fn requests(&self) -> Vec<Request> {
        let mut out = Vec::new();
        for (key, list) in &self.port_bindings {
            let Ok(key) = key.parse::<PortKey>() else {
                continue;
            };
            for b in list {
                let hp = b
                    .host_port
                    .split_once('/')
                    .map_or(&*b.host_port, |(p, _)| p);
                out.push(Request {
                    key,
                    host_ip: b.host_ip.parse::<IpAddr>().ok(),
                    host_ports: net::parse_range(hp).filter(|&(a, _)| a != 0),
                });
            }
            if list.is_empty() {
                out.push(Request {
                    key,
                    host_ip: None,
                    host_ports: None,
                });
            }
        }
        if self.publish_all {
            for key in &self.exposed {
                if self.port_bindings.contains_key(key) {
                    continue;
                }
                if let Ok(key) = key.parse::<PortKey>() {
                    out.push(Request {
                        key,
                        host_ip: None,
                        host_ports: None,
                    });
                }
            }
        }
        out
    }

    /// docker's `NetworkSettings.Ports` of a running container: the held
    /// bindings, and `null` for each exposed port without one.
    pub fn network_ports(&self, published: &PortMap) -> BTreeMap<String, Option<Vec<HostBinding>>> {
        let mut out: BTreeMap<String, Option<Vec<HostBinding>>> =
            self.exposed.iter().map(|k| (k.clone(), None)).collect();
        for (k, v) in published {
            out.insert(k.clone(), Some(v.clone()));
        }
        out
    }
}

/// The host ports held for running containers and their nftables rules.
pub struct PortService {
    allocator: OnceLock<Allocator>,
    rules: OnceLock<PortRules>,
}

impl std::fmt::Debug for PortService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortService").finish_non_exhaustive()
    }
}

impl Default for PortService {
    fn default() -> Self {
        Self {
            allocator: OnceLock::new(),
            rules: OnceLock::new(),
        }
    }
}

impl PortService {
    fn allocator(&self) -> &Allocator {
        self.allocator.get_or_init(Allocator::new)
    }

    /// Port rules go into the inet table `table` (set once, by the
    /// networking setup that owns the table). The daemon's own
    /// connections to published ports are redirected at the socket level
    /// where the kernel allows it (DNAT otherwise).
    pub fn use_table(&self, table: &str) {
        self.rules.get_or_init(|| {
            let rules = PortRules::new(table);
            rules.redirect_host_connections();
            rules
        });
    }

    /// Holds the host ports of `c` (docker's error when one is taken;
    /// nothing held then). `previous`: the ports it held before (a
    /// restarted daemon takes the same ones again).
    pub(super) fn reserve(
        &self,
        c: &super::Container,
        previous: &PortMap,
    ) -> Result<(), ContainerError> {
        let ports = &c.options.ports;
        // As dockerd: published ports are discarded on the host's network,
        // none, or another container's.
        if !publishes(c) {
            self.release(&c.id);
            return Ok(());
        }
        let mut requests = ports.requests();
        if !previous.is_empty() {
            requests = pinned(previous);
        }
        if requests.is_empty() {
            self.release(&c.id);
            return Ok(());
        }
        self.allocator()
            .reserve(&c.id, &requests)
            .map_err(|e| ContainerError::Internal {
                message: format!(
                    "driver failed programming external connectivity on endpoint {} ({}): {e}",
                    c.name, c.id
                ),
            })?;
        Ok(())
    }

    /// The host ports held for `id`, as docker's `NetworkSettings.Ports`
    /// lists them.
    pub fn published(&self, id: &str) -> PortMap {
        let mut out = PortMap::new();
        let Some(a) = self.allocator.get() else {
            return out;
        };
        for b in a.held(id) {
            out.entry(b.key.to_string()).or_default().push(HostBinding {
                host_ip: b.host_ip.to_string(),
                host_port: b.host_port.to_string(),
            });
        }
        out
    }

    /// DNATs the held ports of container `id` to `container_ip` (and its
    /// IPv6 bindings to `container_ip6` on an IPv6 network) behind
    /// `bridge`.
    pub fn publish(
        &self,
        id: &str,
        container_ip: Option<std::net::Ipv4Addr>,
        container_ip6: Option<std::net::Ipv6Addr>,
        bridge: &str,
    ) -> Result<(), ContainerError> {
        let Some(rules) = self.rules.get() else {
            return Ok(());
        };
        let held = self.allocator().held(id);
        if held.is_empty() {
            return Ok(());
        }
        let target = Target {
            container_ip,
            container_ip6,
            bridge: bridge.to_owned(),
        };
        let internal = |e: net::PortError| ContainerError::Internal {
            message: e.to_string(),
        };
        rules.set(id, target, &held).map_err(internal)?;
        let proxied = container_ip6
            .map(IpAddr::V6)
            .or(container_ip.map(IpAddr::V4));
        match proxied {
            Some(ip) => self
                .allocator()
                .proxy_ipv6(id, ip, rules.redirects_host_connections())
                .map_err(internal),
            None => Ok(()),
        }
    }

    /// Removes `id`'s rules and keeps its host ports (it has no gateway
    /// endpoint left to publish them on).
    pub(super) fn unpublish(&self, id: &str) -> Result<(), ContainerError> {
        match self.rules.get() {
            Some(r) => r.remove(id).map_err(|e| ContainerError::Internal {
                message: e.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Removes `id`'s rules and gives its host ports back.
    pub fn release(&self, id: &str) {
        if let Some(rules) = self.rules.get()
            && let Err(e) = rules.remove(id)
        {
            tracing::warn!(id, error = %e, "cannot remove the rules of published ports");
        }
        if let Some(a) = self.allocator.get() {
            a.release(id);
        }
    }

    /// Writes every container's rules again (the table was made anew).
    pub fn rebuild(&self) -> Result<(), ContainerError> {
        match self.rules.get() {
            Some(r) => r.rebuild().map_err(|e| ContainerError::Internal {
                message: e.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// Whether `c`'s network mode publishes ports (a bridge or user network).
fn publishes(c: &super::Container) -> bool {
    let net = &c.options.network;
    !matches!(net.mode_name(), "host" | "none") && net.joined_container().is_none()
}

impl super::Inner {
    /// DNATs the host ports held for `c` to its address on its gateway
    /// endpoint's network, once its network is set up (at start, and for
    /// running containers when the daemon comes back): the IPv4 bindings
    /// to the IPv4 gateway endpoint's, the IPv6 ones to the IPv6 gateway
    /// endpoint's IPv6 address (the IPv4 endpoint's when there is none,
    /// as docker 28's bridge driver). Lets the host's own 127.0.0.1
    /// connections out of that bridge (`route_localnet`) and turns on
    /// hairpin mode on its bridge ports.
    pub(super) fn publish_ports(&self, c: &super::Container) -> Result<(), ContainerError> {
        let Some(dp) = self.datapath.get() else {
            return Ok(());
        };
        self.ports.use_table(dp.table().name());
        if !publishes(c) || self.ports.published(&c.id).is_empty() {
            return Ok(());
        }
        // As docker: on the endpoints that give the default gateways.
        let endpoints = dp.endpoints(&c.id);
        let gateways = super::netlive::gateway_endpoints(&endpoints);
        let endpoint = gateways.v4.and_then(|ep| match ep.address {
            Some(IpAddr::V4(ip)) => Some((Some(ip), ep)),
            _ => None,
        });
        // Only IPv6-only networks: as dockerd, the ports are published on
        // the host's IPv6 addresses only.
        let endpoint = endpoint.or_else(|| {
            let ep6 = gateways.v6?;
            self.ports.allocator().drop_ipv4(&c.id);
            Some((None, ep6))
        });
        let Some((ip, ep)) = endpoint else {
            return Ok(());
        };
        let internal = |e: net::PortError| ContainerError::Internal {
            message: e.to_string(),
        };
        net::enable_route_localnet(&ep.bridge_name).map_err(internal)?;
        let veth = berth_net::link::host_ifname(&c.id, &ep.network_id);
        if let Err(e) = net::enable_hairpin(&veth) {
            tracing::warn!(id = %c.id, error = %e, "cannot turn on hairpin mode");
        }
        let ep6 = gateways.v6.unwrap_or(ep);
        if ep6.network_id != ep.network_id {
            let veth = berth_net::link::host_ifname(&c.id, &ep6.network_id);
            if let Err(e) = net::enable_hairpin(&veth) {
                tracing::warn!(id = %c.id, error = %e, "cannot turn on hairpin mode");
            }
        }
        let ip6 = match ep6.address6 {
            Some(IpAddr::V6(ip6)) => Some(ip6),
            _ => None,
        };
        self.ports.publish(&c.id, ip, ip6, &ep.bridge_name)
    }

    /// The rules of every running container's ports again (berth's table
    /// was made anew when the data path opened).
    pub(super) fn republish_ports(&self) {
        let running: Vec<super::Container> = super::lock(&self.table)
            .values()
            .filter(|c| c.state.status == super::Status::Running)
            .cloned()
            .collect();
        for c in running {
            if let Err(e) = self.publish_ports(&c) {
                tracing::warn!(id = %c.id, error = %e, "cannot publish a running container's ports again");
            }
        }
    }
}

/// Requests for exactly the ports held before.
fn pinned(previous: &PortMap) -> Vec<Request> {
    let mut out = Vec::new();
    for (key, list) in previous {
        let Ok(key) = key.parse::<PortKey>() else {
            continue;
        };
        for b in list {
            let port = net::parse_port(&b.host_port);
            out.push(Request {
                key,
                host_ip: b.host_ip.parse().ok(),
                host_ports: port.map(|p| (p, p)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(ip: &str, port: &str) -> HostBinding {
        HostBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn check_normalises_and_exposes() {
        let mut o = PortOptions {
            port_bindings: [("80".to_owned(), vec![binding("", "8080")])].into(),
            exposed: ["90-91/udp".to_owned()].into(),
            ..PortOptions::default()
        };
        o.check().unwrap();
        assert!(o.port_bindings.contains_key("80/tcp"));
        let exposed: Vec<_> = o.exposed.iter().cloned().collect();
        assert_eq!(exposed, ["80/tcp", "90/udp", "91/udp"]);
        let mut bad = PortOptions {
            port_bindings: [("x/tcp".to_owned(), vec![])].into(),
            ..PortOptions::default()
        };
        assert_eq!(
            bad.check().unwrap_err().to_string(),
            "invalid port specification: \"x\""
        );
        let mut bad = PortOptions {
            port_bindings: [("80/tcp".to_owned(), vec![binding("", "y")])].into(),
            ..PortOptions::default()
        };
        assert_eq!(
            bad.check().unwrap_err().to_string(),
            "invalid port specification: \"y\""
        );
    }

    #[test]
    fn requests_with_publish_all() {
        let mut o = PortOptions {
            port_bindings: [("80/tcp".to_owned(), vec![binding("127.0.0.1", "8000-8010")])].into(),
            publish_all: true,
            ..PortOptions::default()
        };
        o.check().unwrap();
        o.merge_image(&["443/tcp".to_owned()]);
        let r = o.requests();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].host_ports, Some((8000, 8010)));
        assert_eq!(r[0].host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(r[1].key.port, 443);
        assert_eq!(r[1].host_ports, None);
        let ports = o.network_ports(&PortMap::new());
        assert_eq!(ports.len(), 2);
        assert!(ports["443/tcp"].is_none());
    }
}
