//! Compose against berthd: Debian's docker-compose 1.29 (python, docker-py
//! 5) drives a project of busybox services through DOCKER_HOST (`up -d`,
//! `ps`, `logs`, `exec -T`, `run --rm`, `stop`, `start`, `restart`, `down`,
//! `down -v`): image, command, entrypoint, environment, a port published on
//! 127.0.0.1, a named volume and a bind mount, a user network plus the
//! default one, service names in DNS, `depends_on` (with
//! `service_healthy`), a restart policy, labels, a healthcheck, `init`,
//! `user`, `hostname`, `tmpfs`.
//!
//! Each test has its own daemon ([`common::Daemon`]), project name, subnets
//! and bridge names (the compose file sets both for every network), and
//! takes the project down (`down -v`) when it ends, even when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::net::{free_port, http_get};
use common::{Daemon, busybox_root, s, tar_dir, until};

const DOCKER_COMPOSE: &str = "/usr/bin/docker-compose";

/// A busybox image with every applet (`wget`, `httpd`, ...) as `busybox`.
fn import_full_busybox(d: &Daemon) {
    let root = d.dir.path().join("bbfull");
    busybox_root(&root, &[]);
    let tar = d.dir.path().join("bbfull.tar");
    tar_dir(&root, &tar);
    d.ok(&["import", s(&tar), "busybox"]);
}

/// A project directory: `files` written into it, and the project's name.
struct Project<'a> {
    d: &'a Daemon,
    dir: tempfile::TempDir,
    name: String,
}

impl<'a> Project<'a> {
    fn new(d: &'a Daemon, tag: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new().prefix("cmp").tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, text).unwrap();
        }
        Self {
            d,
            dir,
            name: format!("c{tag}{}", std::process::id()),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `docker-compose -p <project> args` in the project's directory.
    fn compose(&self, args: &[&str]) -> Output {
        assert!(
            Path::new(DOCKER_COMPOSE).is_file(),
            "{DOCKER_COMPOSE} is missing: .ci/run installs Debian's docker-compose"
        );
        Command::new(DOCKER_COMPOSE)
            .arg("-p")
            .arg(&self.name)
            .args(args)
            .current_dir(self.path())
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.d.socket().display()),
            )
            .env("DOCKER_CONFIG", self.d.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .output()
            .unwrap()
    }

    /// `berth compose -p <project> args` in the project's directory.
    fn berth(&self, args: &[&str]) -> Output {
        let mut all = vec!["compose", "-p", self.name.as_str()];
        all.extend_from_slice(args);
        self.d
            .berth_command(&all)
            .current_dir(self.path())
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .output()
            .unwrap()
    }

