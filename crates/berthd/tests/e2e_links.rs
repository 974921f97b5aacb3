//! Legacy links (`--link NAME[:ALIAS]`), as dockerd 28 makes them, through
//! the real docker CLI (28 and 20.10) and berth's: on the default bridge
//! the linking container gets `/etc/hosts` lines (`IP\talias hostname
//! name`) that follow the linked container to a new address when it
//! starts again, the `ALIAS_PORT...`/`ALIAS_NAME`/`ALIAS_ENV_...`
//! variables (in its process and its execs), `HostConfig.Links`, and the
//! linked container a second name (`ps --no-trunc`, `inspect
//! linker/alias`, `rm -l`); links survive a berthd restart; dockerd's
//! errors for a missing, stopped or elsewhere-networked target and for
//! `--network host`/`container:X`; on a user network `--link X:alias` is
//! a name only the linking container's DNS server answers, even for a
//! container created later.
//!
//! Each daemon's containers get a resolver file naming a loopback address
//! nothing listens on, so no query leaves the host.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::PathBuf;

use common::clients::{BERTH, CLIENTS, DOCKER, fails_with, inspect, ok, text};
use common::{Daemon, import_busybox};

/// A daemon with busybox whose containers' resolv.conf names a loopback
/// resolver nothing listens on (`127.213.<x>.53`, `x` the daemon's own
/// subnet's); the directory holds that file.
fn daemon() -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("resolv.conf");
    fs_err::write(&path, "").unwrap();
    let d = Daemon::start_with(&["--host-resolv-conf", path.to_str().unwrap()]);
    let x = d.net.subnet.split('.').nth(2).unwrap().to_owned();
    fs_err::write(&path, format!("nameserver 127.213.{x}.53\n")).unwrap();
    import_busybox(&d);
    (d, dir)
}

fn bridge_ip(d: &Daemon, name: &str) -> String {
    inspect(d, name, "{{.NetworkSettings.Networks.bridge.IPAddress}}")
}

/// The `/etc/hosts` lines of `linker` for `alias`.
fn hosts_lines(d: &Daemon, linker: &str, alias: &str) -> Vec<String> {
    ok(d, DOCKER, &["exec", linker, "cat", "/etc/hosts"])
        .lines()
        .filter(|l| {
            l.split('\t')
                .nth(1)
                .is_some_and(|n| n.split(' ').next() == Some(alias))
        })
        .map(str::to_owned)
        .collect()
}

