//! Finding, reading, interpolating and merging the files of a project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::{Project, parse_project};
use crate::{Error, interp, merge, naming};

/// Where compose looks when no `-f` is given, in order.
const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// What the user chose: `-f`, `-p`, `--project-directory`, and the
/// directory compose runs in.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub cwd: PathBuf,
}

impl LoadOptions {
    /// No flags, run in `cwd`.
    pub fn from_dir(cwd: PathBuf) -> Self {
        Self {
            cwd,
            ..Self::default()
        }
    }
}

/// Loads the project: the files (`-f`, else `COMPOSE_FILE`, else the
/// first of `compose.yaml`, `compose.yml`, `docker-compose.yml`,
/// `docker-compose.yaml`), each interpolated from `env` and then `.env`
/// in the project directory, merged in order; the name from `-p`,
/// `COMPOSE_PROJECT_NAME`, the file's `name:` or the directory's name.
pub fn load(opts: &LoadOptions, env: &dyn Fn(&str) -> Option<String>) -> Result<Project, Error> {
    load_merged(opts, env).map(|(project, _)| project)
}

/// [`load`], and the merged, interpolated file as YAML (`config`).
pub fn load_with_yaml(
    opts: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Project, String), Error> {
    let (project, mut merged) = load_merged(opts, env)?;
    if let Some(top) = merged.as_object_mut() {
        top.insert("name".into(), Value::String(project.name.clone()));
    }
    let yaml = serde_saphyr::to_string(&merged).map_err(|e| Error::Yaml {
        file: "(merged)".into(),
        message: e.to_string(),
    })?;
    Ok((project, yaml))
}

