//! Real tests of `berth_runtime::rootfs`, as root, each in a throwaway mount
//! (and UTS) namespace.
//!
//! The functions under test change the mount namespace, the root and the
//! cwd of the whole process, so every scenario runs in a child: the test
//! re-executes this binary under `unshare --mount --uts --propagation
//! private --fork` with `BERTH_ROOTFS_SCENARIO` set, and the child branch of
//! the same test does the work and the in-container checks. Nothing done in
//! the child can reach the host's mount table: the namespace is private and
//! dies with the child. The parent checks the host side afterwards (nothing
//! created outside the rootfs) and removes its tempdirs.
//!
//! The rootfs is a copy of Debian's static busybox (`busybox-static`) plus
//! empty directories. Tests are skipped (with a message) when not root or
//! when busybox or `unshare` is missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on failure"
)]

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_runtime::rootfs::{
    RootfsOptions, apply_sysctls, finalize_rootfs, pivot_root, prepare_rootfs,
};
use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Spec;

const SCENARIO: &str = "BERTH_ROOTFS_SCENARIO";
const ROOTFS: &str = "BERTH_ROOTFS_DIR";
const HOSTDIR: &str = "BERTH_ROOTFS_HOSTDIR";
const BINDSRC: &str = "BERTH_ROOTFS_BINDSRC";

fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn can_run() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return false;
    }
    if busybox().is_none() || !Path::new("/usr/bin/unshare").exists() {
        eprintln!("skipped: needs busybox (apt-get install busybox-static) and unshare");
        return false;
    }
    true
}

/// A minimal busybox rootfs in a tempdir.
fn make_rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs_err::create_dir_all(root.join(d)).expect("mkdir");
    }
    let bb = busybox().expect("busybox");
    fs_err::copy(&bb, root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "ls", "cat", "mount"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    fs_err::write(root.join("etc/marker"), "inside").expect("marker");
    fs_err::create_dir_all(root.join("opt/data")).expect("mkdir opt");
    fs_err::write(root.join("opt/data/file"), "copied").expect("opt file");
    std::os::unix::fs::symlink("data/file", root.join("opt/link")).expect("opt link");
    dir
}

/// Runs this test again in a fresh mount + UTS namespace; panics with the
/// child's output unless it exits 0.
fn run_child(test: &str, scenario: &str, rootfs: &Path, extra_env: &[(&str, &Path)]) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new("/usr/bin/unshare");
    cmd.args([
        "--mount",
        "--uts",
        "--cgroup",
        "--propagation",
        "private",
        "--fork",
    ])
    .arg(exe)
    .args(["--exact", test, "--nocapture", "--test-threads=1"])
    .env(SCENARIO, scenario)
    .env(ROOTFS, rootfs);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn unshare");
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "child scenario {scenario} failed: {text}"
    );
    // A filter that matched nothing also exits 0; make sure it ran.
    assert!(
        text.contains("1 passed"),
        "child did not run the test: {text}"
    );
}

fn child_env() -> Option<(String, PathBuf)> {
    let scenario = std::env::var(SCENARIO).ok()?;
    let rootfs = PathBuf::from(std::env::var(ROOTFS).expect("rootfs env"));
    Some((scenario, rootfs))
}

fn spec(json: serde_json::Value) -> Spec {
    serde_json::from_value(json).expect("spec")
}

