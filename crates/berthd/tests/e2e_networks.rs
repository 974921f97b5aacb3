//! Networks as objects through `berth`, docker 28 and docker 20.10:
//! `network create/ls/inspect/rm/prune/connect/disconnect` with docker's
//! flags, filters, output and errors; containers' `--network`, `--ip`,
//! `--network-alias` in inspect and `ps`; persistence across a berthd
//! restart. (The data path's tests live with it, in e2e_network.rs.)
//!
//! Every user network gets a subnet and a bridge name of the test's daemon
//! ([`common::TestNet::user_subnet_27`], [`common::TestNet::user_bridge`]), so
//! nothing here can collide with another test or the host.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::process::Output;

use common::{BERTH, DOCKER_20, DOCKER_28, Daemon, output_with_stdin};

const CLIENTS: [&str; 3] = [BERTH, DOCKER_28, DOCKER_20];
const BRIDGE_OPT: &str = "com.docker.network.bridge.name";

fn run(d: &Daemon, client: &str, args: &[&str]) -> Output {
    d.client_command(client, args).output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(d: &Daemon, client: &str, args: &[&str]) -> String {
    let o = run(d, client, args);
    assert!(
        o.status.success(),
        "{client} {args:?}: {}{}",
        out(&o),
        err(&o)
    );
    out(&o)
}

/// Runs a command that must fail; its stderr.
fn fails(d: &Daemon, client: &str, args: &[&str]) -> String {
    let o = run(d, client, args);
    assert!(
        !o.status.success(),
        "{client} {args:?} succeeded: {}",
        out(&o)
    );
    err(&o)
}

fn short(client: &str) -> &'static str {
    match client {
        BERTH => "b",
        DOCKER_28 => "d28",
        _ => "d20",
    }
}

/// `network ls ARGS` with `client`: its output, asserting success.
fn network_ls(d: &Daemon, client: &str, args: &[&str]) -> String {
    ok(d, client, &[&["network", "ls"], args].concat())
}

/// `network create` with a subnet, bridge name and more; returns the ID.
fn create(d: &Daemon, client: &str, name: &str, k: u8, extra: &[&str]) -> String {
    let subnet = d.net.user_subnet_27(k);
    let opt = format!("{BRIDGE_OPT}={}", d.net.user_bridge(k));
    let mut args = vec!["network", "create", "--subnet", &subnet, "-o", &opt];
    args.extend_from_slice(extra);
    args.push(name);
    let id = ok(d, client, &args).trim().to_owned();
    assert_eq!(id.len(), 64, "{client}: {id}");
    id
}

