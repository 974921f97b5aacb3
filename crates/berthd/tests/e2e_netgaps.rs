//! Gateways and links of running containers as docker 28 has them, end to
//! end (root only), through the real docker 28 CLI and `berth`:
//! - the IPv6 default route follows docker's gateway endpoint when a
//!   running container is connected to or disconnected from networks, as
//!   the IPv4 one does;
//! - `gw-priority` (`run --network name=NET,gw-priority=N`, `network
//!   connect --gw-priority N`): the endpoint with the highest gives the
//!   default gateway of each family, and gets the published ports;
//! - the top-level `NetworkSettings.GlobalIPv6Address`/`PrefixLen`/
//!   `IPv6Gateway` of a container on an IPv6 default bridge;
//! - `network connect --link NAME:ALIAS` on a user network: an alias only
//!   the connected container's DNS answers.
//!
//! IPv6-only networks, once refused here, work now (e2e_ipv6only).
//!
//! Subnets: the daemon's `10.214.<x>.0/27`s and `fd00:218:<x>:<k>::/64`s (x
//! reserved per test daemon); traffic goes only to loopback and container
//! addresses (names that are not the containers' go to a local upstream
//! that answers NXDOMAIN).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::Daemon;
use common::clients::{self, BERTH, DOCKER, fails};
use common::net::{create_network, lookup, nxdomain_daemon};

/// `docker args` (docker 28) that must succeed; its trimmed stdout.
fn ok(d: &Daemon, args: &[&str]) -> String {
    clients::ok(d, DOCKER, args).trim().to_owned()
}

/// busybox with `sh`, `sleep`, `ip`, `nslookup`, `httpd` and `mkdir`, as
/// `busybox`.
fn import_busybox(d: &Daemon) {
    let applets = ["sh", "sleep", "ip", "nslookup", "httpd", "mkdir"];
    common::import_busybox_as(d, "busybox", &applets, &[]);
}

/// The third byte of the daemon's reserved subnet.
fn x(d: &Daemon) -> String {
    d.net.subnet.split('.').nth(2).unwrap().to_owned()
}

/// `fd00:218:<x>:<k + 1>::/64`, unique to this daemon.
fn subnet6(d: &Daemon, k: u8) -> String {
    format!("fd00:218:{}:{}::/64", x(d), k + 1)
}

/// User network `k` of this daemon, with IPv6 if `v6`; its IPv4 and IPv6
/// gateways.
fn network(d: &Daemon, name: &str, k: u8, v6: bool) -> (String, Option<String>) {
    let s6 = subnet6(d, k);
    let extra = if v6 {
        vec!["--ipv6", "--subnet", &s6]
    } else {
        Vec::new()
    };
    create_network(d, DOCKER, name, k, &extra);
    let gw6 = v6.then(|| format!("{}1", s6.trim_end_matches("/64")));
    (d.net.user_gateway_27(k), gw6)
}

