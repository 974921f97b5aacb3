//! `docker push`: send an image (or every tag of a repository) to a
//! registry. The store makes the image distributable first (layers stored
//! uncompressed are gzipped once, for good), the registry client uploads
//! what the registry lacks, mounting blobs known to be in another of its
//! repositories; the image then gets its `RepoDigests` entry.

use berth_registry::client::{self, PushImage, PushOptions};

pub use berth_registry::client::PushProgress;

use super::{Credentials, Digest, ImageService, Reference};
use crate::{Classify, ErrorClass};

/// What a push asks for.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// `NAME[:TAG]`; no tag pushes every tag of the repository.
    pub reference: String,
    /// Credentials for the registry.
    pub credentials: Option<Credentials>,
}

/// A step of a push, in the order dockerd reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// `The push refers to repository [<name>]` (once, first).
    Repository {
        /// The normalised repository name.
        name: String,
    },
    /// From the registry client (layer states, bytes).
    Registry(PushProgress),
    /// A tag was pushed: `<tag>: digest: <digest> size: <size>`.
    Pushed {
        /// The tag.
        tag: String,
        /// The manifest digest.
        digest: Digest,
        /// The manifest size.
        size: u64,
    },
}

/// A push failed; the message is dockerd's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The reference is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// No image has that name (`An image does not exist locally with the tag: foo`).
    #[error("An image does not exist locally with the tag: {0}")]
    NotFound(String),
    /// From the registry client.
    #[error(transparent)]
    Registry(#[from] client::Error),
    /// Reading or preparing the image failed.
    #[error(transparent)]
    Store(#[from] berth_image::Error),
}

impl Classify for PushError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidArgument(_) => ErrorClass::InvalidArgument,
            Self::NotFound(_) => ErrorClass::NotFound,
            Self::Registry(client::Error::Transport(_)) => ErrorClass::Internal,
            Self::Registry(e) => e.class().into(),
            Self::Store(e) => e.class().into(),
        }
    }
}

impl ImageService {
    /// Pushes an image, or every tag of a repository when the reference
    /// has no tag; `progress` is called as it goes. Blocks until done.
    pub fn push(
        &self,
        req: &PushRequest,
        progress: &dyn Fn(PushEvent),
    ) -> Result<Vec<(String, Digest)>, PushError> {
        let reference = Reference::parse_normalized(&req.reference)
            .map_err(|e| PushError::InvalidArgument(e.to_string()))?;
        if reference.digest().is_some() {
            return Err(PushError::InvalidArgument(format!(
                "cannot push a digest reference ({}): push a tag",
                reference.familiar_string()
            )));
        }
        let name = reference.name();
        let tags: Vec<Reference> = match reference.tag() {
            Some(_) => vec![reference.clone()],
            None => {
                let mut all: Vec<Reference> = self
                    .store
                    .list()?
                    .into_iter()
                    .filter_map(|s| self.store.inspect(&s.id.to_string()).ok())
                    .flat_map(|d| d.repo_tags)
                    .filter(|t| t.name() == name && t.tag().is_some())
                    .collect();
                all.sort_by_key(|t| t.tag().map(str::to_owned));
                all
            }
        };
        let missing = || PushError::NotFound(reference.familiar_name());
        if tags.is_empty() {
            return Err(missing());
        }
        let ids = tags
            .iter()
            .map(|t| self.store.resolve(&t.to_string()).map_err(|_| missing()))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let domain = reference.domain().to_owned();
        let repo = format!("{domain}/{}", reference.path());
        progress(PushEvent::Repository { name: name.clone() });
        let mut out = Vec::new();
        for (tag, id) in tags.iter().zip(ids) {
            let d = self.store.distributable(&id)?;
            let blobs: Vec<&Digest> = d
                .layers
                .iter()
                .map(|l| &l.digest)
                .chain([&d.config.digest])
                .collect();
            let opts = PushOptions {
                credentials: req.credentials.clone(),
                mount_sources: self.sources.on_domain(&blobs, &domain),
                chunk_size: None,
            };
            let image = PushImage {
                manifest: d.manifest.clone(),
                manifest_bytes: d.manifest_bytes.clone(),
                config: d.config.clone(),
                layers: d.layers.clone(),
            };
            let pushed = client.push(self.store.content(), tag, &image, &opts, &|p| {
                progress(PushEvent::Registry(p));
            })?;
            self.sources.add(&blobs, &repo);
            let digest_ref = format!("{name}@{}", pushed.digest);
            if let Ok(r) = Reference::parse_normalized(&digest_ref) {
                self.store.add_digest_reference(&id.to_string(), &r)?;
            }
            let tag_name = tag.tag().unwrap_or("latest").to_owned();
            progress(PushEvent::Pushed {
                tag: tag_name.clone(),
                digest: pushed.digest.clone(),
                size: pushed.size,
            });
            self.emit(&id.to_string(), &tag.familiar_string(), "push");
            out.push((tag_name, pushed.digest));
        }
        Ok(out)
    }
}

impl ImageService {
    /// `docker login`: checks `credentials` against the registry at
    /// `server` (nothing is stored by the daemon).
    pub fn login(&self, server: &str, credentials: &Credentials) -> Result<(), PushError> {
        let client = self
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        client.login(server, credentials)?;
        Ok(())
    }
}
