//! The two programs, written with [`super::asm`].
//!
//! `struct bpf_sock_addr` (include/uapi/linux/bpf.h), the context both get
//! in r1: `user_ip4` at offset 4 and `user_port` at 24 (network byte order;
//! the kernel loads and stores the port's 16 bits), `protocol` at 36.
//!
//! Maps: the frontends map (hash) from 8 bytes `{ip, port | protocol << 16}`
//! to 8 bytes `{ip, port}` (the container's); the sockets map (LRU hash)
//! from 16 bytes `{socket cookie: u64, ip, port}` (a redirected socket and
//! the container address it was sent to) to 8 bytes `{ip, port}` (the
//! published address it asked for).

use berth_sys::bpf::Insn;

use super::asm::{Asm, AsmError, FP, R0, R1, R2, R3, R4, R6, R7};

const CTX_USER_IP4: i16 = 4;
const CTX_USER_PORT: i16 = 24;
const CTX_PROTOCOL: i16 = 36;

const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_MAP_UPDATE_ELEM: i32 = 2;
const HELPER_GET_SOCKET_COOKIE: i32 = 46;
const HELPER_GET_NETNS_COOKIE: i32 = 122;

/// Size of the sockets map's key.
pub(super) const SOCKET_KEY_SIZE: u32 = 16;

/// For `connect4` and `sendmsg4`: if the socket is in the network namespace
/// with cookie `netns_cookie` and its destination is in the frontends map,
/// rewrites the destination to the container's address and remembers the
/// original one for the socket. Always allows the call (returns 1).
pub(super) fn redirect(
    netns_cookie: u64,
    frontends_fd: i32,
    sockets_fd: i32,
) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    a.mov(R6, R1)
        // Only sockets of the daemon's own network namespace.
        .call(HELPER_GET_NETNS_COOKIE)
        .ld_imm64(R1, netns_cookie)
        .jne(R0, R1, "out")
        // Frontend key at fp-8: {user_ip4, user_port | protocol << 16}.
        .ldx_w(R2, R6, CTX_USER_IP4)
        .stx_w(FP, -8, R2)
        .ldx_w(R2, R6, CTX_USER_PORT)
        .ldx_w(R3, R6, CTX_PROTOCOL)
        .lsh_imm(R3, 16)
        .or(R2, R3)
        .stx_w(FP, -4, R2)
        .ld_map_fd(R1, frontends_fd)
        .mov(R2, FP)
        .add_imm(R2, -8)
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, "out")
        .mov(R7, R0)
        // Sockets key at fp-24: {cookie, container ip, container port};
        // value at fp-32: {published ip, published port}.
        .mov(R1, R6)
        .call(HELPER_GET_SOCKET_COOKIE)
        .stx_dw(FP, -24, R0)
        .ldx_w(R2, R7, 0)
        .stx_w(FP, -16, R2)
        .stx_w(R6, CTX_USER_IP4, R2)
        .ldx_w(R2, R7, 4)
        .stx_w(FP, -12, R2)
        .ldx_w(R3, R6, CTX_USER_PORT)
        .stx_w(FP, -28, R3)
        .stx_w(R6, CTX_USER_PORT, R2)
        .ldx_w(R3, FP, -8)
        .stx_w(FP, -32, R3)
        .ld_map_fd(R1, sockets_fd)
        .mov(R2, FP)
        .add_imm(R2, -24)
        .mov(R3, FP)
        .add_imm(R3, -32)
        .mov_imm(R4, 0)
        .call(HELPER_MAP_UPDATE_ELEM);
    a.label("out")?;
    a.mov_imm(R0, 1).exit();
    a.finish()
}

/// For `getpeername4` and `recvmsg4`: if the socket was redirected to the
/// address in the context, puts the published address back. Always
/// returns 1 (these hooks cannot refuse).
pub(super) fn restore(sockets_fd: i32) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    a.mov(R6, R1)
        .call(HELPER_GET_SOCKET_COOKIE)
        .stx_dw(FP, -16, R0)
        .ldx_w(R2, R6, CTX_USER_IP4)
        .stx_w(FP, -8, R2)
        .ldx_w(R2, R6, CTX_USER_PORT)
        .stx_w(FP, -4, R2)
        .ld_map_fd(R1, sockets_fd)
        .mov(R2, FP)
        .add_imm(R2, -16)
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, "out")
        .ldx_w(R2, R0, 0)
        .stx_w(R6, CTX_USER_IP4, R2)
        .ldx_w(R2, R0, 4)
        .stx_w(R6, CTX_USER_PORT, R2);
    a.label("out")?;
    a.mov_imm(R0, 1).exit();
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_assemble_and_end_in_return_one() {
        for prog in [redirect(42, 3, 4).unwrap(), restore(4).unwrap()] {
            let n = prog.len();
            assert!(n > 4);
            // mov r0, 1; exit
            assert_eq!((prog[n - 2].code, prog[n - 2].imm), (0xb7, 1));
            assert_eq!(prog[n - 1].code, 0x95);
        }
        // The netns cookie is the 64-bit immediate of the third instruction.
        let p = redirect(0x0102_0304_0506_0708, 3, 4).unwrap();
        assert_eq!(
            (p[2].code, p[2].imm, p[3].imm),
            (0x18, 0x0506_0708, 0x0102_0304)
        );
    }
}
