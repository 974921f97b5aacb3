//! `docker login`: checks credentials against a registry as dockerd
//! does: `GET /v2/` with them, following a Bearer challenge to the token
//! server (no scope) or answering a Basic one.

use std::sync::Mutex;

use super::error::{self, Error};
use super::{Client, Credentials, MAX_SMALL, Session};

impl Client {
    /// The registry domain for `docker login`'s server address
    /// (`127.0.0.1:5000`, `http://127.0.0.1:5000/`, `https://index.docker.io/v1/`).
    pub fn login_domain(server: &str) -> String {
        let s = server.trim();
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let host = s.split('/').next().unwrap_or(s);
        match host {
            "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
            h => h.to_owned(),
        }
    }

    /// Checks `credentials` against the registry at `server`.
    pub fn login(&self, server: &str, credentials: &Credentials) -> Result<(), Error> {
        let domain = Self::login_domain(server);
        let base = self.endpoint_for(&domain, super::Purpose::Login)?;
        let base = if domain == "docker.io" {
            "https://registry-1.docker.io".to_owned()
        } else {
            base
        };
        let session = Session {
            base: base.clone(),
            repo: String::new(),
            name: domain.clone(),
            reference: domain.clone(),
            credentials: Some(credentials.clone()),
            authorization: Mutex::new(None),
            scope: String::new(),
            pushing: true,
        };
        let resp = session.get("/v2/", None)?;
        match resp.status {
            200..=299 => Ok(()),
            status => {
                let body = resp.read_limited(MAX_SMALL).unwrap_or_default();
                if status == 401 {
                    return Err(Error::Unauthorized {
                        message: format!(
                            "login attempt to {base}/v2/ failed with status: 401 Unauthorized"
                        ),
                    });
                }
                Err(error::push_error(status, &body))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(Client::login_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            Client::login_domain("http://127.0.0.1:5000/"),
            "127.0.0.1:5000"
        );
        assert_eq!(
            Client::login_domain("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(Client::login_domain(""), "docker.io");
    }
}
