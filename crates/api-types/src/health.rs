//! Health checks: `Config.Healthcheck` (create and inspect) and
//! `State.Health` (inspect), as moby's `HealthConfig` and `Health`.

use serde::{Deserialize, Serialize};

/// `HealthConfig`: durations in nanoseconds, 0 meaning the default (or,
/// at create, the image's); `Test` `[]` is the image's, `["NONE"]` none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(
        skip_serializing_if = "is_zero",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub interval: i64,
    #[serde(
        skip_serializing_if = "is_zero",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub timeout: i64,
    #[serde(
        skip_serializing_if = "is_zero",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub start_period: i64,
    #[serde(
        skip_serializing_if = "is_zero",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub start_interval: i64,
    #[serde(
        skip_serializing_if = "is_zero",
        deserialize_with = "crate::resources::zero_if_null"
    )]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One result in `State.Health.Log`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthcheckResult>,
}
