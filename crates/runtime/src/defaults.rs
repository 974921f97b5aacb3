//! Default configurations: the `config.json` that `berth-runtime spec`
//! writes (runc's `runc spec`, with and without `--rootless`). Docker's
//! per-container defaults (capabilities, masked paths, device rules) are the
//! daemon's choice and live in the engine (`container::oci_defaults`).
//!
//! ```
//! let spec = berth_runtime::defaults::default_spec();
//! assert_eq!(spec.hostname().as_deref(), Some("berth"));
//! ```

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

/// The spec `runc spec` writes (runc 1.2, `libcontainer/specconv.Example`),
/// with hostname `berth`: `sh` on a terminal as root, three capabilities,
/// `NOFILE` 1024, `noNewPrivileges`, a read-only `rootfs`, the standard
/// mounts, new pid/network/ipc/uts/mount/cgroup namespaces, all devices
/// denied, and runc's masked and read-only paths.
pub fn default_spec() -> Spec {
    from_json(example())
}

/// The spec `runc spec --rootless` writes (`specconv.ToRootless`): a user
/// namespace mapping container root to the calling user's effective uid and
/// gid, no network namespace (an unprivileged user cannot configure one),
/// `/sys` bind-mounted from the host (sysfs cannot be mounted without a
/// network namespace of one's own), no `gid=5` on devpts (the group is not
/// mapped) and no cgroup device rules (they need privileges).
pub fn default_rootless_spec() -> Spec {
    let mut spec = example();
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    if let Some(linux) = spec["linux"].as_object_mut() {
        linux.remove("resources");
        if let Some(namespaces) = linux["namespaces"].as_array_mut() {
            namespaces.retain(|ns| ns["type"] != "network");
            namespaces.push(json!({ "type": "user" }));
        }
        linux.insert(
            "uidMappings".into(),
            json!([{ "containerID": 0, "hostID": uid, "size": 1 }]),
        );
        linux.insert(
            "gidMappings".into(),
            json!([{ "containerID": 0, "hostID": gid, "size": 1 }]),
        );
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for mount in mounts {
            if mount["destination"] == "/sys" {
                *mount = json!({
                    "destination": "/sys",
                    "type": "none",
                    "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
                });
            } else if let Some(options) = mount["options"].as_array_mut() {
                options.retain(|option| option != "gid=5");
            }
        }
    }
    from_json(spec)
}

fn from_json(value: Value) -> Spec {
    #[allow(
        clippy::expect_used,
        reason = "the value is built from constants above; unit tests deserialize it"
    )]
    serde_json::from_value(value).expect("the built-in default spec is a valid OCI spec")
}

