//! `/networks`: list, inspect, create, remove, connect, disconnect, prune;
//! and the network parts of container create, inspect and list.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use berth_api_types::network as api;
use berth_engine::Engine;
use berth_engine::container::ContainerError;
use berth_engine::network::{
    ContainerNetworks, CreateRequest, Endpoint, EndpointConfig, IpamRequest, Network, NetworkError,
};
use berth_engine::prune::PruneFilters;

use super::json_response;
use super::params::{filters, query};
use crate::error::ApiError;

/// What the network routes need. The calls block (file writes):
/// handlers run them on a blocking thread.
pub trait NetworkBackend: Send + Sync {
    fn list_networks(
        &self,
        filters: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<Network>, NetworkError>;
    fn inspect_network(&self, id: &str) -> Result<Network, NetworkError>;
    fn create_network(&self, req: CreateRequest) -> Result<Network, NetworkError>;
    fn remove_network(&self, id: &str) -> Result<(), NetworkError>;
    fn connect_network(
        &self,
        id: &str,
        container: &str,
        ep: EndpointConfig,
    ) -> Result<(), ContainerError>;
    fn disconnect_network(
        &self,
        id: &str,
        container: &str,
        force: bool,
    ) -> Result<(), ContainerError>;
    fn prune_networks(&self, filters: &PruneFilters) -> Vec<String>;
}

impl NetworkBackend for Engine {
    fn list_networks(
        &self,
        filters: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<Network>, NetworkError> {
        Engine::list_networks(self, filters)
    }
    fn inspect_network(&self, id: &str) -> Result<Network, NetworkError> {
        self.networks().get(id)
    }
    fn create_network(&self, req: CreateRequest) -> Result<Network, NetworkError> {
        self.networks().create(req)
    }
    fn remove_network(&self, id: &str) -> Result<(), NetworkError> {
        self.networks().remove(id).map(|_| ())
    }
    fn connect_network(
        &self,
        id: &str,
        container: &str,
        ep: EndpointConfig,
    ) -> Result<(), ContainerError> {
        self.connect_container(id, container, ep).map(|_| ())
    }
    fn disconnect_network(
        &self,
        id: &str,
        container: &str,
        force: bool,
    ) -> Result<(), ContainerError> {
        self.disconnect_container(id, container, force)
    }
    fn prune_networks(&self, filters: &PruneFilters) -> Vec<String> {
        Engine::prune_networks(self, filters)
    }
}

pub(crate) type Backend = Arc<dyn NetworkBackend>;

/// Network bodies are small.
const MAX_BODY: usize = 1 << 20;

async fn blocking<T: Send + 'static, E: berth_engine::Classify + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| ApiError::from_engine(&e)),
        Err(e) => Err(ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("network task failed: {e}"),
        )),
    }
}

async fn body<T: serde::de::DeserializeOwned + Default>(req: Request) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::invalid_argument(e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid_argument(format!("invalid JSON: {e}")))
}

fn ok_empty() -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::OK;
    response
}

fn no_content() -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `GET /networks?filters=`.
pub(crate) async fn list(backend: Backend, req: Request) -> Response {
    let f = match filters(&query(req.uri())) {
        Ok(f) => f,
        Err(e) => return e.into_response_body(),
    };
    match blocking(move || backend.list_networks(&f)).await {
        Ok(list) => {
            let out: Vec<api::Network> = list.iter().map(|n| to_api(n, false)).collect();
            json_response(StatusCode::OK, &out)
        }
        Err(e) => e.into_response_body(),
    }
}

/// `GET /networks/{id}` (`verbose` and `scope` are accepted and ignored).
pub(crate) async fn inspect(backend: Backend, id: String) -> Response {
    match blocking(move || backend.inspect_network(&id)).await {
        Ok(n) => json_response(StatusCode::OK, &to_api(&n, true)),
        Err(e) => e.into_response_body(),
    }
}

