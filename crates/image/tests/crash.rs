//! Crash safety: a child process imports, tags, saves, loads and deletes
//! images in a loop on one data root and is killed with SIGKILL at a
//! random moment, several times. After each kill the store must open,
//! `gc` must succeed, and every image left must be whole: its blobs
//! present and matching their digests, its layer snapshots committed, its
//! tags pointing at existing images, no temp files, no orphan snapshot
//! directories.
//!
//! The child is this test binary re-run with `--exact crash_child_helper`
//! and `BERTH_IMAGE_CRASH_ROOT` set; without that variable the helper
//! test has nothing to do and returns at once.

// Helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use berth_image::ImageStore;
use berth_image::snapshot::{Kind, chain_ids};
use berth_image::store::{ImageUsers, ImportOptions};
use common::{E, gzip, reference, tar};

const ENV: &str = "BERTH_IMAGE_CRASH_ROOT";

#[test]
fn crash_child_helper() {
    let Ok(root) = std::env::var(ENV) else {
        return;
    };
    let store = ImageStore::open(&root).unwrap();
    let mut i: u64 = std::process::id().into();
    loop {
        i += 1;
        let body = format!("image {i}\n").repeat(2000);
        let layer = gzip(&tar(&[
            E::Dir("d/"),
            E::File("d/f", body.as_bytes()),
            E::File("shared", b"same in all"),
        ]));
        let name = format!("crash/img:{}", i % 5);
        let id = store
            .import_rootfs_tar(
                &layer[..],
                &ImportOptions {
                    reference: Some(reference(&name)),
                    ..ImportOptions::default()
                },
            )
            .unwrap();
        store
            .tag(&id.to_string(), &reference(&format!("crash/other:{i}")))
            .unwrap();
        if i.is_multiple_of(3) {
            let mut archive = Vec::new();
            store.save(&[&name], &mut archive).unwrap();
            store
                .delete(&id.to_string(), true, ImageUsers::none)
                .unwrap();
            store.load(&archive[..]).unwrap();
        }
        if i.is_multiple_of(4) {
            let _ = store.delete(&format!("crash/other:{}", i - 1), false, ImageUsers::none);
        }
    }
}

fn check_consistent(root: &std::path::Path) {
    let store = ImageStore::open(root).expect("store opens after a crash");
    store.gc().expect("gc after a crash");
    assert_eq!(
        fs_err::read_dir(root.join("content/ingest"))
            .unwrap()
            .count(),
        0,
        "temp files left"
    );
    let snaps = store.snapshots().list();
    assert!(
        snaps.iter().all(|(k, _)| !k.starts_with("extract-")),
        "unpacks in progress left: {snaps:?}"
    );
    let ids: Vec<u64> = snaps.iter().map(|(_, i)| i.id).collect();
    for e in fs_err::read_dir(root.join("snapshots")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Ok(n) = name.parse::<u64>() {
            assert!(ids.contains(&n), "orphan snapshot directory {name}");
        }
    }
    for rec in store.records().unwrap() {
        let c = store.content();
        c.verify(&rec.id).unwrap();
        c.verify(&rec.manifest.digest).unwrap();
        for l in &rec.layers {
            c.verify(&l.digest).unwrap();
        }
        for chain in chain_ids(&rec.diff_ids) {
            let info = store.snapshots().stat(&chain.to_string()).unwrap();
            assert_eq!(info.kind, Kind::Committed);
        }
    }
    for img in store.list().unwrap() {
        for t in img.repo_tags {
            assert_eq!(store.resolve(&t.to_string()).unwrap(), img.id);
        }
    }
    // Every blob belongs to an image (gc ran).
    let used: std::collections::BTreeSet<_> = store
        .records()
        .unwrap()
        .into_iter()
        .flat_map(|r| {
            let mut v = vec![r.id.clone(), r.manifest.digest.clone()];
            v.extend(r.layers.iter().map(|l| l.digest.clone()));
            v
        })
        .collect();
    for b in store.content().list().unwrap() {
        assert!(
            used.contains(&b.digest),
            "unreferenced blob {} after gc",
            b.digest
        );
    }
}

#[test]
fn kill_9_during_store_operations_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let exe = std::env::current_exe().unwrap();
    let mut delays = [40u64, 150, 75, 300, 20, 220, 110, 500].into_iter().cycle();
    for round in 0..8 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_helper",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(ENV, &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delays.next().unwrap_or(100)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "round {round}: the child exited early (it loops forever)"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        check_consistent(&root);
    }
    // And work continues on the recovered store.
    let store = ImageStore::open(&root).unwrap();
    let id = store
        .import_rootfs_tar(
            &tar(&[E::File("x", b"after")])[..],
            &ImportOptions::default(),
        )
        .unwrap();
    store
        .delete(&id.to_string(), false, ImageUsers::none)
        .unwrap();
}
