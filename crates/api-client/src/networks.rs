//! The network endpoints: list, inspect, create, remove, connect,
//! disconnect (prune goes through [`Client::prune`]).

use berth_api_types::network::{
    EndpointSettings, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest,
};
use hyper::Method;

use crate::images::encode;
use crate::{Client, Error};

const JSON: Option<&str> = Some("application/json");

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Decode {
        path: "request body".to_owned(),
        source,
    })
}

impl Client {
    /// `GET /networks?filters=` (`filters` as docker's JSON, or empty).
    pub async fn network_list(&self, filters: &str) -> Result<Vec<Network>, Error> {
        let mut path = "/networks".to_owned();
        if !filters.is_empty() {
            path.push_str(&format!("?filters={}", encode(filters)));
        }
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `GET /networks/{id}`.
    pub async fn network_inspect(&self, id: &str) -> Result<Network, Error> {
        let path = format!("/networks/{}", encode(id));
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `POST /networks/create`.
    pub async fn network_create(
        &self,
        req: &NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse, Error> {
        let path = "/networks/create";
        let raw = self.call(Method::POST, path, json(req)?, JSON).await?;
        Self::decode(path, &raw)
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, id: &str) -> Result<(), Error> {
        let path = format!("/networks/{}", encode(id));
        self.call(Method::DELETE, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        &self,
        id: &str,
        container: &str,
        endpoint: Option<EndpointSettings>,
    ) -> Result<(), Error> {
        let path = format!("/networks/{}/connect", encode(id));
        let body = NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: endpoint,
        };
        self.call(Method::POST, &path, json(&body)?, JSON).await?;
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        &self,
        id: &str,
        container: &str,
        force: bool,
    ) -> Result<(), Error> {
        let path = format!("/networks/{}/disconnect", encode(id));
        let body = NetworkDisconnectRequest {
            container: container.to_owned(),
            force,
        };
        self.call(Method::POST, &path, json(&body)?, JSON).await?;
        Ok(())
    }
}
