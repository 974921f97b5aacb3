//! IPv6-only networks (docker 28's `network create --ipv4=false --ipv6`):
//! the checks dockerd makes, with its messages. Such a network has one
//! IPv6 subnet and no IPv4 one, so its containers get only IPv6 addresses
//! (and the kernel's link-local one); the data path gives its bridge only
//! the IPv6 gateway address.

use std::collections::BTreeMap;

use berth_net::ipnet::IpNet;

use crate::go::parse_bool;

use super::{CreateRequest, EndpointConfig, Network, NetworkError, Result};

/// `--ipv4=false` also as the driver option dockerd reads when the request
/// has no `EnableIPv4`.
pub(super) const OPT_ENABLE_IPV4: &str = "com.docker.network.enable_ipv4";

/// Whether the network to create has IPv4: `EnableIPv4` (true when
/// absent), else `-o com.docker.network.enable_ipv4`. A network needs IPv4
/// or IPv6.
pub(super) fn enable_ipv4(req: &CreateRequest) -> Result<bool> {
    let v4 = match (req.enable_ipv4, req.options.get(OPT_ENABLE_IPV4)) {
        (Some(v), _) => v,
        (None, None) => true,
        (None, Some(text)) => parse_bool(text).ok_or_else(|| {
            NetworkError::InvalidArgument(format!(
                "driver-opt \"{OPT_ENABLE_IPV4}\" is not a valid bool"
            ))
        })?,
    };
    if !v4 && !req.enable_ipv6 {
        return Err(NetworkError::InvalidArgument(
            "IPv4 or IPv6 must be enabled".into(),
        ));
    }
    Ok(v4)
}

/// The driver options to store: as dockerd, without
/// `com.docker.network.enable_ipv4` when `EnableIPv4` was given (it would
/// be ignored, and look wrong in inspect).
pub(super) fn options(
    enable_ipv4: Option<bool>,
    mut options: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    if enable_ipv4.is_some() {
        options.remove(OPT_ENABLE_IPV4);
    }
    options
}

/// An IPv4 `--subnet` on a network without IPv4.
pub(super) fn check_subnet(enable_ipv4: bool, subnet: &IpNet) -> Result<()> {
    if !enable_ipv4 && subnet.addr().is_ipv4() {
        return Err(NetworkError::InvalidArgument(format!(
            "an IPv4 subnet ({subnet}) needs IPv4: drop --ipv4=false, or give only IPv6 subnets"
        )));
    }
    Ok(())
}

/// `--ip` (an IPv4 address) on a network without IPv4: dockerd's answer
/// for an address no configured subnet holds.
pub(super) fn check_endpoint(net: &Network, ep: &EndpointConfig) -> Result<()> {
    if !net.enable_ipv4 && ep.ipv4_address.is_some() {
        return Err(NetworkError::InvalidArgument(
            "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v4: Option<bool>, v6: bool, opt: Option<&str>) -> CreateRequest {
        CreateRequest {
            enable_ipv4: v4,
            enable_ipv6: v6,
            options: opt
                .map(|v| [(OPT_ENABLE_IPV4.to_owned(), v.to_owned())].into())
                .unwrap_or_default(),
            ..CreateRequest::default()
        }
    }

    #[test]
    fn ipv4_on_or_off() {
        assert!(enable_ipv4(&req(None, false, None)).unwrap());
        assert!(!enable_ipv4(&req(Some(false), true, None)).unwrap());
        assert!(!enable_ipv4(&req(None, true, Some("false"))).unwrap());
        // The field wins over the option.
        assert!(enable_ipv4(&req(Some(true), true, Some("false"))).unwrap());
        let msg = |r: Result<bool>| r.unwrap_err().to_string();
        assert_eq!(
            msg(enable_ipv4(&req(Some(false), false, None))),
            "IPv4 or IPv6 must be enabled"
        );
        let kept = options(None, req(None, true, Some("false")).options);
        assert_eq!(kept.get(OPT_ENABLE_IPV4).map(String::as_str), Some("false"));
        assert!(options(Some(true), req(None, true, Some("false")).options).is_empty());
        assert_eq!(
            msg(enable_ipv4(&req(None, true, Some("nope")))),
            "driver-opt \"com.docker.network.enable_ipv4\" is not a valid bool"
        );
    }
}
