//! Resolved settings: flags plus environment, validated, ready for a command.
//!
//! One global [`Settings`] and one value per command ([`Command`]), so the
//! cross-flag rules of `run`, `ps` and friends land here, testable without a
//! daemon.

use berth_api_client::{DEFAULT_HOST, Host};

use crate::flags::containers::{ContainerFlags, InspectFlags};
use crate::flags::images::ImageFlags;
use crate::flags::system::ObserveCommand;
use crate::flags::{CommandFlags, Flags, FormatFlags, SystemFlags};

/// How `--format` asked for output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    /// The human layout.
    Pretty,
    /// `--format json`.
    Json,
    /// A Go template.
    Template(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Version {
        format: Format,
    },
    Info {
        format: Format,
    },
    /// The image commands (`images`, `image ...`, `tag`, `rmi`, ...).
    Image(crate::flags::images::ImageFlags),
    /// The container commands (`run`, `ps`, `container ...`, ...).
    Container(Box<ContainerFlags>),
    /// `berth inspect`: containers or images.
    Inspect(InspectFlags),
    /// `events`, `stats`, `system df`, the prune commands.
    Observe(crate::flags::system::ObserveCommand),
    /// `volume ...`.
    Volume(crate::flags::volume::VolumeFlags),
    /// `network ...`.
    Network(crate::flags::network::NetworkFlags),
    /// `compose ...`.
    Compose(crate::flags::compose::ComposeFlags),
    /// `registry serve` / `registry garbage-collect`.
    Registry(crate::flags::registry::RegistryFlags),
    /// `login`.
    Login(crate::flags::push::LoginFlags),
    /// `logout`.
    Logout(crate::flags::push::LogoutFlags),
    /// `build`.
    Build(crate::flags::build::BuildFlags),
    /// `builder prune`.
    Builder(crate::flags::build::BuilderFlags),
    /// `berth --version`.
    ShortVersion,
    /// No command: print help.
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) host: Host,
    pub(crate) debug: bool,
    pub(crate) command: Command,
}

