//! `network create/ls/inspect/rm/prune/connect/disconnect`, and the
//! network flags of `run`/`create` (`--network`, `--ip`, `--ip6`,
//! `--network-alias`), as the docker CLI sends them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::anyhow;
use berth_api_client::Client;
use berth_api_types::network::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, Network, NetworkCreateRequest,
};
use berth_api_types::prune::NetworksPruneReport;
use serde_json::{Value, json};

use super::containers::filters_json;
use super::images::{inspect_each, list_format, remove_each, render_rows};
use crate::flags::common::PruneFlags;
use crate::flags::network::{
    NetworkConnectFlags, NetworkCreateFlags, NetworkFlags, NetworkInspectFlags, NetworkLsFlags,
    NetworkRmFlags, RunNetworkFlags,
};
use crate::printer::Printer;

fn api(e: berth_api_client::Error) -> anyhow::Error {
    anyhow!("{e}")
}

pub(crate) async fn run(
    client: &Client,
    command: &NetworkFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    match command {
        NetworkFlags::Create(f) => create(client, f, printer).await,
        NetworkFlags::Ls(f) => list(client, f, printer).await,
        NetworkFlags::Inspect(f) => inspect(client, f, printer).await,
        NetworkFlags::Rm(f) => remove(client, f, printer).await,
        NetworkFlags::Prune(f) => prune(client, f, printer).await,
        NetworkFlags::Connect(f) => connect(client, f).await,
        NetworkFlags::Disconnect(f) => client
            .network_disconnect(&f.network, &f.container, f.force)
            .await
            .map_err(api),
    }
}

/// `key=value` list flags (`-o`, `--label`, `--ipam-opt`) as a map; a bare
/// key has an empty value, as docker's `ConvertKVStringsToMap`.
fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (i.clone(), String::new()),
        })
        .collect()
}

/// A CIDR or an address, as (address, prefix length).
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()?),
        None => (text, if text.contains(':') { 128 } else { 32 }),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// docker's `subnetMatches`: whether `addr` (an address or a CIDR) lies in
/// `subnet`.
fn subnet_matches(subnet: &str, addr: &str) -> anyhow::Result<bool> {
    let (net, prefix) = parse_cidr(subnet)
        .filter(|_| subnet.contains('/'))
        .ok_or_else(|| anyhow!("invalid subnet {subnet}: invalid CIDR address: {subnet}"))?;
    let (ip, _) = parse_cidr(addr).ok_or_else(|| anyhow!("invalid CIDR address: {addr}"))?;
    if net.is_ipv4() != ip.is_ipv4() {
        return Ok(false);
    }
    // IPv4 addresses sit in the top 32 bits (see `bits`).
    let len = u32::from(prefix);
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    Ok(bits(net) & mask == bits(ip) & mask)
}

