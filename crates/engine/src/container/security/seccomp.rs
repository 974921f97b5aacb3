//! Seccomp profiles in Docker's format (`--security-opt seccomp=<file>`,
//! whose JSON the client sends as `seccomp=<json>`), resolved into the OCI
//! `linux.seccomp` section for one container, and Docker's default profile
//! adjusted for the container's capabilities.
//!
//! Docker's format is the OCI one plus conditions: a rule may name the
//! capabilities, architectures and kernel version it applies to
//! (`includes`) or not (`excludes`), and `archMap` lists sub-architectures
//! per native architecture. dockerd resolves those when it writes the
//! container's spec (moby `profiles/seccomp.setupSeccomp`); so does this
//! module. A profile already in OCI form passes through unchanged.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

/// Docker's profile format (moby `profiles/seccomp.Seccomp`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    listener_path: String,
    listener_metadata: String,
    architectures: Vec<String>,
    arch_map: Vec<ArchMap>,
    syscalls: Vec<Syscall>,
    flags: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ArchMap {
    architecture: String,
    sub_architectures: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Syscall {
    name: String,
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    args: Vec<Value>,
    includes: Filter,
    excludes: Filter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Filter {
    arches: Vec<String>,
    caps: Vec<String>,
    min_kernel: String,
}

/// This host's architecture as Go names it (what `includes.arches` lists)
/// and as libseccomp names it (what `archMap` keys are).
fn host_arch() -> (&'static str, &'static str) {
    if cfg!(target_arch = "aarch64") {
        ("arm64", "SCMP_ARCH_AARCH64")
    } else {
        ("amd64", "SCMP_ARCH_X86_64")
    }
}

/// The running kernel's `major.minor`.
fn kernel_version() -> (u32, u32) {
    let release = fs_err::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Resolves `profile` (Docker's or OCI's JSON) for a container holding
/// `caps` (`CAP_*` names), into the OCI `linux.seccomp` object.
pub(crate) fn resolve(profile: &str, caps: &BTreeSet<String>) -> Result<Value, String> {
    resolve_for(profile, caps, host_arch(), kernel_version())
}

fn resolve_for(
    profile: &str,
    caps: &BTreeSet<String>,
    (go_arch, native): (&str, &str),
    kernel: (u32, u32),
) -> Result<Value, String> {
    let p: Profile = serde_json::from_str(profile)
        .map_err(|e| format!("Decoding seccomp profile failed: {e}"))?;
    if p.default_action.is_empty() {
        return Err(
            "Decoding seccomp profile failed: defaultAction is missing (for example \"SCMP_ACT_ERRNO\")"
                .into(),
        );
    }
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into());
    }
    let mut arches = p.architectures.clone();
    for a in &p.arch_map {
        if a.architecture == native {
            arches.push(a.architecture.clone());
            arches.extend(a.sub_architectures.iter().cloned());
        }
    }
    let kernel_at_least = |v: &str| -> Result<bool, String> {
        let want = parse_version(v)
            .ok_or_else(|| format!("invalid minKernel {v:?} in the seccomp profile"))?;
        Ok(kernel >= want)
    };
    let mut syscalls = Vec::new();
    for (i, s) in p.syscalls.iter().enumerate() {
        if !s.name.is_empty() && !s.names.is_empty() {
            return Err(format!(
                "syscalls[{i}]: use either 'name' or 'names' in the seccomp profile"
            ));
        }
        let inc = &s.includes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == go_arch) {
            continue;
        }
        if !inc.caps.iter().all(|c| caps.contains(c)) {
            continue;
        }
        if !inc.min_kernel.is_empty() && !kernel_at_least(&inc.min_kernel)? {
            continue;
        }
        let exc = &s.excludes;
        if exc.arches.iter().any(|a| a == go_arch) || exc.caps.iter().any(|c| caps.contains(c)) {
            continue;
        }
        if !exc.min_kernel.is_empty() && kernel_at_least(&exc.min_kernel)? {
            continue;
        }
        let names = if s.name.is_empty() {
            s.names.clone()
        } else {
            vec![s.name.clone()]
        };
        let mut rule = json!({"names": names, "action": s.action});
        if let Some(e) = s.errno_ret {
            rule["errnoRet"] = json!(e);
        }
        if !s.args.is_empty() {
            rule["args"] = json!(s.args);
        }
        syscalls.push(rule);
    }
    let mut out = json!({
        "defaultAction": p.default_action,
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !p.flags.is_empty() {
        out["flags"] = json!(p.flags);
    }
    if !p.listener_path.is_empty() {
        out["listenerPath"] = json!(p.listener_path);
    }
    if !p.listener_metadata.is_empty() {
        out["listenerMetadata"] = json!(p.listener_metadata);
    }
    // The OCI types check action and operator names.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(out.clone())
        .map_err(|e| format!("Decoding seccomp profile failed: {e}"))?;
    Ok(out)
}

/// The syscalls Docker's default profile allows only to a container holding
/// a capability (its rules with `includes.caps`); the default profile berth
/// ships is resolved for Docker's default capabilities, which hold only
/// `CAP_SYS_CHROOT` of these.
const CAP_SYSCALLS: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Adjusts Docker's default profile (resolved for the default capabilities)
/// to `caps`, as dockerd's resolution of its conditional rules would:
/// capability-gated syscalls are allowed, `chroot` needs `CAP_SYS_CHROOT`,
/// and with `CAP_SYS_ADMIN` `clone` loses its namespace-flag mask and
/// `clone3` its ENOSYS.
pub(crate) fn adjust_default(seccomp: &mut Value, caps: &BTreeSet<String>) {
    let Some(rules) = seccomp.get_mut("syscalls").and_then(Value::as_array_mut) else {
        return;
    };
    let only = |rule: &Value, name: &str| {
        rule["names"]
            .as_array()
            .is_some_and(|n| n.len() == 1 && n[0] == name)
    };
    if caps.contains("CAP_SYS_ADMIN") {
        rules.retain(|r| !(only(r, "clone3") || only(r, "clone") && r.get("args").is_some()));
    }
    if !caps.contains("CAP_SYS_CHROOT") {
        rules.retain(|r| !only(r, "chroot"));
    }
    for (cap, names) in CAP_SYSCALLS {
        if caps.contains(*cap) {
            rules.push(json!({"names": names, "action": "SCMP_ACT_ALLOW"}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|c| (*c).to_owned()).collect()
    }

    const AMD64: (&str, &str) = ("amd64", "SCMP_ARCH_X86_64");

    #[test]
    fn docker_conditions_are_resolved() {
        let profile = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.1"}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
            ]
        }"#;
        let v = resolve_for(profile, &caps(&["CAP_CHOWN"]), AMD64, (6, 1)).unwrap();
        assert_eq!(
            v["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let names: Vec<String> = v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["names"][0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            ["read", "arch_prctl", "clone3", "ptrace", "personality"]
        );
        assert_eq!(v["syscalls"][2]["errnoRet"], 38);
        assert_eq!(v["defaultErrnoRet"], 1);

        let admin = resolve_for(profile, &caps(&["CAP_SYS_ADMIN"]), AMD64, (4, 4)).unwrap();
        let names: Vec<&str> = admin["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["names"][0].as_str().unwrap())
            .collect();
        assert_eq!(names, ["read", "mount", "arch_prctl", "personality"]);
    }

    #[test]
    fn bad_profiles_are_refused() {
        let r = |p: &str| resolve_for(p, &caps(&[]), AMD64, (6, 1)).unwrap_err();
        assert!(r("{nope").starts_with("Decoding seccomp profile failed: "));
        assert!(r(r#"{"syscalls": []}"#).contains("defaultAction"));
        assert!(r(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).starts_with("Decoding"));
        assert!(
            r(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#)
                .contains("use either 'architectures' or 'archMap'")
        );
        assert!(
            r(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}"#)
                .contains("use either 'name' or 'names'")
        );
    }

    #[test]
    fn default_profile_follows_capabilities() {
        let base: Value =
            serde_json::from_str(crate::container::oci_defaults::SECCOMP_PROFILE_JSON).unwrap();
        let has = |v: &Value, name: &str| {
            v["syscalls"].as_array().unwrap().iter().any(|r| {
                r["action"] == "SCMP_ACT_ALLOW"
                    && r["names"].as_array().unwrap().iter().any(|n| n == name)
            })
        };
        assert!(!has(&base, "mount"));
        assert!(has(&base, "chroot"));
        let mut admin = base.clone();
        adjust_default(&mut admin, &caps(&["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"]));
        assert!(has(&admin, "mount") && has(&admin, "unshare") && has(&admin, "chroot"));
        assert!(
            !admin["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["names"] == json!(["clone3"]))
        );
        let mut none = base.clone();
        adjust_default(&mut none, &caps(&[]));
        assert!(!has(&none, "chroot"));
        assert_eq!(
            none["syscalls"].as_array().unwrap().len() + 1,
            base["syscalls"].as_array().unwrap().len()
        );
    }
}
