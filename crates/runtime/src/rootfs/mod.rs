//! The container's filesystem view: mounts, `/dev`, `pivot_root`, masked and
//! read-only paths, sysctls.
//!
//! Called from the container's init process, which is single-threaded, root
//! in its (new) user namespace and already in a new mount namespace, in this
//! order (runc 1.1 `prepareRootfs` / `finalizeRootfs` are the reference):
//!
//! 1. [`prepare_rootfs`]: propagation of `/`, bind the rootfs onto itself,
//!    every `mounts[]` entry in order, `/dev` (devices, symlinks, `ptmx`).
//! 2. (createContainer hooks run here, in the old root.)
//! 3. [`pivot_root`]: switch root, detach the old one.
//! 4. [`apply_sysctls`] and [`finalize_rootfs`]: read-only and masked paths,
//!    read-only `/` and `/dev`, root propagation.
//!
//! Every destination is resolved inside the rootfs with `openat2` and
//! mounted through `/proc/self/fd` (see [`resolve`]), so a hostile image
//! cannot redirect a mount to the host (CVE-2021-30465).

mod devices;
mod finalize;
mod mountinfo;
mod mounts;
mod options;
mod pivot;
mod resolve;

use std::collections::HashMap;
use std::fmt;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

pub use options::{MountOptions, propagation_flags};

/// What the caller knows about the container that the spec alone does not say.
#[derive(Clone, Copy)]
pub struct RootfsOptions<'a> {
    /// Absolute, canonicalized host path of `root.path`.
    pub rootfs: &'a Path,
    /// The init process is in a new user namespace: device nodes are
    /// bind-mounted from the host instead of created with `mknod`.
    pub in_user_namespace: bool,
    /// `process.terminal`: create an empty `/dev/console` for the caller to
    /// bind-mount the pty onto.
    pub terminal: bool,
    /// The container has its own cgroup namespace.
    pub cgroup_namespace: bool,
    /// Called right before the first `cgroup` mount. The runtime adds init
    /// to its cgroup in parallel with the mounts before it (a cgroup v1
    /// migration can wait a whole RCU grace period); this waits until that
    /// is done, and enters the cgroup namespace, so the mount shows the
    /// container's own cgroups.
    pub before_cgroup_mount: Option<&'a dyn Fn() -> std::result::Result<(), String>>,
}

/// An errno shown the way Go and runc show it: `no such file or directory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Os(pub Errno);

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = self.0.desc();
        let mut chars = desc.chars();
        match chars.next() {
            Some(c) => write!(f, "{}{}", c.to_lowercase(), chars.as_str()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::fmt::Debug for RootfsOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootfsOptions")
            .field("rootfs", &self.rootfs)
            .field("in_user_namespace", &self.in_user_namespace)
            .field("terminal", &self.terminal)
            .field("cgroup_namespace", &self.cgroup_namespace)
            .field("before_cgroup_mount", &self.before_cgroup_mount.is_some())
            .finish()
    }
}

