//! The security and isolation fields of a container's `HostConfig`: from a
//! create request into the engine's options, and back into inspect as
//! dockerd shows them.

use berth_api_types::container as api;
use berth_engine::container::security::SecurityOptions;
use serde_json::{Value, json};

/// `HostConfig`'s security fields and `Config.Domainname` of a create body.
pub(super) fn options(host: Option<&api::CreateHostConfig>, domainname: String) -> SecurityOptions {
    let Some(h) = host.map(|h| &h.security) else {
        return SecurityOptions {
            domainname,
            ..SecurityOptions::default()
        };
    };
    SecurityOptions {
        privileged: h.privileged,
        readonly_rootfs: h.readonly_rootfs,
        cap_add: h.cap_add.clone().unwrap_or_default(),
        cap_drop: h.cap_drop.clone().unwrap_or_default(),
        group_add: h.group_add.clone().unwrap_or_default(),
        security_opt: h.security_opt.clone().unwrap_or_default(),
        tmpfs: h.tmpfs.clone().unwrap_or_default(),
        pid_mode: h.pid_mode.clone(),
        ipc_mode: h.ipc_mode.clone(),
        uts_mode: h.uts_mode.clone(),
        shm_size: h.shm_size,
        domainname,
    }
}

/// Writes the stored options into inspect's `HostConfig` (`null` for an
/// empty list, as dockerd; `Tmpfs` only when set).
pub(super) fn host_config(o: &SecurityOptions, v: &mut Value) {
    let list = |l: &[String]| {
        if l.is_empty() { Value::Null } else { json!(l) }
    };
    let Some(map) = v.as_object_mut() else {
        return;
    };
    map.insert("Privileged".into(), json!(o.privileged));
    map.insert("ReadonlyRootfs".into(), json!(o.readonly_rootfs));
    map.insert("CapAdd".into(), list(&o.cap_add));
    map.insert("CapDrop".into(), list(&o.cap_drop));
    map.insert("GroupAdd".into(), list(&o.group_add));
    map.insert("SecurityOpt".into(), list(&o.security_opt));
    map.insert("PidMode".into(), json!(o.pid_mode));
    map.insert("IpcMode".into(), json!(o.ipc_mode_or_default()));
    map.insert("UTSMode".into(), json!(o.uts_mode));
    map.insert("ShmSize".into(), json!(o.shm_size_or_default()));
    if !o.tmpfs.is_empty() {
        map.insert("Tmpfs".into(), json!(o.tmpfs));
    }
}
