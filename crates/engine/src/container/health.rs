//! Health checks (`--health-cmd` and friends, the image's `HEALTHCHECK`).
//!
//! As dockerd (`daemon/health.go`): the check is a process run in the
//! container (an exec the API does not list) on a schedule: every
//! `interval` (30 s by default), every `start_interval` (5 s) while the
//! container is `starting` within its `start_period`. Exit code 0 is
//! healthy; anything else, or running longer than `timeout` (30 s; the
//! probe is then killed and its exit code is -1), is a failure. Failures
//! within the start period do not count; `retries` (3) failures in a row
//! make the container `unhealthy`. The last 5 results are kept with their
//! output (at most 4096 bytes each).
//!
//! One monitor thread per running container with a check. It starts with
//! the container's monitor (start and live restore: the status goes back
//! to `starting`), and stops at its exit, which leaves the status
//! `unhealthy` (dockerd does the same "for compatibility").

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use berth_shim_proto::attach::parse_mux_header;
use berth_shim_proto::{Reply, Request};
use serde::{Deserialize, Serialize};

use super::exec::{ExecConfig, ExecInfo};
use super::model::{Container, Status};
use super::{AttachOptions, ContainerError, Inner, lock, shim};

/// dockerd's defaults (`daemon/health.go`).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const MAX_LOG_ENTRIES: usize = 5;
/// Output kept per result.
const MAX_OUTPUT: usize = 4096;

/// docker's `HealthConfig` (durations in nanoseconds; 0 is the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` (the image's), `["NONE"]`, `["CMD", args...]` or
    /// `["CMD-SHELL", command]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl HealthConfig {
    /// dockerd's `merge`: what the user left at zero comes from the image.
    pub fn merged(
        user: Option<&HealthConfig>,
        image: Option<&berth_image::spec::HealthConfig>,
    ) -> Option<Self> {
        let image = image.map(|i| HealthConfig {
            test: i.test.clone().unwrap_or_default(),
            interval: i.interval.unwrap_or(0),
            timeout: i.timeout.unwrap_or(0),
            start_period: i.start_period.unwrap_or(0),
            start_interval: i.start_interval.unwrap_or(0),
            retries: i.retries.unwrap_or(0),
        });
        match (user, image) {
            (None, image) => image,
            (Some(u), None) => Some(u.clone()),
            (Some(u), Some(i)) => {
                let pick = |a: i64, b: i64| if a == 0 { b } else { a };
                Some(HealthConfig {
                    test: if u.test.is_empty() {
                        i.test
                    } else {
                        u.test.clone()
                    },
                    interval: pick(u.interval, i.interval),
                    timeout: pick(u.timeout, i.timeout),
                    start_period: pick(u.start_period, i.start_period),
                    start_interval: pick(u.start_interval, i.start_interval),
                    retries: pick(u.retries, i.retries),
                })
            }
        }
    }

    /// dockerd's `validateHealthCheck`.
    pub fn validate(&self) -> Result<(), ContainerError> {
        const MIN: i64 = 1_000_000; // 1ms
        let bad = |message: String| Err(ContainerError::InvalidArgument { message });
        for (name, v) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if v != 0 && v < MIN {
                return bad(format!("{name} in Healthcheck cannot be less than 1ms"));
            }
        }
        if self.retries < 0 {
            return bad("Retries in Healthcheck cannot be negative".into());
        }
        Ok(())
    }

    /// Whether there is a check to run (not none and not `NONE`).
    pub fn active(&self) -> bool {
        self.test.first().is_some_and(|t| t != "NONE")
    }

    fn duration(ns: i64, default: Duration) -> Duration {
        if ns > 0 {
            Duration::from_nanos(ns.unsigned_abs())
        } else {
            default
        }
    }
}

/// One check's result (docker's `HealthcheckResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    /// RFC 3339.
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthResult>,
}

/// A container's check and its state (the container's `Health` field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// The merged config (docker's `Config.Healthcheck`).
    pub config: HealthConfig,
    /// `None` until the container first started with an active check.
    #[serde(default)]
    pub state: Option<Health>,
}

