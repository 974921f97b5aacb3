//! Flags of `berth volume ...` and the mount flags of `run`/`create`.

use clap::{Args, Subcommand};

use super::common::{JSON_FORMAT_HELP, PruneFlags, TABLE_FORMAT_HELP};

/// `berth volume COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub(crate) enum VolumeFlags {
    /// Create a volume
    Create(VolumeCreateFlags),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectFlags),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsFlags),
    /// Remove unused local volumes
    Prune(VolumePruneFlags),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct VolumeCreateFlags {
    /// Specify volume driver name
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "local"
    )]
    pub(crate) driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list", value_parser = label)]
    pub(crate) label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub(crate) opt: Vec<String>,
    /// Specify volume name (the VOLUME argument does the same)
    #[arg(long = "name", value_name = "string", hide = true)]
    pub(crate) name: Option<String>,
    #[arg(value_name = "VOLUME")]
    pub(crate) volume: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct VolumeInspectFlags {
    #[arg(short = 'f', long = "format", value_name = "string", help = JSON_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub(crate) volumes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct VolumeLsFlags {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    #[arg(long = "format", value_name = "string", help = TABLE_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(mut_arg("filter", |a| a.help(r#"Provide filter values (e.g. "label=<label>")"#)))]
pub(crate) struct VolumePruneFlags {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) prune: PruneFlags,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct VolumeRmFlags {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub(crate) volumes: Vec<String>,
}

/// docker's `ValidateLabel`: `key` or `key=value`, with a name that is
/// neither empty nor holds whitespace.
fn label(value: &str) -> Result<String, String> {
    let key = value.split_once('=').map_or(value, |(k, _)| k);
    if key.trim().is_empty() {
        return Err(format!("invalid label '{value}': empty name"));
    }
    if key.trim().contains(char::is_whitespace) {
        return Err(format!("label '{}' contains whitespaces", key.trim()));
    }
    Ok(value.to_owned())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_as_docker_validates_them() {
        assert_eq!(label("a=b"), Ok("a=b".to_owned()));
        assert_eq!(label("a"), Ok("a".to_owned()));
        assert_eq!(
            label("=b"),
            Err("invalid label '=b': empty name".to_owned())
        );
        assert_eq!(
            label("a b=c"),
            Err("label 'a b' contains whitespaces".to_owned())
        );
    }
}
