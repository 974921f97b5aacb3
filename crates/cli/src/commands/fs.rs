//! `top`, `diff`, `commit`, `cp`, `export`: docker's output, messages and
//! path rules.
//!
//! `cp` follows the docker CLI (`cli/command/container/cp.go` and moby
//! `pkg/archive/copy.go`): the client decides, from the stat of both ends,
//! which directory the archive is extracted into and under which name its
//! top entry goes (`PrepareArchiveCopy`); the daemon only ever extracts
//! into an existing directory. A trailing `/.` copies a directory's
//! contents, a trailing `/` asserts a directory.

use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use berth_api_client::{Client, CommitOptions};
use berth_api_types::fs::ContainerPathStat;

use crate::flags::fs::{CommitFlags, CpFlags, DiffFlags, ExportFlags, FsFlags, TopFlags};
use crate::printer::Printer;

pub(crate) async fn run(
    client: &Client,
    cmd: &FsFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match cmd {
        FsFlags::Top(f) => top(client, f, printer).await,
        FsFlags::Diff(f) => diff(client, f, printer).await,
        FsFlags::Commit(f) => commit(client, f, printer).await,
        FsFlags::Cp(f) => cp(client, f).await,
        FsFlags::Export(f) => export(client, f).await,
    }
}

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

/// Go's `text/tabwriter` as `docker top` sets it up (min width 20, tab
/// width 1, padding 3, spaces): every cell but a line's last is padded to
/// its column's width.
fn tabwrite(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(cell.chars().count() + 3).max(20);
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

async fn top(client: &Client, f: &TopFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let t = client
        .container_top(&f.container, &f.ps_args.join(" "))
        .await
        .map_err(api)?;
    let mut rows = vec![t.titles];
    rows.extend(t.processes);
    printer.data(&tabwrite(&rows))?;
    Ok(())
}

async fn diff(client: &Client, f: &DiffFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let changes = client.container_changes(&f.container).await.map_err(api)?;
    let mut out = String::new();
    for c in changes {
        let letter = match c.kind {
            0 => 'C',
            1 => 'A',
            2 => 'D',
            _ => '?',
        };
        out.push_str(&format!("{letter} {}\n", c.path));
    }
    printer.data(&out)?;
    Ok(())
}

async fn commit(client: &Client, f: &CommitFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let (repo, tag) = match &f.reference {
        None => (String::new(), String::new()),
        Some(r) => split_reference(r),
    };
    let opts = CommitOptions {
        repo,
        tag,
        author: f.author.clone().unwrap_or_default(),
        comment: f.message.clone().unwrap_or_default(),
        changes: f.change.clone(),
        pause: f.pause,
    };
    let id = client
        .container_commit(&f.container, &opts)
        .await
        .map_err(api)?;
    printer.data(&format!("{id}\n"))?;
    Ok(())
}

/// `repo[:tag]`, the tag being after the last `:` that is not part of a
/// registry's port (`localhost:5000/app` has no tag).
fn split_reference(r: &str) -> (String, String) {
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_owned(), tag.to_owned()),
        _ => (r.to_owned(), String::new()),
    }
}

async fn export(client: &Client, f: &ExportFlags) -> anyhow::Result<()> {
    match &f.output {
        Some(path) => {
            let mut file = fs_err::File::create(path)
                .with_context(|| format!("failed to export container: cannot create {path}"))?;
            client
                .container_export(&f.container, &mut file)
                .await
                .map_err(api)
        }
        None => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut lock = stdout.lock();
            client
                .container_export(&f.container, &mut lock)
                .await
                .map_err(api)
        }
    }
}

/// docker's `splitCpArg`: `container:path`, unless the argument is an
/// absolute local path or starts with `.` (an explicit relative path).
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

