//! The security and isolation options of `run` (`--user`, `--group-add`,
//! `--workdir`, `--env-file`, `--label(-file)`, `--entrypoint`,
//! `--cap-add/--cap-drop`, `--privileged`, `--security-opt`,
//! `--read-only`, `--tmpfs`, `--pid`, `--ipc`, `--uts`, `--shm-size`,
//! `--domainname`) through the berth CLI and the real docker CLI (28 and
//! 20.10): each effect is checked inside the container (from
//! `/proc/self/status`, `/proc/mounts`, namespace links, files), each
//! setting in inspect, and bad input gives docker's error with nothing left
//! behind.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::Daemon;
use common::clients::{BERTH, Client, DOCKER, DOCKER20, command, fails, ok, text};

const CLIENTS: [Client; 3] = [BERTH, DOCKER, DOCKER20];

/// `run --rm <args> img sh -c <script>`: stdout.
fn sh(d: &Daemon, client: Client, args: &[&str], script: &str) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["img", "sh", "-c", script]);
    ok(d, client, &all)
}

/// `field` of `/proc/self/status` inside a container run with `args`.
fn status_field(d: &Daemon, client: Client, args: &[&str], field: &str) -> String {
    let out = sh(
        d,
        client,
        args,
        &format!("grep '^{field}:' /proc/self/status"),
    );
    out.split_once(':')
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

fn inspect(d: &Daemon, client: Client, name: &str, format: &str) -> String {
    ok(d, client, &["inspect", "--format", format, name])
        .trim()
        .to_owned()
}

/// Names of all containers (`ps -a`), to check a refused run left none.
fn all_containers(d: &Daemon) -> Vec<String> {
    d.ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A busybox image `img` with every applet linked and users and groups:
/// root (member of wheel), alice (1000, member of wheel and audio), staff.
fn import_image(d: &Daemon) {
    let root = d.dir.path().join("img");
    common::busybox_bin(&root);
    fs_err::create_dir_all(root.join("etc")).unwrap();
    fs_err::create_dir_all(root.join("tmp")).unwrap();
    fs_err::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
    )
    .unwrap();
    fs_err::write(
        root.join("etc/group"),
        "root:x:0:\nwheel:x:10:root,alice\naudio:x:29:alice\nstaff:x:50:\nalice:x:1000:\n",
    )
    .unwrap();
    let tar = d.dir.path().join("img.tar");
    common::tar_dir(&root, &tar);
    d.ok(&["import", tar.to_str().unwrap(), "img"]);
}

/// The host's capability bounding set (what `--privileged` grants).
fn host_cap_bnd() -> String {
    fs_err::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Docker's 14 default capabilities as a mask.
const DEFAULT_CAPS: &str = "00000000a80425fb";

#[test]
fn users_groups_workdir_env_labels_entrypoint() {
    let d = Daemon::start();
    import_image(&d);
    let env_file = d.dir.path().join("env.list");
    fs_err::write(
        &env_file,
        "# a comment\n\n  FROM_FILE=file value\nOVERRIDDEN=file\nBERTH_E2E_PASSED\nBERTH_E2E_UNSET\n",
    )
    .unwrap();
    let label_file = d.dir.path().join("labels.list");
    fs_err::write(&label_file, "# labels\ncolour=blue\nsize=file\n").unwrap();
    let env_path = env_file.to_str().unwrap();
    let label_path = label_file.to_str().unwrap();

    for (i, client) in CLIENTS.into_iter().enumerate() {
        let name = client.0;
        // --user by name, uid, uid:gid, name:group; groups from /etc/group.
        let ids = |args: &[&str]| -> Vec<String> {
            let out = sh(
                &d,
                client,
                args,
                "grep -E '^(Uid|Gid|Groups):' /proc/self/status",
            );
            // The real uid and gid; every supplementary group.
            out.lines()
                .map(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    let keep = if words[0] == "Groups:" {
                        words.len()
                    } else {
                        2
                    };
                    words[..keep.min(words.len())].join(" ")
                })
                .collect()
        };
        assert_eq!(ids(&[]), ["Uid: 0", "Gid: 0", "Groups: 10"], "{name}");
        assert_eq!(
            ids(&["-u", "alice"]),
            ["Uid: 1000", "Gid: 1000", "Groups: 10 29"],
            "{name}"
        );
        assert_eq!(
            ids(&["--user", "1000:50"]),
            ["Uid: 1000", "Gid: 50", "Groups:"],
            "{name}"
        );
        assert_eq!(
            ids(&[
                "-u",
                "alice:staff",
                "--group-add",
                "audio",
                "--group-add",
                "4242"
            ]),
            ["Uid: 1000", "Gid: 50", "Groups: 29 4242"],
            "{name}"
        );
        assert_eq!(
            ids(&["-u", "4242"]),
            ["Uid: 4242", "Gid: 0", "Groups:"],
            "{name}"
        );

        // --workdir is created when missing; --entrypoint "" runs the command.
        let out = sh(&d, client, &["-w", "/made/here"], "pwd");
        assert_eq!(out, "/made/here\n", "{name}");
        let ep = format!("ep{i}");
        let out = ok(
            &d,
            client,
            &[
                "run",
                "--name",
                &ep,
                "--entrypoint",
                "",
                "img",
                "echo",
                "reset",
            ],
        );
        assert_eq!(out, "reset\n", "{name}");
        assert_eq!(
            inspect(
                &d,
                client,
                &ep,
                "{{json .Config.Entrypoint}} {{json .Config.Cmd}}"
            ),
            r#"null ["echo","reset"]"#,
            "{name}"
        );
        ok(&d, client, &["rm", &ep]);

        // --env-file (comments, KEY from the client's environment), -e wins;
        // --label-file, --label wins.
        let lbl = format!("lbl{i}");
        let mut cmd = command(&d, client, &[]);
        let out = cmd
            .env("BERTH_E2E_PASSED", "from the client")
            .env_remove("BERTH_E2E_UNSET")
            .args([
                "run",
                "--name",
                &lbl,
                "--env-file",
                env_path,
                "-e",
                "OVERRIDDEN=flag",
                "--label-file",
                label_path,
                "-l",
                "size=flag",
                "img",
                "env",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let env = text(&out.stdout);
        for want in [
            "FROM_FILE=file value",
            "OVERRIDDEN=flag",
            "BERTH_E2E_PASSED=from the client",
        ] {
            assert!(env.lines().any(|l| l == want), "{name}: {want} in {env}");
        }
        assert!(!env.contains("BERTH_E2E_UNSET"), "{name}: {env}");
        assert_eq!(
            inspect(&d, client, &lbl, "{{json .Config.Labels}}"),
            r#"{"colour":"blue","size":"flag"}"#,
            "{name}"
        );
        ok(&d, client, &["rm", &lbl]);

        // Bad input: a missing env file (client side), an unknown group
        // (at start, as dockerd).
        let before = all_containers(&d);
        let (code, err) = fails(
            &d,
            client,
            &[
                "run",
                "--rm",
                "--env-file",
                "/nonexistent/env.list",
                "img",
                "true",
            ],
        );
        assert_eq!(code, 125, "{name}: {err}");
        assert!(
            err.contains("open /nonexistent/env.list: no such file or directory"),
            "{name}: {err}"
        );
        assert_eq!(all_containers(&d), before, "{name}");
        let (code, err) = fails(
            &d,
            client,
            &["run", "--rm", "--group-add", "ghosts", "img", "true"],
        );
        assert_eq!(code, 125, "{name}: {err}");
        assert!(
            err.contains("Unable to find group ghosts: no matching entries in group file"),
            "{name}: {err}"
        );
    }
}

#[test]
fn capabilities_and_privileged() {
    let d = Daemon::start();
    import_image(&d);
    let host_bnd = host_cap_bnd();
    for client in CLIENTS {
        let name = client.0;
        let caps = |args: &[&str]| status_field(&d, client, args, "CapEff");
        assert_eq!(caps(&[]), DEFAULT_CAPS, "{name}");
        assert_eq!(
            caps(&["--cap-add", "NET_ADMIN", "--cap-drop", "CAP_CHOWN"]),
            "00000000a80435fa",
            "{name}"
        );
        assert_eq!(
            caps(&["--cap-drop", "ALL", "--cap-add", "kill"]),
            "0000000000000020",
            "{name}"
        );
        // ALL is what the host can grant (root here lacks CAP_SYS_RESOURCE).
        assert_eq!(caps(&["--cap-add", "ALL"]), host_bnd, "{name}");

        // CAP_SYS_ADMIN also opens Docker's default seccomp profile's
        // mount rules; without it mount is refused.
        let mount = "mkdir -p /m && mount -t tmpfs none /m && echo mounted";
        assert_eq!(
            sh(&d, client, &["--cap-add", "SYS_ADMIN"], mount),
            "mounted\n",
            "{name}"
        );
        let out = client.1(&d, &["run", "--rm", "img", "sh", "-c", mount]);
        assert!(!out.status.success(), "{name}: mount without SYS_ADMIN");

        // --privileged: the host's bounding set, no seccomp, host devices,
        // writable /sys, nothing masked.
        let out = sh(
            &d,
            client,
            &["--privileged"],
            "grep -E '^(CapEff|Seccomp):' /proc/self/status; \
             test -b /dev/loop0 && echo loop0; \
             grep -E ' /sys (sysfs|cgroup)' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1; \
             grep -c ' /proc/kcore ' /proc/mounts; \
             mkdir -p /m && mount -t tmpfs none /m && echo mounted",
        );
        let out: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            out,
            [
                format!("CapEff: {host_bnd}"),
                "Seccomp: 0".to_owned(),
                "loop0".to_owned(),
                "/sys rw".to_owned(),
                "0".to_owned(),
                "mounted".to_owned(),
            ],
            "{name}"
        );
        let out = sh(
            &d,
            client,
            &[],
            "grep -E '^Seccomp:' /proc/self/status; test -e /dev/loop0 || echo no-loop0; \
             grep -E ' /sys sysfs' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
        );
        assert_eq!(out, "Seccomp:\t2\nno-loop0\nro\n", "{name}");

        // Inspect shows what was asked.
        let c = format!("caps-{}", name.replace([' ', '.'], ""));
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &c,
                "--cap-add",
                "net_admin",
                "--cap-drop",
                "MKNOD",
                "--privileged",
                "img",
                "true",
            ],
        );
        assert_eq!(
            inspect(
                &d,
                client,
                &c,
                "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} {{.HostConfig.Privileged}}"
            ),
            // docker 28 and berth normalise client-side; 20.10 sends as typed.
            if name == "docker 20.10" {
                r#"["net_admin"] ["MKNOD"] true"#
            } else {
                r#"["CAP_NET_ADMIN"] ["CAP_MKNOD"] true"#
            },
            "{name}"
        );
        ok(&d, client, &["rm", &c]);

        // Bad capabilities: docker's errors, no container.
        let before = all_containers(&d);
        for (args, want) in [
            (
                ["--cap-add", "FOO"],
                "invalid CapAdd: unknown capability: \"CAP_FOO\"",
            ),
            (
                ["--cap-drop", "cap_bogus"],
                "invalid CapDrop: unknown capability: \"CAP_BOGUS\"",
            ),
            (
                ["--cap-add", "SYS_RESOURCE"],
                "invalid CapAdd: capability not supported by your kernel or not available in the current environment: \"CAP_SYS_RESOURCE\"",
            ),
        ] {
            let mut all = vec!["run", "--rm"];
            all.extend_from_slice(&args);
            all.extend_from_slice(&["img", "true"]);
            let (code, err) = fails(&d, client, &all);
            assert_eq!(code, 125, "{name} {args:?}: {err}");
            assert!(err.contains(want), "{name} {args:?}: {err}");
        }
        assert_eq!(all_containers(&d), before, "{name}");
    }
}

