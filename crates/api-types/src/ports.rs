//! Published and exposed ports: docker's `HostConfig.PortBindings`,
//! `HostConfig.PublishAllPorts`, `Config.ExposedPorts` and the `Ports` of
//! `NetworkSettings` and of `GET /containers/json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One host address and port a container port is published on:
/// `{"HostIp": "0.0.0.0", "HostPort": "8080"}` (empty strings: every
/// address, a random port).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortBinding {
    #[serde(rename = "HostIp", deserialize_with = "crate::resources::zero_if_null")]
    pub host_ip: String,
    #[serde(
        rename = "HostPort",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub host_port: String,
}

/// `80/tcp` -> its bindings; `null` for a port that is exposed only.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// The port fields of a create request's `HostConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortsHostConfig {
    /// `-p`; `null` is the same as none.
    pub port_bindings: Option<PortMap>,
    /// `-P`: publish every exposed port on a random host port.
    #[serde(deserialize_with = "crate::resources::zero_if_null")]
    pub publish_all_ports: bool,
}

/// One entry of a listed container's `Ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The host address; absent for a port that is exposed only.
    #[serde(rename = "IP", default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    /// Absent for a port that is exposed only.
    #[serde(
        rename = "PublicPort",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_from_the_docker_cli() {
        let h: PortsHostConfig = serde_json::from_str(
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"90/udp":null},"PublishAllPorts":true}"#,
        )
        .unwrap();
        let b = h.port_bindings.unwrap();
        assert_eq!(b["80/tcp"].as_ref().unwrap()[0].host_port, "8080");
        assert!(b["90/udp"].is_none() && h.publish_all_ports);
        let p = Port {
            ip: None,
            private_port: 90,
            public_port: None,
            kind: "udp".into(),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"PrivatePort":90,"Type":"udp"}"#
        );
    }
}