/// docker's `createIPAMConfig`: each `--ip-range` and `--gateway` goes with
/// the `--subnet` that holds it.
fn ipam_configs(f: &NetworkCreateFlags) -> anyhow::Result<Vec<IpamConfig>> {
    if f.subnet.len() < f.ip_range.len() || f.subnet.len() < f.gateway.len() {
        return Err(anyhow!(
            "every ip-range or gateway must have a corresponding subnet"
        ));
    }
    let mut configs: Vec<IpamConfig> = Vec::new();
    for s in &f.subnet {
        for c in &configs {
            if subnet_matches(s, &c.subnet)? || subnet_matches(&c.subnet, s)? {
                return Err(anyhow!(
                    "multiple overlapping subnet configuration is not supported"
                ));
            }
        }
        configs.push(IpamConfig {
            subnet: s.clone(),
            ..IpamConfig::default()
        });
    }
    for r in &f.ip_range {
        let mut matched = false;
        for c in &mut configs {
            if !subnet_matches(&c.subnet, r)? {
                continue;
            }
            if !c.ip_range.is_empty() {
                return Err(anyhow!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                    c.ip_range,
                    c.subnet
                ));
            }
            c.ip_range.clone_from(r);
            matched = true;
        }
        if !matched {
            return Err(anyhow!("no matching subnet for range {r}"));
        }
    }
    for g in &f.gateway {
        let mut matched = false;
        for c in &mut configs {
            if !subnet_matches(&c.subnet, g)? {
                continue;
            }
            if !c.gateway.is_empty() {
                return Err(anyhow!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                    c.gateway,
                    c.subnet
                ));
            }
            c.gateway.clone_from(g);
            matched = true;
        }
        if !matched {
            return Err(anyhow!("no matching subnet for gateway {g}"));
        }
    }
    for aux in &f.aux_address {
        let Some((key, ip)) = aux.split_once('=') else {
            return Err(anyhow!(
                "invalid --aux-address {aux:?}: give it as NAME=IP, as in `--aux-address my-router=192.168.1.5`"
            ));
        };
        let mut matched = false;
        for c in &mut configs {
            if !subnet_matches(&c.subnet, ip)? {
                continue;
            }
            c.auxiliary_addresses
                .get_or_insert_with(Default::default)
                .insert(key.to_owned(), ip.to_owned());
            matched = true;
        }
        if !matched {
            return Err(anyhow!("no matching subnet for aux-address {ip}"));
        }
    }
    Ok(configs)
}

async fn create(
    client: &Client,
    f: &NetworkCreateFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let configs = ipam_configs(f)?;
    let ipam_opts = kv_map(&f.ipam_opt);
    let req = NetworkCreateRequest {
        name: f.name.clone(),
        check_duplicate: None,
        driver: f.driver.clone(),
        scope: f.scope.clone().unwrap_or_default(),
        internal: f.internal,
        attachable: f.attachable,
        ingress: f.ingress,
        config_only: f.config_only,
        config_from: f
            .config_from
            .as_ref()
            .map(|n| berth_api_types::network::ConfigReference { network: n.clone() }),
        ipam: Some(Ipam {
            driver: f.ipam_driver.clone(),
            options: Some(ipam_opts),
            config: Some(configs),
        }),
        enable_ipv4: f.ipv4,
        enable_ipv6: f.ipv6,
        options: Some(kv_map(&f.opt)),
        labels: Some(kv_map(&f.label)),
    };
    let r = client.network_create(&req).await.map_err(api)?;
    printer.data(&format!("{}\n", r.id))?;
    Ok(())
}

/// docker's `network ls` row fields.
fn row(n: &Network, no_trunc: bool) -> Value {
    let id = if no_trunc {
        n.id.clone()
    } else {
        n.id.chars().take(12).collect()
    };
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "ID": id,
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        "IPv4": n.enable_ipv4.to_string(),
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": go_time(&n.created),
    })
}

/// Go's `time.Time.String()` of an RFC 3339 time (in UTC).
fn go_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            let nanos = t.timestamp_subsec_nanos();
            let frac = if nanos == 0 {
                String::new()
            } else {
                format!(".{nanos:09}").trim_end_matches('0').to_owned()
            };
            format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
        }
        Err(_) => rfc3339.to_owned(),
    }
}

fn headers() -> Value {
    json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
        "CreatedAt": "CREATED",
    })
}

async fn list(client: &Client, f: &NetworkLsFlags, printer: &mut Printer) -> anyhow::Result<()> {
    let mut networks = client
        .network_list(&filters_json(&f.filter)?)
        .await
        .map_err(api)?;
    networks.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    if f.quiet {
        let mut out = String::new();
        for n in &networks {
            out.push_str(row(n, f.no_trunc)["ID"].as_str().unwrap_or_default());
            out.push('\n');
        }
        printer.data(&out)?;
        return Ok(());
    }
    let format = list_format(
        f.format.as_deref(),
        "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    );
    let rows: Vec<Value> = networks.iter().map(|n| row(n, f.no_trunc)).collect();
    printer.data(&render_rows(&format, &rows, &headers())?)?;
    Ok(())
}

/// `sortorder.NaturalLess`: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                let strip = |s: &[u8]| -> Vec<u8> {
                    let s: Vec<u8> = s.iter().copied().skip_while(|c| *c == b'0').collect();
                    s
                };
                let (sa, sb) = (strip(na), strip(nb));
                let ord = sa.len().cmp(&sb.len()).then_with(|| sa.cmp(&sb));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

