//! Runtime conformance: the same bundle behaves the same under runc and berth-runtime.
//!
//! Each case is a bundle (the shared busybox rootfs + a `config.json` built here from
//! runc's default spec, `scripts/runc-default-spec.json`, with the case's edits). It
//! is run with `<runtime> --root <own tmp> run --bundle <dir> <unique id>` (terminal
//! false, stdin /dev/null) under runc first (which proves the harness and the
//! expected output) and then under berth-runtime; the exit code and the normalised
//! stdout must be equal. Commands end in `2>&1` so the container's stderr is part of
//! what is compared, while the runtimes' own stderr (their log lines) is not.
//!
//! Unavoidable differences, normalised away:
//! - the cgroup path differs per container (each case gets its own unique
//!   `cgroupsPath` under the hierarchy roots, `/berth-conf-<runtime>-<pid>-<n>`),
//!   so it is replaced by `<cgroup>` wherever it is printed;
//! - mountinfo: mount ids, parent ids, device numbers, the source and the "root"
//!   field differ between any two containers; only mount point, per-mount options,
//!   fs type and super options are compared.
//!
//! Besides the output, each case also checks that the runtime cleaned up after
//! `run`: no state left under `--root`, and no cgroup left in any hierarchy.
//!
//! berth-runtime is found through `$BERTH_RUNTIME` (set by scripts/test) or
//! `<target>/{release,debug}/berth-runtime`; if missing the tests fail, never skip.

// Test code: panicking with a message is how it reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use common::{Run, busybox_rootfs, command, require_root, require_tool, run_with_timeout};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What one runtime produced for one case.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    /// `<root>` entries left after `run` returned (should be none).
    state_left: Vec<String>,
    /// Hierarchies where the container's cgroup was left after `run` (should be none).
    cgroups_left: Vec<String>,
}

/// Edits a case's spec; gets the case's scratch dir (for bind-mount sources...).
type Edit = Box<dyn Fn(&mut Value, &Path)>;

struct Case {
    /// Process args.
    args: Vec<String>,
    edit: Edit,
    /// How to normalise stdout before comparing (besides the cgroup name).
    normalise: fn(&str) -> String,
    /// Sanity checks on runc's result, proving the case tests what it claims.
    runc_code: i32,
    runc_contains: Vec<&'static str>,
    /// The reference runtime: runc, except where runc 1.1 lacks a spec feature
    /// (then crun, whose behaviour follows the spec there).
    reference: &'static str,
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), format!("{{ {script} ; }} 2>&1")]
}

fn same(s: &str) -> String {
    s.to_owned()
}

fn case(args: Vec<String>) -> Case {
    Case {
        args,
        edit: Box::new(|_, _| {}),
        normalise: same,
        runc_code: 0,
        runc_contains: Vec::new(),
        reference: "runc",
    }
}

impl Case {
    fn edit(mut self, f: impl Fn(&mut Value, &Path) + 'static) -> Self {
        self.edit = Box::new(f);
        self
    }
    fn normalise(mut self, f: fn(&str) -> String) -> Self {
        self.normalise = f;
        self
    }
    fn reference(mut self, runtime: &'static str) -> Self {
        self.reference = runtime;
        self
    }
    fn expect(mut self, code: i32, contains: &[&'static str]) -> Self {
        self.runc_code = code;
        self.runc_contains = contains.to_vec();
        self
    }
}

/// Cleans up one container run even if the test panics: `delete --force` by id,
/// the unique cgroup in every hierarchy, and mounts under the scratch dir.
struct Guard {
    runtime: PathBuf,
    root: PathBuf,
    id: String,
    cgroup: String,
    scratch: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut c = command(&self.runtime, ["--root"]);
        c.arg(&self.root).args(["delete", "--force", &self.id]);
        let _ = run_with_timeout(c, TIMEOUT);
        let _ = common::remove_cgroup_everywhere(&self.cgroup);
        common::unmount_all_under(&self.scratch);
    }
}

