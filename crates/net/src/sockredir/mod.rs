//! Socket-level redirection of the host's own connections to published
//! ports: no packet of them is NATed.
//!
//! Port publishing DNATs in nftables (see [`crate::ports`]); that serves
//! every client, but a connection the host itself makes to
//! `127.0.0.1:<port>` then pays, for each of its packets, the nat OUTPUT
//! hook, a second route lookup (the socket's cached route is for `lo`) and
//! masquerading, which costs throughput; one to `[::1]:<port>` cannot be
//! DNATed at all (IPv6 has no `route_localnet`: a loopback source never
//! leaves `lo`) and needed a userland proxy. Instead, eBPF programs of type
//! `BPF_PROG_TYPE_CGROUP_SOCK_ADDR` attached to the root of the cgroup2
//! hierarchy run when a socket of the daemon's network namespace calls
//! `connect()` (TCP and UDP) or `sendmsg()` with an address (UDP), one
//! program per hook and address family: when the destination is a
//! published port (a [`Frontend`]), they replace it with the container's
//! address of the same family and the port before the kernel routes
//! anything, so the connection goes straight over the bridge. Two more
//! programs per family, on `getpeername()` and UDP `recvmsg()`, put the
//! published address back, so the client sees `127.0.0.1:<port>` (or
//! `[::1]:<port>`) as its peer, as with DNAT (the same design as Cilium's
//! socket load balancer). An IPv6 socket that names an IPv4 published
//! address in its IPv4-mapped form (`::ffff:127.0.0.1`, a dual-stack
//! client) goes through the IPv6 programs, whose map has each IPv4
//! frontend in that form too, leading to the container's IPv4 address in
//! the same form ([`frontends`]); the kernel hands such a socket's
//! unconnected UDP datagrams to the IPv4 `sendmsg` program instead, so the
//! IPv6 `recvmsg`/`getpeername` programs also look an IPv4-mapped peer up
//! in the IPv4 sockets map.
//!
//! A program cannot change a socket's address family: an IPv6 client of a
//! container that has no IPv6 address (`[::1]:<port>` of a port published
//! on `::`) still goes through the userland proxy of
//! [`crate::ports::Allocator::proxy_ipv6`], as with docker.
//!
//! The programs compare the socket's network namespace with the one they
//! were loaded for, so containers' own `127.0.0.1` is never touched. They
//! are attached through BPF links held by descriptors in [`SockRedirect`]:
//! when it is dropped, or the daemon exits or crashes, the kernel detaches
//! them; nothing is left behind. The nftables DNAT stays in place for
//! remote clients, and carries the host's connections too whenever the
//! programs are not attached.

mod programs;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use berth_sys::bpf;

use self::programs::Family;
use crate::bpf_asm as asm;
use crate::ports::{Binding, Proto, Target};

/// A published address the host's own sockets connect to (IPv4 or IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frontend {
    pub addr: SocketAddr,
    pub proto: Proto,
}

impl Frontend {
    /// The map key: the address and port as the kernel stores them (network
    /// byte order), the port's 16 bits or'ed with the protocol number << 16,
    /// as the programs build it from `struct bpf_sock_addr`. 8 bytes for
    /// IPv4, 20 for IPv6.
    fn key(&self) -> Vec<u8> {
        let word = port_word(self.addr.port()) | (proto_number(self.proto) << 16);
        let mut k = octets(self.addr.ip());
        k.extend_from_slice(&word.to_ne_bytes());
        k
    }
}

/// The family of `addr`'s programs and maps.
fn family(addr: &SocketAddr) -> Family {
    match addr {
        SocketAddr::V4(_) => Family::V4,
        SocketAddr::V6(_) => Family::V6,
    }
}

/// An address's bytes in network order.
fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    }
}

/// The IP protocol number (`sk_protocol`) of sockets of `proto`.
fn proto_number(proto: Proto) -> u32 {
    match proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Sctp => 132,
    }
}

/// A port as a program reads `user_port`: the two bytes of the
/// network-order port loaded as a native 16-bit number.
fn port_word(port: u16) -> u32 {
    u32::from(u16::from_ne_bytes(port.to_be_bytes()))
}

/// A map value: the address and port the programs write into the socket
/// address (same encoding as the key's first two fields).
fn backend_value(to: SocketAddr) -> Vec<u8> {
    let mut v = octets(to.ip());
    v.extend_from_slice(&port_word(to.port()).to_ne_bytes());
    v
}

