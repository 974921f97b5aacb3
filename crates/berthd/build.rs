//! Records what berthd was built from (git commit, compiler) for `/version`.

use std::process::Command;

fn main() {
    let git = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={git}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let compiler = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .and_then(|v| v.split(' ').take(2).collect::<Vec<_>>().join(" ").into())
        .unwrap_or_default();
    println!("cargo:rustc-env=BERTH_COMPILER={compiler}");
    // Re-run when HEAD moves, so the commit is not stale after a new commit.
    for path in ["../../.git/HEAD", "../../.git/refs/heads"] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
