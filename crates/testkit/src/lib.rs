//! Fixtures shared by berth's tests. Only ever a dev-dependency
//! (`tests/layering.rs` enforces it): the helpers panic with a message
//! that says what to install or how to run, which is what a test wants.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures: failing loudly is the point"
)]

use std::path::Path;
use std::process::Command;

/// Fails unless running as root (the privileged tests create namespaces,
/// mounts and cgroups).
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests create containers and must run as root (CI runs them as root)"
    );
}

/// Writes a busybox root filesystem into `dir`: Debian's static
/// `/bin/busybox`, a symlink per applet, the usual top-level directories and
/// a minimal `/etc/passwd` and `/etc/group` (root and nobody).
pub fn busybox_rootfs(dir: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: install Debian's busybox-static (.ci/run does)"
    );
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        fs_err::create_dir_all(dir.join(d)).unwrap();
    }
    fs_err::copy(busybox, dir.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    fs_err::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    fs_err::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}
