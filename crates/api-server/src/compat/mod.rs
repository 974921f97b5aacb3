//! Everything that depends on the Engine API version, and nothing else does.
//!
//! - Paths: `/v1.NN/...` and unversioned paths reach the same routes
//!   ([`split_version`]); an unversioned request means the newest version.
//! - Range: [`MIN_API_VERSION`] ≤ version ≤ [`API_VERSION`], else HTTP 400 with
//!   dockerd's exact message ([`check`]).
//! - Headers every response carries ([`stamp_headers`]).
//! - Docker's spellings of platform names ([`go_arch`]).
//!
//! Per-version request/response adapters go in `compat/v1_NN.rs` when a
//! served endpoint first differs between versions; handlers never compare
//! versions themselves (moby's router has 105 such checks).

mod v1_48;

use std::cmp::Ordering;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
pub use berth_api_types::{API_VERSION, MIN_API_VERSION};

use crate::error::ApiError;

/// The `Server` header: Docker's `Docker/<version> (<os>)` shape, naming the
/// Docker release whose API berth speaks and berth's own version, so logs on
/// the client side show who answered.
pub const SERVER_HEADER: &str = concat!(
    "Docker/28.3.3-berth.",
    env!("CARGO_PKG_VERSION"),
    " (linux)"
);

/// Splits `/v1.51/info` into (`Some("1.51")`, `/info`). A path without a
/// version prefix, or with a prefix that is not `v` + digits and dots followed
/// by `/` (dockerd's `/v{version:[0-9.]+}` route), is returned whole.
pub fn split_version(path: &str) -> (Option<&str>, &str) {
    let Some(after_v) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let Some(slash) = after_v.find('/') else {
        return (None, path);
    };
    let version = &after_v[..slash];
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return (None, path);
    }
    (Some(version), &after_v[slash..])
}

pub use berth_api_types::version::compare;

/// Accepts a requested version in the served range; otherwise dockerd's
/// messages (an invalid-parameter error, hence 400).
pub fn check(version: &str) -> Result<(), ApiError> {
    if compare(version, MIN_API_VERSION) == Ordering::Less {
        return Err(ApiError::invalid_argument(format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if compare(version, API_VERSION) == Ordering::Greater {
        return Err(ApiError::invalid_argument(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(())
}

/// The headers dockerd's middleware puts on every response. Clients read
/// `Api-Version` and `Ostype` (the docker CLI from `/_ping`) to negotiate.
pub fn stamp_headers(headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(API_VERSION),
    );
    headers.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
    headers.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    headers.insert(
        axum::http::header::SERVER,
        HeaderValue::from_static(SERVER_HEADER),
    );
}

/// Shapes `/info` for the version the client asked for; adapters run from
/// the newest to the oldest so each only knows its own step.
pub fn adapt_info(version: &str, info: &mut berth_api_types::SystemInfo) {
    if compare(version, "1.49") == Ordering::Less {
        v1_48::info(info);
    }
}

/// Refuses, as dockerd's create route does, mount options newer than the
/// API version of the request: `VolumeOptions.Subpath` (1.45) and mount
/// type `image` (1.48). Bad parameters (400), with dockerd's messages.
pub fn check_create_mounts(
    version: &str,
    mounts: &[berth_engine::container::mounts::MountRequest],
) -> Result<(), ApiError> {
    if compare(version, "1.45") == Ordering::Less
        && mounts.iter().any(|m| {
            m.volume_options
                .as_ref()
                .is_some_and(|o| !o.subpath.is_empty())
        })
    {
        return Err(ApiError::invalid_argument(
            "VolumeOptions.Subpath needs API v1.45 or newer",
        ));
    }
    if compare(version, "1.48") == Ordering::Less && mounts.iter().any(|m| m.kind == "image") {
        return Err(ApiError::invalid_argument(
            r#"Mount type "Image" needs API v1.48 or newer"#,
        ));
    }
    Ok(())
}

/// `POST /networks/create`'s `EnableIPv4` (`--ipv4=false`), as dockerd
/// reads it: only from API 1.48, which brought it in.
pub fn network_enable_ipv4(version: &str, enable_ipv4: Option<bool>) -> Option<bool> {
    if compare(version, "1.48") == Ordering::Less {
        return None;
    }
    enable_ipv4
}

/// Go's `GOARCH` for a `uname -m` / Rust architecture name; `/version`
/// reports `Arch` in Go's vocabulary (`amd64`), `/info` in uname's (`x86_64`).
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i686" | "i386" => "386",
        "arm" => "arm",
        "powerpc64le" | "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" | "riscv64gc" => "riscv64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_mounts_need_their_api_version() {
        use berth_engine::container::mounts::{MountRequest, VolumeOptions};
        let subpath = MountRequest {
            kind: "volume".into(),
            source: "v".into(),
            target: "/m".into(),
            volume_options: Some(VolumeOptions {
                subpath: "sub".into(),
                ..VolumeOptions::default()
            }),
            ..MountRequest::default()
        };
        let image = MountRequest {
            kind: "image".into(),
            source: "img".into(),
            target: "/i".into(),
            ..MountRequest::default()
        };
        let msg = |v: &str, m: &MountRequest| {
            check_create_mounts(v, std::slice::from_ref(m))
                .err()
                .map(|e| e.message().to_owned())
        };
        assert_eq!(
            msg("1.44", &subpath).as_deref(),
            Some("VolumeOptions.Subpath needs API v1.45 or newer")
        );
        assert_eq!(msg("1.45", &subpath), None);
        assert_eq!(
            msg("1.47", &image).as_deref(),
            Some(r#"Mount type "Image" needs API v1.48 or newer"#)
        );
        assert_eq!(msg("1.48", &image), None);
        assert_eq!(msg(API_VERSION, &image), None);
    }

    #[test]
    fn split() {
        assert_eq!(split_version("/v1.51/info"), (Some("1.51"), "/info"));
        assert_eq!(split_version("/v1.24/_ping"), (Some("1.24"), "/_ping"));
        assert_eq!(
            split_version("/v1.51/containers/x/json"),
            (Some("1.51"), "/containers/x/json")
        );
        assert_eq!(split_version("/info"), (None, "/info"));
        assert_eq!(split_version("/v1.51"), (None, "/v1.51"));
        assert_eq!(split_version("/v/info"), (None, "/v/info"));
        assert_eq!(split_version("/vx/info"), (None, "/vx/info"));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
    }

    #[test]
    fn range() {
        assert!(check("1.24").is_ok());
        assert!(check("1.41").is_ok());
        assert!(check("1.51").is_ok());
        assert_eq!(
            check("1.52").unwrap_err().message(),
            "client version 1.52 is too new. Maximum supported API version is 1.51"
        );
        assert_eq!(
            check("1.23").unwrap_err().message(),
            "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
        );
        assert_eq!(
            check("1.23").unwrap_err().class(),
            berth_engine::ErrorClass::InvalidArgument
        );
    }

    #[test]
    fn info_bridge_fields_only_before_1_49() {
        let mut info = berth_api_types::SystemInfo::default();
        adapt_info("1.51", &mut info);
        assert_eq!(info.bridge_nf_iptables, None);
        adapt_info("1.49", &mut info);
        assert_eq!(info.bridge_nf_iptables, None);
        adapt_info("1.48", &mut info);
        assert_eq!(info.bridge_nf_iptables, Some(false));
        assert_eq!(info.bridge_nf_ip6tables, Some(false));
    }

    #[test]
    fn arch_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
    }
}
