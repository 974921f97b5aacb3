//! Turning the OCI `linux.cgroupsPath` into a directory inside each
//! hierarchy.
//!
//! The runtime spec (config-linux.md, "Cgroups path") says an absolute path
//! is relative to the cgroup mount point and a relative path is relative to
//! the runtime's own cgroup. runc defaults to `/<id>`; berth defaults to
//! `/berth/<id>` so its containers are grouped. The systemd driver's
//! `slice:prefix:name` form is rejected: berth only has the cgroupfs driver.
//!
//! The result never contains `..`, so a spec cannot make berth write limits
//! (or rmdir) outside the hierarchy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where the container's cgroup goes, before it is joined to a mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CgroupPath {
    /// Relative to the hierarchy root (no leading `/`).
    FromRoot(PathBuf),
    /// Relative to the caller's own cgroup in each hierarchy.
    FromOwn(PathBuf),
}

/// Parses `linux.cgroupsPath` (`None` = not set).
pub(crate) fn parse(cgroups_path: Option<&str>, container_id: &str) -> Result<CgroupPath> {
    let Some(raw) = cgroups_path.filter(|p| !p.is_empty()) else {
        let id = normalize(container_id, container_id)?;
        if id.components().count() != 1 {
            return Err(Error::InvalidPath {
                path: container_id.to_owned(),
                reason: "the container id is used as the cgroup name and must be a single path component".to_owned(),
            });
        }
        return Ok(CgroupPath::FromRoot(Path::new("berth").join(id)));
    };
    if !raw.starts_with('/') && raw.split(':').count() == 3 {
        return Err(Error::SystemdPath {
            path: raw.to_owned(),
        });
    }
    let norm = normalize(raw, raw)?;
    if norm.as_os_str().is_empty() {
        return Err(Error::InvalidPath {
            path: raw.to_owned(),
            reason: "it names the hierarchy root (or the runtime's own cgroup), which a container must not take over".to_owned(),
        });
    }
    if raw.starts_with('/') {
        Ok(CgroupPath::FromRoot(norm))
    } else {
        Ok(CgroupPath::FromOwn(norm))
    }
}

/// Splits `path` into components, dropping empty ones and `.`, rejecting
/// `..`.
fn normalize(path: &str, shown: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                return Err(Error::InvalidPath {
                    path: shown.to_owned(),
                    reason: "`..` is not allowed".to_owned(),
                });
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The caller's cgroups, from `/proc/self/cgroup` (cgroups(7)):
/// `hierarchy-id:controller-list:path` per line; `0::path` is v2.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct OwnCgroups {
    /// v1 controller (or `name=...`) to path.
    pub(crate) v1: HashMap<String, PathBuf>,
    /// The v2 (`0::`) path.
    pub(crate) v2: Option<PathBuf>,
}

impl OwnCgroups {
    pub(crate) fn parse(content: &str) -> Self {
        let mut own = Self::default();
        for line in content.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            // Relative to the hierarchy root; a "(deleted)" suffix or a path
            // outside our cgroup namespace ("/../..") cannot be joined.
            let Ok(rel) = normalize(path, path) else {
                continue;
            };
            if controllers.is_empty() {
                own.v2 = Some(rel);
            } else {
                for c in controllers.split(',') {
                    own.v1.insert(c.to_owned(), rel.clone());
                }
            }
        }
        own
    }

    /// Reads `/proc/self/cgroup`.
    pub(crate) fn read_self() -> Result<Self> {
        let content = crate::fsutil::read(
            Path::new("/proc/self/cgroup"),
            "resolve a relative cgroups path",
        )?;
        Ok(Self::parse(&content))
    }
}

