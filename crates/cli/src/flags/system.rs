//! Flags of the observing and clean-up commands: `events`, `stats`,
//! `system df`, `system prune`, `container prune`, `image prune`.

use clap::Args;

use super::common::{JSON_FORMAT_HELP, PruneFlags, TABLE_FORMAT_HELP};

/// What the observing and clean-up commands were asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ObserveCommand {
    Events(EventsFlags),
    Stats(StatsFlags),
    Df(DfFlags),
    SystemPrune(SystemPruneFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct EventsFlags {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    #[arg(long = "format", value_name = "string", help = JSON_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long = "since", value_name = "string")]
    pub(crate) since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until", value_name = "string")]
    pub(crate) until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct StatsFlags {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    #[arg(long = "format", value_name = "string", help = TABLE_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub(crate) no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub(crate) no_trunc: bool,
    /// The containers (default: all running ones, every one with -a)
    #[arg(value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct DfFlags {
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,
    #[arg(long = "format", value_name = "string", help = TABLE_FORMAT_HELP)]
    pub(crate) format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(mut_arg("filter", |a| a.help(r#"Provide filter values (e.g. "label=<key>=<value>")"#)))]
pub(crate) struct SystemPruneFlags {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) prune: PruneFlags,
    /// Prune anonymous volumes
    #[arg(long = "volumes")]
    pub(crate) volumes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ImagePruneFlags {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) prune: PruneFlags,
}
