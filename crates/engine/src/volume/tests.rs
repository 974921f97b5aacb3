use std::sync::Mutex;

use super::*;
use crate::events::Event;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn filters(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, vs)| {
            (
                (*k).to_owned(),
                vs.iter().map(|v| (*v).to_owned()).collect(),
            )
        })
        .collect()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    volumes: Volumes,
    events: EventBus,
    /// volume name -> container IDs, for the usage check.
    users: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        fs_err::create_dir(&root).unwrap();
        let (volumes, events, users) = Self::open(&root);
        Self {
            _tmp: tmp,
            root,
            volumes,
            events,
            users,
        }
    }

    #[allow(clippy::type_complexity)]
    fn open(root: &Path) -> (Volumes, EventBus, Arc<Mutex<BTreeMap<String, Vec<String>>>>) {
        let events = EventBus::new();
        let volumes = Volumes::open(root).unwrap().with_events(events.clone());
        let users: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
        let u = Arc::clone(&users);
        volumes.set_usage(Arc::new(move |name| {
            u.lock().unwrap().get(name).cloned().unwrap_or_default()
        }));
        (volumes, events, users)
    }

    fn reopen(&mut self) {
        let (volumes, events, users) = Self::open(&self.root);
        self.volumes = volumes;
        self.events = events;
        self.users = users;
    }

    fn use_by(&self, volume: &str, container: &str) {
        self.users
            .lock()
            .unwrap()
            .entry(volume.to_owned())
            .or_default()
            .push(container.to_owned());
    }

    fn release(&self, volume: &str) {
        self.users.lock().unwrap().remove(volume);
    }

    fn names(&self, f: &[(&str, &[&str])]) -> Vec<String> {
        self.volumes
            .list(&ListFilters::parse(&filters(f)).unwrap())
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect()
    }

    /// Every event so far, as (action, actor, attributes).
    fn events(&self) -> Vec<Event> {
        self.events.history()
    }
}

/// Unmounts what a test mounted under its data root, even when it fails.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        for m in local::mounts_under(&self.0) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn is_mount_point(p: &Path) -> bool {
    local::mounts_under(p).iter().any(|m| m == p)
}

const USE: MountUse<'static> = MountUse {
    container: "c0ffee",
    destination: "/data",
    read_write: true,
    propagation: "",
};

#[test]
fn named_volumes_are_created_once() {
    let f = Fixture::new();
    let v = f
        .volumes
        .create(CreateRequest {
            name: Some("data".into()),
            driver: Some("local".into()),
            driver_opts: Some(BTreeMap::new()),
            labels: Some(map(&[("team", "db")])),
        })
        .unwrap();
    assert_eq!(v.name, "data");
    assert_eq!(v.driver, "local");
    assert_eq!(v.scope, "local");
    assert_eq!(v.options, Some(BTreeMap::new()));
    assert_eq!(v.labels, Some(map(&[("team", "db")])));
    assert!(
        v.mountpoint.ends_with("volumes/data/_data"),
        "{:?}",
        v.mountpoint
    );
    assert!(v.mountpoint.is_dir());
    assert!(!v.is_anonymous());
    assert_eq!(
        v.created_at.len(),
        "2026-12-06T14:00:00Z".len(),
        "{}",
        v.created_at
    );
    assert!(v.created_at.ends_with('Z'));
    // The same name again: the existing volume, unchanged, no second event,
    // and its options are not checked again.
    let again = f
        .volumes
        .create(CreateRequest {
            name: Some("data".into()),
            driver_opts: Some(map(&[("bogus", "1")])),
            ..CreateRequest::default()
        })
        .unwrap();
    assert_eq!(again, v);
    assert_eq!(f.volumes.get("data").unwrap(), v);
    assert_eq!(f.volumes.count(), 1);
    let events = f.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::Volume);
    assert_eq!(events[0].action, "create");
    assert_eq!(events[0].actor_id, "data");
    assert_eq!(events[0].attributes["driver"], "local");
}