/// The default routes inside container `name`: (IPv4 gateway, IPv6 gateway).
fn default_routes(d: &Daemon, name: &str) -> (Option<String>, Option<String>) {
    let via = |family: &str| {
        let routes = ok(d, &["exec", name, "ip", family, "route"]);
        let gateways: Vec<String> = routes
            .lines()
            .filter_map(|l| l.strip_prefix("default via "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        assert!(gateways.len() <= 1, "{family}: {routes}");
        gateways.into_iter().next()
    };
    (via("-4"), via("-6"))
}

fn routes(gw4: &str, gw6: Option<&String>) -> (Option<String>, Option<String>) {
    (Some(gw4.to_owned()), gw6.cloned())
}

#[test]
fn default_routes_follow_the_gateway_endpoints_and_gw_priority() {
    let d = Daemon::start();
    import_busybox(&d);
    let (a4, a6) = network(&d, "alpha", 0, true);
    let (b4, b6) = network(&d, "beta", 1, true);
    let (c4, _) = network(&d, "gamma", 2, false);

    // On beta alone: both routes via beta.
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "rr",
            "--network",
            "beta",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(default_routes(&d, "rr"), routes(&b4, b6.as_ref()));

    // alpha is dual-stack too and sorts first: both routes move to it.
    ok(&d, &["network", "connect", "alpha", "rr"]);
    assert_eq!(default_routes(&d, "rr"), routes(&a4, a6.as_ref()));
    // ...and back when it goes.
    ok(&d, &["network", "disconnect", "alpha", "rr"]);
    assert_eq!(default_routes(&d, "rr"), routes(&b4, b6.as_ref()));

    // gamma is IPv4-only: with a higher priority it takes the IPv4 route,
    // the IPv6 one stays with beta.
    ok(
        &d,
        &["network", "connect", "--gw-priority", "10", "gamma", "rr"],
    );
    assert_eq!(default_routes(&d, "rr"), routes(&c4, b6.as_ref()));
    assert_eq!(
        ok(
            &d,
            &[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.gamma.GwPriority}} {{.NetworkSettings.Networks.beta.GwPriority}}",
                "rr"
            ]
        ),
        "10 0"
    );
    // A dual-stack network with a still higher priority takes both.
    ok(
        &d,
        &["network", "connect", "--gw-priority", "20", "alpha", "rr"],
    );
    assert_eq!(default_routes(&d, "rr"), routes(&a4, a6.as_ref()));
    ok(&d, &["network", "disconnect", "alpha", "rr"]);
    assert_eq!(default_routes(&d, "rr"), routes(&c4, b6.as_ref()));
    ok(&d, &["network", "disconnect", "gamma", "rr"]);
    assert_eq!(default_routes(&d, "rr"), routes(&b4, b6.as_ref()));

    // At start: a negative priority puts alpha after beta.
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "ss",
            "--network",
            "name=alpha,gw-priority=-1",
            "--network",
            "beta",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(default_routes(&d, "ss"), routes(&b4, b6.as_ref()));
    assert_eq!(
        ok(
            &d,
            &[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.alpha.GwPriority}}",
                "ss"
            ]
        ),
        "-1"
    );
    // The same through berth: gamma (IPv4 only) first by priority.
    clients::ok(
        &d,
        BERTH,
        &[
            "run",
            "-d",
            "--name",
            "tt",
            "--network",
            "alpha",
            "--network",
            "name=gamma,gw-priority=5",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(default_routes(&d, "tt"), routes(&c4, a6.as_ref()));
    clients::ok(&d, BERTH, &["network", "disconnect", "gamma", "tt"]);
    assert_eq!(default_routes(&d, "tt"), routes(&a4, a6.as_ref()));
    clients::ok(
        &d,
        BERTH,
        &["network", "connect", "--gw-priority", "3", "beta", "tt"],
    );
    assert_eq!(default_routes(&d, "tt"), routes(&b4, b6.as_ref()));

    // An IPv4-only container gets its first IPv6 route when connected to
    // a dual-stack network (which sorts first: it has both gateways).
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "vv",
            "--network",
            "gamma",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(default_routes(&d, "vv"), (Some(c4.clone()), None));
    ok(&d, &["network", "connect", "beta", "vv"]);
    assert_eq!(default_routes(&d, "vv"), routes(&b4, b6.as_ref()));
    ok(&d, &["network", "disconnect", "beta", "vv"]);
    assert_eq!(default_routes(&d, "vv"), (Some(c4.clone()), None));

    // Published ports go to the IPv4 gateway endpoint: gw-priority moves
    // them (read from the DNAT rule, as e2e_netlive does).
    let pp = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "pp",
            "-p",
            "127.0.0.1::80",
            "--network",
            "beta",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let ip_on = |net: &str| {
        ok(
            &d,
            &[
                "inspect",
                "-f",
                &format!("{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}"),
                "pp",
            ],
        )
    };
    assert_eq!(d.net.dnat_targets(&pp), [format!("{}:80", ip_on("beta"))]);
    ok(
        &d,
        &["network", "connect", "--gw-priority", "10", "gamma", "pp"],
    );
    assert_eq!(d.net.dnat_targets(&pp), [format!("{}:80", ip_on("gamma"))]);
    ok(&d, &["network", "disconnect", "gamma", "pp"]);
    assert_eq!(d.net.dnat_targets(&pp), [format!("{}:80", ip_on("beta"))]);

    // Bad values: the CLIs' own errors, nothing sent.
    let args = [
        "run",
        "--network",
        "name=beta,gw-priority=high",
        "busybox",
        "true",
    ];
    let (_, err) = fails(&d, BERTH, &args);
    assert!(err.contains("invalid gw-priority"), "{err}");
    fails(
        &d,
        DOCKER,
        &["network", "connect", "--gw-priority", "x", "gamma", "tt"],
    );

    ok(&d, &["rm", "-f", "rr", "ss", "tt", "vv", "pp"]);
    ok(&d, &["network", "rm", "alpha", "beta", "gamma"]);
}

/// An HTTP GET of `/i.html` at `[::1]:port` (retried while the server
/// starts); the body.
fn get_lo6(port: u16) -> Result<String, String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let once = || -> std::io::Result<String> {
        let timeout = std::time::Duration::from_secs(5);
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.write_all(b"GET /i.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply.split("\r\n\r\n").nth(1).unwrap_or("").to_owned())
    };
    let mut last = String::new();
    for _ in 0..50 {
        match once() {
            Ok(body) if !body.is_empty() => return Ok(body),
            Ok(_) => last = "an empty answer".to_owned(),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("{addr}: {last}"))
}

/// IPv6 bindings follow docker 28's IPv6 gateway endpoint, which
/// `gw-priority` can put on another network than the IPv4 one: a port
/// published on every address is DNATed over IPv6 to the container's IPv6
/// address there, and the host's `[::1]` reaches it; without an IPv6
/// gateway the IPv6 bindings go with the IPv4 endpoint (no IPv6 rule: the
/// proxy carries `[::1]` to the IPv4 address).
#[test]
fn published_ipv6_ports_follow_the_ipv6_gateway_endpoint() {
    let d = Daemon::start();
    import_busybox(&d);
    network(&d, "alpha", 0, true);
    network(&d, "beta", 1, true);
    network(&d, "gamma", 2, false);
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "pp",
            "-p",
            "80",
            "--network",
            "beta",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /w && echo hello6 > /w/i.html && exec httpd -f -p 80 -h /w",
        ],
    );
    let port: u16 = ok(&d, &["port", "pp", "80/tcp"])
        .lines()
        .find_map(|l| l.strip_prefix("[::]:"))
        .and_then(|p| p.parse().ok())
        .expect("a binding on [::]");
    let on = |net: &str, field: &str| {
        ok(
            &d,
            &[
                "inspect",
                "-f",
                &format!("{{{{.NetworkSettings.Networks.{net}.{field}}}}}"),
                "pp",
            ],
        )
    };
    let v4 = |net: &str| vec![format!("{}:80", on(net, "IPAddress"))];
    let v6 = |net: &str| vec![format!("[{}]:80", on(net, "GlobalIPv6Address"))];
    let targets = || (d.net.dnat_targets(&id), d.net.dnat6_targets(&id));
    let reached = || {
        get_lo6(port).unwrap_or_else(|e| panic!("{e}\n{:?}\nberthd log:\n{}", targets(), d.log()))
    };

    // On beta alone: both families there.
    assert_eq!(targets(), (v4("beta"), v6("beta")));
    assert_eq!(reached(), "hello6\n");
    // gamma (IPv4 only) first by priority: IPv4 moves, IPv6 stays on beta.
    ok(
        &d,
        &["network", "connect", "--gw-priority", "10", "gamma", "pp"],
    );
    assert_eq!(targets(), (v4("gamma"), v6("beta")));
    assert_eq!(reached(), "hello6\n");
    // alpha (dual-stack) higher still: both move to it, and back.
    ok(
        &d,
        &["network", "connect", "--gw-priority", "20", "alpha", "pp"],
    );
    assert_eq!(targets(), (v4("alpha"), v6("alpha")));
    assert_eq!(reached(), "hello6\n");
    ok(&d, &["network", "disconnect", "alpha", "pp"]);
    assert_eq!(targets(), (v4("gamma"), v6("beta")));
    // No IPv6 network left: no IPv6 rule; [::1] is proxied to gamma.
    ok(&d, &["network", "disconnect", "beta", "pp"]);
    assert_eq!(targets(), (v4("gamma"), Vec::new()));
    assert_eq!(reached(), "hello6\n");

    ok(&d, &["rm", "-f", "pp"]);
    assert_eq!(targets(), (Vec::new(), Vec::new()));
    for net in ["alpha", "beta", "gamma"] {
        ok(&d, &["network", "rm", net]);
    }
}

