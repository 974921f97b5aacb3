//! Where networks meet containers: the checks at container create, and
//! `network connect`/`disconnect`, which change the container's stored
//! settings and, while it runs, its endpoints.

use super::{ContainerNetworks, Endpoint, EndpointConfig, NetworkError};
use crate::Engine;
use crate::container::{Container, ContainerError, CreateOptions, Status};
use crate::error::{Classify, ErrorClass};

impl From<NetworkError> for ContainerError {
    fn from(e: NetworkError) -> Self {
        match e.class() {
            ErrorClass::NotFound => ContainerError::NotFoundMessage {
                message: e.to_string(),
            },
            ErrorClass::Conflict => ContainerError::Conflict {
                message: e.to_string(),
            },
            ErrorClass::InvalidArgument => ContainerError::InvalidArgument {
                message: e.to_string(),
            },
            _ => ContainerError::Internal {
                message: e.to_string(),
            },
        }
    }
}

impl Engine {
    /// Checks and completes a new container's network settings
    /// (`--network`, `--ip`, `--network-alias`): see
    /// [`super::Networks::check_container`]; `container:<name>` must name
    /// an existing container to be stored by its ID; one that does not
    /// exist (yet) is kept by name and fails the start, as in dockerd (a
    /// 404 at create would make the docker CLI pull the image).
    pub fn check_container_networks(&self, opts: &mut CreateOptions) -> Result<(), ContainerError> {
        if let Some(other) = opts.network.joined_container()
            && let Ok(other) = self.containers().get(other)
        {
            opts.network.mode = format!("container:{}", other.id);
        }
        self.networks.check_container(&mut opts.network)?;
        Ok(())
    }

    /// Creates a container after checking its networks.
    pub fn create_container(
        &self,
        image: &str,
        mut opts: CreateOptions,
    ) -> Result<Container, ContainerError> {
        self.containers().check_links(&mut opts)?;
        self.check_container_networks(&mut opts)?;
        self.containers().create(image, opts)
    }

    /// `network connect`: the container is on `network` from now on; if it
    /// runs, it gets its endpoint (address) now.
    pub fn connect_container(
        &self,
        network: &str,
        container: &str,
        mut ep: EndpointConfig,
    ) -> Result<Option<Endpoint>, ContainerError> {
        let net = self.networks.get(network)?;
        let mut name = String::new();
        let updated = self.containers().update_networks(container, |c, cfg| {
            let net = self.networks.check_connect(cfg, &net.id, &ep)?;
            if cfg.endpoints.contains_key(&net.name) {
                return Err(ContainerError::Conflict {
                    message: format!(
                        "endpoint with name {} already exists in network {}",
                        c.name, net.name
                    ),
                });
            }
            ep.network_id.clone_from(&net.id);
            name.clone_from(&net.name);
            cfg.endpoints.insert(net.name.clone(), ep.clone());
            Ok(())
        })?;
        if updated.state.status != Status::Running {
            return Ok(None);
        }
        let plugged = self
            .networks
            .attach_one(&updated.id, &updated.name, &net.id, &ep)
            .map_err(ContainerError::from)
            .and_then(|(endpoint, _)| {
                // The veth into the network's bridge, now.
                let dp = self.containers().datapath().cloned();
                let plugged = dp.as_ref().map_or(Ok(()), |dp| {
                    dp.plug(&updated.id, &endpoint)?;
                    // Its hosts line, DNS server and gateway follow.
                    self.containers()
                        .network_connected(&updated.id, &endpoint)
                        .inspect_err(|_| dp.unplug(&updated.id, &net.id))
                });
                match plugged {
                    Ok(()) => Ok(endpoint),
                    Err(e) => {
                        let _ = self.networks.detach_one(&updated.id, &net.id);
                        Err(e)
                    }
                }
            });
        match plugged {
            Ok(endpoint) => Ok(Some(endpoint)),
            Err(e) => {
                // Nothing half-done: the container is not on it after all.
                let _ = self.containers().update_networks(&updated.id, |_, cfg| {
                    cfg.endpoints.remove(&name);
                    Ok(())
                });
                Err(e)
            }
        }
    }

