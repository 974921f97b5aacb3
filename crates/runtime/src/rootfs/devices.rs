//! `/dev`: default devices and `linux.devices`, the standard symlinks,
//! `/dev/ptmx`, `/dev/shm`, `/dev/console`; and the tree copy behind
//! `tmpcopyup`.
//!
//! Follows runc 1.1 `createDevices` / `setupPtmx` / `setupDevSymlinks`, but
//! every node is created relative to a descriptor of its parent directory
//! resolved inside the rootfs, never through a joined path string.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, fchmodat, fstatat, makedev, mkdirat, mknodat, umask,
};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchownat, symlinkat, unlinkat};
use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::mounts::Ctx;
use super::resolve::{Kind, ensure_in_root, ensure_parent_in_root, open_path, proc_fd_path};
use super::{Os, Result, RootfsError};

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeviceNode {
    /// Path inside the container.
    pub(super) path: PathBuf,
    /// `S_IFCHR`, `S_IFBLK` or `S_IFIFO`.
    pub(super) kind: SFlag,
    pub(super) major: u64,
    pub(super) minor: u64,
    /// Permission bits.
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// runc's default devices (`specconv.AllowedDevices` with a path): all
/// character devices, mode 0666, owned by root.
pub(super) fn default_devices() -> Vec<DeviceNode> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(path, major, minor)| DeviceNode {
        path: PathBuf::from(path),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// `linux.devices` plus the defaults the spec does not override (by path),
/// each with the name of where it came from for error messages.
pub(super) fn device_list(spec: &Spec) -> Result<Vec<(String, DeviceNode)>> {
    let mut out = Vec::new();
    let listed = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for (index, d) in listed.into_iter().flatten().enumerate() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::DeviceType {
                    index,
                    path: d.path().clone(),
                    typ: d.typ().as_str().to_owned(),
                });
            }
        };
        let major_minor = |v: i64| u64::try_from(v).unwrap_or(0);
        out.push((
            format!("linux.devices[{index}]"),
            DeviceNode {
                path: d.path().clone(),
                kind,
                major: major_minor(d.major()),
                minor: major_minor(d.minor()),
                // runc specconv: 0666 unless fileMode says otherwise; the
                // type bits of fileMode are ignored.
                mode: d.file_mode().map_or(0o666, |m| m & 0o7777),
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            },
        ));
    }
    for d in default_devices() {
        let overridden = out
            .iter()
            .any(|(_, o)| super::resolve::clean_absolute(&o.path) == d.path);
        if !overridden {
            out.push(("default device".to_owned(), d));
        }
    }
    Ok(out)
}

/// Restores the umask when dropped: device modes must be exact, so runc
/// creates them under umask 0.
struct UmaskGuard(Mode);

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        umask(self.0);
    }
}

/// Populates `/dev` (runc `createDevices`, `setupPtmx`, `setupDevSymlinks`).
pub(super) fn setup_dev(ctx: &Ctx<'_>, spec: &Spec) -> Result<()> {
    let _umask = UmaskGuard(umask(Mode::empty()));
    for (site, node) in device_list(spec)? {
        create_device(ctx, &site, &node)?;
    }
    let dev_err = |path: &str, step, e| RootfsError::Device {
        site: "/dev setup".into(),
        path: PathBuf::from(path),
        step,
        errno: Os(e),
    };
    let dev = ensure_in_root(ctx.root, Path::new("/dev"), Kind::Dir, Mode::empty())
        .map_err(|e| dev_err("/dev", "resolve", e))?;

    // /dev/ptmx -> pts/ptmx, so the devpts instance mounted with
    // newinstance serves the container's ptys.
    match unlinkat(dev.as_fd(), "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(dev_err("/dev/ptmx", "remove", e)),
    }
    symlinkat("pts/ptmx", dev.as_fd(), "ptmx").map_err(|e| dev_err("/dev/ptmx", "symlink", e))?;

    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    // kcore can be compiled out (CONFIG_PROC_KCORE); link it only if the
    // host has it, as runc does.
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(dev_err(&format!("/dev/{name}"), "symlink", e)),
        }
    }

    // Programs expect /dev/shm even without a mount for it.
    match mkdirat(dev.as_fd(), "shm", Mode::from_bits_truncate(0o1777)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(dev_err("/dev/shm", "mkdir", e)),
    }

    if ctx.opts.terminal {
        // An empty file for the caller to bind the pty onto (runc's
        // mountConsole creates it the same way, 0666 under umask 0).
        match openat(
            dev.as_fd(),
            "console",
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o666),
        ) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(dev_err("/dev/console", "create", e)),
        }
    }
    Ok(())
}

fn create_device(ctx: &Ctx<'_>, site: &str, node: &DeviceNode) -> Result<()> {
    let err = |step, e| RootfsError::Device {
        site: site.to_owned(),
        path: node.path.clone(),
        step,
        errno: Os(e),
    };
    let (dir, name) =
        ensure_parent_in_root(ctx.root, &node.path).map_err(|e| err("resolve parent", e))?;
    if ctx.opts.in_user_namespace {
        // mknod is not allowed in a user namespace: bind the host's node.
        return bind_device(ctx, node, dir.as_fd(), &name).map_err(|(step, e)| err(step, e));
    }
    let dev = makedev(node.major, node.minor);
    match mknodat(
        dir.as_fd(),
        name.as_os_str(),
        node.kind,
        Mode::from_bits_truncate(node.mode),
        dev,
    ) {
        Ok(()) => {}
        // runc keeps a node that is already there.
        Err(Errno::EEXIST) => return Ok(()),
        // Some sandboxes forbid mknod even to root: fall back to a bind.
        Err(Errno::EPERM) => {
            return bind_device(ctx, node, dir.as_fd(), &name).map_err(|(step, e)| err(step, e));
        }
        Err(e) => return Err(err("mknod", e)),
    }
    fchownat(
        dir.as_fd(),
        name.as_os_str(),
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| err("chown", e))
}

