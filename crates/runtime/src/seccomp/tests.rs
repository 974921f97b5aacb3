//! Unit tests: a classic-BPF interpreter runs compiled programs against
//! synthetic `seccomp_data`, and the syscall tables are checked against the
//! installed kernel headers.

use oci_spec::runtime::{LinuxSeccomp, LinuxSyscall};

use super::bpf::*;
use super::*;

/// `struct seccomp_data` for the interpreter.
#[derive(Debug, Clone, Copy)]
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

impl Data {
    fn bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[0..4].copy_from_slice(&self.nr.to_le_bytes());
        out[4..8].copy_from_slice(&self.arch.to_le_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        out
    }
}

/// Runs `prog` like the kernel's classic-BPF interpreter (only the
/// instructions the compiler emits) and returns the filter's verdict.
fn run(prog: &[SockFilter], data: &Data) -> u32 {
    let bytes = data.bytes();
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let insn = prog[pc];
        pc += 1;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                let off = insn.k as usize;
                assert!(
                    off.is_multiple_of(4) && off + 4 <= 64,
                    "bad load offset {off}"
                );
                a = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
            }
            c if c == BPF_ALU | BPF_AND | BPF_K => a &= insn.k,
            c if c == BPF_RET | BPF_K => return insn.k,
            c if c == BPF_JMP | BPF_JA => pc += insn.k as usize,
            c if c & 0x07 == BPF_JMP => {
                let taken = match c & 0xf0 {
                    BPF_JEQ => a == insn.k,
                    BPF_JGT => a > insn.k,
                    BPF_JGE => a >= insn.k,
                    op => panic!("unexpected jump op {op:#x}"),
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            c => panic!("unexpected opcode {c:#x}"),
        }
        assert!(pc < prog.len(), "fell off the end of the program");
    }
}

const X86_64: u32 = 0xc000_003e;
const I386: u32 = 0x4000_0003;
const AARCH64: u32 = 0xc000_00b7;
const ARM: u32 = 0x4000_0028;

fn nr(table: &[(&str, u32)], name: &str) -> u32 {
    tables::lookup(table, name).unwrap_or_else(|| panic!("{name} not in table"))
}

fn x64(name: &str) -> u32 {
    nr(tables::X86_64, name)
}

fn call(arch: u32, nr: u32, args: [u64; 6]) -> Data {
    Data { nr, arch, args }
}

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

fn compile_x86(json: &str) -> Vec<SockFilter> {
    compile_for(&profile(json), Abi::X86_64).unwrap().program
}

const ERRNO_EPERM: u32 = RET_ERRNO | 1;

