//! berth's engine: the domain objects and their lifecycle, without HTTP.
//!
//! The principal type is [`Engine`], built from an [`EngineConfig`] (data
//! root, exec root) by the daemon's wiring code. Today it answers the system
//! questions (`system_info`, `version`); containers and images plug in as
//! per-object services next to it, not as methods on one god object. Errors
//! report an [`ErrorClass`] through [`Classify`], which the API layer turns into
//! an HTTP status in exactly one place. Nothing here knows Docker API versions.
//!
//! ```no_run
//! use berth_engine::{Engine, EngineConfig};
//! let engine = Engine::open(EngineConfig::new("/var/lib/berth", "/run/berth")).unwrap();
//! println!("{} CPUs", engine.system_info().host.ncpu);
//! ```

pub mod build;
pub mod container;
mod error;
pub mod events;
pub(crate) mod go;
pub mod host;
pub mod image;
mod netconfig;
pub mod network;
pub mod prune;
pub mod system;
pub mod volume;

use std::path::{Path, PathBuf};

pub use error::{Classify, EngineError, ErrorClass};
pub use host::{CgroupInfo, CgroupVersion, HostInfo, HostPaths};
pub use netconfig::{
    NetworkConfig, check_bridge_name, check_nft_table, parse_bip, parse_fixed_cidr_v6,
};
pub use system::{BuildInfo, ContainerCounts, RuntimeInfo, SystemInfo, VersionInfo};

/// How an engine is set up; the daemon fills it from its flags.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state (`/var/lib/berth`): content, snapshots, object JSON.
    pub data_root: PathBuf,
    /// Runtime state that dies with a reboot (`/run/berth`): shim sockets, netns.
    pub exec_root: PathBuf,
    /// Reported as `Debug` in `/info`.
    pub debug: bool,
    /// What berthd was built from; reported by `/version`.
    pub build: BuildInfo,
    /// The OCI runtime binary containers are started with.
    pub runtime_path: PathBuf,
    /// Where host facts are read from (`/proc`, `/sys`, `/etc`); tests point it
    /// at a fixture.
    pub host_paths: HostPaths,
    /// The `berth-shim` binary (default: next to the running executable).
    pub shim_path: PathBuf,
    /// Containers' cgroups are `<cgroup_parent>/<id>` (dockerd: `/docker`).
    pub cgroup_parent: String,
    /// Run containers under `berth-init` unless they say (berthd's `--init`).
    pub default_init: bool,
    /// The host resolver file containers' resolv.conf is based on (berthd's
    /// `--host-resolv-conf`); `None`: `/etc/resolv.conf`, or
    /// systemd-resolved's upstream list when that only names its stub.
    pub host_resolv_conf: Option<PathBuf>,
    /// The default bridge, the nftables table and IP forwarding (berthd's
    /// `--bridge`, `--bip`, `--nft-table`, `--ip-forward`).
    pub network: NetworkConfig,
}

impl EngineConfig {
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> Self {
        Self {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            debug: false,
            build: BuildInfo::default(),
            runtime_path: PathBuf::from(system::DEFAULT_RUNTIME),
            host_paths: HostPaths::default(),
            shim_path: default_shim_path(),
            cgroup_parent: "/berth".to_owned(),
            default_init: false,
            host_resolv_conf: None,
            network: NetworkConfig::default(),
        }
    }
}

/// `berth-shim` next to the running executable (berthd), else from `PATH`.
fn default_shim_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("berth-shim")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("berth-shim"))
}

/// The engine: owns the data root and exec root.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    id: String,
    images: image::ImageService,
    containers: container::Containers,
    volumes: std::sync::Arc<volume::Volumes>,
    networks: network::Networks,
    events: events::EventBus,
    /// Held for the engine's life; declared last so it is released after
    /// the services above are dropped.
    _data_root_lock: berth_image::store::DataRootLock,
}

