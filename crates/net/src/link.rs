//! Bridges, veth pairs, addresses and routes over netlink (no `ip`, no
//! fork): a synchronous rtnetlink socket ([`Netlink`]) bound to the network
//! namespace of the thread that opened it.
//!
//! A container endpoint ([`attach`]) is one veth pair: the host end `vb<hash>`
//! is created straight into the bridge and up, the peer straight into the
//! container's namespace under its final name (`eth0`) with its MAC; then,
//! through a socket in that namespace, the peer gets its address, comes up,
//! and gets the default route, and `lo` comes up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use ipnet::{Ipv4Net, Ipv6Net};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// A netlink request that failed, with what it was about.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what}: {source}")]
pub struct LinkError {
    /// What was being done, e.g. "create the bridge `berth0`".
    pub what: String,
    #[source]
    pub source: std::io::Error,
}

impl LinkError {
    fn new(what: impl Into<String>, source: std::io::Error) -> Self {
        Self {
            what: what.into(),
            source,
        }
    }

    /// The errno, if the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// A route netlink socket in the namespace of the thread that opened it.
#[derive(Debug)]
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// A link as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The index of the bridge it is a port of.
    pub master: Option<u32>,
    pub up: bool,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn new() -> Result<Self, LinkError> {
        let open = || -> std::io::Result<Socket> {
            let mut socket = Socket::new(NETLINK_ROUTE)?;
            socket.bind_auto()?;
            socket.connect(&SocketAddr::new(0, 0))?;
            Ok(socket)
        };
        let socket = open().map_err(|e| LinkError::new("open a netlink socket", e))?;
        Ok(Self { socket, seq: 0 })
    }

    /// Sends `msg` and collects the answers until the kernel's ACK (or the
    /// end of a dump).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> std::io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;

