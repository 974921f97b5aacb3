//! Address management: subnets of networks and addresses of endpoints,
//! never handed out twice, also across daemon restarts.
//!
//! A [`Pool`] is one subnet of one network (IPv4 or IPv6) with its gateway,
//! an optional allocation range (`--ip-range`) and the set of addresses in
//! use. It is plain data (serde) so the engine stores it in the network's
//! JSON document: an address allocated before a restart stays allocated
//! after it. Addresses are handed out serially (after the last one given),
//! as docker's IPAM does for container endpoints, so an address that was
//! just released is not reused at once.
//!
//! [`pick_subnet`] chooses a subnet for a network created without
//! `--subnet`, from docker's default address pools, skipping the subnets of
//! other networks and of the host's routes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// Why an address or a subnet cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("invalid CIDR address: {0}")]
    BadSubnet(String),
    #[error("invalid IP address: {0}")]
    BadAddress(String),
    #[error("the IP range {range} is not inside the subnet {subnet}")]
    RangeOutsideSubnet { range: IpNet, subnet: IpNet },
    #[error("the gateway {gateway} is not inside the subnet {subnet}")]
    GatewayOutsideSubnet { gateway: IpAddr, subnet: IpNet },
    #[error("no configured subnet or ip-range contain the IP address {0}")]
    NotInPool(IpAddr),
    #[error("Address already in use")]
    InUse(IpAddr),
    #[error("auxiliary address: ({name}:{ip}) must belong to the master pool: {subnet}")]
    AuxOutsideSubnet {
        name: String,
        ip: IpAddr,
        subnet: IpNet,
    },
    #[error("failed to allocate secondary ip address ({name}:{ip}): Address already in use")]
    AuxInUse { name: String, ip: IpAddr },
    #[error("no available IPv{version} addresses on this network's address pools: {subnet}")]
    Exhausted { version: u8, subnet: IpNet },
    #[error("subnet {0} is too small: it has no address left for containers")]
    TooSmall(IpNet),
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    NoFreeSubnet,
}

/// One subnet of a network and the addresses in use in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: IpNet,
    /// Where container addresses come from (`--ip-range`); the subnet if `None`.
    #[serde(default)]
    pub range: Option<IpNet>,
    pub gateway: IpAddr,
    /// Addresses handed out (the gateway is not among them).
    #[serde(default)]
    pub allocated: BTreeSet<IpAddr>,
    /// The last address handed out; the next search starts after it.
    #[serde(default)]
    pub last: Option<IpAddr>,
    /// `--aux-address name=IP`: addresses never handed out (docker's
    /// `AuxiliaryAddresses`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux: BTreeMap<String, IpAddr>,
}

impl Pool {
    /// A pool on `subnet` (normalised to its network address, as docker
    /// does with `10.1.2.3/24`), with the gateway given or the subnet's
    /// first address, and the optional allocation range.
    pub fn new(
        subnet: IpNet,
        range: Option<IpNet>,
        gateway: Option<IpAddr>,
    ) -> Result<Self, IpamError> {
        let subnet = subnet.trunc();
        let range = range.map(|r| r.trunc());
        if let Some(r) = range
            && !subnet.contains(&r)
        {
            return Err(IpamError::RangeOutsideSubnet { range: r, subnet });
        }
        let (first, last) = host_bounds(&subnet).ok_or(IpamError::TooSmall(subnet))?;
        let gateway = match gateway {
            Some(g) => {
                if !subnet.contains(&g) || g == subnet.network() || is_broadcast(&subnet, g) {
                    return Err(IpamError::GatewayOutsideSubnet { gateway: g, subnet });
                }
                g
            }
            None => from_u128(&subnet, first),
        };
        if first == last && to_u128(gateway) == first {
            return Err(IpamError::TooSmall(subnet));
        }
        Ok(Self {
            subnet,
            range,
            gateway,
            allocated: BTreeSet::new(),
            last: None,
            aux: BTreeMap::new(),
        })
    }

    /// Keeps `ip` (`--aux-address name=IP`) out of what is handed out. It
    /// must be inside the subnet and not the gateway (dockerd's checks).
    pub fn reserve_aux(&mut self, name: &str, ip: IpAddr) -> Result<(), IpamError> {
        if !self.subnet.contains(&ip) {
            return Err(IpamError::AuxOutsideSubnet {
                name: name.to_owned(),
                ip,
                subnet: self.subnet,
            });
        }
        if ip == self.gateway || self.aux.values().any(|a| *a == ip) {
            return Err(IpamError::AuxInUse {
                name: name.to_owned(),
                ip,
            });
        }
        self.aux.insert(name.to_owned(), ip);
        Ok(())
    }

