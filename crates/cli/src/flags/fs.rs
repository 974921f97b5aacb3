//! Flags of the commands on a container's file system (`top`, `diff`,
//! `commit`, `cp`, `export`), with docker's names. Flattened into both
//! the top level and `container ...`.

use clap::{ArgAction, Args, Subcommand};

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub(crate) enum FsFlags {
    /// Display the running processes of a container
    #[command(override_usage = "berth top CONTAINER [ps OPTIONS]")]
    Top(TopFlags),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffFlags),
    /// Create a new image from a container's changes
    #[command(override_usage = "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
    Commit(CommitFlags),
    /// Copy files/folders between a container and the local filesystem
    #[command(
        override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       \
                                berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
    )]
    Cp(CpFlags),
    /// Export a container's filesystem as a tar archive
    Export(ExportFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct TopFlags {
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
    /// Options for `ps` (default `-ef`)
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub(crate) ps_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct DiffFlags {
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct CommitFlags {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author", value_name = "string")]
    pub(crate) author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub(crate) change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub(crate) message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub(crate) pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub(crate) reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct CpFlags {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub(crate) archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub(crate) follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    #[arg(value_name = "SRC_PATH", allow_hyphen_values = true)]
    pub(crate) source: String,
    #[arg(value_name = "DEST_PATH", allow_hyphen_values = true)]
    pub(crate) destination: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ExportFlags {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub(crate) output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
}
