//! Compiles the OCI `linux.seccomp` section into a classic-BPF seccomp filter
//! and installs it, in pure Rust (no libseccomp).
//!
//! [`compile`] turns an [`oci_spec::runtime::LinuxSeccomp`] into a [`Filter`]
//! (program + `SECCOMP_FILTER_FLAG_*` bits); [`install`] loads it with
//! `seccomp(SECCOMP_SET_MODE_FILTER)` through `berth-sys`. [`docker_default`]
//! is Docker's default profile, resolved for Docker's default capabilities.
//!
//! ```
//! let filter = berth_runtime::seccomp::compile(&berth_runtime::seccomp::docker_default())?;
//! assert!(filter.program.len() < 4096);
//! # Ok::<(), berth_runtime::seccomp::SeccompError>(())
//! ```
//!
//! Semantics follow runc + libseccomp, see `seccomp(2)` and the runtime
//! spec's `config-linux.md#seccomp`:
//! - The program first checks `seccomp_data.arch`. The host's native
//!   architecture is always filtered; listed compat ABIs of the host (x86 and
//!   x32 on x86_64, arm on aarch64) are too. Any other architecture gets
//!   libseccomp's bad-arch action, `SECCOMP_RET_KILL_THREAD`. x32 shares
//!   `AUDIT_ARCH_X86_64`, so an x86_64 section sends syscall numbers with
//!   `__X32_SYSCALL_BIT` to the x32 section, or to the bad-arch action when
//!   x32 is not listed. Listed architectures of other hosts can never reach
//!   the filter and are ignored. 32-bit arm has no table yet (see
//!   `seccomp/tables.rs`), so on aarch64 hosts its processes get the bad-arch action.
//! - Syscall names unknown for an architecture are skipped, as runc does.
//! - Rules for one syscall are tried in profile order and the first whose
//!   argument conditions all hold decides (conditions of one rule are ANDed;
//!   a rule that tests one argument twice is split into one rule per
//!   condition, as runc does). A rule whose action equals the default action
//!   is dropped, as runc does before calling libseccomp.
//! - Arguments are compared as 64-bit values, high half first, except on the
//!   32-bit ABIs (x86, arm) where only the low half exists.
//! - Like runc's `patchbpf`, when the default action denies, syscall numbers
//!   above the highest one the profile names get `ENOSYS`, so libc falls
//!   back from syscalls newer than the profile instead of failing.

mod bpf;
mod tables;

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_sys::seccomp::SockFilter;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};

use self::bpf::{Asm, Cmp, Label, Target};

/// A compiled filter, ready for [`install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The classic-BPF program (at most 4096 instructions).
    pub program: Vec<SockFilter>,
    /// `SECCOMP_FILTER_FLAG_*` bits for `seccomp(2)`.
    pub flags: u32,
}

/// Why a seccomp profile could not be compiled or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// `SCMP_ACT_NOTIFY` needs a listener fd handed to an agent.
    #[error("seccomp notify is not supported (`SCMP_ACT_NOTIFY` used by {used_by})")]
    NotifyUnsupported {
        /// `defaultAction` or the syscall names of the rule.
        used_by: String,
    },
    /// `listenerPath` only makes sense with `SCMP_ACT_NOTIFY`.
    #[error("seccomp notify is not supported (`listenerPath` is {})", path.display())]
    ListenerUnsupported {
        /// The configured listener path.
        path: PathBuf,
    },
    /// The return data of `SECCOMP_RET_ERRNO`/`TRACE` is 16 bits.
    #[error("seccomp errnoRet {value} of {used_by} does not fit in 16 bits")]
    ErrnoOutOfRange {
        /// `defaultErrnoRet` or the syscall names of the rule.
        used_by: String,
        /// The configured value.
        value: u32,
    },
    /// A rule listed an empty syscall name.
    #[error("seccomp rule has an empty syscall name")]
    EmptyName,
    /// `args[].index` must name one of the six syscall arguments.
    #[error("seccomp argument index {index} for {names} is out of range (syscalls have 6)")]
    ArgIndexOutOfRange {
        /// The syscall names of the rule.
        names: String,
        /// The configured index.
        index: usize,
    },
    /// The program is longer than the kernel's `BPF_MAXINSNS`.
    #[error("seccomp filter needs {len} BPF instructions; the kernel accepts at most 4096")]
    TooLong {
        /// Instructions needed.
        len: usize,
    },
    /// berth has no syscall tables for the architecture it was built for.
    #[error("seccomp filters are not supported on `{arch}`")]
    UnsupportedHost {
        /// `std::env::consts::ARCH`.
        arch: &'static str,
    },
    /// A bug in the compiler's code layout.
    #[error("internal seccomp compiler error: {0}")]
    Assemble(&'static str),
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("loading the seccomp filter")]
    Load(#[source] berth_sys::SysError),
}

