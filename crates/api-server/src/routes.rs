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
    NotFound,
}

pub fn route(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["_ping"]) => Route::Ping,
        ("HEAD", ["_ping"]) => Route::PingHead,
        ("GET", ["version"]) => Route::Version,
        ("GET", ["info"]) => Route::Info,
        _ => Route::NotFound,
    }
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
        assert_eq!(route(&Method::POST, "/info"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/info/"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/nope"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/"), Route::NotFound);
    }
}
