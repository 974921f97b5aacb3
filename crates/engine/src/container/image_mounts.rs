//! `--mount type=image,source=IMAGE,target=/path[,image-subpath=SUB]`
//! (API 1.48, `Mount.Type` `image`): an image's root file system, mounted
//! read-only in a container.
//!
//! At create the image is looked up and its ID kept in the mount point's
//! `name` (so `docker rmi` of it is a conflict while the container
//! exists, as with dockerd). At start (and when `docker cp` mounts a
//! stopped container) the image's layers are mounted on a private mount
//! point, `<exec-root>/containers/<id>/images/<n>`: an overlay of the
//! layers as lower directories only, or a read-only bind of the one layer
//! of a single-layer image; `image-subpath` is then resolved inside it as
//! a volume's subpath is (see [`super::subpath`]). The runtime binds that
//! read-only at the target. The private mounts go with the container's
//! volumes (`Inner::unmount_volumes`); nothing is stored for them.

use std::path::{Path, PathBuf};

use berth_image::ImageStore;
use berth_image::snapshot::Mount;

use super::ContainerError;
use super::mounts::{MountKind, MountPoint, Planned};
use super::subpath;

/// The private mount point of image mount number `index`.
pub(crate) fn target(exec_dir: &Path, index: usize) -> PathBuf {
    exec_dir.join("images").join(index.to_string())
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
    exec_dir: &Path,
    points: &[MountPoint],
) -> Result<(), ContainerError> {
    subpath::unmount_all(exec_dir);
    for (index, p) in points.iter().enumerate() {
        if p.kind != MountKind::Image {
            continue;
        }
        if let Err(e) = mount_one(images, exec_dir, index, p) {
            subpath::unmount_all(exec_dir);
            return Err(e);
        }
    }
    Ok(())
}

fn mount_one(
    images: &ImageStore,
    exec_dir: &Path,
    index: usize,
    p: &MountPoint,
) -> Result<(), ContainerError> {
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
    let target = target(exec_dir, index);
    fs_err::create_dir_all(&target).map_err(|e| ContainerError::Io {
        path: target.clone(),
        source: e,
    })?;
    let mount = match dirs.as_slice() {
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
    };
    if let Some(m) = mount {
        m.mount(&target)?;
    }
    if let Some(sub) = subpath::of(p) {
        subpath::mount(&target, sub, &subpath::source(exec_dir, index, p))?;
    }
    Ok(())
}
