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

impl Drop for Netns {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