#[test]
fn anonymous_volumes_get_a_random_name_and_the_label() {
    let f = Fixture::new();
    let a = f.volumes.create(CreateRequest::anonymous()).unwrap();
    let b = f
        .volumes
        .create(CreateRequest {
            name: Some(String::new()),
            labels: Some(map(&[("x", "y")])),
            ..CreateRequest::default()
        })
        .unwrap();
    assert_eq!(a.name.len(), 64);
    assert!(a.name.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a.name, b.name);
    assert_eq!(a.labels, Some(map(&[(ANONYMOUS_LABEL, "")])));
    assert_eq!(b.labels, Some(map(&[(ANONYMOUS_LABEL, ""), ("x", "y")])));
    assert!(a.is_anonymous());
    assert_eq!(a.options, None);
}

#[test]
fn bad_names_drivers_and_options_are_refused_and_leave_nothing() {
    let f = Fixture::new();
    let err = |req: CreateRequest| f.volumes.create(req).unwrap_err();
    let e = err(CreateRequest::named("a/b"));
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    );
    assert_eq!(
        err(CreateRequest::named("x")).to_string(),
        "create x: volume name is too short, names should be at least two alphanumeric characters"
    );
    assert!(
        err(CreateRequest::named("-x"))
            .to_string()
            .contains("invalid characters")
    );
    assert!(
        err(CreateRequest::named(".."))
            .to_string()
            .contains("invalid characters")
    );
    let e = err(CreateRequest {
        driver: Some("flocker".into()),
        ..CreateRequest::named("vol")
    });
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert_eq!(
        e.to_string(),
        "create vol: error looking up volume plugin flocker: plugin \"flocker\" not found"
    );
    let with_opts = |pairs: &[(&str, &str)]| CreateRequest {
        driver_opts: Some(map(pairs)),
        ..CreateRequest::named("vol")
    };
    assert_eq!(
        err(with_opts(&[("foo", "bar")])).to_string(),
        "create vol: invalid option: \"foo\""
    );
    assert_eq!(
        err(with_opts(&[("type", "tmpfs")])).to_string(),
        "create vol: missing required option: \"device\""
    );
    let e = err(with_opts(&[("size", "10m")]));
    assert_eq!(e.class(), ErrorClass::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "create vol: quota size requested but no quota support"
    );
    assert_eq!(f.volumes.count(), 0);
    assert_eq!(fs_err::read_dir(f.root.join("volumes")).unwrap().count(), 0);
    assert!(f.events().is_empty());
}

#[test]
fn get_and_remove_of_unknown_volumes() {
    let f = Fixture::new();
    let e = f.volumes.get("nope").unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert_eq!(e.to_string(), "get nope: no such volume");
    assert_eq!(
        f.volumes.remove("nope", false).unwrap_err().to_string(),
        "get nope: no such volume"
    );
    f.volumes.remove("nope", true).unwrap();
}

#[test]
fn volumes_in_use_are_not_removed() {
    let f = Fixture::new();
    let v = f.volumes.create(CreateRequest::named("db")).unwrap();
    fs_err::write(v.mountpoint.join("file"), b"keep").unwrap();
    f.use_by("db", "c1");
    f.use_by("db", "c2");
    for force in [false, true] {
        let e = f.volumes.remove("db", force).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Conflict);
        assert_eq!(e.to_string(), "remove db: volume is in use - [c1, c2]");
    }
    assert!(v.mountpoint.join("file").is_file());
    f.release("db");
    f.volumes.remove("db", false).unwrap();
}

#[test]
fn remove_deletes_data_and_emits_destroy() {
    let f = Fixture::new();
    let v = f.volumes.create(CreateRequest::named("gone")).unwrap();
    fs_err::create_dir_all(v.mountpoint.join("a/b")).unwrap();
    fs_err::write(v.mountpoint.join("a/b/c"), b"x").unwrap();
    f.volumes.remove("gone", false).unwrap();
    assert!(!f.root.join("volumes/gone").exists());
    assert!(f.volumes.get("gone").is_err());
    let actions: Vec<String> = f.events().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["create", "destroy"]);
}

