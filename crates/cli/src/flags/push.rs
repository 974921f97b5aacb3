//! Flags of `push`, `login` and `logout`, with docker's names.

use clap::Args;

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct PushFlags {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub(crate) all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long = "platform", value_name = "string")]
    pub(crate) platform: Option<String>,
    /// Skip image signing (accepted for docker's sake; berth does not sign)
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set, value_name = "bool", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub(crate) disable_content_trust: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub(crate) image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct LoginFlags {
    /// Username
    #[arg(short = 'u', long = "username", value_name = "string")]
    pub(crate) username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long = "password", value_name = "string")]
    pub(crate) password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub(crate) password_stdin: bool,
    #[arg(value_name = "SERVER")]
    pub(crate) server: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct LogoutFlags {
    #[arg(value_name = "SERVER")]
    pub(crate) server: Option<String>,
}
