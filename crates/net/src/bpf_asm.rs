//! A small eBPF assembler: the handful of instructions berth's programs
//! use (the socket redirection of [`crate::sockredir`] and the
//! container-to-container fast path of [`crate::fastpath`]), encoded as `struct bpf_insn`
//! (include/uapi/linux/bpf.h, Documentation/bpf/standardization/
//! instruction-set.rst), with named jump targets resolved at the end.

use std::collections::BTreeMap;

use berth_sys::bpf::Insn;

// Instruction classes, sizes, modes and sources.
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_STX: u8 = 0x03;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const SIZE_W: u8 = 0x00;
const SIZE_H: u8 = 0x08;
const SIZE_B: u8 = 0x10;
const SIZE_DW: u8 = 0x18;
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;
// ALU operations.
const OP_ADD: u8 = 0x00;
const OP_OR: u8 = 0x40;
const OP_AND: u8 = 0x50;
const OP_LSH: u8 = 0x60;
const OP_MOV: u8 = 0xb0;
// Jump operations.
const OP_JEQ: u8 = 0x10;
const OP_JGT: u8 = 0x20;
const OP_JNE: u8 = 0x50;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;
/// `BPF_PSEUDO_MAP_FD`: the immediate of a 64-bit load is a map descriptor
/// the kernel replaces with the map's address.
const PSEUDO_MAP_FD: u8 = 1;

/// Registers: r0 (return value), r1-r5 (arguments, clobbered by calls),
/// r6-r9 (kept across calls), r10 (read-only frame pointer).
pub(crate) type Reg = u8;
pub(crate) const R0: Reg = 0;
pub(crate) const R1: Reg = 1;
pub(crate) const R2: Reg = 2;
pub(crate) const R3: Reg = 3;
pub(crate) const R4: Reg = 4;
pub(crate) const R5: Reg = 5;
pub(crate) const R6: Reg = 6;
pub(crate) const R7: Reg = 7;
pub(crate) const FP: Reg = 10;

/// A program being written: instructions, and jumps waiting for the
/// position of their label.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    insns: Vec<Insn>,
    labels: BTreeMap<&'static str, usize>,
    fixups: Vec<(usize, &'static str)>,
}