    /// Hands out `requested` (if free and inside the subnet) or the next
    /// free address of the range after the last one handed out.
    pub fn allocate(&mut self, requested: Option<IpAddr>) -> Result<IpAddr, IpamError> {
        if let Some(ip) = requested {
            if !self.subnet.contains(&ip)
                || ip == self.subnet.network()
                || is_broadcast(&self.subnet, ip)
            {
                return Err(IpamError::NotInPool(ip));
            }
            if ip == self.gateway || self.allocated.contains(&ip) || self.is_aux(ip) {
                return Err(IpamError::InUse(ip));
            }
            self.allocated.insert(ip);
            return Ok(ip);
        }
        let area = self.range.unwrap_or(self.subnet);
        let (sub_first, sub_last) =
            host_bounds(&self.subnet).ok_or(IpamError::TooSmall(self.subnet))?;
        let first = to_u128(area.network()).max(sub_first);
        let last = to_u128(area.broadcast()).min(sub_last);
        let exhausted = IpamError::Exhausted {
            version: if self.subnet.addr().is_ipv4() { 4 } else { 6 },
            subnet: self.subnet,
        };
        if first > last {
            return Err(exhausted);
        }
        let start = match self.last.map(to_u128) {
            Some(l) if l >= first && l < last => l + 1,
            _ => first,
        };
        let gateway = to_u128(self.gateway);
        // Walk from `start` to the end, then from the beginning; skip
        // taken addresses by stepping over runs in the set, so a full
        // /16 costs one pass over its allocations, not 65 536 probes.
        for (lo, hi) in [(start, last), (first, start.saturating_sub(1))] {
            if lo > hi {
                continue;
            }
            let mut candidate = lo;
            let taken: Vec<u128> = self
                .allocated
                .range(from_u128(&self.subnet, lo)..=from_u128(&self.subnet, hi))
                .map(|ip| to_u128(*ip))
                .collect();
            let mut taken = taken.into_iter().peekable();
            while candidate <= hi {
                while let Some(&t) = taken.peek() {
                    if t < candidate {
                        taken.next();
                    } else {
                        break;
                    }
                }
                if taken.peek() == Some(&candidate)
                    || candidate == gateway
                    || self.is_aux(from_u128(&self.subnet, candidate))
                {
                    candidate += 1;
                    continue;
                }
                let ip = from_u128(&self.subnet, candidate);
                self.allocated.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(exhausted)
    }

    fn is_aux(&self, ip: IpAddr) -> bool {
        self.aux.values().any(|a| *a == ip)
    }

    /// Gives `ip` back; releasing an address not in use does nothing.
    pub fn release(&mut self, ip: IpAddr) {
        self.allocated.remove(&ip);
    }

    /// The subnet's prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.subnet.prefix_len()
    }
}

/// Whether two subnets share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// docker's default local address pools: 172.17.0.0/16 to 172.31.0.0/16,
/// then 192.168.0.0/20 to 192.168.240.0/20. berth leaves 172.17.0.0/16
/// (docker's own default bridge) out, so a host that runs both does not
/// get the same subnet twice.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let big = (18u8..=31).filter_map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).ok());
    let small = (0u8..16).filter_map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).ok());
    big.chain(small)
}

/// The first default pool that overlaps none of `used` (other networks'
/// subnets and the host's routes).
pub fn pick_subnet(used: &[IpNet]) -> Result<Ipv4Net, IpamError> {
    default_pools()
        .find(|cand| {
            let cand = IpNet::V4(*cand);
            !used.iter().any(|u| overlaps(&cand, u))
        })
        .ok_or(IpamError::NoFreeSubnet)
}

