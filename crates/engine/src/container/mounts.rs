//! A container's mounts: binds, named and anonymous volumes, tmpfs and
//! `--volumes-from`, as docker's `HostConfig.Binds`/`Mounts`/`VolumesFrom`
//! and the image's `VOLUME`s.
//!
//! At create, [`plan`] checks every request with dockerd's rules and
//! messages (moby `volume/mounts/linux_parser.go`, `registerMountPoints`)
//! without touching anything; then the volumes are created or looked up
//! through a [`VolumeBackend`] and the result is stored with the container
//! as its [`MountPoint`]s. At start each volume is mounted (a reference
//! count in the volume service) and [`spec_mounts`] turns the mount points
//! into OCI `mounts[]` entries; at exit they are unmounted.
//!
//! Mount destinations are container paths: the runtime resolves them
//! inside the root file system with `openat2(RESOLVE_IN_ROOT)` and mounts
//! through `/proc/self/fd`, so a symlink in the image (or one swapped in
//! during setup) cannot send a bind to a host path the user did not name.
//! The copy of an image's content into a new volume ([`copy_up`]) walks
//! the image by descriptors for the same reason.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ContainerError;

/// What the user asked for (kept as given, for inspect's `HostConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountOptions {
    /// `-v`: docker's `HostConfig.Binds` (`src:dst[:mode]`).
    pub binds: Vec<String>,
    /// `--mount`: docker's `HostConfig.Mounts`.
    pub mounts: Vec<MountRequest>,
    /// `--volumes-from`: `container[:ro|rw]`.
    pub volumes_from: Vec<String>,
    /// `-v /path` (docker's `Config.Volumes`): anonymous volumes.
    pub volumes: Vec<String>,
    /// `--volume-driver` (docker's `HostConfig.VolumeDriver`).
    pub volume_driver: String,
}

impl MountOptions {
    pub fn is_empty(&self) -> bool {
        self.binds.is_empty()
            && self.mounts.is_empty()
            && self.volumes_from.is_empty()
            && self.volumes.is_empty()
    }
}

/// One `HostConfig.Mounts` entry (docker's `mount.Mount`); empty fields
/// are left out, as dockerd's `omitempty` does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountRequest {
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
    /// `type=image` (API 1.48): `image-subpath`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub non_recursive: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub create_mountpoint: bool,
    /// Submounts of a read-only bind stay writable (what berth does for
    /// every read-only bind).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only_non_recursive: bool,
    /// Submounts read-only too (`bind-recursive=readonly`): refused, berth
    /// does not make submounts read-only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only_force_recursive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "none_or_empty")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "none_or_empty")]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

/// Go's `omitempty` on a map: left out when nil or empty.
fn none_or_empty(m: &Option<BTreeMap<String, String>>) -> bool {
    m.as_ref().is_none_or(BTreeMap::is_empty)
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// What a mount point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
    /// An image's root file system, read-only (`--mount type=image`).
    Image,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Volume => "volume",
            Self::Tmpfs => "tmpfs",
            Self::Image => "image",
        }
    }
}

/// One resolved mount of a container (docker's `MountPoint`), stored
/// with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: MountKind,
    /// Host path: the bind's source, or the volume's directory.
    pub source: String,
    /// Container path (cleaned).
    pub destination: String,
    pub rw: bool,
    /// The volume's name (volumes only).
    #[serde(default)]
    pub name: String,
    /// The volume's driver (volumes only).
    #[serde(default)]
    pub driver: String,
    /// The mode as written in `-v` (`ro,Z`), empty otherwise.
    #[serde(default)]
    pub mode: String,
    /// `rprivate`, `rshared`, ... (binds only).
    #[serde(default)]
    pub propagation: String,
    /// Copy the image's content at the destination into the volume when it
    /// is empty (at create).
    #[serde(default)]
    pub copy_data: bool,
    /// Created for this container without a name (`-v /path`, `VOLUME`):
    /// removed by `rm -v` and `--rm`.
    #[serde(default)]
    pub anonymous: bool,
    /// A missing bind source is created as a directory at start (`-v`);
    /// `--mount` refuses it at create instead.
    #[serde(default)]
    pub create_source: bool,
    /// A bind without `rbind` (`bind-nonrecursive`).
    #[serde(default)]
    pub non_recursive: bool,
    /// The tmpfs options (`size=...,mode=...`), tmpfs only.
    #[serde(default)]
    pub tmpfs_data: String,
    /// The request it came from (docker's `Spec`).
    #[serde(default)]
    pub spec: MountRequest,
}

/// A volume as a container sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    pub name: String,
    pub driver: String,
    /// The directory containers mount (`<data-root>/volumes/<name>/_data`).
    pub mountpoint: PathBuf,
    /// This call created it.
    pub created: bool,
}

/// What the container service needs from the volume service.
pub trait VolumeBackend: Send + Sync {
    /// The volume `name` (created when missing), or a new anonymous one
    /// (`None`); `container` is recorded as using it.
    fn acquire(
        &self,
        name: Option<&str>,
        driver: &str,
        options: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
        container: &str,
    ) -> Result<VolumeRef, ContainerError>;
    /// Records that `container` uses the existing volume `name`.
    fn reference(&self, name: &str, container: &str) -> Result<VolumeRef, ContainerError>;
    /// `container` no longer uses `name`.
    fn release(&self, name: &str, container: &str);
    /// Makes the volume's directory usable (mounting a `tmpfs` or `bind`
    /// option volume on first use) for `container`'s mount `point`; its
    /// path.
    fn mount(&self, point: &MountPoint, container: &str) -> Result<PathBuf, ContainerError>;
    /// Counts `container`, which was running before berthd restarted and
    /// still has the volume mounted.
    fn restore(&self, name: &str, container: &str);
    /// `container` is done with the directory (the last one unmounts).
    fn unmount(&self, name: &str, container: &str);
    /// Removes the volume (unless something else still uses it).
    fn remove(&self, name: &str) -> Result<(), ContainerError>;
}

fn invalid(message: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument {
        message: message.into(),
    }
}

// ---------------------------------------------------------------------
// Parsing, as dockerd's linux parser.

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];
const DEFAULT_PROPAGATION: &str = "rprivate";

/// `ro,Z`: at most one of each kind of mode (moby `linuxValidMountMode`).
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let slot = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            _ if PROPAGATIONS.contains(&o) => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[slot] += 1;
    }
    counts.iter().all(|c| *c <= 1)
}

fn read_write(mode: &str) -> bool {
    valid_mode(mode) && !mode.split(',').any(|o| o == "ro")
}

fn propagation_of(mode: &str) -> Option<&str> {
    mode.split(',').find(|o| PROPAGATIONS.contains(o))
}

/// Go's `path.Clean` for absolute paths.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    if p.starts_with('/') {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

fn mount_config_err(kind: &str, err: impl std::fmt::Display) -> String {
    format!("invalid mount config for type \"{kind}\": {err}")
}

