//! The image service: the engine's view of the image store
//! (`berth-image`), opened on the data root by [`crate::Engine::open`].
//!
//! All calls block (the store does file I/O and hashing); async callers run
//! them on a blocking thread. The types the API layer maps to Docker's
//! shapes are re-exported from `berth-image`, so the API layer does not
//! depend on the store crate itself.

mod hello;
mod pull;
mod push;
mod sources;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, RwLock};

use berth_image::ImageStore;
pub use berth_image::archive::LoadedImage;
pub use berth_image::digest::Digest;
pub use berth_image::reference::Reference;
pub use berth_image::spec::{ContainerConfig, HealthConfig, ImageConfig};
use berth_image::store::ImportOptions;
pub use berth_image::store::{DeleteItem, HistoryEntry, ImageDetails, ImageRecord, ImageUsers};
pub use hello::{HELLO_WORLD, HELLO_WORLD_CREATED};
pub use pull::{
    Credentials, Progress, PullError, PullEvent, PullOutcome, PullRequest, base64_decode,
    base64_encode,
};
pub use push::{PushError, PushEvent, PushProgress, PushRequest};

use crate::events::{Event, EventBus};
use crate::{Classify, ErrorClass};

/// An image operation failed; the message is the store's (Docker's wording
/// where Docker has one, e.g. `No such image: nope:latest`).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ImageError(#[from] berth_image::Error);

impl ImageError {
    /// `No such image: <name>` (for fakes and callers that resolve names
    /// themselves).
    pub fn not_found(name: impl Into<String>) -> Self {
        Self(berth_image::Error::NotFound { name: name.into() })
    }

    /// The store's own error.
    pub fn inner(&self) -> &berth_image::Error {
        &self.0
    }
}

impl Classify for ImageError {
    fn class(&self) -> ErrorClass {
        self.0.class().into()
    }
}

/// Tells which containers use an image (created from it, running or not,
/// or mounting it). The container service installs it
/// ([`ImageService::set_usage`]).
pub type UsageCheck = Arc<dyn Fn(&Digest) -> ImageUsers + Send + Sync>;

/// What `docker import` asks for.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// `REPOSITORY[:TAG]` to tag the image with.
    pub reference: Option<String>,
    /// `--change` lines (Dockerfile instructions).
    pub changes: Vec<String>,
    /// `--message`.
    pub message: Option<String>,
}

