//! Volumes: Docker's named and anonymous volumes with the `local` driver,
//! kept under `<data-root>/volumes/<name>/`.
//!
//! [`Volumes`] is a synchronous service (file I/O and mount(2) under one
//! lock; async callers run it on a blocking thread), opened by
//! [`crate::Engine::open`] and reached through [`crate::Engine::volumes`].
//!
//! ```no_run
//! use berth_engine::volume::{CreateRequest, MountUse, Volumes};
//! let volumes = Volumes::open("/var/lib/berth".as_ref()).unwrap();
//! // `docker volume create data`
//! let v = volumes.create(CreateRequest::named("data")).unwrap();
//! assert_eq!(v.mountpoint, std::path::Path::new("/var/lib/berth/volumes/data/_data"));
//! // A container starts with it mounted at /srv: the path to bind.
//! let source = volumes
//!     .mount("data", &MountUse { container: "0123abcd", destination: "/srv", read_write: true, propagation: "" })
//!     .unwrap();
//! // ...and stops.
//! volumes.unmount("data", "0123abcd").unwrap();
//! ```
//!
//! What it keeps, as dockerd's volume service and `local` driver do:
//! - **Names**: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. Without a name, a volume is
//!   *anonymous*: 64 hex digits and the label `com.docker.volume.anonymous`
//!   ([`ANONYMOUS_LABEL`], docker 23+), which `prune` removes by default.
//!   Creating a name that exists returns the existing volume unchanged.
//! - **Options** of the `local` driver (see [`local`]): `type=tmpfs` (with
//!   `device=tmpfs`, `o=size=..,mode=..`), `type=none,o=bind,device=/path`,
//!   any other `type` + `device` (mount(2) of that file system). Such a
//!   volume's `_data` is mounted at its first [`Volumes::mount`] and
//!   unmounted when the last user calls [`Volumes::unmount`] (a reference
//!   count); plain volumes are just the directory.
//! - **Use**: a volume a container refers to (running or not) cannot be
//!   removed, not even with `force`. The container service tells which
//!   containers refer to a volume through [`Volumes::set_usage`]; until it
//!   is installed, no volume counts as used.
//! - **Events** (type `volume`): `create` and `destroy` (`driver`),
//!   `mount` (`driver`, `container`, `destination`, `read/write`,
//!   `propagation`), `unmount` (`driver`, `container`), and `prune` (no
//!   actor, `reclaimed`).
//!
//! Errors read as dockerd's: `get x: no such volume`, `remove x: volume is
//! in use - [<container ID>]`, `create a/b: "a/b" includes invalid
//! characters for a local volume name, ...`.

pub mod local;
mod store;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use store::{Doc, Store};

use crate::events::{Event, EventBus, EventType};
use crate::{Classify, ErrorClass};

/// The only driver there is.
pub const LOCAL: &str = "local";
/// The label docker 23+ puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// dockerd's volume-name rule, as its messages quote it.
const NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// A volume operation failed. Messages are dockerd's.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// `get <name>: no such volume`.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// A bad name or bad driver options (`create <name>: <why>`).
    #[error("create {name}: {message}")]
    InvalidCreate { name: String, message: String },
    /// A driver other than `local`.
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    UnknownDriver { name: String, driver: String },
    /// `remove <name>: volume is in use - [<id>, <id>]`.
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    InUse {
        name: String,
        containers: Vec<String>,
    },
    /// Mounted for a running container that no longer refers to it (a bug
    /// elsewhere; dockerd's wording).
    #[error("remove {0}: volume has active mounts")]
    ActiveMounts(String),
    /// mount(2) or umount(2) of a volume's `_data` failed.
    #[error("failed to mount local volume: {message}")]
    Mount { name: String, message: String },
    /// unmounting before a removal failed; the volume is kept.
    #[error("remove {name}: {message}")]
    Unmount { name: String, message: String },
    /// A filter dockerd does not take, or a bad value (`invalid filter
    /// 'dangling=[maybe]'`).
    #[error("invalid filter '{0}'")]
    InvalidFilter(String),
    /// A bad filter value, the whole message (`invalid filter 'all': ...`).
    #[error("{0}")]
    FilterValue(String),
    #[error("a prune operation is already running")]
    PruneRunning,
    /// fs_err's message names the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Classify for VolumeError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound(_) | Self::UnknownDriver { .. } => ErrorClass::NotFound,
            Self::InvalidCreate { .. } | Self::InvalidFilter(_) | Self::FilterValue(_) => {
                ErrorClass::InvalidArgument
            }
            Self::InUse { .. } | Self::PruneRunning => ErrorClass::Conflict,
            Self::ActiveMounts(_) | Self::Mount { .. } | Self::Unmount { .. } | Self::Io(_) => {
                ErrorClass::Internal
            }
        }
    }
}

