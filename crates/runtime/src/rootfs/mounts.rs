//! One `mounts[]` entry: resolve the destination inside the rootfs, mount,
//! remount for bind flags, apply propagation. runc 1.1's `mountToRootfs` is
//! the reference for each filesystem type's special cases.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, readlink};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, fchmod, fstat};
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, PROC_SUPER_MAGIC, statfs};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::symlinkat;
use oci_spec::runtime::Mount;

use super::mountinfo::{self, MountInfo};
use super::options::MountOptions;
use super::resolve::{
    self, Kind, clean_absolute, ensure_in_root, open_in_root, open_path, proc_fd_path,
};
use super::{Os, Result, RootfsError, RootfsOptions};

/// runc's `defaultMountFlags`, used for the cgroup v1 tmpfs and mounts.
const DEFAULT_MOUNT_FLAGS: MsFlags = MsFlags::MS_NOEXEC
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV);

/// Files under `/proc` that may be mounted over: the ones lxcfs emulates
/// (runc `checkProcMount`).
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// State shared by all mounts of one `prepare_rootfs` call.
pub(super) struct Ctx<'a> {
    /// `O_PATH` descriptor of the rootfs (after the self-bind).
    pub root: BorrowedFd<'a>,
    /// Host path of the rootfs.
    pub rootfs: &'a Path,
    /// The caller's options.
    pub opts: &'a RootfsOptions<'a>,
}

/// One entry, with what every error needs to name it.
struct Entry<'a> {
    index: usize,
    /// Destination as written in the spec.
    destination: &'a Path,
    /// Cleaned absolute container path.
    dest: PathBuf,
    /// Source as written, or the type when absent.
    source: String,
    /// Effective type: `bind` for any bind mount.
    kind: &'a str,
    opts: MountOptions,
}

impl Entry<'_> {
    fn mount_err(&self, e: Errno) -> RootfsError {
        if e == Errno::ENODEV && self.kind != "bind" {
            return RootfsError::UnknownType {
                index: self.index,
                typ: self.kind.to_owned(),
            };
        }
        RootfsError::Mount {
            index: self.index,
            mount_source: self.source.clone(),
            destination: self.destination.to_owned(),
            errno: Os(e),
        }
    }

    fn dest_err(&self, e: Errno) -> RootfsError {
        RootfsError::Destination {
            index: self.index,
            destination: self.destination.to_owned(),
            errno: Os(e),
        }
    }

    fn step_err(&self, step: impl Into<String>, e: Errno) -> RootfsError {
        RootfsError::MountStep {
            index: self.index,
            destination: self.destination.to_owned(),
            step: step.into(),
            errno: Os(e),
        }
    }
}

/// Mounts `mounts[index]`.
pub(super) fn mount_entry(ctx: &Ctx<'_>, index: usize, m: &Mount) -> Result<()> {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    // runc specconv: any type is meaningless for a bind mount.
    let kind = if opts.is_bind() || typ == "bind" {
        "bind"
    } else {
        typ
    };
    if kind.is_empty() {
        return Err(RootfsError::MissingType { index });
    }
    let source = match m.source() {
        Some(s) if !s.as_os_str().is_empty() => s.to_string_lossy().into_owned(),
        _ => kind.to_owned(),
    };
    let entry = Entry {
        index,
        destination: m.destination(),
        dest: clean_absolute(m.destination()),
        source,
        kind,
        opts,
    };
    match kind {
        "bind" => {
            let src = match m.source() {
                Some(s) if !s.as_os_str().is_empty() => s.as_path(),
                _ => return Err(RootfsError::MissingSource { index }),
            };
            bind_mount(ctx, &entry, src)
        }
        "cgroup" => cgroup_mount(ctx, &entry),
        "tmpfs" => tmpfs_mount(ctx, &entry),
        "sysfs" => {
            // In a user namespace that does not own the network namespace
            // the kernel refuses a new sysfs; runc then binds the host's
            // /sys (recursively) with the requested flags.
            match fs_mount(ctx, &entry, entry.opts.flags) {
                Err(RootfsError::Mount {
                    errno: Os(Errno::EPERM),
                    ..
                }) => bind_mount(ctx, &rebind(&entry, "/sys"), Path::new("/sys")),
                other => other,
            }
        }
        "mqueue" => {
            // Same for mqueue without owning the IPC namespace.
            match fs_mount(ctx, &entry, entry.opts.flags) {
                Err(RootfsError::Mount {
                    errno: Os(Errno::EPERM),
                    ..
                }) if ctx.opts.in_user_namespace => bind_mount(
                    ctx,
                    &rebind(&entry, "/dev/mqueue"),
                    Path::new("/dev/mqueue"),
                ),
                other => other,
            }
        }
        _ => {
            let mut flags = entry.opts.flags;
            // /dev is populated after mounting; finalize_rootfs makes it ro.
            if entry.dest == Path::new("/dev") {
                flags.remove(MsFlags::MS_RDONLY);
            }
            fs_mount(ctx, &entry, flags)
        }
    }
}

