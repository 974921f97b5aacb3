//! Flag definitions (runc's names) and their mapping onto the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use berth_runtime::{CreateOptions, ExecOptions, Runtime, Status};
use clap::{Parser, Subcommand};
use nix::sys::signal::Signal;
use oci_spec::runtime::Process;

use crate::log::LogFormat;

/// berth-runtime: run OCI containers (runc-compatible command line)
#[derive(Debug, Parser)]
#[command(name = "berth-runtime", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Directory for container state (one sub-directory per container)
    #[arg(long, global = true, default_value = "/run/berth-runtime")]
    pub root: PathBuf,
    /// Append errors to this file (as runc's --log)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of --log lines
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Verbose logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported: berth-runtime manages cgroupfs directly)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; berth-runtime detects rootless mode itself
    #[arg(long, global = true, hide = true)]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility (checkpointing is not supported)
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Path to the bundle (the directory holding config.json)
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Write the init process's pid to this file
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for a root on a ramdisk)
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility (no session keyring is created)
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many extra descriptors (from 3 up) into the container
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// The container's id
    id: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a container; its process waits until `start`
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container, and wait for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container has started
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
    },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (name or number, default TERM) to a container
    Kill {
        /// Signal every process in the container, not only its init
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete containers and their resources
    Delete {
        /// Kill the container first if it is running
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Run a new process inside a running container
    Exec {
        /// Unix socket that receives the pty master
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Working directory inside the container
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Set an environment variable (NAME=value)
        #[arg(short, long)]
        env: Vec<String>,
        /// Allocate a pseudo-terminal
        #[arg(short, long)]
        tty: bool,
        /// uid[:gid] to run as
        #[arg(short, long)]
        user: Option<String>,
        /// Extra group ids
        #[arg(short = 'g', long)]
        additional_gids: Vec<u32>,
        /// A process.json describing the process (instead of the arguments)
        #[arg(short, long)]
        process: Option<PathBuf>,
        /// Do not wait for the process
        #[arg(short, long)]
        detach: bool,
        /// Write the process's pid to this file
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Set no_new_privs for the process
        #[arg(long)]
        no_new_privs: bool,
        /// Add a capability (e.g. CAP_NET_ADMIN)
        #[arg(short, long)]
        cap: Vec<String>,
        /// Pass this many extra descriptors (from 3 up) into the process
        #[arg(long, default_value_t = 0)]
        preserve_fds: u32,
        /// Accepted for runc compatibility (AppArmor is not applied)
        #[arg(long, hide = true)]
        apparmor: Option<String>,
        /// Accepted for runc compatibility (SELinux is not applied)
        #[arg(long, hide = true)]
        process_label: Option<String>,
        id: String,
        /// Command and arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the pids of a container's processes
    Ps {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Options passed to ps(1) for the table format
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only print ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Change a running container's resource limits
    Update {
        /// A JSON file of linux.resources (- for stdin)
        #[arg(short, long)]
        resources: Option<PathBuf>,
        /// Memory limit in bytes
        #[arg(long)]
        memory: Option<i64>,
        /// Memory+swap limit in bytes
        #[arg(long)]
        memory_swap: Option<i64>,
        /// CPU shares (relative weight)
        #[arg(long)]
        cpu_shares: Option<u64>,
        /// CPU CFS quota in microseconds
        #[arg(long)]
        cpu_quota: Option<i64>,
        /// CPU CFS period in microseconds
        #[arg(long)]
        cpu_period: Option<u64>,
        /// Maximum number of processes
        #[arg(long)]
        pids_limit: Option<i64>,
        id: String,
    },
    /// Print resource usage of a container as JSON
    Events {
        /// Print the stats once and exit
        #[arg(long)]
        stats: bool,
        id: String,
    },
    /// Write a default config.json into the bundle
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this runtime supports as JSON (OCI features document)
    Features,
}

impl Command {
    /// Commands that start a process inside a container.
    pub(crate) fn enters_container(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run { .. } | Command::Exec { .. }
        )
    }
}

fn create_options(a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
    }
}

/// Parses `TERM`, `SIGTERM`, `sigterm` or `15`.
pub(crate) fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).with_context(|| format!("unknown signal number {n}"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .with_context(|| format!("unknown signal {s:?}: use a name like TERM or KILL, or a number"))
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Runs the command; returns the process exit code.
pub(crate) fn run(cli: Cli, logger: &crate::log::Logger) -> Result<u8> {
    if cli.systemd_cgroup {
        bail!(
            "--systemd-cgroup is not supported: berth-runtime manages cgroups through cgroupfs; \
             configure the caller to use the cgroupfs cgroup manager"
        );
    }
    let sink_logger = logger.clone();
    let rt = Runtime::new(&cli.root).with_warnings(std::sync::Arc::new(move |w: &str| {
        sink_logger.warn(w);
    }));
    match cli.command {
        Command::Create(a) => {
            rt.create(&a.id, &create_options(&a))?;
        }
        Command::Start { id } => rt.start(&id)?,
        Command::Run {
            create,
            detach,
            keep,
        } => {
            let code = rt.run(&create.id, &create_options(&create), detach, keep)?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::State { id } => {
            let (state, status) = rt.state(&id)?;
            print_json(&state.oci(status))?;
        }
        Command::Kill { all, id, signal } => rt.kill(&id, parse_signal(&signal)?, all)?,
        Command::Delete { force, ids } => {
            let mut failed = None;
            for id in ids {
                if let Err(err) = rt.delete(&id, force) {
                    // Deleting a container that does not exist succeeds with
                    // --force, as in runc.
                    if force
                        && matches!(
                            err,
                            berth_runtime::Error::State(
                                berth_runtime::state::StateError::NotFound(_)
                            )
                        )
                    {
                        continue;
                    }
                    failed = Some(err);
                }
            }
            if let Some(err) = failed {
                return Err(err.into());
            }
        }
        Command::Exec {
            console_socket,
            cwd,
            env,
            tty,
            user,
            additional_gids,
            process,
            detach,
            pid_file,
            no_new_privs,
            cap,
            preserve_fds,
            apparmor: _,
            process_label: _,
            id,
            command,
        } => {
            let (state, _) = rt.state(&id)?;
            let mut proc = match &process {
                Some(path) => load_process(path)?,
                None => {
                    let mut p = state.spec.process().clone().unwrap_or_default();
                    if command.is_empty() {
                        bail!("give the command to run, or --process FILE");
                    }
                    p.set_args(Some(command));
                    p.set_terminal(Some(tty));
                    p
                }
            };
            if process.is_none() {
                if let Some(cwd) = cwd {
                    proc.set_cwd(cwd);
                }
                let mut all_env = proc.env().clone().unwrap_or_default();
                for e in env {
                    let key = e.split('=').next().unwrap_or("").to_string();
                    all_env.retain(|x| x.split('=').next() != Some(key.as_str()));
                    all_env.push(e);
                }
                proc.set_env(Some(all_env));
                if let Some(user) = user {
                    let (uid, gid) = match user.split_once(':') {
                        Some((u, g)) => (u.parse::<u32>()?, g.parse::<u32>()?),
                        None => (user.parse::<u32>().context("--user takes uid[:gid]")?, 0),
                    };
                    let mut u = proc.user().clone();
                    u.set_uid(uid);
                    u.set_gid(gid);
                    proc.set_user(u);
                }
                if !additional_gids.is_empty() {
                    let mut u = proc.user().clone();
                    u.set_additional_gids(Some(additional_gids));
                    proc.set_user(u);
                }
                if no_new_privs {
                    proc.set_no_new_privileges(Some(true));
                }
                if !cap.is_empty() {
                    add_caps(&mut proc, &cap)?;
                }
            }
            let code = rt.exec(
                &id,
                &proc,
                &ExecOptions {
                    console_socket,
                    pid_file,
                    detach,
                    preserve_fds,
                },
            )?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = rt.ps(&id)?;
            match format.as_str() {
                "json" => print_json(&pids)?,
                "table" => print_ps_table(&pids, &ps_args)?,
                other => bail!("unknown --format {other:?}: use table or json"),
            }
        }
        Command::List { format, quiet } => {
            let list = rt.list()?;
            if quiet {
                for (s, _) in &list {
                    println!("{}", s.id);
                }
            } else if format == "json" {
                let items: Vec<_> = list
                    .iter()
                    .map(|(s, st)| {
                        serde_json::json!({
                            "ociVersion": s.spec.version(),
                            "id": s.id,
                            "pid": if *st == Status::Stopped { 0 } else { s.pid },
                            "status": st,
                            "bundle": s.bundle,
                            "rootfs": s.rootfs,
                            "created": s.created,
                            "owner": s.owner,
                        })
                    })
                    .collect();
                print_json(&items)?;
            } else if format == "table" {
                let mut out = tabwriter_lite::Table::new(&[
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER",
                ]);
                for (s, st) in &list {
                    let pid = if *st == Status::Stopped { 0 } else { s.pid };
                    out.row(vec![
                        s.id.clone(),
                        pid.to_string(),
                        st.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        if s.owner.is_empty() {
                            "root".into()
                        } else {
                            s.owner.clone()
                        },
                    ]);
                }
                print!("{}", out.render());
            } else {
                bail!("unknown --format {format:?}: use table or json");
            }
        }
        Command::Pause { id } => rt.pause(&id)?,
        Command::Resume { id } => rt.resume(&id)?,
        Command::Update {
            resources,
            memory,
            memory_swap,
            cpu_shares,
            cpu_quota,
            cpu_period,
            pids_limit,
            id,
        } => {
            let mut res: oci_spec::runtime::LinuxResources = match resources {
                Some(p) if p == Path::new("-") => {
                    serde_json::from_reader(std::io::stdin()).context("--resources from stdin")?
                }
                Some(p) => serde_json::from_slice(&fs_err::read(&p)?)
                    .with_context(|| format!("--resources {}", p.display()))?,
                None => Default::default(),
            };
            if memory.is_some() || memory_swap.is_some() {
                let mut m = (*res.memory()).unwrap_or_default();
                if memory.is_some() {
                    m.set_limit(memory);
                }
                if memory_swap.is_some() {
                    m.set_swap(memory_swap);
                }
                res.set_memory(Some(m));
            }
            if cpu_shares.is_some() || cpu_quota.is_some() || cpu_period.is_some() {
                let mut c = res.cpu().clone().unwrap_or_default();
                if cpu_shares.is_some() {
                    c.set_shares(cpu_shares);
                }
                if cpu_quota.is_some() {
                    c.set_quota(cpu_quota);
                }
                if cpu_period.is_some() {
                    c.set_period(cpu_period);
                }
                res.set_cpu(Some(c));
            }
            if let Some(limit) = pids_limit {
                let mut p = oci_spec::runtime::LinuxPids::default();
                p.set_limit(limit);
                res.set_pids(Some(p));
            }
            rt.update(&id, &res)?;
        }
        Command::Events { stats, id } => {
            if !stats {
                bail!(
                    "only `events --stats` is supported: streaming events is not implemented yet"
                );
            }
            let data = rt.stats(&id)?;
            print_json(&serde_json::json!({"type": "stats", "id": id, "data": data}))?;
        }
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} already exists: remove it first", path.display());
            }
            let spec = berth_runtime::defaults::default_spec();
            let data = serde_json::to_vec_pretty(&spec)?;
            fs_err::write(&path, data)?;
        }
        Command::Features => print_json(&berth_runtime::features::features())?,
    }
    Ok(0)
}

