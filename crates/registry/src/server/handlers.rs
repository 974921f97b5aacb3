//! Routing (one `match` on the path's shape) and the handlers.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use berth_image::content::{ContentError, Ingest};
use berth_image::digest::Digest;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

use super::Registry;
use super::error::{ApiError, Code};
use super::storage::{self, Reference, Storage};

/// An upload in progress (`POST .../blobs/uploads/` until the final `PUT`).
pub(crate) struct Upload {
    name: String,
    /// `None` once a failed write lost it.
    ingest: Option<Ingest>,
    /// The last request that used it.
    touched: Instant,
}

/// An upload nobody touched for this long is dropped (with its temp file)
/// when the next upload starts.
const UPLOAD_IDLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

type Resp = Response<Body>;
type Res = Result<Resp, ApiError>;

/// What a `/v2/...` path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    UploadStart(&'a str),
    Upload(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn last_segment<'a>(r: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let (name, tail) = r.rsplit_once(marker)?;
    (!tail.is_empty() && !tail.contains('/')).then_some((name, tail))
}

/// Splits a path after `/v2` into a route; the name is not validated yet.
fn parse_path(rest: &str) -> Option<Route<'_>> {
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    if rest == "/_catalog" {
        return Some(Route::Catalog);
    }
    let r = rest.strip_prefix('/')?;
    if let Some(name) = r.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(name) = r
        .strip_suffix("/blobs/uploads/")
        .or_else(|| r.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::UploadStart(name));
    }
    if let Some((name, id)) = last_segment(r, "/blobs/uploads/") {
        return Some(Route::Upload(name, id));
    }
    if let Some((name, reference)) = last_segment(r, "/manifests/") {
        return Some(Route::Manifest(name, reference));
    }
    if let Some((name, d)) = last_segment(r, "/blobs/") {
        return Some(Route::Blob(name, d));
    }
    if let Some((name, d)) = last_segment(r, "/referrers/") {
        return Some(Route::Referrers(name, d));
    }
    None
}

/// One path component of a repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let s = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == s {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// The distribution spec's repository name grammar (and distribution's 255-byte limit).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(valid_component)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::msg(
            Code::NameInvalid,
            format!(
                "invalid repository name `{name}`: use lowercase letters, digits and separators (`.`, `_`, `__`, `-`) between path components, e.g. `team/app`"
            ),
            json!({ "name": name }),
        ))
    }
}

fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse().map_err(|e| {
        ApiError::msg(
            Code::DigestInvalid,
            format!("invalid digest `{s}`: {e}"),
            json!({ "Digest": s }),
        )
    })
}

/// Runs blocking storage work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("storage task failed: {e}")))?
}

fn response(status: StatusCode, headers: &[(&str, String)], body: Body) -> Resp {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(k, v);
        }
    }
    resp
}

