//! Port flags of `run`/`create` (`-p`, `-P`, `--expose`) and the `port`
//! command, with docker's names. Values stay strings here so a bad one
//! gets docker's message (`crate::commands::ports`), not clap's.

use clap::{Args, Subcommand};

/// The port flags of `run` and `create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct PortFlags {
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub(crate) publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub(crate) publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub(crate) expose: Vec<String>,
}

/// `port`, both at the top level and under `container`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub(crate) enum PortCommandFlags {
    /// List port mappings or a specific mapping for the container
    #[command(override_usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]")]
    Port(PortCommandArgs),
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct PortCommandArgs {
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub(crate) port: Option<String>,
}
