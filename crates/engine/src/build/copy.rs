//! `COPY`/`ADD` as a tar stream: the sources, read without ever leaving
//! their root (the build context or another image's mounted view), laid
//! out the way Docker's classic builder copies them (moby
//! `builder/dockerfile/copy.go`): a directory source copies its contents,
//! a file copied into a directory (`dest/`, or one that exists) keeps its
//! name, and the missing directories on the way to the destination are
//! created (0755, owned like the copied files). The stream is then
//! extracted into the step's snapshot with `berth_image::layer::
//! extract_archive`, which resolves every path inside the image's root.

use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use berth_build::ExecError;

/// One source, resolved: its path on the host (inside its root) and the
/// name the user gave it (for messages).
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub host: PathBuf,
    pub is_dir: bool,
}

/// What to write.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub sources: Vec<Source>,
    /// The destination without its leading `/` (empty for the root).
    pub dest: String,
    /// Copy into `dest` as a directory (a file keeps its name).
    pub into_dir: bool,
    /// Directories to create first (missing ancestors of the destination,
    /// and the destination itself when it is a directory), relative,
    /// outermost first.
    pub mkdirs: Vec<String>,
    pub owner: (u32, u32),
    pub chmod: Option<u32>,
}

/// Lexically cleans `rel` (a path inside a root): `None` if it climbs out.
pub(crate) fn clean_relative(rel: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

/// Resolves `rel` in `root` (the build context or a mounted image): the
/// path must exist and, with its symlinks followed, stay inside `root`.
/// `what` names the root in messages (`build context`).
pub(crate) fn resolve_source(root: &Path, rel: &str, what: &str) -> Result<Source, ExecError> {
    let outside = || {
        ExecError::Source(format!(
            "forbidden path outside the {what}: {rel}: a COPY or ADD source must be inside the {what}"
        ))
    };
    let clean = clean_relative(rel).ok_or_else(outside)?;
    let missing = || {
        ExecError::Source(format!(
            "COPY failed: file not found in {what} or excluded by .dockerignore: stat {rel}: file does not exist"
        ))
    };
    let full = root.join(&clean);
    fs_err::symlink_metadata(&full).map_err(|_| missing())?;
    let root_real = fs_err::canonicalize(root).map_err(|e| ExecError::Other(e.to_string()))?;
    // The source's own symlinks (and its parents') are followed, but only
    // to places inside the root. Nothing else writes to the root while the
    // step runs (the context is the daemon's own copy; an image's view is
    // read-only), so the check holds for the copy that follows.
    let real = fs_err::canonicalize(&full).map_err(|_| missing())?;
    if !real.starts_with(&root_real) {
        return Err(outside());
    }
    let meta = fs_err::metadata(&real).map_err(|_| missing())?;
    Ok(Source {
        host: real,
        is_dir: meta.is_dir(),
    })
}

/// `*`, `?` and `[...]`-free glob matching of one path component (Go's
/// `filepath.Match` for the common cases).
pub(crate) fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Expands wildcards of `rel` against the tree at `root` (for `COPY
/// --from`, whose sources the builder cannot see): the matching paths,
/// relative, sorted; `rel` itself when it has none.
pub(crate) fn expand(root: &Path, rel: &str) -> Vec<String> {
    if !rel.contains(['*', '?']) {
        return vec![rel.to_owned()];
    }
    let Some(clean) = clean_relative(rel) else {
        return vec![rel.to_owned()];
    };
    let mut found = vec![PathBuf::new()];
    for part in clean.components() {
        let part = part.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &found {
            if part.contains(['*', '?']) {
                let Ok(rd) = fs_err::read_dir(root.join(base)) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| glob_match(part.as_bytes(), n.as_bytes()))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(&part));
            }
        }
        found = next;
    }
    found
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn join(dest: &str, rel: &str) -> String {
    match (dest.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_owned(),
        (false, true) => dest.to_owned(),
        (false, false) => format!("{dest}/{rel}"),
    }
}

