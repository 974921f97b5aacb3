//! The data path's part of the container-to-container fast path
//! ([`berth_net::fastpath`]): each endpoint on a bridge network joins its
//! network's fast path once its veth is plugged in, and leaves it before
//! the veth is deleted; the daemon's restore pass puts the endpoints of
//! running containers back (the links of an earlier daemon life were
//! closed with it). A network with inter-container communication turned
//! off (`com.docker.network.bridge.enable_icc=false`) has none.
//!
//! The fast path only ever speeds traffic up: when it cannot be set up
//! for an endpoint, that is logged and the bridge carries the endpoint's
//! traffic as before; a container start never fails because of it, and
//! never waits for it (the fast path's worker thread attaches endpoints
//! a few milliseconds after their start; their first frames take the
//! bridge).

use std::collections::BTreeSet;

use berth_net::link::{self, Netlink};

use super::{DataPath, link_endpoint};
use crate::network::{DRIVER_BRIDGE, Endpoint};

/// The driver option that turns inter-container communication off.
const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";

/// Whether endpoints of `ep`'s network may talk to each other directly:
/// not when `enable_icc` is false (as Go's `strconv.ParseBool` reads it).
fn icc(ep: &Endpoint) -> bool {
    ep.options
        .get(ICC_OPTION)
        .is_none_or(|v| crate::go::parse_bool(v) != Some(false))
}

impl DataPath {
    /// Puts the endpoint `ep`, whose veth `spec` was just plugged in, on
    /// its network's fast path.
    pub(super) fn fast_add(&self, host: &mut Netlink, ep: &Endpoint, spec: &link::Endpoint) {
        if ep.driver != DRIVER_BRIDGE || !icc(ep) {
            return;
        }
        let index = match host.link_index(&spec.host_ifname) {
            Ok(Some(index)) => index,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(link = spec.host_ifname, error = %e, "fast path: cannot find a veth");
                return;
            }
        };
        // The attach waits for an RCU grace period: the fast path's worker
        // does it, so the container's start does not wait.
        self.fastpath
            .add_soon(&ep.network_id, &spec.host_ifname, index, spec.mac);
    }

    /// Takes the veth `ifname` of network `network_id` off the fast path;
    /// before the veth is deleted.
    pub(super) fn fast_remove(&self, network_id: &str, ifname: &str) {
        if let Err(e) = self.fastpath.remove(network_id, ifname) {
            tracing::warn!(
                network = network_id,
                link = ifname,
                error = %e,
                "fast path: the network's traffic goes through its bridge from now on"
            );
        }
    }

    /// At daemon start: the endpoints of the `running` containers join
    /// their networks' fast paths again.
    pub(super) fn restore_fastpath(&self, running: &BTreeSet<String>) {
        let mut host = match Netlink::new() {
            Ok(nl) => nl,
            Err(e) => {
                tracing::warn!(error = %e, "fast path: cannot open a netlink socket");
                return;
            }
        };
        for id in running {
            for ep in self.networks.endpoints_for(id) {
                // The veth as `plug_all` made it (its index in the
                // container does not matter here).
                if let Ok(spec) = link_endpoint(id, &ep, 0, (false, false)) {
                    self.fast_add(&mut host, &ep, &spec);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icc_is_off_only_when_the_option_says_false() {
        let mut ep = Endpoint {
            network_id: "n".into(),
            network_name: "n".into(),
            driver: DRIVER_BRIDGE.into(),
            bridge_name: "br".into(),
            internal: false,
            endpoint_id: "e".into(),
            subnet: None,
            gateway: None,
            address: None,
            subnet6: None,
            gateway6: None,
            address6: None,
            mac: String::new(),
            aliases: Vec::new(),
            options: Default::default(),
            gw_priority: 0,
        };
        assert!(icc(&ep));
        for (v, want) in [("true", true), ("1", true), ("false", false), ("0", false)] {
            ep.options.insert(ICC_OPTION.into(), v.into());
            assert_eq!(icc(&ep), want, "{v}");
        }
    }
}
