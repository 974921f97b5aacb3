//! What lists and inspects show beyond the stored document: the sizes of
//! a container's file system (`docker ps -s`, `docker inspect -s`), where
//! its layers are (`GraphDriver`), the image as `ps` names it, and the
//! `Cmd`/`Entrypoint` split of its merged config.
//!
//! Sizes follow dockerd's overlay2 driver: `SizeRw` is the size of the
//! writable layer (the overlay upper directory) as its `directory.Size`
//! counts it — the apparent size of everything but directories, a file
//! with several hard links once — and `SizeRootFs` adds the image's
//! layers (berth's image size, the one `docker images` shows).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::filter::{self, ImageLookup, ListOptions};
use super::model::Container;
use super::{ContainerError, ContainerService};

/// `SizeRw` and `SizeRootFs`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SizeInfo {
    pub rw: u64,
    pub root_fs: u64,
}

/// Where a container's file system lives (docker's `GraphDriver.Data`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageInfo {
    /// The image's layers, top first (empty for an image without layers).
    pub lower_dirs: Vec<PathBuf>,
    /// The writable layer.
    pub upper_dir: PathBuf,
    /// overlayfs's work directory (`None` without lower layers: then the
    /// writable layer is bind-mounted).
    pub work_dir: Option<PathBuf>,
    /// Where the root file system is mounted while the container runs.
    pub merged_dir: PathBuf,
}

/// One row of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedContainer {
    pub container: Container,
    /// The image as the user named it while that name still means the
    /// container's image, else the image ID (dockerd's rule).
    pub image: String,
    /// With [`ListOptions::size`].
    pub size: Option<SizeInfo>,
}

/// A container with what inspect shows besides the stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDetails {
    pub container: Container,
    /// docker's merged `Config.Entrypoint`: the one given at create, else
    /// the image's.
    pub entrypoint: Option<Vec<String>>,
    /// docker's merged `Config.Cmd`: the one given at create, else the
    /// image's unless an entrypoint was given.
    pub cmd: Option<Vec<String>>,
    /// `None` if the container's snapshot is gone.
    pub storage: Option<StorageInfo>,
    /// When asked for.
    pub size: Option<SizeInfo>,
    /// The json-file log.
    pub log_path: PathBuf,
    /// The execs that have not exited (docker's `ExecIDs`, `None`: none).
    pub exec_ids: Option<Vec<String>>,
}

/// The image store as the `ancestor` filter and the `Image` column see
/// it. Both are asked once per list: the parent links (every image record,
/// read from disk) only when the `ancestor` filter needs them, and each
/// name resolved once.
struct StoreImages<'a> {
    store: &'a berth_image::ImageStore,
    /// Parent ID -> IDs of the images committed on it.
    children: std::sync::OnceLock<BTreeMap<String, Vec<String>>>,
    /// Names resolved so far.
    resolved: std::sync::Mutex<BTreeMap<String, Option<String>>>,
}

impl<'a> StoreImages<'a> {
    fn new(store: &'a berth_image::ImageStore) -> Self {
        Self {
            store,
            children: std::sync::OnceLock::new(),
            resolved: std::sync::Mutex::new(BTreeMap::new()),
        }
    }
}

impl ImageLookup for StoreImages<'_> {
    fn resolve(&self, name: &str) -> Option<String> {
        let mut resolved = self
            .resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        resolved
            .entry(name.to_owned())
            .or_insert_with(|| self.store.resolve(name).ok().map(|d| d.to_string()))
            .clone()
    }
    fn children(&self, id: &str) -> Vec<String> {
        let children = self.children.get_or_init(|| {
            let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in self.store.records().unwrap_or_default() {
                if let Some(p) = &r.parent {
                    children
                        .entry(p.to_string())
                        .or_default()
                        .push(r.id.to_string());
                }
            }
            children
        });
        children.get(id).cloned().unwrap_or_default()
    }
}

