//! Pushing an image: each layer is checked (`HEAD`), mounted from another
//! repository of the same registry that has it (`POST ...?mount=&from=`),
//! or uploaded (`POST`, then one `PUT ?digest=` for small blobs or
//! `PATCH` chunks then `PUT ?digest=` for big ones, following `Location`);
//! then the config blob; then the manifest is `PUT` by tag.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;

use berth_image::content::ContentStore;
use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_image::spec::Descriptor;

use super::error::{self, Error};
use super::http::{self, SendBody};
use super::{Client, Credentials, MAX_SMALL, PROGRESS_STEP, Session, short_id};

/// Blobs up to this size go in one `PUT`; bigger ones in `PATCH` chunks.
const MONOLITHIC_MAX: u64 = 1 << 20;
/// The size of one `PATCH` chunk.
const CHUNK: u64 = 16 << 20;
/// dockerd's `--max-concurrent-uploads` default: layers past this many
/// are reported `Waiting`.
const CONCURRENT_UPLOADS: usize = 5;

/// What a push reports as it goes (the engine turns these into dockerd's
/// progress messages). Ids are short layer ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushProgress {
    /// The layer is being looked at.
    Preparing {
        /// Short layer id.
        id: String,
    },
    /// The layer waits for an upload slot.
    Waiting {
        /// Short layer id.
        id: String,
    },
    /// Bytes of the layer sent so far.
    Pushing {
        /// Short layer id.
        id: String,
        /// Sent.
        current: u64,
        /// Its size.
        total: u64,
    },
    /// The layer was uploaded.
    Pushed {
        /// Short layer id.
        id: String,
    },
    /// The registry had the layer already.
    Exists {
        /// Short layer id.
        id: String,
    },
    /// The registry copied the layer from another of its repositories.
    Mounted {
        /// Short layer id.
        id: String,
        /// That repository (`library/busybox`).
        from: String,
    },
}

/// The image to push: its manifest (bytes as stored, so the digest is the
/// same every time), config and layers; all the blobs are in the store.
#[derive(Debug, Clone)]
pub struct PushImage {
    /// The manifest's descriptor (its media type is sent).
    pub manifest: Descriptor,
    /// The manifest's bytes.
    pub manifest_bytes: Vec<u8>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

/// Options of one push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Credentials for the registry.
    pub credentials: Option<Credentials>,
    /// For a blob digest, other repositories of the same registry known
    /// to have it (paths such as `library/busybox`): the push asks the
    /// registry to mount it from there instead of uploading it.
    pub mount_sources: BTreeMap<Digest, Vec<String>>,
    /// Blobs bigger than this go in `PATCH` chunks of this size (default:
    /// bigger than 1 MiB, in 16 MiB chunks).
    pub chunk_size: Option<u64>,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The manifest's digest on the registry.
    pub digest: Digest,
    /// The manifest's size.
    pub size: u64,
}

impl Client {
    /// Pushes `image` to `reference` (a name with a tag); see the module
    /// doc. Layers are reported top first, as dockerd does.
    pub fn push(
        &self,
        store: &ContentStore,
        reference: &Reference,
        image: &PushImage,
        opts: &PushOptions,
        progress: &dyn Fn(PushProgress),
    ) -> Result<Pushed, Error> {
        let domain = reference.domain();
        let base = self.endpoint_for(domain, super::Purpose::Push)?;
        let base = if domain == "docker.io" {
            "https://registry-1.docker.io".to_owned()
        } else {
            base
        };
        let repo = reference.path().to_owned();
        let tag = reference.tag().unwrap_or("latest").to_owned();
        let mut scope = format!("repository:{repo}:push,pull");
        let mut sources: Vec<&String> = opts
            .mount_sources
            .values()
            .flatten()
            .filter(|s| **s != repo)
            .collect();
        sources.sort();
        sources.dedup();
        for s in &sources {
            scope.push_str(&format!(" repository:{s}:pull"));
        }
        let session = Session {
            base,
            repo: repo.clone(),
            name: reference.familiar_name(),
            reference: reference.familiar_string(),
            credentials: opts.credentials.clone(),
            authorization: Mutex::new(None),
            scope,
            pushing: true,
        };
        session.ping()?;

        let mut layers: Vec<&Descriptor> = Vec::new();
        for l in image.layers.iter().rev() {
            if !layers.iter().any(|k| k.digest == l.digest) {
                layers.push(l);
            }
        }
        for l in &layers {
            progress(PushProgress::Preparing {
                id: short_id(&l.digest),
            });
        }
        for l in layers.iter().skip(CONCURRENT_UPLOADS) {
            progress(PushProgress::Waiting {
                id: short_id(&l.digest),
            });
        }
        for l in &layers {
            let id = short_id(&l.digest);
            let from = opts
                .mount_sources
                .get(&l.digest)
                .into_iter()
                .flatten()
                .find(|s| **s != repo);
            match session.push_blob(
                store,
                l,
                from.map(String::as_str),
                opts.chunk_size,
                &|current| {
                    progress(PushProgress::Pushing {
                        id: id.clone(),
                        current,
                        total: l.size,
                    });
                },
            )? {
                BlobPush::Existed => progress(PushProgress::Exists { id }),
                BlobPush::Mounted(from) => progress(PushProgress::Mounted { id, from }),
                BlobPush::Uploaded => progress(PushProgress::Pushed { id }),
            }
        }
        session.push_blob(store, &image.config, None, opts.chunk_size, &|_| {})?;
        session.put_manifest(&tag, image)?;
        Ok(Pushed {
            digest: image.manifest.digest.clone(),
            size: image.manifest_bytes.len() as u64,
        })
    }
}

