//! Facts about the host, read from `/proc`, `/sys` and `/etc`.
//!
//! Everything is read through [`HostPaths`], so tests run on a fixture tree.
//! A fact that cannot be read is reported empty (or `false`) rather than
//! failing `/info`: dockerd does the same, and a half-filled `docker info` is
//! more useful than an error.

use std::path::{Path, PathBuf};

/// Roots the host facts are read under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    pub proc: PathBuf,
    pub sys: PathBuf,
    pub etc: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
            etc: PathBuf::from("/etc"),
        }
    }
}

/// The machine berthd runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` from os-release, e.g. `Debian GNU/Linux 13 (trixie)`.
    pub operating_system: String,
    /// `VERSION_ID` from os-release.
    pub os_version: String,
    /// Always `linux`.
    pub os_type: String,
    /// `uname -m`, e.g. `x86_64`.
    pub architecture: String,
    pub ncpu: usize,
    /// Bytes.
    pub mem_total: u64,
    /// The UTS hostname.
    pub hostname: String,
    pub ipv4_forwarding: bool,
    /// The kernel has seccomp filters (`Seccomp:` in `/proc/self/status`).
    pub seccomp: bool,
}

/// Which cgroup hierarchy the host mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// v1, including the v1-hybrid layout (v1 controllers plus an empty
    /// unified mount), which dockerd also reports as `1`.
    V1,
    V2,
}

impl CgroupVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "1",
            CgroupVersion::V2 => "2",
        }
    }
}

/// What the cgroup setup lets berth limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupInfo {
    pub version: CgroupVersion,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    pub cpu_shares: bool,
    pub cpuset: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
}

