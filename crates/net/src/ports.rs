//! Port publishing: host port choice (random free ports), in-use checks and
//! the DNAT rules (host, 127.0.0.1 and hairpin traffic) of published ports.
//!
//! Three parts, each usable alone:
//! - [`PortKey`] and [`Proto`]: docker's `80/tcp` keys.
//! - [`Allocator`]: reserves host ports for an owner (a container) by
//!   holding a bound socket per published address, as docker's port mapper
//!   does when its userland proxy is off. Nothing else on the host can take
//!   the port while it is held (and a port someone else holds is refused
//!   with docker's message); the sockets never listen, so no traffic
//!   reaches them: the DNAT rules send it to the container first.
//! - [`PortRules`]: the nftables rules of every owner's published ports, in
//!   two regular chains of berth's table ([`DNAT_CHAIN`], [`SNAT_CHAIN`]),
//!   reached from three base chains of their own (`ports-prerouting`,
//!   `ports-output`, `ports-postrouting`), so they need nothing from the
//!   table's other chains. Every change rewrites all of them in one `nft`
//!   transaction, so the kernel never sees half of a container's rules;
//!   after the table was made anew, [`PortRules::rebuild`] puts them back.
//!
//! ```text
//! ports-prerouting/ports-output (nat): fib daddr type local jump ports-dnat
//!     ports-dnat: [ip daddr H] <proto> dport P dnat ip to C:Q   (one per binding)
//! ports-postrouting (nat): jump ports-snat
//!     ports-snat: ip saddr 127.0.0.0/8 oifname <bridge> masquerade
//!                 ip saddr C ip daddr C <proto> dport Q masquerade (hairpin)
//!                 iifname <bridge> oifname <bridge> ct status dnat masquerade
//! ```
//!
//! Connections from the host to `127.0.0.1:P` are DNATed in `output`; the
//! kernel only routes a 127.0.0.0/8 source out of a non-loopback device
//! when `route_localnet` is on for it ([`enable_route_localnet`]), and the
//! masquerade gives the container a source it can answer.
//!
//! A container reaching another container of its own bridge through a
//! published port is masqueraded to the bridge's address too, as docker's
//! userland proxy does (the server sees the gateway as its client). Without
//! it the server would answer the client directly over the bridge, and only
//! `br_netfilter` (`bridge-nf-call-iptables=1`) would turn that answer's
//! source back into the published address: on a host without it the
//! client got an answer from an address it never called, and reset it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use socket2::{Domain, Protocol, Socket, Type};

/// The regular chain of the nat table that DNATs published ports.
pub const DNAT_CHAIN: &str = "ports-dnat";
/// The regular chain of the nat table that masquerades loopback and hairpin
/// traffic to published ports.
pub const SNAT_CHAIN: &str = "ports-snat";

/// docker's fallback when the kernel's range cannot be read.
const DEFAULT_EPHEMERAL: (u16, u16) = (49153, 65535);

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    /// `tcp`, `udp` or `sctp` (lower case only, as docker's keys).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            "sctp" => Some(Self::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container port and its protocol: docker's `80/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    pub port: u16,
    pub proto: Proto,
}

impl FromStr for PortKey {
    type Err = String;

    /// `80/tcp`, `53/udp`, or `80` (tcp). The error is docker's `invalid
    /// port specification`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        let bad = || format!("invalid port specification: \"{s}\"");
        let port = parse_port(port).ok_or_else(bad)?;
        let proto = Proto::parse(proto).ok_or_else(bad)?;
        Ok(Self { port, proto })
    }
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

/// A decimal port number 0-65535, as Go's `strconv.ParseUint(s, 10, 16)`
/// reads it (leading zeros allowed, no sign).
pub fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok()
}

/// `8080` or `8080-8090` (docker's `ParsePortRange`): the first and last
/// port, or `None` when malformed or backwards.
pub fn parse_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        None => parse_port(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (parse_port(a)?, parse_port(b)?);
            (a <= b).then_some((a, b))
        }
    }
}

/// What one published port asks for (one entry of docker's
/// `HostConfig.PortBindings[key]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub key: PortKey,
    /// `None`: every address of the host, IPv4 and IPv6 (`0.0.0.0` and `::`).
    pub host_ip: Option<IpAddr>,
    /// `None`: a free port of the kernel's ephemeral range; `Some((a, b))`:
    /// the first free port from `a` to `b` (a single port when `a == b`).
    pub host_ports: Option<(u16, u16)>,
}

