//! The programs, written with [`crate::bpf_asm`], one pair per address family.
//!
//! `struct bpf_sock_addr` (include/uapi/linux/bpf.h), the context all of
//! them get in r1: `user_ip4` at offset 4, `user_ip6[4]` at 8 (each read
//! and written as four 32-bit words; only the hooks of that family may
//! touch it), `user_port` at 24 (network byte order; the kernel loads and
//! stores the port's 16 bits), `protocol` at 36.
//!
//! Maps, per family (`A` = 4 bytes of IPv4 or 16 of IPv6 address, in
//! network order): the frontends map (hash) from `A + 4` bytes
//! `{ip, port | protocol << 16}` to `A + 4` bytes `{ip, port}` (the
//! container's); the sockets map (LRU hash) from `12 + A` bytes
//! `{socket cookie: u64, ip, port}` (a redirected socket and the container
//! address it was sent to) to `A + 4` bytes `{ip, port}` (the published
//! address it asked for).

use berth_sys::bpf::Insn;

use crate::bpf_asm::{Asm, AsmError, FP, R0, R1, R2, R3, R4, R6, R7};

const CTX_USER_IP4: i16 = 4;
const CTX_USER_IP6: i16 = 8;
const CTX_USER_PORT: i16 = 24;
const CTX_PROTOCOL: i16 = 36;

const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_MAP_UPDATE_ELEM: i32 = 2;
const HELPER_GET_SOCKET_COOKIE: i32 = 46;
const HELPER_GET_NETNS_COOKIE: i32 = 122;

/// The address family a program is written for: where its address is in
/// the context and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    V4,
    V6,
}

impl Family {
    /// Bytes of an address.
    pub(super) const fn addr_len(self) -> u32 {
        match self {
            Self::V4 => 4,
            Self::V6 => 16,
        }
    }

    /// Size of the frontends map's keys and of both maps' values:
    /// `{ip, port word}`.
    pub(super) const fn entry_size(self) -> u32 {
        self.addr_len() + 4
    }

    /// Size of the sockets map's key: `{cookie, ip, port}`.
    pub(super) const fn socket_key_size(self) -> u32 {
        8 + self.addr_len() + 4
    }

    fn ctx_ip(self) -> i16 {
        match self {
            Self::V4 => CTX_USER_IP4,
            Self::V6 => CTX_USER_IP6,
        }
    }

    /// The 32-bit words of an address.
    fn words(self) -> i16 {
        match self {
            Self::V4 => 1,
            Self::V6 => 4,
        }
    }

    /// Bytes of an address, as a stack or context offset.
    fn addr_off(self) -> i16 {
        self.words() * 4
    }

    /// Stack offsets (from the frame pointer, 8-byte aligned as the
    /// verifier wants for the cookie) of the redirect program's frontend
    /// key, sockets key and sockets value.
    fn redirect_stack(self) -> (i16, i16, i16) {
        let round8 = |n: i16| (n + 7) / 8 * 8;
        let frontend = -round8(self.addr_off() + 4);
        let socket = frontend - round8(12 + self.addr_off());
        let value = socket - round8(self.addr_off() + 4);
        (frontend, socket, value)
    }
}

