//! `rmi` of images that containers use, through the real docker 28 CLI and
//! `berth`, with dockerd's rules and messages (moby's
//! daemon/images/image_delete.go): by ID, a running container created from
//! the image is a conflict `-f` does not override and a stopped one needs
//! `-f`; by name, the last tag of an image a container uses or mounts needs
//! `-f`, and `-f` of a running container's image only untags it; an image
//! that containers only mount (`--mount type=image`) goes by ID without
//! `-f`, its layers staying with the containers. And containers created
//! before berth pinned image mounts get their views at the next start.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::clients::{BERTH, Client, DOCKER, fails_saying, inspect, ok, short};
use common::snapshots::{commit_own_layer, snapshots};
use common::{Daemon, import_busybox, until};
use serde_json::Value;

/// A new image: busybox plus a layer of its own with `/marker` saying
/// `name`; (image ID, the layer's key).
fn image_with_layer(d: &Daemon, name: &str) -> (String, String) {
    let script = format!("echo {name} > /marker");
    let layer = commit_own_layer(d, &format!("mk-{name}"), "busybox", &script, name);
    (inspect(d, name, "{{.Id}}"), layer)
}

fn short_id(id: &str) -> &str {
    &id.trim_start_matches("sha256:")[..12]
}

/// The image's tags (docker 28's inspect), `[]` when it has none.
fn tags(d: &Daemon, image: &str) -> String {
    ok(
        d,
        DOCKER,
        &["image", "inspect", "--format", "{{.RepoTags}}", image],
    )
    .trim()
    .to_owned()
}

fn image_exists(d: &Daemon, image: &str) -> bool {
    d.docker(&["image", "inspect", image]).status.success()
}

/// What `client` prints for a conflict the daemon answers with `message`.
fn refused(d: &Daemon, client: Client, args: &[&str], message: &str) {
    fails_saying(
        d,
        client,
        args,
        1,
        &format!("Error response from daemon: {message}"),
    );
}

#[test]
fn rmi_of_a_running_containers_image_is_refused_by_id_and_untags_by_name_with_force() {
    let d = Daemon::start();
    import_busybox(&d);
    for client in [DOCKER, BERTH] {
        let t = short(client);
        let (img, ctr) = (format!("running-{t}"), format!("run-{t}"));
        let (id, _) = image_with_layer(&d, &img);
        let args = [
            "run",
            "-d",
            "--name",
            &ctr,
            "--network",
            "none",
            &img,
            "sleep",
            "1000",
        ];
        let cid = ok(&d, client, &args).trim().to_owned();
        let (sid, scid) = (short_id(&id), &cid[..12]);
        let hard = format!(
            "conflict: unable to delete {sid} (cannot be forced) - image is being used by running container {scid}"
        );
        refused(&d, client, &["rmi", sid], &hard);
        refused(&d, client, &["rmi", "-f", sid], &hard);
        refused(
            &d,
            client,
            &["rmi", &img],
            &format!(
                "conflict: unable to remove repository reference \"{img}\" (must force) - container {scid} is using its referenced image {sid}"
            ),
        );
        assert_eq!(tags(&d, &id), format!("[{img}:latest]"), "{}", client.0);
        // Forced by name: the tag goes, the image stays (untagged).
        assert_eq!(
            ok(&d, client, &["rmi", "-f", &img]),
            format!("Untagged: {img}:latest\n"),
            "{}",
            client.0
        );
        assert_eq!(tags(&d, &id), "[]", "{}", client.0);
        assert_eq!(inspect(&d, &ctr, "{{.State.Status}}"), "running");
        ok(&d, client, &["rm", "-f", &ctr]);
        // Nobody uses it any more: by ID it goes.
        assert_eq!(
            ok(&d, client, &["rmi", sid]).lines().next(),
            Some(format!("Deleted: {id}").as_str()),
            "{}",
            client.0
        );
        assert!(!image_exists(&d, &id));
    }
}

#[test]
fn rmi_of_a_stopped_containers_image_needs_force() {
    let d = Daemon::start();
    import_busybox(&d);
    for client in [DOCKER, BERTH] {
        let t = short(client);
        let (img, ctr) = (format!("stopped-{t}"), format!("stop-{t}"));
        let (id, _) = image_with_layer(&d, &img);
        let args = ["create", "--name", &ctr, "--network", "none", &img, "true"];
        let cid = ok(&d, client, &args).trim().to_owned();
        let (sid, scid) = (short_id(&id), &cid[..12]);
        // Two tags: by ID that is the first conflict.
        let second = format!("{img}:second");
        ok(&d, client, &["tag", &img, &second]);
        refused(
            &d,
            client,
            &["rmi", sid],
            &format!(
                "conflict: unable to delete {sid} (must be forced) - image is referenced in multiple repositories"
            ),
        );
        assert_eq!(
            ok(&d, client, &["rmi", &second]),
            format!("Untagged: {second}\n")
        );
        refused(
            &d,
            client,
            &["rmi", sid],
            &format!(
                "conflict: unable to delete {sid} (must be forced) - image is being used by stopped container {scid}"
            ),
        );
        refused(
            &d,
            client,
            &["rmi", &img],
            &format!(
                "conflict: unable to remove repository reference \"{img}\" (must force) - container {scid} is using its referenced image {sid}"
            ),
        );
        assert!(image_exists(&d, &img), "{}", client.0);
        // Forced: the image goes; the container stays.
        let out = ok(&d, client, &["rmi", "-f", sid]);
        let lines: Vec<&str> = out.lines().collect();
        let deleted = format!("Deleted: {id}");
        assert_eq!(
            lines[..2],
            [format!("Untagged: {img}:latest").as_str(), deleted.as_str()],
            "{}",
            client.0
        );
        assert!(!image_exists(&d, &id));
        assert_eq!(inspect(&d, &ctr, "{{.State.Status}}"), "created");
        ok(&d, client, &["rm", &ctr]);
    }
}

