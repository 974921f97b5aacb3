//! `--init` (docker's `HostConfig.Init`, and berthd's `--init` default):
//! the static `berth-init` binary (crates/init, built by `build.rs`) is
//! embedded here, written once per daemon start to `<exec-root>/berth-init`,
//! bind-mounted read-only into the container at docker's path
//! `/sbin/docker-init`, and put before the container's command
//! (`/sbin/docker-init -- COMMAND ...`), as dockerd does with its
//! `docker-init`. It forwards signals to the command and reaps zombies.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::ContainerError;
use super::model::Container;
use super::store;

/// The static `berth-init`.
const BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Where the container sees it (dockerd's `inContainerInitPath`).
pub(crate) const IN_CONTAINER: &str = "/sbin/docker-init";

/// Where the daemon keeps it.
pub(crate) fn host_path(exec_root: &Path) -> PathBuf {
    exec_root.join("berth-init")
}

/// Writes the binary (0755) to [`host_path`], atomically: running
/// containers keep the copy they have bound.
pub(crate) fn install(exec_root: &Path) -> Result<(), ContainerError> {
    use std::os::unix::fs::PermissionsExt;

    let path = host_path(exec_root);
    store::write_atomic(&path, BINARY, store::Durability::UntilReboot)?;
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| store::io(&path, e))
}

/// Whether `c` runs under init: its `--init`, else the daemon's default.
pub(crate) fn wanted(c: &Container, default: bool) -> bool {
    c.options.init.unwrap_or(default)
}

/// Adds the bind mount and the init in front of the process's arguments to
/// a spec in the making (`config.json` as JSON).
pub(crate) fn apply(spec: &mut Value, binary: &Path) {
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.push(json!({
            "destination": IN_CONTAINER,
            "type": "bind",
            "source": binary,
            "options": ["bind", "ro"],
        }));
    }
    if let Some(args) = spec["process"]["args"].as_array_mut() {
        args.splice(0..0, [json!(IN_CONTAINER), json!("--")]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_goes_first_and_is_bound_read_only() {
        let mut spec = json!({"process": {"args": ["sleep", "1"]}, "mounts": []});
        apply(&mut spec, Path::new("/run/berth/berth-init"));
        assert_eq!(
            spec["process"]["args"],
            json!(["/sbin/docker-init", "--", "sleep", "1"])
        );
        assert_eq!(spec["mounts"][0]["source"], "/run/berth/berth-init");
        assert_eq!(spec["mounts"][0]["options"], json!(["bind", "ro"]));
    }

    #[test]
    fn the_embedded_binary_is_static() {
        // An ELF executable without a program interpreter (PT_INTERP = 3).
        assert_eq!(&BINARY[..4], b"\x7fELF");
        let u64_at = |o: usize| u64::from_le_bytes(BINARY[o..o + 8].try_into().unwrap());
        let u16_at = |o: usize| u16::from_le_bytes(BINARY[o..o + 2].try_into().unwrap());
        let phoff = usize::try_from(u64_at(0x20)).unwrap();
        let (size, count) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
        for i in 0..count {
            let p = phoff + i * size;
            let kind = u32::from_le_bytes(BINARY[p..p + 4].try_into().unwrap());
            assert_ne!(kind, 3, "berth-init needs a dynamic loader");
        }
    }
}