/// runc's example spec as JSON, so it reads like the file it produces.
fn example() -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            // runc 1.2 dropped the ambient set from its example (1.1 had it).
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "berth",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            },
            {
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            // runc 1.2 added the cgroup namespace to the example.
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "cgroup" }
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use oci_spec::runtime::{Capability, LinuxNamespaceType, PosixRlimitType};

    use super::*;

    #[test]
    fn default_spec_matches_runc_spec() {
        let spec = default_spec();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.terminal(), Some(true));
        assert_eq!(process.args().as_deref(), Some(&["sh".to_owned()][..]));
        assert_eq!(
            process.env().as_deref(),
            Some(
                &[
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
                    "TERM=xterm".to_owned()
                ][..]
            )
        );
        assert_eq!(process.cwd(), Path::new("/"));
        assert_eq!((process.user().uid(), process.user().gid()), (0, 0));
        let caps = process.capabilities().as_ref().unwrap();
        let want: HashSet<Capability> = [
            Capability::AuditWrite,
            Capability::Kill,
            Capability::NetBindService,
        ]
        .into();
        assert_eq!(caps.bounding().as_ref(), Some(&want));
        assert_eq!(caps.effective().as_ref(), Some(&want));
        assert_eq!(caps.permitted().as_ref(), Some(&want));
        assert_eq!(caps.ambient(), &None);
        let rlimits = process.rlimits().as_ref().unwrap();
        assert_eq!(rlimits.len(), 1);
        assert_eq!(rlimits[0].typ(), PosixRlimitType::RlimitNofile);
        assert_eq!((rlimits[0].soft(), rlimits[0].hard()), (1024, 1024));
        assert_eq!(process.no_new_privileges(), Some(true));

        let root = spec.root().as_ref().unwrap();
        assert_eq!(root.path(), Path::new("rootfs"));
        assert_eq!(root.readonly(), Some(true));
        assert_eq!(spec.hostname().as_deref(), Some("berth"));

        let mounts: Vec<_> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            mounts,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup"
            ]
        );

        let linux = spec.linux().as_ref().unwrap();
        let namespaces: Vec<_> = linux
            .namespaces()
            .iter()
            .flatten()
            .map(|ns| ns.typ())
            .collect();
        assert_eq!(
            namespaces,
            [
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Ipc,
                LinuxNamespaceType::Uts,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::Cgroup
            ]
        );
        assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 10);
        assert_eq!(
            linux.readonly_paths().as_deref(),
            Some(
                &[
                    "/proc/bus",
                    "/proc/fs",
                    "/proc/irq",
                    "/proc/sys",
                    "/proc/sysrq-trigger"
                ]
                .map(String::from)[..]
            )
        );
        let devices = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert_eq!(devices.len(), 1);
        assert!(!devices[0].allow());
    }

    /// Compares with the installed `runc spec`, apart from the documented
    /// differences (hostname; runc 1.1 still lists ambient capabilities and
    /// no cgroup namespace).
    #[test]
    fn default_spec_agrees_with_installed_runc() {
        let dir = tempfile::tempdir().unwrap();
        // runc is the reference implementation; CI installs it (`.ci/run`).
        let status = std::process::Command::new("runc")
            .arg("spec")
            .current_dir(dir.path())
            .status()
            .expect("`runc` must be installed to compare with it (apt-get install runc)");
        assert!(status.success());
        let text = fs_err::read_to_string(dir.path().join("config.json")).unwrap();
        let mut theirs: Value = serde_json::from_str(&text).unwrap();
        let mut ours = serde_json::to_value(default_spec()).unwrap();
        for spec in [&mut theirs, &mut ours] {
            spec["hostname"] = json!("x");
            if let Some(caps) = spec["process"]["capabilities"].as_object_mut() {
                caps.remove("ambient");
                for set in caps.values_mut() {
                    set.as_array_mut().unwrap().sort_by_key(|v| v.to_string());
                }
            }
            spec["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|ns| ns["type"] != "cgroup");
            // oci-spec fills in defaults runc leaves out.
            spec.as_object_mut().unwrap().remove("annotations");
        }
        assert_eq!(ours["process"], theirs["process"]);
        assert_eq!(ours["mounts"], theirs["mounts"]);
        assert_eq!(ours["root"], theirs["root"]);
        assert_eq!(ours["linux"]["namespaces"], theirs["linux"]["namespaces"]);
        assert_eq!(ours["linux"]["maskedPaths"], theirs["linux"]["maskedPaths"]);
        assert_eq!(
            ours["linux"]["readonlyPaths"],
            theirs["linux"]["readonlyPaths"]
        );
    }

    #[test]
    fn rootless_spec_maps_the_current_user() {
        let spec = default_rootless_spec();
        let linux = spec.linux().as_ref().unwrap();
        let types: Vec<_> = linux
            .namespaces()
            .iter()
            .flatten()
            .map(|ns| ns.typ())
            .collect();
        assert!(types.contains(&LinuxNamespaceType::User));
        assert!(!types.contains(&LinuxNamespaceType::Network));
        let uid = linux.uid_mappings().as_ref().unwrap();
        assert_eq!(uid.len(), 1);
        assert_eq!(uid[0].container_id(), 0);
        assert_eq!(uid[0].host_id(), nix::unistd::geteuid().as_raw());
        assert_eq!(uid[0].size(), 1);
        let gid = linux.gid_mappings().as_ref().unwrap();
        assert_eq!(gid[0].host_id(), nix::unistd::getegid().as_raw());
        assert!(linux.resources().is_none());
        let mounts = spec.mounts().as_ref().unwrap();
        let sys = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/sys"))
            .unwrap();
        assert_eq!(sys.typ().as_deref(), Some("none"));
        assert!(
            sys.options()
                .as_ref()
                .unwrap()
                .contains(&"rbind".to_owned())
        );
        for mount in mounts {
            assert!(!mount.options().iter().flatten().any(|o| o == "gid=5"));
        }
    }
}
