//! The registry client: pulls images into `berth-image`'s content store.
//!
//! [`Client::pull`] resolves a reference on its registry (ping, auth,
//! manifest by tag or digest, platform choice from a manifest list / OCI
//! index), then streams the config and the layers (a few at a time) into
//! the content store, which verifies each blob's digest and size as it
//! commits it. Blobs already present are not fetched again. The caller
//! (the engine) then registers the image with
//! `ImageStore::register_manifest`, which unpacks the layers.
//!
//! Transport: a small blocking HTTP/1.1 client ([`http`]), plain HTTP
//! only. Loopback registries and those named with `--insecure-registry`
//! use it, as dockerd does; any other registry is refused with a message
//! saying so until TLS is added (in `http::request`, the one place that
//! opens connections).

mod auth;
mod error;
mod http;
mod login;
mod platform;
mod push;

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use berth_image::content::{ContentError, ContentStore};
use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_image::spec::{self, AnyManifest, Descriptor};

pub use auth::{Challenge, Credentials, base64_decode, base64_encode, parse_challenges};
pub use error::Error;
use error::What;
pub use http::TransportError;
pub use platform::{PlatformSpec, choose};
pub use push::{PushImage, PushOptions, PushProgress, Pushed};

/// Largest manifest accepted (the distribution spec suggests 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;
/// Largest token answer or error body read.
const MAX_SMALL: u64 = 1 << 20;
/// Layers downloaded at once (dockerd's default is 3).
const PARALLEL: usize = 3;
/// A `Downloading` event at most every this many bytes.
const PROGRESS_STEP: u64 = 512 * 1024;

/// The manifest types asked for, newest first.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// The host's architecture as Go spells it.
pub(crate) fn host_arch() -> &'static str {
    spec::host_architecture()
}

/// What a pull reports as it goes (the engine turns these into dockerd's
/// progress messages). Layer ids are the first 12 hex digits of the
/// layer digest, as dockerd shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The manifest was found: `<tag>: Pulling from <repository path>`.
    PullingFrom {
        /// The repository path (`library/busybox`).
        repository: String,
        /// The tag or digest asked for.
        tag: String,
    },
    /// The layer is in the content store already.
    LayerExists {
        /// Short layer id.
        id: String,
    },
    /// The layer will be downloaded.
    LayerQueued {
        /// Short layer id.
        id: String,
    },
    /// Bytes of a layer received so far.
    LayerDownloading {
        /// Short layer id.
        id: String,
        /// Received.
        current: u64,
        /// Expected size.
        total: u64,
    },
    /// The layer is stored and verified.
    LayerDownloaded {
        /// Short layer id.
        id: String,
    },
}

/// The layer id dockerd shows: 12 hex digits.
pub fn short_id(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

/// Options of one pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The platform to pick from a multi-platform image (default: this host's).
    pub platform: Option<PlatformSpec>,
    /// Credentials for the registry.
    pub credentials: Option<Credentials>,
}

/// What a pull fetched. All the blobs named here are in the content store.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// What the tag (or digest) resolves to on the registry: the manifest
    /// list / index, or the manifest itself. Its digest is the
    /// repository digest (`RepoDigests`).
    pub resolved: Descriptor,
    /// The image manifest picked for the platform.
    pub manifest: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
    /// Whether any blob (config or layer) had to be downloaded.
    pub downloaded: bool,
}

/// A registry client. Cheap to clone; holds configuration only.
#[derive(Debug, Clone, Default)]
pub struct Client {
    insecure: Vec<String>,
}

impl Client {
    /// A client that speaks plain HTTP to loopback registries and to the
    /// ones in `insecure_registries` (`host` or `host:port`, dockerd's
    /// `--insecure-registry`).
    pub fn new(insecure_registries: Vec<String>) -> Self {
        Self {
            insecure: insecure_registries,
        }
    }

    /// The base URL for a registry domain, or why berth cannot reach it
    /// (worded for a pull).
    pub fn endpoint(&self, domain: &str) -> Result<String, Error> {
        self.endpoint_for(domain, Purpose::Pull)
    }