/// A published port as it is held: docker's `NetworkSettings.Ports[key][i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Binding {
    pub key: PortKey,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// Why ports could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Another berth container holds the port (docker's allocator message).
    #[error("Bind for {} failed: port is already allocated", host_port(*ip, *port))]
    Allocated { ip: IpAddr, port: u16 },
    /// Something else on the host holds it.
    #[error("failed to bind host port for {}/{proto}: {}", host_port(*ip, *port), io_text(source))]
    Bind {
        ip: IpAddr,
        port: u16,
        proto: Proto,
        source: std::io::Error,
    },
    /// Every port of the range is taken.
    #[error("Bind for {}:{first}-{last} failed: all ports are allocated", bracketed(*ip))]
    Exhausted { ip: IpAddr, first: u16, last: u16 },
    /// `nft` failed.
    #[error("cannot program the nftables rules of published ports: {message}")]
    Nft { message: String },
    /// A sysctl could not be written.
    #[error("cannot write {path}: {source}")]
    Sysctl {
        path: String,
        source: std::io::Error,
    },
}

fn io_text(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        "address already in use".to_owned()
    } else {
        e.to_string()
    }
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Go's `net.JoinHostPort`: `0.0.0.0:8080`, `[::]:8080`.
pub fn host_port(ip: IpAddr, port: u16) -> String {
    format!("{}:{port}", bracketed(ip))
}

/// The kernel's ephemeral port range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), where docker picks random
/// host ports; docker's 49153-65535 if it cannot be read.
pub fn ephemeral_range() -> (u16, u16) {
    let text = fs_err::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .filter_map(|s| s.parse::<u16>().ok());
    match (it.next(), it.next()) {
        (Some(a), Some(b)) if 0 < a && a <= b => (a, b),
        _ => DEFAULT_EPHEMERAL,
    }
}

/// Whether this host can bind IPv6 addresses (docker publishes on `::` too
/// then).
fn ipv6_usable() -> bool {
    Socket::new(Domain::IPV6, Type::STREAM, None)
        .and_then(|s| {
            s.set_only_v6(true)?;
            s.bind(&SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0).into())
        })
        .is_ok()
}

/// Host ports held for their owners.
pub struct Allocator {
    state: Mutex<AllocState>,
    range: (u16, u16),
    ipv6: bool,
}

impl fmt::Debug for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allocator")
            .field("range", &self.range)
            .field("ipv6", &self.ipv6)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct AllocState {
    /// What each owner holds: the bindings and their sockets.
    owners: BTreeMap<String, Vec<(Binding, Option<Socket>)>>,
    /// Where the next search for a random port starts.
    cursor: u32,
    /// The container address each owner's IPv6 proxies lead to (changed
    /// in place when its ports move to another network), and the bindings
    /// that have one.
    proxied: BTreeMap<String, (Arc<Mutex<IpAddr>>, BTreeSet<Binding>)>,
}

impl Default for Allocator {
    fn default() -> Self {
        Self::new()
    }
}

impl Allocator {
    /// An allocator that takes random ports from the kernel's ephemeral range.
    pub fn new() -> Self {
        Self::with_range(ephemeral_range())
    }

