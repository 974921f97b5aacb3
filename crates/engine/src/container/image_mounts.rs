//! `--mount type=image,source=IMAGE,target=/path[,image-subpath=SUB]`
//! (API 1.48, `Mount.Type` `image`): an image's root file system, mounted
//! read-only in a container.
//!
//! At create the image is looked up and its ID kept in the mount point's
//! `name` (so removing the image's last tag by name needs `-f` while the
//! container exists, as with dockerd; by ID it goes without), and its
//! layers are pinned by a read-only view snapshot, `<id>-image-<n>`, on
//! the image's top layer ([`pin`]; [`pin_missing`] at start-up for
//! containers created before views existed): removing the image leaves the
//! layers the view stands on (as dockerd's read-only layer per image mount
//! keeps them), and the container still starts. The views go with the container's writable
//! snapshot ([`remove_snapshots`]), and with them the layers of an image
//! removed meanwhile.
//!
//! At start (and when `docker cp` mounts a stopped container) the view is
//! mounted on a private mount point,
//! `<exec-root>/containers/<id>/images/<n>`: an overlay of the layers as
//! lower directories only, or a read-only bind of the one layer of a
//! single-layer image; `image-subpath` is then resolved inside it as a
//! volume's subpath is (see [`super::subpath`]). The runtime binds that
//! read-only at the target. The private mounts go with the container's
//! volumes (`Inner::unmount_volumes`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_image::snapshot::{Kind, Mount, SnapshotError, chain_ids};
use berth_image::{ErrorClass, ImageStore};

use super::ContainerError;
use super::mounts::{MountKind, MountPoint, Planned};
use super::subpath;

/// The private mount point of image mount number `index`.
pub(crate) fn target(exec_dir: &Path, index: usize) -> PathBuf {
    exec_dir.join("images").join(index.to_string())
}

/// The key of the view that pins the layers of image mount number
/// `index` of container `id`.
pub(crate) fn view_key(id: &str, index: usize) -> String {
    format!("{id}-image-{index}")
}

/// The container whose view `key` is, if it is one.
pub(crate) fn view_owner(key: &str) -> Option<&str> {
    let (id, n) = key.rsplit_once("-image-")?;
    n.parse::<usize>().ok().map(|_| id)
}