fn json_response(status: StatusCode, v: &Value, extra: &[(&str, String)]) -> Resp {
    let text = v.to_string();
    let mut headers = vec![
        ("Content-Type", "application/json; charset=utf-8".to_owned()),
        ("Content-Length", text.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    response(status, &headers, Body::from(text))
}

/// Entry point for every request: auth, route, one log line.
pub(crate) async fn handle(
    reg: Registry,
    req: Request,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> Resp {
    let start = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "-".to_owned());
    let mut resp = match route(&reg, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.code == Code::Unknown {
                log(&format!("error: {method} {uri}: {e}"));
            }
            e.into_response()
        }
    };
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    let len = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    log(&format!(
        "{peer} \"{method} {uri}\" {} {len} {:.1}ms",
        resp.status().as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    ));
    resp
}

async fn route(reg: &Registry, req: Request) -> Res {
    if let Some(_h) = &reg.inner.htpasswd {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let r = reg.clone();
        let ok = tokio::task::spawn_blocking(move || {
            r.inner
                .htpasswd
                .as_ref()
                .is_some_and(|h| h.check(value.as_deref()))
        })
        .await
        .unwrap_or(false);
        if !ok {
            let mut resp = ApiError::new(Code::Unauthorized, Value::Null).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth-registry\""),
            );
            return Ok(resp);
        }
    }
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> = Query::try_from_uri(req.uri())
        .map(|q: Query<HashMap<String, String>>| q.0)
        .unwrap_or_default();
    let method = req.method().clone();
    let not_found = || {
        response(
            StatusCode::NOT_FOUND,
            &[],
            Body::from("404 page not found\n"),
        )
    };
    let Some(rest) = path.strip_prefix("/v2") else {
        return Ok(not_found());
    };
    let Some(route) = parse_path(rest) else {
        return Ok(not_found());
    };
    let st = reg.inner.storage.clone();
    let unsupported = || Err(ApiError::new(Code::Unsupported, Value::Null));
    match route {
        Route::Base => match method {
            Method::GET | Method::HEAD => Ok(json_response(StatusCode::OK, &json!({}), &[])),
            _ => unsupported(),
        },
        Route::Catalog => match method {
            Method::GET => catalog(st, &query).await,
            _ => unsupported(),
        },
        Route::Tags(name) => {
            check_name(name)?;
            match method {
                Method::GET => tags(st, name.to_owned(), &query).await,
                _ => unsupported(),
            }
        }
        Route::Manifest(name, reference) => {
            check_name(name)?;
            let r = if reference.contains(':') {
                Reference::Digest(parse_digest(reference)?)
            } else if storage::valid_tag(reference) {
                Reference::Tag(reference.to_owned())
            } else {
                return Err(ApiError::msg(
                    Code::TagInvalid,
                    format!(
                        "invalid tag `{reference}`: up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
                    ),
                    json!({ "Tag": reference }),
                ));
            };
            let name = name.to_owned();
            match method {
                Method::GET => get_manifest(st, name, r, false).await,
                Method::HEAD => get_manifest(st, name, r, true).await,
                Method::PUT => put_manifest(st, name, r, req).await,
                Method::DELETE => {
                    blocking(move || st.delete_manifest(&name, &r)).await?;
                    Ok(accepted())
                }
                _ => unsupported(),
            }
        }
        Route::Blob(name, d) => {
            check_name(name)?;
            let d = parse_digest(d)?;
            let name = name.to_owned();
            match method {
                Method::GET => get_blob(st, name, d, req.headers(), false).await,
                Method::HEAD => get_blob(st, name, d, req.headers(), true).await,
                Method::DELETE => {
                    blocking(move || st.unlink_blob(&name, &d)).await?;
                    Ok(accepted())
                }
                _ => unsupported(),
            }
        }
        Route::UploadStart(name) => {
            check_name(name)?;
            match method {
                Method::POST => start_upload(reg, name.to_owned(), &query, req).await,
                _ => unsupported(),
            }
        }
        Route::Upload(name, id) => {
            check_name(name)?;
            let (name, id) = (name.to_owned(), id.to_owned());
            match method {
                Method::GET => upload_status(reg, &name, &id).await,
                Method::PATCH => patch_upload(reg, name, id, req).await,
                Method::PUT => finish_upload(reg, name, id, &query, req).await,
                Method::DELETE => cancel_upload(reg, &name, &id),
                _ => unsupported(),
            }
        }
        Route::Referrers(name, d) => {
            check_name(name)?;
            let d = parse_digest(d)?;
            match method {
                Method::GET => referrers(st, name.to_owned(), d, &query).await,
                _ => unsupported(),
            }
        }
    }
}

fn accepted() -> Resp {
    response(
        StatusCode::ACCEPTED,
        &[("Content-Length", "0".to_owned())],
        Body::empty(),
    )
}

/// One page of names, and the `last` and `n` of the next page when there is one.
type Page = (Vec<String>, Option<(String, usize)>);