#[test]
fn allowlist_with_errno_default() {
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO",
            "architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["openat"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                        {"names":["no_such_syscall"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let z = [0; 6];
    assert_eq!(run(&prog, &call(X86_64, x64("read"), z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(X86_64, x64("write"), z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(X86_64, x64("exit_group"), z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(X86_64, x64("openat"), z)), RET_ERRNO | 13);
    assert_eq!(run(&prog, &call(X86_64, x64("mkdir"), z)), ERRNO_EPERM);
    assert_eq!(run(&prog, &call(X86_64, x64("close"), z)), ERRNO_EPERM);
}

#[test]
fn actions_map_to_seccomp_return_values() {
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_KILL"},
                        {"names":["write"],"action":"SCMP_ACT_KILL_PROCESS"},
                        {"names":["close"],"action":"SCMP_ACT_KILL_THREAD"},
                        {"names":["openat"],"action":"SCMP_ACT_TRAP"},
                        {"names":["mkdir"],"action":"SCMP_ACT_TRACE","errnoRet":7},
                        {"names":["rmdir"],"action":"SCMP_ACT_TRACE"},
                        {"names":["chdir"],"action":"SCMP_ACT_LOG"},
                        {"names":["getpid"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let z = [0; 6];
    let verdict = |name| run(&prog, &call(X86_64, x64(name), z));
    assert_eq!(verdict("read"), RET_KILL_THREAD);
    assert_eq!(verdict("write"), RET_KILL_PROCESS);
    assert_eq!(verdict("close"), RET_KILL_THREAD);
    assert_eq!(verdict("openat"), RET_TRAP);
    assert_eq!(verdict("mkdir"), RET_TRACE | 7);
    assert_eq!(verdict("rmdir"), RET_TRACE | 1);
    assert_eq!(verdict("chdir"), RET_LOG);
    assert_eq!(verdict("getpid"), ERRNO_EPERM);
    assert_eq!(verdict("gettid"), RET_ALLOW);
    // A permissive default gets no ENOSYS stub.
    assert_eq!(run(&prog, &call(X86_64, 1000, z)), RET_ALLOW);
}

#[test]
fn default_errno_ret_is_used() {
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(
        run(&prog, &call(X86_64, x64("write"), [0; 6])),
        RET_ERRNO | 38
    );
}

#[test]
fn argument_operators() {
    // One rule per operator on a different syscall, value 0x1_0000_0010
    // so the high half matters.
    let ops = [
        ("read", "SCMP_CMP_EQ"),
        ("write", "SCMP_CMP_NE"),
        ("close", "SCMP_CMP_LT"),
        ("dup", "SCMP_CMP_LE"),
        ("dup2", "SCMP_CMP_GE"),
        ("pipe", "SCMP_CMP_GT"),
    ];
    let rules: Vec<String> = ops
        .iter()
        .map(|(name, op)| {
            format!(
                r#"{{"names":["{name}"],"action":"SCMP_ACT_ALLOW",
                    "args":[{{"index":2,"value":4294967312,"op":"{op}"}}]}}"#
            )
        })
        .collect();
    let prog = compile_x86(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{}]}}"#,
        rules.join(",")
    ));
    let v: u64 = 0x1_0000_0010;
    let probes = [
        0,
        0x10,
        0x11,
        0xffff_ffff,
        0x1_0000_0000,
        v - 1,
        v,
        v + 1,
        0x2_0000_0000,
        0x2_0000_0010,
        u64::MAX,
    ];
    for (name, op) in ops {
        for probe in probes {
            let holds = match op {
                "SCMP_CMP_EQ" => probe == v,
                "SCMP_CMP_NE" => probe != v,
                "SCMP_CMP_LT" => probe < v,
                "SCMP_CMP_LE" => probe <= v,
                "SCMP_CMP_GE" => probe >= v,
                "SCMP_CMP_GT" => probe > v,
                _ => unreachable!(),
            };
            let expected = if holds { RET_ALLOW } else { ERRNO_EPERM };
            let got = run(&prog, &call(X86_64, x64(name), [0, 0, probe, 0, 0, 0]));
            assert_eq!(got, expected, "{op} {probe:#x} (vs {v:#x})");
        }
    }
}

