//! The OCI runtime spec (`config.json`) of a container, with Docker's
//! defaults for a non-privileged container.

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use super::ContainerError;
use super::model::Container;
use super::oci_defaults;

/// Everything about the host and the engine that shapes the spec.
#[derive(Debug, Clone)]
pub(crate) struct SpecContext<'a> {
    /// The mounted root file system (absolute).
    pub rootfs: &'a Path,
    /// `linux.cgroupsPath`: `<cgroup parent>/<id>`.
    pub cgroups_path: String,
    /// Docker adds a cgroup namespace only on cgroup v2.
    pub cgroup_v2: bool,
    /// The rootfs is mounted, so user names can be resolved (at create it
    /// is not: names are resolved again at start, and fail there).
    pub rootfs_mounted: bool,
    /// Namespaces and shm of other containers this one joins (at start).
    pub joins: super::security::Joins,
    /// The host's `berth-init`, when the container runs under it (`--init`).
    pub init: Option<std::path::PathBuf>,
    /// The network namespace: fresh, the host's or one at a path.
    pub network: super::datapath::SpecNetns,
    /// Where the container's resolv.conf, hosts and hostname files are
    /// (bound at `/etc/...` when they exist).
    pub net_files_dir: Option<std::path::PathBuf>,
}

/// Builds the spec. `rootfs` must be mounted when a user name is to be
/// resolved through its `/etc/passwd`.
pub(crate) fn build(c: &Container, ctx: &SpecContext<'_>) -> Result<Spec, ContainerError> {
    let p = &c.process;
    // dockerd creates a missing working directory at start
    // (`SetupWorkingDirectory`); the runtime only enters it.
    if ctx.rootfs_mounted && !p.working_dir.is_empty() {
        ensure_dir_in_root(ctx.rootfs, &p.working_dir)?;
    }
    let (uid, gid) = match resolve_user(ctx.rootfs, &p.user) {
        Ok(ids) => ids,
        Err(_) if !ctx.rootfs_mounted => (0, 0),
        Err(e) => return Err(e),
    };
    let caps: Vec<Value> = oci_defaults::capabilities()
        .iter()
        .map(|c| json!(c.to_string()))
        .collect();
    let mut namespaces = vec![json!({"type": "pid"})];
    namespaces.extend(ctx.network.entry());
    namespaces.extend([
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ]);
    if ctx.cgroup_v2 {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let seccomp: Value = serde_json::from_str(oci_defaults::SECCOMP_PROFILE_JSON)
        .map_err(|e| internal(format!("the default seccomp profile: {e}")))?;
    let devices = serde_json::to_value(oci_defaults::device_cgroup_rules())
        .map_err(|e| internal(e.to_string()))?;
    let cwd = if p.working_dir.is_empty() {
        "/"
    } else {
        p.working_dir.as_str()
    };
    let mut value = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": p.tty,
            "user": {"uid": uid, "gid": gid},
            "args": p.args,
            "env": p.env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        },
        "root": {"path": ctx.rootfs, "readonly": false},
        "hostname": p.hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        ],
        "linux": {
            "cgroupsPath": ctx.cgroups_path,
            "resources": {"devices": devices},
            "namespaces": namespaces,
            "maskedPaths": oci_defaults::MASKED_PATHS,
            "readonlyPaths": oci_defaults::READONLY_PATHS,
            "seccomp": seccomp,
        },
    });
    c.options.resources.apply_to_spec(&mut value)?;
    // The client's terminal size from the start (docker's
    // `HostConfig.ConsoleSize`), so a program that looks at once does not
    // see 0x0 before the first resize arrives.
    if let (true, Some([height, width])) = (p.tty, c.options.console_size) {
        value["process"]["consoleSize"] = json!({"height": height, "width": width});
    }
    super::security::apply(
        c,
        &mut value,
        ctx.rootfs,
        ctx.rootfs_mounted,
        &ctx.joins,
        uid,
    )?;
    let tmpfs_dests: Vec<String> = c.options.security.tmpfs.keys().cloned().collect();
    super::mounts::spec_mounts(
        &mut value,
        &c.mount_points,
        &tmpfs_dests,
        super::subpath::exec_dir_of_rootfs(ctx.rootfs),
    )?;
    if let Some(init) = &ctx.init {
        super::init::apply(&mut value, init);
    }
    // Last, so a user's mount at one of these paths is seen and kept.
    if let Some(dir) = &ctx.net_files_dir {
        super::networking::add_resolution_mounts(
            &mut value,
            dir,
            c.options.security.readonly_rootfs,
        );
    }
    serde_json::from_value(value).map_err(|e| internal(format!("container spec: {e}")))
}

fn internal(message: String) -> ContainerError {
    ContainerError::Internal { message }
}

/// Makes directory `path` (and missing parents, 0755, owned by root)
/// inside `rootfs`, resolving every component as if `rootfs` were `/`:
/// a symlink in the image cannot lead outside it (`openat2` with
/// `RESOLVE_IN_ROOT`, each new directory made relative to its resolved
/// parent).
pub(crate) fn ensure_dir_in_root(rootfs: &Path, path: &str) -> Result<(), ContainerError> {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
    use nix::sys::stat::{Mode, mkdirat};

    let how = || {
        OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
    };
    let fail = |e: Errno| ContainerError::Io {
        path: rootfs.join(path.trim_start_matches('/')),
        source: std::io::Error::from(e),
    };
    let root = open(
        rootfs,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail)?;
    let comps: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.is_empty() {
        return Ok(());
    }
    match openat2(&root, comps.join("/").as_str(), how()) {
        Err(Errno::ENOENT) => {}
        other => return other.map(drop).map_err(fail),
    }
    let mut cur = openat2(&root, ".", how()).map_err(fail)?;
    for i in 0..comps.len() {
        let prefix = comps[..=i].join("/");
        cur = match openat2(&root, prefix.as_str(), how()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                // `cur` is the in-root resolution of the parent and the
                // name a single component: mkdirat cannot escape.
                match mkdirat(&cur, comps[i], Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(fail(e)),
                }
                openat2(&root, prefix.as_str(), how()).map_err(fail)?
            }
            Err(e) => return Err(fail(e)),
        };
    }
    Ok(())
}

