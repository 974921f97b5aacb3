//! Streaming layer apply: a layer blob (tar, gzip or zstd, told apart by
//! magic bytes) is unpacked into a directory that becomes an overlay upper
//! or lower directory, while the compressed digest and the uncompressed
//! diff ID are computed and, when expected values are given, verified.
//!
//! Layers are hostile input (image-spec `layer.md`; CVE-2019-14271,
//! CVE-2018-15664, RUSTSEC-2026-0067/0068 for the `tar` crate's own
//! unpacker). So this module never calls `tar::Archive::unpack` and never
//! joins entry names onto a path. Instead:
//!
//! - every entry name is cleaned lexically: `/` prefixes are dropped
//!   (absolute names are relative to the layer root, as in Docker), `.`
//!   components vanish, and a `..` that would climb above the root is an
//!   error naming the entry;
//! - the entry's parent directory is opened with `openat2(2)` and
//!   `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` relative to a descriptor of
//!   the target, so symlinks (absolute or relative, from this archive or
//!   already on disk) are resolved as if the target were `/` and can never
//!   lead outside it;
//! - the final component is then created with `*at` calls on that parent
//!   descriptor, never following a symlink (`O_CREAT | O_EXCL |
//!   O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`); an existing entry of the same
//!   name is removed first, so an existing hard link or symlink is never
//!   written through;
//! - hard link targets are resolved the same way, so they can only name
//!   files inside the target;
//! - character and block devices are not created (containers get `/dev`
//!   from the runtime): they are counted and reported;
//! - xattrs from the archive in the `trusted.overlay.` namespace are
//!   dropped: they would change how overlayfs interprets the layer.
//!
//! Whiteouts (image-spec `layer.md`, "Whiteouts") become overlayfs
//! whiteouts: `.wh.<name>` is a character device 0:0 named `<name>`, and
//! `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory
//! (kernel `Documentation/filesystems/overlayfs.rst`).
//!
//! On any error, including a digest or diff ID mismatch detected at the
//! end of the stream, the target directory is removed.

use std::ffi::{OsStr, OsString};
use std::io::{self, Cursor, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens, makedev,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};

use crate::digest::{Digest, HashingReader};
use crate::fsutil::FsError;

/// The prefix of whiteout file names.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque-directory marker.
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// Reserved prefix of AUFS metadata (`.wh..wh.plnk`, ...): skipped.
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// The overlayfs opaque xattr.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Errors of layer apply. Every per-entry error names the entry as it
/// appears in the archive.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Creating or removing the target directory failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The target exists and is not an empty directory.
    #[error("layer target `{path}` is not an empty directory")]
    TargetNotEmpty {
        /// The target.
        path: PathBuf,
    },
    /// The stream could not be read or decompressed, or is not a valid tar.
    #[error("reading layer: {source}")]
    Read {
        /// The underlying error.
        source: io::Error,
    },
    /// The entry's name climbs above the layer root.
    #[error("layer entry `{entry}`: path escapes the layer root")]
    Escape {
        /// The entry name.
        entry: String,
    },
    /// A hard link's target climbs above the layer root or is not a file in it.
    #[error(
        "layer entry `{entry}`: hard link target `{target}` is not a file inside the layer: {reason}"
    )]
    BadHardlink {
        /// The entry name.
        entry: String,
        /// The link target as written in the archive.
        target: String,
        /// Why it was refused.
        reason: String,
    },
    /// An entry type berth does not apply.
    #[error("layer entry `{entry}`: unsupported entry type {kind}")]
    Unsupported {
        /// The entry name.
        entry: String,
        /// The tar type byte, as a character.
        kind: String,
    },
    /// A file system call for one entry failed.
    #[error("layer entry `{entry}`: {op}: {source}")]
    Entry {
        /// The entry name.
        entry: String,
        /// The operation.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The compressed stream does not match its expected digest.
    #[error("layer digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The expected (descriptor) digest.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// The uncompressed tar does not match its expected diff ID.
    #[error("layer diff ID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// The expected diff ID (from the image config).
        expected: Digest,
        /// The digest of the uncompressed bytes.
        actual: Digest,
    },
}