/// For `connect4`/`sendmsg4` (`connect6`/`sendmsg6`): if the socket is in
/// the network namespace with cookie `netns_cookie` and its destination is
/// in the frontends map, rewrites the destination to the container's
/// address and remembers the original one for the socket. Always allows
/// the call (returns 1).
pub(super) fn redirect(
    family: Family,
    netns_cookie: u64,
    frontends_fd: i32,
    sockets_fd: i32,
) -> Result<Vec<Insn>, AsmError> {
    let (ip, words, alen) = (family.ctx_ip(), family.words(), family.addr_off());
    let (fk, sk, sv) = family.redirect_stack();
    let mut a = Asm::new();
    a.mov(R6, R1)
        // Only sockets of the daemon's own network namespace.
        .call(HELPER_GET_NETNS_COOKIE)
        .ld_imm64(R1, netns_cookie)
        .jne(R0, R1, "out");
    // Frontend key at fk: {user_ip, user_port | protocol << 16}.
    for w in 0..words {
        a.ldx_w(R2, R6, ip + 4 * w).stx_w(FP, fk + 4 * w, R2);
    }
    a.ldx_w(R2, R6, CTX_USER_PORT)
        .ldx_w(R3, R6, CTX_PROTOCOL)
        .lsh_imm(R3, 16)
        .or(R2, R3)
        .stx_w(FP, fk + alen, R2)
        .ld_map_fd(R1, frontends_fd)
        .mov(R2, FP)
        .add_imm(R2, i32::from(fk))
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, "out")
        .mov(R7, R0)
        // Sockets key at sk: {cookie, container ip, container port};
        // value at sv: {published ip, published port}.
        .mov(R1, R6)
        .call(HELPER_GET_SOCKET_COOKIE)
        .stx_dw(FP, sk, R0);
    for w in 0..words {
        a.ldx_w(R2, R7, 4 * w)
            .stx_w(FP, sk + 8 + 4 * w, R2)
            .stx_w(R6, ip + 4 * w, R2);
    }
    a.ldx_w(R2, R7, alen)
        .stx_w(FP, sk + 8 + alen, R2)
        .ldx_w(R3, R6, CTX_USER_PORT)
        .stx_w(FP, sv + alen, R3)
        .stx_w(R6, CTX_USER_PORT, R2);
    for w in 0..words {
        a.ldx_w(R3, FP, fk + 4 * w).stx_w(FP, sv + 4 * w, R3);
    }
    a.ld_map_fd(R1, sockets_fd)
        .mov(R2, FP)
        .add_imm(R2, i32::from(sk))
        .mov(R3, FP)
        .add_imm(R3, i32::from(sv))
        .mov_imm(R4, 0)
        .call(HELPER_MAP_UPDATE_ELEM);
    a.label("out")?;
    a.mov_imm(R0, 1).exit();
    a.finish()
}