/// Why setting up the container's filesystem failed. Every variant names
/// the spec field (with its index) or the step, and the path involved.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// Joining the container's cgroup before mounting cgroupfs failed.
    #[error("{0}")]
    CgroupJoin(String),
    /// `linux.rootfsPropagation` is not one of the known keywords.
    #[error(
        "linux.rootfsPropagation: unknown value {0:?} (want shared, slave, private or unbindable, optionally with an `r` prefix)"
    )]
    BadPropagation(String),
    /// `mounts[i].type` is not a filesystem the kernel knows.
    #[error("mounts[{index}]: unknown mount type {typ:?}")]
    UnknownType {
        /// Index in `mounts`.
        index: usize,
        /// The type as given.
        typ: String,
    },
    /// `mounts[i]` has neither a type nor a `bind`/`rbind` option.
    #[error("mounts[{index}]: no type and no `bind` or `rbind` option")]
    MissingType {
        /// Index in `mounts`.
        index: usize,
    },
    /// A bind mount without a source.
    #[error("mounts[{index}].source: missing for a bind mount")]
    MissingSource {
        /// Index in `mounts`.
        index: usize,
    },
    /// The bind source cannot be used (usually: does not exist).
    #[error("mounts[{index}].source {path:?}: {errno}")]
    Source {
        /// Index in `mounts`.
        index: usize,
        /// The source as given.
        path: PathBuf,
        /// What the kernel said.
        errno: Os,
    },
    /// The destination could not be resolved or created inside the rootfs.
    #[error("mounts[{index}].destination {destination:?}: {errno}")]
    Destination {
        /// Index in `mounts`.
        index: usize,
        /// The destination as given.
        destination: PathBuf,
        /// What the kernel said.
        errno: Os,
    },
    /// A mount on or under `/proc` that runc's `checkProcMount` forbids:
    /// mounting over procfs files can disable LSM protections
    /// (CVE-2019-16884, CVE-2019-19921).
    #[error("mounts[{index}].destination {destination:?}: {reason}")]
    ProcDestination {
        /// Index in `mounts`.
        index: usize,
        /// The destination as given.
        destination: PathBuf,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `mount(2)` itself failed for a `mounts[]` entry.
    #[error("mount {mount_source:?} on {destination:?} (mounts[{index}]): {errno}")]
    Mount {
        /// Index in `mounts`.
        index: usize,
        /// The source (or type, when the spec has no source).
        mount_source: String,
        /// The destination as given.
        destination: PathBuf,
        /// What the kernel said.
        errno: Os,
    },
    /// A later step of a `mounts[]` entry (remount, propagation, chmod,
    /// cgroup setup) failed.
    #[error("mounts[{index}] {destination:?}: {step}: {errno}")]
    MountStep {
        /// Index in `mounts`.
        index: usize,
        /// The destination as given.
        destination: PathBuf,
        /// What we were doing.
        step: String,
        /// What the kernel said.
        errno: Os,
    },
    /// Creating a device node (default device or `linux.devices[i]`).
    #[error("{site} {path:?}: {step}: {errno}")]
    Device {
        /// `linux.devices[3]` or `default device`.
        site: String,
        /// Path inside the container.
        path: PathBuf,
        /// What we were doing.
        step: &'static str,
        /// What the kernel said.
        errno: Os,
    },
    /// `linux.devices[i].type` is not `c`, `u`, `b` or `p`.
    #[error("linux.devices[{index}] {path:?}: unsupported device type {typ:?}")]
    DeviceType {
        /// Index in `linux.devices`.
        index: usize,
        /// Path inside the container.
        path: PathBuf,
        /// The type letter.
        typ: String,
    },
    /// `maskedPaths[i]` or `readonlyPaths[i]` failed.
    #[error("{field}[{index}] {path:?}: {step}: {errno}")]
    PathRule {
        /// `maskedPaths` or `readonlyPaths`.
        field: &'static str,
        /// Index in the list.
        index: usize,
        /// The path.
        path: PathBuf,
        /// What we were doing.
        step: &'static str,
        /// What the kernel said.
        errno: Os,
    },
    /// A `linux.sysctl` entry could not be written.
    #[error("linux.sysctl {key:?}: {source}")]
    Sysctl {
        /// The key as given.
        key: String,
        /// The write error (names the `/proc/sys` path).
        source: std::io::Error,
    },
    /// A `linux.sysctl` key that cannot name a file under `/proc/sys`.
    #[error("linux.sysctl {0:?}: invalid key")]
    SysctlKey(String),
    /// A step on the rootfs as a whole (propagation, self-bind, pivot_root,
    /// read-only `/`).
    #[error("{step}: {errno}")]
    Step {
        /// What we were doing, with the path.
        step: String,
        /// What the kernel said.
        errno: Os,
    },
    /// Reading a kernel-provided file (`/proc/self/mountinfo`, ...) or
    /// resolving `root.path`.
    #[error("{step}: {source}")]
    Read {
        /// What we were doing.
        step: &'static str,
        /// The error (names the path).
        source: std::io::Error,
    },
}

impl RootfsError {
    fn step(step: impl Into<String>, errno: Errno) -> Self {
        Self::Step {
            step: step.into(),
            errno: Os(errno),
        }
    }
}

/// Shorthand for this module's results.
pub type Result<T> = std::result::Result<T, RootfsError>;

/// runc's `needsSetupDev`: we populate `/dev` unless a bind mount provides
/// the whole of it.
pub fn needs_setup_dev(spec: &Spec) -> bool {
    !spec.mounts().iter().flatten().any(|m| {
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
        let is_bind = opts.is_bind() || m.typ().as_deref() == Some("bind");
        is_bind && resolve::clean_absolute(m.destination()) == Path::new("/dev")
    })
}

/// The mount flags for `linux.rootfsPropagation`; `MS_SLAVE | MS_REC` when
/// unset, as in runc (never private: a slave still sees host unmounts, so a
/// container does not pin host mounts forever).
pub fn root_propagation(spec: &Spec) -> Result<MsFlags> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        None | Some("") => Ok(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        Some(p) => propagation_flags(p).ok_or_else(|| RootfsError::BadPropagation(p.to_owned())),
    }
}

