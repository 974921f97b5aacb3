//! Images end to end: the real docker CLI (28.x) and the berth CLI
//! against a throwaway berthd (the `Daemon` guard of `e2e.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{DOCKER_28, Daemon, berth, docker, http, text};

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn d(daemon: &Daemon, args: &[&str]) -> Output {
    docker(DOCKER_28, &daemon.host(), args)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image")
}

/// A rootfs tar of Debian's busybox, made by the project script.
fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    let out = Command::new(script())
        .arg("--rootfs")
        .arg(&rootfs)
        .output()
        .unwrap();
    ok(&out, "make-busybox-image --rootfs");
    let tar = dir.join("rootfs.tar");
    let out = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .output()
        .unwrap();
    ok(&out, "tar");
    tar
}

#[test]
fn docker_images_lists_the_built_in_hello_world_with_a_stable_id() {
    let a = Daemon::start();
    let listing = ok(&d(&a, &["images"]), "docker images");
    let mut lines = listing.lines();
    let head = lines.next().unwrap();
    assert!(
        head.starts_with("REPOSITORY    TAG       IMAGE ID       CREATED"),
        "{listing}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["hello-world", "latest"], "{listing}");
    assert_eq!(row[2].len(), 12);
    let id_a = ok(
        &d(&a, &["images", "-q", "--no-trunc", "hello-world"]),
        "docker images -q",
    );
    let b = Daemon::start();
    let id_b = ok(
        &d(&b, &["images", "-q", "--no-trunc", "hello-world"]),
        "docker images -q",
    );
    assert!(id_a.starts_with("sha256:"), "{id_a}");
    assert_eq!(
        id_a, id_b,
        "the built-in image's ID differs between two fresh roots"
    );
    let info = ok(&d(&a, &["info", "--format", "{{.Images}}"]), "docker info");
    assert_eq!(info.trim(), "1");
}

#[test]
fn docker_tag_history_inspect_rmi() {
    let daemon = Daemon::start();
    ok(
        &d(&daemon, &["tag", "hello-world", "example/hi:v1"]),
        "docker tag",
    );
    let listing = ok(
        &d(&daemon, &["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "images",
    );
    let mut names: Vec<&str> = listing.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["example/hi:v1", "hello-world:latest"]);

    let history = ok(&d(&daemon, &["history", "hello-world"]), "docker history");
    assert!(
        history.starts_with("IMAGE          CREATED         CREATED BY   SIZE      COMMENT\n"),
        "{history}"
    );
    assert!(
        history.contains("berth's built-in hello-world image"),
        "{history}"
    );

    let layers = ok(
        &d(
            &daemon,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RootFS.Layers}}",
                "example/hi:v1",
            ],
        ),
        "docker image inspect",
    );
    let layers: Vec<String> = serde_json::from_str(layers.trim()).unwrap();
    assert_eq!(layers.len(), 1);
    assert!(layers[0].starts_with("sha256:"));
    let cmd = ok(
        &d(
            &daemon,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .Config.Cmd}}",
                "hello-world",
            ],
        ),
        "inspect Cmd",
    );
    assert_eq!(cmd.trim(), r#"["/hello"]"#);

    // Removing one of two tags only untags.
    let out = ok(&d(&daemon, &["rmi", "example/hi:v1"]), "docker rmi");
    assert_eq!(out, "Untagged: example/hi:v1\n");
    // By ID with one tag: untag and delete.
    let id = ok(&d(&daemon, &["images", "-q", "hello-world"]), "images -q");
    ok(
        &d(&daemon, &["tag", "hello-world", "again:1"]),
        "docker tag",
    );
    let refused = d(&daemon, &["rmi", id.trim()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("image is referenced in multiple repositories"),
        "{}",
        text(&refused.stderr)
    );
    let out = ok(&d(&daemon, &["rmi", "-f", id.trim()]), "docker rmi -f");
    assert!(out.contains("Untagged: again:1\n"), "{out}");
    assert!(out.contains("Untagged: hello-world:latest\n"), "{out}");
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(ok(&d(&daemon, &["images", "-q"]), "images -q"), "");
}

#[test]
fn unknown_images_are_404_as_dockerd_says() {
    let daemon = Daemon::start();
    let out = d(&daemon, &["rmi", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: No such image: nope:latest"
    );
    let out = d(&daemon, &["tag", "nope", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("No such image: nope:latest"));
    let (status, _, body) = http(&daemon.socket, "GET", "/v1.51/images/nope/json");
    assert_eq!(status, 404);
    assert_eq!(body, "{\"message\":\"No such image: nope:latest\"}\n");
    let (status, _, _) = http(&daemon.socket, "GET", "/v1.51/images/nope/history");
    assert_eq!(status, 404);
}

#[test]
fn docker_save_then_load_round_trips() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("hello.tar");
    let archive_s = archive.to_str().unwrap();
    let id = ok(&d(&daemon, &["images", "-q", "--no-trunc"]), "images -q");
    ok(
        &d(&daemon, &["save", "-o", archive_s, "hello-world"]),
        "docker save",
    );
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = ok(&listing, "tar -t");
    assert!(listing.contains("manifest.json"), "{listing}");
    assert!(listing.contains("index.json"), "{listing}");
    ok(&d(&daemon, &["rmi", "hello-world"]), "docker rmi");
    let out = ok(&d(&daemon, &["load", "-i", archive_s]), "docker load");
    assert_eq!(out, "Loaded image: hello-world:latest\n");
    assert_eq!(
        ok(&d(&daemon, &["images", "-q", "--no-trunc"]), "images -q"),
        id
    );
}

#[test]
fn docker_import_of_a_busybox_rootfs_with_a_change() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let tar = busybox_rootfs_tar(dir.path());
    let out = ok(
        &d(
            &daemon,
            &[
                "import",
                "--change",
                r#"CMD ["sh"]"#,
                tar.to_str().unwrap(),
                "bb:imported",
            ],
        ),
        "docker import",
    );
    assert!(
        out.starts_with("sha256:") && out.trim().len() == 71,
        "{out}"
    );
    let cmd = ok(
        &d(
            &daemon,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .Config.Cmd}}",
                "bb:imported",
            ],
        ),
        "inspect",
    );
    assert_eq!(cmd.trim(), r#"["sh"]"#);
    let id = ok(
        &d(&daemon, &["images", "-q", "--no-trunc", "bb:imported"]),
        "images",
    );
    assert_eq!(id.trim(), out.trim());
    let history = ok(&d(&daemon, &["history", "bb:imported"]), "history");
    assert!(history.contains("Imported from -"), "{history}");
}

