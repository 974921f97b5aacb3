//! A container's security and isolation options (docker's `--privileged`,
//! `--cap-add/--cap-drop`, `--security-opt`, `--read-only`, `--tmpfs`,
//! `--group-add`, `--pid`, `--ipc`, `--uts`, `--shm-size`, `--domainname`):
//! what the caller asked for ([`SecurityOptions`], stored with the
//! container), the checks dockerd makes at create ([`SecurityOptions::check`]),
//! and what they change in the OCI spec ([`apply`]).
//!
//! Docker's defaults stay in `oci_defaults`; this module only departs from
//! them when asked. `--privileged` grants every capability in the host's
//! bounding set (dockerd asks for every capability the kernel knows and
//! fails to start where root itself lacks some), every host device, no
//! seccomp filter, no masked or read-only paths and writable `/sys` and
//! cgroup file systems.

mod seccomp;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ContainerError;
use super::model::Container;

/// docker's `HostConfig` security fields and `Config.Domainname`, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityOptions {
    pub privileged: bool,
    /// `--read-only` (`ReadonlyRootfs`).
    pub readonly_rootfs: bool,
    /// `--cap-add`: `NAME`, `CAP_NAME` (any case) or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--group-add`: group names (from the container's `/etc/group`) or ids.
    pub group_add: Vec<String>,
    /// `--security-opt`, as given (a seccomp profile as its JSON text).
    pub security_opt: Vec<String>,
    /// `--tmpfs`: mount point -> options (`size=64m,mode=1777`).
    pub tmpfs: BTreeMap<String, String>,
    /// `""`, `host`, `container:<name|id>`.
    pub pid_mode: String,
    /// `""` (private), `none`, `private`, `shareable`, `host`, `container:<name|id>`.
    pub ipc_mode: String,
    /// `""` or `host`.
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    /// `/dev/shm` size in bytes; 0 = docker's default, 64 MiB.
    pub shm_size: i64,
    /// `--domainname` (`Config.Domainname`).
    pub domainname: String,
}

/// Docker's default `/dev/shm` size (64 MiB).
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// `--security-opt` parsed as dockerd does (`parseSecurityOpt`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp: Seccomp,
    apparmor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Seccomp {
    #[default]
    Default,
    Unconfined,
    /// A profile's JSON.
    Profile(String),
}

fn invalid(message: impl Into<String>) -> ContainerError {
    ContainerError::InvalidArgument {
        message: message.into(),
    }
}

fn parse_security_opts(list: &[String]) -> Result<SecurityOpts, ContainerError> {
    let mut out = SecurityOpts::default();
    for opt in list {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            // SELinux labelling off: nothing to do without SELinux.
            continue;
        }
        // `key=value`; `key:value` is the deprecated form dockerd still reads.
        let (key, value) = match opt.split_once('=').or_else(|| opt.split_once(':')) {
            Some(kv) => kv,
            None => return Err(invalid(format!("invalid --security-opt 1: {opt:?}"))),
        };
        match key {
            // SELinux labels: accepted and not applied, as dockerd does on
            // a host without SELinux.
            "label" => {}
            "apparmor" => out.apparmor = Some(value.to_owned()),
            "seccomp" => {
                out.seccomp = match value {
                    "unconfined" => Seccomp::Unconfined,
                    "" | "builtin" => Seccomp::Default,
                    json => Seccomp::Profile(json.to_owned()),
                }
            }
            "no-new-privileges" => {
                out.no_new_privileges = crate::go::parse_bool(value)
                    .ok_or_else(|| invalid(format!("invalid --security-opt 2: {opt:?}")))?;
            }
            _ => return Err(invalid(format!("invalid --security-opt 2: {opt:?}"))),
        }
    }
    Ok(out)
}

/// Capability names by number (capabilities(7)), without `CAP_`.
pub(crate) const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The capabilities this host can grant: those in berthd's bounding set
/// (`CapBnd` of /proc/self/status), in number order, as `CAP_*` names.
pub(crate) fn host_capabilities() -> Vec<String> {
    let status = fs_err::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    caps_in_mask(mask)
}

