//! The harness the container end-to-end tests share: a berthd on its own
//! data root, exec root, socket and cgroup parent, driven by the real docker
//! CLI (28 at /usr/local/bin, Debian's 20.10 at /usr/bin) or the berth CLI.
//! Each test binary includes it with `mod common;` and uses what it needs.

#![allow(dead_code, reason = "each test binary uses a different part")]

pub(crate) mod api;
pub(crate) mod clients;
pub(crate) mod net;
pub(crate) mod registry;
pub(crate) mod snapshots;
pub(crate) use net::TestNet;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub(crate) const DOCKER_28: &str = "/usr/local/bin/docker";
pub(crate) const DOCKER_20: &str = "/usr/bin/docker";
/// This tree's `berth` CLI, for [`Daemon::client_command`].
pub(crate) const BERTH: &str = "berth";

/// Runs `cmd` with `input` on its standard input; its output.
pub(crate) fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;

    let mut child = cmd
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

/// Whether `GET /_ping` on `socket` answers 200.
pub(crate) fn pings(socket: &Path) -> bool {
    use std::io::{Read, Write};

    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let mut raw = String::new();
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        .is_ok()
        && stream.read_to_string(&mut raw).is_ok()
        && raw.starts_with("HTTP/1.1 200")
}

/// berthd on `dir`'s roots (`d`, `e`, `s.sock`, `pid`) and `net`'s bridge,
/// subnet and nftables table, with `extra` flags, stderr appended to
/// `dir/berthd.log`.
fn spawn_berthd(dir: &Path, cgroup_parent: &str, net: &TestNet, extra: &[String]) -> Child {
    let log = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("berthd.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_berthd"))
        .arg("--data-root")
        .arg(dir.join("d"))
        .arg("--exec-root")
        .arg(dir.join("e"))
        .arg("-H")
        .arg(format!("unix://{}", dir.join("s.sock").display()))
        .arg("--pidfile")
        .arg(dir.join("pid"))
        .arg("--cgroup-parent")
        .arg(cgroup_parent)
        .args(net.args())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log.into_parts().0)
        .spawn()
        .unwrap()
}

/// The `berth` CLI of this tree, built (once) next to berthd in the same
/// profile.
pub(crate) fn berth_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
            let profile_dir = berthd.parent().unwrap().to_owned();
            cargo_build(&profile_dir, "berth", "berth");
            profile_dir.join("berth")
        })
        .clone()
}

/// `cargo build -p package --bin bin` into the target dir of `profile_dir`.
fn cargo_build(profile_dir: &Path, package: &str, bin: &str) {
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .args(["--profile", profile, "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo build -p {package} failed");
}

/// `berth-shim` built from this tree next to `berthd` (where berthd looks
/// for it), in the same profile.
fn build_shim() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
        cargo_build(berthd.parent().unwrap(), "berth-shim", "berth-shim");
    });
}

/// A berthd on its own roots, bridge, subnet and nftables table; SIGTERM
/// then SIGKILL (by pid) on drop.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) cgroup_parent: String,
    /// Its `--bridge`, `--bip` and `--nft-table`; removed on drop.
    pub(crate) net: TestNet,
    /// More berthd flags, kept for [`Daemon::restart`].
    pub(crate) extra_args: Vec<String>,
}

impl Daemon {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// A daemon started with `extra` berthd flags as well.
    pub(crate) fn start_with(extra: &[&str]) -> Self {
        build_shim();
        let extra_args: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
        // Short: shim socket paths live under the exec root.
        let dir = tempfile::Builder::new().prefix("bd").tempdir().unwrap();
        // Per daemon: tests run in parallel and each removes its own parent.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let cgroup_parent = format!(
            "/berth-e2e-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let net = TestNet::new();
        let child = spawn_berthd(dir.path(), &cgroup_parent, &net, &extra_args);
        let daemon = Self {
            child,
            dir,
            cgroup_parent,
            net,
            extra_args,
        };
        daemon.wait_listening();
        daemon
    }

