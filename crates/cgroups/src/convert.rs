//! Value conversions and checks shared by the v1 and v2 managers: which
//! controllers a set of resources needs, OCI values to file contents, and
//! the v1 → v2 unit conversions that runc and crun agree on
//! (runc libcontainer/cgroups/utils.go, crun src/libcrun/cgroup-resources.c).

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};

/// Controllers needed to apply `res`, each with the first resource that
/// needs it (for the error message). Names are v1 names; the v2 manager
/// maps `blkio` to `io` and drops what v2 has no controller for.
pub(crate) fn needed_controllers(res: &LinuxResources) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    let mut need = |c: &'static str, what: &'static str| {
        if !out.iter().any(|(have, _)| *have == c) {
            out.push((c, what));
        }
    };
    if let Some(m) = res.memory() {
        let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
        if set(m.limit()) || set(m.swap()) || set(m.reservation()) {
            need("memory", "set memory limits");
        }
        if m.swappiness().is_some() || m.disable_oom_killer() == Some(true) {
            need("memory", "set memory swappiness or OOM killer");
        }
    }
    if let Some(c) = res.cpu() {
        if c.shares().is_some_and(|s| s != 0)
            || c.quota().is_some_and(|q| q != 0)
            || c.period().is_some_and(|p| p != 0)
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_period().is_some_and(|p| p != 0)
            || c.realtime_runtime().is_some_and(|r| r != 0)
        {
            need("cpu", "set cpu limits");
        }
        if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
        {
            need("cpuset", "set cpuset cpus or mems");
        }
    }
    if res.pids().is_some() {
        need("pids", "set pids limit");
    }
    if let Some(b) = res.block_io() {
        let any = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
        if b.weight().is_some_and(|w| w != 0)
            || b.leaf_weight().is_some_and(|w| w != 0)
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || any(b.throttle_read_bps_device())
            || any(b.throttle_write_bps_device())
            || any(b.throttle_read_iops_device())
            || any(b.throttle_write_iops_device())
        {
            need("blkio", "set block I/O limits");
        }
    }
    if res
        .hugepage_limits()
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        need("hugetlb", "set hugepage limits");
    }
    if res.rdma().as_ref().is_some_and(|v| !v.is_empty()) {
        need("rdma", "set rdma limits");
    }
    if res.devices().as_ref().is_some_and(|v| !v.is_empty()) {
        need("devices", "set device access rules");
    }
    if let Some(n) = res.network() {
        if n.class_id().is_some() {
            need("net_cls", "set network class id");
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            need("net_prio", "set network priorities");
        }
    }
    out
}

pub(crate) fn invalid(what: &str, reason: impl Into<String>) -> Error {
    Error::InvalidResource {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// A memory value for v1: `-1` is unlimited, positive is bytes.
pub(crate) fn mem_v1(what: &str, v: i64) -> Result<String> {
    if v < -1 {
        return Err(invalid(
            what,
            format!("{v} is negative (use -1 for unlimited)"),
        ));
    }
    Ok(v.to_string())
}

/// A memory value for v2: `-1` becomes `max`.
pub(crate) fn mem_v2(what: &str, v: i64) -> Result<String> {
    if v < -1 {
        return Err(invalid(
            what,
            format!("{v} is negative (use -1 for unlimited)"),
        ));
    }
    Ok(if v == -1 {
        "max".to_owned()
    } else {
        v.to_string()
    })
}

/// The v2 `memory.swap.max` value for an OCI memory limit and swap limit
/// (the OCI `swap` is memory+swap, as v1's `memsw`; v2 limits swap alone).
/// `0` means "leave unset". Mirrors runc's `ConvertMemorySwapToCgroupV2Value`.
pub(crate) fn swap_v2(memory: i64, memory_swap: i64) -> Result<i64> {
    const WHAT: &str = "memory swap limit";
    // v1 compatibility: unlimited memory with swap not given means both
    // unlimited.
    if memory == -1 && memory_swap == 0 {
        return Ok(-1);
    }
    if memory_swap == -1 || memory_swap == 0 {
        return Ok(memory_swap);
    }
    if memory == 0 || memory == -1 {
        return Err(invalid(
            WHAT,
            "a swap limit needs a memory limit (swap is memory+swap, as in cgroup v1)",
        ));
    }
    if memory < 0 || memory_swap < 0 {
        return Err(invalid(WHAT, format!("negative value {memory_swap}")));
    }
    if memory_swap < memory {
        return Err(invalid(
            WHAT,
            format!("memory+swap ({memory_swap}) must not be below the memory limit ({memory})"),
        ));
    }
    Ok(memory_swap - memory)
}

/// v1 `cpu.shares` (2..=262144) to v2 `cpu.weight` (1..=10000):
/// `1 + ((shares - 2) * 9999) / 262142`, runc's formula, which maps the
/// default 1024 to 39 (not 100; runc and crun accept that to stay
/// compatible with each other).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// v1 `blkio.weight` (10..=1000) to v2 `io.weight` (1..=10000):
/// `1 + ((weight - 10) * 9999) / 990` (runc `ConvertBlkIOToIOWeightValue`).
pub(crate) fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    1 + ((weight - 10) * 9999) / 990
}

/// Hugepage sizes become part of a file name (`hugetlb.2MB.max`): only
/// `<digits><unit>` is accepted, so a spec cannot name another file.
pub(crate) fn hugepage_size(size: &str) -> Result<&str> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit())
        || size.len() == digits.len()
        || !size[digits.len()..].ends_with('B')
    {
        return Err(invalid(
            "hugepage limit",
            format!("page size `{size}` is not of the form `2MB`, `1GB`, `64KB`"),
        ));
    }
    Ok(size)
}

