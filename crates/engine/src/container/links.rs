//! Legacy links (`--link NAME[:ALIAS]`), as dockerd makes them (moby's
//! `daemon/links`, the link parts of `daemon/container_operations.go` and
//! `container.CreateDaemonEnvironment`):
//! - at create the linked container must exist (`could not get container
//!   for X`); the link is stored on the linking container by the linked
//!   one's ID and the alias. It is the linker's `HostConfig.Links`
//!   (`/target:/linker/alias`) and a second name of the target
//!   (`/linker/alias`: `ps --no-trunc`, `inspect linker/alias`, `rm -l`).
//! - at start (and for each exec) the linked containers must be on the
//!   default bridge and running; the linker's process gets the
//!   `ALIAS_PORT...`, `ALIAS_NAME` and `ALIAS_ENV_...` variables, its
//!   `/etc/hosts` a line `IP\talias hostname name` per link; when a linked
//!   container starts again (with a new address), the hosts files of the
//!   running containers linking to it follow.
//! - `--link` with `--network host` or `container:X` is refused; on a
//!   user-defined network `--link X:alias` is no legacy link but a name
//!   only the linker's embedded DNS server answers (the endpoint's links,
//!   see `network::names`).
//!
//! A link whose target was removed since is left out (as dockerd after a
//! restart, which cannot register it again).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use berth_net::files::{self as netfiles, HostsEntry};
use serde::{Deserialize, Serialize};

use super::model::Container;
use super::{ContainerError, Containers, CreateOptions, Inner, Status, lock, networking, resolve};

/// dockerd's `ErrConflictHostNetworkAndLinks`.
const HOST_CONFLICT: &str = "conflicting options: host type networking can't be used with links. This would result in undefined behavior";
/// dockerd's `ErrConflictContainerNetworkAndLinks`.
const CONTAINER_CONFLICT: &str = "conflicting options: container type network can't be used with links. This would result in undefined behavior";

/// One legacy link of a container (docker's `HostConfig.Links` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Link {
    /// The linked container: its name or ID as a create request gives it,
    /// its ID once the container is created.
    pub container: String,
    /// The name the linking container knows it by.
    pub alias: String,
}

/// docker's `opts.ParseLink`: `name`, `name:alias`, or `/name:/linker/alias`
/// as dockerd itself shows links.
pub fn parse_link(value: &str) -> Result<Link, String> {
    if value.is_empty() {
        return Err("empty string specified for links".to_owned());
    }
    let parts: Vec<&str> = value.splitn(3, ':').collect();
    let link = |container: &str, alias: &str| Link {
        container: container.to_owned(),
        alias: alias.to_owned(),
    };
    match parts.as_slice() {
        [name] => Ok(link(name, name.trim_start_matches('/'))),
        [name, alias] => match name.strip_prefix('/') {
            Some(bare) => Ok(link(bare, alias.rsplit('/').next().unwrap_or(alias))),
            None => Ok(link(name, alias)),
        },
        _ => Err(format!("bad format for links: {value}")),
    }
}

/// The `--link`s of an endpoint on a user network as its DNS server
/// answers them: lower-case alias -> the linked container's name (links
/// that do not parse are left out).
pub(crate) fn dns_links(links: &[String]) -> BTreeMap<String, String> {
    links
        .iter()
        .filter_map(|l| parse_link(l).ok())
        .map(|l| {
            let name = l.container.trim_start_matches('/').to_owned();
            (l.alias.to_ascii_lowercase(), name)
        })
        .collect()
}

fn invalid(message: &str) -> ContainerError {
    ContainerError::InvalidArgument {
        message: message.to_owned(),
    }
}

fn internal(message: String) -> ContainerError {
    ContainerError::Internal { message }
}

/// On the default bridge (dockerd's `NetworkSettings.Networks["bridge"]`).
fn on_default_bridge(c: &Container) -> bool {
    let n = &c.options.network;
    n.endpoints.contains_key("bridge")
        || (n.endpoints.is_empty() && n.joined_container().is_none() && n.mode_name() == "bridge")
}

