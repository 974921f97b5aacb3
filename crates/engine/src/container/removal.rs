//! The slow half of `rm`, off the request path.
//!
//! A removal is decided by one rename: the container's directory becomes
//! `containers/.removing-<id>` ([`super::store::Store::detach`]), made
//! durable by an fsync of `containers/` that concurrent removals share
//! ([`GroupSync`]). From then on the container is gone: it leaves the
//! table and `rm` answers. What it leaves — its writable snapshot, its
//! bundle in the exec root, the renamed directory with its log — is
//! deleted by the [`Reaper`], a thread that takes every removal queued
//! meanwhile at once (one snapshot metadata write for all of them).
//!
//! A crash before the reaper is done leaves nothing half-removed that
//! survives the next start: `.removing-*` directories are deleted when the
//! store loads, snapshots of containers that are not stored are removed as
//! orphans, and exec-root directories of containers that are not stored
//! are swept (`Containers::finish_interrupted_removals`).
//!
//! Anything that needs the snapshots to be gone (removing an image: a
//! container's snapshot stands on the image's layers) waits for the
//! reaper first ([`Reaper::flush`]).

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;

use berth_image::ImageStore;

use super::{ContainerError, lock};

/// fsyncs of one directory, shared by the callers that ask at the same
/// time (group commit): a caller returns once an fsync that started after
/// its request has finished. While one fsync runs, the callers that come
/// meanwhile wait for it and are all covered by the next one.
#[derive(Debug, Default)]
pub(crate) struct GroupSync {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Tickets handed out, one per call.
    requested: u64,
    /// Every ticket up to this one is covered by a finished fsync.
    synced: u64,
    /// An fsync is running.
    running: bool,
    /// Recent failed fsyncs: the tickets each covered and the error.
    failures: VecDeque<(u64, u64, String)>,
}

/// How many failed fsyncs are remembered for callers that wake late.
const FAILURES_KEPT: usize = 64;

