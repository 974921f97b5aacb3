//! Volumes, the last gaps, through `berth` and the real docker 28 CLI:
//! `docker cp`'s read-only check follows symlinks as the container sees
//! them (`/link/d` with `/link -> /ro` is refused, a symlink out of a
//! read-only mount into a writable one is allowed); `docker cp` of a
//! stopped container reaches what a local volume mounts (a bind-device
//! volume's device directory, a fresh tmpfs for a tmpfs volume); and
//! `--mount type=volume,...,volume-subpath=SUB` mounts a part of a volume,
//! never anything outside it; `--mount type=image` mounts an image's root
//! file system read-only, and the image cannot be removed meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::Daemon;
use common::clients::short;
use common::clients::{BERTH, Client, DOCKER, command, fails_with, ok, text};
use common::{commit_layer, image_mounts, mounts_under, s};

const CLIENTS: [Client; 2] = [BERTH, DOCKER];

fn call(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `run --rm --network none --mount MOUNT img CMD...`.
fn run_args(mount: &str, cmd: &[&str]) -> Vec<String> {
    ["run", "--rm", "--network", "none", "--mount", mount, "img"]
        .iter()
        .chain(cmd)
        .map(|s| (*s).to_owned())
        .collect()
}

/// A busybox image `img` with every applet.
fn image(d: &Daemon) {
    let root = d.dir.path().join("img");
    common::busybox_root(&root, &[]);
    let tar = d.dir.path().join("img.tar");
    common::tar_dir(&root, &tar);
    d.ok(&["import", s(&tar), "img"]);
}

/// `client cp - container:dest` with the tar `tar` on its standard input.
#[track_caller]
fn cp_tar_in(d: &Daemon, client: Client, tar: &Path, dest: &str) {
    let o = command(d, client, &["cp", "-", dest])
        .stdin(Stdio::from(fs_err::File::open(tar).unwrap().into_parts().0))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{} cp - {dest}: {}{}",
        client.0,
        text(&o.stdout),
        text(&o.stderr)
    );
}