pub(crate) fn caps_in_mask(mask: u64) -> Vec<String> {
    CAPS.iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| format!("CAP_{c}"))
        .collect()
}

/// Normalises `--cap-add`/`--cap-drop` entries as dockerd does
/// (`NormalizeLegacyCapabilities`): upper case, `CAP_` prefixed, `ALL` kept.
/// Unknown names are refused; so are additions the host cannot grant.
fn normalize_caps(
    list: &[String],
    field: &str,
    host: &[String],
    check_host: bool,
) -> Result<Vec<String>, ContainerError> {
    let mut out = Vec::new();
    for c in list {
        let upper = c.to_ascii_uppercase();
        if upper == "ALL" {
            out.push(upper);
            continue;
        }
        let name = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        if !CAPS.iter().any(|k| name[4..] == **k) {
            return Err(invalid(format!(
                "invalid {field}: unknown capability: {name:?}"
            )));
        }
        if check_host && !host.contains(&name) {
            return Err(invalid(format!(
                "invalid {field}: capability not supported by your kernel or not available in the current environment: {name:?}"
            )));
        }
        out.push(name);
    }
    Ok(out)
}

/// The container's capabilities (moby `TweakCapabilities`), limited to what
/// the host can grant.
fn effective_caps(o: &SecurityOptions, host: &[String]) -> Result<Vec<String>, ContainerError> {
    if o.privileged {
        return Ok(host.to_vec());
    }
    let defaults: Vec<String> = super::oci_defaults::capabilities()
        .iter()
        .map(ToString::to_string)
        .map(|c| {
            if c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            }
        })
        .collect();
    let add = normalize_caps(&o.cap_add, "CapAdd", host, true)?;
    let drop = normalize_caps(&o.cap_drop, "CapDrop", host, false)?;
    let all = "ALL".to_owned();
    let mut caps: Vec<String> = if add.contains(&all) {
        host.iter().filter(|c| !drop.contains(c)).cloned().collect()
    } else if drop.contains(&all) {
        add
    } else {
        let mut kept: Vec<String> = defaults
            .into_iter()
            .filter(|c| !drop.contains(c) && host.contains(c))
            .collect();
        kept.extend(add);
        kept
    };
    let mut seen = BTreeSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

/// A namespace mode: `""`, `host`, or `container:<name>`.
fn joined_container(mode: &str) -> Option<&str> {
    mode.strip_prefix("container:")
}

impl SecurityOptions {
    /// dockerd's checks at create: capability names, security options,
    /// namespace modes and their conflicts, tmpfs mount points, sizes.
    /// `hostname_given`: the caller set `Config.Hostname`.
    pub(crate) fn check(&self, hostname_given: bool) -> Result<(), ContainerError> {
        let host = host_capabilities();
        let caps = effective_caps(self, &host)?;
        let opts = parse_security_opts(&self.security_opt)?;
        if let Seccomp::Profile(json) = &opts.seccomp {
            let caps: BTreeSet<String> = caps.into_iter().collect();
            seccomp::resolve(json, &caps).map_err(invalid)?;
        }
        if let Some(profile) = opts.apparmor.as_deref()
            && profile != "unconfined"
            && apparmor_enabled()
        {
            return Err(invalid(format!(
                "berth cannot apply AppArmor profiles yet: remove --security-opt apparmor={profile} or use apparmor=unconfined"
            )));
        }
        match self.pid_mode.as_str() {
            "" | "host" => {}
            m if joined_container(m).is_some_and(|n| !n.is_empty()) => {}
            m => return Err(invalid(format!("invalid PID mode: {m}"))),
        }
        match self.ipc_mode.as_str() {
            "" | "none" | "private" | "shareable" | "host" => {}
            m if joined_container(m).is_some_and(|n| !n.is_empty()) => {}
            m => return Err(invalid(format!("invalid IPC mode: {m}"))),
        }
        match self.uts_mode.as_str() {
            "" => {}
            "host" if hostname_given => {
                return Err(invalid("conflicting options: hostname and the UTS mode"));
            }
            "host" => {}
            m => return Err(invalid(format!("invalid UTS mode: {m}"))),
        }
        if self.shm_size < 0 {
            return Err(invalid("SHM size can not be less than 0"));
        }
        for (dest, options) in &self.tmpfs {
            check_tmpfs_destination(dest)?;
            tmpfs_options(options)?;
        }
        Ok(())
    }

