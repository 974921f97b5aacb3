//! The name-resolution fields of a create request's `HostConfig`:
//! `Dns`, `DnsSearch`, `DnsOptions`, `ExtraHosts` (moby's
//! `api/swagger.yaml`, `HostConfig`). `null` is the same as absent.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DnsHostConfig {
    /// `--dns`: nameserver addresses.
    pub dns: Option<Vec<String>>,
    /// `--dns-search`: search domains.
    pub dns_search: Option<Vec<String>>,
    /// `--dns-option`: resolver options (`ndots:2`).
    pub dns_options: Option<Vec<String>>,
    /// `--add-host`: `name:ip` (or `name:host-gateway`).
    pub extra_hosts: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_and_lists_parse() {
        let h: DnsHostConfig = serde_json::from_str(
            r#"{"Dns":["1.1.1.1"],"DnsSearch":null,"DnsOptions":[],"ExtraHosts":["a:1.2.3.4"]}"#,
        )
        .unwrap();
        assert_eq!(h.dns.as_deref(), Some(&["1.1.1.1".to_owned()][..]));
        assert_eq!(h.dns_search, None);
        assert_eq!(h.extra_hosts.unwrap(), ["a:1.2.3.4"]);
    }
}
