//! A container's root file system seen from outside: what `docker cp`,
//! `docker export` and `docker diff` read.
//!
//! - [`stat_path`]: `HEAD /containers/{id}/archive` (moby
//!   `container.StatPath`): the directory part of a path is resolved inside
//!   the root, the last component is not followed.
//! - [`write_path_archive`]: `GET /containers/{id}/archive`, a tar whose
//!   entries start with the path's base name (moby `TarResourceRebase`).
//! - [`write_tree`]: `docker export`, the whole tree.
//! - [`changes`]: `docker diff` from an overlay upper directory and its
//!   lower directories (moby `archive.OverlayChanges`).
//!
//! A running container's processes can change the tree while it is read
//! (CVE-2018-15664: a directory swapped for a symlink to `/` between check
//! and use). So the walk never follows a path string: every directory is
//! opened relative to its parent's descriptor with `O_NOFOLLOW`, and the
//! starting point is resolved with `openat2(RESOLVE_IN_ROOT)`, as if the
//! root were `/`. Writing into the tree is [`crate::layer::extract_archive`].

use std::collections::BTreeMap;
use std::ffi::{CStr, OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};

/// Errors of reading a root file system.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The path does not exist in the tree.
    #[error("no such file or directory: {path}")]
    NotFound {
        /// The path as asked for.
        path: String,
    },
    /// A path component that must be a directory is not one.
    #[error("not a directory: {path}")]
    NotDirectory {
        /// The path as asked for.
        path: String,
    },
    /// A file system call failed.
    #[error("{op} `{path}`: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The path inside the tree.
        path: String,
        /// What the kernel said.
        source: io::Error,
    },
    /// Writing the tar failed (the reader went away, usually).
    #[error("writing archive: {source}")]
    Write {
        /// The error.
        source: io::Error,
    },
}

impl RootfsError {
    /// The error's class for API status mapping.
    pub fn class(&self) -> crate::ErrorClass {
        match self {
            Self::NotFound { .. } => crate::ErrorClass::NotFound,
            Self::NotDirectory { .. } => crate::ErrorClass::InvalidArgument,
            Self::Io { .. } | Self::Write { .. } => crate::ErrorClass::Internal,
        }
    }
}

type Result<T, E = RootfsError> = std::result::Result<T, E>;

fn io_err(op: &'static str, path: &str) -> impl FnOnce(rustix::io::Errno) -> RootfsError {
    let path = path.to_owned();
    move |e| RootfsError::Io {
        op,
        path,
        source: e.into(),
    }
}

/// docker's `ContainerPathStat`: what the `X-Docker-Container-Path-Stat`
/// header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    /// The base name of the path as asked for (`/` for the root, `.` for
    /// a path ending in `/.`).
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits (the docker CLI decodes them as such).
    pub mode: u32,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    /// For a symlink: where it leads, resolved inside the root, as an
    /// absolute path in the container.
    pub link_target: String,
}

impl PathStat {
    /// Whether the path is a directory (not a symlink to one).
    pub fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }

    /// The mtime as Go's RFC 3339 with nanoseconds (UTC).
    pub fn mtime_rfc3339(&self) -> String {
        crate::store::rfc3339(self.mtime.0, self.mtime.1)
    }
}

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
const GO_MODE_DEVICE: u32 = 1 << 26;
const GO_MODE_NAMED_PIPE: u32 = 1 << 25;
const GO_MODE_SOCKET: u32 = 1 << 24;
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_CHAR_DEVICE: u32 = 1 << 21;
const GO_MODE_STICKY: u32 = 1 << 20;

/// A `stat` mode as Go's `os.FileMode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => GO_MODE_DIR,
        FileType::Symlink => GO_MODE_SYMLINK,
        FileType::BlockDevice => GO_MODE_DEVICE,
        FileType::CharacterDevice => GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE,
        FileType::Fifo => GO_MODE_NAMED_PIPE,
        FileType::Socket => GO_MODE_SOCKET,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= GO_MODE_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= GO_MODE_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= GO_MODE_STICKY;
    }
    m
}

/// A path in the container split as moby's `ResolvePath` does: the
/// directory part (to resolve inside the root) and the last component
/// (not followed; empty for the directory itself).
struct Split {
    dir: PathBuf,
    base: Option<OsString>,
    /// The base name docker reports.
    name: String,
}

