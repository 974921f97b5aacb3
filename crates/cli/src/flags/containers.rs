//! Flags of the container commands (`run`, `create`, `start`, `ps`,
//! `logs`, `stop`, `kill`, `rm`, `wait`, `inspect`, and their `container
//! ...` forms), with docker's names.

use clap::{ArgAction, Args, Subcommand};

use super::common::{JSON_FORMAT_HELP, TABLE_FORMAT_HELP};

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
#[command(defer = true)]
pub(crate) enum ContainerFlags {
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(RunFlags),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "berth container create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(CreateFlags),
    /// Start one or more stopped containers
    Start(StartFlags),
    /// Attach local standard input, output, and error streams to a running container
    Attach(super::attach::AttachFlags),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsFlags),
    /// Fetch the logs of a container
    Logs(LogsFlags),
    /// Stop one or more running containers
    Stop(StopFlags),
    /// Kill one or more running containers
    Kill(KillFlags),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmFlags),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitFlags),
    /// Restart one or more containers
    Restart(super::lifecycle::RestartFlags),
    /// Pause all processes within one or more containers
    Pause(super::lifecycle::PauseFlags),
    /// Unpause all processes within one or more containers
    Unpause(super::lifecycle::PauseFlags),
    /// Rename a container
    Rename(super::lifecycle::RenameFlags),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectFlags),
    #[command(flatten)]
    Fs(super::fs::FsFlags),
    #[command(flatten)]
    Ports(super::ports::PortCommandFlags),
    /// Update configuration of one or more containers
    #[command(override_usage = "berth container update [OPTIONS] CONTAINER [CONTAINER...]")]
    Update(super::resources::UpdateFlags),
    /// Display a live stream of container(s) resource usage statistics
    Stats(super::system::StatsFlags),
    /// Remove all stopped containers
    Prune(super::common::PruneFlags),
    /// Execute a command in a running container
    #[command(override_usage = "berth container exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(super::exec::ExecFlags),
}

/// The options `run` and `create` share: what the container is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct ContainerOptions {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub(crate) attach: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub(crate) entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub(crate) env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub(crate) env_file: Vec<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub(crate) hostname: Option<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub(crate) health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub(crate) health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub(crate) health_retries: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub(crate) health_start_interval: Option<String>,
    /// Start period for the container to initialize before starting
    /// health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub(crate) health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub(crate) health_timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub(crate) no_healthcheck: bool,
    /// Run an init inside the container that forwards signals and reaps
    /// processes
    #[arg(long = "init", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "bool")]
    pub(crate) init: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub(crate) interactive: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub(crate) label: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub(crate) log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub(crate) log_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub(crate) stop_signal: Option<String>,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string")]
    pub(crate) name: Option<String>,
    /// Restart policy to apply when a container exits (default "no")
    #[arg(long = "restart", value_name = "string")]
    pub(crate) restart: Option<String>,
    /// Automatically remove the container and its associated anonymous
    /// volumes when it exits
    #[arg(long = "rm")]
    pub(crate) rm: bool,
    /// Timeout (in seconds) to stop a container
    #[arg(
        long = "stop-timeout",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) stop_timeout: Option<i64>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub(crate) tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub(crate) user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub(crate) workdir: Option<String>,
    #[command(flatten)]
    pub(crate) resources: super::resources::ResourceFlags,
    #[command(flatten)]
    pub(crate) security: super::security::SecurityFlags,
    #[command(flatten)]
    pub(crate) mounts: super::volume::MountFlags,
    #[command(flatten)]
    pub(crate) ports: super::ports::PortFlags,
    #[command(flatten)]
    pub(crate) dns: super::dns::DnsFlags,
    #[command(flatten)]
    pub(crate) network: super::network::RunNetworkFlags,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", value_name = "string")]
    pub(crate) pull: Option<String>,
    /// Set platform if server is multi-platform capable (used when the image is pulled)
    #[arg(long = "platform", value_name = "string")]
    pub(crate) platform: Option<String>,
    /// Print usage
    // `-h` is `--hostname` here, as in docker.
    #[arg(long = "help", action = ArgAction::Help)]
    pub(crate) help: Option<bool>,
    /// The image, then the command and its arguments: everything from the
    /// image on belongs to the container (`run busybox ls -l`).
    #[arg(
        required = true,
        value_name = "IMAGE [COMMAND] [ARG...]",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..
    )]
    pub(crate) image_and_command: Vec<String>,
}

impl ContainerOptions {
    pub(crate) fn image(&self) -> &str {
        self.image_and_command.first().map_or("", String::as_str)
    }

    pub(crate) fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct RunFlags {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub(crate) detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub(crate) detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) sig_proxy: bool,
    #[command(flatten)]
    pub(crate) container: ContainerOptions,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub(crate) struct CreateFlags {
    #[command(flatten)]
    pub(crate) container: ContainerOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct StartFlags {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub(crate) attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub(crate) detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub(crate) interactive: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct PsFlags {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub(crate) all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub(crate) filter: Vec<String>,
    #[arg(long = "format", value_name = "string", help = TABLE_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "int", default_value_t = -1, allow_negative_numbers = true)]
    pub(crate) last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub(crate) latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub(crate) no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub(crate) size: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct LogsFlags {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub(crate) details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub(crate) follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative
    /// (e.g. "42m" for 42 minutes)
    #[arg(long = "since", value_name = "string")]
    pub(crate) since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(
        short = 'n',
        long = "tail",
        value_name = "string",
        default_value = "all"
    )]
    pub(crate) tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub(crate) timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or
    /// relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until", value_name = "string")]
    pub(crate) until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct StopFlags {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub(crate) signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "int",
        allow_negative_numbers = true
    )]
    pub(crate) time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct KillFlags {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub(crate) signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct RmFlags {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub(crate) force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub(crate) link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub(crate) volumes: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct WaitFlags {
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct ContainerInspectFlags {
    #[arg(short = 'f', long = "format", value_name = "string", help = JSON_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub(crate) size: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

/// `berth inspect`: any object (containers first, then images).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub(crate) struct InspectFlags {
    #[arg(short = 'f', long = "format", value_name = "string", help = JSON_FORMAT_HELP)]
    pub(crate) format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub(crate) size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type", value_name = "string")]
    pub(crate) kind: Option<String>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub(crate) names: Vec<String>,
}
