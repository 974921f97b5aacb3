//! Ports: `-p`/`-P`/`--expose` into the create body (docker's
//! `ParsePortSpecs`, with its messages), the `port` command, and the PORTS
//! column of `ps` (docker's `DisplayablePorts`).

use std::collections::BTreeMap;

use anyhow::anyhow;
use berth_api_client::Client;
use serde_json::{Value, json};

use crate::flags::ports::{PortCommandArgs, PortCommandFlags, PortFlags};
use crate::printer::Printer;

/// A decimal port 0-65535 as Go's `strconv.ParseUint(s, 10, 16)` reads it.
fn port_number(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `80` or `80-90`.
fn port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        None => port_number(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (port_number(a)?, port_number(b)?);
            (a <= b).then_some((a, b))
        }
    }
}

/// One `-p` value as its `(key, HostIp, HostPort)` bindings, or docker's
/// error.
fn parse_publish(raw: &str) -> Result<Vec<(String, String, String)>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (ip, host_port, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (container_port, proto) = match container.split_once('/') {
        Some((p, proto)) => (p, if proto.is_empty() { "tcp" } else { proto }),
        None => (container, "tcp"),
    };
    let mut ip = ip;
    if let Some(inner) = ip.strip_prefix('[') {
        match inner.strip_suffix(']') {
            Some(v6) if !v6.contains(']') => ip = v6.to_owned(),
            _ => {
                return Err(format!(
                    "invalid IP address {ip}: address {ip}:: missing ']' in address"
                ));
            }
        }
    }
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container_port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) = port_range(container_port)
        .ok_or_else(|| format!("invalid containerPort: {container_port}"))?;
    let host = if host_port.is_empty() {
        None
    } else {
        Some(port_range(host_port).ok_or_else(|| format!("invalid hostPort: {host_port}"))?)
    };
    if let Some((hs, he)) = host
        && he - hs != end - start
        && end != start
    {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
        ));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let host_port = match host {
            None => String::new(),
            // One container port and a host range: the range to pick from.
            Some((hs, he)) if start == end && hs != he => format!("{hs}-{he}"),
            Some((hs, _)) => (hs + i).to_string(),
        };
        out.push((format!("{}/{proto}", start + i), ip.clone(), host_port));
    }
    Ok(out)
}

