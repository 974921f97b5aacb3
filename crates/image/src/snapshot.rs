//! Overlay snapshots, in containerd's vocabulary (`core/snapshots`):
//!
//! - a **committed** snapshot is an unpacked layer, named by its **chain
//!   ID** (image-spec `config.md`, "Layer ChainID"), stored once under
//!   `<root>/<n>/fs` and shared by every image whose layer stack starts
//!   the same way;
//! - an **active** snapshot is writable, identified by a **key** chosen by
//!   the caller (a container ID, or a temporary key while a layer is being
//!   unpacked); its `fs` is the overlay upper directory and `work` the
//!   overlay work directory;
//! - a **view** is a read-only active snapshot.
//!
//! `prepare(key, parent)` → write into it (or mount it) → `commit(name,
//! key)` turns an active snapshot into a committed one. Snapshots return
//! [`Mount`] descriptions and never mount anything themselves: the runtime
//! does, in the container's mount namespace.
//!
//! Metadata (name/key → number, kind, parent) is one JSON document,
//! written atomically. Directories are created before the metadata that
//! names them and removed after it, so a crash leaves at worst an
//! unreferenced `<n>/` directory, which [`Snapshotter::open`] removes.
//!
//! ```text
//! ChainID(L0) = DiffID(L0)
//! ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::fsutil::{FsError, atomic_write_json, fsync_dir, read_json};

/// Errors of the snapshotter.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A file system operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// No snapshot with this key or name.
    #[error("snapshot `{key}`: not found")]
    NotFound {
        /// The key or name.
        key: String,
    },
    /// The key or name is taken.
    #[error("snapshot `{key}`: already exists")]
    AlreadyExists {
        /// The key or name.
        key: String,
    },
    /// The parent is not a committed snapshot.
    #[error("snapshot `{key}`: parent `{parent}` is not a committed snapshot")]
    BadParent {
        /// The key being prepared.
        key: String,
        /// The parent given.
        parent: String,
    },
    /// The snapshot has children (or is not in a state that allows the operation).
    #[error("snapshot `{key}`: {reason}")]
    Conflict {
        /// The key or name.
        key: String,
        /// Why.
        reason: String,
    },
}

impl SnapshotError {
    /// The error's class for API status mapping.
    pub fn class(&self) -> crate::ErrorClass {
        use crate::ErrorClass as C;
        match self {
            Self::Fs(_) => C::Internal,
            Self::NotFound { .. } => C::NotFound,
            Self::AlreadyExists { .. } => C::AlreadyExists,
            Self::BadParent { .. } => C::InvalidArgument,
            Self::Conflict { .. } => C::Conflict,
        }
    }
}

type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// The chain ID of the stack of layers `diff_ids` (base first); `None` for
/// no layers.
pub fn chain_id(diff_ids: &[Digest]) -> Option<Digest> {
    chain_ids(diff_ids).pop()
}

/// The chain ID of every prefix of `diff_ids`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::sha256_of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A mount for the runtime to perform, in OCI runtime-spec `mounts` terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// File system type: `overlay` or `bind`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Source: `overlay`, or the directory to bind.
    pub source: String,
    /// Mount options (`lowerdir=...`, `rbind`, `ro`, ...).
    pub options: Vec<String>,
}

/// Why a [`Mount`] could not be performed or undone.
#[derive(Debug, thiserror::Error)]
#[error("{op} {kind} on `{target}`: {source}")]
pub struct MountError {
    /// `mount` or `unmount`.
    pub op: &'static str,
    /// The file system type.
    pub kind: String,
    /// The mount point.
    pub target: PathBuf,
    /// What the kernel said.
    pub source: nix::errno::Errno,
}