/// The entry turned into a recursive bind of `source` (fallbacks).
fn rebind<'a>(entry: &Entry<'a>, source: &str) -> Entry<'a> {
    let mut opts = entry.opts.clone();
    opts.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
    Entry {
        index: entry.index,
        destination: entry.destination,
        dest: entry.dest.clone(),
        source: source.to_owned(),
        kind: "bind",
        opts,
    }
}

/// Resolves (creating if missing) the destination and checks it against
/// the `/proc` rules on the *resolved* path, so a symlink cannot smuggle a
/// mount under `/proc`.
fn destination(ctx: &Ctx<'_>, entry: &Entry<'_>, kind: Kind) -> Result<OwnedFd> {
    let fd = ensure_in_root(ctx.root, &entry.dest, kind, Mode::from_bits_truncate(0o644))
        .map_err(|e| entry.dest_err(e))?;
    let real = readlink(&proc_fd_path(&fd)).map_err(|e| entry.dest_err(e))?;
    let inside = Path::new(&real)
        .strip_prefix(ctx.rootfs)
        .map(|p| Path::new("/").join(p))
        .map_err(|_| entry.dest_err(Errno::EXDEV))?;
    check_proc_destination(entry, &inside)?;
    Ok(fd)
}

/// runc's `checkProcMount`: only procfs on `/proc`, and under `/proc` only
/// the files lxcfs emulates.
fn check_proc_destination(entry: &Entry<'_>, inside: &Path) -> Result<()> {
    if !inside.starts_with("/proc") {
        return Ok(());
    }
    let refuse = |reason| RootfsError::ProcDestination {
        index: entry.index,
        destination: entry.destination.to_owned(),
        reason,
    };
    if inside == Path::new("/proc") {
        let is_proc = entry.kind == "proc"
            || (entry.kind == "bind"
                && statfs(entry.source.as_str())
                    .is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC));
        return if is_proc {
            Ok(())
        } else {
            Err(refuse("cannot be mounted because it is not of type proc"))
        };
    }
    if PROC_ALLOWED.iter().any(|p| inside == Path::new(p)) {
        Ok(())
    } else {
        Err(refuse("cannot be mounted because it is inside /proc"))
    }
}

/// A new filesystem instance (proc, sysfs, devpts, mqueue, ...).
fn fs_mount(ctx: &Ctx<'_>, entry: &Entry<'_>, flags: MsFlags) -> Result<()> {
    let fd = destination(ctx, entry, Kind::Dir)?;
    let data = entry.opts.data_string();
    mount(
        Some(entry.source.as_str()),
        &proc_fd_path(&fd),
        Some(entry.kind),
        flags,
        data.as_deref(),
    )
    .map_err(|e| entry.mount_err(e))?;
    propagate(ctx, entry)
}

