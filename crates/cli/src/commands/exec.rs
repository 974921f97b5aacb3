//! `exec` (and `container exec`): a command in a running container.
//!
//! The docker CLI's sequence: create the exec; with `-d` start it detached
//! and print nothing; otherwise start it hijacked (the same stream pump as
//! `run`, [`super::run::pump`]: raw mode with `-it`, window size changes
//! sent to the exec's terminal), then read its exit code from
//! `GET /exec/{id}/json` and exit with it (126 or 127 when the command
//! could not be run, as dockerd records them).

use std::io::IsTerminal;

use anyhow::anyhow;
use berth_api_client::Client;
use berth_api_types::exec::ExecCreateRequest;

use super::run::{
    DETACHED, Pump, Pumped, StatusError, Target, env_file, exit_code, pump, push_env,
};
use crate::flags::exec::ExecFlags;
use crate::terminal::{self, RawMode};

const USAGE: &str = "Usage:  berth exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\nExecute a command in a running container";

/// The body of `POST /containers/{id}/exec`, as the docker CLI builds it.
fn create_body(
    f: &ExecFlags,
    console: Option<(u16, u16)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExecCreateRequest, String> {
    let mut env_list = Vec::new();
    for file in &f.env_file {
        env_list.extend(env_file(file, env)?);
    }
    for e in &f.env {
        push_env(&mut env_list, e, env);
    }
    Ok(ExecCreateRequest {
        attach_stdin: f.interactive && !f.detach,
        attach_stdout: !f.detach,
        attach_stderr: !f.detach,
        console_size: console.map(|(h, w)| [h, w]),
        detach_keys: f.detach_keys.clone().unwrap_or_default(),
        tty: f.tty,
        env: Some(env_list),
        cmd: Some(f.command().to_vec()),
        privileged: f.privileged,
        user: f.user.clone().unwrap_or_default(),
        working_dir: f.workdir.clone().unwrap_or_default(),
    })
}

pub(crate) async fn run(client: &Client, f: &ExecFlags) -> anyhow::Result<()> {
    // Flags berth does not know land in the container's place (everything
    // from the container on is the command's), so they are caught here.
    if f.container().starts_with('-') {
        return Err(StatusError::with_message(
            125,
            format!(
                "unknown flag: {}
See 'berth exec --help'.",
                f.container()
            ),
        ));
    }
    if f.command().is_empty() {
        return Err(StatusError::with_message(
            1,
            format!(
                "\"berth exec\" requires at least 2 arguments.\nSee 'berth exec --help'.\n\n{USAGE}"
            ),
        ));
    }
    let stdin = std::io::stdin();
    if f.tty && f.interactive && !f.detach && !stdin.is_terminal() {
        return Err(anyhow!("the input device is not a TTY"));
    }
    let console = if f.tty { terminal::size() } else { None };
    let body = create_body(f, console, &|k| std::env::var(k).ok()).map_err(|m| {
        StatusError::with_message(125, format!("berth: {m}.\nSee 'berth exec --help'."))
    })?;
    let id = client
        .exec_create(f.container(), &body)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    if f.detach {
        return client
            .exec_start_detached(&id, f.tty)
            .await
            .map_err(|e| anyhow!("{e}"));
    }
    let attach = client
        .exec_attach(&id, f.tty, body.console_size)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let raw = if f.tty && f.interactive && stdin.is_terminal() {
        Some(RawMode::enable(&stdin).map_err(|e| {
            StatusError::with_message(125, format!("cannot set the terminal to raw mode: {e}"))
        })?)
    } else {
        None
    };
    let outcome = pump(
        client,
        attach,
        &Pump {
            target: Target::Exec(&id),
            tty: f.tty,
            stdin: f.interactive,
            sig_proxy: false,
            detach_keys: f.detach_keys.as_deref(),
        },
    )
    .await;
    // The terminal goes back before anything else is printed.
    drop(raw);
    if outcome? == Pumped::Detached {
        // The docker CLI: the process runs on; exit 1 with docker's words.
        return Err(anyhow!("{DETACHED}"));
    }
    let info = client.exec_inspect(&id).await.map_err(|e| anyhow!("{e}"))?;
    match info.exit_code.map_or(0, exit_code) {
        0 => Ok(()),
        code => Err(StatusError::exit(code)),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::Flags;
    use crate::flags::containers::ContainerFlags;
    use crate::settings::{Command, Settings};

    fn exec_flags(args: &[&str]) -> ExecFlags {
        let flags = Flags::try_parse_from(args).unwrap();
        match Settings::resolve(flags, |_| None).unwrap().command {
            Command::Container(c) => match *c {
                ContainerFlags::Exec(f) => f,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_as_docker() {
        let f = exec_flags(&[
            "berth",
            "exec",
            "-it",
            "-e",
            "A=1",
            "-e",
            "HOME",
            "-u",
            "1:2",
            "-w",
            "/tmp",
            "--privileged",
            "--detach-keys",
            "ctrl-x",
            "c1",
            "sh",
            "-c",
            "exit 3",
        ]);
        assert!(f.interactive && f.tty && f.privileged && !f.detach);
        assert_eq!(f.container(), "c1");
        assert_eq!(f.command(), ["sh", "-c", "exit 3"]);
        let env = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        let body = create_body(&f, Some((24, 80)), &env).unwrap();
        assert!(body.attach_stdin && body.attach_stdout && body.attach_stderr);
        assert_eq!(
            body.env.as_deref(),
            Some(&["A=1".to_owned(), "HOME=/root".to_owned()][..])
        );
        assert_eq!(body.user, "1:2");
        assert_eq!(body.working_dir, "/tmp");
        assert_eq!(body.detach_keys, "ctrl-x");
        assert_eq!(body.console_size, Some([24, 80]));
        // Flags after the container belong to the command.
        let f = exec_flags(&["berth", "container", "exec", "-d", "c1", "ls", "-d"]);
        assert!(f.detach);
        assert_eq!(f.command(), ["ls", "-d"]);
        let body = create_body(&f, None, &env).unwrap();
        assert!(!body.attach_stdin && !body.attach_stdout && !body.attach_stderr);
        assert!(Flags::try_parse_from(["berth", "exec"]).is_err());
    }
}