    /// [`Client::endpoint`], the refusal worded for what was asked.
    pub(crate) fn endpoint_for(&self, domain: &str, purpose: Purpose) -> Result<String, Error> {
        let host = if let Some(rest) = domain.strip_prefix('[') {
            rest.split_once(']').map_or(rest, |(h, _)| h)
        } else {
            domain.rsplit_once(':').map_or(domain, |(h, _)| h)
        };
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let listed = self
            .insecure
            .iter()
            .any(|e| e == domain || e == host || e.trim_start_matches("http://") == domain);
        if loopback || listed {
            return Ok(format!("http://{domain}"));
        }
        let shown = if domain == "docker.io" {
            "Docker Hub (docker.io)".to_owned()
        } else {
            domain.to_owned()
        };
        let message = match purpose {
            Purpose::Pull => format!(
                "cannot pull from {shown}: berth can only pull from plain-HTTP registries yet, \
                 which are those on a loopback address (127.0.0.1, ::1, localhost) and those \
                 named with berthd's --insecure-registry flag; {shown} needs HTTPS. \
                 Get the image onto this host with `docker save` where it can be pulled and \
                 `docker load -i FILE` (or `berth load -i FILE`) here"
            ),
            Purpose::Push | Purpose::Login => format!(
                "cannot {} {shown}: berth speaks only plain HTTP to registries yet, \
                 which it uses for those on a loopback address (127.0.0.1, ::1, localhost) and \
                 those named with berthd's --insecure-registry flag; {shown} needs HTTPS. \
                 Use a registry on this host (`berth registry serve`) or one named with \
                 --insecure-registry",
                if purpose == Purpose::Push {
                    "push to"
                } else {
                    "log in to"
                }
            ),
        };
        Err(Error::InvalidArgument { message })
    }

    /// Pulls `reference` (a tag or a digest) into `store`; see the module
    /// doc. `progress` is called from several threads.
    pub fn pull(
        &self,
        store: &ContentStore,
        reference: &Reference,
        opts: &PullOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Pulled, Error> {
        let domain = reference.domain();
        let base = self.endpoint(domain)?;
        // The registry's name for docker.io images.
        let base = if domain == "docker.io" {
            "https://registry-1.docker.io".to_owned()
        } else {
            base
        };
        let session = Session {
            base,
            repo: reference.path().to_owned(),
            name: familiar_name(reference),
            reference: reference.familiar_string(),
            credentials: opts.credentials.clone(),
            authorization: Mutex::new(None),
            scope: format!("repository:{}:pull", reference.path()),
            pushing: false,
        };
        session.ping()?;
        let tag_or_digest = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => "latest".to_owned(),
        };
        let (resolved, bytes) = session.manifest(&tag_or_digest, reference.digest())?;
        progress(Progress::PullingFrom {
            repository: session.repo.clone(),
            tag: tag_or_digest.clone(),
        });
        let parsed = parse_manifest(&bytes, &resolved)?;
        write_small(store, &bytes, &resolved.digest)?;
        let (manifest_desc, manifest) = match parsed {
            AnyManifest::Image(m) => (resolved.clone(), *m),
            AnyManifest::Index(idx) => {
                let want = opts.platform.clone().unwrap_or_else(PlatformSpec::host);
                let entry = choose(&idx.manifests, &want)
                    .map_err(|message| Error::InvalidArgument { message })?
                    .clone();
                let (desc, bytes) =
                    session.manifest(&entry.digest.to_string(), Some(&entry.digest))?;
                let desc = Descriptor {
                    platform: entry.platform.clone(),
                    ..desc
                };
                match parse_manifest(&bytes, &desc)? {
                    AnyManifest::Image(m) => {
                        write_small(store, &bytes, &desc.digest)?;
                        (desc, *m)
                    }
                    AnyManifest::Index(_) => {
                        return Err(Error::BadContent {
                            message: format!(
                                "the manifest list entry {} for {want} is itself a manifest list",
                                entry.digest
                            ),
                        });
                    }
                }
            }
        };
        let mut downloaded = false;
        let config = &manifest.config;
        if !store.contains(&config.digest) {
            session.blob(store, config, &|_| {}, &AtomicBool::new(false))?;
            downloaded = true;
        }
        let layers = manifest.layers.clone();
        let mut todo = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            if store.contains(&l.digest)
                || todo.iter().any(|&j: &usize| layers[j].digest == l.digest)
            {
                if !todo.iter().any(|&j: &usize| layers[j].digest == l.digest) {
                    progress(Progress::LayerExists {
                        id: short_id(&l.digest),
                    });
                }
            } else {
                progress(Progress::LayerQueued {
                    id: short_id(&l.digest),
                });
                todo.push(i);
            }
        }
        if !todo.is_empty() {
            downloaded = true;
            session.layers(store, &layers, &todo, progress)?;
        }
        Ok(Pulled {
            resolved,
            manifest: manifest_desc,
            layers,
            downloaded,
        })
    }
}

