//! `pull` from a real registry (Debian's `docker-registry`, filled with
//! `skopeo copy`), through the docker 28 CLI and `berth`: schema 2 and OCI
//! manifests, a multi-platform index, pull by digest, up-to-date second
//! pulls, `RepoDigests`, `run` of a missing image, and the errors dockerd
//! gives (unknown tag, unknown digest, a corrupt layer, a refused
//! connection, a registry that needs HTTPS), a failed pull leaving no
//! image and no ingest files behind.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Daemon;
use common::clients::{BERTH, DOCKER, DOCKER20, fails, inspect, ok, text};
use common::registry::{Registry, free_port};
use serde_json::{Value, json};

impl Registry {
    fn start() -> Self {
        Self::start_with_auth(None)
    }

    /// With `Some((user, password))`, the registry wants Basic auth
    /// (an htpasswd file made with `htpasswd -B`).
    fn start_with_auth(auth: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let file = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbc"])
                .arg(&file)
                .args([user, password])
                .output()
                .expect("htpasswd (apt-get install apache2-utils)");
            assert!(out.status.success(), "htpasswd: {}", text(&out.stderr));
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                file.display()
            ));
        }
        fs_err::write(&config, yaml).unwrap();
        let mut cmd = Command::new("/usr/bin/docker-registry");
        cmd.arg("serve").arg(&config);
        Self::spawn(cmd, dir, port)
    }

    /// `skopeo copy` of `src` to `name` in this registry.
    fn push(&self, src: &str, name: &str, extra: &[&str]) {
        let out = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
            .args(extra)
            .arg(src)
            .arg(format!("docker://{}/{name}", self.addr()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy {src} {name}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    /// The manifest `name` resolves to, as the registry serves it.
    fn raw_manifest(&self, name: &str) -> Vec<u8> {
        let out = Command::new("skopeo")
            .args([
                "--insecure-policy",
                "inspect",
                "--raw",
                "--tls-verify=false",
            ])
            .arg(format!("docker://{}/{name}", self.addr()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect: {}",
            text(&out.stderr)
        );
        out.stdout
    }

    /// The stored data of blob `digest`.
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image")
}

/// The busybox image as a docker-archive and as an OCI layout.
fn busybox(dir: &Path) -> (PathBuf, PathBuf) {
    let archive = dir.join("busybox.tar");
    let layout = dir.join("oci");
    let out = Command::new(script())
        .arg("--docker-archive")
        .arg(&archive)
        .arg("--oci-dir")
        .arg(&layout)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make-busybox-image: {}",
        text(&out.stderr)
    );
    (archive, layout)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&fs_err::read(p).unwrap()).unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .unwrap();
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn put_blob(layout: &Path, data: &[u8]) -> (String, usize) {
    let hex = sha256_hex(data);
    fs_err::write(layout.join("blobs/sha256").join(&hex), data).unwrap();
    (format!("sha256:{hex}"), data.len())
}

/// Turns the OCI layout into one whose `index.json` names an image index
/// with two platforms: the image as is for this host (amd64 or arm64), and
/// a copy claiming the other architecture (only the config differs).
/// Returns the other architecture.
fn make_multi_platform(layout: &Path) -> String {
    let index = read_json(&layout.join("index.json"));
    let mdesc = index["manifests"][0].clone();
    let mdigest = mdesc["digest"].as_str().unwrap().to_owned();
    let manifest = read_json(
        &layout
            .join("blobs/sha256")
            .join(mdigest.trim_start_matches("sha256:")),
    );
    let cdigest = manifest["config"]["digest"].as_str().unwrap();
    let mut config = read_json(
        &layout
            .join("blobs/sha256")
            .join(cdigest.trim_start_matches("sha256:")),
    );
    let host = config["architecture"].as_str().unwrap().to_owned();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    config["architecture"] = json!(other);
    let (c2, c2len) = put_blob(layout, &serde_json::to_vec(&config).unwrap());
    let mut m2 = manifest.clone();
    m2["config"]["digest"] = json!(c2);
    m2["config"]["size"] = json!(c2len);
    let (m2d, m2len) = put_blob(layout, &serde_json::to_vec(&m2).unwrap());
    let entry = |d: &str, size: u64, arch: &str| {
        json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": size,
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let idx = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&m2d, m2len as u64, other), entry(&mdigest, mdesc["size"].as_u64().unwrap(), &host)],
    });
    let (idxd, idxlen) = put_blob(layout, &serde_json::to_vec(&idx).unwrap());
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": idxd, "size": idxlen,
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }],
    });
    fs_err::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    other.to_owned()
}

