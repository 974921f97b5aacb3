//! A running container's network while things change around it, as
//! dockerd keeps it:
//! - `network connect`/`disconnect`: its `/etc/hosts` gets (or loses) a
//!   line for the address on that network, its embedded DNS server starts
//!   when it first joins a user network (its resolv.conf then names
//!   127.0.0.11), and its default route and published ports follow
//!   docker's gateway endpoint ([`gateway_endpoint`]);
//! - a daemon restart (live restore): the embedded DNS servers of running
//!   containers on user networks start again.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use berth_net::hosts_edit;
use berth_net::link::Netlink;
use berth_net::netns;

use super::model::Container;
use super::{ContainerError, Status, networking};
use crate::network::{DRIVER_BRIDGE, Endpoint};

/// The endpoint that gives the container its default gateway, and so gets
/// its published ports, as docker 28 orders a sandbox's endpoints: bridge
/// endpoints with an IPv4 gateway, not internal (those have no gateway),
/// dual-stack ones before IPv4-only ones, then by network name.
pub(crate) fn gateway_endpoint(endpoints: &[Endpoint]) -> Option<&Endpoint> {
    endpoints
        .iter()
        .filter(|e| {
            e.driver == DRIVER_BRIDGE
                && !e.internal
                && matches!(e.address, Some(IpAddr::V4(_)))
                && matches!(e.gateway, Some(IpAddr::V4(_)))
        })
        .min_by_key(|e| {
            let dual = e.address6.is_some() && e.gateway6.is_some();
            (!dual, e.network_name.as_str())
        })
}

fn internal(e: impl std::fmt::Display) -> ContainerError {
    ContainerError::Internal {
        message: e.to_string(),
    }
}

/// The addresses of `ep` (IPv4, then IPv6).
fn addresses(ep: &Endpoint) -> Vec<IpAddr> {
    ep.address.into_iter().chain(ep.address6).collect()
}

/// Rewrites the file at `path` (in place: it is bind-mounted into the
/// running container) with `change` applied to its text.
fn edit(path: &Path, change: impl FnOnce(&str) -> String) -> Result<(), ContainerError> {
    let text = fs_err::read_to_string(path).map_err(|e| super::store::io(path, e))?;
    let new = change(&text);
    if new != text {
        fs_err::write(path, new).map_err(|e| super::store::io(path, e))?;
    }
    Ok(())
}

impl super::Containers {
    /// After `network connect` plugged running container `id` into the
    /// network of `ep`: its hosts line, its DNS server, its gateway.
    pub fn network_connected(&self, id: &str, ep: &Endpoint) -> Result<(), ContainerError> {
        let c = self.get(id)?;
        let inner = &self.inner;
        let Some(dp) = inner.datapath.get() else {
            return Ok(());
        };
        let dir = inner.store.dir(&c.id);
        edit(&dir.join("hosts"), |text| {
            hosts_edit::add_addresses(
                text,
                &addresses(ep),
                &c.process.hostname,
                &c.options.security.domainname,
            )
        })?;
        let now = dp.networks().endpoints_for(&c.id);
        if networking::on_user_network(&now) && !inner.dns.is_running(&c.id) {
            // Its first user network: names through the embedded server.
            let r = inner.resolution(&c, &now);
            let rc = networking::resolv_conf_of(&c, &r)?;
            networking::write_resolv_conf(&dir.join("resolv.conf"), &rc)?;
            let names = Arc::new(dp.networks().names_for(&c.id));
            inner
                .dns
                .start(&c.id, &dp.netns_path(&c.id), names, rc.ext_servers)?;
        }
        let before: Vec<Endpoint> = now
            .iter()
            .filter(|e| e.network_id != ep.network_id)
            .cloned()
            .collect();
        inner.follow_gateway(&c, &before, &now)
    }

    /// After `network disconnect` took running container `id` off the
    /// network of `old`: its hosts line goes, its gateway may move. Its
    /// DNS server stays (as dockerd's), answering for the networks left.
    pub fn network_disconnected(&self, id: &str, old: &Endpoint) -> Result<(), ContainerError> {
        let c = self.get(id)?;
        let inner = &self.inner;
        let Some(dp) = inner.datapath.get() else {
            return Ok(());
        };
        edit(&inner.store.dir(&c.id).join("hosts"), |text| {
            hosts_edit::remove_addresses(
                text,
                &addresses(old),
                &c.process.hostname,
                &c.options.security.domainname,
            )
        })?;
        let now = dp.networks().endpoints_for(&c.id);
        let mut before = now.clone();
        before.push(old.clone());
        inner.follow_gateway(&c, &before, &now)
    }
}