#[test]
fn masked_eq_uses_value_as_mask_and_value_two_as_datum() {
    // Docker's clone rule: no namespace flags.
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO",
            "syscalls":[{"names":["clone"],"action":"SCMP_ACT_ALLOW",
              "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
              {"names":["write"],"action":"SCMP_ACT_ALLOW",
              "args":[{"index":1,"value":18446744069414584335,"valueTwo":12884901893,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
    );
    let clone = |flags| run(&prog, &call(X86_64, x64("clone"), [flags, 0, 0, 0, 0, 0]));
    // SIGCHLD | CLONE_VM | CLONE_THREAD...: allowed.
    assert_eq!(clone(0x0001_0f00 | 17), RET_ALLOW);
    // CLONE_NEWUSER, CLONE_NEWNS: denied.
    assert_eq!(clone(0x1000_0000 | 17), ERRNO_EPERM);
    assert_eq!(clone(0x0002_0000), ERRNO_EPERM);
    // High bits outside the mask do not matter.
    assert_eq!(clone(0xffff_ffff_0000_0011), RET_ALLOW);

    // mask 0xffffffff_0000000f, datum 0x3_00000005.
    let write = |arg| run(&prog, &call(X86_64, x64("write"), [0, arg, 0, 0, 0, 0]));
    assert_eq!(write(0x3_0000_0005), RET_ALLOW);
    assert_eq!(write(0x3_1234_5675), RET_ALLOW);
    assert_eq!(write(0x3_0000_0006), ERRNO_EPERM);
    assert_eq!(write(0x2_0000_0005), ERRNO_EPERM);
}

#[test]
fn conditions_of_a_rule_are_anded_and_rules_are_ored_in_order() {
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[
              {"names":["openat"],"action":"SCMP_ACT_ERRNO","errnoRet":2,
               "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":2,"value":5,"op":"SCMP_CMP_EQ"}]},
              {"names":["openat"],"action":"SCMP_ACT_ERRNO","errnoRet":3,
               "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
              {"names":["openat"],"action":"SCMP_ACT_ERRNO","errnoRet":4}]}"#,
    );
    let openat = |a0, a2| run(&prog, &call(X86_64, x64("openat"), [a0, 0, a2, 0, 0, 0]));
    assert_eq!(openat(1, 5), RET_ERRNO | 2);
    assert_eq!(openat(1, 6), RET_ERRNO | 3);
    assert_eq!(openat(2, 5), RET_ERRNO | 4);
}

#[test]
fn an_argument_tested_twice_is_split_into_alternatives() {
    // runc turns this into two rules: a0 == 1 OR a0 == 2.
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO",
            "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW",
              "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let p = |a0| {
        run(
            &prog,
            &call(X86_64, x64("personality"), [a0, 0, 0, 0, 0, 0]),
        )
    };
    assert_eq!(p(1), RET_ALLOW);
    assert_eq!(p(2), RET_ALLOW);
    assert_eq!(p(3), ERRNO_EPERM);
}

#[test]
fn rules_with_the_default_action_are_dropped_like_runc() {
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO",
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
                          "args":[{"index":0,"value":3,"op":"SCMP_CMP_EQ"}]},
                        {"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(
        run(&prog, &call(X86_64, x64("read"), [3, 0, 0, 0, 0, 0])),
        RET_ALLOW
    );
}

