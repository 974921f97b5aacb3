//! The runc-style lifecycle through the `berth-runtime` command: create,
//! start, state, kill, delete, run, exec, ps, list, pause/resume, hooks,
//! consoles, and errors on bad input. Runs as root on real namespaces and
//! cgroups; every test has its own --root and cgroup path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use common::{Env, text};
use serde_json::{Value, json};

#[test]
fn run_returns_the_exit_code_and_output() {
    let env = Env::new();
    let b = env.bundle("exit", &["sh", "-c", "echo hello; exit 3"], |_| {});
    let id = env.id("exit");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert_eq!(stdout, "hello\n");
    // run deletes the container afterwards, including its cgroup.
    assert!(!env.root.join(&id).exists());
    assert!(!env.cgroup_dir("exit", "pids").exists());
}

#[test]
fn create_start_state_kill_delete() {
    let env = Env::new();
    let b = env.bundle("life", &["sleep", "1000"], |_| {});
    let id = env.id("life");
    let pid_file = env.dir.path().join("pid");
    env.ok(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let state: Value = serde_json::from_str(&env.ok(&["state", &id])).unwrap();
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(fs_err::read_to_string(&pid_file).unwrap(), pid.to_string());
    // init is in the container's cgroup before start.
    let procs =
        fs_err::read_to_string(env.cgroup_dir("life", "pids").join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");

    env.ok(&["start", &id]);
    assert_eq!(env.status(&id), "running");
    let comm = fs_err::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");

    let out = env.rt(&["start", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out)
            .1
            .contains("only a created container can be started")
    );

    let out = env.rt(&["delete", &id]);
    assert!(
        !out.status.success(),
        "deleting a running container needs --force"
    );

    env.ok(&["kill", &id, "KILL"]);
    for _ in 0..200 {
        if env.status(&id) == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(env.status(&id), "stopped");
    env.ok(&["delete", &id]);
    let out = env.rt(&["state", &id]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("does not exist"), "{}", text(&out).1);
    assert!(!env.cgroup_dir("life", "pids").exists());
    assert!(!env.cgroup_dir("life", "memory").exists());
}

#[test]
fn delete_of_a_created_container_kills_init() {
    let env = Env::new();
    let b = env.bundle("created", &["true"], |_| {});
    let id = env.id("created");
    env.ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let state: Value = serde_json::from_str(&env.ok(&["state", &id])).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    env.ok(&["delete", &id]);
    std::thread::sleep(Duration::from_millis(50));
    let alive = fs_err::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false);
    assert!(!alive, "init {pid} survived delete");
    assert!(!env.root.join(&id).exists());
}

#[test]
fn exec_joins_the_container() {
    let env = Env::new();
    let b = env.bundle("exec", &["sleep", "1000"], |c| {
        c["hostname"] = json!("exec-host");
    });
    let id = env.id("exec");
    env.ok(&["run", "-d", "--bundle", b.to_str().unwrap(), &id]);
    let out = env.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; echo $$; cat /proc/1/comm",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "exec-host");
    assert_ne!(lines[1], "1", "exec must not be pid 1");
    assert_eq!(lines[2], "sleep");
    let out = env.rt(&["exec", &id, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    // exec with --env, --cwd and --user
    let out = env.ok(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "65534:65534",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g",
    ]);
    assert_eq!(out, "bar\n/tmp\n65534\n65534\n");
    // ps lists both init and nothing else once exec is done
    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "--format", "json", &id])).unwrap();
    let state: Value = serde_json::from_str(&env.ok(&["state", &id])).unwrap();
    assert_eq!(pids, vec![state["pid"].as_i64().unwrap()]);
    // the exec'd process is in the container's cgroups (compared from
    // inside: outside its cgroup namespace root the path would show "..")
    let init_cgroups = env.ok(&["exec", &id, "cat", "/proc/1/cgroup"]);
    let exec_cgroups = env.ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    let v1 = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("0::") && !l.contains("name=systemd"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(v1(&exec_cgroups), v1(&init_cgroups));
    assert!(!exec_cgroups.contains(".."), "{exec_cgroups}");
    // a missing program is a clear error
    let out = env.rt(&["exec", &id, "no-such-program"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("executable file not found"),
        "{}",
        text(&out).1
    );
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_with_a_process_file_and_detach() {
    let env = Env::new();
    let b = env.bundle("execp", &["sleep", "1000"], |_| {});
    let id = env.id("execp");
    env.ok(&["run", "-d", "--bundle", b.to_str().unwrap(), &id]);
    let process = env.dir.path().join("process.json");
    let marker = "/tmp/detached";
    fs_err::write(
        &process,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", format!("echo done > {marker}")],
            "cwd": "/",
            "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}
        }))
        .unwrap(),
    )
    .unwrap();
    let pid_file = env.dir.path().join("exec.pid");
    env.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--process",
        process.to_str().unwrap(),
        &id,
    ]);
    assert!(
        fs_err::read_to_string(&pid_file)
            .unwrap()
            .parse::<i32>()
            .is_ok()
    );
    let mut seen = String::new();
    for _ in 0..200 {
        seen = env.ok(&["exec", &id, "cat", marker]).trim().to_string();
        if seen == "done" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen, "done");
}

