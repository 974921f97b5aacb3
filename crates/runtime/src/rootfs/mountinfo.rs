//! Minimal parsers for `/proc/self/mountinfo` and `/proc/self/cgroup`.
//!
//! Only the fields the rootfs code needs: mount point, root, filesystem type,
//! propagation tags and super options (proc(5), "/proc/pid/mountinfo").

use std::path::PathBuf;

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MountInfo {
    /// Root of the mount within its filesystem (field 4).
    pub(super) root: PathBuf,
    /// Mount point relative to our root (field 5), unescaped.
    pub(super) mount_point: PathBuf,
    /// Optional fields such as `shared:1` or `master:2`.
    pub(super) optional: Vec<String>,
    /// Filesystem type (`cgroup`, `proc`, ...).
    pub(super) fstype: String,
    /// Per-superblock options (`rw,cpu,cpuacct`).
    pub(super) super_options: String,
}

impl MountInfo {
    /// Whether the mount is in a shared peer group.
    pub(super) fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }
}

/// Undoes the kernel's octal escaping of space, tab, newline and backslash
/// in mountinfo paths (`\040` for a space).
pub(super) fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = bytes[i + 1..i + 4]
                .iter()
                .fold(0u16, |acc, b| acc * 8 + u16::from(b - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the whole text of a mountinfo file; malformed lines are skipped.
pub(super) fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    if pre.len() < 6 {
        return None;
    }
    let mut post = post.split(' ');
    let fstype = post.next()?.to_owned();
    let _source = post.next()?;
    let super_options = post.next().unwrap_or("").to_owned();
    Some(MountInfo {
        root: PathBuf::from(unescape(pre[3])),
        mount_point: PathBuf::from(unescape(pre[4])),
        optional: pre[6..].iter().map(|s| (*s).to_owned()).collect(),
        fstype,
        super_options,
    })
}

/// The mount that contains `path`: the entry with the longest mount point
/// that is a prefix of it (the last one wins when mounts are stacked).
pub(super) fn containing_mount<'a>(
    mounts: &'a [MountInfo],
    path: &std::path::Path,
) -> Option<&'a MountInfo> {
    let mut best: Option<&MountInfo> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point) {
            let longer = best
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len());
            if longer {
                best = Some(m);
            }
        }
    }
    best
}

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CgroupLine {
    /// Controllers (`cpu`, `cpuacct`, `name=systemd`); empty for cgroup v2.
    pub(super) controllers: Vec<String>,
    /// The process's cgroup path in that hierarchy.
    pub(super) path: PathBuf,
}

/// Parses `/proc/self/cgroup`.
pub(super) fn parse_proc_cgroup(text: &str) -> Vec<CgroupLine> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(CgroupLine {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// The controllers a v1 cgroup mount carries, from its super options
/// (`rw,cpu,cpuacct` -> `cpu`, `cpuacct`; `rw,name=systemd` -> `name=systemd`).
/// Generic options like `rw`, `ro`, `xattr` or `release_agent=` are dropped.
pub(super) fn v1_controllers(super_options: &str) -> Vec<String> {
    super_options
        .split(',')
        .filter(|o| {
            !o.is_empty()
                && !matches!(*o, "rw" | "ro" | "xattr" | "noprefix" | "clone_children")
                && !o.starts_with("release_agent=")
                && !o.starts_with("cpuset_v2_mode")
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 /user.slice /sys/fs/cgroup/systemd rw,relatime master:3 - cgroup cgroup rw,xattr,name=systemd
50 27 0:40 / /tmp/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 6);
        assert_eq!(m[1].mount_point, Path::new("/"));
        assert!(m[1].is_shared());
        assert!(!m[0].is_shared());
        assert_eq!(m[3].fstype, "cgroup");
        assert_eq!(m[4].root, Path::new("/user.slice"));
        assert_eq!(m[4].optional, vec!["master:3".to_owned()]);
        assert_eq!(m[5].mount_point, Path::new("/tmp/with space"));
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn finds_containing_mount() {
        let m = parse_mountinfo(SAMPLE);
        let c = containing_mount(&m, Path::new("/sys/fs/cgroup/cpu,cpuacct/x"));
        assert_eq!(c.map(|c| c.fstype.as_str()), Some("cgroup"));
        let c = containing_mount(&m, Path::new("/var/lib/x"));
        assert_eq!(c.map(|c| c.mount_point.as_path()), Some(Path::new("/")));
        // A path component prefix is not a mount prefix.
        let c = containing_mount(&m, Path::new("/procfoo"));
        assert_eq!(c.map(|c| c.mount_point.as_path()), Some(Path::new("/")));
    }

    #[test]
    fn parses_proc_cgroup() {
        let c = parse_proc_cgroup("12:cpu,cpuacct:/a/b\n1:name=systemd:/user.slice\n0::/c\n");
        assert_eq!(c[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(c[0].path, Path::new("/a/b"));
        assert_eq!(c[1].controllers, vec!["name=systemd"]);
        assert!(c[2].controllers.is_empty());
        assert_eq!(c[2].path, Path::new("/c"));
    }

    #[test]
    fn v1_controller_list() {
        assert_eq!(v1_controllers("rw,cpu,cpuacct"), vec!["cpu", "cpuacct"]);
        assert_eq!(
            v1_controllers("rw,xattr,name=systemd"),
            vec!["name=systemd"]
        );
        assert_eq!(
            v1_controllers("rw,cpuset,release_agent=/x,clone_children"),
            vec!["cpuset"]
        );
    }
}
