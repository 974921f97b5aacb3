//! `berth build [OPTIONS] PATH | -`: makes the context tar (applying
//! `.dockerignore` with Docker's pattern rules), sends it to `POST /build`
//! and prints the classic builder's output as it comes, as the docker CLI
//! does with `DOCKER_BUILDKIT=0`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use berth_api_client::Client;
use berth_api_client::build::{BuildMessage, BuildOptions};

use crate::flags::build::BuildFlags;
use crate::printer::Printer;

/// One `.dockerignore` line (moby/patternmatcher): cleaned, without a
/// leading `/`, `!` for an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    parts: Vec<String>,
    exclusion: bool,
}

/// The patterns of a `.dockerignore` text: comments and blank lines
/// skipped, each line trimmed and cleaned as the docker CLI does.
pub(crate) fn parse_dockerignore(text: &str) -> Vec<Pattern> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (exclusion, pat) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let mut parts: Vec<String> = Vec::new();
        for c in pat.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c.to_owned()),
            }
        }
        if parts.is_empty() {
            continue;
        }
        out.push(Pattern { parts, exclusion });
    }
    out
}

/// Go's `filepath.Match` for one path component: `*`, `?`, `[...]`
/// classes (with `^`/`!` negation and ranges) and `\` escapes.
fn match_component(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| match_component(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && match_component(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            let mut i = 1;
            let negate = matches!(p.get(1), Some('^' | '!'));
            if negate {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < p.len() && (p[i] != ']' || first) {
                first = false;
                let lo = p[i];
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|h| *h != ']') {
                    let hi = p[i + 2];
                    if lo <= *c && *c <= hi {
                        matched = true;
                    }
                    i += 3;
                } else {
                    if lo == *c {
                        matched = true;
                    }
                    i += 1;
                }
            }
            if i >= p.len() {
                return false;
            }
            matched != negate && match_component(&p[i + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && match_component(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && match_component(&p[1..], &n[1..]),
    }
}

/// Whether `parts` (a pattern) matches the path components `path`: `**`
/// matches any number of components (none included).
fn match_parts(parts: &[String], path: &[&str]) -> bool {
    match parts.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|i| match_parts(&parts[1..], &path[i..])),
        Some(p) => {
            let Some(first) = path.first() else {
                return false;
            };
            let pc: Vec<char> = p.chars().collect();
            let nc: Vec<char> = first.chars().collect();
            match_component(&pc, &nc) && match_parts(&parts[1..], &path[1..])
        }
    }
}

/// patternmatcher's `MatchesOrParentMatches`: the last pattern that
/// matches the path or one of its parents decides.
pub(crate) fn excluded(patterns: &[Pattern], rel: &str) -> bool {
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let mut out = false;
    for p in patterns {
        let hit = (1..=comps.len()).any(|n| match_parts(&p.parts, &comps[..n]));
        if hit {
            out = !p.exclusion;
        }
    }
    out
}

/// A random name for a Dockerfile added to the context (`-f -`, or a
/// Dockerfile outside the context), as the docker CLI makes one.
fn generated_name() -> String {
    let mut b = [0u8; 10];
    let _ = fs_err::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(".dockerfile.{hex}")
}

/// The context directory as a tar, `.dockerignore` applied (the
/// Dockerfile and `.dockerignore` are always sent), symlinks as symlinks.
pub(crate) fn context_tar(
    dir: &Path,
    dockerfile_rel: &str,
    extra: Option<(&str, &[u8])>,
) -> anyhow::Result<Vec<u8>> {
    let mut patterns = match fs_err::read_to_string(dir.join(".dockerignore")) {
        Ok(t) => parse_dockerignore(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    for keep in [dockerfile_rel, ".dockerignore"] {
        patterns.extend(parse_dockerignore(&format!("!{keep}")));
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    walk(&mut b, dir, dir, &patterns)?;
    if let Some((name, data)) = extra {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data)?;
    }
    Ok(b.into_inner()?)
}

fn walk(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    dir: &Path,
    patterns: &[Pattern],
) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = fs_err::symlink_metadata(&path)?;
        let skip = excluded(patterns, &rel);
        if meta.is_dir() {
            if !skip {
                b.append_path_with_name(&path, &rel)
                    .with_context(|| format!("adding {rel} to the build context"))?;
            }
            // An exception may bring back something under an excluded
            // directory, so it is walked anyway.
            if !skip || patterns.iter().any(|p| p.exclusion) {
                walk(b, root, &path, patterns)?;
            }
        } else if !skip && (meta.is_file() || meta.file_type().is_symlink()) {
            b.append_path_with_name(&path, &rel)
                .with_context(|| format!("adding {rel} to the build context"))?;
        }
    }
    Ok(())
}

/// Whether `data` is a tar (or compressed) archive rather than a Dockerfile.
fn looks_like_archive(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
        || data.starts_with(b"BZh")
        || data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (data.len() >= 262 && &data[257..262] == b"ustar")
}

/// `--build-arg NAME=value`, or `NAME` from the environment (left out if
/// unset, as the docker CLI does).
fn build_args(list: &[String]) -> Vec<(String, String)> {
    list.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

fn labels(list: &[String]) -> Vec<(String, String)> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// The context tar and the Dockerfile's name in it.
fn make_context(f: &BuildFlags) -> anyhow::Result<(Vec<u8>, String)> {
    let stdin_dockerfile = f.file.as_deref() == Some("-");
    if f.context == "-" {
        if stdin_dockerfile {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        if looks_like_archive(&data) {
            return Ok((
                data,
                f.file.clone().unwrap_or_else(|| "Dockerfile".to_owned()),
            ));
        }
        // A Dockerfile alone: the context is just that file.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o600);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "Dockerfile", data.as_slice())?;
        return Ok((b.into_inner()?, "Dockerfile".to_owned()));
    }
    let dir = PathBuf::from(&f.context);
    let meta = fs_err::metadata(&dir)
        .map_err(|_| anyhow!("unable to prepare context: path {:?} not found", f.context))?;
    if !meta.is_dir() {
        bail!(
            "unable to prepare context: context must be a directory: {}",
            f.context
        );
    }
    let abs_dir = fs_err::canonicalize(&dir)?;
    if stdin_dockerfile {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        let name = generated_name();
        let tar = context_tar(&abs_dir, &name, Some((&name, &data)))?;
        return Ok((tar, name));
    }
    // `-f` is relative to the current directory, not the context.
    let dockerfile = match &f.file {
        Some(p) => std::path::absolute(p)?,
        None => abs_dir.join("Dockerfile"),
    };
    let dockerfile = fs_err::canonicalize(&dockerfile).map_err(|_| {
        anyhow!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
            dockerfile.display()
        )
    })?;
    match dockerfile.strip_prefix(&abs_dir) {
        Ok(rel) => {
            let rel = rel.to_string_lossy().into_owned();
            let tar = context_tar(&abs_dir, &rel, None)?;
            Ok((tar, rel))
        }
        Err(_) => {
            let data = fs_err::read(&dockerfile)?;
            let name = generated_name();
            let tar = context_tar(&abs_dir, &name, Some((&name, &data)))?;
            Ok((tar, name))
        }
    }
}

/// `berth build`.
pub(crate) async fn run(
    client: &Client,
    f: &BuildFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let (tar, dockerfile) = make_context(f)?;
    let opts = BuildOptions {
        tags: f.tag.clone(),
        dockerfile: Some(dockerfile),
        build_args: build_args(&f.build_arg),
        labels: labels(&f.label),
        target: f.target.clone(),
        no_cache: f.no_cache,
        pull: f.pull,
        quiet: f.quiet,
        network: f.network.clone(),
        platform: f.platform.clone(),
        force_rm: f.force_rm,
    };
    if !f.quiet {
        printer.data(&format!(
            "Sending build context to Docker daemon  {}\n",
            human_size(tar.len() as u64)
        ))?;
    }
    let mut write_error = None;
    let id = client
        .build(tar, &opts, |m| {
            if let BuildMessage::Stream(s) = m
                && !f.quiet
                && write_error.is_none()
                && let Err(e) = printer.data(s)
            {
                write_error = Some(e);
            }
        })
        .await
        .map_err(|e| anyhow!("{e}"))?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let id = id.ok_or_else(|| anyhow!("the daemon did not say which image it built"))?;
    if f.quiet {
        printer.data(&format!("{id}\n"))?;
    }
    if let Some(path) = &f.iidfile {
        fs_err::write(path, &id).with_context(|| format!("writing the image ID to {path}"))?;
    }
    Ok(())
}

/// `berth builder prune [-a] [-f] [--filter]`, with the docker CLI's
/// question and output.
pub(crate) async fn builder(
    client: &Client,
    c: &crate::flags::build::BuilderFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let crate::flags::build::BuilderFlags::Prune(f) = c;
    let warning = if f.all {
        "WARNING! This will remove all build cache.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?"
    };
    if !f.prune.force && !super::system::confirm(printer, warning)? {
        return Ok(());
    }
    let filters = if f.prune.filter.is_empty() {
        String::new()
    } else {
        super::system::prune_filters(&f.prune.filter, None)?
    };
    let r: berth_api_types::prune::BuildCachePruneReport = client
        .prune("build", &filters)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let mut out = String::new();
    let deleted = r.caches_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted build cache objects:\n");
        for id in deleted {
            out.push_str(&id);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        super::system::human_size4(i64::try_from(r.space_reclaimed).unwrap_or(i64::MAX))
    ));
    printer.data(&out)?;
    Ok(())
}

/// Docker's `units.HumanSize` with binary steps as the CLI's context line
/// shows it (`2.048kB`).
fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(patterns: &str, path: &str) -> bool {
        excluded(&parse_dockerignore(patterns), path)
    }

    #[test]
    fn dockerignore_rules() {
        assert!(ex("*.log", "a.log"));
        assert!(!ex("*.log", "d/a.log"));
        assert!(ex("**/*.log", "d/e/a.log"));
        assert!(ex("**/*.log", "a.log"));
        assert!(ex("/secret", "secret"));
        assert!(ex("secret", "secret/inner/file"));
        assert!(ex("d\n!d/keep", "d/x"));
        assert!(!ex("d\n!d/keep", "d/keep"));
        assert!(!ex("*.md\n!README.md", "README.md"));
        assert!(ex("!README.md\n*.md", "README.md"));
        assert!(ex("a/../b", "b"));
        assert!(ex("[a-c]?.txt", "b1.txt"));
        assert!(!ex("[!a-c]?.txt", "b1.txt"));
        assert!(!ex("# comment\n\n", "x"));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(2048), "2.048kB");
        assert_eq!(human_size(5), "5B");
    }
}