impl GroupSync {
    /// Returns once everything renamed or created in `dir` before the call
    /// is durable.
    pub(crate) fn sync(&self, dir: &Path) -> std::io::Result<()> {
        let mut s = lock(&self.state);
        s.requested += 1;
        let ticket = s.requested;
        loop {
            if s.synced >= ticket {
                return match s
                    .failures
                    .iter()
                    .find(|(from, to, _)| (*from..=*to).contains(&ticket))
                {
                    Some((_, _, message)) => Err(std::io::Error::other(message.clone())),
                    None => Ok(()),
                };
            }
            if s.running {
                s = self
                    .done
                    .wait(s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            // Lead: one fsync for every ticket handed out so far.
            s.running = true;
            let (from, upto) = (s.synced + 1, s.requested);
            drop(s);
            let result = fs_err::File::open(dir).and_then(|f| f.sync_all());
            s = lock(&self.state);
            s.running = false;
            s.synced = upto;
            if let Err(e) = result {
                if s.failures.len() >= FAILURES_KEPT {
                    s.failures.pop_front();
                }
                s.failures.push_back((from, upto, e.to_string()));
            }
            self.done.notify_all();
        }
    }
}

/// The containers an `rm` is working on (dockerd's `RemovalInProgress`):
/// from the moment a removal has found its container until it returns, a
/// second removal of the same container is refused with dockerd's 409
/// instead of racing the first through its kill and its checks.
#[derive(Debug, Default)]
pub(crate) struct InProgress {
    ids: Mutex<HashSet<String>>,
}

/// A removal in progress; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    set: &'a InProgress,
    id: String,
}

impl InProgress {
    /// Marks container `id` as being removed, or refuses with dockerd's
    /// words naming it as the user did (`name`).
    pub(crate) fn claim(&self, id: &str, name: &str) -> Result<Claim<'_>, ContainerError> {
        if !lock(&self.ids).insert(id.to_owned()) {
            return Err(ContainerError::Conflict {
                message: format!("removal of container {name} is already in progress"),
            });
        }
        Ok(Claim {
            set: self,
            id: id.to_owned(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(&self.set.ids).remove(&self.id);
    }
}

/// What a removed container leaves for the [`Reaper`].
#[derive(Debug)]
pub(crate) struct Leftovers {
    /// The container ID: the key of its writable snapshot.
    pub(crate) id: String,
    /// Its bundle and rootfs mount point in the exec root (unmounted).
    pub(crate) exec_dir: PathBuf,
    /// Its renamed directory in the data root (`None`: there was none).
    pub(crate) doomed: Option<PathBuf>,
}

/// Deletes the leftovers of removed containers on a thread of its own,
/// in batches. Started on first use; [`Reaper::close`] finishes the queue
/// and ends it.
#[derive(Debug, Default)]
pub(crate) struct Reaper {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<ReapState>,
    /// Work was queued, or the reaper is closing.
    wake: Condvar,
    /// The queue is empty and nothing is being deleted.
    idle: Condvar,
}

#[derive(Debug, Default)]
struct ReapState {
    queue: Vec<Leftovers>,
    /// A batch is being deleted.
    working: bool,
    closed: bool,
}

impl Reaper {
    /// Queues `leftovers`. Without a thread (it could not be started, or
    /// the reaper is closed) they are deleted here and now.
    pub(crate) fn push(&self, leftovers: Leftovers, images: &Weak<ImageStore>) {
        {
            let mut s = lock(&self.shared.state);
            if !s.closed && self.ensure_thread(images) {
                s.queue.push(leftovers);
                self.shared.wake.notify_one();
                return;
            }
        }
        delete(vec![leftovers], images);
    }

    /// Starts the thread if it is not running; false if it cannot run.
    fn ensure_thread(&self, images: &Weak<ImageStore>) -> bool {
        let mut thread = lock(&self.thread);
        if thread.is_some() {
            return true;
        }
        let shared = Arc::clone(&self.shared);
        let images = images.clone();
        match std::thread::Builder::new()
            .name("berth-reaper".to_owned())
            .spawn(move || run(&shared, &images))
        {
            Ok(handle) => {
                *thread = Some(handle);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the thread that deletes removed containers' files; deleting them in the request");
                false
            }
        }
    }

    /// Blocks until everything queued so far is deleted.
    pub(crate) fn flush(&self) {
        let mut s = lock(&self.shared.state);
        while !s.queue.is_empty() || s.working {
            s = self
                .shared
                .idle
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Deletes what is queued and ends the thread.
    pub(crate) fn close(&self) {
        lock(&self.shared.state).closed = true;
        self.shared.wake.notify_all();
        if let Some(handle) = lock(&self.thread).take() {
            let _ = handle.join();
        }
    }
}

fn run(shared: &Shared, images: &Weak<ImageStore>) {
    loop {
        let batch = {
            let mut s = lock(&shared.state);
            while s.queue.is_empty() && !s.closed {
                s = shared
                    .wake
                    .wait(s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if s.queue.is_empty() {
                shared.idle.notify_all();
                return;
            }
            s.working = true;
            std::mem::take(&mut s.queue)
        };
        delete(batch, images);
        let mut s = lock(&shared.state);
        s.working = false;
        if s.queue.is_empty() {
            shared.idle.notify_all();
        }
    }
}

/// Deletes a batch: the snapshots with one metadata write, then the
/// directories. Failures are logged; what is left is found again at the
/// next start.
fn delete(batch: Vec<Leftovers>, images: &Weak<ImageStore>) {
    if let Some(store) = images.upgrade() {
        let keys: Vec<String> = batch.iter().map(|l| l.id.clone()).collect();
        match super::image_mounts::remove_snapshots(&store, &keys) {
            Ok(removed) => {
                for (id, r) in keys.iter().zip(removed.results) {
                    if let Err(e) = r
                        && e.class() != berth_image::ErrorClass::NotFound
                    {
                        tracing::warn!(id, error = %e, "cannot remove a removed container's snapshot");
                    }
                }
                // Under the store's operation lock, which an `rmi` holds
                // while it waits for this thread (`Reaper::flush`): on a
                // thread of its own.
                if !removed.unused.is_empty() {
                    let store = std::sync::Arc::clone(&store);
                    let spawned = std::thread::Builder::new()
                        .name("berth-layers".to_owned())
                        .spawn(move || super::image_mounts::release(&store, &removed.unused));
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot start the thread that removes unused layers; they go at the next start");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot remove removed containers' snapshots");
            }
        }
    }
    for l in batch {
        for dir in std::iter::once(&l.exec_dir).chain(l.doomed.as_ref()) {
            if let Err(e) = fs_err::remove_dir_all(dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(id = l.id, error = %e, "cannot delete a removed container's files");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn group_sync_covers_every_caller() {
        let dir = tempfile::tempdir().unwrap();
        let sync = Arc::new(GroupSync::default());
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (sync, barrier) = (Arc::clone(&sync), Arc::clone(&barrier));
                let dir = dir.path().to_owned();
                std::thread::spawn(move || {
                    barrier.wait();
                    sync.sync(&dir)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let s = lock(&sync.state);
        assert_eq!((s.requested, s.synced, s.running), (8, 8, false));
    }

    #[test]
    fn group_sync_reports_a_failure_to_the_callers_it_covered() {
        let dir = tempfile::tempdir().unwrap();
        let sync = GroupSync::default();
        let missing = dir.path().join("missing");
        let e = sync.sync(&missing).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        sync.sync(dir.path()).unwrap();
    }

    #[test]
    fn reaper_deletes_in_the_background_and_flush_waits() {
        let dir = tempfile::tempdir().unwrap();
        let reaper = Reaper::default();
        let mut dirs = Vec::new();
        for i in 0..5 {
            let exec_dir = dir.path().join(format!("exec-{i}"));
            let doomed = dir.path().join(format!(".removing-{i}"));
            for d in [&exec_dir, &doomed] {
                fs_err::create_dir_all(d.join("sub")).unwrap();
                fs_err::write(d.join("sub/file"), b"x").unwrap();
            }
            reaper.push(
                Leftovers {
                    id: i.to_string(),
                    exec_dir: exec_dir.clone(),
                    doomed: Some(doomed.clone()),
                },
                &Weak::new(),
            );
            dirs.extend([exec_dir, doomed]);
        }
        reaper.flush();
        for d in &dirs {
            assert!(!d.exists(), "{} left", d.display());
        }
        reaper.close();
        // Closed: deleted right away.
        let late = dir.path().join("late");
        fs_err::create_dir_all(&late).unwrap();
        reaper.push(
            Leftovers {
                id: "late".into(),
                exec_dir: late.clone(),
                doomed: None,
            },
            &Weak::new(),
        );
        assert!(!late.exists());
    }
}
