//! Device access rules: OCI `linux.resources.devices` to the v1 `devices`
//! controller's files and to a cgroup v2 `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program.
//!
//! The OCI rules are applied in order, as writes to `devices.allow` /
//! `devices.deny` would be in v1. [`DevicePolicy::from_rules`] replays them
//! on a model of the kernel's device cgroup (security/device_cgroup.c:
//! a default behaviour plus a list of exceptions, where a wildcard `a` rule
//! resets both), starting from "allow everything" as a fresh cgroup under
//! an unrestricted parent does. The result has one default and exceptions
//! that all go the other way, which is easy to write to v1 files and to
//! compile to eBPF (runc reaches the same shape with its `devices` emulator).
//!
//! Matching follows the kernel: with default deny, an access is allowed if
//! one exception covers *all* requested access bits; with default allow, it
//! is denied if an exception covers *any* of them.

use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::bpf::{self, Insn};
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};

/// `BPF_DEVCG_ACC_MKNOD`
pub const ACC_MKNOD: u8 = 1;
/// `BPF_DEVCG_ACC_READ`
pub const ACC_READ: u8 = 2;
/// `BPF_DEVCG_ACC_WRITE`
pub const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Block or character device (`a` is never an exception: it resets the
/// policy instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// `b`
    Block,
    /// `c` (and OCI's `u`, an unbuffered character device)
    Char,
}

impl DeviceKind {
    fn letter(self) -> char {
        match self {
            Self::Block => 'b',
            Self::Char => 'c',
        }
    }

    /// `BPF_DEVCG_DEV_BLOCK` / `BPF_DEVCG_DEV_CHAR`
    fn bpf_type(self) -> i32 {
        match self {
            Self::Block => 1,
            Self::Char => 2,
        }
    }
}

/// A device rule that differs from the policy's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceException {
    /// Device type.
    pub kind: DeviceKind,
    /// Major number, `None` for any.
    pub major: Option<u32>,
    /// Minor number, `None` for any.
    pub minor: Option<u32>,
    /// `ACC_*` bits.
    pub access: u8,
}

impl DeviceException {
    /// The v1 rule syntax: `c 1:3 rwm`, `b *:* m`.
    pub fn to_v1(&self) -> String {
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
        let mut access = String::new();
        if self.access & ACC_READ != 0 {
            access.push('r');
        }
        if self.access & ACC_WRITE != 0 {
            access.push('w');
        }
        if self.access & ACC_MKNOD != 0 {
            access.push('m');
        }
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            num(self.major),
            num(self.minor),
            access
        )
    }

    fn same_device(&self, other: &Self) -> bool {
        self.kind == other.kind && self.major == other.major && self.minor == other.minor
    }
}

/// The effective device policy: a default and the exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePolicy {
    /// Whether devices not listed are allowed.
    pub default_allow: bool,
    /// Devices that get the opposite verdict.
    pub exceptions: Vec<DeviceException>,
}

impl DevicePolicy {
    /// Replays OCI rules, in order, on a fresh "allow all" policy.
    pub fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<Self> {
        let mut policy = Self {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for rule in rules {
            let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
                // The kernel ignores major, minor and access for `a`.
                LinuxDeviceType::A => {
                    policy.default_allow = rule.allow();
                    policy.exceptions.clear();
                    continue;
                }
                LinuxDeviceType::B => DeviceKind::Block,
                LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
                LinuxDeviceType::P => {
                    return Err(invalid(
                        "FIFO (`p`) rules do not exist in the device cgroup; only `a`, `b`, `c` and `u` do",
                    ));
                }
            };
            let exception = DeviceException {
                kind,
                major: number(rule.major(), "major")?,
                minor: number(rule.minor(), "minor")?,
                access: access_bits(rule.access().as_deref())?,
            };
            if rule.allow() == policy.default_allow {
                // Same verdict as the default: take these access bits out of
                // any exception for the same device (dev_exception_rm).
                policy.exceptions.retain_mut(|e| {
                    if e.same_device(&exception) {
                        e.access &= !exception.access;
                    }
                    e.access != 0
                });
            } else if let Some(e) = policy
                .exceptions
                .iter_mut()
                .find(|e| e.same_device(&exception))
            {
                // dev_exception_add merges access bits of the same device.
                e.access |= exception.access;
            } else {
                policy.exceptions.push(exception);
            }
        }
        Ok(policy)
    }

    /// The v1 writes that install this policy, as (file, value) pairs: the
    /// wildcard first (which also clears the cgroup's exceptions), then one
    /// write per exception.
    pub fn v1_writes(&self) -> Vec<(&'static str, String)> {
        let (default_file, exception_file) = if self.default_allow {
            ("devices.allow", "devices.deny")
        } else {
            ("devices.deny", "devices.allow")
        };
        let mut writes = vec![(default_file, "a".to_owned())];
        writes.extend(self.exceptions.iter().map(|e| (exception_file, e.to_v1())));
        writes
    }

