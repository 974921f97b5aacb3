//! `save` / `load` round trips and interop with skopeo, umoci and the
//! repository's `scripts/make-busybox-image`. Tools missing is a failure,
//! not a skip (`.ci/run` installs skopeo, umoci and busybox-static).

// Helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::ImageStore;
use berth_image::archive::LoadedImage;
use berth_image::store::ImportOptions;
use common::{E, reference as r, tar};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is the tool installed? .ci/run installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

fn untar(data: &[u8], dir: &Path) {
    fs_err::create_dir_all(dir).unwrap();
    // Our own archive, from the test: the crate's unpack is fine here.
    ::tar::Archive::new(data).unpack(dir).unwrap();
}

/// A store with one imported image tagged `example/app:1`.
fn store_with_image(root: &Path) -> (ImageStore, berth_image::digest::Digest) {
    let store = ImageStore::open(root).unwrap();
    let layer = tar(&[
        E::Dir("etc/"),
        E::File("etc/greeting", b"hello from berth\n"),
        E::Dir("bin/"),
    ]);
    let id = store
        .import_rootfs_tar(
            &layer[..],
            &ImportOptions {
                changes: vec!["CMD [\"cat\", \"/etc/greeting\"]".into()],
                reference: Some(r("example/app:1")),
                created: Some("2024-01-01T00:00:00Z".into()),
                ..ImportOptions::default()
            },
        )
        .unwrap();
    (store, id)
}

fn snapshot_file(store: &ImageStore, name: &str, file: &str) -> Vec<u8> {
    let rec = store.inspect(name).unwrap().record;
    let chain = rec.top_chain_id().unwrap();
    let info = store.snapshots().stat(&chain.to_string()).unwrap();
    fs_err::read(store.snapshots().fs_dir(&info).join(file)).unwrap()
}

#[test]
fn save_then_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = store_with_image(&dir.path().join("a"));
    let mut archive = Vec::new();
    store.save(&["example/app:1"], &mut archive).unwrap();
    // Deterministic output.
    let mut again = Vec::new();
    store.save(&["example/app:1"], &mut again).unwrap();
    assert_eq!(archive, again);

    let other = ImageStore::open(dir.path().join("b")).unwrap();
    let loaded = other.load(&archive[..]).unwrap();
    assert_eq!(
        loaded,
        vec![LoadedImage {
            id: id.clone(),
            tags: vec![r("example/app:1")]
        }]
    );
    assert_eq!(
        snapshot_file(&other, "example/app:1", "etc/greeting"),
        b"hello from berth\n"
    );
    assert_eq!(
        other.inspect("example/app:1").unwrap().record.manifest,
        store.inspect("example/app:1").unwrap().record.manifest
    );
    // Loading twice is idempotent.
    assert_eq!(other.load(&archive[..]).unwrap(), loaded);
    assert_eq!(other.list().unwrap().len(), 1);
}

#[test]
fn skopeo_reads_our_oci_layout_and_docker_archive() {
    let dir = tempfile::tempdir().unwrap();
    let (store, id) = store_with_image(&dir.path().join("store"));
    let mut archive = Vec::new();
    store.save(&["example/app:1"], &mut archive).unwrap();
    let file = dir.path().join("saved.tar");
    fs_err::write(&file, &archive).unwrap();
    let layout = dir.path().join("layout");
    untar(&archive, &layout);

    // Our archive as a docker-archive.
    let out = run(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("docker-archive:{}", file.display())));
    let cfg: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        cfg["config"]["Cmd"],
        serde_json::json!(["cat", "/etc/greeting"])
    );

    // Our archive, unpacked, as an OCI layout: copy it to a docker-archive
    // with skopeo, and load that back.
    let via = dir.path().join("via-skopeo.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:1", layout.display()))
        .arg(format!("docker-archive:{}:example/copied:2", via.display())));
    let fresh = ImageStore::open(dir.path().join("fresh")).unwrap();
    let loaded = fresh.load(fs_err::File::open(&via).unwrap()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        loaded[0].id, id,
        "skopeo kept the config, so the image ID is the same"
    );
    assert_eq!(loaded[0].tags, vec![r("example/copied:2")]);
    assert_eq!(
        snapshot_file(&fresh, "example/copied:2", "etc/greeting"),
        b"hello from berth\n"
    );
}

#[test]
fn loads_umoci_and_skopeo_archives() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("umoci");
    let bundle = dir.path().join("bundle");
    let img = format!("{}:t", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    run(Command::new("umoci").args(["new", "--image", &img]));
    run(Command::new("umoci")
        .args(["unpack", "--image", &img])
        .arg(&bundle));
    fs_err::write(bundle.join("rootfs/made-by"), b"umoci\n").unwrap();
    run(Command::new("umoci")
        .args(["repack", "--image", &img])
        .arg(&bundle));
    run(Command::new("umoci").args(["config", "--image", &img, "--config.cmd", "/bin/true"]));

    // umoci's layout, tarred: names only the tag `t`, so the image is untagged.
    let store = ImageStore::open(dir.path().join("store")).unwrap();
    let loaded = store.load(&tar_dir(&layout)[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].tags.is_empty());
    let id = loaded[0].id.to_string();
    assert_eq!(snapshot_file(&store, &id, "made-by"), b"umoci\n");
    let cfg = store.inspect(&id).unwrap().config;
    assert_eq!(cfg.config.unwrap().cmd.unwrap(), vec!["/bin/true"]);

    // The same image through skopeo's docker-archive writer.
    let da = dir.path().join("da.tar");
    run(Command::new("skopeo")
        .args(["copy", "--quiet", &format!("oci:{img}")])
        .arg(format!("docker-archive:{}:example/umoci:t", da.display())));
    let store2 = ImageStore::open(dir.path().join("store2")).unwrap();
    let loaded2 = store2.load(fs_err::File::open(&da).unwrap()).unwrap();
    assert_eq!(loaded2[0].tags, vec![r("example/umoci:t")]);
    assert_eq!(
        snapshot_file(&store2, "example/umoci:t", "made-by"),
        b"umoci\n"
    );
    // skopeo wrote uncompressed layers: same diff IDs, same chain.
    assert_eq!(
        store2.inspect("example/umoci:t").unwrap().config.rootfs,
        store.inspect(&id).unwrap().config.rootfs
    );
}

