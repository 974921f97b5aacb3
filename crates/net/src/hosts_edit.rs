//! Changes to a running container's `/etc/hosts` when it joins or leaves
//! a network, as dockerd makes them: a line `IP<TAB>names` per new address
//! is appended (the rest of the file, a user's edits included, stays), and
//! the lines of an address it no longer has are taken out.

use std::net::IpAddr;

use crate::files::own_names;

/// `text` with a line for each of `addresses` naming the container
/// (`hostname[.domainname]`, then the bare first label when that differs),
/// as [`crate::files::hosts`] writes its own lines.
pub fn add_addresses(text: &str, addresses: &[IpAddr], hostname: &str, domainname: &str) -> String {
    let names = own_names(hostname, domainname);
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for ip in addresses {
        out.push_str(&format!("{ip}\t{names}\n"));
    }
    out
}

/// `text` without the lines of `addresses` that name the container (a
/// line the user wrote for another name stays).
pub fn remove_addresses(
    text: &str,
    addresses: &[IpAddr],
    hostname: &str,
    domainname: &str,
) -> String {
    let names = own_names(hostname, domainname);
    let wanted: Vec<String> = addresses
        .iter()
        .map(|ip| format!("{ip}\t{names}"))
        .collect();
    text.lines()
        .filter(|l| !wanted.iter().any(|w| w == l.trim_end()))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_and_go_and_the_rest_stays() {
        let base = "127.0.0.1\tlocalhost\n10.0.0.2\tabc\n# mine\n10.1.0.9\tabc\n";
        let ip: IpAddr = "10.1.0.9".parse().unwrap();
        let more = add_addresses(base, &[ip], "abc", "");
        assert_eq!(more, format!("{base}10.1.0.9\tabc\n"));
        let fewer = remove_addresses(&more, &[ip], "abc", "");
        assert_eq!(fewer, "127.0.0.1\tlocalhost\n10.0.0.2\tabc\n# mine\n");
        let fqdn = add_addresses("x", &[ip], "web", "example.org");
        assert_eq!(fqdn, "x\n10.1.0.9\tweb.example.org web\n");
        assert_eq!(remove_addresses(&fqdn, &[ip], "web", "example.org"), "x\n");
    }
}