#[test]
fn network_objects_through_every_client() {
    let d = Daemon::start();
    let default = ok(&d, DOCKER_28, &["network", "ls"]);
    let lines: Vec<&str> = default.lines().collect();
    assert_eq!(lines.len(), 4, "{default}");
    assert!(
        lines[0].starts_with("NETWORK ID     NAME      DRIVER    SCOPE"),
        "{default}"
    );
    for (line, (name, driver)) in
        lines[1..]
            .iter()
            .zip([("bridge", "bridge"), ("host", "host"), ("none", "null")])
    {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1..], [name, driver, "local"], "{default}");
    }
    // The default bridge follows --bridge/--bip.
    assert_eq!(
        ok(
            &d,
            DOCKER_28,
            &[
                "network",
                "inspect",
                "-f",
                "{{json .IPAM.Config}} {{index .Options \"com.docker.network.bridge.name\"}}",
                "bridge"
            ]
        )
        .trim(),
        format!(
            r#"[{{"Subnet":"{}","Gateway":"{}"}}] {}"#,
            d.net.subnet,
            d.net.gateway(),
            d.net.bridge
        )
    );

    for (k, client) in CLIENTS.iter().enumerate() {
        let k = u8::try_from(k).unwrap();
        let name = format!("objs-{}", short(client));
        let subnet = d.net.user_subnet_27(k);
        let base = subnet.trim_end_matches("/27").rsplit_once('.').unwrap();
        let last: u16 = base.1.parse().unwrap();
        let gateway = format!("{}.{}", base.0, last + 30);
        let range = format!("{}.{}/28", base.0, last + 16);
        let id = create(
            &d,
            client,
            &name,
            k,
            &[
                "--gateway",
                &gateway,
                "--ip-range",
                &range,
                "--label",
                "team=blue",
                "--internal",
            ],
        );
        let inspect = ok(
            &d,
            client,
            &[
                "network",
                "inspect",
                "--format",
                "{{.Name}} {{.Id}} {{.Driver}} {{.Scope}} {{.Internal}} {{index .Labels \"team\"}}",
                &name,
            ],
        );
        assert_eq!(
            inspect.trim(),
            format!("{name} {id} bridge local true blue"),
            "{client}"
        );
        // berth's templates print JSON objects with sorted keys: compare values.
        let ipam = ok(
            &d,
            client,
            &["network", "inspect", "-f", "{{json .IPAM.Config}}", &name],
        );
        let ipam: serde_json::Value = serde_json::from_str(ipam.trim()).unwrap();
        assert_eq!(
            ipam,
            serde_json::json!([{"Subnet": subnet, "IPRange": range, "Gateway": gateway}]),
            "{client}"
        );
        // The whole document is a JSON array, as docker prints it.
        let full: serde_json::Value =
            serde_json::from_str(&ok(&d, client, &["network", "inspect", &id[..12]])).unwrap();
        assert_eq!(full[0]["Name"], name.as_str(), "{client}");
        assert_eq!(full[0]["Containers"], serde_json::json!({}), "{client}");

        // Filters and formats.
        let q = network_ls(&d, client, &["-q", "--filter", "label=team=blue"]);
        assert!(q.lines().any(|l| l == &id[..12]), "{client}: {q}");
        let names = network_ls(
            &d,
            client,
            &["--filter", "type=custom", "--format", "{{.Name}}"],
        );
        assert!(names.lines().any(|l| l == name), "{client}: {names}");
        assert!(!names.contains("bridge"), "{client}: {names}");
        let builtin = network_ls(&d, client, &["-f", "type=builtin", "--format", "{{.Name}}"]);
        assert_eq!(builtin, "bridge\nhost\nnone\n", "{client}");
        let by_driver = network_ls(
            &d,
            client,
            &["-f", "driver=null", "--format", "{{.Name}} {{.Driver}}"],
        );
        assert_eq!(by_driver, "none null\n", "{client}");
        let dangling = network_ls(
            &d,
            client,
            &["-f", "dangling=true", "--format", "{{.Name}}"],
        );
        assert!(dangling.lines().any(|l| l == name), "{client}: {dangling}");
        assert!(!dangling.contains("bridge"), "{client}: {dangling}");
        let by_id = network_ls(
            &d,
            client,
            &["--no-trunc", "-f", &format!("id={}", &id[..10]), "-q"],
        );
        assert_eq!(by_id, format!("{id}\n"), "{client}");

        // Errors, as dockerd words them.
        let e = fails(
            &d,
            client,
            &[
                "network",
                "create",
                "--subnet",
                &d.net.user_subnet_27(7),
                &name,
            ],
        );
        assert!(
            e.contains(&format!("network with name {name} already exists")),
            "{client}: {e}"
        );
        let e = fails(
            &d,
            client,
            &["network", "create", "--subnet", &subnet, "other"],
        );
        assert!(
            e.contains("Pool overlaps with other one on this address space"),
            "{client}: {e}"
        );
        let e = fails(
            &d,
            client,
            &["network", "create", "--subnet", "10.214.0.0/33", "bad"],
        );
        assert!(e.contains("invalid"), "{client}: {e}");
        for builtin in ["bridge", "host", "none"] {
            let e = fails(&d, client, &["network", "rm", builtin]);
            assert!(
                e.contains(&format!(
                    "{builtin} is a pre-defined network and cannot be removed"
                )),
                "{client}: {e}"
            );
        }
        let e = fails(&d, client, &["network", "inspect", "nope"]);
        // docker 20.10's CLI words a 404 itself.
        assert!(
            e.contains("network nope not found") || e.contains("No such network: nope"),
            "{client}: {e}"
        );
        let e = fails(&d, client, &["network", "rm", "nope"]);
        assert!(
            e.contains("network nope not found") || e.contains("No such network: nope"),
            "{client}: {e}"
        );
        let e = fails(&d, client, &["network", "connect", "nope", "nobody"]);
        assert!(
            e.contains("not found") || e.contains("No such"),
            "{client}: {e}"
        );

        // rm prints what it was given.
        assert_eq!(
            ok(&d, client, &["network", "rm", &name]),
            format!("{name}\n")
        );
        assert!(
            !run(&d, client, &["network", "inspect", &name])
                .status
                .success()
        );
    }
    // Nothing is left but the three built-in networks.
    assert_eq!(
        ok(&d, BERTH, &["network", "ls", "--format", "{{.Name}}"]),
        "bridge\nhost\nnone\n"
    );
}