impl Mount {
    /// Performs this mount on `target` (containerd's `mount.All` for one
    /// mount): `overlay` with its options as data, `bind` as a (recursive)
    /// bind mount, remounted read-only when `ro` is among the options.
    /// For the caller that owns the mount namespace (the engine, before
    /// handing the root file system to the runtime); snapshots never call it.
    pub fn mount(&self, target: &Path) -> Result<(), MountError> {
        use nix::mount::{MsFlags, mount};
        let err = |source| MountError {
            op: "mount",
            kind: self.kind.clone(),
            target: target.to_owned(),
            source,
        };
        let ro = self.options.iter().any(|o| o == "ro");
        if self.kind == "bind" {
            let mut flags = MsFlags::MS_BIND;
            if self.options.iter().any(|o| o == "rbind") {
                flags |= MsFlags::MS_REC;
            }
            mount(
                Some(self.source.as_str()),
                target,
                None::<&str>,
                flags,
                None::<&str>,
            )
            .map_err(err)?;
            if ro {
                // A bind mount ignores MS_RDONLY on creation; it takes a
                // remount (mount(2), "Creating a bind mount").
                let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                if let Err(e) = mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
                    let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
                    return Err(err(e));
                }
            }
            return Ok(());
        }
        let data: Vec<&str> = self
            .options
            .iter()
            .map(String::as_str)
            .filter(|o| *o != "ro" && *o != "rw")
            .collect();
        let flags = if ro {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        mount(
            Some(self.source.as_str()),
            target,
            Some(self.kind.as_str()),
            flags,
            Some(data.join(",").as_str()),
        )
        .map_err(err)
    }

    /// Unmounts what [`Mount::mount`] mounted on `target` (lazily, so a
    /// busy mount still goes away).
    pub fn unmount(target: &Path) -> Result<(), MountError> {
        nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH).map_err(|source| MountError {
            op: "unmount",
            kind: String::new(),
            target: target.to_owned(),
            source,
        })
    }
}

/// What a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Writable.
    Active,
    /// Read-only view of a committed snapshot.
    View,
    /// Immutable, named by chain ID.
    Committed,
}

/// Metadata of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Directory number under the snapshots root.
    pub id: u64,
    /// What it is.
    pub kind: Kind,
    /// The committed snapshot below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Metadata {
    version: u32,
    next_id: u64,
    snapshots: BTreeMap<String, Info>,
}

const METADATA_VERSION: u32 = 1;

/// Room for `lowerdir=` in one page of mount data, leaving space for the
/// upper and work directories.
const MAX_MOUNT_DATA: usize = 4096 - 512;

/// Overlay snapshots under one root directory.
#[derive(Debug)]
pub struct Snapshotter {
    root: PathBuf,
    meta: Mutex<Metadata>,
}

impl Snapshotter {
    /// Opens (creating if needed) the snapshotter at `root`, and removes
    /// snapshot directories no metadata names (left by a crash).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs_err::create_dir_all(&root).map_err(|e| FsError::new("create directory", &root, e))?;
        let meta: Metadata = read_json(&root.join("metadata.json"))?.unwrap_or(Metadata {
            version: METADATA_VERSION,
            next_id: 1,
            snapshots: BTreeMap::new(),
        });
        let known: Vec<u64> = meta.snapshots.values().map(|i| i.id).collect();
        let rd = fs_err::read_dir(&root).map_err(|e| FsError::new("read directory", &root, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| FsError::new("read directory", &root, e))?;
            let name = entry.file_name();
            let Some(n) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            if !known.contains(&n) {
                let p = entry.path();
                fs_err::remove_dir_all(&p)
                    .map_err(|e| FsError::new("remove orphan snapshot", &p, e))?;
            }
        }
        Ok(Self {
            root,
            meta: Mutex::new(meta),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Metadata> {
        // A panic while holding the lock cannot leave the in-memory copy
        // inconsistent with disk in a way that matters: every change is
        // made on a clone and only stored after the write succeeded.
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, meta: &Metadata) -> Result<()> {
        atomic_write_json(&self.root.join("metadata.json"), meta)?;
        Ok(())
    }

    fn dir(&self, id: u64) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// The directory holding the files of snapshot `id` (`<root>/<id>/fs`).
    pub fn fs_dir(&self, info: &Info) -> PathBuf {
        self.dir(info.id).join("fs")
    }

    fn get<'a>(meta: &'a Metadata, key: &str) -> Result<&'a Info> {
        meta.snapshots
            .get(key)
            .ok_or_else(|| SnapshotError::NotFound {
                key: key.to_owned(),
            })
    }

