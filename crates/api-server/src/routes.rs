//! The routing table: every (method, path) berthd answers, in one `match`.
//!
//! Paths arrive without their `/vX.Y` prefix (see [`crate::compat`]). A path
//! the table does not know, or a known path with the wrong method, is
//! [`Route::NotFound`], which dockerd answers with 404 `page not found`
//! (it installs the same handler for "no route" and "method not allowed").

use axum::http::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    PingHead,
    Version,
    Info,
    ImageList,
    ImageInspect(String),
    ImageHistory(String),
    ImageTag(String),
    ImageDelete(String),
    ImageGet(String),
    ImagesGet,
    ImageLoad,
    ImageCreate,
    ImagePush(String),
    Auth,
    ContainerCreate,
    ContainerList,
    ContainerStart(String),
    ContainerWait(String),
    ContainerStop(String),
    ContainerInspect(String),
    ContainerLogs(String),
    ContainerAttach(String),
    ContainerKill(String),
    ContainerResize(String),
    ContainerUpdate(String),
    ContainerDelete(String),
    ContainerTop(String),
    ContainerChanges(String),
    ContainerExport(String),
    ContainerArchiveHead(String),
    ContainerArchiveGet(String),
    ContainerArchivePut(String),
    Commit,
    ContainerRestart(String),
    ContainerPause(String),
    ContainerUnpause(String),
    ContainerRename(String),
    ExecCreate(String),
    ExecStart(String),
    ExecResize(String),
    ExecInspect(String),
    Events,
    SystemDf,
    ContainersPrune,
    ImagesPrune,
    NetworksPrune,
    VolumesPrune,
    VolumeList,
    VolumeCreate,
    VolumeInspect(String),
    VolumeDelete(String),
    Build,
    BuildPrune,
    ContainerStats(String),
    NetworkList,
    NetworkInspect(String),
    NetworkCreate,
    NetworkDelete(String),
    NetworkConnect(String),
    NetworkDisconnect(String),
    NotFound,
}

