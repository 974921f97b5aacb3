//! Containers: create, start, wait, kill, stop, remove, and live restore.
//!
//! - [`model`]: the stored document and the create options.
//! - `store`: one atomic JSON document per container, IDs, names.
//! - `spec`: the OCI `config.json` with Docker's defaults (`oci_defaults`).
//! - `shim`: starting `berth-shim` (exec, never fork) and its control socket.
//!
//! Layout:
//!
//! ```text
//! <data-root>/containers/<id>/config.v2.json     the container (atomic writes)
//! <data-root>/containers/<id>/<id>-json.log       its json-file log (written by the shim)
//! <exec-root>/containers/<id>/bundle/config.json  the OCI bundle
//! <exec-root>/containers/<id>/rootfs              the snapshot, mounted while it runs
//! <exec-root>/shims/<id>/                         the shim's sockets, pid, exit.json
//! <exec-root>/runtime/                            the runtime's state root
//! ```
//!
//! The image store is passed to the calls that need it (create, start,
//! remove): the engine has exactly one `ImageStore` (the image service's),
//! and two handles on one data root would disagree about snapshots.
//!
//! A running container has one monitor thread blocked in a `Wait` request
//! on its shim; when the container exits it records the exit status,
//! deletes the shim's container (cgroup, runtime state), unmounts the root
//! file system and wakes [`Containers::wait`]ers. Every call here blocks;
//! an async caller uses `spawn_blocking`.

mod cp_mounts;
pub mod datapath;
pub mod exec;
pub mod filter;
pub mod fs;
pub mod health;
mod image_mounts;
mod init;
pub mod links;
mod log_attrs;
pub mod logs;
pub mod model;
pub mod mounts;
mod netlive;
pub mod networking;
mod oci_defaults;
mod ops;
pub mod ports;
mod removal;
pub mod resources;
mod restart;
pub mod security;
mod shim;
mod size;
pub(crate) mod spec;
pub mod stats;
mod store;
mod streams;
mod subpath;
pub mod top;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_image::ImageStore;
use berth_image::snapshot::Mount;
use berth_shim_proto::{Reply, Request, ShimError, Status as ShimStatus};
pub use logs::{LogConfig, LogDriver, LogEvent, LogQuery, LogRecord, LogStream};
pub use model::{Container, CreateOptions, Process, State, Status, WaitCondition, parse_signal};
pub use ops::Change;
pub use restart::{RestartMode, RestartPolicy, RestartState};
pub use size::{ContainerDetails, ListedContainer, SizeInfo, StorageInfo, dir_size};

use crate::error::{Classify, ErrorClass};

/// Errors of container operations.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("No such image: {0}")]
    ImageNotFound(String),
    #[error("No such exec instance: {0}")]
    ExecNotFound(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    InvalidArgument { message: String },
    #[error("image store: {message}")]
    Image { class: ErrorClass, message: String },
    /// The volume service's error, as it words it.
    #[error("{message}")]
    Volume { class: ErrorClass, message: String },
    #[error(transparent)]
    Mount(#[from] berth_image::snapshot::MountError),
    #[error("shim: {message}")]
    Shim { message: String },
    #[error("{message}")]
    ShimRequest { class: ErrorClass, message: String },
    #[error("shim unavailable: {message}")]
    ShimGone { message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{message}")]
    Internal { message: String },
    /// A missing file or other object inside a container (404).
    #[error("{message}")]
    NotFoundMessage { message: String },
}

impl ContainerError {
    fn from_shim(err: ShimError) -> Self {
        use berth_shim_proto::ErrorClass as S;
        let class = match err.class {
            S::NotFound => ErrorClass::NotFound,
            S::Conflict => ErrorClass::Conflict,
            S::InvalidArgument => ErrorClass::InvalidArgument,
            S::Internal => ErrorClass::Internal,
        };
        Self::ShimRequest {
            class,
            message: err.message,
        }
    }

    fn image(err: impl Into<berth_image::Error>) -> Self {
        let err = err.into();
        let class = ErrorClass::from(err.class());
        Self::Image {
            class,
            message: err.to_string(),
        }
    }
}

impl Classify for ContainerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound(_)
            | Self::ImageNotFound(_)
            | Self::ExecNotFound(_)
            | Self::NotFoundMessage { .. } => ErrorClass::NotFound,
            Self::NameInUse { .. } | Self::Conflict { .. } => ErrorClass::Conflict,
            Self::InvalidArgument { .. } => ErrorClass::InvalidArgument,
            Self::Image { class, .. }
            | Self::ShimRequest { class, .. }
            | Self::Volume { class, .. } => *class,
            Self::ShimGone { .. } => ErrorClass::Unavailable,
            Self::Mount(_) | Self::Shim { .. } | Self::Io { .. } | Self::Internal { .. } => {
                ErrorClass::Internal
            }
        }
    }
}

type Result<T, E = ContainerError> = std::result::Result<T, E>;

/// Where the container service keeps things and how it starts shims.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The `berth-shim` binary.
    pub shim_path: PathBuf,
    /// Containers' cgroups are `<cgroup_parent>/<id>` (docker's `/docker`).
    pub cgroup_parent: String,
    /// Whether the host runs cgroup v2 (then containers get a cgroup namespace).
    pub cgroup_v2: bool,
    /// Where container events go (`GET /events`).
    pub events: crate::events::EventBus,
    /// Run containers under `berth-init` unless they say (berthd's `--init`).
    pub default_init: bool,
    /// The host's resolver file containers' `/etc/resolv.conf` is based on.
    pub host_resolv_conf: PathBuf,
    /// What `--add-host name:host-gateway` maps to: the default bridge's
    /// gateway (berthd's `--bip`), as dockerd's default `host-gateway-ip`.
    pub host_gateway: Option<std::net::IpAddr>,
}

/// The container service.
pub struct Containers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containers")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: Settings,
    store: store::Store,
    table: Mutex<BTreeMap<String, Container>>,
    changed: Condvar,
    /// Set when the service is dropped: monitors stop without acting (the
    /// shims live on for the next daemon).
    closed: AtomicBool,
    /// The monitors' connections, shut down on drop to wake them.
    monitors: Mutex<HashMap<String, UnixStream>>,
    /// Attach clients waiting for a container's next start: connected to
    /// the new shim before it starts the process, so they miss no output.
    pending_attach: Mutex<HashMap<String, Vec<PendingAttach>>>,
    /// Snapshots of auto-removed containers, removed by the next call that
    /// has the image store (and at startup as orphans otherwise).
    stale_snapshots: Mutex<Vec<String>>,
    /// The last exit codes of removed containers, newest last (at most
    /// [`REMOVED_EXITS_KEPT`]): a waiter for `removed` that wakes after the
    /// record is gone still answers the right code. Locked after `table`.
    removed_exits: Mutex<VecDeque<(String, i32)>>,
    /// The image store, for removing an auto-removed container's snapshot
    /// at its exit (set by the engine once both services are open).
    image_store: std::sync::OnceLock<std::sync::Weak<ImageStore>>,
    /// Exec records (`exec`), in memory only.
    execs: exec::Execs,
    /// The running health monitors (`health`).
    health: health::Monitors,
    /// The volume service (set by the engine once both services are open).
    volumes: std::sync::OnceLock<Arc<dyn mounts::VolumeBackend>>,
    /// The volumes each running container has mounted, by container ID.
    mounted_volumes: Mutex<HashMap<String, Vec<String>>>,
    /// Containers whose volumes are being released on their way out: the
    /// volume service's usage check does not count them.
    releasing: Mutex<std::collections::HashSet<String>>,
    /// Network namespaces, veths and nftables rules (set by the engine
    /// once the network service is open; without it a container gets an
    /// empty network namespace from the runtime).
    datapath: std::sync::OnceLock<Arc<datapath::DataPath>>,
    /// The embedded DNS servers of running containers on user networks.
    dns: networking::DnsServers,
    /// Host ports held for running containers, and their DNAT rules.
    ports: ports::PortService,
    /// Deletes what removed containers leave, off the request path.
    reaper: removal::Reaper,
    /// The containers an `rm` is working on.
    removing: removal::InProgress,
}

