//! `/images/...`: list, inspect, history, tag, delete, save (`get`),
//! load, and import (`create?fromSrc=-`).
//!
//! The store blocks, so every call runs on a blocking thread. Archive
//! bodies stream both ways: a request body is fed chunk by chunk through
//! a bounded channel into the store's `Read` ([`BodyReader`]), and a saved
//! archive flows from the store's `Write` through a bounded channel into
//! the response body ([`ChannelWriter`]), so neither is held in memory.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types as api;
use berth_engine::image::{DeleteItem, HistoryEntry, ImageDetails, ImageError, ImportRequest};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::json_response;
use super::params::{filters, flag, param, params, query, unix_seconds};
use crate::backend::ImageBackend;
use crate::error::ApiError;

/// Chunks in flight between the network and the store.
pub(super) const CHANNEL_DEPTH: usize = 8;

type Backend = Arc<dyn ImageBackend>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| ApiError::from_engine(&e)),
        Err(e) => Err(ApiError::new(
            berth_engine::ErrorClass::Internal,
            format!("image task failed: {e}"),
        )),
    }
}

fn respond<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response_body(),
    }
}

fn tags(d: &ImageDetails) -> Vec<String> {
    d.repo_tags.iter().map(|r| r.familiar_string()).collect()
}

fn labels(d: &ImageDetails) -> BTreeMap<String, String> {
    d.config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
}

/// `RepoDigests`: `name@sha256:...` of the repositories it was pulled from.
fn repo_digests(d: &ImageDetails) -> Vec<String> {
    d.repo_digests.iter().map(|r| r.familiar_string()).collect()
}