#[test]
fn cp_read_only_check_follows_symlinks_in_the_container() {
    let d = Daemon::start();
    image(&d);
    let work = d.dir.path().join("work");
    fs_err::create_dir_all(&work).unwrap();
    let upload = work.join("upload.txt");
    fs_err::write(&upload, b"uploaded\n").unwrap();
    // `/link -> /ro`, to put into the containers' root file systems.
    let links = work.join("links");
    fs_err::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink("/ro", links.join("link")).unwrap();
    let link_tar = work.join("link.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&links)
        .args(["-cf", s(&link_tar), "link"])
        .status()
        .unwrap();
    assert!(status.success());
    for client in CLIENTS {
        let who = client.0;
        for running in [false, true] {
            let t = format!("{}{}", short(client), if running { "r" } else { "s" });
            let (c, vol) = (format!("ro-{t}"), format!("rw-{t}"));
            // The read-only bind: `sub/`, and `out -> /rw` (a symlink out
            // of it into the writable volume).
            let ro = work.join(format!("ro-{t}"));
            fs_err::create_dir_all(ro.join("sub")).unwrap();
            std::os::unix::fs::symlink("/rw", ro.join("out")).unwrap();
            let ro_spec = format!("{}:/ro:ro", s(&ro));
            let rw_spec = format!("{vol}:/rw");
            ok(
                &d,
                client,
                &[
                    "create",
                    "--network",
                    "none",
                    "--name",
                    &c,
                    "-v",
                    &ro_spec,
                    "-v",
                    &rw_spec,
                    "img",
                    "sleep",
                    "1000",
                ],
            );
            fs_err::create_dir_all(d.volume_data(&vol).join("inner")).unwrap();
            cp_tar_in(&d, client, &link_tar, &format!("{c}:/"));
            if running {
                ok(&d, client, &["start", &c]);
            }

            // Through `/link` into the read-only bind: refused, as dockerd.
            let err = fails_with(
                &d,
                client,
                &["cp", s(&upload), &format!("{c}:/link/sub/")],
                1,
            );
            assert!(
                err.contains("mounted volume is marked read-only"),
                "{who} {t}: {err}"
            );
            assert!(!ro.join("sub/upload.txt").exists(), "{who} {t}");

            // Out of the read-only bind into the volume: allowed.
            ok(
                &d,
                client,
                &["cp", s(&upload), &format!("{c}:/ro/out/inner/")],
            );
            assert_eq!(
                fs_err::read_to_string(d.volume_data(&vol).join("inner/upload.txt")).unwrap(),
                "uploaded\n",
                "{who} {t}"
            );
            // And the plain cases stay as they were.
            let err = fails_with(&d, client, &["cp", s(&upload), &format!("{c}:/ro/sub/")], 1);
            assert!(
                err.contains("mounted volume is marked read-only"),
                "{who} {t}: {err}"
            );
            ok(&d, client, &["cp", s(&upload), &format!("{c}:/rw/")]);
            assert!(d.volume_data(&vol).join("upload.txt").exists(), "{who} {t}");

            ok(&d, client, &["rm", "-f", &c]);
            ok(&d, client, &["volume", "rm", &vol]);
        }
    }
}

#[test]
fn cp_of_a_stopped_container_reaches_what_local_volumes_mount() {
    let d = Daemon::start();
    image(&d);
    let work = d.dir.path().join("work");
    fs_err::create_dir_all(&work).unwrap();
    let upload = work.join("upload.txt");
    fs_err::write(&upload, b"uploaded\n").unwrap();
    let volumes_dir = d.data_root().join("volumes");
    for client in CLIENTS {
        let who = client.0;
        let t = short(client);
        // A bind-device volume: cp reads and writes its device directory.
        let device = work.join(format!("device-{t}"));
        fs_err::create_dir_all(&device).unwrap();
        fs_err::write(device.join("seed"), b"from the device\n").unwrap();
        let bv = format!("bv-{t}");
        let device_opt = format!("device={}", s(&device));
        ok(
            &d,
            client,
            &[
                "volume",
                "create",
                "-o",
                "type=none",
                "-o",
                "o=bind",
                "-o",
                &device_opt,
                &bv,
            ],
        );
        let tv = format!("tv-{t}");
        ok(
            &d,
            client,
            &[
                "volume",
                "create",
                "-o",
                "type=tmpfs",
                "-o",
                "device=tmpfs",
                "-o",
                "o=size=1m",
                &tv,
            ],
        );
        let c = format!("dev-{t}");
        let (b_spec, t_spec) = (format!("{bv}:/b"), format!("{tv}:/t"));
        ok(
            &d,
            client,
            &[
                "create",
                "--network",
                "none",
                "--name",
                &c,
                "-v",
                &b_spec,
                "-v",
                &t_spec,
                "img",
                "true",
            ],
        );
        let before = mounts_under(&volumes_dir);
        assert!(before.is_empty(), "{who}: {before:?}");

        let out = work.join(format!("seed-{t}"));
        ok(&d, client, &["cp", &format!("{c}:/b/seed"), s(&out)]);
        assert_eq!(
            fs_err::read_to_string(&out).unwrap(),
            "from the device\n",
            "{who}"
        );
        ok(&d, client, &["cp", s(&upload), &format!("{c}:/b/")]);
        assert_eq!(
            fs_err::read_to_string(device.join("upload.txt")).unwrap(),
            "uploaded\n",
            "{who}: cp into a stopped container's bind-device volume missed the device"
        );
        assert!(
            !d.volume_data(&bv).join("upload.txt").exists(),
            "{who}: cp wrote under the volume's _data"
        );

        // A tmpfs volume: a fresh tmpfs for the copy, gone after it.
        ok(&d, client, &["cp", s(&upload), &format!("{c}:/t/")]);
        assert!(
            !d.volume_data(&tv).join("upload.txt").exists(),
            "{who}: cp into a tmpfs volume wrote to the disk"
        );
        let err = fails_with(
            &d,
            client,
            &["cp", &format!("{c}:/t/upload.txt"), s(&work.join("x"))],
            1,
        );
        assert!(
            err.contains(&format!(
                "Could not find the file /t/upload.txt in container {c}"
            )),
            "{who}: {err}"
        );
        assert_eq!(mounts_under(&volumes_dir), before, "{who}: cp left mounts");

        // Started, the container sees the device's data too.
        ok(&d, client, &["rm", &c]);
        let out = ok(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                &b_spec,
                "img",
                "cat",
                "/b/upload.txt",
            ],
        );
        assert_eq!(out, "uploaded\n", "{who}");
        ok(&d, client, &["volume", "rm", &bv, &tv]);
    }
    assert!(mounts_under(&volumes_dir).is_empty());
}