    /// Waits (up to 20 s) until berthd answers `/_ping` (its socket is
    /// bound before the engine has opened its roots).
    pub(crate) fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pings(&self.socket()) {
            assert!(
                Instant::now() < deadline,
                "berthd did not listen; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// berthd's own log (stderr), all runs appended.
    pub(crate) fn log(&self) -> String {
        fs_err::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// `kill -9` of berthd (by its pid): containers and shims live on.
    pub(crate) fn kill9(&mut self) {
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// A new berthd on the same roots, socket and cgroup parent (after
    /// [`Daemon::kill9`] or a clean stop); waits until it listens.
    pub(crate) fn restart(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
        self.child = spawn_berthd(
            self.dir.path(),
            &self.cgroup_parent,
            &self.net,
            &self.extra_args,
        );
        self.wait_listening();
    }

    pub(crate) fn data_root(&self) -> PathBuf {
        self.dir.path().join("d")
    }

    /// Where volume `volume`'s data lives: `<data root>/volumes/<name>/_data`.
    pub(crate) fn volume_data(&self, volume: &str) -> PathBuf {
        self.data_root().join("volumes").join(volume).join("_data")
    }

    pub(crate) fn exec_root(&self) -> PathBuf {
        self.dir.path().join("e")
    }

    /// `berth args` (the CLI built from this tree) against this daemon.
    pub(crate) fn berth(&self, args: &[&str]) -> Output {
        self.berth_command(args).output().unwrap()
    }

    /// The command `berth args` against this daemon, to run as needed.
    pub(crate) fn berth_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_bin());
        cmd.args(args)
            .env("BERTH_HOST", format!("unix://{}", self.socket().display()))
            .env_remove("DOCKER_HOST");
        cmd
    }

    /// `args` through `client`: [`BERTH`] (this tree's CLI), [`DOCKER_28`]
    /// or [`DOCKER_20`].
    pub(crate) fn client_command(&self, client: &str, args: &[&str]) -> Command {
        if client == BERTH {
            self.berth_command(args)
        } else {
            self.docker_command(client, args)
        }
    }

    /// `args` through Debian's docker 20.10 client (`/usr/bin/docker`).
    pub(crate) fn docker20(&self, args: &[&str]) -> Output {
        self.docker_command(DOCKER_20, args).output().unwrap()
    }

    /// `client args` against this daemon, with a private, empty docker
    /// config and no context or API version from the environment.
    pub(crate) fn docker_command(&self, client: &str, args: &[&str]) -> Command {
        assert!(
            Path::new(client).is_file(),
            "{client} is missing: .ci/run installs docker 28 and Debian's docker.io"
        );
        let config = self.dir.path().join("docker-config");
        fs_err::create_dir_all(&config).unwrap();
        let mut cmd = Command::new(client);
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION");
        cmd
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.path().join("s.sock")
    }

    pub(crate) fn docker(&self, args: &[&str]) -> Output {
        self.docker_command(DOCKER_28, args).output().unwrap()
    }

    /// `docker args` with `input` on its standard input.
    pub(crate) fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        output_with_stdin(&mut self.docker_command(DOCKER_28, args), input)
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
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
    /// Stops berthd, then ends whatever the test left running (containers
    /// outlive berthd by design, so a failed test would otherwise leak
    /// them): processes in the test's cgroup parent and shims under its
    /// exec root, by pid; then its mounts (netns files included), cgroups,
    /// bridge and nftables table.
    fn drop(&mut self) {
        let pid = self.pid();
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = kill(pid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
        for pid in cgroup_pids(&self.cgroup_parent)
            .into_iter()
            .chain(pids_mentioning(&self.exec_root()))
        {
            let _ = kill(pid, Signal::SIGKILL);
        }
        unmount_under(self.dir.path());
        // Children first; a group empties a moment after its last kill.
        for _ in 0..50 {
            let mut left = false;
            for dir in cgroup_dirs(&self.cgroup_parent) {
                left |= remove_cgroup_tree(&dir);
            }
            if !left {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.net.remove();
    }
}

/// Every pid in `parent` and its descendants, in every hierarchy.
fn cgroup_pids(parent: &str) -> Vec<Pid> {
    let mut pids = Vec::new();
    let mut stack = cgroup_dirs(parent);
    while let Some(dir) = stack.pop() {
        if let Ok(procs) = fs_err::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(
                procs
                    .lines()
                    .filter_map(|l| l.parse().ok())
                    .map(Pid::from_raw),
            );
        }
        for e in fs_err::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    pids
}

/// Processes whose command line names `path` (the shims of this test's
/// exec root: their `--state-dir` is under it).
fn pids_mentioning(path: &Path) -> Vec<Pid> {
    let needle = path.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for e in fs_err::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(cmdline) = fs_err::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(&needle)
        {
            pids.push(Pid::from_raw(pid));
        }
    }
    pids
}

/// Lazily unmounts every mount point below `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<String> = fs_err::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Removes `dir` and the groups below it; whether some are still there.
fn remove_cgroup_tree(dir: &Path) -> bool {
    let mut left = false;
    for e in fs_err::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            left |= remove_cgroup_tree(&e.path());
        }
    }
    left | (fs_err::remove_dir(dir).is_err() && dir.exists())
}

/// `<parent>` in every mounted hierarchy that has it.
pub(crate) fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
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

/// `tar -C root -cf tar .`: a directory as an archive to import or load.
pub(crate) fn tar_dir(root: &Path, tar: &Path) {
    let status = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success(), "tar -C {} failed", root.display());
}

/// `root/bin` with /bin/busybox and a link for every applet it lists.
pub(crate) fn busybox_bin(root: &Path) {
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    assert!(
        list.status.success(),
        "busybox --list failed: install busybox-static"
    );
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
}

/// `root` as a small busybox root file system: every applet
/// ([`busybox_bin`]), `/etc/passwd` naming only root, `/tmp`, and the
/// directories `dirs` (relative).
pub(crate) fn busybox_root(root: &Path, dirs: &[&str]) {
    busybox_bin(root);
    for dir in ["etc", "tmp"].iter().chain(dirs) {
        fs_err::create_dir_all(root.join(dir)).unwrap();
    }
    fs_err::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
}

/// A busybox script: a web server on port 80 answering `hello6`.
pub(crate) const HTTPD6: &str =
    "mkdir -p /w && echo hello6 > /w/i.html && exec busybox httpd -f -p 80 -h /w";

/// `docker run -d --name NAME --network NET FLAGS... IMAGE CMD...` with
/// docker 28, asserting success.
pub(crate) fn run_detached(
    d: &Daemon,
    (name, net): (&str, &str),
    flags: &[&str],
    image: &str,
    cmd: &[&str],
) {
    let mut args = vec!["run", "-d", "--name", name, "--network", net];
    args.extend_from_slice(flags);
    args.push(image);
    args.extend_from_slice(cmd);
    d.ok(&args);
}

/// A busybox image imported through the API: /bin/busybox and applet links.
pub(crate) fn import_busybox(d: &Daemon) {
    import_busybox_as(d, "busybox", &["sh", "sleep", "echo", "cat"], &[]);
}

/// /bin/busybox with links for `applets`, imported (docker 28) as `image`
/// with a `--change` for each of `changes`.
pub(crate) fn import_busybox_as(d: &Daemon, image: &str, applets: &[&str], changes: &[&str]) {
    let root = d.dir.path().join("bb");
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in applets {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = d.dir.path().join("bb.tar");
    tar_dir(&root, &tar);
    let mut args = vec!["import"];
    for change in changes {
        args.extend(["--change", change]);
    }
    args.extend([s(&tar), image]);
    d.ok(&args);
}

/// A pseudo-terminal for clients run as from a shell (`docker run -it`,
/// `berth run -it`): everything written to it is collected from the master
/// on a thread of its own.
pub(crate) struct Pty {
    pub(crate) master: std::fs::File,
    slave: std::os::fd::OwnedFd,
    slave_path: PathBuf,
    screen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Pty {
    pub(crate) fn open(rows: u16, cols: u16) -> Self {
        use std::io::Read;

        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(&size, None).unwrap();
        let slave_path = nix::unistd::ttyname(&pty.slave).unwrap();
        let master = std::fs::File::from(pty.master);
        let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = std::sync::Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once nothing holds the slave open.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            master,
            slave: pty.slave,
            slave_path,
            screen,
        }
    }

    /// `cmd` (program, arguments, environment) in a session of its own
    /// whose controlling terminal is this one (`setsid --ctty`), so that
    /// resizing the terminal sends it SIGWINCH; the terminal is its stdio.
    pub(crate) fn spawn(&self, cmd: &Command) -> Child {
        let stdio = || Stdio::from(self.slave.try_clone().unwrap());
        let mut c = Command::new("setsid");
        c.arg("--ctty").arg(cmd.get_program()).args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => c.env(key, v),
                None => c.env_remove(key),
            };
        }
        c.env("TERM", "xterm")
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .unwrap()
    }

