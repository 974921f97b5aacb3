//! Flags of `run` and `create` for name resolution, with docker's names
//! (flattened into the container options).

use clap::Args;

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct DnsFlags {
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub(crate) add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub(crate) dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "list")]
    pub(crate) dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub(crate) dns_search: Vec<String>,
}
