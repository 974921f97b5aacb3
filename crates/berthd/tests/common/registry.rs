//! A registry on a free loopback port for the pull and push tests: Debian's
//! `docker-registry` or `berth registry serve`, with its own storage and log
//! in a temp dir, and killed (by pid) on drop. Each test binary adds the
//! constructors and checks it needs in its own `impl Registry`.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Registry {
    pub(crate) child: Child,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
}

impl Registry {
    /// Starts `cmd` (which serves on 127.0.0.1:`port`, storing under
    /// `dir`), its stderr into `dir/log`, and waits until it listens.
    pub(crate) fn spawn(mut cmd: Command, dir: tempfile::TempDir, port: u16) -> Self {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(
                fs_err::File::create(dir.path().join("log"))
                    .unwrap()
                    .into_parts()
                    .0,
            )
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start the registry (apt-get install docker-registry): {e}")
            });
        let r = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not listen: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        fs_err::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
