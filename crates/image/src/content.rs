//! The content store: every blob (layer as pulled, manifest, config, index)
//! by digest under `<root>/blobs/sha256/<hex>`, the layout of an OCI image
//! layout's `blobs/` directory (image-spec `image-layout.md`), so that
//! save/load of an OCI layout is a copy.
//!
//! Writes go through an [`Ingest`]: bytes are hashed while they are written
//! to a temp file under `<root>/ingest/`; [`Ingest::commit`] then fsyncs the
//! file, verifies size and digest, renames it into `blobs/` without
//! replacing an existing blob, and fsyncs the directory (the order of
//! containerd's `content/local/writer.go`). A blob therefore appears only
//! complete and verified; a crash at any point leaves at most a stale temp
//! file, which [`ContentStore::cleanup_ingest`] removes at start-up.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use berth_image::content::ContentStore;
//! let cs = ContentStore::open(dir.path().join("content")).unwrap();
//! let d = cs.write_blob(b"hello", None).unwrap();
//! assert_eq!(cs.read_blob(&d).unwrap(), b"hello");
//! ```

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Algorithm, Digest, Sha256Hasher};
use crate::fsutil::{FsError, fsync_dir};

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A file system operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// No blob with this digest.
    #[error("content {digest}: not found")]
    NotFound {
        /// The digest asked for.
        digest: Digest,
    },
    /// The blob is already in the store (callers that only want it present
    /// treat this as success).
    #[error("content {digest}: already exists")]
    AlreadyExists {
        /// The digest of the blob.
        digest: Digest,
    },
    /// The bytes written do not hash to the expected digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the caller said the content is.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// The number of bytes written is not the expected size.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of the bytes written.
        digest: Digest,
        /// Expected size in bytes.
        expected: u64,
        /// Actual size in bytes.
        actual: u64,
    },
    /// Only sha256 content is stored.
    #[error("content {digest}: unsupported digest algorithm")]
    Unsupported {
        /// The digest asked for.
        digest: Digest,
    },
}

impl ContentError {
    /// The error's class for API status mapping.
    pub fn class(&self) -> crate::ErrorClass {
        use crate::ErrorClass as C;
        match self {
            Self::Fs(_) => C::Internal,
            Self::NotFound { .. } => C::NotFound,
            Self::AlreadyExists { .. } => C::AlreadyExists,
            Self::DigestMismatch { .. } | Self::SizeMismatch { .. } => C::DataLoss,
            Self::Unsupported { .. } => C::InvalidArgument,
        }
    }
}

type Result<T, E = ContentError> = std::result::Result<T, E>;