impl super::Inner {
    /// The resolution files' view of `c` with `endpoints`.
    fn resolution(&self, c: &Container, endpoints: &[Endpoint]) -> networking::Resolution {
        let mut base = networking::Resolution::isolated(self.settings.host_resolv_conf.clone());
        base.host_gateway = self.settings.host_gateway;
        networking::resolution_of(c, endpoints, base)
    }

    /// When `c`'s gateway endpoint changed from `before` to `now`: the
    /// default route goes via the new one and the published ports move
    /// to it (or, without one, their rules go; the host ports stay held).
    fn follow_gateway(
        &self,
        c: &Container,
        before: &[Endpoint],
        now: &[Endpoint],
    ) -> Result<(), ContainerError> {
        let was = gateway_endpoint(before).map(|e| e.network_id.as_str());
        let is = gateway_endpoint(now);
        if was == is.map(|e| e.network_id.as_str()) {
            return Ok(());
        }
        let Some(dp) = self.datapath.get() else {
            return Ok(());
        };
        let Some(ep) = is else {
            return self.ports.unpublish(&c.id);
        };
        if let Some(IpAddr::V4(gw)) = ep.gateway {
            netns::run_in(&dp.netns_path(&c.id), || {
                Netlink::new().and_then(|mut nl| nl.set_default_route(gw))
            })
            .map_err(internal)?
            .map_err(internal)?;
        }
        self.publish_ports(c)
    }

    /// After a daemon restart: the embedded DNS server of every running
    /// container on a user network, in its namespace again.
    pub(super) fn restore_dns(&self) {
        let Some(dp) = self.datapath.get() else {
            return;
        };
        let running: Vec<Container> = super::lock(&self.table)
            .values()
            .filter(|c| c.state.status == Status::Running)
            .cloned()
            .collect();
        for c in running {
            let endpoints = dp.networks().endpoints_for(&c.id);
            if !networking::on_user_network(&endpoints) || self.dns.is_running(&c.id) {
                continue;
            }
            let started = networking::resolv_conf_of(&c, &self.resolution(&c, &endpoints))
                .and_then(|rc| {
                    let names = Arc::new(dp.networks().names_for(&c.id));
                    self.dns
                        .start(&c.id, &dp.netns_path(&c.id), names, rc.ext_servers)
                });
            if let Err(e) = started {
                tracing::warn!(id = %c.id, error = %e, "cannot start a running container's DNS server again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ep(name: &str, internal: bool, v6: bool) -> Endpoint {
        Endpoint {
            network_id: format!("id-{name}"),
            network_name: name.to_owned(),
            driver: DRIVER_BRIDGE.to_owned(),
            bridge_name: format!("br-{name}"),
            internal,
            endpoint_id: String::new(),
            subnet: Some("10.1.0.0/24".parse().unwrap()),
            gateway: Some("10.1.0.1".parse().unwrap()),
            address: Some("10.1.0.2".parse().unwrap()),
            subnet6: v6.then(|| "fd00::/64".parse().unwrap()),
            gateway6: v6.then(|| "fd00::1".parse().unwrap()),
            address6: v6.then(|| "fd00::2".parse().unwrap()),
            mac: String::new(),
            aliases: Vec::new(),
            options: BTreeMap::new(),
        }
    }

    #[test]
    fn the_gateway_endpoint_is_dockers() {
        let name = |eps: &[Endpoint]| gateway_endpoint(eps).map(|e| e.network_name.clone());
        assert_eq!(name(&[]), None);
        assert_eq!(
            name(&[ep("zeta", false, false), ep("alpha", false, false)]),
            Some("alpha".into())
        );
        assert_eq!(
            name(&[ep("alpha", true, false), ep("zeta", false, false)]),
            Some("zeta".into())
        );
        assert_eq!(name(&[ep("alpha", true, false)]), None);
        assert_eq!(
            name(&[ep("alpha", false, false), ep("zeta", false, true)]),
            Some("zeta".into())
        );
    }
}
