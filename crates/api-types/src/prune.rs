//! `GET /system/df` and the prune answers (`POST /containers/prune`,
//! `/images/prune`, `/networks/prune`, `/volumes/prune`, `/build/prune`).

use serde::{Deserialize, Serialize};

use crate::ImageSummary;
use crate::container::ContainerSummary;

/// `GET /system/df`. `BuildCache` is a list of objects berth does not
/// have yet (always empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    pub layers_size: i64,
    pub images: Vec<ImageSummary>,
    pub containers: Vec<ContainerSummary>,
    /// Volumes without driver options, with `UsageData`.
    #[serde(default)]
    pub volumes: Vec<crate::volume::Volume>,
    pub build_cache: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainersPruneReport {
    pub containers_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// One entry of `ImagesDeleted` (the shape of `docker rmi`'s answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDeleted {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub untagged: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deleted: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagesPruneReport {
    pub images_deleted: Option<Vec<ImageDeleted>>,
    pub space_reclaimed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworksPruneReport {
    pub networks_deleted: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumesPruneReport {
    pub volumes_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuildCachePruneReport {
    pub caches_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}
