//! `berth registry serve` against real clients: skopeo (push, pull, inspect,
//! list-tags, delete, OCI format, `--all` of an index), a small raw HTTP
//! client for chunked uploads and the error cases, htpasswd auth, offline
//! garbage collection, and Debian's `docker-registry` (distribution 2.8) as
//! the reference for status codes and error codes.
//!
//! Needs skopeo, docker-registry, apache2-utils (`htpasswd`) and
//! busybox-static (for scripts/make-busybox-image); `.ci/run` installs them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A server process, killed (by pid) and reaped on drop.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Server {
    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    fn berth(extra: &[&str]) -> Self {
        Self::berth_at(None, extra)
    }

    /// `berth registry serve` on `root` (default: a fresh temp directory).
    fn berth_at(root: Option<&Path>, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let root = root.map_or_else(|| dir.path().join("root"), Path::to_owned);
        let log = fs_err::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["registry", "serve", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--root")
            .arg(&root)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log.into_parts().0)
            .spawn()
            .unwrap();
        Self::ready(child, port, dir, root)
    }

    fn distribution() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("config.yml");
        fs_err::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("root").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run /usr/bin/docker-registry (apt-get install docker-registry)");
        let root = dir.path().join("root");
        Self::ready(child, port, dir, root)
    }

    fn ready(mut child: Child, port: u16, dir: tempfile::TempDir, root: PathBuf) -> Self {
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self {
                    child,
                    port,
                    dir,
                    root,
                };
            }
            if let Some(st) = child.try_wait().unwrap() {
                let log = fs_err::read_to_string(dir.path().join("log")).unwrap_or_default();
                panic!("the registry exited with {st} before listening:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the registry did not listen on port {port}");
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        fs_err::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn h(&self, k: &str) -> &str {
        self.headers
            .get(&k.to_ascii_lowercase())
            .map_or("", String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// One HTTP/1.1 request on its own connection (Connection: close).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
}

/// Pushes a blob in one request (`POST ?digest=`).
fn push_blob(port: u16, repo: &str, data: &[u8]) -> String {
    let d = sha(data);
    let r = http(
        port,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[],
        data,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    d
}

fn push_manifest(port: u16, repo: &str, reference: &str, media_type: &str, m: &Value) -> Resp {
    http(
        port,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", media_type)],
        m.to_string().as_bytes(),
    )
}

/// A tiny OCI image in `repo`: its manifest and digest.
fn push_image(port: u16, repo: &str, tag: &str, layer: &[u8]) -> (Value, String) {
    let config = json!({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[sha(layer)]}}).to_string();
    let cd = push_blob(port, repo, config.as_bytes());
    let ld = push_blob(port, repo, layer);
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType":"application/vnd.oci.image.config.v1+json","digest":cd,"size":config.len()},
        "layers": [{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":ld,"size":layer.len()}],
    });
    let r = push_manifest(
        port,
        repo,
        tag,
        "application/vnd.oci.image.manifest.v1+json",
        &m,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let d = sha(m.to_string().as_bytes());
    assert_eq!(r.h("Docker-Content-Digest"), d);
    (m, d)
}

fn busybox_archive(dir: &Path) -> PathBuf {
    let out = dir.join("busybox.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-busybox-image");
    let st = Command::new(script)
        .arg("--docker-archive")
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "scripts/make-busybox-image failed");
    out
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo_fails(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(!out.status.success(), "skopeo {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn blob_files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs_err::read_dir(root.join("content/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn ingest_files(root: &Path) -> usize {
    fs_err::read_dir(root.join("content/ingest"))
        .unwrap()
        .count()
}

fn tags_of(reference: &str) -> Value {
    let out = skopeo(&["list-tags", "--tls-verify=false", reference]);
    serde_json::from_str::<Value>(&out).unwrap()["Tags"].clone()
}

#[test]
fn skopeo_push_pull_inspect_delete() {
    let srv = Server::berth(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let archive = busybox_archive(tmp.path());
    let h = srv.host();
    let src = format!("docker-archive:{}", archive.display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{h}/bb:latest"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "oci",
        &src,
        &format!("docker://{h}/bb:oci"),
    ]);

    // inspect: the tags and the manifest types as pushed.
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{h}/bb:latest"),
    ]);
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        v["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let raw_oci = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{h}/bb:oci"),
    ]);
    let v_oci: Value = serde_json::from_str(&raw_oci).unwrap();
    assert_eq!(
        v_oci["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let info: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{h}/bb:latest"),
    ]))
    .unwrap();
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Digest"].as_str().unwrap(), sha(raw.as_bytes()));
    assert_eq!(
        tags_of(&format!("docker://{h}/bb")),
        json!(["latest", "oci"])
    );

    // The manifest's exact bytes come back, with its digest.
    let r = http(srv.port, "GET", "/v2/bb/manifests/latest", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, raw.as_bytes());
    assert_eq!(r.h("Docker-Content-Digest"), sha(raw.as_bytes()));
    assert_eq!(
        r.h("Content-Type"),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let r = http(srv.port, "HEAD", "/v2/bb/manifests/latest", &[], b"");
    assert_eq!(
        (r.status, r.h("Content-Length")),
        (200, raw.len().to_string().as_str())
    );

    // Pull it back out; every blob matches its digest.
    let out = tmp.path().join("out");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{h}/bb:latest"),
        &format!("dir:{}", out.display()),
    ]);
    let pulled = fs_err::read(out.join("manifest.json")).unwrap();
    assert_eq!(pulled, raw.as_bytes());
    for l in v["layers"].as_array().unwrap().iter().chain([&v["config"]]) {
        let d = l["digest"].as_str().unwrap();
        let data = fs_err::read(out.join(d.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(sha(&data), d);
    }

    // Registry to registry: the blobs are mounted from bb, not uploaded again.
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{h}/bb:latest"),
        &format!("docker://{h}/team/copy:v1"),
    ]);
    assert!(
        srv.log().contains("mount="),
        "no cross-repository mount:\n{}",
        srv.log()
    );
    let r = http(srv.port, "GET", "/v2/_catalog", &[], b"");
    assert_eq!(r.json(), json!({"repositories": ["bb", "team/copy"]}));

    // An index of both manifests, copied with --all into an OCI layout.
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": v["mediaType"], "digest": sha(raw.as_bytes()), "size": raw.len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": v_oci["mediaType"], "digest": sha(raw_oci.as_bytes()), "size": raw_oci.len(),
             "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    });
    let r = push_manifest(
        srv.port,
        "bb",
        "multi",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let layout = tmp.path().join("layout");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{h}/bb:multi"),
        &format!("oci:{}:multi", layout.display()),
    ]);
    let top: Value =
        serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    // skopeo rewrites the index (the Docker manifest becomes OCI in a layout); both images are there.
    let idx_digest = top["manifests"][0]["digest"].as_str().unwrap();
    let blob = |d: &str| {
        let p = layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        serde_json::from_slice::<Value>(&fs_err::read(p).unwrap()).unwrap()
    };
    let copied = blob(idx_digest);
    let archs: Vec<&str> = copied["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    for m in copied["manifests"].as_array().unwrap() {
        let child = blob(m["digest"].as_str().unwrap());
        assert_eq!(child["layers"].as_array().unwrap().len(), 1);
    }

    // skopeo delete removes the manifest (by digest) and its tags.
    skopeo(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{h}/bb:oci"),
    ]);
    let err = skopeo_fails(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{h}/bb:oci"),
    ]);
    assert!(err.contains("manifest unknown"), "{err}");
    assert_eq!(
        tags_of(&format!("docker://{h}/bb")),
        json!(["latest", "multi"])
    );
    // The index's child is gone: pushing the index again is refused.
    let r = push_manifest(
        srv.port,
        "bb",
        "multi2",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
}