impl CgroupPath {
    /// The directory below a v1 hierarchy mounted for `controller`.
    pub(crate) fn for_v1(&self, controller: &str, own: Option<&OwnCgroups>) -> Result<PathBuf> {
        match self {
            Self::FromRoot(p) => Ok(p.clone()),
            Self::FromOwn(p) => {
                let base =
                    own.and_then(|o| o.v1.get(controller))
                        .ok_or_else(|| Error::NoOwnCgroup {
                            hierarchy: controller.to_owned(),
                        })?;
                Ok(base.join(p))
            }
        }
    }

    /// The directory below the v2 hierarchy.
    pub(crate) fn for_v2(&self, own: Option<&OwnCgroups>) -> Result<PathBuf> {
        match self {
            Self::FromRoot(p) => Ok(p.clone()),
            Self::FromOwn(p) => {
                let base = own
                    .and_then(|o| o.v2.as_ref())
                    .ok_or_else(|| Error::NoOwnCgroup {
                        hierarchy: "0::".to_owned(),
                    })?;
                Ok(base.join(p))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_berth_slash_id() {
        assert_eq!(
            parse(None, "abc").unwrap(),
            CgroupPath::FromRoot(PathBuf::from("berth/abc"))
        );
        assert_eq!(
            parse(Some(""), "abc").unwrap(),
            CgroupPath::FromRoot(PathBuf::from("berth/abc"))
        );
    }

    #[test]
    fn bad_ids_are_rejected() {
        for id in ["", "..", "a/b", "/"] {
            assert!(
                matches!(parse(None, id), Err(Error::InvalidPath { .. })),
                "{id}"
            );
        }
    }

    #[test]
    fn absolute_is_from_root_and_normalized() {
        assert_eq!(
            parse(Some("/berth//x/./y/"), "id").unwrap(),
            CgroupPath::FromRoot(PathBuf::from("berth/x/y"))
        );
    }

    #[test]
    fn relative_is_from_own() {
        assert_eq!(
            parse(Some("sub/c1"), "id").unwrap(),
            CgroupPath::FromOwn(PathBuf::from("sub/c1"))
        );
    }

    #[test]
    fn dotdot_and_root_are_rejected() {
        let err = parse(Some("/berth/../../etc"), "id").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid cgroups path `/berth/../../etc`: `..` is not allowed"
        );
        assert!(matches!(
            parse(Some("/"), "id"),
            Err(Error::InvalidPath { .. })
        ));
    }

    #[test]
    fn systemd_form_is_a_clear_error() {
        let err = parse(Some("system.slice:docker:abc"), "abc").unwrap_err();
        assert!(matches!(err, Error::SystemdPath { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("systemd cgroup paths are not supported"),
            "{msg}"
        );
        assert!(msg.contains("`system.slice:docker:abc`"), "{msg}");
        assert!(msg.contains("/berth/<id>"), "{msg}");
        // An absolute path with colons is just a path.
        assert!(parse(Some("/a:b:c"), "abc").is_ok());
    }

    #[test]
    fn own_cgroups_parse() {
        let own = OwnCgroups::parse(
            "9:name=systemd:/\n4:memory:/process_api/7c6c\n1:cpu,cpuacct:/user.slice\n0::/init.scope\n",
        );
        assert_eq!(own.v1["memory"], PathBuf::from("process_api/7c6c"));
        assert_eq!(own.v1["cpu"], PathBuf::from("user.slice"));
        assert_eq!(own.v1["cpuacct"], PathBuf::from("user.slice"));
        assert_eq!(own.v1["name=systemd"], PathBuf::new());
        assert_eq!(own.v2, Some(PathBuf::from("init.scope")));

        let rel = parse(Some("c1"), "id").unwrap();
        assert_eq!(
            rel.for_v1("memory", Some(&own)).unwrap(),
            PathBuf::from("process_api/7c6c/c1")
        );
        assert_eq!(
            rel.for_v2(Some(&own)).unwrap(),
            PathBuf::from("init.scope/c1")
        );
        assert!(matches!(
            rel.for_v1("pids", Some(&own)),
            Err(Error::NoOwnCgroup { .. })
        ));
    }
}