/// `n` and `last` of the tags list and the catalog.
fn paginate(items: Vec<String>, query: &HashMap<String, String>) -> Result<Page, ApiError> {
    let n = match query.get("n") {
        Some(s) if !s.is_empty() => Some(s.parse::<usize>().map_err(|_| {
            ApiError::msg(
                Code::PaginationNumberInvalid,
                format!(
                    "invalid number of results requested: `n={s}` is not a non-negative integer"
                ),
                json!({ "n": s }),
            )
        })?),
        _ => None,
    };
    let last = query.get("last").filter(|l| !l.is_empty());
    let mut items: Vec<String> = items
        .into_iter()
        .filter(|i| last.is_none_or(|l| i.as_str() > l.as_str()))
        .collect();
    let mut next = None;
    if let Some(n) = n
        && items.len() > n
    {
        items.truncate(n);
        if let Some(l) = items.last() {
            next = Some((l.clone(), n));
        }
    }
    Ok((items, next))
}

async fn catalog(st: Storage, query: &HashMap<String, String>) -> Res {
    let all = blocking(move || st.catalog()).await?;
    let (repos, next) = paginate(all, query)?;
    let mut extra = Vec::new();
    if let Some((last, n)) = next {
        extra.push((
            "Link",
            format!("</v2/_catalog?last={last}&n={n}>; rel=\"next\""),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "repositories": repos }),
        &extra,
    ))
}

async fn tags(st: Storage, name: String, query: &HashMap<String, String>) -> Res {
    let n2 = name.clone();
    let all = blocking(move || {
        if !st.has_tags(&n2) {
            return Err(ApiError::new(Code::NameUnknown, json!({ "name": n2 })));
        }
        st.tags(&n2)
    })
    .await?;
    let (tags, next) = paginate(all, query)?;
    let mut extra = Vec::new();
    if let Some((last, n)) = next {
        extra.push((
            "Link",
            format!("</v2/{name}/tags/list?last={last}&n={n}>; rel=\"next\""),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "name": name, "tags": tags }),
        &extra,
    ))
}

async fn get_manifest(st: Storage, name: String, r: Reference, head: bool) -> Res {
    let m = blocking(move || st.get_manifest(&name, &r)).await?;
    let headers = [
        ("Content-Type", m.media_type.clone()),
        ("Content-Length", m.bytes.len().to_string()),
        ("Docker-Content-Digest", m.digest.to_string()),
        ("Etag", format!("\"{}\"", m.digest)),
    ];
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.bytes)
    };
    Ok(response(StatusCode::OK, &headers, body))
}

async fn read_limited(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let body = http_body_util::Limited::new(req.into_body(), limit);
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(ApiError::msg(
            Code::ManifestInvalid,
            format!("manifest invalid: cannot read the body (at most {limit} bytes): {e}"),
            Value::Null,
        )),
    }
}

async fn put_manifest(st: Storage, name: String, r: Reference, req: Request) -> Res {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let bytes = read_limited(req, storage::MAX_MANIFEST).await?;
    let media_type = match ct.as_str() {
        storage::DOCKER_MANIFEST
        | storage::DOCKER_LIST
        | storage::OCI_MANIFEST
        | storage::OCI_INDEX => ct,
        _ => storage::sniff_media_type(&bytes).unwrap_or(ct),
    };
    let n2 = name.clone();
    let (digest, subject) = blocking(move || st.put_manifest(&n2, &r, &media_type, &bytes)).await?;
    let mut headers = vec![
        ("Location", format!("/v2/{name}/manifests/{digest}")),
        ("Docker-Content-Digest", digest.to_string()),
        ("Content-Length", "0".to_owned()),
    ];
    if let Some(s) = subject {
        headers.push(("OCI-Subject", s.to_string()));
    }
    Ok(response(StatusCode::CREATED, &headers, Body::empty()))
}

/// Parses `Range: bytes=a-b` (or `a-`, `-n`) against a blob of `size` bytes.
fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (size.saturating_sub(n), size.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?)
        };
        (start, end)
    };
    (start <= end && start < size).then_some((start, end))
}

