//! Resolving and creating paths *inside* the container rootfs.
//!
//! A container image is hostile input: `/etc -> /../../../host/etc` style
//! symlinks, or a symlink swapped in between our check and our `mount(2)`
//! (CVE-2021-30465, runc's "mount destination symlink-exchange"), must never
//! make us create or mount anything outside the rootfs. So:
//!
//! - every lookup goes through `openat2(rootfd, path, RESOLVE_IN_ROOT |
//!   RESOLVE_NO_MAGICLINKS)`: the kernel resolves symlinks and `..` as if
//!   the rootfs were `/`, atomically;
//! - we mount onto `/proc/self/fd/<fd>` of the `O_PATH` descriptor we got,
//!   never onto a path string that could be re-resolved differently;
//! - missing components are created one at a time with `mkdirat`/`openat`
//!   relative to a descriptor of their (already safely resolved) parent, with
//!   `O_NOFOLLOW`/`O_EXCL`; a dangling symlink on the way is followed by
//!   re-resolving its target inside the root, as runc's `MkdirAllInRoot`
//!   (and securejoin before it) does.
//!
//! `openat2(2)` needs Linux 5.6; berth does not support older kernels.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{Mode, mkdirat};

/// What to create when the path is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A directory (`mkdir -p`), mode 0755.
    Dir,
    /// An empty regular file, for bind mounts of files and device binds;
    /// parents are created as directories.
    File,
}

/// Bounds the work done for one path: every created component and every
/// followed dangling symlink costs one round (the kernel's own limit for
/// symlinks is 40).
const MAX_ROUNDS: usize = 255;