    pub fn with_range(range: (u16, u16)) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id();
        Self {
            state: Mutex::new(AllocState {
                cursor: seed,
                ..AllocState::default()
            }),
            range,
            ipv6: ipv6_usable(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AllocState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves every request for `owner`, or none: on an error nothing is
    /// held. What `owner` held before is released first (a restart asks
    /// again). Returned in the order of the requests; a request without a
    /// host address gives an IPv4 and (when the host has IPv6) an IPv6
    /// binding with the same port.
    pub fn reserve(&self, owner: &str, requests: &[Request]) -> Result<Vec<Binding>, PortError> {
        let mut st = self.lock();
        st.owners.remove(owner);
        st.proxied.remove(owner);
        let mut held: Vec<(Binding, Option<Socket>)> = Vec::new();
        for r in requests {
            let ips: Vec<IpAddr> = match r.host_ip {
                Some(ip) => vec![ip],
                None if self.ipv6 => vec![
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                ],
                None => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            };
            let got = match r.host_ports {
                Some((a, b)) if a == b && a != 0 => self.take(&st, &held, r.key, &ips, a)?,
                Some((a, b)) if a != 0 => self.take_first(&st, &held, r.key, &ips, a, b)?,
                _ => {
                    let (a, b) = self.range;
                    let span = u32::from(b - a) + 1;
                    let start = a + u16::try_from(st.cursor % span).unwrap_or(0);
                    let got = self.take_first_from(&st, &held, r.key, &ips, a, b, start)?;
                    st.cursor = st.cursor.wrapping_add(1);
                    got
                }
            };
            held.extend(got);
        }
        let bindings = held.iter().map(|(b, _)| *b).collect();
        st.owners.insert(owner.to_owned(), held);
        Ok(bindings)
    }

    /// Releases what `owner` holds (nothing if it holds nothing). A proxy
    /// listening on one of its sockets stops accepting.
    pub fn release(&self, owner: &str) {
        let mut st = self.lock();
        st.proxied.remove(owner);
        if let Some(held) = st.owners.remove(owner) {
            for s in held.iter().filter_map(|(_, s)| s.as_ref()) {
                // Wakes a proxy's accept(); a socket that only holds the
                // port answers ENOTCONN, which is fine.
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Serves `owner`'s IPv6 TCP bindings with a small proxy to
    /// `container_ip`, as docker's userland proxy does, where nothing in
    /// the kernel can carry them:
    /// - an IPv4-only container: every IPv6 TCP binding (nftables cannot
    ///   DNAT IPv6 traffic to an IPv4 address, nor can a socket-level
    ///   redirection change a socket's address family);
    /// - a container with an IPv6 address: the host's own connections to
    ///   `::1` (the kernel never routes a loopback source out of another
    ///   device, and IPv6 has no `route_localnet`), so bindings on `::`
    ///   and `::1` listen; and none at all when `loopback_redirected`: the
    ///   socket-level redirection ([`crate::sockredir`]) sends those
    ///   connections to the container directly.
    ///
    /// Called again (the ports moved to another network), the running
    /// proxies lead to the new address and bindings it now needs start
    /// one. IPv4, the fast path, never goes through it. Until
    /// [`Self::release`].
    pub fn proxy_ipv6(
        &self,
        owner: &str,
        container_ip: impl Into<IpAddr>,
        loopback_redirected: bool,
    ) -> Result<(), PortError> {
        let container_ip = container_ip.into();
        let mut guard = self.lock();
        let st = &mut *guard;
        let (target, listening) = st
            .proxied
            .entry(owner.to_owned())
            .or_insert_with(|| (Arc::new(Mutex::new(container_ip)), BTreeSet::new()));
        // Running already: they lead to the new address from now on.
        *target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = container_ip;
        let Some(held) = st.owners.get(owner) else {
            return Ok(());
        };
        for (b, socket) in held {
            let Some(socket) = socket else {
                continue;
            };
            if b.host_ip.is_ipv4() || b.key.proto != Proto::Tcp || listening.contains(b) {
                continue;
            }
            if container_ip.is_ipv6()
                && (loopback_redirected || !(b.host_ip.is_unspecified() || b.host_ip.is_loopback()))
            {
                continue;
            }
            let err = |source| PortError::Bind {
                ip: b.host_ip,
                port: b.host_port,
                proto: b.key.proto,
                source,
            };
            socket.listen(128).map_err(err)?;
            let listener: std::net::TcpListener = socket.try_clone().map_err(err)?.into();
            let (to, port) = (Arc::clone(target), b.key.port);
            std::thread::Builder::new()
                .name(format!("proxy6-{}", b.host_port))
                .stack_size(64 * 1024)
                .spawn(move || proxy(&listener, &to, port))
                .map_err(err)?;
            listening.insert(*b);
        }
        Ok(())
    }

    /// Gives back `owner`'s IPv4 bindings (its container is on an
    /// IPv6-only network: as dockerd, only the IPv6 side of a port is
    /// published).
    pub fn drop_ipv4(&self, owner: &str) {
        let mut st = self.lock();
        if let Some(held) = st.owners.get_mut(owner) {
            held.retain(|(b, _)| b.host_ip.is_ipv6());
        }
    }

    /// What `owner` holds.
    pub fn held(&self, owner: &str) -> Vec<Binding> {
        self.lock()
            .owners
            .get(owner)
            .map(|v| v.iter().map(|(b, _)| *b).collect())
            .unwrap_or_default()
    }

    fn take_first(
        &self,
        st: &AllocState,
        held: &[(Binding, Option<Socket>)],
        key: PortKey,
        ips: &[IpAddr],
        first: u16,
        last: u16,
    ) -> Result<Vec<(Binding, Option<Socket>)>, PortError> {
        self.take_first_from(st, held, key, ips, first, last, first)
    }

    /// The first port from `start` (wrapping within `first..=last`) that
    /// every address in `ips` can take.
    #[allow(clippy::too_many_arguments)]
    fn take_first_from(
        &self,
        st: &AllocState,
        held: &[(Binding, Option<Socket>)],
        key: PortKey,
        ips: &[IpAddr],
        first: u16,
        last: u16,
        start: u16,
    ) -> Result<Vec<(Binding, Option<Socket>)>, PortError> {
        let span = u32::from(last - first) + 1;
        let offset = u32::from(start.saturating_sub(first));
        for i in 0..span {
            let port = first + u16::try_from((offset + i) % span).unwrap_or(0);
            if let Ok(got) = self.take(st, held, key, ips, port) {
                return Ok(got);
            }
        }
        Err(PortError::Exhausted {
            ip: ips
                .first()
                .copied()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            first,
            last,
        })
    }

    /// `port` on every address in `ips`, or an error and nothing held.
    fn take(
        &self,
        st: &AllocState,
        held: &[(Binding, Option<Socket>)],
        key: PortKey,
        ips: &[IpAddr],
        port: u16,
    ) -> Result<Vec<(Binding, Option<Socket>)>, PortError> {
        let mut out = Vec::new();
        for &ip in ips {
            let b = Binding {
                key,
                host_ip: ip,
                host_port: port,
            };
            let taken = st
                .owners
                .values()
                .flatten()
                .map(|(b, _)| b)
                .chain(held.iter().map(|(b, _)| b))
                .chain(out.iter().map(|(b, _): &(Binding, _)| b))
                .any(|o| clashes(o, &b));
            if taken {
                return Err(PortError::Allocated { ip, port });
            }
            let socket = bind(ip, port, key.proto)?;
            out.push((b, socket));
        }
        Ok(out)
    }
}

/// Two bindings want the same socket: same protocol and port, same address
/// family, and the same address or one of them every address.
fn clashes(a: &Binding, b: &Binding) -> bool {
    a.key.proto == b.key.proto
        && a.host_port == b.host_port
        && a.host_ip.is_ipv4() == b.host_ip.is_ipv4()
        && (a.host_ip == b.host_ip || a.host_ip.is_unspecified() || b.host_ip.is_unspecified())
}

/// A socket bound to `ip:port` for `proto`, never listening: it only holds
/// the port. SCTP is not held when the kernel has no SCTP (docker's mapper
/// does the same).
fn bind(ip: IpAddr, port: u16, proto: Proto) -> Result<Option<Socket>, PortError> {
    let domain = if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let (ty, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
        Proto::Sctp => (Type::STREAM, Protocol::from(libc::IPPROTO_SCTP)),
    };
    let err = |source| PortError::Bind {
        ip,
        port,
        proto,
        source,
    };
    let socket = match Socket::new(domain, ty, Some(protocol)) {
        Ok(s) => s,
        Err(e)
            if proto == Proto::Sctp
                && matches!(
                    e.raw_os_error(),
                    Some(libc::EPROTONOSUPPORT | libc::ESOCKTNOSUPPORT)
                ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(err(e)),
    };
    if ip.is_ipv6() {
        socket.set_only_v6(true).map_err(err)?;
        // An IPv6 TCP binding becomes a listening proxy
        // ([`Allocator::proxy_ipv6`]): without SO_REUSEADDR the connections
        // it served, in TIME_WAIT, would keep the next start (a restart of
        // the container or of berthd) from binding the port again. A
        // listening socket still keeps everyone else off the port.
        if proto == Proto::Tcp {
            socket.set_reuse_address(true).map_err(err)?;
        }
    }
    socket
        .bind(&SocketAddr::new(ip, port).into())
        .map_err(err)?;
    Ok(Some(socket))
}

/// Accepts on `listener` until it is shut down; each connection is copied
/// both ways to `port` of the address in `target` (read at each accept).
fn proxy(listener: &std::net::TcpListener, target: &Mutex<IpAddr>, port: u16) {
    use std::io::ErrorKind;
    loop {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        let ip = *target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let to = SocketAddr::new(ip, port);
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || splice(client, to));
        if spawned.is_err() {
            // Out of threads: this connection is dropped, later ones may work.
            continue;
        }
    }
}

fn splice(client: std::net::TcpStream, to: SocketAddr) {
    use std::net::{Shutdown, TcpStream};
    let Ok(server) = TcpStream::connect_timeout(&to, std::time::Duration::from_secs(10)) else {
        return;
    };
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = std::io::copy(&mut c_read, &mut s_write);
            let _ = s_write.shutdown(Shutdown::Write);
        });
    let (mut s_read, mut c_write) = (server, client);
    let _ = std::io::copy(&mut s_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    if let Ok(t) = up {
        let _ = t.join();
    }
}

/// Where an owner's published ports lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The container's address on the network its ports are published on;
    /// `None` on an IPv6-only network (only its IPv6 bindings lead
    /// somewhere: [`Allocator::drop_ipv4`]).
    pub container_ip: Option<Ipv4Addr>,
    /// Its IPv6 address on the network its IPv6 bindings are published on
    /// (docker's IPv6 gateway endpoint), if it has one: they are DNATed to
    /// it (all but `::1`), and the host's own connections redirected to it
    /// (see [`crate::sockredir`] and [`Allocator::proxy_ipv6`]).
    pub container_ip6: Option<Ipv6Addr>,
    /// That network's bridge.
    pub bridge: String,
}

/// The nftables rules of every owner's published ports.
#[derive(Debug)]
pub struct PortRules {
    table: String,
    owners: Mutex<BTreeMap<String, (Target, Vec<Binding>)>>,
    /// Socket-level redirection of the host's own connections, when
    /// turned on and available (see [`crate::sockredir`]).
    redirect: std::sync::OnceLock<Option<crate::sockredir::SockRedirect>>,
}

impl PortRules {
    /// Rules in the inet table `table` (made if missing).
    pub fn new(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            owners: Mutex::new(BTreeMap::new()),
            redirect: std::sync::OnceLock::new(),
        }
    }

    /// Also sends the calling thread's network namespace's own connections
    /// to published ports (IPv4, and IPv6 to a container's IPv6 address)
    /// straight to the container, at the socket
    /// level (see [`crate::sockredir`]); the DNAT rules stay for everyone
    /// else. When that is not possible (no cgroup2, no permission, an old
    /// kernel), says why once and keeps DNAT only. Returns whether it is on.
    pub fn redirect_host_connections(&self) -> bool {
        let r = self
            .redirect
            .get_or_init(crate::sockredir::SockRedirect::attach_or_explain);
        if let Some(r) = r {
            crate::sockredir::sync_owners(r, &self.lock());
        }
        r.is_some()
    }

    /// Whether the host's own connections are redirected at the socket
    /// level ([`Self::redirect_host_connections`] was called and the
    /// programs are attached).
    pub fn redirects_host_connections(&self) -> bool {
        matches!(self.redirect.get(), Some(Some(_)))
    }

    /// The redirection, when it is on (to read its map).
    pub fn redirect(&self) -> Option<&crate::sockredir::SockRedirect> {
        self.redirect.get().and_then(Option::as_ref)
    }

    /// Brings the redirection map in line with `owners` (a no-op when the
    /// redirection is off).
    fn sync_redirect(&self, owners: &BTreeMap<String, (Target, Vec<Binding>)>) {
        if let Some(Some(r)) = self.redirect.get() {
            crate::sockredir::sync_owners(r, owners);
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, (Target, Vec<Binding>)>> {
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes `bindings` of `owner` to `target` (replacing what it had).
    /// On an error nothing changed.
    pub fn set(&self, owner: &str, target: Target, bindings: &[Binding]) -> Result<(), PortError> {
        let mut owners = self.lock();
        let before = owners.insert(owner.to_owned(), (target, bindings.to_vec()));
        let applied = apply(&render(&self.table, &owners));
        if applied.is_err() {
            match before {
                Some(b) => owners.insert(owner.to_owned(), b),
                None => owners.remove(owner),
            };
        }
        self.sync_redirect(&owners);
        applied
    }

    /// Removes `owner`'s rules (nothing if it has none).
    pub fn remove(&self, owner: &str) -> Result<(), PortError> {
        let mut owners = self.lock();
        if owners.remove(owner).is_none() {
            return Ok(());
        }
        self.sync_redirect(&owners);
        apply(&render(&self.table, &owners))
    }

    /// Writes the chains again from what is recorded (after the table was
    /// made anew, at daemon start).
    pub fn rebuild(&self) -> Result<(), PortError> {
        let owners = self.lock();
        self.sync_redirect(&owners);
        apply(&render(&self.table, &owners))
    }

    /// The owners with rules.
    pub fn owners(&self) -> BTreeSet<String> {
        self.lock().keys().cloned().collect()
    }
}

/// The base chains of port publishing in berth's table, with the hook
/// and priority of each: they only hand traffic to [`DNAT_CHAIN`] and
/// [`SNAT_CHAIN`]. Being base chains of their own, they do not depend on
/// the table's other chains and survive nothing but the table.
const BASE_CHAINS: [(&str, &str, i32, &str); 3] = [
    (
        "ports-prerouting",
        "prerouting",
        -100,
        "fib daddr type local jump",
    ),
    ("ports-output", "output", -100, "fib daddr type local jump"),
    ("ports-postrouting", "postrouting", 100, "jump"),
];

/// Everything port publishing has in the table, flushed and filled anew,
/// as one `nft -f` transaction: the table (if missing), the base chains
/// and their jumps, the DNAT and the masquerade rules.
fn render(table: &str, owners: &BTreeMap<String, (Target, Vec<Binding>)>) -> String {
    let mut s = format!(
        "add table inet {table}\n\
         add chain inet {table} {DNAT_CHAIN}\n\
         add chain inet {table} {SNAT_CHAIN}\n\
         flush chain inet {table} {DNAT_CHAIN}\n\
         flush chain inet {table} {SNAT_CHAIN}\n"
    );
    for (i, (chain, hook, priority, jump)) in BASE_CHAINS.iter().enumerate() {
        let to = if i == 2 { SNAT_CHAIN } else { DNAT_CHAIN };
        s.push_str(&format!(
            "add chain inet {table} {chain} {{ type nat hook {hook} priority {priority}; policy accept; }}\n\
             flush chain inet {table} {chain}\n\
             add rule inet {table} {chain} {jump} {to}\n"
        ));
    }
    let mut bridges = BTreeSet::new();
    let mut any_bridges = BTreeSet::new();
    for (owner, (t, bindings)) in owners {
        if t.container_ip.is_some() && bindings.iter().any(|b| b.host_ip.is_ipv4()) {
            bridges.insert(t.bridge.clone());
        }
        if !bindings.is_empty() {
            any_bridges.insert(t.bridge.clone());
        }
        let mut hairpins = BTreeSet::new();
        // An IPv6-only container (no IPv4 address): its IPv4 bindings lead
        // nowhere.
        let v4 = bindings
            .iter()
            .filter(|b| b.host_ip.is_ipv4())
            .filter_map(|b| Some((b, t.container_ip?)));
        for (b, c4) in v4 {
            let daddr = match b.host_ip {
                IpAddr::V4(ip) if !ip.is_unspecified() => format!("ip daddr {ip}"),
                _ => "meta nfproto ipv4".to_owned(),
            };
            s.push_str(&format!(
                "add rule inet {table} {DNAT_CHAIN} {daddr} meta l4proto {p} th dport {hp} dnat ip to {c4}:{cp} comment \"{owner}\"\n",
                p = b.key.proto,
                hp = b.host_port,
                cp = b.key.port,
            ));
            hairpins.insert(b.key);
        }
        let mut hairpins6 = BTreeSet::new();
        for b in bindings.iter().filter(|b| b.host_ip.is_ipv6()) {
            let (Some(c6), IpAddr::V6(ip)) = (t.container_ip6, b.host_ip) else {
                continue;
            };
            let daddr = if ip.is_unspecified() {
                "meta nfproto ipv6 ip6 daddr != ::1".to_owned()
            } else if ip.is_loopback() {
                // A loopback source cannot leave `lo`: redirected at the
                // socket level, or proxied.
                continue;
            } else {
                format!("ip6 daddr {ip}")
            };
            s.push_str(&format!(
                "add rule inet {table} {DNAT_CHAIN} {daddr} meta l4proto {p} th dport {hp} dnat ip6 to [{c6}]:{cp} comment \"{owner}\"\n",
                p = b.key.proto,
                hp = b.host_port,
                cp = b.key.port,
            ));
            hairpins6.insert(b.key);
        }
        for k in hairpins6 {
            if let Some(c6) = t.container_ip6 {
                s.push_str(&format!(
                    "add rule inet {table} {SNAT_CHAIN} ip6 saddr {c6} ip6 daddr {c6} meta l4proto {p} th dport {cp} masquerade comment \"{owner}\"\n",
                    p = k.proto,
                    cp = k.port,
                ));
            }
        }
        for k in hairpins {
            if let Some(c4) = t.container_ip {
                s.push_str(&format!(
                    "add rule inet {table} {SNAT_CHAIN} ip saddr {c4} ip daddr {c4} meta l4proto {p} th dport {cp} masquerade comment \"{owner}\"\n",
                    p = k.proto,
                    cp = k.port,
                ));
            }
        }
    }
    for br in bridges {
        s.push_str(&format!(
            "add rule inet {table} {SNAT_CHAIN} ip saddr 127.0.0.0/8 oifname \"{br}\" masquerade comment \"loopback to published ports\"\n"
        ));
    }
    for br in any_bridges {
        s.push_str(&format!(
            "add rule inet {table} {SNAT_CHAIN} iifname \"{br}\" oifname \"{br}\" ct status dnat masquerade comment \"containers of one bridge to published ports\"\n"
        ));
    }
    s
}

/// Runs `nft -f -` with `script` (one transaction: all of it or nothing).
pub fn apply(script: &str) -> Result<(), PortError> {
    let nft_error = |message: String| PortError::Nft { message };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            nft_error(format!(
                "cannot run `nft` ({e}); install the nftables package"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| nft_error(format!("cannot write to `nft`: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| nft_error(format!("`nft` failed: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(nft_error(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

/// Lets the kernel route 127.0.0.0/8 sources out of `bridge` (in the
/// network namespace of the calling thread), so the host's own connections
/// to `127.0.0.1:P` can be DNATed to a container behind it.
pub fn enable_route_localnet(bridge: &str) -> Result<(), PortError> {
    write_sysctl(
        &Path::new("/proc/sys/net/ipv4/conf")
            .join(bridge)
            .join("route_localnet"),
    )
}

/// Turns on hairpin mode on the bridge port `veth` (so a container reaches
/// its own published port through the host's address when the bridge
/// forwards it back out of the port it came in).
pub fn enable_hairpin(veth: &str) -> Result<(), PortError> {
    write_sysctl(
        &Path::new("/sys/class/net")
            .join(veth)
            .join("brport/hairpin_mode"),
    )
}

fn write_sysctl(path: &Path) -> Result<(), PortError> {
    fs_err::write(path, b"1").map_err(|e| PortError::Sysctl {
        path: path.display().to_string(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ranges() {
        assert_eq!(
            "80/tcp".parse::<PortKey>(),
            Ok(PortKey {
                port: 80,
                proto: Proto::Tcp
            })
        );
        assert_eq!(
            "53/udp".parse::<PortKey>().map(|k| k.to_string()),
            Ok("53/udp".into())
        );
        assert_eq!(
            "80".parse::<PortKey>().map(|k| k.to_string()),
            Ok("80/tcp".into())
        );
        assert_eq!(
            "x/tcp".parse::<PortKey>(),
            Err("invalid port specification: \"x/tcp\"".into())
        );
        assert!("80/icmp".parse::<PortKey>().is_err());
        assert_eq!(parse_range("08080"), Some((8080, 8080)));
        assert_eq!(parse_range("9000-9002"), Some((9000, 9002)));
        assert_eq!(parse_range("80-70"), None);
        assert_eq!(parse_range("+80"), None);
        assert_eq!(parse_range("70000"), None);
        assert_eq!(parse_range(""), None);
    }

    #[test]
    fn messages_are_dockers() {
        let v4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            PortError::Allocated { ip: v4, port: 8080 }.to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
        let e = PortError::Bind {
            ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            port: 8080,
            proto: Proto::Tcp,
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert_eq!(
            e.to_string(),
            "failed to bind host port for [::]:8080/tcp: address already in use"
        );
    }

    #[test]
    fn rules_render_per_binding_and_hairpin() {
        let mut owners = BTreeMap::new();
        let key = PortKey {
            port: 80,
            proto: Proto::Tcp,
        };
        owners.insert(
            "c1".to_owned(),
            (
                Target {
                    container_ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
                    container_ip6: None,
                    bridge: "br0".into(),
                },
                vec![
                    Binding {
                        key,
                        host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                        host_port: 8080,
                    },
                    Binding {
                        key,
                        host_ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                        host_port: 8080,
                    },
                    Binding {
                        key,
                        host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                        host_port: 8081,
                    },
                ],
            ),
        );
        let s = render("t", &owners);
        assert!(s.contains("add rule inet t ports-dnat meta nfproto ipv4 meta l4proto tcp th dport 8080 dnat ip to 10.0.0.2:80 comment \"c1\"\n"), "{s}");
        assert!(
            s.contains("ip daddr 127.0.0.1 meta l4proto tcp th dport 8081 dnat ip to 10.0.0.2:80"),
            "{s}"
        );
        assert_eq!(
            s.matches("ip saddr 10.0.0.2 ip daddr 10.0.0.2").count(),
            1,
            "{s}"
        );
        assert!(
            s.contains("ip saddr 127.0.0.0/8 oifname \"br0\" masquerade"),
            "{s}"
        );
        assert_eq!(
            s.matches("add rule inet t ports-snat iifname \"br0\" oifname \"br0\" ct status dnat masquerade").count(),
            1,
            "one per bridge: {s}"
        );
        assert!(s.contains("add rule inet t ports-output fib daddr type local jump ports-dnat\n"));
        let empty = render("t", &BTreeMap::new());
        assert!(
            empty.ends_with("add rule inet t ports-postrouting jump ports-snat\n"),
            "{empty}"
        );
    }

    #[test]
    fn ipv6_bindings_dnat_to_an_ipv6_container_but_loopback() {
        let key = PortKey {
            port: 80,
            proto: Proto::Tcp,
        };
        let b = |ip: &str, port| Binding {
            key,
            host_ip: ip.parse().unwrap(),
            host_port: port,
        };
        let target = Target {
            container_ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
            container_ip6: Some("fd00:1::2".parse().unwrap()),
            bridge: "br0".into(),
        };
        let owners = BTreeMap::from([(
            "c1".to_owned(),
            (
                target,
                vec![b("::", 8080), b("::1", 8081), b("fd00::9", 8082)],
            ),
        )]);
        let s = render("t", &owners);
        assert!(s.contains("ports-dnat meta nfproto ipv6 ip6 daddr != ::1 meta l4proto tcp th dport 8080 dnat ip6 to [fd00:1::2]:80 comment \"c1\"\n"), "{s}");
        assert!(s.contains("ports-dnat ip6 daddr fd00::9 meta l4proto tcp th dport 8082 dnat ip6 to [fd00:1::2]:80"), "{s}");
        assert!(!s.contains("dport 8081"), "{s}");
        assert!(
            s.contains(
                "ip6 saddr fd00:1::2 ip6 daddr fd00:1::2 meta l4proto tcp th dport 80 masquerade"
            ),
            "{s}"
        );
    }

    #[test]
    fn reservations_hold_and_release() {
        let a = Allocator::with_range((40000, 40100));
        let any = Request {
            key: PortKey {
                port: 80,
                proto: Proto::Tcp,
            },
            host_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            host_ports: None,
        };
        let got = a.reserve("one", &[any]).unwrap();
        assert_eq!(got.len(), 1);
        let port = got[0].host_port;
        assert!((40000..=40100).contains(&port));
        // The kernel sees the port taken.
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
        let fixed = Request {
            host_ports: Some((port, port)),
            ..any
        };
        assert!(matches!(
            a.reserve("two", &[fixed]),
            Err(PortError::Allocated { .. })
        ));
        assert!(a.held("two").is_empty());
        a.release("one");
        assert!(a.held("one").is_empty());
        assert_eq!(a.reserve("two", &[fixed]).unwrap()[0].host_port, port);
        a.release("two");
    }
}