/// One volume, as `docker volume inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// Always [`LOCAL`].
    pub driver: String,
    /// `<data-root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// RFC 3339 in seconds, UTC (`2026-12-06T14:00:00Z`), as dockerd formats
    /// `CreatedAt`.
    pub created_at: String,
    /// `None` is docker's `null` (none given), `Some(empty)` its `{}`.
    pub labels: Option<BTreeMap<String, String>>,
    /// The driver options as given; `None`/`Some(empty)` as for labels.
    pub options: Option<BTreeMap<String, String>>,
    /// Always `local`.
    pub scope: String,
    /// Only from [`Volumes::disk_usage`] (dockerd fills `UsageData` only
    /// for `system df`).
    pub usage: Option<UsageData>,
}

impl Volume {
    /// Whether it was created without a name.
    pub fn is_anonymous(&self) -> bool {
        self.labels
            .as_ref()
            .is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
    }

    /// Whether it has driver options (a tmpfs, bind or device volume):
    /// `prune` and `system df` skip those, as dockerd does.
    pub fn has_options(&self) -> bool {
        self.options.as_ref().is_some_and(|o| !o.is_empty())
    }
}

/// A volume's share of the disk (docker's `UsageData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageData {
    /// Bytes of its files (hard links once); -1 when it cannot be read.
    pub size: i64,
    /// How many containers refer to it.
    pub ref_count: i64,
}

/// What `POST /volumes/create` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRequest {
    /// `None` or empty: an anonymous volume.
    pub name: Option<String>,
    /// `None` or empty: `local`.
    pub driver: Option<String>,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

impl CreateRequest {
    /// A named volume with no options or labels.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// An anonymous volume (`-v /data`, an image's `VOLUME`).
    pub fn anonymous() -> Self {
        Self::default()
    }
}

/// Who mounts a volume, for the `mount` event.
#[derive(Debug, Clone, Copy)]
pub struct MountUse<'a> {
    /// The container's ID.
    pub container: &'a str,
    /// Where it appears in the container.
    pub destination: &'a str,
    pub read_write: bool,
    /// `rprivate`, ... or empty.
    pub propagation: &'a str,
}

/// Tells which containers refer to a volume (by name): their IDs, empty
/// when none does. The container service installs it
/// ([`Volumes::set_usage`]).
pub type UsageCheck = Arc<dyn Fn(&str) -> Vec<String> + Send + Sync>;

/// `GET /volumes` filters, parsed from docker's filter map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilters {
    /// `dangling=true`: only volumes no container refers to; `false`: only
    /// ones some container does.
    pub dangling: Option<bool>,
    /// `name=`: regular expressions, any of which may match (a plain
    /// string matches as a substring, as dockerd's `filters.Match`).
    pub names: Vec<String>,
    /// `driver=`: exact.
    pub drivers: Vec<String>,
    pub labels: LabelFilters,
}

/// `label=k`/`label=k=v` (all must match) and `label!=...` (excluded when
/// all match), dockerd's `MatchKVList`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelFilters {
    pub labels: Vec<String>,
    pub not_labels: Vec<String>,
}

impl LabelFilters {
    fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let empty = BTreeMap::new();
        let labels = labels.unwrap_or(&empty);
        let all = |list: &[String]| {
            if list.is_empty() {
                return true;
            }
            if labels.is_empty() {
                return false;
            }
            list.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                None => labels.contains_key(l.as_str()),
            })
        };
        all(&self.labels) && (self.not_labels.is_empty() || !all(&self.not_labels))
    }
}

