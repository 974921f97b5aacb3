//! Merging `-f` files, as compose does: mappings merge key by key (the
//! later file wins), `environment`, `labels`, `depends_on` and `networks`
//! of a service merge as mappings whichever form (list or mapping) each
//! file uses, `ports`, `volumes`, `expose`, `env_file`, `tmpfs`, `dns` and
//! `extra_hosts` append (without repeating an entry), and everything else
//! (`command`, `entrypoint`, `healthcheck.test`, ...) is replaced.

use serde_json::{Map, Value};

const APPENDED: &[&str] = &[
    "ports",
    "volumes",
    "expose",
    "env_file",
    "tmpfs",
    "dns",
    "extra_hosts",
];
const AS_MAPS: &[&str] = &["environment", "labels", "depends_on", "networks"];

/// `over` merged onto `base` (both whole files).
pub(crate) fn merge_files(base: &mut Value, over: Value) {
    let (Value::Object(base_map), Value::Object(over_map)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for (key, value) in over_map {
        if key == "services" {
            let services = base_map
                .entry("services")
                .or_insert_with(|| Value::Object(Map::new()));
            merge_services(services, value);
        } else {
            merge_value(base_map.entry(key).or_insert(Value::Null), value);
        }
    }
}

fn merge_services(base: &mut Value, over: Value) {
    let (Value::Object(base_map), Value::Object(over_map)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for (name, service) in over_map {
        match base_map.get_mut(&name) {
            Some(existing) => merge_service(existing, service),
            None => {
                base_map.insert(name, service);
            }
        }
    }
}

fn merge_service(base: &mut Value, over: Value) {
    let (Value::Object(base_map), Value::Object(over_map)) = (&mut *base, over.clone()) else {
        *base = over;
        return;
    };
    for (key, value) in over_map {
        let slot = base_map.entry(key.clone()).or_insert(Value::Null);
        if APPENDED.contains(&key.as_str()) {
            match (slot, value) {
                (Value::Array(items), Value::Array(more)) => {
                    for item in more {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                }
                (slot, value) => *slot = value,
            }
        } else if AS_MAPS.contains(&key.as_str()) {
            let mut merged = as_map(slot);
            for (k, v) in as_map(&value) {
                merged.insert(k, v);
            }
            *slot = Value::Object(merged);
        } else {
            merge_value(slot, value);
        }
    }
}

/// A list (`["A=1", "B"]` or `["web", "db"]`) or mapping as a mapping.
pub(crate) fn as_map(value: &Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str())
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), Value::String(v.to_owned())),
                None => (s.to_owned(), Value::Null),
            })
            .collect(),
        _ => Map::new(),
    }
}

fn merge_value(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base_map), Value::Object(over_map)) => {
            for (k, v) in over_map {
                merge_value(base_map.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, value) => *slot = value,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn override_file_merges_as_compose_does() {
        let mut base = json!({
            "services": {"web": {
                "image": "busybox", "command": ["a"], "ports": ["80:80"],
                "environment": ["A=1", "B=2"], "labels": {"x": "1"},
                "healthcheck": {"test": ["CMD", "true"], "interval": "1s"}
            }},
            "volumes": {"data": {}}
        });
        merge_files(
            &mut base,
            json!({
                "services": {
                    "web": {"command": ["b"], "ports": ["80:80", "81:81"],
                            "environment": {"B": "3", "C": "4"},
                            "healthcheck": {"test": ["CMD", "false"]}},
                    "db": {"image": "db"}
                },
                "networks": {"back": {}}
            }),
        );
        assert_eq!(
            base,
            json!({
                "services": {
                    "web": {
                        "image": "busybox", "command": ["b"], "ports": ["80:80", "81:81"],
                        "environment": {"A": "1", "B": "3", "C": "4"}, "labels": {"x": "1"},
                        "healthcheck": {"test": ["CMD", "false"], "interval": "1s"}
                    },
                    "db": {"image": "db"}
                },
                "volumes": {"data": {}},
                "networks": {"back": {}}
            })
        );
    }
}