/// Files left in the daemon's content ingest directory.
fn ingest_files(d: &Daemon) -> Vec<String> {
    fs_err::read_dir(d.data_root().join("content/ingest"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pull_through_docker_and_berth() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (archive, layout) = busybox(dir.path());
    reg.push(
        &format!("docker-archive:{}", archive.display()),
        "bb:latest",
        &[],
    );
    reg.push(
        &format!("docker-archive:{}", archive.display()),
        "bboci:1",
        &["--format", "oci"],
    );
    let other_arch = make_multi_platform(&layout);
    reg.push(
        &format!("oci:{}:multi", layout.display()),
        "multi:latest",
        &["--multi-arch", "all"],
    );
    // skopeo may re-serialise the index: its digest is the registry's.
    let index_digest = format!("sha256:{}", sha256_hex(&reg.raw_manifest("multi:latest")));
    let d = Daemon::start();
    let a = reg.addr();
    let bb = format!("{a}/bb");

    // docker 28: a schema 2 image.
    let out = ok(&d, DOCKER, &["pull", &bb]);
    assert!(
        out.starts_with("Using default tag: latest\nlatest: Pulling from bb\n"),
        "{out}"
    );
    assert!(out.contains(": Pull complete\n"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {bb}:latest\n")),
        "{out}"
    );
    assert!(out.ends_with(&format!("{bb}:latest\n")), "{out}");
    let digest_line = out.lines().find(|l| l.starts_with("Digest: ")).unwrap();
    let digest = digest_line.trim_start_matches("Digest: ").to_owned();
    assert_eq!(
        inspect(&d, &bb, "{{json .RepoDigests}}"),
        format!("[\"{bb}@{digest}\"]")
    );
    let run = ok(&d, DOCKER, &["run", "--rm", &bb, "echo", "pulled"]);
    assert_eq!(run, "pulled\n");
    // Again: nothing to download (docker 20.10 too).
    let out = ok(&d, DOCKER20, &["pull", &bb]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {bb}:latest\n")),
        "{out}"
    );
    let out = ok(&d, DOCKER, &["pull", &bb]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {bb}:latest\n")),
        "{out}"
    );
    assert!(!out.contains("Pull complete"), "{out}");
    // By digest.
    let by_digest = format!("{bb}@{digest}");
    let out = ok(&d, DOCKER, &["pull", &by_digest]);
    assert!(out.contains(&format!("Digest: {digest}\n")), "{out}");
    let listing = ok(
        &d,
        DOCKER,
        &[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
            &bb,
        ],
    );
    assert!(
        listing.contains(&format!("{bb} latest {digest}")),
        "{listing}"
    );

    // berth run --pull: always pulls first, never does not pull.
    let o = BERTH.1(&d, &["run", "--rm", "--pull=always", &bb, "echo", "again"]);
    assert_eq!(text(&o.stdout), "again\n", "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("Status: Image is up to date for {bb}:latest")),
        "{}",
        text(&o.stderr)
    );
    let oci = format!("{a}/bboci:1");
    let (code, err) = fails(&d, BERTH, &["run", "--rm", "--pull=never", &oci, "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains(&format!("No such image: {oci}")), "{err}");
    assert!(!err.contains("Unable to find image"), "{err}");
    let (code, err) = fails(&d, BERTH, &["run", "--pull=sometimes", &bb]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(
            r#"invalid pull option: 'sometimes': must be one of "always", "missing" or "never""#
        ),
        "{err}"
    );

    // berth: the OCI manifest, and run of a missing image pulls it.
    let out = ok(&d, BERTH, &["pull", &oci]);
    assert!(out.starts_with("1: Pulling from bboci\n"), "{out}");
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {oci}\n{oci}\n"
        )),
        "{out}"
    );
    let out = ok(&d, BERTH, &["pull", "-q", &oci]);
    assert_eq!(out, format!("{oci}\n"));
    ok(&d, DOCKER, &["rmi", &oci]);
    let o = DOCKER.1(&d, &["run", "--rm", &oci, "echo", "auto"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(text(&o.stdout), "auto\n");
    let err = text(&o.stderr);
    assert!(
        err.starts_with(&format!("Unable to find image '{oci}' locally\n")),
        "{err}"
    );
    assert!(err.contains("Status: Downloaded newer image for"), "{err}");
    ok(&d, BERTH, &["rmi", &oci]);
    let o = BERTH.1(&d, &["run", "--rm", &oci, "echo", "auto"]);
    assert_eq!(text(&o.stdout), "auto\n", "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with(&format!("Unable to find image '{oci}' locally\n")));

    // A multi-platform index: this host's entry, RepoDigest = the index.
    let multi = format!("{a}/multi");
    let out = ok(&d, DOCKER, &["pull", &multi]);
    assert!(out.contains(&format!("Digest: {index_digest}\n")), "{out}");
    // The host's entry is the same image as bb: it has both digests.
    let digests = inspect(&d, &multi, "{{json .RepoDigests}}");
    assert!(
        digests.contains(&format!("\"{multi}@{index_digest}\"")),
        "{digests}"
    );
    assert_eq!(
        ok(&d, DOCKER, &["run", "--rm", &multi, "echo", "multi"]),
        "multi\n"
    );
    let out = ok(
        &d,
        BERTH,
        &[
            "pull",
            "--platform",
            &format!("linux/{other_arch}"),
            &format!("{multi}:latest"),
        ],
    );
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(inspect(&d, &multi, "{{.Architecture}}"), other_arch);
    let (_, err) = fails(&d, DOCKER, &["pull", "--platform", "linux/s390x", &multi]);
    assert!(
        err.contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{err}"
    );
    assert!(ingest_files(&d).is_empty(), "{:?}", ingest_files(&d));
}

#[test]
fn pull_errors() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = busybox(dir.path());
    reg.push(
        &format!("docker-archive:{}", archive.display()),
        "bb:latest",
        &[],
    );
    let d = Daemon::start();
    let a = reg.addr();

    // Unknown tag: dockerd's message, before any output.
    for client in [DOCKER, BERTH] {
        let (code, err) = fails(&d, client, &["pull", &format!("{a}/bb:nope")]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(&format!(
                "manifest for {a}/bb:nope not found: manifest unknown: manifest unknown"
            )),
            "{}: {err}",
            client.0
        );
    }
    // Unknown digest.
    let nodigest = format!("{a}/bb@sha256:{}", "0".repeat(64));
    let (_, err) = fails(&d, DOCKER, &["pull", &nodigest]);
    assert!(err.contains("not found: manifest unknown"), "{err}");
    // Nothing listens there.
    let closed = format!("127.0.0.1:{}", free_port());
    let (_, err) = fails(&d, BERTH, &["pull", &format!("{closed}/x")]);
    assert!(
        err.contains(&format!("dial tcp {closed}: connect: connection refused")),
        "{err}"
    );
    // Docker Hub: needs HTTPS, which berth does not speak yet.
    let (_, err) = fails(&d, DOCKER, &["pull", "busybox"]);
    assert!(
        err.contains("berth can only pull from plain-HTTP registries yet"),
        "{err}"
    );

    // A layer whose bytes do not match its digest: the pull fails, no
    // image, no ingest file.
    let manifest: Value = serde_json::from_slice(&reg.raw_manifest("bb:latest")).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let path = reg.blob_path(layer);
    let mut data = fs_err::read(&path).unwrap();
    let n = data.len();
    data[n / 2] ^= 0xff;
    fs_err::write(&path, &data).unwrap();
    let (_, err) = fails(&d, DOCKER, &["pull", &format!("{a}/bb")]);
    assert!(err.contains("verification failed"), "{err}");
    let (_, err) = fails(&d, DOCKER, &["image", "inspect", &format!("{a}/bb")]);
    assert!(err.contains("No such image"), "{err}");
    assert!(ingest_files(&d).is_empty(), "{:?}", ingest_files(&d));
    let blobs = d
        .data_root()
        .join("content/blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    assert!(!blobs.exists());
}

/// `POST /images/create` through curl on the daemon's socket, with an
/// `X-Registry-Auth` header when `auth` is given: (HTTP status, body).
fn api_pull(d: &Daemon, image: &str, auth: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "--unix-socket",
    ])
    .arg(d.socket());
    if let Some(json) = auth {
        let out = Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(json.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        let b64 = text(&out.stdout).replace('+', "-").replace('/', "_");
        cmd.arg("-H").arg(format!("X-Registry-Auth: {b64}"));
    }
    cmd.arg(format!(
        "http://localhost/v1.51/images/create?fromImage={image}&tag=latest"
    ));
    let out = cmd.output().unwrap();
    let body = text(&out.stdout);
    let (body, code) = body.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

#[test]
fn pull_with_credentials() {
    let reg = Registry::start_with_auth(Some(("puller", "s3cret")));
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = busybox(dir.path());
    let out = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "puller:s3cret",
        ])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("docker://{}/private:latest", reg.addr()))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", text(&out.stderr));
    let d = Daemon::start();
    let image = format!("{}/private", reg.addr());

    // No credentials: refused before any output, as dockerd.
    let (code, body) = api_pull(&d, &image, None);
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains(&format!("pull access denied for {image}, repository does not exist or may require 'docker login'")),
        "{body}"
    );
    // Wrong password: the registry's error.
    let (code, body) = api_pull(
        &d,
        &image,
        Some(r#"{"username":"puller","password":"nope"}"#),
    );
    assert_ne!(code, 200, "{body}");
    assert!(body.contains("unauthorized"), "{body}");
    // The right ones (the docker CLI's X-Registry-Auth, base64url JSON).
    let auth = format!(
        r#"{{"username":"puller","password":"s3cret","serveraddress":"{}"}}"#,
        reg.addr()
    );
    let (code, body) = api_pull(&d, &image, Some(&auth));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""status":"Pull complete""#), "{body}");
    assert!(
        body.contains(&format!(
            "Status: Downloaded newer image for {image}:latest"
        )),
        "{body}"
    );
    assert_eq!(
        ok(&d, DOCKER, &["run", "--rm", &image, "echo", "private"]),
        "private\n"
    );
}

/// Rewrites the OCI layout's image so its layer is an uncompressed tar.
fn decompress_layer(layout: &Path) {
    let blobs = layout.join("blobs/sha256");
    let mut index = read_json(&layout.join("index.json"));
    let mdigest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let mut manifest = read_json(&blobs.join(mdigest.trim_start_matches("sha256:")));
    let ldigest = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(blobs.join(ldigest.trim_start_matches("sha256:")))
        .output()
        .unwrap();
    assert!(out.status.success(), "gzip -dc: {}", text(&out.stderr));
    let (d, len) = put_blob(layout, &out.stdout);
    manifest["layers"][0] = json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": d, "size": len,
    });
    let (md, mlen) = put_blob(layout, &serde_json::to_vec(&manifest).unwrap());
    index["manifests"][0]["digest"] = json!(md);
    index["manifests"][0]["size"] = json!(mlen);
    index["manifests"][0]["annotations"] = json!({"org.opencontainers.image.ref.name": "plain"});
    fs_err::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn pull_zstd_and_uncompressed_layers() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, layout) = busybox(dir.path());
    decompress_layer(&layout);
    let d = Daemon::start();
    let zstd = format!("docker-archive:{}", archive.display());
    let plain = format!("oci:{}:plain", layout.display());
    // One registry each: skopeo reuses a blob a registry already has.
    for (src, name, flags, media_type) in [
        (
            &zstd,
            "zst:1",
            &[
                "--format",
                "oci",
                "--dest-compress",
                "--dest-compress-format",
                "zstd",
            ][..],
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            &plain,
            "plain:1",
            &["--preserve-digests"][..],
            "application/vnd.oci.image.layer.v1.tar",
        ),
    ] {
        let reg = Registry::start();
        reg.push(src, name, flags);
        let manifest: Value = serde_json::from_slice(&reg.raw_manifest(name)).unwrap();
        assert_eq!(manifest["layers"][0]["mediaType"], media_type, "{manifest}");
        let image = format!("{}/{name}", reg.addr());
        let out = ok(&d, DOCKER, &["pull", &image]);
        assert!(out.contains("Pull complete"), "{out}");
        assert_eq!(
            ok(&d, DOCKER, &["run", "--rm", &image, "echo", name]),
            format!("{name}\n")
        );
    }
}