#[test]
fn volume_subpath_mounts_a_part_of_the_volume_and_nothing_outside() {
    let d = Daemon::start();
    image(&d);
    let work = d.dir.path().join("work");
    fs_err::create_dir_all(&work).unwrap();
    let upload = work.join("upload.txt");
    fs_err::write(&upload, b"uploaded\n").unwrap();
    let subpaths = |d: &Daemon| -> Vec<String> {
        mounts_under(&d.exec_root())
            .into_iter()
            .filter(|m| m.contains("/subpaths"))
            .collect()
    };
    for client in CLIENTS {
        let who = client.0;
        let t = short(client);
        let vol = format!("sv-{t}");
        ok(&d, client, &["volume", "create", &vol]);
        let data = d.volume_data(&vol);
        fs_err::create_dir_all(data.join("sub")).unwrap();
        fs_err::write(data.join("sub/f"), b"in sub\n").unwrap();
        fs_err::write(data.join("top"), b"at the top\n").unwrap();
        fs_err::create_dir_all(data.join("links")).unwrap();
        // Inside the volume: fine. Out of it: refused.
        std::os::unix::fs::symlink("../sub", data.join("links/inside")).unwrap();
        std::os::unix::fs::symlink("/", data.join("links/root")).unwrap();
        std::os::unix::fs::symlink("../../../../../../..", data.join("links/up")).unwrap();
        let mount =
            |sub: &str, dst: &str| format!("type=volume,src={vol},dst={dst},volume-subpath={sub}");
        // The sub-directory, and only it.
        let out = ok(
            &d,
            client,
            &call(&run_args(&mount("sub", "/m"), &["ls", "/m"])),
        );
        assert_eq!(out, "f\n", "{who}");
        let out = ok(
            &d,
            client,
            &call(&run_args(
                &mount("sub", "/m"),
                &["sh", "-c", "cat /m/f; echo new > /m/g"],
            )),
        );
        assert_eq!(out, "in sub\n", "{who}");
        assert_eq!(fs_err::read_to_string(data.join("sub/g")).unwrap(), "new\n");
        // A file, and a symlink that stays in the volume.
        let out = ok(
            &d,
            client,
            &call(&run_args(&mount("sub/f", "/f"), &["cat", "/f"])),
        );
        assert_eq!(out, "in sub\n", "{who}");
        let out = ok(
            &d,
            client,
            &call(&run_args(&mount("links/inside", "/m"), &["cat", "/m/f"])),
        );
        assert_eq!(out, "in sub\n", "{who}");
        // Read-only.
        let ro = format!("{},readonly", mount("sub", "/m"));
        let o = (client.1)(&d, &call(&run_args(&ro, &["sh", "-c", "echo x > /m/h"])));
        assert!(!o.status.success(), "{who}: wrote to a read-only subpath");
        assert!(!data.join("sub/h").exists(), "{who}");

        // Symlinks out of the volume: dockerd's error at start.
        for sub in ["links/root", "links/up", "links/up/etc"] {
            let name = format!("esc-{t}");
            let m = mount(sub, "/m");
            let err = fails_with(
                &d,
                client,
                &[
                    "run",
                    "--name",
                    &name,
                    "--network",
                    "none",
                    "--mount",
                    &m,
                    "img",
                    "ls",
                    "/m",
                ],
                125,
            );
            let want = format!(
                "path concatenation escapes the base directory, base: {}, subpath: {sub}",
                s(&data)
            );
            assert!(err.contains(&want), "{who} {sub}: {err}");
            ok(&d, client, &["rm", "-f", &name]);
        }
        // Missing: dockerd's error at start (127: the docker CLI's code
        // for a start error that says "no such file or directory").
        let name = format!("miss-{t}");
        let m = mount("nope/deeper", "/m");
        let err = fails_with(
            &d,
            client,
            &[
                "run",
                "--name",
                &name,
                "--network",
                "none",
                "--mount",
                &m,
                "img",
                "true",
            ],
            127,
        );
        let want = format!(
            "cannot access path {0}/nope/deeper: lstat {0}/nope: no such file or directory",
            s(&data)
        );
        assert!(err.contains(&want), "{who}: {err}");
        ok(&d, client, &["rm", "-f", &name]);

        // Refused at create, nothing made.
        for (m, want) in [
            (
                mount("../x", "/m"),
                "invalid mount config for type \"volume\": subpath must be a relative path within the volume",
            ),
            (
                mount("/abs", "/m"),
                "invalid mount config for type \"volume\": subpath must be a relative path within the volume",
            ),
            (
                mount("a/../../x", "/m"),
                "invalid mount config for type \"volume\": subpath must be a relative path within the volume",
            ),
            (
                "type=volume,dst=/m,volume-subpath=x".to_owned(),
                "invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes",
            ),
        ] {
            let err = fails_with(
                &d,
                client,
                &[
                    "create",
                    "--name",
                    &format!("bad-{t}"),
                    "--mount",
                    &m,
                    "img",
                    "true",
                ],
                1,
            );
            assert!(err.contains(want), "{who} {m}: {err}");
            assert!(
                !ok(&d, client, &["ps", "-a", "--format", "{{.Names}}"]).contains("bad-"),
                "{who} {m}: a container was left"
            );
        }

        // docker cp through a subpath mount, stopped and running.
        let c = format!("cpsub-{t}");
        let m = mount("sub", "/m");
        ok(
            &d,
            client,
            &[
                "create",
                "--network",
                "none",
                "--name",
                &c,
                "--mount",
                &m,
                "img",
                "sleep",
                "1000",
            ],
        );
        ok(&d, client, &["cp", s(&upload), &format!("{c}:/m/")]);
        assert!(
            data.join("sub/upload.txt").exists(),
            "{who}: stopped cp missed the subpath"
        );
        assert!(!data.join("upload.txt").exists(), "{who}");
        assert!(subpaths(&d).is_empty(), "{who}: {:?}", subpaths(&d));
        ok(&d, client, &["start", &c]);
        assert_eq!(subpaths(&d).len(), 1, "{who}");
        let out = work.join(format!("back-{t}"));
        ok(&d, client, &["cp", &format!("{c}:/m/f"), s(&out)]);
        assert_eq!(fs_err::read_to_string(&out).unwrap(), "in sub\n", "{who}");
        ok(&d, client, &["rm", "-f", &c]);
        assert!(subpaths(&d).is_empty(), "{who}: {:?}", subpaths(&d));
        ok(&d, client, &["volume", "rm", &vol]);
    }
}

