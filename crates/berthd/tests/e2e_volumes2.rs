//! Volumes, the rest of docker's behaviour, through `berth` and the real
//! docker 28 CLI: `volume rm` of a volume a container uses (running or
//! stopped) is refused, `-f` too, with the volume and its data kept;
//! `volume create -o size=` gives a clear error and creates nothing;
//! `ps --filter volume=`; `inspect NAME` finds volumes and networks;
//! `--mount` options berth does not support get clear errors and leave
//! nothing; `--volumes-from` skips tmpfs mounts; `HostConfig.Mounts`
//! leaves empty fields out; the copy of an image's content into a new
//! volume keeps owners, modes and xattrs; `docker cp` into and out of a
//! volume or bind of a stopped and of a running container reads and
//! writes the volume's data (never a host path through a symlink), and
//! leaves no mount behind.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::Daemon;
use common::clients::short;
use common::clients::{BERTH, Client, DOCKER, fails_with, ok};
use common::{mounts_under, s};
use serde_json::Value;

const CLIENTS: [Client; 2] = [BERTH, DOCKER];

fn volume_names(d: &Daemon) -> Vec<String> {
    d.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn container_id(d: &Daemon, name: &str) -> String {
    d.ok(&["inspect", "--format", "{{.Id}}", name])
        .trim()
        .to_owned()
}

/// A busybox image `img`: every applet, and `/data` (1234:5678, 0711)
/// holding `f` (1234:5678, 0640, xattr `user.note=hello`), a hard link
/// `f2` to it and `sub` (0750). Imported from a tar made with xattrs.
fn image(d: &Daemon) {
    let root = d.dir.path().join("img");
    common::busybox_root(&root, &["data/sub"]);
    let f = root.join("data/f");
    fs_err::write(&f, b"from the image\n").unwrap();
    rustix::fs::setxattr(&f, "user.note", b"hello", rustix::fs::XattrFlags::empty())
        .expect("the test's temporary directory must take user.* xattrs");
    fs_err::hard_link(&f, root.join("data/f2")).unwrap();
    for (p, mode) in [("data", 0o711), ("data/f", 0o640), ("data/sub", 0o750)] {
        nix::unistd::chown(&root.join(p), Some(1234.into()), Some(5678.into())).unwrap();
        fs_err::set_permissions(root.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let tar = d.dir.path().join("img.tar");
    let status = Command::new("tar")
        .args(["--xattrs", "--xattrs-include=user.*", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success(), "tar of the image failed");
    d.ok(&["import", s(&tar), "img"]);
}

#[test]
fn rm_of_a_volume_in_use_is_refused_and_keeps_it() {
    let d = Daemon::start();
    image(&d);
    for client in CLIENTS {
        let who = client.0;
        let t = short(client);
        let (vrun, vstop) = (format!("vrun-{t}"), format!("vstop-{t}"));
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                &format!("running-{t}"),
                "-v",
                &format!("{vrun}:/v"),
                "img",
                "sh",
                "-c",
                "echo kept > /v/data; sleep 1000",
            ],
        );
        ok(
            &d,
            client,
            &[
                "run",
                "--network",
                "none",
                "--name",
                &format!("stopped-{t}"),
                "-v",
                &format!("{vstop}:/v"),
                "img",
                "sh",
                "-c",
                "echo kept > /v/data",
            ],
        );
        common::until("the running container wrote its file", || {
            d.volume_data(&vrun).join("data").exists()
        });
        for (volume, container) in [
            (&vrun, format!("running-{t}")),
            (&vstop, format!("stopped-{t}")),
        ] {
            let id = container_id(&d, &container);
            let want =
                format!("Error response from daemon: remove {volume}: volume is in use - [{id}]");
            for force in [false, true] {
                let mut args = vec!["volume", "rm"];
                if force {
                    args.push("-f");
                }
                args.push(volume);
                let err = fails_with(&d, client, &args, 1);
                assert_eq!(err.trim_end(), want, "{who} {args:?}");
            }
            assert!(volume_names(&d).contains(volume), "{volume} was removed");
            assert_eq!(
                fs_err::read_to_string(d.volume_data(volume).join("data")).unwrap(),
                "kept\n",
                "{volume}'s data"
            );
        }
        // Once the containers are gone, the volumes go.
        ok(
            &d,
            client,
            &["rm", "-f", &format!("running-{t}"), &format!("stopped-{t}")],
        );
        ok(&d, client, &["volume", "rm", &vrun, &vstop]);
        assert!(!d.volume_data(&vrun).exists() && !d.volume_data(&vstop).exists());

        // `-o size=`: the local driver needs project quotas berth does not
        // have; a clear error and nothing created.
        let err = fails_with(
            &d,
            client,
            &["volume", "create", "-o", "size=10m", "sized"],
            1,
        );
        assert_eq!(
            err.trim_end(),
            "Error response from daemon: create sized: quota size requested but no quota support"
        );
        assert_eq!(volume_names(&d), Vec::<String>::new());
        assert!(!d.data_root().join("volumes/sized").exists());
    }
}

#[test]
fn ps_filter_inspect_and_mount_options() {
    let d = Daemon::start();
    image(&d);
    let host = d.dir.path().join("bindsrc");
    fs_err::create_dir_all(&host).unwrap();
    ok(&d, BERTH, &["volume", "create", "shared"]);
    ok(
        &d,
        BERTH,
        &[
            "create",
            "--network",
            "none",
            "--name",
            "withvol",
            "-v",
            "shared:/srv",
            "img",
            "true",
        ],
    );
    ok(
        &d,
        BERTH,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "withbind",
            "-v",
            &format!("{}:/b", s(&host)),
            "img",
            "sleep",
            "1000",
        ],
    );
    ok(
        &d,
        BERTH,
        &[
            "create",
            "--network",
            "none",
            "--name",
            "plain",
            "img",
            "true",
        ],
    );
    for client in CLIENTS {
        let who = client.0;
        let ps = |filter: &str| -> String {
            ok(
                &d,
                client,
                &["ps", "-a", "--filter", filter, "--format", "{{.Names}}"],
            )
        };
        assert_eq!(ps("volume=shared"), "withvol\n", "{who}");
        assert_eq!(ps("volume=/srv"), "withvol\n", "{who}");
        assert_eq!(ps(&format!("volume={}", s(&host))), "withbind\n", "{who}");
        assert_eq!(ps("volume=/b"), "withbind\n", "{who}");
        assert_eq!(ps("volume=nope"), "", "{who}");
        let both = ok(
            &d,
            client,
            &[
                "ps",
                "-a",
                "--filter",
                "volume=shared",
                "--filter",
                "volume=/b",
                "--format",
                "{{.Names}}",
            ],
        );
        let mut both: Vec<&str> = both.lines().collect();
        both.sort_unstable();
        assert_eq!(both, ["withbind", "withvol"], "{who}");

        // inspect NAME: volumes and networks too.
        let v: Value = serde_json::from_str(&ok(&d, client, &["inspect", "shared"])).unwrap();
        assert_eq!(v[0]["Name"], "shared", "{who}: {v}");
        assert_eq!(v[0]["Driver"], "local", "{who}: {v}");
        let n: Value = serde_json::from_str(&ok(&d, client, &["inspect", "none"])).unwrap();
        assert_eq!(n[0]["Name"], "none", "{who}: {n}");
        assert_eq!(n[0]["Driver"], "null", "{who}: {n}");
        let name = ok(
            &d,
            client,
            &[
                "inspect",
                "--type",
                "volume",
                "--format",
                "{{.Mountpoint}}",
                "shared",
            ],
        );
        assert_eq!(name.trim(), s(&d.volume_data("shared")), "{who}");
        let err = fails_with(&d, client, &["inspect", "nope-at-all"], 1);
        assert!(
            err.contains("Error: No such object: nope-at-all"),
            "{who}: {err}"
        );

        // A --mount option berth does not support: a clear error, nothing made.
        let t = short(client);
        let mount = format!(
            "type=bind,src={},dst=/b,readonly,bind-recursive=readonly,bind-propagation=rprivate",
            s(&host)
        );
        let want =
            "recursively read-only binds (bind-recursive=readonly) are not supported by berth";
        let err = fails_with(
            &d,
            client,
            &[
                "run",
                "--network",
                "none",
                "--name",
                &format!("bad-{t}"),
                "--mount",
                &mount,
                "img",
                "true",
            ],
            125,
        );
        assert!(err.contains(want), "{who} --mount {mount}: {err}");
        assert!(
            !ok(&d, client, &["ps", "-a", "--format", "{{.Names}}"]).contains("bad-"),
            "{who} --mount {mount} left a container"
        );
        assert_eq!(volume_names(&d), ["shared"], "{who} --mount {mount}");

        // --volumes-from: volumes and binds, never tmpfs mounts.
        ok(
            &d,
            client,
            &[
                "create",
                "--network",
                "none",
                "--name",
                &format!("src-{t}"),
                "--mount",
                "type=tmpfs,dst=/t",
                "--tmpfs",
                "/t2",
                "-v",
                &format!("vf-{t}:/v"),
                "img",
                "true",
            ],
        );
        let out = ok(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--volumes-from",
                &format!("src-{t}"),
                "img",
                "sh",
                "-c",
                "grep -c ' /t' /proc/mounts; test -d /v && echo has-v",
            ],
        );
        assert_eq!(
            out, "0\nhas-v\n",
            "{who}: tmpfs mounts came through --volumes-from"
        );
        ok(&d, client, &["rm", "-v", &format!("src-{t}")]);

        // HostConfig.Mounts as dockerd shows it: no empty fields.
        let name = format!("hm-{t}");
        ok(
            &d,
            client,
            &[
                "create",
                "--network",
                "none",
                "--name",
                &name,
                "--mount",
                &format!("type=volume,src=hm-{t},dst=/d"),
                "--mount",
                &format!("type=bind,src={},dst=/b,readonly", s(&host)),
                "--mount",
                "type=tmpfs,dst=/t,tmpfs-size=1m",
                "img",
                "true",
            ],
        );
        let mounts: Value = serde_json::from_str(&ok(
            &d,
            client,
            &["inspect", "--format", "{{json .HostConfig.Mounts}}", &name],
        ))
        .unwrap();
        let by_target = |target: &str| {
            mounts
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["Target"] == target)
                .cloned()
                .unwrap_or_else(|| panic!("{who}: no mount at {target}: {mounts}"))
        };
        assert_eq!(
            by_target("/d"),
            serde_json::json!({"Type": "volume", "Source": format!("hm-{t}"), "Target": "/d"}),
            "{who}"
        );
        let bind = by_target("/b");
        assert_eq!(bind["Type"], "bind", "{who}: {bind}");
        assert_eq!(bind["ReadOnly"], true, "{who}: {bind}");
        assert_eq!(
            by_target("/t"),
            serde_json::json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576}}),
            "{who}"
        );
        fn no_empty(v: &Value, at: &str) {
            match v {
                Value::Object(map) => {
                    for (k, x) in map {
                        let empty = matches!(x, Value::Null | Value::Bool(false))
                            || x.as_str() == Some("")
                            || x.as_object().is_some_and(serde_json::Map::is_empty)
                            || x.as_i64() == Some(0);
                        assert!(!empty, "{at}.{k} is empty but shown: {v}");
                        no_empty(x, &format!("{at}.{k}"));
                    }
                }
                Value::Array(list) => list.iter().for_each(|x| no_empty(x, at)),
                _ => {}
            }
        }
        no_empty(&mounts, "HostConfig.Mounts");
        ok(&d, client, &["rm", "-v", &name]);
        ok(
            &d,
            client,
            &["volume", "rm", &format!("hm-{t}"), &format!("vf-{t}")],
        );
    }
    ok(&d, BERTH, &["rm", "-f", "withvol", "withbind", "plain"]);
    assert_eq!(
        mounts_under(&d.data_root().join("volumes")),
        Vec::<String>::new()
    );
}

