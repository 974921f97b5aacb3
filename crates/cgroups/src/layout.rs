//! Which cgroup hierarchies the host has and where they are mounted, read
//! from `/proc/self/mountinfo`.
//!
//! Three layouts exist in the wild (see systemd's "cgroup hierarchy" docs):
//! - **v1 ("legacy")**: one `cgroup` mount per controller or per group of
//!   co-mounted controllers (`cpu,cpuacct`), plus named hierarchies such as
//!   `name=systemd`.
//! - **hybrid**: v1 as above plus a `cgroup2` mount (usually
//!   `/sys/fs/cgroup/unified`) that systemd uses for process tracking and
//!   that holds few or no controllers. berth treats it as v1; crun refuses
//!   this layout, runc does not, and neither do we.
//! - **v2 ("unified")**: a single `cgroup2` mount holding every controller.
//!
//! A host is v1 as soon as one v1 hierarchy carries a real controller; a
//! host with only named v1 hierarchies and a cgroup2 mount is v2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Controllers the v1 code knows about (Documentation/admin-guide/cgroup-v1).
/// Mount options that are not controllers (`rw`, `nosuid`, `clone_children`,
/// `release_agent=...`) are filtered out by this list.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
    "debug",
];

/// The cgroup hierarchies of a host.
///
/// The mount points are parameters, so tests build a layout over a tempdir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupLayout {
    /// cgroup v1, with or without a hybrid cgroup2 mount.
    V1 {
        /// Controller (or named hierarchy, as `name=systemd`) to mount point.
        /// Co-mounted controllers (`cpu,cpuacct`) map to the same path.
        mounts: HashMap<String, PathBuf>,
        /// The hybrid layout's cgroup2 mount. Processes are also placed in
        /// the same path there (as runc does), on a best-effort basis.
        unified: Option<PathBuf>,
    },
    /// cgroup v2: one hierarchy.
    V2 {
        /// The cgroup2 mount point, normally `/sys/fs/cgroup`.
        root: PathBuf,
    },
}

impl CgroupLayout {
    /// Whether this is the unified (v2) layout.
    pub fn is_v2(&self) -> bool {
        matches!(self, Self::V2 { .. })
    }
}

/// Reads `/proc/self/mountinfo` and returns the host's layout.
pub fn detect() -> Result<CgroupLayout> {
    let path = Path::new("/proc/self/mountinfo");
    let content = crate::fsutil::read(path, "detect the cgroup layout")?;
    detect_from(&content).map_err(|e| match e {
        Error::NotMounted { .. } => Error::NotMounted {
            path: path.to_owned(),
        },
        other => other,
    })
}

/// Parses the content of a `mountinfo` file (proc(5)) into a layout.
pub fn detect_from(mountinfo: &str) -> Result<CgroupLayout> {
    // Controller -> (mount point, mount root is "/").
    let mut mounts: HashMap<String, (PathBuf, bool)> = HashMap::new();
    let mut has_v1_controller = false;
    let mut unified: Option<(PathBuf, bool)> = None;

    for line in mountinfo.lines() {
        let Some(mount) = parse_line(line) else {
            continue;
        };
        let at_root = mount.root == "/";
        match mount.fstype {
            "cgroup2" => {
                // Prefer a mount of the hierarchy root over a bind mount of
                // a subtree, and the first one seen otherwise.
                let better = match &unified {
                    None => true,
                    Some((_, prev_root)) => !prev_root && at_root,
                };
                if better {
                    unified = Some((mount.mount_point.clone(), at_root));
                }
            }
            "cgroup" => {
                for opt in mount.super_options.split(',') {
                    let is_controller = V1_CONTROLLERS.contains(&opt);
                    if !is_controller && !opt.starts_with("name=") {
                        continue;
                    }
                    has_v1_controller |= is_controller;
                    let better = match mounts.get(opt) {
                        None => true,
                        Some((_, prev_root)) => !prev_root && at_root,
                    };
                    if better {
                        mounts.insert(opt.to_owned(), (mount.mount_point.clone(), at_root));
                    }
                }
            }
            _ => {}
        }
    }

    let unified = unified.map(|(path, _)| path);
    if has_v1_controller {
        return Ok(CgroupLayout::V1 {
            mounts: mounts.into_iter().map(|(k, (p, _))| (k, p)).collect(),
            unified,
        });
    }
    match unified {
        Some(root) => Ok(CgroupLayout::V2 { root }),
        None => Err(Error::NotMounted {
            path: PathBuf::from("mountinfo"),
        }),
    }
}

