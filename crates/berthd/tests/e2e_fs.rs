//! A container's file system through the real docker CLIs (28 and 20.10)
//! and berth: `top`, `diff`, `commit`, `cp`, `export` (root only:
//! containers need mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::Command;

use common::clients::{self, BERTH, CLIENTS, Client, DOCKER, DOCKER20, ok, tag, with_stdin};
use common::{Daemon, import_busybox};

/// `client args`, which must fail: its stderr.
fn fails(d: &Daemon, client: Client, args: &[&str]) -> String {
    clients::fails(d, client, args).1
}

/// Names in a tar file (`tar -tf`).
fn tar_names(tar: &Path) -> Vec<String> {
    let out = Command::new("tar").arg("-tf").arg(tar).output().unwrap();
    assert!(out.status.success(), "tar -tf {}", tar.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .collect()
}

#[test]
fn diff_and_export_with_every_client() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        let name = format!("df-{}", tag(client));
        ok(
            &d,
            client,
            &[
                "run",
                "--name",
                &name,
                "busybox",
                "sh",
                "-c",
                "busybox mkdir /new && echo x > /new/f && busybox rm /bin/cat",
            ],
        );
        let diff = ok(&d, client, &["diff", &name]);
        assert_eq!(diff, "C /bin\nD /bin/cat\nA /new\nA /new/f\n", "{who}");
        let tar = d.dir.path().join(format!("{name}.tar"));
        ok(&d, client, &["export", "-o", tar.to_str().unwrap(), &name]);
        let names = tar_names(&tar);
        assert!(names.iter().any(|n| n == "new/f"), "{who}: {names:?}");
        assert!(names.iter().any(|n| n == "bin/busybox"), "{who}: {names:?}");
        assert!(!names.iter().any(|n| n == "bin/cat"), "{who}: {names:?}");
        // To stdout.
        let out = client.1(&d, &["export", &name]);
        assert!(out.status.success(), "{who}");
        assert!(out.stdout.len() > 1024 * 100, "{who}: {}", out.stdout.len());
        let err = fails(&d, client, &["diff", "nope"]);
        assert!(err.contains("No such container: nope"), "{who}: {err}");
    }
}

#[test]
fn top_with_every_client() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        let name = format!("top-{}", tag(client));
        ok(
            &d,
            client,
            &["run", "-d", "--name", &name, "busybox", "sleep", "1000"],
        );
        let top = ok(&d, client, &["top", &name]);
        let mut lines = top.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("UID"), "{who}: {top}");
        assert!(
            header.contains("PID") && header.contains("CMD"),
            "{who}: {top}"
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 1, "{who}: {top}");
        assert!(rows[0].ends_with("sleep 1000"), "{who}: {top}");
        let top = ok(&d, client, &["top", &name, "-o", "pid,comm"]);
        let mut lines = top.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(header, ["PID", "COMMAND"], "{who}: {top}");
        assert!(lines.next().unwrap().ends_with("sleep"), "{who}: {top}");
        ok(&d, client, &["kill", &name]);
        ok(&d, client, &["wait", &name]);
        let err = fails(&d, client, &["top", &name]);
        assert!(err.contains("is not running"), "{who}: {err}");
    }
}