/// The container `name` names, through the `container:X` modes to the one
/// whose network it is (dockerd's `registerLinks`).
fn linked<'a>(
    table: &'a BTreeMap<String, Container>,
    name: &str,
) -> Result<&'a Container, ContainerError> {
    let lookup = |n: &str| {
        resolve(table, n).map_err(|e| match e {
            ContainerError::NotFound(_) => ContainerError::InvalidArgument {
                message: format!("could not get container for {n}: No such container: {n}"),
            },
            e => e,
        })
    };
    let mut c = lookup(name)?;
    // Chains are short; a stored cycle must not loop.
    for _ in 0..16 {
        match c.options.network.joined_container() {
            Some(next) => c = lookup(next)?,
            None => break,
        }
    }
    Ok(c)
}

/// The container a link name (`linker/alias`, without the leading `/`)
/// stands for, if it is one.
pub(super) fn by_link_name<'a>(
    table: &'a BTreeMap<String, Container>,
    name: &str,
) -> Option<&'a Container> {
    let (parent, alias) = name.rsplit_once('/')?;
    let parent = table.values().find(|c| c.name == parent)?;
    let link = parent.options.links.iter().find(|l| l.alias == alias)?;
    table.get(&link.container)
}

impl Containers {
    /// Checks `--link` at create (dockerd's `validateNetMode` and
    /// `registerLinks`): refused with `--network host` and
    /// `container:X`; on a user-defined network the links are only the
    /// endpoint's (DNS aliases); otherwise each linked container must
    /// exist, must not be on the host's network, and is stored by ID. A
    /// second link with an alias already used is ignored, as dockerd does.
    pub fn check_links(&self, opts: &mut CreateOptions) -> Result<(), ContainerError> {
        if opts.links.is_empty() {
            return Ok(());
        }
        let mode = opts.network.mode_name();
        if mode == "host" {
            return Err(invalid(HOST_CONFLICT));
        }
        if mode.starts_with("container:") {
            return Err(invalid(CONTAINER_CONFLICT));
        }
        if mode != "bridge" && mode != "none" {
            opts.links.clear();
            return Ok(());
        }
        let table = lock(&self.inner.table);
        let mut out: Vec<Link> = Vec::new();
        for l in std::mem::take(&mut opts.links) {
            let target = linked(&table, &l.container)?;
            if target.options.network.mode_name() == "host" {
                return Err(invalid(HOST_CONFLICT));
            }
            if l.alias.is_empty() || out.iter().any(|o| o.alias == l.alias) {
                continue;
            }
            out.push(Link {
                container: target.id.clone(),
                alias: l.alias,
            });
        }
        opts.links = out;
        Ok(())
    }

    /// `rm -l NAME` (dockerd's `rmLink`): the link `linker/alias` goes;
    /// while the linker runs its `/etc/hosts` is written again without it.
    pub fn remove_link(&self, name: &str) -> Result<(), ContainerError> {
        let full = format!("/{}", name.trim_start_matches('/'));
        let (parent, alias) = full.rsplit_once('/').unwrap_or(("", &full));
        let updated = {
            let mut table = lock(&self.inner.table);
            let child = resolve(&table, name)?.id.clone();
            if parent.is_empty() {
                return Err(internal(
                    "Conflict, cannot remove the default link name of the container".to_owned(),
                ));
            }
            let parent_id = resolve(&table, parent)
                .map_err(|_| internal(format!("Cannot get parent {parent} for link name {full}")))?
                .id
                .clone();
            let Some(p) = table.get_mut(&parent_id) else {
                return Err(ContainerError::NotFound(parent.to_owned()));
            };
            let before = p.options.links.len();
            p.options
                .links
                .retain(|l| !(l.alias == alias && l.container == child));
            if p.options.links.len() != before {
                self.inner.store.save(p)?;
            }
            p.clone()
        };
        if updated.state.status == Status::Running {
            self.inner.rewrite_hosts(&updated);
        }
        Ok(())
    }

