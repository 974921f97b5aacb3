//! Flag definitions (dockerd's names) and the settings resolved from them.

use std::path::PathBuf;

use anyhow::bail;
use berth_engine::NetworkConfig;
use clap::{ArgAction, Parser, ValueEnum};

/// The default API socket, shared with the `berth` CLI.
pub(crate) const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// berthd serves the Docker Engine API on a unix socket.
#[derive(Debug, Parser)]
#[command(name = "berthd", version, about)]
pub(crate) struct Flags {
    /// Root directory of persistent berth state
    #[arg(
        long = "data-root",
        value_name = "DIR",
        default_value = "/var/lib/berth"
    )]
    pub(crate) data_root: PathBuf,

    /// Root directory for execution state files
    #[arg(long = "exec-root", value_name = "DIR", default_value = "/run/berth")]
    pub(crate) exec_root: PathBuf,

    /// Set parent cgroup for all containers
    #[arg(long = "cgroup-parent", value_name = "PATH", default_value = "/berth")]
    pub(crate) cgroup_parent: String,

    /// Run an init in the container to forward signals and reap processes
    #[arg(long = "init")]
    pub(crate) init: bool,

    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", value_name = "ADDR", default_value = DEFAULT_HOST)]
    pub(crate) host: String,

    /// Group for the unix socket [default: berth]
    #[arg(short = 'G', long = "group", value_name = "GROUP")]
    pub(crate) group: Option<String>,

    /// Path to use for daemon PID file
    #[arg(
        short = 'p',
        long = "pidfile",
        value_name = "FILE",
        default_value = "/run/berth.pid"
    )]
    pub(crate) pidfile: PathBuf,

    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub(crate) debug: bool,

    /// Set the logging level
    #[arg(short = 'l', long = "log-level", value_enum, default_value_t = LogLevel::Info)]
    pub(crate) log_level: LogLevel,

    /// Set the logging format
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

    /// The host's resolver file that containers' /etc/resolv.conf is based
    /// on [default: /etc/resolv.conf, or systemd-resolved's upstream list
    /// when that only names its local stub]
    #[arg(long = "host-resolv-conf", value_name = "FILE")]
    pub(crate) host_resolv_conf: Option<PathBuf>,
    /// Attach containers to a network bridge
    #[arg(short = 'b', long = "bridge", value_name = "NAME", default_value = NetworkConfig::DEFAULT_BRIDGE)]
    pub(crate) bridge: String,

    /// Network bridge IP [default: 172.30.0.1/16]
    #[arg(long = "bip", value_name = "CIDR")]
    pub(crate) bip: Option<String>,

    /// nftables table (family inet) berth keeps its rules in
    #[arg(long = "nft-table", value_name = "NAME", default_value = NetworkConfig::DEFAULT_NFT_TABLE)]
    pub(crate) nft_table: String,

    /// Enable net.ipv4.ip_forward
    #[arg(
        long = "ip-forward",
        value_name = "BOOL",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true"
    )]
    pub(crate) ip_forward: bool,

    /// Enable IPv6 networking on the default bridge
    #[arg(
        long = "ipv6",
        value_name = "BOOL",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_value_t = false,
        default_missing_value = "true"
    )]
    pub(crate) ipv6: bool,

    /// IPv6 subnet for the default bridge (with --ipv6) [default: a ULA /64]
    #[arg(long = "fixed-cidr-v6", value_name = "CIDR")]
    pub(crate) fixed_cidr_v6: Option<String>,

    /// A registry to pull from over plain HTTP (host or host:port; repeatable).
    /// Registries on loopback addresses always are
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    pub(crate) insecure_registries: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            // tracing has no fatal level; fatal conditions are logged as errors.
            LogLevel::Error | LogLevel::Fatal => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// Validated settings the daemon runs with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) data_root: PathBuf,
    pub(crate) exec_root: PathBuf,
    pub(crate) cgroup_parent: String,
    pub(crate) init: bool,
    pub(crate) socket: PathBuf,
    pub(crate) socket_group: SocketGroup,
    pub(crate) pidfile: PathBuf,
    pub(crate) debug: bool,
    pub(crate) log_level: LogLevel,
    pub(crate) log_format: LogFormat,
    pub(crate) host_resolv_conf: Option<PathBuf>,
    pub(crate) network: NetworkConfig,
    pub(crate) insecure_registries: Vec<String>,
}

impl Settings {
    pub(crate) fn resolve(flags: Flags) -> anyhow::Result<Self> {
        let network = resolve_network(&flags)?;
        Ok(Self {
            network,
            socket: parse_host(&flags.host)?,
            socket_group: match flags.group {
                // dockerd: an empty group leaves the socket to root's group.
                Some(name) if name.is_empty() => SocketGroup {
                    name,
                    explicit: false,
                },
                Some(name) => SocketGroup {
                    name,
                    explicit: true,
                },
                None => SocketGroup {
                    name: DEFAULT_GROUP.to_owned(),
                    explicit: false,
                },
            },
            data_root: flags.data_root,
            exec_root: flags.exec_root,
            cgroup_parent: flags.cgroup_parent,
            init: flags.init,
            pidfile: flags.pidfile,
            debug: flags.debug,
            // --debug wins over --log-level, as in dockerd.
            log_level: if flags.debug {
                LogLevel::Debug
            } else {
                flags.log_level
            },
            log_format: flags.log_format,
            host_resolv_conf: flags.host_resolv_conf,
            insecure_registries: flags
                .insecure_registries
                .iter()
                .map(|r| {
                    r.trim_start_matches("http://")
                        .trim_end_matches('/')
                        .to_owned()
                })
                .collect(),
        })
    }
}