#[test]
fn chunked_upload_ranges_and_errors() {
    let srv = Server::berth(&[]);
    let p = srv.port;
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let d = sha(&data);

    let r = http(p, "POST", "/v2/app/blobs/uploads/", &[], b"");
    assert_eq!(r.status, 202);
    let loc = r.h("Location").to_owned();
    assert!(loc.starts_with("/v2/app/blobs/uploads/"), "{loc}");
    assert_eq!(r.h("Docker-Upload-UUID"), loc.rsplit('/').next().unwrap());
    assert_eq!(r.h("Range"), "0-0");
    let r = http(
        p,
        "PATCH",
        &loc,
        &[("Content-Range", "0-3999")],
        &data[..4000],
    );
    assert_eq!((r.status, r.h("Range")), (202, "0-3999"));
    // A chunk that does not start where the upload ends: 416, and the upload is intact.
    let r = http(
        p,
        "PATCH",
        &loc,
        &[("Content-Range", "5000-9999")],
        &data[5000..],
    );
    assert_eq!((r.status, r.code().as_str()), (416, "RANGE_INVALID"));
    assert_eq!(r.h("Range"), "0-3999");
    let r = http(p, "GET", &loc, &[], b"");
    assert_eq!((r.status, r.h("Range")), (204, "0-3999"));
    let r = http(
        p,
        "PATCH",
        &loc,
        &[("Content-Range", "4000-7999")],
        &data[4000..8000],
    );
    assert_eq!((r.status, r.h("Range")), (202, "0-7999"));
    // The last bytes come with the final PUT.
    let r = http(p, "PUT", &format!("{loc}?digest={d}"), &[], &data[8000..]);
    assert_eq!(r.status, 201);
    assert_eq!(r.h("Location"), format!("/v2/app/blobs/{d}"));
    assert_eq!(r.h("Docker-Content-Digest"), d);
    let r = http(p, "GET", &loc, &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));

    let r = http(p, "GET", &format!("/v2/app/blobs/{d}"), &[], b"");
    assert_eq!((r.status, r.body.len()), (200, data.len()));
    assert_eq!(r.body, data);
    let r = http(p, "HEAD", &format!("/v2/app/blobs/{d}"), &[], b"");
    assert_eq!((r.status, r.h("Content-Length")), (200, "10000"));
    assert_eq!(r.h("Docker-Content-Digest"), d);
    let r = http(
        p,
        "GET",
        &format!("/v2/app/blobs/{d}"),
        &[("Range", "bytes=100-199")],
        b"",
    );
    assert_eq!(
        (r.status, r.h("Content-Range")),
        (206, "bytes 100-199/10000")
    );
    assert_eq!(r.body, &data[100..200]);
    let r = http(
        p,
        "GET",
        &format!("/v2/app/blobs/{d}"),
        &[("Range", "bytes=20000-")],
        b"",
    );
    assert_eq!((r.status, r.h("Content-Range")), (416, "bytes */10000"));
    // Blobs belong to repositories: another one does not see it until mounted.
    let r = http(p, "HEAD", &format!("/v2/other/blobs/{d}"), &[], b"");
    assert_eq!(r.status, 404);
    let r = http(
        p,
        "POST",
        &format!("/v2/other/blobs/uploads/?mount={d}&from=app"),
        &[],
        b"",
    );
    assert_eq!((r.status, r.h("Docker-Content-Digest")), (201, d.as_str()));
    let r = http(p, "HEAD", &format!("/v2/other/blobs/{d}"), &[], b"");
    assert_eq!(r.status, 200);

    // A wrong digest: DIGEST_INVALID and nothing kept.
    let before = blob_files(&srv.root());
    let r = http(p, "POST", "/v2/app/blobs/uploads/", &[], b"");
    let loc = r.h("Location").to_owned();
    let r = http(p, "PATCH", &loc, &[], b"some bytes");
    assert_eq!(r.status, 202);
    let wrong = sha(b"other bytes");
    let r = http(p, "PUT", &format!("{loc}?digest={wrong}"), &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    let r = http(
        p,
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={wrong}"),
        &[],
        b"some bytes",
    );
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(blob_files(&srv.root()), before);
    assert_eq!(ingest_files(&srv.root()), 0);

    // Cancel: the temp file goes.
    let r = http(p, "POST", "/v2/app/blobs/uploads/", &[], b"");
    let loc = r.h("Location").to_owned();
    http(p, "PATCH", &loc, &[], b"abandoned");
    assert_eq!(ingest_files(&srv.root()), 1);
    let r = http(p, "DELETE", &loc, &[], b"");
    assert_eq!(r.status, 204);
    assert_eq!(ingest_files(&srv.root()), 0);
    let r = http(p, "PATCH", &loc, &[], b"more");
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));

    // Unknown blob, bad names, bad digest.
    let r = http(
        p,
        "GET",
        &format!("/v2/app/blobs/{}", sha(b"nope")),
        &[],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    assert_eq!(r.json()["errors"][0]["detail"], json!(sha(b"nope")));
    for bad in ["UPPER", "a..b", "-x", "a//b"] {
        let r = http(p, "POST", &format!("/v2/{bad}/blobs/uploads/"), &[], b"");
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "NAME_INVALID"),
            "{bad}"
        );
    }
    let r = http(p, "GET", "/v2/app/blobs/sha256:zz", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));

    // A manifest whose layer was never pushed.
    let cfg = push_blob(p, "app", b"{}");
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType":"application/vnd.oci.image.config.v1+json","digest":cfg,"size":2},
        "layers": [{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":sha(b"missing"),"size":7}],
    });
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let r = push_manifest(p, "app", "v1", oci, &m);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    let r = push_manifest(p, "app", "v1", oci, &json!({"schemaVersion": 1}));
    assert_eq!((r.status, r.code().as_str()), (400, "MANIFEST_INVALID"));
    let r = http(p, "GET", "/v2/app/manifests/v1", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
    // A digest reference that does not match the bytes.
    let (img, _) = push_image(p, "app", "v0", b"layer zero");
    let r = push_manifest(p, "app", &sha(b"x"), oci, &img);
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
    assert!(
        srv.log().contains("\"PUT /v2/app/manifests/v1\" 400"),
        "one line per request:\n{}",
        srv.log()
    );
}

