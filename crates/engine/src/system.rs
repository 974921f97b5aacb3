//! The answers to "what is this engine and where does it run" (`/info`,
//! `/version`), as domain data. The API layer turns them into Docker's shapes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::host::{CgroupInfo, HostInfo};
use crate::{Engine, EngineConfig, EngineError};

/// The runtime name containers use unless they ask for another.
pub const DEFAULT_RUNTIME: &str = "berth-runtime";

/// The storage driver name clients see. berth stacks overlayfs snapshots, which
/// is what dockerd calls `overlay2`.
pub const STORAGE_DRIVER: &str = "overlay2";

/// What the daemon binary was built from; filled in by `berthd`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// berth's release, e.g. `0.1.0`.
    pub version: String,
    pub git_commit: String,
    /// RFC 3339, or empty when unknown.
    pub build_time: String,
    /// e.g. `rustc 1.95.0`.
    pub compiler: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerCounts {
    pub total: usize,
    pub running: usize,
    pub paused: usize,
    pub stopped: usize,
}

/// An OCI runtime the engine can start containers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    pub name: String,
    pub path: PathBuf,
}

/// Everything `/info` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    pub id: String,
    pub containers: ContainerCounts,
    pub images: usize,
    pub storage_driver: String,
    /// Driver facts as (label, value), e.g. ("Backing Filesystem", "extfs").
    pub storage_status: Vec<(String, String)>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub host: HostInfo,
    pub cgroup: CgroupInfo,
    /// Always `cgroupfs`: berth drives the cgroup tree itself, not systemd.
    pub cgroup_driver: String,
    pub logging_driver: String,
    pub runtimes: Vec<RuntimeInfo>,
    pub default_runtime: String,
    pub debug: bool,
    pub server_version: String,
    /// Open file descriptors of the daemon.
    pub open_fds: usize,
    /// Threads of the daemon (dockerd reports goroutines here).
    pub threads: usize,
    /// Now, RFC 3339 with nanoseconds, UTC.
    pub system_time: String,
    pub live_restore: bool,
    pub warnings: Vec<String>,
}

/// Everything `/version` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub build: BuildInfo,
    pub os: String,
    /// `uname -m` style (`x86_64`); the API layer translates to Go's names.
    pub arch: String,
    pub kernel_version: String,
}

pub(crate) fn collect_info(engine: &Engine) -> SystemInfo {
    let config = engine.config();
    let paths = &config.host_paths;
    let host = paths.host_info();
    let cgroup = paths.cgroup_info();
    let mut warnings = Vec::new();
    // dockerd's wording, for the same v1 condition.
    if cgroup.version == crate::CgroupVersion::V1 && !cgroup.swap_limit {
        warnings.push("WARNING: No swap limit support".to_owned());
    }
    let mut storage_status = Vec::new();
    if let Some(fs) = paths.backing_fs(&config.data_root) {
        storage_status.push(("Backing Filesystem".to_owned(), docker_fs_name(&fs)));
    }
    storage_status.push(("Supports d_type".to_owned(), "true".to_owned()));
    let self_dir = paths.proc.join("self");
    SystemInfo {
        id: engine.id().to_owned(),
        containers: {
            let c = engine.containers().counts();
            // docker counts paused containers apart from the running ones.
            let paused = engine.containers().paused_count();
            ContainerCounts {
                total: c.total,
                running: c.running.saturating_sub(paused),
                paused,
                stopped: c.stopped,
            }
        },
        images: engine.images().count(),
        storage_driver: STORAGE_DRIVER.to_owned(),
        storage_status,
        data_root: config.data_root.clone(),
        exec_root: config.exec_root.clone(),
        host,
        cgroup,
        cgroup_driver: "cgroupfs".to_owned(),
        logging_driver: "json-file".to_owned(),
        runtimes: vec![RuntimeInfo {
            name: DEFAULT_RUNTIME.to_owned(),
            path: config.runtime_path.clone(),
        }],
        default_runtime: DEFAULT_RUNTIME.to_owned(),
        debug: config.debug,
        server_version: config.build.version.clone(),
        open_fds: fs_err::read_dir(self_dir.join("fd")).map_or(0, Iterator::count),
        threads: fs_err::read_dir(self_dir.join("task")).map_or(0, Iterator::count),
        system_time: rfc3339_nanos(SystemTime::now()),
        live_restore: false,
        warnings,
    }
}

pub(crate) fn collect_version(config: &EngineConfig) -> VersionInfo {
    VersionInfo {
        build: config.build.clone(),
        os: "linux".to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        kernel_version: fs_err::read_to_string(config.host_paths.proc.join("sys/kernel/osrelease"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// dockerd's names for backing file systems (`ext4` shows as `extfs`).
fn docker_fs_name(fstype: &str) -> String {
    match fstype {
        "ext2" | "ext3" | "ext4" => "extfs".to_owned(),
        "overlay" => "overlayfs".to_owned(),
        other => other.to_owned(),
    }
}

/// Reads `<data-root>/engine-id`, or writes a fresh random UUID there (the
/// same file name and format as dockerd, which keeps it across restarts).
pub(crate) fn load_or_create_engine_id(data_root: &Path) -> Result<String, EngineError> {
    let path = data_root.join("engine-id");
    match fs_err::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim().to_owned();
            if id.len() != 36 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                return Err(EngineError::BadEngineId { path, id });
            }
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = random_uuid()?;
            // temp + rename, so a crash never leaves a half-written id.
            let tmp = data_root.join(".engine-id.tmp");
            fs_err::write(&tmp, format!("{id}\n")).map_err(EngineError::Io)?;
            fs_err::rename(&tmp, &path).map_err(EngineError::Io)?;
            Ok(id)
        }
        Err(e) => Err(EngineError::Io(e)),
    }
}

fn random_uuid() -> Result<String, EngineError> {
    let mut b = [0u8; 16];
    fs_err::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(EngineError::Io)?;
    // RFC 4122 version 4, variant 1.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// `2026-11-23T13:08:01.123456789Z`.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339_nanos(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_352_881, 5);
        assert_eq!(rfc3339_nanos(t), "2026-11-22T13:08:01.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(rfc3339_nanos(leap).starts_with("2000-02-29T00:00:00"));
    }

    #[test]
    fn uuid_is_v4() {
        let id = random_uuid().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn bad_engine_id_is_reported_with_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::write(tmp.path().join("engine-id"), "nope").unwrap();
        let err = load_or_create_engine_id(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("engine-id"), "{err}");
    }
}