/// `--bridge`, `--bip`, `--nft-table`, `--ip-forward`, checked.
fn resolve_network(flags: &Flags) -> anyhow::Result<NetworkConfig> {
    let mut network = NetworkConfig::default();
    berth_engine::check_bridge_name(&flags.bridge).map_err(anyhow::Error::msg)?;
    network.bridge.clone_from(&flags.bridge);
    if let Some(bip) = &flags.bip {
        network.bip = berth_engine::parse_bip(bip).map_err(anyhow::Error::msg)?;
    }
    berth_engine::check_nft_table(&flags.nft_table).map_err(anyhow::Error::msg)?;
    network.nft_table.clone_from(&flags.nft_table);
    network.ip_forward = flags.ip_forward;
    network.ipv6 = flags.ipv6;
    if let Some(v6) = &flags.fixed_cidr_v6 {
        network.fixed_cidr_v6 =
            Some(berth_engine::parse_fixed_cidr_v6(v6).map_err(anyhow::Error::msg)?);
    }
    Ok(network)
}

/// The group that may use the socket by default, as dockerd's `docker`.
pub(crate) const DEFAULT_GROUP: &str = "berth";

/// Which group gets the API socket (`-G/--group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketGroup {
    /// A group name or a numeric ID.
    pub(crate) name: String,
    /// Given on the command line: a missing group is an error then,
    /// while the default may be missing (only root can connect).
    pub(crate) explicit: bool,
}

/// `unix:///run/berth/berth.sock` → `/run/berth/berth.sock`.
pub(crate) fn parse_host(host: &str) -> anyhow::Result<PathBuf> {
    match host.split_once("://") {
        Some(("unix", "")) => Ok(PathBuf::from("/run/berth/berth.sock")),
        Some(("unix", path)) if path.starts_with('/') => Ok(PathBuf::from(path)),
        Some(("unix", path)) => {
            bail!("invalid unix socket address {host:?}: {path:?} is not absolute")
        }
        Some(("tcp" | "fd" | "npipe", _)) => {
            bail!("listening on {host:?} is not supported yet: use unix:///path")
        }
        _ => bail!("invalid host {host:?}: use unix:///path"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("unix:///tmp/x.sock").unwrap(),
            PathBuf::from("/tmp/x.sock")
        );
        assert_eq!(
            parse_host("unix://").unwrap(),
            PathBuf::from("/run/berth/berth.sock")
        );
        assert!(parse_host("unix://rel.sock").is_err());
        assert!(parse_host("tcp://0.0.0.0:2375").is_err());
        assert!(parse_host("/tmp/x.sock").is_err());
    }

    #[test]
    fn debug_wins_over_log_level() {
        let flags = Flags::parse_from(["berthd", "--debug", "--log-level", "error"]);
        let s = Settings::resolve(flags).unwrap();
        assert_eq!(s.log_level, LogLevel::Debug);
        assert_eq!(s.socket, PathBuf::from("/run/berth/berth.sock"));
        assert_eq!(s.pidfile, PathBuf::from("/run/berth.pid"));
        assert_eq!(
            s.socket_group,
            SocketGroup {
                name: "berth".into(),
                explicit: false
            }
        );
    }

    #[test]
    fn group_flag() {
        for args in [["berthd", "-G", "wheel"], ["berthd", "--group", "wheel"]] {
            let s = Settings::resolve(Flags::parse_from(args)).unwrap();
            assert_eq!(
                s.socket_group,
                SocketGroup {
                    name: "wheel".into(),
                    explicit: true
                }
            );
        }
        let s = Settings::resolve(Flags::parse_from(["berthd", "-G", ""])).unwrap();
        assert!(!s.socket_group.explicit);
    }

    #[test]
    fn network_flags() {
        let s = Settings::resolve(Flags::parse_from(["berthd"])).unwrap();
        assert_eq!(s.network, NetworkConfig::default());
        assert_eq!(s.network.bridge, "berth0");
        assert_eq!(s.network.bip.to_string(), "172.30.0.1/16");
        assert_eq!(s.network.nft_table, "berth");
        assert!(s.network.ip_forward);

        let s = Settings::resolve(Flags::parse_from([
            "berthd",
            "-b",
            "bt-1-0",
            "--bip",
            "10.213.7.1/24",
            "--nft-table",
            "bt_1_0",
            "--ip-forward=false",
        ]))
        .unwrap();
        assert_eq!(s.network.bridge, "bt-1-0");
        assert_eq!(s.network.bip.to_string(), "10.213.7.1/24");
        assert_eq!(s.network.nft_table, "bt_1_0");
        assert!(!s.network.ip_forward);

        let s = Settings::resolve(Flags::parse_from(["berthd", "--ip-forward"])).unwrap();
        assert!(s.network.ip_forward);

        let err = Settings::resolve(Flags::parse_from(["berthd", "--bip", "10.213.7.0/24"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("network address"), "{err}");
        assert!(
            Settings::resolve(Flags::parse_from(["berthd", "-b", "way-too-long-bridge"])).is_err()
        );
        assert!(Settings::resolve(Flags::parse_from(["berthd", "--nft-table", "x y"])).is_err());

        let s = Settings::resolve(Flags::parse_from([
            "berthd",
            "--ipv6",
            "--fixed-cidr-v6",
            "fd00:1:2:3::5/64",
        ]))
        .unwrap();
        assert!(s.network.ipv6);
        assert_eq!(
            s.network.fixed_cidr_v6.map(|n| n.to_string()).as_deref(),
            Some("fd00:1:2:3::/64")
        );
        let err = Settings::resolve(Flags::parse_from([
            "berthd",
            "--fixed-cidr-v6",
            "10.0.0.0/8",
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("--fixed-cidr-v6"), "{err}");
    }
}