#[test]
fn commit_with_every_client() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        let name = format!("cm-{}", tag(client));
        ok(
            &d,
            client,
            &[
                "run",
                "--name",
                &name,
                "-e",
                "KEEP=1",
                "busybox",
                "sh",
                "-c",
                "echo committed > /hello",
            ],
        );
        let image = format!("committed-{}:v1", tag(client));
        let id = ok(
            &d,
            client,
            &[
                "commit",
                "-a",
                "Jane <jane@example.com>",
                "-m",
                "my message",
                "-c",
                "ENV FROM_CHANGE=yes",
                "-c",
                "CMD [\"cat\", \"/hello\"]",
                &name,
                &image,
            ],
        );
        assert!(id.trim().starts_with("sha256:"), "{who}: {id}");
        assert_eq!(
            ok(&d, client, &["run", "--rm", &image]),
            "committed\n",
            "{who}"
        );
        let env = ok(
            &d,
            client,
            &["run", "--rm", &image, "sh", "-c", "echo $KEEP $FROM_CHANGE"],
        );
        assert_eq!(env, "1 yes\n", "{who}");
        let author = ok(&d, client, &["inspect", "-f", "{{.Author}}", &image]);
        assert_eq!(author.trim(), "Jane <jane@example.com>", "{who}");
        let history = ok(
            &d,
            client,
            &[
                "history",
                "--no-trunc",
                "--format",
                "{{.CreatedBy}}|{{.Comment}}",
                &image,
            ],
        );
        assert_eq!(
            history.lines().next().unwrap(),
            "sh -c echo committed > /hello|my message",
            "{who}"
        );
        let err = fails(&d, client, &["commit", "-c", "RUN true", &name, "x:1"]);
        assert!(
            err.contains("RUN is not a valid change command"),
            "{who}: {err}"
        );
    }
    // A running container is paused during the commit and runs on after.
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "live",
            "busybox",
            "sh",
            "-c",
            "echo a > /a; sleep 1000",
        ],
    );
    ok(&d, DOCKER, &["commit", "live", "live-img"]);
    assert_eq!(
        ok(&d, DOCKER, &["inspect", "-f", "{{.State.Status}}", "live"]).trim(),
        "running"
    );
    assert_eq!(
        ok(&d, BERTH, &["run", "--rm", "live-img", "cat", "/a"]),
        "a\n"
    );
}