#[test]
fn list_filters() {
    let f = Fixture::new();
    let create = |name: &str, labels: &[(&str, &str)]| {
        f.volumes
            .create(CreateRequest {
                labels: Some(map(labels)),
                ..CreateRequest::named(name)
            })
            .unwrap()
    };
    create("web-data", &[("app", "web"), ("tier", "front")]);
    create("db-data", &[("app", "db")]);
    create("scratch", &[]);
    f.use_by("db-data", "c1");
    assert_eq!(f.names(&[]), ["db-data", "scratch", "web-data"]);
    assert_eq!(f.names(&[("name", &["data"])]), ["db-data", "web-data"]);
    assert_eq!(f.names(&[("name", &["^web"])]), ["web-data"]);
    assert_eq!(
        f.names(&[("name", &["scratch", "db"])]),
        ["db-data", "scratch"]
    );
    assert_eq!(f.names(&[("label", &["app"])]), ["db-data", "web-data"]);
    assert_eq!(f.names(&[("label", &["app=web"])]), ["web-data"]);
    assert_eq!(f.names(&[("label", &["app", "tier=front"])]), ["web-data"]);
    assert_eq!(f.names(&[("label!", &["app=web"])]), ["db-data", "scratch"]);
    assert_eq!(f.names(&[("driver", &["local"])]).len(), 3);
    assert!(f.names(&[("driver", &["nfs"])]).is_empty());
    assert_eq!(f.names(&[("dangling", &["true"])]), ["scratch", "web-data"]);
    assert_eq!(f.names(&[("dangling", &["0"])]), ["db-data"]);
    let bad = |fs: &[(&str, &[&str])]| ListFilters::parse(&filters(fs)).unwrap_err().to_string();
    assert_eq!(bad(&[("until", &["1h"])]), "invalid filter 'until'");
    assert_eq!(
        bad(&[("dangling", &["maybe"])]),
        "invalid filter 'dangling=[maybe]'"
    );
    assert_eq!(
        bad(&[("dangling", &["true", "false"])]),
        "invalid filter 'dangling=[true false]'"
    );
}

#[test]
fn prune_takes_anonymous_unused_volumes_unless_all() {
    let f = Fixture::new();
    let anon = f.volumes.create(CreateRequest::anonymous()).unwrap();
    fs_err::write(anon.mountpoint.join("f"), vec![0u8; 1000]).unwrap();
    let used_anon = f.volumes.create(CreateRequest::anonymous()).unwrap();
    f.use_by(&used_anon.name, "c1");
    f.volumes
        .create(CreateRequest {
            labels: Some(map(&[("keep", "yes")])),
            ..CreateRequest::named("named")
        })
        .unwrap();
    fs_err::write(f.root.join("volumes/named/_data/g"), vec![0u8; 10]).unwrap();
    f.volumes
        .create(CreateRequest {
            driver_opts: Some(map(&[("type", "tmpfs"), ("device", "tmpfs")])),
            ..CreateRequest::named("tmp")
        })
        .unwrap();

    let report = f.volumes.prune(&PruneFilters::default()).unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&anon.name));
    assert_eq!(report.space_reclaimed, 1000);

    let all = |extra: &[(&str, &[&str])]| {
        let mut fs = vec![("all", &["true"][..])];
        fs.extend_from_slice(extra);
        PruneFilters::parse(&filters(&fs)).unwrap()
    };
    // label!=keep=yes spares "named"; the tmpfs volume has options.
    let report = f.volumes.prune(&all(&[("label!", &["keep=yes"])])).unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    let report = f.volumes.prune(&all(&[])).unwrap();
    assert_eq!(report.deleted, ["named"]);
    assert_eq!(report.space_reclaimed, 10);
    let mut left: Vec<String> = f
        .volumes
        .list(&ListFilters::default())
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    left.sort();
    let mut expected = vec![used_anon.name.clone(), "tmp".to_owned()];
    expected.sort();
    assert_eq!(left, expected);

    let prunes: Vec<Event> = f
        .events()
        .into_iter()
        .filter(|e| e.action == "prune")
        .collect();
    assert_eq!(prunes.len(), 3);
    assert_eq!(prunes[0].actor_id, "");
    assert_eq!(prunes[0].attributes["reclaimed"], "1000");

    let bad = |fs: &[(&str, &[&str])]| PruneFilters::parse(&filters(fs)).unwrap_err().to_string();
    assert_eq!(bad(&[("dangling", &["true"])]), "invalid filter 'dangling'");
    assert_eq!(
        bad(&[("all", &["yes"])]),
        "invalid filter 'all': strconv.ParseBool: parsing \"yes\": invalid syntax"
    );
    assert_eq!(
        bad(&[("all", &["1", "0"])]),
        "invalid filter 'all=[1 0]': only one value is expected"
    );
    assert!(
        !PruneFilters::parse(&filters(&[("all", &["false"])]))
            .unwrap()
            .all
    );
}