        let mut answers = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                let len = usize::try_from(reply.header.length).unwrap_or(0);
                if len == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "a netlink message of length 0",
                    ));
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(answers),
                            Some(code) => Err(std::io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    // For a plain request the ACK follows its answer.
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
            }
        }
    }

    /// The index of the link `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, LinkError> {
        Ok(self.link(name)?.map(|l| l.index))
    }

    /// The link `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(answers) => Ok(answers.into_iter().find_map(to_link)),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(LinkError::new(format!("look up the link `{name}`"), e)),
        }
    }

    /// Every link in the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>, LinkError> {
        let msg = LinkMessage::default();
        let answers = self
            .request(RouteNetlinkMessage::GetLink(msg), NLM_F_DUMP)
            .map_err(|e| LinkError::new("list the links", e))?;
        Ok(answers.into_iter().filter_map(to_link).collect())
    }

    /// Creates the bridge `name` if it is missing, gives it `address`
    /// (the gateway and prefix of its subnet) if it lacks it, and brings it
    /// up; its index.
    pub fn ensure_bridge(&mut self, name: &str, address: Ipv4Net) -> Result<u32, LinkError> {
        let index = self.ensure_bridge_link(name)?;
        self.add_address(index, address).map_err(|e| {
            LinkError::new(
                format!("give the bridge `{name}` the address {address}"),
                e.source,
            )
        })?;
        Ok(index)
    }

    /// The bridge `name`, made if missing, up, without an IPv4 address
    /// (an IPv6-only network's: [`Netlink::ensure_bridge_v6`] gives it
    /// its address).
    pub fn ensure_bridge_link(&mut self, name: &str) -> Result<u32, LinkError> {
        let index = match self.link_index(name)? {
            Some(i) => i,
            None => {
                let mut msg = LinkMessage::default();
                msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
                msg.attributes
                    .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                        InfoKind::Bridge,
                    )]));
                match self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL) {
                    Ok(_) => {}
                    // Made meanwhile by someone else: use it.
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(LinkError::new(format!("create the bridge `{name}`"), e)),
                }
                self.link_index(name)?.ok_or_else(|| {
                    LinkError::new(
                        format!("find the new bridge `{name}`"),
                        std::io::Error::from_raw_os_error(libc::ENODEV),
                    )
                })?
            }
        };
        self.set_up(index)
            .map_err(|e| LinkError::new(format!("bring the bridge `{name}` up"), e.source))?;
        Ok(index)
    }

    /// Deletes the link `name`; whether it was there.
    pub fn delete_link(&mut self, name: &str) -> Result<bool, LinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(LinkError::new(format!("delete the link `{name}`"), e)),
        }
    }

    /// Brings the link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<(), LinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
            .map(drop)
            .map_err(|e| LinkError::new(format!("bring link {index} up"), e))
    }

    /// Brings the link `name` up.
    pub fn set_up_by_name(&mut self, name: &str) -> Result<(), LinkError> {
        let index = self.link_index(name)?.ok_or_else(|| {
            LinkError::new(
                format!("find the link `{name}`"),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })?;
        self.set_up(index)
    }

    /// Adds `address` (with its prefix) to the link `index`; an address it
    /// already has is fine.
    pub fn add_address(&mut self, index: u32, address: Ipv4Net) -> Result<(), LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = address.prefix_len();
        msg.header.index = index;
        let ip = IpAddr::V4(address.addr());
        msg.attributes.push(AddressAttribute::Local(ip));
        msg.attributes.push(AddressAttribute::Address(ip));
        if address.prefix_len() < 31 {
            msg.attributes
                .push(AddressAttribute::Broadcast(address.broadcast()));
        }
        self.new_address(msg, &address.to_string(), index)
    }

    /// Adds the default route via `gateway` out of link `index`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, index: u32) -> Result<(), LinkError> {
        self.new_default_route(
            AddressFamily::Inet,
            RouteAddress::Inet(gateway),
            index,
            format!("add the default route via {gateway}"),
        )
    }

    /// Adds the IPv6 `address` (with its prefix) to the link `index`
    /// without duplicate address detection (`nodad`, as docker), so it is
    /// usable at once; an address it already has is fine.
    pub fn add_address6(&mut self, index: u32, address: Ipv6Net) -> Result<(), LinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.prefix_len = address.prefix_len();
        msg.header.index = index;
        let ip = IpAddr::V6(address.addr());
        msg.attributes.push(AddressAttribute::Local(ip));
        msg.attributes.push(AddressAttribute::Address(ip));
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        self.new_address(msg, &address.to_string(), index)
    }

    /// Adds the IPv6 default route via `gateway` out of link `index`.
    pub fn add_default_route6(&mut self, gateway: Ipv6Addr, index: u32) -> Result<(), LinkError> {
        self.new_default_route(
            AddressFamily::Inet6,
            RouteAddress::Inet6(gateway),
            index,
            format!("add the IPv6 default route via {gateway}"),
        )
    }

    /// Sends an address message; an address the link already has is fine.
    fn new_address(
        &mut self,
        msg: AddressMessage,
        address: &str,
        index: u32,
    ) -> Result<(), LinkError> {
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(LinkError::new(
                format!("add the address {address} to link {index}"),
                e,
            )),
        }
    }

    /// Adds a default route of `family` via `gateway` out of link `index`.
    fn new_default_route(
        &mut self,
        family: AddressFamily,
        gateway: RouteAddress,
        index: u32,
        what: String,
    ) -> Result<(), LinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(gateway));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
        .map_err(|e| LinkError::new(what, e))
    }

    /// Gives the bridge `name` (made by [`Netlink::ensure_bridge`]) its
    /// IPv6 gateway `address`, as docker: IPv6 on (`disable_ipv6=0`), no
    /// router advertisements taken from its containers (`accept_ra=0`),
    /// the address without duplicate address detection. The sysctls are
    /// those of the calling thread's network namespace, which must be this
    /// socket's.
    pub fn ensure_bridge_v6(&mut self, name: &str, address: Ipv6Net) -> Result<(), LinkError> {
        let index = self.link_index(name)?.ok_or_else(|| {
            LinkError::new(
                format!("find the bridge `{name}`"),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })?;
        let sysctl = |key: &str, value: &str| {
            write_ipv6_conf(name, key, value).map_err(|e| {
                LinkError::new(
                    format!("set net.ipv6.conf.{name}.{key}={value} for the bridge"),
                    e,
                )
            })
        };
        sysctl("disable_ipv6", "0")?;
        sysctl("accept_ra", "0")?;
        self.add_address6(index, address).map_err(|e| {
            LinkError::new(
                format!("give the bridge `{name}` the address {address}"),
                e.source,
            )
        })
    }

    /// Creates a veth pair: `host` in this namespace, a port of the bridge
    /// `master` and up; `peer` in the namespace `peer_netns` with `peer_mac`.
    pub fn add_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        peer_mac: [u8; 6],
        peer_netns: BorrowedFd<'_>,
    ) -> Result<(), LinkError> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_owned()));
        peer_msg
            .attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(host.to_owned()));
        msg.attributes.push(LinkAttribute::Controller(master));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(|e| LinkError::new(format!("create the veth pair `{host}`/`{peer}`"), e))
    }
}