async fn inspect(
    client: &Client,
    f: &NetworkInspectFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    inspect_each(
        &f.networks,
        |name| client.network_inspect(name),
        f.format.as_deref(),
        printer,
    )
    .await
}

async fn remove(client: &Client, f: &NetworkRmFlags, printer: &mut Printer) -> anyhow::Result<()> {
    remove_each(
        &f.networks,
        f.force,
        |name| client.network_remove(name),
        printer,
    )
    .await
}

async fn prune(client: &Client, f: &PruneFlags, printer: &mut Printer) -> anyhow::Result<()> {
    if !f.force
        && !super::system::confirm(
            printer,
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?",
        )?
    {
        return Ok(());
    }
    let r: NetworksPruneReport = client
        .prune("networks", &filters_json(&f.filter)?)
        .await
        .map_err(api)?;
    let deleted = r.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        let mut out = "Deleted Networks:\n".to_owned();
        for n in deleted {
            out.push_str(&n);
            out.push('\n');
        }
        out.push('\n');
        printer.data(&out)?;
    }
    Ok(())
}

/// `--ip`/`--ip6` checked as the docker CLI does.
fn address(value: Option<&str>, flag: &str, v6: bool) -> anyhow::Result<String> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(String::new());
    };
    match v.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv6() == v6 => Ok(ip.to_string()),
        _ => Err(anyhow!(
            "invalid argument \"{v}\" for \"--{flag}\" flag: invalid IPv{} address: {v}",
            if v6 { 6 } else { 4 }
        )),
    }
}

async fn connect(client: &Client, f: &NetworkConnectFlags) -> anyhow::Result<()> {
    for l in &f.link {
        check_link(l).map_err(|e| anyhow!(e))?;
    }
    let ipv4 = address(f.ip.as_deref(), "ip", false)?;
    let ipv6 = address(f.ip6.as_deref(), "ip6", true)?;
    let ipam_config =
        (!ipv4.is_empty() || !ipv6.is_empty() || !f.link_local_ip.is_empty()).then(|| {
            EndpointIpamConfig {
                ipv4_address: ipv4,
                ipv6_address: ipv6,
                link_local_ips: (!f.link_local_ip.is_empty()).then(|| f.link_local_ip.clone()),
            }
        });
    let ep = EndpointSettings {
        ipam_config,
        links: (!f.link.is_empty()).then(|| f.link.clone()),
        aliases: (!f.alias.is_empty()).then(|| f.alias.clone()),
        driver_opts: (!f.driver_opt.is_empty()).then(|| kv_map(&f.driver_opt)),
        gw_priority: f.gw_priority.unwrap_or(0),
        ..EndpointSettings::default()
    };
    client
        .network_connect(&f.network, &f.container, Some(ep))
        .await
        .map_err(api)
}

/// docker's `opts.ValidateLink` for `--link NAME[:ALIAS]`.
fn check_link(value: &str) -> Result<(), String> {
    let why = if value.is_empty() {
        "empty string specified for links".to_owned()
    } else if value.splitn(3, ':').count() > 2 {
        format!("bad format for links: {value}")
    } else {
        return Ok(());
    };
    Err(format!(
        "invalid argument \"{value}\" for \"--link\" flag: {why}"
    ))
}

/// The docker CLI's check of `--mac-address` and `mac-address=` (Go's
/// `net.ParseMAC`); the daemon refuses what no interface can have.
fn check_mac(value: &str) -> Result<(), String> {
    use berth_api_types::mac::{self, MacError};
    match mac::parse(value) {
        Err(MacError::Syntax) if !value.is_empty() => {
            Err(format!("{value} is not a valid mac address"))
        }
        _ => Ok(()),
    }
}