    /// The `Names` of each of `listed` as a list shows them (see
    /// [`Containers::links_view`]), in one pass over the table instead of
    /// one per container.
    pub fn names_view(&self, listed: &[&Container]) -> Vec<Vec<String>> {
        let table = lock(&self.inner.table);
        let mut as_target: HashMap<&str, Vec<String>> = HashMap::new();
        for p in table.values() {
            for l in &p.options.links {
                as_target
                    .entry(l.container.as_str())
                    .or_default()
                    .push(format!("/{}/{}", p.name, l.alias));
            }
        }
        listed
            .iter()
            .map(|c| {
                let mut names = vec![format!("/{}", c.name)];
                if let Some(more) = as_target.get(c.id.as_str()) {
                    names.extend(more.iter().cloned());
                    names.sort();
                }
                names
            })
            .collect()
    }

    /// What inspect and list show of `c`'s links: its `HostConfig.Links`
    /// (`/target:/c/alias`) and its names as a link target
    /// (`/linker/alias`, sorted with its own name, as dockerd lists them).
    pub fn links_view(&self, c: &Container) -> (Vec<String>, Vec<String>) {
        let table = lock(&self.inner.table);
        let links = c
            .options
            .links
            .iter()
            .filter_map(|l| {
                let t = table.get(&l.container)?;
                Some(format!("/{}:/{}/{}", t.name, c.name, l.alias))
            })
            .collect();
        let mut names = vec![format!("/{}", c.name)];
        for p in table.values() {
            for l in p.options.links.iter().filter(|l| l.container == c.id) {
                names.push(format!("/{}/{}", p.name, l.alias));
            }
        }
        names.sort();
        (links, names)
    }
}

impl Inner {
    /// The variables `c`'s links give its process (and its execs), checked
    /// as dockerd's `setupLinkedContainers`: each linked container must be
    /// on the default bridge and running. Nothing for a container that is
    /// not on the default bridge itself.
    pub(super) fn link_env(
        &self,
        table: &BTreeMap<String, Container>,
        c: &Container,
    ) -> Result<Vec<String>, ContainerError> {
        if c.options.links.is_empty() || !on_default_bridge(c) {
            return Ok(Vec::new());
        }
        let targets: Vec<(&Link, &Container)> = c
            .options
            .links
            .iter()
            .filter_map(|l| table.get(&l.container).map(|t| (l, t)))
            .collect();
        if let Some((_, t)) = targets.iter().find(|(_, t)| !on_default_bridge(t)) {
            return Err(internal(format!(
                "Cannot link to /{}, as it does not belong to the default network",
                t.name
            )));
        }
        let mut env = Vec::new();
        for (l, t) in targets {
            if t.state.status != Status::Running {
                return Err(internal(format!(
                    "Cannot link to a non running container: /{} AS /{}/{}",
                    t.name, c.name, l.alias
                )));
            }
            let ip = self
                .bridge_addresses(&t.id)
                .0
                .map(|ip| ip.to_string())
                .unwrap_or_default();
            env.extend(env_vars(
                &format!("/{}/{}", c.name, l.alias),
                &ip,
                &config_env(t),
                &t.options.ports.exposed,
            ));
        }
        Ok(env)
    }

    /// `c`'s process environment with its links' variables, in dockerd's
    /// order (`PATH`, `HOSTNAME`, `TERM`, the links', then the container's).
    pub(super) fn env_with_links(
        &self,
        table: &BTreeMap<String, Container>,
        c: &Container,
    ) -> Result<Vec<String>, ContainerError> {
        let links = self.link_env(table, c)?;
        Ok(with_link_env(&c.process.env, c.process.tty, &links))
    }