fn split(path: &str) -> Split {
    // Lexically clean, keeping what the trailing `/.` or `/` asserts.
    let mut comps: Vec<&OsStr> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => comps.push(n),
            Component::ParentDir => {
                comps.pop();
            }
            _ => {}
        }
    }
    let dot = path.ends_with("/.") || path == ".";
    let dir: PathBuf = comps.iter().collect();
    if dot {
        return Split {
            dir,
            base: None,
            name: ".".to_owned(),
        };
    }
    match comps.split_last() {
        None => Split {
            dir: PathBuf::new(),
            base: None,
            name: "/".to_owned(),
        },
        Some((last, parent)) => {
            let name = last.to_string_lossy().into_owned();
            if path.ends_with('/') {
                // `/etc/`: the directory itself, symlinks followed.
                Split {
                    dir,
                    base: None,
                    name,
                }
            } else {
                Split {
                    dir: parent.iter().collect(),
                    base: Some(last.to_os_string()),
                    name,
                }
            }
        }
    }
}

fn in_root_how() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// Opens the directory `dir` (relative) inside `root`, symlinks resolved
/// as if `root` were `/`.
fn open_dir_in(root: &OwnedFd, dir: &Path, shown: &str) -> Result<OwnedFd> {
    let p = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    rustix::fs::openat2(
        root,
        p,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        in_root_how(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::NOENT => RootfsError::NotFound {
            path: shown.to_owned(),
        },
        rustix::io::Errno::NOTDIR => RootfsError::NotDirectory {
            path: shown.to_owned(),
        },
        e => io_err("open", shown)(e),
    })
}

fn open_root(root: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open root", &root.to_string_lossy()))
}

/// Where a path resolves to (inside `root`), as an absolute path in the
/// container; lexical when the target does not exist (as moby's
/// `FollowSymlinkInScope`).
fn resolve_target(root: &Path, root_fd: &OwnedFd, rel: &Path, dir: &Path, link: &[u8]) -> String {
    let opened = rustix::fs::openat2(
        root_fd,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        in_root_how(),
    );
    if let Ok(fd) = opened
        && let Ok(real) = fs_err::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        && let Ok(canon_root) = fs_err::canonicalize(root)
        && let Ok(inside) = real.strip_prefix(&canon_root)
    {
        return format!("/{}", inside.to_string_lossy());
    }
    let target = Path::new(OsStr::from_bytes(link));
    let joined = if target.is_absolute() {
        target.to_path_buf()
    } else {
        Path::new("/").join(dir).join(target)
    };
    let mut out: Vec<&OsStr> = Vec::new();
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    let p: PathBuf = out.iter().collect();
    format!("/{}", p.to_string_lossy())
}

/// The opened starting point of a stat or archive.
struct Resolved {
    root_fd: OwnedFd,
    /// The directory holding `base`, or the directory itself.
    dir: OwnedFd,
    base: Option<OsString>,
    stat: Stat,
    name: String,
    link: Vec<u8>,
    split_dir: PathBuf,
}

fn resolve(root: &Path, path: &str) -> Result<Resolved> {
    let root_fd = open_root(root)?;
    let s = split(path);
    let dir = open_dir_in(&root_fd, &s.dir, path)?;
    let (stat, link) = match &s.base {
        None => (
            rustix::fs::fstat(&dir).map_err(io_err("stat", path))?,
            Vec::new(),
        ),
        Some(b) => {
            let st = rustix::fs::statat(&dir, b.as_os_str(), AtFlags::SYMLINK_NOFOLLOW).map_err(
                |e| match e {
                    rustix::io::Errno::NOENT => RootfsError::NotFound {
                        path: path.to_owned(),
                    },
                    e => io_err("stat", path)(e),
                },
            )?;
            let link = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                rustix::fs::readlinkat(&dir, b.as_os_str(), Vec::new())
                    .map_err(io_err("read link", path))?
                    .into_bytes()
            } else {
                Vec::new()
            };
            (st, link)
        }
    };
    Ok(Resolved {
        root_fd,
        dir,
        base: s.base,
        stat,
        name: s.name,
        link,
        split_dir: s.dir,
    })
}

