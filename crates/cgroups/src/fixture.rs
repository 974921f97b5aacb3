//! What the v1 and v2 fixture tests share: a tempdir standing in for the
//! cgroup mounts, the layout that points into it, and a container's
//! manager on it (`/berth/c1`). Each version's tests add their own
//! constructor (`Fixture::v1`, `Fixture::v2`).

use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;
use tempfile::TempDir;

use crate::{CgroupLayout, Manager, manager};

pub(crate) struct Fixture {
    pub(crate) tmp: TempDir,
    pub(crate) layout: CgroupLayout,
}

impl Fixture {
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        fs_err::read_to_string(self.path(rel)).unwrap()
    }

    pub(crate) fn manager(&self) -> Box<dyn Manager> {
        manager(&self.layout, Some("/berth/c1"), "c1").unwrap()
    }
}

/// OCI resources from their JSON.
pub(crate) fn res(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).unwrap()
}