impl LayerError {
    /// The error's class for API status mapping.
    pub fn class(&self) -> crate::ErrorClass {
        use crate::ErrorClass as C;
        match self {
            Self::Fs(_) | Self::TargetNotEmpty { .. } => C::Internal,
            Self::DigestMismatch { .. } | Self::DiffIdMismatch { .. } => C::DataLoss,
            Self::Read { .. }
            | Self::Escape { .. }
            | Self::BadHardlink { .. }
            | Self::Unsupported { .. }
            | Self::Entry { .. } => C::InvalidArgument,
        }
    }
}

type Result<T, E = LayerError> = std::result::Result<T, E>;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Detects the compression from the first bytes of a stream.
    pub fn detect(prefix: &[u8]) -> Self {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// What to verify while applying.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// The digest of the blob as stored or transferred (compressed).
    pub expected_digest: Option<Digest>,
    /// The diff ID: the digest of the uncompressed tar.
    pub expected_diff_id: Option<Digest>,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// Digest of the stream as read (compressed).
    pub digest: Digest,
    /// Size of the stream as read.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
    /// Detected compression.
    pub compression: Compression,
    /// Entries applied (whiteouts included, skipped devices not).
    pub entries: u64,
    /// Whiteouts and opaque markers created.
    pub whiteouts: u64,
    /// Device nodes that were not created, by cleaned path.
    pub skipped_devices: Vec<String>,
}

/// Applies the layer in `reader` to `target`, which must be absent or an
/// empty directory. On error `target` is removed.
pub fn apply_layer(reader: impl Read, target: &Path, opts: &ApplyOptions) -> Result<ApplyReport> {
    match fs_err::read_dir(target) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(LayerError::TargetNotEmpty {
                    path: target.to_owned(),
                });
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs_err::create_dir_all(target).map_err(|e| FsError::new("create", target, e))?;
        }
        Err(e) => return Err(FsError::new("read directory", target, e).into()),
    }
    let result = apply_inner(reader, target, opts);
    if result.is_err()
        && let Err(e) = fs_err::remove_dir_all(target)
        && e.kind() != io::ErrorKind::NotFound
    {
        // Report the apply error; the leftover is named in the log line
        // the caller writes for it.
        return Err(FsError::new("remove failed layer", target, e).into());
    }
    result
}

fn read_err(source: io::Error) -> LayerError {
    LayerError::Read { source }
}

fn apply_inner(reader: impl Read, target: &Path, opts: &ApplyOptions) -> Result<ApplyReport> {
    let root = nix::fcntl::open(
        target,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FsError::new("open", target, e.into()))?;

    let state = Applier {
        root,
        prefix: Vec::new(),
        copy: None,
        entries: 0,
        whiteouts: 0,
        skipped_devices: Vec::new(),
        dir_times: Vec::new(),
    };
    let report = state.apply_all(reader)?;
    if let Some(exp) = &opts.expected_digest
        && exp != &report.digest
    {
        return Err(LayerError::DigestMismatch {
            expected: exp.clone(),
            actual: report.digest,
        });
    }
    if let Some(exp) = &opts.expected_diff_id
        && exp != &report.diff_id
    {
        return Err(LayerError::DiffIdMismatch {
            expected: exp.clone(),
            actual: report.diff_id,
        });
    }
    Ok(report)
}

/// Detects the compression of `raw` from its magic bytes and returns a
/// reader of the uncompressed stream.
fn decompress<'a, R: Read + 'a>(mut raw: R) -> Result<(Box<dyn Read + 'a>, Compression)> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        let n = raw.read(&mut magic[got..]).map_err(read_err)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let compression = Compression::detect(&magic[..got]);
    let chained = Cursor::new(magic[..got].to_vec()).chain(raw);
    let decoder: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(chained),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(chained).map_err(read_err)?),
    };
    Ok((decoder, compression))
}

/// Digest, diff ID and sizes of a layer blob, without unpacking it: for a
/// layer whose snapshot already exists, to check that a new blob claiming
/// the same diff ID really has it.
pub fn digest_layer(reader: impl Read) -> Result<ApplyReport> {
    let mut raw = HashingReader::new(reader);
    let (decoder, compression) = decompress(&mut raw)?;
    let mut diff = HashingReader::new(decoder);
    io::copy(&mut diff, &mut io::sink()).map_err(read_err)?;
    let (diff_id, uncompressed_size) = diff.finish();
    io::copy(&mut raw, &mut io::sink()).map_err(read_err)?;
    let (digest, size) = raw.finish();
    Ok(ApplyReport {
        digest,
        size,
        diff_id,
        uncompressed_size,
        compression,
        entries: 0,
        whiteouts: 0,
        skipped_devices: Vec::new(),
    })
}

