//! Mounts on `run`/`create` through the berth CLI and the real docker CLI:
//! `-v` binds (directories, single files, `:ro`, missing sources,
//! propagation), named and anonymous volumes (copy-up from the image,
//! `nocopy`, removal with `rm -v` and `--rm`), `--mount` of every type,
//! `--volumes-from` chains, the image's `VOLUME`s, inspect's `Mounts`,
//! data that outlives containers and a berthd restart, docker's errors
//! for bad input with nothing created, and no host path the user did not
//! name ever mounted through a symlink in the image or one swapped in
//! while a container is set up (CVE-2021-30465). Every test checks the
//! host's mount table for leaks.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::Daemon;
use common::clients::{BERTH, Client, DOCKER, DOCKER20, fails, ok, text};
use common::{mounts_under, s};

const CLIENTS: [Client; 2] = [BERTH, DOCKER];

/// `run --rm ARGS` with `client`: its output, asserting success.
fn run_rm(d: &Daemon, client: Client, args: &[&str]) -> String {
    ok(d, client, &[&["run", "--rm"], args].concat())
}

/// Names of all containers (`ps -a`).
fn all_containers(d: &Daemon) -> Vec<String> {
    d.ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Names of all volumes (the directories of berthd's volume store).
fn all_volumes(d: &Daemon) -> Vec<String> {
    let dir = d.data_root().join("volumes");
    let mut v: Vec<String> = match fs_err::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The test's host paths: a directory the image's symlinks point at (it
/// must never receive anything) and where bind sources live.
struct Host {
    secret: PathBuf,
    binds: PathBuf,
}

/// A busybox image `img` with every applet, users, `/data` (owned by
/// 1000:1000, mode 0711, with a 0640 file and a subdirectory), `VOLUME
/// /vol` with a seed file, and `/evil`, `/evil2` symlinks to the host's
/// secret directory.
fn setup(d: &Daemon) -> Host {
    let root = d.dir.path().join("img");
    let host = Host {
        secret: d.dir.path().join("secret"),
        binds: d.dir.path().join("binds"),
    };
    fs_err::create_dir_all(&host.secret).unwrap();
    fs_err::write(host.secret.join("secret"), b"host secret\n").unwrap();
    fs_err::create_dir_all(&host.binds).unwrap();
    common::busybox_bin(&root);
    for dir in ["etc", "tmp", "data/sub", "vol"] {
        fs_err::create_dir_all(root.join(dir)).unwrap();
    }
    fs_err::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
    )
    .unwrap();
    fs_err::write(root.join("etc/group"), "root:x:0:\nalice:x:1000:\n").unwrap();
    fs_err::write(root.join("data/f"), b"from the image\n").unwrap();
    fs_err::set_permissions(root.join("data/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    for p in ["data", "data/f", "data/sub"] {
        nix::unistd::chown(&root.join(p), Some(1000.into()), Some(1000.into())).unwrap();
    }
    fs_err::set_permissions(root.join("data"), std::fs::Permissions::from_mode(0o711)).unwrap();
    fs_err::write(root.join("vol/seed"), b"seed\n").unwrap();
    std::os::unix::fs::symlink(&host.secret, root.join("evil")).unwrap();
    std::os::unix::fs::symlink(&host.secret, root.join("evil2")).unwrap();
    let tar = d.dir.path().join("img.tar");
    common::tar_dir(&root, &tar);
    d.ok(&["import", "--change", "VOLUME /vol", s(&tar), "img"]);
    host
}

/// The host's secret directory is untouched: its one file, nothing
/// mounted on or under it.
fn secret_untouched(h: &Host) {
    let names: Vec<String> = fs_err::read_dir(&h.secret)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["secret"], "the host's secret directory changed");
    assert_eq!(
        mounts_under(&h.secret),
        Vec::<String>::new(),
        "something was mounted on a host path the user did not name"
    );
}

#[test]
fn binds_files_read_only_and_missing_sources() {
    let d = Daemon::start();
    let h = setup(&d);
    for client in [BERTH, DOCKER, DOCKER20] {
        let tag = client.0.replace(' ', "-");
        let dir = h.binds.join(format!("dir-{tag}"));
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(dir.join("owned"), b"mine\n").unwrap();
        nix::unistd::chown(&dir.join("owned"), Some(4321.into()), Some(99.into())).unwrap();
        // A directory, read-write: host ownership as is, writes land on the host.
        let out = run_rm(
            &d,
            client,
            &[
                "-v",
                &format!("{}:/data", s(&dir)),
                "img",
                "sh",
                "-c",
                "stat -c %u:%g /data/owned; cat /data/owned; echo new > /data/written",
            ],
        );
        assert_eq!(out, "4321:99\nmine\n", "{}", client.0);
        assert_eq!(fs_err::read(dir.join("written")).unwrap(), b"new\n");
        // A single file binds as a file; `:ro` really is read-only.
        let file = h.binds.join(format!("file-{tag}"));
        fs_err::write(&file, b"one file\n").unwrap();
        let out = client.1(
            &d,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{}:/etc/one:ro,Z", s(&file)),
                "-v",
                &format!("{}:/ro:ro", s(&dir)),
                "img",
                "sh",
                "-c",
                "test -f /etc/one && cat /etc/one; echo x > /etc/one; touch /ro/x; grep -c ' /ro ' /proc/mounts",
            ],
        );
        let stderr = text(&out.stderr);
        assert_eq!(text(&out.stdout), "one file\n1\n", "{}: {stderr}", client.0);
        assert_eq!(
            stderr.matches("Read-only file system").count(),
            2,
            "{}: {stderr}",
            client.0
        );
        assert_eq!(fs_err::read(&file).unwrap(), b"one file\n");
        assert!(!dir.join("x").exists());
        // A missing `-v` source is made (a directory, as dockerd does).
        let missing = h.binds.join(format!("missing-{tag}/deep"));
        run_rm(
            &d,
            client,
            &[
                "-v",
                &format!("{}:/m", s(&missing)),
                "img",
                "touch",
                "/m/made",
            ],
        );
        assert!(missing.join("made").is_file());
        // `--mount type=bind` with a missing source: dockerd's error, nothing made.
        let absent = h.binds.join(format!("absent-{tag}"));
        let (code, err) = fails(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--mount",
                &format!("type=bind,source={},target=/x", s(&absent)),
                "img",
                "true",
            ],
        );
        assert_eq!(code, 125, "{}", client.0);
        assert!(
            err.contains(&format!(
                "Error response from daemon: invalid mount config for type \"bind\": bind source path does not exist: {}",
                s(&absent)
            )),
            "{}: {err}",
            client.0
        );
        assert!(!absent.exists());
        // `--mount type=bind,readonly`, and a read-only bind inside a bind.
        let out = run_rm(
            &d,
            client,
            &[
                "--mount",
                &format!("type=bind,src={},dst=/b", s(&dir)),
                "--mount",
                &format!("type=bind,src={},dst=/b/inner/one,readonly", s(&file)),
                "--mount",
                &format!("type=bind,src={},dst=/c,readonly", s(&dir)),
                "img",
                "sh",
                "-c",
                "cat /b/owned /b/inner/one; touch /c/y 2>&1 | grep -c Read-only",
            ],
        );
        assert_eq!(out, "mine\none file\n1\n", "{}", client.0);
    }
    // Inspect shows the binds as docker does.
    let dir = h.binds.join("dir-berth");
    d.ok(&[
        "create",
        "--name",
        "ins",
        "-v",
        &format!("{}:/data:ro", s(&dir)),
        "--mount",
        &format!("type=bind,source={},target=/m2", s(&dir)),
        "img",
        "true",
    ]);
    // (The image's VOLUME /vol comes last, by destination.)
    let mounts = d.ok(&["inspect", "--format", "{{json .Mounts}}", "ins"]);
    let want = format!(
        r#"[{{"Type":"bind","Source":"{0}","Destination":"/data","Mode":"ro","RW":false,"Propagation":"rprivate"}},{{"Type":"bind","Source":"{0}","Destination":"/m2","Mode":"","RW":true,"Propagation":"rprivate"}},{{"Type":"volume","Name":""#,
        s(&dir)
    );
    assert!(mounts.starts_with(&want), "{mounts}");
    let binds = d.ok(&["inspect", "--format", "{{json .HostConfig.Binds}}", "ins"]);
    assert_eq!(binds.trim(), format!(r#"["{}:/data:ro"]"#, s(&dir)));
    d.ok(&["rm", "ins"]);
    secret_untouched(&h);
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
}

#[test]
fn bind_propagation() {
    use nix::mount::{MsFlags, mount};
    let d = Daemon::start();
    let _h = setup(&d);
    // A tmpfs of the test's own, shared, and one private.
    let shared = d.dir.path().join("shared");
    let private = d.dir.path().join("private");
    for (dir, flag) in [
        (&shared, MsFlags::MS_SHARED),
        (&private, MsFlags::MS_PRIVATE),
    ] {
        fs_err::create_dir_all(dir).unwrap();
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        mount(None::<&str>, dir, None::<&str>, flag, None::<&str>).unwrap();
    }
    for client in CLIENTS {
        let tag = client.0.replace(' ', "-");
        // rshared: a mount made inside the container shows on the host.
        let name = format!("prop-{tag}");
        let sub = format!("sub-{tag}");
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--privileged",
                "-v",
                &format!("{}:/s:rshared", s(&shared)),
                "img",
                "sh",
                "-c",
                &format!(
                    "mkdir -p /s/{sub} && mount -t tmpfs none /s/{sub} && touch /s/ready && sleep 1000"
                ),
            ],
        );
        common::until("the container mounted its tmpfs", || {
            shared.join("ready").exists()
        });
        assert!(
            mounts_under(&shared).contains(&s(&shared.join(&sub)).to_owned()),
            "{}: an rshared bind did not propagate to the host",
            client.0
        );
        ok(&d, client, &["rm", "-f", &name]);
        let _ = nix::mount::umount2(&shared.join(&sub), nix::mount::MntFlags::MNT_DETACH);
        fs_err::remove_file(shared.join("ready")).unwrap();
        // The default (rprivate): nothing comes back.
        run_rm(
            &d,
            client,
            &[
                "--privileged",
                "-v",
                &format!("{}:/s", s(&shared)),
                "img",
                "sh",
                "-c",
                &format!("mkdir -p /s/p-{tag} && mount -t tmpfs none /s/p-{tag}"),
            ],
        );
        assert!(
            !mounts_under(&shared).contains(&s(&shared.join(format!("p-{tag}"))).to_owned()),
            "{}: an rprivate bind propagated",
            client.0
        );
        // rslave: the host's new mounts show inside.
        let out = client.1(
            &d,
            &[
                "run",
                "--rm",
                "--mount",
                &format!(
                    "type=bind,source={},target=/s,bind-propagation=rslave",
                    s(&shared)
                ),
                "img",
                "grep",
                "-c",
                " /s ",
                "/proc/mounts",
            ],
        );
        assert_eq!(
            text(&out.stdout),
            "1\n",
            "{}: {}",
            client.0,
            text(&out.stderr)
        );
        // Shared propagation from a private mount: dockerd's error.
        let (code, err) = fails(
            &d,
            client,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{}:/s:shared", s(&private)),
                "img",
                "true",
            ],
        );
        assert_eq!(code, 125);
        assert!(
            err.contains(&format!(
                "path {} is mounted on {} but it is not a shared mount",
                s(&private),
                s(&private)
            )),
            "{}: {err}",
            client.0
        );
    }
    for dir in [&shared, &private] {
        let _ = nix::mount::umount2(dir.as_path(), nix::mount::MntFlags::MNT_DETACH);
    }
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
}