/// The address and port of a map value ([`backend_value`]'s inverse).
fn parse_value(v: &[u8]) -> Option<SocketAddr> {
    let (ip, word) = v.split_at_checked(v.len().checked_sub(4)?)?;
    let ip = match ip.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)),
        _ => return None,
    };
    let word = u32::from_ne_bytes(word.try_into().ok()?);
    let port = u16::from_be_bytes((word as u16).to_ne_bytes());
    Some(SocketAddr::new(ip, port))
}
/// Published ports one daemon can hold (the whole port range, TCP and UDP).
const MAX_FRONTENDS: u32 = 131_072;
/// Redirected sockets remembered for `getpeername()`/`recvmsg()`; the least
/// recently used entry goes when full (a socket's cookie is never reused,
/// so a stale entry matches nothing).
const MAX_SOCKETS: u32 = 65_536;

/// Why the programs could not be set up. The daemon then keeps publishing
/// through nftables DNAT only.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("no cgroup2 hierarchy is mounted (see /proc/self/mountinfo)")]
    NoCgroup2,
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the cgroup {path}: {source}")]
    OpenCgroup {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot find this network namespace's cookie: {0}")]
    Cookie(String),
    #[error("cannot create the eBPF map of published ports: {0}")]
    Map(berth_sys::SysError),
    #[error("{0}")]
    Assemble(String),
    #[error("the kernel refused the {hook} program: {source}")]
    Load {
        hook: &'static str,
        source: bpf::ProgLoadError,
    },
    #[error("cannot attach the {hook} program to {cgroup}: {source}")]
    Attach {
        hook: &'static str,
        cgroup: String,
        source: berth_sys::SysError,
    },
    #[error("cannot update the eBPF map of published ports: {0}")]
    Update(berth_sys::SysError),
    #[error(
        "published port {frontend} cannot lead to {backend}: a socket cannot change its address family"
    )]
    Family {
        frontend: SocketAddr,
        backend: SocketAddr,
    },
}

/// The maps of one address family.
#[derive(Debug)]
struct Maps {
    family: Family,
    frontends: OwnedFd,
    /// The redirected sockets, for the restore programs (which hold
    /// references to it too once loaded).
    sockets: OwnedFd,
}

impl Maps {
    fn create(family: Family) -> Result<Self, RedirectError> {
        let (frontends, sockets) = match family {
            Family::V4 => ("berth_ports", "berth_socks"),
            Family::V6 => ("berth_ports6", "berth_socks6"),
        };
        let frontends = bpf::map_create(
            bpf::MAP_TYPE_HASH,
            family.entry_size(),
            family.entry_size(),
            MAX_FRONTENDS,
            frontends,
        )
        .map_err(RedirectError::Map)?;
        let sockets = bpf::map_create(
            bpf::MAP_TYPE_LRU_HASH,
            family.socket_key_size(),
            family.entry_size(),
            MAX_SOCKETS,
            sockets,
        )
        .map_err(RedirectError::Map)?;
        Ok(Self {
            family,
            frontends,
            sockets,
        })
    }

    fn sizes(&self) -> (usize, usize) {
        let n = self.family.entry_size() as usize;
        (n, n)
    }
}

/// A hook the programs are attached to.
struct Hook {
    /// For messages: `connect4`, ...
    name: &'static str,
    /// The program's name, as `bpftool` shows it (15 bytes at most).
    prog_name: &'static str,
    attach_type: u32,
    family: Family,
    /// The redirect program (else the restore one).
    redirect: bool,
}