/// Compiles `seccomp` for the architecture berth was built for.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    compile_for(seccomp, Abi::host()?)
}

/// Loads `filter` for the calling thread (all threads with
/// `SECCOMP_FILTER_FLAG_TSYNC`).
///
/// The caller must have set `no_new_privs` or hold `CAP_SYS_ADMIN`
/// (`seccomp(2)`); the runtime installs the filter as the last step before
/// `execve`, after `no_new_privs`, so the filter does not need to allow the
/// runtime's own setup syscalls.
pub fn install(filter: &Filter) -> Result<(), SeccompError> {
    berth_sys::seccomp::load_filter(&filter.program, filter.flags).map_err(SeccompError::Load)
}

/// Docker's default seccomp profile, as Docker generates it for a container
/// with Docker's default capabilities (`data/seccomp-default.json`).
pub fn docker_default() -> LinuxSeccomp {
    #[allow(
        clippy::expect_used,
        reason = "the embedded profile is a constant; a unit test parses it"
    )]
    serde_json::from_str(include_str!("../../data/seccomp-default.json"))
        .expect("data/seccomp-default.json is a valid LinuxSeccomp")
}

// seccomp return values, <linux/seccomp.h>.
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// libseccomp's default bad-architecture action, `SCMP_ACT_KILL`.
const BAD_ARCH: u32 = RET_KILL_THREAD;

// `struct seccomp_data` offsets: int nr; __u32 arch; __u64 ip; __u64 args[6].
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// A syscall ABI the compiler knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Abi {
    X86_64,
    X32,
    X86,
    Aarch64,
    Arm,
}

impl Abi {
    fn host() -> Result<Abi, SeccompError> {
        if cfg!(target_arch = "x86_64") {
            Ok(Abi::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Ok(Abi::Aarch64)
        } else {
            Err(SeccompError::UnsupportedHost {
                arch: std::env::consts::ARCH,
            })
        }
    }

    /// `AUDIT_ARCH_*` from <linux/audit.h>, what `seccomp_data.arch` holds.
    fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => 0xc000_003e,
            Abi::X86 => 0x4000_0003,
            Abi::Aarch64 => 0xc000_00b7,
            Abi::Arm => 0x4000_0028,
        }
    }

    fn table(self) -> Option<&'static [(&'static str, u32)]> {
        match self {
            Abi::X86_64 => Some(tables::X86_64),
            Abi::X32 => Some(tables::X32),
            Abi::X86 => Some(tables::X86),
            Abi::Aarch64 => Some(tables::AARCH64),
            Abi::Arm => None,
        }
    }

    /// ABIs whose syscall arguments are 32 bits wide: libseccomp compares
    /// only the low half there.
    fn narrow_args(self) -> bool {
        matches!(self, Abi::X86 | Abi::Arm)
    }

    /// The ABIs a kernel built for `self` can report in `seccomp_data`.
    fn family(self) -> &'static [Abi] {
        match self {
            Abi::X86_64 | Abi::X32 | Abi::X86 => &[Abi::X86_64, Abi::X32, Abi::X86],
            Abi::Aarch64 | Abi::Arm => &[Abi::Aarch64, Abi::Arm],
        }
    }

    fn from_oci(arch: Arch, native: Abi) -> Option<Abi> {
        match arch {
            Arch::ScmpArchNative => Some(native),
            Arch::ScmpArchX86_64 => Some(Abi::X86_64),
            Arch::ScmpArchX32 => Some(Abi::X32),
            Arch::ScmpArchX86 => Some(Abi::X86),
            Arch::ScmpArchAarch64 => Some(Abi::Aarch64),
            Arch::ScmpArchArm => Some(Abi::Arm),
            _ => None,
        }
    }
}

