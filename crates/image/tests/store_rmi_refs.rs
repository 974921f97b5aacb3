//! `rmi` of images with child images (committed on them) and of images
//! with digest references, as dockerd's daemon/images/image_delete.go
//! does it: the dependent-child conflict, the untag-only removal of a
//! parent's last tag, the pruning of untagged parents, and digest
//! references counted in the single-reference rule. Runs as root (overlay
//! snapshots).

#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_image::store::{CommitOptions, DeleteItem, ImageUsers, ImportOptions};
use berth_image::{ErrorClass, ImageStore};
use common::{E, tar};

fn r(s: &str) -> Reference {
    common::reference(s)
}

fn no_containers(_: &Digest) -> ImageUsers {
    ImageUsers::default()
}

fn import(store: &ImageStore, tag: &str, cmd: &str) -> Digest {
    let rootfs = tar(&[E::Dir("bin/"), E::File("bin/hello", b"hi\n")]);
    store
        .import_rootfs_tar(
            &rootfs[..],
            &ImportOptions {
                changes: vec![cmd.to_owned()],
                reference: Some(r(tag)),
                created: Some("2024-01-02T03:04:05Z".into()),
                ..ImportOptions::default()
            },
        )
        .unwrap()
}

/// `docker commit` of a container of `parent` that added one file.
fn commit(store: &ImageStore, parent: &str, key: &str, tag: Option<&str>) -> Digest {
    let top = store
        .inspect(parent)
        .unwrap()
        .record
        .top_chain_id()
        .unwrap()
        .to_string();
    store.snapshots().prepare(key, Some(&top)).unwrap();
    let upper = store.snapshots().upper_dir(key).unwrap();
    fs_err::write(upper.join(key), key.as_bytes()).unwrap();
    let id = store
        .commit(
            Some(parent),
            key,
            &CommitOptions {
                reference: tag.map(r),
                created: Some("2024-02-02T00:00:00Z".into()),
                ..CommitOptions::default()
            },
        )
        .unwrap();
    store.snapshots().remove(key).unwrap();
    id
}

