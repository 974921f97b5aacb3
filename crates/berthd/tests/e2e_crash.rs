//! Crash safety and live restore, end to end through the real docker CLI.
//!
//! - `kill -9` of berthd in the middle of an import, a load, a container
//!   create, a container rm or an rmi, in a loop: the next berthd starts
//!   without errors, every image it lists is whole (inspect, create, save work),
//!   the store holds no temp or half-written files, and the interrupted
//!   operation either happened completely or left nothing visible.
//! - Live restore: a running container survives `kill -9` and SIGTERM of
//!   berthd; the next berthd shows it Up, its log keeps growing, `stop`
//!   works, and its shim goes away.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{DOCKER_28, Daemon, import_busybox};
use nix::sys::signal::{Signal, kill};

/// The docker CLI against `d`, started and not waited for (the daemon is
/// killed under it).
fn docker_spawn(d: &Daemon, args: &[&str]) -> Child {
    d.docker_command(DOCKER_28, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A busybox root file system with `size` bytes of data unique to `seed`,
/// as a tar in `dir`.
fn rootfs_tar(dir: &Path, name: &str, seed: u64, size: usize) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    fs_err::create_dir_all(root.join("bin")).unwrap();
    fs_err::create_dir_all(root.join("data")).unwrap();
    fs_err::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "true", "cat"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    // xorshift: cheap bytes that differ per seed (and do not compress).
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    fs_err::write(root.join("data/blob"), &data).unwrap();
    let tar = dir.join(format!("{name}.tar"));
    common::tar_dir(&root, &tar);
    fs_err::remove_dir_all(&root).unwrap();
    tar
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Full image IDs.
fn image_ids(d: &Daemon) -> BTreeSet<String> {
    lines(&d.ok(&["images", "-a", "--no-trunc", "--format", "{{.ID}}"]))
}

/// `name` of every container.
fn container_names(d: &Daemon) -> BTreeSet<String> {
    lines(&d.ok(&["ps", "-a", "--format", "{{.Names}}"]))
}

/// The repository:tag names of image `id`.
fn tags_of(d: &Daemon, id: &str) -> BTreeSet<String> {
    lines(&d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{range .RepoTags}}{{println .}}{{end}}",
        id,
    ]))
}

/// Every image is whole: inspect works, a container can be created from
/// it (and removed), `docker save` writes it. `checked` remembers images
/// already checked in depth.
fn check_images(d: &Daemon, checked: &mut BTreeSet<String>, scratch: &Path) {
    for id in image_ids(d) {
        d.ok(&["image", "inspect", &id]);
        if !checked.insert(id.clone()) {
            continue;
        }
        let c = d.ok(&["create", &id, "true"]);
        d.ok(&["rm", c.trim()]);
        let out = scratch.join("save.tar");
        d.ok(&["save", "-o", out.to_str().unwrap(), &id]);
        assert!(fs_err::metadata(&out).unwrap().len() > 0);
        fs_err::remove_file(&out).unwrap();
    }
}

