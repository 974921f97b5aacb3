//! The mount fields of a container: `HostConfig.Binds`, `Mounts`,
//! `VolumesFrom`, `VolumeDriver` and `Config.Volumes` of a create request
//! into the engine's options, and back into inspect (`HostConfig` as
//! given, the `Mounts` array as dockerd shows it).

use berth_api_types::container as api;
use berth_engine::container::mounts::{MountKind, MountOptions, MountPoint, MountRequest};
use serde_json::{Value, json};

use crate::error::ApiError;

/// The create body's mount fields; a `Mounts` entry that is not a mount
/// object is refused as dockerd's JSON decoding refuses it.
pub(super) fn options(
    host: Option<&api::CreateHostConfig>,
    volumes: Option<&std::collections::BTreeMap<String, Value>>,
) -> Result<MountOptions, ApiError> {
    let mut o = MountOptions {
        volumes: volumes
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default(),
        ..MountOptions::default()
    };
    let Some(h) = host.map(|h| &h.mounts) else {
        return Ok(o);
    };
    o.binds = h.binds.clone().unwrap_or_default();
    o.volumes_from = h.volumes_from.clone().unwrap_or_default();
    o.volume_driver.clone_from(&h.volume_driver);
    for m in h.mounts.iter().flatten() {
        let m: MountRequest = serde_json::from_value(m.clone()).map_err(|e| {
            ApiError::invalid_argument(format!("invalid JSON: HostConfig.Mounts: {e}"))
        })?;
        o.mounts.push(m);
    }
    Ok(o)
}

/// Writes the stored mount options into inspect's `HostConfig` (`null`
/// for none, as dockerd).
pub(super) fn host_config(o: &MountOptions, v: &mut Value) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    let list = |l: &[String]| {
        if l.is_empty() { Value::Null } else { json!(l) }
    };
    map.insert("Binds".into(), list(&o.binds));
    map.insert("VolumesFrom".into(), list(&o.volumes_from));
    map.insert("VolumeDriver".into(), json!(o.volume_driver));
    if !o.mounts.is_empty() {
        map.insert("Mounts".into(), json!(o.mounts));
    }
}

/// One entry of inspect's (and the list's) `Mounts`: docker's
/// `types.MountPoint` (`Name` and `Driver` only for volumes).
pub(crate) fn mount_point(p: &MountPoint) -> api::MountPoint {
    let volume = p.kind == MountKind::Volume;
    api::MountPoint {
        kind: p.kind.as_str().to_owned(),
        name: volume.then(|| p.name.clone()),
        source: p.source.clone(),
        destination: p.destination.clone(),
        driver: volume.then(|| p.driver.clone()),
        mode: p.mode.clone(),
        rw: p.rw,
        propagation: p.propagation.clone(),
    }
}

/// Inspect's `Mounts`, in dockerd's order (by destination).
pub(crate) fn mounts(points: &[MountPoint]) -> Vec<api::MountPoint> {
    let mut sorted: Vec<&MountPoint> = points.iter().collect();
    sorted.sort_by(|a, b| a.destination.cmp(&b.destination));
    sorted.into_iter().map(mount_point).collect()
}

/// `Config.Volumes` in inspect: the anonymous volume paths asked for with
/// `-v /path` and the image's `VOLUME`s (`null` for none).
pub(super) fn config_volumes(
    o: &MountOptions,
    points: &[MountPoint],
) -> Option<std::collections::BTreeMap<String, Value>> {
    let mut out: std::collections::BTreeMap<String, Value> =
        o.volumes.iter().map(|v| (v.clone(), json!({}))).collect();
    for p in points {
        let from_mount_flag = o
            .mounts
            .iter()
            .any(|m| berth_engine::container::mounts::clean(&m.target) == p.destination);
        if p.anonymous && !from_mount_flag {
            out.entry(p.destination.clone())
                .or_insert_with(|| json!({}));
        }
    }
    (!out.is_empty()).then_some(out)
}
