//! The real docker CLI (28 and Debian's 20.10) against berthd: listing
//! with filters, limits and sizes (`docker ps`), inspect as tools read it,
//! the `run` flags (checked inside the container), the image fields
//! (`RepoDigests`, `Parent`, `Metadata.LastTagTime`) and `run` of an image
//! berth does not have (root only: containers need mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::Command;

use common::Daemon;
use common::clients::{DOCKER, DOCKER20, ok, text};

/// The two docker CLIs.
const CLIENTS: [common::clients::Client; 2] = [DOCKER, DOCKER20];

/// Lines of `out`, trimmed.
fn lines(out: &str) -> Vec<&str> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// A busybox image named `name` with every applet linked (`id`, `env`,
/// `hostname`, `pwd`, `head`, ...), imported through the API.
fn import_busybox_full(d: &Daemon, name: &str) {
    let root = d
        .dir
        .path()
        .join(format!("rootfs-{}", name.replace([':', '/'], "-")));
    common::busybox_bin(&root);
    let tar = root.with_extension("tar");
    common::tar_dir(&root, &tar);
    d.ok(&["import", tar.to_str().unwrap(), name]);
}

/// `GET path` on the daemon's socket: (status code, body).
fn api_get(d: &Daemon, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(d.socket())
        .arg(format!("http://localhost{path}"))
        .output()
        .expect("curl is missing: apt-get install curl");
    let t = text(&out.stdout);
    let (body, code) = t.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

#[test]
fn docker_ps_filters_limits_and_sizes() {
    let d = Daemon::start();
    import_busybox_full(&d, "busybox");
    import_busybox_full(&d, "other:1");
    let docker = CLIENTS[0];

    // Oldest first: web1 (exited 0), db (exited 3), web2 (running, with a
    // 1000-byte file in its writable layer), fresh (created), oth (other image).
    ok(
        &d,
        docker,
        &[
            "run", "-d", "--name", "web1", "-l", "app=web", "busybox", "true",
        ],
    );
    assert_eq!(d.ok(&["wait", "web1"]).trim(), "0");
    ok(
        &d,
        docker,
        &[
            "run", "-d", "--name", "db", "-l", "app=db", "busybox", "sh", "-c", "exit 3",
        ],
    );
    assert_eq!(d.ok(&["wait", "db"]).trim(), "3");
    ok(
        &d,
        docker,
        &[
            "run",
            "-d",
            "--name",
            "web2",
            "-l",
            "app=web",
            "busybox",
            "sh",
            "-c",
            "head -c 1000 /dev/zero > /big && touch /ready && exec sleep 1000",
        ],
    );
    ok(
        &d,
        docker,
        &["create", "--name", "fresh", "busybox", "true"],
    );
    ok(&d, docker, &["create", "--name", "oth", "other:1", "true"]);
    // web2 has written its file.
    let upper = ok(
        &d,
        docker,
        &[
            "inspect",
            "--format",
            "{{.GraphDriver.Data.UpperDir}}",
            "web2",
        ],
    );
    let upper = Path::new(upper.trim()).to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !upper.join("ready").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "web2 never wrote {}",
            upper.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    for client in CLIENTS {
        let ps = |args: &[&str]| {
            let mut all = vec!["ps", "--format", "{{.Names}}"];
            all.extend_from_slice(args);
            ok(&d, client, &all)
        };
        let name = client.0;
        assert_eq!(lines(&ps(&[])), ["web2"], "{name}");
        assert_eq!(
            lines(&ps(&["-a"])),
            ["oth", "fresh", "web2", "db", "web1"],
            "{name}"
        );
        assert_eq!(lines(&ps(&["-l"])), ["oth"], "{name}");
        assert_eq!(lines(&ps(&["-n", "2"])), ["oth", "fresh"], "{name}");
        assert_eq!(
            lines(&ps(&["-f", "status=exited"])),
            ["db", "web1"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-f", "status=created", "-f", "status=running"])),
            ["oth", "fresh", "web2"],
            "{name}"
        );
        assert_eq!(lines(&ps(&["-a", "-f", "exited=3"])), ["db"], "{name}");
        assert_eq!(
            lines(&ps(&["-a", "-f", "name=web"])),
            ["web2", "web1"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-a", "-f", "name=^/web1$"])),
            ["web1"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-a", "-f", "label=app=web"])),
            ["web2", "web1"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-a", "-f", "label=app"])),
            ["web2", "db", "web1"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-a", "-f", "ancestor=other:1"])),
            ["oth"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-a", "-f", "ancestor=busybox"])),
            ["fresh", "web2", "db", "web1"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-a", "-f", "before=web2"])),
            ["db", "web1"],
            "{name}"
        );
        assert_eq!(
            lines(&ps(&["-a", "-f", "since=web2"])),
            ["oth", "fresh"],
            "{name}"
        );

        let quiet = ok(&d, client, &["ps", "-q"]);
        let web2 = ok(&d, client, &["inspect", "--format", "{{.Id}}", "web2"]);
        assert_eq!(quiet.trim(), &web2.trim()[..12], "{name}");
        let db = ok(&d, client, &["inspect", "--format", "{{.Id}}", "db"]);
        assert_eq!(
            lines(&ps(&["-a", "-f", &format!("id={}", &db.trim()[..10])])),
            ["db"]
        );
        let other_id = ok(
            &d,
            client,
            &["image", "inspect", "--format", "{{.Id}}", "other:1"],
        );
        let short = &other_id.trim()["sha256:".len()..][..12];
        assert_eq!(
            lines(&ps(&["-a", "-f", &format!("ancestor={short}")])),
            ["oth"],
            "{name}"
        );

        let status = ok(
            &d,
            client,
            &["ps", "-a", "--format", "{{.Names}} {{.Status}}"],
        );
        let status = lines(&status);
        assert_eq!(status[0], "oth Created", "{name}");
        assert!(status[2].starts_with("web2 Up "), "{name}: {status:?}");
        assert!(
            status[3].starts_with("db Exited (3) "),
            "{name}: {status:?}"
        );
        assert!(
            status[4].starts_with("web1 Exited (0) "),
            "{name}: {status:?}"
        );

        // 1000 bytes written, the rest is the image (`1kB (virtual 2.1MB)`).
        let sizes = ok(
            &d,
            client,
            &["ps", "-s", "--format", "{{.Names}} {{.Size}}"],
        );
        assert!(
            sizes.trim().starts_with("web2 1kB (virtual "),
            "{name}: {sizes}"
        );

        for (args, message) in [
            (&["ps", "-a", "-f", "bogus=1"][..], "invalid filter 'bogus'"),
            (
                &["ps", "-f", "status=sleepy"][..],
                "invalid filter 'status=sleepy'",
            ),
        ] {
            let out = (client.1)(&d, args);
            assert!(!out.status.success(), "{name} {args:?}");
            assert!(
                text(&out.stderr).contains(message),
                "{name}: {}",
                text(&out.stderr)
            );
        }
    }

    // The API's numbers, exactly.
    let (code, body) = api_get(&d, "/containers/json?size=1");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["Names"][0], "/web2");
    assert_eq!(v[0]["SizeRw"], 1000, "{body}");
    let image_size: i64 = d
        .ok(&["image", "inspect", "--format", "{{.Size}}", "busybox"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        v[0]["SizeRootFs"].as_i64().unwrap(),
        1000 + image_size,
        "{body}"
    );
    assert_eq!(v[0]["Image"], "busybox");
    let (code, body) = api_get(&d, "/containers/json");
    assert_eq!(code, 200);
    assert!(!body.contains("SizeRw"), "sizes only when asked: {body}");
    let (code, body) = api_get(
        &d,
        "/containers/json?filters=%7B%22nope%22%3A%5B%22x%22%5D%7D",
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(body.trim(), r#"{"message":"invalid filter 'nope'"}"#);

    d.ok(&["rm", "-f", "web1", "db", "web2", "fresh", "oth"]);
}

#[test]
fn docker_inspect_fields_tools_read() {
    let d = Daemon::start();
    import_busybox_full(&d, "busybox");
    for client in CLIENTS {
        let name = client.0;
        let fmt = |c: &str, f: &str| {
            ok(&d, client, &["inspect", "--format", f, c])
                .trim()
                .to_owned()
        };
        let id = ok(
            &d,
            client,
            &["run", "-d", "--name", "insp", "busybox", "sleep", "1000"],
        );
        let id = id.trim();
        // The pid of the container's process as the host sees it.
        let pid = fmt("insp", "{{.State.Pid}}");
        let cmdline = fs_err::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert_eq!(cmdline, b"sleep\x001000\x00", "{name}: pid {pid}");
        assert_eq!(
            fmt("insp", "{{json .HostConfig.AutoRemove}}"),
            "false",
            "{name}"
        );
        assert_eq!(fmt("insp", "{{.Config.Hostname}}"), &id[..12], "{name}");
        assert_eq!(
            fmt("insp", "{{json .HostConfig.RestartPolicy}}"),
            r#"{"Name":"no","MaximumRetryCount":0}"#,
            "{name}"
        );
        assert_eq!(
            fmt("insp", "{{json .HostConfig.LogConfig}}"),
            r#"{"Type":"json-file","Config":{}}"#,
            "{name}"
        );
        assert_eq!(
            fmt(
                "insp",
                "{{json .HostConfig.Binds}} {{.HostConfig.NetworkMode}} {{.HostConfig.Privileged}} {{json .Mounts}} {{.RestartCount}} {{json .ExecIDs}}"
            ),
            "null bridge false [] 0 null",
            "{name}"
        );
        assert_eq!(
            fmt(
                "insp",
                "{{json .Config.Cmd}} {{json .Config.Entrypoint}} {{.Config.Image}} {{.Config.AttachStdout}} {{.Config.Tty}}"
            ),
            r#"["sleep","1000"] null busybox false false"#,
            "{name}"
        );
        assert_eq!(fmt("insp", "{{.GraphDriver.Name}}"), "overlay2", "{name}");
        for key in ["LowerDir", "UpperDir", "WorkDir", "MergedDir"] {
            let p = fmt("insp", &format!("{{{{.GraphDriver.Data.{key}}}}}"));
            assert!(
                p.split(':').all(|p| Path::new(p).is_dir()),
                "{name}: {key} {p:?} is not a directory"
            );
        }
        let merged = fmt("insp", "{{.GraphDriver.Data.MergedDir}}");
        assert!(
            Path::new(&merged).join("bin/busybox").is_file(),
            "{name}: {merged}"
        );
        // Sizes only with --size.
        assert_eq!(fmt("insp", "{{json .SizeRw}}"), "null", "{name}");
        let sizes = ok(
            &d,
            client,
            &[
                "inspect",
                "-s",
                "--format",
                "{{.SizeRw}} {{.SizeRootFs}}",
                "insp",
            ],
        );
        let sizes: Vec<i64> = sizes
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(sizes[0] >= 0 && sizes[1] > sizes[0], "{name}: {sizes:?}");
        ok(&d, client, &["rm", "-f", "insp"]);

        // --rm, --hostname, --stop-signal, -e, attached and interactive.
        ok(
            &d,
            client,
            &[
                "create",
                "--rm",
                "-i",
                "--name",
                "rmme",
                "--hostname",
                "box",
                "--stop-signal",
                "SIGUSR1",
                "-e",
                "A=1",
                "busybox",
                "cat",
            ],
        );
        assert_eq!(
            fmt("rmme", "{{json .HostConfig.AutoRemove}}"),
            "true",
            "{name}"
        );
        assert_eq!(fmt("rmme", "{{.Config.Hostname}}"), "box", "{name}");
        assert_eq!(fmt("rmme", "{{.Config.StopSignal}}"), "SIGUSR1", "{name}");
        assert_eq!(
            fmt(
                "rmme",
                "{{.Config.OpenStdin}} {{.Config.StdinOnce}} {{.Config.AttachStdin}}"
            ),
            "true true true",
            "{name}"
        );
        // dockerd's Config.Env: the user's variables, then the image's,
        // without the HOSTNAME the daemon adds to the process.
        let env = fmt("rmme", "{{json .Config.Env}}");
        assert!(
            env.starts_with(r#"["A=1","PATH="#) && !env.contains("HOSTNAME"),
            "{name}: {env}"
        );
        assert_eq!(
            fmt("rmme", "{{.State.Status}} {{.State.Pid}}"),
            "created 0",
            "{name}"
        );
        ok(&d, client, &["rm", "rmme"]);
    }
}

#[test]
fn docker_run_flags_take_effect_inside_the_container() {
    let d = Daemon::start();
    import_busybox_full(&d, "busybox");
    for (i, client) in CLIENTS.into_iter().enumerate() {
        let name = client.0;
        let c = format!("flags{i}");
        let id = ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &c,
                "-e",
                "K=V",
                "-e",
                "EMPTY=",
                "-w",
                "/tmp",
                "-u",
                "1000:1000",
                "--hostname",
                "myhost",
                "busybox",
                "sh",
                "-c",
                "id -u; id -g; pwd; hostname; env",
            ],
        );
        // -d prints the ID, `wait` the exit code.
        assert_eq!(id.trim().len(), 64, "{name}: {id}");
        assert_eq!(ok(&d, client, &["wait", &c]).trim(), "0", "{name}");
        let out = ok(&d, client, &["logs", &c]);
        let l = lines(&out);
        assert_eq!(&l[..4], ["1000", "1000", "/tmp", "myhost"], "{name}: {out}");
        assert!(l.contains(&"K=V") && l.contains(&"EMPTY="), "{name}: {out}");
        assert!(l.contains(&"HOSTNAME=myhost"), "{name}: {out}");
        let listed = ok(
            &d,
            client,
            &[
                "ps",
                "-a",
                "--filter",
                &format!("name=^{c}$"),
                "--format",
                "{{.Names}}",
            ],
        );
        assert_eq!(listed.trim(), c, "{name}");

        // --entrypoint replaces the image's and drops its command.
        let out = ok(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--entrypoint",
                "/bin/echo",
                "busybox",
                "hi",
                "there",
            ],
        );
        assert_eq!(out, "hi there\n", "{name}");
        let ep = format!("ep{i}");
        let out = (client.1)(
            &d,
            &[
                "run",
                "--name",
                &ep,
                "--entrypoint",
                "sh",
                "busybox",
                "-c",
                "exit 7",
            ],
        );
        assert_eq!(out.status.code(), Some(7), "{name}: {}", text(&out.stderr));
        assert_eq!(
            ok(
                &d,
                client,
                &[
                    "inspect",
                    "--format",
                    "{{json .Config.Entrypoint}} {{json .Config.Cmd}}",
                    &ep
                ]
            )
            .trim(),
            r#"["sh"] ["-c","exit 7"]"#,
            "{name}"
        );
        ok(&d, client, &["rm", &ep]);

        // A working directory that does not exist yet is created.
        let out = ok(
            &d,
            client,
            &["run", "--rm", "-w", "/new/dir", "busybox", "pwd"],
        );
        assert_eq!(out, "/new/dir\n", "{name}");
        ok(&d, client, &["rm", &c]);
    }
}

#[test]
fn docker_image_fields_repo_digests_parent_last_tag_time() {
    let d = Daemon::start();
    import_busybox_full(&d, "busybox");
    for client in CLIENTS {
        let name = client.0;
        let fmt = |img: &str, f: &str| {
            ok(&d, client, &["image", "inspect", "--format", f, img])
                .trim()
                .to_owned()
        };
        assert_eq!(
            fmt("busybox", "{{json .RepoDigests}} {{json .Parent}}"),
            r#"[] """#,
            "{name}"
        );
        let first = fmt("busybox", "{{json .Metadata.LastTagTime}}");
        assert!(first.starts_with("\"20"), "{name}: {first}");
        let nanos = |img: &str| -> i64 {
            fmt(img, "{{.Metadata.LastTagTime.UnixNano}}")
                .parse()
                .unwrap()
        };
        let before = nanos("busybox");
        std::thread::sleep(std::time::Duration::from_millis(10));
        ok(
            &d,
            client,
            &[
                "tag",
                "busybox",
                &format!("again:{}", name.replace([' ', '.'], "-")),
            ],
        );
        let after = nanos("busybox");
        assert!(after > before, "{name}: tag time {before} then {after}");
        let digests = ok(
            &d,
            client,
            &[
                "images",
                "--digests",
                "--format",
                "{{.Repository}} {{.Digest}}",
                "busybox",
            ],
        );
        assert_eq!(digests.trim(), "busybox <none>", "{name}");
    }
    // An image never tagged: Go's zero time.
    let tar = d.dir.path().join("rootfs-busybox.tar");
    let id = d.ok(&["import", tar.to_str().unwrap()]);
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .Metadata.LastTagTime}}",
            id.trim()
        ])
        .trim(),
        "\"0001-01-01T00:00:00Z\""
    );
    let (code, body) = api_get(&d, "/images/json");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for img in v.as_array().unwrap() {
        assert_eq!(img["RepoDigests"], serde_json::json!([]), "{body}");
        assert_eq!(img["ParentId"], "", "{body}");
    }
}

#[test]
fn docker_run_of_an_image_berth_does_not_have() {
    let d = Daemon::start();
    for (name, run) in CLIENTS {
        let out = run(&d, &["run", "nosuchimage"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{name}: {err}");
        assert!(
            err.contains("Unable to find image 'nosuchimage:latest' locally"),
            "{name}: {err}"
        );
        assert!(
            err.contains("cannot pull from Docker Hub (docker.io): berth can only pull from plain-HTTP registries yet")
                && err.contains("docker load"),
            "{name}: {err}"
        );
        let out = run(&d, &["pull", "nosuchimage:1.0"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("cannot pull from Docker Hub (docker.io): berth can only pull"),
            "{name}: {err}"
        );
    }
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}
