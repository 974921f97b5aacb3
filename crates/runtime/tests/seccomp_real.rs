//! Installs compiled seccomp filters in a real process and checks what the
//! kernel does with them.
//!
//! A filter cannot be removed once loaded, and the test harness is
//! multi-threaded (so forking it is not an option), so each case re-runs
//! this test binary as a child: `current_exe --exact <case> --nocapture`
//! with `BERTH_SECCOMP_CHILD=1`. In the child the same test function sees
//! the variable, installs the filter with `SECCOMP_FILTER_FLAG_TSYNC` (the
//! harness runs tests on a thread of its own), and asserts from inside.

#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use std::process::Command;

use berth_runtime::seccomp;
use nix::errno::Errno;
use oci_spec::runtime::LinuxSeccomp;

const CHILD_ENV: &str = "BERTH_SECCOMP_CHILD";

/// Runs `name` again in a child process with [`CHILD_ENV`] set, and fails
/// unless the child's copy of the test passed.
fn run_in_child(name: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child for {name} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The `Seccomp:` line of /proc/thread-self/status (0 none, 1 strict,
/// 2 filter; proc(5)).
fn seccomp_mode() -> String {
    let status = fs_err::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .unwrap()
        .trim()
        .to_owned()
}

fn install(profile: &LinuxSeccomp) {
    let mut filter = seccomp::compile(profile).unwrap();
    filter.flags |= berth_sys::seccomp::FLAG_TSYNC;
    berth_sys::prctl::set_no_new_privs().unwrap();
    seccomp::install(&filter).unwrap();
}

#[test]
fn custom_filter_blocks_mkdir_with_eperm() {
    if !in_child() {
        return run_in_child("custom_filter_blocks_mkdir_with_eperm");
    }
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(seccomp_mode(), "0");
    let profile: LinuxSeccomp = serde_json::from_str(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64"],
            "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
                        {"names":["rmdir","unlinkat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    install(&profile);

    assert_eq!(seccomp_mode(), "2");
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o755);
    assert_eq!(
        nix::unistd::mkdir(&dir.path().join("blocked"), mode),
        Err(Errno::EPERM)
    );
    // Other syscalls still work.
    fs_err::write(dir.path().join("file"), b"x").unwrap();
    assert_eq!(fs_err::read(dir.path().join("file")).unwrap(), b"x");
    assert_eq!(
        nix::unistd::unlinkat(
            nix::fcntl::AT_FDCWD,
            &dir.path().join("file"),
            nix::unistd::UnlinkatFlags::NoRemoveDir
        ),
        Err(Errno::EACCES)
    );
}

#[test]
fn docker_default_profile_in_a_real_process() {
    if !in_child() {
        return run_in_child("docker_default_profile_in_a_real_process");
    }
    // The child runs as root with every capability, so any EPERM below
    // comes from the filter, not from missing privileges.
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test must run as root (berth's privileged tests never skip)"
    );
    install(&seccomp::docker_default());

    assert_eq!(seccomp_mode(), "2");
    assert_eq!(
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS),
        Err(Errno::EPERM)
    );
    assert_eq!(nix::unistd::sethostname("blocked"), Err(Errno::EPERM));
    // Ordinary work, including spawning a process (clone without
    // namespace flags; glibc falls back from clone3's ENOSYS).
    let out = Command::new("/bin/true").status().unwrap();
    assert!(out.success());
    // AF_VSOCK sockets are refused, others are fine.
    let vsock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Vsock,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::empty(),
        None,
    );
    assert_eq!(vsock.err(), Some(Errno::EPERM));
    nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::empty(),
        None,
    )
    .unwrap();
}
