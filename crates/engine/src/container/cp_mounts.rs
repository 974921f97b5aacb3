//! `docker cp` through a container's volumes and binds: the archive calls
//! see (and write) what is mounted at a volume's or bind's destination,
//! as dockerd's `containerFSView` does, for running and stopped
//! containers alike.
//!
//! The daemon's own mount table never changes: the calling thread moves
//! to a mount namespace of its own (`unshare(CLONE_NEWNS)`, `/` made
//! `rslave` so nothing propagates back to the host), binds each volume's
//! `_data` and each bind's source on its destination inside the
//! container's root file system, runs the call, and returns to berthd's
//! namespace. The private namespace, and every mount in it, goes away
//! with the last reference to it.
//!
//! Destinations are resolved inside the root with `openat2(RESOLVE_IN_ROOT)`
//! and mounted through `/proc/self/fd`, so a symlink in the container
//! cannot send a mount (or the copy) to a host path. A destination that
//! does not exist yet (a container that never ran) is created inside the
//! root, as dockerd does. tmpfs mounts are not shown (dockerd neither).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use super::ContainerError;
use super::mounts::{MountKind, MountPoint, clean};

/// The mount point at or above container path `path` (lexically), the
/// deepest one: the bind or volume a copy into `path` writes to (an
/// image mount is always read-only).
pub(crate) fn mount_for<'a>(points: &'a [MountPoint], path: &str) -> Option<&'a MountPoint> {
    let path = clean(path);
    points
        .iter()
        .filter(|p| {
            matches!(
                p.kind,
                MountKind::Bind | MountKind::Volume | MountKind::Image
            )
        })
        .filter(|p| {
            let d = p.destination.as_str();
            path == d
                || path
                    .strip_prefix(d)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|p| p.destination.len())
}

/// Runs `f` with the container's binds and volumes mounted on `rootfs` in
/// a mount namespace private to this call (see the module documentation).
/// Without binds or volumes, `f` runs as it is.
pub(crate) fn with_mounts<T>(
    rootfs: &Path,
    points: &[MountPoint],
    f: impl FnOnce() -> Result<T, ContainerError>,
) -> Result<T, ContainerError> {
    let exec_dir = super::subpath::exec_dir_of_rootfs(rootfs);
    // (mount point, what to bind: a subpath's private mount or the source)
    let mut points: Vec<(&MountPoint, PathBuf)> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.kind, MountKind::Bind | MountKind::Volume))
        .map(|(i, p)| (p, super::subpath::source(exec_dir, i, p)))
        .collect();
    if points.is_empty() {
        return f();
    }
    // Parents before what is mounted below them.
    points.sort_by_key(|(p, _)| p.destination.split('/').filter(|c| !c.is_empty()).count());
    let ns = Path::new("/proc/thread-self/ns/mnt");
    let home: OwnedFd = fs_err::File::open(ns)
        .map_err(|e| internal(format!("cannot open {}: {e}", ns.display())))?
        .into();
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| internal(format!("cannot make a mount namespace for the copy: {e}")))?;
    let result = mount_all(rootfs, &points).and_then(|()| f());
    if let Err(e) = nix::sched::setns(&home, CloneFlags::CLONE_NEWNS) {
        // This thread would go on in the private namespace, where mounts
        // berthd makes are invisible to everything else: nothing may run
        // on it again.
        tracing::error!(error = %e, "cannot return to berthd's mount namespace after a copy; aborting");
        std::process::abort();
    }
    result
}

/// The container path `path` names once every symlink in it (the last
/// one too) is followed inside `rootfs`, as dockerd's
/// `filepath.EvalSymlinks` in the container's view: `/link/f` with
/// `/link -> /ro` is `/ro/f`. Call it inside [`with_mounts`], so a
/// symlink into or out of a volume or bind is seen as the container sees
/// it. `None` when the path does not resolve (missing, a loop, or a
/// place outside the root's mount tree).
pub(crate) fn resolve(rootfs: &Path, path: &str) -> Option<String> {
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let rel = clean(&format!("/{path}"));
    let rel = rel.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let fd = nix::fcntl::openat2(root.as_fd(), rel, in_root(OFlag::O_PATH)).ok()?;
    // The kernel's name of what was opened, as this thread sees the mount
    // tree (the copy's private namespace): `<rootfs>/<path in container>`.
    let real = fs_err::read_link(format!("/proc/thread-self/fd/{}", fd.as_raw_fd())).ok()?;
    let real_root = fs_err::read_link(format!("/proc/thread-self/fd/{}", root.as_raw_fd())).ok()?;
    let inside = real.strip_prefix(&real_root).ok()?;
    Some(clean(&format!("/{}", inside.to_string_lossy())))
}

