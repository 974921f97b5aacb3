//! The container's terminal and the end of an auto-removed container:
//! `resize` (docker's `POST /containers/{id}/resize`) and removing all of
//! an `AutoRemove` container (mount, snapshot, bundle, document, log) at
//! its exit.

use std::sync::{Arc, Weak};

use berth_image::ImageStore;
use berth_shim_proto::Request;

use super::{ContainerError, Containers, Inner, Status, lock, resolve, shim};

impl Containers {
    /// Gives the service the engine's image store, so an auto-removed
    /// container's snapshot goes at its exit rather than at the next call
    /// that has the store. Held weakly: the image service owns it.
    pub fn set_image_store(&self, store: &Arc<ImageStore>) {
        let _ = self.inner.image_store.set(Arc::downgrade(store));
    }

    /// Sets the size of the container's terminal (`height` rows, `width`
    /// columns). As dockerd: a container that is not running is a
    /// conflict; one without a terminal has nothing to resize (success).
    pub fn resize(&self, id_or_name: &str, height: u16, width: u16) -> Result<(), ContainerError> {
        let c = {
            let table = lock(&self.inner.table);
            resolve(&table, id_or_name)?.clone()
        };
        let not_running = || ContainerError::Conflict {
            message: format!("Container {} is not running", c.id),
        };
        if c.state.status != Status::Running {
            return Err(not_running());
        }
        // containerd's shim ignores a resize of a process without a
        // console, so dockerd answers it with success: do the same.
        let resized = || {
            let size = [("height", height.to_string()), ("width", width.to_string())];
            self.inner.emit(&c, "resize", &size);
        };
        if !c.process.tty {
            resized();
            return Ok(());
        }
        let req = Request::Resize {
            exec_id: None,
            width,
            height,
        };
        match shim::request(&self.inner.shim_dir(&c.id), &req) {
            Ok(_) => {
                resized();
                Ok(())
            }
            // It exited meanwhile (its shim may be gone already).
            Err(_) if self.exiting(&c.id) => Err(not_running()),
            Err(e) => Err(e),
        }
    }
}

impl Inner {
    /// Removes what is left of an auto-removed container after its exit:
    /// the snapshot (the rootfs is unmounted already), the bundle, the
    /// stored document and the log. Failures are logged: the container
    /// goes from the table anyway, as dockerd's AutoRemove, and a snapshot
    /// that could not be removed here is retried later.
    pub(super) fn remove_auto_removed(&self, id: &str) {
        let store = self.image_store.get().and_then(Weak::upgrade);
        match store {
            Some(store) => match super::image_mounts::remove_snapshots_of(&store, id) {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(id, error = %e, "cannot remove an auto-removed container's snapshot");
                    lock(&self.stale_snapshots).push(id.to_owned());
                }
            },
            None => lock(&self.stale_snapshots).push(id.to_owned()),
        }
        let exec_dir = self.exec_dir(id);
        if let Err(e) = fs_err::remove_dir_all(&exec_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(id, error = %e, "cannot remove an auto-removed container's bundle");
        }
        // The document and the log (`<data-root>/containers/<id>/`).
        // Auto-removed containers never needed to outlive a reboot.
        if let Err(e) = self.store.remove(id, super::store::Durability::UntilReboot) {
            tracing::error!(id, error = %e, "cannot auto-remove a container");
        }
    }
}