impl Settings {
    /// `env` is `std::env::var` in production, a table in tests.
    pub(crate) fn resolve(
        flags: Flags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, berth_api_client::Error> {
        // Precedence: -H, then BERTH_HOST, then DOCKER_HOST (so an existing
        // docker setup pointed at berthd works), then the default socket.
        let host = flags
            .global
            .host
            .or_else(|| env("BERTH_HOST").filter(|s| !s.is_empty()))
            .or_else(|| env("DOCKER_HOST").filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_HOST.to_owned())
            .parse()?;
        let command = if flags.global.version {
            Command::ShortVersion
        } else {
            match flags.command {
                None => Command::Help,
                Some(CommandFlags::Version(f)) => Command::Version { format: format(f) },
                Some(CommandFlags::Info(f))
                | Some(CommandFlags::System {
                    command: SystemFlags::Info(f),
                }) => Command::Info { format: format(f) },
                Some(CommandFlags::Images(f)) => Command::Image(ImageFlags::Ls(f)),
                Some(CommandFlags::Image { command }) => Command::Image(command),
                Some(CommandFlags::Tag(f)) => Command::Image(ImageFlags::Tag(f)),
                Some(CommandFlags::Rmi(f)) => Command::Image(ImageFlags::Rm(f)),
                Some(CommandFlags::History(f)) => Command::Image(ImageFlags::History(f)),
                Some(CommandFlags::Save(f)) => Command::Image(ImageFlags::Save(f)),
                Some(CommandFlags::Load(f)) => Command::Image(ImageFlags::Load(f)),
                Some(CommandFlags::Pull(f)) => Command::Image(ImageFlags::Pull(f)),
                Some(CommandFlags::Import(f)) => Command::Image(ImageFlags::Import(f)),
                Some(CommandFlags::Push(f)) => Command::Image(ImageFlags::Push(f)),
                Some(CommandFlags::Login(f)) => Command::Login(f),
                Some(CommandFlags::Logout(f)) => Command::Logout(f),
                Some(CommandFlags::Build(f)) => Command::Build(f),
                Some(CommandFlags::Builder { command }) => Command::Builder(command),
                Some(CommandFlags::Run(f)) => Command::Container(Box::new(ContainerFlags::Run(f))),
                Some(CommandFlags::Create(f)) => {
                    Command::Container(Box::new(ContainerFlags::Create(f)))
                }
                Some(CommandFlags::Start(f)) => {
                    Command::Container(Box::new(ContainerFlags::Start(f)))
                }
                Some(CommandFlags::Attach(f)) => {
                    Command::Container(Box::new(ContainerFlags::Attach(f)))
                }
                Some(CommandFlags::Ps(f)) => Command::Container(Box::new(ContainerFlags::Ls(f))),
                Some(CommandFlags::Logs(f)) => {
                    Command::Container(Box::new(ContainerFlags::Logs(f)))
                }
                Some(CommandFlags::Stop(f)) => {
                    Command::Container(Box::new(ContainerFlags::Stop(f)))
                }
                Some(CommandFlags::Kill(f)) => {
                    Command::Container(Box::new(ContainerFlags::Kill(f)))
                }
                Some(CommandFlags::Rm(f)) => Command::Container(Box::new(ContainerFlags::Rm(f))),
                Some(CommandFlags::Exec(f)) => {
                    Command::Container(Box::new(ContainerFlags::Exec(f)))
                }
                Some(CommandFlags::Wait(f)) => {
                    Command::Container(Box::new(ContainerFlags::Wait(f)))
                }
                Some(CommandFlags::Restart(f)) => {
                    Command::Container(Box::new(ContainerFlags::Restart(f)))
                }
                Some(CommandFlags::Pause(f)) => {
                    Command::Container(Box::new(ContainerFlags::Pause(f)))
                }
                Some(CommandFlags::Unpause(f)) => {
                    Command::Container(Box::new(ContainerFlags::Unpause(f)))
                }
                Some(CommandFlags::Rename(f)) => {
                    Command::Container(Box::new(ContainerFlags::Rename(f)))
                }
                Some(CommandFlags::Inspect(f)) => Command::Inspect(f),
                Some(CommandFlags::Fs(f)) => Command::Container(Box::new(ContainerFlags::Fs(f))),
                Some(CommandFlags::Ports(f)) => {
                    Command::Container(Box::new(ContainerFlags::Ports(f)))
                }
                Some(CommandFlags::Update(f)) => {
                    Command::Container(Box::new(ContainerFlags::Update(f)))
                }
                Some(CommandFlags::Events(f))
                | Some(CommandFlags::System {
                    command: SystemFlags::Events(f),
                }) => Command::Observe(ObserveCommand::Events(f)),
                Some(CommandFlags::Stats(f)) => Command::Observe(ObserveCommand::Stats(f)),
                Some(CommandFlags::System {
                    command: SystemFlags::Df(f),
                }) => Command::Observe(ObserveCommand::Df(f)),
                Some(CommandFlags::System {
                    command: SystemFlags::Prune(f),
                }) => Command::Observe(ObserveCommand::SystemPrune(f)),
                Some(CommandFlags::Container { command }) => Command::Container(Box::new(command)),
                Some(CommandFlags::Volume { command }) => Command::Volume(command),
                Some(CommandFlags::Network { command }) => Command::Network(command),
                Some(CommandFlags::Compose(f)) => Command::Compose(f),
                Some(CommandFlags::Registry { command }) => Command::Registry(command),
            }
        };
        Ok(Self {
            host,
            debug: flags.global.debug,
            command,
        })
    }
}

fn format(flags: FormatFlags) -> Format {
    match flags.format.as_deref() {
        None | Some("") => Format::Pretty,
        Some("json") => Format::Json,
        Some(t) => Format::Template(t.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn resolve(args: &[&str], env: &[(&str, &str)]) -> Settings {
        let flags = Flags::try_parse_from(args).unwrap();
        Settings::resolve(flags, |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn host_precedence() {
        let all = [
            ("BERTH_HOST", "unix:///b.sock"),
            ("DOCKER_HOST", "unix:///d.sock"),
        ];
        let h = |s: &Settings| s.host.to_string();
        assert_eq!(
            h(&resolve(
                &["berth", "-H", "unix:///h.sock", "version"],
                &all
            )),
            "unix:///h.sock"
        );
        assert_eq!(
            h(&resolve(
                &["berth", "version", "-H", "unix:///h.sock"],
                &all
            )),
            "unix:///h.sock"
        );
        assert_eq!(h(&resolve(&["berth", "version"], &all)), "unix:///b.sock");
        assert_eq!(
            h(&resolve(&["berth", "version"], &all[1..])),
            "unix:///d.sock"
        );
        assert_eq!(h(&resolve(&["berth", "version"], &[])), DEFAULT_HOST);
        assert_eq!(
            h(&resolve(&["berth", "version"], &[("BERTH_HOST", "")])),
            DEFAULT_HOST
        );
    }

    #[test]
    fn commands_and_formats() {
        assert_eq!(
            resolve(
                &["berth", "version", "--format", "{{.Server.Version}}"],
                &[]
            )
            .command,
            Command::Version {
                format: Format::Template("{{.Server.Version}}".into())
            }
        );
        assert_eq!(
            resolve(&["berth", "system", "info", "-f", "json"], &[]).command,
            Command::Info {
                format: Format::Json
            }
        );
        assert_eq!(
            resolve(&["berth", "info"], &[]).command,
            Command::Info {
                format: Format::Pretty
            }
        );
        assert_eq!(
            resolve(&["berth", "--version"], &[]).command,
            Command::ShortVersion
        );
    }

    #[test]
    fn image_commands_share_one_shape() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
        let rmi = resolve(&["berth", "rmi", "-f", "a", "b"], &[]).command;
        let rm = resolve(&["berth", "image", "rm", "-f", "a", "b"], &[]).command;
        assert_eq!(rmi, rm);
        let ls = resolve(&["berth", "images", "-q"], &[]).command;
        assert_eq!(ls, resolve(&["berth", "image", "ls", "-q"], &[]).command);
        assert!(matches!(
            resolve(&["berth", "import", "-", "x:1", "--change", "CMD [\"sh\"]"], &[]).command,
            Command::Image(ImageFlags::Import(f)) if f.change == ["CMD [\"sh\"]"]
        ));
    }

    #[test]
    fn bad_host_is_an_error() {
        let flags = Flags::try_parse_from(["berth", "-H", "nope", "version"]).unwrap();
        assert!(Settings::resolve(flags, |_| None).is_err());
    }
}
