//! Layer apply: the hostile-archive corpus (nothing outside the target is
//! created or changed; bad entries fail cleanly with an error naming the
//! entry, devices are skipped and reported) and the functional behaviour
//! (compression, digests, whiteouts, metadata). Runs as root.

// Helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_image::digest::Digest;
use berth_image::layer::{ApplyOptions, ApplyReport, Compression, LayerError, apply_layer};
use common::{E, Sandbox, gzip, tar, zstd};

fn apply(sb: &Sandbox, entries: &[E<'_>]) -> Result<ApplyReport, LayerError> {
    apply_layer(&tar(entries)[..], &sb.target(), &ApplyOptions::default())
}

/// Applies, checks that the canary is untouched, and that on failure the
/// error names `entry` and the target is gone.
fn hostile(entries: &[E<'_>], entry: &str) -> (Sandbox, Result<ApplyReport, LayerError>) {
    let sb = Sandbox::new();
    let before = sb.fingerprint();
    let r = apply(&sb, entries);
    assert_eq!(
        sb.fingerprint(),
        before,
        "something outside the target changed"
    );
    if let Err(e) = &r {
        assert!(
            e.to_string().contains(&format!("`{entry}`")),
            "error does not name `{entry}`: {e}"
        );
        assert!(!sb.target().exists(), "failed apply left the target behind");
    }
    (sb, r)
}

#[test]
fn traversal_with_dotdot_is_refused() {
    for name in [
        "../canary/pwned",
        "a/../../canary/pwned",
        "../../etc/x",
        "./../canary/file",
    ] {
        let (_sb, r) = hostile(&[E::Dir("a/"), E::File(name, b"evil")], name);
        let e = r.expect_err(name);
        assert!(matches!(e, LayerError::Escape { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("layer entry `{name}`: path escapes the layer root")
        );
    }
    assert!(!Path::new("/tmp/etc/x").exists());
}

#[test]
fn absolute_names_are_relative_to_the_root() {
    let sb = Sandbox::new();
    let name = format!("{}/canary/pwned", sb.abs());
    let before = sb.fingerprint();
    apply(&sb, &[E::File(&name, b"inside"), E::File("/etc/x", b"x")]).unwrap();
    assert_eq!(sb.fingerprint(), before);
    let inside = sb.target().join(name.trim_start_matches('/'));
    assert_eq!(fs_err::read(inside).unwrap(), b"inside");
    assert_eq!(fs_err::read(sb.target().join("etc/x")).unwrap(), b"x");
}

#[test]
fn absolute_symlink_to_root_stays_inside() {
    // `a -> /` then `a/<sandbox>/canary/pwned`: resolves to
    // target/<sandbox>/canary/pwned, never the real canary.
    let sb = Sandbox::new();
    let via_root = format!("a{}/canary/pwned", sb.abs());
    let before = sb.fingerprint();
    let r = apply(
        &sb,
        &[
            E::Sym("a", "/"),
            E::File(&via_root, b"evil"),
            E::File("a/etc/x", b"x"),
        ],
    );
    assert_eq!(sb.fingerprint(), before);
    r.unwrap();
    assert_eq!(fs_err::read(sb.target().join("etc/x")).unwrap(), b"x");
    assert!(
        sb.target()
            .join(format!("{}/canary/pwned", sb.abs().trim_start_matches('/')))
            .exists()
    );
}

#[test]
fn symlink_to_sandbox_dir_does_not_escape() {
    // The link's target does not exist inside the root: the write fails.
    for rel in [false, true] {
        let sb = Sandbox::new();
        let link = if rel {
            "../canary".to_owned()
        } else {
            format!("{}/canary", sb.abs())
        };
        let before = sb.fingerprint();
        let r = apply(&sb, &[E::Sym("a", &link), E::File("a/pwned", b"evil")]);
        assert_eq!(sb.fingerprint(), before, "{link}");
        let e = r.expect_err(&link);
        assert!(e.to_string().contains("`a/pwned`"), "{e}");
        assert!(!sb.target().exists());
    }
}

#[test]
fn relative_symlink_escape_stays_inside() {
    let sb = Sandbox::new();
    let name = format!("a{}/canary/pwned", sb.abs());
    let before = sb.fingerprint();
    let r = apply(
        &sb,
        &[
            E::Sym("a", "../../../../../../../../../.."),
            E::File(&name, b"evil"),
        ],
    );
    assert_eq!(sb.fingerprint(), before);
    r.unwrap();
    assert_eq!(
        fs_err::read(
            sb.target()
                .join(format!("{}/canary/pwned", sb.abs().trim_start_matches('/')))
        )
        .unwrap(),
        b"evil"
    );
    // The symlink itself is kept verbatim.
    assert_eq!(
        fs_err::read_link(sb.target().join("a")).unwrap(),
        Path::new("../../../../../../../../../..")
    );
}

#[test]
fn hardlinks_only_to_files_inside() {
    for target in [
        "/etc/passwd",
        "../canary/file",
        "a/../../canary/file",
        "ABS",
        "",
        "nonexistent",
    ] {
        let sb = Sandbox::new();
        let t = target.replace("ABS", &format!("{}/canary/file", sb.abs()));
        let before = sb.fingerprint();
        let r = apply(&sb, &[E::Dir("a/"), E::Hard("h", &t)]);
        assert_eq!(sb.fingerprint(), before, "{t}");
        let e = r.expect_err(&t);
        assert!(matches!(e, LayerError::BadHardlink { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("layer entry `h`: hard link target"),
            "{e}"
        );
        assert!(!sb.target().exists());
    }
    let (_sb, r) = hostile(&[E::Dir("a/"), E::Hard("h", "a")], "h");
    assert!(r.unwrap_err().to_string().contains("is a directory"));
}

#[test]
fn hardlink_via_symlinked_dir_is_refused() {
    let sb = Sandbox::new();
    let canary = format!("{}/canary", sb.abs());
    for link in [canary.as_str(), "../canary", "/"] {
        let (_s, r) = hostile(&[E::Sym("d", link), E::Hard("h", "d/file")], "h");
        r.expect_err(link);
    }
    // Inside the root, following a symlinked directory is fine.
    let sb = Sandbox::new();
    apply(
        &sb,
        &[
            E::Dir("real/"),
            E::File("real/f", b"x"),
            E::Sym("d", "/real"),
            E::Hard("h", "d/f"),
        ],
    )
    .unwrap();
    let a = fs_err::metadata(sb.target().join("real/f")).unwrap();
    let b = fs_err::metadata(sb.target().join("h")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn writes_never_go_through_existing_links() {
    let sb = Sandbox::new();
    let file = format!("{}/canary/file", sb.abs());
    let before = sb.fingerprint();
    apply(
        &sb,
        &[
            // A symlink to the canary, then a file of the same name.
            E::Sym("s", &file),
            E::File("s", b"evil"),
            // A hard link, then a file of the same name: the original keeps its content.
            E::File("orig", b"orig"),
            E::Hard("h", "orig"),
            E::File("h", b"new"),
            // A hard link to a symlink to the canary, then a file over it.
            E::Sym("s2", &file),
            E::Hard("h2", "s2"),
            E::File("h2", b"evil"),
        ],
    )
    .unwrap();
    assert_eq!(sb.fingerprint(), before);
    let t = sb.target();
    assert_eq!(fs_err::read(t.join("s")).unwrap(), b"evil");
    assert_eq!(fs_err::read(t.join("orig")).unwrap(), b"orig");
    assert_eq!(fs_err::read(t.join("h")).unwrap(), b"new");
    assert!(
        fs_err::symlink_metadata(t.join("s2"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn devices_are_skipped_and_reported() {
    let (sb, r) = hostile(
        &[
            E::Dir("dev/"),
            E::Char("dev/null"),
            E::Block("dev/sda"),
            E::Fifo("dev/fifo"),
            E::File("ok", b""),
        ],
        "",
    );
    let rep = r.unwrap();
    assert_eq!(
        rep.skipped_devices,
        vec!["dev/null".to_owned(), "dev/sda".to_owned()]
    );
    assert!(!sb.target().join("dev/null").exists());
    assert!(fs_err::symlink_metadata(sb.target().join("dev/sda")).is_err());
    assert!(
        fs_err::metadata(sb.target().join("dev/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(rep.entries, 3);
}

#[test]
fn very_long_names() {
    let deep: String = (0..20)
        .map(|i| format!("{i:02}{}/", "d".repeat(48)))
        .collect::<String>()
        + "leaf";
    let sb = Sandbox::new();
    apply(&sb, &[E::LongFile(deep.clone(), b"deep")]).unwrap();
    assert_eq!(fs_err::read(sb.target().join(&deep)).unwrap(), b"deep");

    let huge = "n".repeat(300);
    let (_sb, r) = hostile(&[E::LongFile(huge.clone(), b"x")], &huge);
    let e = r.unwrap_err();
    assert!(e.to_string().contains("File name too long"), "{e}");
}

#[test]
fn duplicate_entries_replace_earlier_ones() {
    let sb = Sandbox::new();
    let canary = format!("{}/canary", sb.abs());
    let before = sb.fingerprint();
    let r = apply(
        &sb,
        &[
            E::File("a", b"one"),
            E::File("a", b"two"),
            E::Dir("d/"),
            E::File("d/inner", b"x"),
            E::File("d", b"file now"),
            E::Sym("s", "/"),
            E::Dir("s/"),
            E::File("s/f", b"in dir"),
            // A directory replaced by a symlink out, then written through.
            E::Dir("x/"),
            E::Sym("x", &canary),
            E::File("x/pwned", b"evil"),
        ],
    );
    assert_eq!(sb.fingerprint(), before);
    let e = r.unwrap_err();
    assert!(e.to_string().contains("`x/pwned`"), "{e}");

    let sb = Sandbox::new();
    apply(
        &sb,
        &[
            E::File("a", b"one"),
            E::File("a", b"two"),
            E::Dir("d/"),
            E::File("d/inner", b"x"),
            E::File("d", b"file now"),
            E::Sym("s", "/"),
            E::Dir("s/"),
            E::File("s/f", b"in dir"),
        ],
    )
    .unwrap();
    let t = sb.target();
    assert_eq!(fs_err::read(t.join("a")).unwrap(), b"two");
    assert_eq!(fs_err::read(t.join("d")).unwrap(), b"file now");
    assert!(fs_err::symlink_metadata(t.join("s")).unwrap().is_dir());
    assert_eq!(fs_err::read(t.join("s/f")).unwrap(), b"in dir");
}

#[test]
fn whiteouts_through_symlinks_stay_inside() {
    let sb = Sandbox::new();
    let canary = format!("{}/canary", sb.abs());
    // Would delete canary/file if resolved on the host.
    let (_s, r) = hostile(
        &[E::Sym("a", &canary), E::File("a/.wh.file", b"")],
        "a/.wh.file",
    );
    r.unwrap_err();
    let (_s, r) = hostile(&[E::File("../canary/.wh.file", b"")], "../canary/.wh.file");
    r.unwrap_err();
    let (_s, r) = hostile(&[E::File("a/.wh..", b"")], "a/.wh..");
    r.unwrap_err();
    // `a -> /`: the whiteout lands at the layer root.
    let (sb, r) = hostile(
        &[
            E::Sym("a", "/"),
            E::File("a/.wh.etc", b""),
            E::Sym("b", &canary),
            E::File("b/../.wh..wh..opq", b""),
        ],
        "",
    );
    r.unwrap();
    let md = fs_err::symlink_metadata(sb.target().join("etc")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 0);
}

#[test]
fn whiteouts_and_opaque_dirs_become_overlay_markers() {
    let sb = Sandbox::new();
    let rep = apply(
        &sb,
        &[
            E::Dir("d/"),
            E::File("d/.wh..wh..opq", b""),
            E::File("d/keep", b"k"),
            E::File(".wh.gone", b""),
            E::File("d/.wh..wh.plnk", b""),
        ],
    )
    .unwrap();
    assert_eq!(rep.whiteouts, 2);
    let md = fs_err::symlink_metadata(sb.target().join("gone")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 0);
    let v = rustix::fs::getxattr(
        sb.target().join("d").as_path(),
        "trusted.overlay.opaque",
        &mut [0u8; 8],
    )
    .unwrap();
    assert_eq!(v, 1);
    assert!(!sb.target().join("d/.wh..wh..opq").exists());
    assert!(!sb.target().join(".wh.gone").exists());
}

#[test]
fn metadata_is_preserved() {
    let sb = Sandbox::new();
    apply(
        &sb,
        &[
            E::FileMode("suid", b"#!", 0o4755, 1000, 2000),
            E::Dir("d/"),
            E::File("d/f", b""),
            E::Sym("l", "d/f"),
            E::XattrFile(
                "x",
                b"",
                vec![("user.test", b"v"), ("trusted.overlay.redirect", b"/etc")],
            ),
        ],
    )
    .unwrap();
    let t = sb.target();
    let md = fs_err::metadata(t.join("suid")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o4755);
    assert_eq!((md.uid(), md.gid()), (1000, 2000));
    assert_eq!(md.mtime(), common::MTIME as i64);
    let d = fs_err::metadata(t.join("d")).unwrap();
    assert_eq!(d.mode() & 0o7777, 0o755);
    assert_eq!(
        d.mtime(),
        common::MTIME as i64,
        "directory mtime set after its children"
    );
    assert_eq!(fs_err::read_link(t.join("l")).unwrap(), Path::new("d/f"));
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(t.join("x").as_path(), "user.test", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"v");
    assert!(
        rustix::fs::getxattr(t.join("x").as_path(), "trusted.overlay.redirect", &mut buf).is_err()
    );
}

#[test]
fn compression_and_digests_are_verified() {
    let plain = tar(&[E::Dir("etc/"), E::File("etc/hostname", b"berth\n")]);
    let diff_id = Digest::sha256_of(&plain);
    for (blob, kind) in [
        (plain.clone(), Compression::None),
        (gzip(&plain), Compression::Gzip),
        (zstd(&plain), Compression::Zstd),
    ] {
        let sb = Sandbox::new();
        let opts = ApplyOptions {
            expected_digest: Some(Digest::sha256_of(&blob)),
            expected_diff_id: Some(diff_id.clone()),
        };
        let rep = apply_layer(&blob[..], &sb.target(), &opts).unwrap();
        assert_eq!(rep.compression, kind);
        assert_eq!(rep.diff_id, diff_id);
        assert_eq!(rep.size, blob.len() as u64);
        assert_eq!(rep.uncompressed_size, plain.len() as u64);
        assert_eq!(
            fs_err::read(sb.target().join("etc/hostname")).unwrap(),
            b"berth\n"
        );

        let wrong = Digest::sha256_of(b"wrong");
        let sb = Sandbox::new();
        let opts = ApplyOptions {
            expected_digest: Some(wrong.clone()),
            expected_diff_id: None,
        };
        let e = apply_layer(&blob[..], &sb.target(), &opts).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "layer digest mismatch: expected {wrong}, got {}",
                Digest::sha256_of(&blob)
            )
        );
        assert!(!sb.target().exists());
        let opts = ApplyOptions {
            expected_digest: None,
            expected_diff_id: Some(wrong.clone()),
        };
        let e = apply_layer(&blob[..], &sb.target(), &opts).unwrap_err();
        assert!(matches!(e, LayerError::DiffIdMismatch { .. }), "{e}");
        assert!(!sb.target().exists());
    }
}

#[test]
fn corrupt_streams_fail_cleanly() {
    let plain = tar(&[E::File("a", &[7u8; 10_000])]);
    let gz = gzip(&plain);
    for (what, blob) in [
        ("truncated gzip", gz[..gz.len() / 2].to_vec()),
        ("truncated tar", plain[..700].to_vec()),
    ] {
        let sb = Sandbox::new();
        let r = apply_layer(&blob[..], &sb.target(), &ApplyOptions::default());
        assert!(r.is_err(), "{what}");
        assert!(!sb.target().exists(), "{what}");
    }
    // A non-empty target is refused and left alone.
    let sb = Sandbox::new();
    fs_err::create_dir(sb.target()).unwrap();
    fs_err::write(sb.target().join("keep"), b"").unwrap();
    let e = apply_layer(&plain[..], &sb.target(), &ApplyOptions::default()).unwrap_err();
    assert!(matches!(e, LayerError::TargetNotEmpty { .. }));
    assert!(sb.target().join("keep").exists());
}

fn sparse_archive(name: &str, real_size: &str, map: &str, data: &[u8]) -> Vec<u8> {
    let mut body = map.as_bytes().to_vec();
    body.resize(body.len().div_ceil(512) * 512, 0);
    body.extend_from_slice(data);
    let mut b = ::tar::Builder::new(Vec::new());
    let recs = [
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", name),
        ("GNU.sparse.realsize", real_size),
    ];
    b.append_pax_extensions(recs.iter().map(|(k, v)| (*k, v.as_bytes())))
        .unwrap();
    let mut h = ::tar::Header::new_ustar();
    h.set_entry_type(::tar::EntryType::Regular);
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(common::MTIME);
    b.append_data(&mut h, "GNUSparseFile.0/x", &body[..])
        .unwrap();
    b.into_inner().unwrap()
}

#[test]
fn pax_sparse_files_apply_and_hostile_maps_fail() {
    let sb = Sandbox::new();
    let ok = sparse_archive("dir/s", "20", "2\n0\n3\n15\n5\n", b"abcvwxyz");
    apply_layer(&ok[..], &sb.target(), &ApplyOptions::default()).unwrap();
    let mut want = vec![0u8; 20];
    want[..3].copy_from_slice(b"abc");
    want[15..].copy_from_slice(b"vwxyz");
    assert_eq!(fs_err::read(sb.target().join("dir/s")).unwrap(), want);

    for (name, size, map, why) in [
        ("s", "10", "1\n5\n100\n", "chunk beyond the file's size"),
        ("s", "10", "99999999999\n", "too many map entries"),
        ("s", "10", "1\nx\n", "malformed map"),
        (
            "../../escape",
            "3",
            "1\n0\n3\n",
            "path escapes the layer root",
        ),
    ] {
        let sb = Sandbox::new();
        let before = sb.fingerprint();
        let e = apply_layer(
            &sparse_archive(name, size, map, b"abc")[..],
            &sb.target(),
            &ApplyOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
        assert!(e.to_string().contains(&format!("`{name}`")), "{e}");
        assert_eq!(sb.fingerprint(), before);
        assert!(!sb.target().exists());
    }
}