/// What an attach client wants from a container's streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Close the process's stdin when the client half-closes (`StdinOnce`).
    pub close_stdin: bool,
}

/// An attach in progress ([`Containers::attach`]).
#[derive(Debug)]
pub struct AttachHandle {
    rx: std::sync::mpsc::Receiver<Result<UnixStream>>,
}

impl AttachHandle {
    /// The connection, once the container runs; gives up after `timeout`.
    pub fn stream(self, timeout: Duration) -> Result<UnixStream> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(_) => Err(ContainerError::Shim {
                message: "timed out waiting for the container to start".into(),
            }),
        }
    }
}

struct PendingAttach {
    opts: AttachOptions,
    reply: std::sync::mpsc::Sender<Result<UnixStream>>,
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.health.stop_all();
        // Pending restarts wake up and see the service closed.
        self.inner.changed.notify_all();
        let monitors = std::mem::take(&mut *lock(&self.inner.monitors));
        for (_, stream) in monitors {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        self.inner.reaper.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A unix socket path holds at most 107 bytes (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Refuses an exec root under which a shim's socket path
/// (`<exec-root>/shims/<64-hex id>/control.sock`) would not fit: every
/// container would fail to start.
fn check_exec_root(exec_root: &std::path::Path) -> Result<()> {
    let longest = [
        berth_shim_proto::CONTROL_SOCKET,
        berth_shim_proto::ATTACH_SOCKET,
    ]
    .iter()
    .map(|name| {
        exec_root
            .join("shims")
            .join("0".repeat(64))
            .join(name)
            .as_os_str()
            .len()
    })
    .max()
    .unwrap_or(0);
    if longest > MAX_SOCKET_PATH {
        let over = longest - MAX_SOCKET_PATH;
        return Err(ContainerError::InvalidArgument {
            message: format!(
                "exec root {} is {} bytes too long: container sockets under it would not fit in a unix socket path ({MAX_SOCKET_PATH} bytes); choose a shorter --exec-root, such as the default /run/berth",
                exec_root.display(),
                over
            ),
        });
    }
    Ok(())
}

/// How many removed containers' exit codes are kept for late waiters.
const REMOVED_EXITS_KEPT: usize = 256;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Containers {
    /// Loads every stored container and reconciles running ones with their
    /// shims (live restore): a live shim is reconnected, a gone one means
    /// the container exited (with the status in `exit.json` if the shim
    /// wrote one, else 255).
    pub fn open(settings: Settings) -> Result<Self> {
        check_exec_root(&settings.exec_root)?;
        let store = store::Store::open(&settings.data_root)?;
        for d in ["containers", "shims", "runtime"] {
            let p = settings.exec_root.join(d);
            fs_err::create_dir_all(&p).map_err(|e| store::io(&p, e))?;
        }
        init::install(&settings.exec_root)?;
        let mut loaded = store.load_all()?;
        // A back-off the last daemon did not finish: the container is
        // stopped, and its policy is asked again (`restart_at_boot`).
        for c in &mut loaded {
            if c.state.status == Status::Restarting {
                c.state.status = Status::Exited;
            }
        }
        let inner = Arc::new(Inner {
            settings,
            store,
            table: Mutex::new(loaded.into_iter().map(|c| (c.id.clone(), c)).collect()),
            changed: Condvar::new(),
            closed: AtomicBool::new(false),
            monitors: Mutex::new(HashMap::new()),
            pending_attach: Mutex::new(HashMap::new()),
            stale_snapshots: Mutex::new(Vec::new()),
            removed_exits: Mutex::new(VecDeque::new()),
            image_store: std::sync::OnceLock::new(),
            execs: exec::Execs::default(),
            health: health::Monitors::default(),
            volumes: std::sync::OnceLock::new(),
            mounted_volumes: Mutex::new(HashMap::new()),
            releasing: Mutex::new(std::collections::HashSet::new()),
            datapath: std::sync::OnceLock::new(),
            dns: networking::DnsServers::default(),
            ports: ports::PortService::default(),
            reaper: removal::Reaper::default(),
            removing: removal::InProgress::default(),
        });
        let running: Vec<Container> = lock(&inner.table)
            .values()
            .filter(|c| c.state.status == Status::Running)
            .cloned()
            .collect();
        for c in running {
            inner.restore(&c);
        }
        // A crash during start (shim started, container not yet recorded as
        // running) leaves a shim and a mount behind a container that is
        // not running: the start never succeeded, so undo it.
        let idle: Vec<Container> = lock(&inner.table)
            .values()
            .filter(|c| c.state.status != Status::Running)
            .cloned()
            .collect();
        for c in idle {
            let pid =
                fs_err::read_to_string(inner.shim_dir(&c.id).join(berth_shim_proto::PID_FILE))
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
            inner.release_runtime(&c.id, pid);
        }
        Ok(Self { inner })
    }

    /// Creates a container from `image` (any reference the image store
    /// resolves): a writable snapshot on the image's top layer and the
    /// stored document. Nothing runs yet.
    pub fn create(
        &self,
        images: &ImageStore,
        image: &str,
        mut opts: CreateOptions,
    ) -> Result<Container> {
        let inner = &self.inner;
        // `--entrypoint ""` (`[""]`) resets the image's entrypoint (moby
        // `mergeAndVerifyConfig`): nothing but the given command runs.
        if opts.entrypoint.as_deref() == Some(&[String::new()][..]) {
            opts.entrypoint = Some(Vec::new());
        }
        opts.log_config.driver()?;
        restart::check_create(opts.auto_remove, &opts.restart_policy)?;
        opts.resources.check(resources::HostLimits::get(), false)?;
        opts.security.check(opts.hostname.is_some())?;
        opts.ports.check()?;
        opts.dns.check()?;
        let details = images.inspect(image).map_err(|e| {
            if e.class() == berth_image::ErrorClass::NotFound {
                ContainerError::ImageNotFound(image.to_owned())
            } else {
                ContainerError::image(e)
            }
        })?;
        let image_config = details.config.config.clone().unwrap_or_default();
        if let Some(exposed) = &image_config.exposed_ports {
            opts.ports.merge_image(exposed.keys());
        }
        let id = store::new_id()?;

        let mut args = opts
            .entrypoint
            .clone()
            .or_else(|| image_config.entrypoint.clone())
            .unwrap_or_default();
        // An explicit entrypoint resets the image's cmd, as in docker.
        let cmd = match (&opts.cmd, &opts.entrypoint) {
            (Some(cmd), _) => cmd.clone(),
            (None, Some(_)) => Vec::new(),
            (None, None) => image_config.cmd.clone().unwrap_or_default(),
        };
        args.extend(cmd);
        if args.is_empty() {
            return Err(ContainerError::InvalidArgument {
                message: "no command specified".into(),
            });
        }
        let hostname = opts.hostname.clone().unwrap_or_else(|| id[..12].to_owned());
        let env = merge_env(
            &hostname,
            opts.tty,
            image_config.env.as_deref().unwrap_or_default(),
            &opts.env,
        );
        let mut labels = image_config.labels.clone().unwrap_or_default();
        labels.extend(opts.labels.clone());
        let process = Process {
            args,
            env,
            working_dir: opts
                .working_dir
                .clone()
                .or_else(|| image_config.working_dir.clone())
                .unwrap_or_default(),
            user: opts
                .user
                .clone()
                .or_else(|| image_config.user.clone())
                .unwrap_or_default(),
            hostname,
            tty: opts.tty,
            open_stdin: opts.open_stdin,
        };

        // Mounts: checked, their volumes created and filled from the image,
        // before the name is taken (the volume service is never called
        // under the table lock). Undone if the create fails later.
        opts.healthcheck.as_ref().map_or(Ok(()), |h| h.validate())?;
        let image_volumes: Vec<String> = image_config
            .volumes
            .as_ref()
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        let planned = {
            let table = lock(&inner.table);
            mounts::plan(
                &opts.mounts,
                &image_volumes,
                &opts.security.tmpfs,
                // dockerd: an unknown container here is a bad parameter
                // (400), so clients do not take it for a missing image.
                &|name| match resolve(&table, name) {
                    Ok(c) => Ok(c.mount_points.clone()),
                    Err(e) => Err(ContainerError::InvalidArgument {
                        message: e.to_string(),
                    }),
                },
            )?
        };
        let mut planned = planned;
        image_mounts::resolve(images, &mut planned)?;
        let volumes = inner.volumes.get().cloned();
        let realized = mounts::realize(planned, volumes.as_deref(), &id)?;
        let top = details.record.top_chain_id().map(|c| c.to_string());
        if let Err(e) = images.snapshots().prepare(&id, top.as_deref()) {
            realized.abandon(volumes.as_deref(), &id);
            return Err(ContainerError::image(e));
        }
        // (Some failures come under the table lock: the snapshots go, but
        // layers are left to the next start's gc rather than waiting for
        // the image store's lock there.)
        let fail = |e: ContainerError| {
            let _ = image_mounts::remove_snapshots(images, std::slice::from_ref(&id));
            let _ = fs_err::remove_dir_all(inner.exec_dir(&id));
            realized.abandon(volumes.as_deref(), &id);
            e
        };
        image_mounts::pin(images, &id, &realized.points).map_err(fail)?;
        inner.copy_up(images, &id, &realized.points).map_err(fail)?;

        let mut table = lock(&inner.table);
        let picked = match &opts.name {
            Some(name) => {
                let name = name.trim_start_matches('/').to_owned();
                if !store::valid_name(&name) {
                    Err(ContainerError::InvalidArgument {
                        message: format!(
                            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                        ),
                    })
                } else if let Some(other) = table.values().find(|c| c.name == name) {
                    Err(ContainerError::NameInUse {
                        name,
                        id: other.id.clone(),
                    })
                } else {
                    Ok(name)
                }
            }
            None => {
                let base = store::generate_name(&id);
                let mut name = base.clone();
                let mut n = 1;
                while table.values().any(|c| c.name == name) {
                    n += 1;
                    name = format!("{base}{n}");
                }
                Ok(name)
            }
        };
        // The volume service asks the table who uses a volume: undo
        // without holding it.
        let name = match picked {
            Ok(name) => name,
            Err(e) => {
                drop(table);
                return Err(fail(e));
            }
        };
        // `--stop-signal`, else the image's.
        let stop_signal = opts
            .stop_signal
            .clone()
            .or_else(|| image_config.stop_signal.clone());
        let health = health::HealthConfig::merged(
            opts.healthcheck.as_ref(),
            image_config.healthcheck.as_ref(),
        )
        .map(|config| health::Healthcheck {
            config,
            state: None,
        });
        let container = Container {
            id: id.clone(),
            name,
            created: berth_image::store::rfc3339_now(),
            image: details.record.id.to_string(),
            image_ref: image.to_owned(),
            options: opts,
            process,
            labels,
            stop_signal,
            state: State::default(),
            health,
            restart: RestartState::default(),
            mount_points: realized.points.clone(),
            exits: 0,
            busy: false,
            published_ports: Default::default(),
        };
        let saved = inner.store.save(&container).and_then(|()| {
            // The bundle is written now and again at each start (the exec
            // root does not survive a reboot; user names resolve against
            // the mounted root).
            let rootfs = inner.rootfs_dir(&id);
            fs_err::create_dir_all(&rootfs).map_err(|e| store::io(&rootfs, e))?;
            inner.write_bundle(&container, false)
        });
        if let Err(e) = saved {
            let _ = inner.store.remove(&id, store::Durability::of(&container));
            drop(table);
            return Err(fail(e));
        }
        table.insert(id, container.clone());
        inner.emit(&container, "create", &[]);
        Ok(container)
    }

    /// A container by full ID, name (with or without `/`) or unique ID prefix.
    pub fn get(&self, id_or_name: &str) -> Result<Container> {
        let table = lock(&self.inner.table);
        resolve(&table, id_or_name).cloned()
    }

    /// Every container, newest first.
    pub fn list(&self) -> Vec<Container> {
        let table = lock(&self.inner.table);
        // Sorted as references: a container is large to move around.
        let mut all: Vec<&Container> = table.values().collect();
        all.sort_by(|a, b| b.created.cmp(&a.created));
        all.into_iter().cloned().collect()
    }

    /// The json-file log of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.inner.log_path(id)
    }

    /// The current json-file log of a container (empty before its first
    /// start). Rotated files are not included.
    pub fn read_log(&self, id_or_name: &str) -> Result<String> {
        let c = self.get(id_or_name)?;
        let path = self.inner.log_path(&c.id);
        match fs_err::read_to_string(&path) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(store::io(&path, e)),
        }
    }

    /// Starts a created or exited container. Starting a running one is a no-op.
    pub fn start(&self, images: &ImageStore, id_or_name: &str) -> Result<()> {
        Self::start_with(&self.inner, images, id_or_name, false)
    }

    /// A start by the user, or `by_policy` (a restart policy's).
    fn start_with(
        inner: &Arc<Inner>,
        images: &ImageStore,
        id_or_name: &str,
        by_policy: bool,
    ) -> Result<()> {
        // Claim the container, then talk to the shim without the table
        // lock, so other containers' calls are not held up.
        let c = {
            let mut table = lock(&inner.table);
            let id = resolve(&table, id_or_name)?.id.clone();
            let entry = table.get_mut(&id).ok_or_else(|| gone(&id))?;
            if !restart::may_start(entry, by_policy) {
                return Ok(());
            }
            if entry.busy {
                return Err(busy(&id));
            }
            entry.busy = true;
            if !by_policy {
                restart::on_user_start(entry);
            }
            entry.clone()
        };
        let started = inner.start_locked(images, &c);
        if started.is_err() && c.options.auto_remove {
            inner.release_volumes_of_removed(&c.id, &c.mount_points);
        }
        let mut table = lock(&inner.table);
        let entry = table.get_mut(&c.id).ok_or_else(|| gone(&c.id))?;
        entry.busy = false;
        inner.changed.notify_all();
        match started {
            Ok((shim_pid, init_pid)) => {
                entry.state = State {
                    status: Status::Running,
                    pid: init_pid,
                    shim_pid,
                    exit_code: 0,
                    started_at: berth_image::store::rfc3339_now(),
                    finished_at: entry.state.finished_at.clone(),
                    error: String::new(),
                    oom_killed: false,
                    paused: false,
                };
                entry.published_ports = inner.ports.published(&c.id);
                let saved = inner.store.save(entry);
                inner.emit(entry, "start", &[]);
                drop(table);
                Inner::spawn_monitor(inner, &c.id);
                saved
            }
            Err(e) => {
                entry.state.error = e.to_string();
                restart::on_start_failed(entry);
                if entry.options.auto_remove {
                    // As dockerd: a container meant to go at its exit goes
                    // when it cannot start (`docker run --rm` waits for it).
                    inner.remove_auto_removed(&c.id);
                    inner.forget(&mut table, &c.id);
                    inner.changed.notify_all();
                } else {
                    let _ = inner.store.save(entry);
                }
                drop(table);
                // Attach clients waiting for this start learn it failed.
                let pending = lock(&inner.pending_attach).remove(&c.id);
                for p in pending.unwrap_or_default() {
                    let _ = p.reply.send(Err(ContainerError::Shim {
                        message: e.to_string(),
                    }));
                }
                Err(e)
            }
        }
    }

    /// Attaches to the container's streams. The returned handle yields a
    /// connection to the shim's attach socket after the handshake: from
    /// then on the shim's output (docker's multiplexed frames without a
    /// terminal, raw bytes with one) can be read from it, and what is
    /// written goes to the process's stdin. A running container is
    /// connected now; one that is not is connected at its next start,
    /// before its process runs, so that start may come after this returns
    /// (the docker CLI attaches, then starts).
    pub fn attach(&self, id_or_name: &str, opts: AttachOptions) -> Result<AttachHandle> {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut table = lock(&self.inner.table);
        // A start or exit in progress: see how it ends first, so the
        // client attaches to the process it was started for.
        while resolve(&table, id_or_name)?.busy {
            table = self
                .inner
                .changed
                .wait(table)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        let c = resolve(&table, id_or_name)?;
        self.inner.emit(c, "attach", &[]);
        if c.state.status == Status::Running {
            let id = c.id.clone();
            drop(table);
            let _ = tx.send(shim::attach(&self.inner.shim_dir(&id), &opts));
        } else {
            lock(&self.inner.pending_attach)
                .entry(c.id.clone())
                .or_default()
                .push(PendingAttach { opts, reply: tx });
        }
        Ok(AttachHandle { rx })
    }

    /// Waits until the container is not running and returns its exit code
    /// (docker's `wait` with condition `not-running`).
    pub fn wait(&self, id_or_name: &str) -> Result<i32> {
        self.wait_for(id_or_name, WaitCondition::NotRunning)
    }

    /// Waits for `condition` and returns the exit code (the last one known
    /// when the container was removed meanwhile).
    pub fn wait_for(&self, id_or_name: &str, condition: WaitCondition) -> Result<i32> {
        self.wait_handle(id_or_name, condition)?.wait()
    }

    /// Like [`Containers::wait`], giving up after `timeout` (`None` then).
    pub fn wait_timeout(&self, id_or_name: &str, timeout: Duration) -> Result<Option<i32>> {
        self.wait_handle(id_or_name, WaitCondition::NotRunning)?
            .wait_until(Some(Instant::now() + timeout))
    }

    /// The first half of a wait: checks the container exists and notes
    /// where its exits stand, so a `next-exit` wait set up before a start
    /// cannot miss the exit (the API answers the headers between the two
    /// halves, and `docker run` starts the container then).
    pub fn wait_handle(&self, id_or_name: &str, condition: WaitCondition) -> Result<WaitHandle> {
        let table = lock(&self.inner.table);
        let c = resolve(&table, id_or_name)?;
        Ok(WaitHandle {
            inner: Arc::clone(&self.inner),
            id: c.id.clone(),
            condition,
            exits_before: c.exits,
            last: c.state.exit_code,
        })
    }

    /// Sends `signal` to the container's init.
    pub fn kill(&self, id_or_name: &str, signal: i32) -> Result<()> {
        let c = self.get(id_or_name)?;
        if self.inner.note_user_stop(&c.id, Some(signal)) {
            // Waiting to restart: no process; the restart is called off.
            return Ok(());
        }
        if c.state.status != Status::Running {
            return Err(ContainerError::Conflict {
                message: format!("Container {} is not running", c.id),
            });
        }
        match shim::request(
            &self.inner.shim_dir(&c.id),
            &Request::Kill { signal, all: false },
        ) {
            Ok(_) => {
                self.inner
                    .emit(&c, "kill", &[("signal", signal.to_string())]);
                Ok(())
            }
            // It exited meanwhile (its shim may be gone already).
            Err(_) if self.exiting(&c.id) => Err(ContainerError::Conflict {
                message: format!("Container {} is not running", c.id),
            }),
            Err(e) => Err(e),
        }
    }

    /// Not running, or its exit is being handled right now.
    fn exiting(&self, id: &str) -> bool {
        lock(&self.inner.table)
            .get(id)
            .is_none_or(|c| c.state.status != Status::Running || c.busy)
    }

    /// Sends the stop signal (the image's, or SIGTERM), waits up to
    /// `timeout` (docker's default: 10 s), then SIGKILLs every process
    /// (see [`Containers::stop_with`]).
    pub fn stop(&self, id_or_name: &str, timeout: Option<Duration>) -> Result<()> {
        self.stop_with(id_or_name, timeout, None).map(|_| ())
    }

    /// SIGKILL to every process, then wait for the exit to be recorded.
    fn kill_and_wait(&self, id: &str) -> Result<()> {
        self.inner.note_user_stop(id, None);
        let dir = self.inner.shim_dir(id);
        match shim::request(
            &dir,
            &Request::Kill {
                signal: 9,
                all: true,
            },
        ) {
            Ok(_) => {
                if let Some(c) = lock(&self.inner.table).get(id) {
                    self.inner.emit(c, "kill", &[("signal", "9".to_owned())]);
                }
            }
            Err(e) if e.class() == ErrorClass::Conflict => {}
            Err(_) if self.exiting(id) => {}
            Err(e) => return Err(e),
        }
        if self.wait_timeout(id, Duration::from_secs(30))?.is_none() {
            return Err(ContainerError::Internal {
                message: format!("container {id} did not exit after SIGKILL"),
            });
        }
        Ok(())
    }

    /// Removes a container: its shim, mount, snapshot, bundle and document.
    /// A running container needs `force` (then it is killed first).
    pub fn remove(&self, images: &ImageStore, id_or_name: &str, force: bool) -> Result<()> {
        self.remove_with(images, id_or_name, force, false)
    }

    /// [`Containers::remove`]; with `volumes` (`rm -v`) its anonymous
    /// volumes go too.
    pub fn remove_with(
        &self,
        images: &ImageStore,
        id_or_name: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let c = self.get(id_or_name)?;
        // As dockerd, before anything else: a second `rm` while this one
        // runs (kills, waits) is refused.
        let _removing = self.inner.removing.claim(&c.id, id_or_name)?;
        self.inner.check_remove_restarting(&c, force)?;
        let c = self.get(&c.id)?;
        if c.state.status == Status::Running {
            if !force {
                return Err(ContainerError::Conflict {
                    message: format!(
                        "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                        c.name
                    ),
                });
            }
            self.kill_and_wait(&c.id)?;
        }
        let inner = &self.inner;
        // Claim it (`busy`: a start or another removal is refused), then
        // work without the table lock, so that removals run side by side
        // and nothing else waits for their I/O.
        let c = {
            let mut table = lock(&inner.table);
            let Some(c) = table.get_mut(&c.id) else {
                return Ok(());
            };
            if c.state.status == Status::Running {
                return Err(ContainerError::Conflict {
                    message: format!("container {} was started again while being removed", c.id),
                });
            }
            if c.busy {
                return Err(busy(&c.id));
            }
            c.busy = true;
            c.clone()
        };
        inner.release_runtime(&c.id, c.state.shim_pid);
        // The removal itself: the document's directory renamed away (see
        // `removal`); the rest is deleted by the reaper.
        let detached = match inner.image_store.get() {
            Some(_) => inner
                .store
                .detach(&c.id, store::Durability::of(&c))
                .map(Some),
            None => remove_now(inner, images, &c).map(|()| None),
        };
        let mut table = lock(&inner.table);
        let doomed = match detached {
            Ok(d) => d,
            Err(e) => {
                if let Some(entry) = table.get_mut(&c.id) {
                    entry.busy = false;
                }
                inner.changed.notify_all();
                return Err(e);
            }
        };
        inner.forget(&mut table, &c.id);
        inner.emit(&c, "destroy", &[]);
        inner.changed.notify_all();
        drop(table);
        if let (Some(doomed), Some(store)) = (doomed, inner.image_store.get()) {
            inner.reaper.push(
                removal::Leftovers {
                    exec_dir: inner.exec_dir(&c.id),
                    id: c.id.clone(),
                    doomed,
                },
                store,
            );
        }
        mounts::release_all(
            &c.mount_points,
            inner
                .volumes
                .get()
                .map(|v| &**v as &dyn mounts::VolumeBackend),
            &c.id,
            volumes,
        );
        Ok(())
    }
}

/// A removal without the reaper (no image store was set, as in tests of
/// the container service alone): snapshot, bundle and document, in this
/// order (a crash in between is finished at the next start:
/// `Containers::finish_interrupted_removals`).
fn remove_now(inner: &Inner, images: &ImageStore, c: &Container) -> Result<()> {
    image_mounts::remove_snapshots_of(images, &c.id).map_err(ContainerError::image)?;
    let exec_dir = inner.exec_dir(&c.id);
    match fs_err::remove_dir_all(&exec_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(store::io(&exec_dir, e)),
    }
    inner.store.remove(&c.id, store::Durability::of(c))
}

/// A wait in progress ([`Containers::wait_handle`]).
pub struct WaitHandle {
    inner: Arc<Inner>,
    id: String,
    condition: WaitCondition,
    exits_before: u64,
    last: i32,
}

impl std::fmt::Debug for WaitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitHandle")
            .field("id", &self.id)
            .field("condition", &self.condition)
            .finish_non_exhaustive()
    }
}