#[test]
fn containers_name_their_networks() {
    let d = Daemon::start();
    for (k, client) in CLIENTS.iter().enumerate() {
        let k = 2 * u8::try_from(k).unwrap();
        let s = short(client);
        let (front, back) = (format!("front-{s}"), format!("back-{s}"));
        let front_id = create(&d, client, &front, k, &[]);
        let back_id = create(&d, client, &back, k + 1, &[]);
        let subnet = d.net.user_subnet_27(k);
        let ip = format!(
            "{}.{}",
            subnet.rsplit_once('.').unwrap().0,
            subnet
                .rsplit_once('.')
                .unwrap()
                .1
                .trim_end_matches("/27")
                .parse::<u16>()
                .unwrap()
                + 9
        );
        let web = format!("web-{s}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &web,
                "--network",
                &front,
                "--ip",
                &ip,
                "--network-alias",
                "www",
                "hello-world",
            ],
        );
        let fmt = |f: &str| {
            ok(&d, client, &["inspect", "-f", f, &web])
                .trim()
                .to_owned()
        };
        assert_eq!(fmt("{{.HostConfig.NetworkMode}}"), front, "{client}");
        let eps: serde_json::Value =
            serde_json::from_str(&fmt("{{json .NetworkSettings.Networks}}")).unwrap();
        assert_eq!(
            eps[&front]["IPAMConfig"]["IPv4Address"],
            ip.as_str(),
            "{client}"
        );
        assert_eq!(
            eps[&front]["Aliases"],
            serde_json::json!(["www"]),
            "{client}"
        );
        assert_eq!(eps[&front]["NetworkID"], front_id.as_str(), "{client}");

        // A second network; ps shows both, and filters by either.
        ok(
            &d,
            client,
            &["network", "connect", "--alias", "api", &back, &web],
        );
        let e = fails(&d, client, &["network", "connect", &back, &web]);
        assert!(e.contains("already exists in network"), "{client}: {e}");
        let nets = ok(
            &d,
            client,
            &[
                "ps",
                "-a",
                "--filter",
                &format!("name={web}"),
                "--format",
                "{{.Networks}}",
            ],
        );
        // In the order of a Go map for docker's CLIs.
        let mut nets: Vec<&str> = nets.trim().split(',').collect();
        nets.sort_unstable();
        assert_eq!(nets, [back.as_str(), front.as_str()], "{client}");
        let by_net = ok(
            &d,
            client,
            &[
                "ps",
                "-a",
                "-f",
                &format!("network={}", &back_id[..12]),
                "--format",
                "{{.Names}}",
            ],
        );
        assert_eq!(by_net, format!("{web}\n"), "{client}");
        ok(&d, client, &["network", "disconnect", &back, &web]);
        let e = fails(&d, client, &["network", "disconnect", &back, &web]);
        assert!(e.contains("is not connected to network"), "{client}: {e}");
        let by_net = ok(
            &d,
            client,
            &[
                "ps",
                "-a",
                "-f",
                &format!("network={back}"),
                "--format",
                "{{.Names}}",
            ],
        );
        assert_eq!(by_net, "", "{client}");

        // The default bridge, host and none.
        let plain = format!("plain-{s}");
        ok(&d, client, &["create", "--name", &plain, "hello-world"]);
        let plain_nets = ok(
            &d,
            client,
            &[
                "inspect",
                "-f",
                "{{.HostConfig.NetworkMode}} {{json .NetworkSettings.Networks}}",
                &plain,
            ],
        );
        let (mode, nets) = plain_nets.trim().split_once(' ').unwrap();
        // dockerd 25+ stores no NetworkMode (the CLI sends `default`) as
        // `bridge`, whatever the API version.
        assert_eq!(mode, "bridge", "{client}");
        let nets: serde_json::Value = serde_json::from_str(nets).unwrap();
        assert_eq!(
            nets.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["bridge"],
            "{client}"
        );
        let e = fails(&d, client, &["network", "connect", "host", &plain]);
        assert!(
            e.contains(
                "container cannot be disconnected from host network or connected to host network"
            ),
            "{client}: {e}"
        );
        let hosted = format!("hosted-{s}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &hosted,
                "--network",
                "host",
                "hello-world",
            ],
        );
        assert_eq!(
            ok(
                &d,
                client,
                &[
                    "ps",
                    "-a",
                    "-f",
                    &format!("name={hosted}"),
                    "--format",
                    "{{.Networks}}"
                ]
            ),
            "host\n",
            "{client}"
        );
        let e = fails(&d, client, &["network", "connect", &front, &hosted]);
        assert!(e.contains("host network"), "{client}: {e}");
        let joined = format!("joined-{s}");
        ok(
            &d,
            client,
            &[
                "create",
                "--name",
                &joined,
                "--network",
                &format!("container:{plain}"),
                "hello-world",
            ],
        );
        let mode = ok(
            &d,
            client,
            &["inspect", "-f", "{{.HostConfig.NetworkMode}}", &joined],
        );
        assert!(mode.trim().starts_with("container:"), "{client}: {mode}");

        // Bad requests change nothing.
        let e = fails(
            &d,
            client,
            &[
                "create",
                "--network",
                "bridge",
                "--ip",
                "10.214.250.9",
                "hello-world",
            ],
        );
        assert!(
            e.contains("user specified IP address is supported on user defined networks only"),
            "{client}: {e}"
        );
        let e = fails(
            &d,
            client,
            &[
                "create",
                "--network",
                &front,
                "--ip",
                "10.9.9.9",
                "hello-world",
            ],
        );
        assert!(e.contains("10.9.9.9"), "{client}: {e}");
        // docker 20.10's CLI drops aliases outside user networks itself.
        if *client != DOCKER_20 {
            let e = fails(
                &d,
                client,
                &["create", "--network-alias", "x", "hello-world"],
            );
            assert!(e.contains("network-scoped alias"), "{client}: {e}");
        }

        // A network is removable once no running container is on it.
        for c in [&web, &plain, &hosted, &joined] {
            ok(&d, client, &["rm", c]);
        }
        ok(&d, client, &["network", "rm", &front, &back]);
    }
    let all = ok(&d, BERTH, &["ps", "-aq"]);
    assert_eq!(
        all, "",
        "only containers the test failed to create may be left"
    );
}