/// For `getpeername4`/`recvmsg4` (`getpeername6`/`recvmsg6`): if the
/// socket was redirected to the address in the context, puts the
/// published address back. Always returns 1 (these hooks cannot refuse).
///
/// `mapped_v4_sockets_fd` (the IPv6 programs): the IPv4 sockets map, for
/// an IPv6 socket whose peer is an IPv4-mapped address (`::ffff:a.b.c.d`)
/// that the IPv4 `sendmsg` program redirected (a dual-stack socket's
/// unconnected UDP datagram to `::ffff:127.0.0.1`): the published IPv4
/// address goes back in the same form.
pub(super) fn restore(
    family: Family,
    sockets_fd: i32,
    mapped_v4_sockets_fd: Option<i32>,
) -> Result<Vec<Insn>, AsmError> {
    let (ip, words, alen) = (family.ctx_ip(), family.words(), family.addr_off());
    // Sockets key at sk: {cookie, ip, port}.
    let sk = -((12 + alen + 7) / 8 * 8);
    let mut a = Asm::new();
    a.mov(R6, R1)
        .call(HELPER_GET_SOCKET_COOKIE)
        .stx_dw(FP, sk, R0);
    for w in 0..words {
        a.ldx_w(R2, R6, ip + 4 * w).stx_w(FP, sk + 8 + 4 * w, R2);
    }
    let mapped_v4_sockets_fd = mapped_v4_sockets_fd.filter(|_| family == Family::V6);
    let miss = if mapped_v4_sockets_fd.is_some() {
        "mapped"
    } else {
        "out"
    };
    a.ldx_w(R2, R6, CTX_USER_PORT)
        .stx_w(FP, sk + 8 + alen, R2)
        .ld_map_fd(R1, sockets_fd)
        .mov(R2, FP)
        .add_imm(R2, i32::from(sk))
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, miss);
    for w in 0..words {
        a.ldx_w(R2, R0, 4 * w).stx_w(R6, ip + 4 * w, R2);
    }
    a.ldx_w(R2, R0, alen).stx_w(R6, CTX_USER_PORT, R2);
    if let (Family::V6, Some(v4_fd)) = (family, mapped_v4_sockets_fd) {
        // An IPv4-mapped peer: bytes 0..10 zero, 10..12 0xff.
        let sk4 = sk - 16;
        // Found: done (an always-taken jump).
        a.mov_imm(R2, 0).jeq_imm(R2, 0, "out");
        a.label("mapped")?;
        a.ldx_w(R2, R6, ip)
            .jne_imm(R2, 0, "out")
            .ldx_w(R2, R6, ip + 4)
            .jne_imm(R2, 0, "out")
            .ldx_h(R2, R6, ip + 8)
            .jne_imm(R2, 0, "out")
            .ldx_h(R2, R6, ip + 10)
            .jne_imm(R2, 0xffff, "out")
            // IPv4 sockets key at sk4: {cookie, the IPv4 address, port}.
            .mov(R1, R6)
            .call(HELPER_GET_SOCKET_COOKIE)
            .stx_dw(FP, sk4, R0)
            .ldx_w(R2, R6, ip + 12)
            .stx_w(FP, sk4 + 8, R2)
            .ldx_w(R2, R6, CTX_USER_PORT)
            .stx_w(FP, sk4 + 12, R2)
            .ld_map_fd(R1, v4_fd)
            .mov(R2, FP)
            .add_imm(R2, i32::from(sk4))
            .call(HELPER_MAP_LOOKUP_ELEM)
            .jeq_imm(R0, 0, "out")
            // ::ffff:<published IPv4 address>, its port.
            .mov_imm(R2, 0)
            .stx_w(R6, ip, R2)
            .stx_w(R6, ip + 4, R2)
            .ld_imm64(R2, u64::from(u32::from_ne_bytes([0, 0, 0xff, 0xff])))
            .stx_w(R6, ip + 8, R2)
            .ldx_w(R2, R0, 0)
            .stx_w(R6, ip + 12, R2)
            .ldx_w(R2, R0, 4)
            .stx_w(R6, CTX_USER_PORT, R2);
    }
    a.label("out")?;
    a.mov_imm(R0, 1).exit();
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_assemble_and_end_in_return_one() {
        for family in [Family::V4, Family::V6] {
            for prog in [
                redirect(family, 42, 3, 4).unwrap(),
                restore(family, 4, Some(5)).unwrap(),
            ] {
                let n = prog.len();
                assert!(n > 4);
                // mov r0, 1; exit
                assert_eq!((prog[n - 2].code, prog[n - 2].imm), (0xb7, 1));
                assert_eq!(prog[n - 1].code, 0x95);
            }
            // The netns cookie is the 64-bit immediate of the third
            // instruction.
            let p = redirect(family, 0x0102_0304_0506_0708, 3, 4).unwrap();
            assert_eq!(
                (p[2].code, p[2].imm, p[3].imm),
                (0x18, 0x0506_0708, 0x0102_0304)
            );
        }
    }

    #[test]
    fn map_layouts() {
        assert_eq!(
            (
                Family::V4.entry_size(),
                Family::V4.socket_key_size(),
                Family::V6.entry_size(),
                Family::V6.socket_key_size()
            ),
            (8, 16, 20, 28)
        );
        // IPv4 keeps the layout it always had; IPv6 keys fit below its
        // frontend key without overlapping, the cookie 8-byte aligned.
        assert_eq!(Family::V4.redirect_stack(), (-8, -24, -32));
        assert_eq!(Family::V6.redirect_stack(), (-24, -56, -80));
    }

    /// Offsets of the context fields the programs touch, per family: the
    /// IPv4 programs never name `user_ip6` and the IPv6 ones never
    /// `user_ip4` (the verifier refuses a field of the other family).
    #[test]
    fn each_family_touches_only_its_address_field() {
        // ldx_w r, r6, off (0x61) and stx_w r6, off, r (0x63) on the
        // context register r6.
        let ctx_offsets = |p: &[Insn]| -> Vec<i16> {
            p.iter()
                .filter(|i| (i.code == 0x61 && i.src() == R6) || (i.code == 0x63 && i.dst() == R6))
                .map(|i| i.off)
                .collect()
        };
        for family in [Family::V4, Family::V6] {
            let (lo, hi) = match family {
                Family::V4 => (4, 8),
                Family::V6 => (8, 24),
            };
            for p in [
                redirect(family, 1, 3, 4).unwrap(),
                restore(family, 4, Some(5)).unwrap(),
            ] {
                let offs = ctx_offsets(&p);
                assert!(
                    offs.iter()
                        .all(|o| (lo..hi).contains(o) || *o == CTX_USER_PORT || *o == CTX_PROTOCOL),
                    "{family:?}: {offs:?}"
                );
                // Every word of the address is written by each program.
                let written: Vec<i16> = p
                    .iter()
                    .filter(|i| i.code == 0x63 && i.dst() == R6)
                    .map(|i| i.off)
                    .collect();
                for w in (lo..hi).step_by(4) {
                    assert!(written.contains(&w), "{family:?}: {written:?}");
                }
            }
        }
    }
}