/// Writes the plan as a tar to `w`.
pub(crate) fn write_tar(plan: &Plan, w: impl Write) -> io::Result<()> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    let (uid, gid) = plan.owner;
    for d in &plan.mkdirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_size(0);
        h.set_mtime(now());
        b.append_data(&mut h, format!("{d}/"), io::empty())?;
    }
    for s in &plan.sources {
        if s.is_dir {
            walk(&mut b, plan, &s.host, &plan.dest)?;
        } else {
            let name = if plan.into_dir {
                let base = s
                    .host
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                join(&plan.dest, &base)
            } else {
                plan.dest.clone()
            };
            append(&mut b, plan, &s.host, &name)?;
        }
    }
    b.finish()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The contents of directory `dir` as entries
/// under `dest`, symlinks copied as symlinks (never followed).
fn walk<W: Write>(b: &mut tar::Builder<W>, plan: &Plan, dir: &Path, dest: &str) -> io::Result<()> {
    let mut names: Vec<_> = fs_err::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        let path = dir.join(&n);
        let name = join(dest, &n.to_string_lossy());
        let meta = fs_err::symlink_metadata(&path)?;
        append(b, plan, &path, &name)?;
        if meta.is_dir() {
            walk(b, plan, &path, &name)?;
        }
    }
    Ok(())
}

/// One entry: a file, directory or symlink (other kinds are skipped, as
/// sockets, fifos and devices have no place in an image built from files).
fn append<W: Write>(
    b: &mut tar::Builder<W>,
    plan: &Plan,
    path: &Path,
    name: &str,
) -> io::Result<()> {
    let meta = fs_err::symlink_metadata(path)?;
    let ft = meta.file_type();
    let mut h = tar::Header::new_gnu();
    h.set_uid(u64::from(plan.owner.0));
    h.set_gid(u64::from(plan.owner.1));
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    let mode = plan.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
    h.set_mode(mode);
    if ft.is_symlink() {
        let target = fs_err::read_link(path)?;
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, name, target)?;
    } else if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, format!("{name}/"), io::empty())?;
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(meta.len());
        let f = fs_err::File::open(path)?;
        b.append_data(&mut h, name, f)?;
    }
    Ok(())
}

/// Whether the file at `path` is a tar archive ADD unpacks: plain or
/// gzip-compressed (Docker also takes bzip2 and xz).
pub(crate) fn is_archive(path: &Path) -> bool {
    let Ok(mut f) = fs_err::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 512];
    let Ok(n) = read_full(&mut f, &mut head) else {
        return false;
    };
    if head[..n].starts_with(&[0x1f, 0x8b]) {
        let Ok(f) = fs_err::File::open(path) else {
            return false;
        };
        let mut dec = flate2::read::GzDecoder::new(f);
        let mut inner = [0u8; 512];
        return read_full(&mut dec, &mut inner).is_ok_and(|m| m == 512 && is_tar_header(&inner));
    }
    n == 512 && is_tar_header(&head)
}

fn read_full(r: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// A ustar/GNU header, or an old-style one whose checksum is right.
fn is_tar_header(h: &[u8; 512]) -> bool {
    if &h[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&h[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    stored == Some(sum) && h[0] != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*.txt", b"a.txt"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"*.txt", b"a.txd"));
        assert!(glob_match(b"*", b""));
    }

    #[test]
    fn clean_refuses_climbing() {
        assert_eq!(clean_relative("a/../b").unwrap(), PathBuf::from("b"));
        assert!(clean_relative("../x").is_none());
        assert_eq!(clean_relative("/etc/x").unwrap(), PathBuf::from("etc/x"));
    }

    #[test]
    fn sources_stay_in_their_root() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        fs_err::create_dir_all(ctx.join("d")).unwrap();
        fs_err::write(ctx.join("d/f"), "x").unwrap();
        fs_err::write(tmp.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), ctx.join("out")).unwrap();
        std::os::unix::fs::symlink("d/f", ctx.join("in")).unwrap();
        assert!(resolve_source(&ctx, "d", "build context").unwrap().is_dir);
        assert!(!resolve_source(&ctx, "in", "build context").unwrap().is_dir);
        let e = resolve_source(&ctx, "out", "build context").unwrap_err();
        assert!(e.to_string().contains("outside the build context"), "{e}");
        let e = resolve_source(&ctx, "../secret", "build context").unwrap_err();
        assert!(e.to_string().contains("outside the build context"), "{e}");
        let e = resolve_source(&ctx, "nope", "build context").unwrap_err();
        assert!(e.to_string().contains("file not found"), "{e}");
    }
}
