//! A container's file system from outside: `docker diff`, `docker
//! export`, `docker cp` (the archive endpoints) and `docker commit`.
//!
//! A running container's root file system is mounted at
//! `<exec-root>/containers/<id>/rootfs` already. A stopped one is mounted
//! there for the duration of the call, with the container claimed (as a
//! start claims it) so it cannot start meanwhile; the claim and the mount
//! go when the call returns, whatever happens.
//!
//! The reading and writing themselves are `berth_image::rootfs` and
//! `berth_image::layer::extract_archive`, which never leave the root
//! (symlinks are resolved as if it were `/`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_image::layer::CopyOptions;
use berth_image::rootfs::{self, RootfsError};
pub use berth_image::rootfs::{Change, ChangeKind, PathStat};
use berth_image::snapshot::Mount;
use berth_image::spec::ContainerConfig;

use super::model::{Container, Status};
use super::{ContainerError, ContainerService, lock, resolve};

type Result<T, E = ContainerError> = std::result::Result<T, E>;

/// Stopped containers' root file systems mounted for file-system calls:
/// mount point -> (calls using it, mounts to undo). Locked before the
/// container table.
static STOPPED_USERS: std::sync::Mutex<std::collections::BTreeMap<PathBuf, (usize, usize)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Options of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutArchiveOptions {
    /// `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID` (`docker cp -a`): files take the container user's
    /// uid/gid when the container has a user.
    pub copy_uid_gid: bool,
}

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]` to give the image, if any.
    pub reference: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// Dockerfile instructions (`--change`).
    pub changes: Vec<String>,
    /// Pause the container while its layer is written (docker's default).
    pub pause: bool,
    /// The request body's config: replaces the container's, whose values
    /// fill what it leaves unset (moby `merge`).
    pub config: Option<ContainerConfig>,
}

/// `asked`: the container as the client named it (docker's messages do).
fn rootfs_error(asked: &str, path: &str, e: RootfsError) -> ContainerError {
    match e {
        RootfsError::NotFound { .. } => ContainerError::NotFoundMessage {
            message: format!("Could not find the file {path} in container {asked}"),
        },
        RootfsError::NotDirectory { .. } => ContainerError::InvalidArgument {
            message: format!("{path}: not a directory"),
        },
        e => ContainerError::Internal {
            message: e.to_string(),
        },
    }
}

impl ContainerService<'_> {
    /// Runs `f` on the container's mounted root file system: the mount of
    /// a running container, or a mount made for the call. Calls on one
    /// stopped container share its mount (`docker cp` stats, then reads):
    /// the first claims the container (it cannot start meanwhile) and
    /// mounts, the last unmounts and lets it go.
    fn with_rootfs<T>(
        &self,
        id_or_name: &str,
        f: impl FnOnce(&Container, &Path) -> Result<T>,
    ) -> Result<T> {
        let inner = &self.containers.inner;
        let mut users = lock(&STOPPED_USERS);
        let c = {
            let mut table = lock(&inner.table);
            let id = resolve(&table, id_or_name)?.id.clone();
            let entry = table.get_mut(&id).ok_or_else(|| super::gone(&id))?;
            if entry.state.status == Status::Running {
                let c = entry.clone();
                drop(table);
                drop(users);
                return f(&c, &inner.rootfs_dir(&c.id));
            }
            entry.clone()
        };
        let rootfs = inner.rootfs_dir(&c.id);
        let key = rootfs.clone();
        match users.get_mut(&key) {
            Some(entry) => entry.0 += 1,
            None => {
                {
                    let mut table = lock(&inner.table);
                    let entry = table.get_mut(&c.id).ok_or_else(|| super::gone(&c.id))?;
                    if entry.busy {
                        return Err(super::busy(&c.id));
                    }
                    entry.busy = true;
                }
                match self.mount_stopped(&c, &rootfs) {
                    Ok(n) => {
                        users.insert(key.clone(), (1, n));
                    }
                    Err(e) => {
                        self.release(&c.id);
                        return Err(e);
                    }
                }
            }
        }
        drop(users);
        let result = f(&c, &rootfs);
        let mut users = lock(&STOPPED_USERS);
        let last = match users.get_mut(&key) {
            Some(entry) => {
                entry.0 -= 1;
                (entry.0 == 0).then_some(entry.1)
            }
            None => None,
        };
        if let Some(mounts) = last {
            users.remove(&key);
            inner.unmount_volumes(&c.id);
            for _ in 0..mounts {
                let _ = Mount::unmount(&rootfs);
            }
            self.release(&c.id);
        }
        result
    }

    /// Lets a container claimed by [`ContainerService::with_rootfs`] go.
    fn release(&self, id: &str) {
        let inner = &self.containers.inner;
        let mut table = lock(&inner.table);
        if let Some(entry) = table.get_mut(id) {
            entry.busy = false;
        }
        inner.changed.notify_all();
    }

    /// Mounts a stopped container's snapshot on `rootfs`, and its volumes
    /// as a start does (dockerd's `setupMounts`: a tmpfs volume is a fresh
    /// tmpfs, a bind-device volume shows its device directory, a subpath
    /// its private mount); how many snapshot mounts. The volumes go with
    /// `Inner::unmount_volumes`.
    fn mount_stopped(&self, c: &Container, rootfs: &Path) -> Result<usize> {
        fs_err::create_dir_all(rootfs).map_err(|e| super::store::io(rootfs, e))?;
        let mounts = self
            .images
            .snapshots()
            .mounts(&c.id)
            .map_err(ContainerError::image)?;
        for (i, m) in mounts.iter().enumerate() {
            if let Err(e) = m.mount(rootfs) {
                for _ in 0..i {
                    let _ = Mount::unmount(rootfs);
                }
                return Err(e.into());
            }
        }
        if let Err(e) = self.containers.inner.mount_volumes(c, self.images) {
            for _ in 0..mounts.len() {
                let _ = Mount::unmount(rootfs);
            }
            return Err(e);
        }
        Ok(mounts.len())
    }

    /// The writable layer and the image's layers (top first).
    fn layer_dirs(&self, c: &Container) -> Result<(PathBuf, Vec<PathBuf>)> {
        let upper = self
            .images
            .snapshots()
            .upper_dir(&c.id)
            .map_err(ContainerError::image)?;
        let lowers = self.storage_of(c).map(|s| s.lower_dirs).unwrap_or_default();
        Ok((upper, lowers))
    }

    /// `GET /containers/{id}/changes` (`docker diff`), without the mount
    /// points the runtime creates (docker keeps them in its init layer,
    /// below the container's, so they never show).
    pub fn changes(&self, id_or_name: &str) -> Result<Vec<Change>> {
        let c = self.containers.get(id_or_name)?;
        let (upper, lowers) = self.layer_dirs(&c)?;
        let all = rootfs::changes(&upper, &lowers).map_err(|e| ContainerError::Internal {
            message: e.to_string(),
        })?;
        Ok(hide_init_paths(all))
    }

    /// `GET /containers/{id}/export`: the root file system as a tar.
    pub fn export(&self, id_or_name: &str, w: &mut dyn Write) -> Result<()> {
        self.with_rootfs(id_or_name, |c, root| {
            rootfs::write_tree(root, w).map_err(|e| rootfs_error(id_or_name, "/", e))?;
            self.containers.emit(c, "export", &[]);
            Ok(())
        })
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub fn archive_stat(&self, id_or_name: &str, path: &str) -> Result<PathStat> {
        self.with_rootfs(id_or_name, |c, root| {
            super::cp_mounts::with_mounts(root, &c.mount_points, || {
                rootfs::stat_path(root, path).map_err(|e| rootfs_error(id_or_name, path, e))
            })
        })
    }

    /// `GET /containers/{id}/archive?path=`: `on_stat` is called with the
    /// path's stat before the tar is written to the writer it returns
    /// (the API sends the stat as a header, before the body).
    pub fn archive_get(
        &self,
        id_or_name: &str,
        path: &str,
        on_stat: &mut dyn FnMut(&PathStat) -> Box<dyn Write + Send>,
    ) -> Result<()> {
        self.with_rootfs(id_or_name, |c, root| {
            super::cp_mounts::with_mounts(root, &c.mount_points, || {
                let stat =
                    rootfs::stat_path(root, path).map_err(|e| rootfs_error(id_or_name, path, e))?;
                let w = on_stat(&stat);
                rootfs::write_path_archive(root, path, w)
                    .map(drop)
                    .map_err(|e| rootfs_error(id_or_name, path, e))
            })
        })
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar in `r` into
    /// the directory `path` (which must exist).
    pub fn archive_put(
        &self,
        id_or_name: &str,
        path: &str,
        r: &mut dyn Read,
        opts: PutArchiveOptions,
    ) -> Result<()> {
        self.with_rootfs(id_or_name, |c, root| {
            super::cp_mounts::with_mounts(root, &c.mount_points, || {
                // The destination is resolved in the root (a symlink to a
                // directory is followed, inside the root).
                let stat = rootfs::stat_path(root, &format!("{}/", path.trim_end_matches('/')))
                    .map_err(|e| rootfs_error(id_or_name, path, e))?;
                if !stat.is_dir() {
                    return Err(ContainerError::InvalidArgument {
                        message: "extraction point is not a directory".to_owned(),
                    });
                }
                // dockerd's checks, on the path with its symlinks followed
                // as the container sees them (`/link/d` with `/link -> /ro`
                // is in `/ro`): a read-only volume or bind refuses, a
                // read-only root file system only outside volumes and binds.
                let resolved = super::cp_mounts::resolve(root, path)
                    .unwrap_or_else(|| super::mounts::clean(&format!("/{path}")));
                match super::cp_mounts::mount_for(&c.mount_points, &resolved) {
                    Some(m) if !m.rw => {
                        return Err(ContainerError::InvalidArgument {
                            message: "mounted volume is marked read-only".to_owned(),
                        });
                    }
                    None if c.options.security.readonly_rootfs => {
                        return Err(ContainerError::InvalidArgument {
                            message: "container rootfs is marked read-only".to_owned(),
                        });
                    }
                    _ => {}
                }
                let chown = if opts.copy_uid_gid && !c.process.user.is_empty() {
                    Some(super::spec::resolve_user(root, &c.process.user)?)
                } else {
                    None
                };
                let copy = CopyOptions {
                    no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                    chown,
                };
                berth_image::layer::extract_archive(r, root, Path::new(path), &copy).map_err(
                    |e| match e.class() {
                        berth_image::ErrorClass::InvalidArgument => {
                            ContainerError::InvalidArgument {
                                message: e.to_string(),
                            }
                        }
                        _ => ContainerError::Internal {
                            message: e.to_string(),
                        },
                    },
                )?;
                Ok(())
            })?;
            self.containers.emit(c, "extract-to-dir", &[]);
            Ok(())
        })
    }

    /// `POST /commit`: a new image from the container's image and its
    /// writable layer. Returns the image ID.
    pub fn commit(&self, id_or_name: &str, req: &CommitRequest) -> Result<String> {
        let c = self.containers.get(id_or_name)?;
        let reference = match &req.reference {
            Some(r) => Some(
                berth_image::reference::Reference::parse_normalized(r).map_err(|_| {
                    ContainerError::InvalidArgument {
                        message: "invalid reference format".to_owned(),
                    }
                })?,
            ),
            None => None,
        };
        let container_config = self.container_config(&c);
        let config = match &req.config {
            Some(user) => merge_config(user.clone(), &container_config),
            None => container_config,
        };
        // Docker checks the changes before it pauses anything.
        let mut probe = config.clone();
        berth_image::change::apply_changes(&mut probe, &req.changes).map_err(|e| {
            ContainerError::InvalidArgument {
                message: e.to_string(),
            }
        })?;
        let created_by = c.options.cmd.clone().unwrap_or_else(|| {
            // Docker's `Config.Cmd`: the image's unless an entrypoint was given.
            if c.options.entrypoint.is_some() {
                Vec::new()
            } else {
                config.cmd.clone().unwrap_or_default()
            }
        });
        let opts = berth_image::store::CommitOptions {
            changes: req.changes.clone(),
            message: req.comment.clone().filter(|m| !m.is_empty()),
            author: req.author.clone().filter(|a| !a.is_empty()),
            reference,
            created: None,
            config: Some(config),
            created_by: Some(created_by.join(" ")),
        };
        // As dockerd: paused for the commit unless paused already.
        let paused = req.pause
            && c.state.status == Status::Running
            && !c.state.paused
            && self.pause_for_commit(&c);
        let image = self.images.inspect(&c.image).ok().map(|_| c.image.clone());
        let result = self.images.commit(image.as_deref(), &c.id, &opts);
        if paused && let Err(e) = self.containers.unpause(&c.id) {
            tracing::warn!(id = %c.id, error = %e, "cannot unpause a container after commit");
        }
        result.map(|d| d.to_string()).map_err(ContainerError::image)
    }

    /// Freezes the container for a commit; false when it could not be
    /// (then the commit goes on unpaused, as the layer is still readable).
    fn pause_for_commit(&self, c: &Container) -> bool {
        match self.containers.pause(&c.id) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(id = %c.id, error = %e, "cannot pause a container for commit");
                false
            }
        }
    }

    /// Docker's container `Config` as an image config: the image's, with
    /// what was given at create.
    fn container_config(&self, c: &Container) -> ContainerConfig {
        let mut cfg = self
            .images
            .inspect(&c.image)
            .ok()
            .and_then(|d| d.config.config)
            .unwrap_or_default();
        let o = &c.options;
        if let Some(ep) = &o.entrypoint {
            cfg.entrypoint = Some(ep.clone());
            cfg.cmd = o.cmd.clone();
        } else if let Some(cmd) = &o.cmd {
            cfg.cmd = Some(cmd.clone());
        }
        let mut env = cfg.env.take().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, super::DEFAULT_PATH.to_owned());
        }
        for e in &o.env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.clone());
        }
        cfg.env = Some(env);
        if let Some(w) = &o.working_dir {
            cfg.working_dir = Some(w.clone());
        }
        if let Some(u) = &o.user {
            cfg.user = Some(u.clone());
        }
        if !o.labels.is_empty() {
            cfg.labels
                .get_or_insert_with(Default::default)
                .extend(o.labels.clone());
        }
        if let Some(s) = &o.stop_signal {
            cfg.stop_signal = Some(s.clone());
        }
        cfg
    }
}

/// moby's init layer (`daemon/initlayer`): what every container gets.
const INIT_PATHS: &[&str] = &[
    "/dev/pts",
    "/dev/shm",
    "/proc",
    "/sys",
    "/.dockerenv",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/hostname",
    "/dev/console",
    "/etc/mtab",
];

/// Drops the init layer's paths, and their parent directories when
/// nothing else under them changed.
fn hide_init_paths(all: Vec<Change>) -> Vec<Change> {
    let kept: Vec<Change> = all
        .into_iter()
        .filter(|c| !INIT_PATHS.contains(&c.path.as_str()))
        .collect();
    let has_child = |dir: &str| {
        let prefix = format!("{dir}/");
        kept.iter().any(|c| c.path.starts_with(&prefix))
    };
    let drop: Vec<String> = ["/dev", "/etc"]
        .iter()
        .filter(|d| kept.iter().any(|c| c.path == **d) && !has_child(d))
        .map(|d| (*d).to_owned())
        .collect();
    kept.into_iter()
        .filter(|c| !drop.contains(&c.path))
        .collect()
}

/// moby `daemon.merge`: what the request's config leaves unset comes from
/// the container's.
fn merge_config(mut user: ContainerConfig, base: &ContainerConfig) -> ContainerConfig {
    if user.user.as_deref().unwrap_or("").is_empty() {
        user.user = base.user.clone();
    }
    if let Some(ports) = &base.exposed_ports {
        let mine = user.exposed_ports.get_or_insert_with(Default::default);
        for (k, v) in ports {
            mine.entry(k.clone()).or_insert(v.clone());
        }
    }
    match (&mut user.env, &base.env) {
        (Some(env), Some(base_env)) if !env.is_empty() => {
            for e in base_env {
                let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
                if !env
                    .iter()
                    .any(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
                {
                    env.push(e.clone());
                }
            }
        }
        _ => user.env = base.env.clone(),
    }
    if let Some(labels) = &base.labels {
        let mine = user.labels.get_or_insert_with(Default::default);
        for (k, v) in labels {
            mine.entry(k.clone()).or_insert(v.clone());
        }
    }
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = base.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = base.entrypoint.clone();
        }
    }
    if user.healthcheck.is_none() {
        user.healthcheck = base.healthcheck.clone();
    }
    if user.working_dir.as_deref().unwrap_or("").is_empty() {
        user.working_dir = base.working_dir.clone();
    }
    if let Some(vols) = &base.volumes {
        let mine = user.volumes.get_or_insert_with(Default::default);
        for (k, v) in vols {
            mine.entry(k.clone()).or_insert(v.clone());
        }
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = base.stop_signal.clone();
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_fills_what_the_request_leaves_unset() {
        let base = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            working_dir: Some("/srv".into()),
            ..ContainerConfig::default()
        };
        let user = ContainerConfig {
            env: Some(vec!["A=2".into()]),
            ..ContainerConfig::default()
        };
        let m = merge_config(user, &base);
        assert_eq!(m.cmd.unwrap(), vec!["sh"]);
        assert_eq!(m.env.unwrap(), vec!["A=2", "PATH=/bin"]);
        assert_eq!(m.working_dir.as_deref(), Some("/srv"));
    }
}
