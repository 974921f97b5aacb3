//! Flag definitions: what the user can type, with docker's names. No
//! behaviour here; [`crate::settings`] turns these into resolved settings.

pub(crate) mod attach;
pub(crate) mod build;
pub(crate) mod common;
pub(crate) mod compose;
pub(crate) mod containers;
pub(crate) mod dns;
pub(crate) mod exec;
pub(crate) mod fs;
pub(crate) mod images;
pub(crate) mod lifecycle;
pub(crate) mod network;
pub(crate) mod ports;
pub(crate) mod push;
pub(crate) mod registry;
pub(crate) mod resources;
pub(crate) mod security;
pub(crate) mod system;
pub(crate) mod volume;

use clap::{Args, Parser, Subcommand};

use self::common::JSON_FORMAT_HELP;

/// A self-sufficient runtime for containers
#[derive(Debug, Parser)]
#[command(name = "berth", disable_version_flag = true)]
pub(crate) struct Flags {
    #[command(flatten)]
    pub(crate) global: GlobalFlags,

    #[command(subcommand)]
    pub(crate) command: Option<CommandFlags>,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalFlags {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list", global = true)]
    pub(crate) host: Option<String>,

    /// Enable debug mode
    #[arg(short = 'D', long = "debug", global = true)]
    pub(crate) debug: bool,

    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub(crate) version: bool,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub(crate) enum CommandFlags {
    /// Show the berth version information
    Version(FormatFlags),
    /// Display system-wide information
    Info(FormatFlags),
    /// List images
    Images(images::ImagesFlags),
    /// Manage images
    Image {
        #[command(subcommand)]
        command: images::ImageFlags,
    },
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagFlags),
    /// Remove one or more images
    Rmi(images::RmiFlags),
    /// Show the history of an image
    History(images::HistoryFlags),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(images::SaveFlags),
    /// Load an image from a tar archive or STDIN
    Load(images::LoadFlags),
    /// Download an image from a registry
    Pull(images::PullFlags),
    /// Import the contents from a tarball to create a filesystem image
    Import(images::ImportFlags),
    /// Upload an image to a registry
    Push(push::PushFlags),
    /// Authenticate to a registry
    Login(push::LoginFlags),
    /// Log out from a registry
    Logout(push::LogoutFlags),
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth build [OPTIONS] PATH | -")]
    Build(build::BuildFlags),
    /// Manage builds
    Builder {
        #[command(subcommand)]
        command: build::BuilderFlags,
    },
    /// Create and run a new container from an image
    #[command(
        disable_help_flag = true,
        override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Run(containers::RunFlags),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]"
    )]
    Create(containers::CreateFlags),
    /// Start one or more stopped containers
    Start(containers::StartFlags),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachFlags),
    /// List containers
    Ps(containers::PsFlags),
    /// Fetch the logs of a container
    Logs(containers::LogsFlags),
    /// Stop one or more running containers
    Stop(containers::StopFlags),
    /// Kill one or more running containers
    Kill(containers::KillFlags),
    /// Remove one or more containers
    Rm(containers::RmFlags),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::WaitFlags),
    /// Restart one or more containers
    Restart(lifecycle::RestartFlags),
    /// Pause all processes within one or more containers
    Pause(lifecycle::PauseFlags),
    /// Unpause all processes within one or more containers
    Unpause(lifecycle::PauseFlags),
    /// Rename a container
    Rename(lifecycle::RenameFlags),
    /// Return low-level information on berth objects
    Inspect(containers::InspectFlags),
    /// Update configuration of one or more containers
    #[command(override_usage = "berth update [OPTIONS] CONTAINER [CONTAINER...]")]
    Update(resources::UpdateFlags),
    /// Execute a command in a running container
    #[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(exec::ExecFlags),
    /// Manage containers
    Container {
        #[command(subcommand)]
        command: containers::ContainerFlags,
    },
    #[command(flatten)]
    Fs(fs::FsFlags),
    #[command(flatten)]
    Ports(ports::PortCommandFlags),
    /// Manage networks
    Network {
        #[command(subcommand)]
        command: network::NetworkFlags,
    },
    /// Get real time events from the server
    Events(system::EventsFlags),
    /// Display a live stream of container(s) resource usage statistics
    Stats(system::StatsFlags),
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: volume::VolumeFlags,
    },
    /// Run a local image registry, or garbage-collect its storage
    Registry {
        #[command(subcommand)]
        command: registry::RegistryFlags,
    },
    /// Define and run multi-container applications (Compose files)
    Compose(compose::ComposeFlags),
    /// Manage berth
    System {
        #[command(subcommand)]
        command: SystemFlags,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub(crate) enum SystemFlags {
    /// Display system-wide information
    Info(FormatFlags),
    /// Get real time events from the server
    Events(system::EventsFlags),
    /// Show docker disk usage
    Df(system::DfFlags),
    /// Remove unused data
    Prune(system::SystemPruneFlags),
}

#[derive(Debug, Args)]
pub(crate) struct FormatFlags {
    #[arg(short = 'f', long = "format", value_name = "string", help = JSON_FORMAT_HELP)]
    pub(crate) format: Option<String>,
}
