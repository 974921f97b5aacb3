//! `push`, `login` and `logout` against real registries (Debian's
//! `docker-registry` and `berth registry serve`, both with htpasswd
//! auth), through `berth` and the docker 28 CLI: a push without login
//! fails with the registry's refusal, a bad password is refused, the
//! credentials land in the docker config file as docker stores them, an
//! imported image (an uncompressed layer) is pushed compressed, a second
//! push sends nothing and gives the same digest, a push to a second
//! repository mounts the layer, and the image pulls back and runs.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::clients::{describe, text};
use common::registry::{Registry, free_port};
use common::{Daemon, import_busybox_as, output_with_stdin};
use serde_json::Value;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

/// An htpasswd file with USER's bcrypt entry.
fn htpasswd(file: &Path) {
    let out = Command::new("htpasswd")
        .args(["-Bbc"])
        .arg(file)
        .args([USER, PASSWORD])
        .output()
        .expect("htpasswd (apt-get install apache2-utils)");
    assert!(out.status.success(), "htpasswd: {}", text(&out.stderr));
}

/// The registries these tests push to, with htpasswd auth
/// ([`Registry`] is shared with e2e_pull.rs).
impl Registry {
    /// Debian's `docker-registry`.
    fn distribution() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let file = dir.path().join("htpasswd");
        htpasswd(&file);
        let config = dir.path().join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
            dir.path().join("data").display(),
            file.display()
        );
        fs_err::write(&config, yaml).unwrap();
        let mut cmd = Command::new("/usr/bin/docker-registry");
        cmd.arg("serve").arg(&config);
        Self::spawn(cmd, dir, port)
    }

    /// `berth registry serve`.
    fn berth() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let file = dir.path().join("htpasswd");
        htpasswd(&file);
        let mut cmd = Command::new(common::berth_bin());
        cmd.args(["registry", "serve", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--root")
            .arg(dir.path().join("data"))
            .arg("--htpasswd")
            .arg(&file);
        Self::spawn(cmd, dir, port)
    }

    /// `skopeo inspect` of `name` (with the credentials).
    fn inspect(&self, name: &str) -> Value {
        self.skopeo_inspect(name, &[])
    }

    /// The manifest of `name` as the registry serves it.
    fn raw_manifest(&self, name: &str) -> Value {
        self.skopeo_inspect(name, &["--raw"])
    }

    fn skopeo_inspect(&self, name: &str, extra: &[&str]) -> Value {
        let out = Command::new("skopeo")
            .args(["--insecure-policy", "inspect", "--tls-verify=false"])
            .args(extra)
            .arg(format!("--creds={USER}:{PASSWORD}"))
            .arg(format!("docker://{}/{name}", self.addr()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect {name}: {}\nregistry log:\n{}",
            text(&out.stderr),
            self.log()
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// `berth args` with its own docker config directory.
fn berth(d: &Daemon, config: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut cmd = d.berth_command(args);
    cmd.env("DOCKER_CONFIG", config);
    match input {
        Some(i) => output_with_stdin(&mut cmd, i),
        None => cmd.stdin(Stdio::null()).output().unwrap(),
    }
}

fn berth_ok(d: &Daemon, config: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    let out = berth(d, config, args, input);
    assert!(
        out.status.success(),
        "berth {args:?}: {}\nberthd log:\n{}",
        describe(&out),
        d.log()
    );
    text(&out.stdout)
}

fn berth_fails(d: &Daemon, config: &Path, args: &[&str]) -> String {
    let out = berth(d, config, args, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "berth {args:?}: {}",
        describe(&out)
    );
    text(&out.stderr)
}

fn config_json(dir: &Path) -> Value {
    serde_json::from_slice(&fs_err::read(dir.join("config.json")).unwrap()).unwrap()
}

/// The `<tag>: digest: sha256:... size: N` line's digest.
fn pushed_digest(out: &str, tag: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{tag}: digest: sha256:")))
        .unwrap_or_else(|| panic!("no digest line in {out}"));
    line.split_whitespace().nth(2).unwrap().to_owned()
}

fn b64(s: &str) -> String {
    let out = output_with_stdin(Command::new("base64").arg("-w0"), s.as_bytes());
    text(&out.stdout)
}

/// The whole story through `berth` against one registry.
fn push_with_berth(reg: &Registry, d: &Daemon, image: &str) {
    let cfg = tempfile::tempdir().unwrap();
    let cfg = cfg.path();
    fs_err::write(cfg.join("config.json"), r#"{"psFormat":"table {{.ID}}"}"#).unwrap();
    let a = reg.addr();
    let first = format!("{a}/team/bb");
    berth_ok(d, cfg, &["tag", image, &format!("{first}:1")], None);

    // No login: the registry's refusal, exit 1.
    let err = berth_fails(d, cfg, &["push", &format!("{first}:1")]);
    assert!(err.contains("no basic auth credentials"), "{err}");

    // A bad password is refused and nothing is stored.
    let err = berth_fails(d, cfg, &["login", "-u", USER, "-p", "wrong", &a]);
    assert!(
        err.contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."),
        "{err}"
    );
    assert!(err.contains("401 Unauthorized"), "{err}");
    assert!(config_json(cfg).get("auths").is_none());

    // A good one is stored as docker stores it; other keys are kept.
    let out = berth_ok(
        d,
        cfg,
        &["login", "-u", USER, "--password-stdin", &a],
        Some(format!("{PASSWORD}\n").as_bytes()),
    );
    assert_eq!(out, "Login Succeeded\n");
    let c = config_json(cfg);
    assert_eq!(c["auths"][&a]["auth"], b64(&format!("{USER}:{PASSWORD}")));
    assert_eq!(c["psFormat"], "table {{.ID}}");
    use std::os::unix::fs::PermissionsExt;
    let mode = fs_err::metadata(cfg.join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The imported (uncompressed) layer goes compressed.
    let out = berth_ok(d, cfg, &["push", &format!("{first}:1")], None);
    assert!(
        out.starts_with(&format!("The push refers to repository [{first}]\n")),
        "{out}"
    );
    assert!(out.contains(": Preparing\n"), "{out}");
    assert!(out.contains(": Pushed\n"), "{out}");
    let digest = pushed_digest(&out, "1");
    let info = reg.inspect("team/bb:1");
    assert_eq!(info["Digest"], digest.as_str());
    assert_eq!(info["Layers"].as_array().map(Vec::len), Some(1), "{info}");
    let raw = reg.raw_manifest("team/bb:1");
    assert_eq!(
        raw["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
        "{raw}"
    );
    let repo_digests = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &format!("{first}:1"),
    ]);
    assert!(
        repo_digests.contains(&format!("{first}@{digest}")),
        "{repo_digests}"
    );

    // Again: nothing sent, the same digest.
    let out = berth_ok(d, cfg, &["push", &format!("{first}:1")], None);
    assert!(out.contains(": Layer already exists\n"), "{out}");
    assert!(!out.contains(": Pushed\n"), "{out}");
    assert_eq!(pushed_digest(&out, "1"), digest);

    // Another repository of the same registry: the layer is mounted.
    let second = format!("{a}/other/bb");
    berth_ok(d, cfg, &["tag", image, &format!("{second}:2")], None);
    let out = berth_ok(d, cfg, &["push", "-q", &format!("{second}:2")], None);
    assert_eq!(out, format!("{second}:2\n"));
    let third = format!("{a}/third/bb");
    berth_ok(d, cfg, &["tag", image, &format!("{third}:3")], None);
    let out = berth_ok(d, cfg, &["push", &format!("{third}:3")], None);
    assert!(
        out.contains(": Mounted from team/bb\n") || out.contains(": Mounted from other/bb\n"),
        "{out}"
    );
    assert_eq!(pushed_digest(&out, "3"), digest);

    // Back from the registry: pull (with the stored credentials) and run.
    berth_ok(d, cfg, &["rmi", &format!("{third}:3")], None);
    let out = berth_ok(d, cfg, &["pull", &format!("{third}:3")], None);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let out = berth_ok(
        d,
        cfg,
        &[
            "run",
            "--rm",
            &format!("{third}:3"),
            "echo",
            "pushed and back",
        ],
        None,
    );
    assert_eq!(out, "pushed and back\n");

    // Logout forgets them; a second logout says so.
    let out = berth_ok(d, cfg, &["logout", &a], None);
    assert_eq!(out, format!("Removing login credentials for {a}\n"));
    let out = berth_ok(d, cfg, &["logout", &a], None);
    assert_eq!(out, format!("Not logged in to {a}\n"));
    assert!(config_json(cfg)["auths"].get(&a).is_none());
    assert_eq!(config_json(cfg)["psFormat"], "table {{.ID}}");
}

#[test]
fn push_login_logout_with_berth_to_docker_registry() {
    let reg = Registry::distribution();
    let d = Daemon::start();
    import_busybox_as(&d, "bbimp", &["sh", "echo"], &[]);
    push_with_berth(&reg, &d, "bbimp");
}

#[test]
fn push_with_berth_to_berth_registry_serve() {
    let reg = Registry::berth();
    let d = Daemon::start();
    import_busybox_as(&d, "bbimp", &["sh", "echo"], &[]);
    push_with_berth(&reg, &d, "bbimp");
}

#[test]
fn docker_cli_login_push_logout() {
    let reg = Registry::distribution();
    let d = Daemon::start();
    import_busybox_as(&d, "bbimp", &["sh", "echo"], &[]);
    let a = reg.addr();
    let name = format!("{a}/d28/bb");
    d.ok(&["tag", "bbimp", &format!("{name}:1")]);
    d.ok(&["tag", "bbimp", &format!("{name}:2")]);

    let out = d.docker(&["push", &format!("{name}:1")]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("no basic auth credentials"),
        "{}",
        describe(&out)
    );

    let out = d.docker_stdin(&["login", "-u", USER, "--password-stdin", &a], b"wrong\n");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("401 Unauthorized"),
        "{}",
        describe(&out)
    );

    let out = d.docker_stdin(
        &["login", "-u", USER, "--password-stdin", &a],
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert!(out.status.success(), "{}\n{}", describe(&out), d.log());
    assert!(
        text(&out.stdout).contains("Login Succeeded"),
        "{}",
        describe(&out)
    );

    let out = d.ok(&["push", &format!("{name}:1")]);
    assert!(
        out.starts_with(&format!("The push refers to repository [{name}]\n")),
        "{out}"
    );
    assert!(out.contains(": Pushed\n"), "{out}");
    let digest = pushed_digest(&out, "1");
    assert_eq!(reg.inspect("d28/bb:1")["Digest"], digest.as_str());

    // All tags of the repository (`-a`: the CLI sends no tag).
    let out = d.ok(&["push", "--all-tags", &name]);
    assert_eq!(pushed_digest(&out, "1"), digest);
    assert_eq!(pushed_digest(&out, "2"), digest);
    assert!(out.contains(": Layer already exists\n"), "{out}");
    assert_eq!(reg.inspect("d28/bb:2")["Digest"], digest.as_str());

    let out = d.ok(&["logout", &a]);
    assert!(
        out.contains(&format!("Removing login credentials for {a}")),
        "{out}"
    );
    let out = d.docker(&["push", &format!("{name}:1")]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    // An image that does not exist, as dockerd words it.
    let out = d.docker(&["push", &format!("{a}/nope:1")]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains(&format!(
            "An image does not exist locally with the tag: {a}/nope"
        )),
        "{}",
        describe(&out)
    );
}