    /// `berth compose args`, asserting success; stdout.
    fn berth_ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth compose {args:?}: {}{}\nberthd's log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.d.log())
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker-compose args`, asserting success; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}{}\nberthd's log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.d.log())
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "-t", "1", "--remove-orphans"]);
        let _ = self.berth(&["down", "-v", "--remove-orphans"]);
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Two services: `web` (httpd on a published port, a named volume, a bind
/// mount, both networks, a healthcheck, labels, a restart policy) and
/// `client` (fetches `http://web/` by name, on the user network only).
pub(crate) fn web_client_file(d: &Daemon, port: u16) -> String {
    format!(
        r#"version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /w && echo hello-$$GREETING > /w/index.html && exec httpd -f -p 80 -h /w"]
    environment:
      GREETING: compose
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - webdata:/vol
      - ./data:/bind:ro
    networks:
      - back
      - default
    restart: unless-stopped
    stop_grace_period: 1s
    labels:
      app.tier: web
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1/"]
      interval: 1s
      timeout: 2s
      retries: 30
  client:
    image: busybox
    command: ["sh", "-c", "echo client-up; while true; do wget -q -O /tmp/last http://web/; sleep 1; done"]
    depends_on:
      - web
    networks:
      - back
    environment:
      - MODE=client
    stop_grace_period: 1s
volumes:
  webdata:
networks:
  default:
    driver_opts:
      com.docker.network.bridge.name: {b0}
    ipam:
      config:
        - subnet: {s0}
  back:
    driver_opts:
      com.docker.network.bridge.name: {b1}
    ipam:
      config:
        - subnet: {s1}
"#,
        b0 = d.net.user_bridge(0),
        b1 = d.net.user_bridge(1),
        s0 = d.net.user_subnet(0),
        s1 = d.net.user_subnet(1),
    )
}

/// `db` (httpd as an unprivileged user, with init, entrypoint, hostname,
/// working dir, tmpfs and a healthcheck) and `app`, which starts once `db`
/// is healthy and fetches from it by name.
pub(crate) fn healthy_dependency_file(d: &Daemon) -> String {
    format!(
        r#"services:
  db:
    image: busybox
    init: true
    entrypoint: ["sh", "-c"]
    command: ["echo db-starting; mkdir -p /scratch/w; echo pong > /scratch/w/index.html; exec httpd -f -p 5000 -h /scratch/w"]
    hostname: dbhost
    working_dir: /bin
    user: "65534"
    tmpfs:
      - /scratch
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:5000/"]
      interval: 1s
      retries: 30
    stop_grace_period: 1s
  app:
    image: busybox
    init: true
    depends_on:
      db:
        condition: service_healthy
    command: ["sh", "-c", "echo app:$$(wget -q -O - http://db:5000/); exec sleep 1000"]
    restart: always
networks:
  default:
    driver_opts:
      com.docker.network.bridge.name: {b}
    ipam:
      config:
        - subnet: {s}
"#,
        b = d.net.user_bridge(2),
        s = d.net.user_subnet(2),
    )
}

/// The IDs of the project's containers (all, running or not), sorted.
fn project_ids(d: &Daemon, project: &str) -> Vec<String> {
    let out = d.ok(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    let mut ids: Vec<String> = out.lines().map(str::to_owned).collect();
    ids.sort();
    ids
}

fn names(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn docker_compose_1_29_runs_a_project_through_its_life() {
    let d = Daemon::start();
    import_full_busybox(&d);
    let port = free_port();
    let file = web_client_file(&d, port);
    let p = Project::new(
        &d,
        "a",
        &[
            ("docker-compose.yml", file.as_str()),
            ("data/hello.txt", "bindfile\n"),
        ],
    );
    let name = p.name.clone();

    p.ok(&["up", "-d"]);
    let web = format!("{name}_web_1");
    let client = format!("{name}_client_1");
    until("web healthy", || {
        d.ok(&["inspect", "-f", "{{.State.Health.Status}}", &web])
            .trim()
            == "healthy"
    });
    let ps = p.ok(&["ps"]);
    assert!(ps.contains(&web) && ps.contains("Up (healthy)"), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    assert!(ps.contains(&client), "{ps}");

    // The published port, from the host; the other service, by name.
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(http_get(addr).unwrap(), "hello-compose\n");
    until("client fetched web by name", || {
        p.compose(&["exec", "-T", "client", "cat", "/tmp/last"])
            .stdout
            .starts_with(b"hello-compose")
    });
    let inside = p.ok(&[
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "cat /bind/hello.txt; echo $GREETING; touch /vol/kept",
    ]);
    assert_eq!(inside, "bindfile\ncompose\n");
    until("client's output in logs", || {
        p.ok(&["logs", "--no-color", "client"])
            .contains("client-up")
    });

    // What compose asked for, as inspect shows it.
    let labels = d.ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"app.tier\"}} {{index .Config.Labels \"com.docker.compose.service\"}} {{.HostConfig.RestartPolicy.Name}}",
        &web,
    ]);
    assert_eq!(labels.trim(), "web web unless-stopped");
    let nets = d.ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &web,
    ]);
    assert_eq!(
        nets.trim(),
        format!("{name}_back {name}_default"),
        "web is on both networks"
    );

    let run = p.ok(&[
        "run",
        "--rm",
        "client",
        "sh",
        "-c",
        "wget -q -O - http://web/",
    ]);
    assert_eq!(run, "hello-compose\n");
    assert_eq!(
        project_ids(&d, &name).len(),
        2,
        "run --rm removed its container"
    );

