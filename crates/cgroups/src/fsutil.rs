//! File access for cgroup control files and directories.
//!
//! Control files are opened with `nix` rather than `fs_err` because the
//! error must keep the kernel's errno (an `EBUSY` from `memory.limit_in_bytes`
//! means "usage is above the new limit", an `EBUSY` from `rmdir` means "tasks
//! still inside") and our [`Error`] already names the path; `fs_err` would
//! hide the errno behind its own message. Directory listings use `fs_err`.
//!
//! Unit tests run on plain tempdirs, where control files do not exist until
//! written. A write therefore creates the file when it is missing **and** the
//! directory is not on a cgroup filesystem; on cgroupfs a missing file is a
//! real error (controller not enabled, kernel feature absent) and is
//! reported, never papered over.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, open};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::error::{Error, Result};

fn io_err(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno as i32)
}

/// Whether `path` (or its nearest existing ancestor) is on cgroupfs or
/// cgroup2fs. Unknown counts as "yes": the strict behaviour is the safe one.
pub(crate) fn on_cgroupfs(path: &Path) -> bool {
    let mut probe = Some(path);
    while let Some(p) = probe {
        match nix::sys::statfs::statfs(p) {
            Ok(st) => {
                let fs = st.filesystem_type();
                return fs == nix::sys::statfs::CGROUP_SUPER_MAGIC
                    || fs == nix::sys::statfs::CGROUP2_SUPER_MAGIC;
            }
            Err(Errno::ENOENT) => probe = p.parent(),
            Err(_) => return true,
        }
    }
    true
}

fn open_write(path: &Path) -> std::result::Result<OwnedFd, Errno> {
    let flags = OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
    match open(path, flags, Mode::empty()) {
        Err(Errno::ENOENT) if !path.parent().is_some_and(on_cgroupfs) => open(
            path,
            flags | OFlag::O_CREAT,
            Mode::from_bits_truncate(0o644),
        ),
        other => other,
    }
}

/// Writes `value` to the control file `path` in a single `write(2)`: cgroup
/// files parse each write on its own, so a split write would be two
/// (probably invalid) values.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let fd = open_write(path).map_err(io_err)?;
    let n = nix::unistd::write(&fd, value.as_bytes()).map_err(io_err)?;
    if n != value.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", value.len()),
        ));
    }
    Ok(())
}

/// [`write_raw`] with the error naming what the write was for.
pub(crate) fn write(path: &Path, value: &str, what: &str) -> Result<()> {
    write_raw(path, value).map_err(|err| Error::Write {
        what: what.to_owned(),
        value: value.to_owned(),
        path: path.to_owned(),
        err,
    })
}

/// Reads a whole control file. `None` when it does not exist.
pub(crate) fn read_opt(path: &Path, what: &str) -> Result<Option<String>> {
    let err = |err| Error::Read {
        what: what.to_owned(),
        path: path.to_owned(),
        err,
    };
    let fd = match open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(err(io_err(e))),
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match nix::unistd::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => continue,
            // A cgroup removed while we read it (its tasks all exited).
            Err(Errno::ENODEV) => return Ok(None),
            Err(e) => return Err(err(io_err(e))),
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Ok(Some(s)),
        Err(e) => Err(Error::Parse {
            what: what.to_owned(),
            path: path.to_owned(),
            reason: format!("not UTF-8: {e}"),
        }),
    }
}

/// Reads a whole control file that must exist.
pub(crate) fn read(path: &Path, what: &str) -> Result<String> {
    read_opt(path, what)?.ok_or_else(|| Error::Read {
        what: what.to_owned(),
        path: path.to_owned(),
        err: io_err(Errno::ENOENT),
    })
}

/// Parses a single number (or `max`, as `None`) from a control file.
pub(crate) fn parse_u64_or_max(path: &Path, content: &str, what: &str) -> Result<Option<u64>> {
    let s = content.trim();
    if s == "max" {
        return Ok(None);
    }
    s.parse::<u64>().map(Some).map_err(|e| Error::Parse {
        what: what.to_owned(),
        path: path.to_owned(),
        reason: format!("`{s}` is not a number: {e}"),
    })
}

/// Reads a single number from a control file; `None` if it does not exist
/// or holds `max`.
pub(crate) fn read_u64_opt(path: &Path, what: &str) -> Result<Option<u64>> {
    match read_opt(path, what)? {
        Some(content) => parse_u64_or_max(path, &content, what),
        None => Ok(None),
    }
}

