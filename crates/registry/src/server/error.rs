//! The distribution spec's error codes and the JSON body they are sent in
//! (`{"errors":[{"code":..,"message":..,"detail":..}]}`), each with the
//! HTTP status distribution (Docker's registry) answers it with.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};

/// One error code of the distribution spec (plus distribution's own few).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The blob is not in the repository.
    BlobUnknown,
    /// The upload is malformed or was cancelled.
    BlobUploadInvalid,
    /// No upload with this id.
    BlobUploadUnknown,
    /// The digest is malformed or does not match the content.
    DigestInvalid,
    /// A blob (or child manifest) the manifest refers to is missing.
    ManifestBlobUnknown,
    /// The manifest cannot be parsed or is not a supported type.
    ManifestInvalid,
    /// No manifest with this tag or digest.
    ManifestUnknown,
    /// The repository name is not valid.
    NameInvalid,
    /// The repository does not exist.
    NameUnknown,
    /// Content length does not match.
    SizeInvalid,
    /// Credentials missing or wrong.
    Unauthorized,
    /// The operation is not supported.
    Unsupported,
    /// A chunk does not start where the upload ends.
    RangeInvalid,
    /// The tag is not valid.
    TagInvalid,
    /// `n` is not a number.
    PaginationNumberInvalid,
    /// Anything else (a storage failure).
    Unknown,
}

impl Code {
    /// The code as it appears in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Unsupported => "UNSUPPORTED",
            Self::RangeInvalid => "RANGE_INVALID",
            Self::TagInvalid => "TAG_INVALID",
            Self::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status distribution sends the code with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BlobUnknown
            | Self::BlobUploadUnknown
            | Self::ManifestUnknown
            | Self::NameUnknown => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Self::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The message distribution sends with the code.
    fn message(self) -> &'static str {
        match self {
            Self::BlobUnknown => "blob unknown to registry",
            Self::BlobUploadInvalid => "blob upload invalid",
            Self::BlobUploadUnknown => "blob upload unknown to registry",
            Self::DigestInvalid => "provided digest did not match uploaded content",
            Self::ManifestBlobUnknown => "blob unknown to registry",
            Self::ManifestInvalid => "manifest invalid",
            Self::ManifestUnknown => "manifest unknown",
            Self::NameInvalid => "invalid repository name",
            Self::NameUnknown => "repository name not known to registry",
            Self::SizeInvalid => "provided length did not match content length",
            Self::Unauthorized => "authentication required",
            Self::Unsupported => "The operation is unsupported.",
            Self::RangeInvalid => "invalid content range",
            Self::TagInvalid => "manifest tag did not match URI",
            Self::PaginationNumberInvalid => "invalid number of results requested",
            Self::Unknown => "unknown error",
        }
    }
}

/// An error answered to a client: a code, an optional message replacing the
/// code's default one, and a detail (any JSON value).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The spec's code.
    pub code: Code,
    /// Replaces the code's standard message when set.
    pub message: Option<String>,
    /// Extra context, e.g. the digest or name that was wrong.
    pub detail: serde_json::Value,
}

impl ApiError {
    /// An error with the code's standard message and a detail.
    pub fn new(code: Code, detail: impl Into<serde_json::Value>) -> Self {
        Self {
            code,
            message: None,
            detail: detail.into(),
        }
    }

    /// An error with its own message.
    pub fn msg(
        code: Code,
        message: impl Into<String>,
        detail: impl Into<serde_json::Value>,
    ) -> Self {
        Self {
            code,
            message: Some(message.into()),
            detail: detail.into(),
        }
    }

    /// A storage failure: logged by the caller, sent as UNKNOWN.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::msg(Code::Unknown, e.to_string(), serde_json::Value::Null)
    }

    /// The HTTP response carrying this error.
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({
            "errors": [{
                "code": self.code.as_str(),
                "message": self.message.as_deref().unwrap_or(self.code.message()),
                "detail": self.detail,
            }]
        });
        let text = body.to_string();
        let mut resp = Response::new(Body::from(text.clone()));
        *resp.status_mut() = self.code.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
        h.insert(
            "Docker-Distribution-API-Version",
            HeaderValue::from_static("registry/2.0"),
        );
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            self.code.as_str(),
            self.message.as_deref().unwrap_or(self.code.message())
        )
    }
}