/// Nothing half-written or temporary is left in the data root after the
/// restart's cleanup (the store's temp places, by crate):
/// - berth-image: `content/ingest/*` (blob writes), `.tmp-*` beside every
///   atomically written document (data root, `images/`, `snapshots/`),
///   `images/*.tags` (tag journals), `extract-*` snapshots (layer
///   unpacks), snapshot directories no metadata names, blobs no image
///   references;
/// - berth-engine: `containers/<id>/.config.v2.json.tmp-*`,
///   `containers/.removing-*`, container directories without a document,
///   documents without a snapshot.
fn check_store_clean(data: &Path) {
    let names = |dir: &Path| -> Vec<String> {
        fs_err::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let ingest = names(&data.join("content/ingest"));
    assert!(ingest.is_empty(), "ingest leftovers: {ingest:?}");
    for dir in [data.to_owned(), data.join("images"), data.join("snapshots")] {
        let tmp: Vec<_> = names(&dir)
            .into_iter()
            .filter(|n| n.starts_with(".tmp-") || n.contains(".tmp"))
            .collect();
        assert!(tmp.is_empty(), "temp files in {}: {tmp:?}", dir.display());
    }
    let journals: Vec<_> = names(&data.join("images"))
        .into_iter()
        .filter(|n| n.ends_with(".tags"))
        .collect();
    assert!(journals.is_empty(), "tag journals left: {journals:?}");

    let meta: serde_json::Value =
        serde_json::from_slice(&fs_err::read(data.join("snapshots/metadata.json")).unwrap())
            .unwrap();
    let snaps = meta["snapshots"].as_object().unwrap();
    let ids: BTreeSet<String> = snaps
        .values()
        .map(|i| i["id"].as_u64().unwrap().to_string())
        .collect();
    for key in snaps.keys() {
        assert!(!key.starts_with("extract-"), "unpack snapshot left: {key}");
    }
    let dirs: BTreeSet<String> = names(&data.join("snapshots"))
        .into_iter()
        .filter(|n| n.parse::<u64>().is_ok())
        .collect();
    assert_eq!(dirs, ids, "snapshot directories vs metadata");

    // Every blob is referenced by an image record.
    let mut used = BTreeSet::new();
    for n in names(&data.join("images")) {
        let rec: serde_json::Value =
            serde_json::from_slice(&fs_err::read(data.join("images").join(&n)).unwrap()).unwrap();
        let hex =
            |d: &serde_json::Value| d.as_str().unwrap().trim_start_matches("sha256:").to_owned();
        used.insert(hex(&rec["id"]));
        used.insert(hex(&rec["manifest"]["digest"]));
        for l in rec["layers"].as_array().unwrap() {
            used.insert(hex(&l["digest"]));
        }
    }
    let blobs: BTreeSet<String> = names(&data.join("content/blobs/sha256"))
        .into_iter()
        .collect();
    assert_eq!(blobs, used, "blobs vs image records");
    // And each blob still hashes to its name.
    let out = Command::new("sha256sum")
        .args(blobs.iter())
        .current_dir(data.join("content/blobs/sha256"))
        .output()
        .expect("sha256sum (coreutils)");
    assert!(out.status.success());
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let (sum, name) = l.split_once("  ").unwrap();
        assert_eq!(sum, name, "blob {name} does not match its digest");
    }

    let containers = data.join("containers");
    for n in names(&containers) {
        assert!(!n.starts_with('.'), "container leftover: {n}");
        let files = names(&containers.join(&n));
        assert!(
            files.iter().any(|f| f == "config.v2.json"),
            "container {n} without its document: {files:?}"
        );
        let tmp: Vec<_> = files.iter().filter(|f| f.starts_with('.')).collect();
        assert!(tmp.is_empty(), "temp files of container {n}: {tmp:?}");
        assert!(snaps.contains_key(&n), "container {n} without its snapshot");
    }
}

/// Mount points under `dir` (overlay roots of containers, say).
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    fs_err::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

/// berthd's log lines since byte `from` that say something went wrong
/// with the store (tracing's text format marks levels in capitals).
fn error_lines(log: &str, from: usize) -> Vec<String> {
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains("ERROR")
                || l.contains("failed to start daemon")
                || l.contains("skipping unreadable")
        })
        .map(str::to_owned)
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Import,
    Load,
    Create,
    Remove,
    Rmi,
}