    /// Compiles the policy into a `BPF_PROG_TYPE_CGROUP_DEVICE` program.
    ///
    /// The program gets a `struct bpf_cgroup_dev_ctx { u32 access_type;
    /// u32 major; u32 minor; }` in R1, where `access_type` is
    /// `(access << 16) | type`, and returns 1 to allow, 0 to deny.
    pub fn program(&self) -> Vec<Insn> {
        let mut insns = vec![
            // R2 = type (low 16 bits of access_type)
            ldx_w(2, 1, 0),
            Insn::new(ALU_AND_K, 2, 0, 0, 0xffff),
            // R3 = access (high 16 bits of access_type)
            ldx_w(3, 1, 0),
            Insn::new(ALU_RSH_K, 3, 0, 0, 16),
            // R4 = major, R5 = minor
            ldx_w(4, 1, 4),
            ldx_w(5, 1, 8),
        ];
        let verdict = i32::from(!self.default_allow);
        for e in &self.exceptions {
            // Each block jumps to its end (the next block) on mismatch; the
            // offsets are filled in once the block's length is known.
            let mut block: Vec<Insn> = vec![Insn::new(JMP_JNE_K, 2, 0, 0, e.kind.bpf_type())];
            if e.access != ACC_ALL {
                block.push(Insn::new(ALU_MOV_X, 1, 3, 0, 0));
                block.push(Insn::new(ALU_AND_K, 1, 0, 0, i32::from(e.access)));
                if self.default_allow {
                    // Deny if any requested bit is covered.
                    block.push(Insn::new(JMP_JEQ_K, 1, 0, 0, 0));
                } else {
                    // Allow only if every requested bit is covered.
                    block.push(Insn::new(JMP_JNE_X, 1, 3, 0, 0));
                }
            }
            if let Some(major) = e.major {
                block.push(Insn::new(JMP_JNE_K, 4, 0, 0, imm(major)));
            }
            if let Some(minor) = e.minor {
                block.push(Insn::new(JMP_JNE_K, 5, 0, 0, imm(minor)));
            }
            block.push(Insn::new(ALU_MOV_K, 0, 0, 0, verdict));
            block.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
            let len = block.len();
            for (i, insn) in block.iter_mut().enumerate() {
                if is_cond_jump(insn.code) {
                    // Blocks are a handful of instructions long.
                    insn.off = (len - i - 1) as i16;
                }
            }
            insns.extend(block);
        }
        insns.push(Insn::new(ALU_MOV_K, 0, 0, 0, i32::from(self.default_allow)));
        insns.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
        insns
    }
}

// Opcodes (include/uapi/linux/bpf_common.h, bpf.h): class | op | source.
const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
const ALU_AND_K: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const ALU_RSH_K: u8 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MOV_K: u8 = 0x04 | 0xb0; // BPF_ALU | BPF_MOV | BPF_K
const ALU_MOV_X: u8 = 0x04 | 0xb0 | 0x08; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JEQ_K: u8 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x05 | 0x50; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x05 | 0x50 | 0x08; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(LDX_MEM_W, dst, src, off, 0)
}

fn is_cond_jump(code: u8) -> bool {
    matches!(code, JMP_JEQ_K | JMP_JNE_K | JMP_JNE_X)
}

/// Device numbers fit in 20 bits (minor) and 12 bits (major), so they are
/// non-negative as an `i32` immediate; the check keeps that true for
/// garbage input too.
fn imm(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn invalid(reason: &str) -> Error {
    Error::InvalidResource {
        what: "device rule".to_owned(),
        reason: reason.to_owned(),
    }
}

fn number(n: Option<i64>, which: &str) -> Result<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid(&format!("{which} number {n} is out of range"))),
    }
}

fn access_bits(access: Option<&str>) -> Result<u8> {
    let access = access.unwrap_or("");
    if access.is_empty() {
        // Unset means every kind of access, as runc reads it.
        return Ok(ACC_ALL);
    }
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            other => {
                return Err(invalid(&format!(
                    "access `{access}` has `{other}`; only `r`, `w` and `m` are allowed"
                )));
            }
        };
    }
    Ok(bits)
}