fn load_merged(
    opts: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Project, Value), Error> {
    let cwd = &opts.cwd;
    let mut files: Vec<PathBuf> = opts.files.iter().map(|f| cwd.join(f)).collect();
    if files.is_empty()
        && let Some(list) = env("COMPOSE_FILE").filter(|l| !l.is_empty())
    {
        files = list.split(':').map(|f| cwd.join(f)).collect();
    }
    if files.is_empty() {
        let found = DEFAULT_FILES
            .iter()
            .map(|f| cwd.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::NoConfigFile { dir: cwd.clone() })?;
        files.push(found);
    }
    let working_dir = match &opts.project_directory {
        Some(d) => cwd.join(d),
        None => files[0]
            .parent()
            .map_or_else(|| cwd.clone(), Path::to_path_buf),
    };
    let dotenv_path = working_dir.join(".env");
    let dotenv: BTreeMap<String, String> = if dotenv_path.is_file() {
        let text = fs_err::read_to_string(&dotenv_path).map_err(|source| Error::Read {
            path: dotenv_path.clone(),
            source,
        })?;
        interp::parse_dotenv(&text).into_iter().collect()
    } else {
        BTreeMap::new()
    };
    let lookup = |k: &str| env(k).or_else(|| dotenv.get(k).cloned());
    let mut merged = Value::Null;
    for path in &files {
        let text = fs_err::read_to_string(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let file = path.display().to_string();
        let mut value: Value = serde_saphyr::from_str(&text).map_err(|e| Error::Yaml {
            file: file.clone(),
            message: e.to_string(),
        })?;
        interp::interpolate(&mut value, &lookup)
            .map_err(|message| Error::Interpolation { file, message })?;
        if merged.is_null() {
            merged = value;
        } else {
            merge::merge_files(&mut merged, value);
        }
    }
    let file_names = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join("`, `");
    let raw_name = opts
        .project_name
        .clone()
        .or_else(|| lookup("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()))
        .or_else(|| {
            merged
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            working_dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_default();
    let name = naming::normalize_project_name(&raw_name);
    if name.is_empty() {
        return Err(Error::Invalid {
            file: file_names,
            service: None,
            key: "name".into(),
            message: format!(
                "`{raw_name}` leaves no project name once normalised (lower-case letters, digits, `_` and `-`, starting with a letter or digit)\n\nhint: name the project with `-p NAME`"
            ),
        });
    }
    let mut project = parse_project(&merged, &file_names, &name, &working_dir, files.clone())?;
    // `- KEY` without a value: the value in compose's own environment, or
    // nothing when it has none.
    for service in project.services.values_mut() {
        service.environment = std::mem::take(&mut service.environment)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Some(v) => Some((k, Some(v))),
                None => lookup(&k).map(|v| (k, Some(v))),
            })
            .collect();
    }
    Ok((project, merged))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use crate::model::{Condition, MountKind};

    fn write(dir: &Path, name: &str, text: &str) {
        fs_err::write(dir.join(name), text).unwrap();
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const FILE: &str = r#"
services:
  web:
    image: "busybox:${TAG:-latest}"
    command: httpd -f -p "${PORT}"
    entrypoint: ["sh", "-c"]
    environment:
      - A=1
      - FROM_ENV
    env_file: web.env
    ports:
      - "127.0.0.1:8080:80"
      - "9000/udp"
      - target: 443
        published: "8443"
    volumes:
      - data:/data
      - ./src:/src:ro
      - /anon
      - type: tmpfs
        target: /cache
    networks:
      back:
        aliases: [www]
    depends_on:
      db:
        condition: service_healthy
    restart: on-failure:3
    labels: {tier: web}
    healthcheck:
      test: wget -q http://127.0.0.1/
      interval: 1m30s
      retries: 3
    working_dir: /w
    user: "1000"
    hostname: h
    tmpfs: /run
    init: true
  db:
    image: busybox
    depends_on: [cache]
  cache:
    image: busybox
    environment: {X: 1, Y: true}
volumes:
  data:
networks:
  back:
    ipam:
      config:
        - subnet: 10.9.0.0/24
"#;

    #[test]
    fn model_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "compose.yaml", FILE);
        write(dir.path(), "web.env", "FROM_FILE=f\nA=overridden\n");
        write(
            dir.path(),
            ".env",
            "PORT=8000\nCOMPOSE_PROJECT_NAME=My_Proj\n",
        );
        let env = |k: &str| (k == "FROM_ENV").then(|| "e".to_owned());
        let p = load(&LoadOptions::from_dir(dir.path().to_owned()), &env).unwrap();
        assert_eq!(p.name, "my_proj");
        let web = &p.services["web"];
        assert_eq!(web.image, "busybox:latest");
        assert_eq!(
            web.command.as_deref().unwrap(),
            ["httpd", "-f", "-p", "8000"]
        );
        assert_eq!(web.environment["A"].as_deref(), Some("1"));
        assert_eq!(web.environment["FROM_ENV"].as_deref(), Some("e"));
        assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("f"));
        assert_eq!(web.ports.len(), 3);
        assert_eq!(
            (
                web.ports[0].host_ip.as_str(),
                web.ports[0].published.as_str(),
                web.ports[0].target
            ),
            ("127.0.0.1", "8080", 80)
        );
        assert_eq!(
            (web.ports[1].target, web.ports[1].protocol.as_str()),
            (9000, "udp")
        );
        assert_eq!(web.ports[2].published, "8443");
        assert_eq!(web.volumes[0].kind, MountKind::Volume);
        assert_eq!(web.volumes[1].kind, MountKind::Bind);
        assert_eq!(
            web.volumes[1].source,
            dir.path().join("src").display().to_string()
        );
        assert!(web.volumes[1].read_only);
        assert_eq!(
            (web.volumes[2].kind, web.volumes[2].source.as_str()),
            (MountKind::Volume, "")
        );
        assert_eq!(web.volumes[3].kind, MountKind::Tmpfs);
        assert_eq!(web.networks["back"], ["www"]);
        assert_eq!(web.depends_on["db"], Condition::ServiceHealthy);
        assert_eq!(
            p.services["db"].depends_on["cache"],
            Condition::ServiceStarted
        );
        let hc = web.healthcheck.as_ref().unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "wget -q http://127.0.0.1/"]);
        assert_eq!(hc.interval, 90_000_000_000);
        assert_eq!(web.restart, "on-failure:3");
        assert_eq!(web.tmpfs, ["/run"]);
        assert_eq!(web.init, Some(true));
        assert_eq!(
            p.services["cache"].environment["Y"].as_deref(),
            Some("true")
        );
        assert_eq!(p.volumes["data"].name, "my_proj_data");
        assert_eq!(p.networks["back"].name, "my_proj_back");
        assert_eq!(p.networks["default"].name, "my_proj_default");
    }

    #[test]
    fn project_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("Some Dir");
        fs_err::create_dir(&sub).unwrap();
        write(
            &sub,
            "docker-compose.yml",
            "services: {a: {image: busybox}}\n",
        );
        let p = load(&LoadOptions::from_dir(sub.clone()), &no_env).unwrap();
        assert_eq!(p.name, "somedir");
        let env = |k: &str| (k == "COMPOSE_PROJECT_NAME").then(|| "fromenv".to_owned());
        assert_eq!(
            load(&LoadOptions::from_dir(sub.clone()), &env)
                .unwrap()
                .name,
            "fromenv"
        );
        let opts = LoadOptions {
            project_name: Some("Flag".into()),
            ..LoadOptions::from_dir(sub)
        };
        assert_eq!(load(&opts, &env).unwrap().name, "flag");
    }

    #[test]
    fn files_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.yml",
            "services: {web: {image: busybox, command: [a], environment: [A=1]}}\n",
        );
        write(
            dir.path(),
            "b.yml",
            "services: {web: {command: [b], environment: {B: 2}}}\n",
        );
        let opts = LoadOptions {
            files: vec!["a.yml".into(), "b.yml".into()],
            project_name: Some("p".into()),
            ..LoadOptions::from_dir(dir.path().to_owned())
        };
        let p = load(&opts, &no_env).unwrap();
        let web = &p.services["web"];
        assert_eq!(web.command.as_deref().unwrap(), ["b"]);
        assert_eq!(web.environment.len(), 2);
    }

    #[test]
    fn errors_name_the_file_the_service_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        let load_text = |text: &str| {
            fs_err::write(&file, text).unwrap();
            let opts = LoadOptions {
                project_name: Some("p".into()),
                ..LoadOptions::from_dir(dir.path().to_owned())
            };
            load(&opts, &no_env).unwrap_err().to_string()
        };
        let f = file.display();
        assert_eq!(
            load_text("services: {web: {image: busybox, ports: [\"80:abc\"]}}\n"),
            format!(
                "`{f}`: service `web`: `ports`: `80:abc` is not `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`"
            )
        );
        assert_eq!(
            load_text("services: {web: {image: busybox, restart: sometimes}}\n"),
            format!(
                "`{f}`: service `web`: `restart`: `sometimes` is not one of `no`, `always`, `on-failure[:N]`, `unless-stopped`"
            )
        );
        assert_eq!(
            load_text("services: {web: {image: busybox, volumes: [\"data:/d\"]}}\n"),
            format!(
                "`{f}`: service `web`: `volumes`: named volume `data` is not declared in the top-level `volumes`"
            )
        );
        assert_eq!(
            load_text("services: {web: {image: busybox, imagee: x}}\n"),
            format!("`{f}`: service `web`: `imagee`: is not a service key berth compose knows")
        );
        assert!(
            load_text("services: {web: {image: busybox, depends_on: [db]}}\n")
                .contains("depends on undefined service `db`")
        );
        assert!(load_text("services: [\n").starts_with(&format!("`{f}` is not valid YAML")));
        assert!(
            load_text("services: {web: {image: \"${X:?X must be set}\"}}\n")
                .contains("required variable `X`")
        );
        let empty = tempfile::tempdir().unwrap();
        let err = load(&LoadOptions::from_dir(empty.path().to_owned()), &no_env).unwrap_err();
        assert!(err.to_string().starts_with("no configuration file found"));
    }
}
