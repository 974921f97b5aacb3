//! Fixture tests for the v1 manager: a tempdir stands in for
//! `/sys/fs/cgroup`, with one directory per hierarchy.

use std::collections::HashMap;
use std::path::Path;

use super::swap_first;
use crate::fixture::{Fixture, res};
use crate::{CgroupLayout, Error, manager, manager_with_own_cgroup};

impl Fixture {
    /// Separate cpu and cpuacct (as on the dev machines), co-mounted
    /// net_cls,net_prio, a named systemd hierarchy and a hybrid unified
    /// mount.
    fn v1() -> Self {
        Self::v1_with(&[
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
            "rdma",
        ])
    }

    fn v1_with(controllers: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut mounts = HashMap::new();
        for c in controllers {
            let dir = tmp.path().join(c);
            fs_err::create_dir_all(&dir).unwrap();
            mounts.insert((*c).to_owned(), dir);
        }
        let netdir = tmp.path().join("net_cls,net_prio");
        fs_err::create_dir_all(&netdir).unwrap();
        mounts.insert("net_cls".to_owned(), netdir.clone());
        mounts.insert("net_prio".to_owned(), netdir);
        let sysd = tmp.path().join("systemd");
        fs_err::create_dir_all(&sysd).unwrap();
        mounts.insert("name=systemd".to_owned(), sysd);
        let unified = tmp.path().join("unified");
        fs_err::create_dir_all(&unified).unwrap();
        if controllers.contains(&"cpuset") {
            fs_err::write(tmp.path().join("cpuset/cpuset.cpus"), "0-3\n").unwrap();
            fs_err::write(tmp.path().join("cpuset/cpuset.mems"), "0\n").unwrap();
        }
        let layout = CgroupLayout::V1 {
            mounts,
            unified: Some(unified),
        };
        Self { tmp, layout }
    }
}

#[test]
fn apply_creates_a_dir_per_hierarchy_and_copies_cpuset() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    for h in [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "hugetlb",
        "rdma",
        "net_cls,net_prio",
        "systemd",
        "unified",
    ] {
        assert!(f.path(h).join("berth/c1").is_dir(), "{h}");
    }
    // New cpuset cgroups start empty; both levels get the parent's values.
    assert_eq!(f.read("cpuset/berth/cpuset.cpus"), "0-3");
    assert_eq!(f.read("cpuset/berth/cpuset.mems"), "0");
    assert_eq!(f.read("cpuset/berth/c1/cpuset.cpus"), "0-3");
    assert_eq!(f.read("cpuset/berth/c1/cpuset.mems"), "0");
    // Co-mounted controllers share one directory; unified is included.
    let paths = m.paths();
    assert_eq!(paths.len(), 13);
    assert!(paths.contains(&f.path("net_cls,net_prio/berth/c1")));
    assert!(paths.contains(&f.path("unified/berth/c1")));
    // Idempotent.
    m.apply(None).unwrap();
}

#[test]
fn existing_cpuset_values_are_kept() {
    let f = Fixture::v1();
    fs_err::create_dir_all(f.path("cpuset/berth")).unwrap();
    fs_err::write(f.path("cpuset/berth/cpuset.cpus"), "1\n").unwrap();
    f.manager().apply(None).unwrap();
    assert_eq!(f.read("cpuset/berth/cpuset.cpus"), "1\n");
    assert_eq!(f.read("cpuset/berth/c1/cpuset.cpus"), "1");
}