#[test]
fn volumes_named_anonymous_copy_up_and_removal() {
    let d = Daemon::start();
    let h = setup(&d);
    for client in CLIENTS {
        let tag = client.0.replace(' ', "-");
        let vol = format!("data-{tag}");
        // A new named volume is made on first use and filled from the
        // image, owners and modes kept.
        let out = run_rm(
            &d,
            client,
            &[
                "-v",
                &format!("{vol}:/data"),
                "img",
                "sh",
                "-c",
                "cat /data/f; stat -c '%u:%g %a' /data /data/f /data/sub; echo written > /data/w",
            ],
        );
        assert_eq!(
            out, "from the image\n1000:1000 711\n1000:1000 640\n1000:1000 755\n",
            "{}",
            client.0
        );
        // The data outlives the container: a new one reads it back, and
        // a volume that is not empty is not filled again.
        let out = run_rm(
            &d,
            client,
            &[
                "-v",
                &format!("{vol}:/data:ro"),
                "img",
                "sh",
                "-c",
                "cat /data/w; touch /data/z 2>&1 | grep -c Read-only",
            ],
        );
        assert_eq!(out, "written\n1\n", "{}", client.0);
        // `nocopy`: an empty volume stays empty.
        let out = run_rm(
            &d,
            client,
            &[
                "-v",
                &format!("empty-{tag}:/data:nocopy"),
                "img",
                "ls",
                "-A",
                "/data",
            ],
        );
        assert_eq!(out, "", "{}", client.0);
        let out = run_rm(
            &d,
            client,
            &[
                "--mount",
                &format!("type=volume,source=nc-{tag},target=/data,volume-nocopy"),
                "img",
                "ls",
                "-A",
                "/data",
            ],
        );
        assert_eq!(out, "", "{}", client.0);
        // Anonymous volumes: `-v /path` and the image's VOLUME; `rm -v`
        // removes them, never the named one.
        let before = all_volumes(&d);
        let name = format!("anon-{tag}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &name,
                "-v",
                "/anon",
                "-v",
                &format!("{vol}:/data"),
                "img",
                "true",
            ],
        );
        let mounts = ok(
            &d,
            client,
            &["inspect", "--format", "{{json .Mounts}}", &name],
        );
        let mounts: serde_json::Value = serde_json::from_str(&mounts).unwrap();
        let by_dest = |dest: &str| {
            mounts
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["Destination"] == dest)
                .unwrap_or_else(|| panic!("no mount at {dest}: {mounts}"))
                .clone()
        };
        let anon = by_dest("/anon");
        let anon_name = anon["Name"].as_str().unwrap().to_owned();
        assert_eq!(anon_name.len(), 64, "{anon}");
        let mut keys: Vec<&String> = anon.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "Destination",
                "Driver",
                "Mode",
                "Name",
                "Propagation",
                "RW",
                "Source",
                "Type"
            ]
        );
        assert_eq!(anon["Type"], "volume");
        assert_eq!(anon["Driver"], "local");
        assert_eq!(anon["RW"], true);
        assert_eq!(anon["Propagation"], "");
        assert_eq!(
            anon["Source"],
            s(&d.data_root().join("volumes").join(&anon_name).join("_data"))
        );
        let image_vol = by_dest("/vol");
        assert_eq!(image_vol["Type"], "volume");
        assert_eq!(by_dest("/data")["Name"], vol.as_str());
        let image_vol_name = image_vol["Name"].as_str().unwrap().to_owned();
        // The image's VOLUME was filled from the image.
        assert_eq!(
            fs_err::read(
                d.data_root()
                    .join("volumes")
                    .join(&image_vol_name)
                    .join("_data/seed")
            )
            .unwrap(),
            b"seed\n"
        );
        let config_volumes = ok(
            &d,
            client,
            &["inspect", "--format", "{{json .Config.Volumes}}", &name],
        );
        assert_eq!(config_volumes.trim(), r#"{"/anon":{},"/vol":{}}"#);
        ok(&d, client, &["rm", "-v", &name]);
        assert_eq!(
            all_volumes(&d),
            before,
            "{}: rm -v left or took volumes",
            client.0
        );
        // `--rm` removes the anonymous ones too, not the named.
        run_rm(
            &d,
            client,
            &["-v", "/anon", "-v", &format!("{vol}:/data"), "img", "true"],
        );
        assert_eq!(
            all_volumes(&d),
            before,
            "{}: --rm left or took volumes",
            client.0
        );
        // A named volume over the image's VOLUME: no anonymous one.
        let out = run_rm(
            &d,
            client,
            &["-v", &format!("{vol}:/vol"), "img", "ls", "/vol"],
        );
        assert_eq!(out, "f\nsub\nw\n", "{}", client.0);
        assert_eq!(all_volumes(&d), before);
        // A volume through a symlink in the image lands inside the
        // container; the copy-up does not follow it to the host.
        let out = run_rm(
            &d,
            client,
            &[
                "-v",
                &format!("sym-{tag}:/evil"),
                "img",
                "sh",
                "-c",
                "echo in > /evil/x; ls /evil",
            ],
        );
        assert_eq!(out, "x\n", "{}", client.0);
        assert_eq!(
            fs_err::read_dir(
                d.data_root()
                    .join("volumes")
                    .join(format!("sym-{tag}"))
                    .join("_data")
            )
            .unwrap()
            .count(),
            1
        );
    }
    // Plain `rm` keeps anonymous volumes (docker: only `-v` removes them).
    d.ok(&["create", "--name", "keep", "-v", "/kept", "img", "true"]);
    let kept = d.ok(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{if eq .Destination \"/kept\"}}{{.Name}}{{end}}{{end}}",
        "keep",
    ]);
    d.ok(&["rm", "keep"]);
    assert!(all_volumes(&d).contains(&kept.trim().to_owned()));
    secret_untouched(&h);
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
}

