//! Network namespaces: created by the daemon without forking, bind-mounted
//! under the exec root and passed to the runtime by path.
//!
//! A namespace is made on a short-lived thread: `unshare(CLONE_NEWNET)`
//! moves only that thread into a new namespace, `/proc/thread-self/ns/net`
//! is bind-mounted onto the given file (which keeps the namespace alive),
//! and the thread ends. Work inside a namespace ([`run_in`]) happens on a
//! thread that `setns()`'d into it; sockets opened there (a netlink socket,
//! the DNS server's) stay in that namespace whichever thread uses them.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// What went wrong with a network namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("cannot create the network namespace file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a network namespace: {0}")]
    Unshare(#[source] nix::Error),
    #[error("cannot bind-mount the new network namespace onto {path}: {source}")]
    Mount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot unmount the network namespace at {path}: {source}")]
    Unmount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot open the network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot enter the network namespace {path}: {source}")]
    Enter {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("the thread working in the network namespace {path} panicked")]
    Panicked { path: PathBuf },
}

/// Creates a new network namespace and pins it at `path` (a file that must
/// not exist yet; its directory must). On failure nothing is left behind.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    create_then(path, || ())
}

/// [`create`], then runs `f` inside the new namespace on the thread that
/// made it (one thread instead of two when the caller also needs to work
/// inside, e.g. to open a netlink socket there); `f`'s result. The
/// namespace stays if `f` fails; the caller removes it.
pub fn create_then<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| NetnsError::File {
            path: path.to_owned(),
            source,
        })?;
    let result = std::thread::scope(|s| {
        s.spawn(|| -> Result<T, NetnsError> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(NetnsError::Unshare)?;
            nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|source| NetnsError::Mount {
                path: path.to_owned(),
                source,
            })?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetnsError::Panicked {
                path: path.to_owned(),
            })
        })
    });
    if result.is_err() {
        // Unpins it too if `f` panicked after the mount.
        let _ = remove(path);
    }
    result
}

/// Unpins the namespace at `path` and removes the file. The namespace
/// itself ends when no process is left in it. A missing file is not an
/// error (removal is repeated after crashes).
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    if !path.exists() {
        return Ok(());
    }
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a file left by an interrupted create).
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(source) => {
            return Err(NetnsError::Unmount {
                path: path.to_owned(),
                source,
            });
        }
    }
    match fs_err::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(NetnsError::File {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Whether `path` is a pinned network namespace (a bind mount of one).
pub fn is_netns(path: &Path) -> bool {
    // nsfs files report the namespace's inode; a plain file is on the
    // exec root's file system, whose device differs.
    use std::os::unix::fs::MetadataExt;
    let (Ok(ns), Ok(dir)) = (
        fs_err::metadata(path),
        path.parent()
            .map_or(Err(()), |d| fs_err::metadata(d).map_err(|_| ())),
    ) else {
        return false;
    };
    ns.dev() != dir.dev()
}

/// Opens the namespace at `path` (for `setns` or `IFLA_NET_NS_FD`).
pub fn open(path: &Path) -> Result<OwnedFd, NetnsError> {
    fs_err::File::open(path)
        .map(|f| OwnedFd::from(f.into_parts().0))
        .map_err(|source| NetnsError::Open {
            path: path.to_owned(),
            source,
        })
}

/// Runs `f` on a thread that entered the namespace at `path`; its result.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    let fd = open(path)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET).map_err(|source| {
                NetnsError::Enter {
                    path: path.to_owned(),
                    source,
                }
            })?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetnsError::Panicked {
                path: path.to_owned(),
            })
        })
    })
}
