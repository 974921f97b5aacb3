//! Container lifecycle against real shims (root only): create, start, wait,
//! exit codes, stop, remove, live restore.
//!
//! Each test has its own data root, exec root and cgroup parent; the
//! [`Fixture`] guard kills leftover shims and containers by pid, unmounts
//! root file systems and removes the cgroup parent even when a test fails.
//!
//! The `berth-shim` binary: `$BERTH_SHIM`, or built here with cargo into
//! this test's target directory (the engine may not depend on berth-shim,
//! not even as a dev-dependency: tests/layering.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_engine::container::{Containers, CreateOptions, Settings, Status, WaitCondition};
use berth_image::ImageStore;
use berth_image::reference::Reference;
use berth_image::store::ImportOptions;

fn shim_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("BERTH_SHIM") {
                return PathBuf::from(p);
            }
            // <target>/<profile>/deps/containers-<hash>
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
            let target_dir = profile_dir.parent().unwrap();
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "dev",
                Some(other) => other,
            };
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "berth-shim",
                    "--bin",
                    "berth-shim",
                ])
                .args(["--profile", profile, "--target-dir"])
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(status.success(), "cargo build -p berth-shim failed");
            profile_dir.join("berth-shim")
        })
        .clone()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Fixture {
    dir: tempfile::TempDir,
    cgroup_parent: String,
    images: ImageStore,
    containers: Option<Containers>,
}

impl Fixture {
    fn new() -> Self {
        assert!(
            nix::unistd::geteuid().is_root(),
            "container tests need root"
        );
        // Detached shims are re-parented to us (pid 1 may never reap here).
        let _ = berth_sys::prctl::set_child_subreaper(true);
        // Short: shim socket paths are limited to 107 bytes.
        let dir = tempfile::Builder::new().prefix("bc").tempdir().unwrap();
        let cgroup_parent = format!(
            "/berth-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let images = ImageStore::open(dir.path().join("d")).unwrap();
        import_busybox(&images, dir.path());
        let mut f = Self {
            dir,
            cgroup_parent,
            images,
            containers: None,
        };
        f.containers = Some(f.open());
        f
    }

    fn settings(&self) -> Settings {
        Settings {
            data_root: self.dir.path().join("d"),
            exec_root: self.dir.path().join("e"),
            shim_path: shim_bin(),
            cgroup_parent: self.cgroup_parent.clone(),
            cgroup_v2: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
            events: berth_engine::events::EventBus::new(),
            default_init: false,
            host_resolv_conf: "/etc/resolv.conf".into(),
            host_gateway: None,
        }
    }

    fn open(&self) -> Containers {
        Containers::open(self.settings()).unwrap()
    }

    fn c(&self) -> &Containers {
        self.containers.as_ref().unwrap()
    }

    fn run(&self, args: &[&str]) -> String {
        let c = self.c().create(&self.images, "busybox", cmd(args)).unwrap();
        self.c().start(&self.images, &c.id).unwrap();
        c.id
    }

    fn rootfs(&self, id: &str) -> PathBuf {
        self.dir.path().join("e/containers").join(id).join("rootfs")
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let rel = self.cgroup_parent.trim_start_matches('/');
        if let Ok(entries) = fs_err::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let p = e.path().join(rel);
                if p.is_dir() {
                    out.push(p);
                }
            }
        }
        let p = Path::new("/sys/fs/cgroup").join(rel);
        if p.is_dir() && !out.contains(&p) {
            out.push(p);
        }
        out
    }
}

fn mounted(path: &Path) -> bool {
    let info = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == p))
}

fn kill_pid(pid: i32) {
    if pid > 0 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let list = self
            .containers
            .as_ref()
            .map(|c| c.list())
            .unwrap_or_default();
        drop(self.containers.take());
        for c in &list {
            kill_pid(c.state.pid);
            kill_pid(c.state.shim_pid);
        }
        // Shims reaped after their exit (we are their subreaper).
        std::thread::sleep(Duration::from_millis(50));
        for c in &list {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(c.state.shim_pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            let rootfs = self.rootfs(&c.id);
            while mounted(&rootfs) {
                if nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH).is_err() {
                    break;
                }
            }
        }
        for dir in self.cgroup_dirs() {
            if let Ok(entries) = fs_err::read_dir(&dir) {
                for e in entries.flatten() {
                    if e.path().is_dir() {
                        let _ = fs_err::remove_dir(e.path());
                    }
                }
            }
            let _ = fs_err::remove_dir(&dir);
        }
    }
}

fn cmd(args: &[&str]) -> CreateOptions {
    CreateOptions {
        cmd: Some(args.iter().map(|s| s.to_string()).collect()),
        ..CreateOptions::default()
    }
}

