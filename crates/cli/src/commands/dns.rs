//! The name-resolution flags of `run` and `create` into the create body,
//! checked and normalised as the docker CLI does (`opts.ValidateIPAddress`,
//! `ValidateDNSSearch`, `validateExtraHost`).

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::flags::dns::DnsFlags;

fn invalid(value: &str, flag: &str, why: &str) -> String {
    format!("invalid argument \"{value}\" for \"--{flag}\" flag: {why}")
}

/// `--dns`: an IP address, sent in its canonical form.
fn nameserver(value: &str) -> Result<String, String> {
    value
        .trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| {
            invalid(
                value,
                "dns",
                &format!("IP address is not correctly formatted: {value}"),
            )
        })
}

/// `--dns-search`: `.` or a domain name (a trailing dot is dropped).
fn search_domain(value: &str) -> Result<String, String> {
    let v = value.trim_matches(' ');
    if v == "." {
        return Ok(v.to_owned());
    }
    let name = v.trim_end().strip_suffix('.').unwrap_or(v.trim_end());
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !v.chars().any(|c| c.is_ascii_alphabetic())
        || name.len() >= 255
        || !name.split('.').all(label_ok)
    {
        return Err(invalid(
            value,
            "dns-search",
            &format!("{value} is not a valid domain"),
        ));
    }
    Ok(name.to_owned())
}

/// `--add-host`: `name:ip` or `name=ip` (an address in brackets allowed),
/// or `name:host-gateway`; sent as `name:ip`.
fn extra_host(value: &str) -> Result<String, String> {
    let split = value.split_once('=').or_else(|| value.split_once(':'));
    let bad = || {
        invalid(
            value,
            "add-host",
            &format!("bad format for add-host: {value:?}"),
        )
    };
    let (name, ip) = match split {
        Some((n, ip)) if !n.is_empty() && !n.contains(':') => (n, ip),
        _ => return Err(bad()),
    };
    if ip != "host-gateway" {
        let bare = if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
            &ip[1..ip.len() - 1]
        } else {
            ip
        };
        if bare.trim().parse::<IpAddr>().is_err() {
            return Err(invalid(
                value,
                "add-host",
                &format!("invalid IP address in add-host: {bare:?}"),
            ));
        }
        return Ok(format!("{name}:{bare}"));
    }
    Ok(format!("{name}:{ip}"))
}

/// Adds the flags to the create body's `HostConfig`, as the docker CLI
/// sends them (`[]` for no `--dns*`, `null` for no `--add-host`).
pub(crate) fn apply(f: &DnsFlags, config: &mut Value) -> Result<(), String> {
    let dns: Vec<String> = f
        .dns
        .iter()
        .map(|v| nameserver(v))
        .collect::<Result<_, _>>()?;
    let search: Vec<String> = f
        .dns_search
        .iter()
        .map(|v| search_domain(v))
        .collect::<Result<_, _>>()?;
    let hosts: Vec<String> = f
        .add_host
        .iter()
        .map(|v| extra_host(v))
        .collect::<Result<_, _>>()?;
    let host = &mut config["HostConfig"];
    host["Dns"] = json!(dns);
    host["DnsOptions"] = json!(f.dns_option);
    host["DnsSearch"] = json!(search);
    host["ExtraHosts"] = if hosts.is_empty() {
        Value::Null
    } else {
        json!(hosts)
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_and_normalised_as_docker() {
        let f = DnsFlags {
            add_host: vec![
                "db:10.0.0.1".into(),
                "v6=[::1]".into(),
                "gw:host-gateway".into(),
            ],
            dns: vec!["0:0:0:0:0:0:0:1".into(), "1.1.1.1".into()],
            dns_option: vec!["ndots:2".into()],
            dns_search: vec!["example.com.".into(), ".".into()],
        };
        let mut v = json!({"HostConfig": {}});
        apply(&f, &mut v).unwrap();
        assert_eq!(
            v["HostConfig"],
            json!({"Dns": ["::1", "1.1.1.1"], "DnsOptions": ["ndots:2"],
                   "DnsSearch": ["example.com", "."],
                   "ExtraHosts": ["db:10.0.0.1", "v6:::1", "gw:host-gateway"]})
        );
        let mut v = json!({"HostConfig": {}});
        apply(&DnsFlags::default(), &mut v).unwrap();
        assert_eq!(v["HostConfig"]["ExtraHosts"], Value::Null);
        assert_eq!(v["HostConfig"]["Dns"], json!([]));
    }

    #[test]
    fn bad_values_get_the_docker_cli_messages() {
        assert_eq!(
            nameserver("dns.example").unwrap_err(),
            "invalid argument \"dns.example\" for \"--dns\" flag: IP address is not correctly formatted: dns.example"
        );
        assert_eq!(
            search_domain("-x").unwrap_err(),
            "invalid argument \"-x\" for \"--dns-search\" flag: -x is not a valid domain"
        );
        assert!(search_domain("123").is_err());
        assert_eq!(
            extra_host("nohost").unwrap_err(),
            "invalid argument \"nohost\" for \"--add-host\" flag: bad format for add-host: \"nohost\""
        );
        assert_eq!(
            extra_host("a:1.2.3").unwrap_err(),
            "invalid argument \"a:1.2.3\" for \"--add-host\" flag: invalid IP address in add-host: \"1.2.3\""
        );
    }
}
