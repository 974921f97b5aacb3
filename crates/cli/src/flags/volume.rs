//! Flags of `berth volume ...` and the mount flags of `run`/`create`.

use clap::Args;

/// The mount flags of `run` and `create` (flattened into the container
/// options).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct MountFlags {
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub(crate) mount: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub(crate) volume: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "string")]
    pub(crate) volume_driver: Option<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub(crate) volumes_from: Vec<String>,
}
