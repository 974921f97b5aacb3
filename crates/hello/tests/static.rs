//! The hello program compiles on its own into a static binary that runs in
//! an empty root filesystem: the property the built-in image relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn builds_static_and_runs_alone_in_an_empty_root() {
    assert!(
        nix_is_root(),
        "this test chroots into an empty directory and must run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs_err::create_dir(&root).unwrap();
    let bin = root.join("hello");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs");
    let out = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "-C",
            "opt-level=z",
            "-C",
            "panic=abort",
        ])
        .args(["-C", "target-feature=+crt-static", "-C", "strip=symbols"])
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rustc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A static binary has no program interpreter (PT_INTERP = 3).
    let elf = fs_err::read(&bin).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes(elf[0x36..0x38].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(elf[0x38..0x3a].try_into().unwrap()) as usize;
    for i in 0..phnum {
        let p = phoff + i * phentsize;
        let typ = u32::from_le_bytes(elf[p..p + 4].try_into().unwrap());
        assert_ne!(typ, 3, "the binary needs a dynamic loader");
    }
    // It runs with nothing else in its root.
    let out = Command::new("chroot")
        .arg(&root)
        .arg("/hello")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("\nHello from berth!\n"), "{text}");
    assert!(
        text.contains("berth run -it localhost/busybox sh"),
        "{text}"
    );
}

fn nix_is_root() -> bool {
    // Avoids a dependency: /proc/self/status "Uid:" real uid.
    fs_err::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        .unwrap_or(false)
}