pub fn route(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["_ping"]) => Route::Ping,
        ("HEAD", ["_ping"]) => Route::PingHead,
        ("GET", ["version"]) => Route::Version,
        ("GET", ["info"]) => Route::Info,
        ("GET", ["events"]) => Route::Events,
        ("GET", ["system", "df"]) => Route::SystemDf,
        ("POST", ["containers", "prune"]) => Route::ContainersPrune,
        ("POST", ["images", "prune"]) => Route::ImagesPrune,
        ("POST", ["networks", "prune"]) => Route::NetworksPrune,
        ("GET", ["networks"]) => Route::NetworkList,
        ("POST", ["networks", "create"]) => Route::NetworkCreate,
        ("GET", ["networks", id]) if !id.is_empty() => Route::NetworkInspect((*id).to_owned()),
        ("DELETE", ["networks", id]) if !id.is_empty() => Route::NetworkDelete((*id).to_owned()),
        ("POST", ["networks", id, "connect"]) if !id.is_empty() => {
            Route::NetworkConnect((*id).to_owned())
        }
        ("POST", ["networks", id, "disconnect"]) if !id.is_empty() => {
            Route::NetworkDisconnect((*id).to_owned())
        }
        ("POST", ["volumes", "prune"]) => Route::VolumesPrune,
        ("GET", ["volumes"]) => Route::VolumeList,
        ("POST", ["volumes", "create"]) => Route::VolumeCreate,
        // dockerd's `{name:.*}`: a name with a slash is looked up (and not found).
        ("GET", ["volumes", name @ ..]) if image_name(name) => Route::VolumeInspect(name.join("/")),
        ("DELETE", ["volumes", name @ ..]) if image_name(name) => {
            Route::VolumeDelete(name.join("/"))
        }
        ("POST", ["build"]) => Route::Build,
        ("POST", ["build", "prune"]) => Route::BuildPrune,
        ("GET", ["containers", id, "stats"]) if !id.is_empty() => {
            Route::ContainerStats((*id).to_owned())
        }
        ("GET", ["images", "json"]) => Route::ImageList,
        ("GET", ["images", "get"]) => Route::ImagesGet,
        ("POST", ["images", "load"]) => Route::ImageLoad,
        ("POST", ["images", "create"]) => Route::ImageCreate,
        ("GET", ["images", name @ .., "json"]) if image_name(name) => {
            Route::ImageInspect(name.join("/"))
        }
        ("GET", ["images", name @ .., "history"]) if image_name(name) => {
            Route::ImageHistory(name.join("/"))
        }
        ("GET", ["images", name @ .., "get"]) if image_name(name) => {
            Route::ImageGet(name.join("/"))
        }
        ("POST", ["images", name @ .., "push"]) if image_name(name) => {
            Route::ImagePush(name.join("/"))
        }
        ("POST", ["auth"]) => Route::Auth,
        ("POST", ["images", name @ .., "tag"]) if image_name(name) => {
            Route::ImageTag(name.join("/"))
        }
        ("DELETE", ["images", name @ ..]) if image_name(name) => Route::ImageDelete(name.join("/")),
        ("POST", ["containers", "create"]) => Route::ContainerCreate,
        ("GET", ["containers", "json"]) => Route::ContainerList,
        ("POST", ["containers", id, "start"]) if !id.is_empty() => {
            Route::ContainerStart((*id).to_owned())
        }
        ("POST", ["containers", id, "wait"]) if !id.is_empty() => {
            Route::ContainerWait((*id).to_owned())
        }
        ("GET", ["containers", id, "json"]) if !id.is_empty() => {
            Route::ContainerInspect((*id).to_owned())
        }
        // A legacy link's name (`inspect web/db`), as for delete below.
        ("GET", ["containers", name @ .., "json"])
            if name.len() > 1 && name.iter().all(|s| !s.is_empty()) =>
        {
            Route::ContainerInspect(name.join("/"))
        }
        ("GET", ["containers", id, "logs"]) if !id.is_empty() => {
            Route::ContainerLogs((*id).to_owned())
        }
        ("POST", ["containers", id, "attach"]) if !id.is_empty() => {
            Route::ContainerAttach((*id).to_owned())
        }
        ("POST", ["containers", id, "stop"]) if !id.is_empty() => {
            Route::ContainerStop((*id).to_owned())
        }
        ("POST", ["containers", id, "kill"]) if !id.is_empty() => {
            Route::ContainerKill((*id).to_owned())
        }
        ("POST", ["containers", id, "resize"]) if !id.is_empty() => {
            Route::ContainerResize((*id).to_owned())
        }
        ("POST", ["containers", id, "update"]) if !id.is_empty() => {
            Route::ContainerUpdate((*id).to_owned())
        }
        ("DELETE", ["containers", id]) if !id.is_empty() => {
            Route::ContainerDelete((*id).to_owned())
        }
        // A legacy link's name, `parent/alias` (`rm -l /web/db`: the
        // docker CLI sends the slash as it is; dockerd takes it).
        ("DELETE", ["containers", name @ ..])
            if name.len() > 1 && name.iter().all(|s| !s.is_empty()) =>
        {
            Route::ContainerDelete(name.join("/"))
        }
        ("GET", ["containers", id, "top"]) if !id.is_empty() => {
            Route::ContainerTop((*id).to_owned())
        }
        ("GET", ["containers", id, "changes"]) if !id.is_empty() => {
            Route::ContainerChanges((*id).to_owned())
        }
        ("GET", ["containers", id, "export"]) if !id.is_empty() => {
            Route::ContainerExport((*id).to_owned())
        }
        ("HEAD", ["containers", id, "archive"]) if !id.is_empty() => {
            Route::ContainerArchiveHead((*id).to_owned())
        }
        ("GET", ["containers", id, "archive"]) if !id.is_empty() => {
            Route::ContainerArchiveGet((*id).to_owned())
        }
        ("PUT", ["containers", id, "archive"]) if !id.is_empty() => {
            Route::ContainerArchivePut((*id).to_owned())
        }
        ("POST", ["commit"]) => Route::Commit,
        ("POST", ["containers", id, "restart"]) if !id.is_empty() => {
            Route::ContainerRestart((*id).to_owned())
        }
        ("POST", ["containers", id, "pause"]) if !id.is_empty() => {
            Route::ContainerPause((*id).to_owned())
        }
        ("POST", ["containers", id, "unpause"]) if !id.is_empty() => {
            Route::ContainerUnpause((*id).to_owned())
        }
        ("POST", ["containers", id, "rename"]) if !id.is_empty() => {
            Route::ContainerRename((*id).to_owned())
        }
        ("POST", ["containers", id, "exec"]) if !id.is_empty() => {
            Route::ExecCreate((*id).to_owned())
        }
        ("POST", ["exec", id, "start"]) if !id.is_empty() => Route::ExecStart((*id).to_owned()),
        ("POST", ["exec", id, "resize"]) if !id.is_empty() => Route::ExecResize((*id).to_owned()),
        ("GET", ["exec", id, "json"]) if !id.is_empty() => Route::ExecInspect((*id).to_owned()),
        _ => Route::NotFound,
    }
}

