//! Fixture tests for the v2 manager: a tempdir stands in for the cgroup2
//! mount, with a root `cgroup.controllers`.

use crate::fixture::{Fixture, res};
use crate::{CgroupLayout, Error, manager, manager_with_own_cgroup};

impl Fixture {
    fn v2() -> Self {
        Self::v2_with("cpuset cpu io memory pids hugetlb")
    }

    fn v2_with(controllers: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        fs_err::write(tmp.path().join("cgroup.controllers"), controllers).unwrap();
        let layout = CgroupLayout::V2 {
            root: tmp.path().to_owned(),
        };
        Self { tmp, layout }
    }
}

#[test]
fn apply_enables_stats_controllers_from_the_root_down() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(None).unwrap();
    assert!(f.path("berth/c1").is_dir());
    assert_eq!(f.read("cgroup.subtree_control"), "+cpu +io +memory +pids");
    assert_eq!(
        f.read("berth/cgroup.subtree_control"),
        "+cpu +io +memory +pids"
    );
    // The leaf enables nothing: it holds processes ("no internal process"
    // rule), and the container may delegate further itself.
    assert!(!f.path("berth/c1/cgroup.subtree_control").exists());
    assert_eq!(m.paths(), vec![f.path("berth/c1")]);
}

#[test]
fn limits_enable_the_controllers_they_need() {
    let f = Fixture::v2();
    f.manager()
        .apply(Some(&res(serde_json::json!({
            "cpu": {"cpus": "0"},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]
        }))))
        .unwrap();
    let want = "+cpu +io +memory +pids +cpuset +hugetlb";
    assert_eq!(f.read("cgroup.subtree_control"), want);
    assert_eq!(f.read("berth/cgroup.subtree_control"), want);
}

#[test]
fn already_enabled_controllers_are_not_written_again() {
    let f = Fixture::v2();
    fs_err::write(f.path("cgroup.subtree_control"), "cpu io memory pids\n").unwrap();
    f.manager().apply(None).unwrap();
    assert_eq!(f.read("cgroup.subtree_control"), "cpu io memory pids\n");
    assert_eq!(
        f.read("berth/cgroup.subtree_control"),
        "+cpu +io +memory +pids"
    );
}

#[test]
fn missing_controllers_are_fine_unless_a_limit_needs_one() {
    // Like the hybrid unified mount of the dev machines: only hugetlb.
    let f = Fixture::v2_with("hugetlb");
    let m = f.manager();
    m.apply(None).unwrap();
    assert!(
        !f.path("cgroup.subtree_control").exists(),
        "nothing to enable"
    );

    let f = Fixture::v2_with("cpu pids");
    let m = f.manager();
    m.apply(None).unwrap();
    assert_eq!(f.read("cgroup.subtree_control"), "+cpu +pids");
    let err = m
        .update(&res(serde_json::json!({"memory": {"limit": 1048576}})))
        .unwrap_err();
    match &err {
        Error::ControllerUnavailable {
            controller, path, ..
        } => {
            assert_eq!(controller, "memory");
            assert_eq!(path, &f.path("cgroup.controllers"));
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "cannot set memory limits: the `memory` cgroup controller is not available"
        ),
        "{msg}"
    );

    // A failed apply leaves no container directory behind.
    let g = Fixture::v2_with("cpu");
    let err = manager(&g.layout, Some("/berth/c2"), "c2")
        .unwrap()
        .apply(Some(&res(serde_json::json!({"pids": {"limit": 3}}))))
        .unwrap_err();
    assert!(matches!(err, Error::ControllerUnavailable { .. }));
    assert!(!g.path("berth/c2").exists());
}

#[test]
fn every_resource_maps_to_its_v2_file() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(Some(&res(serde_json::json!({
        "memory": {
            "limit": 67108864, "reservation": 33554432, "swap": 100663296,
            "swappiness": 10, "disableOOMKiller": true, "kernel": 5
        },
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10, "idle": 1,
                "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 64},
        "blockIO": {"weight": 500, "leafWeight": 20},
        "hugepageLimits": [{"pageSize": "1GB", "limit": -1}],
        "network": {"classID": 5},
        "unified": {"memory.high": "50000000", "pids.max": "65"}
    }))))
    .unwrap();
    let r = |file: &str| f.read(&format!("berth/c1/{file}"));
    assert_eq!(r("memory.max"), "67108864");
    assert_eq!(
        r("memory.swap.max"),
        "33554432",
        "swap is memory+swap in OCI"
    );
    assert_eq!(r("memory.low"), "33554432");
    assert_eq!(r("cpu.weight"), "39");
    assert_eq!(r("cpu.max"), "50000 100000");
    assert_eq!(r("cpu.max.burst"), "10");
    assert_eq!(r("cpu.idle"), "1");
    assert_eq!(r("cpuset.cpus"), "0-1");
    assert_eq!(r("cpuset.mems"), "0");
    assert_eq!(r("io.weight"), "default 4950");
    assert_eq!(r("hugetlb.1GB.max"), "max");
    assert_eq!(r("memory.high"), "50000000");
    // unified is applied last and wins.
    assert_eq!(r("pids.max"), "65");
    // No v2 files for these.
    for absent in ["memory.swappiness", "memory.oom_control", "net_cls.classid"] {
        assert!(!f.path("berth/c1").join(absent).exists(), "{absent}");
    }
}

