//! The one error type of `berth-cgroups`.
//!
//! Every variant names the file or directory involved and what berth was
//! trying to do with it, so a failed `berth run` reads like
//! "cannot set memory limit: write `12` to `/sys/fs/cgroup/memory/berth/x/memory.limit_in_bytes`:
//! Device or resource busy (os error 16)" rather than a bare errno.

use std::io;
use std::path::PathBuf;

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while managing cgroups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a control file failed.
    #[error("cannot {what}: write `{value}` to `{}`: {err}", path.display())]
    Write {
        /// What the write was for, e.g. "set memory limit".
        what: String,
        /// The value written.
        value: String,
        /// The control file.
        path: PathBuf,
        /// The error the kernel (or filesystem) reported.
        err: io::Error,
    },

    /// Reading a control file failed.
    #[error("cannot {what}: read `{}`: {err}", path.display())]
    Read {
        /// What the read was for.
        what: String,
        /// The control file.
        path: PathBuf,
        /// The error the kernel reported.
        err: io::Error,
    },

    /// A control file held something berth could not parse.
    #[error("cannot {what}: unexpected content in `{}`: {reason}", path.display())]
    Parse {
        /// What the read was for.
        what: String,
        /// The control file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },

    /// Creating a cgroup directory failed.
    #[error("cannot create cgroup `{}`: {err}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The error the kernel reported.
        err: io::Error,
    },

    /// Removing a cgroup directory failed (after retrying on `EBUSY`).
    #[error("cannot remove cgroup `{}`: {err}", path.display())]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The error the kernel reported.
        err: io::Error,
    },

    /// A limit needs a controller that is not mounted (v1) or not available
    /// in the parent's `cgroup.controllers` (v2).
    #[error(
        "cannot {what}: the `{controller}` cgroup controller is not available (looked in `{}`)",
        path.display()
    )]
    ControllerUnavailable {
        /// What needed the controller.
        what: String,
        /// The controller, e.g. "memory".
        controller: String,
        /// Where berth looked for it: the hierarchy root (v1) or the
        /// `cgroup.controllers` file (v2).
        path: PathBuf,
    },

    /// `linux.cgroupsPath` used the systemd form `slice:prefix:name`.
    #[error(
        "systemd cgroup paths are not supported (got `{path}`): set `linux.cgroupsPath` to a path such as `/berth/<id>`, or leave it empty"
    )]
    SystemdPath {
        /// The path as given.
        path: String,
    },

    /// `linux.cgroupsPath` (or the container id used in its place) is not a
    /// usable path.
    #[error("invalid cgroups path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A resource in the spec cannot be applied as given.
    #[error("invalid {what}: {reason}")]
    InvalidResource {
        /// Which resource, e.g. "memory swap limit".
        what: String,
        /// Why it was rejected.
        reason: String,
    },

    /// `linux.resources.unified` was set while the host uses cgroup v1.
    #[error(
        "`linux.resources.unified` needs cgroup v2, but this host uses cgroup v1 (keys: {keys})"
    )]
    UnifiedOnV1 {
        /// The keys that were set, comma separated.
        keys: String,
    },

    /// `/proc/self/mountinfo` listed no cgroup filesystem.
    #[error("no cgroup filesystem is mounted (nothing of type `cgroup` or `cgroup2` in `{}`)", path.display())]
    NotMounted {
        /// The mountinfo file that was read.
        path: PathBuf,
    },

    /// `/proc/self/cgroup` has no entry for a hierarchy berth needs, so a
    /// relative `cgroupsPath` cannot be resolved.
    #[error(
        "cannot resolve a relative cgroups path: `/proc/self/cgroup` has no entry for `{hierarchy}`"
    )]
    NoOwnCgroup {
        /// The controller or `0::` entry that was missing.
        hierarchy: String,
    },

    /// Freezing did not complete in time.
    #[error("cannot freeze the cgroup: `{}` still reads `{state}` after {waited_ms} ms", path.display())]
    FreezeTimeout {
        /// The file that was polled.
        path: PathBuf,
        /// The last state read.
        state: String,
        /// How long berth waited.
        waited_ms: u64,
    },

    /// Compiling, loading or attaching the v2 device access program failed.
    #[error("cannot {what} for `{}`: {reason}", path.display())]
    DeviceProgram {
        /// The step that failed, e.g. "load the device access eBPF program".
        what: String,
        /// The cgroup directory.
        path: PathBuf,
        /// The error, including the verifier log when there is one.
        reason: String,
    },
}
