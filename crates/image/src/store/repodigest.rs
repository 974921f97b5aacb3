//! Repository digests (Docker's `RepoDigests`): `name@sha256:<manifest
//! digest>` for each repository an image was pulled from, where the
//! digest is what the registry's tag resolved to (the manifest list /
//! index for a multi-platform image). Kept in `repodigests.json` beside
//! `repositories.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ImageStore, Result};
use crate::digest::Digest;
use crate::fsutil::{atomic_write_json, read_json};
use crate::reference::Reference;

#[derive(Debug, Default, Serialize, Deserialize)]
struct RepoDigests {
    /// `name@digest` (normalised) -> image ID.
    refs: BTreeMap<String, Digest>,
}

impl ImageStore {
    fn repo_digests_path(&self) -> std::path::PathBuf {
        self.root.join("repodigests.json")
    }

    fn read_repo_digests(&self) -> Result<RepoDigests> {
        Ok(read_json(&self.repo_digests_path())?.unwrap_or_default())
    }

    /// Records that `name` (a repository, tag and digest ignored) at
    /// manifest `digest` is image `id`.
    pub fn add_repo_digest(&self, name: &Reference, digest: &Digest, id: &Digest) -> Result<()> {
        let _op = self.op();
        let mut all = self.read_repo_digests()?;
        let key = format!("{}@{digest}", name.name());
        if all.refs.get(&key) == Some(id) {
            return Ok(());
        }
        all.refs.insert(key, id.clone());
        // Entries of deleted images go when the file is next written.
        all.refs.retain(|_, v| self.record_path(v).exists());
        atomic_write_json(&self.repo_digests_path(), &all)?;
        Ok(())
    }

    /// The repository digests of image `id`, normalised.
    pub fn repo_digests_of(&self, id: &Digest) -> Vec<Reference> {
        self.read_repo_digests()
            .map(|all| {
                all.refs
                    .iter()
                    .filter(|(_, v)| *v == id)
                    .filter_map(|(k, _)| Reference::parse_normalized(k).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The image `name@digest` was recorded for, if it still exists.
    pub(crate) fn resolve_repo_digest(&self, r: &Reference) -> Option<Digest> {
        let d = r.digest()?;
        let key = format!("{}@{d}", r.name());
        let id = self.read_repo_digests().ok()?.refs.get(&key).cloned()?;
        self.record_path(&id).exists().then_some(id)
    }
}