    /// The IPC mode inspect shows: dockerd's default is `private`.
    pub fn ipc_mode_or_default(&self) -> &str {
        if self.ipc_mode.is_empty() {
            "private"
        } else {
            &self.ipc_mode
        }
    }

    /// The `/dev/shm` size inspect shows (64 MiB unless set).
    pub fn shm_size_or_default(&self) -> i64 {
        if self.shm_size == 0 {
            DEFAULT_SHM_SIZE
        } else {
            self.shm_size
        }
    }

    /// The AppArmor profile asked for (inspect's `AppArmorProfile`).
    pub fn apparmor_profile(&self) -> String {
        parse_security_opts(&self.security_opt)
            .ok()
            .and_then(|o| o.apparmor)
            .unwrap_or_default()
    }

    fn shareable_ipc(&self) -> bool {
        self.ipc_mode == "shareable"
    }
}

fn apparmor_enabled() -> bool {
    fs_err::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.trim() == "Y")
}

/// moby `ValidateTmpfsMountDestination`.
fn check_tmpfs_destination(dest: &str) -> Result<(), ContainerError> {
    if dest == "/" {
        return Err(invalid("invalid specification: destination can't be '/'"));
    }
    if !dest.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount path: '{dest}' mount path must be absolute"
        )));
    }
    Ok(())
}

/// Flags a tmpfs mount accepts (moby `pkg/mount` flags), each with the
/// flag it cancels.
const TMPFS_FLAGS: &[(&str, &str)] = &[
    ("ro", "rw"),
    ("rw", "ro"),
    ("suid", "nosuid"),
    ("nosuid", "suid"),
    ("dev", "nodev"),
    ("nodev", "dev"),
    ("exec", "noexec"),
    ("noexec", "exec"),
    ("sync", "async"),
    ("async", "sync"),
    ("dirsync", ""),
    ("mand", "nomand"),
    ("nomand", "mand"),
    ("atime", "noatime"),
    ("noatime", "atime"),
    ("diratime", "nodiratime"),
    ("nodiratime", "diratime"),
    ("relatime", "norelatime"),
    ("norelatime", "relatime"),
    ("strictatime", "nostrictatime"),
    ("nostrictatime", "strictatime"),
    ("private", ""),
    ("rprivate", ""),
    ("shared", ""),
    ("rshared", ""),
    ("slave", ""),
    ("rslave", ""),
    ("unbindable", ""),
    ("runbindable", ""),
    ("defaults", ""),
];