#[test]
fn cp_with_every_client() {
    let d = Daemon::start();
    import_busybox(&d);
    let host = d.dir.path().join("host");
    fs_err::create_dir_all(host.join("dir/sub")).unwrap();
    fs_err::write(host.join("file.txt"), "file content\n").unwrap();
    fs_err::write(host.join("dir/sub/inner"), "inner\n").unwrap();
    std::os::unix::fs::symlink("sub/inner", host.join("dir/link")).unwrap();
    for client @ (who, _) in CLIENTS {
        let name = format!("cp-{}", tag(client));
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "busybox",
                "sh",
                "-c",
                "busybox mkdir /contents; sleep 1000",
            ],
        );
        let c = |p: &str| format!("{name}:{p}");
        // host -> container: a file to a new name, a dir to a new dir,
        // into an existing dir, the contents of a dir (`/.`).
        ok(
            &d,
            client,
            &[
                "cp",
                host.join("file.txt").to_str().unwrap(),
                &c("/renamed"),
            ],
        );
        ok(
            &d,
            client,
            &["cp", host.join("dir").to_str().unwrap(), &c("/newdir")],
        );
        ok(
            &d,
            client,
            &["cp", host.join("file.txt").to_str().unwrap(), &c("/bin")],
        );
        ok(
            &d,
            client,
            &[
                "cp",
                &format!("{}/.", host.join("dir").display()),
                &c("/contents"),
            ],
        );
        // Checked with docker 28 (its client code is not ours).
        let check = d.dir.path().join(format!("check-{}", tag(client)));
        fs_err::create_dir_all(&check).unwrap();
        for p in ["/renamed", "/newdir", "/bin/file.txt", "/contents"] {
            ok(&d, DOCKER, &["cp", &c(p), check.to_str().unwrap()]);
        }
        let read = |p: &str| fs_err::read_to_string(check.join(p)).unwrap();
        assert_eq!(read("renamed"), "file content\n", "{who}");
        assert_eq!(read("newdir/sub/inner"), "inner\n", "{who}");
        assert_eq!(read("file.txt"), "file content\n", "{who}");
        assert_eq!(read("contents/sub/inner"), "inner\n", "{who}");
        assert_eq!(
            fs_err::read_link(check.join("newdir/link")).unwrap(),
            Path::new("sub/inner"),
            "{who}"
        );
        // container -> host.
        let out = d.dir.path().join(format!("out-{}", tag(client)));
        fs_err::create_dir_all(&out).unwrap();
        ok(&d, client, &["cp", &c("/newdir"), out.to_str().unwrap()]);
        assert_eq!(
            fs_err::read_to_string(out.join("newdir/sub/inner")).unwrap(),
            "inner\n"
        );
        assert_eq!(
            fs_err::read_link(out.join("newdir/link")).unwrap(),
            Path::new("sub/inner"),
            "{who}: symlinks are copied as links"
        );
        ok(
            &d,
            client,
            &["cp", &c("/renamed"), out.join("r.txt").to_str().unwrap()],
        );
        assert_eq!(
            fs_err::read_to_string(out.join("r.txt")).unwrap(),
            "file content\n"
        );
        ok(
            &d,
            client,
            &["cp", &c("/newdir/."), out.join("copy").to_str().unwrap()],
        );
        assert_eq!(
            fs_err::read_to_string(out.join("copy/sub/inner")).unwrap(),
            "inner\n"
        );
        // -L follows a symlink given as the source.
        ok(
            &d,
            client,
            &[
                "cp",
                "-L",
                &c("/newdir/link"),
                out.join("followed").to_str().unwrap(),
            ],
        );
        assert_eq!(
            fs_err::read_to_string(out.join("followed")).unwrap(),
            "inner\n"
        );
        // A tar to stdout and from stdin.
        let tar = client.1(&d, &["cp", &c("/renamed"), "-"]);
        assert!(tar.status.success(), "{who}");
        assert_eq!(&tar.stdout[..7], b"renamed", "{who}");
        let input = fs_err::read(d.dir.path().join("bb.tar")).unwrap();
        let piped = with_stdin(&d, client, &["cp", "-", &c("/contents")], &input);
        assert!(
            piped.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&piped.stderr)
        );
        let bb = d.dir.path().join(format!("bb-{}", tag(client)));
        ok(
            &d,
            DOCKER,
            &["cp", &c("/contents/bin/busybox"), bb.to_str().unwrap()],
        );
        assert_eq!(
            fs_err::read(&bb).unwrap(),
            fs_err::read("/bin/busybox").unwrap(),
            "{who}"
        );
        // Errors.
        let err = fails(&d, client, &["cp", &c("/missing"), out.to_str().unwrap()]);
        // docker 20.10 words a 404 itself.
        let expected = if client.0 == DOCKER20.0 {
            format!("No such container:path: {name}:/missing")
        } else {
            format!("Could not find the file /missing in container {name}")
        };
        assert!(err.contains(&expected), "{who}: {err}");
        let err = fails(
            &d,
            client,
            &[
                "cp",
                host.join("file.txt").to_str().unwrap(),
                &c("/no/such/dir/x"),
            ],
        );
        let expected = if client.0 == DOCKER20.0 {
            format!("No such container:path: {name}:/no/such/dir")
        } else {
            format!("Could not find the file /no/such/dir in container {name}")
        };
        assert!(err.contains(&expected), "{who}: {err}");
        // A stopped container.
        ok(&d, client, &["kill", &name]);
        ok(&d, client, &["wait", &name]);
        ok(
            &d,
            client,
            &[
                "cp",
                host.join("file.txt").to_str().unwrap(),
                &c("/stopped.txt"),
            ],
        );
        ok(
            &d,
            client,
            &[
                "cp",
                &c("/stopped.txt"),
                out.join("s.txt").to_str().unwrap(),
            ],
        );
        assert_eq!(
            fs_err::read_to_string(out.join("s.txt")).unwrap(),
            "file content\n"
        );
    }
}

