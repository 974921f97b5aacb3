//! Flags of `exec` (and `container exec`), with docker's names.

use clap::Args;

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct ExecFlags {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub(crate) detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub(crate) detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub(crate) env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub(crate) env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub(crate) interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub(crate) privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub(crate) tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub(crate) user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub(crate) workdir: Option<String>,
    /// The container, then the command and its arguments: everything
    /// after the container is the command's (`exec c1 ls -l`).
    #[arg(
        required = true,
        value_name = "CONTAINER COMMAND [ARG...]",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..
    )]
    pub(crate) container_and_command: Vec<String>,
}

impl ExecFlags {
    pub(crate) fn container(&self) -> &str {
        self.container_and_command
            .first()
            .map_or("", String::as_str)
    }

    pub(crate) fn command(&self) -> &[String] {
        self.container_and_command.get(1..).unwrap_or(&[])
    }
}