#[test]
fn every_resource_maps_to_its_v1_file() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(Some(&res(serde_json::json!({
        "memory": {
            "limit": 67108864, "reservation": 33554432, "swap": 134217728,
            "kernel": 1000, "kernelTCP": 1000, "swappiness": 10, "disableOOMKiller": true
        },
        "cpu": {
            "shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "idle": 0,
            "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "0-1", "mems": "0"
        },
        "pids": {"limit": 0},
        "blockIO": {
            "weight": 500, "leafWeight": 300,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx4_0": {"hcaHandles": 2, "hcaObjects": 2000}},
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]
    }))))
    .unwrap();
    let d = "berth/c1";
    let r = |h: &str, file: &str| f.read(&format!("{h}/{d}/{file}"));
    assert_eq!(r("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(r("memory", "memory.memsw.limit_in_bytes"), "134217728");
    assert_eq!(r("memory", "memory.soft_limit_in_bytes"), "33554432");
    assert_eq!(r("memory", "memory.swappiness"), "10");
    assert_eq!(r("memory", "memory.oom_control"), "1");
    assert!(
        !f.path("memory/berth/c1/memory.kmem.limit_in_bytes")
            .exists()
    );
    assert_eq!(r("cpu", "cpu.shares"), "512");
    assert_eq!(r("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(r("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(r("cpu", "cpu.cfs_burst_us"), "1000");
    assert_eq!(r("cpu", "cpu.idle"), "0");
    assert!(
        !f.path("cpu/berth/c1/cpu.rt_runtime_us").exists(),
        "zero rt is ignored"
    );
    assert!(!f.path("cpu/berth/c1/cpu.rt_period_us").exists());
    assert_eq!(r("cpuset", "cpuset.cpus"), "0-1");
    assert_eq!(r("cpuset", "cpuset.mems"), "0");
    assert_eq!(r("pids", "pids.max"), "max");
    assert_eq!(r("blkio", "blkio.weight"), "500");
    assert_eq!(r("blkio", "blkio.leaf_weight"), "300");
    assert_eq!(r("blkio", "blkio.weight_device"), "8:0 600");
    assert_eq!(r("blkio", "blkio.leaf_weight_device"), "8:0 200");
    assert_eq!(r("blkio", "blkio.throttle.read_bps_device"), "8:0 1048576");
    assert_eq!(r("blkio", "blkio.throttle.write_bps_device"), "8:0 2097152");
    assert_eq!(r("blkio", "blkio.throttle.read_iops_device"), "8:0 100");
    assert_eq!(r("blkio", "blkio.throttle.write_iops_device"), "8:0 200");
    assert_eq!(r("hugetlb", "hugetlb.2MB.limit_in_bytes"), "4194304");
    assert_eq!(r("net_cls,net_prio", "net_cls.classid"), "1048577");
    assert_eq!(r("net_cls,net_prio", "net_prio.ifpriomap"), "eth0 5");
    assert_eq!(r("rdma", "rdma.max"), "mlx4_0 hca_handle=2 hca_object=2000");
    // The fixture keeps only the last write of each file.
    assert_eq!(r("devices", "devices.deny"), "a");
    assert_eq!(r("devices", "devices.allow"), "c 1:3 rwm");
}

#[test]
fn realtime_values_are_written_when_set() {
    let f = Fixture::v1();
    f.manager()
        .apply(Some(&res(serde_json::json!({
            "cpu": {"realtimeRuntime": 950000, "realtimePeriod": 1000000}
        }))))
        .unwrap();
    assert_eq!(f.read("cpu/berth/c1/cpu.rt_period_us"), "1000000");
    assert_eq!(f.read("cpu/berth/c1/cpu.rt_runtime_us"), "950000");
}

#[test]
fn pids_limits() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(Some(&res(serde_json::json!({"pids": {"limit": -1}}))))
        .unwrap();
    assert_eq!(f.read("pids/berth/c1/pids.max"), "max");
    m.update(&res(serde_json::json!({"pids": {"limit": 100}})))
        .unwrap();
    assert_eq!(f.read("pids/berth/c1/pids.max"), "100");
}

#[test]
fn unlimited_memory_makes_swap_unlimited_only_with_swap_accounting() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    let unlimited = res(serde_json::json!({"memory": {"limit": -1}}));
    m.update(&unlimited).unwrap();
    assert_eq!(f.read("memory/berth/c1/memory.limit_in_bytes"), "-1");
    assert!(
        !f.path("memory/berth/c1/memory.memsw.limit_in_bytes")
            .exists()
    );
    fs_err::write(f.path("memory/berth/c1/memory.memsw.limit_in_bytes"), "1").unwrap();
    m.update(&unlimited).unwrap();
    assert_eq!(f.read("memory/berth/c1/memory.memsw.limit_in_bytes"), "-1");
}

#[test]
fn memsw_write_order() {
    // Raising: new memsw above the current limit goes first.
    assert!(swap_first(64 << 20, 256 << 20));
    assert!(swap_first(64 << 20, -1));
    // Lowering (or fresh, unlimited current limit): limit goes first.
    assert!(!swap_first(256 << 20, 128 << 20));
    assert!(!swap_first(u64::MAX, 128 << 20));
}

#[test]
fn invalid_memory_values() {
    let f = Fixture::v1();
    let m = f.manager();
    let err = m
        .apply(Some(&res(
            serde_json::json!({"memory": {"limit": 200, "swap": 100}}),
        )))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResource { .. }), "{err}");
    // The failed apply removed the directory it created; `/berth` stays.
    assert!(!f.path("memory/berth/c1").exists());
    assert!(f.path("memory/berth").exists());
    let err = m
        .apply(Some(&res(
            serde_json::json!({"memory": {"swappiness": 101}}),
        )))
        .unwrap_err();
    assert!(
        err.to_string().contains("above the maximum of 100"),
        "{err}"
    );
}