/// docker's long form `target=80,published=8080,protocol=udp` as the short
/// one.
fn standard_notation(publish: &str) -> Result<String, String> {
    if !publish.contains('=') {
        return Ok(publish.to_owned());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in publish.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                ));
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or("");
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// `--expose 80`, `--expose 80-82/udp` as keys.
fn parse_expose(e: &str) -> Result<Vec<String>, String> {
    if e.contains(':') {
        return Err(format!("invalid port format for --expose: {e}"));
    }
    let (port, proto) = match e.split_once('/') {
        Some((p, proto)) => (p, if proto.is_empty() { "tcp" } else { proto }),
        None => (e, "tcp"),
    };
    let (start, end) = match port.split_once('-') {
        None => {
            let p = port_number(port).ok_or_else(|| {
                format!(
                    "invalid range format for --expose: {e}, error: strconv.ParseUint: parsing \"{port}\": invalid syntax"
                )
            })?;
            (p, p)
        }
        Some(_) => port_range(port).ok_or_else(|| {
            format!("invalid range format for --expose: {e}, error: invalid range specified for port: {port}")
        })?,
    };
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Adds `ExposedPorts`, `HostConfig.PortBindings` and
/// `HostConfig.PublishAllPorts` to a create body, as the docker CLI does.
pub(crate) fn apply(f: &PortFlags, config: &mut Value) -> Result<(), String> {
    let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &f.publish {
        for (key, ip, port) in parse_publish(&standard_notation(p)?)? {
            exposed.insert(key.clone(), json!({}));
            bindings
                .entry(key)
                .or_default()
                .push(json!({"HostIp": ip, "HostPort": port}));
        }
    }
    for e in &f.expose {
        for key in parse_expose(e)? {
            exposed.entry(key).or_insert_with(|| json!({}));
        }
    }
    if !exposed.is_empty() {
        config["ExposedPorts"] = json!(exposed);
    }
    if let Some(hc) = config["HostConfig"].as_object_mut() {
        hc.insert("PortBindings".into(), json!(bindings));
        hc.insert("PublishAllPorts".into(), json!(f.publish_all));
    }
    Ok(())
}

/// Go's `net.JoinHostPort`.
fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub(crate) async fn run(
    client: &Client,
    f: &PortCommandFlags,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let PortCommandFlags::Port(args) = f;
    let c = client
        .container_inspect(&args.container, false)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let lines = port_lines(args, &c["NetworkSettings"]["Ports"])?;
    if !lines.is_empty() {
        printer.data(&format!("{}\n", lines.join("\n")))?;
    }
    Ok(())
}

/// The lines `port` prints, naturally sorted as docker does.
fn port_lines(args: &PortCommandArgs, ports: &Value) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let frontends = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|l| {
                l.iter()
                    .map(|b| {
                        join_host_port(
                            b["HostIp"].as_str().unwrap_or(""),
                            b["HostPort"].as_str().unwrap_or(""),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(wanted) = &args.port {
        let (port, proto) = wanted.split_once('/').unwrap_or((wanted, ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if port_number(port).is_none() {
            return Err(anyhow!(
                "Error: invalid port ({port}): strconv.ParseUint: parsing \"{port}\": invalid syntax"
            ));
        }
        let found = frontends(&ports[format!("{port}/{proto}")]);
        if found.is_empty() {
            return Err(anyhow!(
                "Error: No public port '{wanted}' published for {}",
                args.container
            ));
        }
        out = found;
    } else if let Some(map) = ports.as_object() {
        for (from, list) in map {
            for f in frontends(list) {
                out.push(format!("{from} -> {f}"));
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

/// `sortorder.NaturalLess`: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (tx, ty) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                tx.len()
                    .cmp(&ty.len())
                    .then(tx.cmp(ty))
                    .then(y.len().cmp(&x.len()))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

/// The PORTS column: docker 28's `DisplayablePorts`. Ports published on
/// the same host port as the container's, and exposed ones, are grouped in
/// runs (`0.0.0.0:9000-9002->9000-9002/tcp`, `90-91/udp`); others are
/// listed one by one after them.
pub(crate) fn displayable(list: &Value) -> String {
    struct P {
        ip: String,
        private: u16,
        public: u16,
        kind: String,
    }
    let mut ports: Vec<P> = list
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|p| P {
                    ip: p["IP"].as_str().unwrap_or("").to_owned(),
                    private: p["PrivatePort"]
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .unwrap_or(0),
                    public: p["PublicPort"]
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .unwrap_or(0),
                    kind: p["Type"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    ports.sort_by(|a, b| {
        a.private
            .cmp(&b.private)
            .then_with(|| a.ip.cmp(&b.ip))
            .then(a.public.cmp(&b.public))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    let mut groups: BTreeMap<String, (u16, u16)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ports {
        let mut key = p.kind.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                host_mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&p.ip, &p.public.to_string()),
                    p.private,
                    p.kind
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.kind);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (p.private, p.private));
                order.push(key);
            }
            Some(g) if p.private == g.1.wrapping_add(1) => g.1 = p.private,
            Some(g) => {
                result.push(form_group(&key, g.0, g.1));
                *g = (p.private, p.private);
            }
        }
    }
    for key in &order {
        if let Some(&(first, last)) = groups.get(key) {
            result.push(form_group(key, first, last));
        }
    }
    result.extend(host_mappings);
    result.join(", ")
}

/// docker 28's `formGroup`: `ip:first-last->first-last/type`, without
/// brackets around an IPv6 address (`:::80->80/tcp`).
fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, kind) = match key.rsplit_once('/') {
        Some((ip, kind)) => (ip, kind),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<(String, String, String)>, String> {
        parse_publish(&standard_notation(s)?)
    }

    fn one(key: &str, ip: &str, port: &str) -> (String, String, String) {
        (key.into(), ip.into(), port.into())
    }

    #[test]
    fn publish_forms() {
        assert_eq!(parse("8080:80"), Ok(vec![one("80/tcp", "", "8080")]));
        assert_eq!(
            parse("127.0.0.1:8080:80"),
            Ok(vec![one("80/tcp", "127.0.0.1", "8080")])
        );
        assert_eq!(
            parse("127.0.0.1::80"),
            Ok(vec![one("80/tcp", "127.0.0.1", "")])
        );
        assert_eq!(parse("80"), Ok(vec![one("80/tcp", "", "")]));
        assert_eq!(
            parse("1234:1234/udp"),
            Ok(vec![one("1234/udp", "", "1234")])
        );
        assert_eq!(
            parse("9000-9002:9000-9002"),
            Ok(vec![
                one("9000/tcp", "", "9000"),
                one("9001/tcp", "", "9001"),
                one("9002/tcp", "", "9002"),
            ])
        );
        assert_eq!(
            parse("[::1]:8080:80"),
            Ok(vec![one("80/tcp", "::1", "8080")])
        );
        assert_eq!(parse("::1:8080:80"), Ok(vec![one("80/tcp", "::1", "8080")]));
        assert_eq!(parse("8080:80/sctp"), Ok(vec![one("80/sctp", "", "8080")]));
        assert_eq!(parse("8080:80/UDP"), Ok(vec![one("80/udp", "", "8080")]));
        assert_eq!(
            parse("8000-8010:80"),
            Ok(vec![one("80/tcp", "", "8000-8010")])
        );
        assert_eq!(parse("08080:80"), Ok(vec![one("80/tcp", "", "8080")]));
        assert_eq!(parse(":80"), Ok(vec![one("80/tcp", "", "")]));
        assert_eq!(parse("80/"), Ok(vec![one("80/tcp", "", "")]));
        assert_eq!(
            parse("target=80,published=8080,protocol=udp"),
            Ok(vec![one("80/udp", "", "8080")])
        );
    }

    #[test]
    fn publish_errors_are_dockers() {
        // Each message as the docker 28 CLI prints it for the same value.
        let err = |s: &str| parse(s).unwrap_err();
        assert_eq!(err("abc:80"), "invalid hostPort: abc");
        assert_eq!(err("8080:abc"), "invalid containerPort: abc");
        assert_eq!(err("8080:80/xyz"), "invalid proto: xyz");
        assert_eq!(err("1.2.3:8080:80"), "invalid IP address: 1.2.3");
        assert_eq!(err("1.2.3:abc:80/xyz"), "invalid IP address: 1.2.3");
        assert_eq!(
            err("9000-9002:80-81"),
            "invalid ranges specified for container and host Ports: 80-81 and 9000-9002"
        );
        assert_eq!(err(""), "no port specified: <empty>");
        assert_eq!(err("8080:"), "no port specified: 8080:<empty>");
        assert_eq!(err("70000:80"), "invalid hostPort: 70000");
        assert_eq!(err("-1:80"), "invalid hostPort: -1");
        assert_eq!(err("80-70"), "invalid containerPort: 80-70");
        assert_eq!(err("+80"), "invalid containerPort: +80");
        assert_eq!(
            err("[::1:8080:80"),
            "invalid IP address [::1: address [::1:: missing ']' in address"
        );
        assert_eq!(err("published=80"), "no port specified: 80:/tcp<empty>");
        assert_eq!(
            err("a,b=c"),
            "invalid publish opts format (should be name=value but got 'a')"
        );
        assert_eq!(
            parse_expose("1:2").unwrap_err(),
            "invalid port format for --expose: 1:2"
        );
        assert_eq!(
            parse_expose("abc").unwrap_err(),
            "invalid range format for --expose: abc, error: strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            parse_expose("80-70").unwrap_err(),
            "invalid range format for --expose: 80-70, error: invalid range specified for port: 80-70"
        );
        assert_eq!(parse_expose("90-91/udp").unwrap(), ["90/udp", "91/udp"]);
    }

    #[test]
    fn create_body() {
        let f = PortFlags {
            publish: vec!["8080:80".into(), "127.0.0.1::80".into()],
            publish_all: true,
            expose: vec!["90".into()],
        };
        let mut config = json!({"HostConfig": {}});
        apply(&f, &mut config).unwrap();
        assert_eq!(
            config,
            json!({
                "ExposedPorts": {"80/tcp": {}, "90/tcp": {}},
                "HostConfig": {
                    "PortBindings": {"80/tcp": [
                        {"HostIp": "", "HostPort": "8080"},
                        {"HostIp": "127.0.0.1", "HostPort": ""},
                    ]},
                    "PublishAllPorts": true,
                },
            })
        );
    }

    #[test]
    fn ps_column() {
        let p = |ip: &str, private: u16, public: u16, kind: &str| {
            if ip.is_empty() {
                json!({"PrivatePort": private, "Type": kind})
            } else {
                json!({"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": kind})
            }
        };
        assert_eq!(
            displayable(&json!([
                p("0.0.0.0", 80, 8080, "tcp"),
                p("::", 80, 8080, "tcp")
            ])),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            displayable(&json!([
                p("::", 80, 80, "tcp"),
                p("0.0.0.0", 80, 80, "tcp")
            ])),
            "0.0.0.0:80->80/tcp, :::80->80/tcp"
        );
        let range: Vec<Value> = (9000..=9002)
            .flat_map(|n| [p("0.0.0.0", n, n, "tcp"), p("::", n, n, "tcp")])
            .chain([p("", 90, 0, "udp"), p("", 91, 0, "udp")])
            .collect();
        assert_eq!(
            displayable(&json!(range)),
            "90-91/udp, 0.0.0.0:9000-9002->9000-9002/tcp, :::9000-9002->9000-9002/tcp"
        );
        assert_eq!(displayable(&json!([])), "");
    }

    #[test]
    fn port_command_lines() {
        let ports = json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9000"}],
            "90/udp": null,
        });
        let args = |p: Option<&str>| PortCommandArgs {
            container: "web".into(),
            port: p.map(str::to_owned),
        };
        assert_eq!(
            port_lines(&args(None), &ports).unwrap(),
            [
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "9000/tcp -> 0.0.0.0:9000"
            ]
        );
        assert_eq!(
            port_lines(&args(Some("80")), &ports).unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&args(Some("90/udp")), &ports)
                .unwrap_err()
                .to_string(),
            "Error: No public port '90/udp' published for web"
        );
        assert_eq!(
            port_lines(&args(Some("x")), &ports)
                .unwrap_err()
                .to_string(),
            "Error: invalid port (x): strconv.ParseUint: parsing \"x\": invalid syntax"
        );
        assert!(natural_cmp("9000/tcp", "80/tcp").is_gt());
    }
}