#[test]
fn kill_all_and_signal_names() {
    let env = Env::new();
    let b = env.bundle(
        "killall",
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
        |_| {},
    );
    let id = env.id("killall");
    env.ok(&["run", "-d", "--bundle", b.to_str().unwrap(), &id]);
    let mut pids = Vec::new();
    for _ in 0..200 {
        pids = serde_json::from_str::<Vec<i64>>(&env.ok(&["ps", "--format", "json", &id])).unwrap();
        if pids.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pids.len(), 3, "{pids:?}");
    let out = env.rt(&["kill", &id, "SIGNOPE"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("unknown signal"));
    env.ok(&["kill", "--all", &id, "9"]);
    for _ in 0..200 {
        if env.status(&id) == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(env.status(&id), "stopped");
    env.ok(&["delete", &id]);
}

#[test]
fn pause_and_resume() {
    let env = Env::new();
    let b = env.bundle("pause", &["sleep", "1000"], |_| {});
    let id = env.id("pause");
    env.ok(&["run", "-d", "--bundle", b.to_str().unwrap(), &id]);
    env.ok(&["pause", &id]);
    assert_eq!(env.status(&id), "paused");
    env.ok(&["resume", &id]);
    assert_eq!(env.status(&id), "running");
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn list_shows_containers() {
    let env = Env::new();
    let b = env.bundle("list", &["sleep", "1000"], |_| {});
    let id = env.id("list");
    env.ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let table = env.ok(&["list"]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("created")),
        "{table}"
    );
    let json: Value = serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(env.ok(&["list", "-q"]).trim(), id);
}

#[test]
fn hooks_run_in_order_with_state_on_stdin() {
    let env = Env::new();
    let log = env.dir.path().join("hooks.log");
    let script = env.dir.path().join("hook.sh");
    fs_err::write(
        &script,
        format!(
            "#!/bin/sh\nread -r state\necho \"$1 $(echo \"$state\" | grep -o '\"status\":\"[a-z]*\"')\" >> {}\n",
            log.display()
        ),
    )
    .unwrap();
    fs_err::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hook = |name: &str| json!([{"path": script, "args": ["hook.sh", name]}]);
    let b = env.bundle("hooks", &["true"], |c| {
        c["hooks"] = json!({
            "prestart": hook("prestart"),
            "createRuntime": hook("createRuntime"),
            "createContainer": hook("createContainer"),
            "poststart": hook("poststart"),
            "poststop": hook("poststop"),
        });
    });
    let id = env.id("hooks");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", text(&out).1);
    let got = fs_err::read_to_string(&log).unwrap();
    assert_eq!(
        got,
        "prestart \"status\":\"creating\"\ncreateRuntime \"status\":\"creating\"\ncreateContainer \"status\":\"creating\"\npoststart \"status\":\"running\"\npoststop \"status\":\"stopped\"\n"
    );
}

#[test]
fn failing_prestart_hook_leaves_nothing_behind() {
    let env = Env::new();
    let b = env.bundle("badhook", &["true"], |c| {
        c["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    });
    let id = env.id("badhook");
    let out = env.rt(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("prestart"), "{}", text(&out).1);
    assert!(!env.root.join(&id).exists());
    assert!(!env.cgroup_dir("badhook", "pids").exists());
}

#[test]
fn console_socket_receives_the_pty() {
    let env = Env::new();
    let b = env.bundle("tty", &["sh", "-c", "tty; echo hello-tty"], |c| {
        c["process"]["terminal"] = json!(true);
    });
    let id = env.id("tty");
    let sock_path = env.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let mut child = env
        .cmd()
        .args([
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "--console-socket",
            sock_path.to_str().unwrap(),
            &id,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let (master, _slave) = berth_runtime::console::receive_pty_master(&conn).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    env.ok(&["start", &id]);
    let mut output = Vec::new();
    let mut f = std::fs::File::from(master);
    let _ = std::io::Read::read_to_end(&mut f, &mut output);
    let output = String::from_utf8_lossy(&output);
    assert!(
        output.contains("/dev/console") || output.contains("/dev/pts/"),
        "{output}"
    );
    assert!(output.contains("hello-tty"), "{output}");
}

#[test]
fn bad_input_is_named_and_leaves_nothing() {
    let env = Env::new();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "norootfs",
            Box::new(|c| c["root"]["path"] = json!("missing-rootfs")),
            "root.path",
        ),
        (
            "badns",
            Box::new(|c| c["linux"]["namespaces"][0]["type"] = json!("bogus")),
            "linux.namespaces[0]",
        ),
        (
            "badmount",
            Box::new(|c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
            }),
            "mounts[",
        ),
        (
            "badbind",
            Box::new(|c| {
                c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "bind", "source": "/does/not/exist", "options": ["bind"]}));
            }),
            "/does/not/exist",
        ),
        (
            "noargs",
            Box::new(|c| c["process"]["args"] = json!([])),
            "process.args",
        ),
        (
            "noexe",
            Box::new(|c| c["process"]["args"] = json!(["/no/such/binary"])),
            "/no/such/binary",
        ),
        (
            "badcwd",
            Box::new(|c| c["process"]["cwd"] = json!("relative")),
            "process.cwd",
        ),
    ];
    for (name, edit, expect) in cases {
        let b = env.bundle(name, &["true"], |c| edit(c));
        let id = env.id(name);
        let out = env.rt(&["create", "--bundle", b.to_str().unwrap(), &id]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{name}: create succeeded");
        assert!(
            stderr.contains(expect),
            "{name}: {stderr:?} does not name {expect:?}"
        );
        assert!(!env.root.join(&id).exists(), "{name}: state left behind");
        for controller in ["pids", "memory", "cpu", "freezer"] {
            assert!(
                !env.cgroup_dir(name, controller).exists(),
                "{name}: {controller} cgroup left behind"
            );
        }
    }
    // A malformed config.json names the file.
    let b = env.bundle("malformed", &["true"], |_| {});
    fs_err::write(b.join("config.json"), "{\"ociVersion\": ").unwrap();
    let id = env.id("malformed");
    let out = env.rt(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("config.json"), "{}", text(&out).1);
    // Duplicate ids are refused.
    let b = env.bundle("dup", &["sleep", "100"], |_| {});
    let id = env.id("dup");
    env.ok(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let out = env.rt(&["create", "--bundle", b.to_str().unwrap(), &id]);
    assert!(text(&out).1.contains("already exists"), "{}", text(&out).1);
    // --systemd-cgroup is a clear error.
    let out = env.rt(&["--systemd-cgroup", "state", &id]);
    assert!(text(&out).1.contains("--systemd-cgroup is not supported"));
}

#[test]
fn user_namespace_with_mappings() {
    let env = Env::new();
    let b = env.bundle(
        "userns",
        &["sh", "-c", "id -u; cat /proc/self/uid_map"],
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        },
    );
    // The rootfs must be readable by the mapped root.
    let out = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.join("rootfs"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let id = env.id("userns");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "0");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"]);
}

#[test]
fn joins_a_network_namespace_by_path() {
    let env = Env::new();
    let a = env.bundle("nsa", &["sleep", "1000"], |_| {});
    let ida = env.id("nsa");
    env.ok(&["run", "-d", "--bundle", a.to_str().unwrap(), &ida]);
    let state: Value = serde_json::from_str(&env.ok(&["state", &ida])).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    let netns = format!("/proc/{pid}/ns/net");
    let want = fs_err::read_link(&netns).unwrap();
    let b = env.bundle("nsb", &["readlink", "/proc/self/ns/net"], |c| {
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "network" {
                ns["path"] = json!(netns);
            }
        }
    });
    let idb = env.id("nsb");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &idb]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(text(&out).0.trim(), want.to_str().unwrap());
}

