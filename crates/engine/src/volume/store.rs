//! Volume documents on disk.
//!
//! ```text
//! <data-root>/volumes/            0701
//!   <name>/                       0701
//!     volume.json                 the document (name, driver, labels, options, created)
//!     _data/                      0755, the data (or the mount point of a tmpfs, bind, device)
//!   .removing-<name>/             a removal in progress (finished at the next open)
//! ```
//!
//! Documents are written as temp file + fsync + rename + directory fsync, so
//! a crash leaves the old or the new one. A volume directory that has
//! `_data` but no document (copied in by hand, as one may with dockerd's
//! `/var/lib/docker/volumes`) is adopted as a plain `local` volume; one with
//! neither (a crash during create) is removed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The data directory's name inside a volume's directory (dockerd's).
pub(crate) const DATA: &str = "_data";
/// The document's name inside a volume's directory.
pub(crate) const DOC: &str = "volume.json";
/// The prefix of a volume directory being removed (no volume name starts
/// with a dot, so it cannot collide).
pub(crate) const REMOVING: &str = ".removing-";
/// The document format's version.
const SCHEMA: u32 = 1;

/// What is stored for one volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Doc {
    #[serde(default = "schema")]
    pub(crate) schema: u32,
    pub(crate) name: String,
    pub(crate) driver: String,
    /// `None` (docker's `null`) when the creator passed none, as dockerd
    /// keeps the difference between none and empty.
    #[serde(default)]
    pub(crate) labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) options: Option<BTreeMap<String, String>>,
    /// RFC 3339 with nanoseconds, UTC.
    pub(crate) created: String,
}

fn schema() -> u32 {
    SCHEMA
}

impl Doc {
    pub(crate) fn new(
        name: String,
        driver: String,
        labels: Option<BTreeMap<String, String>>,
        options: Option<BTreeMap<String, String>>,
    ) -> Self {
        Self {
            schema: SCHEMA,
            name,
            driver,
            labels,
            options,
            created: crate::system::rfc3339_nanos(std::time::SystemTime::now()),
        }
    }
}

/// Where volume directories live.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

