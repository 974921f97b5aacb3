//! The API socket: stale-socket cleanup, bind, permissions, removal on exit.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::net::UnixListener;

use crate::flags::SocketGroup;

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
    /// Binds `path` with mode 0660 and group `group` (dockerd's `-G`). The
    /// default group may be missing (the socket keeps root's group, so
    /// only root can connect); a group given explicitly must exist.
    pub(crate) fn bind(path: &Path, group: &SocketGroup) -> anyhow::Result<Self> {
        // Resolved before binding: a bad --group leaves no socket behind.
        let gid = resolve_group(group)?;
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
        if let Some(gid) = gid {
            std::os::unix::fs::chown(path, None, Some(gid)).with_context(|| {
                format!("cannot give {} to group {}", path.display(), group.name)
            })?;
        }
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        Ok(Self { listener, guard })
    }

    pub(crate) fn into_parts(self) -> (UnixListener, SocketGuard) {
        (self.listener, self.guard)
    }
}

/// The gid of `group` (a name, or a number as dockerd accepts), `None`
/// when the default group does not exist.
fn resolve_group(group: &SocketGroup) -> anyhow::Result<Option<u32>> {
    if group.name.is_empty() {
        return Ok(None);
    }
    match nix::unistd::Group::from_name(&group.name) {
        Ok(Some(g)) => return Ok(Some(g.gid.as_raw())),
        Ok(None) => {}
        Err(e) if group.explicit => {
            return Err(e).with_context(|| format!("cannot look up group {:?}", group.name));
        }
        Err(e) => {
            tracing::warn!(error = %e, group = %group.name, "cannot look up the socket group");
            return Ok(None);
        }
    }
    if let Ok(gid) = group.name.parse::<u32>() {
        return Ok(Some(gid));
    }
    if group.explicit {
        bail!(
            "group {:?} for the API socket does not exist: create it (groupadd {}) or choose another -G/--group",
            group.name,
            group.name
        );
    }
    tracing::debug!(group = %group.name, "socket group not found: only root can use the socket");
    Ok(None)
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