#[test]
fn features_and_spec() {
    let env = Env::new();
    let v: Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    assert_eq!(v["linux"]["seccomp"]["enabled"], true);
    assert!(
        v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("user"))
    );
    let dir = env.dir.path().join("specdir");
    fs_err::create_dir(&dir).unwrap();
    env.ok(&["spec", "--bundle", dir.to_str().unwrap()]);
    let spec: Value =
        serde_json::from_slice(&fs_err::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "rootfs");
    let out = env.rt(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert!(!out.status.success(), "spec must not overwrite config.json");
}

#[test]
fn exec_with_a_terminal_sends_the_pty_to_the_console_socket() {
    let env = Env::new();
    let b = env.bundle("exectty", &["sleep", "1000"], |_| {});
    let id = env.id("exectty");
    env.ok(&["run", "-d", "--bundle", b.to_str().unwrap(), &id]);
    let sock_path = env.dir.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let mut child = env
        .cmd()
        .args([
            "exec",
            "-t",
            "-d",
            "--console-socket",
            sock_path.to_str().unwrap(),
            &id,
            "sh",
            "-c",
            "tty; echo exec-tty-ok",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let (master, _slave) = berth_runtime::console::receive_pty_master(&conn).unwrap();
    assert!(child.wait().unwrap().success());
    let mut output = Vec::new();
    let mut f = std::fs::File::from(master);
    let _ = std::io::Read::read_to_end(&mut f, &mut output);
    let output = String::from_utf8_lossy(&output);
    assert!(output.contains("/dev/pts/"), "{output}");
    assert!(output.contains("exec-tty-ok"), "{output}");
}

#[test]
fn lsm_labels_are_ignored_with_a_warning() {
    let env = Env::new();
    let b = env.bundle("lsm", &["true"], |c| {
        c["process"]["apparmorProfile"] = json!("docker-default");
        c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    });
    let id = env.id("lsm");
    let out = env.rt(&["run", "--bundle", b.to_str().unwrap(), &id]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: process.apparmorProfile \"docker-default\" ignored"),
        "{stderr}"
    );
    assert!(stderr.contains("warning: process.selinuxLabel"), "{stderr}");
}

#[test]
fn errors_go_to_the_log_file_as_json() {
    let env = Env::new();
    let log = env.dir.path().join("runtime.log");
    let id = env.id("logjson");
    let out = env.rt(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        &id,
    ]);
    assert!(!out.status.success());
    let line = fs_err::read_to_string(&log).unwrap();
    let v: Value = serde_json::from_str(line.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(
        v["msg"].as_str().unwrap().contains("does not exist"),
        "{line}"
    );
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
}