    p.ok(&["stop", "-t", "1"]);
    let ps = p.ok(&["ps"]);
    assert!(!ps.contains("Up"), "{ps}");
    p.ok(&["start"]);
    let ids = project_ids(&d, &name);
    until("both running again", || {
        p.ok(&["ps"]).matches(" Up").count() == 2
    });
    p.ok(&["restart", "-t", "1"]);
    until("both running after restart", || {
        p.ok(&["ps"]).matches(" Up").count() == 2
    });
    // Nothing changed: up leaves the containers as they are.
    let up = p.compose(&["up", "-d"]);
    assert!(up.status.success());
    assert!(
        String::from_utf8_lossy(&up.stderr).contains("is up-to-date"),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(project_ids(&d, &name), ids);

    // down keeps the named volume and its data; down -v removes it.
    p.ok(&["down", "-t", "1"]);
    assert!(project_ids(&d, &name).is_empty());
    let volume = format!("{name}_webdata");
    assert!(d.volume_data(&volume).join("kept").is_file());
    let networks = names(&d.ok(&["network", "ls", "--format", "{{.Name}}"]));
    assert_eq!(networks, ["bridge", "host", "none"]);
    p.ok(&["up", "-d"]);
    p.ok(&["exec", "-T", "web", "test", "-f", "/vol/kept"]);
    p.ok(&["down", "-v", "-t", "1"]);
    let volumes = d.ok(&["volume", "ls", "-q"]);
    assert!(!volumes.contains(&volume), "{volumes}");
}

#[test]
fn docker_compose_1_29_waits_for_a_healthy_dependency() {
    let d = Daemon::start();
    import_full_busybox(&d);
    let file = healthy_dependency_file(&d);
    let p = Project::new(&d, "b", &[("compose.yaml", file.as_str())]);
    let name = p.name.clone();

    p.ok(&["up", "-d"]);
    // app started after db was healthy, so its one fetch by name worked.
    until("app's fetch in its logs", || {
        p.ok(&["logs", "--no-color", "app"]).contains("app:pong")
    });
    let db = p.ok(&[
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        "id -u; pwd; hostname; grep -c ' /scratch tmpfs' /proc/mounts; cat /proc/1/comm",
    ]);
    let db: Vec<&str> = db.lines().collect();
    assert_eq!(db[..4], ["65534", "/bin", "dbhost", "1"]);
    assert_ne!(db[4], "sh", "init runs as pid 1");
    let policy = d.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}",
        &format!("{name}_app_1"),
    ]);
    assert_eq!(policy.trim(), "always");
    p.ok(&["down", "-v", "-t", "1"]);
    assert!(project_ids(&d, &name).is_empty());
}

/// The ID of container `name`.
fn id_of(d: &Daemon, name: &str) -> String {
    d.ok(&["inspect", "-f", "{{.Id}}", name]).trim().to_owned()
}

