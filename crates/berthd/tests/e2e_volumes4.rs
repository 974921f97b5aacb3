//! Volumes and image mounts, through `berth` and the real docker 28 CLI:
//! `rmi -f` of an image that containers mount (`--mount type=image`) keeps
//! its layers while they exist, so they still start, and the layers go
//! with the last of them; `VolumeOptions.Subpath` and mount type `image`
//! are refused at API versions older than the ones that brought them,
//! with dockerd's messages; and a directory swapped back and forth with a
//! symlink to a host directory (`renameat2(RENAME_EXCHANGE)`) while
//! containers mount it as a volume or image subpath never lets a container
//! see the host directory (the CVE-2021-30465 class), nor leaves mounts;
//! the views of a container that was never stored go at the next start,
//! with the layers of an image removed meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::api::request;
use common::clients::short;
use common::clients::{BERTH, Client, DOCKER, fails, ok, text};
use common::snapshots::{commit_own_layer, committed, snapshots};
use common::{Daemon, commit_layer, image_mounts, import_busybox, until};
use common::{mounts_under, s};
use serde_json::Value;

fn id_of(d: &Daemon, container: &str) -> String {
    ok(d, DOCKER, &["inspect", "--format", "{{.Id}}", container])
        .trim()
        .to_owned()
}

/// busybox's own layer is intact: a container of it runs.
fn assert_busybox_runs(d: &Daemon, client: Client) {
    let args = [
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "fine",
    ];
    assert_eq!(ok(d, client, &args), "fine\n", "{}", client.0);
}

#[test]
fn image_mount_layers_outlive_a_forced_rmi_until_the_last_container_goes() {
    let d = Daemon::start();
    import_busybox(&d);
    for client in [DOCKER, BERTH] {
        let t = short(client);
        let (img, mk) = (format!("img2-{t}"), format!("mk-{t}"));
        // busybox plus a layer of its own: the one only `img` has.
        let marker = format!("layer of {img}\n");
        let script = format!("echo 'layer of {img}' > /second");
        let layer = commit_own_layer(&d, &mk, "busybox", &script, &img);
        let layer_dir = snapshots(&d)[&layer].1.clone();
        let image_id = ok(
            &d,
            DOCKER,
            &["image", "inspect", "--format", "{{.Id}}", &img],
        )
        .trim()
        .to_owned();

        let mount = format!("type=image,source={img},target=/i");
        let (running, stopped) = (format!("run-{t}"), format!("stop-{t}"));
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &running,
                "--network",
                "none",
                "--mount",
                &mount,
                "busybox",
                "sleep",
                "1000",
            ],
        );
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &stopped,
                "--network",
                "none",
                "--mount",
                &mount,
                "busybox",
                "cat",
                "/i/second",
            ],
        );
        // Without -f: dockerd's conflict, naming a container that mounts it.
        let (code, err) = fails(&d, client, &["rmi", &img]);
        assert_eq!(code, 1, "{}: {err}", client.0);
        assert!(
            err.contains(&format!(
                "conflict: unable to remove repository reference \"{img}\" (must force) - container"
            )) && err.contains(&format!(
                "is using its referenced image {}",
                &image_id[7..19]
            )),
            "{}: {err}",
            client.0
        );
        // With -f: the image goes, its layer stays.
        let out = ok(&d, client, &["rmi", "-f", &img]);
        assert_eq!(
            out,
            format!("Untagged: {img}:latest\nDeleted: {image_id}\n"),
            "{}",
            client.0
        );
        let (code, _) = fails(&d, client, &["image", "inspect", &img]);
        assert_eq!(code, 1);
        assert!(snapshots(&d).contains_key(&layer), "{}", client.0);
        assert!(layer_dir.join("fs/second").is_file(), "{}", client.0);

        // Both containers still work: the running one across a restart,
        // the stopped one when it starts.
        let read = ["exec", running.as_str(), "cat", "/i/second"];
        assert_eq!(ok(&d, client, &read), marker, "{}", client.0);
        ok(&d, client, &["restart", "-t", "0", &running]);
        assert_eq!(ok(&d, client, &read), marker, "{}", client.0);
        assert_eq!(
            ok(&d, client, &["start", "-a", &stopped]),
            marker,
            "{}",
            client.0
        );

        // The layer goes with the last container that mounts it.
        let running_id = id_of(&d, &running);
        ok(&d, client, &["rm", "-f", &running]);
        until("the running container's snapshot to go", || {
            !snapshots(&d).contains_key(&running_id)
        });
        assert!(snapshots(&d).contains_key(&layer), "{}", client.0);
        assert_eq!(
            ok(&d, client, &["start", "-a", &stopped]),
            marker,
            "{}",
            client.0
        );
        ok(&d, client, &["rm", &stopped]);
        until("the removed image's layer to go", || {
            !snapshots(&d).contains_key(&layer) && !layer_dir.exists()
        });
        let views: Vec<String> = snapshots(&d)
            .into_iter()
            .filter(|(_, (kind, _))| kind != "committed")
            .map(|(k, _)| k)
            .collect();
        assert!(views.is_empty(), "{}: {views:?}", client.0);
        let left = image_mounts(&d);
        assert!(left.is_empty(), "{}: {left:?}", client.0);
        // busybox's own layer is untouched.
        assert_busybox_runs(&d, client);
    }
}

