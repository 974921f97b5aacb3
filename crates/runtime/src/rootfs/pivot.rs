//! Switching the root: `pivot_root(2)`, or runc's `MS_MOVE` + `chroot`
//! fallback.

use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir};

use super::mounts::read_mountinfo;
use super::{Result, RootfsError, mountinfo};

/// runc `rootfsParentMountPrivate`: `pivot_root(2)` fails with `EINVAL` if
/// the new root's parent mount is shared, so make that mount private. We
/// are in our own mount namespace: this changes our copy only.
pub(super) fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let mounts = read_mountinfo()?;
    let Some(parent) = mountinfo::containing_mount(&mounts, rootfs) else {
        return Ok(());
    };
    if !parent.is_shared() {
        return Ok(());
    }
    mount(
        None::<&str>,
        &parent.mount_point,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| {
        RootfsError::step(
            format!(
                "make parent mount {:?} of the rootfs private",
                parent.mount_point
            ),
            e,
        )
    })
}

pub(super) fn pivot_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        return move_root(rootfs);
    }
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old_root = open("/", dir, Mode::empty()).map_err(|e| RootfsError::step("open \"/\"", e))?;
    let new_root = open(rootfs, dir, Mode::empty())
        .map_err(|e| RootfsError::step(format!("open rootfs {rootfs:?}"), e))?;
    fchdir(&new_root).map_err(|e| RootfsError::step(format!("chdir to rootfs {rootfs:?}"), e))?;
    // pivot_root(".", ".") stacks the old root on top of the new one at "/",
    // so no put_old directory is needed inside the image (runc, since
    // 2017; see pivot_root(2) NOTES).
    match nix::unistd::pivot_root(".", ".") {
        Ok(()) => {}
        // The host root is the initramfs (rootfs), which can never be
        // unmounted or pivoted away from.
        Err(Errno::EINVAL) => return move_root(rootfs),
        Err(e) => return Err(RootfsError::step(format!("pivot_root into {rootfs:?}"), e)),
    }
    fchdir(&old_root).map_err(|e| RootfsError::step("chdir to the old root", e))?;
    // The old root must not propagate our unmount to anyone else.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| RootfsError::step("make the old root a slave", e))?;
    // MNT_DETACH: the old root is busy (it is our cwd).
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| RootfsError::step("detach the old root", e))?;
    chdir("/").map_err(|e| RootfsError::step("chdir to \"/\"", e))
}

/// runc `msMoveRoot`: hide the host's procfs and sysfs (the kernel would
/// otherwise let a `--no-pivot` container mount a fresh, unmasked procfs,
/// since a fully visible one exists in the namespace), move the rootfs onto
/// `/`, and chroot into it.
fn move_root(rootfs: &Path) -> Result<()> {
    // Canonical, to compare with mountinfo's mount points.
    let rootfs = &fs_err::canonicalize(rootfs).map_err(|source| RootfsError::Read {
        step: "resolving root.path",
        source,
    })?;
    let mounts = read_mountinfo()?;
    let mut hide: Vec<_> = mounts
        .into_iter()
        .filter(|m| {
            (m.fstype == "proc" || m.fstype == "sysfs") && !m.mount_point.starts_with(rootfs)
        })
        .map(|m| m.mount_point)
        .collect();
    // Deepest first, so a parent is not detached before its children.
    hide.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in hide {
        match mount(
            None::<&str>,
            &p,
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => {}
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(RootfsError::step(format!("make {p:?} a slave"), e)),
        }
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // Not allowed to unmount (user namespace): cover it instead.
            Err(Errno::EINVAL | Errno::EPERM) => {
                mount(
                    Some("tmpfs"),
                    &p,
                    Some("tmpfs"),
                    MsFlags::empty(),
                    None::<&str>,
                )
                .map_err(|e| RootfsError::step(format!("cover {p:?} with a tmpfs"), e))?;
            }
            Err(e) => return Err(RootfsError::step(format!("unmount {p:?}"), e)),
        }
    }
    chdir(rootfs).map_err(|e| RootfsError::step(format!("chdir to rootfs {rootfs:?}"), e))?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(|e| RootfsError::step(format!("move rootfs {rootfs:?} onto \"/\""), e))?;
    chroot(".").map_err(|e| RootfsError::step(format!("chroot into {rootfs:?}"), e))?;
    chdir("/").map_err(|e| RootfsError::step("chdir to \"/\"", e))
}
