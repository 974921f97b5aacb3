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
//! descriptions for the runtime (or a test) to mount. All I/O is blocking
//! (`std::io::Read`/`Write`); an async caller runs it on a blocking thread.
//!
//! A worked example — what `docker import` then `docker run` need:
//!
//! ```no_run
//! # fn main() -> Result<(), berth_image::Error> {
//! use berth_image::ImageStore;
//! use berth_image::reference::Reference;
//! use berth_image::store::ImportOptions;
//!
//! let store = ImageStore::open("/var/lib/berth")?;
//! store.gc()?; // at start-up: drop what a crash left half-written
//! let rootfs = std::fs::File::open("rootfs.tar").map_err(|e| berth_image::Error::InvalidArgument {
//!     message: e.to_string(),
//! })?;
//! let id = store.import_rootfs_tar(rootfs, &ImportOptions {
//!     changes: vec!["CMD [\"sh\"]".into()],
//!     reference: Some(Reference::parse_normalized("example/app:1")?),
//!     ..ImportOptions::default()
//! })?;
//! // A container's root file system: a writable snapshot on the image's top layer.
//! let top = store.inspect(&id.to_string())?.record.top_chain_id().map(|c| c.to_string());
//! let mounts = store.snapshots().prepare("<container id>", top.as_deref())?;
//! // mounts[0] is {type: overlay, source: overlay, options: [lowerdir=..., upperdir=..., workdir=...]}
//! // -> into the OCI spec's root mount; on `rm`: store.snapshots().remove("<container id>")
//! # let _ = mounts; Ok(()) }
//! ```
//!
//! Every error type has a `class()` ([`ErrorClass`]) for HTTP status mapping.

pub mod archive;
pub mod change;
pub mod content;
pub mod diff;
pub mod digest;
mod fsutil;
pub mod layer;
pub mod reference;
pub mod rootfs;
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
