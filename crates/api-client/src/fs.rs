//! A container's file system: `top`, `changes` (`diff`), `export`, the
//! archive endpoints (`cp`) and `commit`.

use std::io::{Read, Write};

use berth_api_types::fs::{
    ContainerPathStat, ContainerTopResponse, FilesystemChange, IdResponse, PATH_STAT_HEADER,
};
use http_body_util::Full;
use hyper::Method;
use hyper::body::Bytes;

use crate::containers::BodyStream;
use crate::images::encode;
use crate::{Client, Error, RawResponse, api_error, new_request};

/// `POST /commit` parameters (`docker commit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOptions {
    pub repo: String,
    pub tag: String,
    pub author: String,
    pub comment: String,
    pub changes: Vec<String>,
    pub pause: bool,
}

fn stat_of(headers: &hyper::HeaderMap) -> Result<ContainerPathStat, Error> {
    headers
        .get(PATH_STAT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(ContainerPathStat::from_header)
        .ok_or_else(|| Error::Request(format!("the daemon sent no valid {PATH_STAT_HEADER}")))
}

impl Client {
    /// `GET /containers/{id}/top?ps_args=`.
    pub async fn container_top(
        &self,
        id: &str,
        ps_args: &str,
    ) -> Result<ContainerTopResponse, Error> {
        let mut path = format!("/containers/{}/top", encode(id));
        if !ps_args.is_empty() {
            path.push_str(&format!("?ps_args={}", encode(ps_args)));
        }
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        Self::decode(&path, &raw)
    }

    /// `GET /containers/{id}/changes`.
    pub async fn container_changes(&self, id: &str) -> Result<Vec<FilesystemChange>, Error> {
        let path = format!("/containers/{}/changes", encode(id));
        let raw = self.call(Method::GET, &path, Vec::new(), None).await?;
        // dockerd answers `null` for no changes.
        if raw.body.trim_ascii() == b"null" {
            return Ok(Vec::new());
        }
        Self::decode(&path, &raw)
    }

    /// `GET /containers/{id}/export`: the tar, streamed into `out`.
    pub async fn container_export(&self, id: &str, out: &mut dyn Write) -> Result<(), Error> {
        let path = format!("/containers/{}/export", encode(id));
        let (_, mut body) = self.stream(Method::GET, &path).await?;
        while let Some(chunk) = body.chunk().await {
            out.write_all(&chunk?)
                .map_err(|e| Error::Request(format!("writing the archive: {e}")))?;
        }
        out.flush()
            .map_err(|e| Error::Request(format!("writing the archive: {e}")))
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn container_stat_path(
        &self,
        id: &str,
        path: &str,
    ) -> Result<ContainerPathStat, Error> {
        let uri = self
            .versioned(&format!(
                "/containers/{}/archive?path={}",
                encode(id),
                encode(path)
            ))
            .await?;
        let raw = self.send(Method::HEAD, &uri).await?;
        if !raw.status.is_success() {
            // A HEAD answer has no body: say what a 404 means here.
            let message = match raw.status.as_u16() {
                404 => format!("Could not find the file {path} in container {id}"),
                _ => format!("cannot stat {path} in container {id}: {}", raw.status),
            };
            return Err(Error::Api {
                status: raw.status.as_u16(),
                message,
            });
        }
        stat_of(&raw.headers)
    }

    /// `GET /containers/{id}/archive?path=`: the path's stat and the tar
    /// as it arrives.
    pub async fn container_archive_get(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, BodyStream), Error> {
        let p = format!("/containers/{}/archive?path={}", encode(id), encode(path));
        let (headers, body) = self.stream(Method::GET, &p).await?;
        Ok((stat_of(&headers)?, body))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar read from
    /// `archive` into the directory `path`.
    pub async fn container_archive_put(
        &self,
        id: &str,
        path: &str,
        archive: Box<dyn Read + Send>,
        copy_uid_gid: bool,
    ) -> Result<(), Error> {
        let uri = self
            .versioned(&format!(
                "/containers/{}/archive?path={}&noOverwriteDirNonDir=true&copyUIDGID={}",
                encode(id),
                encode(path),
                copy_uid_gid
            ))
            .await?;
        self.send_reader(Method::PUT, &uri, archive, "application/x-tar")
            .await
            .map(drop)
    }

    /// `POST /commit`: the new image's ID.
    pub async fn container_commit(&self, id: &str, opts: &CommitOptions) -> Result<String, Error> {
        let mut path = format!(
            "/commit?container={}&repo={}&tag={}&author={}&comment={}&pause={}",
            encode(id),
            encode(&opts.repo),
            encode(&opts.tag),
            encode(&opts.author),
            encode(&opts.comment),
            opts.pause
        );
        for c in &opts.changes {
            path.push_str(&format!("&changes={}", encode(c)));
        }
        let raw = self
            .call(Method::POST, &path, Vec::new(), Some("application/json"))
            .await?;
        let answer: IdResponse = Self::decode(&path, &raw)?;
        Ok(answer.id)
    }

    /// A request without a body whose answer is read as it arrives.
    async fn stream(
        &self,
        method: Method,
        path: &str,
    ) -> Result<(hyper::HeaderMap, BodyStream), Error> {
        self.versioned_call(path, |uri| self.stream_at(method.clone(), uri))
            .await
    }

    async fn stream_at(
        &self,
        method: Method,
        uri: String,
    ) -> Result<(hyper::HeaderMap, BodyStream), Error> {
        let mut sender = self.connect().await?;
        let request = new_request(method, uri)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Request(e.to_string()))?;
        let response = sender.send_request(request).await.map_err(Error::Http)?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            return Err(api_error(&RawResponse::collect(parts, body).await?));
        }
        Ok((parts.headers, BodyStream::new(body)))
    }
}