impl Healthcheck {
    /// The status `ps` shows and the `health` filter matches: `starting`,
    /// `healthy`, `unhealthy`, or `none`.
    pub fn status(h: Option<&Healthcheck>) -> &str {
        h.and_then(|h| h.state.as_ref())
            .map_or("none", |s| s.status.as_str())
    }
}

/// The text `ps` appends to `Up ...`: ` (healthy)`, ` (health: starting)`.
pub fn status_suffix(c: &Container) -> String {
    if c.state.status != Status::Running {
        return String::new();
    }
    match Healthcheck::status(c.health.as_ref()) {
        "none" => String::new(),
        "starting" => " (health: starting)".to_owned(),
        other => format!(" ({other})"),
    }
}

/// A monitor's stop flag.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn stop(&self) {
        *lock(&self.stopped) = true;
        self.wake.notify_all();
    }

    /// Sleeps up to `d`; whether the monitor was stopped.
    fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = lock(&self.stopped);
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }

    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }
}

/// The running health monitors, by container ID.
#[derive(Debug, Default)]
pub(crate) struct Monitors {
    running: Mutex<HashMap<String, Arc<Stop>>>,
}

impl Monitors {
    /// Stops the monitor of `id` (its probe is killed by the container's end).
    pub(crate) fn stop(&self, id: &str) {
        if let Some(s) = lock(&self.running).remove(id) {
            s.stop();
        }
    }

    pub(crate) fn stop_all(&self) {
        for (_, s) in lock(&self.running).drain() {
            s.stop();
        }
    }
}

