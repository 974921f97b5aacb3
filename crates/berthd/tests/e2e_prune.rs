//! `system df`, `container prune`, `image prune` and `system prune`
//! through the docker CLI (28 and 20.10) and `berth`: docker's output,
//! prompts, filters and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use common::clients::{BERTH, CLIENTS, DOCKER, fails_with, ok, ok_stdin};
use common::{Daemon, import_busybox};

/// `busybox` again from the tar [`import_busybox`] made.
fn reimport_busybox(d: &Daemon) {
    let tar = d.dir.path().join("bb.tar");
    d.ok(&["import", tar.to_str().unwrap(), "busybox"]);
}

fn exists(d: &Daemon, name: &str) -> bool {
    d.docker(&["inspect", "--type", "container", name])
        .status
        .success()
}

#[test]
fn container_prune_with_prompts_filters_and_sizes() {
    let d = Daemon::start();
    import_busybox(&d);
    for client @ (who, _) in CLIENTS {
        // A stopped container that wrote 6 bytes, a labelled stopped one,
        // a running one.
        d.ok(&[
            "run",
            "--name",
            "wrote",
            "busybox",
            "sh",
            "-c",
            "echo hello > /f",
        ]);
        d.ok(&[
            "create", "--name", "kept", "--label", "keep=1", "busybox", "true",
        ]);
        d.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]);
        let wrote = d.ok(&["inspect", "-f", "{{.Id}}", "wrote"]);

        // No: nothing happens (docker 28 ends after the prompt, 20.10
        // prints that nothing was reclaimed).
        let out = ok_stdin(&d, client, &["container", "prune"], b"n\n");
        assert!(
            out.starts_with(
                "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
            ),
            "{who}: {out}"
        );
        assert!(exists(&d, "wrote"), "{who}");

        // Yes, with a filter: the unlabelled stopped container goes.
        let out = ok_stdin(
            &d,
            client,
            &["container", "prune", "--filter", "label!=keep"],
            b"y\n",
        );
        assert!(
            out.ends_with(&format!(
                "[y/N] Deleted Containers:\n{}\n\nTotal reclaimed space: 6B\n",
                wrote.trim()
            )),
            "{who}: {out}"
        );
        assert!(!exists(&d, "wrote"), "{who}");
        assert!(exists(&d, "kept") && exists(&d, "up"), "{who}");

        // until: only containers created before it (none, an hour back).
        assert_eq!(
            ok(
                &d,
                client,
                &["container", "prune", "-f", "--filter", "until=1h"],
            ),
            "Total reclaimed space: 0B\n",
            "{who}"
        );
        assert!(exists(&d, "kept"));

        // -f: every stopped container; the running one stays.
        let kept = d.ok(&["inspect", "-f", "{{.Id}}", "kept"]);
        assert_eq!(
            ok(&d, client, &["container", "prune", "-f"]),
            format!(
                "Deleted Containers:\n{}\n\nTotal reclaimed space: 0B\n",
                kept.trim()
            ),
            "{who}"
        );
        assert!(exists(&d, "up"));
        d.ok(&["rm", "-f", "up"]);

        // A filter docker does not know.
        let err = fails_with(
            &d,
            client,
            &["container", "prune", "-f", "--filter", "nope=1"],
            1,
        );
        assert!(err.contains("invalid filter 'nope'"), "{who}: {err}");
    }
    // Each prune is an event with the space it freed.
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 1
        ),
        "--filter",
        "event=prune",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.reclaimed}}",
    ]);
    assert!(ev.lines().any(|l| l == "container prune 6"), "{ev}");
}

