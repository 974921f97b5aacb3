//! Flags of `restart`, `pause`, `unpause` and `rename` (and their
//! `container ...` forms), with docker's names.

use clap::Args;

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct RestartFlags {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub(crate) signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

/// `pause` and `unpause`: one or more containers.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct PauseFlags {
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct RenameFlags {
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
    #[arg(value_name = "NEW_NAME")]
    pub(crate) new_name: String,
}