/// A ULA /64 for an IPv6 network created without an IPv6 subnet (docker
/// 27+ does the same from `fd00::/8`): `fdXX:XXXX:XXXX::/64` with the 40
/// bits taken from `seed` (the network ID's hex digits), skipping `used`.
pub fn pick_ula_subnet(seed: &str, used: &[IpNet]) -> Result<Ipv6Net, IpamError> {
    let mut bits: u64 = 0;
    for c in seed.chars().filter_map(|c| c.to_digit(16)).take(10) {
        bits = (bits << 4) | u64::from(c);
    }
    for step in 0..256u64 {
        let global = (bits.wrapping_add(step)) & 0xff_ffff_ffff;
        let hi: u128 = (0xfdu128 << 120) | (u128::from(global) << 80);
        let net = Ipv6Net::new(Ipv6Addr::from(hi), 64).map_err(|_| IpamError::NoFreeSubnet)?;
        let cand = IpNet::V6(net);
        if !used.iter().any(|u| overlaps(&cand, u)) {
            return Ok(net);
        }
    }
    Err(IpamError::NoFreeSubnet)
}

/// The host's IPv4 routes' destinations (from `/proc/net/route`), without
/// the default route: a network must not take a subnet the host already
/// reaches some other way.
pub fn host_routes() -> Vec<IpNet> {
    let Ok(text) = fs_err::read_to_string("/proc/net/route") else {
        return Vec::new();
    };
    parse_proc_route(&text)
}

/// Parses `/proc/net/route` (hex, host byte order little-endian fields).
pub fn parse_proc_route(text: &str) -> Vec<IpNet> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(mask)) = (fields.get(1), fields.get(7)) else {
            continue;
        };
        let (Ok(dest), Ok(mask)) = (u32::from_str_radix(dest, 16), u32::from_str_radix(mask, 16))
        else {
            continue;
        };
        let dest = Ipv4Addr::from(dest.swap_bytes());
        let mask = mask.swap_bytes();
        let prefix = mask.count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        if let Ok(net) = Ipv4Net::new(dest, prefix) {
            out.push(IpNet::V4(net.trunc()));
        }
    }
    out
}

/// docker's MAC address for an IPv4 address: `02:42:` and the address's
/// four bytes (`172.18.0.2` -> `02:42:ac:12:00:02`).
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// Parses `a.b.c.d/n` or an IPv6 CIDR, with docker's message on error.
pub fn parse_subnet(text: &str) -> Result<IpNet, IpamError> {
    text.trim()
        .parse::<IpNet>()
        .map_err(|_| IpamError::BadSubnet(text.to_owned()))
}

/// Parses an address, with a clear message on error.
pub fn parse_addr(text: &str) -> Result<IpAddr, IpamError> {
    text.trim()
        .parse::<IpAddr>()
        .map_err(|_| IpamError::BadAddress(text.to_owned()))
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(net: &IpNet, n: u128) -> IpAddr {
    match net {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX))),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

fn is_broadcast(net: &IpNet, ip: IpAddr) -> bool {
    matches!(net, IpNet::V4(n) if n.prefix_len() < 31 && ip == IpAddr::V4(n.broadcast()))
}

