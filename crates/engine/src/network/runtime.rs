//! The runtime part of a network: its endpoints and the addresses they
//! hold, in `<data-root>/networks/runtime/<id>.json`, apart from the
//! network's document.
//!
//! Starting and stopping a container changes only this part. It is
//! written atomically (temp file and rename) but without fsync: it must
//! survive a crash of the daemon, whose running containers keep their
//! addresses, not a power loss, after which no container runs and every
//! endpoint is stale anyway ([`super::Networks::release_stale`]). The
//! network's document (its configuration) is still written durably, so a
//! power loss at any moment loses no network; a runtime file that is
//! missing, unreadable or for other subnets is ignored, and the document's
//! own endpoints and allocations (as of its last durable write) count.
//! Two fsyncs per container start and stop cost milliseconds on a busy
//! disk: the bulk of berth's network setup time before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_net::ipam::Pool;
use serde::{Deserialize, Serialize};

use super::model::{ActiveEndpoint, Network};
use super::{NetworkError, Result, io};

/// What a runtime file holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RuntimeState {
    pools: Vec<Pool>,
    #[serde(default)]
    endpoints: BTreeMap<String, ActiveEndpoint>,
}

/// The directory of runtime files, under the networks' directory.
pub(super) fn dir(networks_dir: &Path) -> PathBuf {
    networks_dir.join("runtime")
}

fn path(networks_dir: &Path, id: &str) -> PathBuf {
    dir(networks_dir).join(format!("{id}.json"))
}

/// Writes `net`'s endpoints and allocations (atomically, no fsync).
pub(super) fn save(networks_dir: &Path, net: &Network) -> Result<()> {
    use std::io::Write;
    let dir = dir(networks_dir);
    let path = path(networks_dir, &net.id);
    let tmp = dir.join(format!(".{}.json.tmp-{}", net.id, std::process::id()));
    let state = RuntimeState {
        pools: net.pools.clone(),
        endpoints: net.endpoints.clone(),
    };
    let bytes = serde_json::to_vec(&state)
        .map_err(|e| NetworkError::Internal(format!("cannot serialise network state: {e}")))?;
    let write = || -> std::io::Result<()> {
        let mut f = match fs_err::File::create(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs_err::create_dir_all(&dir)?;
                fs_err::File::create(&tmp)?
            }
            Err(e) => return Err(e),
        };
        f.write_all(&bytes)?;
        fs_err::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = fs_err::remove_file(&tmp);
        io(&path, e)
    })
}

/// Takes the endpoints and allocations of `net`'s runtime file, if there
/// is a readable one for the same subnets.
pub(super) fn load(networks_dir: &Path, net: &mut Network) {
    let path = path(networks_dir, &net.id);
    let bytes = match fs_err::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read a network's runtime state");
            return;
        }
    };
    let state: RuntimeState = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable network runtime state");
            return;
        }
    };
    let same_subnets = state.pools.len() == net.pools.len()
        && state
            .pools
            .iter()
            .zip(&net.pools)
            .all(|(a, b)| a.subnet == b.subnet && a.gateway == b.gateway && a.range == b.range);
    if same_subnets {
        net.pools = state.pools;
        net.endpoints = state.endpoints;
    }
}

/// Removes `id`'s runtime file (the network is gone).
pub(super) fn remove(networks_dir: &Path, id: &str) {
    let path = path(networks_dir, id);
    if let Err(e) = fs_err::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a network's runtime state");
    }
}

/// Removes interrupted writes and the files of networks not in `known`.
pub(super) fn sweep(networks_dir: &Path, known: &dyn Fn(&str) -> bool) {
    let Ok(entries) = fs_err::read_dir(dir(networks_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name.starts_with('.') || name.strip_suffix(".json").is_none_or(|id| !known(id));
        if stale {
            let _ = fs_err::remove_file(entry.path());
        }
    }
}