#[test]
fn tags_catalog_referrers() {
    let srv = Server::berth(&[]);
    let p = srv.port;
    let (_, subject) = push_image(p, "lib/app", "a", b"layer");
    for t in ["b", "c", "d", "e"] {
        push_image(p, "lib/app", t, b"layer");
    }
    push_image(p, "zz", "1", b"layer");
    let r = http(p, "GET", "/v2/lib/app/tags/list?n=2", &[], b"");
    assert_eq!(r.json(), json!({"name":"lib/app","tags":["a","b"]}));
    assert_eq!(
        r.h("Link"),
        "</v2/lib/app/tags/list?last=b&n=2>; rel=\"next\""
    );
    let r = http(p, "GET", "/v2/lib/app/tags/list?n=2&last=b", &[], b"");
    assert_eq!(r.json()["tags"], json!(["c", "d"]));
    let r = http(p, "GET", "/v2/lib/app/tags/list?n=2&last=d", &[], b"");
    assert_eq!((r.json()["tags"].clone(), r.h("Link")), (json!(["e"]), ""));
    let r = http(p, "GET", "/v2/lib/app/tags/list?n=x", &[], b"");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "PAGINATION_NUMBER_INVALID")
    );
    let r = http(p, "GET", "/v2/nothere/tags/list", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NAME_UNKNOWN"));
    let r = http(p, "GET", "/v2/_catalog?n=1", &[], b"");
    assert_eq!(r.json(), json!({"repositories":["lib/app"]}));
    assert_eq!(r.h("Link"), "</v2/_catalog?last=lib/app&n=1>; rel=\"next\"");

    // Two artifacts refer to the image; the filter keeps one.
    let empty = push_blob(p, "lib/app", b"{}");
    let mut artifacts = Vec::new();
    for (at, note) in [
        ("application/vnd.example.sig", "sig"),
        ("application/vnd.example.sbom", "sbom"),
    ] {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": at,
            "config": {"mediaType":"application/vnd.oci.empty.v1+json","digest":empty,"size":2},
            "layers": [{"mediaType":"application/vnd.oci.empty.v1+json","digest":empty,"size":2}],
            "subject": {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":subject,"size":1},
            "annotations": {"note": note},
        });
        let d = sha(m.to_string().as_bytes());
        let r = push_manifest(
            p,
            "lib/app",
            &d,
            "application/vnd.oci.image.manifest.v1+json",
            &m,
        );
        assert_eq!((r.status, r.h("OCI-Subject")), (201, subject.as_str()));
        artifacts.push((d, m.to_string().len()));
    }
    let r = http(
        p,
        "GET",
        &format!("/v2/lib/app/referrers/{subject}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.h("Content-Type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let mut got: Vec<(String, String)> = r.json()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["digest"].as_str().unwrap().to_owned(),
                m["artifactType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (
            artifacts[0].0.clone(),
            "application/vnd.example.sig".to_owned(),
        ),
        (
            artifacts[1].0.clone(),
            "application/vnd.example.sbom".to_owned(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    let r = http(
        p,
        "GET",
        &format!("/v2/lib/app/referrers/{subject}?artifactType=application/vnd.example.sbom"),
        &[],
        b"",
    );
    assert_eq!(r.h("OCI-Filters-Applied"), "artifactType");
    let m = &r.json()["manifests"];
    assert_eq!(m.as_array().unwrap().len(), 1);
    assert_eq!(m[0]["digest"], json!(artifacts[1].0));
    assert_eq!(m[0]["size"], json!(artifacts[1].1));
    assert_eq!(m[0]["annotations"], json!({"note": "sbom"}));
    let r = http(
        p,
        "GET",
        &format!("/v2/lib/app/referrers/{}", sha(b"none")),
        &[],
        b"",
    );
    assert_eq!(r.json()["manifests"], json!([]));

    // SIGTERM stops it cleanly (exit status 0).
    let mut srv = srv;
    let st = Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let st = srv.child.wait().unwrap();
    assert!(st.success(), "{st}");
    assert!(srv.log().contains("shutting down"), "{}", srv.log());
}

#[test]
fn htpasswd_basic_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("htpasswd");
    let st = Command::new("htpasswd")
        .args(["-Bbc"])
        .arg(&file)
        .args(["alice", "s3cret"])
        .stderr(Stdio::null())
        .status()
        .expect("run htpasswd (apt-get install apache2-utils)");
    assert!(st.success());
    let srv = Server::berth(&["--htpasswd", file.to_str().unwrap()]);
    let r = http(srv.port, "GET", "/v2/", &[], b"");
    assert_eq!((r.status, r.code().as_str()), (401, "UNAUTHORIZED"));
    assert_eq!(r.h("WWW-Authenticate"), "Basic realm=\"berth-registry\"");
    // alice:wrong
    let r = http(
        srv.port,
        "GET",
        "/v2/",
        &[("Authorization", "Basic YWxpY2U6d3Jvbmc=")],
        b"",
    );
    assert_eq!(r.status, 401);
    // alice:s3cret
    let r = http(
        srv.port,
        "GET",
        "/v2/",
        &[("Authorization", "Basic YWxpY2U6czNjcmV0")],
        b"",
    );
    assert_eq!(r.status, 200);

    let archive = busybox_archive(tmp.path());
    let dest = format!("docker://{}/bb:latest", srv.host());
    let src = format!("docker-archive:{}", archive.display());
    let err = skopeo_fails(&["copy", "--dest-tls-verify=false", &src, &dest]);
    assert!(
        err.contains("authentication required") || err.contains("unauthorized"),
        "{err}"
    );
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:s3cret",
        &src,
        &dest,
    ]);
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "alice:s3cret",
        &dest,
    ]);

    // A file that is not bcrypt: a clear refusal to start.
    let md5 = tmp.path().join("md5");
    fs_err::write(&md5, "bob:$apr1$abc$def\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(tmp.path().join("r2"))
        .arg("--htpasswd")
        .arg(&md5)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a bcrypt hash") && err.contains("htpasswd -B"),
        "{err}"
    );
}

