//! `run`, `create`, and the attached session `run` and `start -a` share.
//!
//! `run` follows the docker CLI's sequence exactly: create (a 404 for the
//! image prints `Unable to find image 'X' locally`, tries a pull, and
//! creates again), attach before start (the hijacked stream), wait with
//! condition `next-exit` (`removed` with `--rm`) before start, start, then
//! resize when the container has a terminal. Without a terminal the output
//! is docker's multiplexed stream; with one it is raw, and stdin's terminal
//! is put in raw mode for the session ([`crate::terminal`]).
//!
//! Exit codes are docker's: the container's own; 125 when berth or berthd
//! fails; 126 when the command cannot be invoked and 127 when it cannot be
//! found (decided from the start error's wording, as the docker CLI does:
//! [`start_error_code`]).

use std::io::{IsTerminal, Read};

use anyhow::anyhow;
use berth_api_client::{AttachOptions, Client, Demux, StreamKind};
use berth_api_types::detach_keys::{DetachKeys, DetachScanner};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::signal::unix::{SignalKind, signal};

use super::containers::write_out;
use crate::flags::containers::{ContainerOptions, CreateFlags, RunFlags};
use crate::printer::Printer;
use crate::terminal::{self, RawMode};

/// An error that ends berth with `code` (docker's `cli.StatusError`);
/// `message`, if any, is printed to stderr first, as is.
#[derive(Debug)]
pub(crate) struct StatusError {
    pub(crate) code: u8,
    pub(crate) message: Option<String>,
}

impl StatusError {
    pub(crate) fn with_message(code: u8, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Self {
            code,
            message: Some(message.into()),
        })
    }

    pub(crate) fn exit(code: u8) -> anyhow::Error {
        anyhow::Error::new(Self {
            code,
            message: None,
        })
    }
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for StatusError {}

/// The docker CLI's `runStartContainerErr`: 127 when the command is not
/// found, 126 when it cannot be run, 125 for any other failure.
pub(crate) fn start_error_code(message: &str) -> u8 {
    let m = message
        .strip_prefix("Error response from daemon: ")
        .unwrap_or(message);
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

/// A container's exit status as a process exit code (Go's `os.Exit`
/// keeps the low byte).
pub(crate) fn exit_code(status: i64) -> u8 {
    u8::try_from(status.rem_euclid(256)).unwrap_or(125)
}

/// docker's `reportError`: `berth: <message>.` and, for usage errors, a
/// pointer to the command's help.
pub(crate) fn report(command: &str, message: &str, with_help: bool) -> String {
    let message = message.strip_suffix('.').unwrap_or(message);
    let mut out = format!("berth: {message}.");
    if with_help {
        out.push_str(&format!("\nSee 'berth {command} --help'."));
    }
    out
}

/// A flag error as the docker CLI prints it (exit status 125).
fn usage_error(command: &str, message: &str) -> anyhow::Error {
    StatusError::with_message(
        125,
        format!(
            "{message}\n\nUsage:  berth {command} [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth {command} --help' for more information"
        ),
    )
}

/// Which of the container's streams a session attaches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Streams {
    pub(crate) stdin: bool,
    pub(crate) stdout: bool,
    pub(crate) stderr: bool,
}