    /// The `/etc/hosts` lines of `c`'s links (dockerd's `OptionExtraHost`
    /// per link): `alias hostname name` at each address the linked
    /// container has on the default bridge; none for a linked container
    /// that is not running.
    pub(super) fn link_hosts(&self, c: &Container) -> Vec<HostsEntry> {
        if c.options.links.is_empty() || !on_default_bridge(c) {
            return Vec::new();
        }
        let targets: Vec<(String, Container)> = {
            let table = lock(&self.table);
            c.options
                .links
                .iter()
                .filter_map(|l| {
                    table
                        .get(&l.container)
                        .map(|t| (l.alias.clone(), t.clone()))
                })
                .collect()
        };
        let mut out = Vec::new();
        for (alias, t) in targets {
            if t.state.status != Status::Running || !on_default_bridge(&t) {
                continue;
            }
            let mut names = format!("{alias} {}", t.process.hostname);
            if alias != t.name {
                names.push(' ');
                names.push_str(&t.name);
            }
            let (v4, v6) = self.bridge_addresses(&t.id);
            for ip in v4.into_iter().chain(v6) {
                out.push(HostsEntry {
                    ip,
                    names: names.clone(),
                });
            }
        }
        out
    }

    /// Container `id`'s addresses on the default bridge while it runs.
    fn bridge_addresses(&self, id: &str) -> (Option<IpAddr>, Option<IpAddr>) {
        self.datapath
            .get()
            .and_then(|dp| {
                dp.networks()
                    .endpoints_for(id)
                    .into_iter()
                    .find(|e| e.network_name == "bridge")
            })
            .map_or((None, None), |e| (e.address, e.address6))
    }

    /// dockerd's `updateParentHosts`: `c` has just been given its address
    /// on the default bridge; the running containers linking to it find it
    /// at that address in their `/etc/hosts` from now on.
    pub(super) fn update_linkers_hosts(&self, c: &Container) {
        if !on_default_bridge(c) {
            return;
        }
        let Some(ip) = self.bridge_addresses(&c.id).0 else {
            return;
        };
        let linkers: Vec<(String, Vec<String>)> = lock(&self.table)
            .values()
            .filter(|p| p.state.status == Status::Running && on_default_bridge(p))
            .filter_map(|p| {
                let aliases: Vec<String> = p
                    .options
                    .links
                    .iter()
                    .filter(|l| l.container == c.id)
                    .map(|l| l.alias.clone())
                    .collect();
                (!aliases.is_empty()).then(|| (p.id.clone(), aliases))
            })
            .collect();
        for (id, aliases) in linkers {
            let path = self.store.dir(&id).join("hosts");
            let Ok(text) = fs_err::read_to_string(&path) else {
                continue;
            };
            let updated = aliases.iter().fold(text.clone(), |t, a| {
                netfiles::update_hosts_address(&t, ip, a)
            });
            if updated != text
                && let Err(e) = fs_err::write(&path, updated)
            {
                tracing::warn!(container = id, error = %e, "cannot update the hosts file of a linking container");
            }
        }
    }

