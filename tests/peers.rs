//! Real peers drive berth-runtime in place of runc: Podman (`--runtime`) and
//! containerd (`ctr run --runc-binary`, i.e. the runc shim's BinaryName option).
//!
//! - dockerd (Debian's 20.10) on the hand-started containerd above, with its own
//!   data root, exec root, pidfile, socket and config file, `--bridge none`, no
//!   iptables/ip-forward/masquerade changes, cgroupfs under a unique cgroup parent,
//!   and `--add-runtime berth=<path>`; driven by the docker CLI on PATH with its own
//!   DOCKER_CONFIG. dockerd 20.10 always writes `/etc/docker/key.json` and creates
//!   `/run/docker/plugins`: the test removes them afterwards if it created them.
//!
//! A third check, `crun_runs_a_bundle_after_peer_setup`, proves the host fix
//! scripts/peer-setup applies for crun (the benchmark's fastest peer).
//!
//! Every podman/containerd test runs twice: with runc (proves the harness works on this
//! machine) and with berth-runtime (the real check). Both use throwaway state:
//! - podman: its own `--root`, `--runroot`, `--tmpdir` and `CONTAINERS_CONF` (file
//!   locks under the tmpdir instead of the host-wide /dev/shm/libpod_lock, cgroupfs
//!   manager and no events log since there is no systemd, the ulimits that
//!   scripts/peer-setup writes host-wide), `--network none` (no host bridge or
//!   firewall rules) and a unique `--cgroup-parent`;
//! - containerd: started by hand on a temp root/state/socket with a generated
//!   config (CRI off, /opt plugin dir under the temp dir), stopped by pid; ctr
//!   uses a temp `--runc-root` and `--fifo-dir` and a unique `--cgroup`. The shim's
//!   socket directory `/run/containerd/s` is hard-coded in containerd 1.6 and is
//!   the only path outside the temp dir it touches (the socket itself is removed
//!   when the shim exits).
//! - podman 4.3 also writes its blob-info cache to
//!   `/var/lib/containers/cache/blob-info-cache-v1.boltdb` whatever `--root` is
//!   (no flag moves it); that cache is the one global file these tests update.
//!
//! Cleanup runs in Drop guards even when a test fails: processes are ended by pid
//! (containerd, and shims whose command line names our temp socket), mounts are
//! unmounted only under our temp dir, cgroups only under our unique names.

// Test code: panicking with a message is how it reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, command, require_root, require_tool, run_with_timeout, unique};

const TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------- podman

/// A throwaway podman store; removes its mounts, cgroups and files on drop.
struct Podman {
    bin: PathBuf,
    dir: tempfile::TempDir,
    cgroup_parent: String,
}

impl Podman {
    fn new() -> Self {
        let bin = require_tool("podman", "podman");
        require_tool("conmon", "conmon");
        let dir = tempfile::Builder::new()
            .prefix("berth-podman-")
            .tempdir()
            .unwrap();
        fs_err::write(
            dir.path().join("containers.conf"),
            "[containers]\n\
             default_ulimits = [\"nofile=1024:1024\", \"nproc=32768:32768\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"none\"\n\
             lock_type = \"file\"\n",
        )
        .unwrap();
        Podman {
            bin,
            dir,
            cgroup_parent: unique("berth-podman"),
        }
    }

    fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(&self.bin);
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"]);
        c
    }

    fn run(&self, args: &[&str], runtime: Option<&Path>) -> Run {
        let mut c = self.cmd();
        if let Some(rt) = runtime {
            c.arg("--runtime").arg(rt);
        }
        c.args(args);
        run_with_timeout(c, TIMEOUT)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Stop whatever is left (by podman's own bookkeeping in our store), then
        // unmount everything under our dir and drop our cgroups.
        let mut c = self.cmd();
        c.args(["rm", "--all", "--force", "--time", "0"]);
        let _ = run_with_timeout(c, Duration::from_secs(30));
        common::unmount_all_under(self.dir.path());
        let _ = common::remove_cgroup_everywhere(&self.cgroup_parent);
    }
}