/// What a registry is reached for (the refusal of an HTTPS-only
/// registry says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Pull,
    Push,
    Login,
}

/// `name` as docker shows it (`busybox`, `127.0.0.1:5000/bb`).
fn familiar_name(r: &Reference) -> String {
    r.familiar_name()
}

fn parse_manifest(bytes: &[u8], desc: &Descriptor) -> Result<AnyManifest, Error> {
    let mt = Some(desc.media_type.as_str()).filter(|m| {
        matches!(
            *m,
            spec::MEDIA_TYPE_OCI_INDEX
                | spec::MEDIA_TYPE_OCI_MANIFEST
                | spec::MEDIA_TYPE_DOCKER_MANIFEST
                | spec::MEDIA_TYPE_DOCKER_MANIFEST_LIST
        )
    });
    AnyManifest::parse(bytes, mt).map_err(|e| Error::BadContent {
        message: format!("manifest {}: {e}", desc.digest),
    })
}

/// Stores a small document already verified against `digest`.
fn write_small(store: &ContentStore, bytes: &[u8], digest: &Digest) -> Result<(), Error> {
    if store.contains(digest) {
        return Ok(());
    }
    match store.write_blob(bytes, Some(digest)) {
        Ok(_) | Err(ContentError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// One repository on one registry, with the authorization it earned.
struct Session {
    base: String,
    repo: String,
    name: String,
    reference: String,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<String>>,
    /// The token scopes asked for (`repository:<repo>:pull`; a push adds
    /// `push` and the mount sources).
    scope: String,
    /// A push (dockerd words missing credentials differently).
    pushing: bool,
}

impl Session {
    fn auth_header(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `GET` with the current authorization; on a 401, authenticates as
    /// the challenge asks and tries once more.
    fn get(&self, path: &str, accept: Option<&str>) -> Result<http::Response, Error> {
        let url = format!("{}{path}", self.base);
        let mut retried = false;
        loop {
            let mut headers: Vec<(&str, String)> = Vec::new();
            if let Some(a) = accept {
                headers.push(("Accept", a.to_owned()));
            }
            if let Some(a) = self.auth_header() {
                headers.push(("Authorization", a));
            }
            let resp = http::request("GET", &url, &headers)?;
            if resp.status == 401 && !retried {
                let challenges = resp
                    .header("www-authenticate")
                    .map(parse_challenges)
                    .unwrap_or_default();
                if !challenges.is_empty() {
                    self.authenticate(&challenges)?;
                    retried = true;
                    continue;
                }
            }
            return Ok(resp);
        }
    }

    /// `GET /v2/`: is this a registry, and which authentication does it want.
    fn ping(&self) -> Result<(), Error> {
        let resp = self.get("/v2/", None)?;
        match resp.status {
            200..=299 => Ok(()),
            // Some registries answer 404 on /v2/ but serve images.
            404 => Ok(()),
            status => {
                let body = resp.read_limited(MAX_SMALL).unwrap_or_default();
                Err(error::registry_error(
                    status,
                    &body,
                    What::Token,
                    &self.reference,
                    &self.name,
                ))
            }
        }
    }

    fn authenticate(&self, challenges: &[Challenge]) -> Result<(), Error> {
        if let Some(token) = self
            .credentials
            .as_ref()
            .and_then(|c| c.registry_token.clone())
        {
            self.set_auth(format!("Bearer {token}"));
            return Ok(());
        }
        for c in challenges {
            match c.scheme.as_str() {
                "bearer" => {
                    let Some(url) = auth::token_url(c, &self.scope) else {
                        continue;
                    };
                    let mut headers = Vec::new();
                    if let Some(cr) = &self.credentials
                        && !cr.username.is_empty()
                    {
                        headers.push(("Authorization", auth::basic_header(cr)));
                    }
                    let resp = http::request("GET", &url, &headers)?;
                    let status = resp.status;
                    let body = resp
                        .read_limited(MAX_SMALL)
                        .map_err(|e| self.transport_error(&url, &e))?;
                    if !(200..300).contains(&status) {
                        if self.pushing {
                            // A push or a login: the token server's refusal as it words it.
                            return Err(error::push_error(status, &body));
                        }
                        return Err(error::registry_error(
                            status,
                            &body,
                            What::Token,
                            &self.reference,
                            &self.name,
                        ));
                    }
                    let t: auth::TokenResponse =
                        serde_json::from_slice(&body).map_err(|e| Error::Registry {
                            message: format!("invalid token answer from {url}: {e}"),
                        })?;
                    let token = t
                        .token
                        .or(t.access_token)
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| Error::Registry {
                            message: format!("the token server {url} returned no token"),
                        })?;
                    self.set_auth(format!("Bearer {token}"));
                    return Ok(());
                }
                "basic" => {
                    if let Some(cr) = &self.credentials {
                        self.set_auth(auth::basic_header(cr));
                        return Ok(());
                    }
                    if self.pushing {
                        return Err(Error::Unauthorized {
                            message: "no basic auth credentials".to_owned(),
                        });
                    }
                    return Err(Error::NotFound {
                        message: format!(
                            "pull access denied for {}, repository does not exist or may require 'docker login'",
                            self.name
                        ),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn set_auth(&self, value: String) {
        *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
    }

    fn transport_error(&self, url: &str, e: &std::io::Error) -> Error {
        Error::Transport(TransportError {
            method: "Get".into(),
            url: url.to_owned(),
            detail: http::describe_io(e),
        })
    }

    /// A manifest by tag or digest: its descriptor (media type from the
    /// registry, digest computed and checked) and bytes.
    fn manifest(
        &self,
        tag_or_digest: &str,
        expected: Option<&Digest>,
    ) -> Result<(Descriptor, Vec<u8>), Error> {
        let path = format!("/v2/{}/manifests/{tag_or_digest}", self.repo);
        let resp = self.get(&path, Some(ACCEPT))?;
        let status = resp.status;
        let media_type = resp
            .header("content-type")
            .map(|c| c.split(';').next().unwrap_or("").trim().to_owned())
            .unwrap_or_default();
        let header_digest = resp.header("docker-content-digest").map(str::to_owned);
        let url = format!("{}{path}", self.base);
        let limit = if (200..300).contains(&status) {
            MAX_MANIFEST
        } else {
            MAX_SMALL
        };
        let bytes = resp
            .read_limited(limit)
            .map_err(|e| self.transport_error(&url, &e))?;
        if !(200..300).contains(&status) {
            return Err(error::registry_error(
                status,
                &bytes,
                What::Manifest,
                &self.reference,
                &self.name,
            ));
        }
        let digest = Digest::sha256_of(&bytes);
        if let Some(exp) = expected
            && exp != &digest
        {
            return Err(Error::BadContent {
                message: format!(
                    "manifest verification failed for digest {exp}: the registry sent content with digest {digest}"
                ),
            });
        }
        if expected.is_none()
            && let Some(h) = header_digest
            && h.starts_with("sha256:")
            && h != digest.to_string()
        {
            return Err(Error::BadContent {
                message: format!(
                    "manifest verification failed for {}: the registry says its digest is {h}, its content's digest is {digest}",
                    self.reference
                ),
            });
        }
        let mut desc = Descriptor::new(&media_type, digest, bytes.len() as u64);
        if media_type.is_empty() || media_type == "application/json" {
            // Let the document's own mediaType decide.
            desc.media_type = match AnyManifest::parse(&bytes, None) {
                Ok(AnyManifest::Index(i)) => i
                    .media_type
                    .clone()
                    .unwrap_or_else(|| spec::MEDIA_TYPE_OCI_INDEX.to_owned()),
                Ok(AnyManifest::Image(m)) => m
                    .media_type
                    .clone()
                    .unwrap_or_else(|| spec::MEDIA_TYPE_OCI_MANIFEST.to_owned()),
                Err(e) => {
                    return Err(Error::BadContent {
                        message: format!("manifest for {}: {e}", self.reference),
                    });
                }
            };
        }
        Ok((desc, bytes))
    }

    /// Streams one blob into the store, verifying digest and size. A
    /// failure removes the partial ingest (dropping it does).
    fn blob(
        &self,
        store: &ContentStore,
        desc: &Descriptor,
        on_bytes: &dyn Fn(u64),
        cancel: &AtomicBool,
    ) -> Result<(), Error> {
        let mut url = format!("{}/v2/{}/blobs/{}", self.base, self.repo, desc.digest);
        let mut resp = self.get(&format!("/v2/{}/blobs/{}", self.repo, desc.digest), None)?;
        let mut hops = 0;
        while matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
            hops += 1;
            let Some(loc) = resp.header("location").map(str::to_owned) else {
                break;
            };
            if hops > 5 {
                return Err(Error::Registry {
                    message: format!("too many redirects fetching {url}"),
                });
            }
            url = if loc.contains("://") {
                loc
            } else if loc.starts_with('/') {
                let u = http::Url::parse(&url)
                    .map_or_else(String::new, |u| format!("{}://{}", u.scheme, u.authority));
                format!("{u}{loc}")
            } else {
                return Err(Error::Registry {
                    message: format!("unsupported redirect to {loc:?} fetching {url}"),
                });
            };
            // Redirect targets (storage back ends) get no credentials.
            resp = http::request("GET", &url, &[])?;
        }
        if !(200..300).contains(&resp.status) {
            let status = resp.status;
            let body = resp.read_limited(MAX_SMALL).unwrap_or_default();
            return Err(error::registry_error(
                status,
                &body,
                What::Blob,
                &self.reference,
                &self.name,
            ));
        }
        let mut ingest = store.writer()?;
        let mut buf = vec![0u8; 128 * 1024];
        let mut got: u64 = 0;
        let mut last: u64 = 0;
        let limit = desc.size;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Registry {
                    message: "pull cancelled".into(),
                });
            }
            let n = resp
                .body
                .read(&mut buf)
                .map_err(|e| self.transport_error(&url, &e))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > limit {
                return Err(Error::BadContent {
                    message: format!(
                        "blob {} is larger than the {limit} bytes its manifest says",
                        desc.digest
                    ),
                });
            }
            ingest.write_all(&buf[..n]).map_err(|e| Error::Registry {
                message: format!("writing blob {}: {e}", desc.digest),
            })?;
            if got - last >= PROGRESS_STEP {
                last = got;
                on_bytes(got);
            }
        }
        on_bytes(got);
        match ingest.commit(Some(&desc.digest), Some(desc.size)) {
            Ok(_) | Err(ContentError::AlreadyExists { .. }) => Ok(()),
            Err(e @ ContentError::DigestMismatch { .. }) => Err(Error::BadContent {
                message: format!(
                    "filesystem layer verification failed for digest {}: {e}",
                    desc.digest
                ),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Downloads `layers[i]` for each `i` in `todo`, [`PARALLEL`] at a time.
    fn layers(
        &self,
        store: &ContentStore,
        layers: &[Descriptor],
        todo: &[usize],
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(), Error> {
        let next = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(todo.len()) {
                s.spawn(|| {
                    loop {
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = todo.get(k) else { return };
                        let desc = &layers[i];
                        let id = short_id(&desc.digest);
                        let total = desc.size;
                        let r = self.blob(
                            store,
                            desc,
                            &|current| {
                                progress(Progress::LayerDownloading {
                                    id: id.clone(),
                                    current,
                                    total,
                                });
                            },
                            &cancel,
                        );
                        match r {
                            Ok(()) => progress(Progress::LayerDownloaded { id }),
                            Err(e) => {
                                cancel.store(true, Ordering::Relaxed);
                                let mut slot =
                                    first_error.lock().unwrap_or_else(|p| p.into_inner());
                                // Keep the real cause, not a sibling's "cancelled".
                                let replace = match &*slot {
                                    None => true,
                                    Some(Error::Registry { message }) => {
                                        message == "pull cancelled"
                                    }
                                    Some(_) => false,
                                };
                                if replace {
                                    *slot = Some(e);
                                }
                                return;
                            }
                        }
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let c = Client::new(vec!["myreg:5000".into(), "plain.example".into()]);
        assert_eq!(
            c.endpoint("127.0.0.1:5000").ok(),
            Some("http://127.0.0.1:5000".into())
        );
        assert_eq!(
            c.endpoint("localhost:5000").ok(),
            Some("http://localhost:5000".into())
        );
        assert_eq!(
            c.endpoint("[::1]:5000").ok(),
            Some("http://[::1]:5000".into())
        );
        assert_eq!(
            c.endpoint("127.1.2.3").ok(),
            Some("http://127.1.2.3".into())
        );
        assert_eq!(
            c.endpoint("myreg:5000").ok(),
            Some("http://myreg:5000".into())
        );
        assert_eq!(
            c.endpoint("plain.example:81").ok(),
            Some("http://plain.example:81".into())
        );
        let e = c
            .endpoint("docker.io")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("cannot pull from Docker Hub (docker.io): berth can only pull from plain-HTTP registries yet"), "{e}");
        assert!(c.endpoint("ghcr.io").is_err());
        let e = c
            .endpoint_for("ghcr.io", Purpose::Push)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("cannot push to ghcr.io: berth speaks only plain HTTP"),
            "{e}"
        );
        let e = c
            .endpoint_for("docker.io", Purpose::Login)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("cannot log in to Docker Hub (docker.io): "),
            "{e}"
        );
    }
}