/// The mounts runc's `spec` command generates, plus a cgroup mount.
fn base_mounts() -> Vec<serde_json::Value> {
    serde_json::from_str(
        r#"[
        {"destination":"/proc","type":"proc","source":"proc"},
        {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
        {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
        {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
        {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
        {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
        {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}
    ]"#,
    )
    .expect("mounts json")
}

/// The error kind of a failed call (fs_err wraps the OS error, so
/// `raw_os_error` is not available).
fn kind_of(r: std::io::Result<impl Sized>) -> Option<std::io::ErrorKind> {
    r.err().map(|e| e.kind())
}

fn mountinfo_line(mount_point: &str) -> Option<String> {
    let text = fs_err::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    text.lines()
        .rfind(|l| l.split(' ').nth(4) == Some(mount_point))
        .map(str::to_owned)
}

#[test]
fn full_container_rootfs() {
    const NAME: &str = "full_container_rootfs";
    if let Some((_, rootfs)) = child_env() {
        return full_child(&rootfs);
    }
    if !can_run() {
        return;
    }
    let root = make_rootfs();
    let host = tempfile::tempdir().expect("hostdir");
    let rootfs = fs_err::canonicalize(root.path()).expect("canonicalize");
    // The symlink-exchange class: an absolute symlink in the image that
    // points at a host path. It must resolve inside the rootfs.
    std::os::unix::fs::symlink(
        format!("/../../../../..{}", host.path().display()),
        rootfs.join("escape"),
    )
    .expect("escape symlink");
    // Bind sources live on the host side; the child cannot clean up host
    // paths after its pivot.
    let src = tempfile::tempdir().expect("bind src");
    fs_err::write(src.path().join("hello"), "world").expect("write");
    run_child(
        NAME,
        "full",
        &rootfs,
        &[(HOSTDIR, host.path()), (BINDSRC, src.path())],
    );
    assert_eq!(
        fs_err::read_to_string(src.path().join("hello")).expect("read"),
        "again",
        "the rw file bind should have written through"
    );
    let leaked: Vec<_> = fs_err::read_dir(host.path())
        .expect("read hostdir")
        .map(|e| e.map(|e| e.file_name()))
        .collect();
    assert!(leaked.is_empty(), "created outside the rootfs: {leaked:?}");
    assert!(
        rootfs
            .join(host.path().strip_prefix("/").expect("abs"))
            .join("sub")
            .is_dir(),
        "the escape destination should have been created inside the rootfs"
    );
}

fn full_child(rootfs: &Path) {
    let hostdir = PathBuf::from(std::env::var(HOSTDIR).expect("hostdir env"));
    // Make our copy of the tree shared, like a systemd host: prepare_rootfs
    // must make the rootfs' parent private or pivot_root fails.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )
    .expect("make / rshared in the test namespace");

    // Bind sources on the host side, a directory and a file.
    let src = PathBuf::from(std::env::var(BINDSRC).expect("bindsrc env"));
    let file_src = src.join("hello");

    let mut mounts = base_mounts();
    mounts.extend(
        serde_json::from_value::<Vec<serde_json::Value>>(serde_json::json!([
            {"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro", "nosuid", "nodev"]},
            {"destination": "/etc/hello", "source": file_src, "options": ["bind", "rw"]},
            {"destination": "/opt", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]},
            // Before the /tmp tmpfs, so what it creates stays visible on disk.
            {"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
        ]))
        .expect("extra mounts"),
    );
    let s = spec(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": rootfs, "readonly": true},
        "mounts": mounts,
        "linux": {
            "rootfsPropagation": "rshared",
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 0, "gid": 0}],
            "maskedPaths": ["/proc/version", "/proc/acpi", "/proc/does-not-exist"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/nope"],
            "sysctl": {"kernel.hostname": "berth-rootfs-test"}
        }
    }));
    let opts = RootfsOptions {
        rootfs,
        in_user_namespace: false,
        terminal: true,
        cgroup_namespace: false,
        before_cgroup_mount: None,
    };
    prepare_rootfs(&s, &opts).unwrap_or_else(|e| panic!("prepare_rootfs: {e}"));
    pivot_root(rootfs, false).unwrap_or_else(|e| panic!("pivot_root: {e}"));
    let sysctl: HashMap<String, String> =
        [("kernel.hostname".to_owned(), "berth-rootfs-test".to_owned())].into();
    apply_sysctls(&sysctl).unwrap_or_else(|e| panic!("apply_sysctls: {e}"));
    finalize_rootfs(&s).unwrap_or_else(|e| panic!("finalize_rootfs: {e}"));

    // We are inside: the image's marker, not the host's /etc.
    assert_eq!(
        fs_err::read_to_string("/etc/marker").expect("marker"),
        "inside"
    );
    assert!(Path::new("/bin/busybox").exists());
    assert!(!hostdir.exists() || hostdir.join("sub").is_dir());
    assert_eq!(
        nix::unistd::gethostname().expect("hostname"),
        "berth-rootfs-test"
    );

    // Devices.
    for (dev, major, minor) in [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/tty", 5, 0)] {
        let st = nix::sys::stat::stat(dev).unwrap_or_else(|e| panic!("{dev}: {e}"));
        assert_eq!(
            (
                nix::sys::stat::major(st.st_rdev),
                nix::sys::stat::minor(st.st_rdev)
            ),
            (major, minor),
            "{dev}"
        );
        assert_eq!(st.st_mode & 0o7777, 0o666, "{dev} mode");
    }
    let fuse = fs_err::metadata("/dev/fuse").expect("/dev/fuse");
    assert!(fuse.file_type().is_char_device());
    assert_eq!(fuse.permissions().mode() & 0o7777, 0o600);
    fs_err::write("/dev/null", "x").expect("write /dev/null");
    assert_eq!(
        fs_err::read_link("/dev/ptmx").expect("ptmx"),
        Path::new("pts/ptmx")
    );
    assert_eq!(
        fs_err::read_link("/dev/fd").expect("fd"),
        Path::new("/proc/self/fd")
    );
    assert_eq!(
        fs_err::read_link("/dev/stderr").expect("stderr"),
        Path::new("/proc/self/fd/2")
    );
    assert!(Path::new("/dev/pts/ptmx").exists());
    let console = fs_err::metadata("/dev/console").expect("/dev/console");
    assert!(console.is_file() && console.len() == 0);
    assert!(Path::new("/dev/shm").is_dir());
    assert!(Path::new("/dev/mqueue").is_dir());

    // Read-only root, writable tmpfs.
    assert_eq!(
        kind_of(fs_err::write("/newfile", "x")),
        Some(ErrorKind::ReadOnlyFilesystem)
    );
    fs_err::write("/tmp/ok", "x").expect("write /tmp");
    assert_eq!(
        fs_err::metadata("/tmp").expect("tmp").permissions().mode() & 0o7777,
        0o1777
    );
    let root_line = mountinfo_line("/").expect("/ in mountinfo");
    assert!(
        root_line.contains(" shared:"),
        "rootfsPropagation: {root_line}"
    );
    assert!(
        root_line
            .split(' ')
            .nth(5)
            .is_some_and(|o| o.starts_with("ro")),
        "{root_line}"
    );

    // tmpcopyup: the image's /opt content, on a tmpfs.
    assert_eq!(
        fs_err::read_to_string("/opt/link").expect("/opt/link"),
        "copied"
    );
    let opt_line = mountinfo_line("/opt").expect("/opt in mountinfo");
    assert!(opt_line.contains(" - tmpfs "), "{opt_line}");
    fs_err::write("/opt/data/new", "x").expect("write /opt");

    // Bind mounts: ro dir, rw file.
    assert_eq!(
        fs_err::read_to_string("/data/hello").expect("read /data/hello"),
        "world"
    );
    assert_eq!(
        kind_of(fs_err::write("/data/new", "x")),
        Some(ErrorKind::ReadOnlyFilesystem)
    );
    let data_line = mountinfo_line("/data").expect("/data in mountinfo");
    let data_opts = data_line.split(' ').nth(5).unwrap_or_default().to_owned();
    for o in ["ro", "nosuid", "nodev"] {
        assert!(
            data_opts.split(',').any(|x| x == o),
            "{o} missing: {data_line}"
        );
    }
    fs_err::write("/etc/hello", "again").expect("rw file bind");

    // readonlyPaths and maskedPaths.
    assert_eq!(
        kind_of(fs_err::write("/proc/sys/kernel/hostname", "x")),
        Some(ErrorKind::ReadOnlyFilesystem)
    );
    assert_eq!(fs_err::read_to_string("/proc/version").expect("masked"), "");
    assert_eq!(
        fs_err::read_dir("/proc/acpi").expect("masked dir").count(),
        0
    );
    assert_eq!(
        kind_of(fs_err::write("/proc/acpi/x", "x")),
        Some(ErrorKind::ReadOnlyFilesystem)
    );

    // sysfs read-only; the cgroup v1 hierarchies (or cgroup2) read-only.
    // On v1 the tmpfs holding them stays writable, as with runc 1.1.
    let v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
    if v2 {
        assert!(Path::new("/sys/fs/cgroup/cgroup.procs").exists());
        assert_eq!(
            kind_of(fs_err::create_dir("/sys/fs/cgroup/x")),
            Some(ErrorKind::ReadOnlyFilesystem)
        );
    } else {
        assert_eq!(
            kind_of(fs_err::create_dir("/sys/fs/cgroup/memory/x")),
            Some(ErrorKind::ReadOnlyFilesystem)
        );
        assert!(
            Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists(),
            "own memory cgroup not bound"
        );
        assert!(Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists());
    }
}

