//! The image store end to end on a throwaway data root: import with
//! `--change`, tags, inspect, history, layer sharing between images,
//! `rmi` semantics (tags, force, in use), cleanup of unreferenced layers,
//! failed imports leaving nothing, persistence and gc. Runs as root.

mod common;

use berth_image::content::BlobInfo;
use berth_image::reference::Reference;
use berth_image::snapshot::Kind;
use berth_image::store::{DeleteItem, ImageUsers, ImportOptions};
use berth_image::{ErrorClass, ImageStore};
use common::{E, gzip, tar};

fn r(s: &str) -> Reference {
    common::reference(s)
}

fn rootfs() -> Vec<u8> {
    tar(&[
        E::Dir("bin/"),
        E::File("bin/hello", b"#!/bin/sh\necho hi\n"),
        E::Dir("etc/"),
        E::File("etc/os-release", b"ID=test\n"),
    ])
}

fn opts(changes: &[&str], reference: Option<&str>) -> ImportOptions {
    ImportOptions {
        changes: changes.iter().map(|s| s.to_string()).collect(),
        reference: reference.map(r),
        created: Some("2024-01-02T03:04:05Z".into()),
        ..ImportOptions::default()
    }
}

fn no_containers(_: &berth_image::digest::Digest) -> ImageUsers {
    ImageUsers::default()
}

#[test]
fn import_inspect_list_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let plain = rootfs();
    let id = store
        .import_rootfs_tar(
            &gzip(&plain)[..],
            &opts(
                &[
                    "CMD [\"/bin/hello\"]",
                    "ENV A=1",
                    "WORKDIR /srv",
                    "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
                ],
                Some("test/imp:1"),
            ),
        )
        .unwrap();
    // Image ID = digest of the config blob, which verifies.
    store.content().verify(&id).unwrap();
    assert!(
        dir.path()
            .join(format!("images/{}.json", id.hex()))
            .exists()
    );

    let d = store.inspect("test/imp:1").unwrap();
    assert_eq!(d.record.id, id);
    let cfg = d.config.config.as_ref().unwrap();
    assert_eq!(cfg.cmd.as_deref().unwrap(), ["/bin/hello"]);
    assert_eq!(cfg.entrypoint.as_deref().unwrap(), ["/bin/sh", "-c"]);
    assert_eq!(cfg.env.as_deref().unwrap(), ["A=1"]);
    assert_eq!(cfg.working_dir.as_deref(), Some("/srv"));
    assert_eq!(d.config.os, "linux");
    let diff_id = berth_image::digest::Digest::sha256_of(&plain);
    assert_eq!(d.config.rootfs.diff_ids, vec![diff_id.clone()]);
    assert_eq!(
        d.record.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(d.repo_tags, vec![r("test/imp:1")]);

    // The manifest blob names the config and the layer.
    let m = store
        .content()
        .read_blob(&d.record.manifest.digest)
        .unwrap();
    let m: berth_image::spec::ImageManifest = serde_json::from_slice(&m).unwrap();
    assert_eq!(m.config.digest, id);
    assert_eq!(m.layers, d.record.layers);

    // Lookups by full ID, bare hex, short prefix, normalised name.
    for name in [
        id.to_string(),
        id.hex().to_owned(),
        id.hex()[..12].to_owned(),
        "docker.io/test/imp:1".to_owned(),
    ] {
        assert_eq!(store.resolve(&name).unwrap(), id, "{name}");
    }
    let by_digest = format!("test/imp@{}", d.record.manifest.digest);
    assert_eq!(store.resolve(&by_digest).unwrap(), id);
    assert!(
        store.resolve(&format!("test/imp@{id}")).is_err(),
        "the config digest is not a manifest digest"
    );
    let e = store.resolve("nope").unwrap_err();
    assert_eq!(e.to_string(), "No such image: nope");
    assert_eq!(e.class(), ErrorClass::NotFound);

    let list = store.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].repo_tags[0].familiar_string(), "test/imp:1");
    assert_eq!(list[0].size, plain.len() as u64);

    let h = store.history(&id.to_string()).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id.as_ref(), Some(&id));
    assert_eq!(h[0].comment, "Imported from -");
    assert_eq!(h[0].size, plain.len() as u64);
    assert_eq!(h[0].created.as_deref(), Some("2024-01-02T03:04:05Z"));

    // The layer is unpacked as the committed snapshot named by its chain ID.
    let snap = store.snapshots().stat(&diff_id.to_string()).unwrap();
    assert_eq!(snap.kind, Kind::Committed);
    let fs = store.snapshots().fs_dir(&snap);
    assert_eq!(
        fs_err::read(fs.join("etc/os-release")).unwrap(),
        b"ID=test\n"
    );

    // repositories.json maps the normalised reference to the ID.
    let repos: serde_json::Value =
        serde_json::from_slice(&fs_err::read(dir.path().join("repositories.json")).unwrap())
            .unwrap();
    assert_eq!(repos["refs"]["docker.io/test/imp:1"], id.to_string());

    // Everything survives a reopen.
    drop(store);
    let store = ImageStore::open(dir.path()).unwrap();
    assert_eq!(store.resolve("test/imp:1").unwrap(), id);
    assert_eq!(store.gc().unwrap(), 0);
}

