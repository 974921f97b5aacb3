//! Socket-level redirection of the host's own connections to published
//! ports: no packet of them is NATed.
//!
//! Port publishing DNATs in nftables (see [`crate::ports`]); that serves
//! every client, but a connection the host itself makes to
//! `127.0.0.1:<port>` then pays, for each of its packets, the nat OUTPUT
//! hook, a second route lookup (the socket's cached route is for `lo`) and
//! masquerading, which costs throughput. Instead, eBPF programs of type
//! `BPF_PROG_TYPE_CGROUP_SOCK_ADDR` attached to the root of the cgroup2
//! hierarchy run when a socket of the daemon's network namespace calls
//! `connect()` (TCP and UDP) or `sendmsg()` with an address (UDP): when the
//! destination is a published port (a [`Frontend`]), they replace it with
//! the container's address and port before the kernel routes anything, so
//! the connection goes straight over the bridge. Two more programs, on
//! `getpeername()` and UDP `recvmsg()`, put the published address back, so
//! the client sees `127.0.0.1:<port>` as its peer, as with DNAT (the same
//! design as Cilium's socket load balancer).
//!
//! The programs compare the socket's network namespace with the one they
//! were loaded for, so containers' own `127.0.0.1` is never touched. They
//! are attached through BPF links held by descriptors in [`SockRedirect`]:
//! when it is dropped, or the daemon exits or crashes, the kernel detaches
//! them; nothing is left behind. The nftables DNAT stays in place for
//! remote clients, and carries the host's connections too whenever the
//! programs are not attached.

mod asm;
mod programs;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use berth_sys::bpf;

use crate::ports::{Binding, Proto, Target};

/// A published address the host's own sockets connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frontend {
    pub addr: SocketAddrV4,
    pub proto: Proto,
}

impl Frontend {
    /// The map key: the address and port as the kernel stores them (network
    /// byte order), the port's 16 bits or'ed with the protocol number << 16,
    /// as the programs build it from `struct bpf_sock_addr`.
    fn key(&self) -> [u8; 8] {
        let mut k = [0u8; 8];
        k[..4].copy_from_slice(&self.addr.ip().octets());
        let word = port_word(self.addr.port()) | (proto_number(self.proto) << 16);
        k[4..].copy_from_slice(&word.to_ne_bytes());
        k
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
fn backend_value(to: SocketAddrV4) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&to.ip().octets());
    v[4..].copy_from_slice(&port_word(to.port()).to_ne_bytes());
    v
}

const KEY_SIZE: usize = 8;
const VALUE_SIZE: usize = 8;
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
}