impl ContainerService<'_> {
    /// The containers `opts` selects, newest first (see [`filter`]).
    pub fn list_with(&self, opts: &ListOptions) -> Result<Vec<ListedContainer>, ContainerError> {
        let images = StoreImages::new(self.images);
        let selected = filter::select(self.containers.list(), opts, &images)?;
        Ok(selected
            .into_iter()
            .map(|c| {
                let image = if images.resolve(&c.image_ref).as_deref() == Some(c.image.as_str()) {
                    c.image_ref.clone()
                } else {
                    c.image.clone()
                };
                let size = opts.size.then(|| self.size_of(&c));
                ListedContainer {
                    container: c,
                    image,
                    size,
                }
            })
            .collect())
    }

    /// A container (by ID, name or prefix) with its merged config,
    /// storage and, with `size`, its sizes.
    pub fn details(
        &self,
        id_or_name: &str,
        size: bool,
    ) -> Result<ContainerDetails, ContainerError> {
        let c = self.containers.get(id_or_name)?;
        let image_config = self
            .images
            .inspect(&c.image)
            .ok()
            .and_then(|d| d.config.config);
        let (entrypoint, cmd) = match (&c.options.entrypoint, &image_config) {
            // `--entrypoint ""` shows as none, as in docker.
            (Some(ep), _) => (
                Some(ep.clone()).filter(|e| !e.is_empty()),
                c.options.cmd.clone(),
            ),
            (None, Some(ic)) => (
                ic.entrypoint.clone(),
                c.options.cmd.clone().or_else(|| ic.cmd.clone()),
            ),
            // The image is gone: what ran is all there is to show.
            (None, None) => (
                None,
                c.options
                    .cmd
                    .clone()
                    .or_else(|| Some(c.process.args.clone())),
            ),
        };
        let storage = self.storage_of(&c);
        let size = size.then(|| self.size_of(&c));
        let log_path = self.containers.log_path(&c.id);
        let exec_ids = self.containers.exec_ids(&c.id);
        Ok(ContainerDetails {
            exec_ids,
            container: c,
            entrypoint,
            cmd,
            storage,
            size,
            log_path,
        })
    }

    pub(super) fn storage_of(&self, c: &Container) -> Option<StorageInfo> {
        let mounts = self.images.snapshots().mounts(&c.id).ok()?;
        let merged_dir = self.containers.inner.rootfs_dir(&c.id);
        let m = mounts.first()?;
        if m.kind != "overlay" {
            return Some(StorageInfo {
                lower_dirs: Vec::new(),
                upper_dir: PathBuf::from(&m.source),
                work_dir: None,
                merged_dir,
            });
        }
        let opt = |key: &str| {
            m.options
                .iter()
                .find_map(|o| o.strip_prefix(key))
                .map(str::to_owned)
        };
        Some(StorageInfo {
            lower_dirs: opt("lowerdir=")
                .map(|l| l.split(':').map(PathBuf::from).collect())
                .unwrap_or_default(),
            upper_dir: PathBuf::from(opt("upperdir=")?),
            work_dir: opt("workdir=").map(PathBuf::from),
            merged_dir,
        })
    }

    fn size_of(&self, c: &Container) -> SizeInfo {
        let rw = self
            .images
            .snapshots()
            .upper_dir(&c.id)
            .map(|p| dir_size(&p))
            .unwrap_or(0);
        let image = c
            .image
            .parse()
            .ok()
            .and_then(|id| self.images.record(&id).ok())
            .map(|r| r.size());
        let image = match image {
            Some(n) => n,
            // The image was removed (forced) under the container: its
            // layers are still there, count them.
            None => self
                .storage_of(c)
                .map(|s| s.lower_dirs.iter().map(|d| dir_size(d)).sum())
                .unwrap_or(0),
        };
        SizeInfo {
            rw,
            root_fs: rw + image,
        }
    }
}

/// dockerd's `directory.Size`: the apparent size of every entry under
/// `dir` but directories, each inode once; unreadable parts count 0.
pub fn dir_size(dir: &Path) -> u64 {
    let mut seen = BTreeSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
                continue;
            }
            if meta.len() == 0 || !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_size_counts_files_and_links_once() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs_err::create_dir_all(d.join("a/b")).unwrap();
        fs_err::write(d.join("a/b/f"), vec![0u8; 1000]).unwrap();
        fs_err::write(d.join("g"), b"12345").unwrap();
        fs_err::hard_link(d.join("g"), d.join("a/g2")).unwrap();
        std::os::unix::fs::symlink("abc", d.join("l")).unwrap();
        // 1000 + 5 (once) + 3 (the symlink's target length).
        assert_eq!(dir_size(d), 1008);
        assert_eq!(dir_size(&d.join("missing")), 0);
    }
}