async fn cp(client: &Client, f: &CpFlags) -> anyhow::Result<()> {
    let (src_container, src) = split_cp_arg(&f.source);
    let (dst_container, dst) = split_cp_arg(&f.destination);
    match (src_container, dst_container) {
        (Some(c), None) => copy_from_container(client, f, c, src, dst).await,
        (None, Some(c)) => copy_to_container(client, f, c, src, dst).await,
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
}

fn specifies_current_dir(p: &str) -> bool {
    p == "." || p.ends_with("/.")
}

fn has_trailing_separator(p: &str) -> bool {
    p.ends_with('/')
}

/// moby `SplitPathDirEntry`: the parent and the last element, keeping a
/// trailing `/.` as `.`.
fn split_dir_entry(p: &str) -> (String, String) {
    let mut cleaned = clean(p);
    if specifies_current_dir(p) {
        cleaned = if cleaned == "/" {
            "/.".to_owned()
        } else {
            format!("{cleaned}/.")
        };
    }
    if cleaned == "/" {
        return ("/".to_owned(), "/".to_owned());
    }
    // Go's `filepath.Dir` / `filepath.Base` on the cleaned path.
    let (dir, base) = match cleaned.rsplit_once('/') {
        Some(("", b)) => ("/".to_owned(), b.to_owned()),
        Some((d, b)) => (d.to_owned(), b.to_owned()),
        None => (".".to_owned(), cleaned.clone()),
    };
    (dir, base)
}

/// Go's `filepath.Clean`.
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Base` of a cleaned path.
fn base_of(p: &str) -> String {
    let c = clean(p);
    if c == "/" {
        return "/".to_owned();
    }
    c.rsplit('/').next().unwrap_or_default().to_owned()
}

/// moby `GetRebaseName`.
fn rebase_name(path: &str, resolved: &str) -> (String, Option<String>) {
    let mut resolved = resolved.to_owned();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    }
    if has_trailing_separator(path) && !has_trailing_separator(&resolved) {
        resolved.push('/');
    }
    let rebase = (base_of(path) != base_of(&resolved)).then(|| base_of(path));
    (resolved, rebase)
}

/// An absolute local path, keeping a trailing `/.` or `/`.
fn absolute_local(p: &str) -> anyhow::Result<String> {
    if p.starts_with('/') {
        return Ok(p.to_owned());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut abs = format!("{}/{}", cwd.display(), p);
    if !(specifies_current_dir(p) || has_trailing_separator(p)) {
        abs = clean(&abs);
    }
    Ok(abs)
}

/// What one end of a copy is (moby `CopyInfo`).
#[derive(Debug, Clone, Default)]
struct CopyInfo {
    path: String,
    exists: bool,
    is_dir: bool,
    rebase: Option<String>,
}

/// moby `PrepareArchiveCopy`: the directory to extract into and the name
/// change of the archive's top entry (`Some((old, new))`).
fn prepare_archive_copy(
    src: &CopyInfo,
    dst: &CopyInfo,
) -> anyhow::Result<(String, Option<(String, String)>)> {
    let (dst_dir, dst_base) = split_dir_entry(&dst.path);
    // The top entry as the archive names it; a rebase name (a followed
    // symlink) renames it first.
    let (_, archive_base) = split_dir_entry(&src.path);
    if dst.exists && dst.is_dir {
        return Ok((
            dst.path.clone(),
            src.rebase.clone().map(|r| (archive_base, r)),
        ));
    }
    if dst.exists && src.is_dir {
        bail!("cannot copy directory");
    }
    if !dst.exists
        && !src.is_dir
        && (has_trailing_separator(&dst.path) || specifies_current_dir(&dst.path))
    {
        bail!("no such directory");
    }
    Ok((dst_dir, Some((archive_base, dst_base))))
}

async fn copy_from_container(
    client: &Client,
    f: &CpFlags,
    container: &str,
    src: &str,
    dst: &str,
) -> anyhow::Result<()> {
    let dst = if dst == "-" {
        "-".to_owned()
    } else {
        absolute_local(dst)?
    };
    let mut src = src.to_owned();
    let mut rebase = None;
    if f.follow_link
        && let Ok(stat) = client.container_stat_path(container, &src).await
        && stat.is_symlink()
    {
        let mut target = stat.link_target.clone();
        if !target.starts_with('/') {
            let (parent, _) = split_dir_entry(&src);
            target = clean(&format!("{parent}/{target}"));
        }
        let (resolved, r) = rebase_name(&src, &target);
        src = resolved;
        rebase = r;
    }
    let (stat, mut body) = client
        .container_archive_get(container, &src)
        .await
        .map_err(api)?;
    if dst == "-" {
        let mut out = io::stdout().lock();
        while let Some(chunk) = body.chunk().await {
            out.write_all(&chunk.map_err(api)?)?;
        }
        out.flush()?;
        return Ok(());
    }
    let src_info = CopyInfo {
        path: src.clone(),
        exists: true,
        is_dir: stat.is_dir(),
        rebase: rebase.clone(),
    };
    let dst_info = copy_info_destination(&dst)?;
    let (dst_dir, rename) = prepare_archive_copy(&src_info, &dst_info)?;
    // The archive is extracted as it arrives, on a thread of its own.
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    let extract = std::thread::spawn(move || {
        let reader = ChannelReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        };
        extract_local(reader, Path::new(&dst_dir), rename.as_ref())
    });
    let mut sent = 0u64;
    while let Some(chunk) = body.chunk().await {
        let item = chunk
            .map(|b| b.to_vec())
            .map_err(|e| io::Error::other(e.to_string()));
        let stop = item.is_err();
        sent += item.as_ref().map_or(0, |b| b.len() as u64);
        if tx.send(item).is_err() || stop {
            break;
        }
    }
    drop(tx);
    let result = extract
        .join()
        .map_err(|_| anyhow!("the extraction thread panicked"))?;
    result?;
    if io::stderr().is_terminal() {
        eprintln!("Successfully copied {} to {dst}", human_size(sent));
    }
    Ok(())
}

/// docker's `progressHumanSize` (`units.HumanSizeWithPrecision(n, 3)`).
fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    // Go's `%.3g`: three significant digits, trailing zeros dropped.
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as usize) + 1
    };
    let decimals = 3usize.saturating_sub(int_digits);
    let mut text = format!("{v:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", units[i])
}

/// A blocking reader over chunks sent by the async side.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// moby `CopyInfoDestinationPath`: symlinks at the end are followed (the
/// copy goes to their target); a missing path needs an existing parent.
fn copy_info_destination(path: &str) -> anyhow::Result<CopyInfo> {
    let mut path = path.to_owned();
    for _ in 0..=10 {
        match fs_err::symlink_metadata(&path) {
            Ok(md) if md.file_type().is_symlink() => {
                let target = fs_err::read_link(&path)?;
                let target = target.to_string_lossy().into_owned();
                path = if target.starts_with('/') {
                    target
                } else {
                    clean(&format!("{}/{target}", split_dir_entry(&path).0))
                };
            }
            Ok(md) => {
                return Ok(CopyInfo {
                    path,
                    exists: true,
                    is_dir: md.is_dir(),
                    rebase: None,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (parent, _) = split_dir_entry(&path);
                let md = fs_err::metadata(&parent)?;
                if !md.is_dir() {
                    bail!("not a directory");
                }
                return Ok(CopyInfo {
                    path,
                    ..CopyInfo::default()
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    bail!("too many symlinks in {path}")
}

/// Cleans an archive name into components; `None` if it climbs out.
fn archive_components(name: &[u8]) -> Option<Vec<OsString>> {
    let mut out = Vec::new();
    for c in Path::new(std::ffi::OsStr::from_bytes(name)).components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    Some(out)
}

/// `strings.Replace(name, old, new, 1)` on bytes (moby `RebaseArchiveEntries`).
fn rebase_bytes(name: &[u8], rename: Option<&(String, String)>) -> Vec<u8> {
    let Some((old, new)) = rename else {
        return name.to_vec();
    };
    let old = old.as_bytes();
    match name.windows(old.len().max(1)).position(|w| w == old) {
        Some(i) if !old.is_empty() => {
            let mut out = name[..i].to_vec();
            out.extend_from_slice(new.as_bytes());
            out.extend_from_slice(&name[i + old.len()..]);
            out
        }
        _ => name.to_vec(),
    }
}

/// Extracts a tar from the daemon under `dest` (moby `Untar` with
/// `NoLchown` and `NoOverwriteDirNonDir`): files are the invoking user's;
/// no entry lands outside `dest`, and none is written through a symlink
/// (every parent directory below `dest` is checked not to be one).
fn extract_local(
    reader: impl Read,
    dest: &Path,
    rename: Option<&(String, String)>,
) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path_bytes().into_owned();
        let name = rebase_bytes(&raw, rename);
        let shown = String::from_utf8_lossy(&name).into_owned();
        let Some(comps) = archive_components(&name) else {
            bail!("invalid archive entry {shown}: it climbs out of the destination");
        };
        if comps.is_empty() {
            continue;
        }
        let mut target = dest.to_path_buf();
        for (i, c) in comps.iter().enumerate() {
            target.push(c);
            if i + 1 < comps.len() {
                match fs_err::symlink_metadata(&target) {
                    Ok(md) if md.file_type().is_symlink() => {
                        bail!("invalid archive entry {shown}: it goes through a symlink")
                    }
                    Ok(md) if !md.is_dir() => bail!("not a directory: {}", target.display()),
                    Ok(_) => {}
                    Err(_) => fs_err::create_dir(&target)?,
                }
            }
        }
        let kind = entry.header().entry_type();
        if let Ok(md) = fs_err::symlink_metadata(&target) {
            if md.is_dir() && kind != tar::EntryType::Directory {
                bail!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    target.display().to_string(),
                    dest.display().to_string()
                );
            }
            if !md.is_dir() && kind == tar::EntryType::Directory {
                bail!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    target.display().to_string(),
                    dest.display().to_string()
                );
            }
            if !md.is_dir() {
                fs_err::remove_file(&target)?;
            }
        }
        match kind {
            tar::EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| rebase_bytes(&l, rename))
                    .unwrap_or_default();
                let Some(lcomps) = archive_components(&link) else {
                    bail!("invalid hard link {shown}: it climbs out of the destination");
                };
                let source: PathBuf = std::iter::once(dest.as_os_str().to_owned())
                    .chain(lcomps)
                    .collect();
                fs_err::hard_link(source, &target)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                // Device nodes are not made on the host by a copy.
            }
            _ => {
                entry
                    .unpack(&target)
                    .with_context(|| format!("extracting {shown}"))?;
            }
        }
    }
    Ok(())
}

async fn copy_to_container(
    client: &Client,
    f: &CpFlags,
    container: &str,
    src: &str,
    dst: &str,
) -> anyhow::Result<()> {
    let mut dst_info = CopyInfo {
        path: dst.to_owned(),
        ..CopyInfo::default()
    };
    let mut stat: Result<ContainerPathStat, _> = client.container_stat_path(container, dst).await;
    if let Ok(s) = &stat
        && s.is_symlink()
    {
        let mut target = s.link_target.clone();
        if !target.starts_with('/') {
            target = clean(&format!("{}/{target}", split_dir_entry(dst).0));
        }
        dst_info.path = target.clone();
        stat = client.container_stat_path(container, &target).await;
    }
    if let Ok(s) = &stat {
        let irregular = s.mode & ((1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)) != 0;
        if irregular {
            bail!(
                "destination \"{container}:{dst}\" must be a directory or a regular file: got a special file"
            );
        }
        dst_info.exists = true;
        dst_info.is_dir = s.is_dir();
    }
    if src == "-" {
        if !dst_info.is_dir {
            bail!("destination \"{container}:{dst}\" must be a directory");
        }
        return client
            .container_archive_put(container, &dst_info.path, Box::new(io::stdin()), f.archive)
            .await
            .map_err(api);
    }
    let src = absolute_local(src)?;
    let src_info = copy_info_source(&src, f.follow_link)?;
    let (dst_dir, rename) = prepare_archive_copy(&src_info, &dst_info)?;
    let tar = tar_local(&src_info, rename.as_ref())?;
    let size = tar.len();
    client
        .container_archive_put(
            container,
            &dst_dir,
            Box::new(io::Cursor::new(tar)),
            f.archive,
        )
        .await
        .map_err(api)?;
    if io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {container}:{dst}",
            human_size(size as u64)
        );
    }
    Ok(())
}

/// moby `CopyInfoSourcePath`: with `follow`, the whole path is resolved;
/// otherwise only its directory part.
fn copy_info_source(path: &str, follow: bool) -> anyhow::Result<CopyInfo> {
    let (resolved, rebase) = if follow {
        let real = fs_err::canonicalize(path)?;
        rebase_name(path, &real.to_string_lossy())
    } else {
        let (dir, base) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("./", path),
        };
        let real_dir = fs_err::canonicalize(dir)?;
        let resolved = format!("{}/{base}", real_dir.display());
        let rebase = (has_trailing_separator(path) && base_of(path) != base_of(&resolved))
            .then(|| base_of(path));
        (resolved, rebase)
    };
    let md = fs_err::symlink_metadata(resolved.trim_end_matches("/."))
        .or_else(|_| fs_err::symlink_metadata(&resolved))?;
    Ok(CopyInfo {
        path: resolved,
        exists: true,
        is_dir: md.is_dir(),
        rebase,
    })
}

/// A tar of the local source (moby `TarResourceRebase`), its top entry
/// named as the copy needs (`rename` applied here rather than to a
/// finished archive). Ownership is the files' own, as docker's.
fn tar_local(src: &CopyInfo, rename: Option<&(String, String)>) -> anyhow::Result<Vec<u8>> {
    let (dir, archive_base) = split_dir_entry(&src.path);
    let top = rename.map_or_else(|| archive_base.clone(), |(_, new)| new.clone());
    let top = PathBuf::from(top);
    let source = if archive_base == "." {
        PathBuf::from(&dir)
    } else {
        Path::new(&dir).join(&archive_base)
    };
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    append_tree(&mut b, &source, &top)?;
    Ok(b.into_inner()?)
}

fn header_of(md: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
    h.set_size(0);
    h
}

/// Appends `path` as `name` (a directory with everything below it).
fn append_tree(b: &mut tar::Builder<Vec<u8>>, path: &Path, name: &Path) -> anyhow::Result<()> {
    let md = fs_err::symlink_metadata(path)?;
    let ft = md.file_type();
    // `.` as a name: the directory's contents go in without a top entry.
    let top_is_dot = name == Path::new(".") || name.as_os_str().is_empty();
    if ft.is_dir() {
        if !top_is_dot {
            let mut h = header_of(&md, tar::EntryType::Directory);
            b.append_data(&mut h, name, io::empty())?;
        }
        let mut names: Vec<OsString> = fs_err::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            let child = if top_is_dot {
                PathBuf::from(&n)
            } else {
                name.join(&n)
            };
            append_tree(b, &path.join(&n), &child)?;
        }
    } else if ft.is_symlink() {
        let target = fs_err::read_link(path)?;
        let mut h = header_of(&md, tar::EntryType::Symlink);
        b.append_link(&mut h, name, target)?;
    } else if ft.is_file() {
        let mut h = header_of(&md, tar::EntryType::Regular);
        h.set_size(md.len());
        b.append_data(&mut h, name, fs_err::File::open(path)?)?;
    }
    // Sockets, fifos and devices are not copied.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_args_split_as_docker() {
        assert_eq!(split_cp_arg("c:/etc"), (Some("c"), "/etc"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./f:x"), (None, "./f:x"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }

    #[test]
    fn paths_split_as_moby() {
        assert_eq!(split_dir_entry("/etc/."), ("/etc".into(), ".".into()));
        assert_eq!(split_dir_entry("/etc/"), ("/".into(), "etc".into()));
        assert_eq!(
            split_dir_entry("/etc/passwd"),
            ("/etc".into(), "passwd".into())
        );
        assert_eq!(split_dir_entry("/"), ("/".into(), "/".into()));
        assert_eq!(clean("/a/../b/./c/"), "/b/c");
        assert_eq!(clean("a/../.."), "..");
        assert_eq!(
            rebase_name("/a/link/", "/a/target"),
            ("/a/target/".into(), Some("link".into()))
        );
        assert_eq!(
            rebase_bytes(b"./sub/x", Some(&(".".into(), "new".into()))),
            b"new/sub/x"
        );
    }

    #[test]
    fn tabwriter_pads_as_go() {
        let rows = vec![
            vec!["UID".to_owned(), "PID".to_owned(), "CMD".to_owned()],
            vec![
                "root".to_owned(),
                "12345".to_owned(),
                "sleep 1000".to_owned(),
            ],
        ];
        assert_eq!(
            tabwrite(&rows),
            format!(
                "UID{}PID{}CMD\nroot{}12345{}sleep 1000\n",
                " ".repeat(17),
                " ".repeat(17),
                " ".repeat(16),
                " ".repeat(15)
            )
        );
    }

    #[test]
    fn sizes_as_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(2048), "2.05kB");
        assert_eq!(human_size(1_500_000), "1.5MB");
    }
}