#[test]
fn mount_flag_tmpfs_volume_options_and_volumes_from() {
    let mut d = Daemon::start();
    let h = setup(&d);
    for client in CLIENTS {
        let tag = client.0.replace(' ', "-");
        // --mount type=tmpfs with size and mode.
        let out = run_rm(
            &d,
            client,
            &[
                "--mount",
                "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
                "img",
                "sh",
                "-c",
                "grep ' /t ' /proc/mounts | cut -d' ' -f3,4; stat -c %a /t",
            ],
        );
        assert!(
            out.starts_with("tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770"),
            "{}: {out}",
            client.0
        );
        assert!(out.ends_with("1770\n"), "{}: {out}", client.0);
        // A tmpfs volume (`volume-opt`): mounted on the host while used.
        let tv = format!("tv-{tag}");
        let data = d.data_root().join("volumes").join(&tv).join("_data");
        let out = run_rm(
            &d,
            client,
            &[
                "--mount",
                &format!(
                    "type=volume,source={tv},target=/tv,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m"
                ),
                "img",
                "sh",
                "-c",
                "grep ' /tv ' /proc/mounts | cut -d' ' -f3",
            ],
        );
        assert_eq!(out, "tmpfs\n", "{}", client.0);
        assert_eq!(
            mounts_under(&data),
            Vec::<String>::new(),
            "unmounted at exit"
        );
        // --volumes-from, chained: c inherits through b from a; `:ro`.
        let (a, b) = (format!("vfa-{tag}"), format!("vfb-{tag}"));
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &a,
                "-v",
                &format!("shared-{tag}:/shared"),
                "-v",
                "/anon",
                "-v",
                &format!("{}:/bind", s(&h.binds)),
                "img",
                "true",
            ],
        );
        ok(
            &d,
            client,
            &[
                "run",
                "--name",
                &b,
                "--volumes-from",
                &a,
                "img",
                "sh",
                "-c",
                "echo chained > /shared/f; echo a > /anon/f",
            ],
        );
        let out = run_rm(
            &d,
            client,
            &[
                "--volumes-from",
                &b,
                "img",
                "sh",
                "-c",
                "cat /shared/f /anon/f; test -d /bind && echo bind",
            ],
        );
        assert_eq!(out, "chained\na\nbind\n", "{}", client.0);
        let out = client.1(
            &d,
            &[
                "run",
                "--rm",
                "--volumes-from",
                &format!("{b}:ro"),
                "img",
                "touch",
                "/shared/g",
            ],
        );
        assert!(
            text(&out.stderr).contains("Read-only file system"),
            "{}",
            client.0
        );
        let from = ok(
            &d,
            client,
            &[
                "inspect",
                "--format",
                "{{json .HostConfig.VolumesFrom}}",
                &b,
            ],
        );
        assert_eq!(from.trim(), format!(r#"["{a}"]"#));
        // `rm -v` of the inheritor keeps the anonymous volume a still uses.
        let before = all_volumes(&d);
        ok(&d, client, &["rm", "-v", &b]);
        assert_eq!(all_volumes(&d), before);
        // a's own: `-v /anon` and the image's VOLUME /vol; not the named one.
        ok(&d, client, &["rm", "-v", &a]);
        assert_eq!(all_volumes(&d).len(), before.len() - 2, "{}", client.0);
    }
    // After a berthd restart a running container's tmpfs volume is still
    // counted: stopping it unmounts it on the host.
    let data = d.data_root().join("volumes/live/_data");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "--mount",
        "type=volume,source=live,target=/l,volume-opt=type=tmpfs,volume-opt=device=tmpfs",
        "img",
        "sleep",
        "1000",
    ]);
    d.ok(&["exec", "live", "sh", "-c", "echo kept > /l/f"]);
    assert_eq!(mounts_under(&data).len(), 1);
    d.kill9();
    d.restart();
    assert_eq!(d.ok(&["exec", "live", "cat", "/l/f"]), "kept\n");
    d.ok(&["stop", "-t", "0", "live"]);
    assert_eq!(
        mounts_under(&data),
        Vec::<String>::new(),
        "restart lost the count"
    );
    d.ok(&["rm", "live"]);
    secret_untouched(&h);
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
}