impl Inner {
    /// Starts the health monitor of a running container that has an
    /// active check; its status goes back to `starting`.
    pub(crate) fn start_health(this: &Arc<Self>, id: &str) {
        {
            let mut table = lock(&this.table);
            let Some(c) = table.get_mut(id) else { return };
            let Some(h) = c.health.as_mut().filter(|h| h.config.active()) else {
                return;
            };
            let state = h.state.get_or_insert_with(Health::default);
            state.status = "starting".into();
            state.failing_streak = 0;
        }
        let stop = Arc::new(Stop::default());
        if let Some(old) = lock(&this.health.running).insert(id.to_owned(), Arc::clone(&stop)) {
            old.stop();
        }
        let inner = Arc::clone(this);
        let cid = id.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("health-{}", &cid[..12.min(cid.len())]))
            .stack_size(256 * 1024)
            .spawn(move || inner.health_loop(&cid, &stop));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a health monitor");
        }
    }

    /// At the container's exit: no more checks, and the status reads
    /// `unhealthy`, as dockerd leaves it.
    pub(crate) fn health_exited(&self, c: &mut Container) {
        self.health.stop(&c.id);
        if let Some(state) = c.health.as_mut().and_then(|h| h.state.as_mut()) {
            state.status = "unhealthy".into();
        }
    }

    fn health_loop(&self, id: &str, stop: &Stop) {
        let started = Instant::now();
        loop {
            let Some((config, status, paused)) = lock(&self.table).get(id).and_then(|c| {
                let h = c.health.as_ref()?;
                Some((
                    h.config.clone(),
                    Healthcheck::status(Some(h)).to_owned(),
                    c.state.paused,
                ))
            }) else {
                return;
            };
            let interval = HealthConfig::duration(config.interval, DEFAULT_INTERVAL);
            let start_period = HealthConfig::duration(config.start_period, Duration::ZERO);
            let wait = if started.elapsed() < start_period && status == "starting" {
                HealthConfig::duration(config.start_interval, DEFAULT_START_INTERVAL)
            } else {
                interval
            };
            if stop.sleep(wait) || self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            // A frozen container cannot run the check: skip it (it would
            // only time out).
            if paused || lock(&self.table).get(id).is_some_and(|c| c.state.paused) {
                continue;
            }
            let probe_start = started.elapsed();
            let result = self.probe(id, &config);
            if stop.is_stopped() {
                return;
            }
            let in_start_period = probe_start < start_period;
            self.record_health(id, &config, result, in_start_period);
        }
    }

    /// Runs the check once.
    fn probe(&self, id: &str, config: &HealthConfig) -> HealthResult {
        let start = berth_image::store::rfc3339_now();
        let timeout = HealthConfig::duration(config.timeout, DEFAULT_TIMEOUT);
        let (exit_code, output) = match self.run_probe(id, config, timeout) {
            Ok(r) => r,
            Err(e) => (-1, e.to_string()),
        };
        HealthResult {
            start,
            end: berth_image::store::rfc3339_now(),
            exit_code,
            output,
        }
    }

    fn run_probe(
        &self,
        id: &str,
        config: &HealthConfig,
        timeout: Duration,
    ) -> Result<(i64, String), ContainerError> {
        let args: Vec<String> = match config.test.first().map(String::as_str) {
            Some("CMD") => config.test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), config.test[1..].join(" ")],
            other => {
                return Err(ContainerError::InvalidArgument {
                    message: format!("unknown health check type {other:?}"),
                });
            }
        };
        if args.is_empty() {
            return Err(ContainerError::InvalidArgument {
                message: "the health check has no command".into(),
            });
        }
        let c = lock(&self.table)
            .get(id)
            .cloned()
            .ok_or_else(|| ContainerError::NotFound(id.to_owned()))?;
        let exec_id = super::store::new_id()?;
        let info = ExecInfo {
            id: exec_id.clone(),
            container_id: c.id.clone(),
            config: ExecConfig {
                cmd: args,
                env: super::exec::exec_env(&c.process.env, c.process.tty, false, &[]),
                user: c.process.user.clone(),
                working_dir: c.process.working_dir.clone(),
                attach_stdout: true,
                attach_stderr: true,
                ..ExecConfig::default()
            },
            running: false,
            exit_code: None,
            pid: 0,
        };
        let process = self.exec_process(&info, None)?;
        let state_dir = self.shim_dir(&c.id);
        let attach = AttachOptions {
            stdout: true,
            stderr: true,
            ..AttachOptions::default()
        };
        let mut stream = shim::attach_to(&state_dir, Some(&exec_id), &attach)?;
        let forget = || {
            let _ = shim::request(
                &state_dir,
                &Request::ForgetExec {
                    exec_id: exec_id.clone(),
                },
            );
        };
        let started = shim::request(
            &state_dir,
            &Request::Exec {
                exec_id: exec_id.clone(),
                process: Box::new(process),
                stdin: false,
            },
        );
        let pid = match started {
            Ok(Reply::Started { pid }) => pid,
            Ok(other) => {
                drop(stream);
                forget();
                return Err(ContainerError::Internal {
                    message: format!("unexpected answer from the shim: {other:?}"),
                });
            }
            Err(e) => {
                drop(stream);
                forget();
                return Err(e);
            }
        };
        self.execs.probe_started(&info, pid);
        let deadline = Instant::now() + timeout;
        let (output, timed_out) = read_output(&mut stream, deadline);
        drop(stream);
        if timed_out {
            // As dockerd: the probe is killed and counts as a failure.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let code = match shim::request(
            &state_dir,
            &Request::Wait {
                exec_id: Some(exec_id.clone()),
            },
        ) {
            Ok(Reply::Exited(status)) => i64::from(status.exit_code),
            _ => -1,
        };
        self.execs.probe_done(&exec_id);
        forget();
        if timed_out {
            let limit = go_duration(timeout);
            let message = if output.is_empty() {
                format!("Health check exceeded timeout ({limit})")
            } else {
                format!("Health check exceeded timeout ({limit}): {output}")
            };
            return Ok((-1, message));
        }
        Ok((code, output))
    }

    fn record_health(
        &self,
        id: &str,
        config: &HealthConfig,
        result: HealthResult,
        in_start_period: bool,
    ) {
        let retries = if config.retries > 0 {
            config.retries
        } else {
            DEFAULT_RETRIES
        };
        let mut table = lock(&self.table);
        let Some(c) = table.get_mut(id) else { return };
        if c.state.status != Status::Running {
            return;
        }
        let Some(state) = c.health.as_mut().and_then(|h| h.state.as_mut()) else {
            return;
        };
        let old = state.status.clone();
        let ok = result.exit_code == 0;
        if state.log.len() >= MAX_LOG_ENTRIES {
            let extra = state.log.len() + 1 - MAX_LOG_ENTRIES;
            state.log.drain(..extra);
        }
        state.log.push(result);
        if ok {
            state.failing_streak = 0;
            state.status = "healthy".into();
        } else if !(state.status == "starting" && in_start_period) {
            state.failing_streak += 1;
            if state.failing_streak >= retries {
                state.status = "unhealthy".into();
            }
        }
        if state.status != old {
            let action = format!("health_status: {}", state.status);
            if let Err(e) = self.store.save(c) {
                tracing::warn!(id, error = %e, "cannot record a health status");
            }
            let c = c.clone();
            drop(table);
            self.emit(&c, &action, &[]);
        }
    }
}