fn run_case(label: &str, runtime: &Path, case: &Case) -> (Outcome, Run) {
    let scratch = tempfile::Builder::new()
        .prefix(&format!("berth-conf-{label}-"))
        .tempdir()
        .expect("tempdir");
    let bundle = scratch.path().join("bundle");
    let root = scratch.path().join("root");
    fs_err::create_dir_all(&bundle).unwrap();
    fs_err::create_dir_all(scratch.path().join("data")).unwrap();

    let cgroup = common::unique(&format!("berth-conf-{label}"));
    let id = common::unique(&format!("conf-{label}"));

    let mut spec = common::runc_default_spec();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(case.args);
    spec["root"]["path"] = json!(busybox_rootfs());
    spec["linux"]["cgroupsPath"] = json!(format!("/{cgroup}"));
    (case.edit)(&mut spec, &scratch.path().join("data"));
    fs_err::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();

    let guard = Guard {
        runtime: runtime.to_owned(),
        root: root.clone(),
        id: id.clone(),
        cgroup: cgroup.clone(),
        scratch: scratch.path().to_owned(),
    };
    let mut c = command(runtime, ["--root"]);
    c.arg(&root).args(["run", "--bundle"]).arg(&bundle).arg(&id);
    let run = run_with_timeout(c, TIMEOUT);

    let state_left = fs_err::read_dir(&root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let cgroups_left = cgroup_dirs(&cgroup);
    drop(guard);

    // Hooks (run on the host) log into the case's data dir; that log is compared too.
    let mut out = run.stdout.clone();
    if let Ok(hooks) = fs_err::read_to_string(scratch.path().join("data/hooks.log")) {
        out.push_str("--- hooks.log ---\n");
        out.push_str(&hooks);
    }
    let stdout = (case.normalise)(&out.replace(&cgroup, "<cgroup>").replace(&id, "<id>"));
    (
        Outcome {
            code: run.code(),
            stdout,
            state_left,
            cgroups_left,
        },
        run,
    )
}

/// Hierarchies (by directory name under /sys/fs/cgroup) holding `name`.
fn cgroup_dirs(name: &str) -> Vec<String> {
    let mut v: Vec<String> = fs_err::read_dir("/sys/fs/cgroup")
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join(name).is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn check(name: &str, case: Case) {
    require_root();
    let reference = require_tool(case.reference, case.reference);
    let berth = common::berth_runtime();
    let rname = case.reference;

    let (want, runc_run) = run_case(rname, &reference, &case);
    assert!(
        !runc_run.timed_out && want.code == Some(case.runc_code),
        "[{name}] harness check: {rname} exited {:?}, expected {}\n{}",
        want.code,
        case.runc_code,
        runc_run.describe()
    );
    for needle in &case.runc_contains {
        assert!(
            want.stdout.contains(needle),
            "[{name}] harness check: {rname} output lacks {needle:?}\n\
             --- normalised output ---\n{}\n{}",
            want.stdout,
            runc_run.describe()
        );
    }
    assert!(
        want.state_left.is_empty() && want.cgroups_left.is_empty(),
        "[{name}] harness check: {rname} left state {:?} / cgroups {:?}",
        want.state_left,
        want.cgroups_left
    );

    let (got, berth_run) = run_case("berth", &berth, &case);
    assert!(
        got == want,
        "[{name}] berth-runtime differs from {rname}\n\
         === {rname}: code {:?}, state left {:?}, cgroups left {:?}\n{}\n\
         === berth-runtime ({}): code {:?}, state left {:?}, cgroups left {:?}\n{}\n\
         === raw berth-runtime run\n{}",
        want.code,
        want.state_left,
        want.cgroups_left,
        want.stdout,
        berth.display(),
        got.code,
        got.state_left,
        got.cgroups_left,
        got.stdout,
        berth_run.describe()
    );
}

// ---------------------------------------------------------------- normalisers

/// mountinfo -> "mountpoint per-mount-options fstype super-options" per line.
fn mountinfo(s: &str) -> String {
    s.lines()
        .map(|l| {
            let (pre, post) = l.split_once(" - ").unwrap_or((l, ""));
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            format!(
                "{} {} {} {}",
                pre.get(4).unwrap_or(&"?"),
                pre.get(5).unwrap_or(&"?"),
                post.first().unwrap_or(&"?"),
                post.get(2).unwrap_or(&"?")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn add_mount(spec: &mut Value, m: Value) {
    spec["mounts"].as_array_mut().unwrap().push(m);
}

fn tmp_tmpfs(spec: &mut Value) {
    add_mount(
        spec,
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "mode=1777", "size=1m"]}),
    );
}

// ---------------------------------------------------------------------- cases

macro_rules! cases {
    ($($name:ident => $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $case);
            }
        )*
    };
}

cases! {
    exit_code => case(sh("exit 3")).expect(3, &[]);

    true_exits_zero => case(vec!["true".into()]);

    missing_binary_fails => case(vec!["/no/such/binary".into()]).expect(1, &[]);

    hostname => case(sh("hostname; cat /proc/sys/kernel/hostname"))
        .edit(|s, _| s["hostname"] = json!("berth-conformance"))
        .expect(0, &["berth-conformance"]);

    domainname => case(sh("cat /proc/sys/kernel/domainname"))
        .edit(|s, _| s["domainname"] = json!("example.test"))
        // runc 1.1 ignores `domainname` (prints "(none)"); crun sets it, per the spec.
        .reference("crun")
        .expect(0, &["example.test"]);

    mounts_default => case(sh("cat /proc/self/mountinfo"))
        .normalise(mountinfo)
        .expect(0, &["/proc", "/dev/pts", "/sys/fs/cgroup"]);

    mounts_tmpfs_and_ro_bind => case(sh(
            "cat /proc/self/mountinfo; cat /data/hello; touch /data/x; stat -c '%a %F' /tmp"
        ))
        .edit(|s, data| {
            fs_err::write(data.join("hello"), "hi from the host\n").unwrap();
            tmp_tmpfs(s);
            add_mount(s, json!({"destination": "/data", "type": "bind",
                                "source": data, "options": ["rbind", "ro", "nosuid"]}));
        })
        .normalise(mountinfo_and_rest)
        .expect(0, &["hi from the host", "Read-only file system", "1777 directory"]);

    capabilities_default => case(sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"))
        .expect(0, &["CapBnd:\t0000000020000420"]);

    capabilities_custom => case(sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"))
        .edit(|s, _| {
            let docker = json!(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
                "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP",
                "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
                "CAP_AUDIT_WRITE"]);
            s["process"]["capabilities"] = json!({
                "bounding": docker, "permitted": docker, "effective": docker,
                "inheritable": [], "ambient": []
            });
        })
        .expect(0, &["CapEff:\t00000000a80425fb", "CapAmb:\t0000000000000000"]);

    no_new_privileges => case(sh("grep NoNewPrivs /proc/self/status"))
        .expect(0, &["NoNewPrivs:\t1"]);

    seccomp_errno_blocks_mkdir => case(sh(
            "grep -E '^Seccomp' /proc/self/status; mkdir /tmp/x; echo mkdir=$?; touch /tmp/y && echo touch ok"
        ))
        .edit(|s, _| {
            tmp_tmpfs(s);
            s["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": 1}]
            });
        })
        .expect(0, &["Seccomp:\t2", "Operation not permitted", "mkdir=1", "touch ok"]);

    seccomp_default_errno_and_arg_rule => case(sh(
            "grep -E '^Seccomp:' /proc/self/status; chmod 0700 /tmp; echo chmod700=$?; \
             chmod 0755 /tmp; echo chmod755=$?; mkdir /tmp/z; echo mkdir=$?"
        ))
        .edit(|s, _| {
            tmp_tmpfs(s);
            // Allow-list style like Docker's: default ERRNO (EPERM), allow everything
            // busybox sh needs, and allow fchmodat only for mode 0755.
            let mut allowed = Vec::new();
            for n in ["read", "write", "openat", "open", "close", "fstat", "newfstatat",
                      "stat", "lstat", "statx", "mmap", "munmap", "mprotect", "brk",
                      "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl", "access",
                      "execve", "execveat", "exit", "exit_group", "getpid", "getppid",
                      "getuid", "geteuid", "getgid", "getegid", "arch_prctl", "set_tid_address",
                      "set_robust_list", "rseq", "prlimit64", "getrlimit", "fcntl", "dup2",
                      "dup3", "dup", "pipe", "pipe2", "wait4", "clone", "clone3", "fork",
                      "vfork", "getcwd", "chdir", "uname", "lseek", "getdents64", "readlink",
                      "readlinkat", "futex", "getrandom", "sigaltstack", "faccessat",
                      "faccessat2", "umask", "setpgid", "getpgrp", "getpgid", "kill",
                      "pread64", "writev", "readv", "poll", "ppoll", "select", "pselect6",
                      "sysinfo", "nanosleep", "clock_gettime", "gettimeofday", "time",
                      "capget", "capset", "prctl", "setgroups", "setuid", "setgid",
                      "setresuid", "setresgid", "epoll_create1", "epoll_ctl", "epoll_wait",
                      "epoll_pwait", "close_range", "statfs", "fstatfs", "getsid", "setsid",
                      "sched_getaffinity", "madvise", "tgkill", "gettid", "mremap"] {
                allowed.push(n);
            }
            s["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {"names": allowed, "action": "SCMP_ACT_ALLOW"},
                    {"names": ["fchmodat", "chmod"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 1, "value": 0o755, "op": "SCMP_CMP_EQ"}]}
                ]
            });
        })
        .expect(0, &["Seccomp:\t2", "chmod700=1", "chmod755=0", "mkdir=1"]);

    cgroup_limits_visible => case(sh(
            "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes \
             pids/pids.max cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us \
             cpuset/cpuset.cpus blkio/blkio.weight 2>&1; cat /proc/self/cgroup | sort"
        ))
        .edit(|s, _| {
            s["linux"]["resources"]["memory"] = json!({"limit": 67108864, "reservation": 33554432});
            s["linux"]["resources"]["pids"] = json!({"limit": 42});
            s["linux"]["resources"]["cpu"] = json!({"shares": 512, "quota": 50000,
                                                    "period": 100000, "cpus": "0"});
            // Only with the CFQ or BFQ I/O scheduler (runc fails without).
            if ["blkio.weight", "blkio.bfq.weight"]
                .iter()
                .any(|f| std::path::Path::new("/sys/fs/cgroup/blkio").join(f).exists())
            {
                s["linux"]["resources"]["blockIO"] = json!({"weight": 300});
            }
        })
        .expect(0, &["67108864", "33554432", "42", "512", "50000", "100000", "<cgroup>"]);

    cgroup_devices_allowlist => case(sh("cat /sys/fs/cgroup/devices/devices.list | sort"))
        .expect(0, &["c 1:3 rwm"]);

    env => case(sh("env | sort"))
        .edit(|s, _| {
            s["process"]["env"].as_array_mut().unwrap().push(json!("FOO=bar baz"));
        })
        .expect(0, &["FOO=bar baz", "PATH=", "HOME=/root"]);

    cwd => case(sh("pwd"))
        .edit(|s, _| s["process"]["cwd"] = json!("/etc"))
        .expect(0, &["/etc"]);

    user_and_groups => case(sh("id; grep -E '^(Uid|Gid|Groups)' /proc/self/status"))
        .edit(|s, _| {
            s["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [10, 20]});
        })
        .expect(0, &["uid=65534", "groups=10,20"]);

    umask => case(sh("umask"))
        .edit(|s, _| s["process"]["user"]["umask"] = json!(0o027))
        .expect(0, &["0027"]);

    rlimits => case(sh("ulimit -n; ulimit -Hn; grep -E 'open files|core file|processes' /proc/self/limits"))
        .edit(|s, _| {
            s["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                {"type": "RLIMIT_NPROC", "soft": 1000, "hard": 1000}
            ]);
        })
        .expect(0, &["512", "2048"]);

    oom_score_adj => case(sh("cat /proc/self/oom_score_adj"))
        .edit(|s, _| s["process"]["oomScoreAdj"] = json!(123))
        .expect(0, &["123"]);

    readonly_rootfs => case(sh("touch /x; echo rc=$?"))
        .expect(0, &["Read-only file system", "rc=1"]);

    masked_and_readonly_paths => case(sh(
            "cat /proc/kcore | wc -c; ls -A /sys/firmware | wc -l; \
             stat -c '%n %F %t:%T' /proc/kcore /proc/keys /proc/timer_list; \
             echo foo > /proc/sys/kernel/hostname; echo write=$?; hostname"
        ))
        .edit(|s, _| s["hostname"] = json!("masked"))
        .expect(0, &["character special file 1:3", "Read-only file system", "masked"]);

    sysctl => case(sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax"))
        .edit(|s, _| {
            s["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"});
        })
        .expect(0, &["1\n4096"]);

    // Only pid 1 is compared by number: other pids depend on how many helper
    // processes a runtime forked inside the namespace (runc: ps is pid 6).
    pid_namespace => case(sh("echo $$; ps -o comm; test $(cat /proc/self/stat | cut -d' ' -f1) -gt 1 && echo child"))
        .expect(0, &["1\nCOMMAND\nsh\n", "child"]);

    network_namespace_only_lo => case(sh("ls /sys/class/net"))
        .expect(0, &["lo"]);

    devices => case(sh(
            "for f in /dev/* /dev/pts/*; do stat -c '%n %F %a %t:%T %u:%g' \"$f\"; done; \
             for l in /dev/fd /dev/stdin /dev/ptmx; do readlink \"$l\"; done"
        ))
        .edit(|s, _| {
            s["linux"]["devices"] = json!([{"path": "/dev/loop-berth", "type": "c",
                "major": 1, "minor": 7, "fileMode": 0o640, "uid": 0, "gid": 0}]);
        })
        .expect(0, &["/dev/null character special file 666 1:3", "/dev/loop-berth"]);

    user_namespace_mappings => case(sh("cat /proc/self/uid_map /proc/self/gid_map; id; ls -ln /bin/busybox | cut -c1-30"))
        .edit(|s, _| {
            add_namespace(s, "user");
            s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        })
        .expect(0, &["100000", "uid=0(root)"]);

    hooks_get_state_on_stdin => case(sh("echo in-container"))
        .edit(|s, data| {
            s["hooks"] = json!({
                "prestart": [hook("prestart", data)],
                "createRuntime": [hook("createRuntime", data)],
                "poststart": [hook("poststart", data)],
                "poststop": [hook("poststop", data)],
            });
        })
        // runc 1.1 hands poststart hooks status "created", crun "running" (the process
        // has been started by then); both are accepted.
        .normalise(|s| s.replace("poststart created ", "poststart running "))
        .expect(0, &["createRuntime creating pid>0=true id=<id>", "poststop stopped",
                     "argv0=hook-argv0 HOOK_ENV=set-by-spec"]);

    cgroup_namespace => case(sh("cat /proc/self/cgroup | sort"))
        .edit(|s, _| add_namespace(s, "cgroup"))
        .expect(0, &["4:memory:/\n"]);
}