#[test]
fn copy_up_keeps_owners_modes_hard_links_and_xattrs() {
    let d = Daemon::start();
    image(&d);
    for client in CLIENTS {
        let who = client.0;
        let vol = format!("cu-{}", short(client));
        let out = ok(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                &format!("{vol}:/data"),
                "img",
                "cat",
                "/data/f",
            ],
        );
        assert_eq!(out, "from the image\n", "{who}");
        let dir = d.volume_data(&vol);
        let meta = |p: &Path| fs_err::symlink_metadata(p).unwrap();
        for (p, mode) in [
            (dir.clone(), 0o711),
            (dir.join("f"), 0o640),
            (dir.join("sub"), 0o750),
        ] {
            let m = meta(&p);
            assert_eq!(
                (m.uid(), m.gid(), m.mode() & 0o7777),
                (1234, 5678, mode),
                "{who}: owner and mode of {}",
                p.display()
            );
        }
        assert_eq!(
            meta(&dir.join("f")).ino(),
            meta(&dir.join("f2")).ino(),
            "{who}: the hard link was not kept"
        );
        let mut buf = [0u8; 64];
        let n = rustix::fs::getxattr(dir.join("f"), "user.note", &mut buf)
            .unwrap_or_else(|e| panic!("{who}: user.note not copied: {e}"));
        assert_eq!(&buf[..n], b"hello", "{who}");
    }
}