#[test]
fn layers_are_shared_and_removed_with_the_last_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let a = store
        .import_rootfs_tar(&rootfs()[..], &opts(&["CMD a"], Some("a")))
        .unwrap();
    let b = store
        .import_rootfs_tar(&rootfs()[..], &opts(&["CMD b"], Some("b")))
        .unwrap();
    assert_ne!(a, b);
    let committed: Vec<_> = store
        .snapshots()
        .list()
        .into_iter()
        .filter(|(_, i)| i.kind == Kind::Committed)
        .collect();
    assert_eq!(committed.len(), 1, "one snapshot for the shared layer");
    // One layer blob, two configs, two manifests.
    assert_eq!(store.content().list().unwrap().len(), 5);

    let out = store.delete("a", false, no_containers).unwrap();
    assert_eq!(
        out,
        vec![
            DeleteItem::Untagged("a:latest".into()),
            DeleteItem::Deleted(a.clone())
        ]
    );
    assert_eq!(store.snapshots().list().len(), 1, "still used by b");
    assert_eq!(store.content().list().unwrap().len(), 3);

    let out = store.delete(&b.hex()[..12], false, no_containers).unwrap();
    assert_eq!(out[0], DeleteItem::Untagged("b:latest".into()));
    assert_eq!(out[1], DeleteItem::Deleted(b.clone()));
    assert_eq!(
        out.len(),
        3,
        "the layer's snapshot is reported deleted too: {out:?}"
    );
    assert!(store.snapshots().list().is_empty());
    assert_eq!(store.content().list().unwrap(), Vec::<BlobInfo>::new());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn rmi_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let id = store
        .import_rootfs_tar(&rootfs()[..], &opts(&[], Some("one:1")))
        .unwrap();
    store.tag("one:1", &r("two")).unwrap();
    store
        .tag(&id.to_string(), &r("localhost:5000/three:x"))
        .unwrap();
    assert_eq!(store.inspect("two").unwrap().repo_tags.len(), 3);

    // By ID with several tags: needs force.
    let e = store
        .delete(&id.to_string(), false, no_containers)
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            &id.hex()[..12]
        )
    );
    // By tag with other tags left: only the tag goes.
    assert_eq!(
        store.delete("two", false, no_containers).unwrap(),
        vec![DeleteItem::Untagged("two:latest".into())]
    );
    assert_eq!(
        store
            .delete("localhost:5000/three:x", false, no_containers)
            .unwrap(),
        vec![DeleteItem::Untagged("localhost:5000/three:x".into())]
    );
    // Last tag, but a container uses the image.
    let used = |_: &berth_image::digest::Digest| ImageUsers {
        stopped: Some("c0ffee".to_owned()),
        ..ImageUsers::default()
    };
    let e = store.delete("one:1", false, used).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "conflict: unable to remove repository reference \"one:1\" (must force) - container c0ffee is using its referenced image "
        ),
        "{e}"
    );
    assert_eq!(e.class(), berth_image::ErrorClass::Conflict);
    assert!(store.resolve("one:1").is_ok(), "nothing changed");
    // Forced.
    let out = store.delete("one:1", true, used).unwrap();
    assert_eq!(
        out[..2],
        [
            DeleteItem::Untagged("one:1".into()),
            DeleteItem::Deleted(id.clone())
        ]
    );
    assert!(store.resolve(&id.to_string()).is_err());

    // untag of an unknown tag, tag with a digest.
    assert_eq!(
        store.untag(&r("nope")).unwrap_err().class(),
        ErrorClass::NotFound
    );
    let id2 = store
        .import_rootfs_tar(&rootfs()[..], &opts(&[], None))
        .unwrap();
    let digest_ref = r(&format!("x@{id2}"));
    assert_eq!(
        store
            .tag(&id2.to_string(), &digest_ref)
            .unwrap_err()
            .class(),
        ErrorClass::InvalidArgument
    );
}

