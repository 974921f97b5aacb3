//! The image store: which images exist, their tags, and the operations the
//! engine's image service needs (`import`, `tag`, `untag`, `list`,
//! `inspect`, `history`, `delete`).
//!
//! On disk (all written atomically: temp + fsync + rename + dir fsync):
//!
//! - `images/<config hex>.json`: one [`ImageRecord`] per image; the image
//!   ID is the config digest, as in Docker;
//! - `repositories.json`: normalised reference (`docker.io/library/busybox:latest`)
//!   → image ID;
//! - `images/<config hex>.tags`: while an image is being stored, the tags it
//!   is about to get (a journal: [`ImageStore::gc`] finishes the tagging
//!   after a crash, so a record never stays without the tags it was
//!   stored with);
//! - `berth.lock`: flocked by the one daemon that owns the data root
//!   ([`DataRootLock`]).
//!
//! Blobs live in the [`ContentStore`], unpacked layers in the
//! [`Snapshotter`] (one committed snapshot per chain ID, shared between
//! images). Writes happen in dependency order — blobs, then snapshots,
//! then the image record, then tags — and deletes in the reverse order,
//! so a crash leaves only unreferenced blobs and snapshots, which
//! [`ImageStore::gc`] removes at start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::change::{ChangeError, apply_changes};
use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::fsutil::{FsError, atomic_write_json, fsync_dir, read_json, remove_stale_temp_files};
use crate::layer::{ApplyOptions, Compression, LayerError, apply_layer};
use crate::reference::{Reference, ReferenceError};
use crate::snapshot::{Kind, SnapshotError, Snapshotter, chain_ids};
use crate::spec::{self, ContainerConfig, Descriptor, History, ImageConfig, ImageManifest, RootFs};

mod distributable;
pub use distributable::Distributable;

/// Errors of the image store (and of the crate as a whole: it wraps the
/// other modules' errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// Content store.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Snapshots.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Layer apply.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// A malformed reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A bad `--change` line.
    #[error(transparent)]
    Change(#[from] ChangeError),
    /// A stored document does not parse.
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    /// No image by this name or ID (Docker's wording).
    #[error("No such image: {name}")]
    NotFound {
        /// The name or ID asked for.
        name: String,
    },
    /// An ID prefix matches several images.
    #[error("multiple IDs found with provided prefix: {prefix}")]
    Ambiguous {
        /// The prefix.
        prefix: String,
    },
    /// The operation conflicts with the image's tags or users.
    #[error("conflict: unable to delete {name} (must be forced) - {reason}")]
    Conflict {
        /// The name or short ID.
        name: String,
        /// Why.
        reason: String,
    },
    /// A conflict that `force` does not override (dockerd's "cannot be
    /// forced": a running container was created from the image).
    #[error("conflict: unable to delete {name} (cannot be forced) - {reason}")]
    HardConflict {
        /// The short ID.
        name: String,
        /// Why.
        reason: String,
    },
    /// A conflict worded in full (dockerd's message for a reference whose
    /// image a container uses).
    #[error("{message}")]
    InUse {
        /// The whole message.
        message: String,
    },
    /// Invalid input that is not a reference or change error.
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The error's class, for the API layer's status mapping.
    pub fn class(&self) -> crate::ErrorClass {
        use crate::ErrorClass as C;
        match self {
            Self::Fs(_) => C::Internal,
            Self::Content(e) => e.class(),
            Self::Snapshot(e) => e.class(),
            Self::Layer(e) => e.class(),
            Self::Spec(_) => C::DataLoss,
            Self::Reference(_) | Self::Change(_) | Self::InvalidArgument { .. } => {
                C::InvalidArgument
            }
            Self::NotFound { .. } => C::NotFound,
            Self::Ambiguous { .. }
            | Self::Conflict { .. }
            | Self::HardConflict { .. }
            | Self::InUse { .. } => C::Conflict,
        }
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

const RECORD_VERSION: u32 = 1;

/// What berth knows about one image (`images/<config hex>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Document version.
    pub version: u32,
    /// Image ID: the digest of the config blob.
    pub id: Digest,
    /// The manifest berth stored or received for it.
    pub manifest: Descriptor,
    /// The layer blobs, base first (as stored: possibly compressed).
    pub layers: Vec<Descriptor>,
    /// Diff IDs (uncompressed layer digests), base first.
    pub diff_ids: Vec<Digest>,
    /// Uncompressed size of each layer.
    pub layer_sizes: Vec<u64>,
    /// Creation time from the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The image this one was committed on (Docker's `Parent`); `None`
    /// for pulled, loaded and imported images, as in Docker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

impl ImageRecord {
    /// Sum of the uncompressed layer sizes (Docker's `Size`).
    pub fn size(&self) -> u64 {
        self.layer_sizes.iter().sum()
    }

    /// The chain ID of the top layer: the snapshot a container starts from.
    pub fn top_chain_id(&self) -> Option<Digest> {
        chain_ids(&self.diff_ids).pop()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Repositories {
    version: u32,
    /// Normalised reference -> image ID: tags (`docker.io/library/busybox:latest`)
    /// and digest references (`docker.io/library/busybox@sha256:<hex>`,
    /// Docker's `RepoDigests`).
    refs: BTreeMap<String, Digest>,
    /// Image ID -> when a tag was last pointed at it (RFC 3339, Docker's
    /// `Metadata.LastTagTime`). Kept in this document so a tag and its
    /// time are written together.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    last_tagged: BTreeMap<String, String>,
}

/// One row of `docker images`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSummary {
    /// Image ID.
    pub id: Digest,
    /// Tags, normalised (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<Reference>,
    /// Creation time.
    pub created: Option<String>,
    /// Uncompressed size.
    pub size: u64,
}

/// What `inspect` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDetails {
    /// The stored record.
    pub record: ImageRecord,
    /// The parsed config.
    pub config: ImageConfig,
    /// Tags, normalised.
    pub repo_tags: Vec<Reference>,
    /// When a tag was last pointed at the image (RFC 3339); `None` if never.
    pub last_tag_time: Option<String>,
    /// `name@sha256:...` of the repositories it was pulled from, normalised.
    pub repo_digests: Vec<Reference>,
}

/// One row of `docker history` (newest first).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The image ID for the newest entry, `None` (`<missing>`) for the rest.
    pub id: Option<Digest>,
    /// Creation time.
    pub created: Option<String>,
    /// The command that created it.
    pub created_by: String,
    /// Size of the layer it made (0 for empty layers).
    pub size: u64,
    /// Comment.
    pub comment: String,
    /// Tags (newest entry only).
    pub tags: Vec<Reference>,
}

/// The containers that use an image, as `docker rmi` weighs them (the
/// first one found of each kind, by ID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUsers {
    /// A running (or restarting) container created from the image: no
    /// `force` removes the image (dockerd's hard conflict).
    pub running: Option<String>,
    /// A container created from the image that is not running: `force`
    /// removes the image anyway.
    pub stopped: Option<String>,
    /// A container that mounts the image (`--mount type=image`): it keeps
    /// the image's layers itself, so only the removal of the image's last
    /// tag by name weighs it (as dockerd).
    pub mounting: Option<String>,
}