#[test]
fn security_opts_read_only_and_tmpfs() {
    let d = Daemon::start();
    import_image(&d);
    let profile = d.dir.path().join("no-mkdir.json");
    // Docker's format: conditions resolved by the daemon.
    fs_err::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["mknod", "mknodat"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_BOOT"]}}
            ]
        }"#,
    )
    .unwrap();
    let bad_profile = d.dir.path().join("bad.json");
    fs_err::write(&bad_profile, r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#).unwrap();
    let seccomp = format!("seccomp={}", profile.display());
    let bad_seccomp = format!("seccomp={}", bad_profile.display());

    for (i, client) in CLIENTS.into_iter().enumerate() {
        let name = client.0;
        let field = |args: &[&str], f: &str| status_field(&d, client, args, f);
        assert_eq!(field(&[], "NoNewPrivs"), "0", "{name}");
        for opt in [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=true",
        ] {
            assert_eq!(
                field(&["--security-opt", opt], "NoNewPrivs"),
                "1",
                "{name} {opt}"
            );
        }
        assert_eq!(
            field(&["--security-opt", "no-new-privileges=false"], "NoNewPrivs"),
            "0",
            "{name}"
        );
        assert_eq!(
            field(&["--security-opt", "seccomp=unconfined"], "Seccomp"),
            "0",
            "{name}"
        );

        // A profile file: mkdir is refused, the rest allowed.
        let out = sh(
            &d,
            client,
            &["--security-opt", &seccomp],
            "grep '^Seccomp:' /proc/self/status; mkdir /nope 2>&1; mkfifo /tmp/p && echo fifo-ok",
        );
        assert!(out.contains("Seccomp:\t2"), "{name}: {out}");
        assert!(out.contains("Operation not permitted"), "{name}: {out}");
        assert!(out.contains("fifo-ok"), "{name}: {out}");
        // Its conditional rule applies with the capability it names.
        let out = sh(
            &d,
            client,
            &["--security-opt", &seccomp, "--cap-add", "SYS_BOOT"],
            "mkfifo /tmp/p 2>&1 || echo refused",
        );
        assert!(out.contains("refused"), "{name}: {out}");

        // AppArmor and SELinux labels: accepted (this host has neither), shown.
        let c = format!("sec{i}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &c,
                "--security-opt",
                "apparmor=my-profile",
                "--security-opt",
                "label=level:s0",
                "--security-opt",
                "no-new-privileges",
                "--read-only",
                "--tmpfs",
                "/run:size=1m,mode=1770",
                "img",
                "true",
            ],
        );
        assert_eq!(
            inspect(
                &d,
                client,
                &c,
                "{{.AppArmorProfile}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.Tmpfs}}"
            ),
            r#"my-profile ["apparmor=my-profile","label=level:s0","no-new-privileges"] true {"/run":"size=1m,mode=1770"}"#,
            "{name}"
        );
        ok(&d, client, &["start", "-a", &c]);
        ok(&d, client, &["rm", &c]);

        // --read-only: writes fail with EROFS; /dev, /proc, /dev/shm and
        // --tmpfs mounts still work.
        let out = sh(
            &d,
            client,
            &[
                "--read-only",
                "--tmpfs",
                "/run:size=1m,mode=1770",
                "--tmpfs",
                "/scratch",
            ],
            "touch /x 2>&1; echo hi > /dev/null && echo devnull; \
             grep -c . /proc/self/status >/dev/null && echo proc; \
             echo s > /dev/shm/s && echo shm; echo r > /run/r && echo run; \
             stat -c %a /run; grep ' /run ' /proc/mounts; grep ' /scratch ' /proc/mounts",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains("Read-only file system"), "{name}: {out}");
        assert_eq!(
            &lines[1..6],
            ["devnull", "proc", "shm", "run", "1770"],
            "{name}: {out}"
        );
        for want in [
            "tmpfs",
            "rw",
            "nosuid",
            "nodev",
            "noexec",
            "size=1024k",
            "mode=1770",
        ] {
            assert!(lines[6].contains(want), "{name}: {want} in {out}");
        }
        assert!(lines[7].contains("noexec"), "{name}: {out}");
        // Without --read-only the root is writable.
        assert_eq!(
            sh(&d, client, &[], "touch /x && echo wrote"),
            "wrote\n",
            "{name}"
        );

        // Bad input.
        let before = all_containers(&d);
        for (args, want) in [
            (
                vec!["--security-opt", &bad_seccomp],
                "Decoding seccomp profile failed",
            ),
            (
                vec!["--security-opt", "seccomp=/nonexistent.json"],
                "opening seccomp profile (/nonexistent.json) failed",
            ),
            (
                vec!["--security-opt", "bogus"],
                "Invalid --security-opt: \"bogus\"",
            ),
            (
                vec!["--tmpfs", "relative"],
                "invalid mount path: 'relative' mount path must be absolute",
            ),
            (
                vec!["--tmpfs", "/t:bogus"],
                "invalid tmpfs option \"bogus\"",
            ),
        ] {
            let mut all = vec!["run", "--rm"];
            all.extend_from_slice(&args);
            all.extend_from_slice(&["img", "true"]);
            let (code, err) = fails(&d, client, &all);
            assert_eq!(code, 125, "{name} {args:?}: {err}");
            assert!(err.contains(want), "{name} {args:?}: {err}");
        }
        assert_eq!(all_containers(&d), before, "{name}");
    }
}