const HOOKS: [Hook; 8] = {
    const fn hook(
        name: &'static str,
        prog_name: &'static str,
        attach_type: u32,
        family: Family,
        redirect: bool,
    ) -> Hook {
        Hook {
            name,
            prog_name,
            attach_type,
            family,
            redirect,
        }
    }
    use Family::{V4, V6};
    [
        hook(
            "connect4",
            "berth_connect4",
            bpf::ATTACH_CGROUP_INET4_CONNECT,
            V4,
            true,
        ),
        hook(
            "sendmsg4",
            "berth_sendmsg4",
            bpf::ATTACH_CGROUP_UDP4_SENDMSG,
            V4,
            true,
        ),
        hook(
            "getpeername4",
            "berth_getpeer4",
            bpf::ATTACH_CGROUP_INET4_GETPEERNAME,
            V4,
            false,
        ),
        hook(
            "recvmsg4",
            "berth_recvmsg4",
            bpf::ATTACH_CGROUP_UDP4_RECVMSG,
            V4,
            false,
        ),
        hook(
            "connect6",
            "berth_connect6",
            bpf::ATTACH_CGROUP_INET6_CONNECT,
            V6,
            true,
        ),
        hook(
            "sendmsg6",
            "berth_sendmsg6",
            bpf::ATTACH_CGROUP_UDP6_SENDMSG,
            V6,
            true,
        ),
        hook(
            "getpeername6",
            "berth_getpeer6",
            bpf::ATTACH_CGROUP_INET6_GETPEERNAME,
            V6,
            false,
        ),
        hook(
            "recvmsg6",
            "berth_recvmsg6",
            bpf::ATTACH_CGROUP_UDP6_RECVMSG,
            V6,
            false,
        ),
    ]
};

/// The attached programs and the maps of published ports they read.
#[derive(Debug)]
pub struct SockRedirect {
    v4: Maps,
    v6: Maps,
    /// The BPF links: closing them detaches the programs.
    _links: Vec<OwnedFd>,
    cgroup: PathBuf,
    entries: Mutex<BTreeMap<Frontend, SocketAddr>>,
}

impl SockRedirect {
    /// Loads the programs for the calling thread's network namespace and
    /// attaches them to the root of the host's cgroup2 hierarchy.
    pub fn attach() -> Result<Self, RedirectError> {
        let root = cgroup2_root()?;
        Self::attach_to(&root)
    }

    /// Loads the programs for the calling thread's network namespace and
    /// attaches them to the cgroup2 directory `cgroup` (they then run for
    /// the sockets of the processes in it and below it).
    pub fn attach_to(cgroup: &Path) -> Result<Self, RedirectError> {
        let cookie = netns_cookie()?;
        let (v4, v6) = (Maps::create(Family::V4)?, Maps::create(Family::V6)?);
        let dir = fs_err::File::open(cgroup).map_err(|e| RedirectError::OpenCgroup {
            path: cgroup.display().to_string(),
            source: e,
        })?;
        let assemble = |e: asm::AsmError| RedirectError::Assemble(e.to_string());
        let mut links = Vec::new();
        for hook in &HOOKS {
            let maps = match hook.family {
                Family::V4 => &v4,
                Family::V6 => &v6,
            };
            let (frontends, sockets) = (maps.frontends.as_raw_fd(), maps.sockets.as_raw_fd());
            let insns = if hook.redirect {
                programs::redirect(hook.family, cookie, frontends, sockets)
            } else {
                // IPv6's also restore an IPv4-mapped peer from IPv4's map.
                let mapped = (hook.family == Family::V6).then(|| v4.sockets.as_raw_fd());
                programs::restore(hook.family, sockets, mapped)
            }
            .map_err(assemble)?;
            let prog = bpf::prog_load_for(
                bpf::PROG_TYPE_CGROUP_SOCK_ADDR,
                hook.attach_type,
                &insns,
                c"Apache-2.0",
                hook.prog_name,
            )
            .map_err(|source| RedirectError::Load {
                hook: hook.name,
                source,
            })?;
            let link = bpf::link_create(dir.as_fd(), prog.as_fd(), hook.attach_type).map_err(
                |source| RedirectError::Attach {
                    hook: hook.name,
                    cgroup: cgroup.display().to_string(),
                    source,
                },
            )?;
            links.push(link);
        }
        Ok(Self {
            v4,
            v6,
            _links: links,
            cgroup: cgroup.to_owned(),
            entries: Mutex::new(BTreeMap::new()),
        })
    }