/// docker's rules: `-a` picks streams; without it stdout and stderr; `-i`
/// adds stdin; `-d` attaches nothing and refuses `-a`.
pub(crate) fn streams(o: &ContainerOptions, detach: bool) -> Result<Streams, String> {
    // Flags berth does not know land in the image's place (everything
    // from the image on is the container's), so they are caught here.
    if o.image().starts_with('-') {
        return Err(format!("unknown flag: {}", o.image()));
    }
    let mut s = Streams::default();
    for a in &o.attach {
        match a.to_ascii_lowercase().as_str() {
            "stdin" => s.stdin = true,
            "stdout" => s.stdout = true,
            "stderr" => s.stderr = true,
            _ => {
                return Err(format!(
                    "invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                ));
            }
        }
    }
    if o.interactive {
        s.stdin = true;
    }
    if o.attach.is_empty() {
        s.stdout = true;
        s.stderr = true;
    }
    if detach {
        if !o.attach.is_empty() {
            return Err("conflicting options: cannot specify both --attach and --detach".into());
        }
        s = Streams::default();
    }
    Ok(s)
}

/// Parses an `--env-file`: `NAME=value` lines, `NAME` alone takes our
/// environment's value, `#` comments and blank lines are skipped.
pub(crate) fn env_file(
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    super::security::kv_file(path, Some(env))
}

/// `NAME=value` as given; `NAME` alone from our environment, dropped when
/// unset (docker's `-e NAME`).
pub(crate) fn push_env(out: &mut Vec<String>, spec: &str, env: &dyn Fn(&str) -> Option<String>) {
    if spec.contains('=') {
        out.push(spec.to_owned());
    } else if let Some(v) = env(spec) {
        out.push(format!("{spec}={v}"));
    }
}

/// The body of `POST /containers/create` for these options, as the docker
/// CLI builds it.
pub(crate) fn create_config(
    o: &ContainerOptions,
    s: Streams,
    console: Option<(u16, u16)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, String> {
    if let Some(p) = o.pull.as_deref()
        && !matches!(p, "always" | "missing" | "never")
    {
        return Err(format!(
            "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
        ));
    }
    let mut env_list = Vec::new();
    for file in &o.env_file {
        env_list.extend(env_file(file, env)?);
    }
    for e in &o.env {
        push_env(&mut env_list, e, env);
    }
    let labels: serde_json::Map<String, Value> = o
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), Value::String(v.to_owned())),
            None => (l.clone(), Value::String(String::new())),
        })
        .collect();
    let log_opts: serde_json::Map<String, Value> = o
        .log_opt
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), Value::String(v.to_owned())),
            None => (l.clone(), Value::String(String::new())),
        })
        .collect();
    let driver = o.log_driver.clone().unwrap_or_default();
    if driver == "none" && !log_opts.is_empty() {
        return Err("invalid logging opts for driver none".into());
    }
    let command = o.command();
    // `--entrypoint ""` resets the image's entrypoint (docker sends `[""]`).
    let entrypoint = o.entrypoint.as_ref().map(|e| vec![e.clone()]);
    let (h, w) = console.unwrap_or((0, 0));
    let healthcheck = super::health::healthcheck(o)?;
    let limits = super::resources::host_config(&o.resources)?;
    let mut config = json!({
        "Healthcheck": healthcheck,
        "Hostname": o.hostname.clone().unwrap_or_default(),
        "User": o.user.clone().unwrap_or_default(),
        "AttachStdin": s.stdin,
        "AttachStdout": s.stdout,
        "AttachStderr": s.stderr,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        "StdinOnce": o.interactive && s.stdin,
        "Env": env_list,
        "Cmd": if command.is_empty() { Value::Null } else { json!(command) },
        "Image": o.image(),
        "WorkingDir": o.workdir.clone().unwrap_or_default(),
        "Entrypoint": entrypoint,
        "Labels": labels,
        // `--stop-signal`; absent: the image's (checked by the daemon).
        "StopSignal": o.stop_signal.clone().unwrap_or_default(),
        "HostConfig": {
            "AutoRemove": o.rm,
            "LogConfig": {"Type": driver, "Config": log_opts},
            "ConsoleSize": [h, w],
        },
    });
    if let Some(hc) = config["HostConfig"].as_object_mut() {
        hc.extend(limits);
    }
    super::security::apply(&o.security, &mut config)?;
    super::mounts::apply(&o.mounts, &mut config)?;
    super::ports::apply(&o.ports, &mut config)?;
    super::dns::apply(&o.dns, &mut config)?;
    super::network::apply(&o.network, &mut config)?;
    super::run_policy::apply(o, &mut config)?;
    Ok(config)
}

/// A `create_config` error: a bad flag value gets the usage (as pflag's
/// errors do), anything else docker's `reportError` form.
fn config_error(command: &str, message: &str) -> anyhow::Error {
    if message.starts_with("invalid argument \"") {
        usage_error(command, message)
    } else {
        StatusError::with_message(125, report(command, message, true))
    }
}

/// `busybox` → `busybox:latest`, as docker names the image it looks for.
pub(crate) fn tagged(image: &str) -> String {
    let familiar = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    let last = familiar.rsplit('/').next().unwrap_or(familiar);
    if familiar.contains('@') || last.contains(':') {
        familiar.to_owned()
    } else {
        format!("{familiar}:latest")
    }
}