/// `POST /vN/containers/create` with `body` on the daemon's socket:
/// (HTTP status, body).
fn create_at(d: &Daemon, version: &str, body: &Value) -> (u16, String) {
    let path = format!("{version}/containers/create");
    request(d, "POST", &path, &body.to_string())
}

#[test]
fn mount_options_newer_than_the_request_are_refused_as_dockerd_does() {
    let d = Daemon::start();
    import_busybox(&d);
    ok(&d, DOCKER, &["volume", "create", "gated"]);
    let subpath = serde_json::json!({
        "Image": "busybox", "Cmd": ["true"],
        "HostConfig": {"Mounts": [{"Type": "volume", "Source": "gated", "Target": "/m",
            "VolumeOptions": {"Subpath": "sub"}}]}
    });
    let image = serde_json::json!({
        "Image": "busybox", "Cmd": ["true"],
        "HostConfig": {"Mounts": [{"Type": "image", "Source": "busybox", "Target": "/i"}]}
    });
    let count = || ok(&d, DOCKER, &["ps", "-aq"]).lines().count();
    for (version, body, want) in [
        (
            "/v1.44",
            &subpath,
            "VolumeOptions.Subpath needs API v1.45 or newer",
        ),
        (
            "/v1.40",
            &subpath,
            "VolumeOptions.Subpath needs API v1.45 or newer",
        ),
        (
            "/v1.47",
            &image,
            r#"Mount type "Image" needs API v1.48 or newer"#,
        ),
        (
            "/v1.44",
            &image,
            r#"Mount type "Image" needs API v1.48 or newer"#,
        ),
    ] {
        let (code, out) = create_at(&d, version, body);
        assert_eq!(code, 400, "{version}: {out}");
        let message: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(message["message"], want, "{version}");
    }
    assert_eq!(count(), 0, "a refused create left a container");
    for (version, body) in [
        ("/v1.45", &subpath),
        ("", &subpath),
        ("/v1.48", &image),
        ("", &image),
    ] {
        let (code, out) = create_at(&d, version, body);
        assert_eq!(code, 201, "{version}: {out}");
    }
    assert_eq!(count(), 4);

    // The docker CLI held to an older API version hears the same.
    for (version, mount, want) in [
        (
            "1.44",
            "type=volume,src=gated,dst=/m,volume-subpath=sub",
            "VolumeOptions.Subpath needs API v1.45 or newer",
        ),
        (
            "1.47",
            "type=image,src=busybox,dst=/i",
            r#"Mount type "Image" needs API v1.48 or newer"#,
        ),
    ] {
        let out = d
            .docker_command(
                common::DOCKER_28,
                &["create", "--mount", mount, "busybox", "true"],
            )
            .env("DOCKER_API_VERSION", version)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "docker at {version}: {}",
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        assert!(err.contains(want), "docker at {version}: {err}");
    }
    assert_eq!(count(), 4, "a refused create left a container");
}

/// Swaps `a` and `b` (`renameat2(RENAME_EXCHANGE)`) until `stop`.
fn swapper(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &a,
                nix::fcntl::AT_FDCWD,
                &b,
                nix::fcntl::RenameFlags::RENAME_EXCHANGE,
            )
            .unwrap();
            n += 1;
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
        // Back to where it started (an even number of swaps).
        if n % 2 == 1 {
            nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &a,
                nix::fcntl::AT_FDCWD,
                &b,
                nix::fcntl::RenameFlags::RENAME_EXCHANGE,
            )
            .unwrap();
        }
        n
    })
}

