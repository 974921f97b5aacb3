//! A running container's network while things change around it, as
//! dockerd keeps it:
//! - `network connect`/`disconnect`: its `/etc/hosts` gets (or loses) a
//!   line for the address on that network, its embedded DNS server starts
//!   when it first joins a user network (its resolv.conf then names
//!   127.0.0.11), and its default routes and published ports follow
//!   docker's gateway endpoints ([`gateway_endpoints`]);
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

/// The endpoints that give a container its default routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Gateways<'a> {
    /// The IPv4 default route's.
    pub v4: Option<&'a Endpoint>,
    /// The IPv6 default route's.
    pub v6: Option<&'a Endpoint>,
}

impl Gateways<'_> {
    fn ids(&self) -> (Option<&str>, Option<&str>) {
        (
            self.v4.map(|e| e.network_id.as_str()),
            self.v6.map(|e| e.network_id.as_str()),
        )
    }
}

/// Whether `e` can give an IPv4 (IPv6) default route: a bridge endpoint,
/// not internal (those have no gateway), with an address and a gateway of
/// that family.
fn routes(e: &Endpoint) -> (bool, bool) {
    if e.driver != DRIVER_BRIDGE || e.internal {
        return (false, false);
    }
    (
        matches!(
            (e.address, e.gateway),
            (Some(IpAddr::V4(_)), Some(IpAddr::V4(_)))
        ),
        matches!(
            (e.address6, e.gateway6),
            (Some(IpAddr::V6(_)), Some(IpAddr::V6(_)))
        ),
    )
}

/// The endpoints that give the default routes, as docker 28 orders a
/// sandbox's endpoints: the highest `gw-priority` first, then not
/// internal, then dual-stack before single-stack, then by network name;
/// the IPv4 (IPv6) gateway is the first endpoint that can give one.
pub(crate) fn gateway_endpoints(endpoints: &[Endpoint]) -> Gateways<'_> {
    let mut sorted: Vec<&Endpoint> = endpoints.iter().collect();
    sorted.sort_by_key(|e| {
        let (v4, v6) = routes(e);
        (
            std::cmp::Reverse(e.gw_priority),
            e.internal,
            std::cmp::Reverse(u8::from(v4) + u8::from(v6)),
            e.network_name.as_str(),
        )
    });
    Gateways {
        v4: sorted.iter().copied().find(|e| routes(e).0),
        v6: sorted.iter().copied().find(|e| routes(e).1),
    }
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

    /// When `c`'s gateway endpoints changed from `before` to `now`: the
    /// default routes go via the new ones and the published ports move
    /// with them, IPv4 bindings to the IPv4 one, IPv6 bindings to the
    /// IPv6 one (or, without an IPv4 one, their rules go; the host ports
    /// stay held). A route via an endpoint that left went with its
    /// interface.
    fn follow_gateway(
        &self,
        c: &Container,
        before: &[Endpoint],
        now: &[Endpoint],
    ) -> Result<(), ContainerError> {
        let was = gateway_endpoints(before);
        let is = gateway_endpoints(now);
        let ((was4, was6), (is4, is6)) = (was.ids(), is.ids());
        if was4 == is4 && was6 == is6 {
            return Ok(());
        }
        let Some(dp) = self.datapath.get() else {
            return Ok(());
        };
        let v4 = is.v4.and_then(|e| match e.gateway {
            Some(IpAddr::V4(gw)) if was4 != is4 => Some(gw),
            _ => None,
        });
        let v6 = is.v6.and_then(|e| match e.gateway6 {
            Some(IpAddr::V6(gw)) if was6 != is6 => Some(gw),
            _ => None,
        });
        if v4.is_some() || v6.is_some() {
            netns::run_in(&dp.netns_path(&c.id), || {
                let mut nl = Netlink::new()?;
                if let Some(gw) = v4 {
                    nl.set_default_route(gw)?;
                }
                if let Some(gw) = v6 {
                    nl.set_default_route6(gw)?;
                }
                Ok::<_, berth_net::link::LinkError>(())
            })
            .map_err(internal)?
            .map_err(internal)?;
        }
        if is.v4.is_none() {
            return self.ports.unpublish(&c.id);
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
            gw_priority: 0,
        }
    }

    #[test]
    fn the_gateway_endpoint_is_dockers() {
        let name = |eps: &[Endpoint]| gateway_endpoints(eps).v4.map(|e| e.network_name.clone());
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

    #[test]
    fn gw_priority_and_ipv6_pick_the_gateways() {
        let names = |eps: &[Endpoint]| {
            let g = gateway_endpoints(eps);
            (
                g.v4.map(|e| e.network_name.clone()),
                g.v6.map(|e| e.network_name.clone()),
            )
        };
        let some = |a: &str, b: &str| (Some(a.to_owned()), Some(b.to_owned()));
        // IPv6 from the first dual-stack endpoint by name.
        assert_eq!(
            names(&[ep("zeta", false, true), ep("beta", false, true)]),
            some("beta", "beta")
        );
        // A higher priority wins, even single-stack over dual-stack; IPv6
        // then comes from the best endpoint that has it.
        let mut high = ep("zeta", false, false);
        high.gw_priority = 10;
        assert_eq!(
            names(&[high.clone(), ep("beta", false, true)]),
            some("zeta", "beta")
        );
        let mut low = ep("alpha", false, true);
        low.gw_priority = -1;
        assert_eq!(names(&[low, ep("zeta", false, true)]), some("zeta", "zeta"));
        // Internal endpoints give no gateway, whatever their priority.
        let mut inner = ep("alpha", true, true);
        inner.gw_priority = 100;
        assert_eq!(names(&[inner]), (None, None));
    }
}
