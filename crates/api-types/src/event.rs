//! `GET /events`: one JSON object per event (docker's `events.Message`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an event is about and who did it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActor {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event. `status`, `id` and `from` are docker's deprecated fields,
/// still filled for container (`from` = image) and image events as dockerd
/// does; older clients print them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMessage {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type", default)]
    pub kind: String,
    #[serde(rename = "Action", default)]
    pub action: String,
    #[serde(rename = "Actor", default)]
    pub actor: EventActor,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub time: i64,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}
