//! Flags of `compose` and its subcommands, with docker compose's names.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ComposeFlags {
    /// Compose configuration files
    #[arg(short = 'f', long = "file", value_name = "stringArray")]
    pub(crate) files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "string")]
    pub(crate) project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first specified Compose file)
    #[arg(long = "project-directory", value_name = "string")]
    pub(crate) project_directory: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: ComposeCommand,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub(crate) enum ComposeCommand {
    /// Create and start containers
    Up(UpFlags),
    /// Stop and remove containers, networks
    Down(DownFlags),
    /// List containers
    Ps(PsFlags),
    /// View output from containers
    Logs(LogsFlags),
    /// Parse, resolve and render the compose file in canonical format
    Config(ConfigFlags),
    /// Start services
    Start(ServicesFlags),
    /// Stop services
    Stop(TimeoutFlags),
    /// Restart service containers
    Restart(TimeoutFlags),
    /// Execute a command in a running container
    Exec(ExecFlags),
    /// Pull service images
    Pull(ServicesFlags),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct UpFlags {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long = "detach")]
    pub(crate) detach: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub(crate) force_recreate: bool,
    /// Don't start the services after creating them
    #[arg(long = "no-start")]
    pub(crate) no_start: bool,
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct DownFlags {
    /// Remove named volumes declared in the "volumes" section of the Compose file
    #[arg(short = 'v', long = "volumes")]
    pub(crate) volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub(crate) remove_orphans: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct PsFlags {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    /// Only display container names
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Display services
    #[arg(long = "services")]
    pub(crate) services_only: bool,
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct LogsFlags {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub(crate) follow: bool,
    /// Produce monochrome output (berth never colours)
    #[arg(long = "no-color")]
    pub(crate) no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub(crate) no_log_prefix: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(
        short = 'n',
        long = "tail",
        value_name = "string",
        default_value = "all"
    )]
    pub(crate) tail: String,
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ConfigFlags {
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Print the service names, one per line
    #[arg(long = "services")]
    pub(crate) services: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ServicesFlags {
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct TimeoutFlags {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", value_name = "int")]
    pub(crate) timeout: Option<i64>,
    #[arg(value_name = "SERVICE")]
    pub(crate) services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ExecFlags {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long = "detach")]
    pub(crate) detach: bool,
    /// Disable pseudo-TTY allocation. By default a TTY is allocated when stdin is one
    #[arg(short = 'T', long = "no-TTY")]
    pub(crate) no_tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "stringArray")]
    pub(crate) env: Vec<String>,
    /// Run the command as this user
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub(crate) user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub(crate) workdir: Option<String>,
    /// The service, then the command and its arguments
    #[arg(
        required = true,
        value_name = "SERVICE COMMAND [ARGS...]",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 2..
    )]
    pub(crate) service_and_command: Vec<String>,
}
