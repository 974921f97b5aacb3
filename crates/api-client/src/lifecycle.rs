//! The lifecycle endpoints beyond start/stop/kill/remove: restart, pause,
//! unpause and rename.

use hyper::Method;

use crate::images::encode;
use crate::{Client, Error};

/// `/containers/{id}/{action}` with the `t=` and `signal=` of a stop or a
/// restart, each when given.
pub(crate) fn stop_path(
    id: &str,
    action: &str,
    timeout: Option<i64>,
    signal: Option<&str>,
) -> String {
    let mut query = Vec::new();
    if let Some(t) = timeout {
        query.push(format!("t={t}"));
    }
    if let Some(s) = signal {
        query.push(format!("signal={}", encode(s)));
    }
    let mut path = format!("/containers/{}/{action}", encode(id));
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    path
}

impl Client {
    /// `POST /containers/{id}/restart?t=&signal=`.
    pub async fn container_restart(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), Error> {
        let path = stop_path(id, "restart", timeout, signal);
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

#[cfg(test)]
mod tests {
    use super::stop_path;

    #[test]
    fn stop_and_restart_paths_carry_what_is_given() {
        assert_eq!(stop_path("c1", "stop", None, None), "/containers/c1/stop");
        assert_eq!(
            stop_path("c1", "restart", Some(0), None),
            "/containers/c1/restart?t=0"
        );
        assert_eq!(
            stop_path("c1", "stop", Some(-1), Some("SIGUSR1")),
            "/containers/c1/stop?t=-1&signal=SIGUSR1"
        );
        assert_eq!(
            stop_path("c1", "stop", None, Some("9")),
            "/containers/c1/stop?signal=9"
        );
    }
}
