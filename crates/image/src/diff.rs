//! Layer diff: the inverse of [`crate::layer::apply_layer`]. An overlay
//! upper directory (a container's writable snapshot, or a build step's) is
//! written out as an uncompressed layer tar, with overlayfs whiteouts
//! turned back into image-spec whiteouts (`layer.md`, "Whiteouts"): a
//! character device 0:0 named `x` becomes an empty `.wh.x`, and a
//! directory with `trusted.overlay.opaque=y` gets a `.wh..wh..opq` entry.
//!
//! The walk is in byte order of names, so the same tree always gives the
//! same bytes (and diff ID); hard links within the tree become tar hard
//! links; xattrs (except `trusted.overlay.*`, which belong to overlayfs)
//! are kept as PAX `SCHILY.xattr.*` records. The tree should be quiescent
//! (`docker commit` pauses the container); files are opened with
//! `O_NOFOLLOW`, so a symlink swapped in meanwhile is never followed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use fs_err::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Sha256Hasher};
use crate::layer::OPAQUE_XATTR;

/// Errors of writing a diff.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Reading the tree failed.
    #[error("diff of `{path}`: {op}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// Writing the tar failed.
    #[error("writing layer diff: {source}")]
    Write {
        /// The error.
        source: io::Error,
    },
}

impl DiffError {
    /// The error's class for API status mapping.
    pub fn class(&self) -> crate::ErrorClass {
        crate::ErrorClass::Internal
    }
}

type Result<T, E = DiffError> = std::result::Result<T, E>;

/// What a diff wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffReport {
    /// Digest of the tar written (the layer's diff ID).
    pub diff_id: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Entries written (whiteouts included).
    pub entries: u64,
}

/// A writer that hashes what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the tree under `upper` as a layer tar to `writer`.
pub fn write_diff(upper: &Path, writer: impl Write) -> Result<DiffReport> {
    let mut b = tar::Builder::new(HashingWriter {
        inner: writer,
        hasher: Sha256Hasher::new(),
    });
    b.follow_symlinks(false);
    let mut state = Walk {
        root: upper.to_owned(),
        links: BTreeMap::new(),
        entries: 0,
    };
    state.dir(&mut b, Path::new(""))?;
    let mut w = b
        .into_inner()
        .map_err(|source| DiffError::Write { source })?;
    w.flush().map_err(|source| DiffError::Write { source })?;
    let size = w.hasher.len();
    Ok(DiffReport {
        diff_id: w.hasher.finish(),
        size,
        entries: state.entries,
    })
}

struct Walk {
    root: PathBuf,
    /// (dev, inode) of files with several links -> first path written.
    links: BTreeMap<(u64, u64), PathBuf>,
    entries: u64,
}

fn read_err(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> DiffError {
    let path = path.to_owned();
    move |source| DiffError::Read { path, op, source }
}

fn write_err(source: io::Error) -> DiffError {
    DiffError::Write { source }
}

/// The xattrs of `path` (not following a symlink), minus overlayfs' own.
fn xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut list = vec![0u8; 64 * 1024];
    let n = match rustix::fs::llistxattr(path, &mut list[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(read_err(path, "list xattrs")(e.into())),
    };
    let mut out = Vec::new();
    for name in list[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut val = vec![0u8; 64 * 1024];
        match rustix::fs::lgetxattr(path, name.as_str(), &mut val[..]) {
            Ok(len) => {
                val.truncate(len);
                out.push((name, val));
            }
            Err(rustix::io::Errno::NODATA) => {}
            Err(e) => return Err(read_err(path, "read xattr")(e.into())),
        }
    }
    Ok(out)
}

fn is_opaque(path: &Path) -> bool {
    let mut v = [0u8; 4];
    matches!(rustix::fs::lgetxattr(path, OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y')
}

fn header_from(md: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
    h.set_size(0);
    h
}

impl Walk {
    fn pax<W: Write>(&self, b: &mut tar::Builder<W>, path: &Path) -> Result<()> {
        let xs = xattrs(path)?;
        if xs.is_empty() {
            return Ok(());
        }
        let recs: Vec<(String, Vec<u8>)> = xs
            .into_iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
            .collect();
        b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(write_err)
    }

    fn dir<W: Write>(&mut self, b: &mut tar::Builder<W>, rel: &Path) -> Result<()> {
        let abs = self.root.join(rel);
        let mut names: Vec<OsString> = fs_err::read_dir(&abs)
            .map_err(read_err(&abs, "read directory"))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(read_err(&abs, "read directory"))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            self.entry(b, &rel.join(&name))?;
        }
        Ok(())
    }

    fn entry<W: Write>(&mut self, b: &mut tar::Builder<W>, rel: &Path) -> Result<()> {
        let abs = self.root.join(rel);
        let md = fs_err::symlink_metadata(&abs).map_err(read_err(&abs, "stat"))?;
        let ft = md.file_type();
        self.entries += 1;
        if ft.is_char_device() && md.rdev() == 0 {
            // An overlay whiteout: `.wh.<name>` in the same directory.
            let name = rel
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            let mut wh = OsString::from(".wh.");
            wh.push(name);
            let path = rel.with_file_name(wh);
            let mut h = header_from(&md, tar::EntryType::Regular);
            h.set_mode(0o644);
            return b.append_data(&mut h, path, io::empty()).map_err(write_err);
        }
        if ft.is_dir() {
            self.pax(b, &abs)?;
            let mut h = header_from(&md, tar::EntryType::Directory);
            b.append_data(&mut h, rel, io::empty()).map_err(write_err)?;
            if is_opaque(&abs) {
                self.entries += 1;
                let mut h = header_from(&md, tar::EntryType::Regular);
                h.set_mode(0o644);
                b.append_data(&mut h, rel.join(".wh..wh..opq"), io::empty())
                    .map_err(write_err)?;
            }
            return self.dir(b, rel);
        }
        if ft.is_symlink() {
            let target = fs_err::read_link(&abs).map_err(read_err(&abs, "read link"))?;
            let mut h = header_from(&md, tar::EntryType::Symlink);
            return b.append_link(&mut h, rel, target).map_err(write_err);
        }
        if ft.is_file() {
            if md.nlink() > 1 {
                let key = (md.dev(), md.ino());
                if let Some(first) = self.links.get(&key) {
                    let mut h = header_from(&md, tar::EntryType::Link);
                    return b.append_link(&mut h, rel, first).map_err(write_err);
                }
                self.links.insert(key, rel.to_owned());
            }
            self.pax(b, &abs)?;
            let f = fs_err::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&abs)
                .map_err(read_err(&abs, "open"))?;
            let mut h = header_from(&md, tar::EntryType::Regular);
            h.set_size(md.len());
            return b.append_data(&mut h, rel, f).map_err(write_err);
        }
        if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let kind = if ft.is_fifo() {
                tar::EntryType::Fifo
            } else if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            let mut h = header_from(&md, kind);
            let dev = md.rdev();
            h.set_device_major(libc::major(dev)).map_err(write_err)?;
            h.set_device_minor(libc::minor(dev)).map_err(write_err)?;
            return b.append_data(&mut h, rel, io::empty()).map_err(write_err);
        }
        // Sockets are not file system content worth keeping.
        self.entries -= 1;
        Ok(())
    }
}