/// A `--tmpfs` mount's options after docker's defaults (`noexec`,
/// `nosuid`, `nodev`, `rprivate`) merged with the user's (moby
/// `MergeTmpfsOptions`: a later flag cancels its opposite, a later
/// `key=value` replaces an earlier one). `size=` takes docker's units.
pub(crate) fn tmpfs_options(given: &str) -> Result<Vec<String>, ContainerError> {
    let mut out: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for opt in given.split(',').filter(|o| !o.is_empty()) {
        if let Some((key, value)) = opt.split_once('=') {
            let value = match key {
                "size" => ram_in_bytes(value)
                    .map_err(|_| invalid(format!("invalid tmpfs option {opt:?}: invalid size")))?
                    .to_string(),
                "mode" => {
                    u32::from_str_radix(value, 8).map_err(|_| {
                        invalid(format!("invalid tmpfs option {opt:?}: mode must be octal"))
                    })?;
                    value.to_owned()
                }
                "uid" | "gid" | "nr_inodes" | "nr_blocks" => {
                    value
                        .parse::<u64>()
                        .map_err(|_| invalid(format!("invalid tmpfs option {opt:?}")))?;
                    value.to_owned()
                }
                "mpol" => value.to_owned(),
                _ => return Err(invalid(format!("invalid tmpfs option {opt:?}"))),
            };
            out.retain(|o| !o.starts_with(&format!("{key}=")));
            out.push(format!("{key}={value}"));
            continue;
        }
        let Some((_, opposite)) = TMPFS_FLAGS.iter().find(|(f, _)| *f == opt) else {
            return Err(invalid(format!("invalid tmpfs option {opt:?}")));
        };
        if opt == "defaults" {
            continue;
        }
        out.retain(|o| o != opt && o != opposite);
        out.push(opt.to_owned());
    }
    Ok(out)
}

/// docker's `units.RAMInBytes`: `64m`, `1g`, `512k`, `100` (bytes), binary
/// multiples, an optional `b`/`ib` suffix.
pub fn ram_in_bytes(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{text}'");
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower)
        .trim_end()
        .to_owned();
    let (num, mult) = match lower.chars().last() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            let shift = match c {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                _ => 50,
            };
            (lower[..lower.len() - 1].trim_end(), 1u64 << shift)
        }
        _ => (lower.as_str(), 1),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    #[allow(
        clippy::cast_possible_truncation,
        reason = "checked to be in range; docker truncates fractions too"
    )]
    Ok(bytes as i64)
}

/// What the spec needs from outside the container itself: namespaces of
/// other containers it joins and where shareable `/dev/shm`s live. Only
/// known at start.
#[derive(Debug, Clone, Default)]
pub(crate) struct Joins {
    /// `--pid=container:X`: X's init pid.
    pub pid: Option<i32>,
    /// `--ipc=container:X`: X's init pid and its shm directory.
    pub ipc: Option<(i32, PathBuf)>,
    /// This container's own shareable shm directory (host side).
    pub shm_dir: PathBuf,
}

/// The shm directory of a container with `--ipc=shareable` (a tmpfs
/// mounted there while it runs).
pub(crate) fn shm_dir(exec_dir: &Path) -> PathBuf {
    exec_dir.join("shm")
}

