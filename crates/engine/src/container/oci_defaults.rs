//! Docker's defaults for a container that is not `--privileged` (moby
//! `oci/defaults.go`, `daemon/oci_linux.go`), as data.
//!
//! berth-runtime has the same lists (`berth_runtime::defaults`), but the
//! engine may not depend on the runtime (the daemon never links it), so the
//! short lists are repeated here and the seccomp profile is read from the
//! runtime crate's data file at compile time (a file, not a crate edge).

use oci_spec::runtime::{Capability, LinuxDeviceCgroup, LinuxDeviceType};

/// Docker's default seccomp profile (the runtime crate's data file).
pub(crate) const SECCOMP_PROFILE_JSON: &str =
    include_str!("../../../runtime/data/seccomp-default.json");

/// Docker's default seccomp profile, parsed.
#[cfg(test)]
pub(crate) fn seccomp_profile() -> Result<oci_spec::runtime::LinuxSeccomp, serde_json::Error> {
    serde_json::from_str(SECCOMP_PROFILE_JSON)
}

/// The capabilities every Docker container gets.
pub(crate) fn capabilities() -> Vec<Capability> {
    vec![
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
}

/// Paths Docker hides (bind of /dev/null, or an empty read-only tmpfs).
pub(crate) const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker remounts read-only.
pub(crate) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device cgroup allowlist of a default Docker container.
pub(crate) fn device_cgroup_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};

    let rule = |allow: bool,
                typ: Option<LinuxDeviceType>,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str| {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(allow);
        rule.set_typ(typ);
        rule.set_major(major);
        rule.set_minor(minor);
        rule.set_access(Some(access.to_owned()));
        rule
    };
    vec![
        rule(false, None, None, None, "rwm"),
        rule(true, Some(C), None, None, "m"),
        rule(true, Some(B), None, None, "m"),
        rule(true, Some(C), Some(1), Some(3), "rwm"), // /dev/null
        rule(true, Some(C), Some(1), Some(5), "rwm"), // /dev/zero
        rule(true, Some(C), Some(1), Some(7), "rwm"), // /dev/full
        rule(true, Some(C), Some(1), Some(8), "rwm"), // /dev/random
        rule(true, Some(C), Some(1), Some(9), "rwm"), // /dev/urandom
        rule(true, Some(C), Some(5), Some(0), "rwm"), // /dev/tty
        rule(true, Some(C), Some(5), Some(1), "rwm"), // /dev/console
        rule(true, Some(C), Some(5), Some(2), "rwm"), // /dev/ptmx
        rule(true, Some(C), Some(136), None, "rwm"),  // /dev/pts/*
        rule(true, Some(C), Some(10), Some(200), "rwm"), // /dev/net/tun
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_profile_parses() {
        let profile = seccomp_profile().unwrap();
        assert!(!profile.syscalls().as_ref().unwrap().is_empty());
    }

    #[test]
    fn fourteen_capabilities() {
        let caps = capabilities();
        assert_eq!(caps.len(), 14);
        assert!(!caps.contains(&Capability::SysAdmin));
    }
}
