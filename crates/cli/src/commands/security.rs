//! The security and isolation flags of `run` and `create` into the create
//! body, as the docker CLI builds it (`cli/command/container/opts.go`):
//! `HostConfig` fields, `Config.Domainname`, labels from `--label-file`,
//! and a `--security-opt seccomp=<file>` replaced by the file's JSON.
//! Also docker's key=value file format, shared with `--env-file`.

use serde_json::{Value, json};

use crate::flags::security::SecurityFlags;

/// Reads a file the user named, with Go's wording on failure (`open
/// /x: no such file or directory`), as the docker CLI reports it.
pub(crate) fn read_text(path: &str) -> Result<String, String> {
    let bytes = fs_err::read(path).map_err(|e| {
        // fs_err's "failed to open file `x`: No such file or directory
        // (os error 2)" worded as Go's strerror.
        let os = e.to_string();
        let os = os.rsplit("`: ").next().unwrap_or(&os).to_owned();
        let reason = os.split(" (os error").next().unwrap_or(&os);
        let mut chars = reason.chars();
        let reason: String = match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect(),
            None => String::new(),
        };
        let op = if e.kind() == std::io::ErrorKind::IsADirectory {
            "read"
        } else {
            "open"
        };
        format!("{op} {path}: {reason}")
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        format!("{path} contains invalid utf8 bytes at line {line}")
    })
}