/// The first and last usable host addresses of a subnet (IPv4 without the
/// network and broadcast addresses; IPv6 without the subnet-router anycast
/// address), or `None` if there are none.
fn host_bounds(net: &IpNet) -> Option<(u128, u128)> {
    let lo = to_u128(net.network());
    let hi = to_u128(net.broadcast());
    let (first, last) = match net {
        IpNet::V4(n) if n.prefix_len() >= 31 => (lo, hi),
        IpNet::V4(_) => (lo + 1, hi.checked_sub(1)?),
        IpNet::V6(n) if n.prefix_len() == 128 => (lo, hi),
        IpNet::V6(_) => (lo + 1, hi),
    };
    (first <= last).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn aux_addresses_are_never_handed_out() {
        let mut p = Pool::new(net("10.213.9.0/29"), None, None).unwrap();
        p.reserve_aux("a", ip("10.213.9.2")).unwrap();
        p.reserve_aux("b", ip("10.213.9.4")).unwrap();
        assert!(matches!(
            p.reserve_aux("c", ip("10.213.9.1")),
            Err(IpamError::AuxInUse { .. })
        ));
        assert!(matches!(
            p.reserve_aux("d", ip("10.213.10.1")),
            Err(IpamError::AuxOutsideSubnet { .. })
        ));
        let got: Vec<IpAddr> = (0..3).map(|_| p.allocate(None).unwrap()).collect();
        assert_eq!(got, [ip("10.213.9.3"), ip("10.213.9.5"), ip("10.213.9.6")]);
        assert!(p.allocate(None).is_err());
        assert_eq!(
            p.allocate(Some(ip("10.213.9.2"))),
            Err(IpamError::InUse(ip("10.213.9.2")))
        );
        // Stored and read back.
        let back: Pool = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn gateway_is_the_first_address_and_containers_follow() {
        let mut p = Pool::new(net("10.213.7.9/24"), None, None).unwrap();
        assert_eq!(p.subnet, net("10.213.7.0/24"));
        assert_eq!(p.gateway, ip("10.213.7.1"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.213.7.2"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.213.7.3"));
    }

    #[test]
    fn never_the_same_address_twice_and_serial_after_release() {
        let mut p = Pool::new(net("10.213.8.0/29"), None, None).unwrap();
        let a: Vec<IpAddr> = (0..5).map(|_| p.allocate(None).unwrap()).collect();
        assert_eq!(a.len(), 5);
        let set: BTreeSet<_> = a.iter().collect();
        assert_eq!(set.len(), 5);
        assert!(!a.contains(&ip("10.213.8.7")), "broadcast never handed out");
        assert!(matches!(p.allocate(None), Err(IpamError::Exhausted { .. })));
        p.release(ip("10.213.8.3"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.213.8.3"));
        // Survives a round trip through JSON (a daemon restart).
        let mut q: Pool = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert!(matches!(q.allocate(None), Err(IpamError::Exhausted { .. })));
        q.release(ip("10.213.8.2"));
        q.release(ip("10.213.8.5"));
        // Serial: after the last one handed out (.3), so .5 before .2.
        assert_eq!(q.allocate(None).unwrap(), ip("10.213.8.5"));
        assert_eq!(q.allocate(None).unwrap(), ip("10.213.8.2"));
    }

    #[test]
    fn requested_addresses_and_ranges() {
        let mut p = Pool::new(
            net("10.213.9.0/24"),
            Some(net("10.213.9.128/25")),
            Some(ip("10.213.9.254")),
        )
        .unwrap();
        assert_eq!(p.allocate(None).unwrap(), ip("10.213.9.128"));
        assert_eq!(
            p.allocate(Some(ip("10.213.9.5"))).unwrap(),
            ip("10.213.9.5")
        );
        assert_eq!(
            p.allocate(Some(ip("10.213.9.5"))),
            Err(IpamError::InUse(ip("10.213.9.5")))
        );
        assert_eq!(
            p.allocate(Some(ip("10.213.9.254"))),
            Err(IpamError::InUse(ip("10.213.9.254")))
        );
        assert_eq!(
            p.allocate(Some(ip("10.9.9.9"))),
            Err(IpamError::NotInPool(ip("10.9.9.9")))
        );
        assert!(Pool::new(net("10.213.9.0/24"), Some(net("10.214.0.0/25")), None).is_err());
        assert!(Pool::new(net("10.213.9.0/24"), None, Some(ip("10.1.1.1"))).is_err());
        assert!(Pool::new(net("10.213.9.0/32"), None, None).is_err());
    }

    #[test]
    fn ipv6_pools() {
        let mut p = Pool::new(net("fd00:1:2:3::/64"), None, None).unwrap();
        assert_eq!(p.gateway, ip("fd00:1:2:3::1"));
        assert_eq!(p.allocate(None).unwrap(), ip("fd00:1:2:3::2"));
        let ula = pick_ula_subnet("abcdef0123", &[]).unwrap();
        assert_eq!(ula.to_string(), "fdab:cdef:123::/64");
        let other = pick_ula_subnet("abcdef0123", &[IpNet::V6(ula)]).unwrap();
        assert_ne!(other, ula);
    }

    #[test]
    fn subnets_come_from_the_default_pools_skipping_used_ones() {
        assert_eq!(pick_subnet(&[]).unwrap().to_string(), "172.18.0.0/16");
        let used = [net("172.18.0.0/16"), net("172.19.5.0/24")];
        assert_eq!(pick_subnet(&used).unwrap().to_string(), "172.20.0.0/16");
        let all: Vec<IpNet> = default_pools().map(IpNet::V4).collect();
        assert_eq!(pick_subnet(&all), Err(IpamError::NoFreeSubnet));
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(!overlaps(&net("10.0.0.0/16"), &net("10.1.0.0/16")));
    }

    #[test]
    fn proc_net_route_and_macs() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_proc_route(text), vec![net("192.168.2.0/24")]);
        assert_eq!(mac_for("172.18.0.2".parse().unwrap()), "02:42:ac:12:00:02");
        assert!(parse_subnet("10.1.2.0/33").is_err());
        assert!(parse_subnet("nope").is_err());
    }
}
