//! The registry's files under `--root DIR`:
//!
//! ```text
//! content/blobs/sha256/<hex>                          every blob and manifest, once (berth-image's ContentStore)
//! content/ingest/                                     uploads in progress (emptied at start-up)
//! repositories/<name>/_layers/sha256/<hex>            the blob is part of <name> (empty file)
//! repositories/<name>/_manifests/revisions/sha256/<hex>  a manifest of <name>; holds its media type
//! repositories/<name>/_manifests/tags/<tag>           the tag's manifest digest
//! ```
//!
//! Blobs appear only complete and verified (ingest -> verify -> fsync ->
//! rename); link and tag files are written to a temp file, fsynced and
//! renamed, so a crash leaves either the old or the new file. All of it is
//! blocking I/O: the HTTP side calls it on blocking threads.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use berth_image::content::{ContentError, ContentStore};
use berth_image::digest::Digest;
use serde_json::Value;

use super::error::{ApiError, Code};

/// Docker's image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Largest manifest accepted (distribution's default limit is 4 MiB).
pub const MAX_MANIFEST: usize = 4 << 20;

/// The registry's storage.
#[derive(Debug, Clone)]
pub struct Storage {
    content: ContentStore,
    repos: PathBuf,
}

fn fs_err(what: &str, path: &Path, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("{what} {}: {e}", path.display()))
}

fn content_err(e: ContentError) -> ApiError {
    ApiError::internal(e)
}

/// Writes `data` to `path` atomically (temp file, fsync, rename, fsync of the directory).
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ApiError> {
    let dir = path
        .parent()
        .ok_or_else(|| ApiError::internal(format!("{} has no parent", path.display())))?;
    fs_err::create_dir_all(dir).map_err(|e| fs_err("create directory", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| fs_err("create temp file in", dir, e))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| fs_err("write", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| fs_err("rename into place", path, e.error))?;
    fs_err::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fs_err("fsync", dir, e))?;
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<bool, ApiError> {
    match fs_err::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(fs_err("remove", path, e)),
    }
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>, ApiError> {
    let rd = match fs_err::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fs_err("read directory", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| fs_err("read directory", dir, e))?;
        if let Some(n) = entry.file_name().to_str()
            && !n.starts_with(".tmp-")
        {
            out.push(n.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// What a manifest refers to.
#[derive(Debug, Default)]
pub struct References {
    /// Blobs (config and layers) of an image manifest.
    pub blobs: Vec<Digest>,
    /// Child manifests of an index.
    pub manifests: Vec<Digest>,
    /// The `subject` (referrers API), if any.
    pub subject: Option<Digest>,
}

fn digest_field(v: &Value, what: &str) -> Result<Digest, ApiError> {
    let s = v.get("digest").and_then(Value::as_str).ok_or_else(|| {
        ApiError::msg(
            Code::ManifestInvalid,
            format!("manifest invalid: {what} has no digest"),
            Value::Null,
        )
    })?;
    s.parse().map_err(|e| {
        ApiError::msg(
            Code::ManifestInvalid,
            format!("manifest invalid: {what} digest `{s}`: {e}"),
            Value::Null,
        )
    })
}

/// Parses a manifest of `media_type` and lists what it refers to.
pub fn references(media_type: &str, bytes: &[u8]) -> Result<References, ApiError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::msg(
            Code::ManifestInvalid,
            format!("manifest invalid: not JSON: {e}"),
            Value::Null,
        )
    })?;
    if v.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err(ApiError::msg(
            Code::ManifestInvalid,
            "manifest invalid: only schemaVersion 2 manifests are supported",
            Value::Null,
        ));
    }
    if let Some(mt) = v.get("mediaType").and_then(Value::as_str)
        && mt != media_type
    {
        return Err(ApiError::msg(
            Code::ManifestInvalid,
            format!(
                "manifest invalid: mediaType `{mt}` does not match the Content-Type `{media_type}`"
            ),
            Value::Null,
        ));
    }
    let mut refs = References::default();
    if let Some(s) = v.get("subject") {
        refs.subject = Some(digest_field(s, "subject")?);
    }
    match media_type {
        DOCKER_MANIFEST | OCI_MANIFEST => {
            let config = v.get("config").ok_or_else(|| {
                ApiError::msg(
                    Code::ManifestInvalid,
                    "manifest invalid: no config",
                    Value::Null,
                )
            })?;
            refs.blobs.push(digest_field(config, "config")?);
            for l in v
                .get("layers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // Foreign layers (with `urls`) live elsewhere, as in distribution.
                if l.get("urls")
                    .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
                {
                    continue;
                }
                refs.blobs.push(digest_field(l, "layer")?);
            }
        }
        DOCKER_LIST | OCI_INDEX => {
            for m in v
                .get("manifests")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                refs.manifests.push(digest_field(m, "manifests entry")?);
            }
        }
        other => {
            return Err(ApiError::msg(
                Code::ManifestInvalid,
                format!(
                    "manifest invalid: unsupported media type `{other}` (supported: {DOCKER_MANIFEST}, {DOCKER_LIST}, {OCI_MANIFEST}, {OCI_INDEX})"
                ),
                Value::Null,
            ));
        }
    }
    Ok(refs)
}