/// Everything before `pivot_root`: propagation of `/`, the rootfs bound
/// onto itself, every `mounts[]` entry in order, then (unless `/dev` is a
/// bind mount) default devices + `linux.devices`, the `/dev` symlinks,
/// `/dev/ptmx -> pts/ptmx`, `/dev/shm` and, with a terminal, an empty
/// `/dev/console`.
pub fn prepare_rootfs(spec: &Spec, opts: &RootfsOptions<'_>) -> Result<()> {
    let propagation = root_propagation(spec)?;
    // runc prepareRoot: our copy of the host's tree becomes a slave (or what
    // the spec asks), so nothing we mount propagates back to the host.
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .map_err(|e| RootfsError::step("set propagation of \"/\"", e))?;
    // Mount points in mountinfo and the paths /proc/self/fd shows are
    // canonical; compare against the canonical rootfs even if the caller
    // passed a path through a symlink.
    let rootfs = fs_err::canonicalize(opts.rootfs).map_err(|source| RootfsError::Read {
        step: "resolving root.path",
        source,
    })?;
    // pivot_root(2) refuses a new root whose parent mount is shared.
    pivot::make_parent_mount_private(&rootfs)?;
    mount(
        Some(&rootfs),
        &rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| RootfsError::step(format!("bind {rootfs:?} onto itself"), e))?;
    // Opened after the self-bind, so it names the new mount's root.
    let root = nix::fcntl::open(
        &rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RootfsError::step(format!("open rootfs {rootfs:?}"), e))?;

    let ctx = mounts::Ctx {
        root: root.as_fd(),
        rootfs: &rootfs,
        opts,
    };
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        mounts::mount_entry(&ctx, index, m)?;
    }
    if needs_setup_dev(spec) {
        devices::setup_dev(&ctx, spec)?;
    }
    Ok(())
}

/// Makes `rootfs` the root: `pivot_root(".", ".")` from inside it, then the
/// old root (stacked on top) is made a slave and lazily unmounted (runc's
/// `pivotRoot`). With `no_pivot`, or when `pivot_root` says `EINVAL` (the
/// host root is an initramfs, which cannot be pivoted away from), the rootfs
/// is moved onto `/` and we `chroot` into it (runc's `msMoveRoot`).
pub fn pivot_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    pivot::pivot_root(rootfs, no_pivot)
}

/// After the pivot: `readonlyPaths`, `maskedPaths`, `/dev` remounted
/// read-only when its mount said `ro`, `root.readonly`, and
/// `linux.rootfsPropagation` applied to the new `/`. Leaves the umask alone.
pub fn finalize_rootfs(spec: &Spec) -> Result<()> {
    finalize::finalize(spec)
}

/// Writes each `linux.sysctl` entry to `/proc/sys/<key with . -> />`. Call
/// after the pivot, with the container's `/proc` mounted.
pub fn apply_sysctls(sysctl: &HashMap<String, String>) -> Result<()> {
    finalize::apply_sysctls(Path::new("/proc/sys"), sysctl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Spec {
        serde_json::from_str(json).expect("spec")
    }

    #[test]
    fn errno_text_is_lowercase() {
        assert_eq!(Os(Errno::ENOENT).to_string(), "no such file or directory");
        assert_eq!(Os(Errno::EACCES).to_string(), "permission denied");
    }

    #[test]
    fn error_messages_name_the_field() {
        let e = RootfsError::Mount {
            index: 0,
            mount_source: "proc".into(),
            destination: "/proc".into(),
            errno: Os(Errno::EACCES),
        };
        assert_eq!(
            e.to_string(),
            "mount \"proc\" on \"/proc\" (mounts[0]): permission denied"
        );
        let e = RootfsError::UnknownType {
            index: 3,
            typ: "foo".into(),
        };
        assert_eq!(e.to_string(), "mounts[3]: unknown mount type \"foo\"");
        let e = RootfsError::Source {
            index: 5,
            path: "/nope".into(),
            errno: Os(Errno::ENOENT),
        };
        assert_eq!(
            e.to_string(),
            "mounts[5].source \"/nope\": no such file or directory"
        );
    }

    #[test]
    fn setup_dev_unless_dev_is_bound() {
        let s = spec_from(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/dev","type":"tmpfs","source":"tmpfs"}]}"#,
        );
        assert!(needs_setup_dev(&s));
        let s = spec_from(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/dev/","source":"/dev","options":["rbind"]}]}"#,
        );
        assert!(!needs_setup_dev(&s));
        let s = spec_from(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/dev","type":"bind","source":"/dev"}]}"#,
        );
        assert!(!needs_setup_dev(&s));
    }

    #[test]
    fn propagation_default_and_errors() {
        let s = spec_from(r#"{"ociVersion":"1.0.2"}"#);
        assert_eq!(
            root_propagation(&s).ok(),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        let s = spec_from(r#"{"ociVersion":"1.0.2","linux":{"rootfsPropagation":"rshared"}}"#);
        assert_eq!(
            root_propagation(&s).ok(),
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
        );
        let s = spec_from(r#"{"ociVersion":"1.0.2","linux":{"rootfsPropagation":"sideways"}}"#);
        let e = root_propagation(&s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("linux.rootfsPropagation: unknown value \"sideways\""),
            "{e}"
        );
    }
}
