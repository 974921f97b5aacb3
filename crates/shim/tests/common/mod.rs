//! Fixtures for the berth-shim tests: a busybox bundle in a temp dir, a
//! private runtime root, a unique cgroup path, a client for both sockets, and
//! a guard that kills the shim (by pid) and force-deletes the container even
//! when a test fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_shim_proto::attach::{AttachRequest, StdStream, parse_mux_header};
use berth_shim_proto::frame::{read_frame, write_frame};
use berth_shim_proto::{ATTACH_SOCKET, CONTROL_SOCKET, Ready, Reply, Request, Response, ShimError};
use serde_json::{Value, json};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_berth-shim");

/// The shim binary under test: `BERTH_SHIM_BIN` (e.g. a release build, to
/// measure its size) or the one cargo built for the tests.
pub(crate) fn bin() -> String {
    std::env::var("BERTH_SHIM_BIN").unwrap_or_else(|_| BIN.to_string())
}
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub(crate) use berth_testkit::{busybox_rootfs, require_root};

/// One test's directory: bundles, runtime root, shim state dirs.
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) runtime_root: PathBuf,
    pub(crate) tag: String,
}

impl Env {
    pub(crate) fn new() -> Self {
        require_root();
        // Detached shims are re-parented to us rather than to pid 1 (which
        // in some sandboxes never reaps), so the guards can reap them.
        let _ = berth_sys::prctl::set_child_subreaper(true);
        // Short paths: unix socket paths are limited to 107 bytes.
        let dir = tempfile::Builder::new().prefix("bshim-").tempdir().unwrap();
        let runtime_root = dir.path().join("rt");
        let tag = format!(
            "s{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        Self {
            dir,
            runtime_root,
            tag,
        }
    }

    pub(crate) fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.tag)
    }

    /// The cgroup path of container `name` (relative to a hierarchy root).
    pub(crate) fn cgroup_rel(&self, name: &str) -> String {
        format!("berth-test/{}", self.id(name))
    }

    /// A bundle running `args` with the runtime's default spec (terminal
    /// off, writable rootfs, unique cgroup); `edit` may change the config.
    pub(crate) fn bundle(
        &self,
        name: &str,
        args: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> PathBuf {
        let bundle = self.dir.path().join(format!("b-{name}"));
        fs_err::create_dir_all(bundle.join("rootfs")).unwrap();
        busybox_rootfs(&bundle.join("rootfs"));
        let mut config = serde_json::to_value(berth_runtime::defaults::default_spec()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["path"] = json!("rootfs");
        config["root"]["readonly"] = json!(false);
        config["linux"]["cgroupsPath"] = json!(format!("/{}", self.cgroup_rel(name)));
        edit(&mut config);
        fs_err::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        bundle
    }

    /// The shim's arguments for container `name` (bundle made beforehand).
    pub(crate) fn shim_args(&self, name: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--id".to_string(),
            self.id(name),
            "--bundle".into(),
            self.dir
                .path()
                .join(format!("b-{name}"))
                .display()
                .to_string(),
            "--state-dir".into(),
            self.state_dir(name).display().to_string(),
            "--runtime-root".into(),
            self.runtime_root.display().to_string(),
            "--log-path".into(),
            self.log_path(name).display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    pub(crate) fn state_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("s-{name}"))
    }

    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-json.log"))
    }

    /// Starts a shim for the bundle `name` and waits for its ready line.
    pub(crate) fn shim(&self, name: &str, extra: &[&str]) -> Shim {
        let mut cmd = Command::new(bin());
        cmd.args(self.shim_args(name, extra))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = child.wait().unwrap();
        self.guard(name, &out, status.success())
    }

    /// The guard for a shim whose ready line is `line`.
    pub(crate) fn guard(&self, name: &str, line: &str, parent_ok: bool) -> Shim {
        let ready: Ready = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"));
        let Ready::Ready { pid, init_pid } = ready else {
            panic!("the shim failed: {ready:?}");
        };
        assert!(parent_ok, "the shim's first process failed");
        Shim {
            pid,
            init_pid,
            id: self.id(name),
            state_dir: self.state_dir(name),
            runtime_root: self.runtime_root.clone(),
        }
    }
}

