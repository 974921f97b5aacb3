//! The build cache index: step cache key -> the image that step made
//! (`<data-root>/build/cache.json`, written atomically like every other
//! state document). An entry is only a hint: a hit needs the image to
//! still exist with the expected parent, so removing images never leaves
//! a wrong answer behind, only stale entries that `builder prune` drops.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

/// One remembered step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The image the step made (`sha256:<hex>`).
    pub image: String,
    /// The image it was made on (`None`: `FROM scratch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    version: u32,
    entries: BTreeMap<String, Entry>,
}

/// The index of one data root. Builds running at once share it through
/// the process-wide lock.
#[derive(Debug)]
pub(crate) struct CacheIndex {
    path: PathBuf,
}

static LOCK: Mutex<()> = Mutex::new(());

impl CacheIndex {
    pub(crate) fn new(data_root: &Path) -> Self {
        Self {
            path: data_root.join("build").join("cache.json"),
        }
    }

    fn load(&self) -> Document {
        // A torn or foreign document is an empty cache: a miss only costs time.
        fs_err::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Document>(&b).ok())
            .filter(|d| d.version == VERSION)
            .unwrap_or_default()
    }

    fn save(&self, doc: &Document) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(doc).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &bytes)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        self.load().entries.get(key).cloned()
    }

    pub(crate) fn put(&self, key: &str, entry: Entry) -> std::io::Result<()> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let mut doc = self.load();
        doc.version = VERSION;
        doc.entries.insert(key.to_owned(), entry);
        self.save(&doc)
    }

    /// Every remembered image, by key.
    pub(crate) fn entries(&self) -> BTreeMap<String, Entry> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        self.load().entries
    }

    /// Forgets every entry; returns them.
    pub(crate) fn clear(&self) -> std::io::Result<BTreeMap<String, Entry>> {
        let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let doc = self.load();
        self.save(&Document {
            version: VERSION,
            entries: BTreeMap::new(),
        })?;
        Ok(doc.entries)
    }
}

/// Temp file, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".cache.json.tmp-{}", std::process::id()));
    let r = (|| {
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs_err::rename(&tmp, path)?;
        fs_err::File::open(dir)?.sync_all()
    })();
    if r.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_clear() {
        let tmp = tempfile::tempdir().unwrap();
        let c = CacheIndex::new(tmp.path());
        assert_eq!(c.get("k"), None);
        let e = Entry {
            image: "sha256:aa".into(),
            parent: Some("sha256:bb".into()),
        };
        c.put("k", e.clone()).unwrap();
        assert_eq!(c.get("k"), Some(e.clone()));
        assert_eq!(c.clear().unwrap().len(), 1);
        assert_eq!(c.get("k"), None);
    }
}