    /// The metadata of a snapshot.
    pub fn stat(&self, key: &str) -> Result<Info> {
        Self::get(&self.lock(), key).cloned()
    }

    /// Every snapshot, by key or name.
    pub fn list(&self) -> Vec<(String, Info)> {
        self.lock()
            .snapshots
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The `fs` directories of `parent` and its ancestors, nearest first.
    fn lowers(&self, meta: &Metadata, parent: &str) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut cur = Some(parent.to_owned());
        while let Some(name) = cur {
            let info = Self::get(meta, &name)?;
            out.push(self.fs_dir(info));
            cur = info.parent.clone();
        }
        Ok(out)
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Info> {
        let mut meta = self.lock();
        if meta.snapshots.contains_key(key) {
            return Err(SnapshotError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        if let Some(p) = parent
            && meta.snapshots.get(p).map(|i| i.kind) != Some(Kind::Committed)
        {
            return Err(SnapshotError::BadParent {
                key: key.to_owned(),
                parent: p.to_owned(),
            });
        }
        let id = meta.next_id;
        let dir = self.dir(id);
        if kind == Kind::Active {
            for d in [dir.join("fs"), dir.join("work")] {
                fs_err::create_dir_all(&d).map_err(|e| FsError::new("create directory", &d, e))?;
            }
            fsync_dir(&self.root)?;
        }
        let info = Info {
            id,
            kind,
            parent: parent.map(str::to_owned),
        };
        let mut next = Metadata {
            version: METADATA_VERSION,
            next_id: id + 1,
            snapshots: meta.snapshots.clone(),
        };
        next.snapshots.insert(key.to_owned(), info.clone());
        if let Err(e) = self.save(&next) {
            let _ = fs_err::remove_dir_all(&dir);
            return Err(e);
        }
        *meta = next;
        Ok(info)
    }

    /// Creates a writable snapshot on top of the committed snapshot
    /// `parent` (or empty), and returns how to mount it.
    pub fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::Active)?;
        self.mounts_or_remove(key)
    }

    /// Creates a writable snapshot to unpack a layer into, and returns its
    /// directory. Unlike [`Snapshotter::prepare`] it needs no mount, so
    /// it works for layer stacks too deep for one overlay mount.
    pub fn prepare_dir(&self, key: &str, parent: Option<&str>) -> Result<PathBuf> {
        let info = self.create(key, parent, Kind::Active)?;
        Ok(self.fs_dir(&info))
    }

    /// Creates a read-only view of the committed snapshot `parent`.
    pub fn view(&self, key: &str, parent: &str) -> Result<Vec<Mount>> {
        self.create(key, Some(parent), Kind::View)?;
        self.mounts_or_remove(key)
    }

    /// The mounts of a snapshot just created; if it cannot be mounted, it
    /// is removed again, so a failed prepare leaves nothing.
    fn mounts_or_remove(&self, key: &str) -> Result<Vec<Mount>> {
        self.mounts(key).inspect_err(|_| {
            let _ = self.remove(key);
        })
    }

    /// How to mount the active snapshot or view `key`.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let meta = self.lock();
        let info = Self::get(&meta, key)?;
        let lowers = match &info.parent {
            Some(p) => self.lowers(&meta, p)?,
            None => Vec::new(),
        };
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let m = match (info.kind, lowers.as_slice()) {
            (Kind::Committed, _) => {
                return Err(SnapshotError::Conflict {
                    key: key.to_owned(),
                    reason: "committed snapshots are mounted through a view or an active snapshot"
                        .to_owned(),
                });
            }
            (Kind::Active, []) => Mount {
                kind: "bind".to_owned(),
                source: s(&self.fs_dir(info)),
                options: vec!["rbind".to_owned(), "rw".to_owned()],
            },
            // overlayfs needs two lower layers when there is no upper
            // layer; one read-only layer is a read-only bind mount.
            (Kind::View, [] | [_]) => Mount {
                kind: "bind".to_owned(),
                source: lowers.first().map(|p| s(p)).unwrap_or_default(),
                options: vec!["rbind".to_owned(), "ro".to_owned()],
            },
            (kind, lowers) => {
                let lower = lowers.iter().map(|p| s(p)).collect::<Vec<_>>().join(":");
                // mount(2) copies at most one page of options; past that
                // the kernel answers a bare EINVAL. Say what is wrong.
                if lower.len() > MAX_MOUNT_DATA {
                    return Err(SnapshotError::Conflict {
                        key: key.to_owned(),
                        reason: format!(
                            "{} layers make overlay options of {} bytes, more than one mount accepts ({MAX_MOUNT_DATA})",
                            lowers.len(),
                            lower.len()
                        ),
                    });
                }
                let mut options = vec![format!("lowerdir={lower}")];
                if kind == Kind::Active {
                    let dir = self.dir(info.id);
                    options.push(format!("upperdir={}", s(&dir.join("fs"))));
                    options.push(format!("workdir={}", s(&dir.join("work"))));
                }
                Mount {
                    kind: "overlay".to_owned(),
                    source: "overlay".to_owned(),
                    options,
                }
            }
        };
        Ok(vec![m])
    }