#[test]
fn garbage_collect_restart_and_start_errors() {
    let rootdir = tempfile::tempdir().unwrap();
    let root = rootdir.path().join("root");
    let mut srv = Server::berth_at(Some(&root), &[]);
    let p = srv.port;
    let (_, keep) = push_image(p, "app", "keep", b"kept layer");
    let (gone_m, gone) = push_image(p, "app", "gone", b"dropped layer");
    let r = http(p, "DELETE", &format!("/v2/app/manifests/{gone}"), &[], b"");
    assert_eq!(r.status, 202);
    let r = http(p, "GET", "/v2/app/manifests/gone", &[], b"");
    assert_eq!(r.status, 404);
    // An upload left open: the restart below removes its temp file.
    let r = http(p, "POST", "/v2/app/blobs/uploads/", &[], b"");
    http(p, "PATCH", r.h("Location"), &[], b"half");
    // Kill it as a crash would; the temp file stays until the next start.
    let _ = srv.child.kill();
    let _ = srv.child.wait();
    drop(srv);
    assert_eq!(ingest_files(&root), 1);

    let gc = |dry: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(["registry", "garbage-collect", "--root"]).arg(&root);
        if dry {
            c.arg("--dry-run");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = blob_files(&root);
    // The deleted manifest, its config and its layer go.
    let dropped_layer = gone_m["layers"][0]["digest"].as_str().unwrap().to_owned();
    let out = gc(true);
    assert!(
        out.contains(&format!("would delete blob {dropped_layer}")),
        "{out}"
    );
    assert!(out.contains("3 blobs eligible for deletion"), "{out}");
    assert_eq!(blob_files(&root), before);
    let out = gc(false);
    assert!(out.contains("3 blobs deleted"), "{out}");
    let after = blob_files(&root);
    assert_eq!(after.len(), before.len() - 3);
    assert!(!after.contains(&dropped_layer.trim_start_matches("sha256:").to_owned()));
    assert!(after.contains(&keep.trim_start_matches("sha256:").to_owned()));

    // Restart on the same root: the kept image is whole, the half upload gone.
    let srv = Server::berth_at(Some(&root), &[]);
    let port = srv.port;
    assert_eq!(ingest_files(&root), 0);
    let r = http(port, "GET", "/v2/app/manifests/keep", &[], b"");
    assert_eq!(
        (r.status, r.h("Docker-Content-Digest")),
        (200, keep.as_str())
    );
    let r = http(
        port,
        "GET",
        &format!("/v2/app/blobs/{dropped_layer}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 404);

    // The address in use, and a root that is not a directory: clear errors, exit 1.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["registry", "serve", "--addr", &srv.host(), "--root"])
        .arg(other.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on `{}`", srv.host())) && err.contains("hint:"),
        "{err}"
    );
    let file = root
        .join("content/blobs/sha256")
        .join(keep.trim_start_matches("sha256:"));
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot use") && err.contains("as the registry's root"),
        "{err}"
    );
}

/// Status and error code of the same requests against distribution 2.8
/// (Debian's docker-registry) and berth.
#[test]
fn matches_docker_registry() {
    let ours = Server::berth(&[]);
    let theirs = Server::distribution();
    let outcomes = |p: u16| -> Vec<(String, u16, String)> {
        let mut out = Vec::new();
        let mut rec = |what: &str, r: Resp| out.push((what.to_owned(), r.status, r.code()));
        let r = http(p, "GET", "/v2/", &[], b"");
        assert_eq!(r.h("Docker-Distribution-API-Version"), "registry/2.0");
        assert_eq!(r.h("Content-Type"), "application/json; charset=utf-8");
        rec("base", r);
        let unknown = format!("/v2/x/blobs/{}", sha(b"u"));
        rec("unknown blob", http(p, "GET", &unknown, &[], b""));
        rec("head unknown blob", http(p, "HEAD", &unknown, &[], b""));
        rec(
            "tags of unknown repo",
            http(p, "GET", "/v2/x/tags/list", &[], b""),
        );
        rec(
            "unknown tag",
            http(p, "GET", "/v2/x/manifests/latest", &[], b""),
        );
        rec("empty catalog", http(p, "GET", "/v2/_catalog", &[], b""));
        rec(
            "start upload",
            http(p, "POST", "/v2/x/blobs/uploads/", &[], b""),
        );
        // (A one-request `POST ?digest=` upload is left out: the OCI spec has it,
        // distribution 2.8 answers it 202 and starts an ordinary upload.)
        let wrong = sha(b"not these bytes");
        let rel = |loc: &str| {
            let path = loc
                .trim_start_matches(&format!("http://127.0.0.1:{p}"))
                .to_owned();
            let sep = if path.contains('?') { '&' } else { '?' };
            (path, sep)
        };
        let r = http(p, "POST", "/v2/x/blobs/uploads/", &[], b"");
        let (path, _) = rel(r.h("Location"));
        let r = http(p, "PATCH", &path, &[], b"bytes");
        let (path, sep) = rel(r.h("Location"));
        rec("patch", r);
        rec(
            "put wrong digest",
            http(p, "PUT", &format!("{path}{sep}digest={wrong}"), &[], b""),
        );
        let cfg = sha(b"{}");
        let r = http(p, "POST", "/v2/x/blobs/uploads/", &[], b"");
        let (path, sep) = rel(r.h("Location"));
        rec(
            "put whole blob",
            http(p, "PUT", &format!("{path}{sep}digest={cfg}"), &[], b"{}"),
        );
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType":"application/vnd.docker.container.image.v1+json","digest":cfg,"size":2},
            "layers": [{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":sha(b"missing"),"size":7}],
        });
        rec(
            "manifest with missing layer",
            push_manifest(
                p,
                "x",
                "v1",
                "application/vnd.docker.distribution.manifest.v2+json",
                &m,
            ),
        );
        rec(
            "blob of x",
            http(p, "HEAD", &format!("/v2/x/blobs/{cfg}"), &[], b""),
        );
        rec("tags of x", http(p, "GET", "/v2/x/tags/list", &[], b""));
        out
    };
    let a = outcomes(ours.port);
    let b = outcomes(theirs.port);
    assert_eq!(a, b, "berth (left) vs docker-registry (right)");
}

#[test]
fn tls_with_skopeo() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(st.success());
    let srv = Server::berth(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    // skopeo trusts the certificate through --dest-cert-dir (ca.crt), verification on.
    let certs = tmp.path().join("certs");
    fs_err::create_dir(&certs).unwrap();
    fs_err::copy(&cert, certs.join("ca.crt")).unwrap();
    let certs_arg = certs.to_str().unwrap();
    let archive = busybox_archive(tmp.path());
    let dest = format!("docker://{}/bb:tls", srv.host());
    skopeo(&[
        "copy",
        "--dest-cert-dir",
        certs_arg,
        &format!("docker-archive:{}", archive.display()),
        &dest,
    ]);
    let info: Value =
        serde_json::from_str(&skopeo(&["inspect", "--cert-dir", certs_arg, &dest])).unwrap();
    assert_eq!(info["Os"], "linux");
    // Without the CA, verification fails: it really is TLS with that certificate.
    let err = skopeo_fails(&["inspect", &dest]);
    assert!(err.contains("certificate"), "{err}");
    // Plain HTTP to the TLS port is not served.
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(
        !raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );

    // A key that does not exist: a clear refusal to start.
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(tmp.path().join("r2"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(tmp.path().join("missing.pem"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read a PEM private key from"), "{err}");
}
