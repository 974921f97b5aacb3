//! The project operations over the Engine API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use berth_api_client::{Client, ListOptions};
use berth_api_types::network::{EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest};
use berth_api_types::volume::VolumeCreateOptions;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::error::api;
use crate::model::{Condition, MountKind, Project, Service};
use crate::naming::{self, COMPOSE_VERSION};

/// `up`'s flags.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub force_recreate: bool,
    pub no_start: bool,
}

/// One line of `ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsRow {
    pub name: String,
    pub image: String,
    pub command: String,
    pub service: String,
    pub state: String,
    pub status: String,
    pub ports: String,
}

/// A project on a daemon.
#[derive(Debug)]
pub struct Compose<'a> {
    client: &'a Client,
    project: &'a Project,
}

/// A container of the project, from the daemon's list.
#[derive(Debug, Clone)]
struct Existing {
    id: String,
    name: String,
    service: String,
    hash: String,
    state: String,
    oneoff: bool,
}

impl<'a> Compose<'a> {
    pub fn new(client: &'a Client, project: &'a Project) -> Self {
        Self { client, project }
    }

    /// The hash `com.docker.compose.config-hash` holds: SHA-256 of the
    /// service's model as JSON.
    pub fn config_hash(service: &Service) -> String {
        let json = serde_json::to_vec(service).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }

    fn selected(&self, services: &[String]) -> Result<Vec<String>, Error> {
        for s in services {
            if !self.project.services.contains_key(s) {
                return Err(Error::NoSuchService(s.clone()));
            }
        }
        Ok(if services.is_empty() {
            self.project.services.keys().cloned().collect()
        } else {
            services.to_vec()
        })
    }