/// Image names may hold slashes (`localhost/busybox:latest`), so they take
/// several path segments, none of them empty.
fn image_name(segments: &[&str]) -> bool {
    !segments.is_empty() && segments.iter().all(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(route(&Method::GET, "/_ping"), Route::Ping);
        assert_eq!(route(&Method::HEAD, "/_ping"), Route::PingHead);
        assert_eq!(route(&Method::GET, "/version"), Route::Version);
        assert_eq!(route(&Method::GET, "/info"), Route::Info);
        assert_eq!(route(&Method::GET, "/events"), Route::Events);
        assert_eq!(route(&Method::POST, "/info"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/info/"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/nope"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/"), Route::NotFound);
    }

    #[test]
    fn image_routes() {
        let s = |x: &str| x.to_owned();
        assert_eq!(route(&Method::GET, "/images/json"), Route::ImageList);
        assert_eq!(
            route(&Method::GET, "/images/localhost/busybox:latest/json"),
            Route::ImageInspect(s("localhost/busybox:latest"))
        );
        assert_eq!(
            route(&Method::GET, "/images/busybox/history"),
            Route::ImageHistory(s("busybox"))
        );
        assert_eq!(
            route(&Method::POST, "/images/busybox/tag"),
            Route::ImageTag(s("busybox"))
        );
        assert_eq!(
            route(&Method::DELETE, "/images/a/b:1"),
            Route::ImageDelete(s("a/b:1"))
        );
        assert_eq!(route(&Method::GET, "/images/get"), Route::ImagesGet);
        assert_eq!(
            route(&Method::GET, "/images/busybox/get"),
            Route::ImageGet(s("busybox"))
        );
        assert_eq!(route(&Method::POST, "/images/load"), Route::ImageLoad);
        assert_eq!(route(&Method::POST, "/images/create"), Route::ImageCreate);
        assert_eq!(route(&Method::GET, "/images//json"), Route::NotFound);
        assert_eq!(route(&Method::DELETE, "/images/"), Route::NotFound);
    }

    #[test]
    fn container_routes() {
        let s = |x: &str| x.to_owned();
        assert_eq!(
            route(&Method::POST, "/containers/create"),
            Route::ContainerCreate
        );
        assert_eq!(
            route(&Method::GET, "/containers/json"),
            Route::ContainerList
        );
        assert_eq!(
            route(&Method::POST, "/containers/abc/start"),
            Route::ContainerStart(s("abc"))
        );
        assert_eq!(
            route(&Method::POST, "/containers/abc/wait"),
            Route::ContainerWait(s("abc"))
        );
        assert_eq!(
            route(&Method::DELETE, "/containers/abc"),
            Route::ContainerDelete(s("abc"))
        );
        assert_eq!(
            route(&Method::POST, "/containers/abc/stop"),
            Route::ContainerStop(s("abc"))
        );
        assert_eq!(
            route(&Method::POST, "/containers/abc/kill"),
            Route::ContainerKill(s("abc"))
        );
        assert_eq!(
            route(&Method::GET, "/containers/abc/json"),
            Route::ContainerInspect(s("abc"))
        );
        assert_eq!(
            route(&Method::GET, "/containers/abc/logs"),
            Route::ContainerLogs(s("abc"))
        );
        assert_eq!(
            route(&Method::POST, "/containers/abc/attach"),
            Route::ContainerAttach(s("abc"))
        );
        assert_eq!(
            route(&Method::POST, "/containers/abc/resize"),
            Route::ContainerResize(s("abc"))
        );
        assert_eq!(
            route(&Method::POST, "/containers/abc/update"),
            Route::ContainerUpdate(s("abc"))
        );
        assert_eq!(route(&Method::DELETE, "/containers/"), Route::NotFound);
        assert_eq!(
            route(&Method::DELETE, "/containers/web/db"),
            Route::ContainerDelete(s("web/db"))
        );
        assert_eq!(route(&Method::DELETE, "/containers/web/"), Route::NotFound);
        assert_eq!(
            route(&Method::GET, "/containers/web/db/json"),
            Route::ContainerInspect(s("web/db"))
        );
        for (path, want) in [
            ("/containers/abc/restart", Route::ContainerRestart(s("abc"))),
            ("/containers/abc/pause", Route::ContainerPause(s("abc"))),
            ("/containers/abc/unpause", Route::ContainerUnpause(s("abc"))),
            ("/containers/abc/rename", Route::ContainerRename(s("abc"))),
        ] {
            assert_eq!(route(&Method::POST, path), want, "{path}");
            assert_eq!(route(&Method::GET, path), Route::NotFound, "{path}");
        }
    }

    #[test]
    fn volume_routes() {
        let s = |x: &str| x.to_owned();
        assert_eq!(route(&Method::GET, "/volumes"), Route::VolumeList);
        assert_eq!(route(&Method::POST, "/volumes/create"), Route::VolumeCreate);
        assert_eq!(route(&Method::POST, "/volumes/prune"), Route::VolumesPrune);
        assert_eq!(
            route(&Method::GET, "/volumes/data"),
            Route::VolumeInspect(s("data"))
        );
        assert_eq!(
            route(&Method::GET, "/volumes/a/b"),
            Route::VolumeInspect(s("a/b"))
        );
        assert_eq!(
            route(&Method::DELETE, "/volumes/data"),
            Route::VolumeDelete(s("data"))
        );
        assert_eq!(route(&Method::GET, "/volumes/"), Route::NotFound);
        assert_eq!(route(&Method::POST, "/volumes/data"), Route::NotFound);
    }

    #[test]
    fn exec_routes() {
        let s = |x: &str| x.to_owned();
        assert_eq!(
            route(&Method::POST, "/containers/abc/exec"),
            Route::ExecCreate(s("abc"))
        );
        assert_eq!(
            route(&Method::POST, "/exec/e1/start"),
            Route::ExecStart(s("e1"))
        );
        assert_eq!(
            route(&Method::POST, "/exec/e1/resize"),
            Route::ExecResize(s("e1"))
        );
        assert_eq!(
            route(&Method::GET, "/exec/e1/json"),
            Route::ExecInspect(s("e1"))
        );
        assert_eq!(route(&Method::GET, "/exec/e1/start"), Route::NotFound);
        assert_eq!(route(&Method::POST, "/exec//start"), Route::NotFound);
    }
}
