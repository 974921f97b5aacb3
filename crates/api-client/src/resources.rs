//! `POST /containers/{id}/update`: new resource limits for a container.

use berth_api_types::resources::ContainerUpdateResponse;
use hyper::Method;

use crate::{Client, Error, encode};

impl Client {
    /// `POST /containers/{id}/update`; `config` is docker's `UpdateConfig`
    /// (the `Resources` fields and `RestartPolicy`). Returns the daemon's
    /// warnings.
    pub async fn container_update(
        &self,
        id: &str,
        config: &serde_json::Value,
    ) -> Result<ContainerUpdateResponse, Error> {
        let path = format!("/containers/{}/update", encode(id));
        let body = serde_json::to_vec(config).map_err(|e| Error::Request(e.to_string()))?;
        let raw = self
            .call(Method::POST, &path, body, Some("application/json"))
            .await?;
        Self::decode(&path, &raw)
    }
}
