//! The lifecycle operations around create/start/wait: stop with a chosen
//! signal, kill (also of a paused container), pause and unpause (the cgroup
//! freezer, through the shim's `Pause`/`Resume`), restart, rename, and the
//! checks dockerd makes before start and remove.
//!
//! docker's rules, from moby's `daemon/{start,stop,kill,pause,unpause,
//! restart,rename,delete}.go`:
//! - A paused container is still running (`State.Running` and
//!   `State.Paused` are both true); its status reads `paused`.
//! - Start of a running container changes nothing (the API answers 304);
//!   of a paused one is a conflict ("try unpause instead").
//! - Stop of a container that is not running changes nothing (304).
//! - The stop signal and SIGKILL reach a paused container: the signal is
//!   sent, then the container is thawed so it can act on it. Other
//!   signals stay pending until `unpause`.
//! - `rm` without `-f` refuses a paused container; `rm -f` kills it (the
//!   runtime thaws a frozen cgroup after SIGKILL).
//! - `rename` checks the new name as `create` does; the name is stored,
//!   so it survives a restart of the container or of berthd.

use std::time::Duration;

use berth_shim_proto::Request;

use super::{
    Container, ContainerError, ContainerService, Containers, Inner, Result, Status, gone, lock,
    parse_signal, resolve, shim, store,
};
use crate::error::{Classify, ErrorClass};

/// docker's default stop timeout (`StopTimeout` unset).
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SIGKILLed container gets to be recorded as exited.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// Whether a request changed anything: dockerd answers `304 Not Modified`
/// to a start of a running container and a stop of a stopped one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    Unchanged,
}

fn not_running(id: &str) -> ContainerError {
    ContainerError::Conflict {
        message: format!("Container {id} is not running"),
    }
}

fn conflict(message: String) -> ContainerError {
    ContainerError::Conflict { message }
}

fn invalid(message: String) -> ContainerError {
    ContainerError::InvalidArgument { message }
}

/// The signal `stop` sends: `--stop-signal` or the image's, else SIGTERM.
fn stop_signal(c: &Container) -> i32 {
    c.stop_signal
        .as_deref()
        .and_then(parse_signal)
        .unwrap_or(15)
}

impl Containers {
    /// Stops a running container: sends `signal` (default: its stop
    /// signal), waits up to `timeout` (default 10 s), then SIGKILLs every
    /// process and waits for the exit to be recorded. A container that
    /// is not running is [`Change::Unchanged`].
    pub fn stop_with(
        &self,
        id_or_name: &str,
        timeout: Option<Duration>,
        signal: Option<i32>,
    ) -> Result<Change> {
        let c = self.get(id_or_name)?;
        // A restart policy's pending restart is called off first.
        let was_restarting = self.inner.note_user_stop(&c.id, None);
        let c = self.get(&c.id)?;
        if c.state.status != Status::Running {
            return Ok(if was_restarting {
                Change::Done
            } else {
                Change::Unchanged
            });
        }
        let signal = signal.unwrap_or_else(|| stop_signal(&c));
        let timeout = timeout
            .or_else(|| super::restart::stop_timeout(&c))
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        match self.signal(&c, signal) {
            Ok(()) => {}
            Err(e) if e.class() == ErrorClass::Conflict => {
                // Exiting already: let the exit be recorded first.
                self.wait_timeout(&c.id, KILL_WAIT)?;
                return Ok(Change::Done);
            }
            Err(e) => return Err(e),
        }
        if timeout.is_zero() || self.wait_timeout(&c.id, timeout)?.is_none() {
            self.kill_and_wait(&c.id)?;
        }
        self.inner.emit(&c, "stop", &[]);
        Ok(Change::Done)
    }

    /// docker's `kill`: sends `signal` to the container's init. The stop
    /// signal and SIGKILL also thaw a paused container; after SIGKILL the
    /// call returns once the exit is recorded (so `rm` may follow at once).
    pub fn kill_container(&self, id_or_name: &str, signal: i32) -> Result<()> {
        let c = self.get(id_or_name)?;
        self.signal(&c, signal)?;
        if signal == 9 {
            self.wait_timeout(&c.id, KILL_WAIT)?;
        }
        Ok(())
    }

    /// Sends `signal` to init; thaws a paused container for its stop
    /// signal and SIGKILL (moby's `killWithSignal`).
    fn signal(&self, c: &Container, signal: i32) -> Result<()> {
        self.kill(&c.id, signal)?;
        let current = self.get(&c.id)?;
        if current.state.paused && (signal == 9 || signal == stop_signal(c)) {
            match shim::request(&self.inner.shim_dir(&c.id), &Request::Resume) {
                Ok(_) => self
                    .inner
                    .set_paused(&c.id, current.state.shim_pid, false)?,
                // Gone or thawed meanwhile: the exit is recorded anyway.
                Err(e) => {
                    tracing::warn!(id = %c.id, error = %e, "cannot unpause a container after signalling it")
                }
            }
        }
        Ok(())
    }

    /// Freezes every process of a running container.
    pub fn pause(&self, id_or_name: &str) -> Result<()> {
        let c = self.get(id_or_name)?;
        if c.state.status != Status::Running {
            return Err(not_running(&c.id));
        }
        if c.state.paused {
            return Err(conflict(format!("Container {} is already paused", c.id)));
        }
        match shim::request(&self.inner.shim_dir(&c.id), &Request::Pause) {
            Ok(_) => {}
            Err(_) if self.exiting(&c.id) => return Err(not_running(&c.id)),
            Err(e) => return Err(e),
        }
        self.inner.set_paused(&c.id, c.state.shim_pid, true)?;
        self.inner.emit(&c, "pause", &[]);
        Ok(())
    }

