//! Networks: Docker's network objects (`bridge`, `host`, `none` and user
//! networks) and the endpoints of containers on them, over `berth-net`.
//!
//! One JSON document per network, `<data-root>/networks/<id>.json`, written
//! atomically; it holds the network's subnets with their allocated
//! addresses ([`berth_net::ipam::Pool`]) and the endpoints of the running
//! containers on it, so neither an address nor an endpoint is lost or
//! handed out twice across a daemon restart. Container starts and stops
//! update only `networks/runtime/<id>.json` (no fsync: see [`runtime`]),
//! which takes precedence when the daemon starts.
//!
//! What a container asks for ([`ContainerNetworks`]: the mode and one
//! [`EndpointConfig`] per network) is stored on the container. Addresses
//! are taken when the container starts ([`Networks::attach`], which
//! returns the [`Endpoint`]s the data path plugs in) and given back when
//! it stops ([`Networks::detach`]), as in docker: a stopped container
//! holds no address, and `network rm` is refused only while a running
//! container is on the network.

mod glue;
mod ipv6only;
pub mod model;
mod names;
mod runtime;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_net::ipam::{self, IpamError, Pool};
use berth_net::ipnet::{IpNet, Ipv4Net, Ipv6Net};
pub use model::{
    ActiveEndpoint, ContainerNetworks, CreateRequest, DRIVER_BRIDGE, DRIVER_HOST, DRIVER_NULL,
    Endpoint, EndpointConfig, IpamRequest, Network, OPT_BRIDGE_NAME,
};

use crate::error::{Classify, ErrorClass};
use crate::events::{Event, EventBus, EventType};

/// Errors of network operations, with docker's messages.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    NameInUse(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Ipam(#[from] IpamError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

impl Classify for NetworkError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound(_) => ErrorClass::NotFound,
            Self::NameInUse(_) | Self::Conflict(_) | Self::Forbidden(_) => ErrorClass::Conflict,
            Self::InvalidArgument(_) => ErrorClass::InvalidArgument,
            Self::Ipam(e) => match e {
                IpamError::InUse(_) | IpamError::Exhausted { .. } | IpamError::NoFreeSubnet => {
                    ErrorClass::Conflict
                }
                _ => ErrorClass::InvalidArgument,
            },
            Self::Io { .. } | Self::Internal(_) => ErrorClass::Internal,
        }
    }
}

type Result<T, E = NetworkError> = std::result::Result<T, E>;

fn io(path: &Path, source: std::io::Error) -> NetworkError {
    NetworkError::Io {
        path: path.to_owned(),
        source,
    }
}

/// How the network service is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_root: PathBuf,
    /// The built-in `bridge` network's Linux bridge (berthd's `--bridge`).
    pub default_bridge: String,
    /// Its gateway and prefix (berthd's `--bip`).
    pub default_bip: Ipv4Net,
    /// IPv6 on it (berthd's `--ipv6`): `Some(Some(subnet))` with
    /// `--fixed-cidr-v6`, `Some(None)` for a ULA /64 picked once and kept.
    pub default_ipv6: Option<Option<Ipv6Net>>,
    pub events: EventBus,
}

/// The network service; cheap to clone (one shared table).
#[derive(Debug, Clone)]
pub struct Networks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    table: Mutex<BTreeMap<String, Network>>,
    events: EventBus,
    /// Called after a network is removed (`network rm`, `prune`): the data
    /// path deletes its bridge and nftables rules.
    on_remove: std::sync::OnceLock<RemoveHook>,
}

/// What runs after a network is removed.
#[derive(Clone)]
pub struct RemoveHook(pub Arc<dyn Fn(&Network) + Send + Sync>);

impl std::fmt::Debug for RemoveHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoveHook")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Names docker reserves for its built-in networks.
const BUILTIN_NAMES: [&str; 3] = ["bridge", "host", "none"];

