//! A tiny classic-BPF assembler with symbolic labels.
//!
//! Classic BPF (`Documentation/networking/filter.rst`) only jumps forward,
//! and a conditional jump encodes its two targets as 8-bit offsets. The
//! compiler emits [`Insn`]s whose jumps name [`Label`]s; [`assemble`] lays
//! them out and rewrites any conditional jump whose target is more than 255
//! instructions away into `jcond 0,1; ja T; ja F` (`BPF_JA` takes a 32-bit
//! offset). Expanding one jump can push another out of range, so layout
//! repeats until nothing changes; expansion only ever grows the program, so
//! the loop terminates.

use berth_sys::seccomp::SockFilter;

use super::SeccompError;

// Opcode fields from <linux/bpf_common.h>.
pub(crate) const BPF_LD: u16 = 0x00;
pub(crate) const BPF_ALU: u16 = 0x04;
pub(crate) const BPF_JMP: u16 = 0x05;
pub(crate) const BPF_RET: u16 = 0x06;
pub(crate) const BPF_W: u16 = 0x00;
pub(crate) const BPF_ABS: u16 = 0x20;
pub(crate) const BPF_AND: u16 = 0x50;
pub(crate) const BPF_JA: u16 = 0x00;
pub(crate) const BPF_JEQ: u16 = 0x10;
pub(crate) const BPF_JGT: u16 = 0x20;
pub(crate) const BPF_JGE: u16 = 0x30;
pub(crate) const BPF_K: u16 = 0x00;

/// `BPF_MAXINSNS` from <linux/bpf_common.h>: the kernel rejects longer
/// classic programs with `EINVAL`.
pub(crate) const BPF_MAXINSNS: usize = 4096;

/// A jump target: an instruction position fixed by [`Asm::place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Where a conditional jump goes on one of its two branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The instruction right after the jump (offset 0).
    Next,
    /// A labelled position later in the program.
    To(Label),
}

/// Comparison of a conditional jump against the constant `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
}

impl Cmp {
    fn code(self) -> u16 {
        BPF_JMP
            | BPF_K
            | match self {
                Cmp::Eq => BPF_JEQ,
                Cmp::Gt => BPF_JGT,
                Cmp::Ge => BPF_JGE,
            }
    }
}

#[derive(Debug, Clone, Copy)]
enum Insn {
    /// An instruction without jumps (load, ALU, return).
    Plain(SockFilter),
    /// A conditional jump.
    Jump {
        cmp: Cmp,
        k: u32,
        jt: Target,
        jf: Target,
    },
    /// An unconditional jump.
    Ja(Label),
    /// Marks the position of a label; emits nothing.
    Place(Label),
}

/// A program under construction.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    insns: Vec<Insn>,
    labels: usize,
}

impl Asm {
    /// A fresh label, to be placed later with [`Asm::place`].
    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Fixes `label` at the current position.
    pub(crate) fn place(&mut self, label: Label) {
        self.insns.push(Insn::Place(label));
    }

    /// `A = *(u32 *)(data + offset)`.
    pub(crate) fn load(&mut self, offset: u32) {
        self.plain(BPF_LD | BPF_W | BPF_ABS, offset);
    }

    /// `A &= k`.
    pub(crate) fn and(&mut self, k: u32) {
        self.plain(BPF_ALU | BPF_AND | BPF_K, k);
    }

    /// `return k`.
    pub(crate) fn ret(&mut self, k: u32) {
        self.plain(BPF_RET | BPF_K, k);
    }

    /// `if (A <cmp> k) goto jt; else goto jf`.
    pub(crate) fn jump(&mut self, cmp: Cmp, k: u32, jt: Target, jf: Target) {
        self.insns.push(Insn::Jump { cmp, k, jt, jf });
    }

    /// `goto label`.
    pub(crate) fn ja(&mut self, label: Label) {
        self.insns.push(Insn::Ja(label));
    }

