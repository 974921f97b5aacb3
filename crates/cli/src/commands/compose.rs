//! `berth compose ...`: loads the project (berth-compose) and runs the
//! subcommand; progress goes to stderr, data to stdout.

use std::io::{IsTerminal, Write};

use anyhow::Context as _;
use berth_api_client::{Client, Demux, LogsOptions};
use berth_compose::{Compose, LoadOptions, UpOptions};

use crate::flags::compose::{ComposeCommand, ComposeFlags};
use crate::printer::Printer;

pub(crate) async fn run(
    client: &Client,
    f: &ComposeFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let opts = LoadOptions {
        files: f.files.clone(),
        project_name: f.project_name.clone(),
        project_directory: f.project_directory.clone(),
        cwd,
    };
    let env = |k: &str| std::env::var(k).ok();
    if let ComposeCommand::Config(c) = &f.command {
        let (project, yaml) = berth_compose::load_with_yaml(&opts, &env)?;
        if c.services {
            for name in project.services.keys() {
                printer.data(&format!("{name}\n"))?;
            }
        } else if !c.quiet {
            printer.data(&yaml)?;
        }
        return Ok(());
    }
    let project = berth_compose::load(&opts, &env)?;
    let compose = Compose::new(client, &project);
    let mut progress = |line: &str| eprintln!("{line}");
    match &f.command {
        ComposeCommand::Config(_) => Ok(()),
        ComposeCommand::Up(u) => {
            let opts = UpOptions {
                force_recreate: u.force_recreate,
                no_start: u.no_start,
            };
            compose.up(&u.services, &opts, &mut progress).await?;
            if u.detach || u.no_start {
                return Ok(());
            }
            // Attached: follow the logs until every container has stopped,
            // or stop them all on Ctrl-C.
            let containers = compose.containers(&u.services).await?;
            tokio::select! {
                r = follow_logs(client, &containers, true, "all", true) => r,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                    compose.lifecycle("stop", &u.services, None, &mut progress).await?;
                    Ok(())
                }
            }
        }
        ComposeCommand::Down(d) => Ok(compose
            .down(d.volumes, d.remove_orphans, &mut progress)
            .await?),
        ComposeCommand::Ps(p) => {
            let rows = compose.ps(p.all).await?;
            let rows: Vec<_> = rows
                .into_iter()
                .filter(|r| p.services.is_empty() || p.services.contains(&r.service))
                .collect();
            if p.quiet || p.services_only {
                for r in rows {
                    printer.data(&format!(
                        "{}\n",
                        if p.services_only { &r.service } else { &r.name }
                    ))?;
                }
                return Ok(());
            }
            let mut table =
                vec![["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"].map(str::to_owned)];
            for r in rows {
                table.push([
                    r.name,
                    r.image,
                    truncate(&r.command, 22),
                    r.service,
                    r.status,
                    r.ports,
                ]);
            }
            printer.data(&render_table(&table))?;
            Ok(())
        }
        ComposeCommand::Logs(l) => {
            let containers = compose.containers(&l.services).await?;
            follow_logs(client, &containers, l.follow, &l.tail, !l.no_log_prefix).await
        }
        ComposeCommand::Start(s) => Ok(compose
            .lifecycle("start", &s.services, None, &mut progress)
            .await?),
        ComposeCommand::Stop(s) => Ok(compose
            .lifecycle("stop", &s.services, s.timeout, &mut progress)
            .await?),
        ComposeCommand::Restart(s) => Ok(compose
            .lifecycle("restart", &s.services, s.timeout, &mut progress)
            .await?),
        ComposeCommand::Pull(s) => Ok(compose.pull(&s.services, &mut progress).await?),
        ComposeCommand::Exec(e) => {
            let service = e.service_and_command.first().map_or("", String::as_str);
            let containers = compose.containers(&[service.to_owned()]).await?;
            let Some((_, name)) = containers.first() else {
                anyhow::bail!(
                    "service `{service}` is not running\n\nhint: start it with `berth compose up -d {service}`"
                );
            };
            let tty = !e.no_tty && std::io::stdin().is_terminal();
            let mut container_and_command = vec![name.clone()];
            container_and_command.extend(e.service_and_command.iter().skip(1).cloned());
            let flags = crate::flags::exec::ExecFlags {
                detach: e.detach,
                env: e.env.clone(),
                interactive: !e.detach,
                tty,
                user: e.user.clone(),
                workdir: e.workdir.clone(),
                container_and_command,
                ..crate::flags::exec::ExecFlags::default()
            };
            super::exec::run(client, &flags).await
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(n - 1).collect();
        format!("{cut}…\"")
    }
}

/// Columns padded to their widest cell, three spaces apart (docker's
/// tables).
fn render_table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The logs of `containers` (service, name), each line prefixed with the
/// container's name as docker compose does (`name  | line`); with `follow`
/// until every stream ends.
async fn follow_logs(
    client: &Client,
    containers: &[(String, String)],
    follow: bool,
    tail: &str,
    prefix: bool,
) -> anyhow::Result<()> {
    let width = containers.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
    let mut tasks = tokio::task::JoinSet::new();
    for (_, name) in containers {
        let client = Client::new(client.host().clone());
        let name = name.clone();
        let opts = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: Some(tail.to_owned()),
            ..LogsOptions::default()
        };
        let label = if prefix {
            format!("{name:width$}  | ")
        } else {
            String::new()
        };
        tasks.spawn(async move {
            let mut stream = client
                .container_logs(&name, &opts)
                .await
                .with_context(|| format!("cannot read the logs of `{name}`"))?;
            let mut demux = Demux::new();
            let mut pending: Vec<u8> = Vec::new();
            while let Some(chunk) = stream.chunk().await {
                let chunk = chunk?;
                for (_, bytes) in demux.push(&chunk)? {
                    pending.extend_from_slice(&bytes);
                    while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        emit(&label, &line)?;
                    }
                }
            }
            if !pending.is_empty() {
                pending.push(b'\n');
                emit(&label, &pending)?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a log reader failed")??;
    }
    Ok(())
}

fn emit(label: &str, line: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let r = out
        .write_all(label.as_bytes())
        .and_then(|()| out.write_all(line))
        .and_then(|()| out.flush());
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let rows = [
            ["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"].map(str::to_owned),
            ["p-web-1", "busybox", "\"sh\"", "web", "Up 2 seconds", ""].map(str::to_owned),
        ];
        assert_eq!(
            render_table(&rows),
            "NAME      IMAGE     COMMAND   SERVICE   STATUS         PORTS\n\
             p-web-1   busybox   \"sh\"      web       Up 2 seconds\n"
        );
    }
}