#[test]
fn pid_ipc_uts_namespaces_and_shm() {
    let d = Daemon::start();
    import_image(&d);
    let host_ns = |kind: &str| {
        fs_err::read_link(format!("/proc/self/ns/{kind}"))
            .unwrap()
            .display()
            .to_string()
    };
    let host_hostname = fs_err::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host_init = fs_err::read_to_string("/proc/1/comm").unwrap();

    for (i, client) in CLIENTS.into_iter().enumerate() {
        let name = client.0;
        // Defaults: own namespaces, a private 64 MiB /dev/shm.
        let out = sh(
            &d,
            client,
            &[],
            "for n in pid ipc uts; do readlink /proc/self/ns/$n; done; grep ' /dev/shm ' /proc/mounts",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_ne!(lines[0], host_ns("pid"), "{name}");
        assert_ne!(lines[1], host_ns("ipc"), "{name}");
        assert_ne!(lines[2], host_ns("uts"), "{name}");
        assert!(lines[3].contains("size=65536k"), "{name}: {out}");

        // host: the host's namespaces.
        let out = sh(
            &d,
            client,
            &["--pid=host", "--ipc=host", "--uts=host"],
            "for n in pid ipc uts; do readlink /proc/self/ns/$n; done; cat /proc/1/comm /proc/sys/kernel/hostname",
        );
        assert_eq!(
            out,
            format!(
                "{}\n{}\n{}\n{host_init}{host_hostname}",
                host_ns("pid"),
                host_ns("ipc"),
                host_ns("uts")
            ),
            "{name}"
        );

        // container:X joins X's pid namespace; a shareable IPC donor's
        // namespace and /dev/shm are joined with --ipc=container:X.
        let donor = format!("donor{i}");
        ok(
            &d,
            client,
            &[
                "run",
                "-d",
                "--name",
                &donor,
                "--ipc",
                "shareable",
                "--shm-size",
                "8m",
                "img",
                "sh",
                "-c",
                "echo from-donor > /dev/shm/note; exec sleep 1000",
            ],
        );
        let donor_pid = inspect(&d, client, &donor, "{{.State.Pid}}");
        let donor_ns = |kind: &str| {
            fs_err::read_link(format!("/proc/{donor_pid}/ns/{kind}"))
                .unwrap()
                .display()
                .to_string()
        };
        // The donor may still be writing its note: wait for it.
        let out = sh(
            &d,
            client,
            &[
                &format!("--pid=container:{donor}"),
                &format!("--ipc=container:{donor}"),
            ],
            "for n in $(seq 100); do test -s /dev/shm/note && break; sleep 0.1; done; \
             for n in pid ipc; do readlink /proc/self/ns/$n; done; cat /dev/shm/note; \
             grep -c 'sleep' /proc/1/cmdline; grep ' /dev/shm ' /proc/mounts",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], donor_ns("pid"), "{name}: {out}");
        assert_eq!(lines[1], donor_ns("ipc"), "{name}: {out}");
        assert_eq!(lines[2], "from-donor", "{name}: {out}");
        assert_eq!(lines[3], "1", "{name}: {out}");
        assert!(lines[4].contains("size=8192k"), "{name}: {out}");
        assert_eq!(
            inspect(
                &d,
                client,
                &donor,
                "{{.HostConfig.IpcMode}} {{.HostConfig.ShmSize}} {{.HostConfig.PidMode}}"
            ),
            "shareable 8388608",
            "{name}"
        );

        // A private donor cannot be joined; a missing one neither.
        let private = format!("private{i}");
        ok(
            &d,
            client,
            &["run", "-d", "--name", &private, "img", "sleep", "1000"],
        );
        assert_eq!(
            inspect(
                &d,
                client,
                &private,
                "{{.HostConfig.IpcMode}} {{.HostConfig.ShmSize}}"
            ),
            "private 67108864",
            "{name}"
        );
        let (code, err) = fails(
            &d,
            client,
            &[
                "run",
                "--rm",
                &format!("--ipc=container:{private}"),
                "img",
                "true",
            ],
        );
        assert_eq!(code, 125, "{name}: {err}");
        assert!(err.contains("non-shareable IPC"), "{name}: {err}");
        let (code, err) = fails(
            &d,
            client,
            &["run", "--rm", "--pid=container:missing", "img", "true"],
        );
        assert_eq!(code, 125, "{name}: {err}");
        assert!(
            err.contains("cannot join PID of a non running container: missing"),
            "{name}: {err}"
        );
        ok(&d, client, &["rm", "-f", &donor, &private]);

        // --ipc=none: no /dev/shm mount; --shm-size; --hostname and
        // --domainname in the UTS namespace.
        let out = sh(
            &d,
            client,
            &["--ipc", "none"],
            "grep -c ' /dev/shm ' /proc/mounts || true",
        );
        assert_eq!(out, "0\n", "{name}");
        let out = sh(
            &d,
            client,
            &[
                "--shm-size",
                "128m",
                "-h",
                "box",
                "--domainname",
                "example.org",
            ],
            "grep ' /dev/shm ' /proc/mounts | grep -o 'size=[0-9a-z]*'; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname",
        );
        assert_eq!(out, "size=131072k\nbox\nexample.org\n", "{name}");
        let c = format!("uts{i}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &c,
                "--uts",
                "host",
                "--pid",
                "host",
                "--domainname",
                "d.example",
                "img",
                "true",
            ],
        );
        assert_eq!(
            inspect(
                &d,
                client,
                &c,
                "{{.HostConfig.UTSMode}} {{.HostConfig.PidMode}} {{.Config.Domainname}}"
            ),
            "host host d.example",
            "{name}"
        );
        ok(&d, client, &["rm", &c]);

        // Bad input: conflicting and invalid modes, no container left.
        let before = all_containers(&d);
        for (args, want) in [
            (
                vec!["--uts=host", "--hostname", "x"],
                "conflicting options: hostname and the UTS mode",
            ),
            (vec!["--pid", "bogus"], "invalid PID mode"),
            (vec!["--ipc", "bogus"], "invalid IPC mode"),
            (vec!["--uts", "bogus"], "invalid UTS mode"),
            (
                vec!["--shm-size", "12x"],
                "invalid argument \"12x\" for \"--shm-size\" flag",
            ),
        ] {
            let mut all = vec!["run", "--rm"];
            all.extend_from_slice(&args);
            all.extend_from_slice(&["img", "true"]);
            let (code, err) = fails(&d, client, &all);
            assert_eq!(code, 125, "{name} {args:?}: {err}");
            assert!(err.contains(want), "{name} {args:?}: {err}");
        }
        assert_eq!(all_containers(&d), before, "{name}");
    }
}

