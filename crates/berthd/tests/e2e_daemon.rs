//! berthd's own guards: the API socket's group (`-G/--group`, mode 0660)
//! and the lock on the data root (one daemon per data root, whatever its
//! socket and pid file). Each test spawns berthd on its own temp dirs.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A berthd child; SIGTERM then SIGKILL (by pid) on drop.
struct Berthd {
    child: Child,
    log: PathBuf,
}

impl Berthd {
    /// berthd on `dir`'s data root `d` and exec root `e`, with its own
    /// socket and pid file named by `tag`, plus `extra` flags.
    fn spawn(dir: &Path, tag: &str, extra: &[&str]) -> Self {
        let log = dir.join(format!("{tag}.log"));
        let file = fs_err::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("--data-root")
            .arg(dir.join("d"))
            .arg("--exec-root")
            .arg(dir.join("e"))
            .arg("-H")
            .arg(format!("unix://{}", socket(dir, tag).display()))
            .arg("--pidfile")
            .arg(dir.join(format!("{tag}.pid")))
            .arg("--cgroup-parent")
            .arg(format!("/berth-e2e-daemon-{}", std::process::id()))
            .args(extra)
            .env_remove("BERTHD_LOG")
            .stdout(Stdio::null())
            .stderr(file.into_parts().0)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn log(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_listening(&mut self, socket: &Path) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(socket).is_err() {
            assert!(
                matches!(self.child.try_wait(), Ok(None)),
                "berthd exited; its log:\n{}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "berthd did not listen; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (up to 20 s) for the exit and returns the exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "berthd did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = kill(pid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn socket(dir: &Path, tag: &str) -> PathBuf {
    dir.join(format!("{tag}.sock"))
}

/// A group created for one test (`groupadd`), removed (`groupdel`) on drop.
struct TempGroup {
    name: String,
}

impl TempGroup {
    fn create(name: &str) -> Self {
        let out = Command::new("groupadd")
            .arg(name)
            .output()
            .expect("groupadd (package passwd) is needed to create the test's socket group");
        assert!(
            out.status.success(),
            "groupadd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            name: name.to_owned(),
        }
    }

    fn gid(&self) -> u32 {
        nix::unistd::Group::from_name(&self.name)
            .unwrap()
            .expect("the group just created")
            .gid
            .as_raw()
    }
}

impl Drop for TempGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).status();
    }
}

#[test]
fn socket_gets_the_group_given_with_dash_g_and_mode_0660() {
    let group = TempGroup::create(&format!("berthtest{}", std::process::id()));
    let dir = tempfile::Builder::new().prefix("bdg").tempdir().unwrap();
    for flag in ["--group", "-G"] {
        let mut d = Berthd::spawn(dir.path(), "g", &[flag, &group.name]);
        let sock = socket(dir.path(), "g");
        d.wait_listening(&sock);
        let meta = fs_err::metadata(&sock).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660, "{flag}");
        assert_eq!(meta.gid(), group.gid(), "{flag}");
        assert_eq!(meta.uid(), 0);
        kill(
            Pid::from_raw(i32::try_from(d.child.id()).unwrap()),
            Signal::SIGTERM,
        )
        .unwrap();
        assert_eq!(d.wait_exit(), Some(0), "{}", d.log());
        assert!(!sock.exists(), "the socket is removed at shutdown");
    }
}

#[test]
fn a_missing_group_is_an_error_only_when_given() {
    let dir = tempfile::Builder::new().prefix("bdm").tempdir().unwrap();
    let missing = format!("berthnogroup{}", std::process::id());
    assert!(
        nix::unistd::Group::from_name(&missing).unwrap().is_none(),
        "{missing} exists"
    );
    let mut d = Berthd::spawn(dir.path(), "m", &["-G", &missing]);
    assert_eq!(d.wait_exit(), Some(1));
    let log = d.log();
    assert!(
        log.contains(&format!(
            "group \"{missing}\" for the API socket does not exist"
        )) && log.contains("--group"),
        "{log}"
    );
    assert!(!socket(dir.path(), "m").exists(), "no socket is left");
    assert!(!dir.path().join("m.pid").exists(), "no pid file is left");

    // The default group (`berth`) may be missing: then the socket keeps
    // root's group. Either way it is 0660.
    let mut d = Berthd::spawn(dir.path(), "n", &[]);
    let sock = socket(dir.path(), "n");
    d.wait_listening(&sock);
    let meta = fs_err::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let want = nix::unistd::Group::from_name("berth")
        .unwrap()
        .map_or(0, |g| g.gid.as_raw());
    assert_eq!(meta.gid(), want);
    assert!(!d.log().contains("ERROR"), "{}", d.log());
}

#[test]
fn a_second_daemon_on_the_same_data_root_is_refused() {
    let dir = tempfile::Builder::new().prefix("bdl").tempdir().unwrap();
    let mut first = Berthd::spawn(dir.path(), "one", &[]);
    first.wait_listening(&socket(dir.path(), "one"));
    let lock = dir.path().join("d/berth.lock");
    assert!(lock.is_file(), "the data root has its lock file");

    // Another socket, another pid file, the same data root: refused.
    let mut second = Berthd::spawn(dir.path(), "two", &[]);
    assert_eq!(second.wait_exit(), Some(1));
    let log = second.log();
    assert!(
        log.contains(&format!(
            "data root {} is in use by another daemon (pid {})",
            dir.path().join("d").display(),
            first.child.id()
        )),
        "{log}"
    );
    assert!(log.contains("--data-root"), "{log}");
    assert!(!socket(dir.path(), "two").exists(), "no socket is left");
    assert!(!dir.path().join("two.pid").exists(), "no pid file is left");
    // The first one is unharmed.
    assert!(UnixStream::connect(socket(dir.path(), "one")).is_ok());
    assert!(matches!(first.child.try_wait(), Ok(None)));

    // Once the first stops, the data root is free again.
    kill(
        Pid::from_raw(i32::try_from(first.child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(first.wait_exit(), Some(0), "{}", first.log());
    let mut third = Berthd::spawn(dir.path(), "three", &[]);
    third.wait_listening(&socket(dir.path(), "three"));

    // And after a kill -9 too: the lock dies with the process.
    third.child.kill().unwrap();
    third.child.wait().unwrap();
    let mut fourth = Berthd::spawn(dir.path(), "four", &[]);
    fourth.wait_listening(&socket(dir.path(), "four"));
}

#[test]
fn an_exec_root_too_long_for_container_sockets_is_refused() {
    let dir = tempfile::Builder::new().prefix("bdx").tempdir().unwrap();
    let long = dir.path().join("x".repeat(40));
    let out = Command::new(env!("CARGO_BIN_EXE_berthd"))
        .arg("--data-root")
        .arg(dir.path().join("d"))
        .arg("--exec-root")
        .arg(&long)
        .arg("-H")
        .arg(format!("unix://{}", socket(dir.path(), "x").display()))
        .arg("--pidfile")
        .arg(dir.path().join("x.pid"))
        .arg("--cgroup-parent")
        .arg(format!("/berth-e2e-daemon-x-{}", std::process::id()))
        .env_remove("BERTHD_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("exec root {} is", long.display()))
            && stderr.contains("too long")
            && stderr.contains("--exec-root"),
        "{stderr}"
    );
    assert!(!socket(dir.path(), "x").exists(), "no socket is left");
    assert!(!dir.path().join("x.pid").exists(), "no pid file is left");
}