#[test]
fn image_mounts_are_read_only_views_of_an_image() {
    let d = Daemon::start();
    image(&d);
    // A second layer: an overlay of two lower layers, not a bind.
    let script = "mkdir -p /sub && echo layer2 > /sub/second";
    commit_layer(&d, "mk", "img", script, "img2");
    for client in CLIENTS {
        let who = client.0;
        let t = short(client);
        let out = ok(
            &d,
            client,
            &call(&run_args(
                "type=image,source=img2,target=/i",
                &["cat", "/i/sub/second", "/i/etc/passwd"],
            )),
        );
        assert_eq!(out, "layer2\nroot:x:0:0:root:/root:/bin/sh\n", "{who}");
        // A single-layer image, and a subpath of one.
        let out = ok(
            &d,
            client,
            &call(&run_args(
                "type=image,src=img,dst=/i,image-subpath=etc",
                &["cat", "/i/passwd"],
            )),
        );
        assert_eq!(out, "root:x:0:0:root:/root:/bin/sh\n", "{who}");
        let out = ok(
            &d,
            client,
            &call(&run_args(
                "type=image,src=img2,dst=/i,image-subpath=sub",
                &["ls", "/i"],
            )),
        );
        assert_eq!(out, "second\n", "{who}");
        // Read-only.
        let o = (client.1)(
            &d,
            &call(&run_args(
                "type=image,source=img2,target=/i",
                &["sh", "-c", "echo x > /i/new"],
            )),
        );
        assert!(!o.status.success(), "{who}: wrote into an image mount");
        // A missing image.
        let err = fails_with(
            &d,
            client,
            &[
                "create",
                "--name",
                &format!("noimg-{t}"),
                "--mount",
                "type=image,source=nope-image,target=/i",
                "img",
                "true",
            ],
            1,
        );
        assert!(err.contains("No such image: nope-image"), "{who}: {err}");

        // In use: `rmi` is a conflict, until the container goes.
        let c = format!("keep-{t}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &c,
                "--network",
                "none",
                "--mount",
                "type=image,source=img2,target=/i",
                "img",
                "true",
            ],
        );
        let err = fails_with(&d, client, &["rmi", "img2"], 1);
        assert!(
            err.contains(
                "conflict: unable to remove repository reference \"img2\" (must force) - container"
            ),
            "{who}: {err}"
        );
        ok(&d, client, &["start", "-a", &c]);
        ok(&d, client, &["rm", &c]);
        assert!(image_mounts(&d).is_empty(), "{who}: {:?}", image_mounts(&d));
    }
    d.ok(&["rmi", "img2"]);
}
