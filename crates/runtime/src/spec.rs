//! Loading and validating a bundle's `config.json`.
//!
//! The OCI runtime spec leaves a lot to the runtime; this module checks what
//! the rest of the runtime relies on, so later stages can assume a sane spec
//! and every mistake is reported once, naming the field that is wrong (for
//! example `config.json: linux.namespaces[2].type: unknown variant "foo"`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// What is wrong with a bundle or its `config.json`.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {message}")]
    Parse {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Reads and validates `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let data = fs_err::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&data, &path)
}

/// Parses `config.json` bytes, naming the offending field on error.
pub fn parse(data: &[u8], path: &Path) -> Result<Spec, SpecError> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        SpecError::Parse {
            path: path.to_path_buf(),
            field: if field == "." {
                format!("line {} column {}", inner.line(), inner.column())
            } else {
                field
            },
            message: strip_position(&inner.to_string()),
        }
    })?;
    Ok(spec)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(idx) => message[..idx].to_string(),
        None => message.to_string(),
    }
}

/// Checks the parts of `spec` that `create` and `run` rely on.
///
/// `bundle` is the bundle directory; the root filesystem path in `root.path`
/// is resolved against it and must exist.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf, SpecError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing: the bundle must name its root filesystem"))?;
    let rootfs = bundle.join(root.path());
    let rootfs = fs_err::canonicalize(&rootfs).map_err(|err| {
        invalid(
            "root.path",
            format!("{}: {}", rootfs.display(), io_reason(&err)),
        )
    })?;
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing: nothing to run"))?;
    validate_process(process, "process")?;
    if let Some(linux) = spec.linux() {
        let mut seen = HashSet::new();
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if !seen.insert(ns.typ()) {
                return Err(invalid(
                    format!("linux.namespaces[{i}]"),
                    format!("namespace {:?} is listed twice", ns.typ().to_string()),
                ));
            }
            if let Some(path) = ns.path() {
                if !path.is_absolute() {
                    return Err(invalid(
                        format!("linux.namespaces[{i}].path"),
                        format!("{} is not an absolute path", path.display()),
                    ));
                }
                if let Err(err) = fs_err::metadata(path) {
                    return Err(invalid(
                        format!("linux.namespaces[{i}].path"),
                        format!("{}: {}", path.display(), io_reason(&err)),
                    ));
                }
            }
        }
        let has = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
        if has(LinuxNamespaceType::User)
            && linux
                .namespaces()
                .iter()
                .flatten()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
            && linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
        {
            return Err(invalid(
                "linux.uidMappings",
                "a new user namespace needs uid and gid mappings",
            ));
        }
        if !has(LinuxNamespaceType::Uts) && spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        {
            return Err(invalid(
                "hostname",
                "setting the hostname needs a new UTS namespace (add {\"type\": \"uts\"} to linux.namespaces)",
            ));
        }
        if linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()) && linux.namespaces().is_none() {
            return Err(invalid("linux.sysctl", "sysctls need namespaces"));
        }
    }
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        if !mount.destination().is_absolute() {
            return Err(invalid(
                format!("mounts[{i}].destination"),
                format!("{} is not an absolute path", mount.destination().display()),
            ));
        }
    }
    Ok(rootfs)
}

/// Checks a process description (the container's, or one passed to `exec`).
pub fn validate_process(
    process: &oci_spec::runtime::Process,
    field: &str,
) -> Result<(), SpecError> {
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => {
            return Err(invalid(
                format!("{field}.args"),
                "empty: give the command to run",
            ));
        }
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            format!("{field}.cwd"),
            format!(
                "{:?} is not an absolute path",
                process.cwd().display().to_string()
            ),
        ));
    }
    Ok(())
}

/// The human part of an io::Error, without Rust's "(os error N)" suffix,
/// also for errors that `fs_err` wrapped with their path.
pub fn io_reason(err: &std::io::Error) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(code) = io.raw_os_error()
        {
            return nix::errno::Errno::from_raw(code).desc().to_lowercase();
        }
        cur = e.source();
    }
    // fs_err hides the original error behind its message
    // ("failed to open file `x`: No such file or directory (os error 2)").
    let text = err.to_string();
    let text = match text.rfind(" (os error ") {
        Some(idx) => &text[..idx],
        None => &text,
    };
    let text = match text.rfind("`: ") {
        Some(idx) => &text[idx + 3..],
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Warnings for security labels berth-runtime cannot apply: it has no
/// AppArmor or SELinux support, and says so instead of failing (runc fails
/// only when the host has the LSM enabled; here the label is ignored either
/// way, and the warning says whether the host could have enforced it).
pub fn lsm_warnings(spec: &Spec, process: Option<&oci_spec::runtime::Process>) -> Vec<String> {
    let mut out = Vec::new();
    let apparmor_on = std::path::Path::new("/sys/kernel/security/apparmor").exists();
    let selinux_on = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    let why = |on: bool, lsm: &str| {
        if on {
            format!("berth-runtime does not apply {lsm} labels yet")
        } else {
            format!("{lsm} is not enabled on this host")
        }
    };
    if let Some(p) = process {
        if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
            out.push(format!(
                "process.apparmorProfile {profile:?} ignored: {}",
                why(apparmor_on, "AppArmor")
            ));
        }
        if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
            out.push(format!(
                "process.selinuxLabel {label:?} ignored: {}",
                why(selinux_on, "SELinux")
            ));
        }
    }
    if let Some(label) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref())
        .filter(|s| !s.is_empty())
    {
        out.push(format!(
            "linux.mountLabel {label:?} ignored: {}",
            why(selinux_on, "SELinux")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_namespace_names_the_field() {
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let err = parse(json, Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.namespaces[1]"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn malformed_json_names_the_position() {
        let err = parse(b"{\"ociVersion\": ", Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config.json: "), "{err}");
    }

    #[test]
    fn missing_rootfs_names_root_path() {
        let dir = tempfile::tempdir().unwrap();
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"nope"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}}}"#;
        let spec = parse(json, Path::new("config.json")).unwrap();
        let err = validate(&spec, dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("root.path: "), "{err}");
        assert!(err.contains("no such file or directory"), "{err}");
    }

    #[test]
    fn empty_args_rejected() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("rootfs")).unwrap();
        let json = br#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}}"#;
        let spec = parse(json, Path::new("config.json")).unwrap();
        let err = validate(&spec, dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("process.args: "), "{err}");
    }
}
