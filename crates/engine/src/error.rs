//! Error classes: the one vocabulary errors cross layers with.
//!
//! Every engine error reports an [`ErrorClass`] through [`Classify`]. The API
//! layer maps a class to an HTTP status in one function, so it never inspects
//! concrete error types (the fallback chain moby's `httpstatus` grew).

/// What kind of failure an error is, independent of where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The named object does not exist (`No such container: x`).
    NotFound,
    /// The request contradicts the current state (name in use, container running).
    Conflict,
    /// The request itself is malformed or names an impossible value.
    InvalidArgument,
    /// A dependency is not there right now (shim gone, registry down); retrying may help.
    Unavailable,
    /// A bug or an unexpected system failure.
    Internal,
}

impl From<berth_image::ErrorClass> for ErrorClass {
    /// The image store's class of an error (its `AlreadyExists` is a
    /// conflict here, its `DataLoss` an internal failure).
    fn from(c: berth_image::ErrorClass) -> Self {
        use berth_image::ErrorClass as S;
        match c {
            S::NotFound => Self::NotFound,
            S::AlreadyExists | S::Conflict => Self::Conflict,
            S::InvalidArgument => Self::InvalidArgument,
            S::DataLoss | S::Internal => Self::Internal,
        }
    }
}

/// Implemented by every engine error.
pub trait Classify: std::error::Error {
    fn class(&self) -> ErrorClass;
}

/// Errors of the engine's own setup and system queries.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// fs_err's message already names the path.
    #[error(transparent)]
    Io(std::io::Error),
    #[error("engine ID in {path} is malformed: {id:?}")]
    BadEngineId {
        path: std::path::PathBuf,
        id: String,
    },
    /// The image store cannot be opened.
    #[error("cannot open the image store: {0}")]
    Image(crate::image::ImageError),
    /// The container store cannot be loaded.
    #[error("cannot load containers: {0}")]
    Containers(Box<crate::container::ContainerError>),
    /// The network store cannot be opened.
    #[error("cannot load networks: {0}")]
    Networks(Box<crate::network::NetworkError>),
    /// The volume store cannot be loaded.
    #[error("cannot load volumes: {0}")]
    Volumes(crate::volume::VolumeError),
}

impl Classify for EngineError {
    fn class(&self) -> ErrorClass {
        match self {
            EngineError::Io(_) | EngineError::BadEngineId { .. } => ErrorClass::Internal,
            EngineError::Image(e) => e.class(),
            EngineError::Containers(e) => e.class(),
            EngineError::Networks(e) => e.class(),
            EngineError::Volumes(e) => e.class(),
        }
    }
}