/// How a blob got to the registry.
enum BlobPush {
    Existed,
    Mounted(String),
    Uploaded,
}

/// Counts bytes read, reporting every [`PROGRESS_STEP`].
struct Counting<'a, R> {
    inner: R,
    done: u64,
    last: u64,
    on_bytes: &'a dyn Fn(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.last >= PROGRESS_STEP || (n == 0 && self.done != self.last) {
            self.last = self.done;
            (self.on_bytes)(self.done);
        }
        Ok(n)
    }
}

impl Session {
    /// `method url` with the current authorization and a small body; on a
    /// 401, authenticates as the challenge asks and tries once more.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<http::Response, Error> {
        let mut retried = false;
        loop {
            let mut all: Vec<(&str, String)> = headers.to_vec();
            if let Some(a) = self.auth_header() {
                all.push(("Authorization", a));
            }
            let mut bytes = body.unwrap_or_default();
            let b = body.map(|b| SendBody {
                reader: &mut bytes,
                len: b.len() as u64,
            });
            let resp = http::request_with_body(method, url, &all, b)?;
            if resp.status == 401 && !retried {
                let challenges = resp
                    .header("www-authenticate")
                    .map(super::parse_challenges)
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

    /// An error answer as an error.
    fn fail(resp: http::Response) -> Error {
        let status = resp.status;
        let body = resp.read_limited(MAX_SMALL).unwrap_or_default();
        error::push_error(status, &body)
    }

    /// An upload URL from a `Location` header (absolute, or relative to
    /// the registry).
    fn location(&self, resp: &http::Response) -> Result<String, Error> {
        let loc = resp.header("location").unwrap_or("");
        if loc.is_empty() {
            return Err(Error::Registry {
                message: "the registry started an upload without saying where to send it (no Location header)".to_owned(),
            });
        }
        Ok(if loc.contains("://") {
            loc.to_owned()
        } else if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            format!("{}/{loc}", self.base)
        })
    }

    fn push_blob(
        &self,
        store: &ContentStore,
        desc: &Descriptor,
        mount_from: Option<&str>,
        chunk_size: Option<u64>,
        on_bytes: &dyn Fn(u64),
    ) -> Result<BlobPush, Error> {
        let monolithic_max = chunk_size.unwrap_or(MONOLITHIC_MAX);
        let chunk = chunk_size.unwrap_or(CHUNK).max(1);
        let head = format!("{}/v2/{}/blobs/{}", self.base, self.repo, desc.digest);
        let resp = self.send("HEAD", &head, &[], None)?;
        match resp.status {
            200..=299 => return Ok(BlobPush::Existed),
            404 => {}
            _ => return Err(Self::fail(resp)),
        }
        let uploads = format!("{}/v2/{}/blobs/uploads/", self.base, self.repo);
        let started = match mount_from {
            Some(from) => {
                let url = format!(
                    "{uploads}?mount={}&from={}",
                    super::auth::query_escape(&desc.digest.to_string()),
                    super::auth::query_escape(from)
                );
                let resp = self.send("POST", &url, &[], None)?;
                if resp.status == 201 {
                    return Ok(BlobPush::Mounted(from.to_owned()));
                }
                resp
            }
            None => self.send("POST", &uploads, &[], None)?,
        };
        if started.status != 202 {
            return Err(Self::fail(started));
        }
        let mut location = self.location(&started)?;
        let mut file = store.open_blob(&desc.digest)?;
        let mut reader = Counting {
            inner: &mut file,
            done: 0,
            last: 0,
            on_bytes,
        };
        let octets = ("Content-Type", "application/octet-stream".to_owned());
        let digest_q = super::auth::query_escape(&desc.digest.to_string());
        let with_digest = |loc: &str| {
            let sep = if loc.contains('?') { '&' } else { '?' };
            format!("{loc}{sep}digest={digest_q}")
        };
        let auth: Vec<(&str, String)> = self
            .auth_header()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let done = if desc.size <= monolithic_max {
            let mut headers = auth.clone();
            headers.push(octets.clone());
            http::request_with_body(
                "PUT",
                &with_digest(&location),
                &headers,
                Some(SendBody {
                    reader: &mut reader,
                    len: desc.size,
                }),
            )?
        } else {
            let mut offset = 0;
            while offset < desc.size {
                let len = chunk.min(desc.size - offset);
                let mut headers = auth.clone();
                headers.push(octets.clone());
                headers.push(("Content-Range", format!("{offset}-{}", offset + len - 1)));
                let resp = http::request_with_body(
                    "PATCH",
                    &location,
                    &headers,
                    Some(SendBody {
                        reader: &mut reader,
                        len,
                    }),
                )?;
                if resp.status != 202 {
                    return Err(Self::fail(resp));
                }
                location = self.location(&resp)?;
                offset += len;
            }
            http::request_with_body("PUT", &with_digest(&location), &auth, None)?
        };
        if done.status != 201 && !(200..300).contains(&done.status) {
            return Err(Self::fail(done));
        }
        // The last bytes of a body are sent without the reader seeing its end.
        if reader.last != desc.size {
            on_bytes(desc.size);
        }
        Ok(BlobPush::Uploaded)
    }

    fn put_manifest(&self, tag: &str, image: &PushImage) -> Result<(), Error> {
        let url = format!("{}/v2/{}/manifests/{tag}", self.base, self.repo);
        let headers = [("Content-Type", image.manifest.media_type.clone())];
        let resp = self.send("PUT", &url, &headers, Some(&image.manifest_bytes))?;
        if !(200..300).contains(&resp.status) {
            return Err(Self::fail(resp));
        }
        Ok(())
    }
}