#[test]
fn cpu_max_forms() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(None).unwrap();
    m.update(&res(serde_json::json!({"cpu": {"quota": -1}})))
        .unwrap();
    assert_eq!(f.read("berth/c1/cpu.max"), "max");
    m.update(&res(serde_json::json!({"cpu": {"period": 50000}})))
        .unwrap();
    assert_eq!(f.read("berth/c1/cpu.max"), "max 50000");
    let err = m
        .update(&res(serde_json::json!({"cpu": {"realtimeRuntime": 100}})))
        .unwrap_err();
    assert!(err.to_string().contains("realtime"), "{err}");
}

#[test]
fn memory_unlimited_and_swap_rules() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(None).unwrap();
    m.update(&res(serde_json::json!({"memory": {"limit": -1}})))
        .unwrap();
    assert_eq!(f.read("berth/c1/memory.max"), "max");
    assert!(
        !f.path("berth/c1/memory.swap.max").exists(),
        "no swap accounting here"
    );
    fs_err::write(f.path("berth/c1/memory.swap.max"), "0").unwrap();
    m.update(&res(serde_json::json!({"memory": {"limit": -1}})))
        .unwrap();
    assert_eq!(f.read("berth/c1/memory.swap.max"), "max");
    m.update(&res(
        serde_json::json!({"memory": {"limit": 100, "swap": -1}}),
    ))
    .unwrap();
    assert_eq!(f.read("berth/c1/memory.swap.max"), "max");
    let err = m
        .update(&res(serde_json::json!({"memory": {"swap": 1000}})))
        .unwrap_err();
    assert!(err.to_string().contains("needs a memory limit"), "{err}");
}

#[test]
fn io_bfq_and_throttles() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(None).unwrap();
    fs_err::write(f.path("berth/c1/io.bfq.weight"), "default 100").unwrap();
    m.update(&res(serde_json::json!({"blockIO": {"weight": 300}})))
        .unwrap();
    assert_eq!(
        f.read("berth/c1/io.bfq.weight"),
        "300",
        "bfq takes v1 values as is"
    );
    m.update(&res(serde_json::json!({"blockIO": {
        "weightDevice": [{"major": 8, "minor": 0, "weight": 200}]
    }})))
    .unwrap();
    assert_eq!(f.read("berth/c1/io.bfq.weight"), "8:0 200");
    // The fixture keeps the last write only, so one throttle at a time.
    for (key, field) in [
        ("rbps", "throttleReadBpsDevice"),
        ("wbps", "throttleWriteBpsDevice"),
        ("riops", "throttleReadIOPSDevice"),
        ("wiops", "throttleWriteIOPSDevice"),
    ] {
        m.update(&res(serde_json::json!({"blockIO": {
            field: [{"major": 8, "minor": 16, "rate": 4096}]
        }})))
        .unwrap();
        assert_eq!(f.read("berth/c1/io.max"), format!("8:16 {key}=4096"));
    }
}

#[test]
fn unified_keys_are_checked_and_enable_their_controller() {
    let f = Fixture::v2();
    let m = f.manager();
    let err = m
        .apply(Some(&res(
            serde_json::json!({"unified": {"../../etc/passwd": "x"}}),
        )))
        .unwrap_err();
    assert!(
        err.to_string().contains("is not a cgroup file name"),
        "{err}"
    );
    assert!(
        !f.path("berth").exists(),
        "checked before creating anything"
    );

    m.apply(Some(&res(
        serde_json::json!({"unified": {"hugetlb.2MB.max": "0"}}),
    )))
    .unwrap();
    assert!(f.read("cgroup.subtree_control").contains("+hugetlb"));
}