fn to_link(msg: RouteNetlinkMessage) -> Option<Link> {
    let RouteNetlinkMessage::NewLink(m) = msg else {
        return None;
    };
    let mut name = None;
    let mut master = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Controller(i) => master = Some(*i),
            _ => {}
        }
    }
    Some(Link {
        index: m.header.index,
        name: name?,
        master,
        up: m.header.flags.contains(LinkFlags::Up),
    })
}

/// One container endpoint to plug in: a veth pair between `bridge` and the
/// container's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The bridge of the network (it must exist: [`Netlink::ensure_bridge`]).
    pub bridge: String,
    /// The host end's name ([`host_ifname`]).
    pub host_ifname: String,
    /// The name inside the container: `eth0`, `eth1`, ...
    pub ifname: String,
    pub mac: [u8; 6],
    /// The container's address and the subnet's prefix length; `None` on
    /// an IPv6-only network.
    pub address: Option<Ipv4Net>,
    /// The default route's gateway; `None` for internal networks and for
    /// every endpoint but the one that carries the default route.
    pub gateway: Option<Ipv4Addr>,
    /// The container's IPv6 address and prefix on an IPv6 network; its
    /// namespace must have IPv6 on ([`enable_ipv6_here`]).
    pub address6: Option<Ipv6Net>,
    /// The IPv6 default route's gateway (as `gateway`).
    pub gateway6: Option<Ipv6Addr>,
}