/// The variables of `linker`'s execs that start with `prefix`, in order.
fn env_of(d: &Daemon, linker: &str, prefix: &str) -> Vec<String> {
    ok(d, DOCKER, &["exec", linker, "busybox", "env"])
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn links_give_hosts_env_names_and_follow_the_target() {
    let (d, _dir) = daemon();
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "db",
            "--hostname",
            "dbhost",
            "-e",
            "e1=",
            "-e",
            "e2=v2=x",
            "--expose",
            "5432",
            "--expose",
            "53/udp",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    ok(
        &d,
        DOCKER,
        &[
            "run", "-d", "--name", "web", "--link", "db:data", "--link", "db", "busybox", "sleep",
            "1000",
        ],
    );
    let ip = bridge_ip(&d, "db");
    assert!(ip.starts_with("10.213."), "{ip}");
    // dockerd's lines: alias, the target's host name, its name unless
    // that is the alias.
    assert_eq!(
        hosts_lines(&d, "web", "data"),
        [format!("{ip}\tdata dbhost db")]
    );
    assert_eq!(hosts_lines(&d, "web", "db"), [format!("{ip}\tdb dbhost")]);
    // The variables, in dockerd's order; the `_ENV_` ones in the order of
    // the target's `Config.Env`. That is not always the order of the `-e`
    // flags: the docker CLI (28 and 20.10) rebuilds the `-e` list from a Go
    // map (its proxy settings, `ParseProxyConfig`) before it sends the
    // create request, so about one `run` in eight sends `e2` before `e1`;
    // dockerd keeps the order it is sent.
    let target_env: Vec<String> = inspect(&d, "db", "{{range .Config.Env}}{{println .}}{{end}}")
        .lines()
        .filter(|e| e.starts_with("e1=") || e.starts_with("e2="))
        .map(|e| format!("DATA_ENV_{e}"))
        .collect();
    let mut sorted = target_env.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["DATA_ENV_e1=", "DATA_ENV_e2=v2=x"],
        "{target_env:?}"
    );
    let data_env = env_of(&d, "web", "DATA_");
    assert_eq!(
        data_env,
        [
            format!("DATA_PORT=tcp://{ip}:5432"),
            format!("DATA_PORT_5432_TCP=tcp://{ip}:5432"),
            format!("DATA_PORT_5432_TCP_ADDR={ip}"),
            "DATA_PORT_5432_TCP_PORT=5432".to_owned(),
            "DATA_PORT_5432_TCP_PROTO=tcp".to_owned(),
            format!("DATA_PORT_53_UDP=udp://{ip}:53"),
            format!("DATA_PORT_53_UDP_ADDR={ip}"),
            "DATA_PORT_53_UDP_PORT=53".to_owned(),
            "DATA_PORT_53_UDP_PROTO=udp".to_owned(),
            "DATA_NAME=/web/data".to_owned(),
        ]
        .into_iter()
        .chain(target_env)
        .collect::<Vec<_>>()
    );
    // The process has them too (not only execs).
    let proc_env = ok(&d, DOCKER, &["exec", "web", "cat", "/proc/1/environ"]);
    assert!(proc_env.contains("\0DB_NAME=/web/db\0"), "{proc_env:?}");
    // By alias over the bridge.
    ok(
        &d,
        DOCKER,
        &[
            "exec", "web", "busybox", "ping", "-c", "1", "-W", "5", "data",
        ],
    );
    // Inspect, ps and the link name.
    assert_eq!(
        inspect(&d, "web", "{{json .HostConfig.Links}}"),
        r#"["/db:/web/data","/db:/web/db"]"#
    );
    assert_eq!(inspect(&d, "db", "{{json .HostConfig.Links}}"), "null");
    let db_id = inspect(&d, "db", "{{.Id}}");
    assert_eq!(inspect(&d, "web/data", "{{.Id}}"), db_id);
    let names = ok(&d, DOCKER, &["ps", "--no-trunc", "--format", "{{.Names}}"]);
    assert!(names.lines().any(|l| l == "db,web/data,web/db"), "{names}");
    let names = ok(&d, DOCKER, &["ps", "--format", "{{.Names}}"]);
    assert!(names.lines().any(|l| l == "db"), "{names}");
    let listed = ok(&d, DOCKER, &["ps", "-a", "--no-trunc"]);
    assert!(listed.contains("db,web/data,web/db"), "{listed}");

    // The target starts again at another address (the old one taken
    // meanwhile): the running linker's hosts follow, its edits stay.
    ok(
        &d,
        DOCKER,
        &[
            "exec",
            "web",
            "sh",
            "-c",
            "echo '10.1.2.3\tmine' >> /etc/hosts",
        ],
    );
    ok(&d, DOCKER, &["stop", "-t", "0", "db"]);
    ok(
        &d,
        DOCKER,
        &["run", "-d", "--name", "filler", "busybox", "sleep", "1000"],
    );
    ok(&d, DOCKER, &["start", "db"]);
    let moved = bridge_ip(&d, "db");
    assert_ne!(moved, ip);
    assert_eq!(
        hosts_lines(&d, "web", "data"),
        [format!("{moved}\tdata dbhost db")]
    );
    assert_eq!(
        hosts_lines(&d, "web", "db"),
        [format!("{moved}\tdb dbhost")]
    );
    assert_eq!(hosts_lines(&d, "web", "mine"), ["10.1.2.3\tmine"]);
    // A linker started now gets the new address in its variables.
    ok(&d, DOCKER, &["restart", "-t", "0", "web"]);
    assert_eq!(
        env_of(&d, "web", "DATA_PORT="),
        [format!("DATA_PORT=tcp://{moved}:5432")]
    );

    // As dockerd: with the target stopped, the linker's execs are refused.
    ok(&d, DOCKER, &["stop", "-t", "0", "db"]);
    let err = text(&d.docker(&["exec", "web", "true"]).stderr);
    assert!(
        err.contains("Cannot link to a non running container: /db AS /web/data"),
        "{err}"
    );
    ok(&d, DOCKER, &["rm", "-f", "web", "db", "filler"]);
}

