//! `login` and `logout`, as the docker CLI does them: the daemon checks
//! the credentials against the registry (`POST /auth`), the CLI stores
//! them in the docker config file (see [`crate::credentials`]).

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{anyhow, bail};
use berth_api_client::{AuthConfig, Client};

use crate::credentials::{ConfigFile, DOCKER_HUB, Login, server_domain, server_key};
use crate::flags::push::{LoginFlags, LogoutFlags};
use crate::printer::Printer;

/// Reads one line from the terminal without echoing it.
fn read_hidden_line() -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, t);
    }
    eprintln!();
    r?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn prompt(text: &str) -> anyhow::Result<String> {
    eprint!("{text}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `berth login [-u USER] [-p PASS | --password-stdin] [SERVER]`.
pub(crate) async fn login(
    client: &Client,
    f: &LoginFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    if f.password.is_some() && f.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if f.password_stdin && f.username.as_deref().is_none_or(str::is_empty) {
        bail!("Must provide --username with --password-stdin");
    }
    let server = f.server.clone().unwrap_or_else(|| DOCKER_HUB.to_owned());
    let domain = server_domain(&server);
    let mut password = f.password.clone();
    if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if f.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        password = Some(s.trim_end_matches(['\r', '\n']).to_owned());
    }
    let interactive = std::io::stdin().is_terminal();
    let mut username = f.username.clone().unwrap_or_default();
    if username.is_empty() {
        if !interactive {
            bail!("Cannot perform an interactive login from a non TTY device");
        }
        username = prompt("Username: ")?;
        if username.is_empty() {
            bail!("Username is required");
        }
    }
    let password = match password {
        Some(p) => p,
        None => {
            if !interactive {
                bail!("Cannot perform an interactive login from a non TTY device");
            }
            eprint!("Password: ");
            std::io::stderr().flush()?;
            read_hidden_line()?
        }
    };
    if password.is_empty() {
        bail!("Password is required");
    }
    client
        .auth(&AuthConfig {
            username: username.clone(),
            password: password.clone(),
            serveraddress: server_key(&domain),
        })
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let mut config = ConfigFile::load()?;
    let in_file = config.store(&domain, &Login { username, password })?;
    if in_file {
        eprintln!(
            "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
            config.path().display()
        );
    }
    printer.data("Login Succeeded\n")?;
    Ok(())
}

/// `berth logout [SERVER]`.
pub(crate) fn logout(f: &LogoutFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let server = f.server.clone().unwrap_or_else(|| DOCKER_HUB.to_owned());
    let domain = server_domain(&server);
    let shown = server_key(&domain);
    let mut config = ConfigFile::load()?;
    if config.erase(&domain)? {
        printer.data(&format!("Removing login credentials for {shown}\n"))?;
    } else {
        printer.data(&format!("Not logged in to {shown}\n"))?;
    }
    Ok(())
}