#[test]
fn architectures_and_the_x32_bit() {
    let json = |arches: &str| {
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":[{arches}],
                "syscalls":[{{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}},
                            {{"names":["mseal"],"action":"SCMP_ACT_KILL"}}]}}"#
        )
    };
    let z = [0; 6];
    let x32_getpid = nr(tables::X32, "getpid");
    assert_eq!(x32_getpid, tables::X32_SYSCALL_BIT | 39);
    let i386_getpid = nr(tables::X86, "getpid");
    assert_eq!(i386_getpid, 20);

    // Only x86_64: x32 numbers and i386 are a bad arch.
    let prog = compile_x86(&json(r#""SCMP_ARCH_X86_64""#));
    assert_eq!(run(&prog, &call(X86_64, 39, z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(X86_64, 40, z)), ERRNO_EPERM);
    assert_eq!(run(&prog, &call(X86_64, x32_getpid, z)), BAD_ARCH);
    assert_eq!(run(&prog, &call(I386, i386_getpid, z)), BAD_ARCH);
    assert_eq!(run(&prog, &call(AARCH64, 172, z)), BAD_ARCH);

    // No architectures at all: the native one.
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["getpid","mseal"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(run(&prog, &call(X86_64, 39, z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(I386, i386_getpid, z)), BAD_ARCH);

    // Docker's list: each ABI uses its own numbers.
    let prog = compile_x86(&json(
        r#""SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64""#,
    ));
    assert_eq!(run(&prog, &call(X86_64, 39, z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(X86_64, x32_getpid, z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(X86_64, x32_getpid + 1, z)), ERRNO_EPERM);
    assert_eq!(run(&prog, &call(I386, i386_getpid, z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(I386, 39, z)), ERRNO_EPERM);
    // aarch64 can never reach an x86_64 kernel's filter: not compiled in.
    assert_eq!(run(&prog, &call(AARCH64, 172, z)), BAD_ARCH);

    // The same profile on an aarch64 kernel.
    let prog = compile_for(
        &profile(&json(
            r#""SCMP_ARCH_X86_64","SCMP_ARCH_AARCH64","SCMP_ARCH_ARM""#,
        )),
        Abi::Aarch64,
    )
    .unwrap()
    .program;
    assert_eq!(run(&prog, &call(AARCH64, 172, z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(AARCH64, 39, z)), ERRNO_EPERM);
    assert_eq!(run(&prog, &call(X86_64, 39, z)), BAD_ARCH);
    // No 32-bit arm table yet: denied like an unlisted architecture.
    assert_eq!(run(&prog, &call(ARM, 20, z)), BAD_ARCH);
}

#[test]
fn narrow_abis_compare_only_the_low_half() {
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86"],
            "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW",
              "args":[{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let i386_personality = nr(tables::X86, "personality");
    let p = |a0| run(&prog, &call(I386, i386_personality, [a0, 0, 0, 0, 0, 0]));
    assert_eq!(p(0xffff_ffff), RET_ALLOW);
    assert_eq!(p(0), ERRNO_EPERM);
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_ERRNO",
            "syscalls":[{"names":["read","openat2"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let z = [0; 6];
    // openat2 is 437: 438 and later are unknown to the profile.
    assert_eq!(run(&prog, &call(X86_64, 437, z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(X86_64, 436, z)), ERRNO_EPERM);
    assert_eq!(run(&prog, &call(X86_64, 438, z)), RET_ERRNO | 38);
    assert_eq!(run(&prog, &call(X86_64, 0x3fff_ffff, z)), RET_ERRNO | 38);

    // Any denying default, not only ERRNO.
    let prog = compile_x86(
        r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS",
            "syscalls":[{"names":["read","openat2"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert_eq!(run(&prog, &call(X86_64, 1, z)), RET_KILL_PROCESS);
    assert_eq!(run(&prog, &call(X86_64, 438, z)), RET_ERRNO | 38);

    // Not when the default already is ENOSYS: no range check emitted.
    let json = |errno| {
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":{errno},
                "syscalls":[{{"names":["read"],"action":"SCMP_ACT_ALLOW"}}]}}"#
        )
    };
    let with_stub = compile_x86(&json(5));
    let without = compile_x86(&json(38));
    assert_eq!(with_stub.len(), without.len() + 1);
    assert_eq!(run(&without, &call(X86_64, 1000, z)), RET_ERRNO | 38);
}

#[test]
fn flags_map_to_kernel_bits() {
    let filter = compile_for(
        &profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG",
                         "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
        ),
        Abi::X86_64,
    )
    .unwrap();
    assert_eq!(filter.flags, 1 | 2 | 4 | 32);
}

#[test]
fn unsupported_configurations_are_errors() {
    let err = |json: &str| {
        compile_for(&profile(json), Abi::X86_64)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#),
        "seccomp notify is not supported (`SCMP_ACT_NOTIFY` used by `defaultAction`)"
    );
    assert_eq!(
        err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","rmdir"],"action":"SCMP_ACT_NOTIFY"}]}"#
        ),
        "seccomp notify is not supported (`SCMP_ACT_NOTIFY` used by `mkdir,rmdir`)"
    );
    assert_eq!(
        err(r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock"}"#),
        "seccomp notify is not supported (`listenerPath` is /run/agent.sock)"
    );
    assert_eq!(
        err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#
        ),
        "seccomp errnoRet 70000 of `read` does not fit in 16 bits"
    );
    assert_eq!(
        err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#
        ),
        "seccomp argument index 6 for `read` is out of range (syscalls have 6)"
    );
    assert_eq!(
        err(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[""],"action":"SCMP_ACT_ERRNO"}]}"#
        ),
        "seccomp rule has an empty syscall name"
    );
}

#[test]
fn long_programs_stay_correct_across_far_jumps() {
    // Every x86_64 syscall with an argument rule: bodies far from the tree.
    let rules: Vec<LinuxSyscall> = tables::X86_64
        .iter()
        .map(|(name, _)| {
            serde_json::from_str(&format!(
                r#"{{"names":["{name}"],"action":"SCMP_ACT_ALLOW",
                    "args":[{{"index":1,"value":7,"op":"SCMP_CMP_NE"}}]}}"#
            ))
            .unwrap()
        })
        .collect();
    let mut seccomp = profile(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#);
    seccomp.set_syscalls(Some(rules));
    let prog = compile_for(&seccomp, Abi::X86_64).unwrap().program;
    assert!(prog.len() <= 4096, "{}", prog.len());
    for (name, nr) in tables::X86_64 {
        let ok = run(&prog, &call(X86_64, *nr, [0, 1, 0, 0, 0, 0]));
        let denied = run(&prog, &call(X86_64, *nr, [0, 7, 0, 0, 0, 0]));
        assert_eq!((ok, denied), (RET_ALLOW, ERRNO_EPERM), "{name}");
    }
}

#[test]
fn too_long_programs_are_rejected() {
    // 6 conditions on every syscall of every x86 ABI does not fit.
    let args: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"index":{i},"value":{i},"op":"SCMP_CMP_GT"}}"#))
        .collect();
    let names: Vec<String> = tables::X86
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{{"names":[{}],"action":"SCMP_ACT_ALLOW","args":[{}]}}]}}"#,
        names.join(","),
        args.join(",")
    );
    let err = compile_for(&profile(&json), Abi::X86_64).unwrap_err();
    assert!(matches!(err, SeccompError::TooLong { .. }), "{err}");
}

#[test]
fn docker_default_parses_compiles_and_behaves() {
    let seccomp = docker_default();
    let filter = compile(&seccomp).unwrap();
    assert!(filter.program.len() < 4096, "{}", filter.program.len());
    assert_eq!(filter.flags, 0);

    let prog = compile_for(&seccomp, Abi::X86_64).unwrap().program;
    eprintln!("docker default on x86_64: {} instructions", prog.len());
    let z = [0; 6];
    let v = |name: &str, args| run(&prog, &call(X86_64, x64(name), args));
    for name in [
        "read",
        "write",
        "openat",
        "execve",
        "chroot",
        "ptrace",
        "io_uring_setup",
    ] {
        assert_eq!(v(name, z), RET_ALLOW, "{name}");
    }
    for name in [
        "mount",
        "unshare",
        "setns",
        "reboot",
        "bpf",
        "kexec_load",
        "init_module",
    ] {
        assert_eq!(v(name, z), ERRNO_EPERM, "{name}");
    }
    assert_eq!(v("clone3", z), RET_ERRNO | 38);
    assert_eq!(v("clone", [0x0001_0f00 | 17, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("clone", [0x2000_0000 | 17, 0, 0, 0, 0, 0]), ERRNO_EPERM);
    assert_eq!(v("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("personality", [0x0040_0000, 0, 0, 0, 0, 0]), ERRNO_EPERM);
    // AF_VSOCK = 40.
    assert_eq!(v("socket", [2, 1, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(v("socket", [40, 1, 0, 0, 0, 0]), ERRNO_EPERM);
    // x32 and i386 processes are filtered too.
    assert_eq!(
        run(&prog, &call(X86_64, nr(tables::X32, "read"), z)),
        RET_ALLOW
    );
    assert_eq!(
        run(&prog, &call(X86_64, nr(tables::X32, "mount"), z)),
        ERRNO_EPERM
    );
    assert_eq!(
        run(&prog, &call(I386, nr(tables::X86, "read"), z)),
        RET_ALLOW
    );
    assert_eq!(
        run(&prog, &call(I386, nr(tables::X86, "unshare"), z)),
        ERRNO_EPERM
    );

    let prog = compile_for(&seccomp, Abi::Aarch64).unwrap().program;
    let a64 = |name: &str| nr(tables::AARCH64, name);
    assert_eq!(run(&prog, &call(AARCH64, a64("read"), z)), RET_ALLOW);
    assert_eq!(run(&prog, &call(AARCH64, a64("mount"), z)), ERRNO_EPERM);
    assert_eq!(run(&prog, &call(AARCH64, a64("clone3"), z)), RET_ERRNO | 38);
}

#[test]
fn tables_are_sorted_and_unique() {
    for (abi, table) in [
        ("x86_64", tables::X86_64),
        ("x86", tables::X86),
        ("x32", tables::X32),
        ("aarch64", tables::AARCH64),
    ] {
        for pair in table.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{abi}: {} !< {}",
                pair[0].0,
                pair[1].0
            );
        }
        let mut numbers: Vec<u32> = table.iter().map(|(_, nr)| *nr).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), table.len(), "{abi}: duplicate numbers");
    }
}

#[test]
fn tables_know_recent_syscalls() {
    for (name, want) in [
        ("futex_waitv", 449),
        ("cachestat", 451),
        ("fchmodat2", 452),
        ("map_shadow_stack", 453),
        ("statmount", 457),
        ("listmount", 458),
        ("lsm_list_modules", 461),
        ("mseal", 462),
        ("setxattrat", 463),
        ("removexattrat", 466),
        ("file_setattr", 469),
    ] {
        assert_eq!(tables::lookup(tables::X86_64, name), Some(want), "{name}");
        assert_eq!(tables::lookup(tables::AARCH64, name), Some(want), "{name}");
    }
    assert_eq!(tables::lookup(tables::X86_64, "uretprobe"), Some(335));
    assert_eq!(tables::lookup(tables::AARCH64, "openat"), Some(56));
    assert_eq!(tables::lookup(tables::AARCH64, "open"), None);
    assert_eq!(tables::lookup(tables::X86_64, "open"), Some(2));
}

/// Parses `#define __NR_<name> <n>` (and x32's `(__X32_SYSCALL_BIT + n)`).
fn parse_header(text: &str, bit: u32) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("#define __NR_")?;
            let (name, value) = rest.split_once(' ')?;
            let value = value.trim();
            let value = value
                .strip_prefix("(__X32_SYSCALL_BIT + ")
                .and_then(|v| v.strip_suffix(')'))
                .unwrap_or(value);
            Some((name.to_owned(), value.parse::<u32>().ok()? | bit))
        })
        .collect()
}

/// Every syscall of the installed headers is in our table with the same
/// number. (Our tables go further than older headers.)
fn check_header(path: &str, table: &[(&str, u32)], bit: u32) -> usize {
    let Ok(text) = fs_err::read_to_string(path) else {
        return 0;
    };
    let defs = parse_header(&text, bit);
    assert!(!defs.is_empty(), "{path}: no __NR_ lines");
    for (name, number) in &defs {
        assert_eq!(
            tables::lookup(table, name),
            Some(*number),
            "{path}: __NR_{name}"
        );
    }
    defs.len()
}

#[test]
fn tables_match_installed_kernel_headers() {
    let dir = "/usr/include/x86_64-linux-gnu/asm";
    let checked = check_header(&format!("{dir}/unistd_64.h"), tables::X86_64, 0)
        + check_header(&format!("{dir}/unistd_32.h"), tables::X86, 0)
        + check_header(
            &format!("{dir}/unistd_x32.h"),
            tables::X32,
            tables::X32_SYSCALL_BIT,
        );
    // Fail loudly on the x86_64 CI machines where the headers must exist.
    if cfg!(target_arch = "x86_64") && std::path::Path::new(dir).exists() {
        assert!(checked > 1000, "only {checked} header entries checked");
    }
    // The aarch64 table is the generic one; check the plain numeric defines
    // of <asm-generic/unistd.h> that arm64 does not rename.
    if let Ok(text) = fs_err::read_to_string("/usr/include/asm-generic/unistd.h") {
        let defs = parse_header(&text, 0);
        assert!(defs.len() > 250);
        for (name, number) in defs {
            // Renamed or conditional on arm64's __ARCH_WANT_* choices.
            // 403..=423 are the time64 calls of 32-bit ABIs only.
            if name == "syscalls"
                || (403..=423).contains(&number)
                || name == "sync_file_range2"
                || name == "fcntl64"
                || name.contains("3264")
            {
                continue;
            }
            assert_eq!(
                tables::lookup(tables::AARCH64, &name),
                Some(number),
                "asm-generic: __NR_{name}"
            );
        }
    }
}
