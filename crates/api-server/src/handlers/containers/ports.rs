//! The port fields of a container: from a create request into the
//! engine's options, and back into inspect and the list as dockerd shows
//! them (`HostConfig.PortBindings`, `HostConfig.PublishAllPorts`,
//! `Config.ExposedPorts`, `NetworkSettings.Ports`, the list's `Ports`).

use std::collections::BTreeMap;

use berth_api_types::ports::{Port, PortsHostConfig};
use berth_engine::container::ports::{HostBinding, PortOptions};
use berth_engine::container::{Container, Status};
use serde_json::{Value, json};

/// `HostConfig.PortBindings`/`PublishAllPorts` and `Config.ExposedPorts`
/// of a create body (`null` entries are ports without bindings).
pub(super) fn options(
    host: Option<&PortsHostConfig>,
    exposed: Option<&BTreeMap<String, Value>>,
) -> PortOptions {
    let port_bindings = host
        .and_then(|h| h.port_bindings.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let list = v
                        .iter()
                        .flatten()
                        .map(|b| HostBinding {
                            host_ip: b.host_ip.clone(),
                            host_port: b.host_port.clone(),
                        })
                        .collect();
                    (k.clone(), list)
                })
                .collect()
        })
        .unwrap_or_default();
    PortOptions {
        port_bindings,
        publish_all: host.is_some_and(|h| h.publish_all_ports),
        exposed: exposed
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

/// Writes `PortBindings` (`{}` when none, as dockerd) and `PublishAllPorts`
/// into inspect's `HostConfig`.
pub(super) fn host_config(o: &PortOptions, v: &mut Value) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    map.insert("PortBindings".into(), json!(o.port_bindings));
    map.insert("PublishAllPorts".into(), json!(o.publish_all));
}

/// `Config.ExposedPorts` (`None`: none, left out as dockerd does).
pub(super) fn exposed_ports(o: &PortOptions) -> Option<BTreeMap<String, Value>> {
    (!o.exposed.is_empty()).then(|| o.exposed.iter().map(|k| (k.clone(), json!({}))).collect())
}

fn running(c: &Container) -> bool {
    matches!(c.state.status, Status::Running | Status::Restarting)
}

/// `NetworkSettings.Ports`: while running the held host ports and `null`
/// for exposed ports without one; `{}` otherwise.
pub(super) fn network_ports(c: &Container) -> Value {
    if !running(c) {
        return json!({});
    }
    json!(c.options.ports.network_ports(&c.published_ports))
}

/// The list's `Ports`: one entry per held host port, one per exposed port
/// without one (while running; none otherwise).
pub(super) fn summary(c: &Container) -> Vec<Port> {
    if !running(c) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (key, bindings) in c.options.ports.network_ports(&c.published_ports) {
        let (port, proto) = key.split_once('/').unwrap_or((&key, "tcp"));
        let Ok(private_port) = port.parse::<u16>() else {
            continue;
        };
        match bindings {
            None => out.push(Port {
                ip: None,
                private_port,
                public_port: None,
                kind: proto.to_owned(),
            }),
            Some(list) => out.extend(list.into_iter().map(|b| Port {
                ip: Some(b.host_ip),
                private_port,
                public_port: b.host_port.parse().ok(),
                kind: proto.to_owned(),
            })),
        }
    }
    out
}