/// Whether a file or directory exists.
pub(crate) fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Creates `path` and its missing ancestors. Returns the directories that
/// were created, outermost first.
pub(crate) fn mkdir_all(path: &Path) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.is_dir() {
            break;
        }
        missing.push(p.to_owned());
        cur = p.parent();
    }
    missing.reverse();
    for dir in &missing {
        match nix::unistd::mkdir(dir.as_path(), Mode::from_bits_truncate(0o755)) {
            // Another runtime creating the same parent (`/berth`) at once.
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(Error::CreateDir {
                    path: dir.clone(),
                    err: io_err(e),
                });
            }
        }
    }
    Ok(missing)
}

/// Removes the cgroup directory `path` and every cgroup below it, deepest
/// first (the kernel only removes empty cgroups; a container may have made
/// its own children, e.g. systemd inside it). A missing directory is fine.
///
/// `rmdir` answers `EBUSY` while tasks are still inside, which happens for
/// a few milliseconds after a kill; like runc (`RemovePath`), retry with a
/// growing delay before giving up.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    let cgroupfs = on_cgroupfs(path);
    remove_tree_inner(path, cgroupfs)
}

fn remove_tree_inner(path: &Path, cgroupfs: bool) -> Result<()> {
    let entries = match fs_err::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(Error::Remove {
                path: path.to_owned(),
                err,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|err| Error::Remove {
            path: path.to_owned(),
            err,
        })?;
        let child = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            remove_tree_inner(&child, cgroupfs)?;
        } else if !cgroupfs {
            // Test fixture: control files are ordinary files here. On
            // cgroupfs they vanish with the directory and cannot be unlinked.
            match nix::unistd::unlink(child.as_path()) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => {
                    return Err(Error::Remove {
                        path: child,
                        err: io_err(e),
                    });
                }
            }
        }
    }
    let mut delay = Duration::from_millis(10);
    let mut attempts = 0;
    loop {
        match unlinkat(AT_FDCWD, path, UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::EBUSY) if attempts < 8 => {
                attempts += 1;
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(Error::Remove {
                    path: path.to_owned(),
                    err: io_err(e),
                });
            }
        }
    }
}

/// Reads the pids in `cgroup.procs` of `dir` and of every cgroup below it.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let file = dir.join("cgroup.procs");
    if let Some(content) = read_opt(&file, "list the processes in the cgroup")? {
        for line in content.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let pid = line.parse::<i32>().map_err(|e| Error::Parse {
                what: "list the processes in the cgroup".to_owned(),
                path: file.clone(),
                reason: format!("`{line}` is not a pid: {e}"),
            })?;
            out.push(pid);
        }
    }
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(Error::Read {
                what: "list the processes in the cgroup".to_owned(),
                path: dir.to_owned(),
                err,
            });
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            procs_recursive(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// Parses a flat-keyed file (`memory.stat`, `cpu.stat`, `cgroup.events`):
/// one `key value` pair per line. Lines that do not parse are skipped, so a
/// new kernel adding a non-numeric key does not break stats.
pub(crate) fn parse_flat_keyed(content: &str) -> Vec<(&str, u64)> {
    content
        .lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let key = it.next()?;
            let value = it.next()?.parse().ok()?;
            Some((key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_creates_on_a_fixture_and_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.max");
        write(&file, "1234", "set memory limit").unwrap();
        write(&file, "max", "set memory limit").unwrap();
        assert_eq!(read(&file, "x").unwrap(), "max");
    }

    #[test]
    fn write_error_names_path_value_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("missing-dir").join("memory.max");
        let err = write(&file, "12", "set memory limit").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot set memory limit: write `12` to `"),
            "{msg}"
        );
        assert!(msg.contains("missing-dir/memory.max"), "{msg}");
        assert!(msg.contains("No such file or directory"), "{msg}");
    }

    #[test]
    fn remove_tree_removes_nested_fixture_dirs_and_tolerates_missing() {
        let dir = tempfile::tempdir().unwrap();
        let leaf = dir.path().join("a/b/c");
        let created = mkdir_all(&leaf).unwrap();
        assert_eq!(created.len(), 3);
        write(&leaf.join("cgroup.procs"), "1", "x").unwrap();
        remove_tree(&dir.path().join("a")).unwrap();
        assert!(!dir.path().join("a").exists());
        remove_tree(&dir.path().join("a")).unwrap();
    }

    #[test]
    fn flat_keyed_skips_garbage() {
        let parsed = parse_flat_keyed("a 1\nb x\n\nc 3 extra\n");
        assert_eq!(parsed, vec![("a", 1), ("c", 3)]);
    }
}