/// dockerd's `rmi` conflicts (daemon/images/image_delete.go): a running
/// container created from the image is a conflict `force` does not
/// override, a stopped one needs `force`, and a container that only mounts
/// the image keeps it from losing its last tag by name only.
#[test]
fn rmi_conflicts_as_dockerd() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let ctr = "c0ffee0123456789c0ffee0123456789c0ffee0123456789c0ffee0123456789";
    let users = |running: bool, stopped: bool, mounting: bool| {
        move |_: &berth_image::digest::Digest| ImageUsers {
            running: running.then(|| ctr.to_owned()),
            stopped: stopped.then(|| ctr.to_owned()),
            mounting: mounting.then(|| ctr.to_owned()),
        }
    };
    let running = users(true, false, false);
    let stopped = users(false, true, false);
    let mounting = users(false, false, true);
    let image = |tag: &str, cmd: &str| {
        store
            .import_rootfs_tar(&rootfs()[..], &opts(&[cmd], Some(tag)))
            .unwrap()
    };

    // A running container's image: by ID never, forced or not.
    let id = image("run:1", "CMD run");
    let short = id.hex()[..12].to_owned();
    let hard = format!(
        "conflict: unable to delete {short} (cannot be forced) - image is being used by running container c0ffee012345"
    );
    for force in [false, true] {
        let e = store.delete(&short, force, running).unwrap_err();
        assert_eq!(e.to_string(), hard);
        assert_eq!(e.class(), ErrorClass::Conflict);
    }
    // By name without force: the reference conflict; with force the tag
    // goes and the image stays, untagged.
    let e = store.delete("run:1", false, running).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to remove repository reference \"run:1\" (must force) - container c0ffee012345 is using its referenced image {short}"
        )
    );
    assert_eq!(
        store.delete("run:1", true, running).unwrap(),
        [DeleteItem::Untagged("run:1".into())]
    );
    let kept = store.inspect(&id.to_string()).unwrap();
    assert!(kept.repo_tags.is_empty(), "{:?}", kept.repo_tags);
    // Several tags and a running container: still the hard conflict.
    store.tag(&short, &r("run:2")).unwrap();
    store.tag(&short, &r("run:3")).unwrap();
    let e = store.delete(&short, false, running).unwrap_err();
    assert_eq!(e.to_string(), hard);

    // A stopped container's image: by ID it needs force (after the
    // tags' conflict), and force removes it.
    let id = image("stop:1", "CMD stop");
    let short = id.hex()[..12].to_owned();
    store.tag(&short, &r("stop:2")).unwrap();
    let e = store.delete(&short, false, stopped).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )
    );
    store.delete("stop:2", false, stopped).unwrap();
    let e = store.delete(&short, false, stopped).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is being used by stopped container c0ffee012345"
        )
    );
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(
        store.delete(&short, true, stopped).unwrap()[..2],
        [
            DeleteItem::Untagged("stop:1".into()),
            DeleteItem::Deleted(id)
        ]
    );

    // An image only mounted: by name its last tag needs force; by ID it
    // goes without.
    let id = image("mnt:1", "CMD mnt");
    let short = id.hex()[..12].to_owned();
    let e = store.delete("mnt:1", false, mounting).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("conflict: unable to remove repository reference \"mnt:1\" (must force)"),
        "{e}"
    );
    assert_eq!(
        store.delete(&short, false, mounting).unwrap()[..2],
        [
            DeleteItem::Untagged("mnt:1".into()),
            DeleteItem::Deleted(id)
        ]
    );
}