fn path_stat(root: &Path, r: &Resolved) -> PathStat {
    let link_target = if r.link.is_empty() {
        String::new()
    } else {
        let rel = match &r.base {
            Some(b) => r.split_dir.join(b),
            None => r.split_dir.clone(),
        };
        resolve_target(root, &r.root_fd, &rel, &r.split_dir, &r.link)
    };
    PathStat {
        name: r.name.clone(),
        size: r.stat.st_size,
        mode: go_file_mode(r.stat.st_mode),
        mtime: (
            r.stat.st_mtime,
            u32::try_from(r.stat.st_mtime_nsec).unwrap_or(0),
        ),
        link_target,
    }
}

/// `HEAD /containers/{id}/archive?path=`: the stat of `path` in the tree
/// `root` (the last component not followed).
pub fn stat_path(root: &Path, path: &str) -> Result<PathStat> {
    let r = resolve(root, path)?;
    Ok(path_stat(root, &r))
}

/// `GET /containers/{id}/archive?path=`: writes a tar of `path` to
/// `writer`, its entries named from the path's base name (`etc/`,
/// `etc/passwd`; `./passwd` for `/etc/.`; no prefix for `/`). A symlink as
/// the last component is archived as the link. Returns the path's stat,
/// which the caller may need before the first byte is written: see
/// [`stat_path`].
pub fn write_path_archive(root: &Path, path: &str, writer: impl Write) -> Result<PathStat> {
    let r = resolve(root, path)?;
    let stat = path_stat(root, &r);
    let mut w = TreeWriter::new(writer);
    let prefix = if r.name == "/" {
        PathBuf::new()
    } else {
        PathBuf::from(&r.name)
    };
    match &r.base {
        None => {
            if !prefix.as_os_str().is_empty() {
                w.header_for(&r.stat, &prefix, tar::EntryType::Directory, None)?;
            }
            w.dir(&r.dir, &prefix)?;
        }
        Some(b) => w.entry(&r.dir, b, &prefix)?,
    }
    w.finish()?;
    Ok(stat)
}

/// `docker export`: the whole tree under `root` as a tar, names relative
/// to it (`bin/`, `bin/sh`, ...).
pub fn write_tree(root: &Path, writer: impl Write) -> Result<()> {
    let root_fd = open_root(root)?;
    let mut w = TreeWriter::new(writer);
    w.dir(&root_fd, Path::new(""))?;
    w.finish()
}

/// Writes a tree as tar by descriptors (see the module docs).
struct TreeWriter<W: Write> {
    b: tar::Builder<W>,
    /// (dev, inode) of files with several links -> first name written.
    links: BTreeMap<(u64, u64), PathBuf>,
}

fn write_err(source: io::Error) -> RootfsError {
    RootfsError::Write { source }
}

