//! A thread that lives in a network namespace of its own (unshared, not
//! pinned): jobs sent to it run there, and the namespace goes with the
//! thread when the value is dropped.

use std::process::Command;
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// A thread in a network namespace of its own; jobs run on it.
pub(crate) struct Netns {
    jobs: Option<mpsc::Sender<Job>>,
    pub(crate) tid: i32,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Netns {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let (tid_tx, tid_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            tid_tx.send(nix::unistd::gettid().as_raw()).unwrap();
            for job in rx {
                job();
            }
        });
        let tid = tid_rx.recv().unwrap();
        let ns = Self {
            jobs: Some(tx),
            tid,
            thread: Some(thread),
        };
        ns.sh(&["ip link set lo up"]);
        ns
    }

    pub(crate) fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .as_ref()
            .unwrap()
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .unwrap();
        rx.recv().expect("the job panicked")
    }

    /// Runs each command line (split on spaces) in this namespace.
    pub(crate) fn sh(&self, lines: &[&str]) {
        let lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        self.run(move || {
            for line in lines {
                let words: Vec<&str> = line.split(' ').collect();
                let out = Command::new(words[0]).args(&words[1..]).output().unwrap();
                assert!(
                    out.status.success(),
                    "{line}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        });
    }
}

/// `ip` for an address: `ip -6` for an IPv6 one.
fn ip(addr: &str) -> &'static str {
    if addr.contains(':') { "ip -6" } else { "ip" }
}

/// ` nodad` for an IPv6 address (usable at once), nothing for IPv4.
fn nodad(addr: &str) -> &'static str {
    if addr.contains(':') { " nodad" } else { "" }
}

impl Netns {
    /// Bridge `name` in this namespace with the addresses `addrs`
    /// (`10.213.1.1/24`, `fd00::1/64`), up.
    pub(crate) fn bridge(&self, name: &str, addrs: &[String]) {
        let mut lines = vec![format!("ip link add {name} type bridge")];
        for a in addrs {
            lines.push(format!("{} addr add {a} dev {name}{}", ip(a), nodad(a)));
        }
        lines.push(format!("ip link set {name} up"));
        self.sh(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// A "container" `ctr` behind bridge `bridge` of this namespace: the
    /// veth `host_if` joins the bridge; its peer `ctr_if` moves into `ctr`
    /// with the addresses `addrs` (`10.213.1.2/24`, `fd00::2/64`) and a
    /// default route via each of `gateways`.
    pub(crate) fn plug(
        &self,
        bridge: &str,
        host_if: &str,
        ctr: &Netns,
        ctr_if: &str,
        addrs: &[String],
        gateways: &[String],
    ) {
        self.sh(&[
            &format!("ip link add {host_if} type veth peer name {ctr_if}"),
            &format!("ip link set {host_if} master {bridge}"),
            &format!("ip link set {host_if} up"),
            &format!("ip link set {ctr_if} netns {}", ctr.tid),
        ]);
        let mut lines: Vec<String> = addrs
            .iter()
            .map(|a| format!("{} addr add {a} dev {ctr_if}{}", ip(a), nodad(a)))
            .collect();
        lines.push(format!("ip link set {ctr_if} up"));
        for g in gateways {
            lines.push(format!("{} route add default via {g}", ip(g)));
        }
        ctr.sh(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
