//! Helpers shared by the privileged workspace tests (runtime conformance, peers).
//!
//! Rules these helpers enforce: a missing tool or binary is a test *failure* with a
//! message (never a skip); every test works in its own temp dirs; processes are
//! ended by pid; cgroups and mounts are only removed when they are ours (unique
//! names, or under our own temp dir).
#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The workspace root (the root package is the workspace root).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails unless running as root.
pub fn require_root() {
    let status = fs_err::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("Uid: line in /proc/self/status");
    assert_eq!(
        uid, "0",
        "this test is privileged: run it as root (scripts/test, .ci/run)"
    );
}

/// Finds `name` on PATH, or fails saying that `.ci/run` installs it.
pub fn require_tool(name: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = [
        PathBuf::from("/usr/sbin"),
        PathBuf::from("/sbin"),
        PathBuf::from("/usr/local/sbin"),
    ];
    for dir in std::env::split_paths(&path).chain(extra) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` not found on PATH: install the Debian package `{debian_package}` \
         (.ci/run installs it)"
    );
}

/// Absolute path of the `berth-runtime` binary under test: `$BERTH_RUNTIME`, else
/// the newer of `<target>/release/berth-runtime` and `<target>/debug/berth-runtime`.
pub fn berth_runtime() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RUNTIME") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "BERTH_RUNTIME={} does not exist (scripts/test builds it)",
            p.display()
        );
        return p;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace_root().join(t)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    let mut found: Vec<(SystemTime, PathBuf)> = ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("berth-runtime"))
        .filter_map(|p| {
            let m = fs_err::metadata(&p).ok()?.modified().ok()?;
            Some((m, p))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, p)) => p,
        None => panic!(
            "berth-runtime binary not found under {}/{{release,debug}}: run scripts/test \
             (it builds it), or `cargo build --release -p berth-runtime-cli`, or set \
             BERTH_RUNTIME=/abs/path",
            target.display()
        ),
    }
}

/// A short name unique within this machine for this run: `<prefix>-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where cached fixtures live (`target/tmp`, shared by test binaries).
fn fixture_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    fs_err::create_dir_all(&d).expect("creating CARGO_TARGET_TMPDIR");
    d
}

/// Key for cached fixtures: changes when Debian's busybox or the script changes.
fn busybox_key() -> String {
    let bb = fs_err::metadata("/bin/busybox").unwrap_or_else(|e| {
        panic!(
            "{e}: /bin/busybox is missing; install the Debian package busybox-static \
             (.ci/run installs it)"
        )
    });
    let script = fs_err::metadata(workspace_root().join("scripts/make-busybox-image"))
        .expect("scripts/make-busybox-image");
    let secs = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    format!("{}-{}-{}", bb.len(), secs(&bb), secs(&script))
}

/// Runs scripts/make-busybox-image with `args`, producing `final_path` atomically
/// (built beside it under a temporary name, then renamed) so concurrent test
/// binaries never see a half-written fixture.
fn build_fixture(final_path: &Path, flag: &str) {
    if final_path.exists() {
        return;
    }
    let tmp = final_path.with_extension(format!("tmp{}", std::process::id()));
    let out = Command::new(workspace_root().join("scripts/make-busybox-image"))
        .arg(flag)
        .arg(&tmp)
        .stdin(Stdio::null())
        .output()
        .expect("running scripts/make-busybox-image");
    assert!(
        out.status.success(),
        "scripts/make-busybox-image {flag} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if fs_err::rename(&tmp, final_path).is_err() {
        // Someone else won the race; theirs is identical.
        let _ = fs_err::remove_dir_all(&tmp);
        let _ = fs_err::remove_file(&tmp);
    }
}

/// A busybox rootfs directory (bin/busybox + applets, /etc/passwd...), built once
/// and shared read-only by every bundle (bundles point at it by absolute path and
/// keep `root.readonly = true`).
pub fn busybox_rootfs() -> PathBuf {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS
        .get_or_init(|| {
            let p = fixture_dir().join(format!("busybox-rootfs-{}", busybox_key()));
            build_fixture(&p, "--rootfs");
            p
        })
        .clone()
}

/// The busybox image as an OCI archive named `localhost/busybox:latest`.
pub fn busybox_oci_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let p = fixture_dir().join(format!("busybox-oci-{}.tar", busybox_key()));
            build_fixture(&p, "--oci-archive");
            p
        })
        .clone()
}

/// The busybox image as a docker-archive (`docker load -i`), `localhost/busybox:latest`.
pub fn busybox_docker_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let p = fixture_dir().join(format!("busybox-docker-{}.tar", busybox_key()));
            build_fixture(&p, "--docker-archive");
            p
        })
        .clone()
}

/// runc's default spec (`runc spec` output, stored in the repo).
pub fn runc_default_spec() -> serde_json::Value {
    serde_json::from_str(include_str!("../../scripts/runc-default-spec.json"))
        .expect("scripts/runc-default-spec.json is JSON")
}

/// Output of a command run with a deadline; stdout/stderr go through files so a
/// stray process holding the pipes cannot hang the test.
#[derive(Debug)]
pub struct Run {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
    pub fn describe(&self) -> String {
        format!(
            "status: {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `cmd` with stdin from /dev/null, killing it (by pid) after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let out = fs_err::File::create(&out_path).expect("stdout file");
    let err = fs_err::File::create(&err_path).expect("stderr file");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out.into_parts().0))
        .stderr(Stdio::from(err.into_parts().0));
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {desc}: {e}"));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break Some(s),
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill(); // by pid: this child only
                break child.wait().ok();
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let read = |p: &Path| {
        let mut s = Vec::new();
        fs_err::File::open(p)
            .and_then(|mut f| f.read_to_end(&mut s))
            .expect("reading captured output");
        String::from_utf8_lossy(&s).into_owned()
    };
    Run {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
        timed_out,
    }
}

/// `Command::new(program).args(args)`.
pub fn command<I, S>(program: impl AsRef<OsStr>, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Mount points under `dir` (from /proc/self/mountinfo), deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs_err::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lazily unmounts every mount under `dir` (ours: the test's own temp dir).
pub fn unmount_all_under(dir: &Path) {
    for m in mounts_under(dir) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&m)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Removes `/sys/fs/cgroup/<controller>/<name>` in every hierarchy where it exists
/// (only ever called with names this test made unique). Returns those that were left.
pub fn remove_cgroup_everywhere(name: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let Ok(entries) = fs_err::read_dir("/sys/fs/cgroup") else {
        return left;
    };
    for e in entries.flatten() {
        let p = e.path().join(name.trim_start_matches('/'));
        if p.is_dir() {
            left.push(p.clone());
            // Children first (a runtime may have nested groups).
            let _ = remove_cgroup_dir(&p);
        }
    }
    left
}

fn remove_cgroup_dir(p: &Path) -> std::io::Result<()> {
    if let Ok(entries) = fs_err::read_dir(p) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = remove_cgroup_dir(&e.path());
            }
        }
    }
    fs_err::remove_dir(p)
}