/// A hook that logs `<name> <status> pid>0=<bool> id=<id?>` from the state on its
/// stdin (with the host's jq) into `<data>/hooks.log`, plus its argv[0] and env.
fn hook(name: &str, data: &Path) -> Value {
    let jq = require_tool("jq", "jq");
    let log = data.join("hooks.log");
    json!({
        "path": "/bin/sh",
        "args": ["hook-argv0", "-c", format!(
            "{} -r '\"{name} \\(.status) pid>0=\\((.pid // 0) > 0) id=\\(.id)\"' >> {log}; \
             echo \"{name} argv0=$0 HOOK_ENV=$HOOK_ENV\" >> {log}",
            jq.display(), log = log.display()
        )],
        "env": ["HOOK_ENV=set-by-spec", "PATH=/usr/bin:/bin"],
        "timeout": 10
    })
}

fn add_namespace(spec: &mut Value, kind: &str) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": kind}));
}

/// A process holding new uts + net namespaces (hostname set, a veth pair added
/// inside its own netns); killed by pid on drop.
struct NsHolder(std::process::Child);

impl NsHolder {
    fn start() -> Self {
        let unshare = require_tool("unshare", "util-linux");
        require_tool("ip", "iproute2");
        let child = std::process::Command::new(unshare)
            .args(["--uts", "--net", "sh", "-c"])
            .arg("hostname joined-ns && ip link add berth-a type veth peer name berth-b && echo ready && exec sleep 120")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting unshare");
        let mut holder = NsHolder(child);
        let mut line = String::new();
        use std::io::BufRead as _;
        std::io::BufReader::new(holder.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n", "namespace holder failed to start");
        holder
    }
    fn ns(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.0.id())
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill(); // by pid: our own child
        let _ = self.0.wait();
    }
}