#[test]
fn the_default_bridge_fills_the_top_level_ipv6_fields() {
    let sub = format!("fd00:219:{:x}::/64", std::process::id() & 0xffff);
    let d = Daemon::start_with(&["--ipv6", "--fixed-cidr-v6", &sub]);
    import_busybox(&d);
    let prefix = sub.trim_end_matches("/64");
    ok(
        &d,
        &["run", "-d", "--name", "bb", "busybox", "sleep", "1000"],
    );
    let (.., k) = network(&d, "k6", 0, true);
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "uu",
            "--network",
            "k6",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let top = "{{.NetworkSettings.GlobalIPv6Address}}|{{.NetworkSettings.GlobalIPv6PrefixLen}}|{{.NetworkSettings.IPv6Gateway}}";
    let on_bridge = "{{.NetworkSettings.Networks.bridge.GlobalIPv6Address}}";
    let b = ok(&d, &["inspect", "-f", top, "bb"]);
    let addr = ok(&d, &["inspect", "-f", on_bridge, "bb"]);
    assert!(addr.starts_with(prefix), "{addr}");
    assert_eq!(b, format!("{addr}|64|{prefix}1"));
    // Only the default bridge fills them, as dockerd.
    assert_eq!(ok(&d, &["inspect", "-f", top, "uu"]), "|0|");
    assert!(k.is_some());
    // Connected to the default bridge too: its endpoint there fills them.
    ok(&d, &["network", "connect", "bridge", "uu"]);
    let u = ok(&d, &["inspect", "-f", top, "uu"]);
    let addr = ok(&d, &["inspect", "-f", on_bridge, "uu"]);
    assert_eq!(u, format!("{addr}|64|{prefix}1"));
    ok(&d, &["rm", "-f", "bb", "uu"]);
    ok(&d, &["network", "rm", "k6"]);
}

