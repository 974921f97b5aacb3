//! `{{json X}}` in `--format` templates prints keys as docker 28 does: a
//! struct's fields in their declared order (the order of the API's JSON),
//! a map's keys sorted (Go's encoding/json sorts them). Compared with the
//! docker 28 CLI's output for the same objects of one berthd.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::Daemon;
use common::clients::{BERTH, DOCKER, ok};
use common::net::create_network;

#[test]
fn json_in_templates_keeps_struct_order_and_sorts_maps_as_docker() {
    let d = Daemon::start();
    common::import_busybox(&d);
    let extra = [
        "--ip-range",
        &d.net.user_subnet_27(0),
        "--gateway",
        &d.net.user_gateway_27(0),
        "--label",
        "z=1",
        "--label",
        "a=2",
    ];
    create_network(&d, DOCKER, "tj", 0, &extra);
    // Options and labels are maps: docker sorts their keys.
    let vol = "volume create -d local -o type=tmpfs -o device=tmpfs -o o=size=1m --label z=1 --label a=2 tjv";
    let vol: Vec<&str> = vol.split(' ').collect();
    ok(&d, DOCKER, &vol);
    let run = [
        "create",
        "--name",
        "tjc",
        "--network",
        "none",
        "--restart",
        "on-failure:3",
        "--label",
        "z=1",
        "--label",
        "a=2",
        "busybox",
        "true",
    ];
    ok(&d, DOCKER, &run);
    let cases: [&[&str]; 9] = [
        &[
            "network",
            "inspect",
            "-f",
            "{{json .IPAM.Config}}",
            "bridge",
        ],
        &["network", "inspect", "-f", "{{json .IPAM.Config}}", "tj"],
        &["network", "inspect", "-f", "{{json .IPAM}}", "tj"],
        &["network", "inspect", "-f", "{{json .Labels}}", "tj"],
        &["volume", "inspect", "-f", "{{json .Options}}", "tjv"],
        &["volume", "inspect", "-f", "{{json .Labels}}", "tjv"],
        &["inspect", "-f", "{{json .HostConfig.RestartPolicy}}", "tjc"],
        &["inspect", "-f", "{{json .Config.Labels}}", "tjc"],
        &["inspect", "-f", "{{json .HostConfig.LogConfig}}", "tjc"],
    ];
    let mut differ = Vec::new();
    for args in cases {
        let (want, got) = (ok(&d, DOCKER, args), ok(&d, BERTH, args));
        if want != got {
            differ.push(format!("{args:?}:\n  docker: {want}  berth:  {got}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The struct's order, not the alphabet's (Gateway would come first).
    assert_eq!(
        ok(&d, BERTH, cases[1]).trim(),
        format!(
            r#"[{{"Subnet":"{}","IPRange":"{}","Gateway":"{}"}}]"#,
            d.net.user_subnet_27(0),
            d.net.user_subnet_27(0),
            d.net.user_gateway_27(0)
        )
    );
    ok(&d, DOCKER, &["rm", "tjc"]);
    ok(&d, DOCKER, &["volume", "rm", "tjv"]);
    ok(&d, DOCKER, &["network", "rm", "tj"]);
}