fn bind_device(
    ctx: &Ctx<'_>,
    node: &DeviceNode,
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
) -> std::result::Result<(), (&'static str, Errno)> {
    match openat(
        dir,
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(("create bind target", e)),
    }
    let target = open_path(ctx.root, &node.path).map_err(|e| ("resolve", e))?;
    mount(
        Some(&node.path),
        &proc_fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| ("bind from host", e))
}

/// Copies the directory tree under `from` into `to` (runc's `tmpcopyup`,
/// which uses a temporary directory in the host's /tmp instead; we read the
/// shadowed directory through a descriptor opened before the mount).
/// Regular files, directories and symlinks are copied with their mode and
/// owner; other file types are skipped.
pub(super) fn copy_tree(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
) -> std::result::Result<(), Errno> {
    let io_errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    // The magic link reaches the directory even though a mount now covers
    // its path.
    let entries = fs_err::read_dir(proc_fd_path(&from)).map_err(io_errno)?;
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry.map_err(io_errno)?.file_name());
    }
    for name in names {
        let name = name.as_os_str();
        let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let owner = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        if fmt == SFlag::S_IFDIR {
            mkdirat(to, name, Mode::from_bits_truncate(0o700))?;
            let src = open_dir(from, name)?;
            let dst = open_dir(to, name)?;
            copy_tree(src.as_fd(), dst.as_fd())?;
        } else if fmt == SFlag::S_IFREG {
            let src = openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let dst = openat(
                to,
                name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )?;
            let mut r = std::fs::File::from(src);
            let mut w = std::fs::File::from(dst);
            std::io::copy(&mut r, &mut w).map_err(io_errno)?;
        } else if fmt == SFlag::S_IFLNK {
            let target = readlinkat(from, name)?;
            symlinkat(target.as_os_str(), to, name)?;
        } else {
            continue;
        }
        fchownat(to, name, owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if fmt != SFlag::S_IFLNK {
            // After chown, which clears setuid/setgid. `name` is what we
            // just created in our own fresh tmpfs, not a symlink.
            fchmodat(to, name, perm, FchmodatFlags::FollowSymlink)?;
        }
    }
    Ok(())
}

fn open_dir(dir: BorrowedFd<'_>, name: &std::ffi::OsStr) -> std::result::Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Spec {
        serde_json::from_str(json).expect("spec")
    }

    #[test]
    fn defaults_are_runcs() {
        let d = default_devices();
        let names: Vec<_> = d
            .iter()
            .map(|d| d.path.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
        );
        assert!(
            d.iter()
                .all(|d| d.mode == 0o666 && d.uid == 0 && d.kind == SFlag::S_IFCHR)
        );
    }

    #[test]
    fn spec_devices_override_defaults() {
        let s = spec_from(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[
                {"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":8630,"uid":5,"gid":6},
                {"path":"/dev/sda","type":"b","major":8,"minor":0},
                {"path":"/dev/fifo","type":"p","major":0,"minor":0}
            ]}}"#,
        );
        let l = device_list(&s).expect("list");
        assert_eq!(l.len(), 3 + 5);
        assert_eq!(l[0].0, "linux.devices[0]");
        // 8630 = 0o20666: the type bits of fileMode are dropped.
        assert_eq!(l[0].1.mode, 0o666);
        assert_eq!((l[0].1.uid, l[0].1.gid), (5, 6));
        assert_eq!(l[1].1.kind, SFlag::S_IFBLK);
        assert_eq!(l[2].1.kind, SFlag::S_IFIFO);
        assert_eq!(
            l.iter()
                .filter(|(_, d)| d.path == Path::new("/dev/null"))
                .count(),
            1
        );
    }

    #[test]
    fn type_a_is_refused() {
        let s = spec_from(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[{"path":"/dev/x","type":"a","major":1,"minor":1}]}}"#,
        );
        let e = device_list(&s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            e,
            "linux.devices[0] \"/dev/x\": unsupported device type \"a\""
        );
    }

    #[test]
    fn copies_a_tree() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        fs_err::create_dir_all(a.path().join("d/e")).expect("mkdir");
        fs_err::write(a.path().join("d/f"), b"hello").expect("write");
        std::os::unix::fs::symlink("d/f", a.path().join("l")).expect("symlink");
        let fa = nix::fcntl::open(
            a.path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .expect("open");
        let fb = nix::fcntl::open(
            b.path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .expect("open");
        copy_tree(fa.as_fd(), fb.as_fd()).expect("copy");
        assert_eq!(
            fs_err::read_to_string(b.path().join("d/f")).expect("read"),
            "hello"
        );
        assert!(b.path().join("d/e").is_dir());
        assert_eq!(
            fs_err::read_link(b.path().join("l")).expect("readlink"),
            Path::new("d/f")
        );
    }
}