/// Pins the layers of every image mount of container `id` (`points`, as
/// stored) with a view on the image's top layer. An image without layers
/// has nothing to pin. On failure nothing stays pinned.
pub(crate) fn pin(
    images: &ImageStore,
    id: &str,
    points: &[MountPoint],
) -> Result<(), ContainerError> {
    let mut done = Vec::new();
    for (index, p) in points.iter().enumerate() {
        if p.kind != MountKind::Image {
            continue;
        }
        let pinned = images
            .inspect(&p.name)
            .map_err(|e| lookup_error(&e))
            .and_then(|details| match details.record.top_chain_id() {
                Some(top) => {
                    let key = view_key(id, index);
                    images
                        .snapshots()
                        .view(&key, &top.to_string())
                        .map(|_| Some(key))
                        .map_err(ContainerError::image)
                }
                None => Ok(None),
            });
        match pinned {
            Ok(key) => done.extend(key),
            Err(e) => {
                for key in &done {
                    let _ = images.snapshots().remove(key);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Pins the image mounts of a stored container that have no view (a
/// container created before views pinned image mounts), so that a later
/// `rmi -f` of the image cannot take its layers. `keys` are the
/// snapshots there are. An image that is gone already is logged: the
/// container cannot start until an image with that ID is back. Call at
/// start-up.
pub(crate) fn pin_missing(
    images: &ImageStore,
    id: &str,
    name: &str,
    points: &[MountPoint],
    keys: &BTreeSet<String>,
) {
    for (index, p) in points.iter().enumerate() {
        let key = view_key(id, index);
        if p.kind != MountKind::Image || keys.contains(&key) {
            continue;
        }
        let image = if p.name.is_empty() {
            &p.source
        } else {
            &p.name
        };
        let top = match images.inspect(image) {
            Ok(details) => details.record.top_chain_id(),
            Err(e) if e.class() == ErrorClass::NotFound => {
                tracing::warn!(
                    container = id,
                    name,
                    image,
                    target = p.destination.as_str(),
                    "the image a container mounts is gone; the container cannot start until an image with this ID is loaded again"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(container = id, name, image, error = %e, "cannot look up the image a container mounts");
                continue;
            }
        };
        // An image without layers has nothing to pin.
        let Some(top) = top else { continue };
        match images.snapshots().view(&key, &top.to_string()) {
            Ok(_) => tracing::info!(
                container = id,
                name,
                image,
                "pinned the layers of an image the container mounts"
            ),
            Err(e) => {
                tracing::warn!(container = id, name, image, error = %e, "cannot pin the layers of an image the container mounts")
            }
        }
    }
}

/// What [`remove_snapshots`] did: the result for each container's
/// writable snapshot, in order, and the layers nothing needs any more
/// (those of images removed while these containers kept them), for
/// [`release`].
pub(crate) struct Removed {
    pub(crate) results: Vec<Result<(), SnapshotError>>,
    pub(crate) unused: Vec<String>,
}

/// Removes the snapshots of the containers `ids` (each one's writable
/// snapshot, keyed by its ID, and its image mounts' views) with one
/// metadata write (a view that cannot go is logged). Takes no lock of the
/// image store, so the reaper can call it while `rmi` waits for it.
pub(crate) fn remove_snapshots(
    images: &ImageStore,
    ids: &[String],
) -> Result<Removed, SnapshotError> {
    let snapshots = images.snapshots();
    let all = snapshots.list();
    let mut keys: Vec<String> = ids.to_vec();
    keys.extend(
        all.iter()
            .filter(|(k, i)| {
                i.kind == Kind::View && view_owner(k).is_some_and(|o| ids.iter().any(|id| id == o))
            })
            .map(|(k, _)| k.clone()),
    );
    let mut parents: Vec<String> = all
        .iter()
        .filter(|(k, _)| keys.contains(k))
        .filter_map(|(_, i)| i.parent.clone())
        .collect();
    parents.sort();
    parents.dedup();
    let mut results = snapshots.remove_many(&keys)?;
    for (key, r) in keys.iter().zip(&results).skip(ids.len()) {
        if let Err(e) = r
            && e.class() != ErrorClass::NotFound
        {
            tracing::warn!(key, error = %e, "cannot remove an image mount's view");
        }
    }
    results.truncate(ids.len());
    // Layers nothing stands on any more and no image lists: rare (an
    // image removed with `-f` while in use), so the records are read only
    // when a layer is left alone.
    let after = snapshots.list();
    parents.retain(|p| {
        !after
            .iter()
            .any(|(_, i)| i.parent.as_deref() == Some(p.as_str()))
    });
    if !parents.is_empty() {
        match images.records() {
            Ok(records) => {
                let used: BTreeSet<String> = records
                    .iter()
                    .flat_map(|r| chain_ids(&r.diff_ids))
                    .map(|c| c.to_string())
                    .collect();
                parents.retain(|p| !used.contains(p));
            }
            // The snapshots are gone; unused layers go at the next start.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the image records to find unused layers");
                parents.clear();
            }
        }
    }
    Ok(Removed {
        results,
        unused: parents,
    })
}

/// Removes the layers [`remove_snapshots`] found unused (under the image
/// store's operation lock: never call it from a thread `rmi` waits for).
pub(crate) fn release(images: &ImageStore, unused: &[String]) {
    if unused.is_empty() {
        return;
    }
    if let Err(e) = images.release_layers(unused) {
        tracing::warn!(error = %e, "cannot remove the layers of removed images");
    }
}

/// [`remove_snapshots`] and [`release`] of one container, a missing
/// snapshot being no error.
pub(crate) fn remove_snapshots_of(images: &ImageStore, id: &str) -> Result<(), SnapshotError> {
    let mut removed = remove_snapshots(images, &[id.to_owned()])?;
    release(images, &removed.unused);
    match removed.results.pop() {
        Some(Err(e)) if e.class() != ErrorClass::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Looks the images of the planned image mounts up (`No such image: X`)
/// and records their IDs.
pub(crate) fn resolve(images: &ImageStore, planned: &mut [Planned]) -> Result<(), ContainerError> {
    for p in planned
        .iter_mut()
        .filter(|p| p.point.kind == MountKind::Image)
    {
        // A bad parameter (400), not a 404: clients take a 404 from a
        // create for the container's image missing and pull that.
        let details = images
            .inspect(&p.point.source)
            .map_err(|e| match e.class() {
                berth_image::ErrorClass::NotFound => ContainerError::InvalidArgument {
                    message: e.to_string(),
                },
                _ => lookup_error(&e),
            })?;
        p.point.name = details.record.id.to_string();
    }
    Ok(())
}

fn lookup_error(e: &berth_image::Error) -> ContainerError {
    match e.class() {
        berth_image::ErrorClass::NotFound => ContainerError::NotFoundMessage {
            message: e.to_string(),
        },
        _ => ContainerError::Internal {
            message: e.to_string(),
        },
    }
}

/// Mounts every image mount of `points` on its private mount point (and
/// its subpath). What was mounted before (a daemon that stopped without
/// unmounting) goes first; on failure nothing stays mounted.
pub(crate) fn mount_all(
    images: &ImageStore,
    id: &str,
    exec_dir: &Path,
    points: &[MountPoint],
) -> Result<(), ContainerError> {
    subpath::unmount_all(exec_dir);
    for (index, p) in points.iter().enumerate() {
        if p.kind != MountKind::Image {
            continue;
        }
        if let Err(e) = mount_one(images, id, exec_dir, index, p) {
            subpath::unmount_all(exec_dir);
            return Err(e);
        }
    }
    Ok(())
}

fn mount_one(
    images: &ImageStore,
    id: &str,
    exec_dir: &Path,
    index: usize,
    p: &MountPoint,
) -> Result<(), ContainerError> {
    let target = target(exec_dir, index);
    let mount = match images.snapshots().mounts(&view_key(id, index)) {
        Ok(mut m) => m.pop(),
        // An image without layers, or a container created before views
        // pinned image mounts: from the image.
        Err(e) if e.class() == ErrorClass::NotFound => from_image(images, p)?,
        Err(e) => return Err(ContainerError::image(e)),
    };
    fs_err::create_dir_all(&target).map_err(|e| ContainerError::Io {
        path: target.clone(),
        source: e,
    })?;
    if let Some(m) = mount {
        m.mount(&target)?;
    }
    if let Some(sub) = subpath::of(p) {
        subpath::mount(&target, sub, &subpath::source(exec_dir, index, p))?;
    }
    Ok(())
}

/// How to mount the layers of the image of `p` (`None`: it has none).
fn from_image(images: &ImageStore, p: &MountPoint) -> Result<Option<Mount>, ContainerError> {
    let details = images.inspect(&p.name).map_err(|e| lookup_error(&e))?;
    let snapshots = images.snapshots();
    // The layers, top first (overlay's `lowerdir` order).
    let mut dirs: Vec<String> = Vec::new();
    let mut next = details.record.top_chain_id().map(|c| c.to_string());
    while let Some(key) = next {
        let info = snapshots.stat(&key).map_err(ContainerError::image)?;
        dirs.push(snapshots.fs_dir(&info).to_string_lossy().into_owned());
        next = info.parent;
    }
    Ok(match dirs.as_slice() {
        // An image without layers: the empty directory itself.
        [] => None,
        // overlayfs needs two lower layers when there is no upper one.
        [one] => Some(Mount {
            kind: "bind".to_owned(),
            source: one.clone(),
            options: vec!["rbind".to_owned(), "ro".to_owned()],
        }),
        many => Some(Mount {
            kind: "overlay".to_owned(),
            source: "overlay".to_owned(),
            options: vec![format!("lowerdir={}", many.join(":")), "ro".to_owned()],
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_mount(name: &str) -> MountPoint {
        serde_json::from_value(serde_json::json!({
            "Type": "image",
            "Source": "hello-world",
            "Destination": "/i",
            "Rw": false,
            "Name": name,
        }))
        .unwrap()
    }

    fn keys(images: &ImageStore) -> BTreeSet<String> {
        images
            .snapshots()
            .list()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    /// A container created before views pinned image mounts gets its view
    /// at start-up; a mount whose image is gone is left alone (logged).
    #[test]
    fn pin_missing_pins_what_has_no_view_and_skips_images_that_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let service = crate::image::ImageService::open(dir.path()).unwrap();
        let images = service.store();
        let hello = images.inspect("hello-world").unwrap().record;
        let top = hello.top_chain_id().unwrap().to_string();
        let gone = format!("sha256:{}", "0".repeat(64));
        let points = [image_mount(&hello.id.to_string()), image_mount(&gone)];

        pin_missing(images, "c1", "old", &points, &keys(images));
        let view = images.snapshots().stat("c1-image-0").unwrap();
        assert_eq!(view.kind, Kind::View);
        assert_eq!(view.parent.as_deref(), Some(top.as_str()));
        assert!(images.snapshots().stat("c1-image-1").is_err());
        // Pinned already: nothing changes.
        let before = keys(images);
        pin_missing(images, "c1", "old", &points, &before);
        assert_eq!(keys(images), before);

        // The view keeps the layer through a forced rmi.
        images
            .delete("hello-world", true, berth_image::store::ImageUsers::none)
            .unwrap();
        assert!(images.snapshots().stat(&top).is_ok());
    }
}
