//! The Compose file model: what berth compose reads from a (merged,
//! interpolated) file, checked key by key so a mistake names the file,
//! the service and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;
use crate::merge::as_map;

/// A loaded project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// Normalised (see [`crate::normalize_project_name`]).
    pub name: String,
    /// Where relative paths start: the first file's directory.
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub services: BTreeMap<String, Service>,
    /// By key in the file; [`NetworkDef::name`] is the daemon's name.
    pub networks: BTreeMap<String, NetworkDef>,
    pub volumes: BTreeMap<String, VolumeDef>,
}

/// One service. Its JSON (keys sorted) is what the config hash covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Service {
    pub image: String,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `None`: passed through from the environment of `berth compose`.
    pub environment: BTreeMap<String, Option<String>>,
    pub ports: Vec<PortSpec>,
    pub volumes: Vec<Mount>,
    /// Network key -> aliases.
    pub networks: BTreeMap<String, Vec<String>>,
    pub depends_on: BTreeMap<String, Condition>,
    /// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub restart: String,
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<Healthcheck>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub tmpfs: Vec<String>,
    pub init: Option<bool>,
    pub stop_signal: String,
    /// `stop_grace_period` in seconds.
    pub stop_grace_period: Option<i64>,
    /// `container_name`, instead of `<project>-<service>-1`.
    pub container_name: String,
    pub expose: Vec<String>,
}

/// A published or exposed port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub host_ip: String,
    /// Empty: a port the daemon picks.
    pub published: String,
    pub target: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
    Tmpfs,
}

/// A `volumes:` entry of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub kind: MountKind,
    /// A volume key of the file (or a volume name), an absolute host path
    /// for binds, empty for an anonymous volume or a tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// Durations in nanoseconds (0: the daemon's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    /// `["NONE"]` when disabled.
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetworkDef {
    /// The daemon's name: `name:`, or `<project>_<key>`.
    pub name: String,
    pub external: bool,
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    /// `(subnet, gateway, ip_range)` of `ipam.config`.
    pub ipam: Vec<(String, String, String)>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VolumeDef {
    /// The daemon's name: `name:`, or `<project>_<key>`.
    pub name: String,
    pub external: bool,
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "depends_on",
    "restart",
    "labels",
    "healthcheck",
    "working_dir",
    "user",
    "hostname",
    "tmpfs",
    "init",
    "stop_signal",
    "stop_grace_period",
    "container_name",
    "expose",
];

/// Reads the merged file `root` of `files` (named in errors) for project
/// `name` in `working_dir`; `env_file`s are read relative to it.
pub(crate) fn parse_project(
    root: &Value,
    files: &str,
    name: &str,
    working_dir: &Path,
    config_files: Vec<PathBuf>,
) -> Result<Project, Error> {
    let top = root.as_object().ok_or_else(|| Error::Invalid {
        file: files.to_owned(),
        service: None,
        key: "(top level)".into(),
        message: "must be a mapping with `services`".into(),
    })?;
    let p = Parser {
        file: files,
        service: None,
    };
    for key in top.keys() {
        if !matches!(
            key.as_str(),
            "version" | "name" | "services" | "networks" | "volumes"
        ) && !key.starts_with("x-")
        {
            return Err(p.err(key, "is not a top-level key berth compose knows (`services`, `networks`, `volumes`, `name`, `version`, `x-*`)"));
        }
    }
    let mut networks = BTreeMap::new();
    for (key, value) in p.map_or_empty(top.get("networks"), "networks")? {
        networks.insert(key.clone(), p.network(&key, &value, name)?);
    }
    let mut volumes = BTreeMap::new();
    for (key, value) in p.map_or_empty(top.get("volumes"), "volumes")? {
        volumes.insert(key.clone(), p.volume(&key, &value, name)?);
    }
    let services_raw = p.map_or_empty(top.get("services"), "services")?;
    if services_raw.is_empty() {
        return Err(p.err("services", "no services are defined"));
    }
    let mut services = BTreeMap::new();
    let mut uses_default = false;
    for (svc, value) in &services_raw {
        let sp = Parser {
            file: files,
            service: Some(svc),
        };
        let service = sp.service(value, working_dir)?;
        for net in service.networks.keys() {
            if net == "default" {
                uses_default = true;
            } else if !networks.contains_key(net) {
                return Err(sp.err(
                    "networks",
                    &format!("network `{net}` is not declared in the top-level `networks`"),
                ));
            }
        }
        for m in &service.volumes {
            if m.kind == MountKind::Volume
                && !m.source.is_empty()
                && !volumes.contains_key(&m.source)
            {
                return Err(sp.err(
                    "volumes",
                    &format!(
                        "named volume `{}` is not declared in the top-level `volumes`",
                        m.source
                    ),
                ));
            }
        }
        for dep in service.depends_on.keys() {
            if !services_raw.contains_key(dep) {
                return Err(sp.err(
                    "depends_on",
                    &format!("depends on undefined service `{dep}`"),
                ));
            }
        }
        services.insert(svc.clone(), service);
    }
    if uses_default && !networks.contains_key("default") {
        networks.insert(
            "default".into(),
            NetworkDef {
                name: crate::naming::scoped(name, "default"),
                ..NetworkDef::default()
            },
        );
    }
    Ok(Project {
        name: name.to_owned(),
        working_dir: working_dir.to_owned(),
        config_files,
        services,
        networks,
        volumes,
    })
}

struct Parser<'a> {
    file: &'a str,
    service: Option<&'a str>,
}