#[test]
fn an_image_only_mounted_goes_by_id_without_force_and_its_containers_still_start() {
    let d = Daemon::start();
    import_busybox(&d);
    for client in [DOCKER, BERTH] {
        let t = short(client);
        let (img, ctr) = (format!("mounted-{t}"), format!("mnt-{t}"));
        let (id, layer) = image_with_layer(&d, &img);
        let mount = format!("type=image,source={img},target=/i");
        let args = [
            "create",
            "--name",
            &ctr,
            "--network",
            "none",
            "--mount",
            &mount,
            "busybox",
            "cat",
            "/i/marker",
        ];
        let cid = ok(&d, client, &args).trim().to_owned();
        let sid = short_id(&id);
        // By name, its last tag needs force (dockerd counts mounts there).
        refused(
            &d,
            client,
            &["rmi", &img],
            &format!(
                "conflict: unable to remove repository reference \"{img}\" (must force) - container {} is using its referenced image {sid}",
                &cid[..12]
            ),
        );
        // By ID it goes without.
        let out = ok(&d, client, &["rmi", sid]);
        let lines: Vec<&str> = out.lines().collect();
        let deleted = format!("Deleted: {id}");
        assert_eq!(
            lines,
            [format!("Untagged: {img}:latest").as_str(), deleted.as_str()],
            "the layer stays with the container ({})",
            client.0
        );
        assert!(!image_exists(&d, &id));
        assert!(snapshots(&d).contains_key(&layer), "{}", client.0);
        assert_eq!(
            ok(&d, client, &["start", "-a", &ctr]),
            format!("{img}\n"),
            "{}",
            client.0
        );
        ok(&d, client, &["rm", &ctr]);
        // The reaper releases it on a thread of its own.
        until("the layer to go with the last container", || {
            !snapshots(&d).contains_key(&layer)
        });
    }
}

/// Removes the snapshot `key` from the snapshotter's metadata (berthd is
/// not running): what a container created before views pinned image mounts
/// has.
fn forget_snapshot(d: &Daemon, key: &str) {
    let path = d.data_root().join("snapshots").join("metadata.json");
    let mut meta: Value = serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
    let removed = meta["snapshots"].as_object_mut().unwrap().remove(key);
    assert!(removed.is_some(), "no snapshot {key}");
    fs_err::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
}

#[test]
fn image_mounts_without_a_view_are_pinned_at_start() {
    let mut d = Daemon::start();
    import_busybox(&d);
    let (kept_id, kept_layer) = image_with_layer(&d, "kept");
    let (gone_id, _) = image_with_layer(&d, "gone");
    let create = |name: &str, image: &str| {
        let mount = format!("type=image,source={image},target=/i");
        let args = [
            "create",
            "--name",
            name,
            "--network",
            "none",
            "--mount",
            &mount,
            "busybox",
            "cat",
            "/i/marker",
        ];
        ok(&d, DOCKER, &args).trim().to_owned()
    };
    let old = create("old", "kept");
    let lost = create("lost", "gone");
    // As a berthd before views had left them: no views; and the image of
    // `lost` removed behind berth's back.
    d.kill9();
    forget_snapshot(&d, &format!("{old}-image-0"));
    forget_snapshot(&d, &format!("{lost}-image-0"));
    let hex = gone_id.trim_start_matches("sha256:");
    fs_err::remove_file(d.data_root().join("images").join(format!("{hex}.json"))).unwrap();
    d.restart();

    let view = snapshots(&d).get(&format!("{old}-image-0")).cloned();
    assert_eq!(view.map(|(kind, _)| kind).as_deref(), Some("view"));
    assert!(!snapshots(&d).contains_key(&format!("{lost}-image-0")));
    let log = d.log();
    assert!(
        log.lines()
            .any(|l| l.contains("the image a container mounts is gone")
                && l.contains(&lost)
                && l.contains(hex)),
        "no warning naming the container in berthd's log:\n{log}"
    );
    // The view keeps the layer through `rmi -f`.
    ok(&d, DOCKER, &["rmi", "-f", "kept"]);
    assert!(!image_exists(&d, &kept_id));
    assert!(snapshots(&d).contains_key(&kept_layer));
    assert_eq!(ok(&d, BERTH, &["start", "-a", "old"]), "kept\n");
    ok(&d, DOCKER, &["rm", "old", "lost"]);
    until("the layer to go with its container", || {
        !snapshots(&d).contains_key(&kept_layer)
    });
}