fn podman_runs_busybox(runtime: &Path) {
    require_root();
    let pm = Podman::new();
    let archive = common::busybox_oci_archive();

    let load = pm.run(&["load", "-i", archive.to_str().unwrap()], None);
    assert!(
        load.success() && load.stdout.contains("localhost/busybox:latest"),
        "podman load of {} failed\n{}",
        archive.display(),
        load.describe()
    );

    let parent = format!("/{}", pm.cgroup_parent);
    let run = pm.run(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroup-parent",
            &parent,
            "localhost/busybox",
            "echo",
            "ok",
        ],
        Some(runtime),
    );
    assert!(
        run.success() && run.stdout == "ok\n",
        "podman --runtime {} run --rm localhost/busybox echo ok: expected \"ok\"\n{}",
        runtime.display(),
        run.describe()
    );
}

#[test]
fn podman_with_runc() {
    podman_runs_busybox(&require_tool("runc", "runc"));
}

#[test]
fn podman_with_berth_runtime() {
    podman_runs_busybox(&common::berth_runtime());
}

// ------------------------------------------------------------------ containerd

/// containerd started by hand on a temp root/state/socket. Drop stops it by pid,
/// ends leftover shims of *this* instance by pid, unmounts under the temp dir.
struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    ctr: PathBuf,
    namespace: String,
    cgroups: Vec<String>,
}

impl Containerd {
    fn start() -> Self {
        let bin = require_tool("containerd", "containerd");
        require_tool("containerd-shim-runc-v2", "containerd");
        let ctr = require_tool("ctr", "containerd");
        let dir = tempfile::Builder::new()
            .prefix("berth-ctrd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let sock = d.join("containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{opt}"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = sock.display(),
            opt = d.join("opt").display(),
        );
        fs_err::write(d.join("config.toml"), config).unwrap();
        let log = fs_err::File::create(d.join("containerd.log")).unwrap();
        let log2 = log.file().try_clone().unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(d.join("config.toml"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--state")
            .arg(d.join("state"))
            .arg("--address")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.into_parts().0))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("starting containerd");
        let mut me = Containerd {
            child,
            dir,
            ctr,
            namespace: unique("berth"),
            cgroups: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = me.ctr(&["version"]);
            if v.success() {
                break;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("containerd exited early ({status})\n{}", me.log());
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer on {} within 20s\n{}\n{}",
                sock.display(),
                v.describe(),
                me.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    fn log(&self) -> String {
        let log =
            fs_err::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- containerd log (last 40 lines) ---\n{}",
            tail.join("\n")
        )
    }

    fn ctr(&self, args: &[&str]) -> Run {
        let mut c = command(&self.ctr, ["-a"]);
        c.arg(self.sock()).args(["-n", &self.namespace]).args(args);
        run_with_timeout(c, TIMEOUT)
    }

    /// Pids of processes whose command line names our socket (the shims we started).
    fn our_shims(&self) -> Vec<u32> {
        let needle = self.sock().into_os_string().into_encoded_bytes();
        let mut pids = Vec::new();
        let Ok(rd) = fs_err::read_dir("/proc") else {
            return pids;
        };
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid == self.child.id() {
                continue;
            }
            if let Ok(cmdline) = fs_err::read(e.path().join("cmdline"))
                && cmdline
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
            {
                pids.push(pid);
            }
        }
        pids
    }
}

fn kill_pid(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Stop our containerd by pid: TERM, then KILL after 10s.
        kill_pid(self.child.id(), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Shims outlive containerd by design; end the ones serving our socket.
        for pid in self.our_shims() {
            kill_pid(pid, "-KILL");
        }
        common::unmount_all_under(self.dir.path());
        for cg in &self.cgroups {
            let _ = common::remove_cgroup_everywhere(cg);
        }
        let _ = common::remove_cgroup_everywhere(&self.namespace);
    }
}

fn containerd_runs_busybox(runtime: &Path) {
    require_root();
    let mut cd = Containerd::start();
    let archive = common::busybox_oci_archive();

    let import = cd.ctr(&["images", "import", archive.to_str().unwrap()]);
    assert!(
        import.success(),
        "ctr images import {} failed\n{}\n{}",
        archive.display(),
        import.describe(),
        cd.log()
    );

    let cgroup = unique("berth-ctr");
    cd.cgroups.push(cgroup.clone());
    let id = unique("ctr");
    let d = cd.dir.path().to_owned();
    let runc_root = d.join("runc-root");
    let fifo_dir = d.join("fifo");
    let run = cd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        runtime.to_str().unwrap(),
        "--runc-root",
        runc_root.to_str().unwrap(),
        "--fifo-dir",
        fifo_dir.to_str().unwrap(),
        "--cgroup",
        &format!("/{cgroup}"),
        "localhost/busybox:latest",
        &id,
        "echo",
        "ok",
    ]);
    assert!(
        run.success() && run.stdout.trim_end() == "ok",
        "ctr run --rm --runc-binary {} localhost/busybox:latest {id} echo ok: expected \"ok\"\n{}\n{}",
        runtime.display(),
        run.describe(),
        cd.log()
    );
}

