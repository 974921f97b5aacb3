//! API 1.48 and older: what changed in 1.49, undone.

use berth_api_types::SystemInfo;

/// `/info` still carried `BridgeNfIptables` and `BridgeNfIp6tables` (always
/// false since Docker 28; API 1.49 dropped them). berth does not use
/// br_netfilter, so the value means nothing here either; it is sent because
/// old clients read it.
pub(super) fn info(info: &mut SystemInfo) {
    info.bridge_nf_iptables = Some(false);
    info.bridge_nf_ip6tables = Some(false);
}
