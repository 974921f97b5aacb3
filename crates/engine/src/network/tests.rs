use super::*;

fn open(dir: &Path) -> Networks {
    Networks::open(Settings {
        data_root: dir.to_owned(),
        default_bridge: "bt-unit0".into(),
        default_bip: "10.213.250.1/24".parse().unwrap(),
        default_ipv6: None,
        events: EventBus::new(),
    })
    .unwrap()
}

fn req(name: &str, subnet: &str) -> CreateRequest {
    CreateRequest {
        name: name.into(),
        ipam: vec![IpamRequest {
            subnet: subnet.into(),
            ..IpamRequest::default()
        }],
        ..CreateRequest::default()
    }
}

#[test]
fn builtins_exist_and_cannot_be_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let nets = open(tmp.path());
    let names: Vec<String> = nets.list().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let bridge = nets.get("bridge").unwrap();
    assert_eq!(bridge.bridge_name, "bt-unit0");
    assert_eq!(bridge.v4().unwrap().gateway.to_string(), "10.213.250.1");
    let err = nets.remove("bridge").unwrap_err().to_string();
    assert_eq!(err, "bridge is a pre-defined network and cannot be removed");
    assert!(nets.create(req("host", "")).is_err());
    // Reopening keeps the IDs.
    let id = bridge.id.clone();
    drop(nets);
    assert_eq!(open(tmp.path()).get("bridge").unwrap().id, id);
}

#[test]
fn create_conflicts_and_overlaps() {
    let tmp = tempfile::tempdir().unwrap();
    let nets = open(tmp.path());
    let a = nets.create(req("a", "10.213.251.0/24")).unwrap();
    assert_eq!(a.bridge_name, format!("br-{}", &a.id[..12]));
    assert!(a.user_subnets);
    let err = nets.create(req("a", "10.213.252.0/24")).unwrap_err();
    assert_eq!(err.to_string(), "network with name a already exists");
    let err = nets.create(req("b", "10.213.251.128/25")).unwrap_err();
    assert!(err.to_string().contains("Pool overlaps"), "{err}");
    let err = nets.create(req("b", "10.213.250.0/24")).unwrap_err();
    assert!(err.to_string().contains("Pool overlaps"), "{err}");
    assert!(nets.create(req("b", "not-a-subnet")).is_err());
    assert!(nets.create(req("-bad", "")).is_err());
    // Without a subnet: one from the default pools.
    let c = nets.create(req("c", "")).unwrap();
    assert!(!c.user_subnets);
    let subnet = c.v4().unwrap().subnet.to_string();
    assert!(
        subnet.starts_with("172.") || subnet.starts_with("192.168."),
        "{subnet}"
    );
    assert_eq!(nets.get(&a.id[..8]).unwrap().name, "a");
    assert!(matches!(nets.get("zzz"), Err(NetworkError::NotFound(_))));
}

#[test]
fn attach_allocates_once_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let nets = open(tmp.path());
    nets.create(req("a", "10.213.253.0/24")).unwrap();
    let mut cfg = ContainerNetworks {
        mode: "a".into(),
        ..ContainerNetworks::default()
    };
    nets.check_container(&mut cfg).unwrap();
    let c1 = "1".repeat(64);
    let c2 = "2".repeat(64);
    let e1 = nets.attach(&c1, "one", &cfg).unwrap();
    assert_eq!(e1.len(), 1);
    assert_eq!(e1[0].address.unwrap().to_string(), "10.213.253.2");
    // docker 28: a random unicast, locally administered MAC.
    let mac = berth_net::link::parse_mac(&e1[0].mac).unwrap();
    assert_eq!(mac[0] & 0x03, 0x02, "{}", e1[0].mac);
    assert!(e1[0].aliases.contains(&c1[..12].to_owned()));
    // Again: the same endpoint.
    assert_eq!(nets.attach(&c1, "one", &cfg).unwrap(), e1);
    drop(nets);
    let nets = open(tmp.path());
    let e2 = nets.attach(&c2, "two", &cfg).unwrap();
    assert_eq!(e2[0].address.unwrap().to_string(), "10.213.253.3");
    assert_ne!(e2[0].mac, e1[0].mac);
    // The one a container asks for.
    let mut chosen = cfg.clone();
    if let Some(ep) = chosen.endpoints.get_mut("a") {
        ep.mac_address = "02:00:00:00:be:01".into();
    }
    let c4 = "4".repeat(64);
    assert_eq!(
        nets.attach(&c4, "four", &chosen).unwrap()[0].mac,
        "02:00:00:00:be:01"
    );
    nets.detach(&c4);
    let err = nets.remove("a").unwrap_err().to_string();
    assert!(err.contains("has active endpoints"), "{err}");
    // A requested address that is taken.
    let mut taken = cfg.clone();
    if let Some(ep) = taken.endpoints.get_mut("a") {
        ep.ipv4_address = Some("10.213.253.3".parse().unwrap());
    }
    let err = nets.attach(&"3".repeat(64), "three", &taken).unwrap_err();
    assert_eq!(err.to_string(), "Address already in use");
    nets.release_stale(&|c| c == c1);
    assert!(nets.endpoints_for(&c2).is_empty());
    assert_eq!(nets.endpoints_for(&c1).len(), 1);
    nets.detach(&c1);
    assert!(nets.prune(&|_| false).contains(&"a".to_owned()));
}