#[test]
fn kill_9_during_import_load_create_rm_leaves_a_whole_store() {
    let mut d = Daemon::start();
    let scratch = d.dir.path().join("scratch");
    fs_err::create_dir_all(&scratch).unwrap();
    import_busybox(&d);
    let mut checked = BTreeSet::new();
    const ROUNDS: u64 = 25;
    const OPS: [Op; 5] = [Op::Import, Op::Load, Op::Create, Op::Remove, Op::Rmi];
    // Archives to load, made (and their images removed) up front.
    // How long the operations take here, uninterrupted, to spread the
    // kills over their whole length (measured, never asserted).
    let mut archives = Vec::new();
    let mut import_time = Duration::ZERO;
    let mut load_time = Duration::ZERO;
    for i in (0..ROUNDS).filter(|i| matches!(OPS[(*i % 5) as usize], Op::Load)) {
        let tar = rootfs_tar(&scratch, &format!("load{i}"), 1000 + i, 6 << 20);
        let tag = format!("crash/load:{i}");
        let t = Instant::now();
        d.ok(&["import", tar.to_str().unwrap(), &tag]);
        import_time = import_time.max(t.elapsed());
        let archive = scratch.join(format!("load{i}.archive.tar"));
        d.ok(&["save", "-o", archive.to_str().unwrap(), &tag]);
        d.ok(&["rmi", &tag]);
        let t = Instant::now();
        d.ok(&["load", "-i", archive.to_str().unwrap()]);
        load_time = load_time.max(t.elapsed());
        d.ok(&["rmi", &tag]);
        fs_err::remove_file(&tar).unwrap();
        archives.push((i, archive));
    }
    let t = Instant::now();
    d.ok(&["create", "--name", "timing", "busybox", "echo", "ok"]);
    let create_time = t.elapsed();
    d.ok(&["rm", "timing"]);
    let tar = rootfs_tar(&scratch, "rmi-timing", 999, 1 << 20);
    d.ok(&["import", tar.to_str().unwrap(), "crash/rmi:timing"]);
    let t = Instant::now();
    d.ok(&["rmi", "crash/rmi:timing"]);
    let rmi_time = t.elapsed();
    // Each operation comes every 5th round; its k-th round kills at
    // (5k + 3 * operation mod 12) / 10 of its time: from the very start
    // to a little after its end.
    let at = |i: u64, total: Duration| {
        total * u32::try_from(((i / 5) * 5 + (i % 5) * 3) % 12).unwrap() / 10
    };
    let mut outcomes = Vec::new();
    for i in 0..ROUNDS {
        let op = OPS[(i % 5) as usize];
        let mut images_before = image_ids(&d);
        let containers_before = container_names(&d);
        // Set up, then start the operation and kill berthd under it after
        // a delay that varies with the round (no timing is asserted: any
        // point of the operation, or before or after it, must be fine).
        let (child, delay) = match op {
            Op::Import => {
                let tar = rootfs_tar(&scratch, &format!("imp{i}"), i, 6 << 20);
                let tag = format!("crash/imp:{i}");
                let args = ["import", tar.to_str().unwrap(), &tag];
                (docker_spawn(&d, &args), at(i, import_time))
            }
            Op::Load => {
                let archive = &archives.iter().find(|(n, _)| *n == i).unwrap().1;
                let args = ["load", "-i", archive.to_str().unwrap()];
                (docker_spawn(&d, &args), at(i, load_time))
            }
            Op::Create => {
                let name = format!("c{i}");
                (
                    docker_spawn(&d, &["create", "--name", &name, "busybox", "echo", "ok"]),
                    at(i, create_time),
                )
            }
            Op::Remove => {
                let name = format!("r{i}");
                d.ok(&["create", "--name", &name, "busybox", "echo", "ok"]);
                (docker_spawn(&d, &["rm", &name]), at(i, create_time))
            }
            Op::Rmi => {
                let tar = rootfs_tar(&scratch, &format!("rmi{i}"), 2000 + i, 1 << 20);
                let tag = format!("crash/rmi:{i}");
                d.ok(&["import", tar.to_str().unwrap(), &tag]);
                images_before = image_ids(&d);
                (docker_spawn(&d, &["rmi", &tag]), at(i, rmi_time))
            }
        };
        let mut child = child;
        std::thread::sleep(delay);
        d.kill9();
        let _ = child.wait();
        let log_from = d.log().len();
        d.restart();
        let errors = error_lines(&d.log(), log_from);
        assert!(errors.is_empty(), "round {i} ({op:?}): {errors:#?}");

        // The store is whole and clean.
        check_images(&d, &mut checked, &scratch);
        for name in container_names(&d) {
            d.ok(&["inspect", &name]);
        }
        check_store_clean(&d.data_root());

        // The operation happened completely, or left nothing visible.
        let images_after = image_ids(&d);
        let containers_after = container_names(&d);
        let happened = match op {
            Op::Import | Op::Load => {
                let tag = match op {
                    Op::Import => format!("crash/imp:{i}"),
                    _ => format!("crash/load:{i}"),
                };
                let new: Vec<_> = images_after.difference(&images_before).collect();
                assert!(new.len() <= 1, "round {i}: {new:?}");
                assert!(images_before.is_subset(&images_after), "round {i}");
                match new.first() {
                    None => {
                        assert!(!d.docker(&["image", "inspect", &tag]).status.success());
                        false
                    }
                    Some(id) => {
                        assert!(
                            tags_of(&d, id).contains(&tag),
                            "round {i}: image {id} without its tag {tag}"
                        );
                        // Its content is the one we gave.
                        let c = d.ok(&["create", &tag, "cat", "/data/blob"]);
                        d.ok(&["rm", c.trim()]);
                        true
                    }
                }
            }
            Op::Create => {
                let name = format!("c{i}");
                let mut expected = containers_before.clone();
                if containers_after.contains(&name) {
                    expected.insert(name.clone());
                    assert_eq!(containers_after, expected, "round {i}");
                    // A whole container: it runs.
                    d.ok(&["start", &name]);
                    assert_eq!(d.ok(&["wait", &name]).trim(), "0");
                    d.ok(&["rm", &name]);
                    true
                } else {
                    assert_eq!(containers_after, expected, "round {i}");
                    false
                }
            }
            Op::Remove => {
                let name = format!("r{i}");
                // `containers_before` was taken before `name` was created.
                if containers_after.contains(&name) {
                    let mut expected = containers_before.clone();
                    expected.insert(name.clone());
                    assert_eq!(containers_after, expected, "round {i}");
                    d.ok(&["start", &name]);
                    assert_eq!(d.ok(&["wait", &name]).trim(), "0");
                    d.ok(&["rm", &name]);
                    false
                } else {
                    assert_eq!(containers_after, containers_before, "round {i}");
                    true
                }
            }
            Op::Rmi => {
                // `images_before` was taken after the image was imported.
                let tag = format!("crash/rmi:{i}");
                assert!(images_after.is_subset(&images_before), "round {i}");
                let gone: Vec<_> = images_before.difference(&images_after).collect();
                assert!(gone.len() <= 1, "round {i}: {gone:?}");
                match gone.first() {
                    None => {
                        // Nothing happened: the image still has its tag.
                        d.ok(&["image", "inspect", &tag]);
                        d.ok(&["rmi", &tag]);
                        false
                    }
                    Some(_) => {
                        assert!(!d.docker(&["image", "inspect", &tag]).status.success());
                        true
                    }
                }
            }
        };
        outcomes.push((i, op, happened));
    }
    eprintln!(
        "import {import_time:?}, load {load_time:?}, create {create_time:?}, rmi {rmi_time:?}; outcomes (round, operation, happened before the kill): {outcomes:?}"
    );
    assert!(mounts_under(d.dir.path()).is_empty());
    let dir = d.dir.path().to_owned();
    drop(d);
    let left = mounts_under(&dir);
    assert!(left.is_empty(), "mounts left: {left:?}");
}