/// The attached programs and the map of published ports they read.
#[derive(Debug)]
pub struct SockRedirect {
    frontends: OwnedFd,
    /// Kept so the map outlives nothing it is needed for (the programs hold
    /// references too).
    _sockets: OwnedFd,
    /// The BPF links: closing them detaches the programs.
    _links: Vec<OwnedFd>,
    cgroup: PathBuf,
    entries: Mutex<BTreeMap<Frontend, SocketAddrV4>>,
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
        let frontends = bpf::map_create(
            bpf::MAP_TYPE_HASH,
            KEY_SIZE as u32,
            VALUE_SIZE as u32,
            MAX_FRONTENDS,
            "berth_ports",
        )
        .map_err(RedirectError::Map)?;
        let sockets = bpf::map_create(
            bpf::MAP_TYPE_LRU_HASH,
            programs::SOCKET_KEY_SIZE,
            VALUE_SIZE as u32,
            MAX_SOCKETS,
            "berth_port_socks",
        )
        .map_err(RedirectError::Map)?;
        let dir = fs_err::File::open(cgroup).map_err(|e| RedirectError::OpenCgroup {
            path: cgroup.display().to_string(),
            source: e,
        })?;
        let assemble = |e: asm::AsmError| RedirectError::Assemble(e.to_string());
        let redirect = programs::redirect(cookie, frontends.as_raw_fd(), sockets.as_raw_fd())
            .map_err(assemble)?;
        let restore = programs::restore(sockets.as_raw_fd()).map_err(assemble)?;
        let hooks: [(&'static str, u32, &[berth_sys::bpf::Insn]); 4] = [
            ("connect4", bpf::ATTACH_CGROUP_INET4_CONNECT, &redirect),
            ("sendmsg4", bpf::ATTACH_CGROUP_UDP4_SENDMSG, &redirect),
            (
                "getpeername4",
                bpf::ATTACH_CGROUP_INET4_GETPEERNAME,
                &restore,
            ),
            ("recvmsg4", bpf::ATTACH_CGROUP_UDP4_RECVMSG, &restore),
        ];
        let mut links = Vec::new();
        for (hook, attach_type, insns) in hooks {
            let prog = bpf::prog_load_for(
                bpf::PROG_TYPE_CGROUP_SOCK_ADDR,
                attach_type,
                insns,
                c"Apache-2.0",
                &format!("berth_{hook}"),
            )
            .map_err(|source| RedirectError::Load { hook, source })?;
            let link =
                bpf::link_create(dir.as_fd(), prog.as_fd(), attach_type).map_err(|source| {
                    RedirectError::Attach {
                        hook,
                        cgroup: cgroup.display().to_string(),
                        source,
                    }
                })?;
            links.push(link);
        }
        Ok(Self {
            frontends,
            _sockets: sockets,
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

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Frontend, SocketAddrV4>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the map hold exactly `wanted`: entries no longer wanted are
    /// removed, new and changed ones written. On an error the entries
    /// written so far stay (each is correct on its own) and the rest is
    /// retried on the next call.
    pub fn sync(&self, wanted: &BTreeMap<Frontend, SocketAddrV4>) -> Result<(), RedirectError> {
        let mut current = self.lock();
        let stale: Vec<Frontend> = current
            .keys()
            .filter(|k| !wanted.contains_key(k))
            .copied()
            .collect();
        for k in stale {
            bpf::map_delete(self.frontends.as_fd(), &k.key(), KEY_SIZE)
                .map_err(RedirectError::Update)?;
            current.remove(&k);
        }
        for (k, to) in wanted {
            if current.get(k) == Some(to) {
                continue;
            }
            bpf::map_update(
                self.frontends.as_fd(),
                &k.key(),
                &backend_value(*to),
                (KEY_SIZE, VALUE_SIZE),
            )
            .map_err(RedirectError::Update)?;
            current.insert(*k, *to);
        }
        Ok(())
    }

    /// Where the kernel's map sends `frontend` now (read from the map
    /// itself, not from what this process remembers).
    pub fn lookup(&self, frontend: Frontend) -> Result<Option<SocketAddrV4>, RedirectError> {
        let mut v = [0u8; VALUE_SIZE];
        let found = bpf::map_lookup(
            self.frontends.as_fd(),
            &frontend.key(),
            &mut v,
            (KEY_SIZE, VALUE_SIZE),
        )
        .map_err(RedirectError::Update)?;
        if !found {
            return Ok(None);
        }
        let ip = Ipv4Addr::new(v[0], v[1], v[2], v[3]);
        let word = u32::from_ne_bytes([v[4], v[5], v[6], v[7]]);
        let port = u16::from_be_bytes((word as u16).to_ne_bytes());
        Ok(Some(SocketAddrV4::new(ip, port)))
    }
}

/// The frontends of published ports: each IPv4 TCP or UDP binding, at
/// `127.0.0.1` for a binding on every address (`0.0.0.0`) and at its own
/// address otherwise, leads to the container's address and port. IPv6
/// and SCTP bindings are left to nftables.
pub fn frontends<'a>(
    owners: impl IntoIterator<Item = (&'a Target, &'a [Binding])>,
) -> BTreeMap<Frontend, SocketAddrV4> {
    let mut out = BTreeMap::new();
    for (t, bindings) in owners {
        for b in bindings {
            let std::net::IpAddr::V4(ip) = b.host_ip else {
                continue;
            };
            if b.key.proto == Proto::Sctp {
                continue;
            }
            let ip = if ip.is_unspecified() {
                Ipv4Addr::LOCALHOST
            } else {
                ip
            };
            out.insert(
                Frontend {
                    addr: SocketAddrV4::new(ip, b.host_port),
                    proto: b.key.proto,
                },
                SocketAddrV4::new(t.container_ip, b.key.port),
            );
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

    #[test]
    fn frontends_of_bindings() {
        let t = Target {
            container_ip: Ipv4Addr::new(10, 1, 0, 5),
            container_ip6: None,
            bridge: "br".into(),
        };
        let b = |ip: &str, host_port: u16, port: u16, proto: Proto| Binding {
            key: PortKey { port, proto },
            host_ip: ip.parse().unwrap(),
            host_port,
        };
        let bindings = [
            b("0.0.0.0", 8080, 80, Proto::Tcp),
            b("::", 8080, 80, Proto::Tcp),
            b("127.0.0.1", 5353, 53, Proto::Udp),
            b("192.0.2.7", 9000, 90, Proto::Tcp),
            b("0.0.0.0", 7000, 70, Proto::Sctp),
        ];
        let got = frontends([(&t, &bindings[..])]);
        let f = |ip: [u8; 4], port, proto| Frontend {
            addr: SocketAddrV4::new(Ipv4Addr::from(ip), port),
            proto,
        };
        let to = |port| SocketAddrV4::new(t.container_ip, port);
        assert_eq!(
            got,
            BTreeMap::from([
                (f([127, 0, 0, 1], 8080, Proto::Tcp), to(80)),
                (f([127, 0, 0, 1], 5353, Proto::Udp), to(53)),
                (f([192, 0, 2, 7], 9000, Proto::Tcp), to(90)),
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
        let f = Frontend {
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080),
            proto: Proto::Tcp,
        };
        let k = f.key();
        assert_eq!(&k[..4], &[127, 0, 0, 1]);
        // 8080 = 0x1f90: network order bytes 1f 90, then protocol 6.
        #[cfg(target_endian = "little")]
        assert_eq!(&k[4..], &[0x1f, 0x90, 6, 0]);
        let v = backend_value(SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 80));
        #[cfg(target_endian = "little")]
        assert_eq!(v, [10, 1, 2, 3, 0, 80, 0, 0]);
        let udp = Frontend {
            proto: Proto::Udp,
            ..f
        };
        assert_ne!(udp.key(), k);
    }
}