#[test]
fn failed_imports_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let evil = tar(&[E::File("ok", b"x"), E::File("../../escape", b"evil")]);
    let e = store
        .import_rootfs_tar(&evil[..], &opts(&[], Some("evil")))
        .unwrap_err();
    assert!(e.to_string().contains("`../../escape`"), "{e}");
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    assert!(store.content().list().unwrap().is_empty());
    assert!(store.snapshots().list().is_empty());
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        fs_err::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .count(),
        1,
        "only metadata.json"
    );
    assert_eq!(
        fs_err::read_dir(dir.path().join("content/ingest"))
            .unwrap()
            .count(),
        0
    );

    let e = store
        .import_rootfs_tar(&rootfs()[..], &opts(&["RUN rm -rf /"], None))
        .unwrap_err();
    assert_eq!(e.to_string(), "RUN is not a valid change command");
    assert!(store.content().list().unwrap().is_empty());
}

#[test]
fn gc_removes_what_no_image_references() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let id = store
        .import_rootfs_tar(&rootfs()[..], &opts(&[], Some("keep")))
        .unwrap();
    // Leftovers of a crashed import: a blob, an unpack in progress, an
    // orphan committed layer; and a container's snapshot, which gc keeps.
    store.content().write_blob(b"orphan", None).unwrap();
    store.snapshots().prepare("extract-123-abc", None).unwrap();
    store.snapshots().prepare("orphan-layer", None).unwrap();
    store
        .snapshots()
        .commit("sha256:orphan", "orphan-layer")
        .unwrap();
    let chain = store
        .inspect("keep")
        .unwrap()
        .record
        .top_chain_id()
        .unwrap();
    store
        .snapshots()
        .prepare("container-1", Some(&chain.to_string()))
        .unwrap();
    drop(store);
    let store = ImageStore::open(dir.path()).unwrap();
    assert_eq!(store.gc().unwrap(), 3);
    let keys: Vec<String> = store
        .snapshots()
        .list()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["container-1".to_owned(), chain.to_string()]);
    assert_eq!(store.content().list().unwrap().len(), 3);
    assert_eq!(store.resolve("keep").unwrap(), id);
    // The container's snapshot holds the layer even when the image goes.
    store.delete("keep", false, no_containers).unwrap();
    assert!(store.snapshots().stat(&chain.to_string()).is_ok());
    store.snapshots().remove("container-1").unwrap();
    assert_eq!(store.gc().unwrap(), 1);
    assert!(store.snapshots().list().is_empty());
}