/// One argument test, already split into 32-bit halves.
#[derive(Debug, Clone, Copy)]
struct Cond {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

#[derive(Debug, Clone)]
struct Rule {
    ret: u32,
    conds: Vec<Cond>,
}

/// A checked profile: actions resolved to return values, rules split.
struct Checked {
    default_ret: u32,
    /// (syscall names, rules) in profile order.
    rules: Vec<(Vec<String>, Vec<Rule>)>,
    /// Every syscall name of the profile, kept rules or not.
    all_names: Vec<String>,
    enosys_stub: bool,
    flags: u32,
}

fn action_ret(
    action: LinuxSeccompAction,
    errno: Option<u32>,
    used_by: impl Fn() -> String,
) -> Result<u32, SeccompError> {
    let data = |default: u32| -> Result<u32, SeccompError> {
        let value = errno.unwrap_or(default);
        if value > 0xffff {
            return Err(SeccompError::ErrnoOutOfRange {
                used_by: used_by(),
                value,
            });
        }
        Ok(value)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        // runc: ERRNO and TRACE without errnoRet carry EPERM.
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data(EPERM)?,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data(EPERM)?,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::NotifyUnsupported { used_by: used_by() });
        }
    })
}

fn check(seccomp: &LinuxSeccomp) -> Result<Checked, SeccompError> {
    if let Some(path) = seccomp.listener_path() {
        return Err(SeccompError::ListenerUnsupported { path: path.clone() });
    }
    let default_action = seccomp.default_action();
    let default_ret = action_ret(default_action, seccomp.default_errno_ret(), || {
        "`defaultAction`".to_owned()
    })?;

    let mut rules = Vec::new();
    let mut all_names = Vec::new();
    for syscall in seccomp.syscalls().iter().flatten() {
        let names = syscall.names();
        let shown = || format!("`{}`", names.join(","));
        if names.iter().any(String::is_empty) {
            return Err(SeccompError::EmptyName);
        }
        all_names.extend(names.iter().cloned());
        let ret = action_ret(syscall.action(), syscall.errno_ret(), shown)?;
        let args: &[LinuxSeccompArg] = syscall.args().as_deref().unwrap_or(&[]);
        let mut conds = Vec::with_capacity(args.len());
        for arg in args {
            let index = u32::try_from(arg.index())
                .ok()
                .filter(|index| *index < 6)
                .ok_or_else(|| SeccompError::ArgIndexOutOfRange {
                    names: shown(),
                    index: arg.index(),
                })?;
            conds.push(Cond {
                index,
                op: arg.op(),
                value: arg.value(),
                value_two: arg.value_two().unwrap_or(0),
            });
        }
        if ret == default_ret {
            // runc's matchCall: "This rule is redundant, silently skip it".
            continue;
        }
        // runc: when one argument is tested twice, each condition becomes a
        // rule of its own (OR) instead of an impossible AND.
        let mut seen = [false; 6];
        let repeated = conds
            .iter()
            .any(|c| std::mem::replace(&mut seen[c.index as usize], true));
        let split = if repeated {
            conds
                .into_iter()
                .map(|c| Rule {
                    ret,
                    conds: vec![c],
                })
                .collect()
        } else {
            vec![Rule { ret, conds }]
        };
        rules.push((names.clone(), split));
    }

    // runc's patchbpf skips the -ENOSYS stub for permissive defaults ("a good
    // tracer should support future syscalls") and when the default already
    // returns ENOSYS.
    let enosys_stub = !matches!(
        default_action,
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    ) && default_ret != RET_ERRNO | ENOSYS;

    let mut flags = 0;
    for flag in seccomp.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => berth_sys::seccomp::FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => berth_sys::seccomp::FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                berth_sys::seccomp::FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                berth_sys::seccomp::FLAG_WAIT_KILLABLE_RECV
            }
        };
    }

    Ok(Checked {
        default_ret,
        rules,
        all_names,
        enosys_stub,
        flags,
    })
}