impl Parser<'_> {
    fn err(&self, key: &str, message: &str) -> Error {
        Error::Invalid {
            file: self.file.to_owned(),
            service: self.service.map(str::to_owned),
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }

    fn map_or_empty(&self, v: Option<&Value>, key: &str) -> Result<Map<String, Value>, Error> {
        match v {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(self.err(key, "must be a mapping")),
        }
    }

    /// A scalar as text (compose accepts numbers and booleans too).
    fn text(&self, v: &Value, key: &str) -> Result<String, Error> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.err(key, "must be a string")),
        }
    }

    fn bool(&self, v: &Value, key: &str) -> Result<bool, Error> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            _ => Err(self.err(key, "must be `true` or `false`")),
        }
    }

    fn string_map(&self, v: Option<&Value>, key: &str) -> Result<BTreeMap<String, String>, Error> {
        let Some(v) = v else {
            return Ok(BTreeMap::new());
        };
        if !matches!(v, Value::Object(_) | Value::Array(_) | Value::Null) {
            return Err(self.err(key, "must be a mapping or a list of `KEY=VALUE`"));
        }
        as_map(v)
            .into_iter()
            .map(|(k, v)| match v {
                Value::Null => Ok((k, String::new())),
                other => Ok((k.clone(), self.text(&other, &format!("{key}.{k}"))?)),
            })
            .collect()
    }

    /// A string (split as a shell would) or a list of strings.
    fn words(&self, v: &Value, key: &str) -> Result<Vec<String>, Error> {
        match v {
            Value::String(s) => shell_words::split(s)
                .map_err(|e| self.err(key, &format!("cannot split `{s}` into words: {e}"))),
            Value::Array(items) => items.iter().map(|i| self.text(i, key)).collect(),
            _ => Err(self.err(key, "must be a string or a list of strings")),
        }
    }

    fn list(&self, v: Option<&Value>, key: &str) -> Result<Vec<String>, Error> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(|i| self.text(i, key)).collect(),
            Some(other) => Ok(vec![self.text(other, key)?]),
        }
    }

    fn network(&self, key: &str, v: &Value, project: &str) -> Result<NetworkDef, Error> {
        let m = self.map_or_empty(Some(v), &format!("networks.{key}"))?;
        let k = |f: &str| format!("networks.{key}.{f}");
        let external = match m.get("external") {
            Some(e) => self.bool(e, &k("external"))?,
            None => false,
        };
        let name = match m.get("name") {
            Some(n) => self.text(n, &k("name"))?,
            None if external => key.to_owned(),
            None => crate::naming::scoped(project, key),
        };
        let mut ipam = Vec::new();
        if let Some(i) = m.get("ipam") {
            let im = self.map_or_empty(Some(i), &k("ipam"))?;
            if let Some(Value::Array(configs)) = im.get("config") {
                for c in configs {
                    let cm = self.map_or_empty(Some(c), &k("ipam.config"))?;
                    let get = |f: &str| -> Result<String, Error> {
                        cm.get(f).map_or(Ok(String::new()), |v| {
                            self.text(v, &k(&format!("ipam.config.{f}")))
                        })
                    };
                    ipam.push((get("subnet")?, get("gateway")?, get("ip_range")?));
                }
            }
        }
        let flag = |f: &str| -> Result<bool, Error> {
            m.get(f).map_or(Ok(false), |v| self.bool(v, &k(f)))
        };
        Ok(NetworkDef {
            name,
            external,
            driver: m
                .get("driver")
                .map_or(Ok(String::new()), |v| self.text(v, &k("driver")))?,
            driver_opts: self.string_map(m.get("driver_opts"), &k("driver_opts"))?,
            ipam,
            internal: flag("internal")?,
            attachable: flag("attachable")?,
            enable_ipv6: flag("enable_ipv6")?,
            labels: self.string_map(m.get("labels"), &k("labels"))?,
        })
    }

    fn volume(&self, key: &str, v: &Value, project: &str) -> Result<VolumeDef, Error> {
        let m = self.map_or_empty(Some(v), &format!("volumes.{key}"))?;
        let k = |f: &str| format!("volumes.{key}.{f}");
        let external = match m.get("external") {
            Some(e) => self.bool(e, &k("external"))?,
            None => false,
        };
        let name = match m.get("name") {
            Some(n) => self.text(n, &k("name"))?,
            None if external => key.to_owned(),
            None => crate::naming::scoped(project, key),
        };
        Ok(VolumeDef {
            name,
            external,
            driver: m
                .get("driver")
                .map_or(Ok(String::new()), |v| self.text(v, &k("driver")))?,
            driver_opts: self.string_map(m.get("driver_opts"), &k("driver_opts"))?,
            labels: self.string_map(m.get("labels"), &k("labels"))?,
        })
    }

    fn service(&self, v: &Value, working_dir: &Path) -> Result<Service, Error> {
        let m = v
            .as_object()
            .ok_or_else(|| self.err("(service)", "must be a mapping"))?;
        for key in m.keys() {
            if key == "build" {
                return Err(self.err("build", "is not supported yet\n\nhint: build the image with `berth build -t NAME .` and name it in `image`"));
            }
            if !SERVICE_KEYS.contains(&key.as_str()) && !key.starts_with("x-") {
                return Err(self.err(key, "is not a service key berth compose knows"));
            }
        }
        let text = |key: &str| -> Result<String, Error> {
            m.get(key).map_or(Ok(String::new()), |v| self.text(v, key))
        };
        let image = text("image")?;
        if image.is_empty() {
            return Err(self.err("image", "is required (berth compose does not build images)"));
        }
        let mut environment = BTreeMap::new();
        for file in self.list(m.get("env_file"), "env_file")? {
            let path = working_dir.join(&file);
            let body =
                fs_err::read_to_string(&path).map_err(|e| self.err("env_file", &e.to_string()))?;
            for (k, v) in crate::interp::parse_dotenv(&body) {
                environment.insert(k, Some(v));
            }
        }
        if let Some(env) = m.get("environment") {
            if !matches!(env, Value::Object(_) | Value::Array(_) | Value::Null) {
                return Err(self.err("environment", "must be a mapping or a list of `KEY=VALUE`"));
            }
            for (k, v) in as_map(env) {
                let value = match v {
                    Value::Null => {
                        // `- KEY` (list form) or `KEY:` (mapping form).
                        let in_list = matches!(env, Value::Array(items) if items.iter().any(|i| i.as_str() == Some(k.as_str())));
                        if in_list || matches!(env, Value::Object(_)) {
                            None
                        } else {
                            Some(String::new())
                        }
                    }
                    other => Some(self.text(&other, &format!("environment.{k}"))?),
                };
                environment.insert(k, value);
            }
        }
        let restart = text("restart")?;
        if !(restart.is_empty()
            || matches!(
                restart.as_str(),
                "no" | "always" | "unless-stopped" | "on-failure"
            )
            || restart
                .strip_prefix("on-failure:")
                .is_some_and(|n| n.parse::<u32>().is_ok()))
        {
            return Err(self.err(
                "restart",
                &format!(
                    "`{restart}` is not one of `no`, `always`, `on-failure[:N]`, `unless-stopped`"
                ),
            ));
        }
        let mut ports = Vec::new();
        if let Some(list) = m.get("ports") {
            let Value::Array(items) = list else {
                return Err(self.err("ports", "must be a list"));
            };
            for item in items {
                ports.push(self.port(item)?);
            }
        }
        let mut volumes = Vec::new();
        if let Some(list) = m.get("volumes") {
            let Value::Array(items) = list else {
                return Err(self.err("volumes", "must be a list"));
            };
            for item in items {
                volumes.push(self.mount(item, working_dir)?);
            }
        }
        let mut networks = BTreeMap::new();
        match m.get("networks") {
            None | Some(Value::Null) => {
                networks.insert("default".to_owned(), Vec::new());
            }
            Some(Value::Array(items)) => {
                for i in items {
                    networks.insert(self.text(i, "networks")?, Vec::new());
                }
            }
            Some(Value::Object(map)) => {
                for (net, cfg) in map {
                    let aliases = match cfg {
                        Value::Object(c) => {
                            self.list(c.get("aliases"), &format!("networks.{net}.aliases"))?
                        }
                        Value::Null => Vec::new(),
                        _ => return Err(self.err(&format!("networks.{net}"), "must be a mapping")),
                    };
                    networks.insert(net.clone(), aliases);
                }
            }
            Some(_) => return Err(self.err("networks", "must be a list or a mapping")),
        }
        let mut depends_on = BTreeMap::new();
        match m.get("depends_on") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for i in items {
                    depends_on.insert(self.text(i, "depends_on")?, Condition::ServiceStarted);
                }
            }
            Some(Value::Object(map)) => {
                for (dep, cfg) in map {
                    let cond = match cfg.get("condition").map(|c| self.text(c, &format!("depends_on.{dep}.condition"))).transpose()?.as_deref() {
                        None | Some("service_started") => Condition::ServiceStarted,
                        Some("service_healthy") => Condition::ServiceHealthy,
                        Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                        Some(other) => return Err(self.err(&format!("depends_on.{dep}.condition"), &format!("`{other}` is not one of `service_started`, `service_healthy`, `service_completed_successfully`"))),
                    };
                    depends_on.insert(dep.clone(), cond);
                }
            }
            Some(_) => return Err(self.err("depends_on", "must be a list or a mapping")),
        }
        let healthcheck = m
            .get("healthcheck")
            .map(|h| self.healthcheck(h))
            .transpose()?;
        let init = m.get("init").map(|v| self.bool(v, "init")).transpose()?;
        let stop_grace_period = m
            .get("stop_grace_period")
            .map(|v| {
                self.duration(v, "stop_grace_period")
                    .map(|ns| ns / 1_000_000_000)
            })
            .transpose()?;
        Ok(Service {
            image,
            command: m
                .get("command")
                .map(|v| self.words(v, "command"))
                .transpose()?,
            entrypoint: m
                .get("entrypoint")
                .map(|v| self.words(v, "entrypoint"))
                .transpose()?,
            environment,
            ports,
            volumes,
            networks,
            depends_on,
            restart,
            labels: self.string_map(m.get("labels"), "labels")?,
            healthcheck,
            working_dir: text("working_dir")?,
            user: text("user")?,
            hostname: text("hostname")?,
            tmpfs: self.list(m.get("tmpfs"), "tmpfs")?,
            init,
            stop_signal: text("stop_signal")?,
            stop_grace_period,
            container_name: text("container_name")?,
            expose: self.list(m.get("expose"), "expose")?,
        })
    }

    /// `[ip:][published:]target[/protocol]` or the long form.
    fn port(&self, v: &Value) -> Result<PortSpec, Error> {
        if let Value::Object(m) = v {
            let target = m
                .get("target")
                .ok_or_else(|| self.err("ports", "a long-form port needs `target`"))?;
            let target = self.text(target, "ports.target")?;
            return Ok(PortSpec {
                host_ip: m
                    .get("host_ip")
                    .map_or(Ok(String::new()), |v| self.text(v, "ports.host_ip"))?,
                published: m
                    .get("published")
                    .map_or(Ok(String::new()), |v| self.text(v, "ports.published"))?,
                target: target.parse().map_err(|_| {
                    self.err("ports.target", &format!("`{target}` is not a port number"))
                })?,
                protocol: m
                    .get("protocol")
                    .map_or(Ok("tcp".into()), |v| self.text(v, "ports.protocol"))?,
            });
        }
        let spec = self.text(v, "ports")?;
        let (rest, protocol) = match spec.split_once('/') {
            Some((r, p)) => (r, p.to_owned()),
            None => (spec.as_str(), "tcp".to_owned()),
        };
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        let (host_ip, published, target) = match parts.as_slice() {
            [t] => ("", "", *t),
            [t, p] => ("", *p, *t),
            [t, p, ip] => (*ip, *p, *t),
            _ => ("", "", ""),
        };
        let bad = || {
            self.err(
                "ports",
                &format!("`{spec}` is not `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`"),
            )
        };
        let target: u16 = target.parse().map_err(|_| bad())?;
        if !published.is_empty() && published.parse::<u16>().is_err() {
            return Err(bad());
        }
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(bad());
        }
        Ok(PortSpec {
            host_ip: host_ip.trim_matches(|c| c == '[' || c == ']').to_owned(),
            published: published.to_owned(),
            target,
            protocol,
        })
    }

    /// `SOURCE:TARGET[:MODE]`, `TARGET`, or the long form.
    fn mount(&self, v: &Value, working_dir: &Path) -> Result<Mount, Error> {
        let host_path = |s: &str| -> String {
            if s.starts_with('/') {
                s.to_owned()
            } else {
                let rel = s.strip_prefix("./").unwrap_or(s);
                if rel == "." {
                    working_dir.display().to_string()
                } else {
                    working_dir.join(rel).display().to_string()
                }
            }
        };
        let is_path = |s: &str| s.starts_with('/') || s.starts_with('.') || s.starts_with('~');
        if let Value::Object(m) = v {
            let get = |f: &str| {
                m.get(f)
                    .map_or(Ok(String::new()), |v| self.text(v, &format!("volumes.{f}")))
            };
            let kind = match get("type")?.as_str() {
                "volume" => MountKind::Volume,
                "bind" => MountKind::Bind,
                "tmpfs" => MountKind::Tmpfs,
                other => {
                    return Err(self.err(
                        "volumes.type",
                        &format!("`{other}` is not one of `volume`, `bind`, `tmpfs`"),
                    ));
                }
            };
            let target = get("target")?;
            if target.is_empty() {
                return Err(self.err("volumes.target", "is required"));
            }
            let source = get("source")?;
            let read_only = m
                .get("read_only")
                .map(|v| self.bool(v, "volumes.read_only"))
                .transpose()?
                .unwrap_or(false);
            return Ok(Mount {
                kind,
                source: if kind == MountKind::Bind {
                    host_path(&source)
                } else {
                    source
                },
                target,
                read_only,
            });
        }
        let spec = self.text(v, "volumes")?;
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [t] => ("", *t, ""),
            [s, t] => (*s, *t, ""),
            [s, t, m] => (*s, *t, *m),
            _ => {
                return Err(self.err(
                    "volumes",
                    &format!("`{spec}` is not `[SOURCE:]TARGET[:MODE]`"),
                ));
            }
        };
        if !target.starts_with('/') {
            return Err(self.err(
                "volumes",
                &format!("`{spec}`: the target `{target}` must be an absolute path"),
            ));
        }
        let read_only = mode.split(',').any(|o| o == "ro");
        let kind = if !source.is_empty() && is_path(source) {
            MountKind::Bind
        } else {
            MountKind::Volume
        };
        Ok(Mount {
            kind,
            source: if kind == MountKind::Bind {
                host_path(source)
            } else {
                source.to_owned()
            },
            target: target.to_owned(),
            read_only,
        })
    }

    fn healthcheck(&self, v: &Value) -> Result<Healthcheck, Error> {
        let m = self.map_or_empty(Some(v), "healthcheck")?;
        if m.get("disable")
            .map(|d| self.bool(d, "healthcheck.disable"))
            .transpose()?
            == Some(true)
        {
            return Ok(Healthcheck {
                test: vec!["NONE".into()],
                ..Healthcheck::default()
            });
        }
        let test = match m.get("test") {
            None => Vec::new(),
            Some(Value::String(s)) => vec!["CMD-SHELL".into(), s.clone()],
            Some(other) => self.words(other, "healthcheck.test")?,
        };
        let d = |f: &str| {
            m.get(f)
                .map_or(Ok(0), |v| self.duration(v, &format!("healthcheck.{f}")))
        };
        Ok(Healthcheck {
            test,
            interval: d("interval")?,
            timeout: d("timeout")?,
            start_period: d("start_period")?,
            start_interval: d("start_interval")?,
            retries: match m.get("retries") {
                Some(Value::Number(n)) => n
                    .as_i64()
                    .ok_or_else(|| self.err("healthcheck.retries", "must be a whole number"))?,
                Some(_) => return Err(self.err("healthcheck.retries", "must be a whole number")),
                None => 0,
            },
        })
    }

    /// Go-style durations (`1m30s`, `500ms`, `2h`); a bare number is seconds.
    fn duration(&self, v: &Value, key: &str) -> Result<i64, Error> {
        let s = self.text(v, key)?;
        parse_duration(&s).ok_or_else(|| {
            self.err(
                key,
                &format!("`{s}` is not a duration such as `10s`, `1m30s` or `500ms`"),
            )
        })
    }
}

/// `1m30s` -> nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(1_000_000_000);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        #[allow(clippy::cast_possible_truncation, reason = "durations fit in i64 ns")]
        let ns = (number * scale) as i64;
        total = total.checked_add(ns)?;
    }
    Some(total)
}