async fn get_blob(st: Storage, name: String, d: Digest, h: &HeaderMap, head: bool) -> Res {
    let (st2, d2) = (st.clone(), d.clone());
    let size = blocking(move || st2.blob_size(&name, &d2)).await?;
    let mut headers = vec![
        ("Content-Type", "application/octet-stream".to_owned()),
        ("Docker-Content-Digest", d.to_string()),
        ("Etag", format!("\"{d}\"")),
        ("Accept-Ranges", "bytes".to_owned()),
        ("Cache-Control", "max-age=31536000".to_owned()),
    ];
    let mut status = StatusCode::OK;
    let (start, len) = match h.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => match parse_range(r, size) {
            Some((a, b)) => {
                status = StatusCode::PARTIAL_CONTENT;
                headers.push(("Content-Range", format!("bytes {a}-{b}/{size}")));
                (a, b - a + 1)
            }
            None => {
                return Ok(response(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    &[
                        ("Content-Range", format!("bytes */{size}")),
                        ("Content-Length", "0".to_owned()),
                    ],
                    Body::empty(),
                ));
            }
        },
        None => (0, size),
    };
    headers.push(("Content-Length", len.to_string()));
    if head {
        return Ok(response(status, &headers, Body::empty()));
    }
    let path = st.blob_path(&d);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("open {}: {e}", path.display())))?;
    if start > 0 {
        use tokio::io::AsyncSeekExt as _;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| ApiError::internal(format!("seek {}: {e}", path.display())))?;
    }
    let stream = futures_util::stream::unfold((file, len), |(mut file, left)| async move {
        use tokio::io::AsyncReadExt as _;
        if left == 0 {
            return None;
        }
        let want = left.min(256 * 1024) as usize;
        let mut buf = vec![0u8; want];
        match file.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "blob shorter than its size",
                )),
                (file, 0),
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), (file, left - n as u64)))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Ok(response(status, &headers, Body::from_stream(stream)))
}

