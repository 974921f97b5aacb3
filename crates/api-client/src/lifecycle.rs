//! The lifecycle endpoints beyond start/stop/kill/remove: restart, pause,
//! unpause and rename.

use hyper::Method;

use crate::images::encode;
use crate::{Client, Error};

impl Client {
    /// `POST /containers/{id}/restart?t=&signal=`.
    pub async fn container_restart(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), Error> {
        let mut query = Vec::new();
        if let Some(t) = timeout {
            query.push(format!("t={t}"));
        }
        if let Some(s) = signal {
            query.push(format!("signal={}", encode(s)));
        }
        let mut path = format!("/containers/{}/restart", encode(id));
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `POST /containers/{id}/pause`.
    pub async fn container_pause(&self, id: &str) -> Result<(), Error> {
        let path = format!("/containers/{}/pause", encode(id));
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn container_unpause(&self, id: &str) -> Result<(), Error> {
        let path = format!("/containers/{}/unpause", encode(id));
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `POST /containers/{id}/rename?name=`.
    pub async fn container_rename(&self, id: &str, name: &str) -> Result<(), Error> {
        let path = format!("/containers/{}/rename?name={}", encode(id), encode(name));
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }
}