    fn plain(&mut self, code: u16, k: u32) {
        self.insns.push(Insn::Plain(SockFilter {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    /// Resolves labels and returns the final program.
    pub(crate) fn assemble(&self) -> Result<Vec<SockFilter>, SeccompError> {
        let mut long = vec![false; self.insns.len()];
        let mut starts = vec![0usize; self.insns.len()];
        let mut places = vec![None; self.labels];
        loop {
            let mut pos = 0usize;
            for (i, insn) in self.insns.iter().enumerate() {
                starts[i] = pos;
                pos += match insn {
                    Insn::Place(label) => {
                        places[label.0] = Some(pos);
                        0
                    }
                    Insn::Jump { .. } if long[i] => 3,
                    _ => 1,
                };
            }
            let mut changed = false;
            for (i, insn) in self.insns.iter().enumerate() {
                if let Insn::Jump { jt, jf, .. } = insn {
                    if long[i] {
                        continue;
                    }
                    let next = starts[i] + 1;
                    let too_far = |target: &Target| -> Result<bool, SeccompError> {
                        Ok(resolve(&places, *target, next)? - next > usize::from(u8::MAX))
                    };
                    if too_far(jt)? || too_far(jf)? {
                        long[i] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }

        let mut out = Vec::with_capacity(starts.last().map_or(0, |s| s + 3));
        for (i, insn) in self.insns.iter().enumerate() {
            match *insn {
                Insn::Place(_) => {}
                Insn::Plain(filter) => out.push(filter),
                Insn::Ja(label) => {
                    let next = starts[i] + 1;
                    let offset = resolve(&places, Target::To(label), next)? - next;
                    out.push(ja(offset)?);
                }
                Insn::Jump { cmp, k, jt, jf } if !long[i] => {
                    let next = starts[i] + 1;
                    // `assemble`'s layout loop guarantees both fit in a u8.
                    let jt = u8::try_from(resolve(&places, jt, next)? - next)
                        .map_err(|_| SeccompError::Assemble("short jump out of range"))?;
                    let jf = u8::try_from(resolve(&places, jf, next)? - next)
                        .map_err(|_| SeccompError::Assemble("short jump out of range"))?;
                    out.push(SockFilter {
                        code: cmp.code(),
                        jt,
                        jf,
                        k,
                    });
                }
                Insn::Jump { cmp, k, jt, jf } => {
                    // jcond k, 0, 1 ; ja jt ; ja jf. `Next` means the
                    // instruction after the whole three-instruction group.
                    let after = starts[i] + 3;
                    out.push(SockFilter {
                        code: cmp.code(),
                        jt: 0,
                        jf: 1,
                        k,
                    });
                    let t = resolve(&places, jt, after)?;
                    out.push(ja(t - (starts[i] + 2))?);
                    let f = resolve(&places, jf, after)?;
                    out.push(ja(f - after)?);
                }
            }
        }
        if out.len() > BPF_MAXINSNS {
            return Err(SeccompError::TooLong { len: out.len() });
        }
        Ok(out)
    }
}

/// The absolute position of `target`, checked to be at or after `next`
/// (classic BPF cannot jump backwards).
fn resolve(places: &[Option<usize>], target: Target, next: usize) -> Result<usize, SeccompError> {
    let pos = match target {
        Target::Next => next,
        Target::To(label) => {
            places
                .get(label.0)
                .copied()
                .flatten()
                .ok_or(SeccompError::Assemble(
                    "jump to a label that was never placed",
                ))?
        }
    };
    if pos < next {
        return Err(SeccompError::Assemble("backward jump"));
    }
    Ok(pos)
}

fn ja(offset: usize) -> Result<SockFilter, SeccompError> {
    Ok(SockFilter {
        code: BPF_JMP | BPF_JA,
        jt: 0,
        jf: 0,
        k: u32::try_from(offset).map_err(|_| SeccompError::Assemble("jump offset overflow"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_jumps_stay_single_instructions() {
        let mut asm = Asm::default();
        let done = asm.label();
        asm.load(0);
        asm.jump(Cmp::Eq, 1, Target::To(done), Target::Next);
        asm.ret(0);
        asm.place(done);
        asm.ret(1);
        let prog = asm.assemble().unwrap();
        assert_eq!(prog.len(), 4);
        assert_eq!((prog[1].jt, prog[1].jf), (1, 0));
    }

    #[test]
    fn far_jumps_are_expanded() {
        let mut asm = Asm::default();
        let far = asm.label();
        asm.load(0);
        asm.jump(Cmp::Eq, 7, Target::To(far), Target::Next);
        for _ in 0..300 {
            asm.ret(0);
        }
        asm.place(far);
        asm.ret(1);
        let prog = asm.assemble().unwrap();
        assert_eq!(prog.len(), 1 + 3 + 300 + 1);
        assert_eq!((prog[1].jt, prog[1].jf), (0, 1));
        // jt branch: ja over the jf `ja` and the 300 returns.
        assert_eq!(prog[2].code, BPF_JMP | BPF_JA);
        assert_eq!(2 + 1 + prog[2].k as usize, 304);
        // jf branch (`Next`): ja 0, right after the group.
        assert_eq!(prog[3].k, 0);
    }

    #[test]
    fn backward_jumps_are_rejected() {
        let mut asm = Asm::default();
        let back = asm.label();
        asm.place(back);
        asm.ja(back);
        // `ja` to its own position is offset -1.
        assert!(asm.assemble().is_err());
    }
}