#[test]
fn bad_input_gets_dockers_errors_and_creates_nothing() {
    let d = Daemon::start();
    let h = setup(&d);
    let before = all_volumes(&d);
    let dir = s(&h.binds).to_owned();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["-v".into(), "/x:relative".into()],
            "Error response from daemon: invalid volume specification: '/x:relative': invalid mount config for type \"bind\": invalid mount path: 'relative' mount path must be absolute".into(),
        ),
        (
            vec!["-v".into(), "rel/x:/x".into()],
            "Error response from daemon: create rel/x: \"rel/x\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path".into(),
        ),
        (
            vec!["-v".into(), "/x:/y:bogus".into()],
            "Error response from daemon: invalid mode: bogus".into(),
        ),
        (
            vec!["-v".into(), format!("{dir}:/x"), "-v".into(), "vol1:/x".into()],
            "Error response from daemon: Duplicate mount point: /x".into(),
        ),
        (
            vec!["-v".into(), "vol1:/x".into(), "--tmpfs".into(), "/x".into()],
            "Error response from daemon: Duplicate mount point: /x".into(),
        ),
        (
            vec!["--mount".into(), "type=volume,source=vol1,target=/x,volume-driver=nope".into()],
            "Error response from daemon: create vol1: error looking up volume plugin nope: plugin \"nope\" not found".into(),
        ),
        (
            vec!["-v".into(), "vol1:/a".into(), "--volumes-from".into(), "ghost".into()],
            "Error response from daemon: No such container: ghost".into(),
        ),
        (
            vec!["--mount".into(), "type=foo,target=/x".into()],
            "Error response from daemon: invalid mount config for type \"foo\": mount type unknown".into(),
        ),
        (
            vec!["--mount".into(), "type=volume,target=/x,readonly".into()],
            "Error response from daemon: invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes".into(),
        ),
    ];
    for client in CLIENTS {
        for (flags, want) in &cases {
            let mut args: Vec<&str> = vec!["run", "--rm"];
            args.extend(flags.iter().map(String::as_str));
            args.extend(["img", "true"]);
            let (code, err) = fails(&d, client, &args);
            assert_eq!(code, 125, "{} {args:?}: {err}", client.0);
            assert!(
                err.contains(want.as_str()),
                "{} {args:?}:\n{err}\nwant: {want}",
                client.0
            );
        }
        // Refused by the clients themselves.
        let (code, err) = fails(&d, client, &["run", "--rm", "-v", ":/x", "img", "true"]);
        assert_eq!(code, 125);
        assert!(
            err.contains("invalid spec: :/x: empty section between colons"),
            "{}: {err}",
            client.0
        );
        let (code, err) = fails(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--mount",
                "type=volume,bind-propagation=shared,target=/x",
                "img",
                "true",
            ],
        );
        assert_eq!(code, 125);
        assert!(
            err.contains("cannot mix 'bind-*' options with mount type 'volume'"),
            "{}: {err}",
            client.0
        );
    }
    assert_eq!(all_containers(&d), Vec::<String>::new());
    assert_eq!(all_volumes(&d), before, "a refused run left a volume");
    assert_eq!(fs_err::read_dir(&h.binds).unwrap().count(), 0);
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
}

