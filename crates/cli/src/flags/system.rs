//! Flags of the observing and clean-up commands: `events`, `stats`,
//! `system df`, `system prune`, `container prune`, `image prune`.

use clap::Args;

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
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string")]
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
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string")]
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
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(long = "format", value_name = "string")]
    pub(crate) format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct SystemPruneFlags {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
    /// Prune anonymous volumes
    #[arg(long = "volumes")]
    pub(crate) volumes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ContainerPruneFlags {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ImagePruneFlags {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
}
