//! Flags of `network ...` and the network flags of `run`/`create`, with
//! docker's names.

use clap::{Args, Subcommand};

use super::common::{JSON_FORMAT_HELP, PruneFlags, TABLE_FORMAT_HELP};

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub(crate) enum NetworkFlags {
    /// Create a network
    Create(NetworkCreateFlags),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsFlags),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectFlags),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmFlags),
    /// Remove all unused networks
    Prune(PruneFlags),
    /// Connect a container to a network
    Connect(NetworkConnectFlags),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct NetworkCreateFlags {
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub(crate) attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub(crate) aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from", value_name = "string")]
    pub(crate) config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub(crate) config_only: bool,
    /// Driver to manage the Network
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "bridge"
    )]
    pub(crate) driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway", value_name = "strings")]
    pub(crate) gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long = "ingress")]
    pub(crate) ingress: bool,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub(crate) internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    pub(crate) ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub(crate) ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub(crate) ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment
    #[arg(long = "ipv4", value_name = "bool", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub(crate) ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long = "ipv6", value_name = "bool", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub(crate) ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "list")]
    pub(crate) label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub(crate) opt: Vec<String>,
    /// Control the network's scope
    #[arg(long = "scope", value_name = "string")]
    pub(crate) scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet", value_name = "strings")]
    pub(crate) subnet: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub(crate) name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct NetworkLsFlags {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    #[arg(long = "format", value_name = "string", help = TABLE_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub(crate) no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct NetworkInspectFlags {
    #[arg(short = 'f', long = "format", value_name = "string", help = JSON_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub(crate) networks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct NetworkRmFlags {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub(crate) networks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct NetworkConnectFlags {
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "strings")]
    pub(crate) alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings")]
    pub(crate) driver_opt: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip", value_name = "string")]
    pub(crate) ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6", value_name = "string")]
    pub(crate) ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub(crate) link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings")]
    pub(crate) link_local_ip: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(
        long = "gw-priority",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) gw_priority: Option<i64>,
    #[arg(value_name = "NETWORK")]
    pub(crate) network: String,
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct NetworkDisconnectFlags {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
    #[arg(value_name = "NETWORK")]
    pub(crate) network: String,
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
}

/// The network flags of `run` and `create` (flattened into the container
/// options).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct RunNetworkFlags {
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net", value_name = "network")]
    pub(crate) network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "list"
    )]
    pub(crate) network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub(crate) ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub(crate) ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub(crate) link: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub(crate) mac_address: Option<String>,
}