impl Engine {
    /// Creates the data root (0710, as dockerd) and exec root (0711) if they
    /// are missing, and loads or creates the engine ID.
    pub fn open(config: EngineConfig) -> Result<Self, EngineError> {
        create_private_dir(&config.data_root, 0o710)?;
        // Before anything reads or repairs the data root: a second daemon
        // on it would garbage-collect the first one's work in progress.
        let data_root_lock = berth_image::store::DataRootLock::acquire(&config.data_root)
            .map_err(|e| EngineError::Image(e.into()))?;
        // 0711, not 0700: the API socket lives in the exec root by default, and
        // members of the `berth` group must be able to reach it (the socket
        // itself is 0660). Nothing here is listable by them.
        create_private_dir(&config.exec_root, 0o711)?;
        let id = system::load_or_create_engine_id(&config.data_root)?;
        let events = events::EventBus::new();
        let images = image::ImageService::open(&config.data_root)
            .map_err(EngineError::Image)?
            .with_events(events.clone());
        let cgroup_v2 = config.host_paths.cgroup_info().version == CgroupVersion::V2;
        let containers = container::Containers::open(container::Settings {
            data_root: config.data_root.clone(),
            exec_root: config.exec_root.clone(),
            shim_path: config.shim_path.clone(),
            cgroup_parent: config.cgroup_parent.clone(),
            cgroup_v2,
            events: events.clone(),
            default_init: config.default_init,
            host_resolv_conf: config
                .host_resolv_conf
                .clone()
                .unwrap_or_else(|| container::networking::host_resolv_conf(&config.host_paths.etc)),
            host_gateway: Some(std::net::IpAddr::V4(config.network.bip.addr())),
        })
        .map_err(|e| EngineError::Containers(Box::new(e)))?;
        containers.remove_orphan_snapshots(images.store());
        containers.set_image_store(&images.shared_store());
        containers.finish_interrupted_removals(images.store());
        let volumes = std::sync::Arc::new(
            volume::Volumes::open(&config.data_root)
                .map_err(EngineError::Volumes)?
                .with_events(events.clone()),
        );
        volumes.set_usage(std::sync::Arc::new(containers.volume_usage_check()));
        containers.set_volumes(volumes.clone());
        let networks = network::Networks::open(network::Settings {
            data_root: config.data_root.clone(),
            default_bridge: config.network.bridge.clone(),
            default_bip: config.network.bip,
            default_ipv6: config.network.ipv6.then_some(config.network.fixed_cidr_v6),
            events: events.clone(),
        })
        .map_err(|e| EngineError::Networks(Box::new(e)))?;
        {
            let running: std::collections::BTreeSet<String> = containers
                .list()
                .into_iter()
                .filter(|c| c.state.status == container::Status::Running)
                .map(|c| c.id)
                .collect();
            networks.release_stale(&|id| running.contains(id));
            // The kernel side: stale namespaces go, the nftables table is
            // rebuilt for the running containers' networks.
            let datapath = container::datapath::DataPath::open(
                &config.exec_root,
                &config.network,
                networks.clone(),
                &running,
            )
            .map_err(|e| EngineError::Containers(Box::new(e)))?;
            let datapath = std::sync::Arc::new(datapath);
            containers.set_datapath(std::sync::Arc::clone(&datapath));
            networks.set_on_remove(network::RemoveHook(std::sync::Arc::new(move |n| {
                datapath.remove_network(&n.id, &n.bridge_name);
            })));
        }
        containers.restart_at_boot();
        let used_by = containers.usage_check();
        images.set_usage(std::sync::Arc::new(move |id| used_by(&id.to_string())));
        Ok(Self {
            config,
            id,
            images,
            containers,
            networks,
            volumes,
            events,
            _data_root_lock: data_root_lock,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The engine's stable identity (a UUID kept in `<data-root>/engine-id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The image service.
    pub fn images(&self) -> &image::ImageService {
        &self.images
    }

    /// The container service (bound to the image service's store).
    pub fn containers(&self) -> container::ContainerService<'_> {
        container::ContainerService::new(&self.containers, self.images.store())
    }

    /// The network service (networks, their addresses, containers' endpoints).
    pub fn networks(&self) -> &network::Networks {
        &self.networks
    }

    /// The volume service (`docker volume ...`).
    pub fn volumes(&self) -> &volume::Volumes {
        &self.volumes
    }

    /// The event bus (`GET /events`); every service emits into it.
    pub fn events(&self) -> &events::EventBus {
        &self.events
    }

    /// What `/info` reports: object counts (zero until containers and images
    /// land), host facts read now, storage and runtime configuration.
    pub fn system_info(&self) -> SystemInfo {
        system::collect_info(self)
    }

    /// What `/version` reports.
    pub fn version(&self) -> VersionInfo {
        system::collect_version(&self.config)
    }
}

/// Creates `path` with `mode` if it is missing. An existing directory keeps
/// its mode: it may be one the admin pointed us at on purpose (or a shared
/// one such as `/tmp`), which is not ours to chmod.
fn create_private_dir(path: &Path, mode: u32) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;

    if !path.is_dir() {
        fs_err::create_dir_all(path).map_err(EngineError::Io)?;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(EngineError::Io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_roots_and_keeps_the_id() {
        use std::os::unix::fs::PermissionsExt;

        let tmp = tempfile::tempdir().unwrap();
        let config = EngineConfig::new(tmp.path().join("data"), tmp.path().join("exec"));
        let first = Engine::open(config.clone()).unwrap();
        let mode = fs_err::metadata(tmp.path().join("data"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o710);
        assert!(tmp.path().join("exec").is_dir());
        assert_eq!(first.id().len(), 36, "UUID form: {}", first.id());
        // One engine per data root at a time.
        let err = Engine::open(config.clone()).unwrap_err().to_string();
        assert!(err.contains("is in use by another daemon"), "{err}");
        let first_id = first.id().to_owned();
        drop(first);
        let second = Engine::open(config).unwrap();
        assert_eq!(first_id, second.id());
    }

    #[test]
    fn system_info_reports_the_data_root_and_zero_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig::new(
            tmp.path().join("d"),
            tmp.path().join("e"),
        ))
        .unwrap();
        let info = engine.system_info();
        assert_eq!(info.data_root, tmp.path().join("d"));
        assert_eq!(info.containers, ContainerCounts::default());
        assert_eq!(info.storage_driver, "overlay2");
        assert!(info.host.ncpu >= 1);
        assert!(info.host.mem_total > 0);
        assert!(!info.host.kernel_version.is_empty());
    }
}