/// Images: list, inspect, tag, delete, save, load, import.
pub struct ImageService {
    /// Shared so the container service can remove an auto-removed
    /// container's snapshot at its exit (see `Containers::set_image_store`).
    store: std::sync::Arc<ImageStore>,
    usage: RwLock<Option<UsageCheck>>,
    /// Where image events go (`tag`, `untag`, `delete`, `import`, ...).
    events: EventBus,
    /// The registry client `pull` uses.
    registry: RwLock<berth_registry::client::Client>,
    /// Which registry repositories hold which blobs (cross-repo mounts).
    sources: sources::Sources,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl ImageService {
    /// Opens the store under `data_root`, removes what a crash left
    /// half-written (`gc`), and makes sure the built-in `hello-world`
    /// image is there.
    pub fn open(data_root: &Path) -> Result<Self, ImageError> {
        let store = ImageStore::open(data_root)?;
        let removed = store.gc()?;
        if removed > 0 {
            tracing::info!(removed, "image store: removed unreferenced objects");
        }
        let service = Self {
            store: std::sync::Arc::new(store),
            usage: RwLock::new(None),
            events: EventBus::new(),
            registry: RwLock::new(berth_registry::client::Client::default()),
            sources: sources::Sources::new(data_root.join("image-sources.json")),
        };
        hello::ensure(&service.store)?;
        Ok(service)
    }

    /// Emits the service's events into `events` (the engine's bus).
    #[must_use]
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    /// Emits an image event with docker's attributes (the image's labels
    /// and `name`).
    fn emit(&self, id: &str, name: &str, action: &str) {
        let labels = self
            .store
            .inspect(id)
            .ok()
            .and_then(|d| d.config.config.and_then(|c| c.labels))
            .unwrap_or_default();
        self.events.emit(Event::image(id, name, &labels, action));
    }

    /// The underlying store (containers prepare snapshots through it).
    pub fn store(&self) -> &ImageStore {
        &self.store
    }

    /// The store, shared (for work done outside a request, such as
    /// removing an auto-removed container's snapshot when it exits).
    pub fn shared_store(&self) -> std::sync::Arc<ImageStore> {
        std::sync::Arc::clone(&self.store)
    }

    /// Installs the check `delete` uses to refuse removing images that
    /// containers use.
    pub fn set_usage(&self, check: UsageCheck) {
        *self.usage.write().unwrap_or_else(|p| p.into_inner()) = Some(check);
    }

    fn used_by(&self, id: &Digest) -> ImageUsers {
        let check = self.usage.read().unwrap_or_else(|p| p.into_inner()).clone();
        check.map(|c| c(id)).unwrap_or_default()
    }

    /// How many images there are (`/info`'s `Images`).
    pub fn count(&self) -> usize {
        self.store.records().map_or(0, |r| r.len())
    }

    /// Every image with its config and tags, newest first.
    pub fn list(&self) -> Result<Vec<ImageDetails>, ImageError> {
        let mut out = Vec::new();
        for summary in self.store.list()? {
            match self.store.inspect(&summary.id.to_string()) {
                Ok(d) => out.push(d),
                // Deleted meanwhile.
                Err(berth_image::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// One image by name or ID (prefix).
    pub fn inspect(&self, name: &str) -> Result<ImageDetails, ImageError> {
        self.store.inspect(name).map_err(|e| not_found_as(e, name))
    }

    /// `docker history`, newest first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        self.store.history(name).map_err(|e| not_found_as(e, name))
    }

    /// `docker tag SOURCE REPO[:TAG]`.
    pub fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<(), ImageError> {
        let target = if tag.is_empty() {
            repo.to_owned()
        } else {
            format!("{repo}:{tag}")
        };
        let reference = Reference::parse_normalized(&target).map_err(berth_image::Error::from)?;
        self.store
            .tag(name, &reference)
            .map_err(|e| not_found_as(e, name))?;
        if let Ok(d) = self.store.inspect(&reference.to_string()) {
            self.emit(
                &d.record.id.to_string(),
                &reference.familiar_string(),
                "tag",
            );
        }
        Ok(())
    }

    /// `docker rmi`: what was untagged and deleted.
    pub fn delete(&self, name: &str, force: bool) -> Result<Vec<DeleteItem>, ImageError> {
        self.delete_with(name, force, false)
    }

    /// `docker rmi` with `--no-prune` (`noprune`): untagged parents stay.
    pub fn delete_with(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        let before = self.store.inspect(name).ok();
        let users = |id: &berth_image::digest::Digest| self.used_by(id);
        let items = if noprune {
            self.store.delete_keeping_parents(name, force, users)
        } else {
            self.store.delete(name, force, users)
        }
        .map_err(|e| not_found_as(e, name))?;
        let labels = before
            .as_ref()
            .and_then(|d| d.config.config.as_ref())
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let id = before.map(|d| d.record.id.to_string()).unwrap_or_default();
        for item in &items {
            self.events.emit(match item {
                DeleteItem::Untagged(r) => Event::image(&id, r, &labels, "untag"),
                DeleteItem::Deleted(d) => {
                    let d = d.to_string();
                    Event::image(&d, &d, &labels, "delete")
                }
            });
        }
        Ok(items)
    }

    /// `docker save`: one tar (OCI layout + docker-archive) of `names`.
    pub fn save(&self, names: &[String], writer: &mut dyn Write) -> Result<(), ImageError> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.store.save(&names, writer)?;
        for name in names {
            if let Ok(d) = self.store.inspect(name) {
                let id = d.record.id.to_string();
                self.emit(&id, &id, "save");
            }
        }
        Ok(())
    }

    /// `docker load`.
    pub fn load(&self, reader: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError> {
        let loaded = self.store.load(reader)?;
        for image in &loaded {
            let id = image.id.to_string();
            self.emit(&id, &id, "load");
        }
        Ok(loaded)
    }

    /// `docker import`: a one-layer image from a (possibly compressed)
    /// rootfs tar.
    pub fn import(&self, reader: &mut dyn Read, req: &ImportRequest) -> Result<Digest, ImageError> {
        let reference = req
            .reference
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(Reference::parse_normalized)
            .transpose()
            .map_err(berth_image::Error::from)?;
        let opts = ImportOptions {
            changes: req.changes.clone(),
            message: req.message.clone().filter(|m| !m.is_empty()),
            reference,
            ..ImportOptions::default()
        };
        let id = self.store.import_rootfs_tar(reader, &opts)?;
        let shown = id.to_string();
        self.emit(&shown, &shown, "import");
        Ok(id)
    }
}

/// Docker names the image the way the user would find it again: a bare
/// name gets its default tag (`No such image: nope:latest`).
fn not_found_as(e: berth_image::Error, name: &str) -> ImageError {
    match e {
        berth_image::Error::NotFound { name: n } if n == name => {
            let shown = match Reference::parse_normalized(name) {
                Ok(r) if !looks_like_id(name) => r.with_default_tag().familiar_string(),
                _ => name.to_owned(),
            };
            berth_image::Error::NotFound { name: shown }.into()
        }
        other => other.into(),
    }
}

fn looks_like_id(name: &str) -> bool {
    name.starts_with("sha256:") || (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_store_has_hello_world_with_a_stable_id() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let sa = ImageService::open(a.path()).unwrap();
        let sb = ImageService::open(b.path()).unwrap();
        let ia = sa.inspect("hello-world").unwrap();
        let ib = sb.inspect("hello-world:latest").unwrap();
        assert_eq!(ia.record.id, ib.record.id);
        assert_eq!(sa.count(), 1);
        let cfg = ia.config.config.clone().unwrap();
        assert_eq!(cfg.cmd, Some(vec!["/hello".to_owned()]));
        assert_eq!(ia.config.created.as_deref(), Some(HELLO_WORLD_CREATED));
        assert_eq!(
            ia.repo_tags
                .iter()
                .map(Reference::familiar_string)
                .collect::<Vec<_>>(),
            ["hello-world:latest"]
        );
        // Reopening keeps the one image (no second import).
        drop(sa);
        let again = ImageService::open(a.path()).unwrap();
        assert_eq!(again.count(), 1);
        assert_eq!(
            again.inspect("hello-world").unwrap().record.id,
            ia.record.id
        );
    }

    #[test]
    fn errors_name_the_image_as_docker_does() {
        let d = tempfile::tempdir().unwrap();
        let s = ImageService::open(d.path()).unwrap();
        let e = s.inspect("nope").unwrap_err();
        assert_eq!(e.to_string(), "No such image: nope:latest");
        assert_eq!(e.class(), ErrorClass::NotFound);
        let e = s.delete("nope:1", false).unwrap_err();
        assert_eq!(e.to_string(), "No such image: nope:1");
        let e = s.tag("nope", "x", "y").unwrap_err();
        assert_eq!(e.to_string(), "No such image: nope:latest");
        let e = s.tag("hello-world", "Bad", "").unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
    }

    #[test]
    fn tag_delete_and_usage() {
        let d = tempfile::tempdir().unwrap();
        let s = ImageService::open(d.path()).unwrap();
        let id = s.inspect("hello-world").unwrap().record.id;
        s.tag("hello-world", "mine", "v1").unwrap();
        assert_eq!(s.inspect("mine:v1").unwrap().record.id, id);
        let used = id.clone();
        s.set_usage(Arc::new(move |i| ImageUsers {
            stopped: (i == &used).then(|| "c0ffee".to_owned()),
            ..ImageUsers::default()
        }));
        // Untagging one of two tags is fine even while in use.
        let items = s.delete("mine:v1", false).unwrap();
        assert_eq!(items, [DeleteItem::Untagged("mine:v1".into())]);
        let e = s.delete("hello-world", false).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Conflict);
        assert_eq!(
            e.to_string(),
            format!(
                "conflict: unable to remove repository reference \"hello-world\" (must force) - container c0ffee is using its referenced image {}",
                &id.hex()[..12]
            )
        );
        let e = s.delete(&id.hex()[..12], false).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "conflict: unable to delete {} (must be forced) - image is being used by stopped container c0ffee",
                &id.hex()[..12]
            )
        );
        let items = s.delete("hello-world", true).unwrap();
        assert_eq!(items[0], DeleteItem::Untagged("hello-world:latest".into()));
        assert!(items.contains(&DeleteItem::Deleted(id)));
        assert_eq!(s.count(), 0);
    }

    #[test]
    fn last_tag_time_and_parent() {
        let d = tempfile::tempdir().unwrap();
        let s = ImageService::open(d.path()).unwrap();
        let hello = s.inspect("hello-world").unwrap();
        assert!(hello.last_tag_time.is_some(), "tagged when it was made");
        assert_eq!(hello.record.parent, None);
        let tar = hello::rootfs_tar();
        let id = s
            .import(&mut tar.as_slice(), &ImportRequest::default())
            .unwrap();
        assert_eq!(s.inspect(&id.to_string()).unwrap().last_tag_time, None);
        s.tag(&id.to_string(), "now", "tagged").unwrap();
        let t = s.inspect("now:tagged").unwrap().last_tag_time.unwrap();
        assert!(t.ends_with('Z'), "{t}");

        // A committed image records the image it was made from.
        let store = s.store();
        let top = hello.record.top_chain_id().unwrap().to_string();
        let upper = store.snapshots().prepare_dir("work", Some(&top)).unwrap();
        fs_err::write(upper.join("new-file"), b"x").unwrap();
        let child = store
            .commit(
                Some("hello-world"),
                "work",
                &berth_image::store::CommitOptions::default(),
            )
            .unwrap();
        let c = s.inspect(&child.to_string()).unwrap();
        assert_eq!(c.record.parent, Some(hello.record.id.clone()));
        assert_eq!(c.last_tag_time, None);
    }

    #[test]
    fn save_load_and_import() {
        let d = tempfile::tempdir().unwrap();
        let s = ImageService::open(d.path()).unwrap();
        let mut archive = Vec::new();
        s.save(&["hello-world".to_owned()], &mut archive).unwrap();
        let id = s.inspect("hello-world").unwrap().record.id;
        s.delete("hello-world", false).unwrap();
        let loaded = s.load(&mut archive.as_slice()).unwrap();
        assert_eq!(loaded[0].id, id);
        let tar = hello::rootfs_tar();
        let imported = s
            .import(
                &mut tar.as_slice(),
                &ImportRequest {
                    reference: Some("imported:1".into()),
                    changes: vec!["CMD [\"/hello\"]".into()],
                    message: None,
                },
            )
            .unwrap();
        assert_eq!(s.inspect("imported:1").unwrap().record.id, imported);
    }
}