impl Networks {
    /// Loads the stored networks and makes sure `bridge`, `host` and
    /// `none` exist; the `bridge` network follows `--bridge`/`--bip` (a
    /// changed `--bip` moves its subnet, as dockerd does).
    pub fn open(settings: Settings) -> Result<Self> {
        let dir = settings.data_root.join("networks");
        fs_err::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let mut table = BTreeMap::new();
        for entry in fs_err::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                // An interrupted atomic write.
                let _ = fs_err::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let bytes = fs_err::read(&path).map_err(|e| io(&path, e))?;
            match serde_json::from_slice::<Network>(&bytes) {
                Ok(n) => {
                    table.insert(n.id.clone(), n);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable network document");
                }
            }
        }
        // Endpoints and allocations as of the last container start or stop.
        for net in table.values_mut() {
            runtime::load(&dir, net);
        }
        runtime::sweep(&dir, &|id| table.contains_key(id));
        let inner = Arc::new(Inner {
            dir,
            table: Mutex::new(table),
            events: settings.events,
            on_remove: std::sync::OnceLock::new(),
        });
        let me = Self { inner };
        me.ensure_builtins(
            &settings.default_bridge,
            settings.default_bip,
            settings.default_ipv6,
        )?;
        Ok(me)
    }

    fn ensure_builtins(
        &self,
        bridge: &str,
        bip: Ipv4Net,
        ipv6: Option<Option<Ipv6Net>>,
    ) -> Result<()> {
        let mut table = lock(&self.inner.table);
        let subnet = IpNet::V4(bip.trunc());
        let gateway = IpAddr::V4(bip.addr());
        for (name, driver) in [
            ("bridge", DRIVER_BRIDGE),
            ("host", DRIVER_HOST),
            ("none", DRIVER_NULL),
        ] {
            let existing = table.values().find(|n| n.name == name).cloned();
            let mut net = match existing {
                Some(n) => n,
                None => Network {
                    id: new_id()?,
                    name: name.to_owned(),
                    created: rfc3339_nanos(),
                    driver: driver.to_owned(),
                    enable_ipv6: false,
                    enable_ipv4: true,
                    internal: false,
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    ipam_driver: "default".to_owned(),
                    ipam_options: BTreeMap::new(),
                    pools: Vec::new(),
                    user_subnets: false,
                    bridge_name: String::new(),
                    builtin: true,
                    endpoints: BTreeMap::new(),
                },
            };
            let before = net.clone();
            if name == "bridge" {
                net.bridge_name = bridge.to_owned();
                net.options = default_bridge_options(bridge);
                let same = net
                    .v4()
                    .is_some_and(|p| p.subnet == subnet && p.gateway == gateway);
                if !same {
                    net.pools = vec![Pool::new(subnet, None, Some(gateway))?];
                    net.endpoints.clear();
                }
                let have6 = net.v6().map(|p| p.subnet);
                let want6 = match ipv6 {
                    None => None,
                    Some(Some(fixed)) => Some(IpNet::V6(fixed)),
                    // A ULA picked before stays.
                    Some(None) if have6.is_some() => have6,
                    Some(None) => {
                        let used: Vec<IpNet> = table
                            .values()
                            .filter(|n| n.id != net.id)
                            .flat_map(|n| n.pools.iter().map(|p| p.subnet))
                            .collect();
                        Some(IpNet::V6(ipam::pick_ula_subnet(&net.id, &used)?))
                    }
                };
                if want6 != have6 {
                    net.pools.retain(|p| p.subnet.addr().is_ipv4());
                    if let Some(s6) = want6 {
                        net.pools.push(Pool::new(s6, None, None)?);
                    }
                    net.endpoints.clear();
                }
                net.enable_ipv6 = want6.is_some();
            }
            if net != before || !self.inner.path(&net.id).is_file() {
                self.inner.save(&net)?;
            }
            table.insert(net.id.clone(), net);
        }
        Ok(())
    }

    /// Every network, sorted by name.
    pub fn list(&self) -> Vec<Network> {
        let mut all: Vec<Network> = lock(&self.inner.table).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// A network by full ID, full name, or unique ID prefix (docker's order).
    pub fn get(&self, id_or_name: &str) -> Result<Network> {
        let table = lock(&self.inner.table);
        resolve(&table, id_or_name).cloned()
    }

    /// `network create`.
    pub fn create(&self, req: CreateRequest) -> Result<Network> {
        let name = req.name.trim().to_owned();
        if name.is_empty() {
            return Err(NetworkError::InvalidArgument(
                "a network needs a name: give one, as in `network create NAME`".into(),
            ));
        }
        if !valid_name(&name) {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid network name \"{name}\", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let driver = if req.driver.is_empty() {
            DRIVER_BRIDGE.to_owned()
        } else {
            req.driver.clone()
        };
        if driver == DRIVER_HOST || driver == DRIVER_NULL {
            return Err(NetworkError::Forbidden(format!(
                "only one instance of \"{driver}\" network is allowed"
            )));
        }
        if driver != DRIVER_BRIDGE {
            return Err(NetworkError::InvalidArgument(format!(
                "network driver \"{driver}\" is not supported: berth has the \"bridge\" driver only"
            )));
        }
        let ipam_driver = if req.ipam_driver.is_empty() {
            "default".to_owned()
        } else {
            req.ipam_driver.clone()
        };
        if ipam_driver != "default" {
            return Err(NetworkError::InvalidArgument(format!(
                "IPAM driver \"{ipam_driver}\" is not supported: berth has the \"default\" IPAM driver only"
            )));
        }
        if let Some(bridge) = req.options.get(OPT_BRIDGE_NAME) {
            check_bridge_name(bridge)?;
        }
        let enable_ipv4 = ipv6only::enable_ipv4(&req)?;
        let mut table = lock(&self.inner.table);
        if BUILTIN_NAMES.contains(&name.as_str()) {
            return Err(NetworkError::Forbidden(format!(
                "{name} is a pre-defined network and cannot be created"
            )));
        }
        if table.values().any(|n| n.name == name) {
            return Err(NetworkError::NameInUse(name));
        }
        let id = new_id()?;
        let used: Vec<IpNet> = table
            .values()
            .flat_map(|n| n.pools.iter().map(|p| p.subnet))
            .collect();
        let mut pools = Vec::new();
        let user_subnets = req.ipam.iter().any(|c| !c.subnet.is_empty());
        for cfg in &req.ipam {
            if cfg.subnet.is_empty() {
                if !cfg.ip_range.is_empty()
                    || !cfg.gateway.is_empty()
                    || !cfg.aux_addresses.is_empty()
                {
                    return Err(NetworkError::InvalidArgument(
                        "--ip-range, --gateway and --aux-address need a --subnet they belong to"
                            .into(),
                    ));
                }
                continue;
            }
            let subnet = ipam::parse_subnet(&cfg.subnet)?;
            let range = if cfg.ip_range.is_empty() {
                None
            } else {
                Some(ipam::parse_subnet(&cfg.ip_range)?)
            };
            let gateway = if cfg.gateway.is_empty() {
                None
            } else {
                Some(ipam::parse_addr(&cfg.gateway)?)
            };
            let overlapping = used
                .iter()
                .chain(pools.iter().map(|p: &Pool| &p.subnet))
                .any(|u| ipam::overlaps(u, &subnet));
            if overlapping {
                return Err(NetworkError::Forbidden(
                    "invalid pool request: Pool overlaps with other one on this address space"
                        .into(),
                ));
            }
            if subnet.addr().is_ipv6() && !req.enable_ipv6 {
                return Err(NetworkError::InvalidArgument(format!(
                    "an IPv6 subnet ({subnet}) needs IPv6 turned on: add --ipv6"
                )));
            }
            ipv6only::check_subnet(enable_ipv4, &subnet)?;
            if pools
                .iter()
                .any(|p: &Pool| p.subnet.addr().is_ipv4() == subnet.addr().is_ipv4())
            {
                return Err(NetworkError::InvalidArgument(format!(
                    "berth networks have one IPv4 and one IPv6 subnet at most; {subnet} is one too many"
                )));
            }
            let mut pool = Pool::new(subnet, range, gateway)?;
            for (aux_name, text) in &cfg.aux_addresses {
                let ip = text.parse::<IpAddr>().map_err(|_| {
                    NetworkError::InvalidArgument(format!(
                        "non parsable secondary ip address ({aux_name}:{text}) passed for network {name}"
                    ))
                })?;
                pool.reserve_aux(aux_name, ip)?;
            }
            pools.push(pool);
        }
        // dockerd keeps IPv4 and IPv6 configs apart and lists IPv4 first,
        // whatever the request's order (the docker CLI sends its --subnet
        // flags in Go map order, which varies from run to run).
        pools.sort_by_key(|p| p.subnet.addr().is_ipv6());
        if enable_ipv4 && !pools.iter().any(|p| p.subnet.addr().is_ipv4()) {
            let mut avoid = used.clone();
            avoid.extend(ipam::host_routes());
            let subnet = ipam::pick_subnet(&avoid)?;
            pools.insert(0, Pool::new(IpNet::V4(subnet), None, None)?);
        }
        if req.enable_ipv6 && !pools.iter().any(|p| p.subnet.addr().is_ipv6()) {
            let subnet = ipam::pick_ula_subnet(&id, &used)?;
            pools.push(Pool::new(IpNet::V6(subnet), None, None)?);
        }
        let bridge_name = req
            .options
            .get(OPT_BRIDGE_NAME)
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if table.values().any(|n| n.bridge_name == bridge_name) {
            return Err(NetworkError::Forbidden(format!(
                "bridge name {bridge_name} is already used by another network: choose another with -o {OPT_BRIDGE_NAME}=NAME"
            )));
        }
        let net = Network {
            id: id.clone(),
            name,
            created: rfc3339_nanos(),
            driver,
            enable_ipv6: req.enable_ipv6,
            enable_ipv4,
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: ipv6only::options(req.enable_ipv4, req.options),
            ipam_driver,
            ipam_options: req.ipam_options,
            pools,
            user_subnets,
            bridge_name,
            builtin: false,
            endpoints: BTreeMap::new(),
        };
        self.inner.save(&net)?;
        table.insert(id, net.clone());
        drop(table);
        self.inner.emit(&net, "create", &[]);
        Ok(net)
    }

    /// `network rm`: refused for the built-in networks and while a running
    /// container is on the network.
    pub fn remove(&self, id_or_name: &str) -> Result<Network> {
        let mut table = lock(&self.inner.table);
        let net = resolve(&table, id_or_name)?.clone();
        if net.builtin {
            return Err(NetworkError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        if let Some((cid, ep)) = net.endpoints.iter().next() {
            return Err(NetworkError::Forbidden(format!(
                "error while removing network: network {} has active endpoints (name:\"{}\" id:\"{}\")",
                net.name,
                ep.name,
                &cid[..cid.len().min(12)]
            )));
        }
        let path = self.inner.path(&net.id);
        match fs_err::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path, e)),
        }
        runtime::remove(&self.inner.dir, &net.id);
        table.remove(&net.id);
        drop(table);
        if let Some(hook) = self.inner.on_remove.get() {
            (hook.0)(&net);
        }
        self.inner.emit(&net, "destroy", &[]);
        Ok(net)
    }

    /// Sets what runs after a network is removed (once).
    pub fn set_on_remove(&self, hook: RemoveHook) {
        let _ = self.inner.on_remove.set(hook);
    }

    /// Checks what a container asks for at create (or connect) and fills
    /// in the networks' canonical names and IDs: the networks exist, an
    /// address is asked for only on a user network with its own subnet,
    /// aliases only on user networks, `host`/`none` alone.
    pub fn check_container(&self, cfg: &mut ContainerNetworks) -> Result<()> {
        let mode = cfg.mode_name().to_owned();
        if mode.starts_with("container:") {
            if cfg.endpoints.values().any(|e| !e.mac_address.is_empty()) {
                return Err(mac_conflict());
            }
            if mode.len() == "container:".len() {
                return Err(NetworkError::InvalidArgument(
                    "--network container: needs the name or ID of the container whose network to join"
                        .into(),
                ));
            }
            cfg.endpoints.clear();
            return Ok(());
        }
        let table = lock(&self.inner.table);
        // As dockerd: a network that does not exist (yet) is not an error
        // at create; the start fails with "network X not found".
        let primary = match resolve(&table, &mode) {
            Ok(n) => n.clone(),
            Err(NetworkError::NotFound(_)) => {
                cfg.endpoints.entry(mode).or_default();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let raw = std::mem::take(&mut cfg.mode);
        // The API layer stores an empty mode and `default` as `bridge`, as
        // dockerd 25+; any other caller's empty mode is kept as `default`.
        cfg.mode = match raw.as_str() {
            "" | "default" => "default".to_owned(),
            _ => primary.name.clone(),
        };
        let mut out = BTreeMap::new();
        let mut missing = BTreeMap::new();
        let mut asked = std::mem::take(&mut cfg.endpoints);
        // The primary network's settings may have come under its ID or name.
        let primary_cfg = asked
            .remove(&raw)
            .or_else(|| asked.remove(&mode))
            .or_else(|| asked.remove(&primary.name))
            .or_else(|| asked.remove(&primary.id))
            .unwrap_or_default();
        out.insert(primary.name.clone(), (primary.clone(), primary_cfg));
        for (key, ep) in asked {
            match resolve(&table, &key) {
                Ok(net) => {
                    out.insert(net.name.clone(), (net.clone(), ep));
                }
                Err(NetworkError::NotFound(_)) => {
                    missing.insert(key, ep);
                }
                Err(e) => return Err(e),
            }
        }
        let private = |n: &Network| n.driver != DRIVER_HOST && n.driver != DRIVER_NULL;
        if out.len() > 1 && out.values().any(|(n, _)| !private(n)) {
            let msg = if out.values().any(|(n, _)| n.driver == DRIVER_HOST) {
                "container sharing network namespace with another container or host cannot be connected to any other network"
            } else {
                "container cannot be connected to multiple networks with one of the networks in private (none) mode"
            };
            return Err(NetworkError::InvalidArgument(msg.into()));
        }
        for (name, (net, mut ep)) in out {
            check_endpoint(&net, &ep)?;
            ep.network_id.clone_from(&net.id);
            cfg.endpoints.insert(name, ep);
        }
        cfg.endpoints.extend(missing);
        Ok(())
    }

    /// Checks one more network for a container (`network connect`): it
    /// must not be on it already, and host/none mix with nothing.
    pub fn check_connect(
        &self,
        cfg: &ContainerNetworks,
        network: &str,
        ep: &EndpointConfig,
    ) -> Result<Network> {
        let table = lock(&self.inner.table);
        let net = resolve(&table, network)?.clone();
        drop(table);
        if cfg.joined_container().is_some() {
            return Err(NetworkError::Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        let mode = cfg.mode_name();
        if net.driver == DRIVER_HOST || mode == "host" {
            return Err(NetworkError::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        if net.driver == DRIVER_NULL || mode == "none" {
            return Err(NetworkError::Forbidden(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
            ));
        }
        check_endpoint(&net, ep)?;
        Ok(net)
    }

    /// Takes the addresses of a starting container on each of its networks
    /// and records its endpoints; returns them for the data path. A
    /// container already attached keeps its endpoints (and addresses). On
    /// an error nothing stays taken.
    pub fn attach(
        &self,
        container_id: &str,
        container_name: &str,
        cfg: &ContainerNetworks,
    ) -> Result<Vec<Endpoint>> {
        if cfg.joined_container().is_some() {
            return Ok(Vec::new());
        }
        let mut done: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for (name, ep) in &cfg.endpoints {
            let key = if ep.network_id.is_empty() {
                name
            } else {
                &ep.network_id
            };
            match self.attach_one(container_id, container_name, key, ep) {
                Ok((endpoint, fresh)) => {
                    if fresh {
                        done.push(endpoint.network_id.clone());
                    }
                    out.push(endpoint);
                }
                Err(e) => {
                    for id in done {
                        let _ = self.detach_one(container_id, &id);
                    }
                    return Err(match e {
                        NetworkError::NotFound(_) => NetworkError::NotFound(name.clone()),
                        e => e,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Attaches a container to one network; `true` if the endpoint is new.
    pub fn attach_one(
        &self,
        container_id: &str,
        container_name: &str,
        network: &str,
        ep: &EndpointConfig,
    ) -> Result<(Endpoint, bool)> {
        let mut table = lock(&self.inner.table);
        let id = resolve(&table, network)?.id.clone();
        let net = table
            .get_mut(&id)
            .ok_or_else(|| NetworkError::NotFound(network.to_owned()))?;
        if let Some(active) = net.endpoints.get(container_id) {
            return Ok((endpoint_of(net, active), false));
        }
        let mut updated = net.clone();
        let mut ipv4 = None;
        let mut ipv6 = None;
        let mut mac = String::new();
        if updated.driver == DRIVER_BRIDGE {
            for pool in &mut updated.pools {
                let requested = if pool.subnet.addr().is_ipv4() {
                    ep.ipv4_address
                } else {
                    ep.ipv6_address
                };
                let ip = pool.allocate(requested)?;
                if ip.is_ipv4() {
                    ipv4 = Some(ip);
                } else {
                    ipv6 = Some(ip);
                }
            }
            mac = endpoint_mac(ep)?;
        }
        let mut aliases = ep.aliases.clone();
        if !updated.builtin {
            // docker adds the short ID as an alias on user networks.
            let short = &container_id[..container_id.len().min(12)];
            if !aliases.iter().any(|a| a == short) {
                aliases.push(short.to_owned());
            }
        }
        let active = ActiveEndpoint {
            endpoint_id: new_id()?,
            name: container_name.trim_start_matches('/').to_owned(),
            ipv4,
            ipv6,
            mac,
            aliases,
            links: if updated.builtin {
                BTreeMap::new()
            } else {
                crate::container::links::dns_links(&ep.links)
            },
            gw_priority: ep.gw_priority,
        };
        updated
            .endpoints
            .insert(container_id.to_owned(), active.clone());
        self.inner.save_runtime(&updated)?;
        *net = updated;
        let endpoint = endpoint_of(net, &active);
        let snapshot = net.clone();
        drop(table);
        self.inner.emit(
            &snapshot,
            "connect",
            &[("container", container_id.to_owned())],
        );
        Ok((endpoint, true))
    }

    /// Gives back a stopped (or removed) container's addresses on every
    /// network and forgets its endpoints.
    pub fn detach(&self, container_id: &str) {
        let ids: Vec<String> = lock(&self.inner.table)
            .values()
            .filter(|n| n.endpoints.contains_key(container_id))
            .map(|n| n.id.clone())
            .collect();
        for id in ids {
            if let Err(e) = self.detach_one(container_id, &id) {
                tracing::warn!(container = container_id, network = id, error = %e, "cannot release a container's endpoint");
            }
        }
    }

    /// Gives back a container's addresses on one network; `false` if it
    /// had no endpoint there.
    pub fn detach_one(&self, container_id: &str, network: &str) -> Result<bool> {
        let mut table = lock(&self.inner.table);
        let id = resolve(&table, network)?.id.clone();
        let Some(net) = table.get_mut(&id) else {
            return Ok(false);
        };
        let Some(active) = net.endpoints.get(container_id).cloned() else {
            return Ok(false);
        };
        let mut updated = net.clone();
        updated.endpoints.remove(container_id);
        for ip in [active.ipv4, active.ipv6].into_iter().flatten() {
            for pool in &mut updated.pools {
                if pool.subnet.contains(&ip) {
                    pool.release(ip);
                }
            }
        }
        self.inner.save_runtime(&updated)?;
        *net = updated;
        let snapshot = net.clone();
        drop(table);
        self.inner.emit(
            &snapshot,
            "disconnect",
            &[("container", container_id.to_owned())],
        );
        Ok(true)
    }

    /// The endpoints a container has now (it is running), one per network.
    pub fn endpoints_for(&self, container_id: &str) -> Vec<Endpoint> {
        lock(&self.inner.table)
            .values()
            .filter_map(|n| n.endpoints.get(container_id).map(|a| endpoint_of(n, a)))
            .collect()
    }

    /// After a daemon restart: releases the endpoints of containers that
    /// are no longer running (`running` says which are).
    pub fn release_stale(&self, running: &dyn Fn(&str) -> bool) {
        let stale: Vec<String> = lock(&self.inner.table)
            .values()
            .flat_map(|n| n.endpoints.keys().cloned())
            .filter(|c| !running(c))
            .collect();
        for c in stale {
            self.detach(&c);
        }
    }

    /// `network prune`: removes the user networks without endpoints that
    /// `keep` does not hold on to; returns their names.
    pub fn prune(&self, keep: &dyn Fn(&Network) -> bool) -> Vec<String> {
        let candidates: Vec<Network> = self
            .list()
            .into_iter()
            .filter(|n| !n.builtin && n.endpoints.is_empty() && !keep(n))
            .collect();
        let mut out = Vec::new();
        for n in candidates {
            match self.remove(&n.id) {
                Ok(net) => out.push(net.name),
                Err(e) => tracing::debug!(network = n.name, error = %e, "prune skips a network"),
            }
        }
        out
    }
}

/// docker's default bridge's options.
fn default_bridge_options(bridge: &str) -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.enable_ip_masquerade", "true"),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
        (OPT_BRIDGE_NAME, bridge),
        ("com.docker.network.driver.mtu", "1500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// dockerd's refusal of a MAC address on `host`, `none` or
/// `container:X`, which give the container no interface of its own.
fn mac_conflict() -> NetworkError {
    NetworkError::InvalidArgument("conflicting options: mac-address and the network mode".into())
}

/// The MAC address of a new endpoint: the one asked for, or (docker 28) a
/// random one, made again at every start.
fn endpoint_mac(ep: &EndpointConfig) -> Result<String> {
    if !ep.mac_address.is_empty() {
        return Ok(ep.mac_address.clone());
    }
    let mac = berth_net::link::random_mac().map_err(|e| io(Path::new("/dev/urandom"), e))?;
    Ok(berth_net::link::format_mac(mac))
}

fn check_endpoint(net: &Network, ep: &EndpointConfig) -> Result<()> {
    if !ep.mac_address.is_empty() {
        if net.driver != DRIVER_BRIDGE {
            return Err(mac_conflict());
        }
        if berth_net::link::parse_mac(&ep.mac_address).is_none() {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid MAC address {}",
                ep.mac_address
            )));
        }
    }
    let wants_ip = ep.ipv4_address.is_some() || ep.ipv6_address.is_some();
    if net.builtin {
        if wants_ip {
            return Err(NetworkError::InvalidArgument(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if !ep.aliases.is_empty() {
            return Err(NetworkError::InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        return Ok(());
    }
    for l in &ep.links {
        crate::container::links::parse_link(l).map_err(NetworkError::InvalidArgument)?;
    }
    if wants_ip && !net.user_subnets {
        return Err(NetworkError::InvalidArgument(
            "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
        ));
    }
    ipv6only::check_endpoint(net, ep)?;
    if let Some(ip) = ep.ipv4_address {
        if !ip.is_ipv4() {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid IPv4 address: {ip}"
            )));
        }
        let inside = net.v4().is_some_and(|p| p.subnet.contains(&ip));
        if !inside {
            return Err(IpamError::NotInPool(ip).into());
        }
    }
    if let Some(ip) = ep.ipv6_address {
        let inside = net.v6().is_some_and(|p| p.subnet.contains(&ip));
        if !ip.is_ipv6() || !inside {
            return Err(IpamError::NotInPool(ip).into());
        }
    }
    Ok(())
}

fn endpoint_of(net: &Network, a: &ActiveEndpoint) -> Endpoint {
    Endpoint {
        network_id: net.id.clone(),
        network_name: net.name.clone(),
        driver: net.driver.clone(),
        bridge_name: net.bridge_name.clone(),
        internal: net.internal,
        endpoint_id: a.endpoint_id.clone(),
        subnet: net.v4().map(|p| p.subnet),
        gateway: net.v4().map(|p| p.gateway),
        address: a.ipv4,
        subnet6: net.v6().map(|p| p.subnet),
        gateway6: net.v6().map(|p| p.gateway),
        address6: a.ipv6,
        mac: a.mac.clone(),
        aliases: a.aliases.clone(),
        options: net.options.clone(),
        gw_priority: a.gw_priority,
    }
}

fn resolve<'a>(table: &'a BTreeMap<String, Network>, key: &str) -> Result<&'a Network> {
    if key.is_empty() {
        return Err(NetworkError::NotFound(String::new()));
    }
    if let Some(n) = table.get(key) {
        return Ok(n);
    }
    if let Some(n) = table.values().find(|n| n.name == key) {
        return Ok(n);
    }
    let mut matches = table.values().filter(|n| n.id.starts_with(key));
    match (matches.next(), matches.next()) {
        (Some(n), None) => Ok(n),
        (Some(_), Some(_)) => Err(NetworkError::InvalidArgument(format!(
            "network {key} is ambiguous: it matches more than one network ID; give more of the ID or the name"
        ))),
        _ => Err(NetworkError::NotFound(key.to_owned())),
    }
}

/// Docker's name rule for networks: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn check_bridge_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        return Err(NetworkError::InvalidArgument(format!(
            "invalid bridge name \"{name}\" in -o {OPT_BRIDGE_NAME}: an interface name has 1 to 15 characters, without `/`, `:` or whitespace"
        )));
    }
    Ok(())
}

impl Inner {
    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn save(&self, net: &Network) -> Result<()> {
        use std::io::Write;
        let path = self.path(&net.id);
        let tmp = self
            .dir
            .join(format!(".{}.json.tmp-{}", net.id, std::process::id()));
        let bytes = serde_json::to_vec_pretty(net)
            .map_err(|e| NetworkError::Internal(format!("cannot serialise network: {e}")))?;
        let write = || -> std::io::Result<()> {
            let mut f = fs_err::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs_err::rename(&tmp, &path)?;
            fs_err::File::open(&self.dir)?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs_err::remove_file(&tmp);
            io(&path, e)
        })?;
        self.save_runtime(net)
    }

    /// Writes only the network's endpoints and allocations (container
    /// start and stop), without fsync ([`runtime`]).
    fn save_runtime(&self, net: &Network) -> Result<()> {
        runtime::save(&self.dir, net)
    }

    fn emit(&self, net: &Network, action: &str, extra: &[(&str, String)]) {
        let mut ev = Event::new(EventType::Network, action, net.id.clone())
            .attr("name", net.name.clone())
            .attr("type", net.driver.clone());
        for (k, v) in extra {
            ev = ev.attr(*k, v.clone());
        }
        self.events.emit(ev);
    }
}

/// A new ID: 32 random bytes as 64 hex digits.
fn new_id() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    let path = Path::new("/dev/urandom");
    fs_err::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io(path, e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn rfc3339_nanos() -> String {
    berth_image::store::rfc3339_now()
}

#[cfg(test)]
mod tests;