/// Turns a container path into a path relative to the rootfs descriptor:
/// leading `/`, empty and `.` components are dropped, `..` is kept (the
/// kernel clamps it at the root under `RESOLVE_IN_ROOT`). The root itself is
/// `.`.
pub(super) fn relative_in_root(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => out.push(".."),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Lexically cleans a container path to an absolute one (`/a/./b/../c` ->
/// `/a/c`, `..` at the root stays at the root), like Go's
/// `filepath.Clean("/" + p)` that runc uses to compare destinations.
pub(super) fn clean_absolute(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut out = PathBuf::from("/");
    out.extend(parts);
    out
}

/// `/proc/self/fd/<n>`: the magic link through which `mount(2)` acts on
/// exactly the inode we resolved.
pub(super) fn proc_fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens `path` inside the root with `flags` (`O_CLOEXEC` is added). A
/// trailing symlink is followed, inside the root.
pub(super) fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
) -> nix::Result<OwnedFd> {
    let rel = relative_in_root(path);
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    // openat2 returns EAGAIN under RESOLVE_IN_ROOT when a concurrent rename
    // could have let `..` escape; the kernel asks us to retry.
    let mut tries = 0;
    loop {
        match openat2(root, &rel, how) {
            Err(Errno::EAGAIN) if tries < 32 => tries += 1,
            other => return other,
        }
    }
}

/// `O_PATH` descriptor for `path` inside the root.
pub(super) fn open_path(root: BorrowedFd<'_>, path: &Path) -> nix::Result<OwnedFd> {
    open_in_root(root, path, OFlag::O_PATH)
}

/// Resolves `path` inside the root, creating what is missing (directories
/// for every component, and `kind` for the last one), and returns an
/// `O_PATH` descriptor of the result. An existing object of another kind is
/// returned as is; `mount(2)` reports the mismatch.
pub(super) fn ensure_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: Kind,
    file_mode: Mode,
) -> nix::Result<OwnedFd> {
    let mut pending = relative_in_root(path);
    for _ in 0..MAX_ROUNDS {
        match open_path(root, &pending) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let comps: Vec<OsString> = pending
            .components()
            .map(|c| c.as_os_str().to_owned())
            .collect();
        // Find the first missing component; its parent resolved fine.
        let mut parent = open_path(root, Path::new("."))?;
        let mut missing = None;
        for i in 0..comps.len() {
            let prefix: PathBuf = comps[..=i].iter().collect();
            match open_path(root, &prefix) {
                Ok(fd) => parent = fd,
                Err(Errno::ENOENT) => {
                    missing = Some(i);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        // The whole path resolved on the second look: someone created it.
        let Some(i) = missing else { continue };
        let name = &comps[i];
        let last = i + 1 == comps.len();
        let created = if last && kind == Kind::File {
            openat(
                parent.as_fd(),
                name.as_os_str(),
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_WRONLY
                    | OFlag::O_CLOEXEC,
                file_mode,
            )
            .map(drop)
        } else {
            mkdirat(
                parent.as_fd(),
                name.as_os_str(),
                Mode::from_bits_truncate(0o755),
            )
        };
        match created {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                // Something is there but does not resolve: a dangling
                // symlink (or a race). Follow it by hand, inside the root:
                // `openat2` will resolve `prefix/target/rest` the same way
                // the kernel would have resolved the link.
                let target = match readlinkat(parent.as_fd(), name.as_os_str()) {
                    Ok(t) => PathBuf::from(t),
                    // Not a symlink: it appeared concurrently; look again.
                    Err(Errno::EINVAL) => continue,
                    Err(e) => return Err(e),
                };
                let mut next: PathBuf = if target.is_absolute() {
                    relative_in_root(&target)
                } else {
                    let mut p: PathBuf = comps[..i].iter().collect();
                    p.push(target);
                    p
                };
                next.extend(&comps[i + 1..]);
                pending = relative_in_root(&next);
            }
            Err(e) => return Err(e),
        }
    }
    Err(Errno::ELOOP)
}

/// Resolves the parent of `path` inside the root (creating directories as
/// needed) and returns it with the final name, for `mknodat`/`symlinkat`.
pub(super) fn ensure_parent_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
) -> nix::Result<(OwnedFd, OsString)> {
    let clean = clean_absolute(path);
    let name = clean.file_name().ok_or(Errno::EINVAL)?.to_owned();
    let parent = clean.parent().unwrap_or(Path::new("/"));
    let dir = ensure_in_root(root, parent, Kind::Dir, Mode::from_bits_truncate(0o755))?;
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative_in_root(Path::new("/")), Path::new("."));
        assert_eq!(relative_in_root(Path::new("")), Path::new("."));
        assert_eq!(relative_in_root(Path::new("/proc")), Path::new("proc"));
        assert_eq!(relative_in_root(Path::new("//a/./b/")), Path::new("a/b"));
        assert_eq!(relative_in_root(Path::new("/../etc")), Path::new("../etc"));
        assert_eq!(relative_in_root(Path::new("dev/pts")), Path::new("dev/pts"));
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean_absolute(Path::new("/dev/")), Path::new("/dev"));
        assert_eq!(clean_absolute(Path::new("dev")), Path::new("/dev"));
        assert_eq!(clean_absolute(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(clean_absolute(Path::new("/../../proc")), Path::new("/proc"));
        assert_eq!(clean_absolute(Path::new("")), Path::new("/"));
    }

    #[test]
    fn proc_fd_paths() {
        let f = tempfile::tempfile().expect("tempfile");
        let p = proc_fd_path(&f);
        assert!(p.starts_with("/proc/self/fd/"));
    }

    #[test]
    fn creates_inside_root_through_dangling_symlink() {
        let root = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let target = outside.path().join("escaped");
        // An absolute symlink that would leave the root if followed on the host.
        std::os::unix::fs::symlink(
            format!("/../../..{}", target.display()),
            root.path().join("link"),
        )
        .expect("symlink");
        let rootfd = nix::fcntl::open(
            root.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .expect("open root");
        let fd = ensure_in_root(
            rootfd.as_fd(),
            Path::new("/link/sub"),
            Kind::Dir,
            Mode::empty(),
        )
        .expect("ensure");
        drop(fd);
        assert!(!target.exists(), "created outside the root");
        let inside = root.path().join(relative_in_root(&target)).join("sub");
        assert!(inside.is_dir(), "{} missing", inside.display());
    }

    #[test]
    fn creates_file_and_parents() {
        let root = tempfile::tempdir().expect("tempdir");
        let rootfd = nix::fcntl::open(
            root.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .expect("open root");
        ensure_in_root(
            rootfd.as_fd(),
            Path::new("/a/b/file"),
            Kind::File,
            Mode::from_bits_truncate(0o644),
        )
        .expect("ensure");
        assert!(root.path().join("a/b/file").is_file());
        // Existing paths are returned as they are.
        ensure_in_root(
            rootfd.as_fd(),
            Path::new("/a/b/file"),
            Kind::Dir,
            Mode::empty(),
        )
        .expect("ensure existing");
        let (dir, name) =
            ensure_parent_in_root(rootfd.as_fd(), Path::new("/dev/x/null")).expect("parent");
        assert_eq!(name, "null");
        drop(dir);
        assert!(root.path().join("dev/x").is_dir());
        assert_eq!(
            ensure_parent_in_root(rootfd.as_fd(), Path::new("/")).err(),
            Some(Errno::EINVAL)
        );
    }

    #[test]
    fn dotdot_symlink_loop_is_bounded() {
        let root = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("b", root.path().join("a")).expect("symlink");
        std::os::unix::fs::symlink("a", root.path().join("b")).expect("symlink");
        let rootfd = nix::fcntl::open(
            root.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .expect("open root");
        assert!(
            ensure_in_root(rootfd.as_fd(), Path::new("/a/x"), Kind::Dir, Mode::empty()).is_err()
        );
    }
}
