//! Docker Engine API types that berthd serves and the berth client reads.
//!
//! Field names follow Docker's `api/swagger.yaml` exactly (PascalCase, with its
//! irregular spellings such as `ApiVersion` next to `MinAPIVersion`), because
//! the docker CLI, docker-py and compose decode these bodies by name. The types
//! are ours and deliberately small: they hold what berth fills in, and grow
//! endpoint by endpoint. No I/O lives here.
//!
//! ```
//! use berth_api_types::{ErrorResponse, API_VERSION};
//! let body = serde_json::to_string(&ErrorResponse::new("page not found")).unwrap();
//! assert_eq!(body, r#"{"message":"page not found"}"#);
//! assert_eq!(API_VERSION, "1.51");
//! ```

pub mod container;
pub mod detach_keys;
pub mod dns;
pub mod event;
pub mod exec;
pub mod fs;
pub mod health;
pub mod image;
pub mod mac;
pub mod network;
pub mod ports;
pub mod prune;
pub mod resources;
pub mod stats;
pub mod system;
pub mod timestamp;
pub mod version;
pub mod volume;

pub use image::{
    GraphDriverData, HistoryResponseItem, ImageDeleteResponseItem, ImageInspect, ImageMetadata,
    ImageRootFs, ImageSummary, JsonError, JsonMessage,
};
pub use system::{
    Commit, ComponentVersion, IndexInfo, PingInfo, PlatformName, PluginsInfo, RegistryConfig,
    Runtime, SwarmInfo, SystemInfo, SystemVersion,
};

use serde::{Deserialize, Serialize};

/// The Engine API version berth speaks: the newest one docker CLI 28 knows
/// (docker CLI 29 refuses daemons below 1.44).
pub const API_VERSION: &str = "1.51";

/// The oldest Engine API version berth accepts, as dockerd's default minimum.
pub const MIN_API_VERSION: &str = "1.24";

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

impl ErrorResponse {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}