/// The create API directly: what the engine refuses even when a client
/// does not check (docker's daemon-side messages, 400).
#[test]
fn create_api_refuses_bad_security_options() {
    let d = Daemon::start();
    import_image(&d);
    let post = |host_config: &str| {
        let body = format!(r#"{{"Image":"img","Cmd":["true"],"HostConfig":{host_config}}}"#);
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
            .arg(d.socket())
            .args(["-H", "Content-Type: application/json", "-d", &body])
            .arg("http://localhost/v1.51/containers/create")
            .output()
            .expect("curl is missing: apt-get install curl");
        let t = text(&out.stdout);
        let (body, code) = t.rsplit_once('\n').unwrap();
        (code.to_owned(), body.to_owned())
    };
    let cases: BTreeMap<&str, &str> = [
        (r#"{"PidMode":"bogus"}"#, "invalid PID mode: bogus"),
        (
            r#"{"IpcMode":"container:"}"#,
            "invalid IPC mode: container:",
        ),
        (r#"{"ShmSize":-1}"#, "SHM size can not be less than 0"),
        (
            r#"{"SecurityOpt":["bogus"]}"#,
            "invalid --security-opt 1: \\\"bogus\\\"",
        ),
        (
            r#"{"SecurityOpt":["seccomp={nope"]}"#,
            "Decoding seccomp profile failed",
        ),
        (
            r#"{"Tmpfs":{"/":""}}"#,
            "invalid specification: destination can't be '/'",
        ),
    ]
    .into();
    for (host_config, want) in cases {
        let (code, body) = post(host_config);
        assert_eq!(code, "400", "{host_config}: {body}");
        assert!(body.contains(want), "{host_config}: {body}");
    }
    assert!(all_containers(&d).is_empty());
}
