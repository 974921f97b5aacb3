//! COPY/ADD sources in the build context: wildcard matching with Go's
//! `filepath.Match` rules, paths that leave the context, and a content
//! digest of what a step reads (paths, modes, owners, contents, symlink
//! targets; never mtimes).
//!
//! Reading never follows a symlink out of the context: paths are resolved
//! component by component with `symlink_metadata`, a symlink's target is
//! resolved inside the context (as if the context were `/`, like Docker's
//! `FollowSymlinkInScope`), and files are opened with `O_NOFOLLOW`.

use fs_err::os::unix::fs::OpenOptionsExt as _;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// A matched source: its path relative to the context (as matched, `/`
/// separated) and its hash (`file:<hex>` or `dir:<hex>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Relative path, as it matched.
    pub path: String,
    /// `file:<sha256>` or `dir:<sha256>` of what is there.
    pub hash: String,
}

/// Why a source could not be used. The text is Docker's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// No such file.
    #[error(
        "file not found in build context or excluded by .dockerignore: stat {0}: file does not exist"
    )]
    NotFound(String),
    /// `../x` and friends.
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    /// A bad pattern.
    #[error("syntax error in pattern {0}")]
    BadPattern(String),
    /// Reading failed.
    #[error("{0}")]
    Io(String),
}

/// A malformed wildcard pattern (Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `filepath.Match` (`*`, `?`, `[...]` with ranges and `^`, `\`
/// escapes; `*` and `?` never match `/`). `Err` for a malformed pattern.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> Result<bool, BadPattern> {
    let mut pi = 0;
    let mut ni = 0;
    // Backtracking point for the last star.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    if ni < n.len() && n[ni] != '/' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                '[' => {
                    let (matched, next) = match_class(p, pi, n.get(ni).copied())?;
                    if matched {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                '\\' => {
                    let Some(&c) = p.get(pi + 1) else {
                        return Err(BadPattern);
                    };
                    if n.get(ni) == Some(&c) {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c => {
                    if n.get(ni) == Some(&c) {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
            }
        } else if ni == n.len() {
            return Ok(true);
        }
        // Mismatch: let the last star eat one more char (never a `/`).
        match star {
            Some((sp, sn)) if sn < n.len() && n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => {
                // Validate the rest of the pattern, as Go reports bad
                // patterns even when the name does not match.
                validate(&p[pi.min(p.len())..])?;
                return Ok(false);
            }
        }
    }
}

fn validate(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, next) = match_class(p, i, Some('\0'))?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Matches `c` against the class starting at `p[start] == '['`; returns
/// whether it matched and the index after `]`.
fn match_class(p: &[char], start: usize, c: Option<char>) -> Result<(bool, usize), BadPattern> {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&pc) = p.get(i) else {
            return Err(BadPattern);
        };
        if pc == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, ni) = class_char(p, i)?;
        i = ni;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, ni) = class_char(p, i + 1)?;
            hi = h;
            i = ni;
        }
        if let Some(c) = c
            && lo <= c
            && c <= hi
        {
            matched = true;
        }
    }
    // Unlike `*` and `?`, Go's character classes do not exclude `/`.
    let ok = c.is_some() && matched != negated;
    Ok((ok, i))
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match p.get(i) {
        None | Some('-' | ']') => Err(BadPattern),
        Some('\\') => p.get(i + 1).map(|&c| (c, i + 2)).ok_or(BadPattern),
        Some(&c) => Ok((c, i + 1)),
    }
}

fn contains_wildcards(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Cleans a relative path lexically (`a/./b/../c` -> `a/c`); `None` when it
/// leaves its root.
fn clean_relative(path: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p.to_owned()),
        }
    }
    Some(out)
}

/// The build context.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
}

impl Context {
    /// The context at `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    /// Matches one COPY/ADD source as written (after expansion) against the
    /// context, the way Docker's classic builder does.
    pub fn match_source(&self, orig: &str) -> Result<Vec<Matched>, ContextError> {
        let mut path = orig;
        if path.len() > 1 && path.starts_with('/') {
            path = &path[1..];
        }
        let path = path.strip_prefix("./").unwrap_or(path);
        let trimmed = path.to_owned();
        if clean_relative(&trimmed).is_none() {
            return Err(ContextError::Outside(orig.to_owned()));
        }
        if contains_wildcards(&trimmed) {
            let mut out = Vec::new();
            let mut all = Vec::new();
            self.walk("", &mut all)?;
            for rel in all {
                let matched = go_match(&trimmed, &rel).map_err(|BadPattern| {
                    ContextError::BadPattern(crate::gofmt::quote(&trimmed))
                })?;
                if matched {
                    out.push(self.info(&rel)?);
                }
            }
            return Ok(out);
        }
        Ok(vec![self.info(&trimmed)?])
    }