/// Reads the probe's multiplexed output until it ends or `deadline`:
/// `(output, timed out)`, the output cut at [`MAX_OUTPUT`] bytes.
fn read_output(stream: &mut std::os::unix::net::UnixStream, deadline: Instant) -> (String, bool) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut timed_out = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        if stream.set_read_timeout(Some(deadline - now)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Keep reading past the limit (the probe must not block on
                // a full pipe) but hold at most a little more than needed.
                if raw.len() < MAX_OUTPUT * 2 + 8 {
                    raw.extend_from_slice(&buf[..n]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                timed_out = true;
                break;
            }
            Err(_) => break,
        }
    }
    let mut out = Vec::new();
    let mut rest = raw.as_slice();
    while rest.len() >= 8 {
        let mut h = [0u8; 8];
        h.copy_from_slice(&rest[..8]);
        let Ok((_, len)) = parse_mux_header(&h) else {
            break;
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let end = 8usize.saturating_add(len).min(rest.len());
        out.extend_from_slice(&rest[8..end]);
        rest = &rest[end..];
    }
    out.truncate(MAX_OUTPUT);
    (String::from_utf8_lossy(&out).into_owned(), timed_out)
}

/// A duration as Go's `time.Duration.String` prints the common cases
/// (`1s`, `1.5s`, `500ms`, `2m0s`).
fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let ms = d.as_secs_f64() * 1000.0;
        return format!("{}ms", trim_float(ms));
    }
    let total = d.as_secs_f64();
    let h = (total / 3600.0).floor();
    let m = ((total - h * 3600.0) / 60.0).floor();
    let s = total - h * 3600.0 - m * 60.0;
    if h > 0.0 {
        format!("{h}h{m}m{}s", trim_float(s))
    } else if m > 0.0 {
        format!("{m}m{}s", trim_float(s))
    } else {
        format!("{}s", trim_float(s))
    }
}

fn trim_float(v: f64) -> String {
    let t = format!("{v:.9}");
    t.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_merge_with_the_image_as_dockerd() {
        let image = berth_image::spec::HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "true".into()]),
            interval: Some(30_000_000_000),
            retries: Some(5),
            ..Default::default()
        };
        let user = HealthConfig {
            interval: 1_000_000_000,
            ..Default::default()
        };
        let m = HealthConfig::merged(Some(&user), Some(&image)).unwrap();
        assert_eq!(m.test, ["CMD-SHELL", "true"]);
        assert_eq!((m.interval, m.retries), (1_000_000_000, 5));
        assert!(m.active());
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert!(
            !HealthConfig::merged(Some(&none), Some(&image))
                .unwrap()
                .active()
        );
        assert!(HealthConfig::merged(None, None).is_none());
        let bad = HealthConfig {
            interval: 10,
            ..Default::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("Interval in Healthcheck cannot be less than 1ms")
        );
        let bad = HealthConfig {
            retries: -1,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn json_as_docker() {
        let c = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 1_000_000_000,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"Test":["CMD","true"],"Interval":1000000000}"#
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
    }
}