/// CVE-2021-30465: a bind's destination is a symlink in the image that
/// points at a host directory, or is swapped for one by another
/// container while this one is set up. The bind must land inside the
/// container every time; the host path it points at never gets a mount.
#[test]
fn symlinked_and_swapped_destinations_stay_inside_the_container() {
    let d = Daemon::start();
    let h = setup(&d);
    let src = h.binds.join("src");
    fs_err::create_dir_all(&src).unwrap();
    fs_err::write(src.join("marker"), b"bound\n").unwrap();
    for client in CLIENTS {
        // `/evil` and `/evil2` are `-> <host secret dir>` in the image.
        let out = run_rm(
            &d,
            client,
            &[
                "-v",
                &format!("{}:/evil", s(&src)),
                "img",
                "sh",
                "-c",
                &format!("cat /evil/marker; ls {}", s(&h.secret)),
            ],
        );
        assert_eq!(out, "bound\nmarker\n", "{}", client.0);
        secret_untouched(&h);
        let out = run_rm(
            &d,
            client,
            &[
                "--mount",
                "type=tmpfs,target=/evil2/t",
                "img",
                "sh",
                "-c",
                &format!("grep -c ' {}/t ' /proc/mounts", s(&h.secret)),
            ],
        );
        assert_eq!(out, "1\n", "{}", client.0);
        secret_untouched(&h);
    }
    // A racer in one container swaps `/v/sub` between a directory and a
    // symlink to the host's secret directory, in a volume another
    // container mounts with a bind inside it.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "racer",
        "-v",
        "race:/v",
        "img",
        "sh",
        "-c",
        &format!(
            "while true; do rm -rf /v/sub; mkdir /v/sub; rm -rf /v/sub; ln -s {} /v/sub; done",
            s(&h.secret)
        ),
    ]);
    for i in 0..30 {
        let out = d.docker(&[
            "run",
            "--rm",
            "-v",
            "race:/shared",
            "-v",
            &format!("{}:/shared/sub/bind", s(&src)),
            "img",
            "true",
        ]);
        // A start may fail (the path moved under it); it must never
        // mount onto the host.
        let _ = (i, out.status.success());
        secret_untouched(&h);
    }
    d.ok(&["rm", "-f", "racer"]);
    secret_untouched(&h);
    assert_eq!(all_containers(&d), Vec::<String>::new());
    assert_eq!(mounts_under(d.dir.path()), Vec::<String>::new());
}