/// A network mode docker calls user-defined: none of `default`,
/// `bridge`, `host`, `none` and `container:X`.
fn user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// The network flags of `run`/`create` into the create body:
/// `HostConfig.NetworkMode` (`default` without `--network`, as the docker
/// CLI), `HostConfig.Links` and `NetworkingConfig.EndpointsConfig` (the
/// first network gets `--ip`, `--ip6`, `--network-alias` and, on a
/// user-defined network, `--link`).
pub(crate) fn apply(f: &RunNetworkFlags, config: &mut Value) -> Result<(), String> {
    let mut opts = Vec::new();
    for value in &f.network {
        opts.push(network_opt(value)?);
    }
    let first = opts
        .first()
        .map_or_else(|| "default".to_owned(), |o| o.target.clone());
    let ipv4 = address(f.ip.as_deref(), "ip", false).map_err(|e| e.to_string())?;
    let ipv6 = address(f.ip6.as_deref(), "ip6", true).map_err(|e| e.to_string())?;
    for l in &f.link {
        check_link(l)?;
    }
    let mac = f.mac_address.clone().unwrap_or_default();
    check_mac(&mac)?;
    let endpoint_links = user_defined(&first) && !f.link.is_empty();
    if let Some(o) = opts.first_mut() {
        // The legacy flags go to the first network, as the docker CLI.
        if !ipv4.is_empty() {
            if !o.ipv4.is_empty() {
                return Err(
                    "conflicting options: cannot specify both --ip and per-network IPv4 address"
                        .into(),
                );
            }
            o.ipv4.clone_from(&ipv4);
        }
        if !ipv6.is_empty() {
            if !o.ipv6.is_empty() {
                return Err(
                    "conflicting options: cannot specify both --ip6 and per-network IPv6 address"
                        .into(),
                );
            }
            o.ipv6.clone_from(&ipv6);
        }
        if !f.network_alias.is_empty() {
            if !o.aliases.is_empty() {
                return Err(
                    "conflicting options: cannot specify both --network-alias and per-network alias"
                        .into(),
                );
            }
            o.aliases.clone_from(&f.network_alias);
        }
        if !mac.is_empty() {
            if !o.mac_address.is_empty() {
                return Err(
                    "conflicting options: cannot specify both --mac-address and per-network MAC address"
                        .into(),
                );
            }
            o.mac_address.clone_from(&mac);
        }
    }
    let mut endpoints = serde_json::Map::new();
    let legacy = !ipv4.is_empty() || !ipv6.is_empty() || !f.network_alias.is_empty();
    if opts.is_empty() && (legacy || !mac.is_empty()) {
        let mut o = NetworkOpt {
            target: first.clone(),
            ..NetworkOpt::default()
        };
        o.ipv4.clone_from(&ipv4);
        o.ipv6.clone_from(&ipv6);
        o.aliases.clone_from(&f.network_alias);
        o.mac_address.clone_from(&mac);
        opts.push(o);
    }
    for (i, o) in opts.iter().enumerate() {
        if endpoints.contains_key(&o.target) {
            return Err(format!(
                "network \"{}\" is specified multiple times",
                o.target
            ));
        }
        let mut ep = o.endpoint();
        if i == 0
            && endpoint_links
            && let Some(ep) = ep.as_object_mut()
        {
            ep.insert("Links".into(), json!(f.link));
        }
        endpoints.insert(o.target.clone(), ep);
    }
    if let Some(hc) = config["HostConfig"].as_object_mut() {
        hc.insert("NetworkMode".into(), json!(first));
        if !f.link.is_empty() {
            hc.insert("Links".into(), json!(f.link));
        }
    }
    if let Some(c) = config.as_object_mut() {
        c.insert(
            "NetworkingConfig".into(),
            json!({ "EndpointsConfig": endpoints }),
        );
    }
    Ok(())
}