impl ListFilters {
    /// From docker's filter map (`{"dangling": ["true"], "label": [...]}`);
    /// takes `dangling`, `name`, `driver`, `label`, `label!`.
    pub fn parse(filters: &BTreeMap<String, Vec<String>>) -> Result<Self, VolumeError> {
        check_keys(filters, &["dangling", "name", "driver", "label", "label!"])?;
        let get = |k: &str| filters.get(k).cloned().unwrap_or_default();
        let dangling = match filters.get("dangling") {
            None => None,
            Some(values) => Some(parse_bool("dangling", values)?),
        };
        Ok(Self {
            dangling,
            names: get("name"),
            drivers: get("driver"),
            labels: LabelFilters {
                labels: get("label"),
                not_labels: get("label!"),
            },
        })
    }
}

/// `POST /volumes/prune` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilters {
    /// `all=true`: every unused volume; otherwise only anonymous ones (API
    /// 1.42+; older API versions set it).
    pub all: bool,
    pub labels: LabelFilters,
}

impl PruneFilters {
    /// From docker's filter map; takes `label`, `label!` and `all`.
    pub fn parse(filters: &BTreeMap<String, Vec<String>>) -> Result<Self, VolumeError> {
        check_keys(filters, &["label", "label!", "all"])?;
        let all = match filters.get("all").map(Vec::as_slice) {
            None | Some([]) => false,
            Some([one]) => crate::go::parse_bool(one).ok_or_else(|| {
                VolumeError::FilterValue(format!(
                    "invalid filter 'all': strconv.ParseBool: parsing {one:?}: invalid syntax"
                ))
            })?,
            Some(many) => {
                return Err(VolumeError::FilterValue(format!(
                    "invalid filter 'all={}': only one value is expected",
                    go_list(many)
                )));
            }
        };
        let get = |k: &str| filters.get(k).cloned().unwrap_or_default();
        Ok(Self {
            all,
            labels: LabelFilters {
                labels: get("label"),
                not_labels: get("label!"),
            },
        })
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

fn check_keys(
    filters: &BTreeMap<String, Vec<String>>,
    accepted: &[&str],
) -> Result<(), VolumeError> {
    match filters.keys().find(|k| !accepted.contains(&k.as_str())) {
        Some(bad) => Err(VolumeError::InvalidFilter(bad.clone())),
        None => Ok(()),
    }
}

/// dockerd's `GetBoolOrDefault`: true or false, not both nor neither.
fn parse_bool(key: &str, values: &[String]) -> Result<bool, VolumeError> {
    let has = |vs: [&str; 2]| values.iter().any(|v| vs.contains(&v.as_str()));
    let (t, f) = (has(["1", "true"]), has(["0", "false"]));
    if t == f {
        return Err(VolumeError::InvalidFilter(format!(
            "{key}={}",
            go_list(values)
        )));
    }
    Ok(t)
}

/// A string list as Go's `%s` prints it: `[a b]`.
fn go_list(values: &[String]) -> String {
    format!("[{}]", values.join(" "))
}

/// dockerd's check of a local volume's name; the message without the
/// `create <name>: ` prefix.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() == 1 {
        return Err(
            "volume name is too short, names should be at least two alphanumeric characters"
                .to_owned(),
        );
    }
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} includes invalid characters for a local volume name, only {NAME_CHARS:?} are allowed. If you intended to pass a host directory, use absolute path"
        ))
    }
}

/// A volume in memory: its document and its mount state.
#[derive(Debug)]
struct Entry {
    doc: Doc,
    /// Users between [`Volumes::mount`] and [`Volumes::unmount`].
    active: u64,
    /// Whether `_data` carries the volume's own mount (tmpfs, bind, device).
    mounted: bool,
}

impl Entry {
    fn needs_mount(&self) -> bool {
        self.doc.options.as_ref().is_some_and(local::needs_mount)
    }
}

/// The volume service (see the module documentation).
pub struct Volumes {
    store: Store,
    table: Mutex<BTreeMap<String, Entry>>,
    usage: RwLock<Option<UsageCheck>>,
    events: EventBus,
    pruning: AtomicBool,
}

impl std::fmt::Debug for Volumes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volumes")
            .field("root", &self.store.root())
            .finish_non_exhaustive()
    }
}