/// A busybox image: /bin/busybox and applet links, tarred, imported.
fn import_busybox(images: &ImageStore, tmp: &Path) {
    let root = tmp.join("bb-rootfs");
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::create_dir_all(root.join("etc")).unwrap();
    fs_err::create_dir_all(root.join("tmp")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "sleep", "true", "cat", "ls", "id"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    fs_err::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    fs_err::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let tar = tmp.join("bb.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    images
        .import_rootfs_tar(
            fs_err::File::open(&tar).unwrap(),
            &ImportOptions {
                changes: vec!["CMD [\"sh\"]".into()],
                reference: Some(Reference::parse_normalized("busybox").unwrap()),
                ..ImportOptions::default()
            },
        )
        .unwrap();
    fs_err::remove_dir_all(&root).unwrap();
}

#[test]
fn echo_hello_exits_zero_and_logs() {
    let f = Fixture::new();
    let id = f.run(&["echo", "hello"]);
    assert_eq!(f.c().wait(&id).unwrap(), 0);
    let log = fs_err::read_to_string(f.c().log_path(&id)).unwrap();
    assert!(log.contains("\"log\":\"hello\\n\""), "{log}");
    assert!(log.contains("\"stream\":\"stdout\""), "{log}");
    let c = f.c().get(&id).unwrap();
    assert_eq!(c.state.status, Status::Exited);
    assert!(!c.state.finished_at.is_empty());
    assert!(!mounted(&f.rootfs(&id)), "rootfs still mounted after exit");
}

#[test]
fn exit_codes_propagate_and_restart_works() {
    let f = Fixture::new();
    let id = f.run(&["sh", "-c", "exit 3"]);
    assert_eq!(f.c().wait(&id).unwrap(), 3);
    // An exited container starts again (fresh shim, same snapshot).
    f.c().start(&f.images, &id).unwrap();
    assert_eq!(f.c().wait(&id).unwrap(), 3);
    let c = f.c().get(&id).unwrap();
    assert_eq!(c.state.exit_code, 3);
}

#[test]
fn the_config_reaches_the_process() {
    let f = Fixture::new();
    let c = f
        .c()
        .create(
            &f.images,
            "busybox",
            CreateOptions {
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo $FOO $HOSTNAME $(pwd) $(id -u):$(id -g) $(hostname)".into(),
                ]),
                env: vec!["FOO=bar".into()],
                working_dir: Some("/tmp".into()),
                user: Some("nobody".into()),
                hostname: Some("box".into()),
                name: Some("web".into()),
                ..CreateOptions::default()
            },
        )
        .unwrap();
    assert_eq!(f.c().get("web").unwrap().id, c.id);
    assert_eq!(f.c().get(&c.id[..10]).unwrap().id, c.id);
    let dup = f
        .c()
        .create(
            &f.images,
            "busybox",
            CreateOptions {
                name: Some("web".into()),
                ..CreateOptions::default()
            },
        )
        .unwrap_err();
    assert!(dup.to_string().contains("already in use"), "{dup}");
    f.c().start(&f.images, "web").unwrap();
    assert_eq!(f.c().wait("web").unwrap(), 0);
    let log = fs_err::read_to_string(f.c().log_path(&c.id)).unwrap();
    assert!(log.contains("bar box /tmp 65534:65534"), "{log}");
    f.c().remove(&f.images, "web", false).unwrap();
}

#[test]
fn stop_kills_a_sleeping_container() {
    let f = Fixture::new();
    let id = f.run(&["sleep", "1000"]);
    assert_eq!(f.c().get(&id).unwrap().state.status, Status::Running);
    assert!(
        f.c()
            .wait_timeout(&id, Duration::from_millis(200))
            .unwrap()
            .is_none()
    );
    f.c().stop(&id, Some(Duration::from_secs(1))).unwrap();
    let code = f.c().wait(&id).unwrap();
    // sleep as pid 1 ignores SIGTERM (no handler): SIGKILL after the timeout.
    assert!(code == 137 || code == 143, "exit code {code}");
}

