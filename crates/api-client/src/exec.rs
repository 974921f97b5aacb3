//! The exec endpoints: create, start (detached, or the hijacked stream as
//! for attach), resize and inspect.

use berth_api_types::exec::{ExecCreateRequest, ExecInspect, ExecStartRequest, IdResponse};
use hyper::Method;

use crate::images::encode;
use crate::{AttachStream, Client, Error};

impl Client {
    /// `POST /containers/{id}/exec`: the new exec's ID.
    pub async fn exec_create(
        &self,
        container: &str,
        config: &ExecCreateRequest,
    ) -> Result<String, Error> {
        let path = format!("/containers/{}/exec", encode(container));
        let body = serde_json::to_vec(config).map_err(|e| Error::Request(e.to_string()))?;
        let raw = self
            .call(Method::POST, &path, body, Some("application/json"))
            .await?;
        let id: IdResponse = Self::decode(&path, &raw)?;
        Ok(id.id)
    }

    /// `POST /exec/{id}/start` with `Detach`: returns once it runs.
    pub async fn exec_start_detached(&self, id: &str, tty: bool) -> Result<(), Error> {
        let path = format!("/exec/{}/start", encode(id));
        let body = serde_json::to_vec(&ExecStartRequest {
            detach: true,
            tty,
            console_size: None,
        })
        .map_err(|e| Error::Request(e.to_string()))?;
        self.call(Method::POST, &path, body, Some("application/json"))
            .await?;
        Ok(())
    }

    /// `POST /exec/{id}/start`, hijacked: the exec's streams.
    pub async fn exec_attach(
        &self,
        id: &str,
        tty: bool,
        console_size: Option<[u16; 2]>,
    ) -> Result<AttachStream, Error> {
        let path = format!("/exec/{}/start", encode(id));
        let body = serde_json::to_vec(&ExecStartRequest {
            detach: false,
            tty,
            console_size,
        })
        .map_err(|e| Error::Request(e.to_string()))?;
        self.hijack(&path, body).await
    }

    /// `POST /exec/{id}/resize?h=&w=`.
    pub async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<(), Error> {
        let path = format!("/exec/{}/resize?h={height}&w={width}", encode(id));
        self.call(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `GET /exec/{id}/json`.
    pub async fn exec_inspect(&self, id: &str) -> Result<ExecInspect, Error> {
        let path = format!("/exec/{}/json", encode(id));
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }
}