fn load_process(path: &Path) -> Result<Process> {
    let data = fs_err::read(path)?;
    let mut de = serde_json::Deserializer::from_slice(&data);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow::anyhow!("{}: {}: {}", path.display(), e.path(), e.inner()))
}

fn add_caps(proc: &mut Process, caps: &[String]) -> Result<()> {
    let mut c = proc.capabilities().clone().unwrap_or_default();
    for name in caps {
        let upper = name.to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let cap: oci_spec::runtime::Capability =
            serde_json::from_value(serde_json::Value::String(full.clone()))
                .with_context(|| format!("--cap: unknown capability {name:?}"))?;
        let mut b = c.bounding().clone().unwrap_or_default();
        b.insert(cap);
        c.set_bounding(Some(b));
        let mut e = c.effective().clone().unwrap_or_default();
        e.insert(cap);
        c.set_effective(Some(e));
        let mut p = c.permitted().clone().unwrap_or_default();
        p.insert(cap);
        c.set_permitted(Some(p));
    }
    proc.set_capabilities(Some(c));
    Ok(())
}

fn print_ps_table(pids: &[i32], ps_args: &[String]) -> Result<()> {
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running ps(1)")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for line in lines {
        if let Some(pid) = line
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok())
            && pids.contains(&pid)
        {
            println!("{line}");
        }
    }
    Ok(())
}

