//! A container's network: its netns, its endpoints on networks, published
//! ports and the resolv.conf/hosts/hostname files, as docker's
//! `HostConfig.NetworkMode`/`PortBindings` and `NetworkSettings`.

// ---- resolv.conf, hosts, hostname (netdns) ----

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use berth_net::files::{self as netfiles, ExtraHostAddr, HostsEntry, ResolvMode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ContainerError;
use super::model::Container;

/// `--dns`, `--dns-search`, `--dns-option` and `--add-host` as given
/// (docker's `HostConfig.Dns`, `DnsSearch`, `DnsOptions`, `ExtraHosts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DnsSettings {
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `name:ip` or `name:host-gateway`.
    pub extra_hosts: Vec<String>,
}

impl DnsSettings {
    /// Checks the values at create, so a bad one fails there and not at
    /// start, with dockerd's wording.
    pub(crate) fn check(&self) -> Result<(), ContainerError> {
        let invalid = |message: String| ContainerError::InvalidArgument { message };
        netfiles::check_overrides(&self.overrides()).map_err(invalid)?;
        for h in &self.extra_hosts {
            netfiles::parse_extra_host(h).map_err(invalid)?;
        }
        Ok(())
    }

    fn overrides(&self) -> netfiles::ResolvOverrides {
        netfiles::ResolvOverrides {
            nameservers: self.dns.clone(),
            search: self.dns_search.clone(),
            options: self.dns_options.clone(),
        }
    }
}

/// The three files of a container under its directory, as dockerd keeps
/// them (`/var/lib/docker/containers/<id>/{resolv.conf,hostname,hosts}`),
/// with the path each is bound at inside the container.
pub(crate) fn resolution_files(dir: &Path) -> [(PathBuf, &'static str); 3] {
    [
        (dir.join("resolv.conf"), "/etc/resolv.conf"),
        (dir.join("hostname"), "/etc/hostname"),
        (dir.join("hosts"), "/etc/hosts"),
    ]
}

/// What the container's network looks like, for its resolution files.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    pub mode: ResolvMode,
    /// The container's own addresses (one hosts line each).
    pub own_addresses: Vec<IpAddr>,
    /// What `host-gateway` stands for (the default bridge's gateway).
    pub host_gateway: Option<IpAddr>,
    /// `--link` lines, after the `--add-host` ones.
    pub links: Vec<HostsEntry>,
    /// The host's resolver file the container's is based on.
    pub host_resolv_conf: PathBuf,
    /// The container's netns has IPv6 (its loopback has `::1`).
    pub ipv6: bool,
}

impl Resolution {
    /// A container with only its own loopback (`--network none`, and any
    /// container before it has endpoints): docker's legacy resolv.conf.
    pub(crate) fn isolated(host_resolv_conf: PathBuf) -> Self {
        let ipv6 = Path::new("/proc/net/if_inet6").exists();
        Self {
            mode: ResolvMode::Legacy { ipv6: false },
            own_addresses: Vec::new(),
            host_gateway: None,
            links: Vec::new(),
            host_resolv_conf,
            ipv6,
        }
    }
}

/// The host's resolver file, as dockerd picks it.
pub(crate) fn host_resolv_conf(etc: &Path) -> PathBuf {
    netfiles::host_resolv_conf_path(
        &etc.join("resolv.conf"),
        Path::new("/run/systemd/resolve/resolv.conf"),
    )
}

