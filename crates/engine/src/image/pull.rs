//! `docker pull`: fetch an image from a registry (berth-registry's
//! client streams the blobs into the content store), then register it
//! in the image store, tag it and record its repository digest.

use std::sync::Mutex;

use berth_registry::client::{self, PlatformSpec, PullOptions};

pub use berth_registry::client::{Credentials, Progress, base64_decode, base64_encode};

use super::{Digest, ImageService, Reference};
use crate::{Classify, ErrorClass};

/// What a pull asks for.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// `NAME[:TAG]` or `NAME@DIGEST`; no tag means `latest`.
    pub reference: String,
    /// `os[/arch[/variant]]`; `None` is this host's platform.
    pub platform: Option<String>,
    /// Credentials for the registry.
    pub credentials: Option<Credentials>,
}

/// A step of a pull, in the order dockerd reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// From the registry client (manifest found, layer states, bytes).
    Registry(Progress),
    /// A downloaded layer is being unpacked.
    Extracting {
        /// Short layer id.
        id: String,
        /// Its size as stored (compressed).
        size: u64,
    },
    /// A downloaded layer is unpacked.
    PullComplete {
        /// Short layer id.
        id: String,
    },
}

/// The result of a pull.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The image ID.
    pub id: Digest,
    /// What was pulled (normalised, with its tag or digest).
    pub reference: Reference,
    /// The registry's digest for it (the `Digest:` line, `RepoDigests`).
    pub repo_digest: Digest,
    /// Nothing was downloaded and the tag already pointed at the image.
    pub up_to_date: bool,
}

/// A pull failed; the message is dockerd's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The reference or platform is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// From the registry client.
    #[error(transparent)]
    Registry(#[from] client::Error),
    /// Registering the image failed.
    #[error(transparent)]
    Store(#[from] berth_image::Error),
}

impl Classify for PullError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidArgument(_) => ErrorClass::InvalidArgument,
            Self::Registry(client::Error::Transport(_)) => ErrorClass::Internal,
            Self::Registry(e) => e.class().into(),
            Self::Store(e) => e.class().into(),
        }
    }
}

impl ImageService {
    /// Registries to reach over plain HTTP besides loopback ones
    /// (berthd's `--insecure-registry`).
    pub fn set_insecure_registries(&self, registries: Vec<String>) {
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = client::Client::new(registries);
    }

    /// Pulls an image; `progress` is called (from several threads) as it
    /// goes. Blocks until the image is registered.
    pub fn pull(
        &self,
        req: &PullRequest,
        progress: &(dyn Fn(PullEvent) + Sync),
    ) -> Result<PullOutcome, PullError> {
        let reference = Reference::parse_normalized(&req.reference)
            .map_err(|e| PullError::InvalidArgument(e.to_string()))?;
        let reference = if reference.digest().is_some() {
            reference
        } else {
            reference.with_default_tag()
        };
        let platform = req
            .platform
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(PlatformSpec::parse)
            .transpose()
            .map_err(PullError::InvalidArgument)?;
        let opts = PullOptions {
            platform,
            credentials: req.credentials.clone(),
        };
        let client = self
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let queued: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let pulled = client.pull(self.store.content(), &reference, &opts, &|p| {
            if let Progress::LayerQueued { id } = &p {
                queued
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(id.clone());
            }
            progress(PullEvent::Registry(p));
        })?;
        let queued = queued.into_inner().unwrap_or_else(|e| e.into_inner());
        let tags = if reference.digest().is_none() {
            vec![reference.clone()]
        } else {
            Vec::new()
        };
        let before = tags
            .first()
            .and_then(|t| self.store.resolve(&t.to_string()).ok());
        for id in &queued {
            let size = pulled
                .layers
                .iter()
                .find(|l| &client::short_id(&l.digest) == id)
                .map_or(0, |l| l.size);
            progress(PullEvent::Extracting {
                id: id.clone(),
                size,
            });
        }
        let id = self.store.register_manifest(&pulled.manifest, &tags)?;
        let digest_ref = format!("{}@{}", reference.name(), pulled.resolved.digest);
        let digest_ref = Reference::parse_normalized(&digest_ref)
            .map_err(|e| PullError::InvalidArgument(e.to_string()))?;
        self.store
            .add_digest_reference(&id.to_string(), &digest_ref)?;
        let blobs: Vec<&Digest> = pulled
            .layers
            .iter()
            .map(|l| &l.digest)
            .chain([&id])
            .collect();
        self.sources.add(
            &blobs,
            &format!("{}/{}", reference.domain(), reference.path()),
        );
        for id in queued {
            progress(PullEvent::PullComplete { id });
        }
        let up_to_date = !pulled.downloaded && (tags.is_empty() || before.as_ref() == Some(&id));
        self.emit(&id.to_string(), &reference.familiar_string(), "pull");
        Ok(PullOutcome {
            id,
            reference,
            repo_digest: pulled.resolved.digest,
            up_to_date,
        })
    }
}
