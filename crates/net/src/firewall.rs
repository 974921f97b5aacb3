//! Other firewalls on the host that would drop berth's forwarded traffic.
//!
//! An `accept` in berth's table ends the packet's walk through berth's
//! chains only: every other base chain on the same hook still sees it, and
//! a `drop` there (a rule or the chain's policy) is final. dockerd sets the
//! policy of iptables' `FORWARD` chain to DROP (and with iptables-nft that
//! chain is the nftables chain `FORWARD` of table `ip filter`), so on a
//! host that also runs dockerd, traffic of berth's containers to the
//! outside and through published ports is dropped, and, when
//! `br_netfilter` hands bridged packets to the forward hook
//! (`net.bridge.bridge-nf-call-iptables=1`), even traffic between two
//! containers on one berth network. berth does not edit another program's
//! chains (iptables-nft refuses tables with rules it cannot parse); it
//! finds such chains ([`dropping_forward_chains`]) so the daemon can say
//! what to do ([`advice`]).

use nftables::helper::{DEFAULT_NFT, get_current_ruleset_raw, get_current_ruleset_with_args};
use nftables::schema::{NfListObject, NfObject};
use nftables::types::{NfChainPolicy, NfHook};

/// A base chain on the forward hook whose policy is drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppingChain {
    /// `ip`, `inet`, `bridge`, ...
    pub family: String,
    pub table: String,
    pub chain: String,
}

/// The forward-hook chains with policy drop, outside berth's table
/// `own_table`, of the tables that do not already mention `bridge` (a rule
/// for it, as [`advice`] suggests, is taken to let it through). Needs
/// `nft`; iptables-legacy rules are not seen.
pub fn dropping_forward_chains(
    own_table: &str,
    bridge: &str,
) -> Result<Vec<DroppingChain>, String> {
    let listing = get_current_ruleset_with_args(DEFAULT_NFT, &["list", "chains"])
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for obj in listing.objects.iter() {
        let NfObject::ListObject(NfListObject::Chain(c)) = obj else {
            continue;
        };
        if c.hook != Some(NfHook::Forward) || c.policy != Some(NfChainPolicy::Drop) {
            continue;
        }
        let family = serde_json::to_value(c.family)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if c.table == own_table || !matches!(family.as_str(), "ip" | "inet" | "bridge") {
            continue;
        }
        out.push(DroppingChain {
            family,
            table: c.table.to_string(),
            chain: c.name.to_string(),
        });
    }
    out.retain(|c| !table_mentions(c, bridge));
    Ok(out)
}

/// Whether the rules of `c`'s table name `bridge` (as a JSON string in
/// nft's listing, e.g. `"berth0"` in `iifname "berth0"`).
fn table_mentions(c: &DroppingChain, bridge: &str) -> bool {
    let args = ["list", "table", c.family.as_str(), c.table.as_str()];
    get_current_ruleset_raw(DEFAULT_NFT, &args)
        .map(|json| json.contains(&format!("\"{bridge}\"")))
        .unwrap_or(false)
}

/// What to tell the user about `chains` for the bridge `bridge`.
pub fn advice(bridge: &str, chains: &[DroppingChain]) -> String {
    let names: Vec<String> = chains
        .iter()
        .map(|c| format!("`{}` of table `{} {}`", c.chain, c.family, c.table))
        .collect();
    format!(
        "the forward chain {} drops packets by default (dockerd sets iptables' FORWARD policy to DROP), \
         and berth's accept rules cannot override that: containers on bridge `{bridge}` cannot reach \
         the outside nor be reached through published ports, and while br_netfilter is loaded \
         (net.bridge.bridge-nf-call-iptables=1) not even each other. To let the bridge's traffic \
         through, accept it in that firewall, e.g. with dockerd: `iptables -I DOCKER-USER -i {bridge} -j ACCEPT` \
         and `iptables -I DOCKER-USER -o {bridge} -j ACCEPT` (without dockerd: the same with `FORWARD`); \
         berth's own table still keeps its networks apart",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_chain_and_the_fix() {
        let text = advice(
            "berth0",
            &[DroppingChain {
                family: "ip".into(),
                table: "filter".into(),
                chain: "FORWARD".into(),
            }],
        );
        assert!(text.contains("`FORWARD` of table `ip filter`"), "{text}");
        assert!(
            text.contains("iptables -I DOCKER-USER -i berth0 -j ACCEPT"),
            "{text}"
        );
    }
}
