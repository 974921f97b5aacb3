//! A container's file system: `GET /containers/{id}/top`, `/changes`,
//! `/export`, `HEAD|GET|PUT /containers/{id}/archive` and `POST /commit`
//! (moby `api/server/router/container/copy.go`, `container_routes.go`).

use std::io::{self, Write};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types::fs as api;
use berth_engine::container::ContainerError;
use berth_engine::container::fs::{CommitRequest, PathStat, PutArchiveOptions};
use berth_engine::image::ContainerConfig;
use tokio::sync::{mpsc, oneshot};

use super::super::images::{CHANNEL_DEPTH, ChannelStream, ChannelWriter, WRITE_CHUNK, body_reader};
use super::super::json_response;
use super::super::params::params;
use super::{Backend, blocking, flag, param, query_of};
use crate::error::ApiError;
use crate::fs_backend::FsBackend;

/// Commit bodies larger than this are refused (a config is small).
const MAX_BODY: usize = 4 << 20;

/// Runs `f` on the file-system backend on a blocking thread.
async fn with_fs<T: Send + 'static>(
    backend: Backend,
    f: impl FnOnce(&dyn FsBackend) -> Result<T, ContainerError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || match backend.fs() {
        Some(fs) => f(fs),
        None => Err(ContainerError::Internal {
            message: "this daemon has no container file systems".to_owned(),
        }),
    })
    .await
}

/// `GET /containers/{id}/top?ps_args=`.
pub(crate) async fn top(backend: Backend, id: String, req: Request) -> Response {
    let q = query_of(&req);
    let ps_args = param(&q, "ps_args").unwrap_or("").to_owned();
    match with_fs(backend, move |fs| fs.top(&id, &ps_args)).await {
        Ok(t) => json_response(
            StatusCode::OK,
            &api::ContainerTopResponse {
                titles: t.titles,
                processes: t.processes,
            },
        ),
        Err(e) => e.into_response_body(),
    }
}

/// `GET /containers/{id}/changes`.
pub(crate) async fn changes(backend: Backend, id: String) -> Response {
    match with_fs(backend, move |fs| fs.changes(&id)).await {
        Ok(list) => {
            let items: Vec<api::FilesystemChange> = list
                .into_iter()
                .map(|c| api::FilesystemChange {
                    path: c.path,
                    kind: c.kind.api_kind(),
                })
                .collect();
            json_response(StatusCode::OK, &items)
        }
        Err(e) => e.into_response_body(),
    }
}

/// A body streamed from a blocking writer; the head (status and headers)
/// is decided by `start` before the first byte, or the call's error.
async fn stream_tar(
    backend: Backend,
    run: impl FnOnce(
        &dyn FsBackend,
        &mut dyn FnMut(Option<&PathStat>) -> Box<dyn Write + Send>,
    ) -> Result<(), ContainerError>
    + Send
    + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let (head_tx, head_rx) = oneshot::channel::<Result<Option<PathStat>, ApiError>>();
    tokio::task::spawn_blocking(move || {
        let mut head_tx = Some(head_tx);
        let Some(fs) = backend.fs() else {
            if let Some(h) = head_tx.take() {
                let _ = h.send(Err(ApiError::new(
                    berth_engine::ErrorClass::Internal,
                    "this daemon has no container file systems",
                )));
            }
            return;
        };
        let stream_tx = tx.clone();
        let mut on_start = |stat: Option<&PathStat>| -> Box<dyn Write + Send> {
            if let Some(h) = head_tx.take() {
                let _ = h.send(Ok(stat.cloned()));
            }
            Box::new(FlushOnDrop(ChannelWriter {
                tx: stream_tx.clone(),
                buf: Vec::with_capacity(WRITE_CHUNK),
            }))
        };
        let result = run(fs, &mut on_start);
        if let Err(e) = result {
            match head_tx.take() {
                Some(h) => {
                    let _ = h.send(Err(ApiError::from_engine(&e)));
                }
                None => {
                    // Headers are gone: cut the stream, which the client
                    // sees as a broken archive.
                    tracing::warn!(error = %e, "archive failed mid-stream");
                    let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
                }
            }
        }
    });
    let stat = match head_rx.await {
        Ok(Ok(stat)) => stat,
        Ok(Err(e)) => return e.into_response_body(),
        Err(_) => {
            return ApiError::new(berth_engine::ErrorClass::Internal, "archive task failed")
                .into_response_body();
        }
    };
    let mut r = Response::new(Body::from_stream(ChannelStream(rx)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Some(stat) = stat
        && let Ok(v) = HeaderValue::from_str(&path_stat(&stat).to_header())
    {
        r.headers_mut().insert(api::PATH_STAT_HEADER, v);
    }
    r
}

/// A [`ChannelWriter`] that sends what is buffered when dropped (the
/// archive writer flushes, but a writer dropped on error should not
/// lose what it holds either).
struct FlushOnDrop(ChannelWriter);

impl Write for FlushOnDrop {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let _ = self.0.flush();
    }
}

/// `GET /containers/{id}/export`.
pub(crate) async fn export(backend: Backend, id: String) -> Response {
    stream_tar(backend, move |fs, start| {
        // The container is checked before the head goes out.
        let mut w: Option<Box<dyn Write + Send>> = None;
        let mut lazy = LazyWriter {
            start: &mut |()| start(None),
            w: &mut w,
        };
        fs.export(&id, &mut lazy)?;
        if lazy.w.is_none() {
            // An empty tree still answers 200 with an (empty) body.
            drop(start(None));
        }
        Ok(())
    })
    .await
}

/// Calls `start` at the first write (so an early error can still be a
/// plain error response).
struct LazyWriter<'a> {
    start: &'a mut dyn FnMut(()) -> Box<dyn Write + Send>,
    w: &'a mut Option<Box<dyn Write + Send>>,
}