/// One `--network` value: a network's name or ID, or docker's long form
/// `name=NET,alias=A,ip=IP,ip6=IP,mac-address=MAC,link-local-ip=IP,
/// driver-opt=K=V,gw-priority=N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NetworkOpt {
    target: String,
    aliases: Vec<String>,
    ipv4: String,
    ipv6: String,
    mac_address: String,
    link_local_ips: Vec<String>,
    driver_opts: serde_json::Map<String, Value>,
    gw_priority: i64,
}

impl NetworkOpt {
    /// Its `EndpointSettings`.
    fn endpoint(&self) -> Value {
        let mut ep = serde_json::Map::new();
        if !self.ipv4.is_empty() || !self.ipv6.is_empty() || !self.link_local_ips.is_empty() {
            let mut ipam = json!({"IPv4Address": self.ipv4, "IPv6Address": self.ipv6});
            if !self.link_local_ips.is_empty() {
                ipam["LinkLocalIPs"] = json!(self.link_local_ips);
            }
            ep.insert("IPAMConfig".into(), ipam);
        }
        if !self.aliases.is_empty() {
            ep.insert("Aliases".into(), json!(self.aliases));
        }
        if !self.mac_address.is_empty() {
            ep.insert("MacAddress".into(), json!(self.mac_address));
        }
        if !self.driver_opts.is_empty() {
            ep.insert("DriverOpts".into(), Value::Object(self.driver_opts.clone()));
        }
        if self.gw_priority != 0 {
            ep.insert("GwPriority".into(), json!(self.gw_priority));
        }
        Value::Object(ep)
    }
}

