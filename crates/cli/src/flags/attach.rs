//! Flags of `attach` (and `container attach`), with docker's names.

use clap::{ArgAction, Args};

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct AttachFlags {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub(crate) detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub(crate) no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub(crate) sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
}