impl WaitHandle {
    /// Blocks until the condition holds; the exit code.
    pub fn wait(self) -> Result<i32> {
        self.wait_until(None)?
            .ok_or_else(|| ContainerError::Internal {
                message: "wait ended without an exit code".into(),
            })
    }

    /// Blocks until the condition holds (the exit code) or `deadline` (`None`).
    pub fn wait_until(self, deadline: Option<Instant>) -> Result<Option<i32>> {
        let inner = &self.inner;
        let mut table = lock(&inner.table);
        let mut last = self.last;
        loop {
            match table.get(&self.id) {
                None => {
                    // Gone: its exit code as it was removed (it may have
                    // exited and gone in one step, unseen here).
                    let exits = lock(&inner.removed_exits);
                    let code = exits.iter().rev().find(|(id, _)| *id == self.id);
                    return Ok(Some(code.map_or(last, |(_, code)| *code)));
                }
                Some(c) => {
                    let done = match self.condition {
                        // A restarting container counts as running, as in
                        // dockerd: the wait ends at its next exit.
                        WaitCondition::NotRunning => {
                            !matches!(c.state.status, Status::Running | Status::Restarting)
                                || c.exits > self.exits_before
                        }
                        WaitCondition::NextExit => c.exits > self.exits_before,
                        WaitCondition::Removed => false,
                    };
                    if done {
                        return Ok(Some(c.state.exit_code));
                    }
                    last = c.state.exit_code;
                }
            }
            table = match deadline {
                None => inner
                    .changed
                    .wait(table)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    inner
                        .changed
                        .wait_timeout(table, d - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// [`Containers`] bound to the engine's image store: what
/// `Engine::containers` hands out, so callers do not pass the store.
/// Calls that need no images are reached through `Deref`.
#[derive(Debug, Clone, Copy)]
pub struct ContainerService<'a> {
    containers: &'a Containers,
    images: &'a ImageStore,
}

impl<'a> ContainerService<'a> {
    pub fn new(containers: &'a Containers, images: &'a ImageStore) -> Self {
        Self { containers, images }
    }

    /// See [`Containers::create`].
    pub fn create(&self, image: &str, opts: CreateOptions) -> Result<Container> {
        self.containers.create(self.images, image, opts)
    }

    /// See [`Containers::start`].
    pub fn start(&self, id_or_name: &str) -> Result<()> {
        self.remove_stale_snapshots();
        self.containers.start(self.images, id_or_name)
    }

    /// See [`Containers::remove`].
    pub fn remove(&self, id_or_name: &str, force: bool) -> Result<()> {
        self.remove_stale_snapshots();
        self.containers.remove(self.images, id_or_name, force)
    }

    /// Removes the snapshots of containers auto-removed since the last call.
    pub fn remove_stale_snapshots(&self) {
        let stale = std::mem::take(&mut *lock(&self.containers.inner.stale_snapshots));
        for id in stale {
            match image_mounts::remove_snapshots_of(self.images, &id) {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(id, error = %e, "cannot remove an auto-removed container's snapshot")
                }
            }
        }
    }
}

impl std::ops::Deref for ContainerService<'_> {
    type Target = Containers;
    fn deref(&self) -> &Containers {
        self.containers
    }
}

impl Containers {
    /// Changes a container's network settings (`network connect` and
    /// `disconnect`) with `change`, which sees the container as it is and
    /// may refuse; the document is saved before this returns.
    pub fn update_networks(
        &self,
        id_or_name: &str,
        change: impl FnOnce(&Container, &mut crate::network::ContainerNetworks) -> Result<()>,
    ) -> Result<Container> {
        let mut table = lock(&self.inner.table);
        let id = resolve(&table, id_or_name)?.id.clone();
        let entry = table.get_mut(&id).ok_or_else(|| gone(&id))?;
        let mut networks = entry.options.network.clone();
        change(entry, &mut networks)?;
        let old = std::mem::replace(&mut entry.options.network, networks);
        if let Err(e) = self.inner.store.save(entry) {
            entry.options.network = old;
            return Err(e);
        }
        Ok(entry.clone())
    }
}

/// How many containers there are in each state (`/info`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub running: usize,
    pub stopped: usize,
}

impl Containers {
    /// Counts by state.
    pub fn counts(&self) -> Counts {
        let table = lock(&self.inner.table);
        let running = table
            .values()
            .filter(|c| c.state.status == Status::Running)
            .count();
        Counts {
            total: table.len(),
            running,
            stopped: table.len() - running,
        }
    }