/// The number of log lines `docker logs` returns for `name`.
fn log_lines(d: &Daemon, name: &str) -> usize {
    d.ok(&["logs", name]).lines().count()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process is alive (and not a zombie).
fn alive(pid: i32) -> bool {
    match fs_err::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

fn shim_pid(d: &Daemon, id: &str) -> i32 {
    fs_err::read_to_string(d.exec_root().join("shims").join(id).join("shim.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn running_containers_survive_kill_9_and_sigterm_of_berthd() {
    let mut d = Daemon::start();
    import_busybox(&d);
    let script = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done";
    let id = d.ok(&["run", "-d", "--name", "lr", "busybox", "sh", "-c", script]);
    let id = id.trim().to_owned();
    wait_until("3 log lines", || log_lines(&d, "lr") >= 3);
    let pid: i32 = d
        .ok(&["inspect", "--format", "{{.State.Pid}}", "lr"])
        .trim()
        .parse()
        .unwrap();
    let shim = shim_pid(&d, &id);
    assert!(alive(pid) && alive(shim));

    // kill -9: the container and its shim live on, and so does its log.
    d.kill9();
    let log_file = d
        .data_root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    let size = fs_err::metadata(&log_file).unwrap().len();
    wait_until("the log to grow without berthd", || {
        fs_err::metadata(&log_file).unwrap().len() > size
    });
    assert!(alive(pid) && alive(shim));
    d.restart();
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.trim().starts_with("lr Up"), "{ps}");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Pid}} {{.State.Status}}",
            "lr"
        ])
        .trim(),
        format!("{pid} running")
    );
    let before = log_lines(&d, "lr");
    wait_until("docker logs to grow after the restart", || {
        log_lines(&d, "lr") > before
    });

    // SIGTERM: berthd stops cleanly and leaves the container running.
    kill(d.pid(), Signal::SIGTERM).unwrap();
    let status = d.child.wait().unwrap();
    assert!(status.success(), "berthd exit after SIGTERM: {status}");
    assert!(alive(pid), "SIGTERM of berthd killed the container");
    assert!(alive(shim), "SIGTERM of berthd killed the shim");
    d.restart();
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.trim().starts_with("lr Up"), "{ps}");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Pid}}", "lr"])
            .trim(),
        pid.to_string()
    );
    let before = log_lines(&d, "lr");
    wait_until("docker logs to grow after the second restart", || {
        log_lines(&d, "lr") > before
    });

    // stop works on a restored container and reports its exit.
    assert_eq!(d.ok(&["stop", "-t", "1", "lr"]).trim(), "lr");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Status}}", "lr"])
            .trim(),
        "exited"
    );
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.trim().starts_with("lr Exited"), "{ps}");
    wait_until("the shim to exit", || !alive(shim));
    assert!(!alive(pid));
    assert!(
        !d.exec_root().join("shims").join(&id).exists(),
        "the shim's directory is removed"
    );
    assert!(mounts_under(d.dir.path()).is_empty());
    d.ok(&["rm", "lr"]);
    let dir = d.dir.path().to_owned();
    drop(d);
    let left = mounts_under(&dir);
    assert!(left.is_empty(), "mounts left: {left:?}");
}