/// A daemon whose containers' resolver files name a local upstream that
/// answers every name NXDOMAIN (at 127.219.x.53), so no lookup leaves the
/// host.
fn dns_daemon() -> (Daemon, tempfile::TempDir) {
    let (d, dir) = nxdomain_daemon(219);
    import_busybox(&d);
    (d, dir)
}

#[test]
fn network_connect_link_is_an_alias_for_the_connected_container_only() {
    let (d, _dir) = dns_daemon();
    network(&d, "ln", 0, false);
    for (name, net) in [("db", "ln"), ("other", "ln"), ("app", "bridge")] {
        ok(
            &d,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                net,
                "busybox",
                "sleep",
                "1000",
            ],
        );
    }
    let db_ip = ok(
        &d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.ln.IPAddress}}",
            "db",
        ],
    );
    ok(
        &d,
        &["network", "connect", "--link", "db:store", "ln", "app"],
    );
    assert_eq!(lookup(&d, "app", "store"), std::slice::from_ref(&db_ip));
    assert_eq!(lookup(&d, "other", "store"), Vec::<String>::new());
    assert_eq!(
        ok(
            &d,
            &[
                "inspect",
                "-f",
                "{{json .NetworkSettings.Networks.ln.Links}}",
                "app"
            ]
        ),
        "[\"db:store\"]"
    );
    // Through berth, on another container.
    ok(
        &d,
        &["run", "-d", "--name", "app2", "busybox", "sleep", "1000"],
    );
    clients::ok(
        &d,
        BERTH,
        &["network", "connect", "--link", "db:cache", "ln", "app2"],
    );
    assert_eq!(lookup(&d, "app2", "cache"), [db_ip]);
    assert_eq!(lookup(&d, "app", "cache"), Vec::<String>::new());
    // A malformed link: refused, not connected.
    let (_, err) = fails(
        &d,
        BERTH,
        &["network", "connect", "--link", "a:b:c", "ln", "other"],
    );
    assert!(err.contains("bad format for links: a:b:c"), "{err}");
    ok(&d, &["rm", "-f", "db", "other", "app", "app2"]);
    ok(&d, &["network", "rm", "ln"]);
}
