//! `GET /events` (and, with the observing commands, stats, disk usage and
//! prune).

use hyper::Method;

use crate::images::encode;
use crate::{BodyStream, Client, Error};

/// What `docker events` asks for: `since`/`until` as the API takes them
/// (unix seconds, optionally with a fraction), `filters` as docker's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsOptions {
    pub since: Option<String>,
    pub until: Option<String>,
    pub filters: String,
}

impl Client {
    /// `GET /events`: JSON objects, one per event, as they happen (until
    /// `until`, or until the caller drops the stream).
    pub async fn events(&self, opts: &EventsOptions) -> Result<BodyStream, Error> {
        let mut query = Vec::new();
        for (key, value) in [("since", &opts.since), ("until", &opts.until)] {
            if let Some(v) = value {
                query.push(format!("{key}={}", encode(v)));
            }
        }
        if !opts.filters.is_empty() {
            query.push(format!("filters={}", encode(&opts.filters)));
        }
        let mut path = "/events".to_owned();
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        let body = self.open(Method::GET, &path, None).await?;
        Ok(BodyStream { body })
    }
}

impl Client {
    /// `GET /containers/{id}/stats?stream=&one-shot=`: JSON samples, one
    /// per line (one in all without `stream`).
    pub async fn container_stats(
        &self,
        id: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BodyStream, Error> {
        let path = format!(
            "/containers/{}/stats?stream={}&one-shot={}",
            encode(id),
            u8::from(stream),
            u8::from(one_shot)
        );
        let body = self.open(Method::GET, &path, None).await?;
        Ok(BodyStream { body })
    }
}

impl Client {
    /// `GET /system/df`.
    pub async fn system_df(&self) -> Result<berth_api_types::prune::DiskUsage, Error> {
        let raw = self
            .call(Method::GET, "/system/df", Vec::new(), None)
            .await?;
        Self::decode("/system/df", &raw)
    }

    /// `POST /{kind}/prune?filters=` (`containers`, `images`, `networks`,
    /// `volumes`, `build`), decoded as that prune's report.
    pub async fn prune<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        filters: &str,
    ) -> Result<T, Error> {
        let mut path = format!("/{kind}/prune");
        if !filters.is_empty() {
            path.push_str(&format!("?filters={}", encode(filters)));
        }
        let raw = self.call(Method::POST, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }
}