    /// A check the image service calls before deleting an image: the
    /// containers created from `image` (`sha256:...`), running or not, and
    /// those that mount it.
    pub fn usage_check(&self) -> impl Fn(&str) -> crate::image::ImageUsers + Send + Sync + 'static {
        let inner = Arc::clone(&self.inner);
        move |image: &str| {
            // A removed container's snapshot stands on its image's layers
            // until the reaper has deleted it.
            inner.reaper.flush();
            let mut users = crate::image::ImageUsers::default();
            for c in lock(&inner.table).values() {
                let slot = if c.image == image {
                    // dockerd counts a restarting container as running.
                    match c.state.status {
                        Status::Running | Status::Restarting => &mut users.running,
                        Status::Created | Status::Exited => &mut users.stopped,
                    }
                } else if c
                    .mount_points
                    .iter()
                    .any(|p| p.kind == mounts::MountKind::Image && p.name == image)
                {
                    &mut users.mounting
                } else {
                    continue;
                };
                slot.get_or_insert_with(|| c.id.clone());
            }
            users
        }
    }

    /// Removes writable snapshots a crash left between creating a
    /// container's snapshot and storing the container (keys that look like
    /// container IDs but belong to no container), and pins the image mounts
    /// of stored containers that have no view yet
    /// ([`image_mounts::pin_missing`]).
    pub fn remove_orphan_snapshots(&self, images: &ImageStore) {
        let table = lock(&self.inner.table);
        // The layers they stood on, for those of images removed meanwhile.
        let mut freed = Vec::new();
        // The keys still there afterwards, for the pinning below.
        let mut keys = std::collections::BTreeSet::new();
        for (key, info) in images.snapshots().list() {
            let looks_like_id = key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit());
            let orphan_view = info.kind == berth_image::snapshot::Kind::View
                && image_mounts::view_owner(&key).is_some_and(|id| !table.contains_key(id));
            if orphan_view {
                tracing::info!(
                    key,
                    "removing the image mount view of a container that is gone"
                );
                if images.snapshots().remove(&key).is_ok() {
                    freed.extend(info.parent.clone());
                    continue;
                }
            }
            if looks_like_id
                && info.kind == berth_image::snapshot::Kind::Active
                && !table.contains_key(&key)
            {
                tracing::info!(
                    key,
                    "removing the snapshot of a container that was never stored"
                );
                if images.snapshots().remove(&key).is_ok() {
                    freed.extend(info.parent.clone());
                    continue;
                }
            }
            keys.insert(key);
        }
        // Not those without a writable snapshot: their removal was
        // interrupted, and `finish_interrupted_removals` ends it.
        for c in table.values().filter(|c| keys.contains(&c.id)) {
            image_mounts::pin_missing(images, &c.id, &c.name, &c.mount_points, &keys);
        }
        drop(table);
        image_mounts::release(images, &freed);
    }

    /// Finishes the removals a crash interrupted. A removal without the
    /// reaper removes a container's snapshot before its document, so a
    /// stored container that is not running and has no snapshot was being
    /// removed (and could never start again): its bundle and document go
    /// now. A removal through the reaper is done once the document's
    /// directory is renamed: the bundles in the exec root of containers
    /// that are not stored go too (their snapshots went as orphans, their
    /// directories when the store loaded). Call at start-up, after
    /// [`Containers::open`] and [`Containers::remove_orphan_snapshots`].
    pub fn finish_interrupted_removals(&self, images: &ImageStore) {
        let inner = &self.inner;
        let mut table = lock(&inner.table);
        let doomed: Vec<String> = table
            .values()
            .filter(|c| {
                c.state.status != Status::Running && images.snapshots().stat(&c.id).is_err()
            })
            .map(|c| c.id.clone())
            .collect();
        for id in doomed {
            tracing::info!(
                id,
                "finishing the removal of a container whose snapshot is gone"
            );
            let _ = fs_err::remove_dir_all(inner.exec_dir(&id));
            match inner.store.remove(&id, store::Durability::Durable) {
                Ok(()) => {
                    table.remove(&id);
                }
                Err(e) => {
                    tracing::warn!(id, error = %e, "cannot finish removing a container")
                }
            }
        }
        // A removal is done once its directory is renamed; the reaper may
        // not have deleted its bundle in the exec root yet.
        let exec_dirs = inner.settings.exec_root.join("containers");
        let Ok(entries) = fs_err::read_dir(&exec_dirs) else {
            return;
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if table.contains_key(&id) || inner.store.dir(&id).exists() {
                continue;
            }
            tracing::info!(id, "deleting the bundle of a removed container");
            inner.release_runtime(&id, 0);
            if let Err(e) = fs_err::remove_dir_all(entry.path()) {
                tracing::warn!(id, error = %e, "cannot delete a removed container's bundle");
            }
        }
    }
}