fn validate_absolute(p: &str) -> Result<(), String> {
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "invalid mount path: '{p}' mount path must be absolute"
        ))
    }
}

/// moby `validateMountConfigImpl`: the message as dockerd's.
fn validate(m: &MountRequest, bind_source_must_exist: bool) -> Result<(), String> {
    let kind = m.kind.as_str();
    let err = |e: &str| mount_config_err(kind, e);
    if m.target.is_empty() {
        return Err(err("field Target must not be empty"));
    }
    if clean(&m.target) == "/" {
        return Err(err("invalid specification: destination can't be '/'"));
    }
    validate_absolute(&m.target).map_err(|e| err(&e))?;
    match kind {
        "bind" => {
            if m.source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if let Some(b) = &m.bind_options
                && !b.propagation.is_empty()
                && !PROPAGATIONS.contains(&b.propagation.as_str())
            {
                return Err(err(&format!("invalid propagation mode: {}", b.propagation)));
            }
            if let Some(b) = &m.bind_options {
                for (set, field) in [
                    (b.read_only_non_recursive, "ReadOnlyNonRecursive"),
                    (b.read_only_force_recursive, "ReadOnlyForceRecursive"),
                ] {
                    if set && !m.read_only {
                        return Err(err(&format!(
                            "must also set ReadOnly=true when {field}=true"
                        )));
                    }
                }
                if b.read_only_force_recursive {
                    return Err(err(
                        "recursively read-only binds (bind-recursive=readonly) are not supported by berth; \
                         leave bind-recursive unset (submounts stay writable) or use a mount without submounts",
                    ));
                }
            }
            if m.volume_options.is_some() {
                return Err(err("field VolumeOptions must not be specified"));
            }
            validate_absolute(&m.source).map_err(|e| err(&e))?;
            if bind_source_must_exist {
                let create = m.bind_options.as_ref().is_some_and(|b| b.create_mountpoint);
                match fs_err::symlink_metadata(&m.source) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if !create {
                            return Err(err(&format!(
                                "bind source path does not exist: {}",
                                m.source
                            )));
                        }
                    }
                    Err(e) => return Err(err(&format!("stat {}: {}", m.source, go_io(&e)))),
                }
            }
        }
        "volume" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            let anonymous = m.source.is_empty();
            if let Some(v) = &m.volume_options
                && !v.subpath.is_empty()
            {
                if anonymous {
                    return Err(err("must not set Subpath when using anonymous volumes"));
                }
                if !super::subpath::is_local(&v.subpath) {
                    return Err(err("subpath must be a relative path within the volume"));
                }
            }
            if m.read_only && anonymous {
                return Err(err(
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
        }
        "tmpfs" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            if !m.source.is_empty() {
                return Err(err("field Source must not be specified"));
            }
            tmpfs_data(m).map_err(|e| err(&e))?;
        }
        "image" => {
            if m.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            if m.source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if let Some(i) = &m.image_options
                && !i.subpath.is_empty()
                && !super::subpath::is_local(&i.subpath)
            {
                return Err(err("subpath must be a relative path within the image"));
            }
        }
        _ => return Err(err("mount type unknown")),
    }
    Ok(())
}

/// An io error as Go words it (`no such file or directory`).
fn go_io(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let d = nix::errno::Errno::from_raw(n).desc();
            let mut c = d.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => d.to_owned(),
            }
        }
        None => e.to_string(),
    }
}

/// moby `ConvertTmpfsOptions`: `ro,mode=1770,size=64m,exec`.
fn tmpfs_data(m: &MountRequest) -> Result<String, String> {
    let mut raw: Vec<String> = Vec::new();
    if m.read_only {
        raw.push("ro".into());
    }
    if let Some(t) = &m.tmpfs_options {
        if t.mode != 0 {
            raw.push(format!("mode={:o}", t.mode));
        }
        if t.size_bytes != 0 {
            let (mut size, mut suffix) = (t.size_bytes, "");
            for (s, d) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
                if size % d == 0 {
                    size /= d;
                    suffix = s;
                    break;
                }
            }
            raw.push(format!("size={size}{suffix}"));
        }
        for opt in t.options.iter().flatten() {
            if opt.is_empty() || opt.len() > 2 {
                return Err("invalid option array length".into());
            }
            if opt[0] != "exec" && opt[0] != "noexec" {
                return Err(format!("invalid option: {}", opt[0]));
            }
            raw.push(opt.join("="));
        }
    }
    Ok(raw.join(","))
}

/// moby `ParseMountRaw`: `-v src:dst[:mode]` into a request (and its mode).
fn parse_bind(raw: &str, volume_driver: &str) -> Result<(MountRequest, String), String> {
    let spec_err = || format!("invalid volume specification: '{raw}'");
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(spec_err());
    }
    let mut m = MountRequest::default();
    let mut mode = "";
    match arr.len() {
        1 => arr[0].clone_into(&mut m.target),
        2 => {
            if valid_mode(arr[1]) {
                return Err(spec_err());
            }
            arr[0].clone_into(&mut m.source);
            arr[1].clone_into(&mut m.target);
        }
        3 => {
            arr[0].clone_into(&mut m.source);
            arr[1].clone_into(&mut m.target);
            mode = arr[2];
        }
        _ => return Err(spec_err()),
    }
    if !valid_mode(mode) {
        return Err(format!("invalid mode: {mode}"));
    }
    m.kind = if m.source.starts_with('/') {
        "bind"
    } else {
        "volume"
    }
    .to_owned();
    m.read_only = !read_write(mode);
    if !volume_driver.is_empty() && m.kind == "volume" {
        m.volume_options = Some(VolumeOptions {
            driver_config: Some(DriverConfig {
                name: volume_driver.to_owned(),
                options: None,
            }),
            ..VolumeOptions::default()
        });
    }
    if mode.split(',').any(|o| o == "nocopy") {
        m.volume_options
            .get_or_insert_with(Default::default)
            .no_copy = true;
    }
    if let Some(p) = propagation_of(mode) {
        m.bind_options = Some(BindOptions {
            propagation: p.to_owned(),
            ..BindOptions::default()
        });
    }
    validate(&m, false).map_err(|e| format!("{}: {e}", spec_err()))?;
    Ok((m, mode.to_owned()))
}

/// moby `ParseVolumesFrom`: `container[:mode]`.
fn parse_volumes_from(spec: &str) -> Result<(&str, &str), String> {
    if spec.is_empty() {
        return Err("volumes-from specification cannot be an empty string".into());
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id, "rw"));
    }
    if !valid_mode(mode) || propagation_of(mode).is_some() || mode.split(',').any(|o| o == "nocopy")
    {
        return Err(format!("invalid mode: {mode}"));
    }
    Ok((id, mode))
}

/// A mount point before its volume exists.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub point: MountPoint,
    /// The volume to create or look up (volumes only): `None` = anonymous.
    pub volume: Option<PlannedVolume>,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedVolume {
    pub name: Option<String>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Inherited through `--volumes-from`: the volume exists already.
    pub existing: bool,
}