#[test]
fn concurrent_imports_and_deletes_of_shared_layers() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = &store;
            s.spawn(move || {
                for i in 0..5 {
                    let name = format!("t{t}:{i}");
                    store
                        .import_rootfs_tar(
                            &rootfs()[..],
                            &opts(&[&format!("CMD {name}")], Some(&name)),
                        )
                        .unwrap();
                    if i % 2 == 1 {
                        store.delete(&name, false, no_containers).unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(store.list().unwrap().len(), 12);
    let committed = store
        .snapshots()
        .list()
        .into_iter()
        .filter(|(_, i)| i.kind == Kind::Committed)
        .count();
    assert_eq!(committed, 1, "one shared layer snapshot");
    std::thread::scope(|s| {
        for img in store.list().unwrap() {
            let store = &store;
            s.spawn(move || {
                store
                    .delete(&img.id.to_string(), false, no_containers)
                    .unwrap()
            });
        }
    });
    assert!(store.snapshots().list().is_empty());
    assert!(store.content().list().unwrap().is_empty());
}

#[test]
fn commit_a_container_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let base = store
        .import_rootfs_tar(
            &rootfs()[..],
            &opts(&["CMD [\"sh\"]", "ENV A=1"], Some("base")),
        )
        .unwrap();
    let top = store
        .inspect("base")
        .unwrap()
        .record
        .top_chain_id()
        .unwrap()
        .to_string();
    store.snapshots().prepare("ctr", Some(&top)).unwrap();
    let upper = store.snapshots().upper_dir("ctr").unwrap();
    fs_err::write(upper.join("added"), b"by the container").unwrap();
    fs_err::create_dir(upper.join("etc")).unwrap();
    // What overlayfs writes when the container deletes /etc/os-release.
    let st = std::process::Command::new("mknod")
        .arg(upper.join("etc/os-release"))
        .args(["c", "0", "0"])
        .status()
        .unwrap();
    assert!(st.success());

    let id = store
        .commit(
            Some("base"),
            "ctr",
            &berth_image::store::CommitOptions {
                changes: vec!["ENV B=2".into()],
                message: Some("my change".into()),
                author: Some("me".into()),
                reference: Some(r("committed:1")),
                created: Some("2024-02-02T00:00:00Z".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let d = store.inspect("committed:1").unwrap();
    assert_eq!(d.record.id, id);
    let base_d = store.inspect(&base.to_string()).unwrap();
    assert_eq!(d.config.rootfs.diff_ids.len(), 2);
    assert_eq!(
        d.config.rootfs.diff_ids[0],
        base_d.config.rootfs.diff_ids[0]
    );
    let cfg = d.config.config.as_ref().unwrap();
    assert_eq!(cfg.env.as_deref().unwrap(), ["A=1", "B=2"]);
    assert_eq!(cfg.cmd.as_deref().unwrap(), ["sh"]);
    assert_eq!(d.config.author.as_deref(), Some("me"));
    let h = store.history("committed:1").unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].comment, "my change");
    assert_eq!(h[0].id.as_ref(), Some(&id));
    assert_eq!(h[1].id, None);

    // The new layer is a snapshot of its own on top of the base layer,
    // carrying the file and the whiteout.
    let chain = d.record.top_chain_id().unwrap();
    let info = store.snapshots().stat(&chain.to_string()).unwrap();
    assert_eq!(info.parent.as_deref(), Some(top.as_str()));
    let fs = store.snapshots().fs_dir(&info);
    assert_eq!(fs_err::read(fs.join("added")).unwrap(), b"by the container");
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs_err::symlink_metadata(fs.join("etc/os-release"))
            .unwrap()
            .file_type()
            .is_char_device()
    );

    // The base image can go; its layer stays for the committed image.
    store.snapshots().remove("ctr").unwrap();
    store.delete("base", false, no_containers).unwrap();
    assert!(store.snapshots().stat(&top).is_ok());
    store.delete("committed:1", false, no_containers).unwrap();
    assert!(store.snapshots().list().is_empty());
    assert!(store.content().list().unwrap().is_empty());
}

#[test]
fn register_a_pulled_manifest() {
    // What a pull does: blobs into the content store, then register.
    let dir = tempfile::tempdir().unwrap();
    let src = ImageStore::open(dir.path().join("src")).unwrap();
    let id = src
        .import_rootfs_tar(&gzip(&rootfs())[..], &opts(&["CMD [\"x\"]"], Some("a")))
        .unwrap();
    let rec = src.inspect("a").unwrap().record;
    let dst = ImageStore::open(dir.path().join("dst")).unwrap();
    for d in rec
        .layers
        .iter()
        .map(|l| &l.digest)
        .chain([&rec.id, &rec.manifest.digest])
    {
        let data = src.content().read_blob(d).unwrap();
        dst.content().write_blob(&data, Some(d)).unwrap();
    }
    // An index naming the manifest for this platform, as a registry serves it.
    let mut m = rec.manifest.clone();
    m.platform = Some(berth_image::spec::Platform {
        architecture: berth_image::spec::host_architecture().into(),
        os: "linux".into(),
        ..Default::default()
    });
    let mut other = m.clone();
    other.digest = berth_image::digest::Digest::sha256_of(b"another platform");
    other.platform.as_mut().unwrap().architecture = "s390x-not-this-one".into();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": berth_image::spec::MEDIA_TYPE_OCI_INDEX, "manifests": [other, m]});
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let index_digest = dst.content().write_blob(&index_bytes, None).unwrap();
    let desc = berth_image::spec::Descriptor::new(
        berth_image::spec::MEDIA_TYPE_OCI_INDEX,
        index_digest,
        index_bytes.len() as u64,
    );
    let got = dst.register_manifest(&desc, &[r("pulled:1")]).unwrap();
    assert_eq!(got, id);
    assert_eq!(
        dst.inspect("pulled:1").unwrap().record.manifest.digest,
        rec.manifest.digest
    );
    assert_eq!(dst.inspect("pulled:1").unwrap().record.layers, rec.layers);
}

#[test]
fn prune_removes_untagged_unused_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let kept = store
        .import_rootfs_tar(&rootfs()[..], &opts(&["CMD a"], Some("kept")))
        .unwrap();
    let dangling = store
        .import_rootfs_tar(&rootfs()[..], &opts(&["CMD b"], None))
        .unwrap();
    let used = store
        .import_rootfs_tar(&rootfs()[..], &opts(&["CMD c"], None))
        .unwrap();
    let in_use = |d: &berth_image::digest::Digest| ImageUsers {
        stopped: (d == &used).then(|| "ctr".to_owned()),
        ..ImageUsers::default()
    };
    let out = store.prune_dangling(in_use).unwrap();
    assert_eq!(out, vec![DeleteItem::Deleted(dangling)]);
    let left: Vec<_> = store.list().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&kept) && left.contains(&used));
}

