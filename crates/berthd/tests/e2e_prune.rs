//! `system df`, `container prune`, `image prune` and `system prune`
//! through the docker CLI (28 and 20.10) and `berth`: docker's output,
//! prompts, filters and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::process::{Command, Output};

use common::{DOCKER_20, DOCKER_28, Daemon, berth_bin, import_busybox, output_with_stdin};

const CLIENTS: [&str; 3] = [DOCKER_28, DOCKER_20, "berth"];

fn command(d: &Daemon, client: &str, args: &[&str]) -> Command {
    if client == "berth" {
        let mut c = Command::new(berth_bin());
        c.args(args)
            .env("BERTH_HOST", format!("unix://{}", d.socket().display()))
            .env_remove("DOCKER_HOST");
        c
    } else {
        d.docker_command(client, args)
    }
}

fn run(d: &Daemon, client: &str, args: &[&str]) -> Output {
    command(d, client, args).output().unwrap()
}

fn run_with(d: &Daemon, client: &str, args: &[&str], input: &str) -> Output {
    output_with_stdin(&mut command(d, client, args), input.as_bytes())
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}{}",
        text(o),
        String::from_utf8_lossy(&o.stderr)
    );
    text(o)
}

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
    for client in CLIENTS {
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
        let o = run_with(&d, client, &["container", "prune"], "n\n");
        let out = ok(&o, client);
        assert!(
            out.starts_with(
                "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
            ),
            "{client}: {out}"
        );
        assert!(exists(&d, "wrote"), "{client}");

        // Yes, with a filter: the unlabelled stopped container goes.
        let o = run_with(
            &d,
            client,
            &["container", "prune", "--filter", "label!=keep"],
            "y\n",
        );
        let out = ok(&o, client);
        assert!(
            out.ends_with(&format!(
                "[y/N] Deleted Containers:\n{}\n\nTotal reclaimed space: 6B\n",
                wrote.trim()
            )),
            "{client}: {out}"
        );
        assert!(!exists(&d, "wrote"), "{client}");
        assert!(exists(&d, "kept") && exists(&d, "up"), "{client}");

        // until: only containers created before it (none, an hour back).
        let o = run(
            &d,
            client,
            &["container", "prune", "-f", "--filter", "until=1h"],
        );
        assert_eq!(ok(&o, client), "Total reclaimed space: 0B\n", "{client}");
        assert!(exists(&d, "kept"));

        // -f: every stopped container; the running one stays.
        let kept = d.ok(&["inspect", "-f", "{{.Id}}", "kept"]);
        let o = run(&d, client, &["container", "prune", "-f"]);
        assert_eq!(
            ok(&o, client),
            format!(
                "Deleted Containers:\n{}\n\nTotal reclaimed space: 0B\n",
                kept.trim()
            ),
            "{client}"
        );
        assert!(exists(&d, "up"));
        d.ok(&["rm", "-f", "up"]);

        // A filter docker does not know.
        let o = run(
            &d,
            client,
            &["container", "prune", "-f", "--filter", "nope=1"],
        );
        assert_eq!(o.status.code(), Some(1), "{client}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("invalid filter 'nope'"),
            "{client}: {o:?}"
        );
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
        .map(|c| ok(&run(&d, c, &["system", "df"]), c))
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
    let verbose: Vec<String> = [DOCKER_28, "berth"]
        .iter()
        .map(|c| ok(&run(&d, c, &["system", "df", "-v"]), c))
        .collect();
    assert_eq!(verbose[0], verbose[1], "docker 28 and berth, -v");
    assert!(verbose[1].starts_with("Images space usage:\n\nREPOSITORY"));
    assert!(verbose[1].contains("\nContainers space usage:\n\nCONTAINER ID"));
    let json = ok(
        &run(&d, "berth", &["system", "df", "--format", "json"]),
        "json",
    );
    assert_eq!(
        json,
        ok(
            &run(&d, DOCKER_28, &["system", "df", "--format", "json"]),
            "json 28"
        )
    );

    for client in CLIENTS {
        let bb = d.ok(&["inspect", "-f", "{{.Id}}", "busybox"]);
        let bb = bb.trim();
        // A dangling image (imported without a name) and a second tag.
        d.ok(&["tag", "busybox", "extra:1"]);
        let dangling = {
            let tar = d.dir.path().join("bb.tar");
            let o = d.docker(&["import", "--change", "LABEL tier=x", tar.to_str().unwrap()]);
            ok(&o, "import").trim().to_owned()
        };
        // Only dangling images by default.
        let o = run_with(&d, client, &["image", "prune"], "y\n");
        let out = ok(&o, client);
        assert!(
            out.starts_with(
                "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] Deleted Images:\n"
            ),
            "{client}: {out}"
        );
        assert!(
            out.contains(&format!("deleted: {dangling}\n")),
            "{client}: {out}"
        );
        assert!(
            out.ends_with("B\n") && out.contains("\n\nTotal reclaimed space: "),
            "{out}"
        );
        assert!(d.docker(&["image", "inspect", "extra:1"]).status.success());

        // -a with a label filter: nothing matches, nothing goes.
        let o = run(
            &d,
            client,
            &["image", "prune", "-a", "-f", "--filter", "label=nope"],
        );
        assert_eq!(ok(&o, client), "Total reclaimed space: 0B\n", "{client}");
        // -a: every image no container uses; hello-world stays (used).
        let o = run(&d, client, &["image", "prune", "-a", "-f"]);
        let out = ok(&o, client);
        assert!(out.starts_with("Deleted Images:\n"), "{client}: {out}");
        assert!(out.contains("untagged: extra:1\n"), "{client}: {out}");
        assert!(
            out.contains("untagged: busybox:latest\n"),
            "{client}: {out}"
        );
        assert!(out.contains(&format!("deleted: {bb}\n")), "{client}: {out}");
        assert!(!out.contains(&hello), "{client}: {out}");
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
    let o = run_with(
        &d,
        "berth",
        &["system", "prune", "--filter", "label=a"],
        "n\n",
    );
    assert_eq!(
        ok(&o, "berth"),
        ok(
            &run_with(
                &d,
                DOCKER_28,
                &["system", "prune", "--filter", "label=a"],
                "n\n"
            ),
            "docker"
        )
    );
    assert!(exists(&d, "uses-hello"));
    for client in [DOCKER_28, "berth"] {
        d.ok(&["create", "--name", "idle", "busybox", "true"]);
        let idle = d.ok(&["inspect", "-f", "{{.Id}}", "idle"]);
        let o = run(&d, client, &["system", "prune", "-f"]);
        let out = ok(&o, client);
        assert!(out.starts_with("Deleted Containers:\n"), "{client}: {out}");
        assert!(
            out.contains(&format!("{}\n", idle.trim())),
            "{client}: {out}"
        );
        assert!(
            out.ends_with("\nTotal reclaimed space: 0B\n"),
            "{client}: {out}"
        );
        assert!(!exists(&d, "idle") && !exists(&d, "uses-hello"));
        d.ok(&["run", "--name", "uses-hello", "hello-world"]);
    }
    // -a --volumes: images no container uses go too.
    let o = run(&d, "berth", &["system", "prune", "-a", "-f", "--volumes"]);
    let out = ok(&o, "berth -a");
    assert!(out.contains("Deleted Images:\n"), "{out}");
    assert!(out.contains(&format!("deleted: {bb}\n")), "{out}");
    // until is refused with --volumes, before anything is removed.
    reimport_busybox(&d);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let o = run(
        &d,
        "berth",
        &["system", "prune", "-f", "--volumes", "--filter", "until=1h"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "ERROR: The \"until\" filter is not supported with \"--volumes\""
    );
    let o = run(
        &d,
        DOCKER_28,
        &["system", "prune", "-f", "--volumes", "--filter", "until=1h"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(exists(&d, "idle"));
    // The CLI adds `dangling=true` to what the user gave; as dockerd,
    // one true value among the rest decides.
    for client in [DOCKER_28, "berth"] {
        let o = run(
            &d,
            client,
            &["image", "prune", "-f", "--filter", "dangling=maybe"],
        );
        assert_eq!(ok(&o, client), "Total reclaimed space: 0B\n");
    }
}