fn check_driver(name: &str, driver: &str) -> Result<(), String> {
    if driver.is_empty() || driver == "local" {
        return Ok(());
    }
    // An anonymous volume has no name yet (dockerd names it first).
    let op = if name.is_empty() {
        "create".to_owned()
    } else {
        format!("create {name}")
    };
    Err(format!(
        "{op}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    ))
}

fn volume_point(m: &MountRequest, mode: &str, default_driver: &str) -> Result<Planned, String> {
    let vo = m.volume_options.clone().unwrap_or_default();
    let driver = vo
        .driver_config
        .as_ref()
        .map(|d| d.name.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| {
            if default_driver.is_empty() {
                "local".to_owned()
            } else {
                default_driver.to_owned()
            }
        });
    check_driver(&m.source, &driver)?;
    if !m.source.is_empty() {
        crate::volume::validate_name(&m.source).map_err(|e| format!("create {}: {e}", m.source))?;
    }
    let options = vo
        .driver_config
        .as_ref()
        .and_then(|d| d.options.clone())
        .unwrap_or_default();
    Ok(Planned {
        point: MountPoint {
            kind: MountKind::Volume,
            source: String::new(),
            destination: clean(&m.target),
            rw: !m.read_only,
            name: m.source.clone(),
            driver,
            mode: mode.to_owned(),
            propagation: String::new(),
            copy_data: !vo.no_copy,
            anonymous: m.source.is_empty(),
            create_source: false,
            non_recursive: false,
            tmpfs_data: String::new(),
            spec: m.clone(),
        },
        volume: Some(PlannedVolume {
            name: (!m.source.is_empty()).then(|| m.source.clone()),
            options,
            labels: vo.labels.unwrap_or_default(),
            existing: false,
        }),
    })
}

fn bind_point(m: &MountRequest, mode: &str, from_binds: bool) -> Planned {
    let propagation = m
        .bind_options
        .as_ref()
        .map(|b| b.propagation.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROPAGATION.to_owned());
    Planned {
        point: MountPoint {
            kind: MountKind::Bind,
            source: clean(&m.source),
            destination: clean(&m.target),
            rw: !m.read_only,
            name: String::new(),
            driver: String::new(),
            mode: mode.to_owned(),
            propagation,
            copy_data: false,
            anonymous: false,
            create_source: from_binds
                || m.bind_options.as_ref().is_some_and(|b| b.create_mountpoint),
            non_recursive: m.bind_options.as_ref().is_some_and(|b| b.non_recursive),
            tmpfs_data: String::new(),
            spec: m.clone(),
        },
        volume: None,
    }
}

/// What [`plan`] needs to know about another container (`--volumes-from`).
pub(crate) type Lookup<'a> = dyn Fn(&str) -> Result<Vec<MountPoint>, ContainerError> + 'a;

/// Checks the mount requests of a new container and orders them as
/// dockerd's `registerMountPoints`: `--volumes-from` first (overridden by
/// anything at the same destination), then `-v`, then `--mount`, then the
/// image's and `-v /path` anonymous volumes where nothing is mounted yet.
/// Nothing is created here.
pub(crate) fn plan(
    opts: &MountOptions,
    image_volumes: &[String],
    tmpfs: &BTreeMap<String, String>,
    lookup: &Lookup<'_>,
) -> Result<Vec<Planned>, ContainerError> {
    let mut points: BTreeMap<String, Planned> = BTreeMap::new();
    for spec in &opts.volumes_from {
        let (id, mode) = parse_volumes_from(spec).map_err(invalid)?;
        let rw_allowed = read_write(mode);
        for mp in lookup(id)? {
            if mp.kind == MountKind::Tmpfs {
                continue;
            }
            let volume = (mp.kind == MountKind::Volume).then(|| PlannedVolume {
                name: Some(mp.name.clone()),
                options: BTreeMap::new(),
                labels: BTreeMap::new(),
                existing: true,
            });
            let point = MountPoint {
                rw: mp.rw && rw_allowed,
                copy_data: false,
                anonymous: false,
                ..mp
            };
            points.insert(point.destination.clone(), Planned { point, volume });
        }
    }
    let tmpfs_dests: Vec<String> = tmpfs.keys().map(|d| clean(d)).collect();
    let mut taken: Vec<String> = Vec::new();
    let mut claim = |dest: &str| -> Result<(), ContainerError> {
        if taken.iter().any(|d| d == dest) || tmpfs_dests.iter().any(|d| d == dest) {
            return Err(invalid(format!("Duplicate mount point: {dest}")));
        }
        taken.push(dest.to_owned());
        Ok(())
    };
    for raw in &opts.binds {
        let (m, mode) = parse_bind(raw, &opts.volume_driver).map_err(invalid)?;
        let p = if m.kind == "bind" {
            bind_point(&m, &mode, true)
        } else {
            volume_point(&m, &mode, &opts.volume_driver).map_err(invalid)?
        };
        claim(&p.point.destination)?;
        points.insert(p.point.destination.clone(), p);
    }
    for m in &opts.mounts {
        validate(m, true).map_err(invalid)?;
        let p = match m.kind.as_str() {
            "bind" => bind_point(m, "", false),
            "volume" => volume_point(m, "", &opts.volume_driver).map_err(invalid)?,
            // The image is looked up by the create (its ID goes in `name`).
            "image" => Planned {
                point: MountPoint {
                    kind: MountKind::Image,
                    source: m.source.clone(),
                    destination: clean(&m.target),
                    rw: false,
                    name: String::new(),
                    driver: String::new(),
                    mode: String::new(),
                    propagation: DEFAULT_PROPAGATION.to_owned(),
                    copy_data: false,
                    anonymous: false,
                    create_source: false,
                    non_recursive: false,
                    tmpfs_data: String::new(),
                    spec: m.clone(),
                },
                volume: None,
            },
            _ => Planned {
                point: MountPoint {
                    kind: MountKind::Tmpfs,
                    source: String::new(),
                    destination: clean(&m.target),
                    rw: !m.read_only,
                    name: String::new(),
                    driver: String::new(),
                    mode: String::new(),
                    propagation: String::new(),
                    copy_data: false,
                    anonymous: false,
                    create_source: false,
                    non_recursive: false,
                    tmpfs_data: tmpfs_data(m).map_err(invalid)?,
                    spec: m.clone(),
                },
                volume: None,
            },
        };
        claim(&p.point.destination)?;
        points.insert(p.point.destination.clone(), p);
    }
    let mut anonymous: Vec<&String> = image_volumes.iter().chain(&opts.volumes).collect();
    anonymous.sort();
    anonymous.dedup();
    for path in anonymous {
        let dest = clean(path);
        check_driver("", &opts.volume_driver).map_err(invalid)?;
        if !dest.starts_with('/') {
            return Err(invalid(format!(
                "invalid mount path: '{path}' mount path must be absolute"
            )));
        }
        if dest == "/" {
            return Err(invalid("invalid specification: destination can't be '/'"));
        }
        if points.contains_key(&dest) || tmpfs_dests.contains(&dest) {
            continue;
        }
        let m = MountRequest {
            kind: "volume".into(),
            target: dest.clone(),
            ..MountRequest::default()
        };
        let p = volume_point(&m, "", &opts.volume_driver).map_err(invalid)?;
        points.insert(dest, p);
    }
    Ok(points.into_values().collect())
}

/// The mount points of a new container, with the volumes this create
/// made (removed again if the create fails later).
#[derive(Debug, Default)]
pub(crate) struct Realized {
    pub points: Vec<MountPoint>,
    pub created: Vec<String>,
}

impl Realized {
    /// Undoes [`realize`]: releases every volume and removes the ones it
    /// created.
    pub(crate) fn abandon(&self, volumes: Option<&dyn VolumeBackend>, container: &str) {
        let Some(backend) = volumes else {
            return;
        };
        for p in self.points.iter().filter(|p| p.kind == MountKind::Volume) {
            backend.release(&p.name, container);
        }
        for name in &self.created {
            if let Err(e) = backend.remove(name) {
                tracing::warn!(volume = %name, error = %e, "cannot remove a volume of a failed create");
            }
        }
    }
}

/// Creates (or looks up) the planned volumes for `container`. On failure
/// what this call created is removed again.
pub(crate) fn realize(
    planned: Vec<Planned>,
    volumes: Option<&dyn VolumeBackend>,
    container: &str,
) -> Result<Realized, ContainerError> {
    let mut out = Realized::default();
    for p in planned {
        let mut point = p.point;
        if let Some(v) = p.volume {
            let Some(backend) = volumes else {
                out.abandon(volumes, container);
                return Err(ContainerError::Internal {
                    message: "volumes are not available in this engine".into(),
                });
            };
            let got = match (&v.name, v.existing) {
                (Some(name), true) => backend.reference(name, container),
                (name, _) => backend.acquire(
                    name.as_deref(),
                    &point.driver,
                    &v.options,
                    &v.labels,
                    container,
                ),
            };
            match got {
                Ok(r) => {
                    point.name.clone_from(&r.name);
                    point.driver.clone_from(&r.driver);
                    point.source = r.mountpoint.to_string_lossy().into_owned();
                    if r.created {
                        out.created.push(r.name);
                    }
                }
                Err(e) => {
                    out.abandon(volumes, container);
                    return Err(e);
                }
            }
        }
        out.points.push(point);
    }
    Ok(out)
}

/// Releases a removed container's volumes; with `remove_anonymous`
/// (`rm -v`, `--rm`) its anonymous ones go too (unless another container
/// still uses them).
pub(crate) fn release_all(
    points: &[MountPoint],
    volumes: Option<&dyn VolumeBackend>,
    container: &str,
    remove_anonymous: bool,
) {
    let Some(backend) = volumes else {
        return;
    };
    for p in points.iter().filter(|p| p.kind == MountKind::Volume) {
        backend.release(&p.name, container);
        if remove_anonymous
            && p.anonymous
            && let Err(e) = backend.remove(&p.name)
        {
            tracing::info!(volume = %p.name, error = %e, "anonymous volume kept");
        }
    }
}

// ---------------------------------------------------------------------
// Start: sources and the OCI spec.

/// Prepares the host side at start: makes missing `-v` bind sources
/// (0755 directories, as dockerd) and checks the propagation the binds
/// ask for against their source's mount. The volumes are mounted by the
/// caller.
pub(crate) fn prepare_binds(points: &[MountPoint]) -> Result<(), ContainerError> {
    for p in points.iter().filter(|p| p.kind == MountKind::Bind) {
        let src = Path::new(&p.source);
        if p.create_source && fs_err::symlink_metadata(src).is_err() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(src)
                .map_err(|e| {
                    invalid(format!(
                        "error while creating mount source path '{}': mkdir {}: {}",
                        p.source,
                        p.source,
                        go_io(&e)
                    ))
                })?;
        }
        match p.propagation.as_str() {
            "shared" | "rshared" => {
                let (mount_point, optional) = mount_of(src)?;
                if !optional.split(' ').any(|f| f.starts_with("shared:")) {
                    return Err(invalid(format!(
                        "path {} is mounted on {} but it is not a shared mount",
                        p.source, mount_point
                    )));
                }
            }
            "slave" | "rslave" => {
                let (mount_point, optional) = mount_of(src)?;
                if !optional
                    .split(' ')
                    .any(|f| f.starts_with("shared:") || f.starts_with("master:"))
                {
                    return Err(invalid(format!(
                        "path {} is mounted on {} but it is not a shared or slave mount",
                        p.source, mount_point
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The mount (mount point, optional fields of mountinfo) holding `path`.
fn mount_of(path: &Path) -> Result<(String, String), ContainerError> {
    let real = fs_err::canonicalize(path).map_err(|e| ContainerError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let info = fs_err::read_to_string("/proc/self/mountinfo").map_err(|e| ContainerError::Io {
        path: PathBuf::from("/proc/self/mountinfo"),
        source: e,
    })?;
    let mut best: Option<(String, String)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < 7 || sep < 6 {
            continue;
        }
        let mp = unescape(f[4]);
        if real.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|(b, _)| Path::new(&mp).starts_with(b))
        {
            // Later lines stack on earlier ones at the same place.
            best = Some((mp, f[6..sep].join(" ")));
        }
    }
    best.ok_or_else(|| ContainerError::Internal {
        message: format!("no mount holds {}", real.display()),
    })
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len() + 1
            && b.len() >= i + 4
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Adds the mount points to the spec's `mounts` (a default at the same
/// destination gives way), ordered parents first with the `--tmpfs`
/// mounts (moby `sortMounts`), and sets `linux.rootfsPropagation` when a
/// bind asks for shared or slave propagation (moby `WithMounts`).
pub(crate) fn spec_mounts(
    value: &mut serde_json::Value,
    points: &[MountPoint],
    tmpfs_dests: &[String],
    exec_dir: &Path,
) -> Result<(), ContainerError> {
    use serde_json::json;
    if points.is_empty() {
        return Ok(());
    }
    let mut user: Vec<serde_json::Value> = Vec::new();
    let mut root_propagation: Option<&str> = None;
    for (index, p) in points.iter().enumerate() {
        let entry = match p.kind {
            MountKind::Tmpfs => {
                let options = super::security::tmpfs_options(&p.tmpfs_data)?;
                json!({"destination": p.destination, "type": "tmpfs", "source": "tmpfs",
                    "options": options})
            }
            MountKind::Image => {
                let source = super::subpath::source(exec_dir, index, p);
                json!({"destination": p.destination, "type": "bind", "source": source,
                    "options": ["rbind", "ro", "rprivate"]})
            }
            MountKind::Bind | MountKind::Volume => {
                let source = super::subpath::source(exec_dir, index, p);
                let mut options = vec![if p.non_recursive { "bind" } else { "rbind" }];
                if !p.rw {
                    options.push("ro");
                }
                if !p.propagation.is_empty() {
                    options.push(p.propagation.as_str());
                }
                match p.propagation.as_str() {
                    "shared" | "rshared" => root_propagation = Some("rshared"),
                    "slave" | "rslave" if root_propagation.is_none() => {
                        root_propagation = Some("rslave");
                    }
                    _ => {}
                }
                json!({"destination": p.destination, "type": "bind", "source": source,
                    "options": options})
            }
        };
        user.push(entry);
    }
    let Some(mounts) = value["mounts"].as_array_mut() else {
        return Err(ContainerError::Internal {
            message: "the spec has no mounts".into(),
        });
    };
    let dests: Vec<String> = points.iter().map(|p| p.destination.clone()).collect();
    mounts.retain(|m| {
        m["destination"]
            .as_str()
            .is_none_or(|d| !dests.iter().any(|x| x == &clean(d)))
    });
    // The --tmpfs mounts security.rs appended join the user mounts.
    let (mut tail, head): (Vec<serde_json::Value>, Vec<serde_json::Value>) =
        mounts.drain(..).partition(|m| {
            m["type"] == "tmpfs"
                && m["destination"]
                    .as_str()
                    .is_some_and(|d| tmpfs_dests.iter().any(|t| clean(t) == clean(d)))
        });
    tail.extend(user);
    let depth = |m: &serde_json::Value| {
        m["destination"]
            .as_str()
            .map_or(0, |d| clean(d).split('/').filter(|c| !c.is_empty()).count())
    };
    tail.sort_by_key(depth);
    mounts.extend(head);
    mounts.extend(tail);
    if let Some(p) = root_propagation {
        value["linux"]["rootfsPropagation"] = json!(p);
    }
    Ok(())
}

// ---------------------------------------------------------------------
// The container service's side.

impl super::Containers {
    /// Connects the volume service. Containers running now (restored by
    /// `open`) get their volumes mounted again, so the reference counts
    /// match what runs; every container's volumes are recorded as used.
    pub fn set_volumes(&self, volumes: std::sync::Arc<dyn VolumeBackend>) {
        let inner = &self.inner;
        if inner.volumes.set(volumes).is_err() {
            return;
        }
        let all: Vec<super::Container> = super::lock(&inner.table).values().cloned().collect();
        for c in &all {
            if let Some(backend) = inner.volumes.get() {
                for p in c
                    .mount_points
                    .iter()
                    .filter(|p| p.kind == MountKind::Volume)
                {
                    if let Err(e) = backend.reference(&p.name, &c.id) {
                        tracing::warn!(id = %c.id, volume = %p.name, error = %e, "a container's volume is missing");
                    }
                }
            }
            if c.state.status == super::Status::Running
                && let Some(backend) = inner.volumes.get()
            {
                let names: Vec<String> = c
                    .mount_points
                    .iter()
                    .filter(|p| p.kind == MountKind::Volume)
                    .map(|p| p.name.clone())
                    .collect();
                for name in &names {
                    backend.restore(name, &c.id);
                }
                super::lock(&inner.mounted_volumes).insert(c.id.clone(), names);
            }
        }
    }

    /// A check the volume service calls to learn which containers (IDs)
    /// use volume `name`. Never call the volume service with the table
    /// locked: it calls this with its own lock held.
    pub fn volume_usage_check(&self) -> impl Fn(&str) -> Vec<String> + Send + Sync + 'static {
        let inner = std::sync::Arc::clone(&self.inner);
        move |name: &str| {
            let releasing = super::lock(&inner.releasing).clone();
            super::lock(&inner.table)
                .values()
                .filter(|c| !releasing.contains(&c.id))
                .filter(|c| {
                    c.mount_points
                        .iter()
                        .any(|p| p.kind == MountKind::Volume && p.name == name)
                })
                .map(|c| c.id.clone())
                .collect()
        }
    }
}

impl super::Inner {
    pub(super) fn volume_backend(&self) -> Option<&dyn VolumeBackend> {
        self.volumes.get().map(|v| &**v as &dyn VolumeBackend)
    }

    /// At start: creates missing `-v` sources, checks propagation, and
    /// mounts the container's volumes (recorded for [`Self::unmount_volumes`]).
    pub(super) fn mount_volumes(
        &self,
        c: &super::Container,
        images: &berth_image::ImageStore,
    ) -> Result<(), ContainerError> {
        prepare_binds(&c.mount_points)?;
        super::image_mounts::mount_all(images, &c.id, &self.exec_dir(&c.id), &c.mount_points)?;
        if !c.mount_points.iter().any(|p| p.kind == MountKind::Volume) {
            return Ok(());
        }
        let Some(backend) = self.volume_backend() else {
            super::subpath::unmount_all(&self.exec_dir(&c.id));
            return Err(ContainerError::Internal {
                message: "volumes are not available in this engine".into(),
            });
        };
        let exec_dir = self.exec_dir(&c.id);
        let mut done: Vec<String> = Vec::new();
        for (index, p) in c.mount_points.iter().enumerate() {
            if p.kind != MountKind::Volume {
                continue;
            }
            let mounted = backend.mount(p, &c.id).and_then(|path| {
                done.push(p.name.clone());
                match super::subpath::of(p) {
                    Some(sub) => super::subpath::mount(
                        &path,
                        sub,
                        &super::subpath::source(&exec_dir, index, p),
                    ),
                    None => Ok(()),
                }
            });
            if let Err(e) = mounted {
                super::subpath::unmount_all(&exec_dir);
                for name in &done {
                    backend.unmount(name, &c.id);
                }
                return Err(e);
            }
        }
        super::lock(&self.mounted_volumes).insert(c.id.clone(), done);
        Ok(())
    }

    /// Releases the volumes of container `id`, which is being removed
    /// with its anonymous volumes (`--rm`): it no longer counts as their
    /// user while they go. Call without the table lock.
    pub(super) fn release_volumes_of_removed(&self, id: &str, points: &[MountPoint]) {
        super::lock(&self.releasing).insert(id.to_owned());
        release_all(points, self.volume_backend(), id, true);
        super::lock(&self.releasing).remove(id);
    }

    /// Unmounts what [`Self::mount_volumes`] mounted for `id` (once).
    pub(super) fn unmount_volumes(&self, id: &str) {
        super::subpath::unmount_all(&self.exec_dir(id));
        let names = super::lock(&self.mounted_volumes).remove(id);
        if let (Some(names), Some(backend)) = (names, self.volume_backend()) {
            for name in names {
                backend.unmount(&name, id);
            }
        }
    }

    /// At create: fills new (empty) volumes from the image's content at
    /// their destination (docker's copy-up), unless `nocopy`.
    pub(super) fn copy_up(
        &self,
        images: &berth_image::ImageStore,
        id: &str,
        points: &[MountPoint],
    ) -> Result<(), ContainerError> {
        let wanted: Vec<&MountPoint> = points
            .iter()
            // A subpath is the user's data: nothing is copied into it.
            .filter(|p| p.kind == MountKind::Volume && p.copy_data)
            .filter(|p| super::subpath::of(p).is_none())
            .collect();
        let Some(backend) = self.volume_backend() else {
            return Ok(());
        };
        if wanted.is_empty() {
            return Ok(());
        }
        let rootfs = self.rootfs_dir(id);
        fs_err::create_dir_all(&rootfs).map_err(|e| super::store::io(&rootfs, e))?;
        let layers = images
            .snapshots()
            .mounts(id)
            .map_err(ContainerError::image)?;
        let mut mounted = 0;
        let mut result = Ok(());
        for m in &layers {
            if let Err(e) = m.mount(&rootfs) {
                result = Err(e.into());
                break;
            }
            mounted += 1;
        }
        if result.is_ok() {
            for p in wanted {
                result = backend.mount(p, id).and_then(|path| {
                    let copied = copy_up(&rootfs, &p.destination, &path);
                    backend.unmount(&p.name, id);
                    copied
                });
                if result.is_err() {
                    break;
                }
            }
        }
        for _ in 0..mounted {
            let _ = berth_image::snapshot::Mount::unmount(&rootfs);
        }
        result
    }
}

/// The engine's volume service as the containers' [`VolumeBackend`]. It
/// keeps no references of its own: who uses a volume is asked of the
/// container table (`Containers::volume_usage_check`).
impl VolumeBackend for crate::volume::Volumes {
    fn acquire(
        &self,
        name: Option<&str>,
        driver: &str,
        options: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
        _container: &str,
    ) -> Result<VolumeRef, ContainerError> {
        use crate::volume::{CreateRequest, VolumeError};
        let existed = match name {
            Some(n) => match self.get(n) {
                Ok(_) => true,
                Err(VolumeError::NotFound(_)) => false,
                Err(e) => return Err(volume_error(&e)),
            },
            None => false,
        };
        let v = self
            .create(CreateRequest {
                name: name.map(str::to_owned),
                driver: Some(driver.to_owned()),
                driver_opts: (!options.is_empty()).then(|| options.clone()),
                labels: (!labels.is_empty()).then(|| labels.clone()),
            })
            .map_err(|e| volume_error(&e))?;
        Ok(VolumeRef {
            name: v.name,
            driver: v.driver,
            mountpoint: v.mountpoint,
            created: !existed,
        })
    }

    fn reference(&self, name: &str, _container: &str) -> Result<VolumeRef, ContainerError> {
        let v = self.get(name).map_err(|e| volume_error(&e))?;
        Ok(VolumeRef {
            name: v.name,
            driver: v.driver,
            mountpoint: v.mountpoint,
            created: false,
        })
    }

    fn release(&self, _name: &str, _container: &str) {}

    fn mount(&self, point: &MountPoint, container: &str) -> Result<PathBuf, ContainerError> {
        crate::volume::Volumes::mount(
            self,
            &point.name,
            &crate::volume::MountUse {
                container,
                destination: &point.destination,
                read_write: point.rw,
                propagation: &point.propagation,
            },
        )
        .map_err(|e| volume_error(&e))
    }

    fn restore(&self, name: &str, container: &str) {
        if let Err(e) = self.live_restore(name) {
            tracing::warn!(volume = name, container, error = %e, "cannot count a restored container's volume");
        }
    }

    fn unmount(&self, name: &str, container: &str) {
        if let Err(e) = crate::volume::Volumes::unmount(self, name, container) {
            tracing::warn!(volume = name, container, error = %e, "cannot unmount a volume");
        }
    }

    fn remove(&self, name: &str) -> Result<(), ContainerError> {
        crate::volume::Volumes::remove(self, name, false).map_err(|e| volume_error(&e))
    }
}

fn volume_error(e: &crate::volume::VolumeError) -> ContainerError {
    use crate::error::Classify;
    ContainerError::Volume {
        class: e.class(),
        message: e.to_string(),
    }
}

// ---------------------------------------------------------------------
// Copy-up: the image's content at a volume's destination into the volume.

/// Copies what the image has at `dest` (resolved inside `rootfs`; nothing
/// if it is missing or not a directory) into the empty volume directory
/// `volume`, keeping owners, modes, times, xattrs and hard links, then
/// gives the volume's root the owner and mode of the image's directory
/// (moby `copyExistingContents`, `copyOwnership`). A volume that is not
/// empty is left alone.
pub(crate) fn copy_up(rootfs: &Path, dest: &str, volume: &Path) -> Result<(), ContainerError> {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
    use nix::sys::stat::Mode;

    let io = |path: &Path, e: Errno| ContainerError::Io {
        path: path.to_owned(),
        source: std::io::Error::from(e),
    };
    let root = open(
        rootfs,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(rootfs, e))?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = dest.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let src = match openat2(&root, rel, how) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
        Err(e) => return Err(io(&rootfs.join(rel), e)),
    };
    let dst = open(
        volume,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| io(volume, e))?;
    if fs_err::read_dir(volume)
        .map_err(|e| ContainerError::Io {
            path: volume.to_owned(),
            source: e,
        })?
        .next()
        .is_some()
    {
        return Ok(());
    }
    let mut links = HashMap::new();
    copy_dir(src.as_fd(), dst.as_fd(), &mut links).map_err(|(p, e)| io(&volume.join(p), e))?;
    copy_meta(src.as_fd(), dst.as_fd()).map_err(|e| io(volume, e))?;
    Ok(())
}

type CopyResult = Result<(), (PathBuf, nix::errno::Errno)>;

/// Copies the entries of directory `src` into directory `dst`, by
/// descriptor and without following symlinks.
fn copy_dir(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    links: &mut HashMap<(u64, u64), (OwnedFd, std::ffi::OsString)>,
) -> CopyResult {
    use std::os::unix::ffi::OsStrExt;

    use nix::errno::Errno;
    use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
    use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstatat, mkdirat, mknodat};
    use nix::unistd::{fchownat, linkat, symlinkat};

    let rx = |e: rustix::io::Errno| (PathBuf::new(), Errno::from_raw(e.raw_os_error()));
    let dir = rustix::fs::Dir::read_from(src).map_err(rx)?;
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    for entry in dir {
        let entry = entry.map_err(rx)?;
        let name = std::ffi::OsStr::from_bytes(entry.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_owned());
        }
    }
    for name in names {
        let at = |e: Errno| (PathBuf::from(&name), e);
        let st = fstatat(src, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(at)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        #[allow(clippy::useless_conversion, reason = "dev_t/ino_t widths vary")]
        let key = (u64::from(st.st_dev), u64::from(st.st_ino));
        if kind != SFlag::S_IFDIR
            && st.st_nlink > 1
            && let Some((first_dir, first_name)) = links.get(&key)
        {
            linkat(
                first_dir,
                first_name.as_os_str(),
                dst,
                name.as_os_str(),
                AtFlags::empty(),
            )
            .map_err(at)?;
            continue;
        }
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(dst, name.as_os_str(), Mode::from_bits_truncate(0o700)).map_err(at)?;
                let s = openat(
                    src,
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                    Mode::empty(),
                )
                .map_err(at)?;
                let d = openat(
                    dst,
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                    Mode::empty(),
                )
                .map_err(at)?;
                copy_dir(s.as_fd(), d.as_fd(), links)
                    .map_err(|(p, e)| (PathBuf::from(&name).join(p), e))?;
                copy_meta(s.as_fd(), d.as_fd()).map_err(at)?;
                continue;
            }
            SFlag::S_IFREG => {
                let s = openat(
                    src,
                    name.as_os_str(),
                    OFlag::O_RDONLY | nofollow,
                    Mode::empty(),
                )
                .map_err(at)?;
                let d = openat(
                    dst,
                    name.as_os_str(),
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(at)?;
                let mut from = std::fs::File::from(s);
                let mut to = std::fs::File::from(d);
                std::io::copy(&mut from, &mut to)
                    .map_err(|e| at(Errno::from_raw(e.raw_os_error().unwrap_or(libc_eio()))))?;
                copy_meta(from.as_fd(), to.as_fd()).map_err(at)?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(src, name.as_os_str()).map_err(at)?;
                symlinkat(target.as_os_str(), dst, name.as_os_str()).map_err(at)?;
                fchownat(
                    dst,
                    name.as_os_str(),
                    Some(st.st_uid.into()),
                    Some(st.st_gid.into()),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(at)?;
                set_times(dst, &name, &st).map_err(at)?;
            }
            _ => {
                #[allow(clippy::useless_conversion, reason = "dev_t width varies")]
                let rdev = st.st_rdev.into();
                mknodat(dst, name.as_os_str(), kind, perm, rdev).map_err(at)?;
                fchownat(
                    dst,
                    name.as_os_str(),
                    Some(st.st_uid.into()),
                    Some(st.st_gid.into()),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(at)?;
                fchmodat(dst, name.as_os_str(), perm, FchmodatFlags::NoFollowSymlink)
                    .or_else(|e| {
                        if e == Errno::EOPNOTSUPP {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(at)?;
                set_times(dst, &name, &st).map_err(at)?;
            }
        }
        if st.st_nlink > 1 {
            let keep = nix::unistd::dup(dst).map_err(at)?;
            links.insert(key, (keep, name.clone()));
        }
    }
    Ok(())
}

fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}

fn set_times(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    st: &nix::sys::stat::FileStat,
) -> Result<(), nix::errno::Errno> {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
    let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    utimensat(dir, name, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
}

/// Owner, mode (after the owner, so set-id bits stay), xattrs and times
/// of open file `src` onto open file `dst`.
fn copy_meta(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), nix::errno::Errno> {
    use nix::sys::stat::{Mode, fchmod, fstat, futimens};
    use nix::sys::time::TimeSpec;

    let st = fstat(src)?;
    nix::unistd::fchown(dst, Some(st.st_uid.into()), Some(st.st_gid.into()))?;
    fchmod(dst, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    copy_xattrs(src, dst);
    futimens(
        dst,
        &TimeSpec::new(st.st_atime, st.st_atime_nsec),
        &TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Extended attributes (`security.capability`, `user.*`, ...); ones the
/// volume's file system refuses are skipped, as containerd's
/// `WithAllowXAttrErrors` does for dockerd.
fn copy_xattrs(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) {
    let mut list = vec![0u8; 4096];
    let n = match rustix::fs::flistxattr(src, &mut list[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::RANGE) => {
            // The largest list Linux gives (XATTR_LIST_MAX).
            list.resize(65536, 0);
            match rustix::fs::flistxattr(src, &mut list[..]) {
                Ok(n) => n,
                Err(_) => return,
            }
        }
        Err(_) => return,
    };
    for name in list[..n.min(list.len())].split(|b| *b == 0) {
        if name.is_empty() {
            continue;
        }
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        // One read into the largest value Linux allows (XATTR_SIZE_MAX):
        // rustix reports a size query into an empty buffer as 0 bytes.
        let mut value = vec![0u8; 65536];
        let Ok(got) = rustix::fs::fgetxattr(src, cname.as_c_str(), &mut value[..]) else {
            continue;
        };
        let _ = rustix::fs::fsetxattr(
            dst,
            cname.as_c_str(),
            &value[..got.min(value.len())],
            rustix::fs::XattrFlags::empty(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_lookup(id: &str) -> Result<Vec<MountPoint>, ContainerError> {
        Err(ContainerError::NotFound(id.to_owned()))
    }

    fn plan_err(opts: &MountOptions) -> String {
        plan(opts, &[], &BTreeMap::new(), &no_lookup)
            .unwrap_err()
            .to_string()
    }

    fn binds(b: &[&str]) -> MountOptions {
        MountOptions {
            binds: b.iter().map(|s| (*s).to_owned()).collect(),
            ..MountOptions::default()
        }
    }

    #[test]
    fn binds_parse_as_dockerd() {
        let p = plan(
            &binds(&[
                "/tmp:/data:ro,Z",
                "vol:/v:nocopy",
                "/tmp/x/../y:/b/./c:rshared",
            ]),
            &[],
            &BTreeMap::new(),
            &no_lookup,
        )
        .unwrap();
        let by: BTreeMap<_, _> = p
            .iter()
            .map(|p| (p.point.destination.as_str(), &p.point))
            .collect();
        let d = by["/data"];
        assert_eq!(
            (d.kind, d.source.as_str(), d.rw, d.mode.as_str()),
            (MountKind::Bind, "/tmp", false, "ro,Z")
        );
        assert_eq!(d.propagation, "rprivate");
        let v = by["/v"];
        assert_eq!(
            (v.kind, v.name.as_str(), v.copy_data),
            (MountKind::Volume, "vol", false)
        );
        assert_eq!(v.driver, "local");
        let c = by["/b/c"];
        assert_eq!(
            (c.source.as_str(), c.propagation.as_str()),
            ("/tmp/y", "rshared")
        );
    }

    #[test]
    fn bad_binds_get_dockerds_errors() {
        assert_eq!(
            plan_err(&binds(&[":/x"])),
            "invalid volume specification: ':/x'"
        );
        assert_eq!(
            plan_err(&binds(&["/x:relative"])),
            "invalid volume specification: '/x:relative': invalid mount config for type \"bind\": invalid mount path: 'relative' mount path must be absolute"
        );
        assert_eq!(plan_err(&binds(&["/x:/y:bogus"])), "invalid mode: bogus");
        assert_eq!(
            plan_err(&binds(&["/x:rw"])),
            "invalid volume specification: '/x:rw'"
        );
        assert_eq!(
            plan_err(&binds(&["rel/x:/x"])),
            "create rel/x: \"rel/x\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        assert_eq!(
            plan_err(&binds(&["/a:/x", "/b:/x/"])),
            "Duplicate mount point: /x"
        );
        assert_eq!(
            plan_err(&binds(&["/a:/"])),
            "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
        );
        let mut o = binds(&["n1:/x"]);
        o.volume_driver = "foo".into();
        assert_eq!(
            plan_err(&o),
            "create n1: error looking up volume plugin foo: plugin \"foo\" not found"
        );
        let tmpfs: BTreeMap<String, String> = [("/x".to_owned(), String::new())].into();
        assert_eq!(
            plan(&binds(&["/a:/x"]), &[], &tmpfs, &no_lookup)
                .unwrap_err()
                .to_string(),
            "Duplicate mount point: /x"
        );
    }

    #[test]
    fn mounts_validate_as_dockerd() {
        let m = |kind: &str, source: &str, target: &str| MountOptions {
            mounts: vec![MountRequest {
                kind: kind.into(),
                source: source.into(),
                target: target.into(),
                ..MountRequest::default()
            }],
            ..MountOptions::default()
        };
        assert_eq!(
            plan_err(&m("bind", "/nonexistent-berth-test", "/x")),
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth-test"
        );
        assert_eq!(
            plan_err(&m("bind", "rel", "/x")),
            "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert_eq!(
            plan_err(&m("bind", "", "/x")),
            "invalid mount config for type \"bind\": field Source must not be empty"
        );
        assert_eq!(
            plan_err(&m("foo", "", "/x")),
            "invalid mount config for type \"foo\": mount type unknown"
        );
        assert_eq!(
            plan_err(&m("tmpfs", "x", "/x")),
            "invalid mount config for type \"tmpfs\": field Source must not be specified"
        );
        let mut ro = m("volume", "", "/x");
        ro.mounts[0].read_only = true;
        assert_eq!(
            plan_err(&ro),
            "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes"
        );
        let mut t = m("tmpfs", "", "/t");
        t.mounts[0].tmpfs_options = Some(TmpfsOptions {
            size_bytes: 1 << 20,
            mode: 0o1770,
            options: None,
        });
        let p = plan(&t, &[], &BTreeMap::new(), &no_lookup).unwrap();
        assert_eq!(p[0].point.tmpfs_data, "mode=1770,size=1m");
    }

    #[test]
    fn volumes_from_and_anonymous_volumes() {
        let lookup = |id: &str| -> Result<Vec<MountPoint>, ContainerError> {
            if id != "src" {
                return Err(ContainerError::NotFound(id.to_owned()));
            }
            let p = plan(
                &binds(&["/tmp:/shared", "v1:/v"]),
                &[],
                &BTreeMap::new(),
                &no_lookup,
            )?;
            Ok(p.into_iter().map(|p| p.point).collect())
        };
        let o = MountOptions {
            volumes_from: vec!["src:ro".into()],
            binds: vec!["/etc:/shared".into()],
            volumes: vec!["/anon".into(), "/v".into()],
            ..MountOptions::default()
        };
        let p = plan(&o, &["/img".into()], &BTreeMap::new(), &lookup).unwrap();
        let by: BTreeMap<_, _> = p
            .iter()
            .map(|p| (p.point.destination.as_str(), p))
            .collect();
        assert_eq!(by.len(), 4, "{by:?}");
        // A bind at the same place wins over the inherited mount.
        assert_eq!(by["/shared"].point.source, "/etc");
        assert!(!by["/v"].point.rw);
        assert!(by["/v"].volume.as_ref().unwrap().existing);
        assert!(by["/anon"].point.anonymous);
        assert!(by["/img"].point.anonymous && by["/img"].point.copy_data);
        let o = MountOptions {
            volumes_from: vec!["nope".into()],
            ..MountOptions::default()
        };
        assert_eq!(
            plan(&o, &[], &BTreeMap::new(), &lookup)
                .unwrap_err()
                .to_string(),
            "No such container: nope"
        );
        let o = MountOptions {
            volumes_from: vec!["src:rshared".into()],
            ..MountOptions::default()
        };
        assert_eq!(
            plan(&o, &[], &BTreeMap::new(), &lookup)
                .unwrap_err()
                .to_string(),
            "invalid mode: rshared"
        );
    }

    #[test]
    fn spec_mounts_order_and_propagation() {
        let mut v = serde_json::json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": []},
        ], "linux": {}});
        let p = plan(
            &binds(&["/tmp:/a/b:ro", "/tmp:/a:rshared", "/tmp:/dev/shm"]),
            &[],
            &BTreeMap::new(),
            &no_lookup,
        )
        .unwrap();
        let points: Vec<MountPoint> = p.into_iter().map(|p| p.point).collect();
        spec_mounts(&mut v, &points, &["/run".into()], Path::new("/x")).unwrap();
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(dests, ["/proc", "/run", "/a", "/a/b", "/dev/shm"]);
        assert_eq!(
            v["mounts"][3]["options"],
            serde_json::json!(["rbind", "ro", "rprivate"])
        );
        assert_eq!(v["linux"]["rootfsPropagation"], "rshared");
    }

    #[test]
    fn copy_up_keeps_metadata_and_stays_in_the_root() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let vol = tmp.path().join("vol");
        let outside = tmp.path().join("outside");
        fs_err::create_dir_all(root.join("data/sub")).unwrap();
        fs_err::create_dir_all(&vol).unwrap();
        fs_err::create_dir_all(&outside).unwrap();
        fs_err::write(outside.join("secret"), b"host").unwrap();
        fs_err::write(root.join("data/sub/f"), b"hello").unwrap();
        fs_err::set_permissions(
            root.join("data/sub/f"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        fs_err::hard_link(root.join("data/sub/f"), root.join("data/h")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("data/l")).unwrap();
        nix::unistd::chown(&root.join("data/sub"), Some(1234.into()), Some(99.into())).unwrap();
        fs_err::set_permissions(root.join("data"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        // A link out of the root is resolved inside it.
        std::os::unix::fs::symlink(&outside, root.join("esc")).unwrap();
        copy_up(&root, "/esc", &vol).unwrap();
        assert_eq!(fs_err::read_dir(&vol).unwrap().count(), 0);
        copy_up(&root, "/data", &vol).unwrap();
        assert_eq!(fs_err::read(vol.join("sub/f")).unwrap(), b"hello");
        let m = fs_err::metadata(vol.join("sub/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(m.nlink(), 2);
        assert_eq!(fs_err::metadata(vol.join("sub")).unwrap().uid(), 1234);
        assert_eq!(
            fs_err::read_link(vol.join("l")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(fs_err::metadata(&vol).unwrap().mode() & 0o7777, 0o1777);
        // Not empty now: a second copy leaves it alone.
        fs_err::write(root.join("data/new"), b"").unwrap();
        copy_up(&root, "/data", &vol).unwrap();
        assert!(!vol.join("new").exists());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
