//! The network endpoints: `GET /networks`, `GET /networks/{id}`, `POST
//! /networks/create`, `DELETE /networks/{id}`, `POST
//! /networks/{id}/connect|disconnect`, `POST /networks/prune`, and the
//! network parts of container create and inspect.
//!
//! Field names follow moby's `api/swagger.yaml` (v1.51): `Network`,
//! `NetworkCreateRequest`, `NetworkCreateResponse`, `IPAM`, `IPAMConfig`,
//! `EndpointSettings`, `EndpointIPAMConfig`, `NetworkingConfig`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::resources::zero_if_null;

/// A network, as `GET /networks` and `GET /networks/{id}` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigReference,
    pub config_only: bool,
    /// The running containers on it, by container ID (inspect only; the
    /// list answers `{}` as dockerd does).
    pub containers: BTreeMap<String, NetworkContainer>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// `ConfigFrom` (swarm config networks; always empty here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigReference {
    pub network: String,
}

/// A network's address management.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    #[serde(deserialize_with = "zero_if_null")]
    pub driver: String,
    /// `null` in dockerd's answers when there are none.
    pub options: Option<BTreeMap<String, String>>,
    pub config: Option<Vec<IpamConfig>>,
}

/// One subnet of a network (`--subnet`, `--ip-range`, `--gateway`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "zero_if_null"
    )]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "zero_if_null"
    )]
    pub ip_range: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "zero_if_null"
    )]
    pub gateway: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// A container's endpoint as `network inspect` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkContainer {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    /// `172.18.0.2/16`, or empty.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// The body of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    pub name: String,
    /// Deprecated; dockerd always checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "zero_if_null"
    )]
    pub driver: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "zero_if_null"
    )]
    pub scope: String,
    #[serde(deserialize_with = "zero_if_null")]
    pub internal: bool,
    #[serde(deserialize_with = "zero_if_null")]
    pub attachable: bool,
    #[serde(deserialize_with = "zero_if_null")]
    pub ingress: bool,
    #[serde(deserialize_with = "zero_if_null")]
    pub config_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_from: Option<ConfigReference>,
    #[serde(rename = "IPAM", skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv4", skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// The answer to `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    pub warning: String,
}

/// The body of `POST /networks/{id}/connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    pub container: String,
    pub endpoint_config: Option<EndpointSettings>,
}

/// The body of `POST /networks/{id}/disconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnectRequest {
    pub container: String,
    pub force: bool,
}

/// A container's settings on one network: what a client asks for at
/// create/connect, and what inspect reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    pub links: Option<Vec<String>>,
    #[serde(deserialize_with = "zero_if_null")]
    pub mac_address: String,
    pub aliases: Option<Vec<String>>,
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "GwPriority", deserialize_with = "zero_if_null")]
    pub gw_priority: i64,
    #[serde(rename = "NetworkID", deserialize_with = "zero_if_null")]
    pub network_id: String,
    #[serde(rename = "EndpointID", deserialize_with = "zero_if_null")]
    pub endpoint_id: String,
    #[serde(deserialize_with = "zero_if_null")]
    pub gateway: String,
    #[serde(rename = "IPAddress", deserialize_with = "zero_if_null")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", deserialize_with = "zero_if_null")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", deserialize_with = "zero_if_null")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "zero_if_null")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", deserialize_with = "zero_if_null")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// `--ip`, `--ip6`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    #[serde(
        rename = "IPv4Address",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "zero_if_null"
    )]
    pub ipv4_address: String,
    #[serde(
        rename = "IPv6Address",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "zero_if_null"
    )]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

/// `NetworkingConfig` of a container create request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_from_the_docker_cli() {
        let body = r#"{"Name":"n1","CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":null,
            "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.1.0.0/16","IPRange":"10.1.2.0/24","Gateway":"10.1.0.254","AuxiliaryAddresses":{}}]},
            "Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,
            "Options":{"com.docker.network.bridge.name":"brx"},"Labels":{"a":"b"}}"#;
        let req: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.name, "n1");
        assert!(req.internal);
        let cfg = &req.ipam.unwrap().config.unwrap()[0];
        assert_eq!(cfg.ip_range, "10.1.2.0/24");
        assert_eq!(cfg.gateway, "10.1.0.254");
        let connect: NetworkConnectRequest = serde_json::from_str(
            r#"{"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.1.2.3"},"Aliases":["web"]}}"#,
        )
        .unwrap();
        let ep = connect.endpoint_config.unwrap();
        assert_eq!(ep.ipam_config.unwrap().ipv4_address, "10.1.2.3");
        assert_eq!(ep.aliases.unwrap(), ["web"]);
    }

    /// docker-py (docker-compose 1.29) sends `null` for every IPAM field it
    /// was not given; Go reads those as empty.
    #[test]
    fn create_request_from_docker_py_with_nulls() {
        let body = r#"{"Name":"p_back","Driver":null,"Options":{},"IPAM":{"Driver":"default",
            "Config":[{"Subnet":"10.1.0.0/24","IPRange":null,"Gateway":null,"AuxiliaryAddresses":null}],
            "Options":null},"CheckDuplicate":true,"Labels":{"com.docker.compose.network":"back"},
            "Internal":false,"Attachable":null,"Ingress":null,"EnableIPv6":null}"#;
        let req: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        let cfg = &req.ipam.unwrap().config.unwrap()[0];
        assert_eq!(cfg.subnet, "10.1.0.0/24");
        assert_eq!(cfg.gateway, "");
        assert!(!req.attachable);
        let ep: EndpointSettings = serde_json::from_str(
            r#"{"IPAMConfig":{"IPv4Address":null},"Aliases":["web"],"Links":null,"MacAddress":null}"#,
        )
        .unwrap();
        assert_eq!(ep.aliases.unwrap(), ["web"]);
    }
}