#[test]
fn image_prune_system_prune_and_df() {
    let d = Daemon::start();
    import_busybox(&d);
    let hello = d.ok(&["inspect", "-f", "{{.Id}}", "hello-world"]);
    let hello = hello.trim().to_owned();
    d.ok(&["run", "--name", "uses-hello", "hello-world"]);

    // df: the same table from every client.
    let dfs: Vec<String> = CLIENTS
        .iter()
        .map(|&c| ok(&d, c, &["system", "df"]))
        .collect();
    assert_eq!(dfs[0], dfs[1], "docker 28 and 20.10");
    assert_eq!(dfs[0], dfs[2], "docker 28 and berth");
    let lines: Vec<Vec<&str>> = dfs[0]
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(lines[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    assert_eq!(lines[1][..3], ["Images", "2", "1"], "{}", dfs[0]);
    assert_eq!(lines[2][..3], ["Containers", "1", "0"], "{}", dfs[0]);
    assert_eq!(lines[3], ["Local Volumes", "0", "0", "0B", "0B"]);
    assert_eq!(lines[4], ["Build Cache", "0", "0", "0B", "0B"]);
    let verbose: Vec<String> = [DOCKER, BERTH]
        .iter()
        .map(|&c| ok(&d, c, &["system", "df", "-v"]))
        .collect();
    assert_eq!(verbose[0], verbose[1], "docker 28 and berth, -v");
    assert!(verbose[1].starts_with("Images space usage:\n\nREPOSITORY"));
    assert!(verbose[1].contains("\nContainers space usage:\n\nCONTAINER ID"));
    let json = ok(&d, BERTH, &["system", "df", "--format", "json"]);
    assert_eq!(json, ok(&d, DOCKER, &["system", "df", "--format", "json"]));

    for client @ (who, _) in CLIENTS {
        let bb = d.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
        let bb = bb.trim();
        // A dangling image (imported without a name) and a second tag.
        d.ok(&["tag", "busybox", "extra:1"]);
        let dangling = {
            let tar = d.dir.path().join("bb.tar");
            let args = ["import", "--change", "LABEL tier=x", tar.to_str().unwrap()];
            ok(&d, DOCKER, &args).trim().to_owned()
        };
        // Only dangling images by default.
        let out = ok_stdin(&d, client, &["image", "prune"], b"y\n");
        assert!(
            out.starts_with(
                "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] Deleted Images:\n"
            ),
            "{who}: {out}"
        );
        assert!(
            out.contains(&format!("deleted: {dangling}\n")),
            "{who}: {out}"
        );
        assert!(
            out.ends_with("B\n") && out.contains("\n\nTotal reclaimed space: "),
            "{out}"
        );
        assert!(d.docker(&["image", "inspect", "extra:1"]).status.success());

        // -a with a label filter: nothing matches, nothing goes.
        assert_eq!(
            ok(
                &d,
                client,
                &["image", "prune", "-a", "-f", "--filter", "label=nope"],
            ),
            "Total reclaimed space: 0B\n",
            "{who}"
        );
        // -a: every image no container uses; hello-world stays (used).
        let out = ok(&d, client, &["image", "prune", "-a", "-f"]);
        assert!(out.starts_with("Deleted Images:\n"), "{who}: {out}");
        assert!(out.contains("untagged: extra:1\n"), "{who}: {out}");
        assert!(out.contains("untagged: busybox:latest\n"), "{who}: {out}");
        assert!(out.contains(&format!("deleted: {bb}\n")), "{who}: {out}");
        assert!(!out.contains(&hello), "{who}: {out}");
        assert!(
            d.docker(&["image", "inspect", "hello-world"])
                .status
                .success()
        );
        assert!(!d.docker(&["image", "inspect", "busybox"]).status.success());
        reimport_busybox(&d);
    }
    let bb = d.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
    let bb = bb.trim().to_owned();

    // system prune: the prompt lists what goes (docker 28's wording).
    let args = ["system", "prune", "--filter", "label=a"];
    assert_eq!(
        ok_stdin(&d, BERTH, &args, b"n\n"),
        ok_stdin(&d, DOCKER, &args, b"n\n")
    );
    assert!(exists(&d, "uses-hello"));
    for client @ (who, _) in [DOCKER, BERTH] {
        d.ok(&["create", "--name", "idle", "busybox", "true"]);
        let idle = d.ok(&["inspect", "-f", "{{.Id}}", "idle"]);
        let out = ok(&d, client, &["system", "prune", "-f"]);
        assert!(out.starts_with("Deleted Containers:\n"), "{who}: {out}");
        assert!(out.contains(&format!("{}\n", idle.trim())), "{who}: {out}");
        assert!(
            out.ends_with("\nTotal reclaimed space: 0B\n"),
            "{who}: {out}"
        );
        assert!(!exists(&d, "idle") && !exists(&d, "uses-hello"));
        d.ok(&["run", "--name", "uses-hello", "hello-world"]);
    }
    // -a --volumes: images no container uses go too.
    let out = ok(&d, BERTH, &["system", "prune", "-a", "-f", "--volumes"]);
    assert!(out.contains("Deleted Images:\n"), "{out}");
    assert!(out.contains(&format!("deleted: {bb}\n")), "{out}");
    // until is refused with --volumes, before anything is removed.
    reimport_busybox(&d);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let args = ["system", "prune", "-f", "--volumes", "--filter", "until=1h"];
    assert_eq!(
        fails_with(&d, BERTH, &args, 1).trim(),
        "ERROR: The \"until\" filter is not supported with \"--volumes\""
    );
    fails_with(&d, DOCKER, &args, 1);
    assert!(exists(&d, "idle"));
    // The CLI adds `dangling=true` to what the user gave; as dockerd,
    // one true value among the rest decides.
    for client @ (who, _) in [DOCKER, BERTH] {
        assert_eq!(
            ok(
                &d,
                client,
                &["image", "prune", "-f", "--filter", "dangling=maybe"],
            ),
            "Total reclaimed space: 0B\n",
            "{who}"
        );
    }
}