/// How [`extract_archive`] differs from a layer apply: `docker cp` into a
/// container (moby `archive.Untar` in the container's root).
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Refuse to replace an existing directory with a non-directory or the
    /// reverse (the API's `noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
    /// Owner for everything extracted instead of the archive's (`docker cp
    /// -a` into a container with a `User`).
    pub chown: Option<(u32, u32)>,
}

impl CopyOptions {
    fn check_overwrite(
        &self,
        pdir: &OwnedFd,
        base: &OsStr,
        kind: tar::EntryType,
        name: &str,
    ) -> Result<()> {
        if !self.no_overwrite_dir_non_dir {
            return Ok(());
        }
        let Ok(st) = fstatat(pdir, base, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            return Ok(());
        };
        let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
        let entry_dir = kind == tar::EntryType::Directory;
        let reason = match (is_dir, entry_dir) {
            (true, false) => "cannot overwrite a directory with a non-directory",
            (false, true) => "cannot overwrite a non-directory with a directory",
            _ => return Ok(()),
        };
        Err(LayerError::Entry {
            entry: name.to_owned(),
            op: "extract",
            source: io::Error::new(io::ErrorKind::AlreadyExists, reason),
        })
    }
}

/// Extracts a (possibly compressed) tar into the directory `dest` of the
/// tree `root` (a container's root file system), as `docker cp` does.
/// Every path, symlink and hard link in the archive is resolved as if
/// `root` were `/` (`openat2` `RESOLVE_IN_ROOT`), so nothing is ever
/// written outside `root`; entry names that climb above `dest` are refused.
/// Whiteout names are ordinary files here; device nodes are skipped. What
/// was extracted before an error stays (as with docker).
pub fn extract_archive(
    reader: impl Read,
    root: &Path,
    dest: &Path,
    opts: &CopyOptions,
) -> Result<ApplyReport> {
    let root_fd = nix::fcntl::open(
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FsError::new("open", root, e.into()))?;
    let prefix = clean(dest).ok_or_else(|| LayerError::Escape {
        entry: dest.to_string_lossy().into_owned(),
    })?;
    Applier {
        root: root_fd,
        prefix,
        copy: Some(opts.clone()),
        entries: 0,
        whiteouts: 0,
        skipped_devices: Vec::new(),
        dir_times: Vec::new(),
    }
    .apply_all(reader)
}

/// Writes the chunks of a PAX sparse member at their offsets, leaving holes.
fn write_sparse(data: &mut impl Read, file: &std::fs::File, sp: &Sparse) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("sparse file: {what}"));
    let real_size = sp.real_size.ok_or_else(|| bad("no GNU.sparse.realsize"))?;
    let map: Vec<u64> = if sp.map_in_data {
        // 1.0: decimal numbers, one per line (count, then offset/size
        // pairs), padded with NULs to a 512-byte block.
        let mut consumed = 0u64;
        let mut read_num = |data: &mut dyn Read| -> io::Result<u64> {
            let mut digits = Vec::new();
            loop {
                let mut b = [0u8; 1];
                data.read_exact(&mut b)?;
                consumed += 1;
                if b[0] == b'\n' {
                    break;
                }
                if !b[0].is_ascii_digit() || digits.len() > 20 {
                    return Err(bad("malformed map"));
                }
                digits.push(b[0]);
            }
            std::str::from_utf8(&digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| bad("malformed map"))
        };
        let n = read_num(data)?;
        if n > MAX_SPARSE_ENTRIES {
            return Err(bad("too many map entries"));
        }
        let mut map = Vec::new();
        for _ in 0..n * 2 {
            map.push(read_num(data)?);
        }
        let pad = (512 - consumed % 512) % 512;
        io::copy(&mut data.take(pad), &mut io::sink())?;
        map
    } else {
        sp.map.clone()
    };
    if !map.len().is_multiple_of(2) || map.len() as u64 > 2 * MAX_SPARSE_ENTRIES {
        return Err(bad("malformed map"));
    }
    let mut buf = vec![0u8; 64 * 1024];
    for pair in map.chunks(2) {
        let (offset, len) = (pair[0], pair[1]);
        if offset.checked_add(len).is_none_or(|end| end > real_size) {
            return Err(bad("chunk beyond the file's size"));
        }
        let mut done = 0u64;
        while done < len {
            let want = usize::try_from((len - done).min(buf.len() as u64)).unwrap_or(buf.len());
            data.read_exact(&mut buf[..want])?;
            file.write_all_at(&buf[..want], offset + done)?;
            done += want as u64;
        }
    }
    file.set_len(real_size)
}