/// Create; a missing image is pulled (docker's message first), then
/// created again. Errors are daemon errors, worded by the daemon.
async fn create_container(
    client: &Client,
    o: &ContainerOptions,
    config: &Value,
) -> Result<String, berth_api_client::Error> {
    let name = o.name.as_deref().filter(|n| !n.is_empty());
    let platform = o.platform.as_deref();
    let reference = tagged(o.image());
    // The pull's progress goes to stderr, as docker's does.
    if o.pull.as_deref() == Some("always") {
        super::pull::pull_printing(client, &reference, platform, |l| eprintln!("{l}")).await?;
    }
    let created = match client.container_create(name, config).await {
        Err(e) if e.status() == Some(404) && o.pull.as_deref() != Some("never") => {
            eprintln!("Unable to find image '{reference}' locally");
            super::pull::pull_printing(client, &reference, platform, |l| eprintln!("{l}")).await?;
            client.container_create(name, config).await?
        }
        other => other?,
    };
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(created.id)
}

/// `create`: prints the new container's ID.
pub(crate) async fn create(
    client: &Client,
    f: &CreateFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let o = &f.container;
    let s = streams(o, false).map_err(|m| usage_error("create", &m))?;
    let console = if o.tty { terminal::size() } else { None };
    let config = create_config(o, s, console, &|k| std::env::var(k).ok())
        .map_err(|m| config_error("create", &m))?;
    let id = create_container(client, o, &config)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    printer.data(&format!("{id}\n"))?;
    Ok(())
}

/// `run`.
pub(crate) async fn run(
    client: &Client,
    f: &RunFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let o = &f.container;
    let s = streams(o, f.detach).map_err(|m| {
        // docker: the conflict is a plain error (exit 1), not a flag error.
        if m.starts_with("conflicting") {
            anyhow!("{m}")
        } else {
            usage_error("run", &m)
        }
    })?;
    if s.stdin && o.tty && !std::io::stdin().is_terminal() {
        return Err(anyhow!("the input device is not a TTY"));
    }
    let console = if o.tty { terminal::size() } else { None };
    let config = create_config(o, s, console, &|k| std::env::var(k).ok())
        .map_err(|m| config_error("run", &m))?;
    let id = create_container(client, o, &config).await.map_err(|e| {
        let m = e.to_string();
        StatusError::with_message(start_error_code(&m), report("run", &m, true))
    })?;
    if !s.stdout && !s.stderr {
        // Detached: start and print the ID.
        if let Err(e) = client.container_start(&id).await {
            let m = e.to_string();
            return Err(StatusError::with_message(
                start_error_code(&m),
                report("run", &m, false),
            ));
        }
        printer.data(&format!("{id}\n"))?;
        return Ok(());
    }
    let ended = session(
        client,
        &Session {
            id: &id,
            tty: o.tty,
            streams: s,
            auto_remove: o.rm,
            sig_proxy: f.sig_proxy,
            command: "run",
            detach_keys: f.detach_keys.as_deref(),
            start: true,
        },
    )
    .await?;
    ended.into_result()
}

/// `start -a [-i]` of one container: the same session as `run`.
pub(crate) async fn start_attached(
    client: &Client,
    name: &str,
    interactive: bool,
    detach_keys: Option<&str>,
) -> anyhow::Result<()> {
    let c = client
        .container_inspect(name, false)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let tty = c["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = interactive && c["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    if stdin && tty && !std::io::stdin().is_terminal() {
        return Err(anyhow!("the input device is not a TTY"));
    }
    let id = c["Id"].as_str().unwrap_or(name).to_owned();
    let ended = session(
        client,
        &Session {
            id: &id,
            tty,
            streams: Streams {
                stdin,
                stdout: true,
                stderr: true,
            },
            auto_remove: c["HostConfig"]["AutoRemove"].as_bool().unwrap_or(false),
            sig_proxy: true,
            command: "start",
            detach_keys,
            start: true,
        },
    )
    .await?;
    ended.into_result()
}

pub(crate) struct Session<'a> {
    pub(crate) id: &'a str,
    pub(crate) tty: bool,
    pub(crate) streams: Streams,
    pub(crate) auto_remove: bool,
    /// Forward our signals to the container (`--sig-proxy`, not with a
    /// terminal, where ^C is a key the container reads).
    pub(crate) sig_proxy: bool,
    /// `run`, `start` or `attach`, for messages and exit codes.
    pub(crate) command: &'static str,
    /// `--detach-keys` (the daemon's default, ctrl-p ctrl-q, when `None`).
    pub(crate) detach_keys: Option<&'a str>,
    /// Start the container once attached (`run`, `start -a`); `attach`
    /// joins one that runs.
    pub(crate) start: bool,
}