#[test]
fn remove_leaves_nothing() {
    let f = Fixture::new();
    let id = f.run(&["sleep", "1000"]);
    let c = f.c().get(&id).unwrap();
    assert!(mounted(&f.rootfs(&id)));
    let err = f.c().remove(&f.images, &id, false).unwrap_err();
    assert!(err.to_string().contains("running"), "{err}");
    f.c().remove(&f.images, &id, true).unwrap();
    assert!(f.c().get(&id).is_err());
    assert!(!mounted(&f.rootfs(&id)));
    assert!(!f.dir.path().join("e/containers").join(&id).exists());
    assert!(!f.dir.path().join("e/shims").join(&id).exists());
    assert!(!f.dir.path().join("e/runtime").join(&id).exists());
    assert!(!f.dir.path().join("d/containers").join(&id).exists());
    assert!(f.images.snapshots().stat(&id).is_err(), "snapshot left");
    for dir in f.cgroup_dirs() {
        assert!(!dir.join(&id).exists(), "cgroup {} left", dir.display());
    }
    // The shim is gone (reaped by the guard at the latest; not alive now).
    let stat = fs_err::read_to_string(format!("/proc/{}/stat", c.state.shim_pid));
    assert!(
        stat.map_or(true, |s| s.contains(") Z")),
        "shim still running"
    );
}

#[test]
fn live_restore_reconnects_to_a_running_container() {
    let mut f = Fixture::new();
    let id = f.run(&["sleep", "1000"]);
    let before = f.c().get(&id).unwrap();
    // A daemon restart: the service goes away, the shim stays.
    drop(f.containers.take());
    assert!(Path::new(&format!("/proc/{}", before.state.shim_pid)).exists());
    f.containers = Some(f.open());
    let after = f.c().get(&id).unwrap();
    assert_eq!(after.state.status, Status::Running);
    assert_eq!(after.state.pid, before.state.pid);
    f.c().stop(&id, Some(Duration::from_secs(1))).unwrap();
    let code = f.c().wait(&id).unwrap();
    assert!(code == 137 || code == 143, "exit code {code}");
    assert!(!mounted(&f.rootfs(&id)));
    f.c().remove(&f.images, &id, false).unwrap();
}

#[test]
fn restore_marks_a_container_whose_shim_died_exited() {
    let mut f = Fixture::new();
    let id = f.run(&["sleep", "1000"]);
    let before = f.c().get(&id).unwrap();
    drop(f.containers.take());
    kill_pid(before.state.pid);
    kill_pid(before.state.shim_pid);
    std::thread::sleep(Duration::from_millis(100));
    let _ = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(before.state.shim_pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    f.containers = Some(f.open());
    let after = f.c().get(&id).unwrap();
    assert_eq!(after.state.status, Status::Exited);
    assert!(!mounted(&f.rootfs(&id)));
    f.c().remove(&f.images, &id, false).unwrap();
}

/// The same through `Engine`: the built-in hello-world image, `/info`
/// counts, rmi refused while a container uses the image, and a reload.
#[test]
fn engine_runs_hello_world_and_reloads() {
    use berth_engine::{Engine, EngineConfig};

    let mut f = Fixture::new();
    drop(f.containers.take());
    let mut config = EngineConfig::new(f.dir.path().join("d2"), f.dir.path().join("e2"));
    config.shim_path = shim_bin();
    config.cgroup_parent = f.cgroup_parent.clone();
    let engine = Engine::open(config.clone()).unwrap();
    // `--network none`: this test has no bridge of its own to use, and the
    // default one (`berth0`) belongs to the host.
    let c = engine
        .containers()
        .create(
            "hello-world",
            CreateOptions {
                network: berth_engine::network::ContainerNetworks {
                    mode: "none".into(),
                    ..Default::default()
                },
                ..CreateOptions::default()
            },
        )
        .unwrap();
    engine.containers().start(&c.id).unwrap();
    assert_eq!(engine.containers().wait(&c.id).unwrap(), 0);
    let log = fs_err::read_to_string(engine.containers().log_path(&c.id)).unwrap();
    assert!(log.contains("Hello"), "{log}");
    // rmi refuses an image a container uses.
    assert!(engine.images().delete("hello-world", false).is_err());
    engine.containers().remove(&c.id, false).unwrap();

    let bb = engine
        .containers()
        .create("hello-world", CreateOptions::default())
        .unwrap();
    assert_eq!(engine.system_info().containers.total, 1);
    drop(engine);
    let engine = Engine::open(config).unwrap();
    assert_eq!(
        engine.containers().get(&bb.id).unwrap().state.status,
        Status::Created
    );
    engine.containers().remove(&bb.id, false).unwrap();
    assert_eq!(engine.system_info().containers.total, 0);
}

/// `rm` through `Engine`, where a reaper thread deletes what a removed
/// container leaves: the container's directory is gone when `rm` returns,
/// the image is free for rmi right away (rmi waits for the reaper), and
/// once the engine is closed nothing of the containers is left.
#[test]
fn engine_remove_leaves_nothing() {
    use berth_engine::{Engine, EngineConfig};

    let mut f = Fixture::new();
    drop(f.containers.take());
    let (data, exec) = (f.dir.path().join("d3"), f.dir.path().join("e3"));
    let mut config = EngineConfig::new(data.clone(), exec.clone());
    config.shim_path = shim_bin();
    config.cgroup_parent = f.cgroup_parent.clone();
    let engine = Engine::open(config).unwrap();
    let none = || CreateOptions {
        network: berth_engine::network::ContainerNetworks {
            mode: "none".into(),
            ..Default::default()
        },
        ..CreateOptions::default()
    };
    let ids: Vec<String> = (0..3)
        .map(|_| {
            engine
                .containers()
                .create("hello-world", none())
                .unwrap()
                .id
        })
        .collect();
    engine.containers().start(&ids[0]).unwrap();
    assert_eq!(engine.containers().wait(&ids[0]).unwrap(), 0);
    for id in &ids {
        engine.containers().remove(id, false).unwrap();
        assert!(engine.containers().get(id).is_err());
        assert!(!data.join("containers").join(id).exists());
    }
    engine.images().delete("hello-world", false).unwrap();
    drop(engine);
    let names = |dir: &Path| -> Vec<String> {
        fs_err::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&data.join("containers")), Vec::<String>::new());
    assert_eq!(names(&exec.join("containers")), Vec::<String>::new());
    let meta: serde_json::Value =
        serde_json::from_slice(&fs_err::read(data.join("snapshots/metadata.json")).unwrap())
            .unwrap();
    for id in &ids {
        assert!(meta["snapshots"].get(id).is_none(), "snapshot of {id} left");
    }
}

