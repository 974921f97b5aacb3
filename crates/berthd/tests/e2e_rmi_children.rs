//! `rmi` of an image with child images (committed on it), through the real
//! docker 28 CLI and `berth`, with dockerd's rules and message (moby's
//! daemon/images/image_delete.go): by ID it is a conflict `-f` does not
//! override; by name its last tag goes and the image stays, untagged (and
//! hidden from `images` without `-a`); the child's removal takes the
//! untagged parent with it, unless `--no-prune`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::clients::{BERTH, DOCKER, fails_saying, inspect, ok, short};
use common::{Daemon, commit_layer, import_busybox};

#[test]
fn an_image_with_child_images_is_refused_by_id_untagged_by_name_and_pruned_with_its_child() {
    let d = Daemon::start();
    import_busybox(&d);
    for client in [DOCKER, BERTH] {
        let t = short(client);
        let (parent, child) = (format!("parent-{t}"), format!("child-{t}"));
        commit_layer(&d, &format!("mkp-{t}"), "busybox", "echo p > /p", &parent);
        commit_layer(&d, &format!("mkc-{t}"), &parent, "echo c > /c", &child);
        let pid = inspect(&d, &parent, "{{.Id}}");
        let cid = inspect(&d, &child, "{{.Id}}");
        assert_eq!(inspect(&d, &child, "{{.Parent}}"), pid, "{}", client.0);
        let sid = &pid.trim_start_matches("sha256:")[..12];
        let message = format!(
            "Error response from daemon: conflict: unable to delete {sid} (cannot be forced) - image has dependent child images"
        );
        for args in [["rmi", sid].as_slice(), &["rmi", "-f", sid], &["rmi", &pid]] {
            fails_saying(&d, client, args, 1, &message);
        }
        // By name: only the tag goes.
        assert_eq!(
            ok(&d, client, &["rmi", &parent]),
            format!("Untagged: {parent}:latest\n"),
            "{}",
            client.0
        );
        assert_eq!(inspect(&d, &pid, "{{.RepoTags}}"), "[]");
        // An intermediate image now: `images` lists it with `-a` only.
        let listed = |args: &[&str]| {
            let out = ok(
                &d,
                client,
                &[&["images", "-q", "--no-trunc"], args].concat(),
            );
            out.lines().any(|l| l == pid)
        };
        assert!(!listed(&[]), "{}", client.0);
        assert!(listed(&["-a"]), "{}", client.0);
        fails_saying(&d, client, &["rmi", "-f", sid], 1, &message);
        // The child goes, and the untagged parent after it.
        let out = ok(&d, client, &["rmi", &child]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("Untagged: {child}:latest"), "{out}");
        assert_eq!(lines[1], format!("Deleted: {cid}"), "{out}");
        assert!(lines.contains(&format!("Deleted: {pid}").as_str()), "{out}");
        for id in [&pid, &cid] {
            assert!(!d.docker(&["image", "inspect", id]).status.success());
        }
    }
    // The busybox image both were committed on is untouched.
    assert_eq!(inspect(&d, "busybox", "{{.RepoTags}}"), "[busybox:latest]");
}

#[test]
fn no_prune_leaves_the_untagged_parent() {
    let d = Daemon::start();
    import_busybox(&d);
    for client in [DOCKER, BERTH] {
        let t = short(client);
        let (parent, child) = (format!("np-parent-{t}"), format!("np-child-{t}"));
        commit_layer(&d, &format!("npp-{t}"), "busybox", "echo p > /p", &parent);
        commit_layer(&d, &format!("npc-{t}"), &parent, "echo c > /c", &child);
        let pid = inspect(&d, &parent, "{{.Id}}");
        let cid = inspect(&d, &child, "{{.Id}}");
        ok(&d, client, &["rmi", &parent]);
        // The child and its own layer go (`Deleted: <chain ID>` lines too).
        let out = ok(&d, client, &["rmi", "--no-prune", &child]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("Untagged: {child}:latest"), "{out}");
        assert_eq!(lines[1], format!("Deleted: {cid}"), "{out}");
        assert!(!out.contains(&pid), "{}: {out}", client.0);
        // The parent is still there, untagged; an rmi by ID removes it.
        assert_eq!(inspect(&d, &pid, "{{.RepoTags}}"), "[]");
        let out = ok(&d, client, &["rmi", &pid]);
        assert!(out.contains(&format!("Deleted: {pid}")), "{out}");
    }
}
