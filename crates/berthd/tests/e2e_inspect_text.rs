//! `inspect` prints an object's keys in the daemon's order (a Go struct's
//! declared order, maps sorted), so `berth inspect` of a container, an image
//! and a volume prints the same text as the docker 28 CLI against the same
//! daemon, and `{{json .Config}}` keeps that order too.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::clients::{BERTH, DOCKER, ok};
use common::{Daemon, import_busybox};

#[test]
fn inspect_text_matches_docker() {
    let d = Daemon::start();
    import_busybox(&d);
    ok(
        &d,
        BERTH,
        &[
            "volume",
            "create",
            "--label",
            "b=2",
            "--label",
            "a=1",
            "vol-order",
        ],
    );
    let id = ok(
        &d,
        BERTH,
        &[
            "create",
            "--name",
            "order",
            "-v",
            "vol-order:/data",
            "-e",
            "Z=1",
            "busybox",
            "true",
        ],
    );
    let id = id.trim();
    for args in [
        vec!["inspect", "order"],
        vec!["container", "inspect", id],
        vec!["image", "inspect", "busybox"],
        vec!["inspect", "--type", "image", "busybox"],
        vec!["volume", "inspect", "vol-order"],
        vec!["inspect", "-f", "{{json .Config}}", "order"],
        vec!["inspect", "-f", "{{json .State}} {{json .Mounts}}", "order"],
        vec!["volume", "inspect", "-f", "{{json .}}", "vol-order"],
        vec![
            "image",
            "inspect",
            "-f",
            "{{json .RootFS}} {{json .Config}}",
            "busybox",
        ],
    ] {
        let berth = ok(&d, BERTH, &args);
        assert!(berth.len() > 2, "{args:?}: {berth:?}");
        assert_eq!(berth, ok(&d, DOCKER, &args), "{args:?}");
    }
    // A container document starts with Id, Created, Path, as docker's does.
    let text = ok(&d, BERTH, &["inspect", "order"]);
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("        \"") && l.contains("\": "))
        .take(3)
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(keys, ["Id", "Created", "Path"], "{text}");
    ok(&d, BERTH, &["rm", "order"]);
    ok(&d, BERTH, &["volume", "rm", "vol-order"]);
}
