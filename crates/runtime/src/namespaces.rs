//! Linux namespaces: which to create, which to join, and in what order.
//!
//! Namespaces listed in `linux.namespaces` without a `path` are created by
//! the clone that starts init; those with a `path` are joined with `setns`
//! before that clone. The user namespace is joined first, because joining
//! the others may need the capabilities it grants; the mount namespace is
//! joined last among those that change what paths mean.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

/// Errors while creating or joining namespaces.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("linux.namespaces: the {0:?} namespace is not supported by berth-runtime")]
    Unsupported(String),
    #[error("linux.namespaces: cannot open {kind} namespace {path}: {errno}")]
    Open {
        kind: String,
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error("linux.namespaces: cannot join {kind} namespace {path}: {errno}")]
    Join {
        kind: String,
        path: PathBuf,
        errno: nix::errno::Errno,
    },
}

/// The clone flag for a namespace type.
pub fn clone_flag(typ: LinuxNamespaceType) -> Result<CloneFlags, NamespaceError> {
    Ok(match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => return Err(NamespaceError::Unsupported("time".into())),
    })
}

/// The file name under `/proc/<pid>/ns/` for a namespace type.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Join order: user first, mount last.
fn join_rank(typ: LinuxNamespaceType) -> u8 {
    match typ {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 9,
        _ => 5,
    }
}

/// A namespace to join, opened before any `setns` so later joins cannot
/// change what its path refers to.
#[derive(Debug)]
pub struct ToJoin {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

/// The plan for a set of namespaces: flags for the new ones, open fds for
/// the ones to join (already in join order).
#[derive(Debug)]
pub struct Plan {
    pub new: CloneFlags,
    pub join: Vec<ToJoin>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            new: CloneFlags::empty(),
            join: Vec::new(),
        }
    }
}

impl Plan {
    /// Builds the plan for `linux.namespaces`.
    pub fn from_spec(namespaces: &[LinuxNamespace]) -> Result<Self, NamespaceError> {
        let mut plan = Plan::default();
        for ns in namespaces {
            let flag = clone_flag(ns.typ())?;
            match ns.path() {
                None => plan.new |= flag,
                Some(path) => plan.join.push(open(ns.typ(), path.clone())?),
            }
        }
        plan.join.sort_by_key(|j| join_rank(j.typ));
        Ok(plan)
    }

    /// Builds the plan to enter every namespace of process `pid` that is
    /// listed in `namespaces` (for `exec`).
    pub fn enter_process(pid: i32, namespaces: &[LinuxNamespace]) -> Result<Self, NamespaceError> {
        let mut plan = Plan::default();
        for ns in namespaces {
            clone_flag(ns.typ())?;
            let path = PathBuf::from(format!("/proc/{pid}/ns/{}", proc_name(ns.typ())));
            // Joining a user namespace we are already in fails with EINVAL;
            // the container may share ours.
            if ns.typ() == LinuxNamespaceType::User && same_as_self(&path, "user") {
                continue;
            }
            plan.join.push(open(ns.typ(), path)?);
        }
        plan.join.sort_by_key(|j| join_rank(j.typ));
        Ok(plan)
    }

    pub fn creates(&self, typ: LinuxNamespaceType) -> bool {
        clone_flag(typ).is_ok_and(|f| self.new.contains(f))
    }

    pub fn joins(&self, typ: LinuxNamespaceType) -> bool {
        self.join.iter().any(|j| j.typ == typ)
    }

    /// `setns` into every namespace to join, in order.
    pub fn join_all(&self) -> Result<(), NamespaceError> {
        for j in &self.join {
            let flag = clone_flag(j.typ)?;
            nix::sched::setns(&j.fd, flag).map_err(|errno| NamespaceError::Join {
                kind: proc_name(j.typ).to_string(),
                path: j.path.clone(),
                errno,
            })?;
        }
        Ok(())
    }
}

fn same_as_self(path: &std::path::Path, name: &str) -> bool {
    match (
        fs_err::read_link(path),
        fs_err::read_link(format!("/proc/self/ns/{name}")),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn open(typ: LinuxNamespaceType, path: PathBuf) -> Result<ToJoin, NamespaceError> {
    let fd = nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(
        |errno| NamespaceError::Open {
            kind: proc_name(typ).to_string(),
            path: path.clone(),
            errno,
        },
    )?;
    Ok(ToJoin { typ, path, fd })
}