/// Writes `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` of `c`
/// into `dir` (at every start, as dockerd). A resolv.conf the user edited
/// since berth wrote it is left alone (as dockerd: its hash no longer
/// matches). Returns the embedded DNS server's upstream servers.
pub(crate) fn write_resolution_files(
    dir: &Path,
    c: &Container,
    r: &Resolution,
) -> Result<Vec<netfiles::ExtServer>, ContainerError> {
    let dns = &c.options.dns;
    let invalid = |message: String| ContainerError::InvalidArgument { message };
    let mut extra = Vec::new();
    for h in &dns.extra_hosts {
        let (name, addr) = netfiles::parse_extra_host(h).map_err(invalid)?;
        let ip = match addr {
            ExtraHostAddr::Ip(ip) => ip,
            ExtraHostAddr::HostGateway => r.host_gateway.ok_or_else(|| {
                invalid("unable to derive the IP value for host-gateway".to_owned())
            })?,
        };
        extra.push(HostsEntry { ip, names: name });
    }
    extra.extend(r.links.iter().cloned());
    let [(resolv, _), (hostname, _), (hosts, _)] = resolution_files(dir);
    let write = |path: &Path, text: &str| {
        // In place: the file may be bind-mounted into a running container.
        fs_err::write(path, text).map_err(|e| super::store::io(path, e))
    };
    write(
        &hosts,
        &netfiles::hosts(&netfiles::HostsInput {
            ipv6: r.ipv6,
            extra,
            own_addresses: r.own_addresses.clone(),
            hostname: c.process.hostname.clone(),
            domainname: c.options.security.domainname.clone(),
        }),
    )?;
    write(&hostname, &netfiles::hostname(&c.process.hostname))?;
    let rc = resolv_conf_of(c, r)?;
    write_resolv_conf(&resolv, &rc)?;
    Ok(rc.ext_servers)
}

/// `c`'s resolv.conf as its network `r` wants it, with the embedded DNS
/// server's upstream servers.
pub(crate) fn resolv_conf_of(
    c: &Container,
    r: &Resolution,
) -> Result<netfiles::ResolvConf, ContainerError> {
    let host_text = fs_err::read_to_string(&r.host_resolv_conf).unwrap_or_default();
    netfiles::resolv_conf(
        &host_text,
        &r.host_resolv_conf,
        &c.options.dns.overrides(),
        r.mode,
    )
    .map_err(|message| ContainerError::InvalidArgument { message })
}

/// Writes `rc` at `resolv` (in place: it may be bind-mounted into a
/// running container), unless the user edited the file since berth wrote
/// it (as dockerd: its hash no longer matches).
pub(crate) fn write_resolv_conf(
    resolv: &Path,
    rc: &netfiles::ResolvConf,
) -> Result<(), ContainerError> {
    let write =
        |path: &Path, text: &str| fs_err::write(path, text).map_err(|e| super::store::io(path, e));
    let hash_path = resolv.with_file_name("resolv.conf.hash");
    let edited = match (fs_err::read(resolv), fs_err::read_to_string(&hash_path)) {
        (Ok(current), Ok(hash)) => hash.trim() != content_hash(&current),
        _ => false,
    };
    if !edited {
        write(resolv, &rc.text)?;
        write(&hash_path, &content_hash(rc.text.as_bytes()))?;
    }
    Ok(())
}

/// A stable fingerprint of a generated file (FNV-1a, 64 bits): enough to
/// tell whether someone changed it since.
fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}

