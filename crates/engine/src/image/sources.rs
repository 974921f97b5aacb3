//! Which registry repositories hold which blobs, as dockerd's
//! distribution metadata records it: a pull notes the repository each
//! blob came from, a push the repository it went to. A later push to
//! another repository of the same registry then asks the registry to
//! mount the blob from there (`Mounted from library/busybox`) instead of
//! uploading it again.
//!
//! One JSON document (`<data root>/image-sources.json`): blob digest ->
//! `domain/path` repositories, most recent first. Losing it loses only
//! the mount shortcut.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use berth_image::digest::Digest;

/// Repositories remembered per blob.
const MAX_PER_BLOB: usize = 8;

#[derive(Debug)]
pub(crate) struct Sources {
    path: PathBuf,
    lock: Mutex<()>,
}

type Map = BTreeMap<String, Vec<String>>;

impl Sources {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    fn load(&self) -> Map {
        fs_err::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Notes that repository `repo` (`domain/path`) has `digests`.
    pub(crate) fn add(&self, digests: &[&Digest], repo: &str) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = self.load();
        for d in digests {
            let list = map.entry(d.to_string()).or_default();
            list.retain(|r| r != repo);
            list.insert(0, repo.to_owned());
            list.truncate(MAX_PER_BLOB);
        }
        if let Err(e) = self.save(&map) {
            // Only the mount shortcut is lost.
            tracing::warn!(path = %self.path.display(), error = %e, "cannot record blob sources");
        }
    }

    fn save(&self, map: &Map) -> std::io::Result<()> {
        let tmp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(map).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        drop(f);
        fs_err::rename(&tmp, &self.path)
    }

    /// For each of `digests`, the repository paths on `domain` known to
    /// have it.
    pub(crate) fn on_domain(
        &self,
        digests: &[&Digest],
        domain: &str,
    ) -> BTreeMap<Digest, Vec<String>> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let map = self.load();
        let prefix = format!("{domain}/");
        let mut out = BTreeMap::new();
        for d in digests {
            let paths: Vec<String> = map
                .get(&d.to_string())
                .into_iter()
                .flatten()
                .filter_map(|r| r.strip_prefix(&prefix).map(str::to_owned))
                .collect();
            if !paths.is_empty() {
                out.insert((*d).clone(), paths);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_domain_most_recent_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sources::new(dir.path().join("image-sources.json"));
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        s.add(&[&a, &b], "127.0.0.1:5000/one");
        s.add(&[&a], "127.0.0.1:5000/two");
        s.add(&[&a], "other:5000/x");
        let m = s.on_domain(&[&a, &b], "127.0.0.1:5000");
        assert_eq!(m[&a], ["two", "one"]);
        assert_eq!(m[&b], ["one"]);
        assert!(s.on_domain(&[&b], "nowhere").is_empty());
    }
}
