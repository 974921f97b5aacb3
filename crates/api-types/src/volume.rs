//! `/volumes` request and response types (docker's `volume.Volume`,
//! `volume.ListResponse`, `volume.CreateOptions`; the prune answer is
//! [`crate::prune::VolumesPruneReport`]).
//!
//! Field order is Go's struct order, which `docker volume inspect` shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One volume (`GET /volumes/{name}`, an entry of `GET /volumes`,
/// `POST /volumes/create`'s answer, `GET /system/df`'s `Volumes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// RFC 3339 in seconds.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    pub driver: String,
    /// `null` when none were given, `{}` when an empty set was.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
    /// Only `GET /system/df` fills it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// A volume's disk use (`system df`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageData {
    /// Bytes; -1 when it could not be computed.
    pub size: i64,
    /// How many containers refer to the volume; -1 when unknown.
    pub ref_count: i64,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/create`'s body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreateOptions {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_json_matches_dockerd() {
        let v = Volume {
            created_at: "2026-12-06T14:00:00Z".into(),
            driver: "local".into(),
            labels: None,
            mountpoint: "/var/lib/berth/volumes/data/_data".into(),
            name: "data".into(),
            options: Some(BTreeMap::new()),
            scope: "local".into(),
            usage_data: None,
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"CreatedAt":"2026-12-06T14:00:00Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":{},"Scope":"local"}"#
        );
        let list = VolumeListResponse {
            volumes: vec![],
            warnings: None,
        };
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"Volumes":[],"Warnings":null}"#
        );
        // docker's CLI sends every field; older clients may leave some out.
        let opts: VolumeCreateOptions = serde_json::from_str(r#"{"Name":"x"}"#).unwrap();
        assert_eq!(opts.name, "x");
        assert!(opts.driver_opts.is_none());
    }
}