#[test]
fn volumes_survive_a_reopen() {
    let mut f = Fixture::new();
    let v = f
        .volumes
        .create(CreateRequest {
            labels: Some(map(&[("a", "b")])),
            driver_opts: Some(map(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m"),
            ])),
            ..CreateRequest::named("kept")
        })
        .unwrap();
    let anon = f.volumes.create(CreateRequest::anonymous()).unwrap();
    fs_err::write(anon.mountpoint.join("f"), b"data").unwrap();
    f.reopen();
    assert_eq!(f.volumes.get("kept").unwrap(), v);
    assert_eq!(f.volumes.get(&anon.name).unwrap(), anon);
    assert_eq!(fs_err::read(anon.mountpoint.join("f")).unwrap(), b"data");
}

#[test]
fn disk_usage_counts_bytes_once_and_users() {
    let f = Fixture::new();
    let v = f.volumes.create(CreateRequest::named("sized")).unwrap();
    fs_err::write(v.mountpoint.join("a"), vec![1u8; 4096]).unwrap();
    fs_err::hard_link(v.mountpoint.join("a"), v.mountpoint.join("b")).unwrap();
    fs_err::create_dir(v.mountpoint.join("d")).unwrap();
    fs_err::write(v.mountpoint.join("d/c"), vec![1u8; 100]).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", v.mountpoint.join("link")).unwrap();
    f.volumes
        .create(CreateRequest {
            driver_opts: Some(map(&[("type", "tmpfs"), ("device", "tmpfs")])),
            ..CreateRequest::named("opts")
        })
        .unwrap();
    f.use_by("sized", "c1");
    let du = f.volumes.disk_usage();
    assert_eq!(du.len(), 1, "volumes with options are not counted: {du:?}");
    let usage = du[0].usage.unwrap();
    let link_len = i64::try_from("/etc/passwd".len()).unwrap();
    assert_eq!(usage.size, 4096 + 100 + link_len);
    assert_eq!(usage.ref_count, 1);
    assert_eq!(dir_size(&f.root.join("missing")), -1);
}

#[test]
fn tmpfs_volumes_are_mounted_while_used() {
    let f = Fixture::new();
    let _guard = MountGuard(f.root.clone());
    f.volumes
        .create(CreateRequest {
            driver_opts: Some(map(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m,mode=0710"),
            ])),
            ..CreateRequest::named("ram")
        })
        .unwrap();
    let data = f.volumes.mount("ram", &USE).unwrap();
    assert!(is_mount_point(&data));
    assert_eq!(
        crate::host::HostPaths::default()
            .backing_fs(&data)
            .as_deref(),
        Some("tmpfs")
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&data).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o710);
    }
    fs_err::write(data.join("f"), b"x").unwrap();
    // A second user shares the mount.
    assert_eq!(f.volumes.mount("ram", &USE).unwrap(), data);
    assert_eq!(local::mounts_under(&data).len(), 1);
    assert_eq!(f.volumes.active_mounts("ram"), 2);
    // In use by a running container: not removable.
    assert_eq!(
        f.volumes.remove("ram", true).unwrap_err().to_string(),
        "remove ram: volume has active mounts"
    );
    f.volumes.unmount("ram", "c0ffee").unwrap();
    assert!(is_mount_point(&data));
    f.volumes.unmount("ram", "c0ffee").unwrap();
    assert!(!is_mount_point(&data));
    assert!(!data.join("f").exists(), "a tmpfs keeps nothing");
    // An unmount too many is harmless.
    f.volumes.unmount("ram", "c0ffee").unwrap();
    let events: Vec<Event> = f
        .events()
        .into_iter()
        .filter(|e| e.action == "mount" || e.action == "unmount")
        .collect();
    assert_eq!(events.len(), 5);
    let m = &events[0];
    assert_eq!(m.actor_id, "ram");
    assert_eq!(m.attributes["container"], "c0ffee");
    assert_eq!(m.attributes["destination"], "/data");
    assert_eq!(m.attributes["read/write"], "true");
    assert_eq!(m.attributes["propagation"], "");
    assert_eq!(m.attributes["driver"], "local");
    assert_eq!(events[2].action, "unmount");
    f.volumes.remove("ram", false).unwrap();
}