/// Where a `KEY` without a value takes its value from (the environment).
pub(crate) type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// docker's `parseKeyValueFile`: one `KEY=value` a line, leading blanks
/// and `#` comment lines skipped; a `KEY` alone takes `lookup`'s value
/// (and is dropped when it has none, or without `lookup`).
pub(crate) fn kv_file(path: &str, lookup: Option<&Lookup>) -> Result<Vec<String>, String> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let key = key.trim_start();
        if key.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        if key.contains([' ', '\t', '\n', '\x0b', '\x0c', '\r']) {
            return Err(format!("variable '{key}' contains whitespaces"));
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => {
                if let Some(v) = lookup.and_then(|f| f(key)) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// Adds the flags to `config` (the create body `create_config` built):
/// errors are the docker CLI's.
pub(crate) fn apply(f: &SecurityFlags, config: &mut Value) -> Result<(), String> {
    // Labels from files first; `--label` (already in the body) wins.
    for file in &f.label_file {
        for kv in kv_file(file, None)? {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            if config["Labels"].get(k).is_none() {
                config["Labels"][k] = json!(v);
            }
        }
    }
    if let Some(d) = &f.domainname {
        config["Domainname"] = json!(d);
    }
    let pid = f.pid.clone().unwrap_or_default();
    if !(pid.is_empty() || pid == "host" || container_mode(&pid)) {
        return Err("--pid: invalid PID mode".into());
    }
    let uts = f.uts.clone().unwrap_or_default();
    if !(uts.is_empty() || uts == "host") {
        return Err("--uts: invalid UTS mode".into());
    }
    let ipc = f.ipc.clone().unwrap_or_default();
    if !(matches!(ipc.as_str(), "" | "none" | "private" | "shareable" | "host")
        || container_mode(&ipc))
    {
        return Err("--ipc: invalid IPC mode".into());
    }
    let shm_size = match &f.shm_size {
        None => 0,
        Some(s) => ram_in_bytes(s)
            .map_err(|e| format!("invalid argument \"{s}\" for \"--shm-size\" flag: {e}"))?,
    };
    let tmpfs: serde_json::Map<String, Value> = f
        .tmpfs
        .iter()
        .map(|t| {
            let (k, v) = t.split_once(':').unwrap_or((t.as_str(), ""));
            (k.to_owned(), json!(v))
        })
        .collect();
    let list = |l: &[String]| {
        if l.is_empty() { Value::Null } else { json!(l) }
    };
    let (cap_add, cap_drop) = effective_cap_add_drop(&f.cap_add, &f.cap_drop);
    let host = &mut config["HostConfig"];
    host["CapAdd"] = list(&cap_add);
    host["CapDrop"] = list(&cap_drop);
    host["GroupAdd"] = list(&f.group_add);
    host["Privileged"] = json!(f.privileged);
    host["ReadonlyRootfs"] = json!(f.read_only);
    host["SecurityOpt"] = list(&security_opts(&f.security_opt)?);
    host["PidMode"] = json!(pid);
    host["IpcMode"] = json!(ipc);
    host["UTSMode"] = json!(uts);
    host["ShmSize"] = json!(shm_size);
    if !tmpfs.is_empty() {
        host["Tmpfs"] = Value::Object(tmpfs);
    }
    Ok(())
}

/// The docker CLI's `EffectiveCapAddCapDrop`: names upper-cased with
/// `CAP_`, sorted, without duplicates; `ALL` trumps the rest of its list;
/// a capability both added and dropped is added.
fn effective_cap_add_drop(add: &[String], drop: &[String]) -> (Vec<String>, Vec<String>) {
    let normalize = |list: &[String]| {
        let mut out: Vec<String> = list
            .iter()
            .map(|c| {
                let c = c.trim().to_ascii_uppercase();
                if c == "ALL" || c.starts_with("CAP_") {
                    c
                } else {
                    format!("CAP_{c}")
                }
            })
            .collect();
        out.sort();
        out.dedup();
        if out.iter().any(|c| c == "ALL") {
            out = vec!["ALL".to_owned()];
        }
        out
    };
    let add = normalize(add);
    let mut drop = normalize(drop);
    drop.retain(|c| !add.contains(c));
    (add, drop)
}

fn container_mode(mode: &str) -> bool {
    mode.strip_prefix("container:")
        .is_some_and(|name| !name.is_empty())
}

/// docker's `parseSecurityOpts`: every option but `no-new-privileges` needs
/// a value; a seccomp profile file is sent as its compacted JSON.
fn security_opts(opts: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for opt in opts {
        let (k, v) = match opt.split_once('=') {
            Some(kv) => (kv.0, Some(kv.1)),
            None if opt == "no-new-privileges" => (opt.as_str(), None),
            None => match opt.split_once(':') {
                Some(kv) => (kv.0, Some(kv.1)),
                None => (opt.as_str(), None),
            },
        };
        if k != "no-new-privileges" && v.is_none_or(str::is_empty) {
            return Err(format!("Invalid --security-opt: {opt:?}"));
        }
        match (k, v) {
            ("seccomp", Some(file)) if file != "builtin" && file != "unconfined" => {
                let text = read_text(file)
                    .map_err(|e| format!("opening seccomp profile ({file}) failed: {e}"))?;
                let profile: Value = serde_json::from_str(&text).map_err(|e| {
                    format!("compacting json for seccomp profile ({file}) failed: {e}")
                })?;
                out.push(format!("seccomp={profile}"));
            }
            _ => out.push(opt.clone()),
        }
    }
    Ok(out)
}

/// docker's `units.RAMInBytes`: `64m`, `1g`, `1.5k`, plain bytes.
pub(crate) fn ram_in_bytes(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{text}'");
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower)
        .trim_end();
    // go-units: a number, then an optional suffix.
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, suffix) = (&lower[..split], lower[split..].trim_start());
    if num.is_empty() {
        return Err(bad());
    }
    let shift = match suffix {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => {
            let given = &text.trim()[split..];
            return Err(format!("invalid suffix: '{}'", given.trim_start()));
        }
    };
    let value: f64 = num.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "checked to be in range; docker truncates fractions too"
    )]
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_files_as_docker() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("env");
        fs_err::write(
            &path,
            "# comment\n\n  A=1\nB= spaced \nHOME\nUNSET\nC=x=y\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let env = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        assert_eq!(
            kv_file(p, Some(&env)).unwrap(),
            ["A=1", "B= spaced ", "HOME=/root", "C=x=y"]
        );
        assert_eq!(kv_file(p, None).unwrap(), ["A=1", "B= spaced ", "C=x=y"]);
        fs_err::write(&path, "BAD KEY=1\n").unwrap();
        assert_eq!(
            kv_file(p, None).unwrap_err(),
            "variable 'BAD KEY' contains whitespaces"
        );
        assert_eq!(
            kv_file("/nonexistent/env", None).unwrap_err(),
            "open /nonexistent/env: no such file or directory"
        );
    }

    #[test]
    fn flags_into_the_create_body() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = tmp.path().join("p.json");
        fs_err::write(&profile, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let labels = tmp.path().join("labels");
        fs_err::write(&labels, "a=file\nb=file\n").unwrap();
        let f = SecurityFlags {
            cap_add: vec!["NET_ADMIN".into()],
            security_opt: vec![
                format!("seccomp={}", profile.display()),
                "no-new-privileges".into(),
            ],
            tmpfs: vec!["/run:size=1m".into(), "/cache".into()],
            shm_size: Some("128m".into()),
            pid: Some("host".into()),
            label_file: vec![labels.display().to_string()],
            domainname: Some("example.org".into()),
            ..SecurityFlags::default()
        };
        let mut body = json!({"Labels": {"a": "flag"}, "HostConfig": {}});
        apply(&f, &mut body).unwrap();
        let h = &body["HostConfig"];
        assert_eq!(h["CapAdd"], json!(["CAP_NET_ADMIN"]));
        assert_eq!(h["CapDrop"], Value::Null);
        assert_eq!(
            h["SecurityOpt"],
            json!([
                "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
                "no-new-privileges"
            ])
        );
        assert_eq!(h["Tmpfs"], json!({"/run": "size=1m", "/cache": ""}));
        assert_eq!(h["ShmSize"], 128 << 20);
        assert_eq!(h["PidMode"], "host");
        assert_eq!(body["Labels"], json!({"a": "flag", "b": "file"}));
        assert_eq!(body["Domainname"], "example.org");

        let err = |f: SecurityFlags| apply(&f, &mut json!({"HostConfig": {}})).unwrap_err();
        assert_eq!(
            err(SecurityFlags {
                pid: Some("bogus".into()),
                ..SecurityFlags::default()
            }),
            "--pid: invalid PID mode"
        );
        assert_eq!(
            err(SecurityFlags {
                uts: Some("container:x".into()),
                ..SecurityFlags::default()
            }),
            "--uts: invalid UTS mode"
        );
        assert_eq!(
            err(SecurityFlags {
                ipc: Some("container:".into()),
                ..SecurityFlags::default()
            }),
            "--ipc: invalid IPC mode"
        );
        assert_eq!(
            err(SecurityFlags {
                shm_size: Some("12x".into()),
                ..SecurityFlags::default()
            }),
            "invalid argument \"12x\" for \"--shm-size\" flag: invalid suffix: 'x'"
        );
        assert_eq!(
            err(SecurityFlags {
                security_opt: vec!["bogus".into()],
                ..SecurityFlags::default()
            }),
            "Invalid --security-opt: \"bogus\""
        );
        assert_eq!(
            err(SecurityFlags {
                security_opt: vec!["seccomp=/nonexistent.json".into()],
                ..SecurityFlags::default()
            }),
            "opening seccomp profile (/nonexistent.json) failed: open /nonexistent.json: no such file or directory"
        );
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("2g"), Ok(2 << 30));
        assert_eq!(ram_in_bytes("1t"), Ok(1 << 40));
    }
}