/// Compiles `seccomp` as the filter of a kernel whose native ABI is `native`.
fn compile_for(seccomp: &LinuxSeccomp, native: Abi) -> Result<Filter, SeccompError> {
    let checked = check(seccomp)?;

    let mut abis = vec![native];
    for arch in seccomp.architectures().iter().flatten() {
        if let Some(abi) = Abi::from_oci(*arch, native)
            && native.family().contains(&abi)
            && !abis.contains(&abi)
        {
            abis.push(abi);
        }
    }
    abis.sort();

    let mut asm = Asm::default();
    let bad_arch = asm.label();
    let default = asm.label();
    let enosys = asm.label();

    // Dispatch on the architecture. x86_64 and x32 share one audit arch and
    // are split by the syscall number's x32 bit below.
    asm.load(OFF_ARCH);
    let mut sections = Vec::new();
    for abi in &abis {
        if *abi == Abi::X32 && abis.contains(&Abi::X86_64) {
            continue;
        }
        let label = asm.label();
        asm.jump(Cmp::Eq, abi.audit_arch(), Target::To(label), Target::Next);
        sections.push((*abi, label));
    }
    asm.ret(BAD_ARCH);

    for (abi, label) in sections {
        asm.place(label);
        asm.load(OFF_NR);
        match abi {
            Abi::X86_64 => {
                let x32 = abis.contains(&Abi::X32).then(|| asm.label());
                let target = x32.unwrap_or(bad_arch);
                asm.jump(
                    Cmp::Ge,
                    tables::X32_SYSCALL_BIT,
                    Target::To(target),
                    Target::Next,
                );
                emit_section(&mut asm, &checked, Abi::X86_64, default, enosys)?;
                if let Some(x32) = x32 {
                    asm.place(x32);
                    emit_section(&mut asm, &checked, Abi::X32, default, enosys)?;
                }
            }
            Abi::X32 => {
                // x32 without x86_64 (only when native is x32, which berth is
                // never built for): plain x86_64 numbers are a bad arch.
                asm.jump(
                    Cmp::Ge,
                    tables::X32_SYSCALL_BIT,
                    Target::Next,
                    Target::To(bad_arch),
                );
                emit_section(&mut asm, &checked, Abi::X32, default, enosys)?;
            }
            _ => emit_section(&mut asm, &checked, abi, default, enosys)?,
        }
    }

    asm.place(default);
    asm.ret(checked.default_ret);
    asm.place(enosys);
    asm.ret(RET_ERRNO | ENOSYS);
    asm.place(bad_arch);
    asm.ret(BAD_ARCH);

    Ok(Filter {
        program: asm.assemble()?,
        flags: checked.flags,
    })
}

/// Syscalls per leaf of the dispatch tree: a leaf is a run of `jeq`s
/// followed by its own return instructions, so its jumps stay short.
const LEAF: usize = 8;

