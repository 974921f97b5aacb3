//! Container state on disk: `<root>/<id>/state.json`.
//!
//! The state directory is the only record that a container exists. It holds
//! the spec the container was created with (so `start`, `kill`, `delete` and
//! `exec` never re-read a bundle that may have changed), the init process's
//! pid together with its start time (so a recycled pid is never mistaken for
//! the container), and the exec fifo that `create` leaves init blocked on.
//!
//! The status is derived, never stored: `created` while the exec fifo exists,
//! `paused` while the cgroup is frozen, `running` while init lives, else
//! `stopped`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

/// Name of the fifo init blocks on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

/// Errors reading or writing container state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    #[error("container with id \"{0}\" already exists")]
    Exists(String),
    #[error(
        "invalid container id {0:?}: use letters, digits, '_', '-', '.' and '+' (not starting with '.')"
    )]
    InvalidId(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: corrupt state: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The status of a container, as the OCI spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Pid of the container's init process, in the runtime's pid namespace.
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot (field 22 of
    /// `/proc/<pid>/stat`), to detect pid reuse.
    pub pid_start: u64,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    /// The cgroup path the container was created with (`linux.cgroupsPath`).
    pub cgroups_path: Option<String>,
    pub spec: Spec,
}

/// The OCI state document printed by `state` and passed to hooks.
#[derive(Debug, Clone, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a HashMap<String, String>>,
}

impl State {
    /// The OCI state document for this container with `status`.
    pub fn oci(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: self.spec.version(),
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: self.spec.annotations().as_ref(),
        }
    }
}

/// Checks a container id the way runc does: it becomes a directory name.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// The state directory tree under `--root`.
#[derive(Debug, Clone)]
pub struct StateRoot {
    root: PathBuf,
}

impl StateRoot {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `<root>/<id>`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Creates `<root>/<id>` (mode 0711), failing if it exists.
    pub fn create_dir(&self, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        use std::os::unix::fs::DirBuilderExt;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        fs_err::create_dir_all(&self.root).map_err(io(&self.root))?;
        let dir = self.dir(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists(id.to_string()))
            }
            Err(source) => Err(StateError::Io { path: dir, source }),
        }
    }

    /// Writes `state.json` atomically (temp file, rename). No fsync: the
    /// state root lives on a tmpfs (`/run`) and means nothing after a
    /// reboot, when every container is gone anyway; the rename alone keeps
    /// readers from ever seeing a half-written file.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let dir = self.dir(&state.id);
        let tmp = dir.join(".state.json.tmp");
        let path = dir.join(STATE_FILE);
        let data = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| StateError::Io { path: p, source }
        };
        {
            use std::io::Write;
            let mut file = fs_err::File::create(&tmp).map_err(io(&tmp))?;
            file.write_all(&data).map_err(io(&tmp))?;
        }
        fs_err::rename(&tmp, &path).map_err(io(&path))
    }

    /// Reads `<root>/<id>/state.json`.
    pub fn load(&self, id: &str) -> Result<State, StateError> {
        validate_id(id).map_err(|_| StateError::NotFound(id.to_string()))?;
        let path = self.dir(id).join(STATE_FILE);
        let data = match fs_err::read(&path) {
            Ok(data) => data,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()));
            }
            Err(source) => return Err(StateError::Io { path, source }),
        };
        serde_json::from_slice(&data).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Ids of every container with a state directory, sorted.
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs_err::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join(STATE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Removes `<root>/<id>` and everything in it.
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        let dir = self.dir(id);
        match fs_err::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io { path: dir, source }),
        }
    }
}

/// Start time of `pid` (field 22 of `/proc/<pid>/stat`) and whether it is a
/// zombie; `None` if the process does not exist.
pub fn process_start(pid: i32) -> Option<(u64, bool)> {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let zombie = fields.next()? == "Z";
    // After the state field (3), starttime is field 22: 18 fields further.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, zombie))
}

/// Current time as RFC 3339 with nanoseconds, in UTC, as runc prints it.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// Formats seconds since the epoch (UTC) as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
/// (out-of-range times as the epoch).
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_435_200, 0), "2026-11-23T12:00:00.000000000Z");
    }

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("../x").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id(".hidden").is_err());
    }

    #[test]
    fn own_process_start_is_readable() {
        let (start, zombie) = process_start(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(!zombie);
    }
}