    /// All the terminal has shown so far.
    pub(crate) fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits (up to 60 s) until the screen shows `needle` `count` times.
    pub(crate) fn expect(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.screen().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "{needle:?} x{count} never shown; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `line` and Enter.
    pub(crate) fn type_line(&mut self, line: &str) {
        use std::io::Write;

        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
    }

    /// Resizes the terminal as a terminal emulator would (the kernel sends
    /// SIGWINCH to the session's foreground process group).
    pub(crate) fn resize(&self, rows: u16, cols: u16) {
        let status = Command::new("stty")
            .arg("-F")
            .arg(&self.slave_path)
            .args(["rows", &rows.to_string(), "cols", &cols.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "stty -F {}", self.slave_path.display());
    }

    /// The terminal's attributes (raw mode or not).
    pub(crate) fn termios(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.slave).unwrap()
    }
}

/// A client (berth or docker) on a pseudo-terminal of its own (its
/// controlling terminal, as in a shell), with everything it prints
/// collected. Killed (by pid) on drop if still running.
pub(crate) struct PtyClient {
    pub(crate) child: Child,
    pub(crate) pty: Pty,
}

impl PtyClient {
    /// `args` through `client` (see [`Daemon::client_command`]).
    pub(crate) fn spawn(d: &Daemon, client: &str, args: &[&str], rows: u16, cols: u16) -> Self {
        let pty = Pty::open(rows, cols);
        let child = pty.spawn(&d.client_command(client, args));
        Self { child, pty }
    }