impl ImageUsers {
    /// Nobody uses the image.
    pub fn none(_: &Digest) -> Self {
        Self::default()
    }

    /// Some container, created from the image or mounting it.
    pub fn any(&self) -> Option<&str> {
        self.running
            .as_deref()
            .or(self.stopped.as_deref())
            .or(self.mounting.as_deref())
    }
}

/// One line of `docker rmi`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// A tag was removed (familiar form, as Docker prints it).
    Untagged(String),
    /// An image (or a layer) was removed.
    Deleted(Digest),
}

/// Options of [`ImageStore::import_rootfs_tar`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions to apply (`--change`).
    pub changes: Vec<String>,
    /// History comment (`--message`); Docker's default is `Imported from -`.
    pub message: Option<String>,
    /// Tag to give the image.
    pub reference: Option<Reference>,
    /// Fixed creation time (RFC 3339), for reproducible images; default now.
    pub created: Option<String>,
    /// Platform (GOARCH); default the host's.
    pub architecture: Option<String>,
}

/// Options of [`ImageStore::commit`] (`docker commit`).
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Dockerfile instructions to apply (`--change`).
    pub changes: Vec<String>,
    /// History comment (`--message`).
    pub message: Option<String>,
    /// Author (`--author`).
    pub author: Option<String>,
    /// Tag to give the image.
    pub reference: Option<Reference>,
    /// Fixed creation time (RFC 3339); default now.
    pub created: Option<String>,
    /// The container's config, replacing the parent image's before
    /// `changes` apply (docker commits the container's `Config`).
    pub config: Option<ContainerConfig>,
    /// The history entry's `created_by` (docker: the container's `Cmd`).
    pub created_by: Option<String>,
}

