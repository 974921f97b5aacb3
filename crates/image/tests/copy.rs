//! `docker cp` into and out of a container's root file system
//! (`layer::extract_archive`, `rootfs::{stat_path, write_path_archive,
//! changes}`): hostile archives and hostile trees never reach outside the
//! root (the sandbox's canary is compared before and after). Runs as root.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_image::layer::{CopyOptions, LayerError, extract_archive};
use berth_image::rootfs::{ChangeKind, changes, stat_path, write_path_archive};
use common::{E, Sandbox, tar};

/// The sandbox's `target/` as a container root with `/dest` in it.
fn root(sb: &Sandbox) -> std::path::PathBuf {
    let r = sb.target();
    fs_err::create_dir_all(r.join("dest")).unwrap();
    r
}

/// Extracts into `/dest` (or `dest`) of the root; the canary must not change.
fn extract_into(sb: &Sandbox, dest: &str, entries: &[E<'_>]) -> Result<(), LayerError> {
    let before = sb.fingerprint();
    let r = extract_archive(
        &tar(entries)[..],
        &root(sb),
        Path::new(dest),
        &CopyOptions::default(),
    );
    assert_eq!(
        sb.fingerprint(),
        before,
        "something outside the root changed"
    );
    r.map(drop)
}

#[test]
fn dotdot_names_are_refused() {
    for name in [
        "../x",
        "../../canary/pwned",
        "a/../../x",
        "./../../../canary/file",
    ] {
        let sb = Sandbox::new();
        let e = extract_into(&sb, "/dest", &[E::File(name, b"evil")]).unwrap_err();
        assert!(matches!(e, LayerError::Escape { .. }), "{name}: {e}");
    }
}

#[test]
fn absolute_names_stay_below_the_destination() {
    let sb = Sandbox::new();
    let canary = format!("{}/canary/file", sb.abs());
    extract_into(
        &sb,
        "/dest",
        &[E::File("/etc/x", b"1"), E::File(&canary, b"evil")],
    )
    .unwrap();
    let r = sb.target();
    assert_eq!(fs_err::read(r.join("dest/etc/x")).unwrap(), b"1");
    assert_eq!(
        fs_err::read(r.join("dest").join(canary.trim_start_matches('/'))).unwrap(),
        b"evil"
    );
}

#[test]
fn symlinks_in_the_archive_resolve_inside_the_root() {
    let sb = Sandbox::new();
    let abs = sb.abs();
    let canary_dir = format!("{abs}/canary");
    let up = "../../../../../../../../../..".to_owned() + &canary_dir;
    // Where the links lead is missing in the root: refused, nothing
    // created anywhere.
    for (link, target) in [("up", up.as_str()), ("abs", canary_dir.as_str())] {
        let sb = Sandbox::new();
        let name = format!("{link}/pwned");
        let r = extract_into(&sb, "/dest", &[E::Sym(link, target), E::File(&name, b"x")]);
        assert!(r.is_err(), "{link}");
    }
    // It exists in the root: the files land there.
    fs_err::create_dir_all(root(&sb).join(canary_dir.trim_start_matches('/'))).unwrap();
    extract_into(
        &sb,
        "/dest",
        &[
            // A link to `/`, then a file through it.
            E::Sym("root", "/"),
            E::File("root/etc/pwned", b"a"),
            // A link climbing out, then a file through it.
            E::Sym("up", &up),
            E::File("up/pwned", b"b"),
            // An absolute link to the canary, then a directory and a file.
            E::Sym("abs", &canary_dir),
            E::Dir("abs/newdir/"),
            E::File("abs/file", b"c"),
        ],
    )
    .unwrap();
    let r = sb.target();
    // Everything landed inside the root, where the links lead when the
    // root is `/`.
    assert_eq!(fs_err::read(r.join("etc/pwned")).unwrap(), b"a");
    let inside = r.join(canary_dir.trim_start_matches('/'));
    assert_eq!(fs_err::read(inside.join("pwned")).unwrap(), b"b");
    assert_eq!(fs_err::read(inside.join("file")).unwrap(), b"c");
    assert!(inside.join("newdir").is_dir());
    // The links themselves are kept as written.
    assert_eq!(
        fs_err::read_link(r.join("dest/root")).unwrap(),
        Path::new("/")
    );
}

#[test]
fn hard_links_out_of_the_destination_are_refused() {
    let sb = Sandbox::new();
    let target = format!("../../../../../../../..{}/canary/file", sb.abs());
    let e = extract_into(&sb, "/dest", &[E::Hard("hl", &target)]).unwrap_err();
    assert!(matches!(e, LayerError::BadHardlink { .. }), "{e}");
}

#[test]
fn a_destination_that_is_a_symlink_to_slash_stays_in_the_root() {
    let sb = Sandbox::new();
    let r = root(&sb);
    std::os::unix::fs::symlink("/", r.join("evil")).unwrap();
    let canary = format!("{}/canary", sb.abs());
    std::os::unix::fs::symlink(&canary, r.join("evil2")).unwrap();
    extract_into(&sb, "/evil", &[E::File("x", b"1")]).unwrap();
    assert_eq!(fs_err::read(r.join("x")).unwrap(), b"1");
    // A destination symlink to a host path that does not exist in the
    // root: nothing is created on the host.
    let e = extract_into(&sb, "/evil2", &[E::File("file", b"evil")]);
    assert!(e.is_err());
    assert_eq!(
        fs_err::read(Path::new(&canary).join("file")).unwrap(),
        b"original"
    );
}

#[test]
fn overwrite_rules_and_ownership() {
    let sb = Sandbox::new();
    let r = root(&sb);
    fs_err::create_dir_all(r.join("dest/d")).unwrap();
    fs_err::write(r.join("dest/f"), b"old").unwrap();
    let strict = CopyOptions {
        no_overwrite_dir_non_dir: true,
        chown: None,
    };
    let e = extract_archive(
        &tar(&[E::File("d", b"x")])[..],
        &r,
        Path::new("/dest"),
        &strict,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("cannot overwrite a directory"),
        "{e}"
    );
    let e =
        extract_archive(&tar(&[E::Dir("f/")])[..], &r, Path::new("/dest"), &strict).unwrap_err();
    assert!(
        e.to_string().contains("cannot overwrite a non-directory"),
        "{e}"
    );
    // Files keep the archive's owner; with `chown` they get the given one.
    extract_archive(
        &tar(&[E::FileMode("owned", b"x", 0o640, 1234, 5678)])[..],
        &r,
        Path::new("/dest"),
        &strict,
    )
    .unwrap();
    let md = fs_err::metadata(r.join("dest/owned")).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o777), (1234, 5678, 0o640));
    let forced = CopyOptions {
        no_overwrite_dir_non_dir: true,
        chown: Some((42, 43)),
    };
    extract_archive(
        &tar(&[E::FileMode("forced", b"x", 0o600, 1234, 5678)])[..],
        &r,
        Path::new("/dest"),
        &forced,
    )
    .unwrap();
    let md = fs_err::metadata(r.join("dest/forced")).unwrap();
    assert_eq!((md.uid(), md.gid()), (42, 43));
    // Whiteout names are plain files in a copy.
    extract_archive(
        &tar(&[E::File(".wh.f", b"w")])[..],
        &r,
        Path::new("/dest"),
        &strict,
    )
    .unwrap();
    assert_eq!(fs_err::read(r.join("dest/f")).unwrap(), b"old");
    assert!(r.join("dest/.wh.f").is_file());
}

