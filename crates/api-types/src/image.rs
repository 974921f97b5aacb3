//! The image endpoints: `GET /images/json`, `GET /images/{name}/json`,
//! `GET /images/{name}/history`, `DELETE /images/{name}`, and the JSON
//! message stream of `POST /images/load` and `POST /images/create`.
//!
//! Field names and order follow moby's `api/swagger.yaml` (v1.51):
//! `ImageSummary`, `ImageInspect`, `HistoryResponseItem`,
//! `ImageDeleteResponseItem`, and `jsonmessage.JSONMessage`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: i64,
    /// -1: not computed.
    pub shared_size: i64,
    pub labels: BTreeMap<String, String>,
    /// -1: not computed.
    pub containers: i64,
}

/// `RootFS` of `ImageInspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// `GraphDriver` of `ImageInspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriverData {
    pub data: BTreeMap<String, String>,
    pub name: String,
}

/// `Metadata` of `ImageInspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    /// RFC 3339; Go's zero time when never tagged.
    pub last_tag_time: String,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    /// RFC 3339 with nanoseconds; absent when the image has no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub docker_version: String,
    pub author: String,
    /// The image's container config (`Cmd`, `Env`, ...), as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    pub size: i64,
    pub graph_driver: GraphDriverData,
    #[serde(rename = "RootFS")]
    pub root_fs: ImageRootFs,
    pub metadata: ImageMetadata,
}

/// One entry of `GET /images/{name}/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryResponseItem {
    /// The image ID, or `<missing>`.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: i64,
    pub comment: String,
}

/// One entry of `DELETE /images/{name}`: exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDeleteResponseItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// `errorDetail` of a [`JsonMessage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

/// One line of a progress stream (`load`, `create`, `pull`, `push`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        rename = "errorDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_detail: Option<JsonError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl JsonMessage {
    /// `{"stream": text}`.
    pub fn stream(text: impl Into<String>) -> Self {
        Self {
            stream: Some(text.into()),
            ..Self::default()
        }
    }

    /// `{"status": text}`.
    pub fn status(text: impl Into<String>) -> Self {
        Self {
            status: Some(text.into()),
            ..Self::default()
        }
    }

    /// An error in the middle of a stream.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            error_detail: Some(JsonError {
                code: None,
                message: message.clone(),
            }),
            error: Some(message),
            ..Self::default()
        }
    }
}
