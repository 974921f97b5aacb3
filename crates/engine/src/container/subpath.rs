//! `--mount type=volume,src=VOL,dst=/path,volume-subpath=SUB` (API 1.45,
//! `VolumeOptions.Subpath`): a sub-directory (or file) of a volume
//! mounted instead of the whole volume, as dockerd's `safepath.Join`.
//!
//! The subpath is checked lexically at create (relative, no `..` that
//! leaves the volume: Go's `filepath.IsLocal`). At start (and when
//! `docker cp` needs the mount of a stopped container), it is opened
//! inside the mounted volume with `openat2(RESOLVE_BENEATH)`: the kernel
//! follows symlinks only while they stay inside the volume, atomically,
//! so a symlink planted in the volume (by a container that has it
//! mounted read-write) cannot send the mount to a host path, before or
//! during the lookup (the CVE-2021-30465 class). The descriptor it gives
//! is bound, through `/proc/thread-self/fd`, on a private mount point
//! `<exec-root>/containers/<id>/subpaths/<n>` (`n`: the mount point's
//! index in the container), and that mount point is what the runtime
//! binds into the container: the path string is never looked up again.
//! The private mounts go when the container's volumes are unmounted.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};

use super::ContainerError;
use super::mounts::{MountKind, MountPoint};

/// Where the private subpath mounts of the container whose exec
/// directory is `exec_dir` are.
fn dir(exec_dir: &Path) -> PathBuf {
    exec_dir.join("subpaths")
}

/// The host path the runtime (or `docker cp`) binds for mount point
/// number `index` of a container: its subpath's private mount, or the
/// volume's or bind's source.
pub(crate) fn source(exec_dir: &Path, index: usize, p: &MountPoint) -> PathBuf {
    if of(p).is_some() {
        dir(exec_dir).join(index.to_string())
    } else if p.kind == MountKind::Image {
        super::image_mounts::target(exec_dir, index)
    } else {
        PathBuf::from(&p.source)
    }
}

/// The container's exec directory from its root file system's mount
/// point (`<exec-dir>/rootfs`, see `Inner::rootfs_dir`).
pub(crate) fn exec_dir_of_rootfs(rootfs: &Path) -> &Path {
    rootfs.parent().unwrap_or(rootfs)
}

/// The subpath a volume or image mount point asks for, if any.
pub(crate) fn of(p: &MountPoint) -> Option<&str> {
    let sub = match p.kind {
        MountKind::Volume => p.spec.volume_options.as_ref().map(|v| v.subpath.as_str()),
        MountKind::Image => p.spec.image_options.as_ref().map(|i| i.subpath.as_str()),
        MountKind::Bind | MountKind::Tmpfs => None,
    };
    sub.filter(|s| !s.is_empty())
}

/// Go's `filepath.IsLocal` on Unix: relative, not empty, and no `..`
/// that climbs above where it starts (`a/../b` is fine, `a/../../b` not).
pub(crate) fn is_local(subpath: &str) -> bool {
    if subpath.is_empty() || subpath.starts_with('/') {
        return false;
    }
    let mut depth: usize = 0;
    for part in subpath.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// Opens `subpath` inside the volume directory `volume` and binds what
/// it names on `target` (created as an empty directory or file to match).
/// The errors read as dockerd's `safepath` ones.
pub(crate) fn mount(volume: &Path, subpath: &str, target: &Path) -> Result<(), ContainerError> {
    let base = nix::fcntl::open(
        volume,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| not_accessible(volume, &format!("open {}: {}", volume.display(), go(e))))?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut tries = 0;
    let opened = loop {
        // EAGAIN: a rename raced with the lookup; the kernel asks to retry.
        match nix::fcntl::openat2(base.as_fd(), subpath, how) {
            Err(Errno::EAGAIN) if tries < 32 => tries += 1,
            other => break other,
        }
    };
    let joined = PathBuf::from(super::mounts::clean(&format!(
        "{}/{subpath}",
        volume.display()
    )));
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::EXDEV) => {
            return Err(ContainerError::InvalidArgument {
                message: format!(
                    "path concatenation escapes the base directory, base: {}, subpath: {subpath}",
                    volume.display()
                ),
            });
        }
        Err(e @ (Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP)) => {
            let missing = first_missing(&base, volume, subpath).unwrap_or_else(|| joined.clone());
            return Err(not_accessible(
                &joined,
                &format!("lstat {}: {}", missing.display(), go(e)),
            ));
        }
        Err(e) => {
            return Err(ContainerError::Internal {
                message: format!("openat2 {subpath}: {}", go(e)),
            });
        }
    };
    let st = nix::sys::stat::fstat(&fd).map_err(|e| ContainerError::Internal {
        message: format!("stat {}: {}", joined.display(), go(e)),
    })?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
    let io = |path: &Path, e: std::io::Error| ContainerError::Io {
        path: path.to_owned(),
        source: e,
    };
    if let Some(parent) = target.parent() {
        fs_err::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    let made = if is_dir {
        fs_err::create_dir(target)
    } else {
        fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)
            .map(drop)
    };
    match made {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(target, e)),
    }
    let from = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    nix::mount::mount(
        Some(from.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        remove(target);
        ContainerError::Internal {
            message: format!(
                "failed to mount resolved path {}: {}",
                joined.display(),
                go(e)
            ),
        }
    })
}

/// Unmounts and removes every private subpath mount of the container
/// whose exec directory is `exec_dir`, then its image mounts (which
/// subpaths may point into). What is not there is no error.
pub(crate) fn unmount_all(exec_dir: &Path) {
    unmount_dir(&dir(exec_dir));
    unmount_dir(&exec_dir.join("images"));
}

fn unmount_dir(dir: &Path) {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Bounded: one mount per entry, more only if someone stacked them.
        for _ in 0..8 {
            if nix::mount::umount2(&path, MntFlags::MNT_DETACH).is_err() {
                break;
            }
        }
        remove(&path);
    }
    let _ = fs_err::remove_dir(dir);
}

fn remove(path: &Path) {
    let _ = fs_err::remove_dir(path).or_else(|_| fs_err::remove_file(path));
}

fn not_accessible(path: &Path, cause: &str) -> ContainerError {
    ContainerError::NotFoundMessage {
        message: format!("cannot access path {}: {cause}", path.display()),
    }
}

/// The first prefix of `subpath` that is not in the volume (what Go's
/// `filepath.EvalSymlinks` names in its `lstat` error).
fn first_missing(base: &impl AsFd, volume: &Path, subpath: &str) -> Option<PathBuf> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut prefix = PathBuf::new();
    for part in subpath.split('/').filter(|p| !p.is_empty() && *p != ".") {
        prefix.push(part);
        if nix::fcntl::openat2(base.as_fd(), &prefix, how).is_err() {
            return Some(volume.join(&prefix));
        }
    }
    None
}

/// An errno as Go prints it (`no such file or directory`).
fn go(e: Errno) -> String {
    let d = e.desc();
    let mut c = d.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => d.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_as_go() {
        for ok in ["a", "a/b", "a/../b", ".", "a/..", "./a", "a//b"] {
            assert!(is_local(ok), "{ok}");
        }
        for bad in ["", "/a", "..", "../a", "a/../..", "a/../../b"] {
            assert!(!is_local(bad), "{bad}");
        }
    }
}