#[test]
fn reading_a_path_through_a_symlink_to_slash_stays_in_the_root() {
    let sb = Sandbox::new();
    let r = root(&sb);
    fs_err::write(r.join("inside"), b"in").unwrap();
    std::os::unix::fs::symlink("/", r.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", r.join("up")).unwrap();
    for path in ["/evil/", "/evil/.", "/up/", "/evil/evil/up/"] {
        let mut out = Vec::new();
        write_path_archive(&r, path, &mut out).unwrap();
        let names: Vec<String> = tar::Archive::new(&out[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.ends_with("inside")),
            "{path}: {names:?}"
        );
        assert!(
            !names.iter().any(|n| n.contains("canary")),
            "{path}: {names:?}"
        );
    }
    // The stat of a symlink names where it leads inside the root.
    let st = stat_path(&r, "/up").unwrap();
    assert_eq!(st.link_target, "/");
    assert_eq!(st.mode & (1 << 27), 1 << 27);
    let st = stat_path(&r, "/evil/inside").unwrap();
    assert_eq!((st.name.as_str(), st.size), ("inside", 2));
    assert!(stat_path(&r, "/missing").is_err());
}

#[test]
fn changes_follow_moby() {
    let tmp = tempfile::tempdir().unwrap();
    let lower = tmp.path().join("lower");
    let upper = tmp.path().join("upper");
    for d in ["etc", "bin", "opaque", "same"] {
        fs_err::create_dir_all(lower.join(d)).unwrap();
    }
    fs_err::write(lower.join("etc/passwd"), b"root").unwrap();
    fs_err::write(lower.join("bin/sh"), b"sh").unwrap();
    fs_err::write(lower.join("opaque/old"), b"old").unwrap();
    fs_err::create_dir_all(upper.join("etc")).unwrap();
    fs_err::create_dir_all(upper.join("bin")).unwrap();
    fs_err::create_dir_all(upper.join("opaque")).unwrap();
    fs_err::write(upper.join("etc/passwd"), b"root2").unwrap();
    fs_err::write(upper.join("etc/new"), b"n").unwrap();
    nix::sys::stat::mknod(
        &upper.join("bin/sh"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .unwrap();
    rustix::fs::setxattr(
        upper.join("opaque"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs_err::write(upper.join("opaque/fresh"), b"f").unwrap();
    let got: Vec<(char, String)> = changes(&upper, &[lower])
        .unwrap()
        .into_iter()
        .map(|c| (c.kind.letter(), c.path))
        .collect();
    let want: Vec<(char, String)> = [
        ('C', "/bin"),
        ('D', "/bin/sh"),
        ('C', "/etc"),
        ('A', "/etc/new"),
        ('C', "/etc/passwd"),
        ('D', "/opaque"),
        ('A', "/opaque/fresh"),
    ]
    .iter()
    .map(|(k, p)| (*k, (*p).to_owned()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(ChangeKind::Deleted.api_kind(), 2);
}
