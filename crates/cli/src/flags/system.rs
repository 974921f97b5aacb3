//! Flags of the observing and clean-up commands: `events`, `stats`,
//! `system df`, `system prune`, `container prune`, `image prune`.

use clap::Args;

/// What the observing and clean-up commands were asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ObserveCommand {
    Events(EventsFlags),
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
