//! End to end: a real `berthd` on a throwaway data root, exec root, socket and
//! pid file, driven by the real docker CLIs (28.x on PATH at
//! `/usr/local/bin/docker`, Debian's 20.10 at `/usr/bin/docker`), by raw HTTP,
//! and by the `berth` CLI.
//!
//! Nothing here skips: a missing docker client is a failure (`.ci/run`
//! installs both).

#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

mod common;
#[path = "e2e/images.rs"]
mod images;

use common::clients::text;
use common::{DOCKER_20, DOCKER_28, berth_bin};

/// A running berthd; killed (SIGKILL, by pid) when dropped if still alive.
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    pidfile: PathBuf,
}

impl Daemon {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bde") // short: container socket paths live under the exec root
            .tempdir()
            .unwrap();
        let socket = dir.path().join("exec/berth.sock");
        let pidfile = dir.path().join("berthd.pid");
        let child = spawn(dir.path(), &socket, &pidfile);
        let daemon = Self {
            child,
            dir,
            socket,
            pidfile,
        };
        daemon.wait_ready();
        daemon
    }

    /// Waits until berthd answers `/_ping` (its socket is bound before
    /// the engine has opened the data root).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !common::pings(&self.socket) {
            assert!(
                Instant::now() < deadline,
                "berthd did not listen on {}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// Sends `signal` and waits for the exit, with a deadline.
    fn stop(&mut self, signal: Signal) -> std::process::ExitStatus {
        kill(self.pid(), signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not exit after {signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn berthd_command(dir: &Path, socket: &Path, pidfile: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berthd"));
    cmd.arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .arg("--pidfile")
        .arg(pidfile)
        .env_remove("BERTHD_LOG");
    cmd
}

/// Starts berthd with its log in `<dir>/berthd.log` (kept out of the test
/// output; read it from the temp dir when debugging).
fn spawn(dir: &Path, socket: &Path, pidfile: &Path) -> Child {
    let log = fs_err::File::create(dir.join("berthd.log")).unwrap();
    berthd_command(dir, socket, pidfile)
        .stdout(Stdio::null())
        .stderr(log.into_parts().0)
        .spawn()
        .unwrap()
}

/// Runs a docker client against `host` with an empty config dir, so the
/// user's contexts and plugins do not leak in.
fn docker(client: &str, host: &str, args: &[&str]) -> Output {
    assert!(
        Path::new(client).is_file(),
        "{client} is missing: .ci/run installs it"
    );
    let config = tempfile::tempdir().unwrap();
    Command::new(client)
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config.path())
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap()
}

fn berth(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(berth_bin());
    cmd.args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Replaces the value after `key:` on every line that has it, so snapshots
/// survive machine-specific facts.
fn filter(text: &str, keys: &[&str]) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            for key in keys {
                if let Some(rest) = trimmed.strip_prefix(&format!("{key}:"))
                    && !rest.trim().is_empty()
                {
                    let indent = &line[..line.len() - trimmed.len()];
                    return format!("{indent}{key}: [{}]", key.to_uppercase());
                }
            }
            line.to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn server_section(stdout: &str) -> String {
    let start = stdout
        .find("Server:")
        .unwrap_or_else(|| panic!("no Server section in:\n{stdout}"));
    stdout[start..].trim_end().to_owned()
}

/// One HTTP/1.1 request over the socket; returns (status, lower-cased
/// headers, body).
fn http(socket: &Path, method: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const ENGINE_KEYS: &[&str] = &["Git commit", "Built", "Go version", "OS/Arch"];

/// The server section of `version` (as [`filter`] leaves it) for this build.
fn expected_server_section() -> String {
    format!(
        "Server: berth
 Engine:
  Version:          {}
  API version:      1.51 (minimum version 1.24)
  Go version: [GO VERSION]
  Git commit: [GIT COMMIT]
  Built: [BUILT]
  OS/Arch: [OS/ARCH]
  Experimental:     false",
        env!("CARGO_PKG_VERSION")
    )
}

#[test]
fn docker_28_version_shows_berth_server() {
    let daemon = Daemon::start();
    let out = docker(DOCKER_28, &daemon.host(), &["version"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert_eq!(
        filter(&server_section(&stdout), ENGINE_KEYS),
        expected_server_section()
    );
    // docker CLI 28 speaks 1.50, below ours: it keeps its own version.
    assert!(stdout.contains(" API version:       1.50\n"), "{stdout}");
}

#[test]
fn docker_20_10_version_shows_berth_server() {
    let daemon = Daemon::start();
    let out = docker(DOCKER_20, &daemon.host(), &["version"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Server: berth\n Engine:\n"), "{stdout}");
    assert!(
        stdout.contains("  API version:      1.51 (minimum version 1.24)\n"),
        "{stdout}"
    );
    assert!(stdout.contains(" API version:       1.41\n"), "{stdout}");
}

#[test]
fn docker_version_format_prints_api_version() {
    let daemon = Daemon::start();
    for client in [DOCKER_28, DOCKER_20] {
        let out = docker(
            client,
            &daemon.host(),
            &["version", "--format", "{{.Server.APIVersion}}"],
        );
        assert!(out.status.success(), "{client}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "1.51\n", "{client}");
    }
    let out = docker(
        DOCKER_28,
        &daemon.host(),
        &[
            "version",
            "--format",
            "{{.Server.Platform.Name}} {{.Server.Os}}/{{.Server.Arch}}",
        ],
    );
    assert_eq!(text(&out.stdout), format!("berth linux/{}\n", go_arch()));
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn check_info(client: &str) {
    let daemon = Daemon::start();
    let out = docker(client, &daemon.host(), &["info"]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{client}\nstdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    let root = daemon.data_root();
    for line in [
        " Containers: 0\n",
        // The built-in hello-world image.
        " Images: 1\n",
        &format!(" Server Version: {}\n", env!("CARGO_PKG_VERSION")),
        " Storage Driver: overlay2\n",
        " Logging Driver: json-file\n",
        " Cgroup Driver: cgroupfs\n",
        " Swarm: inactive\n",
        " Runtimes: berth-runtime\n",
        " Default Runtime: berth-runtime\n",
        " OSType: linux\n",
        &format!(" Architecture: {}\n", std::env::consts::ARCH),
        &format!(" Docker Root Dir: {}\n", root.display()),
        " Live Restore Enabled: false\n",
    ] {
        assert!(
            stdout.contains(line),
            "{client}: missing {line:?} in:\n{stdout}"
        );
    }
    let cgroup_version = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    assert!(
        stdout.contains(&format!(" Cgroup Version: {cgroup_version}\n")),
        "{stdout}"
    );
}

#[test]
fn docker_28_info() {
    check_info(DOCKER_28);
}

#[test]
fn docker_20_10_info() {
    check_info(DOCKER_20);
}

#[test]
fn docker_info_format() {
    let daemon = Daemon::start();
    let out = docker(
        DOCKER_28,
        &daemon.host(),
        &[
            "info",
            "--format",
            "{{.Driver}} {{.OSType}} {{.DockerRootDir}}",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("overlay2 linux {}\n", daemon.data_root().display())
    );
}

#[test]
fn api_version_range_and_errors() {
    let daemon = Daemon::start();
    let s = &daemon.socket;
    let (status, headers, body) = http(s, "GET", "/v1.52/version");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "{\"message\":\"client version 1.52 is too new. Maximum supported API version is 1.51\"}\n"
    );
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(header(&headers, "api-version"), Some("1.51"));

    let (status, _, body) = http(s, "GET", "/v1.23/version");
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "{\"message\":\"client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version\"}\n"
    );

    for path in ["/v1.24/_ping", "/v1.51/_ping", "/_ping"] {
        let (status, _, body) = http(s, "GET", path);
        assert_eq!((status, body.as_str()), (200, "OK"), "{path}");
    }
    for path in ["/v1.24/version", "/v1.41/info", "/version", "/info"] {
        let (status, _, body) = http(s, "GET", path);
        assert_eq!(status, 200, "{path}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(json.is_object(), "{path}");
    }

    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/v1.51/nope"),
        ("GET", "/v1.52/nope"),
        ("POST", "/version"),
        ("GET", "/v1.51"),
    ] {
        let (status, headers, body) = http(s, method, path);
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(
            body, "{\"message\":\"page not found\"}\n",
            "{method} {path}"
        );
        assert_eq!(header(&headers, "ostype"), Some("linux"));
    }
}

#[test]
fn ping_headers() {
    let daemon = Daemon::start();
    for method in ["GET", "HEAD"] {
        let (status, headers, body) = http(&daemon.socket, method, "/_ping");
        assert_eq!(status, 200);
        assert_eq!(body, if method == "GET" { "OK" } else { "" });
        for (name, value) in [
            ("api-version", "1.51"),
            ("ostype", "linux"),
            ("docker-experimental", "false"),
            ("cache-control", "no-cache, no-store, must-revalidate"),
            ("pragma", "no-cache"),
            ("builder-version", "1"),
            ("swarm", "inactive"),
        ] {
            assert_eq!(header(&headers, name), Some(value), "{method} {name}");
        }
        let server = header(&headers, "server").unwrap();
        assert!(
            server.starts_with("Docker/") && server.ends_with(" (linux)"),
            "{server}"
        );
    }
}

#[test]
fn version_body_fields() {
    let daemon = Daemon::start();
    let (_, _, body) = http(&daemon.socket, "GET", "/v1.51/version");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Platform"]["Name"], "berth");
    assert_eq!(v["ApiVersion"], "1.51");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Arch"], go_arch());
    assert_eq!(v["Components"][0]["Name"], "Engine");
    assert_eq!(v["Components"][0]["Details"]["ApiVersion"], "1.51");
    let kernel = fs_err::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(v["KernelVersion"], kernel.trim());
}

#[test]
fn socket_and_pidfile() {
    let daemon = Daemon::start();
    let meta = fs_err::symlink_metadata(&daemon.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(
        fs_err::read_to_string(&daemon.pidfile).unwrap().trim(),
        daemon.child.id().to_string()
    );
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut daemon = Daemon::start();
        let status = daemon.stop(signal);
        assert_eq!(status.code(), Some(0), "{signal}");
        assert!(!daemon.socket.exists(), "{signal}: socket left behind");
        assert!(!daemon.pidfile.exists(), "{signal}: pid file left behind");
    }
}

#[test]
fn second_daemon_is_refused() {
    let daemon = Daemon::start();
    // Same pid file.
    let other = tempfile::tempdir().unwrap();
    let out = berthd_command(other.path(), &other.path().join("b.sock"), &daemon.pidfile)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "failed to start daemon: berthd is already running (pid {}): pid file {} is locked by it; stop it first or use another --pidfile\n",
            daemon.child.id(),
            daemon.pidfile.display()
        )
    );
    // Same socket, another pid file.
    let out = berthd_command(other.path(), &daemon.socket, &other.path().join("b.pid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("berthd is already running:"),
        "{}",
        text(&out.stderr)
    );
    // The first daemon is unharmed.
    assert!(daemon.socket.exists() && daemon.pidfile.exists());
    assert_eq!(http(&daemon.socket, "GET", "/_ping").0, 200);
}

#[test]
fn stale_socket_and_pidfile_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("exec/berth.sock");
    let pidfile = dir.path().join("berthd.pid");
    fs_err::create_dir_all(dir.path().join("exec")).unwrap();
    // A socket nobody listens on, and a pid file nobody locks (as after kill -9).
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    fs_err::write(&pidfile, "999999\n").unwrap();
    let child = spawn(dir.path(), &socket, &pidfile);
    let daemon = Daemon {
        child,
        dir,
        socket,
        pidfile,
    };
    daemon.wait_ready();
    assert_eq!(http(&daemon.socket, "GET", "/_ping").0, 200);
}

#[test]
fn berth_version_and_info() {
    let daemon = Daemon::start();
    let host = daemon.host();
    let out = berth(&["version"], &[("BERTH_HOST", &host)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("Client:\n Version:           "),
        "{stdout}"
    );
    assert_eq!(
        filter(&server_section(&stdout), ENGINE_KEYS),
        expected_server_section()
    );
    // Same server section as docker's own rendering.
    let docker_out = text(&docker(DOCKER_28, &host, &["version"]).stdout);
    assert_eq!(server_section(&stdout), server_section(&docker_out));

    let out = berth(
        &["-H", &host, "version", "--format", "{{.Server.APIVersion}}"],
        &[],
    );
    assert_eq!(text(&out.stdout), "1.51\n");
    let out = berth(
        &["info", "--format", "{{.ServerVersion}}"],
        &[("DOCKER_HOST", &host)],
    );
    assert_eq!(
        text(&out.stdout),
        format!("{}\n", env!("CARGO_PKG_VERSION"))
    );

    let out = berth(&["info", "--format", "json"], &[("DOCKER_HOST", &host)]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["Driver"], "overlay2");
    assert_eq!(json["ClientInfo"]["Context"], "default");
    let out = berth(&["version", "--format", "json"], &[("DOCKER_HOST", &host)]);
    // Typed serialization keeps docker's field order.
    assert!(text(&out.stdout).starts_with(r#"{"Client":{"Platform":{"Name":""},"Version":"#));

    let out = berth(&["info"], &[("DOCKER_HOST", &host)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ours = text(&out.stdout);
    let theirs = text(&docker(DOCKER_28, &host, &["info"]).stdout);
    // The server halves match docker's rendering line for line, except the
    // live counters docker reads at its own moment.
    assert_eq!(server_section(&ours), server_section(&theirs));
}

#[test]
fn berth_without_daemon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}", dir.path().join("none.sock").display());
    let out = berth(&["version"], &[("BERTH_HOST", &host)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("Cannot connect to the berth daemon at {host}. Is berthd running?\n")
    );
    assert!(text(&out.stdout).starts_with("Client:\n"));
    // -H beats the environment.
    let out = berth(
        &["-H", &host, "info"],
        &[("BERTH_HOST", "unix:///elsewhere.sock")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!(
        "ERROR: Cannot connect to the berth daemon at {host}. Is berthd running?\n"
    )));
}

#[test]
fn headers_use_go_canonical_case() {
    let daemon = Daemon::start();
    let mut stream = UnixStream::connect(&daemon.socket).unwrap();
    write!(
        stream,
        "GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    for line in [
        "\r\nApi-Version: 1.51\r\n",
        "\r\nOstype: linux\r\n",
        "\r\nDocker-Experimental: false\r\n",
        "\r\nBuilder-Version: 1\r\n",
    ] {
        assert!(raw.contains(line), "missing {line:?} in:\n{raw}");
    }
}

#[test]
fn idle_keep_alive_connection_does_not_hold_up_shutdown() {
    let mut daemon = Daemon::start();
    let mut stream = UnixStream::connect(&daemon.socket).unwrap();
    write!(stream, "GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    assert!(text(&buf[..n]).starts_with("HTTP/1.1 200 OK"));
    // The connection stays open; shutdown must close it rather than wait.
    let started = Instant::now();
    let status = daemon.stop(Signal::SIGTERM);
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        stream.read(&mut buf).unwrap(),
        0,
        "the server closed the idle connection"
    );
}

#[test]
fn json_log_format() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("exec/berth.sock");
    let pidfile = dir.path().join("berthd.pid");
    let child = berthd_command(dir.path(), &socket, &pidfile)
        .args(["--log-format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut daemon = Daemon {
        child,
        dir,
        socket,
        pidfile,
    };
    daemon.wait_ready();
    assert_eq!(daemon.stop(Signal::SIGTERM).code(), Some(0));
    let mut stderr = String::new();
    daemon
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "Daemon shutdown complete"),
        "{stderr}"
    );
}

#[test]
fn docker_py_talks_to_berthd() {
    let daemon = Daemon::start();
    let script = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="auto")
assert c.ping() is True
v = c.version()
i = c.info()
print(c.api.api_version, v["ApiVersion"], v["MinAPIVersion"], v["Platform"]["Name"], i["Driver"], i["OSType"])
"#;
    let out = Command::new("python3")
        .args(["-c", script, &daemon.host()])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker-py: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1.51 1.51 1.24 berth overlay2 linux\n");
}

#[test]
fn roots_have_private_modes() {
    let daemon = Daemon::start();
    let mode = |p: PathBuf| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(daemon.data_root()), 0o710);
    // The socket's directory is the exec root here: traversable, not listable.
    assert_eq!(mode(daemon.dir.path().join("exec")), 0o711);
}
