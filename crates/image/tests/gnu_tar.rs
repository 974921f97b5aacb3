//! Compatibility with archives written by GNU tar (the usual producer of
//! base-image layers): a tree with a busybox rootfs, hard links, a deep
//! path (GNU long names / PAX), a set-uid file, a FIFO, a sparse file,
//! odd owners and a dangling symlink is archived with `tar --format=posix`
//! and `--format=gnu`, applied with berth, extracted with GNU tar, and the
//! two trees compared entry by entry (type, mode, owner, size, content,
//! link target, mtime, hard-link groups).

// Helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::layer::{ApplyOptions, apply_layer};

fn sh(script: &str, dir: &Path) {
    let out = Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .output()
        .expect("sh (GNU tar is needed: Debian package tar)");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn build_tree(root: &Path) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image");
    let out = Command::new(&script)
        .arg("--rootfs")
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sh(
        r#"
        deep=$(printf 'component-%03d/' $(seq 1 40))
        mkdir -p "$deep"
        echo deep > "${deep}file-with-a-rather-long-name-$(printf 'x%.0s' $(seq 1 120))"
        echo shared > etc/hard1
        ln etc/hard1 etc/hard2
        ln etc/hard1 bin/hard3
        echo suid > bin/suid && chmod 4755 bin/suid
        mkfifo var/fifo
        truncate -s 10M var/sparse && printf 'end' >> var/sparse
        echo owned > var/owned && chown 1234:5678 var/owned
        ln -s /does/not/exist var/dangling
        ln -s ../etc/passwd var/rel-link
        touch -d '2001-02-03 04:05:06' etc/hard1 var/owned
        "#,
        root,
    );
}

/// Type, mode, owner, size, content hash, link target and mtime of every
/// entry, plus the hard-link groups (paths sharing an inode).
fn describe(root: &Path) -> (BTreeMap<PathBuf, String>, Vec<Vec<PathBuf>>) {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in fs_err::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let md = fs_err::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_owned();
            let ft = md.file_type();
            let extra = if ft.is_symlink() {
                format!("-> {}", fs_err::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                inodes.entry(md.ino()).or_default().push(rel.clone());
                let data = fs_err::read(&p).unwrap();
                format!(
                    "{} {}",
                    md.len(),
                    berth_image::digest::Digest::sha256_of(&data)
                )
            } else {
                String::new()
            };
            // Directory mtimes depend on extraction order in GNU tar too;
            // compare them for files only.
            let mtime = if ft.is_file() { md.mtime() } else { 0 };
            out.insert(
                rel,
                format!("{:o} {}:{} {mtime} {extra}", md.mode(), md.uid(), md.gid()),
            );
            if ft.is_dir() {
                stack.push(p);
            }
        }
    }
    let mut groups: Vec<Vec<PathBuf>> = inodes
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|mut g| {
            g.sort();
            g
        })
        .collect();
    groups.sort();
    (out, groups)
}

#[test]
fn gnu_tar_archives_apply_like_gnu_tar_extracts_them() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    build_tree(&tree);
    for format in [
        "posix --sparse-version=1.0",
        "posix --sparse-version=0.1",
        "posix --sparse-version=0.0",
        "gnu",
    ] {
        let label = format.replace([' ', '='], "_");
        let archive = dir.path().join(format!("{label}.tar"));
        sh(
            &format!(
                "tar --format={format} --sparse --numeric-owner -C '{}' -cf '{}' .",
                tree.display(),
                archive.display()
            ),
            dir.path(),
        );
        let reference = dir.path().join(format!("gnu-{label}"));
        fs_err::create_dir(&reference).unwrap();
        sh(
            &format!(
                "tar --numeric-owner --same-permissions --same-owner -C '{}' -xf '{}'",
                reference.display(),
                archive.display()
            ),
            dir.path(),
        );
        let ours = dir.path().join(format!("berth-{label}"));
        let rep = apply_layer(
            fs_err::File::open(&archive).unwrap(),
            &ours,
            &ApplyOptions::default(),
        )
        .unwrap();
        assert!(rep.skipped_devices.is_empty());
        // GNU tar applies the archive's root entry (`./`) to the target;
        // berth leaves the snapshot root alone. Compare what is inside.
        fs_err::set_permissions(&ours, fs_err::metadata(&reference).unwrap().permissions())
            .unwrap();
        let (a, ga) = describe(&reference);
        let (b, gb) = describe(&ours);
        let diffs: Vec<_> = a
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(v))
            .map(|(k, v)| format!("{}: gnu {v} / berth {:?}", k.display(), b.get(k)))
            .chain(
                b.keys()
                    .filter(|k| !a.contains_key(*k))
                    .map(|k| format!("{}: only in berth", k.display())),
            )
            .collect();
        assert!(
            diffs.is_empty(),
            "{format}: {} differences:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
        assert_eq!(ga, gb, "{format}: hard-link groups");
        assert_eq!(ga.len(), 1);
        assert!(a.len() > 300, "the tree has busybox's applets");
    }
}