fn busy(id: &str) -> ContainerError {
    ContainerError::Conflict {
        message: format!("container {id} is being started or stopped; try again"),
    }
}

fn gone(id: &str) -> ContainerError {
    ContainerError::NotFound(id.to_owned())
}

fn resolve<'a>(table: &'a BTreeMap<String, Container>, id_or_name: &str) -> Result<&'a Container> {
    if let Some(c) = table.get(id_or_name) {
        return Ok(c);
    }
    let name = id_or_name.trim_start_matches('/');
    if let Some(c) = table.values().find(|c| c.name == name) {
        return Ok(c);
    }
    if let Some(c) = links::by_link_name(table, name) {
        return Ok(c);
    }
    if !id_or_name.is_empty() {
        let mut matches = table.values().filter(|c| c.id.starts_with(id_or_name));
        match (matches.next(), matches.next()) {
            (Some(c), None) => return Ok(c),
            // dockerd: an InvalidParameter (400), never a guess.
            (Some(_), Some(_)) => {
                return Err(ContainerError::InvalidArgument {
                    message: format!("multiple IDs found with provided prefix: {id_or_name}"),
                });
            }
            _ => {}
        }
    }
    Err(ContainerError::NotFound(id_or_name.to_owned()))
}

/// Docker's environment: `PATH` if the image has none, `HOSTNAME`, `TERM`
/// with a terminal, the image's, then the user's (a later `KEY` wins).
fn merge_env(hostname: &str, tty: bool, image: &[String], user: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_owned();
    let mut set = |e: &str| {
        let k = key(e);
        if let Some(slot) = out.iter_mut().find(|x| key(x) == k) {
            *slot = e.to_owned();
        } else {
            out.push(e.to_owned());
        }
    };
    set(DEFAULT_PATH);
    set(&format!("HOSTNAME={hostname}"));
    if tty {
        set("TERM=xterm");
    }
    for e in image.iter().chain(user) {
        set(e);
    }
    out
}

