//! `docker build` against berthd (the classic builder: `POST /build`),
//! through `berth build` and the real docker 28 CLI with
//! `DOCKER_BUILDKIT=0`: a multi-stage Dockerfile with RUN, COPY (a
//! directory, a file, a wildcard, `--chown`, `--from`), ENV, WORKDIR, CMD
//! and LABEL whose image then runs; the cache on a second build; a failing
//! RUN that leaves no container and no mount; `.dockerignore`; a symlink
//! in the context that points out of it; a hostile context tar.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::Output;

use common::{BERTH, DOCKER_28, Daemon, busybox_root, tar_dir};

/// busybox with every applet, a user and group `app` (1000), imported as
/// `busybox`.
fn import_busybox_with_app(d: &Daemon) {
    let root = d.dir.path().join("bbroot");
    busybox_root(&root, &[]);
    fs_err::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs_err::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    let tar = d.dir.path().join("bbroot.tar");
    tar_dir(&root, &tar);
    d.ok(&["import", tar.to_str().unwrap(), "busybox"]);
}

const DOCKERFILE: &str = r#"FROM busybox AS build
RUN mkdir -p /out && echo built-in-stage-one > /out/result.txt
COPY dir /out/dir

FROM busybox
ENV GREETING=hello-from-env
WORKDIR /app
COPY --from=build /out/result.txt /app/
COPY dir ./d/
COPY file.txt /app/renamed.txt
COPY *.cfg /app/cfgs/
COPY --chown=app:app file.txt /app/owned.txt
COPY . /ctx/
LABEL stage=final
CMD ["sh", "-c", "cat /app/result.txt; echo $GREETING; pwd; ls /app/d /app/cfgs; stat -c %u:%g /app/owned.txt; cat /app/d/sub/inner.txt /app/renamed.txt; ls -a /ctx; readlink /ctx/link-out; cat /ctx/link-out || echo no-host-file"]
"#;

/// The build context: `dir/` with a nested file, `file.txt`, two `.cfg`
/// files, ignored files, and `link-out` pointing at a file outside.
fn make_context(base: &Path) -> std::path::PathBuf {
    let ctx = base.join("ctx");
    fs_err::create_dir_all(ctx.join("dir/sub")).unwrap();
    fs_err::create_dir_all(ctx.join("secret-dir")).unwrap();
    fs_err::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    fs_err::write(ctx.join("dir/top.txt"), "top\n").unwrap();
    fs_err::write(ctx.join("dir/sub/inner.txt"), "inner-content\n").unwrap();
    fs_err::write(ctx.join("file.txt"), "file-content\n").unwrap();
    fs_err::write(ctx.join("a.cfg"), "a\n").unwrap();
    fs_err::write(ctx.join("b.cfg"), "b\n").unwrap();
    fs_err::write(ctx.join("junk.ignored"), "junk\n").unwrap();
    fs_err::write(ctx.join("secret-dir/s"), "s\n").unwrap();
    fs_err::write(ctx.join(".dockerignore"), "*.ignored\nsecret-dir\n").unwrap();
    let host_file = base.join("host-secret.txt");
    fs_err::write(&host_file, "HOST-SECRET-CONTENT\n").unwrap();
    std::os::unix::fs::symlink(&host_file, ctx.join("link-out")).unwrap();
    ctx
}