/// tmpfs: mounted writable so `/dev` and `tmpcopyup` can fill it, the
/// shadowed directory's mode copied to the new root unless `mode=` was given
/// (runc chmods unconditionally, which silently overrides `mode=`), then
/// remounted read-only if asked (except `/dev`, see `finalize_rootfs`).
fn tmpfs_mount(ctx: &Ctx<'_>, entry: &Entry<'_>) -> Result<()> {
    let existing_mode = open_path(ctx.root, &entry.dest)
        .ok()
        .and_then(|fd| fstat(fd.as_fd()).ok())
        .map(|st| Mode::from_bits_truncate(st.st_mode & 0o7777));
    let fd = destination(ctx, entry, Kind::Dir)?;
    // Keep a handle on the directory we are about to hide, for tmpcopyup.
    let shadowed = if entry.opts.tmpcopyup {
        Some(
            open_in_root(ctx.root, &entry.dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(|e| entry.dest_err(e))?,
        )
    } else {
        None
    };
    let flags = entry.opts.flags - MsFlags::MS_RDONLY;
    let data = entry.opts.data_string();
    mount(
        Some(entry.source.as_str()),
        &proc_fd_path(&fd),
        Some("tmpfs"),
        flags,
        data.as_deref(),
    )
    .map_err(|e| entry.mount_err(e))?;
    let top = open_in_root(ctx.root, &entry.dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| entry.dest_err(e))?;
    if let Some(old) = shadowed {
        super::devices::copy_tree(old.as_fd(), top.as_fd())
            .map_err(|e| entry.step_err("tmpcopyup", e))?;
    }
    if let Some(mode) = existing_mode.filter(|_| !entry.opts.has_mode()) {
        fchmod(top.as_fd(), mode).map_err(|e| entry.step_err("chmod tmpfs root", e))?;
    }
    if entry.opts.flags.contains(MsFlags::MS_RDONLY) && entry.dest != Path::new("/dev") {
        mount(
            None::<&str>,
            &proc_fd_path(&top),
            None::<&str>,
            entry.opts.flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .map_err(|e| entry.step_err("remount read-only", e))?;
    }
    drop(top);
    propagate(ctx, entry)
}

/// Bind (or rbind) mount, then a bind remount for flags the kernel ignores
/// on the first call.
fn bind_mount(ctx: &Ctx<'_>, entry: &Entry<'_>, source: &Path) -> Result<()> {
    // stat(2), not fs_err, to keep the errno for the message.
    let st = nix::sys::stat::stat(source).map_err(|e| RootfsError::Source {
        index: entry.index,
        path: source.to_owned(),
        errno: Os(e),
    })?;
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let kind = if is_dir { Kind::Dir } else { Kind::File };
    let fd = destination(ctx, entry, kind)?;
    let rec = entry.opts.flags & MsFlags::MS_REC;
    mount(
        Some(source),
        &proc_fd_path(&fd),
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .map_err(|e| entry.mount_err(e))?;
    drop(fd);
    let extra = entry.opts.bind_remount_flags();
    if !extra.is_empty() {
        // The old descriptor names the covered inode; reopen to get the
        // root of the new mount.
        let top = open_path(ctx.root, &entry.dest).map_err(|e| entry.dest_err(e))?;
        remount_bind(&proc_fd_path(&top), extra)
            .map_err(|e| entry.step_err(format!("remount bind with {}", flag_names(extra)), e))?;
    }
    propagate(ctx, entry)
}

/// `MS_REMOUNT | MS_BIND | flags`, keeping flags the kernel has locked.
///
/// In a user namespace, flags inherited from a more privileged mount
/// namespace (`MNT_LOCK_*`: ro, nodev, nosuid, noexec, atime) cannot be
/// cleared, and a remount that would clear them fails with `EPERM`. Then we
/// retry with the target's current flags ORed in, as runc does.
pub(super) fn remount_bind(target: &Path, flags: MsFlags) -> std::result::Result<(), Errno> {
    let flags = (flags - MsFlags::MS_REC) | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
        Err(Errno::EPERM) => {
            let locked = locked_flags(statvfs(target)?.flags());
            if flags.contains(locked) {
                return Err(Errno::EPERM);
            }
            mount(
                None::<&str>,
                target,
                None::<&str>,
                flags | locked,
                None::<&str>,
            )
        }
        other => other,
    }
}

/// The `statvfs` flags that may be locked, as `MS_*` flags.
pub(super) fn locked_flags(st: FsFlags) -> MsFlags {
    let mut out = MsFlags::empty();
    for (s, m) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
    ] {
        if st.contains(s) {
            out |= m;
        }
    }
    // ST_RELATIME is not in nix's FsFlags; its value equals MS_RELATIME.
    if st.bits() & MsFlags::MS_RELATIME.bits() != 0 {
        out |= MsFlags::MS_RELATIME;
    }
    out
}

/// Applies `private`/`rshared`/... to the new mount, one call each.
fn propagate(ctx: &Ctx<'_>, entry: &Entry<'_>) -> Result<()> {
    if entry.opts.propagation.is_empty() {
        return Ok(());
    }
    let top = open_path(ctx.root, &entry.dest).map_err(|e| entry.dest_err(e))?;
    for p in &entry.opts.propagation {
        mount(
            None::<&str>,
            &proc_fd_path(&top),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .map_err(|e| entry.step_err(format!("set propagation {}", flag_names(*p)), e))?;
    }
    Ok(())
}

/// Human names of flags for error messages (`ro,nosuid`).
pub(super) fn flag_names(flags: MsFlags) -> String {
    let names: Vec<&str> = flags
        .iter_names()
        .map(|(name, _)| name.trim_start_matches("MS_"))
        .collect();
    names.join(",").to_lowercase()
}

/// The `cgroup` type: cgroup2 on a v2 host; on v1 runc's emulation, a tmpfs
/// with one directory per hierarchy.
fn cgroup_mount(ctx: &Ctx<'_>, entry: &Entry<'_>) -> Result<()> {
    if let Some(wait) = ctx.opts.before_cgroup_mount {
        wait().map_err(RootfsError::CgroupJoin)?;
    }
    let v2 = statfs("/sys/fs/cgroup").is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);
    if v2 {
        cgroup2_mount(ctx, entry)
    } else {
        cgroup1_mount(ctx, entry)
    }
}

fn cgroup2_mount(ctx: &Ctx<'_>, entry: &Entry<'_>) -> Result<()> {
    let as_v2 = Entry {
        index: entry.index,
        destination: entry.destination,
        dest: entry.dest.clone(),
        source: entry.source.clone(),
        kind: "cgroup2",
        opts: entry.opts.clone(),
    };
    match fs_mount(ctx, &as_v2, entry.opts.flags) {
        // Without a cgroup namespace in a user namespace the kernel says
        // EPERM (or EBUSY): runc then binds the container's own cgroup.
        Err(RootfsError::Mount {
            errno: Os(Errno::EPERM | Errno::EBUSY),
            ..
        }) => {
            let own = read_proc_cgroup()?
                .into_iter()
                .find(|l| l.controllers.is_empty())
                .map(|l| l.path)
                .unwrap_or_else(|| PathBuf::from("/"));
            let src = Path::new("/sys/fs/cgroup").join(resolve::relative_in_root(&own));
            let src = src.to_string_lossy().into_owned();
            bind_mount(ctx, &rebind(entry, &src), Path::new(&src))
        }
        other => other,
    }
}

fn read_proc_cgroup() -> Result<Vec<mountinfo::CgroupLine>> {
    let text = fs_err::read_to_string("/proc/self/cgroup").map_err(|source| RootfsError::Read {
        step: "reading the process's cgroups",
        source,
    })?;
    Ok(mountinfo::parse_proc_cgroup(&text))
}

pub(super) fn read_mountinfo() -> Result<Vec<MountInfo>> {
    let text =
        fs_err::read_to_string("/proc/self/mountinfo").map_err(|source| RootfsError::Read {
            step: "reading the mount table",
            source,
        })?;
    Ok(mountinfo::parse_mountinfo(&text))
}

/// cgroup v1 (runc `mountCgroupV1`): a tmpfs at the destination; inside it,
/// per hierarchy, either a fresh cgroup mount (with a cgroup namespace, the
/// kernel roots it at our cgroup) or a bind of our own cgroup directory;
/// symlinks for co-mounted controllers (`cpu -> cpu,cpuacct`); then the
/// tmpfs goes read-only if the entry says `ro`.
fn cgroup1_mount(ctx: &Ctx<'_>, entry: &Entry<'_>) -> Result<()> {
    let hierarchies: Vec<MountInfo> = {
        let mut seen = std::collections::HashSet::new();
        read_mountinfo()?
            .into_iter()
            .filter(|m| m.fstype == "cgroup" && !m.mount_point.starts_with(ctx.rootfs))
            .filter(|m| seen.insert(m.mount_point.file_name().map(|n| n.to_owned())))
            .collect()
    };
    let own = read_proc_cgroup()?;
    let tmpfs = Entry {
        index: entry.index,
        destination: entry.destination,
        dest: entry.dest.clone(),
        source: "tmpfs".into(),
        kind: "tmpfs",
        opts: MountOptions {
            flags: DEFAULT_MOUNT_FLAGS,
            propagation: entry.opts.propagation.clone(),
            data: vec!["mode=755".into()],
            tmpcopyup: false,
        },
    };
    tmpfs_mount(ctx, &tmpfs)?;
    for h in &hierarchies {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let name = name.to_string_lossy().into_owned();
        let controllers = mountinfo::v1_controllers(&h.super_options);
        let sub = Entry {
            index: entry.index,
            destination: entry.destination,
            dest: entry.dest.join(&name),
            source: String::new(),
            kind: "bind",
            opts: MountOptions {
                flags: entry.opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
                propagation: entry.opts.propagation.clone(),
                data: Vec::new(),
                tmpcopyup: false,
            },
        };
        if ctx.opts.cgroup_namespace {
            let fresh = Entry {
                source: "cgroup".into(),
                kind: "cgroup",
                opts: MountOptions {
                    flags: DEFAULT_MOUNT_FLAGS | (entry.opts.flags & MsFlags::MS_RDONLY),
                    propagation: Vec::new(),
                    data: controllers,
                    tmpcopyup: false,
                },
                ..sub
            };
            let flags = fresh.opts.flags;
            fs_mount(ctx, &fresh, flags)?;
        } else {
            let mut want = controllers.clone();
            want.sort();
            let path = own
                .iter()
                .find(|l| {
                    let mut have = l.controllers.clone();
                    have.sort();
                    have == want
                })
                .map(|l| l.path.clone())
                .unwrap_or_else(|| PathBuf::from("/"));
            let rel = path.strip_prefix(&h.root).unwrap_or(Path::new(""));
            let src = h.mount_point.join(rel);
            let sub = Entry {
                source: src.to_string_lossy().into_owned(),
                ..sub
            };
            bind_mount(ctx, &sub, &src)?;
        }
        if name.contains(',') {
            let dir = open_path(ctx.root, &entry.dest).map_err(|e| entry.dest_err(e))?;
            for ss in name.split(',') {
                match symlinkat(name.as_str(), dir.as_fd(), ss) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(entry.step_err(format!("symlink cgroup {ss} -> {name}"), e));
                    }
                }
            }
        }
    }
    // The tmpfs itself stays writable, as with runc 1.1 (the conformance
    // test compares mountinfo): only the hierarchies bound under it carry
    // the mount's "ro", and an empty tmpfs gives nothing away.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_flags() {
        assert_eq!(
            flag_names(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID),
            "rdonly,nosuid"
        );
    }

    #[test]
    fn locked_flag_mapping() {
        let st = FsFlags::ST_RDONLY | FsFlags::ST_NODEV;
        assert_eq!(locked_flags(st), MsFlags::MS_RDONLY | MsFlags::MS_NODEV);
        let rel = FsFlags::from_bits_retain(MsFlags::MS_RELATIME.bits());
        assert_eq!(locked_flags(rel), MsFlags::MS_RELATIME);
    }

    #[test]
    fn proc_rules() {
        let e = |kind: &'static str| Entry {
            index: 1,
            destination: Path::new("/proc"),
            dest: PathBuf::from("/proc"),
            source: "x".into(),
            kind,
            opts: MountOptions::default(),
        };
        assert!(check_proc_destination(&e("proc"), Path::new("/proc")).is_ok());
        assert!(check_proc_destination(&e("tmpfs"), Path::new("/proc")).is_err());
        assert!(check_proc_destination(&e("bind"), Path::new("/proc/meminfo")).is_ok());
        let err = check_proc_destination(&e("bind"), Path::new("/proc/self/attr"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "mounts[1].destination \"/proc\": cannot be mounted because it is inside /proc"
        );
        assert!(check_proc_destination(&e("tmpfs"), Path::new("/procfoo")).is_ok());
    }
}