/// How an attached session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The container exited with this status.
    Exited(i64),
    /// The user typed the detach keys; the container runs on.
    Detached,
}

impl Ended {
    /// `run` and `start -a`: the container's exit code; a detach is a
    /// success (docker's `term.EscapeError` is not reported there).
    pub(crate) fn into_result(self) -> anyhow::Result<()> {
        match self {
            Ended::Detached => Ok(()),
            Ended::Exited(status) => match exit_code(status) {
                0 => Ok(()),
                code => Err(StatusError::exit(code)),
            },
        }
    }
}

/// docker's `term.EscapeError`, as the docker CLI prints it when `attach`
/// or `exec` ends by the detach keys (exit 1).
pub(crate) const DETACHED: &str = "read escape sequence";

/// Signals a session listens for.
const SIGWINCH: i32 = 28;
const PROXIED: &[(i32, &str)] = &[
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (10, "SIGUSR1"),
    (12, "SIGUSR2"),
    (15, "SIGTERM"),
];

/// Attach, wait, start, resize, then copy the streams until the output
/// ends (the container's exit status) or the user types the detach keys.
pub(crate) async fn session(client: &Client, s: &Session<'_>) -> anyhow::Result<Ended> {
    let daemon_error = |e: berth_api_client::Error| {
        let m = e.to_string();
        if s.command == "run" {
            StatusError::with_message(125, report("run", &m, false))
        } else {
            anyhow!("{m}")
        }
    };
    let attach = client
        .container_attach(
            s.id,
            AttachOptions {
                stdin: s.streams.stdin,
                stdout: s.streams.stdout,
                stderr: s.streams.stderr,
                detach_keys: s.detach_keys.map(str::to_owned),
            },
        )
        .await
        // docker: an attach the daemon refuses is a plain error (exit 1).
        .map_err(|e| anyhow!("{e}"))?;
    let condition = if !s.start {
        "not-running"
    } else if s.auto_remove {
        "removed"
    } else {
        "next-exit"
    };
    let wait = client
        .container_wait(s.id, condition)
        .await
        .map_err(daemon_error)?;
    let stdin = std::io::stdin();
    let raw = if s.tty && s.streams.stdin && stdin.is_terminal() {
        Some(RawMode::enable(&stdin).map_err(|e| {
            StatusError::with_message(125, format!("cannot set the terminal to raw mode: {e}"))
        })?)
    } else {
        None
    };
    if s.start
        && let Err(e) = client.container_start(s.id).await
    {
        drop(raw);
        if s.auto_remove {
            let _ = wait.result().await;
        }
        let m = e.to_string();
        return Err(if s.command == "run" {
            StatusError::with_message(start_error_code(&m), report("run", &m, false))
        } else {
            anyhow!("{m}")
        });
    }

    if !s.start
        && s.tty
        && std::io::stdout().is_terminal()
        && let Some((h, w)) = terminal::size()
    {
        // As the docker CLI's attach: one size off first (the pump then
        // sets the real one), so the process redraws (a shell shows its
        // prompt again) even when the size is the one it had.
        let _ = client
            .container_resize(s.id, h.saturating_add(1), w.saturating_add(1))
            .await;
    }
    let outcome = pump(
        client,
        attach,
        &Pump {
            target: Target::Container(s.id),
            tty: s.tty,
            stdin: s.streams.stdin,
            sig_proxy: s.sig_proxy,
            detach_keys: s.detach_keys,
        },
    )
    .await;
    // The terminal goes back before anything else is printed.
    drop(raw);
    if outcome? == Pumped::Detached {
        return Ok(Ended::Detached);
    }
    match wait.result().await {
        Ok(answer) => Ok(Ended::Exited(answer.status_code)),
        Err(e) => Err(StatusError::with_message(
            125,
            format!("Error waiting for container: {e}"),
        )),
    }
}

/// Whose terminal a stream pump resizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    Container(&'a str),
    Exec(&'a str),
}