/// Joining existing namespaces by path (uts and network): the container sees the
/// holder's hostname and its dummy interface.
#[test]
fn join_namespaces_by_path() {
    require_root();
    let holder = NsHolder::start();
    let (uts, net) = (holder.ns("uts"), holder.ns("net"));
    let case = case(sh("hostname; ls /sys/class/net | sort"))
        .edit(move |s, _| {
            s.as_object_mut().unwrap().remove("hostname");
            for ns in s["linux"]["namespaces"].as_array_mut().unwrap() {
                match ns["type"].as_str() {
                    Some("uts") => ns["path"] = json!(uts),
                    Some("network") => ns["path"] = json!(net),
                    _ => {}
                }
            }
        })
        .expect(0, &["joined-ns", "berth-a\nberth-b"]);
    check("join_namespaces_by_path", case);
}

// ------------------------------------------------------------------ lifecycle

/// create -> state -> exec -> ps -> start -> state -> kill -> state -> delete ->
/// state, under runc and berth-runtime; exit codes and the state fields that
/// containerd's and podman's runc clients read (id, status, pid > 0, bundle) must
/// match step by step.
#[test]
fn lifecycle_create_start_kill_delete() {
    require_root();
    let runc = require_tool("runc", "runc");
    let berth = common::berth_runtime();
    let want = lifecycle("runc", &runc);
    assert!(
        want.contains("create: 0") && want.contains("status=running"),
        "harness check: runc lifecycle transcript unexpected:\n{want}"
    );
    eprintln!("runc lifecycle transcript:\n{want}");
    let got = lifecycle("berth", &berth);
    assert!(
        got == want,
        "berth-runtime lifecycle differs from runc\n=== runc\n{want}\n=== berth-runtime ({})\n{got}",
        berth.display()
    );
}

