//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`,
//! docker's `HostConfig.RestartPolicy`): what to do when a container's
//! process exits, when berthd starts, and when the user stops it.
//!
//! The rules are moby's `restartmanager`:
//! - back-off: the first restart waits 100 ms, each further one twice as
//!   long as the last, at most a minute; a container that ran at least
//!   10 s starts over at 100 ms;
//! - `always` restarts after any exit, `unless-stopped` unless the user
//!   stopped (or killed) it, `on-failure[:N]` after a non-zero exit while
//!   fewer than `N` restarts were made (`0`: no limit);
//! - a stop (or a kill with the stop signal or SIGKILL) by the user cancels
//!   restarting until the user starts the container again; a start by the
//!   user resets the restart count;
//! - when berthd starts, a stopped container that was started before is
//!   started again if its policy says so, with a fresh count: `always` even
//!   if the user stopped it, `unless-stopped` only if not.
//!
//! While it waits out the back-off the container is `restarting` (docker's
//! `State.Restarting`, and running for `wait` and `rm`). The decisions are
//! pure functions ([`next_delay`], [`wants_restart`]); the rest are the
//! hooks `mod.rs` calls at exits, starts, stops, kills and removals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::model::{Container, Status, parse_signal};
use super::{ContainerError, Containers, Inner, lock};

/// The back-off of the first restart (moby's `defaultTimeout`).
const FIRST_DELAY_MS: u64 = 100;
/// The longest back-off (moby's `maxRestartTimeout`).
const MAX_DELAY_MS: u64 = 60_000;
/// A container that ran this long starts its back-off over.
const RESET_AFTER: Duration = Duration::from_secs(10);
/// The stack of a thread that starts a container (a restart, or a start at
/// boot): a whole start runs on it (spec, mounts, network, shim, JSON), as
/// on an API request's blocking thread. 128 KiB once overflowed and aborted
/// berthd; only the pages a start reaches are ever touched.
const START_STACK: usize = 1024 * 1024;

/// docker's restart policy names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartMode {
    #[default]
    #[serde(rename = "no")]
    No,
    #[serde(rename = "always")]
    Always,
    #[serde(rename = "on-failure")]
    OnFailure,
    #[serde(rename = "unless-stopped")]
    UnlessStopped,
}

impl RestartMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Always => "always",
            Self::OnFailure => "on-failure",
            Self::UnlessStopped => "unless-stopped",
        }
    }
}

/// docker's `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    #[serde(rename = "Name")]
    pub mode: RestartMode,
    /// `on-failure` only; 0 = no limit.
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    /// Checks a policy as dockerd's `ValidateRestartPolicy` does (same
    /// messages). An empty name is `no` (what clients before API 1.44 send
    /// when `--restart` is not given).
    pub fn parse(name: &str, maximum_retry_count: i64) -> Result<Self, String> {
        let mode = match name {
            "" | "no" => RestartMode::No,
            "always" => RestartMode::Always,
            "unless-stopped" => RestartMode::UnlessStopped,
            "on-failure" => RestartMode::OnFailure,
            other => {
                return Err(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                ));
            }
        };
        match mode {
            RestartMode::OnFailure => {}
            // An empty name allowed any count before (dockerd keeps that).
            _ if name.is_empty() => {
                return Ok(Self::default());
            }
            _ if maximum_retry_count < 0 => {
                return Err("invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative".into());
            }
            _ if maximum_retry_count > 0 => {
                return Err(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                        .into(),
                );
            }
            _ => {
                return Ok(Self {
                    mode,
                    ..Self::default()
                });
            }
        }
        if maximum_retry_count < 0 {
            return Err("invalid restart policy: maximum retry count cannot be negative".into());
        }
        Ok(Self {
            mode,
            maximum_retry_count: u32::try_from(maximum_retry_count).unwrap_or(u32::MAX),
        })
    }

    pub fn is_none(&self) -> bool {
        self.mode == RestartMode::No
    }
}

/// A container's restart bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartState {
    /// docker's `RestartCount`: restarts by the policy since the user last
    /// started the container.
    pub count: u32,
    /// docker's `HasBeenManuallyStopped`: the user stopped or killed it.
    pub manually_stopped: bool,
    /// The user stopped it: no restart until the user starts it again.
    #[serde(skip)]
    pub(crate) canceled: bool,
    /// The last back-off (ms); 0 before the first restart.
    #[serde(skip)]
    pub(crate) delay_ms: u64,
    /// Changes when a pending restart is called off.
    #[serde(skip)]
    pub(crate) generation: u64,
}