impl Volumes {
    /// Opens `<data_root>/volumes`, creating it if missing, and loads every
    /// volume. A volume whose `_data` is still mounted (berthd restarted
    /// while containers ran) is known as mounted with no users; containers
    /// that are still running claim it again with [`Volumes::live_restore`].
    pub fn open(data_root: &Path) -> Result<Self, VolumeError> {
        let store = Store::open(data_root)?;
        let docs = store.load_all(|dir| !local::mounts_under(dir).is_empty())?;
        let mut table = BTreeMap::new();
        for doc in docs {
            let data = store.data(&doc.name);
            let entry = Entry {
                mounted: false,
                active: 0,
                doc,
            };
            let mounted = entry.needs_mount() && local::mounts_under(&data).contains(&data);
            table.insert(entry.doc.name.clone(), Entry { mounted, ..entry });
        }
        Ok(Self {
            store,
            table: Mutex::new(table),
            usage: RwLock::new(None),
            events: EventBus::new(),
            pruning: AtomicBool::new(false),
        })
    }

    /// Emits the service's events into `events` (the engine's bus).
    #[must_use]
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    /// Installs the check `remove`, `prune`, the `dangling` filter and
    /// `UsageData.RefCount` use to learn which containers refer to a volume.
    /// The service never calls it while holding its own lock, so the check
    /// may take the container service's locks even if a container start
    /// holding them calls [`Volumes::mount`].
    pub fn set_usage(&self, check: UsageCheck) {
        *self.usage.write().unwrap_or_else(|p| p.into_inner()) = Some(check);
    }