/// Reads a manifest's `mediaType` field, for a PUT whose Content-Type says nothing useful.
pub fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
        return Some(mt.to_owned());
    }
    // An OCI manifest may leave mediaType out: a config means a manifest, manifests an index.
    if v.get("config").is_some() {
        Some(OCI_MANIFEST.to_owned())
    } else if v.get("manifests").is_some() {
        Some(OCI_INDEX.to_owned())
    } else {
        None
    }
}

/// A stored manifest.
#[derive(Debug)]
pub struct Manifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type, as pushed.
    pub media_type: String,
    /// The exact bytes pushed.
    pub bytes: Vec<u8>,
}

/// A tag or a digest.
#[derive(Debug, Clone)]
pub enum Reference {
    /// A tag.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

/// Checks a tag against `[\w][\w.-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

impl Storage {
    /// Opens (creating) the storage at `root`, dropping uploads a previous run left.
    pub fn open(root: &Path) -> Result<Self, String> {
        let content = ContentStore::open(root.join("content")).map_err(|e| e.to_string())?;
        content.cleanup_ingest().map_err(|e| e.to_string())?;
        let repos = root.join("repositories");
        fs_err::create_dir_all(&repos).map_err(|e| e.to_string())?;
        // Probe that the root is writable now rather than at the first push.
        tempfile::tempfile_in(&repos)
            .map_err(|e| format!("{} is not writable: {e}", repos.display()))?;
        Ok(Self { content, repos })
    }

    /// The content store holding blobs and manifests.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.repos.join(name)
    }

