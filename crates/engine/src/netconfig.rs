//! The daemon-wide network settings: berthd's `--bridge`, `--bip`,
//! `--nft-table` and `--ip-forward`.

use std::net::Ipv4Addr;

/// How the engine sets up container networking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The Linux bridge of the built-in `bridge` network (`--bridge`,
    /// dockerd's `docker0`).
    pub bridge: String,
    /// The default bridge's own address and prefix (`--bip`): the gateway of
    /// the built-in `bridge` network, whose subnet it also gives.
    pub bip: ipnet::Ipv4Net,
    /// berth's nftables table (family `inet`) for masquerade, port
    /// publishing and isolation (`--nft-table`).
    pub nft_table: String,
    /// Set `net.ipv4.ip_forward=1` when a bridge is set up (`--ip-forward`).
    pub ip_forward: bool,
    /// IPv6 on the default bridge (`--ipv6`), on the subnet
    /// `fixed_cidr_v6` (`--fixed-cidr-v6`) or, without one, a ULA /64
    /// picked as for user networks.
    pub ipv6: bool,
    pub fixed_cidr_v6: Option<ipnet::Ipv6Net>,
}

impl NetworkConfig {
    /// `berth0`: dockerd's bridge is `docker0`.
    pub const DEFAULT_BRIDGE: &'static str = "berth0";
    /// `172.30.0.1/16`: outside docker's `172.17.0.0/16` and far from the
    /// user networks docker hands out first (`172.18`, `172.19`, ...).
    pub const DEFAULT_BIP: (Ipv4Addr, u8) = (Ipv4Addr::new(172, 30, 0, 1), 16);
    /// `berth`.
    pub const DEFAULT_NFT_TABLE: &'static str = "berth";
}

impl Default for NetworkConfig {
    fn default() -> Self {
        let (addr, prefix) = Self::DEFAULT_BIP;
        Self {
            bridge: Self::DEFAULT_BRIDGE.to_owned(),
            bip: ipnet::Ipv4Net::new_assert(addr, prefix),
            nft_table: Self::DEFAULT_NFT_TABLE.to_owned(),
            ip_forward: true,
            ipv6: false,
            fixed_cidr_v6: None,
        }
    }
}

/// Checks `--bip`: an IPv4 address with a prefix length, the address being
/// a usable host address of its subnet (it becomes the bridge's gateway).
pub fn parse_bip(value: &str) -> Result<ipnet::Ipv4Net, String> {
    let net: ipnet::Ipv4Net = value.parse().map_err(|_| {
        format!("invalid bridge IP {value:?}: use an IPv4 address with a prefix length, such as 172.30.0.1/16")
    })?;
    if net.prefix_len() > 30 {
        return Err(format!(
            "invalid bridge IP {value:?}: a /{} subnet has no room for containers; use a prefix length of 30 or less",
            net.prefix_len()
        ));
    }
    if net.addr() == net.network() || net.addr() == net.broadcast() {
        return Err(format!(
            "invalid bridge IP {value:?}: {} is the {} address of {}; give the bridge's own address, such as {}/{}",
            net.addr(),
            if net.addr() == net.network() {
                "network"
            } else {
                "broadcast"
            },
            net.trunc(),
            first_host(&net),
            net.prefix_len()
        ));
    }
    Ok(net)
}

fn first_host(net: &ipnet::Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).saturating_add(1))
}

/// Checks `--fixed-cidr-v6`: an IPv6 subnet with room for containers.
pub fn parse_fixed_cidr_v6(value: &str) -> Result<ipnet::Ipv6Net, String> {
    let net: ipnet::Ipv6Net = value.parse().map_err(|_| {
        format!("invalid --fixed-cidr-v6 {value:?}: use an IPv6 subnet with a prefix length, such as fd00:1::/64")
    })?;
    if net.prefix_len() > 124 {
        return Err(format!(
            "invalid --fixed-cidr-v6 {value:?}: a /{} subnet has no room for containers; use a prefix length of 124 or less",
            net.prefix_len()
        ));
    }
    Ok(net.trunc())
}

/// Checks a Linux interface name for `--bridge`: 1 to 15 bytes, no `/`,
/// no whitespace, not `.` or `..` (the kernel's `dev_valid_name`).
pub fn check_bridge_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "invalid bridge name {name:?}: an interface name has 1 to 15 characters"
        ));
    }
    if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        return Err(format!(
            "invalid bridge name {name:?}: an interface name has no `/`, `:` or whitespace and is not `.` or `..`"
        ));
    }
    Ok(())
}

/// Checks an nftables table name for `--nft-table`: a letter or `_`, then
/// letters, digits, `_` and `-`, at most 64 characters (so `nft` can also
/// name it on its command line).
pub fn check_nft_table(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || name.len() > 64
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "invalid nftables table name {name:?}: use up to 64 letters, digits, `_` and `-`, starting with a letter"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip() {
        let net = parse_bip("10.213.4.1/24").unwrap();
        assert_eq!(net.addr(), Ipv4Addr::new(10, 213, 4, 1));
        assert_eq!(net.prefix_len(), 24);
        assert!(
            parse_bip("10.213.4.1")
                .unwrap_err()
                .contains("prefix length")
        );
        assert!(parse_bip("nonsense").is_err());
        assert!(
            parse_bip("10.213.4.0/24")
                .unwrap_err()
                .contains("network address")
        );
        assert!(
            parse_bip("10.213.4.255/24")
                .unwrap_err()
                .contains("broadcast address")
        );
        assert!(parse_bip("10.213.4.1/31").unwrap_err().contains("no room"));
        assert!(parse_bip("fd00::1/64").is_err());
    }

    #[test]
    fn names() {
        assert!(check_bridge_name("berth0").is_ok());
        assert!(check_bridge_name("bt-4194304-99").is_ok());
        assert!(check_bridge_name("").is_err());
        assert!(check_bridge_name("sixteen-chars-xx").is_err());
        assert!(check_bridge_name("a/b").is_err());
        assert!(check_bridge_name("a b").is_err());
        assert!(check_nft_table("berth").is_ok());
        assert!(check_nft_table("bt_1234_0").is_ok());
        assert!(check_nft_table("1abc").is_err());
        assert!(check_nft_table("a;b").is_err());
        assert!(check_nft_table("").is_err());
    }
}
