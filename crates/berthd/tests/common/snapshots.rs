//! The snapshots of a test daemon's data root, read from the snapshotter's
//! `metadata.json` (what the tests check image layers and views with).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::Daemon;

/// The snapshots of the daemon's data root: key → (kind, directory).
pub(crate) fn snapshots(d: &Daemon) -> BTreeMap<String, (String, PathBuf)> {
    let root = d.data_root().join("snapshots");
    let meta: Value =
        serde_json::from_str(&fs_err::read_to_string(root.join("metadata.json")).unwrap()).unwrap();
    meta["snapshots"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (
                    v["kind"].as_str().unwrap().to_owned(),
                    root.join(v["id"].as_u64().unwrap().to_string()),
                ),
            )
        })
        .collect()
}

/// The keys of the committed snapshots (image layers).
pub(crate) fn committed(d: &Daemon) -> Vec<String> {
    snapshots(d)
        .into_iter()
        .filter(|(_, (kind, _))| kind == "committed")
        .map(|(k, _)| k)
        .collect()
}

/// [`super::commit_layer`] of `script` run in `base`, as image `image`; the
/// one committed snapshot the commit added (the image's own layer).
pub(crate) fn commit_own_layer(
    d: &Daemon,
    name: &str,
    base: &str,
    script: &str,
    image: &str,
) -> String {
    let before = committed(d);
    super::commit_layer(d, name, base, script, image);
    let own: Vec<String> = committed(d)
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    own[0].clone()
}
