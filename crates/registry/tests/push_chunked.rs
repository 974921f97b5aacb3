//! The registry client's push against Debian's `docker-registry`: a blob
//! bigger than the chunk size goes in several `PATCH` chunks (following
//! each `Location`), a small one in one `PUT`; a second push finds every
//! blob there; the image pulls back into another store with the same
//! digests. No root needed: only a loopback port.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_image::content::ContentStore;
use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_image::spec::{self, Descriptor};
use berth_registry::client::{Client, PullOptions, PushImage, PushOptions, PushProgress};

struct Registry {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.yml");
    fs_err::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start /usr/bin/docker-registry (apt-get install docker-registry)");
    let r = Registry {
        child,
        _dir: dir,
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "registry did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    r
}

/// Bytes that do not compress (a layer's content does not matter here).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn chunked_and_monolithic_uploads_round_trip() {
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path().join("a")).unwrap();
    let big = noise(2_500_000);
    let small = noise(1000);
    let big_d = store.write_blob(&big, None).unwrap();
    let small_d = store.write_blob(&small, None).unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_d = store.write_blob(config, None).unwrap();
    let layer = |d: &Digest, n: usize| {
        Descriptor::new(spec::MEDIA_TYPE_OCI_LAYER_GZIP, d.clone(), n as u64)
    };
    let layers = vec![layer(&big_d, big.len()), layer(&small_d, small.len())];
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": spec::MEDIA_TYPE_OCI_MANIFEST,
        "config": {"mediaType": spec::MEDIA_TYPE_OCI_CONFIG, "digest": config_d.to_string(), "size": config.len()},
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let image = PushImage {
        manifest: Descriptor::new(
            spec::MEDIA_TYPE_OCI_MANIFEST,
            Digest::sha256_of(&bytes),
            bytes.len() as u64,
        ),
        manifest_bytes: bytes,
        config: Descriptor::new(
            spec::MEDIA_TYPE_OCI_CONFIG,
            config_d.clone(),
            config.len() as u64,
        ),
        layers,
    };
    let reference =
        Reference::parse_normalized(&format!("127.0.0.1:{}/chunky:1", reg.port)).unwrap();
    let client = Client::default();
    let opts = PushOptions {
        chunk_size: Some(1 << 20),
        ..PushOptions::default()
    };
    let events = Mutex::new(Vec::new());
    let pushed = client
        .push(&store, &reference, &image, &opts, &|p| {
            events.lock().unwrap().push(p)
        })
        .unwrap();
    assert_eq!(pushed.digest, image.manifest.digest);
    let events = events.into_inner().unwrap();
    let big_id = big_d.hex()[..12].to_owned();
    let sent: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            PushProgress::Pushing { id, current, .. } if *id == big_id => Some(*current),
            _ => None,
        })
        .collect();
    assert_eq!(sent.last(), Some(&(big.len() as u64)), "{events:?}");
    assert!(events.contains(&PushProgress::Pushed { id: big_id.clone() }));

    // Again: everything is there.
    let again = Mutex::new(Vec::new());
    let pushed2 = client
        .push(&store, &reference, &image, &opts, &|p| {
            again.lock().unwrap().push(p)
        })
        .unwrap();
    assert_eq!(pushed2.digest, pushed.digest);
    let again = again.into_inner().unwrap();
    assert!(
        again.contains(&PushProgress::Exists { id: big_id }),
        "{again:?}"
    );
    assert!(
        !again
            .iter()
            .any(|e| matches!(e, PushProgress::Pushed { .. }))
    );

    // Back into another store: the same bytes.
    let other = ContentStore::open(dir.path().join("b")).unwrap();
    let pulled = client
        .pull(&other, &reference, &PullOptions::default(), &|_| {})
        .unwrap();
    assert_eq!(pulled.resolved.digest, pushed.digest);
    assert_eq!(other.read_blob(&big_d).unwrap(), big);
    assert_eq!(other.read_blob(&small_d).unwrap(), small);
}