fn read_trimmed(path: &Path) -> String {
    fs_err::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

impl HostPaths {
    pub fn host_info(&self) -> HostInfo {
        let (operating_system, os_version) = self.os_release();
        HostInfo {
            kernel_version: read_trimmed(&self.proc.join("sys/kernel/osrelease")),
            operating_system,
            os_version,
            os_type: "linux".to_owned(),
            // Rust's names equal `uname -m` on the architectures berth builds for.
            architecture: std::env::consts::ARCH.to_owned(),
            ncpu: std::thread::available_parallelism().map_or(1, usize::from),
            mem_total: self.mem_total(),
            hostname: read_trimmed(&self.proc.join("sys/kernel/hostname")),
            ipv4_forwarding: read_trimmed(&self.proc.join("sys/net/ipv4/ip_forward")) == "1",
            seccomp: fs_err::read_to_string(self.proc.join("self/status"))
                .is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:"))),
        }
    }

    /// `PRETTY_NAME` and `VERSION_ID`, from `/etc/os-release` or, as the
    /// os-release(5) fallback, `/usr/lib/os-release` (looked up next to etc).
    fn os_release(&self) -> (String, String) {
        let text = fs_err::read_to_string(self.etc.join("os-release"))
            .or_else(|_| {
                let usr_lib = self
                    .etc
                    .parent()
                    .unwrap_or(Path::new("/"))
                    .join("usr/lib/os-release");
                fs_err::read_to_string(usr_lib)
            })
            .unwrap_or_default();
        parse_os_release(&text)
    }

    pub(crate) fn mem_total(&self) -> u64 {
        let meminfo = fs_err::read_to_string(self.proc.join("meminfo")).unwrap_or_default();
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kb| kb * 1024)
    }

    /// Detects the cgroup version the way dockerd does: a unified (v2)
    /// hierarchy mounted at `/sys/fs/cgroup` has `cgroup.controllers` at its
    /// root; v1 and hybrid do not.
    pub fn cgroup_info(&self) -> CgroupInfo {
        let root = self.sys.join("fs/cgroup");
        if root.join("cgroup.controllers").is_file() {
            let controllers = read_trimmed(&root.join("cgroup.controllers"));
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            CgroupInfo {
                version: CgroupVersion::V2,
                memory_limit: has("memory"),
                // v2 always accounts swap with the memory controller (memory.swap.max).
                swap_limit: has("memory"),
                cpu_cfs_period: has("cpu"),
                cpu_cfs_quota: has("cpu"),
                cpu_shares: has("cpu"),
                cpuset: has("cpuset"),
                pids_limit: has("pids"),
                // memory.oom_control does not exist on v2.
                oom_kill_disable: false,
            }
        } else {
            let file = |p: &str| root.join(p).exists();
            CgroupInfo {
                version: CgroupVersion::V1,
                memory_limit: file("memory/memory.limit_in_bytes"),
                swap_limit: file("memory/memory.memsw.limit_in_bytes"),
                cpu_cfs_period: file("cpu/cpu.cfs_period_us"),
                cpu_cfs_quota: file("cpu/cpu.cfs_quota_us"),
                cpu_shares: file("cpu/cpu.shares"),
                cpuset: file("cpuset/cpuset.cpus"),
                pids_limit: file("pids/pids.max"),
                oom_kill_disable: file("memory/memory.oom_control"),
            }
        }
    }

    /// The file system type holding `path`, from the longest matching mount
    /// point in `/proc/self/mountinfo`.
    pub fn backing_fs(&self, path: &Path) -> Option<String> {
        let mountinfo = fs_err::read_to_string(self.proc.join("self/mountinfo")).ok()?;
        let path = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        mountinfo
            .lines()
            .filter_map(|line| {
                // Fields: id parent maj:min root mountpoint opts [optional...] - fstype src superopts
                let mut fields = line.split(' ');
                let mount_point = fields.nth(4)?;
                let fstype = line.split(" - ").nth(1)?.split(' ').next()?;
                Some((unescape_octal(mount_point), fstype.to_owned()))
            })
            .filter(|(mp, _)| path.starts_with(mp))
            .max_by_key(|(mp, _)| mp.len())
            .map(|(_, fstype)| fstype)
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN` octal.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] = bytes[i..] {
            out.push((a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns (`PRETTY_NAME`, `VERSION_ID`), unquoted.
pub fn parse_os_release(text: &str) -> (String, String) {
    let mut pretty = String::new();
    let mut version = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
        match key.trim() {
            "PRETTY_NAME" => pretty = value,
            "VERSION_ID" => version = value,
            _ => {}
        }
    }
    (pretty, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, text).unwrap();
    }

    fn fixture() -> (tempfile::TempDir, HostPaths) {
        let tmp = tempfile::tempdir().unwrap();
        let paths = HostPaths {
            proc: tmp.path().join("proc"),
            sys: tmp.path().join("sys"),
            etc: tmp.path().join("etc"),
        };
        (tmp, paths)
    }

    #[test]
    fn os_release_is_unquoted() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nVERSION_ID=\"13\"\n";
        assert_eq!(
            parse_os_release(text),
            ("Debian GNU/Linux 13 (trixie)".to_owned(), "13".to_owned())
        );
    }

    #[test]
    fn host_info_from_fixture() {
        let (tmp, paths) = fixture();
        write(tmp.path(), "proc/sys/kernel/osrelease", "6.1.0-test\n");
        write(tmp.path(), "proc/sys/kernel/hostname", "box\n");
        write(tmp.path(), "proc/sys/net/ipv4/ip_forward", "1\n");
        write(
            tmp.path(),
            "proc/meminfo",
            "MemTotal:       2048 kB\nMemFree: 1 kB\n",
        );
        write(
            tmp.path(),
            "etc/os-release",
            "PRETTY_NAME=\"Test OS 1\"\nVERSION_ID=1\n",
        );
        let info = paths.host_info();
        assert_eq!(info.kernel_version, "6.1.0-test");
        assert_eq!(info.hostname, "box");
        assert_eq!(info.mem_total, 2048 * 1024);
        assert_eq!(info.operating_system, "Test OS 1");
        assert_eq!(info.os_version, "1");
        assert!(info.ipv4_forwarding);
        assert!(!info.seccomp);
    }

    #[test]
    fn cgroup_v2_from_controllers() {
        let (tmp, paths) = fixture();
        write(
            tmp.path(),
            "sys/fs/cgroup/cgroup.controllers",
            "cpuset cpu io memory pids\n",
        );
        let info = paths.cgroup_info();
        assert_eq!(info.version, CgroupVersion::V2);
        assert!(info.memory_limit && info.cpuset && info.pids_limit && info.cpu_shares);
        assert!(!info.oom_kill_disable);
    }

    #[test]
    fn cgroup_v1_hybrid_is_v1() {
        let (tmp, paths) = fixture();
        write(
            tmp.path(),
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "0",
        );
        write(tmp.path(), "sys/fs/cgroup/cpu/cpu.shares", "1024");
        // The hybrid layout's unified mount has cgroup.controllers one level down.
        write(tmp.path(), "sys/fs/cgroup/unified/cgroup.controllers", "");
        let info = paths.cgroup_info();
        assert_eq!(info.version, CgroupVersion::V1);
        assert!(info.memory_limit && info.cpu_shares);
        assert!(!info.swap_limit && !info.pids_limit);
    }

    #[test]
    fn backing_fs_takes_the_longest_mount() {
        let (tmp, paths) = fixture();
        write(
            tmp.path(),
            "proc/self/mountinfo",
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:5 / /var/lib\\040x rw shared:1 - xfs /dev/sdb rw\n",
        );
        assert_eq!(
            paths.backing_fs(Path::new("/var/lib x/berth")).as_deref(),
            Some("xfs")
        );
        assert_eq!(
            paths.backing_fs(Path::new("/var/lib/berth")).as_deref(),
            Some("ext4")
        );
    }
}
