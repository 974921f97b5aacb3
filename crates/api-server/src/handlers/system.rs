//! `/_ping`, `/version`, `/info`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use berth_api_types as api;

use crate::backend::SystemBackend;
use crate::compat::{self, API_VERSION, MIN_API_VERSION};

/// `GET`/`HEAD /_ping`: `OK` plus the headers clients negotiate with. The
/// `Builder-Version` is 1 (the classic builder): berth has no BuildKit
/// session endpoint, and `Swarm: inactive` because it has no swarm mode.
pub(super) fn ping(head: bool) -> Response {
    let body = if head {
        Body::empty()
    } else {
        Body::from("OK")
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("builder-version"),
        HeaderValue::from_static("1"),
    );
    h.insert(
        HeaderName::from_static("swarm"),
        HeaderValue::from_static("inactive"),
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if head {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    response
}

pub(super) fn version(backend: &dyn SystemBackend) -> api::SystemVersion {
    let v = backend.version();
    let arch = compat::go_arch(&v.arch).to_owned();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", API_VERSION),
        ("Arch", arch.as_str()),
        ("BuildTime", v.build.build_time.as_str()),
        ("Experimental", "false"),
        ("GitCommit", v.build.git_commit.as_str()),
        ("GoVersion", v.build.compiler.as_str()),
        ("KernelVersion", v.kernel_version.as_str()),
        ("MinAPIVersion", MIN_API_VERSION),
        ("Os", v.os.as_str()),
    ]
    .into_iter()
    .map(|(k, val)| (k.to_owned(), val.to_owned()))
    .collect();
    api::SystemVersion {
        platform: api::PlatformName {
            name: "berth".to_owned(),
        },
        components: vec![api::ComponentVersion {
            name: "Engine".to_owned(),
            version: v.build.version.clone(),
            details: Some(details),
        }],
        version: v.build.version,
        api_version: API_VERSION.to_owned(),
        min_api_version: MIN_API_VERSION.to_owned(),
        git_commit: v.build.git_commit,
        go_version: v.build.compiler,
        os: v.os,
        arch,
        kernel_version: v.kernel_version,
        experimental: false,
        build_time: v.build.build_time,
    }
}

pub(super) fn info(backend: &dyn SystemBackend, version: &str) -> api::SystemInfo {
    let i = backend.system_info();
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let mut security_options = Vec::new();
    if i.host.seccomp {
        security_options.push("name=seccomp,profile=builtin".to_owned());
    }
    let runtimes = i
        .runtimes
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                api::Runtime {
                    path: Some(r.path.display().to_string()),
                    runtime_args: None,
                },
            )
        })
        .collect();
    let mut info = api::SystemInfo {
        id: i.id,
        containers: count(i.containers.total),
        containers_running: count(i.containers.running),
        containers_paused: count(i.containers.paused),
        containers_stopped: count(i.containers.stopped),
        images: count(i.images),
        driver: i.storage_driver,
        driver_status: i.storage_status.into_iter().map(|(k, v)| [k, v]).collect(),
        docker_root_dir: i.data_root.display().to_string(),
        plugins: api::PluginsInfo {
            volume: vec!["local".to_owned()],
            network: ["bridge", "host", "null"].map(str::to_owned).to_vec(),
            authorization: None,
            log: vec!["json-file".to_owned()],
        },
        memory_limit: i.cgroup.memory_limit,
        swap_limit: i.cgroup.swap_limit,
        cpu_cfs_period: i.cgroup.cpu_cfs_period,
        cpu_cfs_quota: i.cgroup.cpu_cfs_quota,
        cpu_shares: i.cgroup.cpu_shares,
        cpu_set: i.cgroup.cpuset,
        pids_limit: i.cgroup.pids_limit,
        oom_kill_disable: i.cgroup.oom_kill_disable,
        ipv4_forwarding: i.host.ipv4_forwarding,
        bridge_nf_iptables: None,
        bridge_nf_ip6tables: None,
        debug: i.debug,
        nfd: count(i.open_fds),
        ngoroutines: count(i.threads),
        system_time: i.system_time,
        logging_driver: i.logging_driver,
        cgroup_driver: i.cgroup_driver,
        cgroup_version: i.cgroup.version.as_str().to_owned(),
        nevents_listener: 0,
        kernel_version: i.host.kernel_version,
        operating_system: i.host.operating_system,
        os_version: i.host.os_version,
        os_type: i.host.os_type,
        architecture: i.host.architecture,
        ncpu: count(i.host.ncpu),
        mem_total: i64::try_from(i.host.mem_total).unwrap_or(i64::MAX),
        index_server_address: "https://index.docker.io/v1/".to_owned(),
        registry_config: Some(api::RegistryConfig {
            insecure_registry_cidrs: vec!["::1/128".to_owned(), "127.0.0.0/8".to_owned()],
            index_configs: [(
                "docker.io".to_owned(),
                api::IndexInfo {
                    name: "docker.io".to_owned(),
                    mirrors: Vec::new(),
                    secure: true,
                    official: true,
                },
            )]
            .into_iter()
            .collect(),
            mirrors: Vec::new(),
        }),
        http_proxy: String::new(),
        https_proxy: String::new(),
        no_proxy: String::new(),
        name: i.host.hostname,
        labels: Vec::new(),
        experimental_build: false,
        server_version: i.server_version,
        runtimes,
        default_runtime: i.default_runtime,
        swarm: api::SwarmInfo {
            local_node_state: "inactive".to_owned(),
            ..Default::default()
        },
        live_restore_enabled: i.live_restore,
        isolation: String::new(),
        init_binary: "berth-init".to_owned(),
        containerd_commit: api::Commit::default(),
        runc_commit: api::Commit::default(),
        init_commit: api::Commit::default(),
        security_options,
        cdi_spec_dirs: Vec::new(),
        warnings: i.warnings,
    };
    compat::adapt_info(version, &mut info);
    info
}
