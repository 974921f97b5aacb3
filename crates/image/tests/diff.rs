//! Layer diff: an upper directory written out with `write_diff` and
//! applied again with `apply_layer` gives the same tree (whiteouts, opaque
//! directories, hard links, symlinks, FIFOs, owners, modes, xattrs), the
//! output is deterministic, and its digest is the reported diff ID.

// Helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_image::diff::write_diff;
use berth_image::digest::Digest;
use berth_image::layer::{ApplyOptions, apply_layer};
use common::{E, describe, tar};

#[test]
fn diff_then_apply_is_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("upper");
    let layer = tar(&[
        E::Dir("etc/"),
        E::FileMode("etc/conf", b"conf", 0o640, 10, 20),
        E::FileMode("bin/suid", b"#!", 0o4755, 0, 0),
        E::Hard("bin/suid-link", "bin/suid"),
        E::Sym("bin/sh", "busybox"),
        E::Sym("abs", "/etc/conf"),
        E::Fifo("run/fifo"),
        E::File(".wh.deleted", b""),
        E::Dir("opq/"),
        E::File("opq/.wh..wh..opq", b""),
        E::File("opq/new", b"new"),
        E::XattrFile("x", b"x", vec![("user.k", b"v"), ("security.capability", b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")]),
        E::LongFile(format!("{}/leaf", "long-dir-name".repeat(10)), b"deep"),
    ]);
    apply_layer(&layer[..], &upper, &ApplyOptions::default()).unwrap();

    let mut out = Vec::new();
    let rep = write_diff(&upper, &mut out).unwrap();
    assert_eq!(rep.diff_id, Digest::sha256_of(&out));
    assert_eq!(rep.size, out.len() as u64);
    let mut again = Vec::new();
    assert_eq!(write_diff(&upper, &mut again).unwrap(), rep);
    assert_eq!(again, out, "deterministic");

    // The diff carries image-spec whiteouts, not device nodes.
    let mut names = Vec::new();
    for e in ::tar::Archive::new(&out[..]).entries().unwrap() {
        let e = e.unwrap();
        assert!(
            !matches!(e.header().entry_type(), ::tar::EntryType::Char),
            "{:?}",
            e.path()
        );
        names.push(e.path().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.contains(&".wh.deleted".to_owned()), "{names:?}");
    assert!(names.contains(&"opq/.wh..wh..opq".to_owned()), "{names:?}");

    let copy = dir.path().join("copy");
    let rep2 = apply_layer(
        &out[..],
        &copy,
        &ApplyOptions {
            expected_diff_id: Some(rep.diff_id.clone()),
            ..ApplyOptions::default()
        },
    )
    .unwrap();
    assert!(rep2.skipped_devices.is_empty());
    let (a, ga) = describe(&upper);
    let (b, gb) = describe(&copy);
    assert_eq!(a, b);
    assert_eq!(ga, gb);
    assert_eq!(ga.len(), 1, "the hard link survives");
    let mut v = [0u8; 64];
    let n = rustix::fs::lgetxattr(copy.join("x").as_path(), "user.k", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"v");
    assert!(
        rustix::fs::lgetxattr(copy.join("x").as_path(), "security.capability", &mut v[..]).is_ok()
    );
}