/// `POST /networks/create`.
pub(crate) async fn create(backend: Backend, req: Request, version: &str) -> Response {
    let body: api::NetworkCreateRequest = match body(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response_body(),
    };
    if body.ingress || body.config_only || body.config_from.is_some_and(|c| !c.network.is_empty()) {
        return ApiError::invalid_argument(
            "ingress, config-only and config-from networks are swarm features berth does not have",
        )
        .into_response_body();
    }
    if !body.scope.is_empty() && body.scope != "local" {
        return ApiError::invalid_argument(format!(
            "scope \"{}\" is not supported: berth networks are local",
            body.scope
        ))
        .into_response_body();
    }
    let ipam = body.ipam.unwrap_or_default();
    let request = CreateRequest {
        name: body.name,
        driver: body.driver,
        internal: body.internal,
        attachable: body.attachable,
        enable_ipv6: body.enable_ipv6.unwrap_or(false),
        enable_ipv4: crate::compat::network_enable_ipv4(version, body.enable_ipv4),
        labels: body.labels.unwrap_or_default(),
        options: body.options.unwrap_or_default(),
        ipam_driver: ipam.driver,
        ipam_options: ipam.options.unwrap_or_default(),
        ipam: ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|c| IpamRequest {
                subnet: c.subnet,
                ip_range: c.ip_range,
                gateway: c.gateway,
                aux_addresses: c.auxiliary_addresses.unwrap_or_default(),
            })
            .collect(),
    };
    match blocking(move || backend.create_network(request)).await {
        Ok(n) => json_response(
            StatusCode::CREATED,
            &api::NetworkCreateResponse {
                id: n.id,
                warning: String::new(),
            },
        ),
        Err(e) => e.into_response_body(),
    }
}

/// `DELETE /networks/{id}`.
pub(crate) async fn remove(backend: Backend, id: String) -> Response {
    match blocking(move || backend.remove_network(&id)).await {
        Ok(()) => no_content(),
        Err(e) => e.into_response_body(),
    }
}

/// `POST /networks/{id}/connect`.
pub(crate) async fn connect(backend: Backend, id: String, req: Request) -> Response {
    let body: api::NetworkConnectRequest = match body(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response_body(),
    };
    if body.container.is_empty() {
        return ApiError::invalid_argument("no container given to connect: name one")
            .into_response_body();
    }
    let ep = match endpoint_config(body.endpoint_config.unwrap_or_default()) {
        Ok(ep) => ep,
        Err(e) => return e.into_response_body(),
    };
    match blocking(move || backend.connect_network(&id, &body.container, ep)).await {
        Ok(()) => ok_empty(),
        Err(e) => e.into_response_body(),
    }
}

/// `POST /networks/{id}/disconnect`.
pub(crate) async fn disconnect(backend: Backend, id: String, req: Request) -> Response {
    let body: api::NetworkDisconnectRequest = match body(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response_body(),
    };
    if body.container.is_empty() {
        return ApiError::invalid_argument("no container given to disconnect: name one")
            .into_response_body();
    }
    match blocking(move || backend.disconnect_network(&id, &body.container, body.force)).await {
        Ok(()) => ok_empty(),
        Err(e) => e.into_response_body(),
    }
}

/// `POST /networks/prune?filters=` (`until`, `label`, `label!`).
pub(crate) async fn prune(backend: Backend, req: Request) -> Response {
    let map = match filters(&query(req.uri())) {
        Ok(m) => m,
        Err(e) => return e.into_response_body(),
    };
    let now = berth_engine::events::now_nanos();
    let until = |v: &str| berth_api_types::timestamp::filter_time(v, now);
    let f = match PruneFilters::parse(&map, &["until", "label", "label!"], until) {
        Ok(f) => f,
        Err(e) => return ApiError::from_engine(&e).into_response_body(),
    };
    match tokio::task::spawn_blocking(move || backend.prune_networks(&f)).await {
        Ok(names) => json_response(
            StatusCode::OK,
            &berth_api_types::prune::NetworksPruneReport {
                networks_deleted: (!names.is_empty()).then_some(names),
            },
        ),
        Err(e) => {
            ApiError::new(berth_engine::ErrorClass::Internal, e.to_string()).into_response_body()
        }
    }
}

