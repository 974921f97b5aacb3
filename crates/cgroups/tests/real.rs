//! Tests against the running kernel's cgroups. They need root and fail
//! (never skip) without it.
//!
//! Every test creates its own cgroups directly under the hierarchy roots,
//! named `/berth-test-<pid>-<n>`, and a [`Guard`] removes them even when an
//! assertion fails. Nothing else is written: other software on the test
//! hosts keeps its own groups (e.g. `memory:/process_api/...`) and those
//! must never be touched.

// Helpers outside `#[test]` functions are test code too; clippy's
// allow-unwrap-in-tests does not see that in an integration test crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_cgroups::{CgroupLayout, Manager, detect, manager};
use oci_spec::runtime::LinuxResources;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the real cgroup tests need root (they run as root in CI); run them with sudo"
    );
}

fn unique_path() -> String {
    format!(
        "/berth-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn res(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).unwrap()
}

/// Owns the manager and the child process; on drop (pass or fail) thaws,
/// kills and reaps the child and removes the cgroups.
struct Guard {
    cg: Box<dyn Manager>,
    child: Option<Child>,
}

impl Guard {
    fn new(cg: Box<dyn Manager>) -> Self {
        Self { cg, child: None }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = self.cg.remove() {
            eprintln!("cleanup: {e}");
        }
    }
}

/// A shell that waits for a line on stdin before running `script`, so it
/// can be moved into a cgroup first.
fn gated_shell(script: &str) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!("read _ || exit 1; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn release_and_read_lines(child: &mut Child, n: usize) -> Vec<String> {
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let stdout: &mut ChildStdout = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    for _ in 0..n {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        lines.push(line.trim().to_owned());
    }
    lines
}

/// Opens /dev/null for writing and /dev/zero for reading, from inside the
/// cgroup, and reports which opens the device rules allowed. Nothing else
/// opens a device (stderr was opened by the parent before the move).
const DEVICE_PROBE: &str = "if echo x > /dev/null; then echo null-ok; else echo null-denied; fi; \
     if [ \"$(head -c1 /dev/zero | wc -c)\" = 1 ]; then echo zero-ok; else echo zero-denied; fi";

fn proc_cgroup(pid: i32) -> String {
    fs_err::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap().trim().to_owned()
}

fn v1_dir(layout: &CgroupLayout, controller: &str, name: &str) -> PathBuf {
    match layout {
        CgroupLayout::V1 { mounts, .. } => mounts[controller].join(name.trim_start_matches('/')),
        CgroupLayout::V2 { .. } => panic!("this host is expected to use cgroup v1 (hybrid)"),
    }
}

fn unified_root() -> PathBuf {
    match detect().unwrap() {
        CgroupLayout::V1 {
            unified: Some(u), ..
        } => u,
        CgroupLayout::V1 { unified: None, .. } => {
            panic!("this host is expected to have a hybrid cgroup2 mount")
        }
        CgroupLayout::V2 { root } => root,
    }
}

#[test]
fn v1_limits_task_stats_freeze_remove() {
    require_root();
    let layout = detect().unwrap();
    assert!(
        !layout.is_v2(),
        "this host is expected to boot cgroup v1 (hybrid)"
    );
    let name = unique_path();
    let mut g = Guard::new(manager(&layout, Some(&name), "ignored").unwrap());
    g.cg.apply(Some(&res(serde_json::json!({
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 32}
    }))))
    .unwrap();

    let memory = v1_dir(&layout, "memory", &name);
    let cpu = v1_dir(&layout, "cpu", &name);
    let cpuset = v1_dir(&layout, "cpuset", &name);
    let pids = v1_dir(&layout, "pids", &name);
    assert_eq!(read(&memory.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(
        read(&memory.join("memory.memsw.limit_in_bytes")),
        "134217728"
    );
    assert_eq!(read(&memory.join("memory.soft_limit_in_bytes")), "33554432");
    assert_eq!(read(&cpu.join("cpu.shares")), "512");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(&cpuset.join("cpuset.cpus")), "0");
    assert_eq!(read(&pids.join("pids.max")), "32");

    g.child = Some(gated_shell(
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; exec sleep 60",
    ));
    let pid = g.pid();
    // Adding a task to a fresh v1 cpuset fails with ENOSPC unless cpus and
    // mems were copied from the parent: this is the check that they were.
    g.cg.add_task(pid).unwrap();
    let cgroups = proc_cgroup(pid);
    assert!(cgroups.contains(&format!(":memory:{name}\n")), "{cgroups}");
    assert!(cgroups.contains(&format!(":cpu:{name}\n")), "{cgroups}");
    assert!(cgroups.contains(&format!(":cpuacct:{name}\n")), "{cgroups}");
    assert!(cgroups.contains(&format!(":cpuset:{name}\n")), "{cgroups}");
    assert!(
        cgroups.contains(&format!(":name=systemd:{name}\n")),
        "{cgroups}"
    );
    // Hybrid: the unified hierarchy is joined too (best effort in the
    // manager, but it works on these hosts).
    assert!(cgroups.contains(&format!("0::{name}\n")), "{cgroups}");

    let lines = release_and_read_lines(g.child.as_mut().unwrap(), 1);
    assert_eq!(lines, vec!["done"]);
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);

    let stats = g.cg.stats().unwrap();
    assert_eq!(stats.memory.limit, Some(67108864));
    assert!(stats.memory.max_usage.is_some());
    assert!(
        stats.memory.stat.contains_key("total_rss"),
        "{:?}",
        stats.memory.stat
    );
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, Some(32));
    assert!(stats.cpu.usage_total > 0, "{:?}", stats.cpu);
    assert!(!stats.cpu.percpu_usage.is_empty());

    // update() on a running container.
    g.cg.update(&res(serde_json::json!({
        "memory": {"limit": 33554432, "swap": 67108864},
        "pids": {"limit": -1}
    })))
    .unwrap();
    assert_eq!(read(&memory.join("memory.limit_in_bytes")), "33554432");
    assert_eq!(
        read(&memory.join("memory.memsw.limit_in_bytes")),
        "67108864"
    );
    assert_eq!(read(&pids.join("pids.max")), "max");

    assert!(!g.cg.is_frozen().unwrap());
    g.cg.freeze().unwrap();
    assert!(g.cg.is_frozen().unwrap());
    assert_eq!(
        read(&v1_dir(&layout, "freezer", &name).join("freezer.state")),
        "FROZEN"
    );
    g.cg.thaw().unwrap();
    assert!(!g.cg.is_frozen().unwrap());

    // Kill and remove right away: rmdir may see EBUSY until the task is
    // gone, which remove() retries.
    let mut child = g.child.take().unwrap();
    child.kill().unwrap();
    g.cg.remove().unwrap();
    child.wait().unwrap();
    for p in g.cg.paths() {
        assert!(!p.exists(), "{} still exists", p.display());
    }
}