/// Whole seconds between two RFC 3339 times (docker's `execDuration`).
fn exec_seconds(started: &str, finished: &str) -> i128 {
    match (
        logs::parse_rfc3339_nanos(started),
        logs::parse_rfc3339_nanos(finished),
    ) {
        (Some(s), Some(f)) if f > s => (f - s) / 1_000_000_000,
        _ => 0,
    }
}

impl Containers {
    /// Emits a container event with docker's attributes (labels, `image`,
    /// `name`) and `extra` ones (`exitCode`, `signal`, ...).
    pub fn emit(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        self.inner.emit(c, action, extra);
    }

    /// An attach session ended by the detach keys that berthd's proxy saw
    /// (a client that sends them, as docker-py does; the docker CLI holds
    /// its keys back and just closes, which is no detach to dockerd
    /// either): docker's `detach` event, if the container is still there.
    pub fn detached(&self, id: &str) {
        let c = lock(&self.inner.table).get(id).cloned();
        if let Some(c) = c {
            self.inner.emit(&c, "detach", &[]);
        }
    }

    /// The event bus the service emits into.
    pub fn events(&self) -> &crate::events::EventBus {
        &self.inner.settings.events
    }
}

impl Inner {
    /// See [`Containers::emit`].
    fn emit(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut ev =
            crate::events::Event::container(&c.id, &c.name, &c.image_ref, &c.labels, action);
        for (k, v) in extra {
            ev.attributes.insert((*k).to_owned(), v.clone());
        }
        self.settings.events.emit(ev);
    }