/// A tiny column aligner (two spaces between columns), enough for `list`.
mod tabwriter_lite {
    pub(crate) struct Table {
        rows: Vec<Vec<String>>,
    }

    impl Table {
        pub(crate) fn new(header: &[&str]) -> Self {
            Self {
                rows: vec![header.iter().map(|s| s.to_string()).collect()],
            }
        }

        pub(crate) fn row(&mut self, row: Vec<String>) {
            self.rows.push(row);
        }

        pub(crate) fn render(&self) -> String {
            let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
            let widths: Vec<usize> = (0..cols)
                .map(|c| {
                    self.rows
                        .iter()
                        .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let mut out = String::new();
            for row in &self.rows {
                let mut line = String::new();
                for (c, cell) in row.iter().enumerate() {
                    if c + 1 == row.len() {
                        line.push_str(cell);
                    } else {
                        line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn cli_parses_runc_style_invocations() {
        Cli::try_parse_from([
            "berth-runtime",
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "id1",
        ])
        .unwrap();
        Cli::try_parse_from(["berth-runtime", "exec", "-t", "id1", "sh", "-c", "echo hi"]).unwrap();
        Cli::try_parse_from(["berth-runtime", "kill", "--all", "id1", "KILL"]).unwrap();
        Cli::try_parse_from(["berth-runtime", "delete", "-f", "a", "b"]).unwrap();
    }
}