/// Size and digest of a stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A content store rooted at one directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) a content store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for d in [root.join("blobs").join("sha256"), root.join("ingest")] {
            fs_err::create_dir_all(&d).map_err(|e| FsError::new("create directory", &d, e))?;
        }
        Ok(Self { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes every in-flight temp file. Call once at start-up, before any
    /// writer exists: after a crash these are the only leftovers.
    pub fn cleanup_ingest(&self) -> Result<usize> {
        let dir = self.root.join("ingest");
        let mut n = 0;
        let rd = fs_err::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| FsError::new("read directory", &dir, e))?;
            let p = entry.path();
            let r = if p.is_dir() && !p.is_symlink() {
                fs_err::remove_dir_all(&p)
            } else {
                fs_err::remove_file(&p)
            };
            r.map_err(|e| FsError::new("remove stale ingest", &p, e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Starts writing a new blob.
    pub fn writer(&self) -> Result<Ingest> {
        let dir = self.root.join("ingest");
        let file = tempfile::Builder::new()
            .prefix("ingest-")
            .tempfile_in(&dir)
            .map_err(|e| FsError::new("create temp file in", &dir, e))?;
        Ok(Ingest {
            file,
            hasher: Sha256Hasher::new(),
            blobs: self.root.join("blobs").join("sha256"),
        })
    }

    /// Copies `reader` into the store, verifying against `expected`
    /// (digest, size) when given. An already present blob is success.
    pub fn ingest_reader(
        &self,
        mut reader: impl Read,
        expected: Option<(&Digest, u64)>,
    ) -> Result<BlobInfo> {
        if let Some((d, size)) = expected
            && let Ok(info) = self.info(d)
            && info.size == size
        {
            return Ok(info);
        }
        let mut w = self.writer()?;
        let tmp = w.file.path().to_owned();
        io::copy(&mut reader, &mut w).map_err(|e| FsError::new("write", &tmp, e))?;
        let size = w.size();
        let digest = match w.commit(expected.map(|e| e.0), expected.map(|e| e.1)) {
            Ok(d) | Err(ContentError::AlreadyExists { digest: d }) => d,
            Err(e) => return Err(e),
        };
        Ok(BlobInfo { digest, size })
    }

    /// Writes a small blob from memory. An already present blob is success.
    pub fn write_blob(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let exp = expected.map(|d| (d, data.len() as u64));
        Ok(self.ingest_reader(data, exp)?.digest)
    }

    fn check_alg(digest: &Digest) -> Result<()> {
        if digest.algorithm() != Algorithm::Sha256 {
            return Err(ContentError::Unsupported {
                digest: digest.clone(),
            });
        }
        Ok(())
    }

    fn not_found_or(&self, digest: &Digest, op: &'static str, e: io::Error) -> ContentError {
        if e.kind() == io::ErrorKind::NotFound {
            ContentError::NotFound {
                digest: digest.clone(),
            }
        } else {
            FsError::new(op, &self.blob_path(digest), e).into()
        }
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<fs_err::File> {
        Self::check_alg(digest)?;
        fs_err::File::open(self.blob_path(digest)).map_err(|e| self.not_found_or(digest, "open", e))
    }

    /// Reads a whole blob into memory (manifests, configs).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        Self::check_alg(digest)?;
        fs_err::read(self.blob_path(digest)).map_err(|e| self.not_found_or(digest, "read", e))
    }

    /// Size of a blob.
    pub fn info(&self, digest: &Digest) -> Result<BlobInfo> {
        Self::check_alg(digest)?;
        let md = fs_err::metadata(self.blob_path(digest))
            .map_err(|e| self.not_found_or(digest, "stat", e))?;
        Ok(BlobInfo {
            digest: digest.clone(),
            size: md.len(),
        })
    }

    /// True when the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.info(digest).is_ok()
    }

    /// Re-hashes a stored blob and checks it still matches its name.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let mut f = self.open_blob(digest)?;
        let mut h = Sha256Hasher::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| FsError::new("read", &self.blob_path(digest), e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let actual = h.finish();
        if &actual != digest {
            return Err(ContentError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Removes a blob.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        Self::check_alg(digest)?;
        let p = self.blob_path(digest);
        fs_err::remove_file(&p).map_err(|e| self.not_found_or(digest, "remove", e))?;
        let dir = self.root.join("blobs").join("sha256");
        fsync_dir(&dir)?;
        Ok(())
    }

    /// Every blob in the store (files whose names are not digests are ignored).
    pub fn list(&self) -> Result<Vec<BlobInfo>> {
        let dir = self.root.join("blobs").join("sha256");
        let mut out = Vec::new();
        let rd = fs_err::read_dir(&dir).map_err(|e| FsError::new("read directory", &dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| FsError::new("read directory", &dir, e))?;
            let name = entry.file_name();
            let Some(Ok(digest)) = name
                .to_str()
                .map(|n| format!("sha256:{n}").parse::<Digest>())
            else {
                continue;
            };
            let md = entry
                .metadata()
                .map_err(|e| FsError::new("stat", &entry.path(), e))?;
            out.push(BlobInfo {
                digest,
                size: md.len(),
            });
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }
}

/// A blob being written. Dropping it without [`Ingest::commit`] removes the
/// temp file.
pub struct Ingest {
    file: tempfile::NamedTempFile,
    hasher: Sha256Hasher,
    blobs: PathBuf,
}

impl Ingest {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.hasher.len()
    }

    /// Finishes the blob: fsync, verify size and digest (when given), rename
    /// into `blobs/` (never replacing an existing blob), fsync the
    /// directory. On a mismatch the temp file is removed and nothing is
    /// stored. Returns the digest of the bytes written.
    pub fn commit(self, expected: Option<&Digest>, expected_size: Option<u64>) -> Result<Digest> {
        let Self {
            file,
            hasher,
            blobs,
        } = self;
        let size = hasher.len();
        let actual = hasher.finish();
        file.as_file()
            .sync_all()
            .map_err(|e| FsError::new("fsync", file.path(), e))?;
        if let Some(exp) = expected
            && exp != &actual
        {
            return Err(ContentError::DigestMismatch {
                expected: exp.clone(),
                actual,
            });
        }
        if let Some(exp) = expected_size
            && exp != size
        {
            return Err(ContentError::SizeMismatch {
                digest: actual,
                expected: exp,
                actual: size,
            });
        }
        let target = blobs.join(actual.hex());
        if target.exists() {
            return Err(ContentError::AlreadyExists { digest: actual });
        }
        // Blobs are immutable: readable by all, writable by none.
        let perms = std::os::unix::fs::PermissionsExt::from_mode(0o444);
        file.as_file()
            .set_permissions(perms)
            .map_err(|e| FsError::new("chmod", file.path(), e))?;
        match file.persist_noclobber(&target) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ContentError::AlreadyExists { digest: actual });
            }
            Err(e) => return Err(FsError::new("rename into place", &target, e.error).into()),
        }
        fsync_dir(&blobs)?;
        Ok(actual)
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path().join("content")).unwrap();
        (dir, cs)
    }

    fn ingest_files(cs: &ContentStore) -> usize {
        fs_err::read_dir(cs.root().join("ingest")).unwrap().count()
    }

    #[test]
    fn write_read_info_list_delete() {
        let (_d, cs) = store();
        let d = cs.write_blob(b"hello", None).unwrap();
        assert_eq!(
            d.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(
            cs.blob_path(&d)
                .ends_with(format!("blobs/sha256/{}", d.hex()))
        );
        assert_eq!(cs.read_blob(&d).unwrap(), b"hello");
        assert_eq!(cs.info(&d).unwrap().size, 5);
        cs.verify(&d).unwrap();
        let d2 = cs.write_blob(b"world", None).unwrap();
        let listed: Vec<_> = cs.list().unwrap().into_iter().map(|b| b.digest).collect();
        let mut want = vec![d.clone(), d2];
        want.sort();
        assert_eq!(listed, want);
        cs.delete(&d).unwrap();
        assert!(matches!(cs.info(&d), Err(ContentError::NotFound { .. })));
        assert!(matches!(cs.delete(&d), Err(ContentError::NotFound { .. })));
        assert_eq!(
            cs.delete(&d).unwrap_err().class(),
            crate::ErrorClass::NotFound
        );
        assert_eq!(ingest_files(&cs), 0);
    }

    #[test]
    fn mismatch_leaves_nothing_and_names_both_digests() {
        let (_d, cs) = store();
        let wrong = Digest::sha256_of(b"something else");
        let mut w = cs.writer().unwrap();
        w.write_all(b"hello").unwrap();
        let err = w.commit(Some(&wrong), None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&wrong.to_string()), "{msg}");
        assert!(
            msg.contains(&Digest::sha256_of(b"hello").to_string()),
            "{msg}"
        );
        assert_eq!(err.class(), crate::ErrorClass::DataLoss);
        assert!(cs.list().unwrap().is_empty());
        assert_eq!(ingest_files(&cs), 0);

        let mut w = cs.writer().unwrap();
        w.write_all(b"hello").unwrap();
        let err = w
            .commit(Some(&Digest::sha256_of(b"hello")), Some(6))
            .unwrap_err();
        assert!(matches!(
            err,
            ContentError::SizeMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ));
        assert!(cs.list().unwrap().is_empty());
        assert_eq!(ingest_files(&cs), 0);
    }

    #[test]
    fn existing_blob_is_already_exists_and_untouched() {
        let (_d, cs) = store();
        let d = cs.write_blob(b"hello", None).unwrap();
        let mut w = cs.writer().unwrap();
        w.write_all(b"hello").unwrap();
        let err = w.commit(Some(&d), Some(5)).unwrap_err();
        assert!(matches!(err, ContentError::AlreadyExists { .. }));
        assert_eq!(err.class(), crate::ErrorClass::AlreadyExists);
        // The convenience paths treat it as success.
        assert_eq!(cs.write_blob(b"hello", Some(&d)).unwrap(), d);
        let info = cs.ingest_reader(&b"hello"[..], None).unwrap();
        assert_eq!(
            info,
            BlobInfo {
                digest: d.clone(),
                size: 5
            }
        );
        assert_eq!(cs.read_blob(&d).unwrap(), b"hello");
        assert_eq!(ingest_files(&cs), 0);
    }

    #[test]
    fn dropped_writer_and_stale_files_are_cleaned() {
        let (_d, cs) = store();
        let mut w = cs.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(ingest_files(&cs), 0);
        // A crash leaves a temp file behind (simulated by writing one).
        fs_err::write(cs.root().join("ingest/ingest-crashed"), b"part").unwrap();
        fs_err::create_dir(cs.root().join("ingest/ingest-dir")).unwrap();
        assert_eq!(cs.cleanup_ingest().unwrap(), 2);
        assert_eq!(ingest_files(&cs), 0);
        assert!(cs.list().unwrap().is_empty());
    }

    #[test]
    fn tampered_blob_fails_verify_and_foreign_names_are_ignored() {
        let (_d, cs) = store();
        let d = cs.write_blob(b"hello", None).unwrap();
        let p = cs.blob_path(&d);
        fs_err::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        fs_err::write(&p, b"HELLO").unwrap();
        assert!(matches!(
            cs.verify(&d),
            Err(ContentError::DigestMismatch { .. })
        ));
        fs_err::write(cs.root().join("blobs/sha256/not-a-digest"), b"x").unwrap();
        assert_eq!(cs.list().unwrap().len(), 1);
        let sha512: Digest = format!("sha512:{}", "a".repeat(128)).parse().unwrap();
        assert!(matches!(
            cs.info(&sha512),
            Err(ContentError::Unsupported { .. })
        ));
    }
}