#[test]
fn cp_reads_and_writes_volumes_and_binds_of_stopped_and_running_containers() {
    let d = Daemon::start();
    image(&d);
    let work = d.dir.path().join("work");
    let bind = d.dir.path().join("bind");
    fs_err::create_dir_all(&work).unwrap();
    fs_err::create_dir_all(&bind).unwrap();
    let upload = work.join("upload.txt");
    fs_err::write(&upload, b"uploaded\n").unwrap();
    let canary = format!("berth-cp-canary-{}", std::process::id());
    let volumes_dir = d.data_root().join("volumes");
    for client in CLIENTS {
        let who = client.0;
        for running in [false, true] {
            let t = format!("{}{}", short(client), if running { "r" } else { "s" });
            let (c, vol) = (format!("cp-{t}"), format!("cpv-{t}"));
            let bind_dir = bind.join(&t);
            fs_err::create_dir_all(&bind_dir).unwrap();
            fs_err::write(bind_dir.join("in-bind"), b"bind data\n").unwrap();
            let mut args = vec!["create", "--network", "none", "--name", &c];
            let vspec = format!("{vol}:/data");
            let bspec = format!("{}:/mnt/b", s(&bind_dir));
            let rospec = format!("ro-{t}:/ro:ro");
            args.extend([
                "-v", &vspec, "-v", &bspec, "-v", &rospec, "img", "sleep", "1000",
            ]);
            ok(&d, client, &args);
            // Written on the host into the volume: cp reads it from there.
            fs_err::write(d.volume_data(&vol).join("seed"), b"seeded\n").unwrap();
            // A symlink in the volume to the container's `/`: it must
            // never lead to the host's `/`.
            std::os::unix::fs::symlink("/", d.volume_data(&vol).join("up")).unwrap();
            if running {
                ok(&d, client, &["start", &c]);
            }
            let before = mounts_under(&volumes_dir);

            let out = work.join(format!("seed-{t}"));
            ok(&d, client, &["cp", &format!("{c}:/data/seed"), s(&out)]);
            assert_eq!(
                fs_err::read_to_string(&out).unwrap(),
                "seeded\n",
                "{who} {t}"
            );
            let out = work.join(format!("bind-{t}"));
            ok(&d, client, &["cp", &format!("{c}:/mnt/b/in-bind"), s(&out)]);
            assert_eq!(
                fs_err::read_to_string(&out).unwrap(),
                "bind data\n",
                "{who} {t}"
            );
            // A directory holding the volume: its content comes along.
            let out = work.join(format!("tree-{t}"));
            ok(&d, client, &["cp", &format!("{c}:/data"), s(&out)]);
            assert_eq!(
                fs_err::read_to_string(out.join("seed")).unwrap(),
                "seeded\n",
                "{who} {t}"
            );

            ok(&d, client, &["cp", s(&upload), &format!("{c}:/data/")]);
            assert_eq!(
                fs_err::read_to_string(d.volume_data(&vol).join("upload.txt")).unwrap(),
                "uploaded\n",
                "{who} {t}: cp into the volume did not reach its data"
            );
            ok(&d, client, &["cp", s(&upload), &format!("{c}:/mnt/b/")]);
            assert_eq!(
                fs_err::read_to_string(bind_dir.join("upload.txt")).unwrap(),
                "uploaded\n",
                "{who} {t}: cp into the bind did not reach its source"
            );
            // Through the symlink: the container's `/`, not the host's.
            let canary_file = work.join(&canary);
            fs_err::write(&canary_file, b"canary\n").unwrap();
            ok(
                &d,
                client,
                &["cp", s(&canary_file), &format!("{c}:/data/up/tmp/")],
            );
            assert!(
                !Path::new("/tmp").join(&canary).exists(),
                "{who} {t}: cp through a symlink in the volume wrote to the host"
            );
            fs_err::remove_file(&canary_file).unwrap();
            let back = work.join(format!("canary-{t}"));
            ok(&d, client, &["cp", &format!("{c}:/tmp/{canary}"), s(&back)]);
            assert_eq!(
                fs_err::read_to_string(&back).unwrap(),
                "canary\n",
                "{who} {t}"
            );
            // A read-only volume refuses, as dockerd.
            let err = fails_with(&d, client, &["cp", s(&upload), &format!("{c}:/ro/")], 1);
            assert!(
                err.contains("mounted volume is marked read-only"),
                "{who} {t}: {err}"
            );

            if running {
                // The container sees what cp wrote.
                let out = ok(
                    &d,
                    client,
                    &["exec", &c, "cat", "/data/upload.txt", "/mnt/b/upload.txt"],
                );
                assert_eq!(out, "uploaded\nuploaded\n", "{who} {t}");
            }
            assert_eq!(
                mounts_under(&volumes_dir),
                before,
                "{who} {t}: cp left mounts"
            );
            ok(&d, client, &["rm", "-f", "-v", &c]);
            ok(&d, client, &["volume", "rm", &vol, &format!("ro-{t}")]);
        }
    }
    assert_eq!(
        mounts_under(d.dir.path())
            .iter()
            .filter(|m| m.contains("/volumes/"))
            .count(),
        0
    );
}
