//! Flags of `run` and `create` for security and isolation, with docker's
//! names (flattened into the container options): capabilities, privileged,
//! security options, read-only root, tmpfs, groups, namespaces, shm size,
//! domain name, and label files.

use clap::Args;

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct SecurityFlags {
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub(crate) cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub(crate) cap_drop: Vec<String>,
    /// Container NIS domain name
    #[arg(long = "domainname", value_name = "string")]
    pub(crate) domainname: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub(crate) group_add: Vec<String>,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string")]
    pub(crate) ipc: Option<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub(crate) label_file: Vec<String>,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string")]
    pub(crate) pid: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub(crate) privileged: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub(crate) read_only: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub(crate) security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub(crate) shm_size: Option<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub(crate) tmpfs: Vec<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string")]
    pub(crate) uts: Option<String>,
}
