//! Network documents (`<data-root>/networks/<id>.json`), what containers ask
//! for (stored on the container) and the endpoints handed to the data path.

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_net::ipam::Pool;
use berth_net::ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The `bridge` driver (a Linux bridge per network).
pub const DRIVER_BRIDGE: &str = "bridge";
/// The `host` driver (the host's network namespace).
pub const DRIVER_HOST: &str = "host";
/// The `null` driver (`none`: only a loopback).
pub const DRIVER_NULL: &str = "null";

/// `-o com.docker.network.bridge.name`.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";

/// One network, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    #[serde(default)]
    pub enable_ipv6: bool,
    /// `--ipv4=false` (docker 28's `EnableIPv4`) makes an IPv6-only
    /// network: no IPv4 subnet, containers get only IPv6 addresses.
    /// Networks stored before it existed have IPv4.
    #[serde(default = "yes")]
    pub enable_ipv4: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options (`-o`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The IPAM driver's name (`default`).
    #[serde(default = "default_ipam")]
    pub ipam_driver: String,
    #[serde(default)]
    pub ipam_options: BTreeMap<String, String>,
    /// The subnets (IPv4 first, then IPv6) and their allocations.
    #[serde(default)]
    pub pools: Vec<Pool>,
    /// Whether the user gave the subnets (`--subnet`): only then may
    /// containers ask for an address (`--ip`), as in docker.
    #[serde(default)]
    pub user_subnets: bool,
    /// The Linux bridge (bridge driver only).
    #[serde(default)]
    pub bridge_name: String,
    /// `bridge`, `host`, `none`: made by the daemon, never removed.
    #[serde(default)]
    pub builtin: bool,
    /// The endpoints of running containers, by container ID.
    #[serde(default)]
    pub endpoints: BTreeMap<String, ActiveEndpoint>,
}

fn default_ipam() -> String {
    "default".to_owned()
}

fn yes() -> bool {
    true
}

impl Network {
    /// The IPv4 pool, if the network has one.
    pub fn v4(&self) -> Option<&Pool> {
        self.pools.iter().find(|p| p.subnet.addr().is_ipv4())
    }

    /// The IPv6 pool, if the network has one.
    pub fn v6(&self) -> Option<&Pool> {
        self.pools.iter().find(|p| p.subnet.addr().is_ipv6())
    }

    /// The network's scope (always `local`).
    pub fn scope(&self) -> &'static str {
        "local"
    }

    /// Docker's `Type` filter: `builtin` or `custom`.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }
}

/// A running container's endpoint on one network, as stored in the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActiveEndpoint {
    /// 64 hex digits.
    pub endpoint_id: String,
    /// The container's name (without `/`).
    pub name: String,
    #[serde(default)]
    pub ipv4: Option<IpAddr>,
    #[serde(default)]
    pub ipv6: Option<IpAddr>,
    /// The interface's MAC address (`aa:bb:cc:dd:ee:ff`): the one asked
    /// for, or a random one; empty on `host`/`none`.
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--link NAME:ALIAS` on a user network: ALIAS (lower case) names
    /// NAME for this container only (its embedded DNS server).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
    /// `gw-priority`: the endpoint with the highest gives the default
    /// gateway ([`Endpoint::gw_priority`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gw_priority: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// How a container is networked (docker's `HostConfig.NetworkMode` and
/// `NetworkingConfig.EndpointsConfig`), stored on the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerNetworks {
    /// `bridge`, `host`, `none`, `container:<id>` or a network's name;
    /// empty means `bridge`.
    #[serde(default)]
    pub mode: String,
    /// The networks the container is on, by network name.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointConfig>,
}

impl ContainerNetworks {
    /// `NetworkMode` as inspect shows it (`bridge` for an empty mode).
    pub fn mode_name(&self) -> &str {
        match self.mode.as_str() {
            "" | "default" => "bridge",
            m => m,
        }
    }

    /// The container whose network namespace this one joins
    /// (`container:<name or id>`).
    pub fn joined_container(&self) -> Option<&str> {
        self.mode.strip_prefix("container:")
    }
}

/// What a container asks of one network (docker's `EndpointSettings` as
/// sent by the client).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointConfig {
    /// The network's ID, filled in when the container is created or connected.
    #[serde(default)]
    pub network_id: String,
    /// `--network-alias`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ipv4_address: Option<IpAddr>,
    /// `--ip6`.
    #[serde(default)]
    pub ipv6_address: Option<IpAddr>,
    /// `--link` (legacy links, default bridge).
    #[serde(default)]
    pub links: Vec<String>,
    /// Driver options of the endpoint.
    #[serde(default)]
    pub driver_opts: BTreeMap<String, String>,
    /// `--network name=X,gw-priority=N`, `network connect --gw-priority N`
    /// (docker 28's `GwPriority`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gw_priority: i64,
    /// `--mac-address`, `--network name=X,mac-address=M`, or the API's
    /// `EndpointSettings.MacAddress`: the address the container's interface
    /// on this network gets at every start (`aa:bb:cc:dd:ee:ff`); empty:
    /// a random one each time, as docker 28.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
}

/// What the data path needs to give a container its place on a network:
/// one veth into `bridge_name`, `address` inside, a route via `gateway`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub network_id: String,
    pub network_name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// The Linux bridge to plug the veth into (bridge driver only).
    pub bridge_name: String,
    /// `--internal`: no route to the outside.
    pub internal: bool,
    pub endpoint_id: String,
    /// The IPv4 subnet, gateway and the container's address in it.
    pub subnet: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub address: Option<IpAddr>,
    /// The same for IPv6 (`--ipv6`).
    pub subnet6: Option<IpNet>,
    pub gateway6: Option<IpAddr>,
    pub address6: Option<IpAddr>,
    /// The interface's MAC address ([`ActiveEndpoint::mac`]).
    pub mac: String,
    /// `--network-alias`es (user networks only).
    pub aliases: Vec<String>,
    /// The network's driver options (`-o`).
    pub options: BTreeMap<String, String>,
    /// The container's `gw-priority` on this network: among the endpoints
    /// that can give a default gateway, the highest gives it (docker 28).
    pub gw_priority: i64,
}

/// `POST /networks/create`, as the engine takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRequest {
    pub name: String,
    /// `bridge` if empty.
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    /// `EnableIPv4`; `None` is `true` (an IPv4 subnet).
    pub enable_ipv4: Option<bool>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// `default` if empty.
    pub ipam_driver: String,
    pub ipam_options: BTreeMap<String, String>,
    pub ipam: Vec<IpamRequest>,
}

/// One `IPAM.Config` entry (`--subnet`, `--ip-range`, `--gateway`,
/// `--aux-address`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamRequest {
    pub subnet: String,
    pub ip_range: String,
    pub gateway: String,
    /// `AuxiliaryAddresses`: name -> address, kept from containers.
    pub aux_addresses: BTreeMap<String, String>,
}