/// Cleans an archive path into components below the root; `None` when a
/// `..` climbs above it.
fn clean(path: &Path) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::Normal(n) => out.push(n.to_owned()),
        }
    }
    Some(out)
}

fn join(comps: &[OsString]) -> PathBuf {
    if comps.is_empty() {
        return PathBuf::from(".");
    }
    comps.iter().collect()
}

fn dir_how() -> OpenHow {
    OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// Opens the directory `comps` inside `root`, resolving symlinks as if
/// `root` were `/`. With `create`, missing directories are made (0755, as
/// Docker does for implied parents).
fn open_dir_in_root(root: &OwnedFd, comps: &[OsString], create: bool) -> nix::Result<OwnedFd> {
    match openat2(root, &join(comps), dir_how()) {
        Err(Errno::ENOENT) if create => {}
        other => return other,
    }
    let mut cur = openat2(root, ".", dir_how())?;
    for i in 0..comps.len() {
        let prefix = join(&comps[..=i]);
        cur = match openat2(root, &prefix, dir_how()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                // `cur` is the in-root resolution of the prefix's parent,
                // and `comps[i]` a single name: mkdirat cannot escape.
                match mkdirat(&cur, comps[i].as_os_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                openat2(root, &prefix, dir_how())?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// Removes `name` in `dir` if it exists (recursively for a directory),
/// without following symlinks.
fn remove_existing(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        // The magic link names the directory `dir` itself, and
        // remove_dir_all opens `name` with O_NOFOLLOW and walks by fd, so
        // nothing outside is reached.
        let p = PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(dir)
        ))
        .join(name);
        fs_err::remove_dir_all(p)
    } else {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(Into::into)
    }
}

fn is_dir_at(dir: &OwnedFd, name: &OsStr) -> bool {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

/// Ownership, mode, times and xattrs of one entry, with PAX overrides.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
    sparse: Sparse,
}

/// GNU sparse files in PAX archives (`tar --sparse --format=posix`), as
/// GNU tar documents them ("Storing Sparse Files", formats 0.0, 0.1 and
/// 1.0). The `tar` crate handles the old GNU header format itself but not
/// these, where the real name is in `GNU.sparse.name` and the member data
/// holds only the non-hole chunks (preceded, in 1.0, by the map).
#[derive(Default)]
struct Sparse {
    /// `GNU.sparse.name`: the file's real name.
    name: Option<String>,
    /// `GNU.sparse.realsize` / `GNU.sparse.size`.
    real_size: Option<u64>,
    /// `GNU.sparse.major` = 1: the map is at the start of the data.
    map_in_data: bool,
    /// 0.0 (`GNU.sparse.offset`/`numbytes` pairs) or 0.1 (`GNU.sparse.map`).
    map: Vec<u64>,
    /// Any `GNU.sparse.*` record seen.
    present: bool,
}

/// Upper bound on sparse map entries (GNU tar has none; this keeps a
/// hostile map from exhausting memory).
const MAX_SPARSE_ENTRIES: u64 = 1 << 20;

struct Applier {
    root: OwnedFd,
    /// Where entries go, below `root` (empty for a layer; the destination
    /// directory for `docker cp`).
    prefix: Vec<OsString>,
    /// `docker cp` semantics instead of a layer's (see [`CopyOptions`]).
    copy: Option<CopyOptions>,
    entries: u64,
    whiteouts: u64,
    skipped_devices: Vec<String>,
    /// Directory mtimes are set last: later entries change them.
    dir_times: Vec<(Vec<OsString>, i64)>,
}

impl Applier {
    /// Applies every entry of the (possibly compressed) tar in `reader`,
    /// then reads both streams to their end: the report, with the
    /// digest and size as read and the diff ID and size uncompressed.
    fn apply_all(mut self, reader: impl Read) -> Result<ApplyReport> {
        let mut raw = HashingReader::new(reader);
        let (decoder, compression) = decompress(&mut raw)?;
        let mut diff = HashingReader::new(decoder);
        {
            let mut archive = tar::Archive::new(&mut diff);
            for entry in archive.entries().map_err(read_err)? {
                let mut entry = entry.map_err(read_err)?;
                self.apply_entry(&mut entry)?;
            }
        }
        self.finish_dir_times();
        // Hash to the end of both streams: the tar's end-of-archive blocks
        // and any padding are part of the diff ID and the digest.
        io::copy(&mut diff, &mut io::sink()).map_err(read_err)?;
        let (diff_id, uncompressed_size) = diff.finish();
        io::copy(&mut raw, &mut io::sink()).map_err(read_err)?;
        let (digest, size) = raw.finish();
        Ok(ApplyReport {
            digest,
            size,
            diff_id,
            uncompressed_size,
            compression,
            entries: self.entries,
            whiteouts: self.whiteouts,
            skipped_devices: self.skipped_devices,
        })
    }

    /// `comps` (relative to the archive's root) below [`Applier::prefix`].
    fn full(&self, comps: &[OsString]) -> Vec<OsString> {
        self.prefix.iter().chain(comps).cloned().collect()
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let mut raw_path = entry.path().map_err(read_err)?.into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName
        ) {
            return Ok(());
        }
        let meta = self.meta(entry, &raw_path.to_string_lossy())?;
        if let Some(real) = &meta.sparse.name {
            raw_path = PathBuf::from(real);
        }
        let name = raw_path.to_string_lossy().into_owned();
        let comps = clean(&raw_path).ok_or_else(|| LayerError::Escape {
            entry: name.clone(),
        })?;
        let Some((base, parent)) = comps.split_last() else {
            // The root itself (`./`): its metadata belongs to whoever
            // created the snapshot directory.
            return Ok(());
        };
        let err = |op: &'static str| {
            let entry = name.clone();
            move |e: Errno| LayerError::Entry {
                entry,
                op,
                source: e.into(),
            }
        };
        let base_str = base.as_bytes();
        if self.copy.is_none() && base_str.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            let pdir = open_dir_in_root(&self.root, &self.full(parent), true)
                .map_err(err("open parent"))?;
            if base_str == WHITEOUT_OPAQUE.as_bytes() {
                rustix::fs::fsetxattr(&pdir, OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty())
                    .map_err(|e| err("set opaque xattr")(Errno::from_raw(e.raw_os_error())))?;
                self.whiteouts += 1;
            } else if base_str.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
                // AUFS bookkeeping (`.wh..wh.plnk`): nothing to do.
            } else {
                let hidden = OsStr::from_bytes(&base_str[WHITEOUT_PREFIX.len()..]);
                if hidden.is_empty()
                    || hidden == "."
                    || hidden == ".."
                    || hidden.as_bytes().contains(&b'/')
                {
                    return Err(LayerError::Escape { entry: name });
                }
                remove_existing(&pdir, hidden).map_err(|source| LayerError::Entry {
                    entry: name.clone(),
                    op: "remove before whiteout",
                    source,
                })?;
                mknodat(&pdir, hidden, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                    .map_err(err("create whiteout"))?;
                self.whiteouts += 1;
            }
            self.entries += 1;
            return Ok(());
        }

        let pdir =
            open_dir_in_root(&self.root, &self.full(parent), true).map_err(err("open parent"))?;
        if let Some(copy) = &self.copy {
            copy.check_overwrite(&pdir, base, kind, &name)?;
        }
        let meta = match self.copy.as_ref().and_then(|c| c.chown) {
            Some((uid, gid)) => Meta { uid, gid, ..meta },
            None => meta,
        };
        match kind {
            tar::EntryType::Directory => {
                if !is_dir_at(&pdir, base) {
                    remove_existing(&pdir, base).map_err(|source| LayerError::Entry {
                        entry: name.clone(),
                        op: "replace",
                        source,
                    })?;
                    mkdirat(&pdir, base.as_os_str(), Mode::from_bits_truncate(0o700))
                        .map_err(err("mkdir"))?;
                }
                let fd = openat(
                    &pdir,
                    base.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(err("open directory"))?;
                self.set_fd_meta(&fd, &meta, &name, false)?;
                self.dir_times.push((self.full(&comps), meta.mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                remove_existing(&pdir, base).map_err(|source| LayerError::Entry {
                    entry: name.clone(),
                    op: "replace",
                    source,
                })?;
                let fd = openat(
                    &pdir,
                    base.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(err("create file"))?;
                let mut file = std::fs::File::from(fd);
                let written = if meta.sparse.present {
                    write_sparse(entry, &file, &meta.sparse)
                } else {
                    io::copy(entry, &mut file).map(drop)
                };
                written.map_err(|source| LayerError::Entry {
                    entry: name.clone(),
                    op: "write",
                    source,
                })?;
                self.set_fd_meta(&file, &meta, &name, true)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .ok_or_else(|| LayerError::Entry {
                        entry: name.clone(),
                        op: "symlink",
                        source: io::Error::other("no link target"),
                    })?
                    .into_owned();
                remove_existing(&pdir, base).map_err(|source| LayerError::Entry {
                    entry: name.clone(),
                    op: "replace",
                    source,
                })?;
                // The target is stored verbatim: it is only ever followed
                // by in-root resolution here, and by the container's own
                // root later.
                symlinkat(&target, &pdir, base.as_os_str()).map_err(err("symlink"))?;
                fchownat(
                    &pdir,
                    base.as_os_str(),
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(err("chown"))?;
                let t = TimeSpec::new(meta.mtime, 0);
                utimensat(
                    &pdir,
                    base.as_os_str(),
                    &t,
                    &t,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(err("set times"))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let tname = target.to_string_lossy().into_owned();
                let bad = |reason: &str| LayerError::BadHardlink {
                    entry: name.clone(),
                    target: tname.clone(),
                    reason: reason.to_owned(),
                };
                let tcomps = clean(&target).ok_or_else(|| bad("escapes the layer root"))?;
                let Some((tbase, tparent)) = tcomps.split_last() else {
                    return Err(bad("names the layer root"));
                };
                let tdir = open_dir_in_root(&self.root, &self.full(tparent), false)
                    .map_err(|e| bad(&format!("resolve: {e}")))?;
                let st = fstatat(&tdir, tbase.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| bad(&format!("stat: {e}")))?;
                if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
                    return Err(bad("is a directory"));
                }
                if tcomps == comps {
                    // A link to itself: already in place.
                    self.entries += 1;
                    return Ok(());
                }
                remove_existing(&pdir, base).map_err(|source| LayerError::Entry {
                    entry: name.clone(),
                    op: "replace",
                    source,
                })?;
                // No AT_SYMLINK_FOLLOW: a link to a symlink is a link to the
                // symlink itself, never to what it points at.
                linkat(
                    &tdir,
                    tbase.as_os_str(),
                    &pdir,
                    base.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(err("hard link"))?;
            }
            tar::EntryType::Fifo => {
                remove_existing(&pdir, base).map_err(|source| LayerError::Entry {
                    entry: name.clone(),
                    op: "replace",
                    source,
                })?;
                mknodat(
                    &pdir,
                    base.as_os_str(),
                    SFlag::S_IFIFO,
                    Mode::from_bits_truncate(0o600),
                    0,
                )
                .map_err(err("mkfifo"))?;
                // Just created by us in a directory only we write: chown
                // and chmod by name are safe here.
                fchownat(
                    &pdir,
                    base.as_os_str(),
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(err("chown"))?;
                fchmodat(
                    &pdir,
                    base.as_os_str(),
                    Mode::from_bits_truncate(meta.mode & 0o7777),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(err("chmod"))?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                self.skipped_devices
                    .push(join(&comps).to_string_lossy().into_owned());
                return Ok(());
            }
            other => {
                return Err(LayerError::Unsupported {
                    entry: name,
                    kind: format!("{:?}", other),
                });
            }
        }
        self.entries += 1;
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
        let h = entry.header();
        let hdr_err = |source: io::Error| LayerError::Entry {
            entry: name.to_owned(),
            op: "read header",
            source,
        };
        let mut m = Meta {
            uid: u32::try_from(h.uid().map_err(hdr_err)?).unwrap_or(u32::MAX),
            gid: u32::try_from(h.gid().map_err(hdr_err)?).unwrap_or(u32::MAX),
            mode: h.mode().map_err(hdr_err)?,
            mtime: i64::try_from(h.mtime().map_err(hdr_err)?).unwrap_or(0),
            xattrs: Vec::new(),
            sparse: Sparse::default(),
        };
        if let Some(exts) = entry.pax_extensions().map_err(read_err)? {
            for ext in exts {
                let ext = ext.map_err(read_err)?;
                let Ok(key) = ext.key() else { continue };
                let val = ext.value_bytes();
                let num = || {
                    std::str::from_utf8(val)
                        .ok()
                        .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
                };
                match key {
                    "uid" => m.uid = num().and_then(|v| u32::try_from(v).ok()).unwrap_or(m.uid),
                    "gid" => m.gid = num().and_then(|v| u32::try_from(v).ok()).unwrap_or(m.gid),
                    "mtime" => m.mtime = num().unwrap_or(m.mtime),
                    "GNU.sparse.name" => {
                        m.sparse.present = true;
                        m.sparse.name = Some(String::from_utf8_lossy(val).into_owned());
                    }
                    "GNU.sparse.realsize" | "GNU.sparse.size" => {
                        m.sparse.present = true;
                        m.sparse.real_size = num().and_then(|v| u64::try_from(v).ok());
                    }
                    "GNU.sparse.major" => {
                        m.sparse.present = true;
                        m.sparse.map_in_data = num() == Some(1);
                    }
                    "GNU.sparse.offset" | "GNU.sparse.numbytes" => {
                        m.sparse.present = true;
                        m.sparse
                            .map
                            .extend(num().and_then(|v| u64::try_from(v).ok()));
                    }
                    "GNU.sparse.map" => {
                        m.sparse.present = true;
                        m.sparse.map.extend(
                            String::from_utf8_lossy(val)
                                .split(',')
                                .filter_map(|n| n.trim().parse::<u64>().ok()),
                        );
                    }
                    _ => {
                        if let Some(x) = key.strip_prefix("SCHILY.xattr.")
                            && !x.starts_with("trusted.overlay.")
                        {
                            m.xattrs.push((x.to_owned(), val.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    fn set_fd_meta(&self, fd: &impl AsFd, m: &Meta, name: &str, times: bool) -> Result<()> {
        let err = |op: &'static str| {
            move |e: Errno| LayerError::Entry {
                entry: name.to_owned(),
                op,
                source: e.into(),
            }
        };
        // chown before chmod: chown clears set-uid/set-gid bits.
        fchown(fd, Some(Uid::from_raw(m.uid)), Some(Gid::from_raw(m.gid))).map_err(err("chown"))?;
        fchmod(fd, Mode::from_bits_truncate(m.mode & 0o7777)).map_err(err("chmod"))?;
        for (k, v) in &m.xattrs {
            match rustix::fs::fsetxattr(fd, k.as_str(), v, rustix::fs::XattrFlags::empty()) {
                Ok(()) => {}
                // The file system has no xattr support for this namespace
                // (containerd ignores ENOTSUP the same way).
                Err(rustix::io::Errno::NOTSUP) => {}
                Err(e) => return Err(err("set xattr")(Errno::from_raw(e.raw_os_error()))),
            }
        }
        if times {
            let t = TimeSpec::new(m.mtime, 0);
            futimens(fd, &t, &t).map_err(err("set times"))?;
        }
        Ok(())
    }

    fn finish_dir_times(&self) {
        for (comps, mtime) in self.dir_times.iter().rev() {
            // O_NOFOLLOW: if a later entry replaced the directory with a
            // symlink, leave it alone. Failures only cost a timestamp.
            let how = OpenHow::new()
                .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            if let Ok(fd) = openat2(&self.root, &join(comps), how) {
                let t = TimeSpec::new(*mtime, 0);
                let _ = futimens(&fd, &t, &t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        let c = |s: &str| clean(Path::new(s)).map(|v| join(&v).to_string_lossy().into_owned());
        assert_eq!(c("a/b"), Some("a/b".into()));
        assert_eq!(c("/etc/x"), Some("etc/x".into()));
        assert_eq!(c("./a/./b/"), Some("a/b".into()));
        assert_eq!(c("a/../b"), Some("b".into()));
        assert_eq!(c("../../etc/x"), None);
        assert_eq!(c("a/../../x"), None);
        assert_eq!(c("./"), Some(".".into()));
    }

    #[test]
    fn detect_compression() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"etc/"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
    }
}