/// Plugs `ep` in: `host` is a socket in the bridge's namespace, `inside`
/// one in the container's namespace `netns`. On failure the veth pair is
/// removed again.
pub fn attach(
    host: &mut Netlink,
    inside: &mut Netlink,
    netns: BorrowedFd<'_>,
    ep: &Endpoint,
) -> Result<(), LinkError> {
    let master = host.link_index(&ep.bridge)?.ok_or_else(|| {
        LinkError::new(
            format!("find the bridge `{}`", ep.bridge),
            std::io::Error::from_raw_os_error(libc::ENODEV),
        )
    })?;
    host.add_veth(&ep.host_ifname, master, &ep.ifname, ep.mac, netns)?;
    let configure = |inside: &mut Netlink| -> Result<(), LinkError> {
        let index = inside.link_index(&ep.ifname)?.ok_or_else(|| {
            LinkError::new(
                format!("find `{}` in the container", ep.ifname),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })?;
        if let Some(a) = ep.address {
            inside.add_address(index, a)?;
        }
        if let Some(a6) = ep.address6 {
            inside.add_address6(index, a6)?;
        }
        inside.set_up(index)?;
        if let Some(gw) = ep.gateway {
            inside.add_default_route(gw, index)?;
        }
        if let Some(gw) = ep.gateway6 {
            inside.add_default_route6(gw, index)?;
        }
        Ok(())
    };
    configure(inside).inspect_err(|_| {
        let _ = host.delete_link(&ep.host_ifname);
    })
}

/// `vb` and 13 hex digits of a hash of the container and network ids: at
/// most 15 bytes, stable, so the host end can be found again after a
/// daemon restart.
pub fn host_ifname(container_id: &str, network_id: &str) -> String {
    // FNV-1a, 64 bits: stable across builds, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in container_id
        .bytes()
        .chain(std::iter::once(0))
        .chain(network_id.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("vb{:013x}", h >> 12)
}

/// docker's MAC for an IPv4 address: `02:42` and the address's 4 bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// docker 28's MAC for an endpoint nobody chose one for: six random
/// bytes, made unicast (lowest bit of the first byte clear) and locally
/// administered (second lowest set).
pub fn random_mac() -> std::io::Result<[u8; 6]> {
    use std::io::Read;
    let mut mac = [0u8; 6];
    fs_err::File::open("/dev/urandom")?.read_exact(&mut mac)?;
    mac[0] = (mac[0] & 0xfe) | 0x02;
    Ok(mac)
}

/// The bytes of `aa:bb:cc:dd:ee:ff` (the form [`format_mac`] writes), if
/// `text` is one and a unicast, non-zero address a link can have.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut out {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(part, 16).ok()?;
    }
    let usable = out[0] & 1 == 0 && out != [0; 6];
    (parts.next().is_none() && usable).then_some(out)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Writes `/proc/sys/net/ipv6/conf/<interface>/<key>` (of the calling
/// thread's network namespace).
fn write_ipv6_conf(interface: &str, key: &str, value: &str) -> std::io::Result<()> {
    let path = std::path::Path::new("/proc/sys/net/ipv6/conf")
        .join(interface)
        .join(key);
    if fs_err::read_to_string(&path)?.trim() == value {
        return Ok(());
    }
    fs_err::write(&path, format!("{value}\n"))
}

/// Turns IPv6 on in the calling thread's network namespace (a container's,
/// before its endpoints on IPv6 networks are plugged in): `disable_ipv6=0`
/// for `all` and `default`, so `lo` has `::1` and new links take IPv6
/// addresses, as docker does for a container on an IPv6 network.
pub fn enable_ipv6_here() -> std::io::Result<()> {
    write_ipv6_conf("all", "disable_ipv6", "0")?;
    write_ipv6_conf("default", "disable_ipv6", "0")
}

/// Sets `net.ipv6.conf.all.forwarding=1` (berthd's `--ip-forward`, once an
/// IPv6 network is in use) if it is not.
pub fn enable_ip6_forward() -> std::io::Result<()> {
    write_ipv6_conf("all", "forwarding", "1")
}

/// Sets `net.ipv4.ip_forward=1` (berthd's `--ip-forward`) if it is not.
pub fn enable_ip_forward() -> std::io::Result<()> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if fs_err::read_to_string(path)?.trim() == "1" {
        return Ok(());
    }
    fs_err::write(path, "1\n")
}

impl Netlink {
    /// Makes `gateway` the default route (replacing the one there is, if
    /// any): the kernel picks the link whose subnet holds the gateway. For
    /// a running container whose gateway endpoint changes (`network
    /// connect`/`disconnect`).
    pub fn set_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        self.replace_default_route(
            AddressFamily::Inet,
            RouteAddress::Inet(gateway),
            format!("set the default route via {gateway}"),
        )
    }

    /// [`Netlink::set_default_route`] for IPv6: `gateway` becomes the IPv6
    /// default route.
    pub fn set_default_route6(&mut self, gateway: Ipv6Addr) -> Result<(), LinkError> {
        self.replace_default_route(
            AddressFamily::Inet6,
            RouteAddress::Inet6(gateway),
            format!("set the IPv6 default route via {gateway}"),
        )
    }

    /// Adds a default route of `family` via `gateway`, in place of the one
    /// there is (same table and metric), if any.
    fn replace_default_route(
        &mut self,
        family: AddressFamily,
        gateway: RouteAddress,
        what: String,
    ) -> Result<(), LinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(gateway));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | netlink_packet_core::NLM_F_REPLACE,
        )
        .map(drop)
        .map_err(|e| LinkError::new(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ifnames_are_short_stable_and_distinct() {
        let a = host_ifname("c1", "n1");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("vb"));
        assert_eq!(a, host_ifname("c1", "n1"));
        assert_ne!(a, host_ifname("c1", "n2"));
        assert_ne!(a, host_ifname("c2", "n1"));
        assert_ne!(host_ifname("ab", "c"), host_ifname("a", "bc"));
    }

    #[test]
    fn macs() {
        let mac = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02"), Some(mac));
        for bad in [
            "",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "zz:42:ac:11:00:02",
            "+2:42:ac:11:00:02",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        for _ in 0..64 {
            let r = random_mac().unwrap();
            assert_eq!(r[0] & 0x03, 0x02, "{}", format_mac(r));
            assert_eq!(parse_mac(&format_mac(r)), Some(r));
        }
    }
}