/// Appends the request body to the upload's temp file (on a blocking thread).
async fn write_body(ingest: Ingest, body: Body) -> Result<Ingest, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let writer = tokio::task::spawn_blocking(move || {
        let mut ingest = ingest;
        while let Some(b) = rx.blocking_recv() {
            ingest.write_all(&b)?;
        }
        Ok::<_, std::io::Error>(ingest)
    });
    let mut body = body;
    let mut recv_err = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data()
                    && tx.send(data).await.is_err()
                {
                    break;
                }
            }
            Err(e) => {
                recv_err = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let ingest = writer
        .await
        .map_err(|e| ApiError::internal(format!("upload task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("write upload: {e}")))?;
    if let Some(e) = recv_err {
        return Err(ApiError::msg(
            Code::BlobUploadInvalid,
            format!("blob upload invalid: reading the request body failed: {e}"),
            Value::Null,
        ));
    }
    Ok(ingest)
}

fn new_uuid() -> String {
    let mut b = [0u8; 16];
    let filled = fs_err::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !filled {
        // Unique enough for a process-local upload id.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn blob_created(name: &str, d: &Digest) -> Resp {
    response(
        StatusCode::CREATED,
        &[
            ("Location", format!("/v2/{name}/blobs/{d}")),
            ("Docker-Content-Digest", d.to_string()),
            ("Content-Length", "0".to_owned()),
        ],
        Body::empty(),
    )
}

fn range_value(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn upload_headers(name: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("Location", format!("/v2/{name}/blobs/uploads/{id}")),
        ("Range", range_value(size)),
        ("Docker-Upload-UUID", id.to_owned()),
        ("Content-Length", "0".to_owned()),
    ]
}

/// Commits the upload as `d` and links it into `name`; a mismatch keeps nothing.
async fn commit(st: Storage, name: String, ingest: Ingest, d: Digest) -> Res {
    let d2 = d.clone();
    blocking(move || {
        match ingest.commit(Some(&d2), None) {
            Ok(_) | Err(ContentError::AlreadyExists { .. }) => {}
            Err(ContentError::DigestMismatch { expected, actual }) => {
                return Err(ApiError::msg(
                    Code::DigestInvalid,
                    format!("digest invalid: the uploaded content is {actual}, not {expected}"),
                    json!({ "Digest": expected.to_string() }),
                ));
            }
            Err(e @ ContentError::Unsupported { .. }) => {
                return Err(ApiError::msg(
                    Code::DigestInvalid,
                    format!("digest invalid: {e}; only sha256 is supported"),
                    json!({ "Digest": d2.to_string() }),
                ));
            }
            Err(e) => return Err(ApiError::internal(e)),
        }
        st.link_blob(&name, &d2)?;
        Ok(blob_created(&name, &d2))
    })
    .await
}

async fn start_upload(
    reg: &Registry,
    name: String,
    query: &HashMap<String, String>,
    req: Request,
) -> Res {
    let st = reg.inner.storage.clone();
    if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
        let d = parse_digest(mount)?;
        check_name(from)?;
        let (st2, from, n2, d2) = (st.clone(), from.clone(), name.clone(), d.clone());
        let mounted = blocking(move || {
            if st2.can_mount(&from, &d2) {
                st2.link_blob(&n2, &d2)?;
                Ok(true)
            } else {
                Ok(false)
            }
        })
        .await?;
        if mounted {
            return Ok(blob_created(&name, &d));
        }
        // Not mountable: distribution starts an ordinary upload instead.
    } else if let Some(ds) = query.get("digest") {
        let d = parse_digest(ds)?;
        let st2 = st.clone();
        let ingest = blocking(move || st2.content().writer().map_err(ApiError::internal)).await?;
        let ingest = write_body(ingest, req.into_body()).await?;
        return commit(st, name, ingest, d).await;
    }
    let ingest = blocking(move || st.content().writer().map_err(ApiError::internal)).await?;
    let id = new_uuid();
    if let Ok(mut m) = reg.inner.uploads.lock() {
        m.retain(|_, slot| {
            slot.try_lock()
                .map_or(true, |u| u.touched.elapsed() < UPLOAD_IDLE_LIMIT)
        });
        m.insert(
            id.clone(),
            Arc::new(tokio::sync::Mutex::new(Upload {
                name: name.clone(),
                ingest: Some(ingest),
                touched: Instant::now(),
            })),
        );
    }
    Ok(response(
        StatusCode::ACCEPTED,
        &upload_headers(&name, &id, 0),
        Body::empty(),
    ))
}

fn find_upload(
    reg: &Registry,
    name: &str,
    id: &str,
) -> Result<Arc<tokio::sync::Mutex<Upload>>, ApiError> {
    let unknown = || {
        ApiError::msg(
            Code::BlobUploadUnknown,
            format!(
                "blob upload unknown to registry: no upload `{id}` in repository `{name}` (it finished, was cancelled, or the registry restarted); start a new upload"
            ),
            json!({ "uuid": id }),
        )
    };
    let m = reg.inner.uploads.lock().map_err(|_| unknown())?;
    m.get(id).cloned().ok_or_else(unknown)
}

fn forget_upload(reg: &Registry, id: &str) {
    if let Ok(mut m) = reg.inner.uploads.lock() {
        m.remove(id);
    }
}

async fn upload_status(reg: &Registry, name: &str, id: &str) -> Res {
    let slot = find_upload(reg, name, id)?;
    let up = slot.lock().await;
    if up.name != name {
        return Err(ApiError::new(
            Code::BlobUploadUnknown,
            json!({ "uuid": id }),
        ));
    }
    let size = up.ingest.as_ref().map_or(0, Ingest::size);
    Ok(response(
        StatusCode::NO_CONTENT,
        &upload_headers(name, id, size),
        Body::empty(),
    ))
}

async fn patch_upload(reg: &Registry, name: String, id: String, req: Request) -> Res {
    let slot = find_upload(reg, &name, &id)?;
    let mut up = slot.lock().await;
    let Some(ingest) = up.ingest.take().filter(|_| up.name == name) else {
        return Err(ApiError::new(
            Code::BlobUploadUnknown,
            json!({ "uuid": id }),
        ));
    };
    let size = ingest.size();
    if let Some(cr) = req
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        let start = cr
            .trim()
            .trim_start_matches("bytes ")
            .split_once('-')
            .and_then(|(a, _)| a.parse::<u64>().ok());
        if start != Some(size) {
            up.ingest = Some(ingest);
            let mut resp = ApiError::msg(
                Code::RangeInvalid,
                format!("invalid content range: the chunk starts at `{cr}` but the upload has {size} bytes; send the chunk starting at byte {size}"),
                json!({ "Content-Range": cr }),
            )
            .into_response();
            for (k, v) in upload_headers(&name, &id, size) {
                if k != "Content-Length"
                    && let Ok(v) = HeaderValue::from_str(&v)
                {
                    resp.headers_mut().insert(k, v);
                }
            }
            return Ok(resp);
        }
    }
    match write_body(ingest, req.into_body()).await {
        Ok(ingest) => {
            let size = ingest.size();
            up.ingest = Some(ingest);
            Ok(response(
                StatusCode::ACCEPTED,
                &upload_headers(&name, &id, size),
                Body::empty(),
            ))
        }
        Err(e) => {
            drop(up);
            forget_upload(reg, &id);
            Err(e)
        }
    }
}

async fn finish_upload(
    reg: &Registry,
    name: String,
    id: String,
    query: &HashMap<String, String>,
    req: Request,
) -> Res {
    let slot = find_upload(reg, &name, &id)?;
    let mut up = slot.lock().await;
    let Some(ds) = query.get("digest") else {
        return Err(ApiError::msg(
            Code::DigestInvalid,
            "digest invalid: the final PUT of an upload needs `?digest=sha256:...`",
            Value::Null,
        ));
    };
    let d = parse_digest(ds)?;
    let Some(ingest) = up.ingest.take().filter(|_| up.name == name) else {
        return Err(ApiError::new(
            Code::BlobUploadUnknown,
            json!({ "uuid": id }),
        ));
    };
    drop(up);
    forget_upload(reg, &id);
    let ingest = write_body(ingest, req.into_body()).await?;
    commit(reg.inner.storage.clone(), name, ingest, d).await
}

fn cancel_upload(reg: &Registry, name: &str, id: &str) -> Res {
    let slot = find_upload(reg, name, id)?;
    if slot.try_lock().is_ok_and(|u| u.name != name) {
        return Err(ApiError::new(
            Code::BlobUploadUnknown,
            json!({ "uuid": id }),
        ));
    }
    // Dropping the Ingest (when the last request using it ends) removes its temp file.
    forget_upload(reg, id);
    Ok(response(
        StatusCode::NO_CONTENT,
        &[("Content-Length", "0".to_owned())],
        Body::empty(),
    ))
}

async fn referrers(st: Storage, name: String, d: Digest, query: &HashMap<String, String>) -> Res {
    let at = query.get("artifactType").filter(|s| !s.is_empty()).cloned();
    let at2 = at.clone();
    let list = blocking(move || st.referrers(&name, &d, at2.as_deref())).await?;
    let mut extra = vec![("Content-Type", storage::OCI_INDEX.to_owned())];
    if at.is_some() {
        extra.push(("OCI-Filters-Applied", "artifactType".to_owned()));
    }
    let v = json!({
        "schemaVersion": 2,
        "mediaType": storage::OCI_INDEX,
        "manifests": list,
    });
    let text = v.to_string();
    extra.push(("Content-Length", text.len().to_string()));
    Ok(response(StatusCode::OK, &extra, Body::from(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "bb",
            "a/b",
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "library/busybox",
            "0",
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "a..b", "a___b", "-a", "a-", "a b", "a:b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(256)));
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path(""), Some(Route::Base));
        assert_eq!(parse_path("/"), Some(Route::Base));
        assert_eq!(parse_path("/_catalog"), Some(Route::Catalog));
        assert_eq!(parse_path("/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            parse_path("/a/blobs/uploads/"),
            Some(Route::UploadStart("a"))
        );
        assert_eq!(
            parse_path("/a/blobs/uploads/x"),
            Some(Route::Upload("a", "x"))
        );
        assert_eq!(
            parse_path("/a/blobs/b/manifests/latest"),
            Some(Route::Manifest("a/blobs/b", "latest"))
        );
        assert_eq!(
            parse_path("/a/blobs/sha256:1"),
            Some(Route::Blob("a", "sha256:1"))
        );
        assert_eq!(
            parse_path("/a/referrers/sha256:1"),
            Some(Route::Referrers("a", "sha256:1"))
        );
        assert_eq!(parse_path("/a/nothing"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