#[test]
fn plain_volumes_are_not_mounted() {
    let f = Fixture::new();
    f.volumes.create(CreateRequest::named("plain")).unwrap();
    let data = f.volumes.mount("plain", &USE).unwrap();
    assert!(!is_mount_point(&data));
    assert_eq!(f.volumes.active_mounts("plain"), 1);
    f.volumes.unmount("plain", "c0ffee").unwrap();
    assert_eq!(f.volumes.active_mounts("plain"), 0);
    assert_eq!(
        f.volumes.mount("nope", &USE).unwrap_err().to_string(),
        "get nope: no such volume"
    );
}

#[test]
fn bind_volumes_show_the_host_dir_and_removal_never_touches_it() {
    let mut f = Fixture::new();
    let _guard = MountGuard(f.root.clone());
    let host = f.root.join("host-dir");
    fs_err::create_dir(&host).unwrap();
    fs_err::write(host.join("precious"), b"host data").unwrap();
    f.volumes
        .create(CreateRequest {
            driver_opts: Some(map(&[
                ("type", "none"),
                ("o", "bind"),
                ("device", host.to_str().unwrap()),
            ])),
            ..CreateRequest::named("bound")
        })
        .unwrap();
    let data = f.volumes.mount("bound", &USE).unwrap();
    assert_eq!(fs_err::read(data.join("precious")).unwrap(), b"host data");
    fs_err::write(data.join("new"), b"y").unwrap();
    assert!(host.join("new").is_file());
    // berthd restarts while the container runs: the mount is found again.
    f.reopen();
    assert!(is_mount_point(&data));
    f.volumes.live_restore("bound").unwrap();
    f.volumes.unmount("bound", "c0ffee").unwrap();
    assert!(!is_mount_point(&data));
    // A mount left behind with no users (a restart with no container
    // running): remove unmounts it first and the host dir is untouched.
    f.volumes.mount("bound", &USE).unwrap();
    f.reopen();
    assert!(is_mount_point(&data));
    f.volumes.remove("bound", false).unwrap();
    assert_eq!(fs_err::read(host.join("precious")).unwrap(), b"host data");
    assert!(host.join("new").is_file());
    assert!(!f.root.join("volumes/bound").exists());
}

#[test]
fn device_mount_failures_read_as_dockerd_and_leave_no_user() {
    let f = Fixture::new();
    let _guard = MountGuard(f.root.clone());
    f.volumes
        .create(CreateRequest {
            driver_opts: Some(map(&[
                ("type", "none"),
                ("o", "bind"),
                ("device", "/nonexistent/berth-volume-test"),
            ])),
            ..CreateRequest::named("broken")
        })
        .unwrap();
    let e = f.volumes.mount("broken", &USE).unwrap_err();
    let data = f.root.join("volumes/broken/_data");
    let data = fs_err::canonicalize(data).unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "failed to mount local volume: mount /nonexistent/berth-volume-test:{}, flags: 0x1000: no such file or directory",
            data.display()
        )
    );
    assert_eq!(f.volumes.active_mounts("broken"), 0);
    assert!(!is_mount_point(&data));
    f.volumes.remove("broken", false).unwrap();
}
