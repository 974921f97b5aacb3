//! `berth registry garbage-collect`: offline mark and sweep, as
//! distribution's `registry garbage-collect`. Every manifest revision of
//! every repository is kept (tagged or not); blobs none of them refers to
//! are removed, with the repositories' links to them.

use std::collections::HashSet;
use std::path::Path;

use berth_image::digest::Digest;

use super::storage::{Storage, references};

/// What a collection found (and removed, unless it was a dry run).
#[derive(Debug, Default)]
pub struct GcReport {
    /// Blobs still referenced.
    pub kept: usize,
    /// Blobs nothing refers to, with their sizes.
    pub removed: Vec<(Digest, u64)>,
}

/// Collects garbage in the registry at `root`. Run it while no server uses the root.
pub fn garbage_collect(
    root: &Path,
    dry_run: bool,
    mut log: impl FnMut(&str),
) -> Result<GcReport, String> {
    let st = Storage::open(root)?;
    let mut marked: HashSet<Digest> = HashSet::new();
    let repos = st.catalog().map_err(|e| e.to_string())?;
    for repo in &repos {
        for rev in st.revisions(repo).map_err(|e| e.to_string())? {
            marked.insert(rev.clone());
            let Ok(m) = st.get_manifest(repo, &super::storage::Reference::Digest(rev.clone()))
            else {
                continue;
            };
            match references(&m.media_type, &m.bytes) {
                Ok(refs) => {
                    marked.extend(refs.blobs);
                    marked.extend(refs.manifests);
                }
                Err(e) => log(&format!("{repo}@{rev}: {e}; keeping it, its blobs may go")),
            }
        }
    }
    let mut report = GcReport::default();
    for blob in st.content().list().map_err(|e| e.to_string())? {
        if marked.contains(&blob.digest) {
            report.kept += 1;
            continue;
        }
        log(&format!(
            "{}blob {} ({} bytes)",
            if dry_run { "would delete " } else { "delete " },
            blob.digest,
            blob.size
        ));
        if !dry_run {
            for repo in &repos {
                let _ = st.unlink_blob(repo, &blob.digest);
            }
            st.content()
                .delete(&blob.digest)
                .map_err(|e| e.to_string())?;
        }
        report.removed.push((blob.digest, blob.size));
    }
    Ok(report)
}
