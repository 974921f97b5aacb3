//! The real docker CLI drives berthd's container endpoints: create, start,
//! wait, ps, rm (root only: containers need mounts and namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const DOCKER_28: &str = "/usr/local/bin/docker";

/// `berth-shim` built from this tree next to `berthd` (where berthd looks
/// for it), in the same profile.
fn build_shim() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
        let profile_dir = berthd.parent().unwrap().to_owned();
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
    });
}

/// A berthd on its own roots; SIGTERM then SIGKILL (by pid) on drop.
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    cgroup_parent: String,
}

impl Daemon {
    fn start() -> Self {
        build_shim();
        // Short: shim socket paths live under the exec root.
        let dir = tempfile::Builder::new().prefix("bd").tempdir().unwrap();
        let log = fs_err::File::create(dir.path().join("berthd.log")).unwrap();
        // Per daemon: tests run in parallel and each removes its own parent.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let cgroup_parent = format!(
            "/berth-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let child = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("--data-root")
            .arg(dir.path().join("d"))
            .arg("--exec-root")
            .arg(dir.path().join("e"))
            .arg("-H")
            .arg(format!("unix://{}", dir.path().join("s.sock").display()))
            .arg("--pidfile")
            .arg(dir.path().join("pid"))
            .arg("--cgroup-parent")
            .arg(&cgroup_parent)
            .stdout(Stdio::null())
            .stderr(log.into_parts().0)
            .spawn()
            .unwrap();
        let daemon = Self {
            child,
            dir,
            cgroup_parent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(daemon.socket()).is_err() {
            assert!(Instant::now() < deadline, "berthd did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("s.sock")
    }

    fn docker(&self, args: &[&str]) -> Output {
        assert!(
            Path::new(DOCKER_28).is_file(),
            "{DOCKER_28} is missing: .ci/run installs it"
        );
        let config = tempfile::tempdir().unwrap();
        Command::new(DOCKER_28)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap()
    }

    /// `docker args` with `input` on its standard input.
    fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let config = tempfile::tempdir().unwrap();
        let mut child = Command::new(DOCKER_28)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = kill(pid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
        // The containers' cgroups are gone with them; the parent is ours.
        for dir in cgroup_dirs(&self.cgroup_parent) {
            let _ = fs_err::remove_dir(dir);
        }
    }
}

/// `<parent>` in every mounted hierarchy that has it.
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let rel = parent.trim_start_matches('/');
    let mut out = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    if root.join(rel).is_dir() {
        out.push(root.join(rel));
    }
    for e in fs_err::read_dir(root).into_iter().flatten().flatten() {
        let p = e.path().join(rel);
        if p.is_dir() {
            out.push(p);
        }
    }
    out
}

#[test]
fn docker_create_start_wait_ps_rm() {
    let d = Daemon::start();
    let id = d.ok(&["create", "--name", "c1", "hello-world"]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(ps.trim(), "c1 Created");
    assert_eq!(d.ok(&["start", "c1"]).trim(), "c1");
    assert_eq!(d.ok(&["wait", "c1"]).trim(), "0");
    let ps = d.ok(&["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"]);
    assert!(
        ps.trim()
            .starts_with(&format!("{} c1 Exited (0)", &id[..12])),
        "{ps}"
    );
    // Not running: plain `ps` lists nothing.
    assert_eq!(d.ok(&["ps", "-q"]).trim(), "");
    let log = fs_err::read_to_string(
        d.dir
            .path()
            .join("d/containers")
            .join(id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    assert!(log.contains("Hello"), "{log}");
    // logs (multiplexed, demuxed by the CLI after an inspect) and inspect.
    let out = d.ok(&["logs", "c1"]);
    assert!(out.contains("Hello"), "{out}");
    let tail = d.ok(&["logs", "--tail", "1", "c1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{.Config.Image}}",
            "c1"
        ])
        .trim(),
        "exited 0 /c1 hello-world"
    );
    let out = d.docker(&["inspect", "nope"]);
    assert!(!out.status.success());

    let out = d.docker(&["create", "--name", "c1", "hello-world"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is already in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(d.ok(&["rm", "c1"]).trim(), "c1");
    // `run -d`: create + start; then wait and remove it.
    let id2 = d.ok(&["run", "-d", "--name", "c2", "hello-world"]);
    assert_eq!(id2.trim().len(), 64, "{id2}");
    assert_eq!(d.ok(&["wait", "c2"]).trim(), "0");
    assert_eq!(d.ok(&["rm", "c2"]).trim(), "c2");
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    for dir in cgroup_dirs(&d.cgroup_parent) {
        assert!(!dir.join(id).exists(), "{} left", dir.join(id).display());
    }
    let out = d.docker(&["rm", "c1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such container: c1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox image imported through the API: /bin/busybox and applet links.
fn import_busybox(d: &Daemon) {
    let root = d.dir.path().join("bb");
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "sleep", "echo", "cat"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = d.dir.path().join("bb.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    d.ok(&["import", tar.to_str().unwrap(), "busybox"]);
}

#[test]
fn docker_stop_kill_and_force_rm() {
    let d = Daemon::start();
    import_busybox(&d);
    d.ok(&["run", "-d", "--name", "st", "busybox", "sleep", "1000"]);
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.trim().starts_with("st Up "), "{ps}");
    let pid: i32 = d
        .ok(&["inspect", "--format", "{{.State.Pid}}", "st"])
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ec",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(d.ok(&["wait", "ec"]).trim(), "0");
    let out = d.docker(&["logs", "ec"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    d.ok(&["rm", "ec"]);
    assert_eq!(d.ok(&["stop", "-t", "1", "st"]).trim(), "st");
    let code: i32 = d.ok(&["wait", "st"]).trim().parse().unwrap();
    assert!(code == 137 || code == 143, "{code}");

    d.ok(&["run", "-d", "--name", "kl", "busybox", "sleep", "1000"]);
    assert_eq!(d.ok(&["kill", "kl"]).trim(), "kl");
    assert_eq!(d.ok(&["wait", "kl"]).trim(), "137");
    let out = d.docker(&["kill", "kl"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    d.ok(&["run", "-d", "--name", "fr", "busybox", "sleep", "1000"]);
    let out = d.docker(&["rm", "fr"]);
    assert!(!out.status.success());
    assert_eq!(d.ok(&["rm", "-f", "fr"]).trim(), "fr");
    d.ok(&["rm", "st", "kl"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn docker_run_attached() {
    let d = Daemon::start();
    // --rm: the daemon removes the container when it exits (AutoRemove).
    let out = d.docker(&["run", "--rm", "hello-world"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("\nHello from berth!"), "{stdout:?}");
    assert_eq!(d.ok(&["ps", "-a", "-q"]).trim(), "");

    import_busybox(&d);
    let out = d.docker(&[
        "run",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let out = d.docker_stdin(&["run", "-i", "busybox", "cat"], b"hi\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}
