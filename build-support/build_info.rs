// Shared build script of berthd and the berth CLI: records what the binary
// was built from (git commit and date, compiler)
// for `version` output.

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
    // "Built" is the commit's date, not the wall clock: the same source gives
    // the same binary (the idea behind SOURCE_DATE_EPOCH). RFC 3339 in UTC,
    // which docker's CLI reformats for display.
    let date = Command::new("git")
        .args(["log", "-1", "--format=%cd", "--date=iso-strict-local"])
        .env("TZ", "UTC")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("cargo:rustc-env=BERTH_BUILD_TIME={date}");
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
    println!("cargo:rerun-if-changed=../../build-support/build_info.rs");
}
