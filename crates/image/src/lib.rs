//! `berth-image` owns images on disk: references, the content store,
//! OCI/Docker image types, layer apply (hostile input), overlay snapshots
//! keyed by chain ID, and the image store (tags, import, history, delete).
//!
//! Layout under the data root (see `shared/ARCHITECTURE.md`, "Storage"):
//!
//! ```text
//! content/blobs/sha256/<hex>   every blob by digest (OCI image-layout compatible)
//! content/ingest/              in-flight writes, removed by `cleanup_ingest` at start
//! snapshots/<n>/fs             unpacked layers / writable layers (overlay upper dirs)
//! snapshots/metadata.json      chain ID / key -> snapshot number and parent
//! images/<config hex>.json     one document per image (image ID = config digest)
//! repositories.json            normalised reference -> image ID
//! ```
//!
//! The crate mounts nothing: snapshots are returned as [`snapshot::Mount`]
//! descriptions for the runtime (or a test) to mount.

pub mod archive;
pub mod change;
pub mod content;
pub mod digest;
mod fsutil;
pub mod layer;
pub mod reference;
pub mod snapshot;
pub mod spec;
pub mod store;

pub use fsutil::FsError;
pub use store::{Error, ImageStore};

/// The broad kind of an error, so the API layer can map it to an HTTP
/// status in one place (containerd's errdefs idea).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The object does not exist (404).
    NotFound,
    /// The object exists already (409 for creates; often fine for callers).
    AlreadyExists,
    /// The caller's input is malformed (400).
    InvalidArgument,
    /// The request conflicts with current state, e.g. an image still tagged (409).
    Conflict,
    /// Stored or received data is corrupt or does not match its digest (500).
    DataLoss,
    /// Anything else: I/O failures, kernel errors (500).
    Internal,
}
