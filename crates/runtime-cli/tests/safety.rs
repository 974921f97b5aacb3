//! Safety regression tests: the container can neither overwrite the runtime
//! binary (CVE-2019-5736) nor reach host files through a leaked descriptor
//! or working directory (CVE-2024-21626); seccomp, capabilities, read-only
//! and masked paths, rlimits and cgroup limits are really applied.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BIN, Env, text};
use serde_json::json;

/// CVE-2019-5736: a process in the container that gets hold of the runtime's
/// `/proc/<pid>/exe` must find a read-only or sealed copy, never the
/// writable host binary.
/// A startContainer hook runs inside the container as a child of berth's
/// init, i.e. exactly where the attack ran.
#[test]
fn cve_2019_5736_runtime_binary_cannot_be_overwritten() {
    let env = Env::new();
    let before = fs_err::read(BIN).unwrap();
    let b = env.bundle("cve5736", &["cat", "/tmp/result"], |c| {
        c["hooks"] = json!({"startContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", "exe=$(readlink /proc/$PPID/exe); echo \"link=$exe\" > /tmp/result; if echo pwned >> /proc/$PPID/exe 2>/dev/null; then echo write=ok >> /tmp/result; else echo write=refused >> /tmp/result; fi"]
        }]});
    });
    let id = env.id("cve5736");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // The executable is either a detached read-only bind mount of the
    // binary (shown as "/") or a sealed memfd, never the host path.
    let link = stdout.lines().next().unwrap_or_default();
    assert!(
        link == "link=/" || link.starts_with("link=/memfd:berth-runtime"),
        "{stdout}"
    );
    assert!(!link.contains(BIN), "{stdout}");
    assert!(stdout.contains("write=refused"), "{stdout}");
    assert_eq!(
        fs_err::read(BIN).unwrap(),
        before,
        "the runtime binary changed"
    );
}

/// CVE-2024-21626: no descriptor of the runtime leaks into the container,
/// and a cwd of `/proc/self/fd/N` cannot land the process on a host dir.
#[test]
fn cve_2024_21626_no_fd_or_cwd_leaks() {
    let env = Env::new();
    let b = env.bundle("fdleak", &["ls", "/proc/self/fd"], |_| {});
    let id = env.id("fdleak");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let fds: Vec<&str> = stdout.split_whitespace().collect();
    // 0-2 are stdio, 3 is ls's own handle on the directory.
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "descriptors leaked into the container"
    );

    for n in 3..10 {
        let name = format!("cwd{n}");
        let b = env.bundle(&name, &["sh", "-c", "pwd; ls .. | head -3"], |c| {
            c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        });
        let id = env.id(&name);
        let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
        let (stdout, _) = text(&out);
        if out.status.success() {
            // Only acceptable if the directory is inside the container.
            assert!(
                !stdout.contains("sys/fs/cgroup") && stdout.starts_with('/'),
                "cwd /proc/self/fd/{n} escaped: {stdout}"
            );
        }
    }
}

#[test]
fn seccomp_blocks_with_eperm_and_is_reported_in_status() {
    let env = Env::new();
    let b = env.bundle(
        "seccomp",
        &[
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?",
        ],
        |c| {
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
            });
        },
    );
    let id = env.id("seccomp");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
    assert!(stdout.contains("Operation not permitted"), "{stdout}");
    assert!(stdout.contains("rc=1"), "{stdout}");
}

#[test]
fn docker_default_seccomp_profile_runs_busybox() {
    let env = Env::new();
    let profile = serde_json::to_value(berth_runtime::seccomp::docker_default()).unwrap();
    let b = env.bundle(
        "dockerseccomp",
        &["sh", "-c", "echo ok; unshare -U true 2>&1 || echo blocked"],
        |c| {
            c["linux"]["seccomp"] = profile.clone();
        },
    );
    let id = env.id("dockerseccomp");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("ok\n"), "{stdout}");
    assert!(
        stdout.contains("blocked") || stdout.contains("not permitted"),
        "{stdout}"
    );
}

#[test]
fn capabilities_readonly_and_masked_paths() {
    let env = Env::new();
    let b = env.bundle(
        "confine",
        &["sh", "-c", "grep CapEff /proc/self/status; touch /x 2>&1; echo w=$?; cat /proc/kcore | wc -c; touch /proc/sys/kernel/x 2>&1; echo p=$?"],
        |c| {
            c["root"]["readonly"] = json!(true);
            c["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
            c["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
        },
    );
    let id = env.id("confine");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // runc's default spec grants AUDIT_WRITE, KILL, NET_BIND_SERVICE.
    assert!(stdout.contains("CapEff:\t0000000020000420"), "{stdout}");
    assert!(stdout.contains("Read-only file system"), "{stdout}");
    assert!(stdout.contains("w=1"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.trim() == "0"),
        "kcore not masked: {stdout}"
    );
    assert!(stdout.contains("p=1"), "{stdout}");
}

#[test]
fn rlimits_user_and_cgroup_limits_are_visible() {
    let env = Env::new();
    let b = env.bundle(
        "limits",
        &["sh", "-c", "ulimit -n; id -u; id -g; id -G; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max"],
        |c| {
            c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}]);
            c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 2000]});
            c["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 42}});
        },
    );
    let id = env.id("limits");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["512", "1000", "1000", "1000 2000", "67108864", "42"],
        "{stdout}"
    );
}
