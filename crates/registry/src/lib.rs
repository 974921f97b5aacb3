//! `berth-registry` speaks the distribution protocol (the OCI distribution
//! spec, which Docker's registry API v2 also is).
//!
//! - [`client`]: what `pull` and `push` need: ping, authentication, manifests
//!   and blobs, streamed into (or out of) `berth-image`'s content store.
//! - `server` (feature `"server"`): the registry behind `berth registry
//!   serve`, storing blobs with the same content-store code.
//!
//! See `shared/ARCHITECTURE.md`, "Registry".

pub mod client;
#[cfg(feature = "server")]
pub mod server;