/// Resolves the containers `c` joins (at start): they must exist and run,
/// and an IPC donor must be shareable. dockerd's messages.
pub(crate) fn joins(
    table: &BTreeMap<String, Container>,
    c: &Container,
    exec_dir_of: impl Fn(&str) -> PathBuf,
) -> Result<Joins, ContainerError> {
    let o = &c.options.security;
    let mut out = Joins {
        shm_dir: shm_dir(&exec_dir_of(&c.id)),
        ..Joins::default()
    };
    if let Some(name) = joined_container(&o.pid_mode) {
        let donor = super::resolve(table, name).map_err(|e| {
            invalid(format!(
                "cannot join PID of a non running container: {name}: {e}"
            ))
        })?;
        if donor.state.status != super::Status::Running || donor.state.pid <= 0 {
            return Err(ContainerError::Conflict {
                message: format!("container {} is not running", donor.id),
            });
        }
        out.pid = Some(donor.state.pid);
    }
    if let Some(name) = joined_container(&o.ipc_mode) {
        let what = format!("cannot join IPC of container {name}");
        let donor = super::resolve(table, name).map_err(|e| invalid(format!("{what}: {e}")))?;
        if donor.state.status != super::Status::Running || donor.state.pid <= 0 {
            return Err(ContainerError::Conflict {
                message: format!("{what}: container {} is not running", donor.id),
            });
        }
        let shm = match donor.options.security.ipc_mode.as_str() {
            "shareable" => shm_dir(&exec_dir_of(&donor.id)),
            "host" => PathBuf::from("/dev/shm"),
            _ => {
                return Err(invalid(format!(
                    "{what}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                )));
            }
        };
        out.ipc = Some((donor.state.pid, shm));
    }
    Ok(out)
}

/// Mounts the tmpfs of a `--ipc=shareable` container's `/dev/shm` on the
/// host (at start), so containers joining its IPC namespace can bind the
/// same one.
pub(crate) fn mount_shm(c: &Container, exec_dir: &Path) -> Result<(), ContainerError> {
    let o = &c.options.security;
    if !o.shareable_ipc() {
        return Ok(());
    }
    use nix::mount::{MsFlags, mount};
    let dir = shm_dir(exec_dir);
    release_shm(exec_dir);
    fs_err::create_dir_all(&dir).map_err(|e| super::store::io(&dir, e))?;
    let data = format!("mode=1777,size={}", o.shm_size_or_default());
    mount(
        Some("shm"),
        &dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(data.as_str()),
    )
    .map_err(|e| ContainerError::Io {
        path: dir.clone(),
        source: std::io::Error::from(e),
    })
}

/// Unmounts a shareable `/dev/shm` (at exit, or before mounting anew).
pub(crate) fn release_shm(exec_dir: &Path) {
    use nix::mount::{MntFlags, umount2};
    let dir = shm_dir(exec_dir);
    while umount2(&dir, MntFlags::MNT_DETACH).is_ok() {}
}

/// Changes Docker's default spec (`value`, as `spec::build` made it) for
/// `c`'s security options. `uid`/`gid` are the resolved user; the rootfs
/// must be mounted for group names to resolve.
pub(crate) fn apply(
    c: &Container,
    value: &mut Value,
    rootfs: &Path,
    rootfs_mounted: bool,
    joins: &Joins,
    uid: u32,
) -> Result<(), ContainerError> {
    let o = &c.options.security;
    let host = host_capabilities();
    let caps = effective_caps(o, &host)?;
    let opts = parse_security_opts(&o.security_opt)?;
    let process = &mut value["process"];
    process["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    if opts.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if rootfs_mounted {
        let gids = additional_gids(rootfs, &c.process.user, uid, &o.group_add)?;
        if !gids.is_empty() {
            process["user"]["additionalGids"] = json!(gids);
        }
    }
    let cap_set: BTreeSet<String> = caps.iter().cloned().collect();
    let linux = &mut value["linux"];
    match (&opts.seccomp, o.privileged) {
        (Seccomp::Unconfined, _) | (_, true) => {
            if let Some(l) = linux.as_object_mut() {
                l.remove("seccomp");
            }
        }
        (Seccomp::Profile(json), false) => {
            linux["seccomp"] = seccomp::resolve(json, &cap_set).map_err(invalid)?;
        }
        (Seccomp::Default, false) => seccomp::adjust_default(&mut linux["seccomp"], &cap_set),
    }
    if o.privileged {
        linux["maskedPaths"] = json!([]);
        linux["readonlyPaths"] = json!([]);
        linux["devices"] = json!(host_devices());
        linux["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    }
    // Namespaces: `host` leaves the host's, `container:X` joins X's.
    let ns_path = |pid: i32, kind: &str| format!("/proc/{pid}/ns/{kind}");
    let mut ns_rules: Vec<(&str, Option<Option<String>>)> = Vec::new();
    match (o.pid_mode.as_str(), joins.pid) {
        ("host", _) => ns_rules.push(("pid", None)),
        (_, Some(pid)) => ns_rules.push(("pid", Some(Some(ns_path(pid, "pid"))))),
        _ => {}
    }
    match (o.ipc_mode.as_str(), &joins.ipc) {
        ("host", _) => ns_rules.push(("ipc", None)),
        (_, Some((pid, _))) => ns_rules.push(("ipc", Some(Some(ns_path(*pid, "ipc"))))),
        _ => {}
    }
    if o.uts_mode == "host" {
        ns_rules.push(("uts", None));
        if let Some(v) = value.as_object_mut() {
            v.remove("hostname");
        }
    } else if !o.domainname.is_empty() {
        value["domainname"] = json!(o.domainname);
    }
    if let Some(list) = value["linux"]["namespaces"].as_array_mut() {
        for (kind, rule) in ns_rules {
            match rule {
                None => list.retain(|n| n["type"] != kind),
                Some(path) => {
                    for n in list.iter_mut().filter(|n| n["type"] == kind) {
                        n["path"] = json!(path);
                    }
                }
            }
        }
    }
    // Mounts: writable /sys and cgroups when privileged, /dev/shm by IPC
    // mode and size, then the --tmpfs mounts (replacing any default at
    // the same place).
    let shm_size = o.shm_size_or_default();
    let shm: Option<Value> = match o.ipc_mode.as_str() {
        "none" => None,
        "host" => Some(
            json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
            "options": ["rbind", "nosuid", "noexec", "nodev"]}),
        ),
        "shareable" => Some(json!({"destination": "/dev/shm", "type": "bind",
            "source": joins.shm_dir, "options": ["rbind", "nosuid", "noexec", "nodev"]})),
        _ => match &joins.ipc {
            Some((_, dir)) => Some(json!({"destination": "/dev/shm", "type": "bind",
                "source": dir, "options": ["rbind", "nosuid", "noexec", "nodev"]})),
            None => Some(
                json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
            ),
        },
    };
    let mut tmpfs = Vec::new();
    for (dest, options) in &o.tmpfs {
        check_tmpfs_destination(dest)?;
        tmpfs.push(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
            "options": tmpfs_options(options)?}),
        );
    }
    if let Some(mounts) = value["mounts"].as_array_mut() {
        mounts.retain(|m| m["destination"] != "/dev/shm");
        if o.privileged {
            for m in mounts.iter_mut() {
                if (m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup")
                    && let Some(opts) = m["options"].as_array_mut()
                {
                    opts.retain(|x| x != "ro");
                    opts.push(json!("rw"));
                }
            }
        }
        mounts.extend(shm);
        let replaced: Vec<Value> = tmpfs.iter().map(|t| t["destination"].clone()).collect();
        mounts.retain(|m| !replaced.contains(&m["destination"]));
        mounts.extend(tmpfs);
    }
    if o.readonly_rootfs {
        value["root"]["readonly"] = json!(true);
    }
    Ok(())
}

/// The supplementary groups: those of `/etc/group` that list the user by
/// name, then `--group-add` (names resolved in `/etc/group`, or ids), as
/// dockerd does (`GetExecUser`, `GetAdditionalGroupsPath`).
fn additional_gids(
    rootfs: &Path,
    user: &str,
    uid: u32,
    group_add: &[String],
) -> Result<Vec<u32>, ContainerError> {
    let passwd = fs_err::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = fs_err::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let user_part = user.split_once(':').map_or(user, |(u, _)| u);
    // The user's name: as given, or the passwd entry of the uid.
    let name = if user_part.parse::<u32>().is_err() && !user_part.is_empty() {
        Some(user_part.to_owned())
    } else {
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && f[2].parse::<u32>().ok() == Some(uid))
            .map(|f| f[0].to_owned())
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    let mut out = Vec::new();
    // An explicit group (`user:group`) replaces the memberships, as in docker.
    if let Some(name) = name.filter(|_| !user.contains(':')) {
        for f in &groups {
            let members = f.get(3).copied().unwrap_or("");
            if members.split(',').any(|m| m.trim() == name)
                && let Ok(gid) = f[2].parse::<u32>()
            {
                out.push(gid);
            }
        }
    }
    for g in group_add {
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "Unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
        out.push(gid);
    }
    let mut seen = BTreeSet::new();
    out.retain(|g| seen.insert(*g));
    Ok(out)
}

/// Every device node under the host's `/dev` for a privileged container
/// (runc `devices.HostDevices`: not under `pts`, `shm`, `fd`, `mqueue`,
/// and not `console` or `ptmx`, which the runtime makes itself).
fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    walk_devices(Path::new("/dev"), &mut out, 0);
    out
}

fn walk_devices(dir: &Path, out: &mut Vec<Value>, depth: usize) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if depth > 8 {
        return;
    }
    let Ok(entries) = fs_err::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if depth == 0
                && matches!(
                    name.as_ref(),
                    "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
                )
            {
                continue;
            }
            walk_devices(&path, out, depth + 1);
            continue;
        }
        if depth == 0 && matches!(name.as_ref(), "console" | "ptmx") {
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        let rdev = meta.rdev();
        out.push(json!({
            "path": path,
            "type": kind,
            "major": nix::sys::stat::major(rdev),
            "minor": nix::sys::stat::minor(rdev),
            "fileMode": meta.mode() & 0o7777,
            "uid": meta.uid(),
            "gid": meta.gid(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SecurityOptions {
        SecurityOptions::default()
    }

    #[test]
    fn capabilities_as_moby_tweaks_them() {
        let host = caps_in_mask(0x1ff_feff_ffff); // all but SYS_RESOURCE
        assert_eq!(host.len(), 40);
        let caps = |add: &[&str], drop: &[&str], privileged: bool| {
            let o = SecurityOptions {
                cap_add: add.iter().map(|s| (*s).to_owned()).collect(),
                cap_drop: drop.iter().map(|s| (*s).to_owned()).collect(),
                privileged,
                ..opts()
            };
            effective_caps(&o, &host)
        };
        assert_eq!(caps(&[], &[], false).unwrap().len(), 14);
        let c = caps(
            &["net_admin", "CAP_SYS_ADMIN"],
            &["chown", "CAP_KILL"],
            false,
        )
        .unwrap();
        assert_eq!(c.len(), 14);
        assert!(c.contains(&"CAP_NET_ADMIN".into()) && !c.contains(&"CAP_KILL".into()));
        assert_eq!(caps(&["KILL"], &["ALL"], false).unwrap(), ["CAP_KILL"]);
        let all = caps(&["ALL"], &["MKNOD"], false).unwrap();
        assert_eq!(all.len(), 39);
        assert_eq!(caps(&[], &[], true).unwrap(), host);
        assert_eq!(
            caps(&["CAP_FOO"], &[], false).unwrap_err().to_string(),
            "invalid CapAdd: unknown capability: \"CAP_FOO\""
        );
        assert!(
            caps(&["sys_resource"], &[], false)
                .unwrap_err()
                .to_string()
                .contains("not available in the current environment: \"CAP_SYS_RESOURCE\"")
        );
        assert_eq!(
            caps(&[], &["bogus"], false).unwrap_err().to_string(),
            "invalid CapDrop: unknown capability: \"CAP_BOGUS\""
        );
    }

    #[test]
    fn security_opts_as_dockerd_parses_them() {
        let p = |list: &[&str]| {
            parse_security_opts(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        };
        assert!(p(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(!p(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert_eq!(
            p(&["seccomp=unconfined"]).unwrap().seccomp,
            Seccomp::Unconfined
        );
        assert_eq!(
            p(&["apparmor=docker-default"]).unwrap().apparmor.as_deref(),
            Some("docker-default")
        );
        assert!(p(&["label=type:svirt_t"]).is_ok());
        assert_eq!(
            p(&["bogus"]).unwrap_err().to_string(),
            "invalid --security-opt 1: \"bogus\""
        );
        assert_eq!(
            p(&["no-new-privileges=maybe"]).unwrap_err().to_string(),
            "invalid --security-opt 2: \"no-new-privileges=maybe\""
        );
        assert_eq!(
            p(&["foo=bar"]).unwrap_err().to_string(),
            "invalid --security-opt 2: \"foo=bar\""
        );
    }

    #[test]
    fn modes_and_conflicts() {
        let check =
            |o: SecurityOptions, hostname: bool| o.check(hostname).map_err(|e| e.to_string());
        assert!(check(opts(), true).is_ok());
        let uts = SecurityOptions {
            uts_mode: "host".into(),
            ..opts()
        };
        assert_eq!(
            check(uts.clone(), true).unwrap_err(),
            "conflicting options: hostname and the UTS mode"
        );
        assert!(check(uts, false).is_ok());
        for (o, err) in [
            (
                SecurityOptions {
                    pid_mode: "bogus".into(),
                    ..opts()
                },
                "invalid PID mode: bogus",
            ),
            (
                SecurityOptions {
                    pid_mode: "container:".into(),
                    ..opts()
                },
                "invalid PID mode: container:",
            ),
            (
                SecurityOptions {
                    ipc_mode: "weird".into(),
                    ..opts()
                },
                "invalid IPC mode: weird",
            ),
            (
                SecurityOptions {
                    uts_mode: "private".into(),
                    ..opts()
                },
                "invalid UTS mode: private",
            ),
            (
                SecurityOptions {
                    shm_size: -1,
                    ..opts()
                },
                "SHM size can not be less than 0",
            ),
        ] {
            assert_eq!(check(o, false).unwrap_err(), err);
        }
        let tmpfs = |dest: &str, o: &str| SecurityOptions {
            tmpfs: [(dest.to_owned(), o.to_owned())].into(),
            ..opts()
        };
        assert_eq!(
            check(tmpfs("run", ""), false).unwrap_err(),
            "invalid mount path: 'run' mount path must be absolute"
        );
        assert_eq!(
            check(tmpfs("/", ""), false).unwrap_err(),
            "invalid specification: destination can't be '/'"
        );
        assert_eq!(
            check(tmpfs("/run", "bogus"), false).unwrap_err(),
            "invalid tmpfs option \"bogus\""
        );
        assert!(check(tmpfs("/run", "size=12x"), false).is_err());
        assert!(check(tmpfs("/run", "size=64m,mode=1777,exec"), false).is_ok());
    }

    #[test]
    fn tmpfs_options_merge_over_docker_defaults() {
        assert_eq!(
            tmpfs_options("").unwrap(),
            ["noexec", "nosuid", "nodev", "rprivate"]
        );
        assert_eq!(
            tmpfs_options("exec,size=1m,mode=700,size=2k").unwrap(),
            [
                "nosuid",
                "nodev",
                "rprivate",
                "exec",
                "mode=700",
                "size=2048"
            ]
        );
    }

    #[test]
    fn sizes_in_docker_units() {
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1.5k"), Ok(1536));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("10MB"), Ok(10 << 20));
        assert_eq!(ram_in_bytes("2 GiB"), Ok(2 << 30));
        assert_eq!(ram_in_bytes("12x"), Err("invalid size: '12x'".into()));
        assert!(ram_in_bytes("").is_err());
        assert!(ram_in_bytes("-1").is_err());
    }

    #[test]
    fn group_memberships_and_additions() {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(tmp.path().join("etc")).unwrap();
        fs_err::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        fs_err::write(
            tmp.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root,alice\naudio:x:29:alice\nalice:x:1000:\n",
        )
        .unwrap();
        let g = |user: &str, uid: u32, add: &[&str]| {
            additional_gids(
                tmp.path(),
                user,
                uid,
                &add.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(g("", 0, &[]).unwrap(), [10]);
        assert_eq!(
            g("alice", 1000, &["audio", "4242"]).unwrap(),
            [10, 29, 4242]
        );
        assert_eq!(g("1000", 1000, &[]).unwrap(), [10, 29]);
        assert_eq!(g("alice:alice", 1000, &["wheel"]).unwrap(), [10]);
        assert_eq!(
            g("", 0, &["ghosts"]).unwrap_err().to_string(),
            "Unable to find group ghosts: no matching entries in group file"
        );
    }
}