    /// `network disconnect`: the container leaves `network`; if it runs,
    /// its endpoint there goes (and its address is free again). `force`
    /// also drops a stored setting for a network that no longer exists.
    pub fn disconnect_container(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<(), ContainerError> {
        let net = match self.networks.get(network) {
            Ok(n) => Some(n),
            Err(NetworkError::NotFound(_)) if force => None,
            Err(e) => return Err(e.into()),
        };
        let key = net.as_ref().map_or(network.to_owned(), |n| n.name.clone());
        let updated = self.containers().update_networks(container, |c, cfg| {
            if cfg.mode_name() == "host" && key == "host" {
                return Err(ContainerError::Conflict {
                    message: "container cannot be disconnected from host network or connected to host network".into(),
                });
            }
            let by_id = net.as_ref().and_then(|n| {
                cfg.endpoints
                    .iter()
                    .find(|(_, e)| e.network_id == n.id)
                    .map(|(k, _)| k.clone())
            });
            let removed = cfg.endpoints.remove(&key).is_some()
                || by_id.is_some_and(|k| cfg.endpoints.remove(&k).is_some());
            if !removed {
                return Err(ContainerError::Conflict {
                    message: format!("container {} is not connected to network {}", c.id, network),
                });
            }
            Ok(())
        })?;
        if let Some(net) = net {
            let old = self
                .networks
                .endpoints_for(&updated.id)
                .into_iter()
                .find(|e| e.network_id == net.id);
            if let Some(dp) = self.containers().datapath() {
                dp.unplug(&updated.id, &net.id);
            }
            self.networks.detach_one(&updated.id, &net.id)?;
            // Its hosts line goes, its gateway and ports may move.
            if let Some(old) = old
                && updated.state.status == Status::Running
            {
                self.containers().network_disconnected(&updated.id, &old)?;
            }
        }
        Ok(())
    }

    /// The container's networks as inspect shows them, with the endpoint
    /// of each while it runs.
    pub fn container_networks(
        &self,
        c: &Container,
    ) -> Vec<(String, EndpointConfig, Option<Endpoint>)> {
        let active = self.networks.endpoints_for(&c.id);
        effective(&c.options.network)
            .endpoints
            .iter()
            .map(|(name, ep)| {
                let endpoint = active
                    .iter()
                    .find(|e| e.network_id == ep.network_id || &e.network_name == name)
                    .cloned();
                (name.clone(), ep.clone(), endpoint)
            })
            .collect()
    }
}

/// A container stored before networks existed is on the default bridge.
fn effective(cfg: &ContainerNetworks) -> ContainerNetworks {
    let mut out = cfg.clone();
    if out.endpoints.is_empty() && out.joined_container().is_none() {
        out.endpoints
            .insert(out.mode_name().to_owned(), EndpointConfig::default());
    }
    out
}

/// Errors of `GET /networks`' filters, with dockerd's messages.
fn bad_filter(message: String) -> NetworkError {
    NetworkError::InvalidArgument(message)
}

impl Engine {
    /// `GET /networks?filters=`: `driver`, `id`, `label`, `name`, `scope`,
    /// `type` (`custom`/`builtin`), `dangling`; name and ID match as
    /// dockerd's (exactly, or as an unanchored regular expression).
    pub fn list_networks(
        &self,
        filters: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<super::Network>, NetworkError> {
        const KEYS: [&str; 7] = ["driver", "id", "label", "name", "scope", "type", "dangling"];
        if let Some(bad) = filters.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(bad_filter(format!("invalid filter '{bad}'")));
        }
        let get = |k: &str| filters.get(k).map(Vec::as_slice).unwrap_or_default();
        for t in get("type") {
            if t != "custom" && t != "builtin" {
                return Err(bad_filter(format!("invalid filter: 'type'='{t}'")));
            }
        }
        let dangling = match get("dangling") {
            [] => None,
            [v] if v == "true" || v == "1" => Some(true),
            [v] if v == "false" || v == "0" => Some(false),
            v => {
                return Err(bad_filter(format!(
                    "invalid filter 'dangling={}'",
                    v.join(",")
                )));
            }
        };
        let patterns = |k: &str| -> Result<Vec<regex::Regex>, NetworkError> {
            get(k)
                .iter()
                .map(|p| {
                    regex::Regex::new(p)
                        .map_err(|e| bad_filter(format!("invalid filter '{k}={p}': {e}")))
                })
                .collect()
        };
        let (names, ids) = (patterns("name")?, patterns("id")?);
        let matches = |vals: &[String], pats: &[regex::Regex], s: &str| {
            vals.is_empty() || vals.iter().any(|v| v == s) || pats.iter().any(|p| p.is_match(s))
        };
        let label_filter = crate::prune::PruneFilters {
            labels: get("label").to_vec(),
            ..Default::default()
        };
        Ok(self
            .networks
            .list()
            .into_iter()
            .filter(|n| {
                (get("driver").is_empty() || get("driver").iter().any(|d| d == &n.driver))
                    && matches(get("name"), &names, &n.name)
                    && matches(get("id"), &ids, &n.id)
                    && (get("scope").is_empty() || get("scope").iter().any(|s| s == n.scope()))
                    && (get("type").is_empty()
                        || get("type")
                            .iter()
                            .any(|t| (t == "builtin") == n.is_builtin()))
                    && label_filter.labels_match(&n.labels)
                    && dangling.is_none_or(|d| d == (!n.builtin && n.endpoints.is_empty()))
            })
            .collect())
    }

    /// `POST /networks/prune`: user networks no running container is on,
    /// created before `until`, matching the label filters; their names.
    pub fn prune_networks(&self, filters: &crate::prune::PruneFilters) -> Vec<String> {
        let removed = self.networks.prune(&|n| {
            !(filters.before_until(Some(&n.created)) && filters.labels_match(&n.labels))
        });
        self.events.emit(
            crate::events::Event::new(crate::events::EventType::Network, "prune", "")
                .attr("reclaimed", "0"),
        );
        removed
    }
}