#[test]
fn container_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let nets = open(tmp.path());
    nets.create(req("auto", "")).unwrap();
    let mut cfg = ContainerNetworks::default();
    nets.check_container(&mut cfg).unwrap();
    assert_eq!(cfg.endpoints.keys().collect::<Vec<_>>(), ["bridge"]);
    let mut ip_on_bridge = ContainerNetworks::default();
    ip_on_bridge.endpoints.insert(
        "bridge".into(),
        EndpointConfig {
            ipv4_address: Some("10.213.250.9".parse().unwrap()),
            ..EndpointConfig::default()
        },
    );
    let err = nets.check_container(&mut ip_on_bridge).unwrap_err();
    assert!(
        err.to_string().contains("user defined networks only"),
        "{err}"
    );
    let mut ip_on_auto = ContainerNetworks {
        mode: "auto".into(),
        ..ContainerNetworks::default()
    };
    ip_on_auto.endpoints.insert(
        "auto".into(),
        EndpointConfig {
            ipv4_address: Some("172.18.0.9".parse().unwrap()),
            ..EndpointConfig::default()
        },
    );
    let err = nets.check_container(&mut ip_on_auto).unwrap_err();
    assert!(err.to_string().contains("user configured subnets"), "{err}");
    let mut missing = ContainerNetworks {
        mode: "nope".into(),
        ..ContainerNetworks::default()
    };
    // As dockerd: accepted at create, refused at start.
    nets.check_container(&mut missing).unwrap();
    assert_eq!(
        nets.attach(&"4".repeat(64), "four", &missing)
            .unwrap_err()
            .to_string(),
        "network nope not found"
    );
    let host = ContainerNetworks {
        mode: "host".into(),
        ..ContainerNetworks::default()
    };
    let err = nets
        .check_connect(&host, "auto", &EndpointConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("host network"), "{err}");
    // A MAC address: on a bridge network only, and a usable one.
    let with_mac = |mode: &str, mac: &str| {
        let mut cfg = ContainerNetworks {
            mode: mode.into(),
            ..ContainerNetworks::default()
        };
        cfg.endpoints.insert(
            mode.into(),
            EndpointConfig {
                mac_address: mac.into(),
                ..EndpointConfig::default()
            },
        );
        nets.check_container(&mut cfg).map(|()| cfg)
    };
    let ok = with_mac("auto", "02:00:00:00:be:02").unwrap();
    assert_eq!(ok.endpoints["auto"].mac_address, "02:00:00:00:be:02");
    for mode in ["host", "none", "container:other"] {
        let err = with_mac(mode, "02:00:00:00:be:02").unwrap_err();
        assert_eq!(
            err.to_string(),
            "conflicting options: mac-address and the network mode",
            "{mode}"
        );
    }
    for bad in ["02:00:00:00:be", "01:00:5e:00:00:01"] {
        let err = with_mac("auto", bad).unwrap_err();
        assert_eq!(err.to_string(), format!("invalid MAC address {bad}"));
    }
}

#[test]
fn runtime_state_is_apart_and_a_broken_one_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let nets = open(tmp.path());
    let net = nets.create(req("r", "10.213.252.0/24")).unwrap();
    let mut cfg = ContainerNetworks {
        mode: "r".into(),
        ..ContainerNetworks::default()
    };
    nets.check_container(&mut cfg).unwrap();
    let c1 = "1".repeat(64);
    nets.attach(&c1, "one", &cfg).unwrap();
    let dir = tmp.path().join("networks");
    let doc: Network =
        serde_json::from_slice(&fs_err::read(dir.join(format!("{}.json", net.id))).unwrap())
            .unwrap();
    // The start changed the runtime file only.
    assert!(doc.endpoints.is_empty());
    let state = dir.join("runtime").join(format!("{}.json", net.id));
    assert!(state.is_file());
    drop(nets);
    assert_eq!(open(tmp.path()).endpoints_for(&c1).len(), 1);
    // A torn runtime file (a power loss): the document's state counts.
    fs_err::write(&state, b"{\"Pools\": [").unwrap();
    fs_err::write(dir.join("runtime").join(".x.json.tmp-1"), b"").unwrap();
    let nets = open(tmp.path());
    assert!(nets.endpoints_for(&c1).is_empty());
    assert!(!dir.join("runtime").join(".x.json.tmp-1").exists());
    nets.remove("r").unwrap();
    assert!(!state.exists());
}

#[test]
fn the_default_bridge_follows_ipv6_flags() {
    let dir = tempfile::tempdir().unwrap();
    let open_with = |ipv6: Option<Option<Ipv6Net>>| {
        Networks::open(Settings {
            data_root: dir.path().to_owned(),
            default_bridge: "bt-unit0".into(),
            default_bip: "10.213.250.1/24".parse().unwrap(),
            default_ipv6: ipv6,
            events: EventBus::new(),
        })
        .unwrap()
    };
    let bridge = |n: &Networks| n.get("bridge").unwrap();
    let fixed: Ipv6Net = "fd00:213:250::/64".parse().unwrap();
    let n = open_with(Some(Some(fixed)));
    let b = bridge(&n);
    assert!(b.enable_ipv6);
    assert_eq!(b.v6().unwrap().subnet, IpNet::V6(fixed));
    assert_eq!(b.v6().unwrap().gateway.to_string(), "fd00:213:250::1");
    assert!(b.v4().is_some());
    // Without --ipv6: gone again.
    let b = bridge(&open_with(None));
    assert!(!b.enable_ipv6 && b.v6().is_none() && b.v4().is_some());
    // --ipv6 alone: a ULA /64, the same one after a restart.
    let ula = bridge(&open_with(Some(None))).v6().unwrap().subnet;
    assert!(ula.to_string().starts_with("fd"), "{ula}");
    assert_eq!(bridge(&open_with(Some(None))).v6().unwrap().subnet, ula);
}