#[test]
fn layers_a_view_kept_are_released_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    store
        .import_rootfs_tar(&rootfs()[..], &opts(&["CMD a"], Some("a")))
        .unwrap();
    let top = store
        .inspect("a")
        .unwrap()
        .record
        .top_chain_id()
        .unwrap()
        .to_string();
    // An image mount's view pins the layer through `rmi -f`.
    store.snapshots().view("ctr-image-0", &top).unwrap();
    let out = store.delete("a", true, no_containers).unwrap();
    assert_eq!(out.len(), 2, "the layer is kept: {out:?}");
    assert!(store.snapshots().stat(&top).is_ok());
    // While the view stands, nothing goes.
    assert!(
        store
            .release_layers(std::slice::from_ref(&top))
            .unwrap()
            .is_empty()
    );
    store.snapshots().remove("ctr-image-0").unwrap();
    assert_eq!(
        store.release_layers(std::slice::from_ref(&top)).unwrap(),
        vec![top.clone()]
    );
    assert!(store.snapshots().list().is_empty());
    // A layer an image still uses stays.
    store
        .import_rootfs_tar(&rootfs()[..], &opts(&["CMD b"], Some("b")))
        .unwrap();
    assert!(
        store
            .release_layers(std::slice::from_ref(&top))
            .unwrap()
            .is_empty()
    );
    assert!(store.snapshots().stat(&top).is_ok());
}