/// Emits the code for one ABI. On entry `A` holds the syscall number.
fn emit_section(
    asm: &mut Asm,
    checked: &Checked,
    abi: Abi,
    default: Label,
    enosys: Label,
) -> Result<(), SeccompError> {
    let Some(table) = abi.table() else {
        // No table (32-bit arm): libseccomp would filter it, we cannot, so
        // deny the same way as an unlisted architecture.
        asm.ret(BAD_ARCH);
        return Ok(());
    };

    // nr -> rules, in profile order.
    let mut by_nr: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for (names, rules) in &checked.rules {
        for name in names {
            let Some(nr) = tables::lookup(table, name) else {
                continue;
            };
            by_nr.entry(nr).or_default().extend(rules.iter().cloned());
        }
    }
    // runc's patchbpf looks at every name in the profile, including rules
    // it drops as redundant; do the same so the ENOSYS cut-off matches.
    let highest = checked
        .all_names
        .iter()
        .filter_map(|name| tables::lookup(table, name))
        .max();
    if checked.enosys_stub
        && let Some(highest) = highest
    {
        asm.jump(Cmp::Gt, highest, Target::To(enosys), Target::Next);
    }

    // Each syscall's outcome: a plain return value, or a body with argument
    // checks emitted after the tree.
    let mut entries = Vec::with_capacity(by_nr.len());
    let mut bodies = Vec::new();
    for (nr, rules) in by_nr {
        match rules.first() {
            Some(first) if first.conds.is_empty() => entries.push((nr, Outcome::Ret(first.ret))),
            _ => {
                let label = asm.label();
                entries.push((nr, Outcome::Body(label)));
                bodies.push((label, rules));
            }
        }
    }
    emit_tree(asm, &entries, checked.default_ret);
    for (label, rules) in bodies {
        asm.place(label);
        emit_rules(asm, &rules, abi.narrow_args());
        asm.ja(default);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ret(u32),
    Body(Label),
}

/// A binary search over the sorted syscall numbers: inner nodes `jge` to
/// the upper half, leaves compare each number with `jeq`.
fn emit_tree(asm: &mut Asm, entries: &[(u32, Outcome)], default_ret: u32) {
    if entries.len() > LEAF {
        let mid = entries.len() / 2;
        let upper = asm.label();
        asm.jump(Cmp::Ge, entries[mid].0, Target::To(upper), Target::Next);
        emit_tree(asm, &entries[..mid], default_ret);
        asm.place(upper);
        emit_tree(asm, &entries[mid..], default_ret);
        return;
    }
    // Returns of this leaf, deduplicated, placed right after its jumps.
    let mut rets: Vec<(u32, Label)> = Vec::new();
    for (nr, outcome) in entries {
        let target = match *outcome {
            Outcome::Body(label) => label,
            Outcome::Ret(ret) => match rets.iter().find(|(r, _)| *r == ret) {
                Some((_, label)) => *label,
                None => {
                    let label = asm.label();
                    rets.push((ret, label));
                    label
                }
            },
        };
        asm.jump(Cmp::Eq, *nr, Target::To(target), Target::Next);
    }
    asm.ret(default_ret);
    for (ret, label) in rets {
        asm.place(label);
        asm.ret(ret);
    }
}

/// Rules of one syscall in order; the first whose conditions all hold
/// returns its action, otherwise control falls through.
fn emit_rules(asm: &mut Asm, rules: &[Rule], narrow: bool) {
    for rule in rules {
        let fail = asm.label();
        for cond in &rule.conds {
            emit_cond(asm, cond, narrow, fail);
        }
        asm.ret(rule.ret);
        asm.place(fail);
    }
}

/// Falls through when `cond` holds, jumps to `fail` otherwise. seccomp_data
/// arguments are little-endian u64s on x86 and aarch64: low word first.
fn emit_cond(asm: &mut Asm, cond: &Cond, narrow: bool, fail: Label) {
    use LinuxSeccompOperator as Op;

    let lo_off = OFF_ARGS + 8 * cond.index;
    let hi_off = lo_off + 4;
    let split = |v: u64| ((v >> 32) as u32, v as u32);
    let (v_hi, v_lo) = split(cond.value);
    let (d_hi, d_lo) = split(cond.value_two);
    let pass = asm.label();
    let (p, f) = (Target::To(pass), Target::To(fail));

    // High half: decide early when it settles the comparison.
    if !narrow {
        asm.load(hi_off);
        match cond.op {
            Op::ScmpCmpEq => asm.jump(Cmp::Eq, v_hi, Target::Next, f),
            Op::ScmpCmpNe => asm.jump(Cmp::Eq, v_hi, Target::Next, p),
            Op::ScmpCmpGt | Op::ScmpCmpGe => {
                asm.jump(Cmp::Gt, v_hi, p, Target::Next);
                asm.jump(Cmp::Eq, v_hi, Target::Next, f);
            }
            Op::ScmpCmpLt | Op::ScmpCmpLe => {
                asm.jump(Cmp::Gt, v_hi, f, Target::Next);
                asm.jump(Cmp::Eq, v_hi, Target::Next, p);
            }
            Op::ScmpCmpMaskedEq => {
                asm.and(v_hi);
                asm.jump(Cmp::Eq, d_hi, Target::Next, f);
            }
        }
    }
    // Low half (high halves equal, or a 32-bit ABI).
    asm.load(lo_off);
    match cond.op {
        Op::ScmpCmpEq => asm.jump(Cmp::Eq, v_lo, p, f),
        Op::ScmpCmpNe => asm.jump(Cmp::Eq, v_lo, f, p),
        Op::ScmpCmpGt => asm.jump(Cmp::Gt, v_lo, p, f),
        Op::ScmpCmpGe => asm.jump(Cmp::Ge, v_lo, p, f),
        Op::ScmpCmpLt => asm.jump(Cmp::Ge, v_lo, f, p),
        Op::ScmpCmpLe => asm.jump(Cmp::Gt, v_lo, f, p),
        // libseccomp/runc: `value` is the mask, `valueTwo` the datum.
        Op::ScmpCmpMaskedEq => {
            asm.and(v_lo);
            asm.jump(Cmp::Eq, d_lo, p, f);
        }
    }
    asm.place(pass);
}

#[cfg(test)]
mod tests;