#[test]
fn loads_make_busybox_image_archive() {
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image");
    let file = dir.path().join("bb.tar");
    run(Command::new(&script).arg("--docker-archive").arg(&file));
    let store = ImageStore::open(dir.path().join("store")).unwrap();
    let loaded = store.load(fs_err::File::open(&file).unwrap()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].tags, vec![r("localhost/busybox:latest")]);
    let busybox = snapshot_file(&store, "localhost/busybox", "bin/busybox");
    assert!(busybox.starts_with(b"\x7fELF"));
    let h = store.history("localhost/busybox").unwrap();
    assert_eq!(h[0].id.as_ref(), Some(&loaded[0].id));
}

#[test]
fn hostile_or_corrupt_archives_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    // A blob whose content does not match its name.
    let fake = format!("blobs/sha256/{}", "a".repeat(64));
    let bad = tar(&[
        E::Dir("blobs/"),
        E::Dir("blobs/sha256/"),
        E::File(&fake, b"not that"),
    ]);
    let e = store.load(&bad[..]).unwrap_err();
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    // A member climbing out of the archive.
    let e = store
        .load(&tar(&[E::File("../manifest.json", b"[]")])[..])
        .unwrap_err();
    assert!(e.to_string().contains("escapes the archive"), "{e}");
    // manifest.json pointing at a layer that is not there.
    let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["nope/layer.tar"]}]"#;
    let e = store
        .load(&tar(&[E::File("c.json", cfg), E::File("manifest.json", manifest)])[..])
        .unwrap_err();
    assert!(e.to_string().contains("`nope/layer.tar` not found"), "{e}");
    // Nothing is left behind by any of these.
    assert!(store.content().list().unwrap().is_empty());
    assert!(store.list().unwrap().is_empty());
    let e = store.load(&tar(&[E::File("hello", b"")])[..]).unwrap_err();
    assert!(e.to_string().starts_with("no images in archive"), "{e}");
}

#[test]
fn skopeo_reads_saved_gzip_and_zstd_layers() {
    for (name, compress) in [
        ("gz", common::gzip as fn(&[u8]) -> Vec<u8>),
        ("zst", common::zstd),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path().join("store")).unwrap();
        let layer = compress(&tar(&[E::File("f", b"compressed layer\n")]));
        let opts = ImportOptions {
            reference: Some(r(&format!("example/{name}"))),
            ..ImportOptions::default()
        };
        let id = store.import_rootfs_tar(&layer[..], &opts).unwrap();
        let mut archive = Vec::new();
        store
            .save(&[&format!("example/{name}")], &mut archive)
            .unwrap();
        let file = dir.path().join("saved.tar");
        fs_err::write(&file, &archive).unwrap();
        let out = dir.path().join("out");
        run(Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("docker-archive:{}", file.display()))
            .arg(format!("oci:{}:x", out.display())));
        let fresh = ImageStore::open(dir.path().join("fresh")).unwrap();
        let loaded = fresh.load(&tar_dir(&out)[..]).unwrap();
        // skopeo converts the zstd layer (and so re-serialises the config
        // with Go's encoder): the same ID shows berth writes configs exactly
        // as Go does.
        assert_eq!(loaded[0].id, id, "{name}");
        let rec = fresh.inspect(&id.to_string()).unwrap().record;
        let info = fresh
            .snapshots()
            .stat(&rec.top_chain_id().unwrap().to_string())
            .unwrap();
        assert_eq!(
            fs_err::read(fresh.snapshots().fs_dir(&info).join("f")).unwrap(),
            b"compressed layer\n"
        );
    }
}

#[test]
fn a_layer_claiming_an_existing_diff_id_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _id) = store_with_image(dir.path());
    let diff_id = store
        .inspect("example/app:1")
        .unwrap()
        .config
        .rootfs
        .diff_ids[0]
        .clone();
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let manifest = br#"[{"Config":"c.json","RepoTags":["evil:1"],"Layers":["evil/layer.tar"]}]"#;
    let evil_layer = tar(&[E::File("etc/greeting", b"not what the diff ID says\n")]);
    let archive = tar(&[
        E::File("c.json", cfg.as_bytes()),
        E::Dir("evil/"),
        E::File("evil/layer.tar", &evil_layer),
        E::File("manifest.json", manifest),
    ]);
    let blobs_before = store.content().list().unwrap();
    let e = store.load(&archive[..]).unwrap_err();
    assert!(e.to_string().starts_with("layer diff ID mismatch"), "{e}");
    assert!(store.resolve("evil:1").is_err());
    assert_eq!(store.content().list().unwrap(), blobs_before);
}