#[test]
fn every_client_links_and_rm_dash_l_unlinks() {
    let (d, _dir) = daemon();
    ok(
        &d,
        DOCKER,
        &["run", "-d", "--name", "db", "busybox", "sleep", "1000"],
    );
    let ip = bridge_ip(&d, "db");
    for (i, client @ (who, run)) in CLIENTS.into_iter().enumerate() {
        let name = format!("w{i}");
        let args = [
            "run",
            "-d",
            "--name",
            &name,
            "--link",
            "db:data",
            "--link",
            "/db:/x/store",
            "busybox",
            "sleep",
            "1000",
        ];
        ok(&d, client, &args);
        assert_eq!(
            hosts_lines(&d, &name, "data"),
            [format!(
                "{ip}\tdata {} db",
                &inspect(&d, "db", "{{.Id}}")[..12]
            )],
            "{who}"
        );
        assert_eq!(
            env_of(&d, &name, "STORE_NAME"),
            [format!("STORE_NAME=/{name}/store")],
            "{who}"
        );
        let links = ok(
            &d,
            client,
            &["inspect", "--format", "{{json .HostConfig.Links}}", &name],
        );
        assert_eq!(
            links.trim(),
            format!(r#"["/db:/{name}/data","/db:/{name}/store"]"#),
            "{who}"
        );
        // `rm -l`, with and without the leading slash: the link goes,
        // the containers stay, the running linker's hosts lose the line.
        let gone = format!("/{name}/data");
        let name_only = format!("{name}/store");
        for link in [gone.as_str(), name_only.as_str()] {
            let args = ["rm", "-l", link];
            let out = ok(&d, client, &args);
            assert_eq!(out.trim(), link, "{who}");
        }
        assert_eq!(
            inspect(&d, &name, "{{json .HostConfig.Links}}"),
            "null",
            "{who}"
        );
        assert!(hosts_lines(&d, &name, "data").is_empty(), "{who}");
        assert!(hosts_lines(&d, &name, "store").is_empty(), "{who}");
        assert_eq!(inspect(&d, &name, "{{.State.Status}}"), "running");
        // dockerd's errors: a container's own name, a link that is none.
        let out = run(&d, &["rm", "-l", "db"]);
        assert!(
            text(&out.stderr).contains(
                "Error response from daemon: Conflict, cannot remove the default link name of the container"
            ),
            "{who}: {}",
            text(&out.stderr)
        );
        // (The CLIs send the name without its slashes.)
        let out = run(&d, &["rm", "-l", &gone]);
        assert!(
            text(&out.stderr).contains(&format!("No such container: {name}/data")),
            "{who}: {}",
            text(&out.stderr)
        );
        ok(&d, DOCKER, &["rm", "-f", &name]);
    }
    ok(&d, DOCKER, &["rm", "-f", "db"]);
}

#[test]
fn links_survive_a_daemon_restart() {
    let (mut d, _dir) = daemon();
    ok(
        &d,
        DOCKER,
        &["run", "-d", "--name", "db", "busybox", "sleep", "1000"],
    );
    ok(
        &d,
        DOCKER,
        &[
            "run", "-d", "--name", "web", "--link", "db:data", "busybox", "sleep", "1000",
        ],
    );
    d.kill9();
    d.restart();
    assert_eq!(
        inspect(&d, "web", "{{json .HostConfig.Links}}"),
        r#"["/db:/web/data"]"#
    );
    let names = ok(&d, DOCKER, &["ps", "--no-trunc", "--format", "{{.Names}}"]);
    assert!(names.lines().any(|l| l == "db,web/data"), "{names}");
    // A restart of both after the daemon's: the link is made again.
    ok(&d, DOCKER, &["restart", "-t", "0", "db"]);
    ok(&d, DOCKER, &["restart", "-t", "0", "web"]);
    let ip = bridge_ip(&d, "db");
    assert_eq!(
        hosts_lines(&d, "web", "data")[0].split('\t').next(),
        Some(ip.as_str())
    );
    assert_eq!(env_of(&d, "web", "DATA_NAME"), ["DATA_NAME=/web/data"]);
    ok(&d, DOCKER, &["rm", "-f", "web", "db"]);
}

#[test]
fn bad_links_are_refused_with_dockers_errors() {
    let (d, _dir) = daemon();
    ok(
        &d,
        DOCKER,
        &["run", "-d", "--name", "db", "busybox", "sleep", "1000"],
    );
    ok(
        &d,
        DOCKER,
        &["create", "--name", "idle", "busybox", "sleep", "1000"],
    );
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "hosty",
            "--network",
            "host",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let err = fails_with(
        &d,
        DOCKER,
        &["run", "--rm", "--link", "nosuch:x", "busybox", "true"],
        125,
    );
    assert!(
        err.contains(
            "Error response from daemon: could not get container for nosuch: No such container: nosuch"
        ),
        "{err}"
    );
    let host = "conflicting options: host type networking can't be used with links. This would result in undefined behavior";
    let err = fails_with(
        &d,
        DOCKER,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "--link",
            "db:x",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains(host), "{err}");
    // Linking to a container on the host's network is the same conflict.
    let err = fails_with(
        &d,
        DOCKER,
        &["run", "--rm", "--link", "hosty:x", "busybox", "true"],
        125,
    );
    assert!(err.contains(host), "{err}");
    let err = fails_with(
        &d,
        DOCKER,
        &[
            "run",
            "--rm",
            "--network",
            "container:db",
            "--link",
            "db:x",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(
        err.contains("conflicting options: container type network can't be used with links. This would result in undefined behavior"),
        "{err}"
    );
    let err = fails_with(
        &d,
        DOCKER,
        &["run", "--rm", "--link", "a:b:c", "busybox", "true"],
        125,
    );
    assert!(
        err.contains("invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"),
        "{err}"
    );
    let out = d.berth(&["run", "--rm", "--link", "a:b:c", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains(
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"
        ),
        "{}",
        text(&out.stderr)
    );
    // Nothing was created by those.
    let all = ok(&d, DOCKER, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(all.lines().count(), 3, "{all}");

    // A link to a container that is not running: created, start refused,
    // nothing left set up; it starts once the target runs.
    let err = fails_with(
        &d,
        DOCKER,
        &[
            "run", "-d", "--name", "web", "--link", "idle:x", "busybox", "sleep", "1000",
        ],
        125,
    );
    assert!(
        err.contains("Cannot link to a non running container: /idle AS /web/x"),
        "{err}"
    );
    assert_eq!(inspect(&d, "web", "{{.State.Status}}"), "created");
    assert_eq!(d.net.bridge_ports().len(), 1, "{:?}", d.net.bridge_ports());
    ok(&d, DOCKER, &["start", "idle"]);
    ok(&d, DOCKER, &["start", "web"]);
    assert_eq!(env_of(&d, "web", "X_NAME"), ["X_NAME=/web/x"]);

    // A target only on a user network does not belong to the default one.
    let bridge = d.net.user_bridge(0);
    ok(
        &d,
        DOCKER,
        &[
            "network",
            "create",
            "--subnet",
            &d.net.user_subnet(0),
            "-o",
            &format!("com.docker.network.bridge.name={bridge}"),
            "lnk",
        ],
    );
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "away",
            "--network",
            "lnk",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let err = fails_with(
        &d,
        DOCKER,
        &["run", "--rm", "--link", "away:x", "busybox", "true"],
        125,
    );
    assert!(
        err.contains("Cannot link to /away, as it does not belong to the default network"),
        "{err}"
    );
    // `--network none`: dockerd takes the link and it has no effect.
    let out = ok(
        &d,
        DOCKER,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--link",
            "db:x",
            "busybox",
            "cat",
            "/etc/hosts",
        ],
    );
    assert!(!out.contains("\tx "), "{out}");
    ok(
        &d,
        DOCKER,
        &["rm", "-f", "web", "idle", "db", "hosty", "away"],
    );
    ok(&d, DOCKER, &["network", "rm", "lnk"]);
}

#[test]
fn links_on_user_networks_are_names_for_the_linker_only() {
    let (d, _dir) = daemon();
    let bridge = d.net.user_bridge(1);
    ok(
        &d,
        DOCKER,
        &[
            "network",
            "create",
            "--subnet",
            &d.net.user_subnet(1),
            "-o",
            &format!("com.docker.network.bridge.name={bridge}"),
            "ulnk",
        ],
    );
    // The linker comes first: the name it links to need not exist yet.
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "early",
            "--network",
            "ulnk",
            "--link",
            "late:lt",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "late",
            "--network",
            "ulnk",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let ip = inspect(&d, "late", "{{.NetworkSettings.Networks.ulnk.IPAddress}}");
    let lookup =
        |who: &str, name: &str| d.docker(&["exec", who, "busybox", "nslookup", "-type=a", name]);
    let out = lookup("early", "lt");
    assert!(
        out.status.success() && text(&out.stdout).contains(&format!("Address: {ip}")),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = lookup("early", "LT.ulnk");
    assert!(
        text(&out.stdout).contains(&format!("Address: {ip}")),
        "{}",
        text(&out.stdout)
    );
    // Another member of the network does not know the alias.
    ok(
        &d,
        DOCKER,
        &[
            "run",
            "-d",
            "--name",
            "other",
            "--network",
            "ulnk",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let out = lookup("other", "lt");
    assert!(
        !text(&out.stdout).contains(&format!("Address: {ip}")),
        "{}",
        text(&out.stdout)
    );
    // The link is the endpoint's, not a legacy one.
    assert_eq!(
        inspect(&d, "early", "{{json .NetworkSettings.Networks.ulnk.Links}}"),
        r#"["late:lt"]"#
    );
    assert_eq!(inspect(&d, "early", "{{json .HostConfig.Links}}"), "null");
    assert!(hosts_lines(&d, "early", "lt").is_empty());
    assert!(env_of(&d, "early", "LT_").is_empty());
    // berth's CLI sends it the same way.
    let args = [
        "run",
        "--rm",
        "--network",
        "ulnk",
        "--link",
        "late:l2",
        "busybox",
        "busybox",
        "nslookup",
        "-type=a",
        "l2",
    ];
    let out = ok(&d, BERTH, &args);
    assert!(out.contains(&format!("Address: {ip}")), "{out}");
    ok(&d, DOCKER, &["rm", "-f", "early", "late", "other"]);
    ok(&d, DOCKER, &["network", "rm", "ulnk"]);
}
