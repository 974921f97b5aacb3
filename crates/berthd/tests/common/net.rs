//! The network names a test daemon gets: a bridge name, a subnet for its
//! default bridge and an nftables table, all unique to the daemon, and the
//! removal of what berthd made of them (even when berthd died first).
//!
//! Subnets are /24s of 10.213.0.0/16, reserved across test processes with
//! a lock file per subnet under the system temp dir (taken over when the
//! process that wrote it is gone) and never one the host already routes.
//! User networks made by tests come from 10.214.0.0/16.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::Daemon;
use super::clients::{self, Client};

/// A daemon's network names; removes the bridge (and veths still in it)
/// and the nftables table on drop, then frees the subnet.
#[derive(Debug)]
pub(crate) struct TestNet {
    /// `bt-<pid>-<n>`: at most 15 bytes.
    pub(crate) bridge: String,
    /// `10.213.<x>.1/24`, berthd's `--bip`.
    pub(crate) bip: String,
    /// `10.213.<x>.0/24`.
    pub(crate) subnet: String,
    /// `bt_<pid>_<n>`.
    pub(crate) table: String,
    lock: PathBuf,
}

impl TestNet {
    pub(crate) fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let pid = std::process::id();
        let n = N.fetch_add(1, Ordering::SeqCst);
        let (x, lock) = reserve_subnet(pid, n);
        Self {
            bridge: format!("bt-{pid}-{n}"),
            bip: format!("10.213.{x}.1/24"),
            subnet: format!("10.213.{x}.0/24"),
            table: format!("bt_{pid}_{n}"),
            lock,
        }
    }

    /// berthd's flags for these names; `--ip-forward=false` so tests never
    /// change the host's forwarding setting.
    pub(crate) fn args(&self) -> Vec<String> {
        vec![
            "--bridge".into(),
            self.bridge.clone(),
            "--bip".into(),
            self.bip.clone(),
            "--nft-table".into(),
            self.table.clone(),
            "--ip-forward=false".into(),
        ]
    }

    /// A subnet for a user network of this daemon: `10.214.<x>.<n*64>/26`
    /// (`n` from 0 to 3).
    pub(crate) fn user_subnet(&self, n: u8) -> String {
        assert!(n < 4, "four user subnets per test daemon");
        format!("10.214.{}.{}/26", self.x(), n * 64)
    }

    fn x(&self) -> &str {
        self.subnet.split('.').nth(2).unwrap_or("0")
    }

    /// The gateway (the bridge's own address), `10.213.<x>.1`.
    pub(crate) fn gateway(&self) -> String {
        self.bip.trim_end_matches("/24").to_owned()
    }

    /// A smaller subnet for user network `k` (0..8) of this daemon's
    /// tests: `10.214.<x>.<32k>/27` (inside [`TestNet::user_subnet`]'s
    /// `10.214.<x>.0/24`; a test uses one scheme or the other).
    pub(crate) fn user_subnet_27(&self, k: u8) -> String {
        let x = self.subnet.split('.').nth(2).unwrap_or("0");
        format!("10.214.{x}.{}/27", u16::from(k % 8) * 32)
    }

    /// The gateway of [`TestNet::user_subnet_27`] `k`: its first address.
    pub(crate) fn user_gateway_27(&self, k: u8) -> String {
        format!("10.214.{}.{}", self.x(), u16::from(k % 8) * 32 + 1)
    }

    /// A bridge name for user network `k` of this daemon's tests
    /// (`b<k>-<pid>-<n>`, at most 15 bytes).
    pub(crate) fn user_bridge(&self, k: u8) -> String {
        format!("b{k}{}", self.bridge.trim_start_matches("bt"))
    }

    /// Whether the bridge link exists in the host's namespace.
    pub(crate) fn bridge_exists(&self) -> bool {
        link_exists(&self.bridge)
    }

    /// Whether the nftables table exists.
    pub(crate) fn table_exists(&self) -> bool {
        table_exists(&self.table)
    }

    /// Names of the links enslaved to the bridge (the host ends of the
    /// daemon's veths).
    pub(crate) fn bridge_ports(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-o", "link", "show", "master", &self.bridge])
            .output();
        let Ok(out) = out else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|name| name.split('@').next().unwrap_or(name).to_owned())
            .collect()
    }

    /// Bridges with an address in this daemon's user subnets
    /// (`10.214.<x>.0/24`): those of its user networks.
    pub(crate) fn user_bridges(&self) -> Vec<String> {
        let prefix = format!("inet 10.214.{}.", self.x());
        let out = Command::new("ip")
            .args(["-o", "-4", "addr", "show"])
            .output();
        let Ok(out) = out else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&prefix))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect()
    }

    /// The DNAT targets (`ip:port`) of container `id`'s published IPv4
    /// ports, read from the rules of the daemon's table.
    pub(crate) fn dnat_targets(&self, id: &str) -> Vec<String> {
        self.dnat_targets_after(id, "dnat ip to ")
    }

    /// The DNAT targets (`[ip6]:port`) of container `id`'s published IPv6
    /// ports.
    pub(crate) fn dnat6_targets(&self, id: &str) -> Vec<String> {
        self.dnat_targets_after(id, "dnat ip6 to ")
    }

    /// What follows `marker` in the rules naming `id` (by comment).
    fn dnat_targets_after(&self, id: &str, marker: &str) -> Vec<String> {
        let out = Command::new("nft")
            .args(["list", "table", "inet", &self.table])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(id))
            .filter_map(|l| l.split(marker).nth(1))
            .filter_map(|t| t.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    /// Removes the veths in the bridge, the bridge and the table, if there.
    pub(crate) fn remove(&self) {
        for bridge in self.user_bridges() {
            let _ = Command::new("ip")
                .args(["link", "del", &bridge])
                .stderr(std::process::Stdio::null())
                .status();
        }
        for port in self.bridge_ports() {
            let _ = Command::new("ip")
                .args(["link", "del", &port])
                .stderr(std::process::Stdio::null())
                .status();
        }
        if self.bridge_exists() {
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .status();
        }
        // The bridges of user networks the test made with `user_bridge`.
        for k in 0..8 {
            let bridge = self.user_bridge(k);
            if link_exists(&bridge) {
                let _ = Command::new("ip").args(["link", "del", &bridge]).status();
            }
        }
        if self.table_exists() {
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", &self.table])
                .status();
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.remove();
        let _ = fs_err::remove_file(&self.lock);
    }
}

/// Whether a link named `name` exists in this network namespace.
pub(crate) fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// Whether the `inet` table `name` exists.
pub(crate) fn table_exists(name: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A free `x` for 10.213.x.0/24: not routed by the host, and its lock
/// file created by us (or taken over from a dead process).
fn reserve_subnet(pid: u32, n: usize) -> (u8, PathBuf) {
    let dir = std::env::temp_dir().join("berth-e2e-subnets");
    fs_err::create_dir_all(&dir).unwrap();
    let routed = fs_err::read_to_string("/proc/net/route").unwrap_or_default();
    let start = (pid as usize).wrapping_mul(7).wrapping_add(n);
    for i in 0..256 {
        let x = u8::try_from((start + i) % 254 + 1).unwrap();
        // /proc/net/route shows destinations as little-endian hex.
        let dest = format!("{:08X}", u32::from_le_bytes([10, 213, x, 0]));
        if routed
            .lines()
            .any(|l| l.split('\t').nth(1) == Some(dest.as_str()))
        {
            continue;
        }
        let lock = dir.join(x.to_string());
        if take_lock(&lock, pid) {
            return (x, lock);
        }
    }
    panic!(
        "no free test subnet in 10.213.0.0/16: remove stale files in {}",
        dir.display()
    );
}

/// Creates `lock` holding `pid`, or takes it over when the pid it names is
/// no longer running.
fn take_lock(lock: &std::path::Path, pid: u32) -> bool {
    for _ in 0..2 {
        match fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
        {
            Ok(mut f) => {
                let _ = write!(f, "{pid}");
                return true;
            }
            Err(_) => {
                let owner = fs_err::read_to_string(lock).unwrap_or_default();
                let alive = owner
                    .trim()
                    .parse::<u32>()
                    .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
                if alive || owner.is_empty() {
                    return false;
                }
                let _ = fs_err::remove_file(lock);
            }
        }
    }
    false
}

/// A DNS server on `addr` (UDP port 53, a loopback address) that answers
/// every question NXDOMAIN, on a thread of its own: the upstream of test
/// daemons whose containers must not look anything up outside the host.
pub(crate) fn serve_nxdomain(addr: &str) {
    let socket = std::net::UdpSocket::bind((addr, 53)).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            // The question echoed, QR + RD + RA, NXDOMAIN, no answer.
            let mut r = buf[..n].to_vec();
            r[2] = 0x81;
            r[3] = 0x83;
            r[6..12].fill(0);
            let _ = socket.send_to(&r, peer);
        }
    });
}