#[test]
fn freeze_thaw_via_cgroup_events() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(None).unwrap();
    fs_err::write(f.path("berth/c1/cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    assert!(!m.is_frozen().unwrap());
    // The fixture's kernel "finishes" freezing at once.
    fs_err::write(f.path("berth/c1/cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    m.freeze().unwrap();
    assert_eq!(f.read("berth/c1/cgroup.freeze"), "1");
    assert!(m.is_frozen().unwrap());
    m.thaw().unwrap();
    assert_eq!(f.read("berth/c1/cgroup.freeze"), "0");
}

#[test]
fn a_freeze_that_never_completes_is_undone() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(None).unwrap();
    // The kernel never reports "frozen 1" (a task stuck in the kernel):
    // pause fails with the events it saw and leaves the group thawed.
    fs_err::write(f.path("berth/c1/cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    let err = m.freeze().unwrap_err();
    assert!(err.to_string().contains("frozen 0"), "{err}");
    assert_eq!(f.read("berth/c1/cgroup.freeze"), "0");
    assert!(!m.is_frozen().unwrap());
}

#[test]
fn stats_pids_and_remove() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(None).unwrap();
    let w = |file: &str, v: &str| fs_err::write(f.path("berth/c1").join(file), v).unwrap();
    w("memory.current", "1000\n");
    w("memory.max", "max\n");
    w("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\n");
    w("pids.current", "1\n");
    w("pids.max", "64\n");
    w(
        "io.stat",
        "8:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n",
    );
    w("cgroup.procs", "99\n");
    let s = m.stats().unwrap();
    assert_eq!(s.memory.usage, 1000);
    assert_eq!(s.memory.limit, None);
    assert_eq!(s.cpu.usage_total, 10_000);
    assert_eq!(s.pids.limit, Some(64));
    assert_eq!((s.blkio.read_bytes, s.blkio.write_bytes), (1, 2));
    m.add_task(100).unwrap();
    assert_eq!(m.pids().unwrap(), vec![100]);
    m.remove().unwrap();
    assert!(!f.path("berth/c1").exists());
    assert!(f.path("berth").exists());
    m.remove().unwrap();
}

#[test]
fn relative_and_default_paths() {
    let f = Fixture::v2();
    let m = manager_with_own_cgroup(&f.layout, Some("sub"), "id", "0::/user.slice/x\n").unwrap();
    assert_eq!(m.paths(), vec![f.path("user.slice/x/sub")]);
    let m = manager(&f.layout, None, "abc").unwrap();
    assert_eq!(m.paths(), vec![f.path("berth/abc")]);
    let err = manager_with_own_cgroup(&f.layout, Some("sub"), "id", "4:memory:/\n").unwrap_err();
    assert!(matches!(err, Error::NoOwnCgroup { .. }));
}

/// What berth writes for `run -m 64m --memory-swap 96m --cpus 0.5 -c 512
/// --pids-limit 20` (the engine's `linux.resources`), then `update -m 80m
/// --cpus 1.5 --pids-limit -1`, and how an OOM kill is read back.
#[test]
fn docker_limits_and_oom_kills_on_v2() {
    let f = Fixture::v2();
    let m = f.manager();
    m.apply(Some(&res(serde_json::json!({
        "memory": {"limit": 67108864, "swap": 100663296},
        "cpu": {"shares": 512, "period": 100000, "quota": 50000},
        "pids": {"limit": 20}
    }))))
    .unwrap();
    let r = |file: &str| f.read(&format!("berth/c1/{file}"));
    assert_eq!(r("memory.max"), "67108864");
    assert_eq!(r("memory.swap.max"), "33554432");
    assert_eq!(r("cpu.max"), "50000 100000");
    assert_eq!(r("cpu.weight"), "20");
    assert_eq!(r("pids.max"), "20");

    m.update(&res(serde_json::json!({
        "memory": {"limit": 83886080, "swap": 100663296},
        "cpu": {"shares": 512, "period": 100000, "quota": 150000},
        "pids": {"limit": -1}
    })))
    .unwrap();
    assert_eq!(r("memory.max"), "83886080");
    assert_eq!(r("memory.swap.max"), "16777216");
    assert_eq!(r("cpu.max"), "150000 100000");
    assert_eq!(r("pids.max"), "max");

    assert_eq!(m.oom_kills().unwrap(), 0, "no memory.events yet");
    fs_err::write(
        f.path("berth/c1/memory.events"),
        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n",
    )
    .unwrap();
    assert_eq!(m.oom_kills().unwrap(), 1);
}