/// A client's `EndpointSettings` as the engine takes them.
pub(crate) fn endpoint_config(s: api::EndpointSettings) -> Result<EndpointConfig, ApiError> {
    let ipam = s.ipam_config.unwrap_or_default();
    let addr = |text: &str, v6: bool| -> Result<Option<std::net::IpAddr>, ApiError> {
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_ipv6() == v6 => Ok(Some(ip)),
            _ => Err(ApiError::invalid_argument(format!(
                "invalid IPv{} address: {text}",
                if v6 { 6 } else { 4 }
            ))),
        }
    };
    Ok(EndpointConfig {
        network_id: String::new(),
        aliases: s.aliases.unwrap_or_default(),
        ipv4_address: addr(&ipam.ipv4_address, false)?,
        ipv6_address: addr(&ipam.ipv6_address, true)?,
        links: s.links.unwrap_or_default(),
        driver_opts: s.driver_opts.unwrap_or_default(),
        gw_priority: s.gw_priority,
        mac_address: mac_address(&s.mac_address)?,
    })
}

/// An endpoint's `MacAddress` in the engine's spelling; dockerd's
/// message for one Go's `net.ParseMAC` refuses, with what to write.
fn mac_address(text: &str) -> Result<String, ApiError> {
    use berth_api_types::mac::{self, MacError};
    if text.is_empty() {
        return Ok(String::new());
    }
    mac::normalize(text).map_err(|e| {
        ApiError::invalid_argument(match e {
            MacError::Syntax => format!("invalid MAC address {text}"),
            e => format!("invalid MAC address {text}: {}", e.reason()),
        })
    })
}

/// `HostConfig.NetworkMode`, `NetworkingConfig` and the deprecated
/// container-wide `Config.MacAddress` of a create request. As dockerd, a
/// container-wide MAC address (what API < 1.44 clients send for
/// `--mac-address`) goes to the endpoint of the `NetworkMode` network.
///
/// As dockerd 25+ (at every API version): no `NetworkMode`, or `default`,
/// is stored (and inspected) as `bridge`, the default network's name, and
/// an endpoint config under `default` moves to `bridge`.
pub(crate) fn container_networks(
    mode: &str,
    cfg: Option<api::NetworkingConfig>,
    config_mac: &str,
) -> Result<ContainerNetworks, ApiError> {
    let mode = match mode {
        "" | "default" => "bridge",
        m => m,
    };
    let mut endpoints = BTreeMap::new();
    for (name, mut s) in cfg.and_then(|c| c.endpoints_config).unwrap_or_default() {
        let name = if name == "default" {
            "bridge".to_owned()
        } else {
            name
        };
        let mac = std::mem::take(&mut s.mac_address);
        let mut ep = endpoint_config(s)?;
        // dockerd names the network at create.
        ep.mac_address = mac_address(&mac).map_err(|e| {
            ApiError::invalid_argument(format!(
                "invalid config for network {name}: {}",
                e.message()
            ))
        })?;
        endpoints.insert(name, ep);
    }
    if !config_mac.is_empty() {
        let host_or_none = matches!(mode, "host" | "none") || mode.starts_with("container:");
        if host_or_none {
            return Err(ApiError::invalid_argument(
                "conflicting options: mac-address and the network mode",
            ));
        }
        let mac = mac_address(config_mac)?;
        let key = mode;
        if endpoints.is_empty() {
            endpoints.insert(key.to_owned(), EndpointConfig::default());
        }
        let Some(ep) = endpoints.get_mut(key) else {
            return Err(ApiError::invalid_argument(
                "if a container-wide MAC address is supplied, HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks",
            ));
        };
        if ep.mac_address.is_empty() {
            ep.mac_address = mac;
        } else if ep.mac_address != mac {
            return Err(ApiError::invalid_argument(
                "the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty",
            ));
        }
    }
    Ok(ContainerNetworks {
        mode: mode.to_owned(),
        endpoints,
    })
}

/// The deprecated `Config.MacAddress` inspect still shows (dockerd 28):
/// the address asked for on the network of the container's
/// `NetworkMode`, if it is the default bridge or a user network.
pub(crate) fn config_mac_address(cfg: &ContainerNetworks) -> String {
    let name = match cfg.mode_name() {
        "host" | "none" => return String::new(),
        m if m.starts_with("container:") => return String::new(),
        m => m,
    };
    cfg.endpoints
        .get(name)
        .or_else(|| cfg.endpoints.values().find(|e| e.network_id == name))
        .map(|e| e.mac_address.clone())
        .unwrap_or_default()
}