#[test]
fn berth_compose_runs_the_same_project_and_docker_compose_sees_it() {
    let d = Daemon::start();
    import_full_busybox(&d);
    let port = free_port();
    let file = web_client_file(&d, port);
    let changed = "services:\n  web:\n    environment:\n      GREETING: changed\n";
    let p = Project::new(
        &d,
        "c",
        &[
            ("docker-compose.yml", file.as_str()),
            ("override.yml", changed),
            (
                "bad.yml",
                "services:\n  web:\n    image: busybox\n    ports: [\"80:http\"]\n",
            ),
            ("data/hello.txt", "bindfile\n"),
        ],
    );
    let name = p.name.clone();

    // A bad file: a message naming the file, the service and the key, and
    // nothing made.
    let bad = p.berth(&["-f", "bad.yml", "up", "-d"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        format!(
            "`{}`: service `web`: `ports`: `80:http` is not `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`\n",
            p.path().join("bad.yml").display()
        )
    );
    assert_eq!(
        names(&d.ok(&["network", "ls", "--format", "{{.Name}}"])),
        ["bridge", "host", "none"]
    );

    p.berth_ok(&["up", "-d"]);
    let web = format!("{name}-web-1");
    let client = format!("{name}-client-1");
    until("web healthy", || {
        d.ok(&["inspect", "-f", "{{.State.Health.Status}}", &web])
            .trim()
            == "healthy"
    });
    let labels = d.ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"com.docker.compose.project\"}} {{index .Config.Labels \"com.docker.compose.service\"}} {{index .Config.Labels \"com.docker.compose.container-number\"}} {{index .Config.Labels \"com.docker.compose.oneoff\"}} {{index .Config.Labels \"app.tier\"}}",
        &web,
    ]);
    assert_eq!(labels.trim(), format!("{name} web 1 False web"));
    let ps = p.berth_ok(&["ps"]);
    assert!(ps.starts_with("NAME "), "{ps}");
    assert!(ps.contains(&web) && ps.contains(&client), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    // docker-compose 1.29 finds the project by the same labels.
    let old_ps = p.ok(&["ps"]);
    assert!(
        old_ps.contains(&web) && old_ps.contains(&client),
        "{old_ps}"
    );

    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(http_get(addr).unwrap(), "hello-compose\n");
    until("client fetched web by name", || {
        p.berth(&["exec", "-T", "client", "cat", "/tmp/last"])
            .stdout
            .starts_with(b"hello-compose")
    });
    assert_eq!(
        p.berth_ok(&[
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "cat /bind/hello.txt; echo $GREETING"
        ]),
        "bindfile\ncompose\n"
    );
    until("client's output in logs", || {
        p.berth_ok(&["logs", "client"])
            .contains(&format!("{client}  | client-up"))
    });

    // Unchanged: up leaves both running as they are; a changed service is
    // recreated, the other left alone.
    let (web_id, client_id) = (id_of(&d, &web), id_of(&d, &client));
    p.berth_ok(&["up", "-d"]);
    assert_eq!(
        (id_of(&d, &web), id_of(&d, &client)),
        (web_id.clone(), client_id.clone())
    );
    p.berth_ok(&["-f", "docker-compose.yml", "-f", "override.yml", "up", "-d"]);
    assert_ne!(id_of(&d, &web), web_id);
    assert_eq!(id_of(&d, &client), client_id);
    assert_eq!(http_get(addr).unwrap(), "hello-changed\n");

    p.berth_ok(&["stop", "-t", "1", "client"]);
    let state = |c: &str| {
        d.ok(&["inspect", "-f", "{{.State.Status}}", c])
            .trim()
            .to_owned()
    };
    assert_eq!(
        (state(&web), state(&client)),
        ("running".to_owned(), "exited".to_owned())
    );
    p.berth_ok(&["start"]);
    assert_eq!(state(&client), "running");
    p.berth_ok(&["restart", "-t", "1"]);
    assert_eq!(
        (state(&web), state(&client)),
        ("running".to_owned(), "running".to_owned())
    );

    p.berth_ok(&["down", "-v"]);
    assert!(project_ids(&d, &name).is_empty());
    assert_eq!(
        names(&d.ok(&["network", "ls", "--format", "{{.Name}}"])),
        ["bridge", "host", "none"]
    );
    assert!(d.ok(&["volume", "ls", "-q"]).trim().is_empty());
}

#[test]
fn berth_compose_waits_for_a_healthy_dependency() {
    let d = Daemon::start();
    import_full_busybox(&d);
    let file = healthy_dependency_file(&d);
    let p = Project::new(&d, "d", &[("compose.yaml", file.as_str())]);
    let name = p.name.clone();
    let config = p.berth_ok(&["config", "--services"]);
    assert_eq!(config, "app\ndb\n");
    p.berth_ok(&["up", "-d"]);
    // `up` started app only once db was healthy, so its fetch worked.
    until("app's fetch in its logs", || {
        p.berth_ok(&["logs", "app"]).contains("app:pong")
    });
    let db = p.berth_ok(&["exec", "-T", "db", "sh", "-c", "id -u; pwd; hostname"]);
    assert_eq!(db, "65534\n/bin\ndbhost\n");
    p.berth_ok(&["down", "-v"]);
    assert!(project_ids(&d, &name).is_empty());
}