#[test]
fn unified_on_v1_is_refused_before_creating_anything() {
    let f = Fixture::v1();
    let err = f
        .manager()
        .apply(Some(&res(
            serde_json::json!({"unified": {"memory.high": "1000"}}),
        )))
        .unwrap_err();
    assert!(matches!(err, Error::UnifiedOnV1 { .. }));
    assert!(err.to_string().contains("memory.high"), "{err}");
    assert!(!f.path("memory/berth").exists());
}

#[test]
fn missing_controller_is_an_error_only_when_a_limit_needs_it() {
    let f = Fixture::v1_with(&["cpu", "memory", "pids"]);
    let m = f.manager();
    m.apply(Some(&res(
        serde_json::json!({"memory": {"limit": 1048576}}),
    )))
    .unwrap();
    let err = m
        .update(&res(
            serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
        ))
        .unwrap_err();
    match &err {
        Error::ControllerUnavailable { controller, .. } => assert_eq!(controller, "hugetlb"),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("`hugetlb` cgroup controller is not available"),
        "{err}"
    );

    let g = Fixture::v1_with(&["cpu", "memory"]);
    let err = g
        .manager()
        .apply(Some(&res(serde_json::json!({"pids": {"limit": 10}}))))
        .unwrap_err();
    assert!(matches!(err, Error::ControllerUnavailable { .. }));
    assert!(!g.path("memory/berth").exists(), "nothing created");
}

#[test]
fn devices_allow_all_skips_redundant_allow() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    fs_err::write(f.path("devices/berth/c1/devices.list"), "a *:* rwm\n").unwrap();
    m.update(&res(serde_json::json!({"devices": [
        {"allow": true, "access": "rwm"},
        {"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rwm"}
    ]})))
    .unwrap();
    assert!(!f.path("devices/berth/c1/devices.allow").exists());
    assert_eq!(f.read("devices/berth/c1/devices.deny"), "c 10:200 rwm");
}

#[test]
fn blkio_weight_falls_back_to_bfq() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    fs_err::write(f.path("blkio/berth/c1/blkio.bfq.weight"), "100").unwrap();
    m.update(&res(serde_json::json!({"blockIO": {
        "weight": 700, "weightDevice": [{"major": 8, "minor": 16, "weight": 50}]
    }})))
    .unwrap();
    assert_eq!(f.read("blkio/berth/c1/blkio.bfq.weight"), "700");
    assert_eq!(f.read("blkio/berth/c1/blkio.bfq.weight_device"), "8:16 50");
    assert!(!f.path("blkio/berth/c1/blkio.weight").exists());
}

#[test]
fn hugepage_size_cannot_escape() {
    let f = Fixture::v1();
    let err = f
        .manager()
        .apply(Some(&res(serde_json::json!({
            "hugepageLimits": [{"pageSize": "../../x", "limit": 1}]
        }))))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResource { .. }), "{err}");
}

#[test]
fn add_task_writes_every_hierarchy_and_unified() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    m.add_task(4242).unwrap();
    for h in [
        "cpu",
        "cpuacct",
        "memory",
        "net_cls,net_prio",
        "systemd",
        "unified",
    ] {
        assert_eq!(f.read(&format!("{h}/berth/c1/cgroup.procs")), "4242", "{h}");
    }
}

#[test]
fn freeze_thaw() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    assert!(!m.is_frozen().unwrap());
    m.freeze().unwrap();
    assert_eq!(f.read("freezer/berth/c1/freezer.state"), "FROZEN");
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert_eq!(f.read("freezer/berth/c1/freezer.state"), "THAWED");
    assert!(!m.is_frozen().unwrap());

    let g = Fixture::v1_with(&["memory"]);
    let err = g.manager().freeze().unwrap_err();
    assert!(err.to_string().contains("`freezer`"), "{err}");
}