    /// The directory to write into for the active snapshot `key` (the
    /// overlay upper directory): where a layer is unpacked before commit.
    pub fn upper_dir(&self, key: &str) -> Result<PathBuf> {
        let meta = self.lock();
        let info = Self::get(&meta, key)?;
        if info.kind != Kind::Active {
            return Err(SnapshotError::Conflict {
                key: key.to_owned(),
                reason: "not an active snapshot".to_owned(),
            });
        }
        Ok(self.fs_dir(info))
    }

    /// Turns the active snapshot `key` into the committed snapshot `name`.
    pub fn commit(&self, name: &str, key: &str) -> Result<()> {
        let mut meta = self.lock();
        let info = Self::get(&meta, key)?.clone();
        if info.kind != Kind::Active {
            return Err(SnapshotError::Conflict {
                key: key.to_owned(),
                reason: "not an active snapshot".to_owned(),
            });
        }
        if meta.snapshots.contains_key(name) {
            return Err(SnapshotError::AlreadyExists {
                key: name.to_owned(),
            });
        }
        let mut next = Metadata {
            version: METADATA_VERSION,
            next_id: meta.next_id,
            snapshots: meta.snapshots.clone(),
        };
        next.snapshots.remove(key);
        next.snapshots.insert(
            name.to_owned(),
            Info {
                kind: Kind::Committed,
                ..info
            },
        );
        self.save(&next)?;
        *meta = next;
        Ok(())
    }