/// A running shim; dropping it kills the shim (by pid) and force-deletes
/// its container.
pub(crate) struct Shim {
    pub(crate) pid: i32,
    pub(crate) init_pid: i32,
    pub(crate) id: String,
    pub(crate) state_dir: PathBuf,
    pub(crate) runtime_root: PathBuf,
}

impl Shim {
    pub(crate) fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.state_dir.join(CONTROL_SOCKET)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// One request on a fresh connection.
    pub(crate) fn call(&self, req: Request) -> Result<Reply, ShimError> {
        let mut s = self.connect();
        call_on(&mut s, &req)
    }

    pub(crate) fn ok(&self, req: Request) -> Reply {
        let desc = format!("{req:?}");
        self.call(req)
            .unwrap_or_else(|e| panic!("{desc} failed: {e:?}"))
    }

    /// Attaches with `req`; returns the stream after the shim's ack.
    pub(crate) fn attach(&self, req: AttachRequest) -> UnixStream {
        let mut s = UnixStream::connect(self.state_dir.join(ATTACH_SOCKET)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write_frame(&mut s, &req).unwrap();
        let ack: Response = read_frame(&mut s).unwrap().unwrap();
        assert_eq!(ack, Response::Ok(Reply::Done));
        s
    }

    pub(crate) fn alive(&self) -> bool {
        berth_runtime::state::process_start(self.pid).is_some_and(|(_, zombie)| !zombie)
    }

    /// Waits (up to 10 s) for the shim process to be gone.
    pub(crate) fn wait_gone(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.alive() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        // Only our shim: check the pid still runs berth-shim before killing.
        let cmdline = fs_err::read(format!("/proc/{}/cmdline", self.pid)).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&self.id) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Reap it (we are its subreaper); only this pid, never -1, so other
        // tests' `Command`s keep their exit statuses.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(self.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            ) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break,
            }
        }
        let rt = berth_runtime::Runtime::new(&self.runtime_root);
        let _ = rt.delete(&self.id, true);
    }
}

pub(crate) fn call_on(s: &mut UnixStream, req: &Request) -> Result<Reply, ShimError> {
    write_frame(s, req).unwrap();
    let resp: Response = read_frame(s)
        .unwrap()
        .expect("the shim closed the connection");
    resp.into()
}

/// Reads multiplexed frames until end-of-file: (stdout, stderr).
pub(crate) fn read_mux(s: &mut UnixStream) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        let mut h = [0u8; 8];
        match s.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading the attach stream: {e}"),
        }
        let (stream, len) = parse_mux_header(&h).unwrap();
        let mut body = vec![0u8; len as usize];
        s.read_exact(&mut body).unwrap();
        match stream {
            StdStream::Stdout => out.extend(body),
            StdStream::Stderr => err.extend(body),
            StdStream::Stdin => panic!("stdin frame from the shim"),
        }
    }
    (out, err)
}

pub(crate) fn read_all(s: &mut UnixStream) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    v
}

pub(crate) fn write_all(s: &mut UnixStream, data: &[u8]) {
    s.write_all(data).unwrap();
}

/// A default OCI process for exec: `args` as root in `/`.
pub(crate) fn process(args: &[&str]) -> Box<oci_spec::runtime::Process> {
    let v = json!({
        "args": args,
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    });
    Box::new(serde_json::from_value(v).unwrap())
}

/// Whether any cgroup hierarchy still has a directory `rel`.
pub(crate) fn cgroup_exists(rel: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let root = Path::new("/sys/fs/cgroup");
    let mut candidates = vec![root.join(rel)];
    if let Ok(entries) = fs_err::read_dir(root) {
        for e in entries.flatten() {
            candidates.push(e.path().join(rel));
        }
    }
    for c in candidates {
        if c.exists() {
            found.push(c);
        }
    }
    found
}

/// VmRSS of `pid` in KiB.
pub(crate) fn rss_kib(pid: i32) -> Option<u64> {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