/// `pids.max` content: a positive limit, or `max` for 0 and negative values
/// (the OCI spec and runc treat `-1` and `0` as unlimited).
pub(crate) fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_owned()
    }
}

/// Device numbers in `MAJ:MIN` form for blkio/io files.
pub(crate) fn dev(what: &str, major: i64, minor: i64) -> Result<String> {
    if major < 0 || minor < 0 {
        return Err(invalid(
            what,
            format!("device {major}:{minor} has a negative number"),
        ));
    }
    Ok(format!("{major}:{minor}"))
}

/// The RDMA limits line of one device (`rdma.max`, same syntax in v1 and
/// v2): `mlx4_0 hca_handle=2 hca_object=2000`. `None` when nothing is set.
pub(crate) fn rdma_line(
    device: &str,
    limit: &oci_spec::runtime::LinuxRdma,
) -> Result<Option<String>> {
    if device.is_empty() || device.contains(char::is_whitespace) {
        return Err(invalid("rdma limit", format!("bad device name `{device}`")));
    }
    let mut line = device.to_owned();
    if let Some(h) = limit.hca_handles() {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = limit.hca_objects() {
        line.push_str(&format!(" hca_object={o}"));
    }
    Ok((line.len() > device.len()).then_some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_weight_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1, "clamped, no underflow");
        assert_eq!(shares_to_weight(1 << 40), 10_000);
    }

    #[test]
    fn blkio_weight_matches_runc() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_v2(-1, 0).unwrap(), -1);
        assert_eq!(swap_v2(100, 0).unwrap(), 0);
        assert_eq!(swap_v2(100, -1).unwrap(), -1);
        assert_eq!(swap_v2(100, 300).unwrap(), 200);
        assert_eq!(swap_v2(100, 100).unwrap(), 0);
        assert!(swap_v2(0, 300).is_err());
        assert!(swap_v2(-1, 300).is_err());
        let err = swap_v2(300, 100).unwrap_err().to_string();
        assert!(err.contains("must not be below the memory limit"), "{err}");
    }

    #[test]
    fn memory_values() {
        assert_eq!(mem_v2("m", -1).unwrap(), "max");
        assert_eq!(mem_v2("m", 4096).unwrap(), "4096");
        assert_eq!(mem_v1("m", -1).unwrap(), "-1");
        assert!(mem_v1("m", -2).is_err());
    }

    #[test]
    fn pids_values() {
        assert_eq!(pids_max(-1), "max");
        assert_eq!(pids_max(0), "max");
        assert_eq!(pids_max(32), "32");
    }

    #[test]
    fn hugepage_sizes() {
        assert_eq!(hugepage_size("2MB").unwrap(), "2MB");
        assert_eq!(hugepage_size("1GB").unwrap(), "1GB");
        for bad in ["", "MB", "2", "../x", "2MB/../x", "2 MB", "2Mb"] {
            assert!(hugepage_size(bad).is_err(), "{bad}");
        }
    }
}