    fn exec_dir(&self, id: &str) -> PathBuf {
        self.settings.exec_root.join("containers").join(id)
    }

    fn rootfs_dir(&self, id: &str) -> PathBuf {
        self.exec_dir(id).join("rootfs")
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.exec_dir(id).join("bundle")
    }

    fn shim_dir(&self, id: &str) -> PathBuf {
        self.settings.exec_root.join("shims").join(id)
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.store.dir(id).join(format!("{id}-json.log"))
    }

    fn write_bundle(&self, c: &Container, rootfs_mounted: bool) -> Result<()> {
        // At start: the variables of its links (checked before anything
        // is set up).
        let linked = if rootfs_mounted {
            let env = self.env_with_links(&lock(&self.table), c)?;
            (env != c.process.env).then(|| {
                let mut l = c.clone();
                l.process.env = env;
                l
            })
        } else {
            None
        };
        let c = linked.as_ref().unwrap_or(c);
        let rootfs = self.rootfs_dir(&c.id);
        let ctx = spec::SpecContext {
            rootfs: &rootfs,
            cgroups_path: format!(
                "{}/{}",
                self.settings.cgroup_parent.trim_end_matches('/'),
                c.id
            ),
            cgroup_v2: self.settings.cgroup_v2,
            rootfs_mounted,
            // At start: the containers it joins (create holds the table lock).
            joins: if rootfs_mounted {
                security::joins(&lock(&self.table), c, |id| self.exec_dir(id))?
            } else {
                security::Joins::default()
            },
            init: init::wanted(c, self.settings.default_init)
                .then(|| init::host_path(&self.settings.exec_root)),
            // At start: the data path sets the namespace up.
            network: if rootfs_mounted {
                self.network_spec(c)?
            } else {
                datapath::SpecNetns::Fresh
            },
            net_files_dir: rootfs_mounted.then(|| self.store.dir(&c.id)),
        };
        let spec = spec::build(c, &ctx)?;
        let bundle = self.bundle_dir(&c.id);
        fs_err::create_dir_all(&bundle).map_err(|e| store::io(&bundle, e))?;
        let bytes = serde_json::to_vec(&spec).map_err(|e| ContainerError::Internal {
            message: format!("cannot serialise the spec: {e}"),
        })?;
        // The exec root does not outlive a reboot: no fsync.
        store::write_atomic(
            &bundle.join("config.json"),
            &bytes,
            store::Durability::UntilReboot,
        )
    }

    /// `/etc/resolv.conf`, `/etc/hosts`, `/etc/hostname` of `c`, written
    /// into its directory before each start.
    /// After the data path set the network up: on a user network, the
    /// embedded DNS server is started in the container's namespace.
    fn write_resolution_files(&self, c: &Container) -> Result<()> {
        let mut base = networking::Resolution::isolated(self.settings.host_resolv_conf.clone());
        base.host_gateway = self.settings.host_gateway;
        base.links = self.link_hosts(c);
        let endpoints = self
            .datapath
            .get()
            .map(|dp| dp.networks().endpoints_for(&c.id))
            .unwrap_or_default();
        let r = networking::resolution_of(c, &endpoints, base);
        let upstream = networking::write_resolution_files(&self.store.dir(&c.id), c, &r)?;
        if let (Some(dp), true) = (self.datapath.get(), networking::on_user_network(&endpoints)) {
            let names = Arc::new(dp.networks().names_for(&c.id));
            self.dns
                .start(&c.id, &dp.netns_path(&c.id), names, upstream)?;
        }
        self.update_linkers_hosts(c);
        Ok(())
    }

    /// Mounts the root file system, writes the bundle, starts the shim and
    /// the container. Undoes what it did on failure.
    fn start_locked(&self, images: &ImageStore, c: &Container) -> Result<(i32, i32)> {
        // Checked at create; checked here too before anything needs undoing.
        let log = c.options.log_config.driver()?;
        let attrs = log_attrs::attributes(c)?;
        // Host ports first: one in use fails the start with nothing to undo.
        self.ports.reserve(c, &ports::PortMap::new())?;
        let log_path = self.log_path(&c.id);
        let rootfs = self.rootfs_dir(&c.id);
        fs_err::create_dir_all(&rootfs).map_err(|e| store::io(&rootfs, e))?;
        let mounts = images
            .snapshots()
            .mounts(&c.id)
            .map_err(ContainerError::image)?;
        for m in &mounts {
            if let Err(e) = m.mount(&rootfs) {
                for _ in 0..mounts.len() {
                    let _ = Mount::unmount(&rootfs);
                }
                self.ports.release(&c.id);
                return Err(e.into());
            }
        }
        let undo_mounts = || {
            for _ in 0..mounts.len() {
                let _ = Mount::unmount(&rootfs);
            }
        };
        if let Err(e) = self.mount_volumes(c, images) {
            undo_mounts();
            return Err(e);
        }
        let undo_mounts = || {
            self.unmount_volumes(&c.id);
            undo_mounts();
        };
        let state_dir = self.shim_dir(&c.id);
        let _ = fs_err::remove_dir_all(&state_dir);
        let launched = security::mount_shm(c, &self.exec_dir(&c.id))
            .and_then(|()| self.write_bundle(c, true))
            .and_then(|()| self.write_resolution_files(c))
            .and_then(|()| self.publish_ports(c))
            .and_then(|()| {
                shim::spawn(&shim::Launch {
                    binary: &self.settings.shim_path,
                    id: &c.id,
                    bundle: &self.bundle_dir(&c.id),
                    state_dir: &state_dir,
                    runtime_root: &self.settings.exec_root.join("runtime"),
                    log_path: match log {
                        logs::LogDriver::JsonFile { .. } => Some(&log_path),
                        logs::LogDriver::None => None,
                    },
                    log_rotation: match log {
                        logs::LogDriver::JsonFile { max_size, max_file } => (max_size, max_file),
                        logs::LogDriver::None => (0, 1),
                    },
                    log_attrs: &attrs,
                    stdin: c.process.open_stdin,
                    terminal: c.process.tty,
                })
            });
        let (shim_pid, init_pid) = match launched {
            Ok(p) => p,
            Err(e) => {
                let _ = fs_err::remove_dir_all(&state_dir);
                security::release_shm(&self.exec_dir(&c.id));
                self.dns.stop(&c.id);
                self.teardown_network(&c.id);
                undo_mounts();
                self.ports.release(&c.id);
                return Err(e);
            }
        };
        let pending = lock(&self.pending_attach).remove(&c.id).unwrap_or_default();
        for p in pending {
            let _ = p.reply.send(shim::attach(&state_dir, &p.opts));
        }
        if let Err(e) = shim::request(&state_dir, &Request::Start) {
            self.release_runtime(&c.id, shim_pid);
            return Err(e);
        }
        Ok((shim_pid, init_pid))
    }