/// `uid[:gid]` or `name[:group]` -> numeric ids; names are looked up in the
/// container's `/etc/passwd` and `/etc/group`. A user without a group takes
/// its primary group from `/etc/passwd` (0 for a bare number not listed).
pub(crate) fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32), ContainerError> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = fs_err::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    // name:x:uid:gid:...
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let found = entries
        .iter()
        .find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => found.and_then(|f| f[2].parse().ok()).ok_or_else(|| {
            ContainerError::InvalidArgument {
                message: format!("unable to find user {u}: no matching entries in passwd file"),
            }
        })?,
    };
    let gid = match g {
        None => found.and_then(|f| f[3].parse().ok()).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let group = fs_err::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
                group
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| ContainerError::InvalidArgument {
                        message: format!(
                            "unable to find group {g}: no matching entries in group file"
                        ),
                    })?
            }
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::container::model::{CreateOptions, Process, State};

    fn container() -> Container {
        Container {
            id: "a".repeat(64),
            name: "x".into(),
            created: String::new(),
            image: "sha256:00".into(),
            image_ref: "busybox".into(),
            options: CreateOptions::default(),
            process: Process {
                args: vec!["echo".into(), "hi".into()],
                env: vec!["PATH=/bin".into()],
                working_dir: String::new(),
                user: String::new(),
                hostname: "aaaaaaaaaaaa".into(),
                tty: false,
                open_stdin: false,
            },
            labels: BTreeMap::new(),
            stop_signal: None,
            state: State::default(),
            restart: Default::default(),
            mount_points: Vec::new(),
            exits: 0,
            health: None,
            busy: false,
            published_ports: Default::default(),
        }
    }

    #[test]
    fn spec_has_docker_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = SpecContext {
            rootfs: tmp.path(),
            cgroups_path: "/berth/x".into(),
            cgroup_v2: false,
            rootfs_mounted: true,
            joins: Default::default(),
            init: None,
            network: Default::default(),
            net_files_dir: None,
        };
        let spec = build(&container(), &ctx).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["process"]["args"], json!(["echo", "hi"]));
        assert_eq!(v["process"]["cwd"], "/");
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(v["root"]["path"], json!(tmp.path()));
        assert_eq!(v["linux"]["cgroupsPath"], "/berth/x");
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(v["linux"]["maskedPaths"].as_array().unwrap().len(), 12);
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["mounts"].as_array().unwrap().len(), 7);

        let v2 = build(
            &container(),
            &SpecContext {
                cgroup_v2: true,
                ..ctx
            },
        )
        .unwrap();
        let v2 = serde_json::to_value(&v2).unwrap();
        assert_eq!(v2["linux"]["namespaces"][5]["type"], "cgroup");
    }

    #[test]
    fn working_dirs_are_made_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs_err::create_dir_all(root.join("etc")).unwrap();
        fs_err::create_dir_all(&outside).unwrap();
        // Absolute and relative links that point out of the root.
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", root.join("etc/rel")).unwrap();
        ensure_dir_in_root(&root, "/work/a/b").unwrap();
        assert!(root.join("work/a/b").is_dir());
        // Links that dangle inside the root are refused, never followed out.
        assert!(ensure_dir_in_root(&root, "/abs/x").is_err());
        assert!(ensure_dir_in_root(&root, "/etc/rel/y").is_err());
        ensure_dir_in_root(&root, "/../../z").unwrap();
        assert_eq!(fs_err::read_dir(&outside).unwrap().count(), 0);
        assert!(!tmp.path().join("z").exists());
        assert!(root.join("z").is_dir());
        // A link that resolves inside the root is followed there.
        std::os::unix::fs::symlink("/work", root.join("w")).unwrap();
        ensure_dir_in_root(&root, "/w/c").unwrap();
        assert!(root.join("work/c").is_dir());
        ensure_dir_in_root(&root, "/work/a/b").unwrap();
        fs_err::write(root.join("file"), b"").unwrap();
        assert!(ensure_dir_in_root(&root, "/file/sub").is_err());
    }

    #[test]
    fn users_resolve_through_the_rootfs() {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(tmp.path().join("etc")).unwrap();
        fs_err::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65533::/:/bin/false\n",
        )
        .unwrap();
        fs_err::write(tmp.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let r = |u: &str| resolve_user(tmp.path(), u);
        assert_eq!(r("").unwrap(), (0, 0));
        assert_eq!(r("nobody").unwrap(), (65534, 65533));
        assert_eq!(r("65534").unwrap(), (65534, 65533));
        assert_eq!(r("1000").unwrap(), (1000, 0));
        assert_eq!(r("1000:50").unwrap(), (1000, 50));
        assert_eq!(r("nobody:staff").unwrap(), (65534, 50));
        assert!(r("ghost").is_err());
        assert!(r("root:ghost").is_err());
    }
}
