//! Compiles the built-in `hello-world` image's program
//! (`crates/hello/src/main.rs`) into a static binary in `$OUT_DIR/hello`,
//! which `src/image/hello.rs` embeds. The command is the one
//! `crates/hello/tests/static.rs` checks; the source path is remapped so
//! the bytes (and so the image ID) do not depend on where the tree lives.
//!
//! Also builds `berth-init` (`crates/init`, the pid 1 of `--init`)
//! statically into `$OUT_DIR/berth-init`, which `src/container/init.rs`
//! embeds: a second cargo, on a target dir of its own under `$OUT_DIR`,
//! with `-C target-feature=+crt-static` for that one binary (a cargo profile
//! cannot link one package statically, and the binary cargo builds for the
//! workspace needs the host's C library, which images need not have).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let src = manifest.join("../hello/src/main.rs");
    let hello_dir = manifest.join("../hello");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("hello");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "-C",
            "opt-level=z",
            "-C",
            "panic=abort",
        ])
        .args(["-C", "target-feature=+crt-static", "-C", "strip=symbols"])
        .arg(format!("--remap-path-prefix={}=hello", hello_dir.display()))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .output();
    match output {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "compiling {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run rustc: {e}"),
    }
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");
    build_init(&manifest);
}

fn build_init(manifest: &std::path::Path) {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let init_dir = manifest.join("../init");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target_dir = out_dir.join("init-target");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "rustc",
        "--offline",
        "--quiet",
        "-p",
        "berth-init",
        "--bin",
        "berth-init",
    ])
    .arg("--manifest-path")
    .arg(manifest.join("../../Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir)
    .args(["--", "-C", "target-feature=+crt-static"])
    .arg(format!("--remap-path-prefix={}=init", init_dir.display()))
    // Small and without debug info; the dependencies are tiny.
    .env("CARGO_PROFILE_DEV_OPT_LEVEL", "s")
    .env("CARGO_PROFILE_DEV_DEBUG", "false")
    .env("CARGO_PROFILE_DEV_STRIP", "symbols")
    .env("CARGO_PROFILE_DEV_INCREMENTAL", "false");
    // What the outer cargo set for this build script is not for this build
    // (clippy's wrapper, the outer target dir and flags).
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CLIPPY_ARGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    match cmd.output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "building berth-init statically failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run cargo to build berth-init: {e}"),
    }
    let built = target_dir.join("debug/berth-init");
    if let Err(e) = std::fs::copy(&built, out_dir.join("berth-init")) {
        panic!("cannot copy {}: {e}", built.display());
    }
    println!("cargo:rerun-if-changed={}", init_dir.join("src").display());
    println!(
        "cargo:rerun-if-changed={}",
        init_dir.join("Cargo.toml").display()
    );
}