impl Store {
    /// Creates `<data_root>/volumes` (0701) if it is missing.
    pub(crate) fn open(data_root: &Path) -> std::io::Result<Self> {
        let root = data_root.join("volumes");
        if !root.is_dir() {
            create_dir_mode(&root, 0o701)?;
        }
        // Canonical, so mount points read from mountinfo compare with it.
        let root = fs_err::canonicalize(&root)?;
        Ok(Self { root })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<name>`.
    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `<root>/<name>/_data`.
    pub(crate) fn data(&self, name: &str) -> PathBuf {
        self.dir(name).join(DATA)
    }

    /// Creates the volume's directories and writes its document. On a
    /// failure nothing of the volume is left.
    pub(crate) fn create(&self, doc: &Doc) -> std::io::Result<()> {
        let dir = self.dir(&doc.name);
        let result = (|| {
            create_dir_mode(&dir, 0o701)?;
            create_dir_mode(&dir.join(DATA), 0o755)?;
            self.save(doc)?;
            sync_dir(&self.root)
        })();
        if result.is_err() {
            let _ = fs_err::remove_dir_all(&dir);
        }
        result
    }

    /// Replaces the volume's document.
    pub(crate) fn save(&self, doc: &Doc) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?;
        write_atomic(&self.dir(&doc.name).join(DOC), &bytes)
    }

    /// Every stored volume; finishes interrupted removals and drops what an
    /// interrupted create left. `mounted_below` tells whether a path has
    /// mounts at or below it: a directory that does is never deleted.
    pub(crate) fn load_all(
        &self,
        mounted_below: impl Fn(&Path) -> bool,
    ) -> std::io::Result<Vec<Doc>> {
        let mut out = Vec::new();
        for entry in fs_err::read_dir(&self.root)? {
            let entry = entry?;
            let dir = entry.path();
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(REMOVING) {
                if mounted_below(&dir) {
                    tracing::warn!(path = %dir.display(), "not finishing the removal of a volume that still has mounts");
                } else {
                    fs_err::remove_dir_all(&dir)?;
                }
                continue;
            }
            if name.starts_with('.') {
                continue;
            }
            remove_temp_files(&dir)?;
            let doc_path = dir.join(DOC);
            match fs_err::read(&doc_path) {
                Ok(bytes) => match serde_json::from_slice::<Doc>(&bytes) {
                    Ok(doc) if doc.name == name => out.push(doc),
                    Ok(doc) => {
                        tracing::warn!(path = %doc_path.display(), stored = %doc.name, "skipping a volume document whose name is not its directory's");
                    }
                    Err(e) => {
                        tracing::warn!(path = %doc_path.display(), error = %e, "skipping an unreadable volume document");
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if dir.join(DATA).is_dir() {
                        // Adopt it, as dockerd lists any directory here.
                        let mut doc = Doc::new(name, super::LOCAL.to_owned(), None, None);
                        if let Ok(created) = entry.metadata().and_then(|m| m.modified()) {
                            doc.created = crate::system::rfc3339_nanos(created);
                        }
                        self.save(&doc)?;
                        out.push(doc);
                    } else if !mounted_below(&dir) {
                        fs_err::remove_dir_all(&dir)?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes the volume's directory: renamed out of the way first, so a
    /// crash in the middle never leaves half a volume under its name. The
    /// caller has made sure nothing is mounted below it.
    pub(crate) fn remove(&self, name: &str) -> std::io::Result<()> {
        let dir = self.dir(name);
        let doomed = self.root.join(format!("{REMOVING}{name}"));
        match fs_err::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        sync_dir(&self.root)?;
        match fs_err::remove_dir_all(&doomed) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn create_dir_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::create_dir(path)?;
    // Explicitly, so the umask does not decide.
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// temp file + fsync + rename + directory fsync.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs_err::rename(&tmp, path)?;
        sync_dir(dir)
    };
    write().inspect_err(|_| {
        let _ = fs_err::remove_file(&tmp);
    })
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::File::open(dir)?.sync_all()
}

/// Removes the temp files [`write_atomic`] leaves when a crash interrupts
/// it (`.<name>.tmp-<pid>`).
fn remove_temp_files(dir: &Path) -> std::io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") && entry.file_type()?.is_file() {
            fs_err::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn create_load_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(store.root()), 0o701);
        let doc = Doc::new(
            "data".into(),
            "local".into(),
            Some(BTreeMap::from([("a".into(), "b".into())])),
            None,
        );
        store.create(&doc).unwrap();
        assert_eq!(mode(&store.dir("data")), 0o701);
        assert_eq!(mode(&store.data("data")), 0o755);
        assert_eq!(store.load_all(|_| false).unwrap(), vec![doc]);
        store.remove("data").unwrap();
        assert!(store.load_all(|_| false).unwrap().is_empty());
        assert_eq!(fs_err::read_dir(store.root()).unwrap().count(), 0);
        // Removing what is gone is fine.
        store.remove("data").unwrap();
    }

    #[test]
    fn crash_leftovers_are_cleaned_and_hand_made_volumes_adopted() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let root = store.root().to_owned();
        // An interrupted create: the directory without `_data` or document.
        fs_err::create_dir(root.join("half")).unwrap();
        fs_err::write(root.join("half/.volume.json.tmp-7"), b"{").unwrap();
        // An interrupted remove.
        fs_err::create_dir_all(root.join(".removing-gone/_data")).unwrap();
        // A volume directory copied in by hand.
        fs_err::create_dir_all(root.join("byhand/_data")).unwrap();
        fs_err::write(root.join("byhand/_data/f"), b"x").unwrap();
        let docs = store.load_all(|_| false).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].name, "byhand");
        assert_eq!(docs[0].driver, "local");
        assert!(root.join("byhand/volume.json").is_file());
        assert!(!root.join("half").exists());
        assert!(!root.join(".removing-gone").exists());
        // A removal whose directory still has mounts is left alone.
        fs_err::create_dir_all(root.join(".removing-busy/_data")).unwrap();
        store.load_all(|p| p.ends_with(".removing-busy")).unwrap();
        assert!(root.join(".removing-busy").exists());
    }
}