fn names_of(dir: &OwnedFd, shown: &Path) -> Result<Vec<OsString>> {
    let dup = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open directory", &shown.to_string_lossy()))?;
    let d = rustix::fs::Dir::read_from(&dup)
        .map_err(io_err("read directory", &shown.to_string_lossy()))?;
    let mut names = Vec::new();
    for e in d {
        let e = e.map_err(io_err("read directory", &shown.to_string_lossy()))?;
        let n: &CStr = e.file_name();
        let b = n.to_bytes();
        if b == b"." || b == b".." {
            continue;
        }
        names.push(OsStr::from_bytes(b).to_os_string());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

impl<W: Write> TreeWriter<W> {
    fn new(writer: W) -> Self {
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        Self {
            b,
            links: BTreeMap::new(),
        }
    }

    fn finish(self) -> Result<()> {
        let mut w = self.b.into_inner().map_err(write_err)?;
        w.flush().map_err(write_err)
    }

    fn header_for(
        &mut self,
        st: &Stat,
        name: &Path,
        kind: tar::EntryType,
        link: Option<&Path>,
    ) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
            let dev = st.st_rdev;
            h.set_device_major(rustix::fs::major(dev))
                .map_err(write_err)?;
            h.set_device_minor(rustix::fs::minor(dev))
                .map_err(write_err)?;
        }
        self.append_named(&mut h, name, link, io::empty())
    }

    /// Appends an entry under exactly `name` (the tar crate's own path
    /// setters drop `./`, which `docker cp` relies on for `dir/.`), with
    /// GNU long-name records for names and link targets over 100 bytes.
    fn append_named(
        &mut self,
        h: &mut tar::Header,
        name: &Path,
        link: Option<&Path>,
        data: impl io::Read,
    ) -> Result<()> {
        let mut name = name.as_os_str().as_bytes().to_vec();
        if h.entry_type() == tar::EntryType::Directory && !name.ends_with(b"/") {
            name.push(b'/');
        }
        self.long_record(tar::EntryType::GNULongName, &name)?;
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        let n = name.len().min(field.len());
        field[..n].copy_from_slice(&name[..n]);
        if let Some(target) = link {
            let target = target.as_os_str().as_bytes();
            self.long_record(tar::EntryType::GNULongLink, target)?;
            let field = &mut h.as_old_mut().linkname;
            field.fill(0);
            let n = target.len().min(field.len());
            field[..n].copy_from_slice(&target[..n]);
        }
        h.set_cksum();
        self.b.append(h, data).map_err(write_err)
    }

    /// A `././@LongLink` record before an entry whose name (or link
    /// target) does not fit the header.
    fn long_record(&mut self, kind: tar::EntryType, value: &[u8]) -> Result<()> {
        if value.len() <= 100 {
            return Ok(());
        }
        let mut data = value.to_vec();
        data.push(0);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        let field = &mut h.as_old_mut().name;
        let tag = b"././@LongLink";
        field[..tag.len()].copy_from_slice(tag);
        h.set_cksum();
        self.b.append(&h, data.as_slice()).map_err(write_err)
    }

    /// Every entry of the open directory `dir`, named below `rel`.
    fn dir(&mut self, dir: &OwnedFd, rel: &Path) -> Result<()> {
        for name in names_of(dir, rel)? {
            self.entry(dir, &name, &rel.join(&name))?;
        }
        Ok(())
    }

    /// The entry `name` of `dir`, written as `rel`.
    fn entry(&mut self, dir: &OwnedFd, name: &OsStr, rel: &Path) -> Result<()> {
        let shown = rel.to_string_lossy().into_owned();
        let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed meanwhile by the running container.
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io_err("stat", &shown)(e)),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let fd = match rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(rustix::io::Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(io_err("open directory", &shown)(e)),
                };
                self.header_for(&st, rel, tar::EntryType::Directory, None)?;
                self.dir(&fd, rel)
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, name, Vec::new())
                    .map_err(io_err("read link", &shown))?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                self.header_for(&st, rel, tar::EntryType::Symlink, Some(&target))
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        return self.header_for(&st, rel, tar::EntryType::Link, Some(&first));
                    }
                    self.links.insert(key, rel.to_owned());
                }
                let fd = match rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(rustix::io::Errno::NOENT) => return Ok(()),
                    Err(e) => return Err(io_err("open", &shown)(e)),
                };
                // The size written is the size at stat time: a file that
                // grows meanwhile is cut, one that shrinks is padded (the
                // tar crate's `append_data` fails on a short read).
                let file = std::fs::File::from(fd);
                let size = u64::try_from(st.st_size).unwrap_or(0);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(st.st_mode & 0o7777);
                h.set_uid(u64::from(st.st_uid));
                h.set_gid(u64::from(st.st_gid));
                h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
                h.set_size(size);
                let reader = io::Read::take(
                    io::Read::chain(io::Read::take(file, size), io::repeat(0)),
                    size,
                );
                self.append_named(&mut h, rel, None, reader)
            }
            FileType::Fifo => self.header_for(&st, rel, tar::EntryType::Fifo, None),
            FileType::CharacterDevice => self.header_for(&st, rel, tar::EntryType::Char, None),
            FileType::BlockDevice => self.header_for(&st, rel, tar::EntryType::Block, None),
            // Sockets are not file content (tar has no type for them).
            _ => Ok(()),
        }
    }
}

/// What `docker diff` reports for one path (moby `archive.ChangeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `C`, API kind 0.
    Modified,
    /// `A`, API kind 1.
    Added,
    /// `D`, API kind 2.
    Deleted,
}

impl ChangeKind {
    /// The number the API uses.
    pub fn api_kind(self) -> u8 {
        match self {
            Self::Modified => 0,
            Self::Added => 1,
            Self::Deleted => 2,
        }
    }

    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            Self::Modified => 'C',
            Self::Added => 'A',
            Self::Deleted => 'D',
        }
    }
}

/// One changed path (absolute, in the container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