    fn layer_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_layers")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn revision(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_manifests/revisions")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn tag_path(&self, name: &str, tag: &str) -> PathBuf {
        self.repo(name).join("_manifests/tags").join(tag)
    }

    /// True when the repository has anything in it.
    pub fn repo_exists(&self, name: &str) -> bool {
        let r = self.repo(name);
        r.join("_manifests").is_dir() || r.join("_layers").is_dir()
    }

    /// The blob's size when it is part of repository `name`.
    pub fn blob_size(&self, name: &str, d: &Digest) -> Result<u64, ApiError> {
        let unknown = || ApiError::new(Code::BlobUnknown, d.to_string());
        if !self.layer_link(name, d).is_file() && !self.revision(name, d).is_file() {
            return Err(unknown());
        }
        match self.content.info(d) {
            Ok(i) => Ok(i.size),
            Err(ContentError::NotFound { .. } | ContentError::Unsupported { .. }) => Err(unknown()),
            Err(e) => Err(content_err(e)),
        }
    }

    /// Path of a blob's bytes.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.content.blob_path(d)
    }

    /// Makes the (stored) blob part of repository `name`.
    pub fn link_blob(&self, name: &str, d: &Digest) -> Result<(), ApiError> {
        let p = self.layer_link(name, d);
        if p.is_file() {
            return Ok(());
        }
        write_atomic(&p, b"")
    }

    /// Removes the blob from repository `name` (its bytes stay until garbage collection).
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> Result<(), ApiError> {
        if !remove_if_exists(&self.layer_link(name, d))? {
            return Err(ApiError::new(Code::BlobUnknown, d.to_string()));
        }
        Ok(())
    }

    /// True when `from` has the blob and it is stored.
    pub fn can_mount(&self, from: &str, d: &Digest) -> bool {
        self.layer_link(from, d).is_file() && self.content.contains(d)
    }

    /// Resolves a tag or digest to a digest of a manifest of `name`.
    pub fn resolve(&self, name: &str, r: &Reference) -> Result<Digest, ApiError> {
        let d = match r {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => {
                let p = self.tag_path(name, t);
                let s = match fs_err::read_to_string(&p) {
                    Ok(s) => s,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(self.manifest_unknown(name, r));
                    }
                    Err(e) => return Err(fs_err("read", &p, e)),
                };
                s.trim()
                    .parse()
                    .map_err(|e| ApiError::internal(format!("tag file {}: {e}", p.display())))?
            }
        };
        if !self.revision(name, &d).is_file() {
            return Err(self.manifest_unknown(name, r));
        }
        Ok(d)
    }

    /// MANIFEST_UNKNOWN, also for a repository that does not exist (as distribution answers).
    fn manifest_unknown(&self, name: &str, r: &Reference) -> ApiError {
        match r {
            Reference::Tag(t) => ApiError::msg(
                Code::ManifestUnknown,
                format!("manifest unknown: tag `{t}` is not in repository `{name}`"),
                serde_json::json!({ "Tag": t }),
            ),
            Reference::Digest(d) => ApiError::msg(
                Code::ManifestUnknown,
                format!("manifest unknown: {d} is not in repository `{name}`"),
                serde_json::json!({ "Digest": d.to_string() }),
            ),
        }
    }

    /// Reads a manifest by tag or digest.
    pub fn get_manifest(&self, name: &str, r: &Reference) -> Result<Manifest, ApiError> {
        let digest = self.resolve(name, r)?;
        let rev = self.revision(name, &digest);
        let media_type = fs_err::read_to_string(&rev).map_err(|e| fs_err("read", &rev, e))?;
        let bytes = self.content.read_blob(&digest).map_err(|e| match e {
            ContentError::NotFound { .. } => self.manifest_unknown(name, r),
            e => content_err(e),
        })?;
        Ok(Manifest {
            digest,
            media_type: media_type.trim().to_owned(),
            bytes,
        })
    }

    /// Stores a manifest after checking everything it refers to is in `name`;
    /// tags it when `r` is a tag.
    pub fn put_manifest(
        &self,
        name: &str,
        r: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(Digest, Option<Digest>), ApiError> {
        let digest = Digest::sha256_of(bytes);
        if let Reference::Digest(d) = r
            && d != &digest
        {
            return Err(ApiError::msg(
                Code::DigestInvalid,
                format!("digest invalid: the manifest's digest is {digest}, not {d}"),
                serde_json::json!({ "Digest": d.to_string() }),
            ));
        }
        let refs = references(media_type, bytes)?;
        for b in &refs.blobs {
            if self.blob_size(name, b).is_err() {
                return Err(ApiError::msg(
                    Code::ManifestBlobUnknown,
                    format!(
                        "blob unknown to registry: {b} is not in repository `{name}`; push it first"
                    ),
                    serde_json::json!({ "Digest": b.to_string() }),
                ));
            }
        }
        for m in &refs.manifests {
            if !self.revision(name, m).is_file() {
                return Err(ApiError::msg(
                    Code::ManifestBlobUnknown,
                    format!(
                        "blob unknown to registry: manifest {m} is not in repository `{name}`; push it first"
                    ),
                    serde_json::json!({ "Digest": m.to_string() }),
                ));
            }
        }
        match self.content.write_blob(bytes, Some(&digest)) {
            Ok(_) => {}
            Err(e) => return Err(content_err(e)),
        }
        write_atomic(&self.revision(name, &digest), media_type.as_bytes())?;
        if let Reference::Tag(t) = r {
            write_atomic(&self.tag_path(name, t), digest.to_string().as_bytes())?;
        }
        Ok((digest, refs.subject))
    }

    /// Deletes a tag, or a manifest by digest (with the tags pointing at it).
    pub fn delete_manifest(&self, name: &str, r: &Reference) -> Result<(), ApiError> {
        match r {
            Reference::Tag(t) => {
                if !remove_if_exists(&self.tag_path(name, t))? {
                    return Err(self.manifest_unknown(name, r));
                }
            }
            Reference::Digest(d) => {
                let rev = self.revision(name, d);
                if !remove_if_exists(&rev)? {
                    return Err(self.manifest_unknown(name, r));
                }
                let want = d.to_string();
                for t in self.tags(name)? {
                    let p = self.tag_path(name, &t);
                    if fs_err::read_to_string(&p).is_ok_and(|s| s.trim() == want) {
                        remove_if_exists(&p)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// True once a tag was ever pushed to `name` (distribution answers the
    /// tags list of a repository without one NAME_UNKNOWN).
    pub fn has_tags(&self, name: &str) -> bool {
        self.repo(name).join("_manifests/tags").is_dir()
    }

    /// The repository's tags, sorted.
    pub fn tags(&self, name: &str) -> Result<Vec<String>, ApiError> {
        read_dir_names(&self.repo(name).join("_manifests/tags"))
    }

    /// Digests of every manifest of `name`.
    pub fn revisions(&self, name: &str) -> Result<Vec<Digest>, ApiError> {
        Ok(
            read_dir_names(&self.repo(name).join("_manifests/revisions/sha256"))?
                .into_iter()
                .filter_map(|h| format!("sha256:{h}").parse().ok())
                .collect(),
        )
    }

    /// Digests of every blob linked into `name`.
    pub fn layers(&self, name: &str) -> Result<Vec<Digest>, ApiError> {
        Ok(read_dir_names(&self.repo(name).join("_layers/sha256"))?
            .into_iter()
            .filter_map(|h| format!("sha256:{h}").parse().ok())
            .collect())
    }

    /// Every repository name, sorted.
    pub fn catalog(&self) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let dir = if prefix.is_empty() {
                self.repos.clone()
            } else {
                self.repos.join(&prefix)
            };
            for n in read_dir_names(&dir)? {
                if n.starts_with('_') || !dir.join(&n).is_dir() {
                    continue;
                }
                let full = if prefix.is_empty() {
                    n
                } else {
                    format!("{prefix}/{n}")
                };
                if self.repo_exists(&full) {
                    out.push(full.clone());
                }
                stack.push(full);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Descriptors of the manifests of `name` whose `subject` is `d`
    /// (filtered by artifact type when given).
    pub fn referrers(
        &self,
        name: &str,
        d: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        for rev in self.revisions(name)? {
            let Ok(bytes) = self.content.read_blob(&rev) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            let subject = v
                .get("subject")
                .and_then(|s| s.get("digest"))
                .and_then(Value::as_str);
            if subject != Some(d.to_string().as_str()) {
                continue;
            }
            let media_type = fs_err::read_to_string(self.revision(name, &rev))
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            let at = v
                .get("artifactType")
                .and_then(Value::as_str)
                .or_else(|| {
                    v.get("config")
                        .and_then(|c| c.get("mediaType"))
                        .and_then(Value::as_str)
                })
                .map(str::to_owned);
            if let Some(want) = artifact_type
                && at.as_deref() != Some(want)
            {
                continue;
            }
            let mut desc = serde_json::json!({
                "mediaType": media_type,
                "digest": rev.to_string(),
                "size": bytes.len(),
            });
            if let Some(at) = at {
                desc["artifactType"] = Value::String(at);
            }
            if let Some(a) = v.get("annotations") {
                desc["annotations"] = a.clone();
            }
            out.push(desc);
        }
        Ok(out)
    }
}