/// The image store under one data root.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    snapshots: Snapshotter,
    repos: Mutex<Repositories>,
    /// Serialises every operation that adds or removes images, snapshots
    /// or blobs, so that a delete (or gc) never removes a layer an import
    /// is about to reference. Readers do not take it: records and tags are
    /// replaced atomically on disk.
    op_lock: Mutex<()>,
    /// Makes unpack keys unique within the process.
    unpack_seq: std::sync::atomic::AtomicU64,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root` (the data root):
    /// `content/`, `snapshots/`, `images/`, `repositories.json`. Removes
    /// stale ingest files; call [`ImageStore::gc`] too after a crash.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let images = root.join("images");
        fs_err::create_dir_all(&images)
            .map_err(|e| FsError::new("create directory", &images, e))?;
        let content = ContentStore::open(root.join("content"))?;
        content.cleanup_ingest()?;
        for d in [root.clone(), images.clone(), root.join("snapshots")] {
            remove_stale_temp_files(&d)?;
        }
        let snapshots = Snapshotter::open(root.join("snapshots"))?;
        let repos = read_json(&root.join("repositories.json"))?.unwrap_or_default();
        Ok(Self {
            root,
            content,
            snapshots,
            repos: Mutex::new(repos),
            op_lock: Mutex::new(()),
            unpack_seq: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The content store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The snapshotter.
    pub fn snapshots(&self) -> &Snapshotter {
        &self.snapshots
    }

    /// Takes the operation lock (see `op_lock`).
    pub(crate) fn op(&self) -> MutexGuard<'_, ()> {
        self.op_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Repositories> {
        self.repos.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.json", id.hex()))
    }

    fn save_repos(&self, repos: &Repositories) -> Result<()> {
        atomic_write_json(&self.root.join("repositories.json"), repos)?;
        Ok(())
    }

    /// Every image record.
    pub fn records(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for entry in fs_err::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))? {
            let entry = entry.map_err(|e| FsError::new("read directory", &dir, e))?;
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "json")
                && let Some(r) = read_json::<ImageRecord>(&p)?
            {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The record of image `id`.
    pub fn record(&self, id: &Digest) -> Result<ImageRecord> {
        read_json(&self.record_path(id))?.ok_or_else(|| Error::NotFound {
            name: id.to_string(),
        })
    }

    /// Resolves a name as Docker does: a full ID (`sha256:<hex>`), a
    /// reference (`busybox`, `busybox:1.36`), or a unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        let not_found = || Error::NotFound {
            name: name.to_owned(),
        };
        if name.starts_with("sha256:") {
            let id: Digest = name.parse().map_err(|_| not_found())?;
            self.record(&id).map_err(|_| not_found())?;
            return Ok(id);
        }
        if let Ok(r) = Reference::parse_normalized(name) {
            if let Some(d) = r.digest() {
                if let Some(id) = self.lock().refs.get(&digest_key(&r, d)) {
                    return Ok(id.clone());
                }
                // `name@sha256:<manifest digest>` that is not a recorded
                // digest reference: any image whose manifest has that
                // digest matches.
                if let Some(rec) = self
                    .records()?
                    .into_iter()
                    .find(|rec| &rec.manifest.digest == d)
                {
                    return Ok(rec.id);
                }
                return Err(not_found());
            }
            let r = r.with_default_tag();
            if let Some(id) = self.lock().refs.get(&r.to_string()) {
                return Ok(id.clone());
            }
        }
        let hex_prefix =
            !name.is_empty() && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hex_prefix {
            let matches: Vec<Digest> = self
                .records()?
                .into_iter()
                .map(|r| r.id)
                .filter(|id| id.hex().starts_with(name))
                .collect();
            match matches.len() {
                0 => {}
                1 => return matches.into_iter().next().ok_or_else(not_found),
                _ => {
                    return Err(Error::Ambiguous {
                        prefix: name.to_owned(),
                    });
                }
            }
        }
        Err(not_found())
    }

    fn tags_of(&self, id: &Digest) -> Vec<Reference> {
        self.references_of(id)
            .into_iter()
            .filter(|r| r.digest().is_none())
            .collect()
    }

    /// Every reference to image `id`, tags and digest references.
    fn references_of(&self, id: &Digest) -> Vec<Reference> {
        self.lock()
            .refs
            .iter()
            .filter(|(_, v)| *v == id)
            .filter_map(|(k, _)| Reference::parse_normalized(k).ok())
            .collect()
    }

    /// The digest references (`name@sha256:<hex>`, Docker's `RepoDigests`)
    /// of image `id`, normalised.
    pub fn digests_of(&self, id: &Digest) -> Vec<Reference> {
        self.references_of(id)
            .into_iter()
            .filter(|r| r.digest().is_some())
            .collect()
    }

    /// Records `reference`, which must carry a digest (`busybox@sha256:<hex>`,
    /// the manifest digest a registry serves the image by; a tag in it is
    /// dropped, as Docker does), as a digest reference of image `name`.
    pub fn add_digest_reference(&self, name: &str, reference: &Reference) -> Result<()> {
        let _op = self.op();
        let id = self.resolve(name)?;
        let Some(d) = reference.digest() else {
            return Err(Error::InvalidArgument {
                message: format!(
                    "{} is not a digest reference (`name@sha256:<hex>`)",
                    reference.familiar_string()
                ),
            });
        };
        let mut repos = self.lock();
        let mut next = Repositories {
            version: RECORD_VERSION,
            refs: repos.refs.clone(),
            last_tagged: repos.last_tagged.clone(),
        };
        next.refs.insert(digest_key(reference, d), id);
        self.save_repos(&next)?;
        *repos = next;
        Ok(())
    }

    /// Points `reference` (default tag `latest`) at image `name`.
    pub fn tag(&self, name: &str, reference: &Reference) -> Result<()> {
        let _op = self.op();
        self.tag_inner(name, reference)
    }

    fn tag_inner(&self, name: &str, reference: &Reference) -> Result<()> {
        let id = self.resolve(name)?;
        if reference.digest().is_some() {
            return Err(Error::InvalidArgument {
                message: "refusing to create a tag with a digest reference".to_owned(),
            });
        }
        let key = reference.clone().with_default_tag().to_string();
        let mut repos = self.lock();
        let mut next = Repositories {
            version: RECORD_VERSION,
            refs: repos.refs.clone(),
            last_tagged: repos.last_tagged.clone(),
        };
        next.last_tagged.insert(id.to_string(), rfc3339_now());
        next.refs.insert(key, id);
        self.save_repos(&next)?;
        *repos = next;
        Ok(())
    }

    /// Removes a tag; returns the image it pointed to.
    pub fn untag(&self, reference: &Reference) -> Result<Digest> {
        let _op = self.op();
        self.untag_inner(reference)
    }

    fn untag_inner(&self, reference: &Reference) -> Result<Digest> {
        let key = reference.clone().with_default_tag().to_string();
        let mut repos = self.lock();
        let mut next = Repositories {
            version: RECORD_VERSION,
            refs: repos.refs.clone(),
            last_tagged: repos.last_tagged.clone(),
        };
        let id = next.refs.remove(&key).ok_or_else(|| Error::NotFound {
            name: reference.familiar_string(),
        })?;
        self.save_repos(&next)?;
        *repos = next;
        Ok(id)
    }

    /// Drops the last-tag time of a deleted image.
    fn forget_tag_time(&self, id: &Digest) -> Result<()> {
        let mut repos = self.lock();
        if !repos.last_tagged.contains_key(&id.to_string()) {
            return Ok(());
        }
        let mut next = Repositories {
            version: RECORD_VERSION,
            refs: repos.refs.clone(),
            last_tagged: repos.last_tagged.clone(),
        };
        next.last_tagged.remove(&id.to_string());
        self.save_repos(&next)?;
        *repos = next;
        Ok(())
    }

    /// All images with their tags, newest first.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let mut out: Vec<ImageSummary> = self
            .records()?
            .into_iter()
            .map(|r| ImageSummary {
                repo_tags: self.tags_of(&r.id),
                size: r.size(),
                created: r.created.clone(),
                id: r.id,
            })
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Record, config and tags of an image.
    pub fn inspect(&self, name: &str) -> Result<ImageDetails> {
        let id = self.resolve(name)?;
        let record = self.record(&id)?;
        let config = ImageConfig::parse(&self.content.read_blob(&id)?)?;
        let last_tag_time = self.lock().last_tagged.get(&id.to_string()).cloned();
        Ok(ImageDetails {
            last_tag_time,
            repo_digests: self.digests_of(&id),
            repo_tags: self.tags_of(&id),
            record,
            config,
        })
    }

    /// `docker history`: newest first; layer sizes are matched to the
    /// non-empty history entries in order, as Docker does.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let d = self.inspect(name)?;
        let mut sizes = d.record.layer_sizes.iter();
        let mut out: Vec<HistoryEntry> = d
            .config
            .history
            .unwrap_or_default()
            .into_iter()
            .map(|h| HistoryEntry {
                id: None,
                size: if h.empty_layer == Some(true) {
                    0
                } else {
                    sizes.next().copied().unwrap_or(0)
                },
                created: h.created,
                created_by: h.created_by.unwrap_or_default(),
                comment: h.comment.unwrap_or_default(),
                tags: Vec::new(),
            })
            .collect();
        out.reverse();
        if let Some(first) = out.first_mut() {
            first.id = Some(d.record.id.clone());
            first.tags = d.repo_tags;
        }
        Ok(out)
    }

    /// Unpacks layer blob `layer` (already in the content store) as the
    /// snapshot for `chain_id` on top of `parent`, unless it exists.
    /// Returns the uncompressed size and diff ID.
    pub(crate) fn unpack_layer(
        &self,
        layer: &Descriptor,
        expected_diff_id: Option<&Digest>,
        parent: Option<&Digest>,
    ) -> Result<(Digest, u64, Compression)> {
        let seq = self
            .unpack_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = format!(
            "extract-{}-{seq}-{}",
            std::process::id(),
            layer.digest.hex()
        );
        let parent_s = parent.map(ToString::to_string);
        let upper = self.snapshots.prepare_dir(&key, parent_s.as_deref())?;
        let result = (|| -> Result<_> {
            let blob = self.content.open_blob(&layer.digest)?;
            let rep = apply_layer(
                std::io::BufReader::new(blob),
                &upper,
                &ApplyOptions {
                    expected_digest: Some(layer.digest.clone()),
                    expected_diff_id: expected_diff_id.cloned(),
                },
            )?;
            Ok(rep)
        })();
        let rep = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = self.snapshots.remove(&key);
                return Err(e);
            }
        };
        let chain = match parent {
            None => rep.diff_id.clone(),
            Some(p) => Digest::sha256_of(format!("{p} {}", rep.diff_id).as_bytes()),
        };
        // The unpacked files must be on disk before the metadata says the
        // layer is there: after a power cut a committed snapshot with
        // empty files would be worse than none (containerd syncs the
        // same way before committing an unpacked layer).
        if let Err(e) = sync_filesystem(&upper) {
            let _ = self.snapshots.remove(&key);
            return Err(e.into());
        }
        match self.snapshots.commit(&chain.to_string(), &key) {
            Ok(()) => {}
            // Another image brought the same layer stack meanwhile.
            Err(SnapshotError::AlreadyExists { .. }) => self.snapshots.remove(&key)?,
            Err(e) => {
                let _ = self.snapshots.remove(&key);
                return Err(e.into());
            }
        }
        Ok((rep.diff_id, rep.uncompressed_size, rep.compression))
    }

    /// `docker import`: one layer from a (possibly compressed) rootfs tar,
    /// a config with `changes` applied, an OCI manifest. Returns the image ID.
    pub fn import_rootfs_tar(&self, reader: impl Read, opts: &ImportOptions) -> Result<Digest> {
        let _op = self.op();
        // Validate the changes before any I/O.
        let mut cc = ContainerConfig::default();
        apply_changes(&mut cc, &opts.changes)?;

        let blob = self.content.ingest_reader(reader, None)?;
        let mut layer = Descriptor::new(spec::MEDIA_TYPE_OCI_LAYER, blob.digest.clone(), blob.size);
        let (diff_id, size, compression) = match self.unpack_layer(&layer, None, None) {
            Ok(v) => v,
            Err(e) => {
                self.delete_blob_if_unreferenced(&blob.digest)?;
                return Err(e);
            }
        };
        layer.media_type = match compression {
            Compression::None => spec::MEDIA_TYPE_OCI_LAYER,
            Compression::Gzip => spec::MEDIA_TYPE_OCI_LAYER_GZIP,
            Compression::Zstd => spec::MEDIA_TYPE_OCI_LAYER_ZSTD,
        }
        .to_owned();

        let created = opts.created.clone().unwrap_or_else(rfc3339_now);
        let config = ImageConfig {
            created: Some(created.clone()),
            architecture: opts
                .architecture
                .clone()
                .unwrap_or_else(|| spec::host_architecture().to_owned()),
            os: "linux".to_owned(),
            config: Some(cc),
            rootfs: RootFs {
                kind: "layers".to_owned(),
                diff_ids: vec![diff_id.clone()],
            },
            history: Some(vec![History {
                created: Some(created.clone()),
                comment: Some(
                    opts.message
                        .clone()
                        .unwrap_or_else(|| "Imported from -".to_owned()),
                ),
                ..History::default()
            }]),
            ..ImageConfig::default()
        };
        self.store_image(
            config,
            vec![layer],
            vec![diff_id],
            vec![size],
            opts.reference.as_ref(),
        )
    }

    /// `docker commit`: a new image from `parent` (an image name or ID, or
    /// `None` for an image from scratch) plus the changes in the active
    /// snapshot `key` (a container's writable layer, which should not
    /// change meanwhile: Docker pauses the container). The diff is stored
    /// as an uncompressed layer blob and unpacked as the new top snapshot.
    pub fn commit(&self, parent: Option<&str>, key: &str, opts: &CommitOptions) -> Result<Digest> {
        let _op = self.op();
        let (mut config, mut layers, mut diff_ids, mut sizes) = match parent {
            Some(p) => {
                let d = self.inspect(p)?;
                (
                    d.config,
                    d.record.layers,
                    d.record.diff_ids,
                    d.record.layer_sizes,
                )
            }
            None => (
                ImageConfig {
                    architecture: spec::host_architecture().to_owned(),
                    os: "linux".to_owned(),
                    ..ImageConfig::default()
                },
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
        };
        let mut cc = match &opts.config {
            Some(c) => c.clone(),
            None => config.config.take().unwrap_or_default(),
        };
        apply_changes(&mut cc, &opts.changes)?;
        config.config = Some(cc);

        let upper = self.snapshots.upper_dir(key)?;
        let mut w = self.content.writer()?;
        let diff = crate::diff::write_diff(&upper, &mut w).map_err(|e| Error::InvalidArgument {
            message: e.to_string(),
        })?;
        let blob = match w.commit(None, None) {
            Ok(d) | Err(ContentError::AlreadyExists { digest: d }) => d,
            Err(e) => return Err(e.into()),
        };
        let layer = Descriptor::new(spec::MEDIA_TYPE_OCI_LAYER, blob.clone(), diff.size);
        let parent_chain = chain_ids(&diff_ids).pop();
        let top = match &parent_chain {
            Some(p) => Digest::sha256_of(format!("{p} {}", diff.diff_id).as_bytes()),
            None => diff.diff_id.clone(),
        };
        let exists = self
            .snapshots
            .stat(&top.to_string())
            .is_ok_and(|i| i.kind == Kind::Committed);
        if !exists
            && let Err(e) = self.unpack_layer(&layer, Some(&diff.diff_id), parent_chain.as_ref())
        {
            self.delete_blob_if_unreferenced(&blob)?;
            return Err(e);
        }
        layers.push(layer);
        diff_ids.push(diff.diff_id.clone());
        sizes.push(diff.size);
        let created = opts.created.clone().unwrap_or_else(rfc3339_now);
        config.created = Some(created.clone());
        if opts.author.is_some() {
            config.author = opts.author.clone();
        }
        config.rootfs = RootFs {
            kind: "layers".to_owned(),
            diff_ids: diff_ids.clone(),
        };
        config.history.get_or_insert_with(Vec::new).push(History {
            created: Some(created),
            author: opts.author.clone(),
            comment: opts.message.clone(),
            created_by: opts.created_by.clone(),
            ..History::default()
        });
        let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidArgument {
            message: format!("serialising image config: {e}"),
        })?;
        let tags: Vec<Reference> = opts.reference.iter().cloned().collect();
        let parent_id = match parent {
            Some(p) => Some(self.resolve(p)?),
            None => None,
        };
        self.store_record_with_parent(
            &config_bytes,
            config.created.clone(),
            (layers, diff_ids, sizes),
            parent_id,
            &tags,
        )
    }

    /// A build step that changes only the config (`ENV`, `CMD`, ...): a new
    /// image with `parent`'s layers (none for `None`, `FROM scratch`) and
    /// `config` as given (the caller appended the history entry), recorded
    /// as a child of `parent` as `docker build`'s images are.
    pub fn commit_config(&self, parent: Option<&str>, mut config: ImageConfig) -> Result<Digest> {
        let _op = self.op();
        let (layers, diff_ids, sizes, parent_id) = match parent {
            Some(p) => {
                let d = self.inspect(p)?;
                let id = d.record.id.clone();
                (
                    d.record.layers,
                    d.record.diff_ids,
                    d.record.layer_sizes,
                    Some(id),
                )
            }
            None => (Vec::new(), Vec::new(), Vec::new(), None),
        };
        config.rootfs = RootFs {
            kind: "layers".to_owned(),
            diff_ids: diff_ids.clone(),
        };
        let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidArgument {
            message: format!("serialising image config: {e}"),
        })?;
        self.store_record_with_parent(
            &config_bytes,
            config.created.clone(),
            (layers, diff_ids, sizes),
            parent_id,
            &[],
        )
    }

    /// Writes config and manifest blobs and the image record, then tags.
    fn store_image(
        &self,
        config: ImageConfig,
        layers: Vec<Descriptor>,
        diff_ids: Vec<Digest>,
        layer_sizes: Vec<u64>,
        reference: Option<&Reference>,
    ) -> Result<Digest> {
        let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidArgument {
            message: format!("serialising image config: {e}"),
        })?;
        let tags: Vec<Reference> = reference.into_iter().cloned().collect();
        self.store_record(
            &config_bytes,
            config.created.clone(),
            layers,
            diff_ids,
            layer_sizes,
            None,
            &tags,
        )
    }

    /// Stores an image whose config bytes are given verbatim (their digest
    /// is the image ID), writing an OCI manifest unless `manifest` (already
    /// in the content store) is given; then the record; then the tags.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store_record(
        &self,
        config_bytes: &[u8],
        created: Option<String>,
        layers: Vec<Descriptor>,
        diff_ids: Vec<Digest>,
        layer_sizes: Vec<u64>,
        manifest: Option<Descriptor>,
        tags: &[Reference],
    ) -> Result<Digest> {
        self.store_record_full(
            config_bytes,
            created,
            (layers, diff_ids, layer_sizes),
            manifest,
            None,
            tags,
        )
    }

    /// [`ImageStore::store_record`] of a committed image, recording its parent.
    fn store_record_with_parent(
        &self,
        config_bytes: &[u8],
        created: Option<String>,
        layers: (Vec<Descriptor>, Vec<Digest>, Vec<u64>),
        parent: Option<Digest>,
        tags: &[Reference],
    ) -> Result<Digest> {
        self.store_record_full(config_bytes, created, layers, None, parent, tags)
    }

    fn store_record_full(
        &self,
        config_bytes: &[u8],
        created: Option<String>,
        (layers, diff_ids, layer_sizes): (Vec<Descriptor>, Vec<Digest>, Vec<u64>),
        manifest: Option<Descriptor>,
        parent: Option<Digest>,
        tags: &[Reference],
    ) -> Result<Digest> {
        let id = self.content.write_blob(config_bytes, None)?;
        let manifest = match manifest {
            Some(m) => m,
            None => {
                let manifest = ImageManifest {
                    schema_version: 2,
                    media_type: Some(spec::MEDIA_TYPE_OCI_MANIFEST.to_owned()),
                    artifact_type: None,
                    config: Descriptor::new(
                        spec::MEDIA_TYPE_OCI_CONFIG,
                        id.clone(),
                        config_bytes.len() as u64,
                    ),
                    layers: layers.clone(),
                    subject: None,
                    annotations: None,
                    extra: Default::default(),
                };
                let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::InvalidArgument {
                    message: format!("serialising image manifest: {e}"),
                })?;
                let digest = self.content.write_blob(&bytes, None)?;
                Descriptor::new(spec::MEDIA_TYPE_OCI_MANIFEST, digest, bytes.len() as u64)
            }
        };
        let record = ImageRecord {
            version: RECORD_VERSION,
            id: id.clone(),
            manifest,
            layers,
            diff_ids,
            layer_sizes,
            created,
            parent,
        };
        // The record and the tags are two documents: a journal of the
        // tags to give makes the pair one step. A crash after the record
        // is written finishes the tagging at the next start (`gc`), so
        // an interrupted `import busybox` leaves either nothing visible
        // or a tagged image, never an untagged one.
        if tags.iter().any(|t| t.digest().is_some()) {
            return Err(Error::InvalidArgument {
                message: "refusing to create a tag with a digest reference".to_owned(),
            });
        }
        let journal = self.tags_journal_path(&id);
        if !tags.is_empty() {
            let keys: Vec<String> = tags
                .iter()
                .map(|t| t.clone().with_default_tag().to_string())
                .collect();
            atomic_write_json(&journal, &keys)?;
        }
        atomic_write_json(&self.record_path(&id), &record)?;
        for t in tags {
            self.tag_inner(&id.to_string(), t)?;
        }
        if !tags.is_empty() {
            fs_err::remove_file(&journal).map_err(|e| FsError::new("remove", &journal, e))?;
            fsync_dir(&self.root.join("images"))?;
        }
        Ok(id)
    }

    /// `images/<hex>.tags`: the tags [`ImageStore::store_record`] is about
    /// to give image `id` (not `.json`, so [`ImageStore::records`] skips it).
    fn tags_journal_path(&self, id: &Digest) -> PathBuf {
        self.root.join("images").join(format!("{}.tags", id.hex()))
    }

    /// Finishes the tagging a crash interrupted: each tag journal whose
    /// image record exists is applied, and every journal is removed.
    /// Returns how many tags were given.
    fn replay_tag_journals(&self) -> Result<usize> {
        let dir = self.root.join("images");
        let mut journals = Vec::new();
        for entry in fs_err::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))? {
            let entry = entry.map_err(|e| FsError::new("read directory", &dir, e))?;
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "tags") {
                journals.push(p);
            }
        }
        let mut tagged = 0;
        for p in &journals {
            let id = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok());
            // A torn or foreign journal is dropped: the image stays as the
            // crash left it (untagged), which is what the user sees anyway.
            let keys = read_json::<Vec<String>>(p)
                .ok()
                .flatten()
                .unwrap_or_default();
            if let Some(id) = id
                && self.record_path(&id).is_file()
            {
                for k in keys {
                    if let Ok(r) = Reference::parse_normalized(&k) {
                        self.tag_inner(&id.to_string(), &r)?;
                        tagged += 1;
                    }
                }
            }
            fs_err::remove_file(p).map_err(|e| FsError::new("remove", p, e))?;
        }
        if !journals.is_empty() {
            fsync_dir(&dir)?;
        }
        Ok(tagged)
    }

    pub(crate) fn delete_blob_if_unreferenced(&self, digest: &Digest) -> Result<()> {
        let used = self.records()?.iter().any(|r| {
            &r.id == digest
                || &r.manifest.digest == digest
                || r.layers.iter().any(|l| &l.digest == digest)
        });
        if !used {
            match self.content.delete(digest) {
                Ok(()) | Err(ContentError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// `docker rmi`, with dockerd's rules (moby's
    /// daemon/images/image_delete.go). `name` is a reference (a tag or a
    /// digest reference) or an ID (prefix); `users` tells which containers
    /// use an image.
    ///
    /// By reference, only that reference goes (with a tag, the digest
    /// references of its repository too when no other tag of that
    /// repository is left), and the image with it if it was the last one:
    /// removing the last reference of an image a container uses (or
    /// mounts) needs `force`, and even then the image itself stays while a
    /// running container was created from it; an image with child images
    /// (committed on it) stays too. Either is left without references.
    ///
    /// By ID, child images and a running container created from the image
    /// are conflicts that `force` does not override; without `force`,
    /// references in several repositories (or several tags) and a stopped
    /// container created from the image are conflicts. Containers that
    /// only mount the image do not keep it: their views keep its layers.
    ///
    /// An image deleted, its parent goes too if nothing references or
    /// uses it any more, and so on down (dockerd's default, `noprune`
    /// unset; [`ImageStore::delete_keeping_parents`] is `noprune`).
    pub fn delete(
        &self,
        name: &str,
        force: bool,
        users: impl Fn(&Digest) -> ImageUsers,
    ) -> Result<Vec<DeleteItem>> {
        self.delete_inner(name, force, true, users)
    }

    /// [`ImageStore::delete`] that leaves the untagged parents
    /// (`docker rmi --no-prune`).
    pub fn delete_keeping_parents(
        &self,
        name: &str,
        force: bool,
        users: impl Fn(&Digest) -> ImageUsers,
    ) -> Result<Vec<DeleteItem>> {
        self.delete_inner(name, force, false, users)
    }

    fn delete_inner(
        &self,
        name: &str,
        force: bool,
        prune_parents: bool,
        users: impl Fn(&Digest) -> ImageUsers,
    ) -> Result<Vec<DeleteItem>> {
        let _op = self.op();
        let id = self.resolve(name)?;
        let mut out = Vec::new();
        let mut parent = self.delete_image(name, &id, force, &users, &mut out)?;
        if !prune_parents {
            parent = None;
        }
        // dockerd prunes quietly: the first parent that something keeps
        // (a reference, another child, a container) ends it.
        while let Some(p) = parent {
            let u = users(&p);
            if !self.references_of(&p).is_empty()
                || u.running.is_some()
                || u.stopped.is_some()
                || self.has_children(&p)?
            {
                break;
            }
            match self.record(&p) {
                Ok(_) => {}
                Err(Error::NotFound { .. }) => break,
                Err(e) => return Err(e),
            }
            parent = self.remove_image(&p, &[], &mut out)?.parent;
        }
        Ok(out)
    }

    /// [`ImageStore::delete`] without the parents' pruning: returns the
    /// parent of the image if the image was deleted.
    fn delete_image(
        &self,
        name: &str,
        id: &Digest,
        force: bool,
        users: &impl Fn(&Digest) -> ImageUsers,
        out: &mut Vec<DeleteItem>,
    ) -> Result<Option<Digest>> {
        let short = &id.hex()[..12];
        let mut refs = self.references_of(id);
        // dockerd's order (its reference store's, by familiar string).
        refs.sort_by_key(|r| r.familiar_string());
        let users = users(id);
        if let Some(r) = self.stored_reference(name) {
            if !force
                && is_single_reference(&refs)
                && let Some(c) = users.any()
            {
                // dockerd's wording, with the reference as the user typed it.
                return Err(Error::InUse {
                    message: format!(
                        "conflict: unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {short}",
                        truncate_id(c)
                    ),
                });
            }
            let mut gone = vec![r.clone()];
            let tag_left_in_repo = refs
                .iter()
                .any(|o| o.digest().is_none() && *o != r && o.name() == r.name());
            if r.digest().is_none() && !tag_left_in_repo {
                gone.extend(
                    refs.iter()
                        .filter(|o| o.digest().is_some() && o.name() == r.name())
                        .cloned(),
                );
            }
            out.extend(
                gone.iter()
                    .map(|g| DeleteItem::Untagged(g.familiar_string())),
            );
            let last = refs.iter().all(|o| gone.contains(o));
            // dockerd removes the references and quietly keeps an image
            // that is still referenced, has children or runs.
            if !last || users.running.is_some() || self.has_children(id)? {
                for g in &gone {
                    self.untag_inner(g)?;
                }
                return Ok(None);
            }
            return Ok(self.remove_image(id, &gone, out)?.parent);
        }
        if self.has_children(id)? {
            return Err(Error::HardConflict {
                name: short.to_owned(),
                reason: "image has dependent child images".to_owned(),
            });
        }
        if let Some(c) = &users.running {
            return Err(Error::HardConflict {
                name: short.to_owned(),
                reason: format!(
                    "image is being used by running container {}",
                    truncate_id(c)
                ),
            });
        }
        if !force && !refs.is_empty() && !is_single_reference(&refs) {
            return Err(Error::Conflict {
                name: short.to_owned(),
                reason: "image is referenced in multiple repositories".to_owned(),
            });
        }
        if let Some(c) = &users.stopped
            && !force
        {
            return Err(Error::Conflict {
                name: short.to_owned(),
                reason: format!(
                    "image is being used by stopped container {}",
                    truncate_id(c)
                ),
            });
        }
        out.extend(
            refs.iter()
                .map(|t| DeleteItem::Untagged(t.familiar_string())),
        );
        Ok(self.remove_image(id, &refs, out)?.parent)
    }

    /// The reference `name` stands for if the store holds it (a tag, with
    /// the default tag added, or a digest reference), `None` for an ID.
    fn stored_reference(&self, name: &str) -> Option<Reference> {
        if name.starts_with("sha256:") {
            return None;
        }
        let r = Reference::parse_normalized(name).ok()?;
        let r = match r.digest() {
            Some(d) => Reference::parse_normalized(&digest_key(&r, d)).ok()?,
            None => r.with_default_tag(),
        };
        self.lock().refs.contains_key(&r.to_string()).then_some(r)
    }

    /// Whether an image was committed on image `id` (Docker's child images).
    fn has_children(&self, id: &Digest) -> Result<bool> {
        Ok(self
            .records()?
            .iter()
            .any(|r| r.parent.as_ref() == Some(id)))
    }

    /// Removes image `id`, its references `untag`, and the layers and
    /// blobs no other image needs; returns its record.
    fn remove_image(
        &self,
        id: &Digest,
        untag: &[Reference],
        out: &mut Vec<DeleteItem>,
    ) -> Result<ImageRecord> {
        // The record goes first, then its tags: a crash in between leaves
        // tags of a missing image, which `gc` removes at the next start, so
        // an interrupted `rmi` has happened completely (untagging first
        // would leave a visible untagged image instead).
        let record = self.record(id)?;
        let path = self.record_path(id);
        fs_err::remove_file(&path).map_err(|e| FsError::new("remove", &path, e))?;
        fsync_dir(&self.root.join("images"))?;
        for t in untag {
            self.untag_inner(t)?;
        }
        self.forget_tag_time(id)?;
        out.push(DeleteItem::Deleted(id.clone()));
        // Layers no other image needs, top first (children before parents).
        let others = self.records()?;
        let still_used: BTreeSet<Digest> =
            others.iter().flat_map(|r| chain_ids(&r.diff_ids)).collect();
        for chain in chain_ids(&record.diff_ids).into_iter().rev() {
            if still_used.contains(&chain) {
                break;
            }
            match self.snapshots.remove(&chain.to_string()) {
                Ok(()) => out.push(DeleteItem::Deleted(chain)),
                Err(SnapshotError::NotFound { .. }) => {}
                // A container's snapshot still sits on it: keep it; gc
                // removes it once the container is gone.
                Err(SnapshotError::Conflict { .. }) => break,
                Err(e) => return Err(e.into()),
            }
        }
        for d in record
            .layers
            .iter()
            .map(|l| &l.digest)
            .chain([&record.manifest.digest, &record.id])
        {
            self.delete_blob_if_unreferenced(d)?;
        }
        Ok(record)
    }

    /// `docker image prune`: deletes images with no tag that no container
    /// uses (`users`), with their unreferenced layers and blobs.
    pub fn prune_dangling(&self, users: impl Fn(&Digest) -> ImageUsers) -> Result<Vec<DeleteItem>> {
        let tagged: BTreeSet<Digest> = self.lock().refs.values().cloned().collect();
        let mut out = Vec::new();
        for r in self.records()? {
            if !tagged.contains(&r.id) && users(&r.id).any().is_none() {
                match self.delete(&r.id.to_string(), false, &users) {
                    Ok(items) => out.extend(items),
                    // Tagged or deleted meanwhile.
                    Err(
                        Error::Conflict { .. }
                        | Error::HardConflict { .. }
                        | Error::InUse { .. }
                        | Error::NotFound { .. },
                    ) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    /// Removes what no image references: `extract-*` snapshots left by an
    /// interrupted unpack, committed snapshots no image's layer stack uses
    /// (and no container's snapshot sits on), and unreferenced blobs. Call
    /// at start-up, before anything is in flight. First it finishes the
    /// tagging of images whose store a crash interrupted (tag journals).
    /// Returns how many things were removed or repaired.
    pub fn gc(&self) -> Result<usize> {
        let _op = self.op();
        let mut removed = self.replay_tag_journals()?;
        let records = self.records()?;
        let used_chains: BTreeSet<String> = records
            .iter()
            .flat_map(|r| chain_ids(&r.diff_ids))
            .map(|d| d.to_string())
            .collect();
        for (key, info) in self.snapshots.list() {
            if info.kind == Kind::Active && key.starts_with("extract-") {
                self.snapshots.remove(&key)?;
                removed += 1;
            }
        }
        // Children first: repeat until nothing more goes.
        loop {
            let mut progress = false;
            for (key, info) in self.snapshots.list() {
                if info.kind == Kind::Committed && !used_chains.contains(&key) {
                    match self.snapshots.remove(&key) {
                        Ok(()) => {
                            removed += 1;
                            progress = true;
                        }
                        Err(SnapshotError::Conflict { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if !progress {
                break;
            }
        }
        let used_blobs: BTreeSet<&Digest> = records
            .iter()
            .flat_map(|r| {
                r.layers
                    .iter()
                    .map(|l| &l.digest)
                    .chain([&r.manifest.digest, &r.id])
            })
            .collect();
        for b in self.content.list()? {
            if !used_blobs.contains(&b.digest) {
                self.content.delete(&b.digest)?;
                removed += 1;
            }
        }
        // Tags pointing at images that are gone: a crash in `delete`
        // between the record's removal and the untagging (or a
        // hand-edited store).
        let ids: BTreeSet<&Digest> = records.iter().map(|r| &r.id).collect();
        let dangling: Vec<String> = self
            .lock()
            .refs
            .iter()
            .filter(|(_, v)| !ids.contains(v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in dangling {
            if let Ok(r) = Reference::parse_normalized(&k) {
                self.untag_inner(&r)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the layers from each of `chains` down (the committed
    /// snapshot, then its parent, ...) that no image's layer stack uses and
    /// no other snapshot stands on, stopping at the first one still needed:
    /// the layers of an image removed (`rmi -f`) while a container's
    /// snapshot or image-mount view kept them, once that is gone. Returns
    /// the chain IDs removed.
    pub fn release_layers(&self, chains: &[String]) -> Result<Vec<String>> {
        let _op = self.op();
        let mut removed = Vec::new();
        let mut used: Option<BTreeSet<String>> = None;
        for chain in chains {
            let mut next = Some(chain.clone());
            while let Some(key) = next {
                let info = match self.snapshots.stat(&key) {
                    Ok(i) if i.kind == Kind::Committed => i,
                    Ok(_) | Err(SnapshotError::NotFound { .. }) => break,
                    Err(e) => return Err(e.into()),
                };
                // Read once, and only when a layer could go.
                let used = match &mut used {
                    Some(u) => u,
                    None => used.insert(
                        self.records()?
                            .iter()
                            .flat_map(|r| chain_ids(&r.diff_ids))
                            .map(|d| d.to_string())
                            .collect(),
                    ),
                };
                if used.contains(&key) {
                    break;
                }
                match self.snapshots.remove(&key) {
                    Ok(()) => removed.push(key),
                    Err(SnapshotError::Conflict { .. } | SnapshotError::NotFound { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
                next = info.parent;
            }
        }
        Ok(removed)
    }
}

/// The name of the lock file in a data root.
pub const DATA_ROOT_LOCK: &str = "berth.lock";

/// An exclusive `flock(2)` on `<data root>/berth.lock`, held for as long
/// as this value lives: two daemons on one data root would each believe
/// they own every blob, snapshot and record (and gc each other's work).
/// The lock dies with the process, so a crash leaves nothing to clean up.
pub struct DataRootLock {
    path: PathBuf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl std::fmt::Debug for DataRootLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataRootLock")
            .field("path", &self.path)
            .finish()
    }
}

impl DataRootLock {
    /// Takes the lock of data root `root` (which must exist), writing our
    /// pid into the file for the message a second daemon prints. Another
    /// holder is a [`Error::InUse`] naming its pid.
    pub fn acquire(root: &std::path::Path) -> Result<Self> {
        use nix::fcntl::{Flock, FlockArg};
        use std::io::{Seek, Write};
        let path = root.join(DATA_ROOT_LOCK);
        let file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| FsError::new("open", &path, e))?
            .into_parts()
            .0;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = match text.trim() {
                    "" => "unknown".to_owned(),
                    p => p.to_owned(),
                };
                return Err(Error::InUse {
                    message: format!(
                        "data root {} is in use by another daemon (pid {pid}), which holds the lock on {}: stop that daemon or choose another --data-root",
                        root.display(),
                        path.display()
                    ),
                });
            }
            Err((_, errno)) => {
                return Err(FsError::new("lock", &path, std::io::Error::from(errno)).into());
            }
        };
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| writeln!(lock, "{}", std::process::id()))
            .map_err(|e| FsError::new("write", &path, e))?;
        Ok(Self { path, _lock: lock })
    }
}

/// `syncfs(2)` of the file system holding `dir`: one call makes every
/// file an unpack wrote durable, where fsyncing each would cost one
/// call per file.
fn sync_filesystem(dir: &std::path::Path) -> Result<(), FsError> {
    let f = fs_err::File::open(dir).map_err(|e| FsError::new("open directory", dir, e))?;
    nix::unistd::syncfs(f.file()).map_err(|e| FsError::new("syncfs", dir, std::io::Error::from(e)))
}

/// Docker's `stringid.TruncateID`: 12 characters, no algorithm prefix.
/// The key of a digest reference in `repositories.json`: the name and the
/// digest, without a tag (`docker.io/library/busybox@sha256:<hex>`).
fn digest_key(reference: &Reference, digest: &Digest) -> String {
    format!("{}@{digest}", reference.name())
}

/// dockerd's `isSingleReference`: at most one tag, and every reference
/// (tags and digest references) in one repository. False for none.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut tags = refs.iter().filter(|r| r.digest().is_none());
    let single = tags.next();
    if tags.next().is_some() {
        return false;
    }
    let name = single.unwrap_or(&refs[0]).name();
    refs.iter().all(|r| r.name() == name)
}

fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    id.chars().take(12).collect()
}

/// Now, as RFC 3339 UTC with nanoseconds (Docker's `created` format).
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// Formats a Unix time as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default();
    // Go's RFC3339Nano (what Docker and skopeo write): trailing zeros of
    // the fraction are dropped, and so is an all-zero fraction. Matching
    // it byte for byte keeps config digests stable when Go tools
    // re-serialise a config.
    let text = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let base = text.trim_end_matches('Z').trim_end_matches('0');
    format!("{}Z", base.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_600_000_000, 5), "2020-09-13T12:26:40.000000005Z");
        assert_eq!(
            rfc3339(1_600_000_000, 738_314_900),
            "2020-09-13T12:26:40.7383149Z"
        );
        assert_eq!(
            rfc3339(1_600_000_000, 500_000_000),
            "2020-09-13T12:26:40.5Z"
        );
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert!(rfc3339_now().ends_with('Z'));
    }

    /// A tar of one file `f` (`hi\n`); also used by the submodules' tests.
    pub(super) fn one_file_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "f", &b"hi\n"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn a_tag_journal_left_by_a_crash_is_finished_at_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let id = store
            .import_rootfs_tar(&one_file_tar()[..], &ImportOptions::default())
            .unwrap();
        // No journal stays behind a completed store.
        let leftovers = |d: &std::path::Path| {
            fs_err::read_dir(d.join("images"))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "tags")
                })
                .count()
        };
        assert_eq!(leftovers(dir.path()), 0);
        assert!(store.inspect(&id.to_string()).unwrap().repo_tags.is_empty());
        // A crash between the record and the tags: the journal is there.
        let journal = dir.path().join(format!("images/{}.tags", id.hex()));
        fs_err::write(&journal, br#"["docker.io/library/crashed:1"]"#).unwrap();
        // And one for an image whose record never got written.
        let other = Digest::sha256_of(b"never stored");
        fs_err::write(
            dir.path().join(format!("images/{}.tags", other.hex())),
            br#"["docker.io/library/ghost:latest"]"#,
        )
        .unwrap();
        drop(store);
        let store = ImageStore::open(dir.path()).unwrap();
        store.gc().unwrap();
        assert_eq!(store.resolve("crashed:1").unwrap(), id);
        assert!(store.resolve("ghost").is_err());
        assert_eq!(leftovers(dir.path()), 0);
    }

    #[test]
    fn a_second_lock_on_a_data_root_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataRootLock::acquire(dir.path()).unwrap();
        let err = DataRootLock::acquire(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("--data-root"), "{msg}");
        assert_eq!(err.class(), crate::ErrorClass::Conflict);
        drop(first);
        let _again = DataRootLock::acquire(dir.path()).unwrap();
    }
}