    /// Every path under `dir` (relative, `/`-separated, sorted like Go's
    /// `WalkDir`), not following symlinks.
    fn walk(&self, dir: &str, out: &mut Vec<String>) -> Result<(), ContextError> {
        let full = if dir.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir)
        };
        let mut names = Vec::new();
        for entry in fs_err::read_dir(&full).map_err(|e| ContextError::Io(e.to_string()))? {
            let entry = entry.map_err(|e| ContextError::Io(e.to_string()))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        for name in names {
            let rel = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            out.push(rel.clone());
            let md = fs_err::symlink_metadata(self.root.join(&rel))
                .map_err(|e| ContextError::Io(e.to_string()))?;
            if md.is_dir() {
                self.walk(&rel, out)?;
            }
        }
        Ok(())
    }

    /// Resolves `rel` inside the context, following symlinks as if the
    /// context were `/`. Returns the resolved components.
    fn resolve(&self, rel: &str) -> Result<Vec<String>, ContextError> {
        let not_found = || ContextError::NotFound(rel.to_owned());
        let mut todo: Vec<String> = rel
            .split('/')
            .filter(|s| !s.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            let mut candidate = self.root.clone();
            for d in &done {
                candidate.push(d);
            }
            candidate.push(&part);
            let md = match fs_err::symlink_metadata(&candidate) {
                Ok(md) => md,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Err(not_found()),
                Err(e) => return Err(ContextError::Io(e.to_string())),
            };
            if md.file_type().is_symlink() {
                links += 1;
                if links > 255 {
                    return Err(ContextError::Io(format!(
                        "too many levels of symbolic links in {rel}"
                    )));
                }
                let target =
                    fs_err::read_link(&candidate).map_err(|e| ContextError::Io(e.to_string()))?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    done.clear();
                }
                for t in target.split('/').filter(|s| !s.is_empty()).rev() {
                    todo.push(t.to_owned());
                }
                continue;
            }
            done.push(part);
        }
        Ok(done)
    }

    fn info(&self, rel: &str) -> Result<Matched, ContextError> {
        let resolved = self.resolve(rel)?;
        let mut full = self.root.clone();
        for p in &resolved {
            full.push(p);
        }
        let md = fs_err::symlink_metadata(&full).map_err(|e| ContextError::Io(e.to_string()))?;
        let display = if rel.is_empty() { "." } else { rel };
        if md.is_dir() {
            let mut h = Sha256::new();
            self.hash_dir(&full, "", &mut h)?;
            Ok(Matched {
                path: display.to_owned(),
                hash: format!("dir:{}", hex::encode(h.finalize())),
            })
        } else {
            let mut h = Sha256::new();
            hash_entry_header(&mut h, "", &md);
            hash_file(&full, &mut h)?;
            Ok(Matched {
                path: display.to_owned(),
                hash: format!("file:{}", hex::encode(h.finalize())),
            })
        }
    }

    fn hash_dir(&self, dir: &Path, rel: &str, h: &mut Sha256) -> Result<(), ContextError> {
        let md = fs_err::symlink_metadata(dir).map_err(|e| ContextError::Io(e.to_string()))?;
        hash_entry_header(h, rel, &md);
        let mut names = Vec::new();
        for entry in fs_err::read_dir(dir).map_err(|e| ContextError::Io(e.to_string()))? {
            let entry = entry.map_err(|e| ContextError::Io(e.to_string()))?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let child = format!("{rel}/{}", name.to_string_lossy());
            let md =
                fs_err::symlink_metadata(&path).map_err(|e| ContextError::Io(e.to_string()))?;
            if md.is_dir() {
                self.hash_dir(&path, &child, h)?;
            } else if md.file_type().is_symlink() {
                hash_entry_header(h, &child, &md);
                let target =
                    fs_err::read_link(&path).map_err(|e| ContextError::Io(e.to_string()))?;
                h.update(b"link:");
                h.update(target.to_string_lossy().as_bytes());
                h.update([0]);
            } else {
                hash_entry_header(h, &child, &md);
                if md.is_file() {
                    hash_file(&path, h)?;
                }
            }
        }
        Ok(())
    }
}

