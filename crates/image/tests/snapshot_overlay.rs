//! Mounts a snapshot description with real overlayfs (as root), in a
//! private mount namespace made by `unshare --mount --propagation private`
//! so that the mount disappears with the child process and no mount of
//! anyone else is touched. Two layers are applied with the layer applier;
//! the merged view must show files of both, hide a whited-out file, and
//! show only the upper layer's content in an opaque directory. A write
//! through the mount lands in the container snapshot's upper directory.

// Helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use berth_image::layer::{ApplyOptions, apply_layer};
use berth_image::snapshot::{Snapshotter, chain_ids};
use common::{E, tar};

#[test]
fn overlay_mount_of_two_layers_with_whiteout_and_opaque_dir() {
    for tool in ["unshare", "mount", "sh"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .status()
            .unwrap()
            .success();
        assert!(
            found,
            "`{tool}` is needed for this test (util-linux / a shell)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(dir.path().join("snapshots")).unwrap();
    let l1 = tar(&[
        E::File("a", b"from layer 1"),
        E::File("gone", b"deleted in layer 2"),
        E::Dir("opq/"),
        E::File("opq/old", b"hidden by opaque"),
        E::Dir("keep/"),
        E::File("keep/old", b"still visible"),
    ]);
    let l2 = tar(&[
        E::File("b", b"from layer 2"),
        E::File(".wh.gone", b""),
        E::Dir("opq/"),
        E::File("opq/.wh..wh..opq", b""),
        E::File("opq/new", b"new"),
        E::File("keep/new", b"also visible"),
    ]);
    let mut diff_ids = Vec::new();
    for (i, layer) in [l1, l2].iter().enumerate() {
        let key = format!("extract-{i}");
        let parent = chain_ids(&diff_ids).pop().map(|d| d.to_string());
        s.prepare(&key, parent.as_deref()).unwrap();
        // The upper dir exists (prepare made it) and is empty.
        let rep = apply_layer(
            &layer[..],
            &s.upper_dir(&key).unwrap(),
            &ApplyOptions::default(),
        )
        .unwrap();
        diff_ids.push(rep.diff_id);
        let chain = chain_ids(&diff_ids).pop().unwrap();
        s.commit(&chain.to_string(), &key).unwrap();
    }
    let top = chain_ids(&diff_ids).pop().unwrap().to_string();
    let mounts = s.prepare("container-1", Some(&top)).unwrap();
    assert_eq!(mounts.len(), 1);
    let m = &mounts[0];
    assert_eq!(m.kind, "overlay");

    let target = dir.path().join("merged");
    fs_err::create_dir(&target).unwrap();
    let script = r#"set -e
mount -t "$1" "$2" -o "$3" "$4"
cd "$4"
cat a; echo
cat b; echo
if [ -e gone ]; then echo "gone is visible"; fi
ls opq | tr '\n' ' '; echo
ls keep | tr '\n' ' '; echo
echo written > c
"#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&m.kind)
        .arg(&m.source)
        .arg(m.options.join(","))
        .arg(&target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "from layer 1\nfrom layer 2\nnew \nnew old \n");
    // The mount was private to the child: nothing is mounted here now.
    assert_eq!(fs_err::read_dir(&target).unwrap().count(), 0);
    // The write went to the container's upper directory, not to a layer.
    let upper = s.upper_dir("container-1").unwrap();
    assert_eq!(fs_err::read(upper.join("c")).unwrap(), b"written\n");
    for (name, _) in s.list() {
        if name != "container-1" {
            let info = s.stat(&name).unwrap();
            assert!(!s.fs_dir(&info).join("c").exists());
        }
    }
}

/// Unmounts on drop, so a failing assertion does not leave a mount.
struct Unmount<'a>(&'a std::path::Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = berth_image::snapshot::Mount::unmount(self.0);
    }
}

#[test]
fn mount_helper_mounts_overlay_and_read_only_views() {
    let dir = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(dir.path().join("snapshots")).unwrap();
    let mut diff_ids = Vec::new();
    for (i, layer) in [tar(&[E::File("one", b"1")]), tar(&[E::File("two", b"2")])]
        .iter()
        .enumerate()
    {
        let key = format!("x{i}");
        let parent = chain_ids(&diff_ids).pop().map(|d| d.to_string());
        s.prepare(&key, parent.as_deref()).unwrap();
        diff_ids.push(
            apply_layer(
                &layer[..],
                &s.upper_dir(&key).unwrap(),
                &ApplyOptions::default(),
            )
            .unwrap()
            .diff_id,
        );
        s.commit(&chain_ids(&diff_ids).pop().unwrap().to_string(), &key)
            .unwrap();
    }
    let chains = chain_ids(&diff_ids);
    let rw = s.prepare("rw", Some(&chains[1].to_string())).unwrap();
    let ro1 = s.view("ro1", &chains[0].to_string()).unwrap();
    let ro2 = s.view("ro2", &chains[1].to_string()).unwrap();
    let root = dir.path().to_owned();
    // A thread of its own with a private mount namespace: the mounts are
    // invisible to the rest of the system and vanish with the thread.
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .expect("unshare(CLONE_NEWNS) needs root");
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .unwrap();
        for (name, m, files, writable) in [
            ("m-rw", &rw[0], vec!["one", "two"], true),
            ("m-ro1", &ro1[0], vec!["one"], false),
            ("m-ro2", &ro2[0], vec!["one", "two"], false),
        ] {
            let target = root.join(name);
            fs_err::create_dir(&target).unwrap();
            m.mount(&target).unwrap();
            let _guard = Unmount(&target);
            let mut seen: Vec<String> = fs_err::read_dir(&target)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            seen.sort();
            assert_eq!(seen, files, "{name}");
            let w = fs_err::write(target.join("new"), b"x");
            assert_eq!(w.is_ok(), writable, "{name}: {w:?}");
        }
    })
    .join()
    .unwrap();
    // Nothing stays mounted, and only the writable snapshot got the file.
    for name in ["m-rw", "m-ro1", "m-ro2"] {
        assert_eq!(fs_err::read_dir(dir.path().join(name)).unwrap().count(), 0);
    }
    assert!(s.upper_dir("rw").unwrap().join("new").exists());
}