#[test]
fn v1_device_rules_are_enforced() {
    require_root();
    let layout = detect().unwrap();
    let name = unique_path();
    let mut g = Guard::new(manager(&layout, Some(&name), "ignored").unwrap());
    g.cg.apply(Some(&res(serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]
    }))))
    .unwrap();
    assert_eq!(
        read(&v1_dir(&layout, "devices", &name).join("devices.list")),
        "c 1:3 rwm"
    );
    g.child = Some(gated_shell(DEVICE_PROBE));
    g.cg.add_task(g.pid()).unwrap();
    let lines = release_and_read_lines(g.child.as_mut().unwrap(), 2);
    assert_eq!(lines, vec!["null-ok", "zero-denied"]);
}

#[test]
fn v1_missing_controller_is_a_clear_error_and_creates_nothing() {
    require_root();
    // The real hierarchies minus `pids`, asked for a pids limit.
    let CgroupLayout::V1 {
        mut mounts,
        unified,
    } = detect().unwrap()
    else {
        panic!("this host is expected to boot cgroup v1 (hybrid)");
    };
    mounts.remove("pids");
    let layout = CgroupLayout::V1 { mounts, unified };
    let name = unique_path();
    let g = Guard::new(manager(&layout, Some(&name), "ignored").unwrap());
    let err =
        g.cg.apply(Some(&res(serde_json::json!({"pids": {"limit": 10}}))))
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("the `pids` cgroup controller is not available"),
        "{err}"
    );
    for p in g.cg.paths() {
        assert!(!p.exists(), "{}", p.display());
    }
}

