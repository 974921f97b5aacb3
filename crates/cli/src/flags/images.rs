//! Flags of the image commands (`images`, `image ...`, `tag`, `rmi`,
//! `history`, `save`, `load`, `import`), with docker's names.

use clap::{Args, Subcommand};

use super::common::{JSON_FORMAT_HELP, TABLE_FORMAT_HELP};

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub(crate) enum ImageFlags {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesFlags),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiFlags),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagFlags),
    /// Show the history of an image
    History(HistoryFlags),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveFlags),
    /// Load an image from a tar archive or STDIN
    Load(LoadFlags),
    /// Download an image from a registry
    Pull(PullFlags),
    /// Upload an image to a registry
    Push(super::push::PushFlags),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportFlags),
    /// Display detailed information on one or more images
    Inspect(ImageInspectFlags),
    /// Remove unused images
    Prune(super::system::ImagePruneFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ImagesFlags {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub(crate) no_trunc: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub(crate) digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    #[arg(long = "format", value_name = "string", help = TABLE_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// REPOSITORY[:TAG]
    pub(crate) reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct RmiFlags {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub(crate) no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct TagFlags {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub(crate) source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub(crate) target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct HistoryFlags {
    /// Print sizes and dates in human readable format
    // No `-H`: that is the global `--host` here.
    #[arg(long = "human", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub(crate) no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    #[arg(long = "format", value_name = "string", help = TABLE_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub(crate) image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct SaveFlags {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub(crate) output: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct PullFlags {
    /// Download all tagged images in the repository (not supported yet)
    #[arg(short = 'a', long = "all-tags")]
    pub(crate) all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(
        long = "platform",
        value_name = "string",
        env = "DOCKER_DEFAULT_PLATFORM"
    )]
    pub(crate) platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Skip image verification (accepted for docker's sake; berth does not sign)
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set, value_name = "bool", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub(crate) disable_content_trust: bool,
    /// NAME[:TAG|@DIGEST]
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub(crate) image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct LoadFlags {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input", value_name = "string")]
    pub(crate) input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ImportFlags {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub(crate) change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub(crate) message: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub(crate) source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub(crate) reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ImageInspectFlags {
    #[arg(short = 'f', long = "format", value_name = "string", help = JSON_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
}