#[test]
fn no_pivot_and_user_namespace_devices() {
    const NAME: &str = "no_pivot_and_user_namespace_devices";
    if let Some((_, rootfs)) = child_env() {
        // /dev read-only: populated first, remounted ro by finalize.
        let mut mounts = base_mounts();
        mounts[1]["options"]
            .as_array_mut()
            .expect("options")
            .push("ro".into());
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": rootfs},
            "mounts": mounts,
        }));
        // in_user_namespace: devices are bind-mounted from the host. We
        // are in a new cgroup namespace (unshare --cgroup), so cgroup v1
        // hierarchies are mounted afresh instead of bound.
        let opts = RootfsOptions {
            rootfs: &rootfs,
            in_user_namespace: true,
            terminal: false,
            cgroup_namespace: true,
            before_cgroup_mount: None,
        };
        prepare_rootfs(&s, &opts).unwrap_or_else(|e| panic!("prepare_rootfs: {e}"));
        pivot_root(&rootfs, true).unwrap_or_else(|e| panic!("pivot_root(no_pivot): {e}"));
        finalize_rootfs(&s).unwrap_or_else(|e| panic!("finalize_rootfs: {e}"));
        assert_eq!(
            fs_err::read_to_string("/etc/marker").expect("marker"),
            "inside"
        );
        let null = fs_err::metadata("/dev/null").expect("/dev/null");
        assert!(null.file_type().is_char_device());
        fs_err::write("/dev/null", "x").expect("write /dev/null");
        assert!(
            mountinfo_line("/dev/null").is_some(),
            "/dev/null should be a bind mount"
        );
        assert!(!Path::new("/dev/console").exists());
        assert!(Path::new("/proc/self/status").exists());
        assert_eq!(
            kind_of(fs_err::write("/dev/newfile", "x")),
            Some(ErrorKind::ReadOnlyFilesystem)
        );
        let v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        if !v2 {
            assert!(Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists());
            let line = mountinfo_line("/sys/fs/cgroup/memory").expect("memory mount");
            // A fresh mount in the cgroup namespace is rooted at our cgroup.
            assert_eq!(line.split(' ').nth(3), Some("/"), "{line}");
        }
        return;
    }
    if !can_run() {
        return;
    }
    let root = make_rootfs();
    // Passed through a symlink: the library must canonicalize it itself.
    let links = tempfile::tempdir().expect("tempdir");
    let link = links.path().join("rootfs-link");
    std::os::unix::fs::symlink(root.path(), &link).expect("symlink");
    run_child(NAME, "nopivot", &link, &[]);
}