fn hash_entry_header(h: &mut Sha256, rel: &str, md: &std::fs::Metadata) {
    h.update(format!("{rel}\0{:o}\0{}\0{}\0", md.mode(), md.uid(), md.gid()).as_bytes());
    if md.file_type().is_char_device() || md.file_type().is_block_device() {
        h.update(format!("dev:{}\0", md.rdev()).as_bytes());
    }
}

use std::os::unix::fs::FileTypeExt as _;

/// Hashes a regular file's contents, opened without following a symlink.
fn hash_file(path: &Path, h: &mut Sha256) -> Result<(), ContextError> {
    let mut file = fs_err::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| ContextError::Io(e.to_string()))?;
    let md = file
        .metadata()
        .map_err(|e| ContextError::Io(e.to_string()))?;
    if !md.is_file() {
        return Ok(());
    }
    h.update(format!("size:{}\0", md.len()).as_bytes());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| ContextError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_semantics() {
        assert_eq!(go_match("*.txt", "a.txt"), Ok(true));
        assert_eq!(go_match("*.txt", "d/a.txt"), Ok(false));
        assert_eq!(go_match("*/a.txt", "d/a.txt"), Ok(true));
        assert_eq!(go_match("a?c", "abc"), Ok(true));
        assert_eq!(go_match("a?c", "a/c"), Ok(false));
        assert_eq!(go_match("[a-c]x", "bx"), Ok(true));
        assert_eq!(go_match("[^a-c]x", "bx"), Ok(false));
        assert_eq!(go_match("[^a-c]x", "dx"), Ok(true));
        assert_eq!(go_match("a[^b]c", "a/c"), Ok(true));
        assert_eq!(go_match("[]a]", "a"), Err(BadPattern));
        assert_eq!(go_match("a\\*", "a*"), Ok(true));
        assert_eq!(go_match("a\\*", "ab"), Ok(false));
        assert_eq!(go_match("*", ""), Ok(true));
        assert_eq!(go_match("a*b*c", "axxbyyc"), Ok(true));
        assert_eq!(go_match("[", "a"), Err(BadPattern));
        assert_eq!(go_match("a[", "b"), Err(BadPattern));
    }

    #[test]
    fn outside_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::new(dir.path());
        assert_eq!(
            ctx.match_source("../x").unwrap_err().to_string(),
            "forbidden path outside the build context: ../x"
        );
        assert_eq!(
            ctx.match_source("foo").unwrap_err().to_string(),
            "file not found in build context or excluded by .dockerignore: stat foo: file does not exist"
        );
    }

    #[test]
    fn symlinks_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs_err::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("l")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/hostname", dir.path().join("l2")).unwrap();
        let ctx = Context::new(dir.path());
        // An absolute target is resolved inside the context: not there.
        assert!(matches!(
            ctx.match_source("l"),
            Err(ContextError::NotFound(_))
        ));
        assert!(matches!(
            ctx.match_source("l2"),
            Err(ContextError::NotFound(_))
        ));
        fs_err::write(dir.path().join("real"), "r").unwrap();
        std::os::unix::fs::symlink("/real", dir.path().join("l3")).unwrap();
        let m = ctx.match_source("l3").unwrap();
        assert_eq!(m[0].path, "l3");
        assert!(m[0].hash.starts_with("file:"));
    }

    #[test]
    fn wildcards_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("a.txt"), "a").unwrap();
        fs_err::write(dir.path().join("b.txt"), "b").unwrap();
        fs_err::create_dir(dir.path().join("d")).unwrap();
        fs_err::write(dir.path().join("d/c.txt"), "c").unwrap();
        let ctx = Context::new(dir.path());
        let m = ctx.match_source("*.txt").unwrap();
        let paths: Vec<&str> = m.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, vec!["a.txt", "b.txt"]);
        assert!(ctx.match_source("*.none").unwrap().is_empty());
        let d1 = ctx.match_source("d").unwrap()[0].hash.clone();
        assert!(d1.starts_with("dir:"));
        let f1 = ctx.match_source("/a.txt").unwrap()[0].hash.clone();
        // mtime does not count, content does.
        let f = fs_err::File::options()
            .write(true)
            .open(dir.path().join("a.txt"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(ctx.match_source("a.txt").unwrap()[0].hash, f1);
        fs_err::write(dir.path().join("a.txt"), "A").unwrap();
        assert_ne!(ctx.match_source("a.txt").unwrap()[0].hash, f1);
        fs_err::write(dir.path().join("d/c.txt"), "C").unwrap();
        assert_ne!(ctx.match_source("d").unwrap()[0].hash, d1);
    }
}
