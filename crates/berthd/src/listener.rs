//! The API socket: stale-socket cleanup, bind, permissions, removal on exit.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::net::UnixListener;

/// The group that may use the socket, as dockerd's `docker` group.
const SOCKET_GROUP: &str = "berth";

pub(crate) struct UnixSocket {
    listener: UnixListener,
    guard: SocketGuard,
}

/// Removes the socket file when dropped.
pub(crate) struct SocketGuard {
    path: PathBuf,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if let Err(e) = fs_err::remove_file(&self.path) {
            tracing::warn!(error = %e, "cannot remove the API socket");
        }
    }
}

impl UnixSocket {
    /// Binds `path` with mode 0660, group `berth` when that group exists
    /// (otherwise root's group, so only root can connect).
    pub(crate) fn bind(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.is_dir()) {
            // 0711 like the exec root (the default parent): the `berth` group
            // can reach the socket but not list the directory.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        remove_stale(path)?;
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        let guard = SocketGuard {
            path: path.to_owned(),
        };
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        match nix::unistd::Group::from_name(SOCKET_GROUP) {
            Ok(Some(group)) => {
                std::os::unix::fs::chown(path, None, Some(group.gid.as_raw())).with_context(
                    || format!("cannot give {} to group {SOCKET_GROUP}", path.display()),
                )?;
            }
            Ok(None) => {
                tracing::debug!("group {SOCKET_GROUP} not found: only root can use the socket")
            }
            Err(e) => tracing::warn!(error = %e, "cannot look up group {SOCKET_GROUP}"),
        }
        Ok(Self { listener, guard })
    }

    pub(crate) fn into_parts(self) -> (UnixListener, SocketGuard) {
        (self.listener, self.guard)
    }
}

/// A socket file nobody answers on is left over from a crash: remove it. One
/// that answers belongs to a running daemon (another berthd, or dockerd on a
/// shared path): refuse.
fn remove_stale(path: &Path) -> anyhow::Result<()> {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} exists and is not a socket; remove it or choose another -H",
            path.display()
        );
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        bail!(
            "berthd is already running: {} accepts connections; stop that daemon or choose another -H",
            path.display()
        );
    }
    tracing::debug!(socket = %path.display(), "removing stale socket");
    fs_err::remove_file(path)?;
    Ok(())
}