/// Replaces the device programs attached to the v2 cgroup `dir` with one
/// enforcing `policy`.
///
/// The new program is attached (with `BPF_F_ALLOW_MULTI`) before the old
/// ones are detached, so an `update` never leaves a window with no device
/// restriction; runc does the same.
pub(crate) fn install_v2(dir: &Path, policy: &DevicePolicy) -> Result<()> {
    let fail = |what: &str, reason: String| Error::DeviceProgram {
        what: what.to_owned(),
        path: dir.to_owned(),
        reason,
    };
    let dir_fd = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail("open the cgroup directory", e.to_string()))?;
    // A failed query (e.g. an old kernel) only means nothing is detached.
    let old = bpf::prog_query(dir_fd.as_fd(), bpf::ATTACH_CGROUP_DEVICE).unwrap_or_default();
    let prog = bpf::prog_load(
        bpf::PROG_TYPE_CGROUP_DEVICE,
        &policy.program(),
        c"Apache-2.0",
        "berth_devices",
    )
    .map_err(|e| fail("load the device access eBPF program", e.to_string()))?;
    bpf::prog_attach(
        dir_fd.as_fd(),
        prog.as_fd(),
        bpf::ATTACH_CGROUP_DEVICE,
        bpf::F_ALLOW_MULTI,
    )
    .map_err(|e| fail("attach the device access eBPF program", e.to_string()))?;
    for id in old {
        let old_prog = bpf::prog_get_fd_by_id(id).map_err(|e| {
            fail(
                "open the previous device access eBPF program",
                e.to_string(),
            )
        })?;
        bpf::prog_detach(dir_fd.as_fd(), old_prog.as_fd(), bpf::ATTACH_CGROUP_DEVICE).map_err(
            |e| {
                fail(
                    "detach the previous device access eBPF program",
                    e.to_string(),
                )
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, typ: &str, major: i64, minor: i64, access: &str) -> LinuxDeviceCgroup {
        serde_json::from_value(serde_json::json!({
            "allow": allow, "type": typ, "major": major, "minor": minor, "access": access
        }))
        .unwrap()
    }

    fn deny_all() -> LinuxDeviceCgroup {
        serde_json::from_value(serde_json::json!({"allow": false, "access": "rwm"})).unwrap()
    }

    #[test]
    fn docker_style_rules_become_default_deny_with_allows() {
        let rules = vec![
            deny_all(),
            rule(true, "c", 1, 3, "rwm"),
            rule(true, "c", 1, 5, "rwm"),
            rule(true, "c", 136, -1, "rwm"),
            rule(true, "c", -1, -1, "m"),
        ];
        let p = DevicePolicy::from_rules(&rules).unwrap();
        assert!(!p.default_allow);
        let v1: Vec<_> = p.v1_writes();
        assert_eq!(
            v1,
            vec![
                ("devices.deny", "a".to_owned()),
                ("devices.allow", "c 1:3 rwm".to_owned()),
                ("devices.allow", "c 1:5 rwm".to_owned()),
                ("devices.allow", "c 136:* rwm".to_owned()),
                ("devices.allow", "c *:* m".to_owned()),
            ]
        );
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        // allow c 1:3 rwm, then deny its write bit: c 1:3 rm remains.
        let rules = vec![
            deny_all(),
            rule(true, "c", 1, 3, "rwm"),
            rule(false, "c", 1, 3, "w"),
            rule(true, "c", 1, 7, "r"),
            rule(true, "c", 1, 7, "w"),
            rule(true, "b", 8, 0, "r"),
            rule(false, "b", 8, 0, "r"),
        ];
        let p = DevicePolicy::from_rules(&rules).unwrap();
        assert_eq!(
            p.exceptions
                .iter()
                .map(DeviceException::to_v1)
                .collect::<Vec<_>>(),
            vec!["c 1:3 rm", "c 1:7 rw"]
        );
    }

    #[test]
    fn wildcard_resets_and_no_rules_is_allow_all() {
        let p = DevicePolicy::from_rules(&[]).unwrap();
        assert!(p.default_allow && p.exceptions.is_empty());
        let rules = vec![
            deny_all(),
            rule(true, "c", 1, 3, "rwm"),
            serde_json::from_value(serde_json::json!({"allow": true, "type": "a"})).unwrap(),
            rule(false, "c", 10, 200, "rwm"),
        ];
        let p = DevicePolicy::from_rules(&rules).unwrap();
        assert!(p.default_allow);
        assert_eq!(
            p.v1_writes(),
            vec![
                ("devices.allow", "a".to_owned()),
                ("devices.deny", "c 10:200 rwm".to_owned()),
            ]
        );
    }

    #[test]
    fn invalid_rules() {
        assert!(DevicePolicy::from_rules(&[rule(true, "p", 1, 1, "r")]).is_err());
        let err = DevicePolicy::from_rules(&[rule(true, "c", 1, 1, "rx")]).unwrap_err();
        assert!(err.to_string().contains("only `r`, `w` and `m`"), "{err}");
        assert!(DevicePolicy::from_rules(&[rule(true, "c", 1 << 40, 1, "r")]).is_err());
        // `u` is a character device.
        let p = DevicePolicy::from_rules(&[deny_all(), rule(true, "u", 4, 1, "")]).unwrap();
        assert_eq!(p.exceptions[0].to_v1(), "c 4:1 rwm");
    }

    /// A tiny interpreter for the instructions `program` emits, so the
    /// tests check behaviour, not just bytes.
    fn run(prog: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (d, s) = (i.dst() as usize, i.src() as usize);
            let mut next = pc + 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1);
                    r[d] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU_AND_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
                ALU_RSH_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
                ALU_MOV_K => r[d] = i.imm as u32 as u64,
                ALU_MOV_X => r[d] = r[s] as u32 as u64,
                JMP_JEQ_K if r[d] == i.imm as i64 as u64 => next += i.off as usize,
                JMP_JNE_K if r[d] != i.imm as i64 as u64 => next += i.off as usize,
                JMP_JNE_X if r[d] != r[s] => next += i.off as usize,
                JMP_JEQ_K | JMP_JNE_K | JMP_JNE_X => {}
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
            pc = next;
        }
    }

    const CHR: u32 = 2;
    const BLK: u32 = 1;
    const R: u32 = ACC_READ as u32;
    const W: u32 = ACC_WRITE as u32;
    const M: u32 = ACC_MKNOD as u32;

    #[test]
    fn program_bytes_for_one_exception() {
        let p = DevicePolicy {
            default_allow: false,
            exceptions: vec![DeviceException {
                kind: DeviceKind::Char,
                major: Some(1),
                minor: Some(3),
                access: ACC_READ | ACC_WRITE,
            }],
        };
        let prog = p.program();
        let expected = vec![
            Insn::new(0x61, 2, 1, 0, 0),
            Insn::new(0x54, 2, 0, 0, 0xffff),
            Insn::new(0x61, 3, 1, 0, 0),
            Insn::new(0x74, 3, 0, 0, 16),
            Insn::new(0x61, 4, 1, 4, 0),
            Insn::new(0x61, 5, 1, 8, 0),
            // if type != char goto next
            Insn::new(0x55, 2, 0, 7, 2),
            // r1 = access & rw; if r1 != access goto next
            Insn::new(0xbc, 1, 3, 0, 0),
            Insn::new(0x54, 1, 0, 0, 6),
            Insn::new(0x5d, 1, 3, 4, 0),
            Insn::new(0x55, 4, 0, 3, 1),
            Insn::new(0x55, 5, 0, 2, 3),
            Insn::new(0xb4, 0, 0, 0, 1),
            Insn::new(0x95, 0, 0, 0, 0),
            // default: deny
            Insn::new(0xb4, 0, 0, 0, 0),
            Insn::new(0x95, 0, 0, 0, 0),
        ];
        assert_eq!(prog, expected);
    }

    #[test]
    fn program_default_deny_semantics() {
        let rules = vec![
            deny_all(),
            rule(true, "c", 1, 3, "rwm"),
            rule(true, "c", 1, 9, "r"),
            rule(true, "c", 136, -1, "rw"),
            rule(true, "b", -1, -1, "m"),
        ];
        let prog = DevicePolicy::from_rules(&rules).unwrap().program();
        assert_eq!(run(&prog, CHR, R | W, 1, 3), 1);
        assert_eq!(run(&prog, CHR, M, 1, 3), 1);
        assert_eq!(run(&prog, BLK, R, 1, 3), 0, "type must match");
        assert_eq!(run(&prog, CHR, R, 1, 4), 0, "minor must match");
        assert_eq!(run(&prog, CHR, R, 1, 9), 1);
        assert_eq!(run(&prog, CHR, R | W, 1, 9), 0, "all bits must be covered");
        assert_eq!(run(&prog, CHR, W, 136, 42), 1, "wildcard minor");
        assert_eq!(run(&prog, CHR, M, 136, 42), 0);
        assert_eq!(run(&prog, BLK, M, 8, 1), 1, "wildcard major and minor");
        assert_eq!(run(&prog, BLK, R, 8, 1), 0);
    }

    #[test]
    fn program_default_allow_semantics() {
        let rules = vec![
            rule(false, "c", 10, 200, "w"),
            rule(false, "b", 8, -1, "rwm"),
        ];
        let p = DevicePolicy::from_rules(&rules).unwrap();
        assert!(p.default_allow);
        let prog = p.program();
        assert_eq!(run(&prog, CHR, R, 10, 200), 1);
        assert_eq!(run(&prog, CHR, R | W, 10, 200), 0, "any denied bit denies");
        assert_eq!(run(&prog, BLK, R, 8, 16), 0);
        assert_eq!(run(&prog, CHR, R | W | M, 1, 3), 1);
    }

    #[test]
    fn program_for_deny_all_is_just_deny() {
        let prog = DevicePolicy::from_rules(&[deny_all()]).unwrap().program();
        assert_eq!(prog.len(), 8);
        assert_eq!(run(&prog, CHR, R, 1, 3), 0);
    }
}