    /// Removes a snapshot. A committed snapshot with children is a conflict.
    pub fn remove(&self, key: &str) -> Result<()> {
        let mut meta = self.lock();
        let info = Self::get(&meta, key)?.clone();
        if let Some(child) = meta
            .snapshots
            .iter()
            .find(|(_, i)| i.parent.as_deref() == Some(key))
        {
            return Err(SnapshotError::Conflict {
                key: key.to_owned(),
                reason: format!("snapshot `{}` depends on it", child.0),
            });
        }
        let mut next = Metadata {
            version: METADATA_VERSION,
            next_id: meta.next_id,
            snapshots: meta.snapshots.clone(),
        };
        next.snapshots.remove(key);
        self.save(&next)?;
        *meta = next;
        let dir = self.dir(info.id);
        match fs_err::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // The metadata no longer names it: the next open removes it.
            Err(e) => return Err(FsError::new("remove snapshot", &dir, e).into()),
        }
        Ok(())
    }

    /// Removes several snapshots with one metadata write (one fsync
    /// instead of one per snapshot): what [`Snapshotter::remove`] does to
    /// each, with a result per key, in order. The error is that write's,
    /// and then none of them is removed. The directories go after the
    /// write, outside the lock (IDs are never reused, and a crash before
    /// they go leaves directories [`Snapshotter::open`] removes).
    pub fn remove_many(&self, keys: &[String]) -> Result<Vec<Result<()>>> {
        let mut meta = self.lock();
        let mut next = Metadata {
            version: METADATA_VERSION,
            next_id: meta.next_id,
            snapshots: meta.snapshots.clone(),
        };
        let mut dirs = Vec::new();
        let mut results = Vec::with_capacity(keys.len());
        for key in keys {
            let removed = Self::get(&next, key).cloned().and_then(|info| {
                if let Some(child) = next
                    .snapshots
                    .iter()
                    .find(|(_, i)| i.parent.as_deref() == Some(key.as_str()))
                {
                    return Err(SnapshotError::Conflict {
                        key: key.clone(),
                        reason: format!("snapshot `{}` depends on it", child.0),
                    });
                }
                next.snapshots.remove(key);
                dirs.push(self.dir(info.id));
                Ok(())
            });
            results.push(removed);
        }
        if dirs.is_empty() {
            return Ok(results);
        }
        self.save(&next)?;
        *meta = next;
        drop(meta);
        for (dir, result) in dirs.iter().zip(results.iter_mut().filter(|r| r.is_ok())) {
            match fs_err::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => *result = Err(FsError::new("remove snapshot", dir, e).into()),
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        assert_eq!(chain_id(&[]), None);
        assert_eq!(chain_id(&[d("a")]), Some(d("a")));
        let c1 = Digest::sha256_of(format!("{} {}", d("a"), d("b")).as_bytes());
        let c2 = Digest::sha256_of(format!("{c1} {}", d("c")).as_bytes());
        assert_eq!(
            chain_ids(&[d("a"), d("b"), d("c")]),
            vec![d("a"), c1, c2.clone()]
        );
        assert_eq!(chain_id(&[d("a"), d("b"), d("c")]), Some(c2));
        // Known value: the chain ID of two layers computed with
        // `printf 'sha256:<a> sha256:<b>' | sha256sum`.
        let a: Digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            .parse()
            .unwrap();
        let b: Digest = "sha256:486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"
            .parse()
            .unwrap();
        assert_eq!(
            chain_id(&[a, b]).unwrap().to_string(),
            "sha256:462b80aef093b60913b788d01bd83e40bea09cc1131c723ef41e7720c211e8bf"
        );
    }

    #[test]
    fn remove_many_writes_once_and_reports_each_key() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("snapshots");
        let s = Snapshotter::open(&root).unwrap();
        s.prepare("extract-1", None).unwrap();
        s.commit("base", "extract-1").unwrap();
        for k in ["a", "b", "c"] {
            s.prepare(k, Some("base")).unwrap();
        }
        let dir_of = |k: &str| root.join(s.stat(k).unwrap().id.to_string());
        let (a, c) = (dir_of("a"), dir_of("c"));
        let keys: Vec<String> = ["a", "missing", "base", "c"].map(String::from).to_vec();
        let results = s.remove_many(&keys).unwrap();
        assert!(results[0].is_ok());
        assert_eq!(
            results[1].as_ref().unwrap_err().class(),
            crate::ErrorClass::NotFound
        );
        // `b` still stands on `base`.
        assert_eq!(
            results[2].as_ref().unwrap_err().class(),
            crate::ErrorClass::Conflict
        );
        assert!(results[3].is_ok());
        assert!(!a.exists() && !c.exists());
        // Nothing to remove: no error, nothing written.
        assert!(s.remove_many(&["a".to_owned()]).unwrap()[0].is_err());
        drop(s);
        let s = Snapshotter::open(&root).unwrap();
        let left: Vec<String> = s.list().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, vec!["b".to_owned(), "base".to_owned()]);
    }

    #[test]
    fn prepare_commit_view_remove() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("snapshots");
        let s = Snapshotter::open(&root).unwrap();
        let m = s.prepare("extract-1", None).unwrap();
        let up1 = s.upper_dir("extract-1").unwrap();
        assert_eq!(
            m,
            vec![Mount {
                kind: "bind".into(),
                source: up1.to_string_lossy().into_owned(),
                options: vec!["rbind".into(), "rw".into()]
            }]
        );
        s.commit("c1", "extract-1").unwrap();
        assert!(matches!(
            s.stat("extract-1"),
            Err(SnapshotError::NotFound { .. })
        ));
        s.prepare("extract-2", Some("c1")).unwrap();
        let up2 = s.upper_dir("extract-2").unwrap();
        s.commit("c2", "extract-2").unwrap();

        let m = s.prepare("ctr", Some("c2")).unwrap();
        let ctr = s.stat("ctr").unwrap();
        let cdir = root.join(ctr.id.to_string());
        assert_eq!(m[0].kind, "overlay");
        assert_eq!(m[0].source, "overlay");
        assert_eq!(
            m[0].options,
            vec![
                format!("lowerdir={}:{}", up2.display(), up1.display()),
                format!("upperdir={}", cdir.join("fs").display()),
                format!("workdir={}", cdir.join("work").display()),
            ]
        );
        let v = s.view("v1", "c1").unwrap();
        assert_eq!(v[0].kind, "bind");
        assert_eq!(v[0].options, vec!["rbind", "ro"]);
        let v = s.view("v2", "c2").unwrap();
        assert_eq!(
            v[0].options,
            vec![format!("lowerdir={}:{}", up2.display(), up1.display())]
        );

        // Errors.
        assert!(matches!(
            s.prepare("ctr", None),
            Err(SnapshotError::AlreadyExists { .. })
        ));
        assert!(matches!(
            s.prepare("x", Some("ctr")),
            Err(SnapshotError::BadParent { .. })
        ));
        assert!(matches!(
            s.prepare("x", Some("nope")),
            Err(SnapshotError::BadParent { .. })
        ));
        let e = s.remove("c2").unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Conflict);
        assert!(e.to_string().contains("depends on it"), "{e}");
        assert!(matches!(
            s.commit("c3", "c2"),
            Err(SnapshotError::Conflict { .. })
        ));

        // Reopen: state persisted.
        drop(s);
        let s = Snapshotter::open(&root).unwrap();
        assert_eq!(s.list().len(), 5);
        for k in ["ctr", "v2", "c2", "v1", "c1"] {
            s.remove(k).unwrap();
        }
        assert!(s.list().is_empty());
        assert_eq!(
            fs_err::read_dir(&root).unwrap().count(),
            1,
            "only metadata.json is left"
        );
    }

    #[test]
    fn too_many_layers_for_one_mount_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        // Long paths make the limit reachable with a few layers.
        let s = Snapshotter::open(dir.path().join("l".repeat(200))).unwrap();
        let mut parent: Option<String> = None;
        for i in 0..20 {
            let key = format!("k{i}");
            s.prepare_dir(&key, parent.as_deref()).unwrap();
            s.commit(&format!("c{i}"), &key).unwrap();
            parent = Some(format!("c{i}"));
        }
        let e = s.prepare("ctr", parent.as_deref()).unwrap_err();
        assert!(
            e.to_string().contains("20 layers make overlay options of"),
            "{e}"
        );
        assert!(
            matches!(s.stat("ctr"), Err(SnapshotError::NotFound { .. })),
            "a failed prepare leaves nothing"
        );
        assert!(s.prepare("ctr2", Some("c5")).is_ok());
    }

    #[test]
    fn orphan_directories_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("snapshots");
        let s = Snapshotter::open(&root).unwrap();
        s.prepare("a", None).unwrap();
        drop(s);
        // A crash between mkdir and the metadata write leaves this behind.
        fs_err::create_dir_all(root.join("99/fs")).unwrap();
        let s = Snapshotter::open(&root).unwrap();
        assert!(!root.join("99").exists());
        assert!(s.upper_dir("a").unwrap().exists());
    }
}