#[test]
fn docker_load_of_the_busybox_docker_archive() {
    let daemon = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    let out = Command::new(script())
        .arg("--docker-archive")
        .arg(&archive)
        .output()
        .unwrap();
    ok(&out, "make-busybox-image --docker-archive");
    let out = ok(
        &d(&daemon, &["load", "-i", archive.to_str().unwrap()]),
        "docker load",
    );
    assert_eq!(out, "Loaded image: localhost/busybox:latest\n");
    let listing = ok(&d(&daemon, &["images", "localhost/busybox"]), "images");
    assert!(
        listing
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("localhost/busybox   latest "),
        "{listing}"
    );
    let filtered = ok(
        &d(
            &daemon,
            &[
                "images",
                "--filter",
                "reference=hello*",
                "--format",
                "{{.Repository}}",
            ],
        ),
        "images --filter",
    );
    assert_eq!(filtered, "hello-world\n");
}

#[test]
fn berth_cli_images_tag_rmi() {
    let daemon = Daemon::start();
    let host = daemon.host();
    let env = [("BERTH_HOST", host.as_str())];
    let out = berth(&["images"], &env);
    let listing = ok(&out, "berth images");
    let docker_listing = ok(&d(&daemon, &["images"]), "docker images");
    assert_eq!(
        listing, docker_listing,
        "berth images differs from docker images"
    );
    ok(&berth(&["tag", "hello-world", "mine:1"], &env), "berth tag");
    let q = ok(
        &berth(
            &["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
            &env,
        ),
        "ls",
    );
    assert!(q.contains("mine:1\n"), "{q}");
    assert_eq!(
        ok(&berth(&["rmi", "mine:1"], &env), "berth rmi"),
        "Untagged: mine:1\n"
    );
    let out = berth(&["rmi", "nope"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "Error response from daemon: No such image: nope:latest"
    );
    let layers = ok(
        &berth(
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RootFS.Layers}}",
                "hello-world",
            ],
            &env,
        ),
        "berth image inspect",
    );
    let docker_layers = ok(
        &d(
            &daemon,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .RootFS.Layers}}",
                "hello-world",
            ],
        ),
        "docker image inspect",
    );
    assert_eq!(layers, docker_layers);
    // save -o / load -i / import stream through the berth CLI too.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("hw.tar");
    let archive_s = archive.to_str().unwrap();
    let id = ok(
        &berth(&["images", "-q", "--no-trunc"], &env),
        "berth images -q",
    );
    ok(
        &berth(&["save", "-o", archive_s, "hello-world"], &env),
        "berth save",
    );
    ok(&berth(&["rmi", "hello-world"], &env), "berth rmi");
    assert_eq!(
        ok(&berth(&["load", "-i", archive_s], &env), "berth load"),
        "Loaded image: hello-world:latest\n"
    );
    assert_eq!(
        ok(&berth(&["images", "-q", "--no-trunc"], &env), "images"),
        id
    );
    let tar = busybox_rootfs_tar(dir.path());
    let imported = ok(
        &berth(
            &[
                "import",
                "--change",
                "CMD [\"sh\"]",
                tar.to_str().unwrap(),
                "bb:berth",
            ],
            &env,
        ),
        "berth import",
    );
    assert!(imported.starts_with("sha256:"), "{imported}");
    let cmd = ok(
        &d(
            &daemon,
            &[
                "image",
                "inspect",
                "--format",
                "{{json .Config.Cmd}}",
                "bb:berth",
            ],
        ),
        "inspect",
    );
    assert_eq!(cmd.trim(), r#"["sh"]"#);
    let history = ok(&berth(&["history", "hello-world"], &env), "berth history");
    assert_eq!(
        history,
        ok(&d(&daemon, &["history", "hello-world"]), "docker history")
    );
}

#[test]
fn docker_20_10_images_tag_save_load() {
    let daemon = Daemon::start();
    let host = daemon.host();
    let d20 = |args: &[&str]| docker(super::DOCKER_20, &host, args);
    let listing = ok(&d20(&["images"]), "docker 20.10 images");
    assert!(
        listing
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("hello-world   latest "),
        "{listing}"
    );
    ok(&d20(&["tag", "hello-world", "a:b"]), "docker 20.10 tag");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("x.tar");
    let archive_s = archive.to_str().unwrap();
    ok(&d20(&["save", "-o", archive_s, "a:b"]), "docker 20.10 save");
    let out = ok(&d20(&["rmi", "a:b", "hello-world"]), "docker 20.10 rmi");
    assert!(
        out.starts_with("Untagged: a:b\nUntagged: hello-world:latest\nDeleted: sha256:"),
        "{out}"
    );
    assert_eq!(
        ok(&d20(&["load", "-i", archive_s]), "docker 20.10 load"),
        "Loaded image: a:b\n"
    );
    let out = d20(&["rmi", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such image: nope"),
        "{}",
        text(&out.stderr)
    );
}