/// How [`pump`] treats a hijacked stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pump<'a> {
    pub(crate) target: Target<'a>,
    /// Raw output (a terminal) instead of docker's multiplexed frames.
    pub(crate) tty: bool,
    /// Forward our stdin; otherwise the write side is closed at once.
    pub(crate) stdin: bool,
    /// Forward our signals to the container (`--sig-proxy`, not with a
    /// terminal, where ^C is a key the container reads).
    pub(crate) sig_proxy: bool,
    /// `--detach-keys` (ctrl-p ctrl-q when `None`), looked for in our
    /// stdin with a terminal, as the docker CLI does (the daemon looks
    /// too).
    pub(crate) detach_keys: Option<&'a str>,
}

/// How a [`pump`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pumped {
    /// The output ended.
    Ended,
    /// The user typed the detach keys.
    Detached,
}

/// Copies a hijacked stream (`run`, `start -a`, `attach`, `exec`) until
/// the output ends or the detach keys are typed: our stdin to it, its
/// output to our stdout and stderr, window size changes to the target's
/// terminal, signals as `p` says. The caller holds the terminal's raw
/// mode, if any, and drops it after.
pub(crate) async fn pump(
    client: &Client,
    attach: berth_api_client::AttachStream,
    p: &Pump<'_>,
) -> anyhow::Result<Pumped> {
    let (mut reader, writer) = attach.into_split();
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = if p.stdin {
        // As the docker CLI: an unknown sequence is left to the daemon to
        // refuse (it did, at the attach); the default is looked for here.
        let scanner = p.tty.then(|| {
            let keys = p
                .detach_keys
                .and_then(|k| DetachKeys::from_param(Some(k)).ok())
                .unwrap_or_default();
            DetachScanner::new(keys)
        });
        tokio::spawn(forward_stdin(writer, scanner, detach_tx))
    } else {
        // As the docker CLI: no stdin, so the write side closes at once.
        tokio::spawn(async move {
            let mut writer = writer;
            let _ = writer.shutdown().await;
        })
    };

    let (sig_tx, mut sig_rx) = tokio::sync::mpsc::unbounded_channel::<i32>();
    let mut listen = Vec::new();
    let resize = p.tty && std::io::stdout().is_terminal();
    if resize {
        listen.push(SIGWINCH);
    }
    if p.tty {
        // Signals that end berth: leave the terminal as it was.
        listen.extend([1, 2, 15]);
    } else if p.sig_proxy {
        listen.extend(PROXIED.iter().map(|(n, _)| *n));
    }
    let mut listeners = Vec::new();
    for n in listen {
        let mut stream = signal(SignalKind::from_raw(n)).map_err(|e| {
            StatusError::with_message(125, format!("cannot handle signal {n}: {e}"))
        })?;
        let tx = sig_tx.clone();
        listeners.push(tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(n).is_err() {
                    break;
                }
            }
        }));
    }
    drop(sig_tx);
    if resize {
        resize_now(client, p.target, true).await;
    }

    let mut demux = Demux::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Polled until it answers once: a detach, or no detach ever (stdin
    // ended, or is not attached).
    let mut detach_open = true;
    let outcome: anyhow::Result<Pumped> = loop {
        tokio::select! {
            // A detach is looked at first: once the keys are seen, the
            // input side closes the connection, and the output's end may
            // be ready at the same time.
            biased;
            r = &mut detach_rx, if detach_open => match r {
                Ok(()) => break Ok(Pumped::Detached),
                Err(_) => detach_open = false,
            },
            r = reader.read(&mut buf) => match r {
                Ok(0) => break Ok(Pumped::Ended),
                Ok(n) if p.tty => write_out(StreamKind::Stdout, &buf[..n]),
                Ok(n) => match demux.push(&buf[..n]) {
                    Ok(frames) => {
                        let mut failed = None;
                        for (kind, payload) in frames {
                            if kind == StreamKind::SystemErr {
                                failed = Some(String::from_utf8_lossy(&payload).into_owned());
                                break;
                            }
                            write_out(kind, &payload);
                        }
                        if let Some(m) = failed {
                            break Err(anyhow!("{m}"));
                        }
                    }
                    Err(e) => break Err(anyhow!("{e}")),
                },
                Err(e) => break Err(anyhow!("error reading the container's output: {e}")),
            },
            Some(n) = sig_rx.recv() => {
                if n == SIGWINCH {
                    resize_now(client, p.target, false).await;
                } else if p.tty {
                    break Err(StatusError::exit(u8::try_from(128 + n).unwrap_or(1)));
                } else if let (Target::Container(id), Some((_, name))) =
                    (p.target, PROXIED.iter().find(|(m, _)| *m == n))
                    && let Err(e) = client.container_kill(id, Some(name)).await
                {
                    eprintln!("error sending signal: {e}");
                }
            }
        }
    };
    for l in &listeners {
        l.abort();
    }
    input.abort();
    // The keys were typed but the output ended (or failed) first, e.g.
    // berthd closed the stream on our half-close: still a detach, as the
    // docker CLI reports it.
    if !matches!(outcome, Ok(Pumped::Detached)) && detach_open && detach_rx.try_recv().is_ok() {
        return Ok(Pumped::Detached);
    }
    outcome
}