fn deleted_images(out: &[DeleteItem], ids: &[&Digest]) -> Vec<Digest> {
    out.iter()
        .filter_map(|i| match i {
            DeleteItem::Deleted(d) if ids.contains(&d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_image_with_children_is_a_hard_conflict_by_id_and_loses_only_its_tag_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let base = import(&store, "base:1", "CMD base");
    let child = commit(&store, "base:1", "c1", Some("child:1"));
    let short = base.hex()[..12].to_owned();
    let hard = format!(
        "conflict: unable to delete {short} (cannot be forced) - image has dependent child images"
    );
    // By ID, forced or not, and before the running container's conflict.
    let running = |_: &Digest| ImageUsers {
        running: Some("c0ffee0123456789".into()),
        ..ImageUsers::default()
    };
    for force in [false, true] {
        let e = store.delete(&short, force, no_containers).unwrap_err();
        assert_eq!(e.to_string(), hard);
        assert_eq!(e.class(), ErrorClass::Conflict);
        let e = store.delete(&base.to_string(), force, running).unwrap_err();
        assert_eq!(e.to_string(), hard);
    }
    // Also before the several-tags conflict.
    store.tag(&short, &r("base:2")).unwrap();
    let e = store.delete(&short, false, no_containers).unwrap_err();
    assert_eq!(e.to_string(), hard);
    assert_eq!(
        store.delete("base:2", false, no_containers).unwrap(),
        [DeleteItem::Untagged("base:2".into())]
    );
    // By name, the last tag goes and the image stays, untagged (dockerd
    // does so quietly).
    assert_eq!(
        store.delete("base:1", false, no_containers).unwrap(),
        [DeleteItem::Untagged("base:1".into())]
    );
    let kept = store.inspect(&base.to_string()).unwrap();
    assert!(kept.repo_tags.is_empty(), "{:?}", kept.repo_tags);
    // Still a conflict by ID.
    let e = store.delete(&short, true, no_containers).unwrap_err();
    assert_eq!(e.to_string(), hard);

    // The child goes, and its untagged parent with it (dockerd prunes it).
    let out = store.delete("child:1", false, no_containers).unwrap();
    assert_eq!(out[0], DeleteItem::Untagged("child:1".into()));
    assert_eq!(deleted_images(&out, &[&child, &base]), [child, base]);
    assert!(store.records().unwrap().is_empty());
    assert!(store.snapshots().list().is_empty());
    assert!(store.content().list().unwrap().is_empty());
}

#[test]
fn pruning_stops_at_a_parent_something_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let base = import(&store, "base", "CMD base");
    let mid = commit(&store, "base", "m", None);
    let top = commit(&store, &mid.to_string(), "t", Some("top"));
    let other = commit(&store, &mid.to_string(), "o", Some("other"));
    // `mid` has two children and no tag: deleting one child keeps it.
    let out = store.delete("top", false, no_containers).unwrap();
    assert_eq!(deleted_images(&out, &[&top, &mid, &base]), [top]);
    // The last child goes: `mid` goes with it, `base` (tagged) stays.
    let out = store.delete("other", false, no_containers).unwrap();
    assert_eq!(
        deleted_images(&out, &[&other, &mid, &base]),
        [other, mid.clone()]
    );
    assert_eq!(store.records().unwrap().len(), 1);
    store.inspect("base").unwrap();

    // A stopped container of the untagged parent keeps it too.
    let mid = commit(&store, "base", "m2", None);
    let top = commit(&store, &mid.to_string(), "t2", Some("top"));
    let m = mid.clone();
    let users = move |id: &Digest| ImageUsers {
        stopped: (id == &m).then(|| "c0ffee0123456789".to_owned()),
        ..ImageUsers::default()
    };
    let out = store.delete("top", false, users).unwrap();
    assert_eq!(deleted_images(&out, &[&top, &mid]), [top]);
    store.inspect(&mid.to_string()).unwrap();
}

#[test]
fn no_prune_keeps_the_untagged_parents() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let base = import(&store, "base", "CMD base");
    let mid = commit(&store, "base", "m", None);
    let top = commit(&store, &mid.to_string(), "t", Some("top"));
    // `docker rmi --no-prune top`: only `top` goes; `mid` is left untagged.
    let out = store
        .delete_keeping_parents("top", false, no_containers)
        .unwrap();
    assert_eq!(deleted_images(&out, &[&top, &mid, &base]), [top]);
    assert_eq!(store.records().unwrap().len(), 2);
    // Then `mid` by ID, with the default pruning: `base` is tagged, stays.
    let out = store
        .delete(&mid.to_string(), false, no_containers)
        .unwrap();
    assert_eq!(deleted_images(&out, &[&mid, &base]), [mid]);
    store.inspect("base").unwrap();
}

#[test]
fn digest_references_count_in_the_single_reference_rule() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let id = import(&store, "app:1", "CMD app");
    let short = id.hex()[..12].to_owned();
    let manifest = store.inspect("app:1").unwrap().record.manifest.digest;
    let digest_ref = r(&format!("app@{manifest}"));
    store.add_digest_reference("app:1", &digest_ref).unwrap();
    assert_eq!(store.digests_of(&id), std::slice::from_ref(&digest_ref));
    assert_eq!(store.inspect("app:1").unwrap().repo_tags, [r("app:1")]);
    assert_eq!(store.resolve(&format!("app@{manifest}")).unwrap(), id);
    // Not a digest reference: refused.
    let e = store
        .add_digest_reference("app:1", &r("app:2"))
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidArgument);

    // One tag and a digest reference of the same repository are a single
    // reference: a stopped container makes removing the tag a conflict.
    let stopped = |_: &Digest| ImageUsers {
        stopped: Some("c0ffee0123456789".into()),
        ..ImageUsers::default()
    };
    let e = store.delete("app:1", false, stopped).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to remove repository reference \"app:1\" (must force) - container c0ffee012345 is using its referenced image {short}"
        )
    );
    // By ID without force: both references go, and the image.
    let out = store.delete(&short, false, no_containers).unwrap();
    assert_eq!(
        out[..3],
        [
            DeleteItem::Untagged("app:1".into()),
            DeleteItem::Untagged(format!("app@{manifest}")),
            DeleteItem::Deleted(id.clone()),
        ]
    );
    assert!(store.records().unwrap().is_empty());

    // The tag removed by name takes its repository's digest references
    // with it; the image goes when nothing else references it.
    let id = import(&store, "app:1", "CMD app");
    let manifest = store.inspect("app:1").unwrap().record.manifest.digest;
    store
        .add_digest_reference("app:1", &r(&format!("app@{manifest}")))
        .unwrap();
    let out = store.delete("app:1", false, no_containers).unwrap();
    assert_eq!(
        out[..3],
        [
            DeleteItem::Untagged("app:1".into()),
            DeleteItem::Untagged(format!("app@{manifest}")),
            DeleteItem::Deleted(id.clone()),
        ]
    );

    // A digest reference of another repository is not a single reference:
    // by ID it needs force; removing the tag by name keeps the image.
    let id = import(&store, "app:1", "CMD app");
    let short = id.hex()[..12].to_owned();
    let manifest = store.inspect("app:1").unwrap().record.manifest.digest;
    let other = format!("localhost:5000/other@{manifest}");
    store.add_digest_reference(&short, &r(&other)).unwrap();
    let e = store.delete(&short, false, no_containers).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )
    );
    // ...and a container does not stop the tag's removal by name.
    assert_eq!(
        store.delete("app:1", false, stopped).unwrap(),
        [DeleteItem::Untagged("app:1".into())]
    );
    assert_eq!(store.digests_of(&id), [r(&other)]);
    // A second tag in the same repository keeps the digest references.
    store.tag(&short, &r("app:1")).unwrap();
    store
        .add_digest_reference(&short, &r(&format!("app@{manifest}")))
        .unwrap();
    store.tag(&short, &r("app:2")).unwrap();
    assert_eq!(
        store.delete("app:1", false, no_containers).unwrap(),
        [DeleteItem::Untagged("app:1".into())]
    );
    assert_eq!(store.digests_of(&id).len(), 2);
    // The digest reference by name: only it goes.
    assert_eq!(
        store.delete(&other, false, no_containers).unwrap(),
        [DeleteItem::Untagged(other.clone())]
    );
    // Forced by ID: every reference goes.
    let out = store.delete(&short, true, no_containers).unwrap();
    assert_eq!(
        out[..3],
        [
            DeleteItem::Untagged("app:2".into()),
            DeleteItem::Untagged(format!("app@{manifest}")),
            DeleteItem::Deleted(id),
        ]
    );
    assert!(store.records().unwrap().is_empty());
    assert!(store.content().list().unwrap().is_empty());

    // Persisted: the digest reference survives a reopen.
    let id = import(&store, "app:1", "CMD app");
    store
        .add_digest_reference("app:1", &r(&format!("app@{manifest}")))
        .unwrap();
    drop(store);
    let store = ImageStore::open(dir.path()).unwrap();
    assert_eq!(store.digests_of(&id).len(), 1);
}