fn internal(message: String) -> ContainerError {
    ContainerError::Internal { message }
}

fn mount_all(rootfs: &Path, points: &[(&MountPoint, PathBuf)]) -> Result<(), ContainerError> {
    let fail = |what: &str, e: Errno| internal(format!("{what}: {}", e.desc()));
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| fail("cannot make the copy's mount namespace a slave", e))?;
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(&format!("open {}", rootfs.display()), e))?;
    for (p, source) in points {
        // A bind source that is not there yet (made at start) has
        // nothing to show.
        let Ok(meta) = fs_err::metadata(source) else {
            continue;
        };
        let target = resolve_or_create(&root, &p.destination, meta.is_dir()).map_err(|e| {
            fail(
                &format!("cannot resolve {} in the container", p.destination),
                e,
            )
        })?;
        let target_path = format!("/proc/self/fd/{}", target.as_raw_fd());
        let mut flags = MsFlags::MS_BIND;
        if !p.non_recursive {
            flags |= MsFlags::MS_REC;
        }
        nix::mount::mount(
            Some(source.as_path()),
            target_path.as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| {
            fail(
                &format!("cannot mount {} on {}", p.source, p.destination),
                e,
            )
        })?;
        if !p.rw {
            // The new mount is on top: reach it through the path again.
            let top = resolve_or_create(&root, &p.destination, meta.is_dir())
                .map_err(|e| fail(&format!("cannot resolve {}", p.destination), e))?;
            let top_path = format!("/proc/self/fd/{}", top.as_raw_fd());
            nix::mount::mount(
                None::<&str>,
                top_path.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .map_err(|e| fail(&format!("cannot make {} read-only", p.destination), e))?;
        }
    }
    Ok(())
}

fn in_root(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// An `O_PATH` descriptor of container path `dest` inside `root`; what is
/// missing of it is made (directories 0755; the last component an empty
/// 0644 file when `dir` is false), each step looked up in the root again.
fn resolve_or_create(root: &OwnedFd, dest: &str, dir: bool) -> Result<OwnedFd, Errno> {
    let rel = dest.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    match nix::fcntl::openat2(root.as_fd(), rel, in_root(OFlag::O_PATH)) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let mut prefix = String::from(".");
    for (i, part) in parts.iter().enumerate() {
        let parent = nix::fcntl::openat2(
            root.as_fd(),
            prefix.as_str(),
            in_root(OFlag::O_RDONLY | OFlag::O_DIRECTORY),
        )?;
        let made = if i + 1 == parts.len() && !dir {
            nix::fcntl::openat(
                parent.as_fd(),
                *part,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop)
        } else {
            nix::sys::stat::mkdirat(parent.as_fd(), *part, Mode::from_bits_truncate(0o755))
        };
        match made {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        prefix.push('/');
        prefix.push_str(part);
    }
    nix::fcntl::openat2(root.as_fd(), rel, in_root(OFlag::O_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(kind: MountKind, dest: &str) -> MountPoint {
        MountPoint {
            kind,
            source: "/src".into(),
            destination: dest.into(),
            rw: true,
            name: String::new(),
            driver: String::new(),
            mode: String::new(),
            propagation: String::new(),
            copy_data: false,
            anonymous: false,
            create_source: false,
            non_recursive: false,
            tmpfs_data: String::new(),
            spec: Default::default(),
        }
    }

    #[test]
    fn the_deepest_bind_or_volume_above_a_path() {
        let points = [
            point(MountKind::Volume, "/data"),
            point(MountKind::Bind, "/data/sub"),
            point(MountKind::Tmpfs, "/data/sub/tmp"),
        ];
        let dest = |p: &str| mount_for(&points, p).map(|m| m.destination.clone());
        assert_eq!(dest("/data").as_deref(), Some("/data"));
        assert_eq!(dest("/data/x/../f").as_deref(), Some("/data"));
        assert_eq!(dest("/data/sub/tmp/f").as_deref(), Some("/data/sub"));
        assert_eq!(dest("/database"), None);
        assert_eq!(dest("/"), None);
    }
}