    /// `services` and what they depend on, dependencies first.
    fn ordered(&self, services: &[String]) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut visiting = Vec::new();
        for s in self.selected(services)? {
            self.visit(&s, &mut visiting, &mut out)?;
        }
        Ok(out)
    }

    fn visit(
        &self,
        s: &str,
        visiting: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), Error> {
        if out.iter().any(|o| o == s) {
            return Ok(());
        }
        if visiting.iter().any(|v| v == s) {
            visiting.push(s.to_owned());
            return Err(Error::Cycle(visiting.join(" -> ")));
        }
        visiting.push(s.to_owned());
        if let Some(service) = self.project.services.get(s) {
            for dep in service.depends_on.keys() {
                self.visit(dep, visiting, out)?;
            }
        }
        visiting.pop();
        out.push(s.to_owned());
        Ok(())
    }

    async fn existing(&self, oneoff_too: bool) -> Result<Vec<Existing>, Error> {
        let filters =
            json!({"label": [format!("{}={}", naming::PROJECT, self.project.name)]}).to_string();
        let list = self
            .client
            .containers(&ListOptions {
                all: true,
                filters,
                ..ListOptions::default()
            })
            .await
            .map_err(api("cannot list the project's containers"))?;
        let mut out = Vec::new();
        for c in list {
            let label = |k: &str| c["Labels"][k].as_str().unwrap_or("").to_owned();
            let oneoff = label(naming::ONEOFF).eq_ignore_ascii_case("true");
            if oneoff && !oneoff_too {
                continue;
            }
            out.push(Existing {
                id: c["Id"].as_str().unwrap_or("").to_owned(),
                name: c["Names"][0]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches('/')
                    .to_owned(),
                service: label(naming::SERVICE),
                hash: label(naming::HASH),
                state: c["State"].as_str().unwrap_or("").to_owned(),
                oneoff,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn project_labels(&self) -> BTreeMap<String, String> {
        let files = self
            .project
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        BTreeMap::from([
            (naming::PROJECT.to_owned(), self.project.name.clone()),
            (
                naming::WORKING_DIR.to_owned(),
                self.project.working_dir.display().to_string(),
            ),
            (naming::CONFIG_FILES.to_owned(), files),
            (naming::VERSION.to_owned(), COMPOSE_VERSION.to_owned()),
        ])
    }

    async fn ensure_networks(
        &self,
        services: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        let used: BTreeSet<&String> = services
            .iter()
            .filter_map(|s| self.project.services.get(s))
            .flat_map(|s| s.networks.keys())
            .collect();
        for key in used {
            let Some(def) = self.project.networks.get(key) else {
                continue;
            };
            match self.client.network_inspect(&def.name).await {
                Ok(_) => continue,
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(api(format!("cannot inspect network `{}`", def.name))(e)),
            }
            if def.external {
                return Err(Error::Dependency {
                    service: key.clone(),
                    message: format!(
                        "network `{}` is external but does not exist\n\nhint: create it with `berth network create {}`",
                        def.name, def.name
                    ),
                });
            }
            let mut labels = def.labels.clone();
            labels.insert(naming::PROJECT.into(), self.project.name.clone());
            labels.insert(naming::NETWORK.into(), key.clone());
            labels.insert(naming::VERSION.into(), COMPOSE_VERSION.into());
            let ipam = (!def.ipam.is_empty()).then(|| Ipam {
                driver: "default".into(),
                options: None,
                config: Some(
                    def.ipam
                        .iter()
                        .map(|(subnet, gateway, ip_range)| IpamConfig {
                            subnet: subnet.clone(),
                            gateway: gateway.clone(),
                            ip_range: ip_range.clone(),
                            auxiliary_addresses: None,
                        })
                        .collect(),
                ),
            });
            let req = NetworkCreateRequest {
                name: def.name.clone(),
                driver: if def.driver.is_empty() {
                    "bridge".into()
                } else {
                    def.driver.clone()
                },
                internal: def.internal,
                attachable: def.attachable,
                enable_ipv6: def.enable_ipv6.then_some(true),
                ipam,
                options: Some(def.driver_opts.clone()),
                labels: Some(labels),
                ..NetworkCreateRequest::default()
            };
            progress(&format!(" Network {}  Creating", def.name));
            self.client
                .network_create(&req)
                .await
                .map_err(api(format!("cannot create network `{}`", def.name)))?;
            progress(&format!(" Network {}  Created", def.name));
        }
        Ok(())
    }

    async fn ensure_volumes(
        &self,
        services: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        let used: BTreeSet<&String> = services
            .iter()
            .filter_map(|s| self.project.services.get(s))
            .flat_map(|s| s.volumes.iter())
            .filter(|m| m.kind == MountKind::Volume && !m.source.is_empty())
            .map(|m| &m.source)
            .collect();
        for key in used {
            let Some(def) = self.project.volumes.get(key) else {
                continue;
            };
            match self.client.volume_inspect(&def.name).await {
                Ok(_) => continue,
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(api(format!("cannot inspect volume `{}`", def.name))(e)),
            }
            if def.external {
                return Err(Error::Dependency {
                    service: key.clone(),
                    message: format!(
                        "volume `{}` is external but does not exist\n\nhint: create it with `berth volume create {}`",
                        def.name, def.name
                    ),
                });
            }
            let mut labels = def.labels.clone();
            labels.insert(naming::PROJECT.into(), self.project.name.clone());
            labels.insert(naming::VOLUME.into(), key.clone());
            labels.insert(naming::VERSION.into(), COMPOSE_VERSION.into());
            progress(&format!(" Volume \"{}\"  Creating", def.name));
            self.client
                .volume_create(&VolumeCreateOptions {
                    name: def.name.clone(),
                    driver: def.driver.clone(),
                    driver_opts: Some(def.driver_opts.clone()),
                    labels: Some(labels),
                })
                .await
                .map_err(api(format!("cannot create volume `{}`", def.name)))?;
            progress(&format!(" Volume \"{}\"  Created", def.name));
        }
        Ok(())
    }

    fn container_name(&self, service: &str) -> String {
        let s = &self.project.services[service];
        if s.container_name.is_empty() {
            naming::container_name(&self.project.name, service, 1)
        } else {
            s.container_name.clone()
        }
    }

    /// The networks of `service` in the order they are attached: the
    /// daemon's name and the endpoint (aliases: the service's name and its
    /// own).
    fn endpoints(&self, service: &str) -> Vec<(String, EndpointSettings)> {
        let s = &self.project.services[service];
        s.networks
            .iter()
            .filter_map(|(key, aliases)| {
                let def = self.project.networks.get(key)?;
                let mut all = vec![service.to_owned()];
                all.extend(aliases.iter().cloned());
                Some((
                    def.name.clone(),
                    EndpointSettings {
                        aliases: Some(all),
                        ..EndpointSettings::default()
                    },
                ))
            })
            .collect()
    }

    fn create_body(&self, service: &str, hash: &str) -> Value {
        let s = &self.project.services[service];
        let mut labels = s.labels.clone();
        labels.extend(self.project_labels());
        labels.insert(naming::SERVICE.into(), service.to_owned());
        labels.insert(naming::NUMBER.into(), "1".into());
        labels.insert(naming::ONEOFF.into(), "False".into());
        labels.insert(naming::HASH.into(), hash.to_owned());
        let env: Vec<String> = s
            .environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        let mut exposed = serde_json::Map::new();
        let mut bindings = serde_json::Map::new();
        for e in &s.expose {
            let key = if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            };
            exposed.insert(key, json!({}));
        }
        for p in &s.ports {
            let key = format!("{}/{}", p.target, p.protocol);
            exposed.insert(key.clone(), json!({}));
            let entry = bindings.entry(key).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!({"HostIp": p.host_ip, "HostPort": p.published}));
            }
        }
        let mut mounts = Vec::new();
        for m in &s.volumes {
            let source = match m.kind {
                MountKind::Volume if !m.source.is_empty() => self
                    .project
                    .volumes
                    .get(&m.source)
                    .map_or_else(|| m.source.clone(), |v| v.name.clone()),
                _ => m.source.clone(),
            };
            let kind = match m.kind {
                MountKind::Volume => "volume",
                MountKind::Bind => "bind",
                MountKind::Tmpfs => "tmpfs",
            };
            let mut mount = json!({"Type": kind, "Target": m.target, "ReadOnly": m.read_only});
            if !source.is_empty() {
                mount["Source"] = json!(source);
            }
            mounts.push(mount);
        }
        let tmpfs: serde_json::Map<String, Value> = s
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((path, opts)) => (path.to_owned(), json!(opts)),
                None => (t.clone(), json!("")),
            })
            .collect();
        let (restart_name, retries) = match s.restart.split_once(':') {
            Some((name, n)) => (name.to_owned(), n.parse::<i64>().unwrap_or(0)),
            None => (s.restart.clone(), 0),
        };
        let endpoints = self.endpoints(service);
        let network_mode = endpoints
            .first()
            .map_or_else(|| "default".to_owned(), |(n, _)| n.clone());
        let mut body = json!({
            "Image": s.image,
            "Labels": labels,
            "Env": env,
            "Hostname": s.hostname,
            "User": s.user,
            "WorkingDir": s.working_dir,
            "ExposedPorts": exposed,
            "HostConfig": {
                "NetworkMode": network_mode,
                "PortBindings": bindings,
                "Mounts": mounts,
                "Tmpfs": tmpfs,
                "RestartPolicy": {"Name": restart_name, "MaximumRetryCount": retries},
            },
        });
        if let Some(first) = endpoints.first() {
            body["NetworkingConfig"] = json!({"EndpointsConfig": {first.0.clone(): first.1}});
        }
        if let Some(cmd) = &s.command {
            body["Cmd"] = json!(cmd);
        }
        if let Some(ep) = &s.entrypoint {
            body["Entrypoint"] = json!(ep);
        }
        if let Some(init) = s.init {
            body["HostConfig"]["Init"] = json!(init);
        }
        if !s.stop_signal.is_empty() {
            body["StopSignal"] = json!(s.stop_signal);
        }
        if let Some(t) = s.stop_grace_period {
            body["StopTimeout"] = json!(t);
        }
        if let Some(h) = &s.healthcheck {
            body["Healthcheck"] = json!({
                "Test": h.test, "Interval": h.interval, "Timeout": h.timeout,
                "StartPeriod": h.start_period, "StartInterval": h.start_interval, "Retries": h.retries,
            });
        }
        body
    }

    async fn ensure_image(&self, image: &str, progress: &mut dyn FnMut(&str)) -> Result<(), Error> {
        match self.client.image_inspect(image).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => self.pull_one(image, progress).await,
            Err(e) => Err(api(format!("cannot inspect image `{image}`"))(e)),
        }
    }

    async fn pull_one(&self, image: &str, progress: &mut dyn FnMut(&str)) -> Result<(), Error> {
        let (repo, tag) = split_tag(image);
        progress(&format!(" Image {image}  Pulling"));
        self.client
            .image_pull(repo, tag)
            .await
            .map_err(api(format!("cannot pull `{image}`")))?;
        progress(&format!(" Image {image}  Pulled"));
        Ok(())
    }

    /// `pull`: every selected service's image.
    pub async fn pull(
        &self,
        services: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        let images: BTreeSet<String> = self
            .selected(services)?
            .iter()
            .map(|s| self.project.services[s].image.clone())
            .collect();
        for image in images {
            self.pull_one(&image, progress).await?;
        }
        Ok(())
    }

    /// `up`: networks, volumes, then each service (dependencies first) is
    /// left as it is when its container matches the file, or (re)created
    /// and started.
    pub async fn up(
        &self,
        services: &[String],
        opts: &UpOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        let order = self.ordered(services)?;
        self.ensure_networks(&order, progress).await?;
        self.ensure_volumes(&order, progress).await?;
        let existing = self.existing(false).await?;
        for service in &order {
            let s = &self.project.services[service];
            if !opts.no_start {
                for (dep, cond) in &s.depends_on {
                    self.wait_for(dep, *cond).await?;
                }
            }
            let hash = Self::config_hash(s);
            let name = self.container_name(service);
            let current = existing.iter().find(|c| &c.service == service && !c.oneoff);
            let id = match current {
                Some(c) if c.hash == hash && !opts.force_recreate => {
                    if c.state == "running" || opts.no_start {
                        progress(&format!(" Container {}  Running", c.name));
                        continue;
                    }
                    c.id.clone()
                }
                other => {
                    if let Some(c) = other {
                        progress(&format!(" Container {}  Recreate", c.name));
                        let _ = self
                            .client
                            .container_stop(&c.id, s.stop_grace_period, None)
                            .await;
                        self.client
                            .container_remove(&c.id, true, false)
                            .await
                            .map_err(api(format!("cannot remove `{}`", c.name)))?;
                    } else {
                        progress(&format!(" Container {name}  Creating"));
                    }
                    self.ensure_image(&s.image, progress).await?;
                    let created = self
                        .client
                        .container_create(Some(&name), &self.create_body(service, &hash))
                        .await
                        .map_err(api(format!(
                            "cannot create container for service `{service}`"
                        )))?;
                    for (net, endpoint) in self.endpoints(service).into_iter().skip(1) {
                        self.client
                            .network_connect(&net, &created.id, Some(endpoint))
                            .await
                            .map_err(api(format!("cannot connect `{name}` to network `{net}`")))?;
                    }
                    progress(&format!(" Container {name}  Created"));
                    created.id
                }
            };
            if !opts.no_start {
                progress(&format!(" Container {name}  Starting"));
                self.client
                    .container_start(&id)
                    .await
                    .map_err(api(format!("cannot start `{name}`")))?;
                progress(&format!(" Container {name}  Started"));
            }
        }
        Ok(())
    }

    /// Waits until `dep`'s container meets `cond` (checked every 200 ms).
    async fn wait_for(&self, dep: &str, cond: Condition) -> Result<(), Error> {
        if cond == Condition::ServiceStarted {
            return Ok(());
        }
        let name = self.container_name(dep);
        loop {
            let info = self
                .client
                .container_inspect(&name, false)
                .await
                .map_err(api(format!("cannot inspect `{name}`")))?;
            let state = &info["State"];
            let running = state["Running"].as_bool().unwrap_or(false);
            match cond {
                Condition::ServiceHealthy => {
                    match state["Health"]["Status"].as_str() {
                        Some("healthy") => return Ok(()),
                        Some("unhealthy") => {
                            return Err(Error::Dependency {
                                service: dep.to_owned(),
                                message: "is unhealthy".into(),
                            });
                        }
                        None => {
                            return Err(Error::Dependency { service: dep.to_owned(), message: "has no healthcheck, so `condition: service_healthy` cannot be met".into() });
                        }
                        _ if !running => {
                            return Err(Error::Dependency {
                                service: dep.to_owned(),
                                message: "exited before it became healthy".into(),
                            });
                        }
                        _ => {}
                    }
                }
                Condition::ServiceCompletedSuccessfully if !running => {
                    let code = state["ExitCode"].as_i64().unwrap_or(-1);
                    if code == 0 {
                        return Ok(());
                    }
                    return Err(Error::Dependency {
                        service: dep.to_owned(),
                        message: format!("did not complete successfully: exit {code}"),
                    });
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `down`: the project's containers (and, with `remove_orphans`,
    /// those of services no longer in the file), its networks, and with
    /// `volumes` its named volumes.
    pub async fn down(
        &self,
        volumes: bool,
        remove_orphans: bool,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        for c in self.existing(true).await? {
            let known = self.project.services.contains_key(&c.service);
            if !known && !remove_orphans {
                progress(&format!(
                    " Found orphan container ({}) for this project. Run with --remove-orphans to remove it.",
                    c.name
                ));
                continue;
            }
            let timeout = self
                .project
                .services
                .get(&c.service)
                .and_then(|s| s.stop_grace_period);
            if c.state == "running" {
                progress(&format!(" Container {}  Stopping", c.name));
                let _ = self.client.container_stop(&c.id, timeout, None).await;
                progress(&format!(" Container {}  Stopped", c.name));
            }
            progress(&format!(" Container {}  Removing", c.name));
            self.client
                .container_remove(&c.id, true, false)
                .await
                .map_err(api(format!("cannot remove `{}`", c.name)))?;
            progress(&format!(" Container {}  Removed", c.name));
        }
        for def in self.project.networks.values().filter(|n| !n.external) {
            match self.client.network_remove(&def.name).await {
                Ok(()) => progress(&format!(" Network {}  Removed", def.name)),
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(api(format!("cannot remove network `{}`", def.name))(e)),
            }
        }
        if volumes {
            for def in self.project.volumes.values().filter(|v| !v.external) {
                match self.client.volume_remove(&def.name, false).await {
                    Ok(()) => progress(&format!(" Volume {}  Removed", def.name)),
                    Err(e) if e.status() == Some(404) => {}
                    Err(e) => return Err(api(format!("cannot remove volume `{}`", def.name))(e)),
                }
            }
        }
        Ok(())
    }

    /// The containers of `services` (all when empty), by name.
    pub async fn containers(&self, services: &[String]) -> Result<Vec<(String, String)>, Error> {
        let selected = self.selected(services)?;
        Ok(self
            .existing(false)
            .await?
            .into_iter()
            .filter(|c| selected.contains(&c.service))
            .map(|c| (c.service, c.name))
            .collect())
    }

    /// `stop`, `start` or `restart` of the selected services' containers
    /// (`start` and `restart` in dependency order, `stop` in reverse).
    pub async fn lifecycle(
        &self,
        action: &str,
        services: &[String],
        timeout: Option<i64>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), Error> {
        // `start` brings up what the services depend on as well; `stop` and
        // `restart` touch only the services named.
        let mut order = if action == "start" {
            self.ordered(services)?
        } else {
            let selected = self.selected(services)?;
            self.ordered(&[])?
                .into_iter()
                .filter(|s| selected.contains(s))
                .collect()
        };
        if action == "stop" {
            order.reverse();
        }
        let existing = self.existing(false).await?;
        for service in order {
            let grace = timeout.or(self.project.services[&service].stop_grace_period);
            for c in existing.iter().filter(|c| c.service == service) {
                let verb = match action {
                    "stop" => "Stopp",
                    "start" => "Start",
                    _ => "Restart",
                };
                progress(&format!(" Container {}  {verb}ing", c.name));
                let result = match action {
                    "stop" => self.client.container_stop(&c.id, grace, None).await,
                    "start" => self.client.container_start(&c.id).await,
                    _ => self.client.container_restart(&c.id, grace, None).await,
                };
                result.map_err(api(format!("cannot {action} `{}`", c.name)))?;
                progress(&format!(" Container {}  {verb}ed", c.name));
            }
        }
        Ok(())
    }

    /// `ps`: the project's containers (running ones unless `all`).
    pub async fn ps(&self, all: bool) -> Result<Vec<PsRow>, Error> {
        let filters =
            json!({"label": [format!("{}={}", naming::PROJECT, self.project.name)]}).to_string();
        let list = self
            .client
            .containers(&ListOptions {
                all,
                filters,
                ..ListOptions::default()
            })
            .await
            .map_err(api("cannot list the project's containers"))?;
        let mut rows: Vec<PsRow> = list
            .iter()
            .filter(|c| {
                !c["Labels"][naming::ONEOFF]
                    .as_str()
                    .unwrap_or("")
                    .eq_ignore_ascii_case("true")
            })
            .map(|c| PsRow {
                name: c["Names"][0]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches('/')
                    .to_owned(),
                image: c["Image"].as_str().unwrap_or("").to_owned(),
                command: format!("\"{}\"", c["Command"].as_str().unwrap_or("")),
                service: c["Labels"][naming::SERVICE]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                state: c["State"].as_str().unwrap_or("").to_owned(),
                status: c["Status"].as_str().unwrap_or("").to_owned(),
                ports: ports_text(&c["Ports"]),
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows)
    }
}

/// `busybox:1.36` -> (`busybox`, `1.36`); no tag: `latest`.
fn split_tag(image: &str) -> (&str, &str) {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        return (name, d);
    }
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (name, "latest"),
    }
}

/// docker's `ps` PORTS column.
fn ports_text(ports: &Value) -> String {
    let mut out: Vec<String> = ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let private = p["PrivatePort"].as_u64().unwrap_or(0);
            let kind = p["Type"].as_str().unwrap_or("tcp");
            match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
                (Some(ip), Some(public)) => format!("{ip}:{public}->{private}/{kind}"),
                _ => format!("{private}/{kind}"),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("reg:5000/a/b:1"), ("reg:5000/a/b", "1"));
        assert_eq!(split_tag("reg:5000/a/b"), ("reg:5000/a/b", "latest"));
    }
}
