//! Helpers shared by the integration tests: crafted tar archives (with raw
//! header bytes, so names the `tar` builder would refuse, like `../x`, can
//! be written) and a canary directory whose state is compared before and
//! after an apply.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One archive entry.
pub enum E<'a> {
    File(&'a str, &'a [u8]),
    FileMode(&'a str, &'a [u8], u32, u64, u64),
    Dir(&'a str),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Char(&'a str),
    Block(&'a str),
    Fifo(&'a str),
    /// A file whose name goes through the builder (GNU long names).
    LongFile(String, &'a [u8]),
    /// A file with PAX xattrs.
    XattrFile(&'a str, &'a [u8], Vec<(&'a str, &'a [u8])>),
}

pub const MTIME: u64 = 1_600_000_000;

fn raw_header(name: &str, kind: tar::EntryType, link: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    {
        let old = h.as_old_mut();
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "raw names are at most 100 bytes"
        );
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_cksum();
    h
}

/// Builds an uncompressed tar from entries.
pub fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(n, d) => b.append(
                &raw_header(n, tar::EntryType::Regular, "", d.len() as u64, 0o644),
                *d,
            ),
            E::FileMode(n, d, mode, uid, gid) => {
                let mut h = raw_header(n, tar::EntryType::Regular, "", d.len() as u64, *mode);
                h.set_uid(*uid);
                h.set_gid(*gid);
                h.set_cksum();
                b.append(&h, *d)
            }
            E::Dir(n) => b.append(
                &raw_header(n, tar::EntryType::Directory, "", 0, 0o755),
                &[][..],
            ),
            E::Sym(n, t) => b.append(
                &raw_header(n, tar::EntryType::Symlink, t, 0, 0o777),
                &[][..],
            ),
            E::Hard(n, t) => b.append(&raw_header(n, tar::EntryType::Link, t, 0, 0o644), &[][..]),
            E::Char(n) => b.append(&raw_header(n, tar::EntryType::Char, "", 0, 0o666), &[][..]),
            E::Block(n) => b.append(&raw_header(n, tar::EntryType::Block, "", 0, 0o660), &[][..]),
            E::Fifo(n) => b.append(&raw_header(n, tar::EntryType::Fifo, "", 0, 0o640), &[][..]),
            E::LongFile(n, d) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(MTIME);
                b.append_data(&mut h, n, *d)
            }
            E::XattrFile(n, d, xattrs) => {
                let recs: Vec<(String, &[u8])> = xattrs
                    .iter()
                    .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
                    .collect();
                b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
                    .unwrap();
                b.append(
                    &raw_header(n, tar::EntryType::Regular, "", d.len() as u64, 0o644),
                    *d,
                )
            }
        }
        .unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

/// A temp dir with `target/` (not yet created) and `canary/` (a file, a
/// subdirectory), and a fingerprint of everything outside `target/`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("canary");
        fs_err::create_dir_all(c.join("sub")).unwrap();
        fs_err::write(c.join("file"), b"original").unwrap();
        fs_err::write(c.join("sub/inner"), b"inner").unwrap();
        Self { dir }
    }

    pub fn target(&self) -> PathBuf {
        self.dir.path().join("target")
    }

    /// The tempdir's absolute path without the leading `/`, for names that
    /// would land in the canary if resolved against the host root.
    pub fn abs(&self) -> String {
        self.dir.path().to_str().unwrap().to_owned()
    }

    /// Path, type, size, mode, mtime and content hash of everything in the
    /// sandbox except `target/`.
    pub fn fingerprint(&self) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out, &self.target());
        out
    }
}

fn walk(root: &Path, p: &Path, out: &mut BTreeMap<PathBuf, String>, skip: &Path) {
    for e in fs_err::read_dir(p).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        if path == skip {
            continue;
        }
        let md = fs_err::symlink_metadata(&path).unwrap();
        let content = if md.is_file() {
            fs_err::read(&path).unwrap()
        } else {
            Vec::new()
        };
        out.insert(
            path.strip_prefix(root).unwrap().to_owned(),
            format!(
                "{:o} {} {} {} {:?}",
                md.mode(),
                md.len(),
                md.mtime(),
                md.nlink(),
                content
            ),
        );
        if md.is_dir() {
            walk(root, &path, out, skip);
        }
    }
}

/// Parses a reference that the test knows is valid.
pub fn reference(s: &str) -> berth_image::reference::Reference {
    berth_image::reference::Reference::parse_normalized(s).unwrap()
}

/// Type, mode, owner, size, content, link target, device number, mtime
/// (files) and overlay opaque marker of every entry under `root`, plus
/// hard-link groups by inode.
pub fn describe(root: &Path) -> (BTreeMap<PathBuf, String>, Vec<Vec<PathBuf>>) {
    use std::os::unix::fs::FileTypeExt;
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs_err::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let md = fs_err::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_owned();
            let ft = md.file_type();
            let extra = if ft.is_symlink() {
                format!("-> {}", fs_err::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                inodes.entry(md.ino()).or_default().push(rel.clone());
                format!(
                    "{} {:?} {}",
                    md.len(),
                    fs_err::read(&p).unwrap(),
                    md.mtime()
                )
            } else if ft.is_char_device() || ft.is_block_device() {
                format!("dev {}", md.rdev())
            } else if ft.is_dir() {
                let mut v = [0u8; 4];
                let opaque =
                    rustix::fs::lgetxattr(p.as_path(), "trusted.overlay.opaque", &mut v[..])
                        .is_ok();
                format!("opaque={opaque}")
            } else {
                String::new()
            };
            out.insert(
                rel,
                format!("{:o} {}:{} {extra}", md.mode(), md.uid(), md.gid()),
            );
            if ft.is_dir() {
                stack.push(p);
            }
        }
    }
    let mut groups: Vec<Vec<PathBuf>> = inodes
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    groups.sort();
    (out, groups)
}
