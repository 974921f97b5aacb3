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

use common::clients::{BERTH, Client, DOCKER, DOCKER20, fails, ok, tag, text, with_stdin};
use common::net::create_network;
use common::{Daemon, unix_now};

const CLIENTS: [Client; 3] = [BERTH, DOCKER, DOCKER20];

/// `network ls ARGS` with `client`: its output, asserting success.
fn network_ls(d: &Daemon, client: Client, args: &[&str]) -> String {
    ok(d, client, &[&["network", "ls"], args].concat())
}

/// [`create_network`], checking that the ID is a full one.
fn create(d: &Daemon, client: Client, name: &str, k: u8, extra: &[&str]) -> String {
    let id = create_network(d, client, name, k, extra);
    assert_eq!(id.len(), 64, "{}: {id}", client.0);
    id
}

#[test]
fn network_objects_through_every_client() {
    let d = Daemon::start();
    let default = ok(&d, DOCKER, &["network", "ls"]);
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
            DOCKER,
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

    for (k, client @ (who, _)) in CLIENTS.into_iter().enumerate() {
        let k = u8::try_from(k).unwrap();
        let name = format!("objs-{}", tag(client));
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
            "{who}"
        );
        // A struct's fields in their declared order, as Go prints them.
        let ipam = ok(
            &d,
            client,
            &["network", "inspect", "-f", "{{json .IPAM.Config}}", &name],
        );
        assert_eq!(
            ipam.trim(),
            format!(r#"[{{"Subnet":"{subnet}","IPRange":"{range}","Gateway":"{gateway}"}}]"#),
            "{who}"
        );
        // The whole document is a JSON array, as docker prints it, and
        // berth prints the same text as docker 28 (keys in the daemon's order).
        let text = ok(&d, client, &["network", "inspect", &id[..12]]);
        let full: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(full[0]["Name"], name.as_str(), "{who}");
        assert_eq!(full[0]["Containers"], serde_json::json!({}), "{who}");
        if who == BERTH.0 {
            assert_eq!(text, ok(&d, DOCKER, &["network", "inspect", &id[..12]]));
        }

        // Filters and formats.
        let q = network_ls(&d, client, &["-q", "--filter", "label=team=blue"]);
        assert!(q.lines().any(|l| l == &id[..12]), "{who}: {q}");
        let names = network_ls(
            &d,
            client,
            &["--filter", "type=custom", "--format", "{{.Name}}"],
        );
        assert!(names.lines().any(|l| l == name), "{who}: {names}");
        assert!(!names.contains("bridge"), "{who}: {names}");
        let builtin = network_ls(&d, client, &["-f", "type=builtin", "--format", "{{.Name}}"]);
        assert_eq!(builtin, "bridge\nhost\nnone\n", "{who}");
        let by_driver = network_ls(
            &d,
            client,
            &["-f", "driver=null", "--format", "{{.Name}} {{.Driver}}"],
        );
        assert_eq!(by_driver, "none null\n", "{who}");
        let dangling = network_ls(
            &d,
            client,
            &["-f", "dangling=true", "--format", "{{.Name}}"],
        );
        assert!(dangling.lines().any(|l| l == name), "{who}: {dangling}");
        assert!(!dangling.contains("bridge"), "{who}: {dangling}");
        let by_id = network_ls(
            &d,
            client,
            &["--no-trunc", "-f", &format!("id={}", &id[..10]), "-q"],
        );
        assert_eq!(by_id, format!("{id}\n"), "{who}");

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
        )
        .1;
        assert!(
            e.contains(&format!("network with name {name} already exists")),
            "{who}: {e}"
        );
        let e = fails(
            &d,
            client,
            &["network", "create", "--subnet", &subnet, "other"],
        )
        .1;
        assert!(
            e.contains("Pool overlaps with other one on this address space"),
            "{who}: {e}"
        );
        let e = fails(
            &d,
            client,
            &["network", "create", "--subnet", "10.214.0.0/33", "bad"],
        )
        .1;
        assert!(e.contains("invalid"), "{who}: {e}");
        for builtin in ["bridge", "host", "none"] {
            let e = fails(&d, client, &["network", "rm", builtin]).1;
            assert!(
                e.contains(&format!(
                    "{builtin} is a pre-defined network and cannot be removed"
                )),
                "{who}: {e}"
            );
        }
        let e = fails(&d, client, &["network", "inspect", "nope"]).1;
        // docker 20.10's CLI words a 404 itself.
        assert!(
            e.contains("network nope not found") || e.contains("No such network: nope"),
            "{who}: {e}"
        );
        let e = fails(&d, client, &["network", "rm", "nope"]).1;
        assert!(
            e.contains("network nope not found") || e.contains("No such network: nope"),
            "{who}: {e}"
        );
        let e = fails(&d, client, &["network", "connect", "nope", "nobody"]).1;
        assert!(
            e.contains("not found") || e.contains("No such"),
            "{who}: {e}"
        );

        // rm prints what it was given.
        assert_eq!(
            ok(&d, client, &["network", "rm", &name]),
            format!("{name}\n")
        );
        assert!(
            !client.1(&d, &["network", "inspect", &name])
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
    for (k, client @ (who, _)) in CLIENTS.into_iter().enumerate() {
        let k = 2 * u8::try_from(k).unwrap();
        let s = tag(client);
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
        assert_eq!(fmt("{{.HostConfig.NetworkMode}}"), front, "{who}");
        let eps: serde_json::Value =
            serde_json::from_str(&fmt("{{json .NetworkSettings.Networks}}")).unwrap();
        assert_eq!(
            eps[&front]["IPAMConfig"]["IPv4Address"],
            ip.as_str(),
            "{who}"
        );
        assert_eq!(eps[&front]["Aliases"], serde_json::json!(["www"]), "{who}");
        assert_eq!(eps[&front]["NetworkID"], front_id.as_str(), "{who}");

        // A second network; ps shows both, and filters by either.
        ok(
            &d,
            client,
            &["network", "connect", "--alias", "api", &back, &web],
        );
        let e = fails(&d, client, &["network", "connect", &back, &web]).1;
        assert!(e.contains("already exists in network"), "{who}: {e}");
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
        assert_eq!(nets, [back.as_str(), front.as_str()], "{who}");
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
        assert_eq!(by_net, format!("{web}\n"), "{who}");
        ok(&d, client, &["network", "disconnect", &back, &web]);
        let e = fails(&d, client, &["network", "disconnect", &back, &web]).1;
        assert!(e.contains("is not connected to network"), "{who}: {e}");
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
        assert_eq!(by_net, "", "{who}");

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
        assert_eq!(mode, "bridge", "{who}");
        let nets: serde_json::Value = serde_json::from_str(nets).unwrap();
        assert_eq!(
            nets.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["bridge"],
            "{who}"
        );
        let e = fails(&d, client, &["network", "connect", "host", &plain]).1;
        assert!(
            e.contains(
                "container cannot be disconnected from host network or connected to host network"
            ),
            "{who}: {e}"
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
            "{who}"
        );
        let e = fails(&d, client, &["network", "connect", &front, &hosted]).1;
        assert!(e.contains("host network"), "{who}: {e}");
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
        assert!(mode.trim().starts_with("container:"), "{who}: {mode}");

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
        )
        .1;
        assert!(
            e.contains("user specified IP address is supported on user defined networks only"),
            "{who}: {e}"
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
        )
        .1;
        assert!(e.contains("10.9.9.9"), "{who}: {e}");
        // docker 20.10's CLI drops aliases outside user networks itself.
        if who != DOCKER20.0 {
            let e = fails(
                &d,
                client,
                &["create", "--network-alias", "x", "hello-world"],
            )
            .1;
            assert!(e.contains("network-scoped alias"), "{who}: {e}");
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
    let gone = create(&d, DOCKER, "gone", 1, &[]);
    let x = d.net.subnet.split('.').nth(2).unwrap().to_owned();
    let v6_subnet = format!("fd00:214:{x}::/64");
    let v6 = create(&d, DOCKER, "six", 2, &["--ipv6", "--subnet", &v6_subnet]);
    ok(
        &d,
        DOCKER,
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
    ok(&d, DOCKER, &["network", "connect", "six", "cc"]);
    let six = ok(
        &d,
        DOCKER20,
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
        DOCKER,
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
    let declined = with_stdin(&d, DOCKER, &["network", "prune"], b"n\n");
    assert!(declined.status.success());
    assert!(
        text(&declined.stdout).contains(
            "WARNING! This will remove all custom networks not used by at least one container."
        ),
        "{}",
        text(&declined.stdout)
    );
    assert!(ok(&d, DOCKER, &["network", "ls", "-q"]).contains(&gone[..12]));
    let pruned = ok(
        &d,
        BERTH,
        &["network", "prune", "-f", "--filter", "label!=keep=yes"],
    );
    assert_eq!(pruned, "Deleted Networks:\ngone\nsix\n\n");
    let left = ok(&d, DOCKER20, &["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(left, "bridge\nhost\nkeep\nnone\n");
    assert_eq!(
        ok(
            &d,
            DOCKER,
            &["network", "prune", "-f", "--filter", "until=1h"]
        ),
        ""
    );

    // Events: create and destroy, with the network's name and type.
    let events = ok(
        &d,
        DOCKER,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &(unix_now() + 1).to_string(),
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