impl Write for LazyWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.w.is_none() {
            *self.w = Some((self.start)(()));
        }
        match self.w.as_mut() {
            Some(w) => w.write(data),
            None => Ok(data.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.w.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

fn path_stat(s: &PathStat) -> api::ContainerPathStat {
    api::ContainerPathStat {
        name: s.name.clone(),
        size: s.size,
        mode: s.mode,
        mtime: s.mtime_rfc3339(),
        link_target: s.link_target.clone(),
    }
}

/// The `path` query parameter, required by every archive route.
fn archive_path(req: &Request) -> Result<String, ApiError> {
    let q = query_of(req);
    match param(&q, "path") {
        Some(p) if !p.is_empty() => Ok(p.to_owned()),
        _ => Err(ApiError::invalid_argument("path cannot be empty")),
    }
}

/// `HEAD /containers/{id}/archive?path=`: the stat header, no body.
pub(crate) async fn archive_head(backend: Backend, id: String, req: Request) -> Response {
    let path = match archive_path(&req) {
        Ok(p) => p,
        Err(e) => return e.into_response_body(),
    };
    match with_fs(backend, move |fs| fs.archive_stat(&id, &path)).await {
        Ok(stat) => {
            let mut r = Response::new(Body::empty());
            if let Ok(v) = HeaderValue::from_str(&path_stat(&stat).to_header()) {
                r.headers_mut().insert(api::PATH_STAT_HEADER, v);
            }
            r
        }
        Err(e) => {
            // A HEAD answer has no body: status only.
            let mut r = Response::new(Body::empty());
            *r.status_mut() = e.status();
            r
        }
    }
}

/// `GET /containers/{id}/archive?path=`: the stat header and a tar.
pub(crate) async fn archive_get(backend: Backend, id: String, req: Request) -> Response {
    let path = match archive_path(&req) {
        Ok(p) => p,
        Err(e) => return e.into_response_body(),
    };
    stream_tar(backend, move |fs, start| {
        fs.archive_get(&id, &path, &mut |stat| start(Some(stat)))
    })
    .await
}

/// How much of a refused upload is still read before the error is sent.
const DRAIN_LIMIT: u64 = 64 << 20;

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`.
pub(crate) async fn archive_put(backend: Backend, id: String, req: Request) -> Response {
    let path = match archive_path(&req) {
        Ok(p) => p,
        Err(e) => return e.into_response_body(),
    };
    let q = query_of(&req);
    let opts = PutArchiveOptions {
        no_overwrite_dir_non_dir: flag(&q, "noOverwriteDirNonDir"),
        copy_uid_gid: flag(&q, "copyUIDGID"),
    };
    let mut body = body_reader(req.into_body());
    match with_fs(backend, move |fs| {
        let put = fs.archive_put(&id, &path, &mut body, opts);
        if put.is_err() {
            // Read what the client is still sending before answering, as
            // Go's server does: closing on an unread body makes the client
            // fail with a broken pipe instead of reading the error.
            let _ = std::io::copy(
                &mut std::io::Read::take(&mut body, DRAIN_LIMIT),
                &mut std::io::sink(),
            );
        }
        put
    })
    .await
    {
        Ok(()) => Response::new(Body::empty()),
        Err(e) => e.into_response_body(),
    }
}

/// `POST /commit?container=&repo=&tag=&author=&comment=&pause=&changes=`
/// with an optional container config as the body.
pub(crate) async fn commit(backend: Backend, req: Request) -> Response {
    let q = query_of(&req);
    let Some(container) = param(&q, "container")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
    else {
        return ApiError::new(berth_engine::ErrorClass::NotFound, "No such container: ")
            .into_response_body();
    };
    let repo = param(&q, "repo").unwrap_or("");
    let tag = param(&q, "tag").unwrap_or("");
    let reference = match (repo, tag) {
        ("", "") => None,
        ("", _) => {
            return ApiError::invalid_argument(
                "invalid reference format: repository name must be given with a tag",
            )
            .into_response_body();
        }
        (r, "") => Some(r.to_owned()),
        (r, t) => Some(format!("{r}:{t}")),
    };
    // `pause` defaults to true (moby: unset is true).
    let pause = param(&q, "pause").is_none() || flag(&q, "pause");
    let changes: Vec<String> = params(&q, "changes")
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let author = param(&q, "author").map(str::to_owned);
    let comment = param(&q, "comment").map(str::to_owned);
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return ApiError::invalid_argument(e.to_string()).into_response_body(),
    };
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Option<ContainerConfig>>(&body) {
            Ok(c) => c,
            Err(e) => {
                return ApiError::invalid_argument(format!("invalid JSON: {e}"))
                    .into_response_body();
            }
        }
    };
    let req = CommitRequest {
        reference,
        author,
        comment,
        changes,
        pause,
        config,
    };
    match with_fs(backend, move |fs| fs.commit(&container, &req)).await {
        Ok(id) => json_response(StatusCode::CREATED, &api::IdResponse { id }),
        Err(e) => e.into_response_body(),
    }
}
