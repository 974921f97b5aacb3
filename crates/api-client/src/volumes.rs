//! `/volumes` calls. `volumes_prune` is [`Client::prune`] with `volumes`.

use berth_api_types::volume::{Volume, VolumeCreateOptions, VolumeListResponse};
use hyper::Method;

use crate::images::encode;
use crate::{Client, Error};

impl Client {
    /// `POST /volumes/create`.
    pub async fn volume_create(&self, opts: &VolumeCreateOptions) -> Result<Volume, Error> {
        let body = serde_json::to_vec(opts).map_err(|source| Error::Decode {
            path: "/volumes/create".to_owned(),
            source,
        })?;
        let raw = self
            .call(
                Method::POST,
                "/volumes/create",
                body,
                Some("application/json"),
            )
            .await?;
        Self::decode("/volumes/create", &raw)
    }

    /// `GET /volumes?filters=`; `filters` is the JSON filter map (empty for
    /// none).
    pub async fn volume_list(&self, filters: &str) -> Result<VolumeListResponse, Error> {
        let mut path = "/volumes".to_owned();
        if !filters.is_empty() {
            path.push_str(&format!("?filters={}", encode(filters)));
        }
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode("/volumes", &raw)
    }

    /// `GET /volumes/{name}`, as a JSON tree (for `--format` and to keep
    /// dockerd's field order).
    pub async fn volume_inspect(&self, name: &str) -> Result<serde_json::Value, Error> {
        self.volume_inspect_as(name).await
    }

    /// `GET /volumes/{name}` decoded into `T` (e.g. a type that keeps the
    /// daemon's key order).
    pub async fn volume_inspect_as<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<T, Error> {
        let path = format!("/volumes/{}", path_segment(name));
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `DELETE /volumes/{name}?force=`.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<(), Error> {
        let mut path = format!("/volumes/{}", path_segment(name));
        if force {
            path.push_str("?force=1");
        }
        self.call(Method::DELETE, &path, Vec::new(), None).await?;
        Ok(())
    }
}

/// A name for the path: percent-encoded, but slashes kept, as docker's
/// client sends them (so `a/b` reaches dockerd, and berthd, as `a/b`).
fn path_segment(name: &str) -> String {
    encode(name).replace("%2F", "/")
}