struct Mount<'a> {
    root: String,
    mount_point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

/// One mountinfo line: `id parent maj:min root mount-point options
/// [optional fields...] - fstype source super-options`.
fn parse_line(line: &str) -> Option<Mount<'_>> {
    let (before, after) = line.split_once(" - ")?;
    let mut pre = before.split(' ');
    let root = pre.nth(3)?;
    let mount_point = pre.next()?;
    let mut post = after.split(' ');
    let fstype = post.next()?;
    let _source = post.next()?;
    let super_options = post.next().unwrap_or("");
    Some(Mount {
        root: unescape(root),
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype,
        super_options,
    })
}

/// Undoes the kernel's octal escaping of space, tab, newline and backslash
/// in mountinfo paths (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            let digits = std::str::from_utf8(oct).ok();
            if let Some(v) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's mountinfo (hybrid: separate cpu and cpuacct, a named
    /// systemd hierarchy and a cgroup2 mount with only hugetlb).
    const HYBRID: &str = "\
25 1 259:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_is_v1_with_unified() {
        let layout = detect_from(HYBRID).unwrap();
        let CgroupLayout::V1 { mounts, unified } = layout else {
            panic!("expected v1");
        };
        assert_eq!(unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(mounts["cpu"], PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(mounts["cpuacct"], PathBuf::from("/sys/fs/cgroup/cpuacct"));
        assert_eq!(
            mounts["name=systemd"],
            PathBuf::from("/sys/fs/cgroup/systemd")
        );
        assert_eq!(mounts.len(), 9);
        assert!(!mounts.contains_key("rw"));
    }

    #[test]
    fn comounted_controllers_share_a_path() {
        let info = "\
30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:12 - cgroup cgroup rw,net_cls,net_prio
32 25 0:28 / /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory,clone_children
";
        let CgroupLayout::V1 { mounts, unified } = detect_from(info).unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(unified, None);
        assert_eq!(mounts["cpu"], mounts["cpuacct"]);
        assert_eq!(mounts["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(
            mounts["net_prio"],
            PathBuf::from("/sys/fs/cgroup/net_cls,net_prio")
        );
        assert!(!mounts.contains_key("clone_children"));
    }

    #[test]
    fn pure_v2() {
        let info = "\
26 1 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
        assert_eq!(
            detect_from(info).unwrap(),
            CgroupLayout::V2 {
                root: PathBuf::from("/sys/fs/cgroup")
            }
        );
    }

    #[test]
    fn only_named_v1_hierarchy_plus_cgroup2_is_v2() {
        let info = "\
26 1 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
27 1 0:24 / /run/systemd-v1 rw - cgroup cgroup rw,name=systemd
";
        assert!(detect_from(info).unwrap().is_v2());
    }

    #[test]
    fn bind_mount_of_the_root_is_preferred() {
        let info = "\
50 1 0:23 /sub /mnt/sub rw - cgroup2 cgroup2 rw
51 1 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
";
        assert_eq!(
            detect_from(info).unwrap(),
            CgroupLayout::V2 {
                root: PathBuf::from("/sys/fs/cgroup")
            }
        );
    }

    #[test]
    fn escaped_mount_points() {
        let info = "60 1 0:23 / /tmp/with\\040space rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            detect_from(info).unwrap(),
            CgroupLayout::V2 {
                root: PathBuf::from("/tmp/with space")
            }
        );
    }

    #[test]
    fn nothing_mounted() {
        let err = detect_from("25 1 259:0 / / rw - ext4 /dev/vda rw\n").unwrap_err();
        assert!(matches!(err, Error::NotMounted { .. }));
    }

    #[test]
    fn detect_on_this_host_finds_something() {
        // Every Linux test host mounts cgroups somewhere.
        detect().unwrap();
    }
}