/// Runs `prepare_rootfs` with `mounts` in a child and checks the error text.
fn expect_prepare_error(name: &str, mounts: serde_json::Value, want: &str) {
    if let Some((_, rootfs)) = child_env() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": rootfs},
            "mounts": mounts,
        }));
        let opts = RootfsOptions {
            rootfs: &rootfs,
            in_user_namespace: false,
            terminal: false,
            cgroup_namespace: false,
            before_cgroup_mount: None,
        };
        let err = prepare_rootfs(&s, &opts).expect_err("prepare_rootfs should fail");
        assert_eq!(err.to_string(), want);
        return;
    }
    if !can_run() {
        return;
    }
    let root = make_rootfs();
    let rootfs = fs_err::canonicalize(root.path()).expect("canonicalize");
    run_child(name, "error", &rootfs, &[]);
}

#[test]
fn error_missing_bind_source() {
    expect_prepare_error(
        "error_missing_bind_source",
        serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/nope", "source": "/nope-berth-test", "options": ["rbind"]}
        ]),
        "mounts[1].source \"/nope-berth-test\": no such file or directory",
    );
}

#[test]
fn error_unknown_mount_type() {
    expect_prepare_error(
        "error_unknown_mount_type",
        serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/foo", "type": "foo", "source": "foo"}
        ]),
        "mounts[2]: unknown mount type \"foo\"",
    );
}

#[test]
fn error_mount_under_proc() {
    expect_prepare_error(
        "error_mount_under_proc",
        serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/proc/self/attr", "type": "tmpfs", "source": "tmpfs"}
        ]),
        "mounts[1].destination \"/proc/self/attr\": cannot be mounted because it is inside /proc",
    );
}

#[test]
fn error_missing_type() {
    expect_prepare_error(
        "error_missing_type",
        serde_json::json!([{"destination": "/x", "source": "/tmp"}]),
        "mounts[0]: no type and no `bind` or `rbind` option",
    );
}

#[test]
fn error_kinds_are_not_io_errors() {
    // Not a namespace test: the error for a bad propagation comes before
    // any mount, so it can run in-process.
    if std::env::var(SCENARIO).is_ok() {
        return;
    }
    let s = spec(serde_json::json!({
        "ociVersion": "1.0.2",
        "linux": {"rootfsPropagation": "sideways"}
    }));
    let opts = RootfsOptions {
        rootfs: Path::new("/nonexistent"),
        in_user_namespace: false,
        terminal: false,
        cgroup_namespace: false,
        before_cgroup_mount: None,
    };
    let err = prepare_rootfs(&s, &opts).expect_err("bad propagation");
    assert!(
        err.to_string()
            .starts_with("linux.rootfsPropagation: unknown value \"sideways\""),
        "{err}"
    );
}
