//! What a container's embedded DNS server answers: the names of the
//! containers on its user networks (container names, `--network-alias`es,
//! short IDs, `name.network`), with their addresses on those networks,
//! and the reverse (`PTR`) names of those addresses, as dockerd's resolver.

use std::net::IpAddr;

use berth_net::dns::Names;

use super::{DRIVER_BRIDGE, Networks, lock};

/// The view of one container (`asker`) of the networks it is on.
#[derive(Debug)]
pub struct ContainerNames {
    networks: Networks,
    asker: String,
}

impl Networks {
    /// The names container `asker` resolves through its DNS server.
    pub fn names_for(&self, asker: &str) -> ContainerNames {
        ContainerNames {
            networks: self.clone(),
            asker: asker.to_owned(),
        }
    }
}

impl Names for ContainerNames {
    fn addresses(&self, name: &str) -> Option<Vec<IpAddr>> {
        let table = lock(&self.networks.inner.table);
        let mut found: Option<Vec<IpAddr>> = None;
        for net in table.values() {
            // User networks only: the default bridge has no DNS (as docker).
            if net.builtin
                || net.driver != DRIVER_BRIDGE
                || !net.endpoints.contains_key(&self.asker)
            {
                continue;
            }
            let suffix = format!(".{}", net.name.to_ascii_lowercase());
            let bare = name.strip_suffix(suffix.as_str()).unwrap_or(name);
            // Its `--link` aliases stand for the containers they name.
            let bare = net
                .endpoints
                .get(&self.asker)
                .and_then(|me| me.links.get(&bare.to_ascii_lowercase()))
                .map_or(bare, String::as_str);
            for ep in net.endpoints.values() {
                let matches = ep.name.eq_ignore_ascii_case(bare)
                    || ep.aliases.iter().any(|a| a.eq_ignore_ascii_case(bare));
                if matches {
                    let list = found.get_or_insert_with(Vec::new);
                    list.extend(ep.ipv4.iter().chain(ep.ipv6.iter()).copied());
                }
            }
        }
        found
    }

    fn name_of(&self, ip: IpAddr) -> Option<String> {
        let table = lock(&self.networks.inner.table);
        table
            .values()
            .filter(|n| !n.builtin && n.endpoints.contains_key(&self.asker))
            .find_map(|net| {
                net.endpoints
                    .values()
                    .find(|ep| ep.ipv4 == Some(ip) || ep.ipv6 == Some(ip))
                    .map(|ep| format!("{}.{}", ep.name, net.name))
            })
    }
}
