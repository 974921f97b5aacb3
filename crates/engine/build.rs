//! Compiles the built-in `hello-world` image's program
//! (`crates/hello/src/main.rs`) into a static binary in `$OUT_DIR/hello`,
//! which `src/image/hello.rs` embeds. The command is the one
//! `crates/hello/tests/static.rs` checks; the source path is remapped so
//! the bytes (and so the image ID) do not depend on where the tree lives.

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
}