/// Parses a `--network` value as the docker CLI (`opts.NetworkOpt`).
fn network_opt(value: &str) -> Result<NetworkOpt, String> {
    let bad = |why: String| format!("invalid argument \"{value}\" for \"--network\" flag: {why}");
    if !value.contains('=') {
        return Ok(NetworkOpt {
            target: value.to_owned(),
            ..NetworkOpt::default()
        });
    }
    let mut o = NetworkOpt::default();
    for field in value.split(',') {
        let Some((key, val)) = field.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(bad(format!("invalid field {field}")));
        };
        let (key, val) = (key.trim().to_ascii_lowercase(), val.trim());
        match key.as_str() {
            "name" => val.clone_into(&mut o.target),
            "alias" => o.aliases.push(val.to_owned()),
            "ip" | "ip6" => {
                let v6 = key == "ip6";
                let ip = match val.parse::<IpAddr>() {
                    Ok(ip) if ip.is_ipv6() == v6 => ip.to_string(),
                    _ => {
                        let family = if v6 { 6 } else { 4 };
                        return Err(bad(format!("invalid IPv{family} address: {val}")));
                    }
                };
                if v6 { o.ipv6 = ip } else { o.ipv4 = ip }
            }
            "mac-address" => {
                check_mac(val)?;
                val.clone_into(&mut o.mac_address);
            }
            "link-local-ip" => o.link_local_ips.push(val.to_owned()),
            "driver-opt" => {
                let Some((k, v)) = val.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err(bad("invalid key value pair format in driver options".into()));
                };
                o.driver_opts
                    .insert(k.trim().to_owned(), json!(v.trim().to_owned()));
            }
            "gw-priority" => {
                o.gw_priority = val.parse().map_err(|_| {
                    bad(format!(
                        "invalid gw-priority: `{val}` is not a whole number (e.g. gw-priority=10, or -10)"
                    ))
                })?;
            }
            _ => return Err(bad(format!("invalid field key {key}"))),
        }
    }
    if o.target.is_empty() {
        return Err(bad("network name/id is not specified".into()));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(subnets: &[&str], ranges: &[&str], gateways: &[&str]) -> NetworkCreateFlags {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        NetworkCreateFlags {
            attachable: false,
            aux_address: Vec::new(),
            config_from: None,
            config_only: false,
            driver: "bridge".into(),
            gateway: v(gateways),
            ingress: false,
            internal: false,
            ip_range: v(ranges),
            ipam_driver: "default".into(),
            ipam_opt: Vec::new(),
            ipv4: None,
            ipv6: None,
            label: Vec::new(),
            opt: Vec::new(),
            scope: None,
            subnet: v(subnets),
            name: "n".into(),
        }
    }

    #[test]
    fn ipam_pairs_ranges_and_gateways_with_subnets() {
        let c = ipam_configs(&flags(
            &["10.1.0.0/16", "fd00:1::/64"],
            &["10.1.2.0/24"],
            &["fd00:1::1", "10.1.0.254"],
        ))
        .unwrap();
        assert_eq!(c[0].ip_range, "10.1.2.0/24");
        assert_eq!(c[0].gateway, "10.1.0.254");
        assert_eq!(c[1].gateway, "fd00:1::1");
        let e = ipam_configs(&flags(&["10.1.0.0/16"], &[], &["10.2.0.1"])).unwrap_err();
        assert_eq!(e.to_string(), "no matching subnet for gateway 10.2.0.1");
        let e = ipam_configs(&flags(&[], &[], &["10.2.0.1"])).unwrap_err();
        assert!(e.to_string().contains("corresponding subnet"));
        let e = ipam_configs(&flags(&["10.1.0.0/16", "10.1.2.0/24"], &[], &[])).unwrap_err();
        assert!(e.to_string().contains("overlapping"));
        assert!(ipam_configs(&flags(&["nonsense"], &["10.0.0.0/8"], &[])).is_err());
    }

    #[test]
    fn names_sort_naturally_and_times_print_as_go() {
        let mut v = vec!["n10", "n2", "bridge", "n1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["bridge", "n1", "n2", "n10"]);
        assert_eq!(
            go_time("2026-12-06T14:42:00.710890414Z"),
            "2026-12-06 14:42:00.710890414 +0000 UTC"
        );
        assert_eq!(
            go_time("2026-12-06T14:42:00.5Z"),
            "2026-12-06 14:42:00.5 +0000 UTC"
        );
    }

    #[test]
    fn run_flags_become_the_create_body() {
        let mut config = json!({"HostConfig": {}});
        let f = RunNetworkFlags {
            network: vec!["n1".into(), "n2".into()],
            network_alias: vec!["web".into()],
            ip: Some("10.1.2.3".into()),
            ip6: None,
            link: vec!["db:data".into()],
            mac_address: None,
        };
        apply(&f, &mut config).unwrap();
        assert_eq!(config["HostConfig"]["Links"][0], "db:data");
        assert_eq!(
            config["NetworkingConfig"]["EndpointsConfig"]["n1"]["Links"][0],
            "db:data"
        );
        assert_eq!(config["HostConfig"]["NetworkMode"], "n1");
        let eps = &config["NetworkingConfig"]["EndpointsConfig"];
        assert_eq!(eps["n1"]["IPAMConfig"]["IPv4Address"], "10.1.2.3");
        assert_eq!(eps["n1"]["Aliases"][0], "web");
        assert_eq!(eps["n2"], json!({}));
        let mut config = json!({"HostConfig": {}});
        apply(&RunNetworkFlags::default(), &mut config).unwrap();
        assert_eq!(config["HostConfig"]["NetworkMode"], "default");
        let bad = RunNetworkFlags {
            ip: Some("10.1.2".into()),
            ..RunNetworkFlags::default()
        };
        assert!(apply(&bad, &mut json!({"HostConfig": {}})).is_err());
        // On the default bridge `--link` is a legacy link only.
        let mut config = json!({"HostConfig": {}});
        let linked = RunNetworkFlags {
            link: vec!["db".into()],
            ..RunNetworkFlags::default()
        };
        apply(&linked, &mut config).unwrap();
        assert_eq!(config["HostConfig"]["Links"], json!(["db"]));
        assert_eq!(config["NetworkingConfig"]["EndpointsConfig"], json!({}));
        let bad = RunNetworkFlags {
            link: vec!["a:b:c".into()],
            ..RunNetworkFlags::default()
        };
        assert_eq!(
            apply(&bad, &mut json!({"HostConfig": {}})).unwrap_err(),
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"
        );
    }

    #[test]
    fn long_network_values_become_endpoint_settings() {
        let f = RunNetworkFlags {
            network: vec![
                "name=n1,gw-priority=10,alias=a,ip=10.1.2.3".into(),
                "name=n2,gw-priority=-5,driver-opt=k=v".into(),
            ],
            ..RunNetworkFlags::default()
        };
        let mut config = json!({"HostConfig": {}});
        apply(&f, &mut config).unwrap();
        assert_eq!(config["HostConfig"]["NetworkMode"], "n1");
        let eps = &config["NetworkingConfig"]["EndpointsConfig"];
        assert_eq!(eps["n1"]["GwPriority"], 10);
        assert_eq!(eps["n1"]["Aliases"], json!(["a"]));
        assert_eq!(eps["n1"]["IPAMConfig"]["IPv4Address"], "10.1.2.3");
        assert_eq!(eps["n2"]["GwPriority"], -5);
        assert_eq!(eps["n2"]["DriverOpts"]["k"], "v");
        let err = |v: &str| network_opt(v).unwrap_err();
        assert_eq!(
            err("name=n1,color=red"),
            "invalid argument \"name=n1,color=red\" for \"--network\" flag: invalid field key color"
        );
        assert!(err("alias=a").ends_with("network name/id is not specified"));
        assert!(err("name=n,gw-priority=high").contains("invalid gw-priority"));
        let both = RunNetworkFlags {
            network: vec!["name=n1,ip=10.1.2.3".into()],
            ip: Some("10.1.2.4".into()),
            ..RunNetworkFlags::default()
        };
        assert!(
            apply(&both, &mut json!({"HostConfig": {}}))
                .unwrap_err()
                .starts_with("conflicting options")
        );
    }

    #[test]
    fn mac_addresses_go_to_the_first_network() {
        let mut config = json!({"HostConfig": {}});
        let f = RunNetworkFlags {
            mac_address: Some("02:11:22:33:44:55".into()),
            ..RunNetworkFlags::default()
        };
        apply(&f, &mut config).unwrap();
        let eps = &config["NetworkingConfig"]["EndpointsConfig"];
        assert_eq!(eps["default"]["MacAddress"], "02:11:22:33:44:55");
        let f = RunNetworkFlags {
            network: vec!["name=n1,mac-address=02:11:22:33:44:66".into(), "n2".into()],
            ..RunNetworkFlags::default()
        };
        let mut config = json!({"HostConfig": {}});
        apply(&f, &mut config).unwrap();
        let eps = &config["NetworkingConfig"]["EndpointsConfig"];
        assert_eq!(eps["n1"]["MacAddress"], "02:11:22:33:44:66");
        assert_eq!(eps["n2"], json!({}));
        let both = RunNetworkFlags {
            network: vec!["name=n1,mac-address=02:11:22:33:44:66".into()],
            mac_address: Some("02:11:22:33:44:55".into()),
            ..RunNetworkFlags::default()
        };
        assert_eq!(
            apply(&both, &mut json!({"HostConfig": {}})).unwrap_err(),
            "conflicting options: cannot specify both --mac-address and per-network MAC address"
        );
        let bad = RunNetworkFlags {
            mac_address: Some("zz".into()),
            ..RunNetworkFlags::default()
        };
        assert_eq!(
            apply(&bad, &mut json!({"HostConfig": {}})).unwrap_err(),
            "zz is not a valid mac address"
        );
        assert_eq!(
            network_opt("name=n1,mac-address=02:11").unwrap_err(),
            "02:11 is not a valid mac address"
        );
    }
}
