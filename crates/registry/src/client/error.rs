//! Pull errors, and registry error bodies turned into dockerd's messages.

use serde::Deserialize;

use super::http::TransportError;

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry does not have the image (or denies it): dockerd's 404s.
    #[error("{message}")]
    NotFound {
        /// dockerd's wording.
        message: String,
    },
    /// The request cannot be served as asked (a registry berth cannot
    /// reach over plain HTTP, a bad platform, no matching platform).
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong and what to do.
        message: String,
    },
    /// The registry refused the credentials (or got none it needs).
    #[error("{message}")]
    Unauthorized {
        /// dockerd's or the registry's wording.
        message: String,
    },
    /// The registry answered with an error.
    #[error("{message}")]
    Registry {
        /// The registry's error, as dockerd prints it.
        message: String,
    },
    /// The registry could not be reached or the connection broke.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The registry sent something berth cannot use, or that does not
    /// match its digest.
    #[error("{message}")]
    BadContent {
        /// What was wrong.
        message: String,
    },
    /// Writing into the content store failed (a digest mismatch is one).
    #[error(transparent)]
    Content(#[from] berth_image::content::ContentError),
}

impl Error {
    /// The registry refused the credentials (`POST /auth` answers 401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }

    /// The broad class, for the API's status code.
    pub fn class(&self) -> berth_image::ErrorClass {
        use berth_image::ErrorClass as C;
        match self {
            Self::NotFound { .. } => C::NotFound,
            Self::InvalidArgument { .. } => C::InvalidArgument,
            Self::Registry { .. } | Self::Transport(_) => C::Internal,
            // The API answers `POST /auth` with a 401 itself; elsewhere this
            // comes in a progress stream.
            Self::Unauthorized { .. } => C::InvalidArgument,
            Self::BadContent { .. } => C::DataLoss,
            Self::Content(e) => e.class(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<RegistryError>,
}

#[derive(Debug, Deserialize)]
struct RegistryError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What was being fetched when the registry answered an error, for
/// dockerd's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum What {
    Manifest,
    Blob,
    Token,
}

/// A registry's error answer (`{"errors":[{"code":...,"message":...}]}`)
/// as dockerd words it. `reference` is the familiar reference
/// (`127.0.0.1:5000/bb:latest`), `name` the familiar name.
pub(crate) fn registry_error(
    status: u16,
    body: &[u8],
    what: What,
    reference: &str,
    name: &str,
) -> Error {
    let first = serde_json::from_slice::<Errors>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let Some(first) = first else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if status == 404 && what == What::Manifest {
            return Error::NotFound {
                message: format!("manifest for {reference} not found: manifest unknown"),
            };
        }
        if status == 401 || status == 403 {
            return Error::NotFound {
                message: format!(
                    "pull access denied for {name}, repository does not exist or may require 'docker login'"
                ),
            };
        }
        let mut message = format!("received unexpected HTTP status: {}", status_text(status));
        if !text.is_empty() && text.len() < 512 {
            message.push_str(&format!(": {text}"));
        }
        return Error::Registry { message };
    };
    // Go's errcode: `manifest unknown: <message>`.
    let cause = format!(
        "{}: {}",
        first.code.to_ascii_lowercase().replace('_', " "),
        first.message
    );
    match first.code.as_str() {
        "MANIFEST_UNKNOWN" => Error::NotFound {
            message: format!("manifest for {reference} not found: {cause}"),
        },
        "NAME_UNKNOWN" => Error::NotFound {
            message: format!("repository {name} not found: {cause}"),
        },
        "DENIED" => Error::NotFound {
            message: format!(
                "pull access denied for {name}, repository does not exist or may require 'docker login': {cause}"
            ),
        },
        _ => Error::Registry { message: cause },
    }
}

/// The first error of a registry's error body, as Go's errcode prints it
/// (`denied: requested access to the resource is denied`).
pub(crate) fn first_error(body: &[u8]) -> Option<String> {
    let first = serde_json::from_slice::<Errors>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())?;
    Some(format!(
        "{}: {}",
        first.code.to_ascii_lowercase().replace('_', " "),
        first.message
    ))
}

/// A registry's error answer to a push request.
pub(crate) fn push_error(status: u16, body: &[u8]) -> Error {
    let message = first_error(body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let mut m = format!("received unexpected HTTP status: {}", status_text(status));
        if !text.is_empty() && text.len() < 512 {
            m.push_str(&format!(": {text}"));
        }
        m
    });
    if status == 401 || status == 403 {
        Error::Unauthorized { message }
    } else {
        Error::Registry { message }
    }
}

fn status_text(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    };
    if reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_unknown_as_dockerd() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"latest"}}]}"#;
        let e = registry_error(
            404,
            body,
            What::Manifest,
            "127.0.0.1:5000/nope:latest",
            "127.0.0.1:5000/nope",
        );
        assert_eq!(
            e.to_string(),
            "manifest for 127.0.0.1:5000/nope:latest not found: manifest unknown: manifest unknown"
        );
        assert_eq!(e.class(), berth_image::ErrorClass::NotFound);
    }

    #[test]
    fn other_registry_errors() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
        let e = registry_error(404, body, What::Manifest, "r/x:1", "r/x");
        assert_eq!(
            e.to_string(),
            "repository r/x not found: name unknown: repository name not known to registry"
        );
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let e = registry_error(401, body, What::Token, "r/x:1", "r/x");
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        let body = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        let e = registry_error(403, body, What::Manifest, "busybox:latest", "busybox");
        assert_eq!(
            e.to_string(),
            "pull access denied for busybox, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
        let e = registry_error(502, b"<html>bad</html>", What::Blob, "r/x:1", "r/x");
        assert_eq!(
            e.to_string(),
            "received unexpected HTTP status: 502 Bad Gateway: <html>bad</html>"
        );
    }
}
