//! Client errors, worded as the docker CLI words them.

use crate::host::Host;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing listens on the socket (or it does not exist).
    #[error("Cannot connect to the berth daemon at {host}. Is berthd running?")]
    Connect {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The socket exists but is not ours to use (not root, not in group `berth`).
    #[error(
        "permission denied while trying to connect to the berth daemon socket at {host}: {source}"
    )]
    PermissionDenied {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The daemon answered with an error status; `message` is its `{"message"}`.
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    #[error("cannot decode the daemon's answer to {path}: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("error during connect: {0}")]
    Http(#[source] hyper::Error),
    #[error("invalid request: {0}")]
    Request(String),
    #[error("{0}")]
    InvalidHost(String),
    /// An error line in a progress stream (`load`, `import`).
    #[error("{0}")]
    Stream(String),
}

impl Error {
    pub(crate) fn connect(host: &Host, source: std::io::Error) -> Self {
        let host = host.to_string();
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            Error::PermissionDenied { host, source }
        } else {
            Error::Connect { host, source }
        }
    }

    /// The daemon's HTTP status, for errors that have one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