fn to_api(n: &Network, with_containers: bool) -> api::Network {
    let config: Vec<api::IpamConfig> = n
        .pools
        .iter()
        .map(|p| api::IpamConfig {
            subnet: p.subnet.to_string(),
            ip_range: p.range.map(|r| r.to_string()).unwrap_or_default(),
            gateway: p.gateway.to_string(),
            auxiliary_addresses: (!p.aux.is_empty()).then(|| {
                p.aux
                    .iter()
                    .map(|(k, ip)| (k.clone(), ip.to_string()))
                    .collect()
            }),
        })
        .collect();
    let containers = if with_containers {
        n.endpoints
            .iter()
            .map(|(id, ep)| {
                let with_prefix = |ip: Option<std::net::IpAddr>| {
                    ip.and_then(|ip| {
                        n.pools
                            .iter()
                            .find(|p| p.subnet.contains(&ip))
                            .map(|p| format!("{ip}/{}", p.prefix_len()))
                    })
                    .unwrap_or_default()
                };
                (
                    id.clone(),
                    api::NetworkContainer {
                        name: ep.name.clone(),
                        endpoint_id: ep.endpoint_id.clone(),
                        mac_address: ep.mac.clone(),
                        ipv4_address: with_prefix(ep.ipv4),
                        ipv6_address: with_prefix(ep.ipv6),
                    },
                )
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    api::Network {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: n.scope().to_owned(),
        driver: n.driver.clone(),
        enable_ipv4: n.driver == berth_engine::network::DRIVER_BRIDGE && n.enable_ipv4,
        enable_ipv6: n.enable_ipv6,
        ipam: api::Ipam {
            driver: n.ipam_driver.clone(),
            options: (!n.ipam_options.is_empty()).then(|| n.ipam_options.clone()),
            config: Some(config),
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_from: api::ConfigReference::default(),
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

/// A container's `NetworkSettings.Networks` entry for one network.
pub(crate) fn endpoint_settings(
    container_id: &str,
    container_name: &str,
    cfg: &EndpointConfig,
    ep: Option<&Endpoint>,
    user_network: bool,
) -> api::EndpointSettings {
    let ipam_config = (cfg.ipv4_address.is_some() || cfg.ipv6_address.is_some()).then(|| {
        api::EndpointIpamConfig {
            ipv4_address: cfg.ipv4_address.map(|i| i.to_string()).unwrap_or_default(),
            ipv6_address: cfg.ipv6_address.map(|i| i.to_string()).unwrap_or_default(),
            link_local_ips: None,
        }
    });
    let mut s = api::EndpointSettings {
        ipam_config,
        links: (!cfg.links.is_empty()).then(|| cfg.links.clone()),
        aliases: (!cfg.aliases.is_empty()).then(|| cfg.aliases.clone()),
        driver_opts: (!cfg.driver_opts.is_empty()).then(|| cfg.driver_opts.clone()),
        network_id: cfg.network_id.clone(),
        gw_priority: cfg.gw_priority,
        ..api::EndpointSettings::default()
    };
    if let Some(ep) = ep {
        s.network_id.clone_from(&ep.network_id);
        s.endpoint_id.clone_from(&ep.endpoint_id);
        s.mac_address.clone_from(&ep.mac);
        s.gateway = ep.gateway.map(|g| g.to_string()).unwrap_or_default();
        s.ip_address = ep.address.map(|a| a.to_string()).unwrap_or_default();
        s.ip_prefix_len = if ep.address.is_some() {
            ep.subnet.map_or(0, |n| i64::from(n.prefix_len()))
        } else {
            0
        };
        s.ipv6_gateway = ep.gateway6.map(|g| g.to_string()).unwrap_or_default();
        s.global_ipv6_address = ep.address6.map(|a| a.to_string()).unwrap_or_default();
        s.global_ipv6_prefix_len = if ep.address6.is_some() {
            ep.subnet6.map_or(0, |n| i64::from(n.prefix_len()))
        } else {
            0
        };
    }
    if user_network {
        // dockerd 25+: the names the embedded DNS answers for it.
        let mut names = vec![container_name.trim_start_matches('/').to_owned()];
        names.push(container_id[..container_id.len().min(12)].to_owned());
        for a in &cfg.aliases {
            if !names.contains(a) {
                names.push(a.clone());
            }
        }
        s.dns_names = Some(names);
    }
    s
}

/// Fills a container inspect's `NetworkSettings`: `Networks`, and on the
/// default bridge the top-level address fields dockerd still reports.
pub(crate) fn fill_network_settings(
    settings: &mut serde_json::Value,
    container_id: &str,
    container_name: &str,
    networks: &[(String, EndpointConfig, Option<Endpoint>)],
) {
    let Some(map) = settings.as_object_mut() else {
        return;
    };
    let mut out = serde_json::Map::new();
    for (name, cfg, ep) in networks {
        let user = !matches!(name.as_str(), "bridge" | "host" | "none");
        let s = endpoint_settings(container_id, container_name, cfg, ep.as_ref(), user);
        if name == "bridge" {
            if let Some(ep) = ep {
                map.insert("Bridge".into(), serde_json::json!(ep.bridge_name));
            }
            map.insert("EndpointID".into(), serde_json::json!(s.endpoint_id));
            map.insert("Gateway".into(), serde_json::json!(s.gateway));
            map.insert("IPAddress".into(), serde_json::json!(s.ip_address));
            map.insert("IPPrefixLen".into(), serde_json::json!(s.ip_prefix_len));
            map.insert("MacAddress".into(), serde_json::json!(s.mac_address));
            map.insert("IPv6Gateway".into(), serde_json::json!(s.ipv6_gateway));
            map.insert(
                "GlobalIPv6Address".into(),
                serde_json::json!(s.global_ipv6_address),
            );
            map.insert(
                "GlobalIPv6PrefixLen".into(),
                serde_json::json!(s.global_ipv6_prefix_len),
            );
        }
        out.insert(
            name.clone(),
            serde_json::to_value(&s).unwrap_or(serde_json::Value::Null),
        );
    }
    map.insert("Networks".into(), serde_json::Value::Object(out));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_mac(mac: &str) -> api::EndpointSettings {
        api::EndpointSettings {
            mac_address: mac.to_owned(),
            ..api::EndpointSettings::default()
        }
    }

    fn networking(name: &str, mac: &str) -> Option<api::NetworkingConfig> {
        Some(api::NetworkingConfig {
            endpoints_config: Some([(name.to_owned(), with_mac(mac))].into()),
        })
    }

    #[test]
    fn macs_of_a_create_request() {
        let mac = |n: &ContainerNetworks, k: &str| n.endpoints[k].mac_address.clone();
        // Another spelling, in the engine's.
        // `default` is the default bridge, `bridge` (dockerd 25+).
        let n =
            container_networks("default", networking("default", "02-42-BE-00-00-01"), "").unwrap();
        assert_eq!(mac(&n, "bridge"), "02:42:be:00:00:01");
        assert_eq!(n.mode, "bridge");
        // API < 1.44's container-wide field goes to the NetworkMode network.
        let n = container_networks("default", None, "02:42:be:00:00:02").unwrap();
        assert_eq!(mac(&n, "bridge"), "02:42:be:00:00:02");
        let n = container_networks("", None, "02:42:be:00:00:02").unwrap();
        assert_eq!(mac(&n, "bridge"), "02:42:be:00:00:02");
        assert_eq!(n.mode, "bridge");
        let n = container_networks("net1", networking("net1", ""), "02:42:be:00:00:03").unwrap();
        assert_eq!(mac(&n, "net1"), "02:42:be:00:00:03");
        let err = |r: Result<ContainerNetworks, ApiError>| r.unwrap_err().message().to_owned();
        assert_eq!(
            err(container_networks("host", None, "02:42:be:00:00:03")),
            "conflicting options: mac-address and the network mode"
        );
        assert!(
            err(container_networks(
                "net1",
                networking("net1", "02:42:be:00:00:04"),
                "02:42:be:00:00:03"
            ))
            .starts_with("the container-wide MAC address must match")
        );
        assert!(
            err(container_networks(
                "net1",
                networking("net2", ""),
                "02:42:be:00:00:03"
            ))
            .starts_with("if a container-wide MAC address is supplied")
        );
        assert_eq!(
            err(container_networks("net1", networking("net1", "zz"), "")),
            "invalid config for network net1: invalid MAC address zz"
        );
        assert!(
            err(container_networks(
                "net1",
                networking("net1", "01:00:5e:00:00:01"),
                ""
            ))
            .contains("it is a multicast address")
        );
        // `network connect`: dockerd's message without the network.
        assert_eq!(
            endpoint_config(with_mac("zz")).unwrap_err().message(),
            "invalid MAC address zz"
        );
    }
}
