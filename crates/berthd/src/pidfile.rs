//! The pid file: proof that one berthd owns this configuration.
//!
//! The file is held with an exclusive `flock` for the daemon's life, so a stale
//! file left by a crash (`kill -9`) is taken over silently, while a live owner
//! makes a second berthd refuse to start. The lock dies with the process; no
//! pid liveness guessing is needed.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

pub(crate) struct Pidfile {
    path: PathBuf,
    // Held for its lock; closing it releases the lock.
    _lock: Flock<std::fs::File>,
}

impl Pidfile {
    pub(crate) fn acquire(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?
            .into_parts()
            .0;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                // Best effort: the owner may be between truncate and write.
                let _ = file.read_to_string(&mut text);
                let pid = text.trim();
                let pid = if pid.is_empty() { "unknown" } else { pid };
                bail!(
                    "berthd is already running (pid {pid}): pid file {} is locked by it; stop it first or use another --pidfile",
                    path.display()
                );
            }
            Err((_, errno)) => {
                return Err(errno).with_context(|| format!("cannot lock {}", path.display()));
            }
        };
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| writeln!(lock, "{}", std::process::id()))
            .and_then(|()| lock.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        // Removed while still locked, so nobody can lock the old inode and then
        // see it vanish.
        if let Err(e) = fs_err::remove_file(&self.path) {
            tracing::warn!(error = %e, "cannot remove the pid file");
        }
    }
}