/// `POST /containers/{id}/resize` (or `/exec/{id}/resize`) with our
/// terminal's size. The first one
/// is retried a few times, as the docker CLI does, for a container whose
/// terminal is not ready yet; failures are not fatal.
async fn resize_now(client: &Client, target: Target<'_>, first: bool) {
    let Some((h, w)) = terminal::size() else {
        return;
    };
    let tries = if first { 5 } else { 1 };
    for i in 0..tries {
        let resized = match target {
            Target::Container(id) => client.container_resize(id, h, w).await,
            Target::Exec(id) => client.exec_resize(id, h, w).await,
        };
        if resized.is_ok() {
            return;
        }
        if i + 1 < tries {
            tokio::time::sleep(std::time::Duration::from_millis(10 * (i + 1))).await;
        }
    }
}

/// Copies our stdin to the container; its end half-closes the connection,
/// which closes the container's stdin. Stdin is read on a plain thread:
/// a blocking read cannot be cancelled, and the process may exit while it
/// waits. With a `scanner`, the detach keys are held back and, once
/// complete, reported on `detached` instead of being sent.
async fn forward_stdin(
    mut writer: OwnedWriteHalf,
    mut scanner: Option<DetachScanner>,
    detached: tokio::sync::oneshot::Sender<()>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let spawned = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
    if spawned.is_ok() {
        let mut out = Vec::new();
        while let Some(chunk) = rx.recv().await {
            let (data, detach) = match &mut scanner {
                Some(s) => {
                    out.clear();
                    let detach = s.feed(&chunk, &mut out);
                    (&out[..], detach)
                }
                None => (&chunk[..], false),
            };
            if !data.is_empty() && writer.write_all(data).await.is_err() {
                return;
            }
            if detach {
                let _ = detached.send(());
                return;
            }
        }
        if let Some(s) = &mut scanner {
            out.clear();
            s.finish(&mut out);
            let _ = writer.write_all(&out).await;
        }
    }
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::Flags;
    use crate::flags::containers::ContainerFlags;
    use crate::settings::{Command, Settings};

    fn parse(args: &[&str]) -> Command {
        let flags = Flags::try_parse_from(args).unwrap();
        Settings::resolve(flags, |_| None).unwrap().command
    }

    fn run_flags(args: &[&str]) -> RunFlags {
        match parse(args) {
            Command::Container(c) => match *c {
                ContainerFlags::Run(f) => f,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_flags_as_docker() {
        let f = run_flags(&[
            "berth",
            "run",
            "-it",
            "--rm",
            "--name",
            "x",
            "-e",
            "A=1",
            "-h",
            "box",
            "-w",
            "/tmp",
            "-u",
            "1:2",
            "--entrypoint",
            "sh",
            "busybox",
            "-c",
            "exit 3",
        ]);
        let o = &f.container;
        assert!(o.interactive && o.tty && o.rm && !f.detach && f.sig_proxy);
        assert_eq!(o.name.as_deref(), Some("x"));
        assert_eq!(o.hostname.as_deref(), Some("box"));
        assert_eq!(o.image(), "busybox");
        assert_eq!(o.command(), ["-c", "exit 3"]);
        // Everything after the image is the container's, flags included.
        let f = run_flags(&["berth", "run", "busybox", "ls", "-d", "--rm"]);
        assert!(!f.detach && !f.container.rm);
        assert_eq!(f.container.command(), ["ls", "-d", "--rm"]);
        let f = run_flags(&["berth", "container", "run", "-d", "-a", "stdout", "busybox"]);
        assert!(f.detach);
        assert!(streams(&f.container, f.detach).is_err());
        assert!(Flags::try_parse_from(["berth", "run"]).is_err());
        let f = run_flags(&["berth", "run", "--nope", "busybox"]);
        assert_eq!(
            streams(&f.container, false),
            Err("unknown flag: --nope".to_owned())
        );
        assert_eq!(
            parse(&["berth", "ps", "-aq"]),
            parse(&["berth", "container", "ls", "-a", "-q"])
        );
        assert_eq!(
            parse(&["berth", "rm", "-fv", "a", "b"]),
            parse(&["berth", "container", "rm", "-f", "-v", "a", "b"])
        );
        assert_eq!(
            parse(&["berth", "stop", "-t", "3", "a"]),
            parse(&["berth", "container", "stop", "--time", "3", "a"])
        );
    }

    #[test]
    fn attach_streams_as_docker() {
        let s = |args: &[&str]| {
            let f = run_flags(args);
            streams(&f.container, f.detach)
        };
        assert_eq!(
            s(&["berth", "run", "busybox"]),
            Ok(Streams {
                stdin: false,
                stdout: true,
                stderr: true
            })
        );
        assert_eq!(
            s(&["berth", "run", "-i", "busybox"]),
            Ok(Streams {
                stdin: true,
                stdout: true,
                stderr: true
            })
        );
        assert_eq!(
            s(&["berth", "run", "-a", "STDERR", "busybox"]),
            Ok(Streams {
                stdin: false,
                stdout: false,
                stderr: true
            })
        );
        assert_eq!(
            s(&["berth", "run", "-d", "-i", "busybox"]),
            Ok(Streams::default())
        );
        assert!(s(&["berth", "run", "-a", "nope", "busybox"]).is_err());
    }

    #[test]
    fn create_body() {
        let f = run_flags(&[
            "berth",
            "run",
            "-i",
            "-e",
            "A=1",
            "-e",
            "HOME",
            "-e",
            "UNSET",
            "--rm",
            "-l",
            "k=v",
            "--log-opt",
            "max-size=1m",
            "busybox",
            "echo",
            "hi",
        ]);
        let s = streams(&f.container, false).unwrap();
        let env = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        let body = create_config(&f.container, s, None, &env).unwrap();
        assert_eq!(body["Env"], json!(["A=1", "HOME=/root"]));
        assert_eq!(body["Cmd"], json!(["echo", "hi"]));
        assert_eq!(body["Entrypoint"], Value::Null);
        assert_eq!(body["Image"], "busybox");
        assert_eq!(body["OpenStdin"], true);
        assert_eq!(body["StdinOnce"], true);
        assert_eq!(body["AttachStdin"], true);
        assert_eq!(body["Labels"], json!({"k": "v"}));
        assert_eq!(body["HostConfig"]["AutoRemove"], true);
        assert_eq!(
            body["HostConfig"]["LogConfig"]["Config"],
            json!({"max-size": "1m"})
        );
        let f = run_flags(&["berth", "run", "--entrypoint", "", "-t", "busybox"]);
        let body = create_config(&f.container, Streams::default(), Some((30, 100)), &env).unwrap();
        assert_eq!(body["Entrypoint"], json!([""]));
        assert_eq!(body["Cmd"], Value::Null);
        assert_eq!(body["HostConfig"]["ConsoleSize"], json!([30, 100]));
    }

    #[test]
    fn exit_codes_as_docker() {
        let start = |m: &str| start_error_code(m);
        assert_eq!(
            start(
                "Error response from daemon: failed to create task for container: exec: \"nosuchcmd\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(
            start("Error response from daemon: exec: \"/etc/passwd\": permission denied"),
            126
        );
        assert_eq!(
            start("Error response from daemon: exec: \"/x\": no such file or directory"),
            127
        );
        assert_eq!(
            start("Error response from daemon: No such container: x"),
            125
        );
        assert_eq!(exit_code(3), 3);
        assert_eq!(exit_code(256 + 7), 7);
        assert_eq!(exit_code(-1), 255);
        assert_eq!(
            report("run", "Error response from daemon: boom.", true),
            "berth: Error response from daemon: boom.\nSee 'berth run --help'."
        );
        assert_eq!(tagged("nosuchimage"), "nosuchimage:latest");
        assert_eq!(tagged("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(tagged("host:5000/a/b"), "host:5000/a/b:latest");
        assert_eq!(tagged("a@sha256:00"), "a@sha256:00");
    }
}