/// Why a program could not be assembled (a bug in the program text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AsmError {
    #[error("eBPF program: jump to undefined label {0:?}")]
    Undefined(&'static str),
    #[error("eBPF program: label {0:?} defined twice")]
    Duplicate(&'static str),
    #[error("eBPF program: jump to {0:?} is too far")]
    TooFar(&'static str),
}

impl Asm {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> &mut Self {
        self.insns.push(Insn::new(code, dst, src, off, imm));
        self
    }

    /// `dst = src` (64 bit).
    pub(crate) fn mov(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.push(CLASS_ALU64 | OP_MOV | SRC_X, dst, src, 0, 0)
    }

    /// `dst = imm` (64 bit, sign-extended).
    pub(crate) fn mov_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.push(CLASS_ALU64 | OP_MOV | SRC_K, dst, 0, 0, imm)
    }

    /// `dst += imm` (64 bit).
    pub(crate) fn add_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.push(CLASS_ALU64 | OP_ADD | SRC_K, dst, 0, 0, imm)
    }

    /// `dst |= src` (64 bit).
    pub(crate) fn or(&mut self, dst: Reg, src: Reg) -> &mut Self {
        self.push(CLASS_ALU64 | OP_OR | SRC_X, dst, src, 0, 0)
    }

    /// `dst &= imm` (64 bit, `imm` sign-extended).
    pub(crate) fn and_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.push(CLASS_ALU64 | OP_AND | SRC_K, dst, 0, 0, imm)
    }

    /// `dst <<= imm` (64 bit).
    pub(crate) fn lsh_imm(&mut self, dst: Reg, imm: i32) -> &mut Self {
        self.push(CLASS_ALU64 | OP_LSH | SRC_K, dst, 0, 0, imm)
    }

    /// `dst = imm` with a full 64-bit immediate (two instruction slots).
    pub(crate) fn ld_imm64(&mut self, dst: Reg, imm: u64) -> &mut Self {
        // The low and high halves, each as the instruction's i32 bits.
        let lo = (imm & 0xffff_ffff) as u32 as i32;
        let hi = (imm >> 32) as u32 as i32;
        self.push(CLASS_LD | SIZE_DW | MODE_IMM, dst, 0, 0, lo);
        self.push(0, 0, 0, 0, hi)
    }

    /// `dst = &map`, the map with descriptor `fd` (two instruction slots).
    pub(crate) fn ld_map_fd(&mut self, dst: Reg, fd: i32) -> &mut Self {
        self.push(CLASS_LD | SIZE_DW | MODE_IMM, dst, PSEUDO_MAP_FD, 0, fd);
        self.push(0, 0, 0, 0, 0)
    }

    /// `dst = *(u32 *)(src + off)`.
    pub(crate) fn ldx_w(&mut self, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.push(CLASS_LDX | MODE_MEM | SIZE_W, dst, src, off, 0)
    }

    /// `dst = *(u16 *)(src + off)`.
    pub(crate) fn ldx_h(&mut self, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.push(CLASS_LDX | MODE_MEM | SIZE_H, dst, src, off, 0)
    }

    /// `dst = *(u8 *)(src + off)`.
    pub(crate) fn ldx_b(&mut self, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.push(CLASS_LDX | MODE_MEM | SIZE_B, dst, src, off, 0)
    }

    /// `*(u16 *)(dst + off) = src`.
    pub(crate) fn stx_h(&mut self, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.push(CLASS_STX | MODE_MEM | SIZE_H, dst, src, off, 0)
    }

    /// `*(u32 *)(dst + off) = src`.
    pub(crate) fn stx_w(&mut self, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.push(CLASS_STX | MODE_MEM | SIZE_W, dst, src, off, 0)
    }

    /// `*(u64 *)(dst + off) = src`.
    pub(crate) fn stx_dw(&mut self, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.push(CLASS_STX | MODE_MEM | SIZE_DW, dst, src, off, 0)
    }

    fn jump(&mut self, code: u8, dst: Reg, src: Reg, imm: i32, to: &'static str) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.push(code, dst, src, 0, imm)
    }

    /// `if dst == imm goto to`.
    pub(crate) fn jeq_imm(&mut self, dst: Reg, imm: i32, to: &'static str) -> &mut Self {
        self.jump(CLASS_JMP | OP_JEQ | SRC_K, dst, 0, imm, to)
    }

    /// `if dst != imm goto to`.
    pub(crate) fn jne_imm(&mut self, dst: Reg, imm: i32, to: &'static str) -> &mut Self {
        self.jump(CLASS_JMP | OP_JNE | SRC_K, dst, 0, imm, to)
    }

    /// `if dst == src goto to`.
    pub(crate) fn jeq(&mut self, dst: Reg, src: Reg, to: &'static str) -> &mut Self {
        self.jump(CLASS_JMP | OP_JEQ | SRC_X, dst, src, 0, to)
    }

    /// `if dst > src goto to` (unsigned).
    pub(crate) fn jgt(&mut self, dst: Reg, src: Reg, to: &'static str) -> &mut Self {
        self.jump(CLASS_JMP | OP_JGT | SRC_X, dst, src, 0, to)
    }

    /// `if dst != src goto to`.
    pub(crate) fn jne(&mut self, dst: Reg, src: Reg, to: &'static str) -> &mut Self {
        self.jump(CLASS_JMP | OP_JNE | SRC_X, dst, src, 0, to)
    }

    /// Calls kernel helper number `helper` (arguments in r1-r5, result in r0).
    pub(crate) fn call(&mut self, helper: i32) -> &mut Self {
        self.push(CLASS_JMP | OP_CALL, 0, 0, 0, helper)
    }

    /// `return r0`.
    pub(crate) fn exit(&mut self) -> &mut Self {
        self.push(CLASS_JMP | OP_EXIT, 0, 0, 0, 0)
    }

    /// Names the position of the next instruction.
    pub(crate) fn label(&mut self, name: &'static str) -> Result<&mut Self, AsmError> {
        if self.labels.insert(name, self.insns.len()).is_some() {
            return Err(AsmError::Duplicate(name));
        }
        Ok(self)
    }

    /// The instructions, every jump pointing at its label (offsets count
    /// from the instruction after the jump).
    pub(crate) fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        for (at, name) in std::mem::take(&mut self.fixups) {
            let target = *self.labels.get(name).ok_or(AsmError::Undefined(name))?;
            let off =
                i64::try_from(target).unwrap_or(i64::MAX) - i64::try_from(at).unwrap_or(0) - 1;
            let off = i16::try_from(off).map_err(|_| AsmError::TooFar(name))?;
            if let Some(insn) = self.insns.get_mut(at) {
                insn.off = off;
            }
        }
        Ok(self.insns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of one instruction as the kernel reads them.
    fn bytes(i: Insn) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[0] = i.code;
        out[1] = i.regs;
        out[2..4].copy_from_slice(&i.off.to_le_bytes());
        out[4..8].copy_from_slice(&i.imm.to_le_bytes());
        out
    }

    fn one(f: impl FnOnce(&mut Asm)) -> Vec<[u8; 8]> {
        let mut a = Asm::new();
        f(&mut a);
        a.finish().unwrap().into_iter().map(bytes).collect()
    }

    // Expected encodings as `llvm-objdump -d` prints them for the same
    // instructions compiled by clang -target bpf.
    #[test]
    fn alu_and_memory_encodings() {
        assert_eq!(
            one(|a| {
                a.mov(R6, R1);
            }),
            [[0xbf, 0x16, 0, 0, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.mov_imm(R0, 1);
            }),
            [[0xb7, 0x00, 0, 0, 1, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.add_imm(R2, -8);
            }),
            [[0x07, 0x02, 0, 0, 0xf8, 0xff, 0xff, 0xff]]
        );
        assert_eq!(
            one(|a| {
                a.or(R2, R3);
            }),
            [[0x4f, 0x32, 0, 0, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.lsh_imm(R3, 16);
            }),
            [[0x67, 0x03, 0, 0, 16, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.ldx_w(R2, R6, 24);
            }),
            [[0x61, 0x62, 24, 0, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.stx_w(FP, -4, R2);
            }),
            [[0x63, 0x2a, 0xfc, 0xff, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.stx_dw(FP, -16, R0);
            }),
            [[0x7b, 0x0a, 0xf0, 0xff, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.call(122);
            }),
            [[0x85, 0, 0, 0, 122, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.exit();
            }),
            [[0x95, 0, 0, 0, 0, 0, 0, 0]]
        );
    }

    /// The instructions the fast path adds (llvm-objdump's bytes for the
    /// same instructions).
    #[test]
    fn packet_access_encodings() {
        assert_eq!(
            one(|a| {
                a.ldx_h(R4, R2, 4);
            }),
            [[0x69, 0x24, 4, 0, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.ldx_b(R4, R2, 0);
            }),
            [[0x71, 0x24, 0, 0, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.stx_h(FP, -4, R4);
            }),
            [[0x6b, 0x4a, 0xfc, 0xff, 0, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.and_imm(R4, 1);
            }),
            [[0x57, 0x04, 0, 0, 1, 0, 0, 0]]
        );
        let mut a = Asm::new();
        a.jgt(R4, R3, "x"); // 0: +2
        a.jne_imm(R4, 0, "x"); // 1: +1
        a.jeq(R1, R5, "x"); // 2: +0
        a.label("x").unwrap();
        let insns = a.finish().unwrap();
        assert_eq!(bytes(insns[0]), [0x2d, 0x34, 2, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(insns[1]), [0x55, 0x04, 1, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(insns[2]), [0x1d, 0x51, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn wide_loads_take_two_slots() {
        assert_eq!(
            one(|a| {
                a.ld_imm64(R1, 0x1122_3344_5566_7788);
            }),
            [
                [0x18, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55],
                [0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11]
            ]
        );
        assert_eq!(
            one(|a| {
                a.ld_map_fd(R1, 7);
            }),
            [[0x18, 0x11, 0, 0, 7, 0, 0, 0], [0; 8]]
        );
    }

    #[test]
    fn jumps_resolve_forward_and_backward() {
        let mut a = Asm::new();
        a.label("top").unwrap();
        a.jeq_imm(R0, 0, "out"); // 0: +2
        a.jne(R0, R1, "top"); // 1: -2
        a.jeq_imm(R1, 5, "out"); // 2: +0
        a.label("out").unwrap();
        a.exit();
        let insns = a.finish().unwrap();
        assert_eq!(bytes(insns[0]), [0x15, 0x00, 2, 0, 0, 0, 0, 0]);
        assert_eq!(bytes(insns[1]), [0x5d, 0x10, 0xfe, 0xff, 0, 0, 0, 0]);
        assert_eq!(bytes(insns[2]), [0x15, 0x01, 0, 0, 5, 0, 0, 0]);
    }

    #[test]
    fn label_mistakes_are_errors() {
        let mut a = Asm::new();
        a.jeq_imm(R0, 0, "nowhere");
        assert_eq!(a.finish().unwrap_err(), AsmError::Undefined("nowhere"));
        let mut a = Asm::new();
        a.label("x").unwrap();
        assert_eq!(a.label("x").unwrap_err(), AsmError::Duplicate("x"));
    }
}