fn lifecycle(label: &str, runtime: &Path) -> String {
    let scratch = tempfile::Builder::new()
        .prefix(&format!("berth-conf-{label}-"))
        .tempdir()
        .unwrap();
    let bundle = scratch.path().join("bundle");
    let root = scratch.path().join("root");
    fs_err::create_dir_all(&bundle).unwrap();
    let cgroup = common::unique(&format!("berth-conf-{label}"));
    let id = common::unique(&format!("life-{label}"));
    let mut spec = common::runc_default_spec();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["sleep", "60"]);
    spec["hostname"] = json!("lifecycle");
    spec["root"]["path"] = json!(busybox_rootfs());
    spec["linux"]["cgroupsPath"] = json!(format!("/{cgroup}"));
    fs_err::write(
        bundle.join("config.json"),
        serde_json::to_vec(&spec).unwrap(),
    )
    .unwrap();
    let _guard = Guard {
        runtime: runtime.to_owned(),
        root: root.clone(),
        id: id.clone(),
        cgroup,
        scratch: scratch.path().to_owned(),
    };

    let rt = |args: &[&str]| {
        let mut c = command(runtime, ["--root"]);
        c.arg(&root).args(args);
        run_with_timeout(c, TIMEOUT)
    };
    let mut t = String::new();
    let step = |t: &mut String, name: &str, r: &Run, extra: String| {
        t.push_str(&format!(
            "{name}: {}{extra}\n",
            r.code().map_or("signal/timeout".into(), |c| c.to_string())
        ));
    };
    let state = |r: &Run| -> String {
        if !r.success() {
            return String::new();
        }
        let v: Value = match serde_json::from_str(&r.stdout) {
            Ok(v) => v,
            Err(e) => return format!(" (state is not JSON: {e}: {:?})", r.stdout),
        };
        let pid_ok = v["pid"].as_i64().is_some_and(|p| p > 0);
        let bundle_ok = v["bundle"].as_str().map(Path::new) == Some(bundle.as_path());
        format!(
            " id={} status={} pid>0={pid_ok} bundle_ok={bundle_ok}",
            v["id"].as_str().map_or("?".to_owned(), |s| if s == id {
                "<id>".into()
            } else {
                s.into()
            }),
            v["status"].as_str().unwrap_or("?"),
        )
    };

    let bundle_s = bundle.to_str().unwrap().to_owned();
    let r = rt(&["create", "--bundle", &bundle_s, &id]);
    step(&mut t, "create", &r, String::new());
    let r = rt(&["state", &id]);
    step(&mut t, "state", &r, state(&r));
    let r = rt(&["start", &id]);
    step(&mut t, "start", &r, String::new());
    let r = rt(&["state", &id]);
    step(&mut t, "state", &r, state(&r));
    let r = rt(&["exec", &id, "hostname"]);
    step(&mut t, "exec hostname", &r, format!(" out={:?}", r.stdout));
    let r = rt(&["ps", "--format", "json", &id]);
    let n = serde_json::from_str::<Value>(&r.stdout)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len));
    step(&mut t, "ps --format json", &r, format!(" pids={n:?}"));
    let r = rt(&["kill", &id, "KILL"]);
    step(&mut t, "kill KILL", &r, String::new());
    // Wait (up to 10s) for the process to be reaped and the state to say so.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut r = rt(&["state", &id]);
    while std::time::Instant::now() < deadline && !r.stdout.contains("\"stopped\"") {
        std::thread::sleep(Duration::from_millis(50));
        r = rt(&["state", &id]);
    }
    step(&mut t, "state", &r, state(&r));
    let r = rt(&["delete", &id]);
    step(&mut t, "delete", &r, String::new());
    let r = rt(&["state", &id]);
    step(&mut t, "state after delete", &r, String::new());
    t
}

/// mountinfo lines normalised, other lines unchanged.
fn mountinfo_and_rest(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.contains(" - ") && l.split(' ').count() > 9 {
                mountinfo(l)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