#[test]
fn containerd_with_runc() {
    containerd_runs_busybox(&require_tool("runc", "runc"));
}

#[test]
fn containerd_with_berth_runtime() {
    containerd_runs_busybox(&common::berth_runtime());
}

// ---------------------------------------------------------------------- docker

/// dockerd started by hand on top of our own containerd; Drop stops it by pid and
/// removes the host paths dockerd 20.10 insists on creating, if we created them.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
    docker: PathBuf,
    cgroup_parent: String,
    remove_key: bool,
    remove_run_docker: bool,
    // Dropped after dockerd is stopped (fields drop in declaration order, and
    // Drop::drop below runs first).
    containerd: Containerd,
}

const DOCKER_KEY: &str = "/etc/docker/key.json";
const RUN_DOCKER: &str = "/run/docker";

impl Dockerd {
    fn start(runtime: &Path) -> Self {
        let dockerd = require_tool("dockerd", "docker.io");
        let docker = require_tool("docker", "docker.io");
        let containerd = Containerd::start();
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        fs_err::write(d.join("daemon.json"), "{}").unwrap();
        let remove_key = !Path::new(DOCKER_KEY).exists();
        let remove_run_docker = !Path::new(RUN_DOCKER).exists();
        let cgroup_parent = unique("berth-dockerd");
        let log = fs_err::File::create(d.join("dockerd.log")).unwrap();
        let log2 = log.file().try_clone().unwrap();
        let child = Command::new(dockerd)
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--containerd")
            .arg(containerd.sock())
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--storage-driver",
                "overlay2",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
                "--cgroup-parent",
                &format!("/{cgroup_parent}"),
            ])
            .arg("--add-runtime")
            .arg(format!("berth={}", runtime.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.into_parts().0))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("starting dockerd");
        let mut me = Dockerd {
            child,
            dir,
            docker,
            cgroup_parent,
            remove_key,
            remove_run_docker,
            containerd,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = me.docker(&["version"]);
            if v.success() {
                break;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("dockerd exited early ({status})\n{}", me.log());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 30s\n{}\n{}",
                v.describe(),
                me.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        me
    }

    fn log(&self) -> String {
        let log = fs_err::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("--- dockerd log (last 40 lines) ---\n{}", tail.join("\n"))
    }

    fn docker(&self, args: &[&str]) -> Run {
        let d = self.dir.path();
        let mut c = Command::new(&self.docker);
        c.env("DOCKER_CONFIG", d.join("cli"))
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(args);
        run_with_timeout(c, TIMEOUT)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = self.docker(&["rm", "--force", "--volumes", "berth-peer"]);
        kill_pid(self.child.id(), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        common::unmount_all_under(self.dir.path());
        let _ = common::remove_cgroup_everywhere(&self.cgroup_parent);
        if self.remove_key {
            let _ = fs_err::remove_file(DOCKER_KEY);
        }
        if self.remove_run_docker {
            let _ = fs_err::remove_dir(Path::new(RUN_DOCKER).join("plugins"));
            let _ = fs_err::remove_dir(RUN_DOCKER);
        }
        // self.containerd drops next: stops containerd and our shims.
    }
}

/// Serialises the docker tests: both create (and then remove) the same host paths.
static DOCKER_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn docker_runs_busybox(runtime_name: Option<&str>, runtime: &Path) {
    require_root();
    let _serial = DOCKER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dockerd = Dockerd::start(runtime);
    let archive = common::busybox_docker_archive();
    let load = dockerd.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        load.success() && load.stdout.contains("localhost/busybox:latest"),
        "docker load -i {} failed\n{}\n{}",
        archive.display(),
        load.describe(),
        dockerd.log()
    );
    let mut args = vec!["run", "--rm", "--name", "berth-peer", "--network", "none"];
    if let Some(name) = runtime_name {
        args.extend(["--runtime", name]);
    }
    args.extend(["localhost/busybox:latest", "echo", "ok"]);
    let run = dockerd.docker(&args);
    assert!(
        run.success() && run.stdout == "ok\n",
        "docker {} (runtime {}): expected \"ok\"\n{}\n{}\n{}",
        args.join(" "),
        runtime.display(),
        run.describe(),
        dockerd.log(),
        dockerd.containerd.log()
    );
}