    pub(crate) fn screen(&self) -> String {
        self.pty.screen()
    }

    /// Waits (up to 60 s) until the screen shows `want`.
    pub(crate) fn expect(&self, want: &str) {
        self.pty.expect(want, 1);
    }

    pub(crate) fn type_line(&mut self, line: &str) {
        self.pty.type_line(line);
    }

    /// Types `keys` one byte at a time, as a person does (the docker CLI
    /// only recognises detach keys that arrive one per read).
    pub(crate) fn type_keys(&mut self, keys: &[u8]) {
        use std::io::Write;

        for k in keys {
            self.pty.master.write_all(&[*k]).unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(crate) fn resize(&self, rows: u16, cols: u16) {
        self.pty.resize(rows, cols);
    }

    /// The client's exit code (waits up to 60 s).
    pub(crate) fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the client did not exit; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PtyClient {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Seconds since the epoch, for `events --since/--until`.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits (up to 60 s) until `cond` holds.
pub(crate) fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client with piped stdio: what it prints (stdout and stderr together)
/// is collected on threads. Killed (by pid) on drop if still running.
pub(crate) struct Piped {
    pub(crate) child: Child,
    stdin: Option<std::process::ChildStdin>,
    out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Piped {
    /// Runs `cmd` with every signal's default action (`env
    /// --default-signal`), as from an interactive shell: a test started in
    /// the background of a non-interactive shell inherits SIGINT ignored.
    pub(crate) fn spawn(cmd: Command) -> Self {
        let mut c = Command::new("env");
        c.arg("--default-signal")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => c.env(key, v),
                None => c.env_remove(key),
            };
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let readers: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for mut r in readers {
            let sink = std::sync::Arc::clone(&out);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Self {
            stdin: child.stdin.take(),
            child,
            out,
        }
    }

    pub(crate) fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub(crate) fn expect(&self, want: &str) {
        until(&format!("{want:?} in:\n{}", self.output()), || {
            self.output().contains(want)
        });
    }

    pub(crate) fn send(&mut self, data: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        std::io::Write::write_all(stdin, data.as_bytes()).unwrap();
        std::io::Write::flush(stdin).unwrap();
    }

    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub(crate) fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(i32::try_from(self.child.id()).unwrap()), sig).unwrap();
    }

    /// Its exit status (waits up to 60 s).
    pub(crate) fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the client did not exit; its output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `p` as text, for command lines (test paths are UTF-8).
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Mount points in the test's (and berthd's) mount table at or under
/// `dir`, sorted.
pub(crate) fn mounts_under(dir: &Path) -> Vec<String> {
    let info = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
    let mut v: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    v.sort();
    v
}

/// The mounts of image mounts (`--mount type=image`) and of subpaths under
/// the daemon's exec root, sorted.
pub(crate) fn image_mounts(d: &Daemon) -> Vec<String> {
    mounts_under(&d.exec_root())
        .into_iter()
        .filter(|m| m.contains("/images/") || m.contains("/subpaths/"))
        .collect()
}

/// Commits `base` plus a layer of its own as `image` (docker 28): a
/// container `name` runs `sh -c script` on `base` without a network, is
/// committed and removed.
pub(crate) fn commit_layer(d: &Daemon, name: &str, base: &str, script: &str, image: &str) {
    use clients::{DOCKER, ok};

    let run = [
        "run",
        "--name",
        name,
        "--network",
        "none",
        base,
        "sh",
        "-c",
        script,
    ];
    ok(d, DOCKER, &run);
    ok(d, DOCKER, &["commit", name, image]);
    ok(d, DOCKER, &["rm", name]);
}