/// The back-off before the next restart, given the last one (`0`: none
/// yet) and how long the container ran (moby's `ShouldRestart`).
pub(crate) fn next_delay(last_ms: u64, ran_for: Duration) -> u64 {
    let last = if ran_for >= RESET_AFTER { 0 } else { last_ms };
    if last == 0 {
        FIRST_DELAY_MS
    } else {
        last.saturating_mul(2).min(MAX_DELAY_MS)
    }
}

/// Whether `policy` restarts a container that exited with `exit_code`
/// after `count` restarts.
pub(crate) fn wants_restart(
    policy: &RestartPolicy,
    count: u32,
    exit_code: i32,
    manually_stopped: bool,
) -> bool {
    match policy.mode {
        RestartMode::No => false,
        RestartMode::Always => true,
        RestartMode::UnlessStopped => !manually_stopped,
        RestartMode::OnFailure => {
            let max = policy.maximum_retry_count;
            exit_code != 0 && (max == 0 || count < max)
        }
    }
}

/// How long the container ran, from its RFC 3339 start and finish times
/// (zero if either is unreadable).
fn ran_for(started_at: &str, finished_at: &str) -> Duration {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(started_at), parse(finished_at)) {
        (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// How long `stop` (and `restart`) wait without `-t`: the container's
/// `--stop-timeout` (-1: for ever, here a day, as the API's `t=-1`).
pub(crate) fn stop_timeout(c: &Container) -> Option<Duration> {
    c.options
        .stop_timeout
        .map(|t| Duration::from_secs(u64::try_from(t).unwrap_or(86_400)))
}

/// Refuses what dockerd refuses at create: a restart policy on an
/// auto-removed container.
pub(crate) fn check_create(
    auto_remove: bool,
    policy: &RestartPolicy,
) -> Result<(), ContainerError> {
    if auto_remove && !policy.is_none() {
        return Err(ContainerError::InvalidArgument {
            message: "can't create 'AutoRemove' container with restart policy".into(),
        });
    }
    Ok(())
}

/// At an exit just recorded in `c` (status exited, exit code and finish
/// time set): decides by the policy; if it restarts, marks the container
/// restarting and returns the back-off.
pub(crate) fn on_exit(c: &mut Container) -> Option<Duration> {
    let policy = c.options.restart_policy;
    if policy.is_none() || c.restart.canceled {
        return None;
    }
    let ran = ran_for(&c.state.started_at, &c.state.finished_at);
    c.restart.delay_ms = next_delay(c.restart.delay_ms, ran);
    let st = &c.restart;
    if !wants_restart(&policy, st.count, c.state.exit_code, st.manually_stopped) {
        return None;
    }
    c.restart.count += 1;
    c.state.status = Status::Restarting;
    Some(Duration::from_millis(c.restart.delay_ms))
}

/// Whether a start may go ahead: one by the policy only while the container
/// waits to restart, one by the user only when it is neither running nor
/// restarting (dockerd: starting a restarting container changes nothing).
pub(crate) fn may_start(c: &Container, by_policy: bool) -> bool {
    if by_policy {
        c.state.status == Status::Restarting
    } else {
        !matches!(c.state.status, Status::Running | Status::Restarting)
    }
}

/// A start by the user: the count starts over and a stop is forgotten.
pub(crate) fn on_user_start(c: &mut Container) {
    let generation = c.restart.generation.wrapping_add(1);
    c.restart = RestartState {
        generation,
        ..RestartState::default()
    };
}

/// A start that failed: a container that was waiting to restart is now
/// simply exited (dockerd's `SetStopped` after a failed restart).
pub(crate) fn on_start_failed(c: &mut Container) {
    if c.state.status == Status::Restarting {
        c.state.status = Status::Exited;
    }
}

/// Whether a container that was started before should be started when
/// berthd starts (moby's `Container.ShouldRestart` with a fresh manager).
fn restarts_at_boot(c: &Container) -> bool {
    c.state.status == Status::Exited
        && !c.state.started_at.is_empty()
        && wants_restart(
            &c.options.restart_policy,
            c.restart.count,
            c.state.exit_code,
            c.restart.manually_stopped,
        )
}

impl Inner {
    /// The user stops (`signal` `None`) or kills the container: it counts
    /// as manually stopped, and the stop signal or SIGKILL (any signal if
    /// it has no stop signal) cancels restarting, as dockerd's
    /// `killWithSignal`. Returns whether the container was waiting to
    /// restart (then there is no process to signal).
    pub(crate) fn note_user_stop(&self, id: &str, signal: Option<i32>) -> bool {
        let mut table = lock(&self.table);
        // A start or exit in progress: see how it ends first, so a restart
        // being started now is not missed (it would run on after the stop).
        let deadline = Instant::now() + Duration::from_secs(30);
        while table.get(id).is_some_and(|c| c.busy) && Instant::now() < deadline {
            table = self
                .changed
                .wait_timeout(table, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        let Some(c) = table.get_mut(id) else {
            return false;
        };
        let restarting = c.state.status == Status::Restarting;
        if !restarting && c.state.status != Status::Running {
            return false;
        }
        let cancels = match signal {
            None | Some(9) => true,
            Some(s) => c
                .stop_signal
                .as_deref()
                .and_then(parse_signal)
                .is_none_or(|stop| stop == s),
        };
        // Stored with the exit that follows (or below).
        c.restart.manually_stopped = true;
        if cancels {
            c.restart.canceled = true;
            c.restart.generation = c.restart.generation.wrapping_add(1);
            if restarting && !c.busy {
                c.state.status = Status::Exited;
                if let Err(e) = self.store.save(c) {
                    tracing::warn!(id, error = %e, "cannot record a manual stop");
                }
                self.changed.notify_all();
            }
        }
        restarting
    }

    /// A removal of a container waiting to restart: refused without
    /// `force` (dockerd counts it as running), else the restart is called
    /// off first.
    pub(crate) fn check_remove_restarting(
        &self,
        c: &Container,
        force: bool,
    ) -> Result<(), ContainerError> {
        if c.state.status != Status::Restarting {
            return Ok(());
        }
        if !force {
            return Err(ContainerError::Conflict {
                message: format!(
                    "cannot remove container \"/{}\": container is restarting: stop the container before removing or force remove",
                    c.name
                ),
            });
        }
        self.note_user_stop(&c.id, None);
        Ok(())
    }

    /// Starts the container after `delay` unless that restart is called off
    /// meanwhile (the user stopped, started or removed it, or the engine is
    /// closing), on a thread of its own.
    pub(crate) fn schedule_restart(self: &Arc<Self>, id: &str, delay: Duration) {
        let generation = match lock(&self.table).get(id) {
            Some(c) => c.restart.generation,
            None => return,
        };
        let inner = Arc::clone(self);
        let id = id.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("restart-{}", &id[..12.min(id.len())]))
            .stack_size(START_STACK)
            .spawn(move || inner.restart_after(&id, delay, generation));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot schedule a container restart");
        }
    }

    fn restart_after(self: &Arc<Self>, id: &str, delay: Duration, generation: u64) {
        let deadline = Instant::now() + delay;
        let mut table = lock(&self.table);
        loop {
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            match table.get(id) {
                Some(c)
                    if c.state.status == Status::Restarting
                        && c.restart.generation == generation => {}
                _ => return,
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            table = self
                .changed
                .wait_timeout(table, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        drop(table);
        let Some(images) = self.image_store_when_set() else {
            return;
        };
        match Containers::start_with(self, &images, id, true) {
            Ok(()) => tracing::info!(id, "restarted by its restart policy"),
            Err(e) => tracing::warn!(id, error = %e, "restart by policy failed"),
        }
    }

    /// The engine's image store; at start-up it is set just after the
    /// containers are loaded, so wait for it a little.
    fn image_store_when_set(&self) -> Option<Arc<berth_image::ImageStore>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            if let Some(weak) = self.image_store.get() {
                return weak.upgrade();
            }
            if Instant::now() >= deadline {
                tracing::warn!("no image store to restart containers with");
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Containers {
    /// Starts, in the background, the stopped containers whose restart
    /// policy asks for it when the daemon starts. Call once at start-up,
    /// after [`Containers::open`] and `set_image_store`.
    pub fn restart_at_boot(&self) {
        let due: Vec<String> = lock(&self.inner.table)
            .values()
            .filter(|c| restarts_at_boot(c))
            .map(|c| c.id.clone())
            .collect();
        for id in due {
            let inner = Arc::clone(&self.inner);
            let spawned = std::thread::Builder::new()
                .name(format!("boot-{}", &id[..12.min(id.len())]))
                .stack_size(START_STACK)
                .spawn(move || {
                    let Some(images) = inner.image_store_when_set() else {
                        return;
                    };
                    match Containers::start_with(&inner, &images, &id, false) {
                        Ok(()) => tracing::info!(id, "started by its restart policy"),
                        Err(e) => tracing::warn!(id, error = %e, "start by restart policy failed"),
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a container at boot");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: RestartMode, max: u32) -> RestartPolicy {
        RestartPolicy {
            mode,
            maximum_retry_count: max,
        }
    }

    #[test]
    fn back_off_doubles_to_a_minute_and_resets_after_ten_seconds() {
        let short = Duration::from_millis(50);
        let mut d = 0;
        let mut seen = Vec::new();
        for _ in 0..12 {
            d = next_delay(d, short);
            seen.push(d);
        }
        assert_eq!(
            seen,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000
            ]
        );
        assert_eq!(next_delay(60_000, Duration::from_secs(10)), 100);
        assert_eq!(next_delay(800, Duration::from_secs(9)), 1600);
    }

    #[test]
    fn policies_decide_as_docker() {
        use RestartMode::*;
        assert!(!wants_restart(&policy(No, 0), 0, 1, false));
        assert!(wants_restart(&policy(Always, 0), 7, 0, true));
        assert!(wants_restart(&policy(UnlessStopped, 0), 0, 0, false));
        assert!(!wants_restart(&policy(UnlessStopped, 0), 0, 0, true));
        assert!(!wants_restart(&policy(OnFailure, 0), 0, 0, false));
        assert!(wants_restart(&policy(OnFailure, 0), 99, 1, false));
        assert!(wants_restart(&policy(OnFailure, 2), 1, 1, false));
        assert!(!wants_restart(&policy(OnFailure, 2), 2, 1, false));
        // A stop does not matter to on-failure (a stopped container's
        // status is 143 or 137, a failure).
        assert!(wants_restart(&policy(OnFailure, 0), 0, 143, true));
    }

    #[test]
    fn parse_checks_as_dockerd() {
        assert_eq!(
            RestartPolicy::parse("", 0).unwrap(),
            RestartPolicy::default()
        );
        assert_eq!(
            RestartPolicy::parse("", 5).unwrap(),
            RestartPolicy::default()
        );
        assert_eq!(
            RestartPolicy::parse("on-failure", 3).unwrap(),
            policy(RestartMode::OnFailure, 3)
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped", 0).unwrap().mode,
            RestartMode::UnlessStopped
        );
        assert_eq!(
            RestartPolicy::parse("sometimes", 0).unwrap_err(),
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        );
        assert_eq!(
            RestartPolicy::parse("always", 3).unwrap_err(),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert!(
            RestartPolicy::parse("no", -1)
                .unwrap_err()
                .ends_with("and cannot be negative")
        );
        assert_eq!(
            RestartPolicy::parse("on-failure", -1).unwrap_err(),
            "invalid restart policy: maximum retry count cannot be negative"
        );
    }

    #[test]
    fn stored_form_is_dockers() {
        let p = policy(RestartMode::OnFailure, 2);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"Name":"on-failure","MaximumRetryCount":2}"#
        );
        let back: RestartPolicy = serde_json::from_str(r#"{"Name":"always"}"#).unwrap();
        assert_eq!(back, policy(RestartMode::Always, 0));
    }

    #[test]
    fn run_time_from_rfc3339() {
        assert_eq!(
            ran_for("2026-01-01T00:00:00Z", "2026-01-01T00:00:12.5Z"),
            Duration::from_millis(12_500)
        );
        assert_eq!(ran_for("", "2026-01-01T00:00:12Z"), Duration::ZERO);
        assert_eq!(
            ran_for("2026-01-01T00:00:12Z", "2026-01-01T00:00:00Z"),
            Duration::ZERO
        );
    }
}