/// `docker diff`: the changes an overlay upper directory makes to its
/// lower directories (top first), in moby's order and with its rules
/// (`archive.changes` with `overlayDeletedFile`):
///
/// - a whiteout (character device 0:0) is `D`, and so is an opaque
///   directory (`trusted.overlay.opaque=y`): its old content is gone;
/// - a path that exists in a lower directory is `C`, except a directory
///   whose size, mode and mtime are unchanged (it is only there as the
///   parent of a change); any other path is `A`;
/// - the parent directory of an `A` or `D` is reported as `C` (once)
///   when it is not reported already.
///
/// Paths are visited depth first in byte order of names, as Go's
/// `filepath.Walk`.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let upper_fd = open_root(upper)?;
    let lower_fds: Vec<OwnedFd> = lowers.iter().filter_map(|l| open_root(l).ok()).collect();
    let mut out = Vec::new();
    let mut changed_dirs = std::collections::BTreeSet::new();
    walk_changes(
        &upper_fd,
        &lower_fds,
        Path::new(""),
        &mut out,
        &mut changed_dirs,
    )?;
    Ok(out)
}

/// Stat of `rel` in a lower directory, never following a symlink on the
/// way (a symlink in a lower layer is not a directory of the upper one).
fn lower_stat(lower: &OwnedFd, rel: &Path) -> Option<Stat> {
    let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
    let name = rel.file_name()?;
    let dir = match parent {
        Some(p) => rustix::fs::openat2(
            lower,
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()?,
        None => rustix::fs::openat(
            lower,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?,
    };
    rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()
}

fn is_opaque(dir: &impl AsFd) -> bool {
    let mut v = [0u8; 4];
    matches!(
        rustix::fs::fgetxattr(dir, crate::layer::OPAQUE_XATTR, &mut v[..]),
        Ok(1) if v[0] == b'y'
    )
}

fn walk_changes(
    dir: &OwnedFd,
    lowers: &[OwnedFd],
    rel: &Path,
    out: &mut Vec<Change>,
    changed_dirs: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    for name in names_of(dir, rel)? {
        let path = rel.join(&name);
        let shown = format!("/{}", path.to_string_lossy());
        let st = match rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(io_err("stat", &shown)(e)),
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let sub = if ft == FileType::Directory {
            Some(
                rustix::fs::openat(
                    dir,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err("open directory", &shown))?,
            )
        } else {
            None
        };
        let whiteout = ft == FileType::CharacterDevice && st.st_rdev == 0;
        let opaque = sub.as_ref().is_some_and(is_opaque);
        let mut record = true;
        let kind = if whiteout || opaque {
            ChangeKind::Deleted
        } else {
            let mut kind = ChangeKind::Added;
            for l in lowers {
                if let Some(ls) = lower_stat(l, &path) {
                    let both_dirs =
                        ft == FileType::Directory && FileType::from_raw_mode(ls.st_mode) == ft;
                    if both_dirs
                        && ls.st_size == st.st_size
                        && ls.st_mode == st.st_mode
                        && ls.st_mtime == st.st_mtime
                        && ls.st_mtime_nsec == st.st_mtime_nsec
                    {
                        record = false;
                    }
                    kind = ChangeKind::Modified;
                    break;
                }
            }
            kind
        };
        if record {
            if ft == FileType::Directory {
                changed_dirs.insert(path.clone());
            }
            if matches!(kind, ChangeKind::Added | ChangeKind::Deleted)
                && !rel.as_os_str().is_empty()
                && changed_dirs.insert(rel.to_path_buf())
            {
                out.push(Change {
                    path: format!("/{}", rel.to_string_lossy()),
                    kind: ChangeKind::Modified,
                });
            }
            out.push(Change { path: shown, kind });
        }
        if let Some(sub) = sub {
            walk_changes(&sub, lowers, &path, out, changed_dirs)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_docker() {
        let s = split("/etc/passwd");
        assert_eq!(
            (s.dir, s.base, s.name),
            ("etc".into(), Some("passwd".into()), "passwd".into())
        );
        let s = split("/etc/.");
        assert_eq!((s.dir, s.base, s.name), ("etc".into(), None, ".".into()));
        let s = split("/etc/");
        assert_eq!((s.dir, s.base, s.name), ("etc".into(), None, "etc".into()));
        let s = split("/");
        assert_eq!((s.dir, s.base, s.name), ("".into(), None, "/".into()));
        let s = split("../../a/../b");
        assert_eq!(
            (s.dir, s.base, s.name),
            ("".into(), Some("b".into()), "b".into())
        );
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(0o041777), (1 << 31) | (1 << 20) | 0o777);
    }
}