    /// Thaws a paused container.
    pub fn unpause(&self, id_or_name: &str) -> Result<()> {
        let c = self.get(id_or_name)?;
        if c.state.status != Status::Running || !c.state.paused {
            // dockerd's plain error (500, not a conflict: moby's
            // containerUnpause; checked against dockerd 20.10).
            return Err(ContainerError::Internal {
                message: format!("Container {} is not paused", c.id),
            });
        }
        match shim::request(&self.inner.shim_dir(&c.id), &Request::Resume) {
            Ok(_) => {}
            Err(_) if self.exiting(&c.id) => return Err(not_running(&c.id)),
            Err(e) => return Err(e),
        }
        self.inner.set_paused(&c.id, c.state.shim_pid, false)?;
        self.inner.emit(&c, "unpause", &[]);
        Ok(())
    }

    /// Renames a container (docker's `rename`): the new name is checked as
    /// at create and must be free; the old one is free afterwards.
    pub fn rename(&self, id_or_name: &str, new_name: &str) -> Result<()> {
        if id_or_name.is_empty() || new_name.is_empty() {
            return Err(invalid("Neither old nor new names may be empty".to_owned()));
        }
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        let inner = &self.inner;
        let mut table = lock(&inner.table);
        let c = resolve(&table, id_or_name)?;
        let id = c.id.clone();
        if c.name == new_name {
            return Err(invalid(
                "Renaming a container with the same name as its current name".to_owned(),
            ));
        }
        if !store::valid_name(new_name) {
            return Err(invalid(format!(
                "Error when allocating new name: Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if let Some(other) = table.values().find(|o| o.name == new_name) {
            return Err(conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let entry = table.get_mut(&id).ok_or_else(|| gone(&id))?;
        let old = std::mem::replace(&mut entry.name, new_name.to_owned());
        if let Err(e) = inner.store.save(entry) {
            entry.name = old;
            return Err(e);
        }
        // docker's rename event: the new name, the old one as `oldName`.
        inner.emit(entry, "rename", &[("oldName", format!("/{old}"))]);
        inner.changed.notify_all();
        Ok(())
    }

    /// moby's attach check: a paused container cannot be attached to.
    pub fn check_attachable(&self, id_or_name: &str) -> Result<()> {
        let c = self.get(id_or_name)?;
        if c.state.status == Status::Running && c.state.paused {
            return Err(conflict(format!(
                "container {id_or_name} is paused, unpause the container before attach"
            )));
        }
        Ok(())
    }

    /// How many running containers are paused (`/info`'s
    /// `ContainersPaused`; docker counts them apart from the running).
    pub fn paused_count(&self) -> usize {
        lock(&self.inner.table)
            .values()
            .filter(|c| c.state.status == Status::Running && c.state.paused)
            .count()
    }
}

impl ContainerService<'_> {
    /// docker's start: a running container is [`Change::Unchanged`], a
    /// paused one a conflict; otherwise [`ContainerService::start`].
    pub fn start_checked(&self, id_or_name: &str) -> Result<Change> {
        let c = self.get(id_or_name)?;
        if c.state.status == Status::Running {
            if c.state.paused {
                return Err(conflict(
                    "cannot start a paused container, try unpause instead".to_owned(),
                ));
            }
            return Ok(Change::Unchanged);
        }
        // Waiting to be restarted by its policy counts as running.
        if c.state.status == Status::Restarting {
            return Ok(Change::Unchanged);
        }
        self.start(&c.id).map(|()| Change::Done)
    }

    /// docker's restart: stops a running (or paused) container as `stop`
    /// does, then starts it again with a new process; a stopped or created
    /// container is just started.
    pub fn restart(
        &self,
        id_or_name: &str,
        timeout: Option<Duration>,
        signal: Option<i32>,
    ) -> Result<()> {
        let c = self.get(id_or_name)?;
        self.stop_with(&c.id, timeout, signal)?;
        self.start(&c.id)?;
        self.emit(&self.get(&c.id)?, "restart", &[]);
        Ok(())
    }

    /// docker's rm: a paused container needs `force`. `volumes` (`rm -v`)
    /// removes its anonymous volumes too.
    pub fn remove_checked(&self, id_or_name: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(id_or_name)?;
        if !force && c.state.status == Status::Running && c.state.paused {
            return Err(conflict(format!(
                "cannot remove container \"/{}\": container is paused and must be unpaused first",
                c.name
            )));
        }
        self.remove_stale_snapshots();
        // By the name given: a removal already in progress is reported
        // under it, as dockerd does.
        self.containers
            .remove_with(self.images, id_or_name, force, volumes)
    }
}

impl Inner {
    /// Records `paused` for the container run by `shim_pid`; nothing if it
    /// exited (or was started again) meanwhile.
    pub(super) fn set_paused(&self, id: &str, shim_pid: i32, paused: bool) -> Result<()> {
        let mut table = lock(&self.table);
        let c = table.get_mut(id).ok_or_else(|| gone(id))?;
        if c.state.status != Status::Running || c.state.shim_pid != shim_pid {
            return Ok(());
        }
        if c.state.paused == paused {
            return Ok(());
        }
        c.state.paused = paused;
        let saved = self.store.save(c);
        self.changed.notify_all();
        saved
    }

    /// Live restore: what the shim says about the freezer wins over the
    /// stored flag (someone may have thawed the cgroup while berthd was
    /// down).
    pub(super) fn note_paused(&self, id: &str, paused: bool) {
        let shim_pid = lock(&self.table).get(id).map(|c| c.state.shim_pid);
        if let Some(shim_pid) = shim_pid
            && let Err(e) = self.set_paused(id, shim_pid, paused)
        {
            tracing::warn!(id, error = %e, "cannot record a restored container's paused state");
        }
    }
}