    /// [`Self::attach`], or `None` after logging (once per call) why not:
    /// the daemon then keeps using DNAT for its own connections.
    pub(crate) fn attach_or_explain() -> Option<Self> {
        match Self::attach() {
            Ok(r) => {
                tracing::info!(
                    cgroup = %r.cgroup.display(),
                    "published ports: the host's own connections are redirected at the socket level"
                );
                Some(r)
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "published ports: the host's own connections go through nftables DNAT \
                     (socket-level redirection unavailable)"
                );
                None
            }
        }
    }

    /// The cgroup the programs are attached to.
    pub fn cgroup(&self) -> &Path {
        &self.cgroup
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Frontend, SocketAddr>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The maps of `addr`'s family.
    fn maps(&self, addr: &SocketAddr) -> &Maps {
        match family(addr) {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    /// Makes the map hold exactly `wanted`: entries no longer wanted are
    /// removed, new and changed ones written. On an error the entries
    /// written so far stay (each is correct on its own) and the rest is
    /// retried on the next call. A frontend and its container address must
    /// be of the same family (the entries before such a pair are written).
    pub fn sync(&self, wanted: &BTreeMap<Frontend, SocketAddr>) -> Result<(), RedirectError> {
        let mut current = self.lock();
        let stale: Vec<Frontend> = current
            .keys()
            .filter(|k| !wanted.contains_key(k))
            .copied()
            .collect();
        for k in stale {
            let maps = self.maps(&k.addr);
            bpf::map_delete(maps.frontends.as_fd(), &k.key(), maps.sizes().0)
                .map_err(RedirectError::Update)?;
            current.remove(&k);
        }
        for (k, to) in wanted {
            if current.get(k) == Some(to) {
                continue;
            }
            if family(&k.addr) != family(to) {
                return Err(RedirectError::Family {
                    frontend: k.addr,
                    backend: *to,
                });
            }
            let maps = self.maps(&k.addr);
            bpf::map_update(
                maps.frontends.as_fd(),
                &k.key(),
                &backend_value(*to),
                maps.sizes(),
            )
            .map_err(RedirectError::Update)?;
            current.insert(*k, *to);
        }
        Ok(())
    }

    /// Where the kernel's map sends `frontend` now (read from the map
    /// itself, not from what this process remembers).
    pub fn lookup(&self, frontend: Frontend) -> Result<Option<SocketAddr>, RedirectError> {
        let maps = self.maps(&frontend.addr);
        let mut v = vec![0u8; maps.sizes().1];
        let found = bpf::map_lookup(
            maps.frontends.as_fd(),
            &frontend.key(),
            &mut v,
            maps.sizes(),
        )
        .map_err(RedirectError::Update)?;
        Ok(if found { parse_value(&v) } else { None })
    }
}

/// The frontends of published ports: each TCP or UDP binding, at the
/// loopback address of its family (`127.0.0.1`, `::1`) for a binding on
/// every address (`0.0.0.0`, `::`) and at its own address otherwise, leads
/// to the container's address of that family and the port. IPv6 bindings
/// of a container without an IPv6 address (the proxy's, see
/// [`crate::ports::Allocator::proxy_ipv6`]) and SCTP bindings are left
/// out (nftables carries SCTP).
pub fn frontends<'a>(
    owners: impl IntoIterator<Item = (&'a Target, &'a [Binding])>,
) -> BTreeMap<Frontend, SocketAddr> {
    let mut out = BTreeMap::new();
    for (t, bindings) in owners {
        for b in bindings {
            if b.key.proto == Proto::Sctp {
                continue;
            }
            let (front, back): (IpAddr, IpAddr) = match (b.host_ip, t.container_ip) {
                // An IPv6-only container: nothing behind an IPv4 binding.
                (IpAddr::V4(_), None) => continue,
                (IpAddr::V4(ip), Some(c)) if ip.is_unspecified() => {
                    (Ipv4Addr::LOCALHOST.into(), c.into())
                }
                (IpAddr::V4(ip), Some(c)) => (ip.into(), c.into()),
                (IpAddr::V6(ip), _) => {
                    let Some(c6) = t.container_ip6 else {
                        continue;
                    };
                    if ip.to_ipv4_mapped().is_some() {
                        continue;
                    }
                    let ip = if ip.is_unspecified() {
                        Ipv6Addr::LOCALHOST
                    } else {
                        ip
                    };
                    (ip.into(), c6.into())
                }
            };
            out.insert(
                Frontend {
                    addr: SocketAddr::new(front, b.host_port),
                    proto: b.key.proto,
                },
                SocketAddr::new(back, b.key.port),
            );
            // The same IPv4 address as an IPv6 (dual-stack) socket names
            // it, `::ffff:127.0.0.1`: to the container's IPv4 address in
            // the same form, which the kernel connects over IPv4.
            if let (IpAddr::V4(front), IpAddr::V4(back)) = (front, back) {
                out.insert(
                    Frontend {
                        addr: SocketAddr::new(front.to_ipv6_mapped().into(), b.host_port),
                        proto: b.key.proto,
                    },
                    SocketAddr::new(back.to_ipv6_mapped().into(), b.key.port),
                );
            }
        }
    }
    out
}

/// Syncs `r` with the published ports of `owners` (as [`crate::ports::PortRules`]
/// keeps them); a failure is logged: the DNAT rules still carry the
/// connections the map misses.
pub(crate) fn sync_owners(r: &SockRedirect, owners: &BTreeMap<String, (Target, Vec<Binding>)>) {
    let wanted = frontends(owners.values().map(|(t, b)| (t, b.as_slice())));
    if let Err(e) = r.sync(&wanted) {
        tracing::error!(error = %e, "published ports: cannot update the socket-level redirection");
    }
}

/// The cookie of the calling thread's network namespace.
fn netns_cookie() -> Result<u64, RedirectError> {
    let sock = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .or_else(|_| std::net::UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0)))
        .map_err(|e| RedirectError::Cookie(e.to_string()))?;
    berth_sys::socket::netns_cookie(sock.as_fd()).map_err(|e| RedirectError::Cookie(e.to_string()))
}