/// The image a committed image was made from (`""` for the others, as
/// dockerd).
fn parent(d: &ImageDetails) -> String {
    d.record
        .parent
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

pub(super) fn summary(d: &ImageDetails) -> api::ImageSummary {
    api::ImageSummary {
        id: d.record.id.to_string(),
        parent_id: parent(d),
        repo_tags: tags(d),
        repo_digests: repo_digests(d),
        created: unix_seconds(d.config.created.as_deref()),
        size: i64::try_from(d.record.size()).unwrap_or(i64::MAX),
        shared_size: -1,
        labels: labels(d),
        containers: -1,
    }
}

/// Go's `path.Match` for the patterns `reference` filters use: `*` (not
/// across `/`), `?`, literal characters.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| go(&p[1..], &n[i..])),
            Some('?') => n.first().is_some_and(|c| *c != '/') && go(&p[1..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

/// dockerd's `reference` filter: the pattern matches the familiar name
/// (`busybox`) or the familiar name with tag (`busybox:latest`).
fn reference_matches(pattern: &str, d: &ImageDetails) -> bool {
    d.repo_tags.iter().any(|r| {
        let name = r.familiar_name();
        glob(pattern, &name) || glob(pattern, &r.familiar_string())
    })
}

fn label_matches(want: &str, labels: &BTreeMap<String, String>) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

/// `GET /images/json`.
pub(super) async fn list(backend: Backend, req: Request) -> Response {
    let q = query(req.uri());
    respond(
        async {
            let f = filters(&q)?;
            for k in f.keys() {
                if !matches!(
                    k.as_str(),
                    "dangling" | "reference" | "label" | "before" | "since" | "until"
                ) {
                    return Err(ApiError::invalid_argument(format!("invalid filter '{k}'")));
                }
            }
            let dangling = match f.get("dangling").and_then(|v| v.first()) {
                None => None,
                Some(v) if v == "true" || v == "1" => Some(true),
                Some(v) if v == "false" || v == "0" => Some(false),
                Some(v) => {
                    return Err(ApiError::invalid_argument(format!(
                        "Invalid filter 'dangling={v}'"
                    )));
                }
            };
            let images = blocking(move || backend.list_images()).await?;
            // dockerd hides intermediate images (no reference, a child
            // committed on them) unless `all` is given.
            let all = flag(&q, "all");
            let parents: std::collections::BTreeSet<_> = images
                .iter()
                .filter_map(|d| d.record.parent.as_ref())
                .collect();
            let out: Vec<api::ImageSummary> = images
                .iter()
                .filter(|d| {
                    all || !d.repo_tags.is_empty()
                        || !d.repo_digests.is_empty()
                        || !parents.contains(&d.record.id)
                })
                .filter(|d| dangling.is_none_or(|want| want == d.repo_tags.is_empty()))
                .filter(|d| {
                    f.get("reference")
                        .is_none_or(|pats| pats.iter().any(|p| reference_matches(p, d)))
                })
                .filter(|d| {
                    let l = labels(d);
                    f.get("label")
                        .is_none_or(|want| want.iter().all(|w| label_matches(w, &l)))
                })
                .map(|d| {
                    let mut s = summary(d);
                    // As dockerd: with a reference filter, an image shows
                    // only the tags that match (`docker images busybox`
                    // lists no other names of the same image).
                    if let Some(pats) = f.get("reference") {
                        s.repo_tags = d
                            .repo_tags
                            .iter()
                            .filter(|r| {
                                pats.iter().any(|p| {
                                    glob(p, &r.familiar_name()) || glob(p, &r.familiar_string())
                                })
                            })
                            .map(|r| r.familiar_string())
                            .collect();
                    }
                    s
                })
                .collect();
            Ok(out)
        }
        .await,
    )
}

fn inspect_body(d: ImageDetails) -> api::ImageInspect {
    let comment = d
        .config
        .history
        .as_ref()
        .and_then(|h| h.last())
        .and_then(|h| h.comment.clone())
        .unwrap_or_default();
    api::ImageInspect {
        id: d.record.id.to_string(),
        repo_tags: tags(&d),
        repo_digests: repo_digests(&d),
        parent: parent(&d),
        comment,
        created: d.config.created.clone(),
        docker_version: String::new(),
        author: d.config.author.clone().unwrap_or_default(),
        config: Some(
            d.config
                .config
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok())
                .unwrap_or_else(|| serde_json::json!({})),
        ),
        architecture: d.config.architecture.clone(),
        variant: d.config.variant.clone(),
        os: d.config.os.clone(),
        os_version: d.config.os_version.clone(),
        size: i64::try_from(d.record.size()).unwrap_or(i64::MAX),
        graph_driver: api::GraphDriverData {
            data: BTreeMap::new(),
            name: "overlay2".to_owned(),
        },
        root_fs: api::ImageRootFs {
            kind: "layers".to_owned(),
            layers: d.record.diff_ids.iter().map(ToString::to_string).collect(),
        },
        metadata: api::ImageMetadata {
            // Go's zero time when never tagged, as dockerd.
            last_tag_time: d
                .last_tag_time
                .clone()
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned()),
        },
    }
}

/// `GET /images/{name}/json`.
pub(super) async fn inspect(backend: Backend, name: String) -> Response {
    respond(
        blocking(move || backend.inspect_image(&name))
            .await
            .map(inspect_body),
    )
}

fn history_item(h: HistoryEntry) -> api::HistoryResponseItem {
    api::HistoryResponseItem {
        id: h
            .id
            .map_or_else(|| "<missing>".to_owned(), |d| d.to_string()),
        created: unix_seconds(h.created.as_deref()),
        created_by: h.created_by,
        tags: h.tags.iter().map(|r| r.familiar_string()).collect(),
        size: i64::try_from(h.size).unwrap_or(i64::MAX),
        comment: h.comment,
    }
}

/// `GET /images/{name}/history`.
pub(super) async fn history(backend: Backend, name: String) -> Response {
    respond(
        blocking(move || backend.image_history(&name))
            .await
            .map(|h| h.into_iter().map(history_item).collect::<Vec<_>>()),
    )
}

/// `POST /images/{name}/tag?repo=&tag=`: 201 with no body.
pub(super) async fn tag(backend: Backend, name: String, req: Request) -> Response {
    let q = query(req.uri());
    let repo = param(&q, "repo").unwrap_or("").to_owned();
    let tag = param(&q, "tag").unwrap_or("").to_owned();
    if repo.is_empty() {
        return ApiError::invalid_argument("repository name must have at least one component")
            .into_response_body();
    }
    match blocking(move || backend.tag_image(&name, &repo, &tag)).await {
        Ok(()) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Err(e) => e.into_response_body(),
    }
}

/// `DELETE /images/{name}?force=&noprune=`.
pub(super) async fn delete(backend: Backend, name: String, req: Request) -> Response {
    let q = query(req.uri());
    let force = flag(&q, "force");
    let noprune = flag(&q, "noprune");
    respond(
        blocking(move || backend.delete_image(&name, force, noprune))
            .await
            .map(|items| {
                items
                    .into_iter()
                    .map(|i| match i {
                        DeleteItem::Untagged(t) => api::ImageDeleteResponseItem {
                            untagged: Some(t),
                            deleted: None,
                        },
                        DeleteItem::Deleted(d) => api::ImageDeleteResponseItem {
                            untagged: None,
                            deleted: Some(d.to_string()),
                        },
                    })
                    .collect::<Vec<_>>()
            }),
    )
}

/// Feeds a request body into a bounded channel; the store reads it on its
/// blocking thread through [`BodyReader`].
pub(super) fn body_reader(body: Body) -> BodyReader {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
    tokio::spawn(async move {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let item = match frame {
                Ok(f) => match f.into_data() {
                    Ok(data) => Ok(data),
                    // Trailers: nothing to read.
                    Err(_) => continue,
                },
                Err(e) => Err(io::Error::other(e.to_string())),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    BodyReader {
        rx,
        buf: Bytes::new(),
    }
}

/// The blocking side of [`body_reader`].
pub(super) struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    buf: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

/// The blocking side of a streamed response body.
pub(super) struct ChannelWriter {
    pub(super) tx: mpsc::Sender<io::Result<Bytes>>,
    pub(super) buf: Vec<u8>,
}

pub(super) const WRITE_CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITE_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A response body fed by a channel.
pub(super) struct ChannelStream(pub(super) mpsc::Receiver<io::Result<Bytes>>);

impl futures_core::Stream for ChannelStream {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Sends what `from` yields to `tx`, up to 32 KiB at a time, until it ends,
/// fails (the error is sent last) or the receiver is gone.
pub(super) async fn forward<R>(mut from: R, tx: &mpsc::Sender<io::Result<Bytes>>)
where
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if tx
                    .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                break;
            }
        }
    }
}

/// `GET /images/{name}/get` and `GET /images/get?names=...`: a tar stream.
/// Names are checked first, so an unknown one is a plain 404.
pub(super) async fn save(backend: Backend, names: Vec<String>) -> Response {
    if names.is_empty() {
        return ApiError::invalid_argument("no images to save").into_response_body();
    }
    let check = names.clone();
    let b = backend.clone();
    if let Err(e) = blocking(move || {
        for n in &check {
            b.inspect_image(n)?;
        }
        Ok(())
    })
    .await
    {
        return e.into_response_body();
    }
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(WRITE_CHUNK),
        };
        let result = backend
            .save_images(&names, &mut w)
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|()| w.flush());
        if let Err(e) = result {
            // Headers are gone: all that is left is to cut the stream,
            // which the client sees as a broken archive.
            tracing::warn!(error = %e, "image save failed mid-stream");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut r = Response::new(Body::from_stream(ChannelStream(rx)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    r
}

/// The `names` of `GET /images/get`.
pub(super) fn save_names(req: &Request) -> Vec<String> {
    params(&query(req.uri()), "names")
        .map(str::to_owned)
        .collect()
}

fn json_lines(messages: &[api::JsonMessage]) -> Response {
    let mut body = Vec::new();
    for m in messages {
        if serde_json::to_writer(&mut body, m).is_ok() {
            body.push(b'\n');
        }
    }
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `POST /images/load`: the archive is the body; the answer is dockerd's
/// JSON lines (`{"stream":"Loaded image: busybox:latest\n"}`).
pub(super) async fn load(backend: Backend, req: Request) -> Response {
    // `quiet` (which the docker CLI sends when stdin is not a terminal)
    // only silences progress bars; the "Loaded image" lines stay.
    let mut reader = body_reader(req.into_body());
    match blocking(move || backend.load_images(&mut reader)).await {
        Ok(images) => {
            let mut lines = Vec::new();
            for img in images {
                if img.tags.is_empty() {
                    lines.push(api::JsonMessage::stream(format!(
                        "Loaded image ID: {}\n",
                        img.id
                    )));
                }
                for t in img.tags {
                    lines.push(api::JsonMessage::stream(format!(
                        "Loaded image: {}\n",
                        t.familiar_string()
                    )));
                }
            }
            json_lines(&lines)
        }
        Err(e) => e.into_response_body(),
    }
}

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage`
/// pulls from a registry ([`super::pull`]).
pub(super) async fn create(backend: Backend, req: Request) -> Response {
    let q = query(req.uri());
    let Some(src) = param(&q, "fromSrc") else {
        return super::pull::pull(backend, req).await;
    };
    if src != "-" {
        return ApiError::invalid_argument(format!("importing from a URL is not supported: {src}"))
            .into_response_body();
    }
    let repo = param(&q, "repo").unwrap_or("");
    let tag = param(&q, "tag").unwrap_or("");
    let reference = match (repo, tag) {
        ("", _) => None,
        (r, "") => Some(r.to_owned()),
        (r, t) => Some(format!("{r}:{t}")),
    };
    let request = ImportRequest {
        reference,
        changes: params(&q, "changes").map(str::to_owned).collect(),
        message: param(&q, "message").map(str::to_owned),
    };
    let mut reader = body_reader(req.into_body());
    match blocking(move || backend.import_image(&mut reader, &request)).await {
        Ok(id) => json_lines(&[api::JsonMessage::status(id.to_string())]),
        Err(e) => e.into_response_body(),
    }
}

/// What a pull of `image` (`tag`) is answered with.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox", "busybox"));
        assert!(!glob("busy*", "localhost/busybox"));
        assert!(glob("*/busybox", "localhost/busybox"));
        assert!(glob("b?sybox:*", "busybox:latest"));
        assert!(!glob("*", "a/b"));
    }
}
