//! Shared fixtures for the berth-runtime command tests: a busybox bundle in
//! a temp dir, a private `--root`, a unique cgroup path, and a guard that
//! force-deletes every container the test created, even when it fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub(crate) use berth_testkit::{busybox_rootfs, require_root};

/// A private runtime root plus bundles, cleaned up on drop.
pub(crate) struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
    tag: String,
}

impl Env {
    pub(crate) fn new() -> Self {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-rt-test-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("state");
        let tag = format!(
            "t{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        Self {
            dir,
            root,
            ids: Default::default(),
            tag,
        }
    }

    /// A container id unique to this test run.
    pub(crate) fn id(&self, name: &str) -> String {
        let id = format!("{}-{name}", self.tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A bundle running `args`, with a config from `berth-runtime spec`
    /// (terminal off, unique cgroup path); `edit` may change the config.
    pub(crate) fn bundle(
        &self,
        name: &str,
        args: &[&str],
        edit: impl FnOnce(&mut Value),
    ) -> PathBuf {
        let bundle = self.dir.path().join(format!("bundle-{name}"));
        fs_err::create_dir_all(bundle.join("rootfs")).unwrap();
        busybox_rootfs(&bundle.join("rootfs"));
        let out = Command::new(BIN)
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spec failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(&fs_err::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["readonly"] = json!(false);
        config["linux"]["cgroupsPath"] = json!(format!("/berth-test/{}-{name}", self.tag));
        edit(&mut config);
        fs_err::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        bundle
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Runs berth-runtime with stdout and stderr in files rather than
    /// pipes: a detached container inherits them, and a pipe would keep
    /// `output()` waiting until the container exits.
    pub(crate) fn rt(&self, args: &[&str]) -> Output {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let out_path = self.dir.path().join(format!("out-{n}"));
        let err_path = self.dir.path().join(format!("err-{n}"));
        let status = self
            .cmd()
            .args(args)
            .stdout(fs_err::File::create(&out_path).unwrap().into_parts().0)
            .stderr(fs_err::File::create(&err_path).unwrap().into_parts().0)
            .status()
            .unwrap();
        Output {
            status,
            stdout: fs_err::read(&out_path).unwrap(),
            stderr: fs_err::read(&err_path).unwrap(),
        }
    }

    /// Runs and asserts success, returning stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert!(
            out.status.success(),
            "berth-runtime {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn status(&self, id: &str) -> String {
        let out = self.ok(&["state", id]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v["status"].as_str().unwrap().to_string()
    }

    pub(crate) fn cgroup_dir(&self, name: &str, controller: &str) -> PathBuf {
        PathBuf::from(format!(
            "/sys/fs/cgroup/{controller}/berth-test/{}-{name}",
            self.tag
        ))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = Command::new(BIN)
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .output();
        }
    }
}

pub(crate) fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
