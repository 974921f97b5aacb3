//! After the pivot: read-only and masked paths, read-only `/` and `/dev`,
//! root propagation, sysctls. Paths are now container paths: the old root
//! is gone, so no symlink can lead outside.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::statvfs::statvfs;
use oci_spec::runtime::Spec;

use super::mounts::{locked_flags, remount_bind};
use super::options::MountOptions;
use super::resolve::clean_absolute;
use super::{Os, Result, RootfsError, root_propagation};

pub(super) fn finalize(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    // runc standard_init: readonlyPaths first, then maskedPaths.
    for (index, p) in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        readonly_path(Path::new(p)).map_err(|(step, e)| RootfsError::PathRule {
            field: "readonlyPaths",
            index,
            path: PathBuf::from(p),
            step,
            errno: Os(e),
        })?;
    }
    for (index, p) in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        mask_path(Path::new(p)).map_err(|(step, e)| RootfsError::PathRule {
            field: "maskedPaths",
            index,
            path: PathBuf::from(p),
            step,
            errno: Os(e),
        })?;
    }

    // runc finalizeRootfs: /dev was mounted writable to create devices.
    let dev = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| clean_absolute(m.destination()) == Path::new("/dev"));
    if let Some(m) = dev {
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
        if opts.flags.contains(MsFlags::MS_RDONLY) {
            remount_readonly(Path::new("/dev"), opts.flags)?;
        }
    }

    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        set_root_readonly()?;
    }

    // Propagation of the new "/". The self-bind in prepare_rootfs inherited
    // the (private) propagation of its parent, so a "shared" or "slave"
    // rootfsPropagation only takes effect if applied again here (runc does
    // this since 1.2).
    let has_explicit = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .is_some_and(|p| !p.is_empty());
    if has_explicit {
        let flags = root_propagation(spec)?;
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(|e| RootfsError::step("apply linux.rootfsPropagation to \"/\"", e))?;
    }
    Ok(())
}

/// runc `readonlyPath`: bind the path onto itself, then remount it
/// read-only (plus nosuid, nodev, noexec). A missing path is fine.
fn readonly_path(path: &Path) -> std::result::Result<(), (&'static str, Errno)> {
    match mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Ok(()) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(("bind onto itself", e)),
    }
    // Only MS_RDONLY, as runc: the conformance test compares the flags.
    remount_bind(path, MsFlags::MS_RDONLY).map_err(|e| ("remount read-only", e))
}

/// runc `maskPath`: `/dev/null` over a file; a read-only tmpfs over a
/// directory (binding a file onto a directory gives `ENOTDIR`). A missing
/// path is fine.
fn mask_path(path: &Path) -> std::result::Result<(), (&'static str, Errno)> {
    match mount(
        Some("/dev/null"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTDIR) => mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| ("mount read-only tmpfs", e)),
        Err(e) => Err(("bind /dev/null", e)),
    }
}

/// runc `remountReadonly` for `/dev`: a plain remount with the mount's own
/// flags plus `MS_RDONLY`, retried while the kernel says `EBUSY`.
fn remount_readonly(path: &Path, flags: MsFlags) -> Result<()> {
    let flags =
        (flags - (MsFlags::MS_BIND | MsFlags::MS_REC)) | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let mut last = Errno::EBUSY;
    for _ in 0..5 {
        match mount(None::<&str>, path, None::<&str>, flags, None::<&str>) {
            Ok(()) => return Ok(()),
            Err(Errno::EBUSY) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) => {
                last = e;
                break;
            }
        }
    }
    Err(RootfsError::step(
        format!("remount {path:?} read-only"),
        last,
    ))
}

/// runc `setReadonly`: remount `/` read-only, keeping the flags a user
/// namespace cannot clear.
fn set_root_readonly() -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let err = |e| RootfsError::step("remount \"/\" read-only (root.readonly)", e);
    match mount(None::<&str>, "/", None::<&str>, flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => {
            let locked = locked_flags(statvfs("/").map_err(err)?.flags());
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                flags | locked,
                None::<&str>,
            )
            .map_err(err)
        }
        Err(e) => Err(err(e)),
    }
}

/// `net.ipv4.ip_forward` -> `net/ipv4/ip_forward`. Refuses keys that could
/// name something outside `/proc/sys` or nothing at all.
pub(super) fn sysctl_path(key: &str) -> Option<PathBuf> {
    let rel = PathBuf::from(key.replace('.', "/"));
    let ok = !key.is_empty()
        && rel.components().all(|c| matches!(c, Component::Normal(_)))
        && !key.split(['.', '/']).any(str::is_empty);
    ok.then_some(rel)
}

pub(super) fn apply_sysctls(base: &Path, sysctl: &HashMap<String, String>) -> Result<()> {
    // Sorted, so failures and side effects are reproducible.
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let rel = sysctl_path(key).ok_or_else(|| RootfsError::SysctlKey(key.clone()))?;
        fs_err::write(base.join(rel), sysctl[key].as_bytes()).map_err(|source| {
            RootfsError::Sysctl {
                key: key.clone(),
                source,
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            Some(PathBuf::from("net/ipv4/ip_forward"))
        );
        assert_eq!(
            sysctl_path("kernel/shmmax"),
            Some(PathBuf::from("kernel/shmmax"))
        );
        assert_eq!(sysctl_path(""), None);
        assert_eq!(sysctl_path("/etc/passwd"), None);
        assert_eq!(sysctl_path("net..x"), None);
        assert_eq!(sysctl_path(".x"), None);
    }

    #[test]
    fn sysctls_are_written_under_base() {
        let d = tempfile::tempdir().expect("tempdir");
        fs_err::create_dir_all(d.path().join("net/ipv4")).expect("mkdir");
        let mut m = HashMap::new();
        m.insert("net.ipv4.ip_forward".to_owned(), "1".to_owned());
        apply_sysctls(d.path(), &m).expect("apply");
        assert_eq!(
            fs_err::read_to_string(d.path().join("net/ipv4/ip_forward")).expect("read"),
            "1"
        );
        m.insert("net.nope.x".to_owned(), "1".to_owned());
        let e = apply_sysctls(d.path(), &m)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("linux.sysctl \"net.nope.x\": "), "{e}");
    }
}