/// Runs a container mounting `mount` that prints `/m/marker`, `rounds`
/// times, alternating berth and docker 28, while `sub` and `link` (a
/// symlink to the host directory `host`) swap places: each run prints the
/// subdirectory's marker or fails with dockerd's escape error; never the
/// host's.
fn race(d: &Daemon, what: &str, mount: &str, sub: &Path, link: &Path, rounds: usize) {
    let run = |client: Client, name: &str| {
        let out = (client.1)(
            d,
            &[
                "run",
                "--name",
                name,
                "--network",
                "none",
                "--mount",
                mount,
                "busybox",
                "cat",
                "/m/marker",
            ],
        );
        let _ = (client.1)(d, &["rm", "-f", name]);
        out
    };
    // Before the race: the subdirectory, as asked.
    let out = run(DOCKER, &format!("{what}-calm"));
    assert_eq!(
        text(&out.stdout),
        "inside\n",
        "{what}: {}",
        text(&out.stderr)
    );

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = swapper(sub.to_owned(), link.to_owned(), Arc::clone(&stop));
    let (mut mounted, mut refused) = (0, 0);
    for i in 0..rounds {
        let client = if i % 2 == 0 { DOCKER } else { BERTH };
        let out = run(client, &format!("{what}-{i}"));
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            !stdout.contains("HOST") && !stderr.contains("HOST"),
            "{what} {i} ({}): the container saw the host directory: {stdout}{stderr}",
            client.0
        );
        if out.status.success() {
            assert_eq!(stdout, "inside\n", "{what} {i} ({})", client.0);
            mounted += 1;
        } else {
            assert_eq!(
                out.status.code(),
                Some(125),
                "{what} {i} ({}): {stderr}",
                client.0
            );
            assert!(
                stderr.contains("path concatenation escapes the base directory"),
                "{what} {i} ({}): {stderr}",
                client.0
            );
            refused += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let n = swaps.join().unwrap();
    eprintln!("{what}: {mounted} mounted, {refused} refused, {n} swaps");
    assert!(n > 0, "{what}: the swapper never ran");

    // After it: the subdirectory again, and no mount left.
    let out = run(BERTH, &format!("{what}-after"));
    assert_eq!(
        text(&out.stdout),
        "inside\n",
        "{what}: {}",
        text(&out.stderr)
    );
    let left: Vec<String> = mounts_under(&d.data_root())
        .into_iter()
        .chain(
            mounts_under(&d.exec_root())
                .into_iter()
                .filter(|m| !m.contains("/netns")),
        )
        .collect();
    assert!(left.is_empty(), "{what}: mounts left: {left:?}");
    assert!(
        ok(d, DOCKER, &["ps", "-aq"]).trim().is_empty(),
        "{what}: containers left"
    );
}

#[test]
fn a_subpath_swapped_with_a_symlink_to_the_host_never_mounts_the_host() {
    let d = Daemon::start();
    import_busybox(&d);
    // The host directory the symlink points at.
    let host = d.dir.path().join("host-secret");
    fs_err::create_dir_all(&host).unwrap();
    fs_err::write(host.join("marker"), "HOST\n").unwrap();

    // A volume with `sub/` and `link -> <host>`.
    ok(&d, DOCKER, &["volume", "create", "swapped"]);
    let data = d.data_root().join("volumes/swapped/_data");
    fs_err::create_dir_all(data.join("sub")).unwrap();
    fs_err::write(data.join("sub/marker"), "inside\n").unwrap();
    std::os::unix::fs::symlink(&host, data.join("link")).unwrap();
    race(
        &d,
        "volume",
        "type=volume,src=swapped,dst=/m,volume-subpath=sub",
        &data.join("sub"),
        &data.join("link"),
        50,
    );

    // An image with the same shape; its layer is swapped in place (what a
    // tampered layer directory would do).
    let root = d.dir.path().join("swapimg");
    fs_err::create_dir_all(root.join("sub")).unwrap();
    fs_err::write(root.join("sub/marker"), "inside\n").unwrap();
    std::os::unix::fs::symlink(&host, root.join("link")).unwrap();
    let tar = d.dir.path().join("swapimg.tar");
    common::tar_dir(&root, &tar);
    let before = committed(&d);
    ok(&d, DOCKER, &["import", s(&tar), "swapimg"]);
    let layer = committed(&d)
        .into_iter()
        .find(|k| !before.contains(k))
        .unwrap();
    let fs = snapshots(&d)[&layer].1.join("fs");
    assert!(fs.join("sub/marker").is_file());
    race(
        &d,
        "image",
        "type=image,src=swapimg,dst=/m,image-subpath=sub",
        &fs.join("sub"),
        &fs.join("link"),
        50,
    );
}

#[test]
fn views_of_containers_that_were_never_stored_go_at_start_with_their_layers() {
    let mut d = Daemon::start();
    import_busybox(&d);
    let before = committed(&d);
    commit_layer(&d, "mk", "busybox", "echo own > /own", "pinned");
    let layer = committed(&d)
        .into_iter()
        .find(|k| !before.contains(k))
        .unwrap();
    ok(
        &d,
        DOCKER,
        &[
            "create",
            "--name",
            "lost",
            "--network",
            "none",
            "--mount",
            "type=image,src=pinned,dst=/i",
            "busybox",
            "true",
        ],
    );
    let id = id_of(&d, "lost");
    ok(&d, DOCKER, &["rmi", "-f", "pinned"]);
    assert!(snapshots(&d).contains_key(&layer));
    // A crash before the container's document was stored: its snapshots
    // are orphans at the next start.
    d.kill9();
    fs_err::remove_dir_all(d.data_root().join("containers").join(&id)).unwrap();
    d.restart();
    let left = snapshots(&d);
    assert!(
        !left.keys().any(|k| k.starts_with(&id)),
        "the container's snapshots stayed: {left:?}"
    );
    assert!(
        !left.contains_key(&layer),
        "the removed image's layer stayed"
    );
    assert_busybox_runs(&d, BERTH);
}
