//! The five capability sets of `process.capabilities`.
//!
//! Order matters (capabilities(7)): the bounding set is reduced while we
//! still hold CAP_SETPCAP; after the uid change (with keep-caps on) the
//! effective, permitted and inheritable sets are set in one `capset`, and
//! ambient capabilities last, because each must be both permitted and
//! inheritable. Capabilities this kernel does not know are skipped, as runc
//! does, so a spec written for a newer kernel still runs.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

/// Errors applying capabilities.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("process.capabilities: cannot set the {set} set: {message}")]
    Apply { set: &'static str, message: String },
}

fn convert(set: Option<&HashSet<oci_spec::runtime::Capability>>) -> CapsHashSet {
    let supported = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    let mut out = CapsHashSet::new();
    for cap in set.into_iter().flatten() {
        let Ok(name) = serde_json::to_value(cap) else {
            continue;
        };
        let Some(name) = name.as_str() else { continue };
        if let Ok(c) = Capability::from_str(name)
            && supported.contains(&c)
        {
            out.insert(c);
        }
    }
    out
}

/// Drops every capability not in `bounding` from the bounding set.
pub fn apply_bounding(spec: Option<&LinuxCapabilities>) -> Result<(), CapsError> {
    let keep = convert(spec.and_then(|c| c.bounding().as_ref()));
    let current = caps::read(None, CapSet::Bounding).map_err(|e| CapsError::Apply {
        set: "bounding",
        message: e.to_string(),
    })?;
    for cap in current.difference(&keep) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(|e| CapsError::Apply {
            set: "bounding",
            message: format!("{cap}: {e}"),
        })?;
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient sets.
pub fn apply_process(spec: Option<&LinuxCapabilities>) -> Result<(), CapsError> {
    let effective = convert(spec.and_then(|c| c.effective().as_ref()));
    let permitted = convert(spec.and_then(|c| c.permitted().as_ref()));
    let inheritable = convert(spec.and_then(|c| c.inheritable().as_ref()));
    let ambient = convert(spec.and_then(|c| c.ambient().as_ref()));
    let set = |which: CapSet, name: &'static str, value: &CapsHashSet| {
        caps::set(None, which, value).map_err(|e| CapsError::Apply {
            set: name,
            message: e.to_string(),
        })
    };
    // Raise permitted first so effective/inheritable may be any subset of it,
    // then lower it to the wanted value last.
    set(CapSet::Inheritable, "inheritable", &inheritable)?;
    set(
        CapSet::Effective,
        "effective",
        &effective.intersection(&permitted).copied().collect(),
    )?;
    set(CapSet::Permitted, "permitted", &permitted)?;
    set(CapSet::Effective, "effective", &effective)?;
    if caps::runtime::ambient_set_supported().is_ok() {
        // Like runc, raise what can be raised and skip the rest: the kernel
        // refuses ambient capabilities that are not also inheritable, and
        // `runc spec` writes an ambient set without an inheritable one.
        let _ = caps::clear(None, CapSet::Ambient);
        for cap in &ambient {
            let _ = caps::raise(None, CapSet::Ambient, *cap);
        }
    }
    Ok(())
}