fn build(d: &Daemon, client: &str, args: &[&str]) -> Output {
    let mut cmd = d.client_command(client, args);
    cmd.env("DOCKER_BUILDKIT", "0");
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn expected_run_output(host_file: &Path) -> String {
    format!(
        "built-in-stage-one\nhello-from-env\n/app\n/app/cfgs:\na.cfg\nb.cfg\n\n/app/d:\nsub\ntop.txt\n1000:1000\ninner-content\nfile-content\n.\n..\n.dockerignore\nDockerfile\na.cfg\nb.cfg\ndir\nfile.txt\nlink-out\n{}\nno-host-file\n",
        host_file.display()
    )
}

#[test]
fn multi_stage_build_runs_through_berth_and_docker_with_cache() {
    let d = Daemon::start();
    import_busybox_with_app(&d);
    let ctx = make_context(d.dir.path());
    let host_file = d.dir.path().join("host-secret.txt");
    let ctx_s = ctx.to_str().unwrap();
    // berth builds first, docker 28 then builds everything again
    // (--no-cache); both images run.
    for (client, tag, extra) in [
        (BERTH, "built-by-berth", None),
        (DOCKER_28, "built-by-docker", Some("--no-cache")),
    ] {
        let mut args = vec!["build", "-t", tag];
        args.extend(extra);
        args.push(ctx_s);
        let out = build(&d, client, &args);
        let all = text(&out);
        assert!(out.status.success(), "{client} build: {all}");
        assert!(all.contains("Step 1/14 : FROM busybox AS build"), "{all}");
        assert!(all.contains(" ---> Running in "), "{all}");
        assert!(!all.contains(" ---> Using cache"), "{all}");
        assert!(all.contains("Successfully built "), "{all}");
        assert!(
            all.contains(&format!("Successfully tagged {tag}:latest")),
            "{all}"
        );
        assert!(!all.contains("HOST-SECRET"), "{all}");
        let run = d.docker(&["run", "--rm", tag]);
        let shown = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(run.status.success(), "run {tag}: {}", text(&run));
        assert!(!text(&run).contains("HOST-SECRET"), "{}", text(&run));
        assert_eq!(shown, expected_run_output(&host_file), "run {tag}");
        let label = d.ok(&[
            "inspect",
            "--format",
            "{{.Config.Labels.stage}} {{.Config.WorkingDir}}",
            tag,
        ]);
        assert_eq!(label.trim(), "final /app");
    }
    // A build of the same context again: every step from the cache, the
    // same image as docker's.
    for client in [DOCKER_28, BERTH] {
        let again = build(&d, client, &["build", "-t", "again", ctx_s]);
        let all = text(&again);
        assert!(again.status.success(), "{all}");
        assert!(all.contains(" ---> Using cache"), "{all}");
        assert!(!all.contains(" ---> Running in "), "{all}");
        let ids: Vec<String> = ["built-by-docker", "again"]
            .iter()
            .map(|t| {
                d.ok(&["inspect", "--format", "{{.Id}}", t])
                    .trim()
                    .to_owned()
            })
            .collect();
        assert_eq!(ids[0], ids[1]);
    }
    // --no-cache runs the steps again; -q prints only the ID.
    let quiet = build(&d, BERTH, &["build", "-q", "--no-cache", ctx_s]);
    let out = String::from_utf8_lossy(&quiet.stdout).into_owned();
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(
        out.starts_with("sha256:") && out.lines().count() == 1,
        "{out}"
    );
    // builder prune forgets the cache (berth's, then docker's finds
    // nothing left).
    let pruned = d.berth(&["builder", "prune", "-f"]);
    let said = text(&pruned);
    assert!(pruned.status.success(), "{said}");
    assert!(said.contains("Total reclaimed space: "), "{said}");
    assert_eq!(
        d.ok(&["builder", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    let after = build(&d, BERTH, &["build", ctx_s]);
    assert!(!text(&after).contains("Using cache"), "{}", text(&after));
    assert_no_leftovers(&d);
}

/// No container, no mount under the data root, no context or mount
/// directory left by a build.
fn assert_no_leftovers(d: &Daemon) {
    let ps = d.ok(&["ps", "-aq"]);
    assert_eq!(ps.trim(), "", "containers left: {ps}");
    let root = d.data_root();
    let mounts = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
    let build_dir = root.join("build");
    let ours: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(build_dir.to_str().unwrap()))
        .collect();
    assert!(ours.is_empty(), "mounts left: {ours:?}");
    if let Ok(rd) = fs_err::read_dir(&build_dir) {
        let left: Vec<String> = rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "cache.json")
            .collect();
        assert!(left.is_empty(), "left in {}: {left:?}", build_dir.display());
    }
}

#[test]
fn a_failing_run_reports_its_exit_code_and_leaves_nothing() {
    let d = Daemon::start();
    import_busybox_with_app(&d);
    let ctx = d.dir.path().join("failctx");
    fs_err::create_dir_all(&ctx).unwrap();
    fs_err::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo before-failing && exit 3\nRUN echo never\n",
    )
    .unwrap();
    for client in [BERTH, DOCKER_28] {
        let out = build(&d, client, &["build", ctx.to_str().unwrap()]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{client}: {all}");
        assert!(all.contains("before-failing"), "{all}");
        assert!(
            all.contains(
                "The command '/bin/sh -c echo before-failing && exit 3' returned a non-zero code: 3"
            ),
            "{client}: {all}"
        );
        assert!(!all.contains("never"), "{all}");
        assert_no_leftovers(&d);
    }
    // A context without a Dockerfile, with docker's message.
    let mut tar = tar_entry("x", b"x\n");
    tar.extend([0u8; 1024]);
    let (status, answer) =
        common::api::request(&d, "POST", "/build", &String::from_utf8(tar).unwrap());
    assert!(status >= 400, "{answer}");
    assert!(
        answer.contains("Cannot locate specified Dockerfile: Dockerfile"),
        "{answer}"
    );
    assert_no_leftovers(&d);
}

/// A tar header for `name` with `data` (ustar, regular file).
fn tar_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn a_context_tar_climbing_out_is_refused() {
    let d = Daemon::start();
    let mut tar = tar_entry("Dockerfile", b"FROM scratch\nCOPY evil /\n");
    tar.extend(tar_entry(
        "../../../../../../tmp/berth-build-evil",
        b"evil\n",
    ));
    tar.extend([0u8; 1024]);
    let body = String::from_utf8(tar).unwrap();
    let (status, answer) = common::api::request(&d, "POST", "/build?t=evil", &body);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("build context"), "{answer}");
    assert!(!Path::new("/tmp/berth-build-evil").exists());
    assert_no_leftovers(&d);
}

/// docker 28 without `DOCKER_BUILDKIT` and without the buildx plugin:
/// the daemon's `Builder-Version: 1` makes it use the classic builder.
#[test]
fn docker_28_without_buildkit_settings_builds_with_the_classic_builder() {
    let d = Daemon::start();
    import_busybox_with_app(&d);
    let ctx = d.dir.path().join("plainctx");
    fs_err::create_dir_all(&ctx).unwrap();
    fs_err::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo plain > /plain\nCMD [\"cat\", \"/plain\"]\n",
    )
    .unwrap();
    let out = d
        .docker_command(DOCKER_28, &["build", "-t", "plain", ctx.to_str().unwrap()])
        .env_remove("DOCKER_BUILDKIT")
        .env_remove("BUILDX_BUILDER")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Successfully tagged plain:latest"),
        "{}",
        text(&out)
    );
    assert_eq!(d.ok(&["run", "--rm", "plain"]), "plain\n");
    assert_no_leftovers(&d);
}