    /// Tells the shim to delete the container and exit, waits for it to go,
    /// unmounts the root file system and removes the shim's directory.
    /// Errors are ignored: parts may be gone already.
    fn release_runtime(&self, id: &str, shim_pid: i32) {
        let state_dir = self.shim_dir(id);
        if state_dir.exists() {
            let _ = shim::request(&state_dir, &Request::Delete { force: true });
            // The shim exits right after answering; poll from 200 us up
            // to 5 ms so a quick exit is seen quickly.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut pause = Duration::from_micros(200);
            while shim::pid_alive(shim_pid) && Instant::now() < deadline {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
        }
        security::release_shm(&self.exec_dir(id));
        self.dns.stop(id);
        self.teardown_network(id);
        self.ports.release(id);
        let rootfs = self.rootfs_dir(id);
        // Overlay is one mount; unmount until the kernel says it is not one.
        for _ in 0..4 {
            if Mount::unmount(&rootfs).is_err() {
                break;
            }
        }
        self.unmount_volumes(id);
        let _ = fs_err::remove_dir_all(&state_dir);
    }

    /// Takes `id` out of the table, keeping its exit code for waiters.
    fn forget(&self, table: &mut BTreeMap<String, Container>, id: &str) {
        if let Some(c) = table.remove(id) {
            let mut exits = lock(&self.removed_exits);
            if exits.len() >= REMOVED_EXITS_KEPT {
                exits.pop_front();
            }
            exits.push_back((c.id, c.state.exit_code));
        }
    }

    /// Records the exit and releases the runtime resources, once.
    fn finalize(self: &Arc<Self>, id: &str, exit_code: i32, finished_at: String) {
        // Claim it, release the runtime without the table lock, record.
        let (shim_pid, auto_remove, mount_points) = {
            let mut table = lock(&self.table);
            let Some(c) = table.get_mut(id) else {
                return;
            };
            if c.state.status != Status::Running || c.busy {
                return;
            }
            c.busy = true;
            (
                c.state.shim_pid,
                c.options.auto_remove,
                c.mount_points.clone(),
            )
        };
        self.release_runtime(id, shim_pid);
        if auto_remove {
            // Everything goes before anyone waiting for the removal hears
            // of it: anonymous volumes, snapshot, bundle, document and log.
            self.release_volumes_of_removed(id, &mount_points);
            self.remove_auto_removed(id);
        }
        let mut table = lock(&self.table);
        let Some(c) = table.get_mut(id) else {
            return;
        };
        c.busy = false;
        c.state.status = Status::Exited;
        c.state.exit_code = exit_code;
        c.state.finished_at = finished_at;
        c.state.pid = 0;
        c.state.shim_pid = 0;
        c.state.paused = false;
        c.published_ports.clear();
        c.exits += 1;
        // As dockerd: a container's execs go with its process.
        self.execs.forget_container(id);
        self.health_exited(c);
        let exec_duration = exec_seconds(&c.state.started_at, &c.state.finished_at);
        self.emit(
            c,
            "die",
            &[
                ("exitCode", exit_code.to_string()),
                ("execDuration", exec_duration.to_string()),
            ],
        );
        let restart_in = restart::on_exit(c);
        if auto_remove {
            // As dockerd's AutoRemove: the container goes with its exit.
            let gone = c.clone();
            self.forget(&mut table, id);
            self.emit(&gone, "destroy", &[]);
        } else if let Err(e) = self.store.save(c) {
            tracing::error!(id, error = %e, "cannot record a container's exit");
        }
        self.changed.notify_all();
        drop(table);
        if let Some(delay) = restart_in {
            self.schedule_restart(id, delay);
        }
    }

    /// Waits for the container's exit on a thread of its own.
    fn spawn_monitor(this: &Arc<Self>, id: &str) {
        Self::start_health(this, id);
        let inner = Arc::clone(this);
        let id = id.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("monitor-{}", &id[..12.min(id.len())]))
            .stack_size(512 * 1024)
            .spawn(move || inner.monitor(&id));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a container monitor");
        }
    }

    fn monitor(self: &Arc<Self>, id: &str) {
        let state_dir = self.shim_dir(id);
        let outcome = shim::connect(&state_dir).and_then(|mut stream| {
            if let Ok(clone) = stream.try_clone() {
                lock(&self.monitors).insert(id.to_owned(), clone);
            }
            if self.closed.load(Ordering::SeqCst) {
                return Err(ContainerError::ShimGone {
                    message: "closed".into(),
                });
            }
            shim::call(&mut stream, &Request::Wait { exec_id: None })
        });
        lock(&self.monitors).remove(id);
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let (code, at) = match outcome {
            Ok(Reply::Exited(status)) => {
                self.note_oom(id, status.oom_killed);
                (status.exit_code, status.exited_at)
            }
            other => {
                tracing::warn!(id, outcome = ?other, "lost the shim of a running container");
                match shim::read_exit(&state_dir) {
                    Some(status) => {
                        self.note_oom(id, status.oom_killed);
                        (status.exit_code, status.exited_at)
                    }
                    None => (255, berth_image::store::rfc3339_now()),
                }
            }
        };
        self.finalize(id, code, at);
    }

    /// Live restore of one container recorded as running.
    fn restore(self: &Arc<Self>, c: &Container) {
        let state_dir = self.shim_dir(&c.id);
        if shim::pid_alive(c.state.shim_pid) {
            match shim::request(&state_dir, &Request::State) {
                Ok(Reply::State {
                    status:
                        status @ (ShimStatus::Running | ShimStatus::Paused | ShimStatus::Created),
                    ..
                }) => {
                    self.note_paused(&c.id, status == ShimStatus::Paused);
                    // The same host ports as before the daemon restarted.
                    if let Err(e) = self.ports.reserve(c, &c.published_ports) {
                        tracing::warn!(id = %c.id, error = %e, "cannot hold the published ports again");
                    }
                    Self::spawn_monitor(self, &c.id);
                    return;
                }
                Ok(Reply::State {
                    exit: Some(status), ..
                }) => {
                    self.note_oom(&c.id, status.oom_killed);
                    self.finalize(&c.id, status.exit_code, status.exited_at);
                    return;
                }
                other => {
                    tracing::warn!(id = %c.id, outcome = ?other, "shim of a running container does not answer");
                }
            }
        }
        let (code, at) = match shim::read_exit(&state_dir) {
            Some(status) => {
                self.note_oom(&c.id, status.oom_killed);
                (status.exit_code, status.exited_at)
            }
            None => (255, berth_image::store::rfc3339_now()),
        };
        self.finalize(&c.id, code, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merging() {
        let env = merge_env(
            "h",
            true,
            &["PATH=/x".into(), "A=1".into()],
            &["A=2".into(), "B".into()],
        );
        assert_eq!(env, ["PATH=/x", "HOSTNAME=h", "TERM=xterm", "A=2", "B"]);
    }
}
