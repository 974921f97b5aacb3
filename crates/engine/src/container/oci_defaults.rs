//! Docker's defaults for a container that is not `--privileged` (moby
//! `oci/defaults.go`, `daemon/oci_linux.go`), as data.
//!
//! These are the daemon's choice, as in moby, so they live in the engine;
//! the runtime only applies what a spec says. The seccomp profile is the
//! runtime crate's data file, read at compile time (a file, not a crate
//! edge: the daemon never links the runtime).

use oci_spec::runtime::{Capability, LinuxDeviceCgroup, LinuxDeviceType};

/// Docker's default seccomp profile (the runtime crate's data file).
pub(crate) const SECCOMP_PROFILE_JSON: &str =
    include_str!("../../../runtime/data/seccomp-default.json");

/// Docker's default seccomp profile, parsed.
#[cfg(test)]
pub(crate) fn seccomp_profile() -> Result<oci_spec::runtime::LinuxSeccomp, serde_json::Error> {
    serde_json::from_str(SECCOMP_PROFILE_JSON)
}

/// Docker's default capability set (moby `oci/caps.DefaultCapabilities`),
/// in Docker's order.
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

/// Paths Docker masks in every container that is not `--privileged` (moby
/// `oci/defaults.go`; a bind of /dev/null, or an empty read-only tmpfs):
/// host information and interfaces a container should not read.
/// `/proc/interrupts` and `/sys/devices/virtual/powercap` (RAPL energy
/// counters, a side channel: CVE-2020-8694) were added after runc's list.
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

/// Paths Docker remounts read-only in every container that is not
/// `--privileged` (moby `oci/defaults.go`).
pub(crate) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device cgroup rules a Docker container effectively runs with:
/// moby `oci/defaults.go` (deny all, then `null`, `zero`, `random`,
/// `urandom`, `tty`, `console`) merged with the devices runc always allows
/// (`specconv.AllowedDevices`: `mknod` of anything, `full`, `ptmx`, ptys and
/// `/dev/net/tun`). Anything else, such as `/dev/fuse`, stays denied.
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
        // mknod of any device; access still needs a rule below.
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
    fn docker_defaults() {
        let caps = capabilities();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&Capability::SysChroot));
        assert!(caps.contains(&Capability::NetRaw));
        assert!(!caps.contains(&Capability::SysAdmin));
        assert!(!caps.contains(&Capability::SysPtrace));

        for path in [
            "/proc/kcore",
            "/proc/interrupts",
            "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ] {
            assert!(MASKED_PATHS.contains(&path), "{path}");
        }
        assert_eq!(MASKED_PATHS.len(), 12);
        assert_eq!(READONLY_PATHS.len(), 5);

        let rules = device_cgroup_rules();
        assert!(!rules[0].allow());
        assert_eq!(rules[0].typ(), None);
        let null = rules
            .iter()
            .find(|r| r.major() == Some(1) && r.minor() == Some(3))
            .unwrap();
        assert!(null.allow());
        assert_eq!(null.access().as_deref(), Some("rwm"));
    }
}
