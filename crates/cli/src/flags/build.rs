//! `berth build` flags (docker's classic builder's).

use clap::Args;

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct BuildFlags {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub(crate) tag: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub(crate) file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub(crate) build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long = "target", value_name = "string")]
    pub(crate) target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub(crate) no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub(crate) pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub(crate) label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network", value_name = "string")]
    pub(crate) network: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub(crate) platform: Option<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", value_name = "bool", num_args = 0..=1, default_missing_value = "true")]
    pub(crate) rm: Option<bool>,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub(crate) force_rm: bool,
    /// Write the image ID to the file
    #[arg(long = "iidfile", value_name = "string")]
    pub(crate) iidfile: Option<String>,
    /// The build context: a directory, or `-` for a tar or a Dockerfile on STDIN
    #[arg(value_name = "PATH | -")]
    pub(crate) context: String,
}

/// `berth builder ...`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub(crate) enum BuilderFlags {
    /// Remove build cache
    Prune(super::system::ImagePruneFlags),
}