#[test]
fn v2_on_the_unified_mount() {
    require_root();
    let layout = CgroupLayout::V2 {
        root: unified_root(),
    };
    let name = unique_path();
    let mut g = Guard::new(manager(&layout, Some(&name), "ignored").unwrap());
    let dir = g.cg.paths()[0].clone();
    let subtree_before = read(&unified_root().join("cgroup.subtree_control"));
    g.cg.apply(None).unwrap();
    assert!(dir.is_dir());
    // Nothing berth wants (cpu, io, memory, pids) is offered here, so the
    // root's subtree_control must be unchanged.
    assert_eq!(
        read(&unified_root().join("cgroup.subtree_control")),
        subtree_before
    );

    // Burn a little CPU inside the group so cpu.stat has something to show
    // (usage is counted in microseconds and flushed lazily).
    g.child = Some(gated_shell(
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo started; exec sleep 60",
    ));
    let pid = g.pid();
    g.cg.add_task(pid).unwrap();
    let cgroups = proc_cgroup(pid);
    assert!(cgroups.contains(&format!("0::{name}\n")), "{cgroups}");
    let lines = release_and_read_lines(g.child.as_mut().unwrap(), 1);
    assert_eq!(lines, vec!["started"]);
    assert_eq!(g.cg.pids().unwrap(), vec![pid]);
    // cpu.stat exists without the cpu controller (usage only).
    let mut stats = g.cg.stats().unwrap();
    for _ in 0..100 {
        if stats.cpu.usage_total > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        stats = g.cg.stats().unwrap();
    }
    assert!(stats.cpu.usage_total > 0, "{:?}", stats.cpu);

    if dir.join("cgroup.freeze").exists() {
        assert!(!g.cg.is_frozen().unwrap());
        g.cg.freeze().unwrap();
        assert!(g.cg.is_frozen().unwrap());
        g.cg.thaw().unwrap();
        assert!(!g.cg.is_frozen().unwrap());
    }

    let mut child = g.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    g.cg.remove().unwrap();
    assert!(!dir.exists());
}

#[test]
fn v2_device_program_is_enforced_and_replaced_on_update() {
    require_root();
    let layout = CgroupLayout::V2 {
        root: unified_root(),
    };
    let name = unique_path();
    let mut g = Guard::new(manager(&layout, Some(&name), "ignored").unwrap());
    let dir = g.cg.paths()[0].clone();
    g.cg.apply(Some(&res(serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]
    }))))
    .unwrap();
    assert_eq!(attached_programs(&dir), 1);

    let script = DEVICE_PROBE;
    g.child = Some(gated_shell(script));
    g.cg.add_task(g.pid()).unwrap();
    let lines = release_and_read_lines(g.child.as_mut().unwrap(), 2);
    assert_eq!(lines, vec!["null-ok", "zero-denied"]);
    let mut child = g.child.take().unwrap();
    child.wait().unwrap();

    // update() swaps the program: still exactly one attached, and the new
    // rules apply.
    g.cg.update(&res(serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}
        ]
    })))
    .unwrap();
    assert_eq!(attached_programs(&dir), 1);
    g.child = Some(gated_shell(script));
    g.cg.add_task(g.pid()).unwrap();
    let lines = release_and_read_lines(g.child.as_mut().unwrap(), 2);
    assert_eq!(lines, vec!["null-denied", "zero-ok"]);
}

fn attached_programs(dir: &Path) -> usize {
    use std::os::fd::AsFd;
    let f = fs_err::File::open(dir).unwrap();
    berth_sys::bpf::prog_query(f.as_fd(), berth_sys::bpf::ATTACH_CGROUP_DEVICE)
        .unwrap()
        .len()
}