    /// Writes running container `c`'s `/etc/hosts` (and its other name
    /// files) again, after one of its links went (dockerd refreshes the
    /// sandbox).
    fn rewrite_hosts(&self, c: &Container) {
        let mut base = networking::Resolution::isolated(self.settings.host_resolv_conf.clone());
        base.host_gateway = self.settings.host_gateway;
        base.links = self.link_hosts(c);
        let endpoints = self
            .datapath
            .get()
            .map(|dp| dp.networks().endpoints_for(&c.id))
            .unwrap_or_default();
        let r = networking::resolution_of(c, &endpoints, base);
        if let Err(e) = networking::write_resolution_files(&self.store.dir(&c.id), c, &r) {
            tracing::warn!(container = c.id, error = %e, "cannot rewrite the hosts file after removing a link");
        }
    }
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// docker's `ReplaceOrAppendEnvValues` for one entry.
fn replace_or_append(out: &mut Vec<String>, e: &str) {
    let k = env_key(e);
    match out.iter_mut().find(|x| env_key(x) == k) {
        Some(slot) => e.clone_into(slot),
        None => out.push(e.to_owned()),
    }
}

/// `env` (the container's: `PATH`, `HOSTNAME`, `TERM` with a terminal, then
/// the image's and the user's) with the links' variables after the
/// daemon's three, the container's own values winning (dockerd's
/// `CreateDaemonEnvironment`).
pub(crate) fn with_link_env(env: &[String], tty: bool, links: &[String]) -> Vec<String> {
    if links.is_empty() {
        return env.to_vec();
    }
    let mut out: Vec<String> = env
        .iter()
        .filter(|e| {
            let k = env_key(e);
            k == "PATH" || k == "HOSTNAME" || (tty && k == "TERM")
        })
        .cloned()
        .collect();
    out.extend(links.iter().cloned());
    for e in env {
        replace_or_append(&mut out, e);
    }
    out
}

/// A container's `Config.Env` as dockerd keeps it: the user's variables,
/// then the image's it did not override (without the `HOSTNAME` and `TERM`
/// the daemon adds).
pub fn config_env(c: &Container) -> Vec<String> {
    let user = &c.options.env;
    let mut out = user.clone();
    for e in &c.process.env {
        let k = env_key(e);
        let daemons = k == "HOSTNAME" || (c.process.tty && e == "TERM=xterm");
        if !daemons && !user.iter().any(|u| env_key(u) == k) {
            out.push(e.clone());
        }
    }
    out
}

/// docker's `links.Link.ToEnv`: for a link named `/linker/alias` to a
/// container at `ip` with `env` and `exposed` ports (`80/tcp`).
pub(crate) fn env_vars(
    name: &str,
    ip: &str,
    env: &[String],
    exposed: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let alias = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .to_uppercase()
        .replace('-', "_");
    let mut ports: Vec<(u16, String)> = exposed
        .iter()
        .filter_map(|k| {
            let (n, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            Some((n.parse().ok()?, proto.to_owned()))
        })
        .collect();
    // TCP first, then by protocol, then by number (moby's withTCPPriority).
    ports.sort_by(|a, b| {
        let rank = |p: &str| (p != "tcp", p.to_owned());
        rank(&a.1).cmp(&rank(&b.1)).then(a.0.cmp(&b.0))
    });
    let mut out = Vec::new();
    let Some(first) = ports.first() else {
        out.push(format!("{alias}_NAME={name}"));
        out.extend(child_env(&alias, env));
        return out;
    };
    out.push(format!("{alias}_PORT={}://{ip}:{}", first.1, first.0));
    let (mut start, mut end) = (first.clone(), first.clone());
    for (i, p) in ports.iter().enumerate() {
        let prefix = format!("{alias}_PORT_{}_{}", p.0, p.1.to_uppercase());
        out.push(format!("{prefix}={}://{ip}:{}", p.1, p.0));
        out.push(format!("{prefix}_ADDR={ip}"));
        out.push(format!("{prefix}_PORT={}", p.0));
        out.push(format!("{prefix}_PROTO={}", p.1));
        if u32::from(p.0) == u32::from(end.0) + 1 && p.1 == end.1 {
            end = p.clone();
            if i < ports.len() - 1 {
                continue;
            }
        }
        if end != start {
            let prefix = format!("{alias}_PORT_{}_{}", start.0, start.1.to_uppercase());
            out.push(format!("{prefix}_START={}://{ip}:{}", start.1, start.0));
            out.push(format!("{prefix}_PORT_START={}", start.0));
            out.push(format!("{prefix}_END={}://{ip}:{}", end.1, end.0));
            out.push(format!("{prefix}_PORT_END={}", end.0));
        }
        start = p.clone();
        end = p.clone();
    }
    out.push(format!("{alias}_NAME={name}"));
    out.extend(child_env(&alias, env));
    out
}

/// `ALIAS_ENV_KEY=value` for the linked container's variables (not `HOME`
/// or `PATH`).
fn child_env<'a>(alias: &'a str, env: &'a [String]) -> impl Iterator<Item = String> + 'a {
    env.iter().filter_map(move |e| {
        let (k, v) = e.split_once('=')?;
        (k != "HOME" && k != "PATH").then(|| format!("{alias}_ENV_{k}={v}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[&str]) -> std::collections::BTreeSet<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn links_parse_as_dockers() {
        let l = |c: &str, a: &str| Link {
            container: c.into(),
            alias: a.into(),
        };
        assert_eq!(parse_link("db"), Ok(l("db", "db")));
        assert_eq!(parse_link("db:data"), Ok(l("db", "data")));
        assert_eq!(parse_link("/db:/web/data"), Ok(l("db", "data")));
        assert_eq!(
            parse_link(""),
            Err("empty string specified for links".to_owned())
        );
        assert_eq!(
            parse_link("a:b:c"),
            Err("bad format for links: a:b:c".to_owned())
        );
    }

    #[test]
    fn env_is_dockers_for_ports_ranges_and_variables() {
        let env = env_vars(
            "/web/my-db",
            "172.17.0.2",
            &[
                "e1=".into(),
                "e3=v3=v3".into(),
                "PATH=/bin".into(),
                "HOME=/root".into(),
                "NOVALUE".into(),
            ],
            &set(&["53/udp", "6379/tcp", "80/tcp", "81/tcp", "82/tcp"]),
        );
        let want = [
            "MY_DB_PORT=tcp://172.17.0.2:80",
            "MY_DB_PORT_80_TCP=tcp://172.17.0.2:80",
            "MY_DB_PORT_80_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_80_TCP_PORT=80",
            "MY_DB_PORT_80_TCP_PROTO=tcp",
            "MY_DB_PORT_81_TCP=tcp://172.17.0.2:81",
            "MY_DB_PORT_81_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_81_TCP_PORT=81",
            "MY_DB_PORT_81_TCP_PROTO=tcp",
            "MY_DB_PORT_82_TCP=tcp://172.17.0.2:82",
            "MY_DB_PORT_82_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_82_TCP_PORT=82",
            "MY_DB_PORT_82_TCP_PROTO=tcp",
            "MY_DB_PORT_6379_TCP=tcp://172.17.0.2:6379",
            "MY_DB_PORT_6379_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_6379_TCP_PORT=6379",
            "MY_DB_PORT_6379_TCP_PROTO=tcp",
            "MY_DB_PORT_80_TCP_START=tcp://172.17.0.2:80",
            "MY_DB_PORT_80_TCP_PORT_START=80",
            "MY_DB_PORT_80_TCP_END=tcp://172.17.0.2:82",
            "MY_DB_PORT_80_TCP_PORT_END=82",
            "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
            "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
            "MY_DB_PORT_53_UDP_PORT=53",
            "MY_DB_PORT_53_UDP_PROTO=udp",
            "MY_DB_NAME=/web/my-db",
            "MY_DB_ENV_e1=",
            "MY_DB_ENV_e3=v3=v3",
        ];
        assert_eq!(env, want);
        assert_eq!(
            env_vars("/web/db", "10.0.0.2", &[], &set(&[])),
            ["DB_NAME=/web/db"]
        );
        // A range at the end is closed too.
        let env = env_vars("/w/a", "ip", &[], &set(&["1/tcp", "2/tcp"]));
        assert_eq!(
            env[9..13],
            [
                "A_PORT_1_TCP_START=tcp://ip:1",
                "A_PORT_1_TCP_PORT_START=1",
                "A_PORT_1_TCP_END=tcp://ip:2",
                "A_PORT_1_TCP_PORT_END=2",
            ]
        );
    }

    #[test]
    fn link_variables_go_after_the_daemons_and_yield_to_the_containers() {
        let env: Vec<String> = ["PATH=/x", "HOSTNAME=h", "TERM=xterm", "A=1", "DB_NAME=mine"]
            .map(String::from)
            .to_vec();
        let links: Vec<String> = ["DB_PORT=tcp://ip:1", "DB_NAME=/w/db"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            with_link_env(&env, true, &links),
            [
                "PATH=/x",
                "HOSTNAME=h",
                "TERM=xterm",
                "DB_PORT=tcp://ip:1",
                "DB_NAME=mine",
                "A=1"
            ]
        );
        assert_eq!(with_link_env(&env, true, &[]), env);
    }
}