#[test]
fn docker_with_runc() {
    let runc = require_tool("runc", "runc");
    docker_runs_busybox(None, &runc);
}

#[test]
fn docker_with_berth_runtime() {
    docker_runs_busybox(Some("berth"), &common::berth_runtime());
}

// ------------------------------------------------------------------------ crun

/// crun (the benchmark's fastest peer) runs a busybox bundle on this host. On the
/// v1-hybrid layout this needs scripts/peer-setup (hugetlb as its own v1
/// hierarchy); berth-runtime needs no such fix.
#[test]
fn crun_runs_a_bundle_after_peer_setup() {
    require_root();
    let crun = require_tool("crun", "crun");
    let scratch = tempfile::Builder::new()
        .prefix("berth-crun-")
        .tempdir()
        .unwrap();
    let bundle = scratch.path().join("bundle");
    fs_err::create_dir_all(&bundle).unwrap();
    let cgroup = unique("berth-crun");
    let mut spec = common::runc_default_spec();
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["process"]["args"] = serde_json::json!(["echo", "ok"]);
    spec["root"]["path"] = serde_json::json!(common::busybox_rootfs());
    spec["linux"]["cgroupsPath"] = serde_json::json!(format!("/{cgroup}"));
    fs_err::write(
        bundle.join("config.json"),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    let id = unique("crun");
    let root = scratch.path().join("root");
    let mut c = command(&crun, ["--root"]);
    c.arg(&root).args(["run", "--bundle"]).arg(&bundle).arg(&id);
    let run = run_with_timeout(c, TIMEOUT);
    let mut d = command(&crun, ["--root"]);
    d.arg(&root).args(["delete", "--force", &id]);
    let _ = run_with_timeout(d, TIMEOUT);
    let _ = common::remove_cgroup_everywhere(&cgroup);
    assert!(
        !run.stderr.contains("hybrid mode not supported"),
        "crun refuses the v1-hybrid cgroup layout: run scripts/peer-setup as root \
         (.ci/run does) to mount hugetlb as its own v1 hierarchy\n{}",
        run.describe()
    );
    assert!(
        run.success() && run.stdout == "ok\n",
        "crun run of a busybox bundle failed\n{}",
        run.describe()
    );
}