/// `curl` on the daemon's socket: (status, body).
fn curl(d: &Daemon, args: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(d.socket())
        .args(args)
        .output()
        .expect("curl is needed (Debian package curl)");
    let text = out.stdout;
    let split = text.iter().rposition(|b| *b == b'\n').unwrap();
    let status = String::from_utf8_lossy(&text[split + 1..])
        .trim()
        .parse()
        .unwrap();
    (status, text[..split].to_vec())
}

/// A tar with raw names (the tar crate refuses `../x` in its builder).
fn raw_tar(entries: &[(&str, tar_kind::Kind, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let mode = if *kind == tar_kind::Kind::Dir {
            b"0000755\0"
        } else {
            b"0000644\0"
        };
        h[100..108].copy_from_slice(mode);
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"14000000000\0");
        h[156] = match kind {
            tar_kind::Kind::File => b'0',
            tar_kind::Kind::Sym => b'2',
            tar_kind::Kind::Dir => b'5',
        };
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

mod tar_kind {
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub(crate) enum Kind {
        File,
        Sym,
        Dir,
    }
}

#[test]
fn hostile_archives_never_leave_the_container_root() {
    use tar_kind::Kind;
    let d = Daemon::start();
    import_busybox(&d);
    ok(
        &d,
        DOCKER,
        &["create", "--name", "victim", "busybox", "true"],
    );
    let host_marker = d.dir.path().join("host-marker");
    let rel_host = host_marker
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_owned();
    let put = |path: &str, tar: Vec<u8>| {
        let file = d.dir.path().join("put.tar");
        fs_err::write(&file, tar).unwrap();
        curl(
            &d,
            &[
                "-X",
                "PUT",
                "--data-binary",
                &format!("@{}", file.display()),
                &format!("http://x/containers/victim/archive?path={path}"),
            ],
        )
    };
    // `..` out of the destination: refused, nothing written.
    let up = format!("../../../../../../../../{rel_host}");
    let (status, body) = put("/", raw_tar(&[(&up, Kind::File, "", b"evil")]));
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("escapes"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // A symlink to `/`, then files through it, and an absolute name: all
    // inside the container.
    let abs = format!("/{rel_host}");
    let (status, body) = put(
        "/",
        raw_tar(&[
            ("evil", Kind::Sym, "/", b""),
            ("evil/through-link", Kind::File, "", b"in"),
            (&abs, Kind::File, "", b"abs"),
        ]),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(!host_marker.exists(), "a file was written on the host");
    // A container path that is a symlink to `/` is the container's root.
    let (status, _) = put("/evil", raw_tar(&[("via-dest", Kind::File, "", b"x")]));
    assert_eq!(status, 200);
    let out = d.dir.path().join("victim-out");
    fs_err::create_dir_all(&out).unwrap();
    for p in ["/through-link", "/via-dest", &abs] {
        ok(
            &d,
            DOCKER,
            &["cp", &format!("victim:{p}"), out.to_str().unwrap()],
        );
    }
    assert_eq!(fs_err::read(out.join("through-link")).unwrap(), b"in");
    assert_eq!(fs_err::read(out.join("host-marker")).unwrap(), b"abs");
    // Reading through the link reads the container's root, not the host's.
    let (status, tar) = curl(&d, &["http://x/containers/victim/archive?path=/evil/"]);
    assert_eq!(status, 200);
    let names = String::from_utf8_lossy(&tar);
    assert!(
        names.contains("evil/bin/busybox"),
        "not the container's root"
    );
    assert!(
        !names.contains("evil/proc/"),
        "the host's root was archived"
    );
    assert!(!host_marker.exists());
    // A read-only root file system takes nothing.
    ok(
        &d,
        DOCKER,
        &["create", "--read-only", "--name", "ro", "busybox", "true"],
    );
    let file = d.dir.path().join("put.tar");
    for client @ (who, _) in CLIENTS {
        let err = fails(&d, client, &["cp", file.to_str().unwrap(), "ro:/"]);
        assert!(
            err.contains("container rootfs is marked read-only"),
            "{who}: {err}"
        );
    }
}