    /// The IDs of the containers that refer to volume `name`.
    pub fn users(&self, name: &str) -> Vec<String> {
        let check = self.usage.read().unwrap_or_else(|p| p.into_inner()).clone();
        check.map(|c| c(name)).unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn to_volume(&self, doc: &Doc) -> Volume {
        let created_at = crate::container::logs::parse_rfc3339_nanos(&doc.created)
            .and_then(|n| {
                let secs = i64::try_from(n.div_euclid(1_000_000_000)).ok()?;
                chrono::DateTime::from_timestamp(secs, 0)
            })
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        Volume {
            name: doc.name.clone(),
            driver: doc.driver.clone(),
            mountpoint: self.store.data(&doc.name),
            created_at,
            labels: doc.labels.clone(),
            options: doc.options.clone(),
            scope: "local".to_owned(),
            usage: None,
        }
    }

    /// Creates a volume, or returns the one of that name (unchanged, as
    /// dockerd; its options are not checked again). Emits `create` for a
    /// new one.
    pub fn create(&self, req: CreateRequest) -> Result<Volume, VolumeError> {
        let driver = req.driver.filter(|d| !d.is_empty());
        let (name, labels) = match req.name.filter(|n| !n.is_empty()) {
            Some(name) => (name, req.labels),
            None => {
                let mut labels = req.labels.unwrap_or_default();
                labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
                (new_anonymous_name()?, Some(labels))
            }
        };
        let invalid = |message: String| VolumeError::InvalidCreate {
            name: name.clone(),
            message,
        };
        validate_name(&name).map_err(invalid)?;
        if let Some(d) = driver.as_deref().filter(|d| *d != LOCAL) {
            return Err(VolumeError::UnknownDriver {
                name: name.clone(),
                driver: d.to_owned(),
            });
        }
        let mut table = self.lock();
        if let Some(existing) = table.get(&name) {
            return Ok(self.to_volume(&existing.doc));
        }
        if let Some(opts) = &req.driver_opts {
            local::validate(opts).map_err(invalid)?;
        }
        let doc = Doc::new(name.clone(), LOCAL.to_owned(), labels, req.driver_opts);
        self.store.create(&doc)?;
        let volume = self.to_volume(&doc);
        table.insert(
            name.clone(),
            Entry {
                doc,
                active: 0,
                mounted: false,
            },
        );
        drop(table);
        self.events
            .emit(Event::new(EventType::Volume, "create", &name).attr("driver", LOCAL));
        Ok(volume)
    }

    /// The volume called `name`.
    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        self.lock()
            .get(name)
            .map(|e| self.to_volume(&e.doc))
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))
    }

    /// How many volumes there are.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// The volumes `filters` select, sorted by name.
    pub fn list(&self, filters: &ListFilters) -> Result<Vec<Volume>, VolumeError> {
        let names: Vec<regex::Regex> = filters
            .names
            .iter()
            .filter_map(|n| regex::Regex::new(n).ok())
            .collect();
        let all: Vec<Volume> = self
            .lock()
            .values()
            .map(|e| self.to_volume(&e.doc))
            .collect();
        Ok(all
            .into_iter()
            .filter(|v| filters.drivers.is_empty() || filters.drivers.contains(&v.driver))
            .filter(|v| {
                filters.names.is_empty()
                    || filters.names.contains(&v.name)
                    || names.iter().any(|r| r.is_match(&v.name))
            })
            .filter(|v| filters.labels.matches(v.labels.as_ref()))
            .filter(|v| match filters.dangling {
                None => true,
                Some(dangling) => self.users(&v.name).is_empty() == dangling,
            })
            .collect())
    }

    /// Removes volume `name` and its data. Refused while a container refers
    /// to it (even with `force`). With `force`, a missing volume is not an
    /// error (dockerd's `PurgeOnError`). Emits `destroy`.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        // Asked before taking the volume lock: the check takes the
        // container service's locks, and a container start holding those
        // may be waiting in `mount` for ours.
        let users = self.users(name);
        let mut table = self.lock();
        let Some(entry) = table.get(name) else {
            return if force {
                Ok(())
            } else {
                Err(VolumeError::NotFound(name.to_owned()))
            };
        };
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_owned(),
                containers: users,
            });
        }
        if entry.active > 0 {
            return Err(VolumeError::ActiveMounts(name.to_owned()));
        }
        // Whatever is mounted below the volume goes first: removing the
        // directory must never descend into a bound host directory.
        let dir = self.store.dir(name);
        for mount_point in local::mounts_under(&dir) {
            local::unmount(&mount_point).map_err(|message| VolumeError::Unmount {
                name: name.to_owned(),
                message,
            })?;
        }
        if let Some(left) = local::mounts_under(&dir).first() {
            return Err(VolumeError::Unmount {
                name: name.to_owned(),
                message: format!("{} is still mounted", left.display()),
            });
        }
        self.store.remove(name)?;
        table.remove(name);
        drop(table);
        self.events
            .emit(Event::new(EventType::Volume, "destroy", name).attr("driver", LOCAL));
        Ok(())
    }

    /// Removes unused volumes without driver options: only anonymous ones
    /// unless `filters.all`. Emits `destroy` for each, then one `prune`.
    pub fn prune(&self, filters: &PruneFilters) -> Result<PruneReport, VolumeError> {
        if self.pruning.swap(true, Ordering::SeqCst) {
            return Err(VolumeError::PruneRunning);
        }
        let result = self.prune_locked(filters);
        self.pruning.store(false, Ordering::SeqCst);
        let report = result?;
        self.events.emit(
            Event::new(EventType::Volume, "prune", "")
                .attr("reclaimed", report.space_reclaimed.to_string()),
        );
        Ok(report)
    }

    fn prune_locked(&self, filters: &PruneFilters) -> Result<PruneReport, VolumeError> {
        let candidates: Vec<Volume> = self
            .lock()
            .values()
            .map(|e| self.to_volume(&e.doc))
            .filter(|v| v.driver == LOCAL && !v.has_options())
            .filter(|v| filters.all || v.is_anonymous())
            .filter(|v| filters.labels.matches(v.labels.as_ref()))
            .collect();
        let mut report = PruneReport::default();
        for v in candidates {
            if !self.users(&v.name).is_empty() {
                continue;
            }
            let size = dir_size(&v.mountpoint);
            match self.remove(&v.name, false) {
                Ok(()) => {
                    report.space_reclaimed += u64::try_from(size).unwrap_or(0);
                    report.deleted.push(v.name);
                }
                Err(e) => {
                    tracing::warn!(volume = %v.name, error = %e, "could not prune volume");
                }
            }
        }
        Ok(report)
    }

    /// Every volume without driver options, with its size and how many
    /// containers refer to it (`docker system df`, as dockerd's
    /// `LocalVolumesSize`).
    pub fn disk_usage(&self) -> Vec<Volume> {
        let all: Vec<Volume> = self
            .lock()
            .values()
            .map(|e| self.to_volume(&e.doc))
            .filter(|v| v.driver == LOCAL && !v.has_options())
            .collect();
        all.into_iter()
            .map(|mut v| {
                v.usage = Some(UsageData {
                    size: dir_size(&v.mountpoint),
                    ref_count: i64::try_from(self.users(&v.name).len()).unwrap_or(i64::MAX),
                });
                v
            })
            .collect()
    }

    /// Makes volume `name` ready for a container and returns the host path
    /// to bind (`_data`). A tmpfs, bind or device volume is mounted at its
    /// first user; every call counts as a user until [`Volumes::unmount`].
    /// Emits `mount`.
    pub fn mount(&self, name: &str, by: &MountUse<'_>) -> Result<PathBuf, VolumeError> {
        let mut table = self.lock();
        let entry = table
            .get_mut(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        let data = self.store.data(name);
        if entry.needs_mount() && !entry.mounted {
            let opts = entry.doc.options.clone().unwrap_or_default();
            if !data.is_dir() {
                fs_err::create_dir_all(&data)?;
            }
            local::mount(&opts, &data).map_err(|message| VolumeError::Mount {
                name: name.to_owned(),
                message,
            })?;
            entry.mounted = true;
        }
        entry.active += 1;
        drop(table);
        self.events.emit(
            Event::new(EventType::Volume, "mount", name)
                .attr("driver", LOCAL)
                .attr("container", by.container)
                .attr("destination", by.destination)
                .attr("read/write", by.read_write.to_string())
                .attr("propagation", by.propagation),
        );
        Ok(data)
    }

    /// A user of volume `name` is done (its container stopped). The last
    /// one unmounts a tmpfs, bind or device volume (a tmpfs loses its
    /// data, as with dockerd). Emits `unmount`. A volume that is gone, or
    /// has no users, is not an error.
    pub fn unmount(&self, name: &str, container: &str) -> Result<(), VolumeError> {
        let mut table = self.lock();
        let Some(entry) = table.get_mut(name) else {
            return Ok(());
        };
        entry.active = entry.active.saturating_sub(1);
        let mut result = Ok(());
        if entry.active == 0 && entry.mounted {
            match local::unmount(&self.store.data(name)) {
                Ok(()) => entry.mounted = false,
                Err(message) => {
                    result = Err(VolumeError::Mount {
                        name: name.to_owned(),
                        message,
                    })
                }
            }
        }
        drop(table);
        self.events.emit(
            Event::new(EventType::Volume, "unmount", name)
                .attr("driver", LOCAL)
                .attr("container", container),
        );
        result
    }

    /// Counts a user that was running before berthd restarted (its mount
    /// is still there); no event, nothing mounted.
    pub fn live_restore(&self, name: &str) -> Result<(), VolumeError> {
        let mut table = self.lock();
        let entry = table
            .get_mut(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        if entry.needs_mount() {
            entry.mounted = true;
        }
        entry.active += 1;
        Ok(())
    }

    /// How many users volume `name` has between `mount` and `unmount`.
    pub fn active_mounts(&self, name: &str) -> u64 {
        self.lock().get(name).map_or(0, |e| e.active)
    }
}

/// 32 random bytes as 64 hex digits (dockerd's `stringid.GenerateRandomID`).
fn new_anonymous_name() -> Result<String, VolumeError> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    fs_err::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// dockerd's `directory.Size`: the bytes of every non-directory below
/// `dir`, hard links counted once, symlinks not followed; -1 when `dir`
/// cannot be read.
pub fn dir_size(dir: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    if fs_err::symlink_metadata(dir).is_err() {
        return -1;
    }
    let mut seen = HashSet::new();
    let mut size: i64 = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs_err::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.len() > 0 && seen.insert((meta.dev(), meta.ino())) {
                size = size.saturating_add(i64::try_from(meta.len()).unwrap_or(i64::MAX));
            }
        }
    }
    size
}

#[cfg(test)]
mod tests;