#[test]
fn pids_include_child_cgroups() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    fs_err::write(f.path("pids/berth/c1/cgroup.procs"), "12\n7\n").unwrap();
    fs_err::create_dir_all(f.path("pids/berth/c1/sub")).unwrap();
    fs_err::write(f.path("pids/berth/c1/sub/cgroup.procs"), "30\n").unwrap();
    assert_eq!(m.pids().unwrap(), vec![7, 12, 30]);
}

#[test]
fn stats_read_each_hierarchy() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    let w = |rel: &str, v: &str| fs_err::write(f.path(rel), v).unwrap();
    w("memory/berth/c1/memory.usage_in_bytes", "4096\n");
    w("memory/berth/c1/memory.limit_in_bytes", "8192\n");
    w("cpuacct/berth/c1/cpuacct.usage", "123\n");
    w(
        "cpu/berth/c1/cpu.stat",
        "nr_periods 1\nnr_throttled 1\nthrottled_time 5\n",
    );
    w("pids/berth/c1/pids.current", "2\n");
    w(
        "blkio/berth/c1/blkio.throttle.io_service_bytes",
        "8:0 Read 10\n8:0 Write 20\nTotal 30\n",
    );
    let s = m.stats().unwrap();
    assert_eq!(s.memory.usage, 4096);
    assert_eq!(s.memory.limit, Some(8192));
    assert_eq!(s.cpu.usage_total, 123);
    assert_eq!(s.cpu.throttled_time, 5);
    assert_eq!(s.pids.current, 2);
    assert_eq!((s.blkio.read_bytes, s.blkio.write_bytes), (10, 20));
}

#[test]
fn remove_takes_leaf_dirs_and_keeps_parents() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(Some(&res(serde_json::json!({"pids": {"limit": 5}}))))
        .unwrap();
    m.add_task(1).unwrap();
    m.remove().unwrap();
    for p in m.paths() {
        assert!(!p.exists(), "{}", p.display());
        assert!(p.parent().map(Path::exists).unwrap_or(false));
    }
    m.remove().unwrap();
}

#[test]
fn rebuilt_manager_reaches_the_same_dirs() {
    let f = Fixture::v1();
    let a = manager(&f.layout, None, "abc").unwrap();
    let b = manager(&f.layout, None, "abc").unwrap();
    assert_eq!(a.paths(), b.paths());
    assert!(a.paths().contains(&f.path("memory/berth/abc")));
}

#[test]
fn relative_paths_follow_each_hierarchy_own_cgroup() {
    let f = Fixture::v1();
    let own = "12:pids:/\n4:memory:/process_api/7c6c\n2:cpuacct:/\n1:cpu:/\n9:name=systemd:/user\n3:cpuset:/\n5:devices:/\n6:freezer:/\n7:blkio:/\n8:hugetlb:/\n10:rdma:/\n11:net_cls,net_prio:/\n0::/init.scope\n";
    let m = manager_with_own_cgroup(&f.layout, Some("ctr/x"), "x", own).unwrap();
    let paths = m.paths();
    assert!(paths.contains(&f.path("memory/process_api/7c6c/ctr/x")));
    assert!(paths.contains(&f.path("systemd/user/ctr/x")));
    assert!(paths.contains(&f.path("pids/ctr/x")));
    assert!(paths.contains(&f.path("unified/init.scope/ctr/x")));

    let err = manager_with_own_cgroup(&f.layout, Some("ctr/x"), "x", "4:memory:/\n").unwrap_err();
    assert!(matches!(err, Error::NoOwnCgroup { .. }), "{err}");
}

#[test]
fn systemd_paths_are_refused() {
    let f = Fixture::v1();
    let err = manager(&f.layout, Some("system.slice:berth:c1"), "c1").unwrap_err();
    assert!(matches!(err, Error::SystemdPath { .. }));
}

#[test]
fn oom_kills_come_from_oom_control() {
    let f = Fixture::v1();
    let m = f.manager();
    m.apply(None).unwrap();
    assert_eq!(m.oom_kills().unwrap(), 0, "no file: no kills");
    fs_err::write(
        f.path("memory/berth/c1/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    )
    .unwrap();
    assert_eq!(m.oom_kills().unwrap(), 3);
    let without_memory = Fixture::v1_with(&["cpu", "pids"]);
    let m = without_memory.manager();
    m.apply(None).unwrap();
    assert_eq!(m.oom_kills().unwrap(), 0);
}