#[test]
fn networks_persist_and_prune() {
    let mut d = Daemon::start();
    let keep = create(&d, BERTH, "keep", 0, &["--label", "keep=yes"]);
    let gone = create(&d, DOCKER_28, "gone", 1, &[]);
    let x = d.net.subnet.split('.').nth(2).unwrap().to_owned();
    let v6_subnet = format!("fd00:214:{x}::/64");
    let v6 = create(&d, DOCKER_28, "six", 2, &["--ipv6", "--subnet", &v6_subnet]);
    ok(
        &d,
        DOCKER_28,
        &[
            "create",
            "--name",
            "cc",
            "--network",
            "keep",
            "--network-alias",
            "k",
            "hello-world",
        ],
    );
    ok(&d, DOCKER_28, &["network", "connect", "six", "cc"]);
    let six = ok(
        &d,
        DOCKER_20,
        &[
            "network",
            "inspect",
            "-f",
            "{{.EnableIPv6}} {{json .IPAM.Config}}",
            "six",
        ],
    );
    assert_eq!(
        six.trim(),
        format!(
            r#"true [{{"Subnet":"{}","Gateway":"{}"}},{{"Subnet":"{v6_subnet}","Gateway":"fd00:214:{x}::1"}}]"#,
            d.net.user_subnet_27(2),
            {
                let s = d.net.user_subnet_27(2);
                let (a, b) = s.trim_end_matches("/27").rsplit_once('.').unwrap();
                format!("{a}.{}", b.parse::<u16>().unwrap() + 1)
            }
        )
    );

    d.restart();
    let ids = ok(
        &d,
        DOCKER_28,
        &[
            "network",
            "ls",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Name}}",
        ],
    );
    for (id, name) in [(&keep, "keep"), (&gone, "gone"), (&v6, "six")] {
        assert!(ids.contains(&format!("{id} {name}")), "{ids}");
    }
    let nets = ok(
        &d,
        BERTH,
        &["inspect", "-f", "{{json .NetworkSettings.Networks}}", "cc"],
    );
    let nets: serde_json::Value = serde_json::from_str(&nets).unwrap();
    assert_eq!(nets["keep"]["NetworkID"], keep.as_str(), "{nets}");
    assert_eq!(nets["keep"]["Aliases"], serde_json::json!(["k"]), "{nets}");
    assert_eq!(nets["six"]["NetworkID"], v6.as_str(), "{nets}");

    // Prune: a label filter keeps `keep`; the answer is declined first.
    let declined = output_with_stdin(
        &mut d.client_command(DOCKER_28, &["network", "prune"]),
        b"n\n",
    );
    assert!(declined.status.success());
    assert!(
        out(&declined).contains(
            "WARNING! This will remove all custom networks not used by at least one container."
        ),
        "{}",
        out(&declined)
    );
    assert!(ok(&d, DOCKER_28, &["network", "ls", "-q"]).contains(&gone[..12]));
    let pruned = ok(
        &d,
        BERTH,
        &["network", "prune", "-f", "--filter", "label!=keep=yes"],
    );
    assert_eq!(pruned, "Deleted Networks:\ngone\nsix\n\n");
    let left = ok(&d, DOCKER_20, &["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(left, "bridge\nhost\nkeep\nnone\n");
    assert_eq!(
        ok(
            &d,
            DOCKER_28,
            &["network", "prune", "-f", "--filter", "until=1h"]
        ),
        ""
    );

    // Events: create and destroy, with the network's name and type.
    let events = ok(
        &d,
        DOCKER_28,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &format!(
                "{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + 1
            ),
            "--filter",
            "type=network",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
        ],
    );
    for want in ["destroy gone bridge", "destroy six bridge"] {
        assert!(events.lines().any(|l| l == want), "{want}: {events}");
    }
    ok(&d, BERTH, &["rm", "cc"]);
    ok(&d, BERTH, &["network", "rm", "keep"]);
}