/// Adds the bind mounts of the files in `dir` to the spec `value`, as
/// dockerd's `NetworkMounts` (at start: the files are created empty if
/// missing and written once the network is set up): skipped when the user
/// mounted something at that path; read-only with `--read-only`.
pub(crate) fn add_resolution_mounts(value: &mut Value, dir: &Path, readonly_rootfs: bool) {
    let taken: Vec<String> = value["mounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["destination"].as_str())
                .map(|d| d.trim_end_matches('/').to_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut options = vec!["rbind", "rprivate"];
    if readonly_rootfs {
        options.push("ro");
    }
    for (source, _) in resolution_files(dir) {
        // Written right after the spec, before the process starts.
        if !source.is_file() {
            let _ = fs_err::write(&source, "");
        }
    }
    for (source, destination) in resolution_files(dir) {
        if !source.is_file() || taken.iter().any(|t| t == destination) {
            continue;
        }
        if let Some(mounts) = value["mounts"].as_array_mut() {
            mounts.push(json!({
                "destination": destination,
                "type": "bind",
                "source": source,
                "options": options,
            }));
        }
    }
}

/// The paths inspect shows (`ResolvConfPath`, `HostnamePath`,
/// `HostsPath`): empty until the container has started once, as dockerd.
pub fn resolution_paths(dir: &Path) -> [String; 3] {
    resolution_files(dir).map(|(p, _)| {
        if p.is_file() {
            p.to_string_lossy().into_owned()
        } else {
            String::new()
        }
    })
}

#[cfg(test)]
mod resolution_tests {
    use super::*;

    #[test]
    fn mounts_skip_user_mounts_and_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let mut v = json!({"mounts": [{"destination": "/etc/hosts/", "type": "bind"}]});
        add_resolution_mounts(&mut v, tmp.path(), true);
        let m = v["mounts"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1]["destination"], "/etc/resolv.conf");
        assert_eq!(m[2]["destination"], "/etc/hostname");
        assert_eq!(m[2]["options"], json!(["rbind", "rprivate", "ro"]));
        assert_eq!(
            resolution_paths(tmp.path())[2],
            tmp.path().join("hosts").to_string_lossy()
        );
    }

    #[test]
    fn hashes_are_stable() {
        assert_eq!(content_hash(b""), "fnv1a64:cbf29ce484222325");
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
    }
}

// ---- the embedded DNS server of user networks (netdns) ----

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_net::dns::{self as netdns, DnsServer, Upstreams};

use crate::network::{DRIVER_BRIDGE, Endpoint};

/// The embedded DNS servers of running containers, by container ID.
#[derive(Debug, Default)]
pub(crate) struct DnsServers(Mutex<HashMap<String, DnsServer>>);

impl DnsServers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DnsServer>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether container `id` has a server.
    pub(crate) fn is_running(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Stops container `id`'s server, if it has one (repeatable).
    pub(crate) fn stop(&self, id: &str) {
        let server = self.lock().remove(id);
        if let Some(s) = server {
            s.stop();
        }
    }

    /// Starts `id`'s server in its namespace at `netns`, answering its
    /// networks' names, forwarding the rest to `upstream`.
    pub(crate) fn start(
        &self,
        id: &str,
        netns: &Path,
        names: Arc<dyn netdns::Names>,
        upstream: Vec<netfiles::ExtServer>,
    ) -> Result<(), ContainerError> {
        self.stop(id);
        let server = netdns::start(
            netns,
            names,
            Upstreams {
                servers: upstream,
                port: 53,
                netns: Some(netns.to_owned()),
            },
        )
        .map_err(|e| ContainerError::Internal {
            message: e.to_string(),
        })?;
        self.lock().insert(id.to_owned(), server);
        Ok(())
    }
}

/// On a user network (a bridge network other than the default one) the
/// container gets the embedded DNS server, as in docker.
pub(crate) fn on_user_network(endpoints: &[Endpoint]) -> bool {
    endpoints
        .iter()
        .any(|e| e.driver == DRIVER_BRIDGE && e.network_name != "bridge")
}

/// The resolution files' view of a started container with `endpoints`.
pub(crate) fn resolution_of(c: &Container, endpoints: &[Endpoint], base: Resolution) -> Resolution {
    let mut r = base;
    if c.options.network.mode_name() == "host" {
        r.mode = ResolvMode::Host;
        return r;
    }
    r.own_addresses = endpoints
        .iter()
        .flat_map(|e| e.address.into_iter().chain(e.address6))
        .collect();
    let ipv6 = endpoints.iter().any(|e| e.address6.is_some());
    r.mode = if on_user_network(endpoints) {
        ResolvMode::Internal { ipv6 }
    } else {
        ResolvMode::Legacy { ipv6 }
    };
    r
}