#[test]
fn a_crash_during_start_is_undone_at_open() {
    let mut f = Fixture::new();
    let id = f.run(&["sleep", "1000"]);
    let before = f.c().get(&id).unwrap();
    drop(f.containers.take());
    // As if the daemon died after starting the shim, before recording it.
    let doc = f
        .dir
        .path()
        .join("d/containers")
        .join(&id)
        .join("config.v2.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs_err::read(&doc).unwrap()).unwrap();
    v["State"]["Status"] = "created".into();
    fs_err::write(&doc, serde_json::to_vec(&v).unwrap()).unwrap();
    f.containers = Some(f.open());
    let after = f.c().get(&id).unwrap();
    assert_eq!(after.state.status, Status::Created);
    assert!(!mounted(&f.rootfs(&id)));
    assert!(!f.dir.path().join("e/shims").join(&id).exists());
    std::thread::sleep(Duration::from_millis(50));
    let _ = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(before.state.shim_pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    let stat = fs_err::read_to_string(format!("/proc/{}/stat", before.state.pid));
    assert!(
        stat.map_or(true, |s| s.contains(") Z")),
        "init still running"
    );
    // And it starts normally.
    f.c().start(&f.images, &id).unwrap();
    f.c().remove(&f.images, &id, true).unwrap();
}

#[test]
fn wait_conditions() {
    let f = Fixture::new();
    let c = f
        .c()
        .create(&f.images, "busybox", cmd(&["sh", "-c", "exit 7"]))
        .unwrap();
    // not-running: a created container is not running.
    assert_eq!(f.c().wait(&c.id).unwrap(), 0);
    // next-exit, asked before the start (as `docker run` does).
    let waiter = std::thread::scope(|s| {
        let h = s.spawn(|| f.c().wait_for(&c.id, WaitCondition::NextExit));
        std::thread::sleep(Duration::from_millis(100));
        f.c().start(&f.images, &c.id).unwrap();
        h.join().unwrap()
    });
    assert_eq!(waiter.unwrap(), 7);
    let removed = std::thread::scope(|s| {
        let h = s.spawn(|| f.c().wait_for(&c.id, WaitCondition::Removed));
        std::thread::sleep(Duration::from_millis(100));
        f.c().remove(&f.images, &c.id, false).unwrap();
        h.join().unwrap()
    });
    assert_eq!(removed.unwrap(), 7);
    assert_eq!(
        WaitCondition::parse("next-exit"),
        Some(WaitCondition::NextExit)
    );
    assert_eq!(WaitCondition::parse("bogus"), None);
}

#[test]
fn parallel_lifecycles() {
    let f = Fixture::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let f = &f;
                s.spawn(move || {
                    let script = format!("exit {i}");
                    let id = f.run(&["sh", "-c", &script]);
                    assert_eq!(f.c().wait(&id).unwrap(), i);
                    // Stop and kill of an exited container: no-op / conflict.
                    f.c().stop(&id, Some(Duration::from_secs(1))).unwrap();
                    assert!(f.c().kill(&id, 9).is_err());
                    f.c().remove(&f.images, &id, false).unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert!(f.c().list().is_empty());
    for dir in f.cgroup_dirs() {
        let children = fs_err::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .count();
        assert_eq!(children, 0, "{}", dir.display());
    }
}