/// The mount point of the cgroup2 hierarchy's root, from
/// `/proc/self/mountinfo` (`/sys/fs/cgroup` on a pure cgroup v2 host,
/// `/sys/fs/cgroup/unified` on a hybrid one).
pub fn cgroup2_root() -> Result<PathBuf, RedirectError> {
    let path = "/proc/self/mountinfo";
    let text = fs_err::read_to_string(path).map_err(|e| RedirectError::Read {
        path: path.to_owned(),
        source: e,
    })?;
    cgroup2_in_mountinfo(&text).ok_or(RedirectError::NoCgroup2)
}

/// The first cgroup2 mount of the hierarchy's root in a mountinfo text.
fn cgroup2_in_mountinfo(text: &str) -> Option<PathBuf> {
    text.lines().find_map(|line| {
        // Fields: id parent major:minor root mount-point options
        // [optional fields...] - fstype source super-options
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split(' ').next()?;
        let mut fields = left.split(' ');
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        (fstype == "cgroup2" && root == "/").then(|| PathBuf::from(unescape(mount_point)))
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(oct) = bytes.get(i + 1..i + 4)
            && let Ok(text) = std::str::from_utf8(oct)
            && let Ok(b) = u8::from_str_radix(text, 8)
        {
            out.push(b);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortKey;

    fn b(ip: &str, host_port: u16, port: u16, proto: Proto) -> Binding {
        Binding {
            key: PortKey { port, proto },
            host_ip: ip.parse().unwrap(),
            host_port,
        }
    }

    fn f(addr: &str, proto: Proto) -> Frontend {
        Frontend {
            addr: addr.parse().unwrap(),
            proto,
        }
    }

    fn sa(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
    }

    #[test]
    fn frontends_of_bindings() {
        let t = Target {
            container_ip: Some(Ipv4Addr::new(10, 1, 0, 5)),
            container_ip6: None,
            bridge: "br".into(),
        };
        let bindings = [
            b("0.0.0.0", 8080, 80, Proto::Tcp),
            b("::", 8080, 80, Proto::Tcp),
            b("::1", 8081, 80, Proto::Udp),
            b("127.0.0.1", 5353, 53, Proto::Udp),
            b("192.0.2.7", 9000, 90, Proto::Tcp),
            b("0.0.0.0", 7000, 70, Proto::Sctp),
        ];
        // An IPv4-only container: its IPv6 bindings are the proxy's. Its
        // IPv4 ones also as IPv4-mapped addresses (dual-stack clients).
        assert_eq!(
            frontends([(&t, &bindings[..])]),
            BTreeMap::from([
                (f("127.0.0.1:8080", Proto::Tcp), sa("10.1.0.5:80")),
                (f("127.0.0.1:5353", Proto::Udp), sa("10.1.0.5:53")),
                (f("192.0.2.7:9000", Proto::Tcp), sa("10.1.0.5:90")),
                (
                    f("[::ffff:127.0.0.1]:8080", Proto::Tcp),
                    sa("[::ffff:10.1.0.5]:80")
                ),
                (
                    f("[::ffff:127.0.0.1]:5353", Proto::Udp),
                    sa("[::ffff:10.1.0.5]:53")
                ),
                (
                    f("[::ffff:192.0.2.7]:9000", Proto::Tcp),
                    sa("[::ffff:10.1.0.5]:90")
                ),
            ])
        );
    }

    #[test]
    fn ipv6_frontends_lead_to_the_containers_ipv6_address() {
        let t = Target {
            container_ip: Some(Ipv4Addr::new(10, 1, 0, 5)),
            container_ip6: Some("fd00:1::5".parse().unwrap()),
            bridge: "br".into(),
        };
        let bindings = [
            b("0.0.0.0", 8080, 80, Proto::Tcp),
            b("::", 8080, 80, Proto::Tcp),
            b("::", 5353, 53, Proto::Udp),
            b("::1", 8081, 81, Proto::Tcp),
            b("2001:db8::7", 9000, 90, Proto::Udp),
            b("::ffff:127.0.0.1", 9001, 91, Proto::Tcp),
            b("::", 7000, 70, Proto::Sctp),
        ];
        assert_eq!(
            frontends([(&t, &bindings[..])]),
            BTreeMap::from([
                (f("127.0.0.1:8080", Proto::Tcp), sa("10.1.0.5:80")),
                (
                    f("[::ffff:127.0.0.1]:8080", Proto::Tcp),
                    sa("[::ffff:10.1.0.5]:80")
                ),
                (f("[::1]:8080", Proto::Tcp), sa("[fd00:1::5]:80")),
                (f("[::1]:5353", Proto::Udp), sa("[fd00:1::5]:53")),
                (f("[::1]:8081", Proto::Tcp), sa("[fd00:1::5]:81")),
                (f("[2001:db8::7]:9000", Proto::Udp), sa("[fd00:1::5]:90")),
            ])
        );
    }

    #[test]
    fn finds_the_cgroup2_mount_of_a_hybrid_host() {
        let text = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
";
        assert_eq!(
            cgroup2_in_mountinfo(text),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        // A bind mount of a sub-cgroup is not the root.
        let text = "50 31 0:38 /sub /mnt/x rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_in_mountinfo(text), None);
        let text = "50 31 0:38 / /mnt/a\\040b rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_in_mountinfo(text), Some(PathBuf::from("/mnt/a b")));
    }

    #[test]
    fn keys_hold_address_port_and_protocol_in_kernel_order() {
        let tcp = f("127.0.0.1:8080", Proto::Tcp);
        let k = tcp.key();
        assert_eq!(k.len(), Family::V4.entry_size() as usize);
        assert_eq!(&k[..4], &[127, 0, 0, 1]);
        // 8080 = 0x1f90: network order bytes 1f 90, then protocol 6.
        #[cfg(target_endian = "little")]
        assert_eq!(&k[4..], &[0x1f, 0x90, 6, 0]);
        let v = backend_value(sa("10.1.2.3:80"));
        #[cfg(target_endian = "little")]
        assert_eq!(v, [10, 1, 2, 3, 0, 80, 0, 0]);
        assert_eq!(parse_value(&v), Some(sa("10.1.2.3:80")));
        let udp = Frontend {
            proto: Proto::Udp,
            ..tcp
        };
        assert_ne!(udp.key(), k);
    }

    #[test]
    fn ipv6_keys_hold_the_sixteen_address_bytes_then_the_port_word() {
        let k = f("[::1]:8080", Proto::Udp).key();
        assert_eq!(k.len(), Family::V6.entry_size() as usize);
        let mut lo = [0u8; 16];
        lo[15] = 1;
        assert_eq!(&k[..16], &lo);
        #[cfg(target_endian = "little")]
        assert_eq!(&k[16..], &[0x1f, 0x90, 17, 0]);
        let v = backend_value(sa("[fd00:1::5]:80"));
        assert_eq!(v.len(), Family::V6.entry_size() as usize);
        assert_eq!(&v[..4], &[0xfd, 0, 0, 1]);
        #[cfg(target_endian = "little")]
        assert_eq!(&v[16..], &[0, 80, 0, 0]);
        assert_eq!(parse_value(&v), Some(sa("[fd00:1::5]:80")));
        assert_eq!(parse_value(&v[..7]), None);
    }
}
