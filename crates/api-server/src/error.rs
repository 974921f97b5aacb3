//! API errors: a class and a message, rendered as dockerd renders them.
//!
//! [`status_for`] is the one place an [`ErrorClass`] becomes an HTTP status.
//! The body is `{"message":"..."}` plus a newline, as Go's `json.Encoder`
//! writes it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types::ErrorResponse;
use berth_engine::{Classify, ErrorClass};

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    class: ErrorClass,
    message: String,
}

/// The HTTP status for an error class, as moby's `httpstatus.FromError`.
pub fn status_for(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// Any engine error, by its class.
    pub fn from_engine<E: Classify + ?Sized>(err: &E) -> Self {
        Self::new(err.class(), err.to_string())
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::InvalidArgument, message)
    }

    /// dockerd's answer to a path it has no route for.
    pub fn page_not_found() -> Self {
        Self::new(ErrorClass::NotFound, "page not found")
    }

    pub fn class(&self) -> ErrorClass {
        self.class
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn status(&self) -> StatusCode {
        status_for(self.class)
    }

    pub fn into_response_body(self) -> Response {
        if self.class == ErrorClass::Internal {
            // Logged here, where it is handled, and nowhere on the way up.
            tracing::error!(error = %self.message, "request failed");
        }
        let mut response =
            crate::handlers::json_response(self.status(), &ErrorResponse::new(self.message));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_dockerd_statuses() {
        let cases = [
            (ErrorClass::NotFound, 404),
            (ErrorClass::Conflict, 409),
            (ErrorClass::InvalidArgument, 400),
            (ErrorClass::Unavailable, 503),
            (ErrorClass::Internal, 500),
        ];
        for (class, code) in cases {
            assert_eq!(status_for(class).as_u16(), code, "{class:?}");
        }
    }

    #[test]
    fn engine_errors_keep_class_and_message() {
        let err = berth_engine::EngineError::BadEngineId {
            path: "/x/engine-id".into(),
            id: "z".into(),
        };
        let api = ApiError::from_engine(&err);
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(api.message().contains("/x/engine-id"));
    }
}