/// Moves the calling thread (and what it starts from now on, berthd
/// included) into a new network namespace with its loopback up; the rest
/// of the test process stays in the host's. The namespace goes with the
/// thread and its children.
pub(crate) fn enter_own_netns() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `network create` with `client` of user network `k` of the daemon (its
/// [`TestNet::user_subnet_27`] and [`TestNet::user_bridge`]), with `extra`
/// flags; the network's ID.
pub(crate) fn create_network(
    d: &Daemon,
    client: Client,
    name: &str,
    k: u8,
    extra: &[&str],
) -> String {
    let subnet = d.net.user_subnet_27(k);
    let bridge = format!("com.docker.network.bridge.name={}", d.net.user_bridge(k));
    let create = ["network", "create", "--subnet", &subnet, "-o", &bridge];
    let args = [&create[..], extra, &[name]].concat();
    clients::ok(d, client, &args).trim().to_owned()
}

/// A daemon whose containers' resolver files come from a host file naming
/// a local upstream that answers every name NXDOMAIN, at
/// `127.<net>.<x>.53` (`x` the daemon's own subnet byte), so no lookup
/// leaves the host; and the directory of that file.
pub(crate) fn nxdomain_daemon(net: u8) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let host_file = dir.path().join("resolv.conf");
    fs_err::write(&host_file, "").unwrap();
    let d = Daemon::start_with(&["--host-resolv-conf", host_file.to_str().unwrap()]);
    let x = d.net.subnet.split('.').nth(2).unwrap().to_owned();
    let addr = format!("127.{net}.{x}.53");
    fs_err::write(&host_file, format!("nameserver {addr}\n")).unwrap();
    serve_nxdomain(&addr);
    (d, dir)
}

/// `nslookup -type=a name` inside `from` (docker 28): the addresses
/// answered (empty when the name is not known).
pub(crate) fn lookup(d: &Daemon, from: &str, name: &str) -> Vec<String> {
    let out = d.docker(&["exec", from, "nslookup", "-type=a", name]);
    let stdout = clients::text(&out.stdout);
    // The first `Address:` is the server's own.
    stdout
        .split_once("Name:")
        .map(|(_, answers)| {
            answers
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Address:"))
                .map(|a| a.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Interface names in `ip -o link` output.
pub(crate) fn link_names(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

/// Interface names inside container `name` (`ip -o link`, docker 28).
pub(crate) fn links(d: &Daemon, name: &str) -> Vec<String> {
    link_names(&d.ok(&["exec", name, "ip", "-o", "link"]))
}

/// A port nobody holds right now (the kernel's pick for port 0).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /` from the host to `addr`; the body, or the error once httpd had
/// time to start (up to 10 s).
pub(crate) fn http_get(addr: SocketAddr) -> std::io::Result<String> {
    let mut last = None;
    for _ in 0..100 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                let mut out = String::new();
                s.read_to_string(&mut out)?;
                return Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned());
            }
            // httpd may not listen yet.
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last.unwrap())
}
