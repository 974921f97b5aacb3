//! The fast path between containers of one network: frames from one
//! container to another skip the bridge and the host's netfilter hooks.
//!
//! On a host with `br_netfilter` loaded (most Docker hosts), every frame a
//! Linux bridge forwards also runs the IP netfilter hooks (conntrack,
//! berth's and other tables' chains) and br_netfilter's own per-packet
//! work, which costs container-to-container throughput; the switch
//! (`bridge-nf-call-iptables`) is host-wide and not berth's to turn off.
//! Instead, as Cilium does, an eBPF program of type
//! `BPF_PROG_TYPE_SCHED_CLS` runs on the ingress of the host-side veth of
//! every endpoint of a network (attached with tcx, Linux 6.6 and later):
//! when a frame's destination MAC is the address of another endpoint of
//! the same network, it hands the frame straight to that endpoint's
//! container interface with `bpf_redirect_peer()`, so neither the bridge
//! nor netfilter sees it. Everything else (broadcast and multicast, ARP
//! to an unknown address, frames to the gateway: the host, published
//! ports, NAT, hairpin) goes on to the bridge as before.
//!
//! One program and one map per network ([`FastPath`] keys them by network
//! ID): the map holds only that network's endpoints, so a frame is never
//! handed to an endpoint of another network and isolation between
//! networks stays what the bridges and nftables make it. The map's key is
//! the 6-byte MAC followed by two zero bytes, its value the index (u32) of
//! the endpoint's host-side veth.
//!
//! The programs are attached through BPF links held by descriptors in
//! [`FastPath`], nothing is pinned: when it is dropped, or the daemon
//! exits or crashes, the kernel detaches them and frees the maps (the
//! daemon attaches them again for running containers when it starts). A
//! kernel without tcx or `bpf_redirect_peer()` refuses the program or the
//! link; that is logged once and the bridge carries all traffic.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

use berth_sys::bpf::{self, Insn};
use nix::errno::Errno;

use crate::bpf_asm::{Asm, AsmError, FP, R0, R1, R2, R3, R4, R5, R6};

/// Offsets in `struct __sk_buff` (include/uapi/linux/bpf.h).
const SKB_IFINDEX: i16 = 40;
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;
/// An Ethernet header: destination MAC, source MAC, EtherType.
const ETH_HLEN: i32 = 14;
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_REDIRECT_PEER: i32 = 155;
/// `TCX_NEXT` (`TC_ACT_UNSPEC`): not for this program; the frame goes on
/// as if the program were not there (to other tc programs a user may have
/// attached, then to the bridge).
const TCX_NEXT: i32 = -1;

/// Endpoints one network can have: a Linux bridge takes at most 1024
/// ports (`BR_MAX_PORTS`).
pub const MAX_ENDPOINTS: u32 = 1024;
const KEY_SIZE: usize = 8;
const VALUE_SIZE: usize = 4;

/// The map key of an endpoint's MAC address.
pub fn key(mac: [u8; 6]) -> [u8; KEY_SIZE] {
    let mut k = [0u8; KEY_SIZE];
    k[..6].copy_from_slice(&mac);
    k
}

/// The program of a network whose map has descriptor `map_fd`, for the
/// ingress of each of its host-side veths (context: `struct __sk_buff`):
/// a unicast frame whose destination MAC is in the map, and is not the
/// address of the veth's own container, is redirected to the container
/// interface of the veth the map names; any other frame goes on.
pub(crate) fn program(map_fd: i32) -> Result<Vec<Insn>, AsmError> {
    let mut a = Asm::new();
    a.mov(R6, R1)
        .ldx_w(R2, R6, SKB_DATA)
        .ldx_w(R3, R6, SKB_DATA_END)
        // A whole Ethernet header, or nothing to do.
        .mov(R4, R2)
        .add_imm(R4, ETH_HLEN)
        .jgt(R4, R3, "next")
        // Broadcast and multicast (the group bit of the first byte) go to
        // the bridge, which floods them.
        .ldx_b(R4, R2, 0)
        .and_imm(R4, 1)
        .jne_imm(R4, 0, "next")
        // The key at fp-8: the destination MAC, two zero bytes.
        .mov_imm(R5, 0)
        .stx_dw(FP, -8, R5)
        .ldx_w(R4, R2, 0)
        .stx_w(FP, -8, R4)
        .ldx_h(R4, R2, 4)
        .stx_h(FP, -4, R4)
        .ld_map_fd(R1, map_fd)
        .mov(R2, FP)
        .add_imm(R2, -8)
        .call(HELPER_MAP_LOOKUP_ELEM)
        .jeq_imm(R0, 0, "next")
        .ldx_w(R1, R0, 0)
        // Back into the sender itself: the bridge decides (it does not
        // hairpin).
        .ldx_w(R2, R6, SKB_IFINDEX)
        .jeq(R1, R2, "next")
        .mov_imm(R2, 0)
        .call(HELPER_REDIRECT_PEER)
        .exit();
    a.label("next")?;
    a.mov_imm(R0, TCX_NEXT).exit();
    a.finish()
}

/// Why an endpoint did not get the fast path. The bridge still carries
/// its traffic.
#[derive(Debug, thiserror::Error)]
pub enum FastPathError {
    #[error("{0}")]
    Assemble(String),
    #[error("cannot create the eBPF map of network {network}'s endpoints: {source}")]
    Map {
        network: String,
        source: berth_sys::SysError,
    },
    #[error("the kernel refused the fast path program of network {network}: {source}")]
    Load {
        network: String,
        source: bpf::ProgLoadError,
    },
    #[error("cannot attach the fast path program to `{link}`: {source}")]
    Attach {
        link: String,
        source: berth_sys::SysError,
    },
    #[error("cannot update the eBPF map of network {network}'s endpoints: {source}")]
    Update {
        network: String,
        source: berth_sys::SysError,
    },
}

/// Errors that mean "this kernel cannot do it" (no tcx, no
/// `bpf_redirect_peer()`, no permission for eBPF, a security module that
/// says no) rather than a problem with one endpoint.
fn unsupported(errno: Errno) -> bool {
    matches!(
        errno,
        Errno::EINVAL
            | Errno::EOPNOTSUPP
            | Errno::EPERM
            | Errno::EACCES
            | Errno::ENOSYS
            | Errno::E2BIG
    )
}

/// An endpoint on the fast path.
#[derive(Debug)]
struct Member {
    mac: [u8; 6],
    ifindex: u32,
    /// The tcx link: closing it detaches the program from the veth.
    _link: OwnedFd,
}

/// One network's map, program and attached endpoints (by host-side veth
/// name).
#[derive(Debug)]
struct NetworkPath {
    map: OwnedFd,
    prog: OwnedFd,
    members: BTreeMap<String, Member>,
}

impl NetworkPath {
    fn new(network: &str) -> Result<Self, FastPathError> {
        let map = bpf::map_create(
            bpf::MAP_TYPE_HASH,
            KEY_SIZE as u32,
            VALUE_SIZE as u32,
            MAX_ENDPOINTS,
            "berth_fastpath",
        )
        .map_err(|source| FastPathError::Map {
            network: network.to_owned(),
            source,
        })?;
        let insns = program(map.as_raw_fd()).map_err(|e| FastPathError::Assemble(e.to_string()))?;
        let prog = bpf::prog_load(
            bpf::PROG_TYPE_SCHED_CLS,
            &insns,
            c"Apache-2.0",
            "berth_fastpath",
        )
        .map_err(|source| FastPathError::Load {
            network: network.to_owned(),
            source,
        })?;
        Ok(Self {
            map,
            prog,
            members: BTreeMap::new(),
        })
    }

    /// Takes `ifname` off the map (or points its MAC at another member
    /// with the same address) and detaches the program from it.
    fn remove(&mut self, network: &str, ifname: &str) -> Result<(), FastPathError> {
        let Some(gone) = self.members.remove(ifname) else {
            return Ok(());
        };
        let update = |source| FastPathError::Update {
            network: network.to_owned(),
            source,
        };
        let k = key(gone.mac);
        match self.members.values().find(|m| m.mac == gone.mac) {
            Some(other) => bpf::map_update(
                self.map.as_fd(),
                &k,
                &other.ifindex.to_ne_bytes(),
                (KEY_SIZE, VALUE_SIZE),
            )
            .map_err(update),
            None => bpf::map_delete(self.map.as_fd(), &k, KEY_SIZE)
                .map(drop)
                .map_err(update),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    networks: BTreeMap<String, NetworkPath>,
    /// Why this kernel has no fast path, once found out (logged then).
    unavailable: Option<String>,
}

impl State {
    /// [`NetworkPath::remove`]; when the map cannot be corrected, the
    /// whole network leaves the fast path (its links close, the programs
    /// are detached), so no stale entry can redirect a frame.
    fn remove(&mut self, network: &str, ifname: &str) -> Result<(), FastPathError> {
        let Some(path) = self.networks.get_mut(network) else {
            return Ok(());
        };
        let res = path.remove(network, ifname);
        if res.is_err() || path.members.is_empty() {
            self.networks.remove(network);
        }
        res
    }

    /// Records that the kernel cannot do it, and says so once.
    fn give_up(&mut self, why: &FastPathError) {
        if self.unavailable.is_none() {
            tracing::info!(
                error = %why,
                "containers on one network talk through their bridge: the kernel has no \
                 eBPF fast path (tcx and bpf_redirect_peer need Linux 6.6 or later)"
            );
            self.unavailable = Some(why.to_string());
        }
    }
}

/// The fast path programs of all networks, and their endpoints.
#[derive(Debug, Default)]
pub struct FastPath {
    state: Mutex<State>,
}

impl FastPath {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts an endpoint of `network` on the fast path: its host-side veth
    /// `ifname` (index `ifindex` in the calling thread's network namespace,
    /// the other end in the container's) gets the network's program, and
    /// frames to `mac` from the network's other endpoints go straight to
    /// its container interface. Call it once the veth exists and is
    /// plugged into the bridge. `Ok(false)`: this kernel has no fast path
    /// (said once in the log); the bridge carries the traffic.
    pub fn add(
        &self,
        network: &str,
        ifname: &str,
        ifindex: u32,
        mac: [u8; 6],
    ) -> Result<bool, FastPathError> {
        let mut state = self.lock();
        if state.unavailable.is_some() {
            return Ok(false);
        }
        // An endpoint added again, or a veth deleted behind berth's back
        // whose index the kernel gave to this one: the old entries go.
        let stale: Vec<(String, String)> = state
            .networks
            .iter()
            .flat_map(|(net, path)| {
                path.members
                    .iter()
                    .filter(|(name, m)| name.as_str() == ifname || m.ifindex == ifindex)
                    .map(|(name, _)| (net.clone(), name.clone()))
            })
            .collect();
        for (net, name) in stale {
            state.remove(&net, &name)?;
        }
        if !state.networks.contains_key(network) {
            match NetworkPath::new(network) {
                Ok(path) => {
                    state.networks.insert(network.to_owned(), path);
                }
                Err(e) => {
                    // The program is always the same: a kernel that
                    // refuses it once always will.
                    let refused = match &e {
                        FastPathError::Load { .. } => true,
                        FastPathError::Map { source, .. } => unsupported(source.errno),
                        _ => false,
                    };
                    if refused {
                        state.give_up(&e);
                        return Ok(false);
                    }
                    return Err(e);
                }
            }
        }
        let Some(path) = state.networks.get_mut(network) else {
            return Ok(false);
        };
        let link = match bpf::link_create_tcx(ifindex, path.prog.as_fd(), bpf::ATTACH_TCX_INGRESS) {
            Ok(link) => link,
            Err(source) => {
                let refused = unsupported(source.errno);
                let e = FastPathError::Attach {
                    link: ifname.to_owned(),
                    source,
                };
                if path.members.is_empty() {
                    state.networks.remove(network);
                }
                if refused {
                    state.give_up(&e);
                    return Ok(false);
                }
                return Err(e);
            }
        };
        if let Err(source) = bpf::map_update(
            path.map.as_fd(),
            &key(mac),
            &ifindex.to_ne_bytes(),
            (KEY_SIZE, VALUE_SIZE),
        ) {
            // `link` closes: the program leaves the veth.
            if path.members.is_empty() {
                state.networks.remove(network);
            }
            return Err(FastPathError::Update {
                network: network.to_owned(),
                source,
            });
        }
        path.members.insert(
            ifname.to_owned(),
            Member {
                mac,
                ifindex,
                _link: link,
            },
        );
        Ok(true)
    }

    /// Takes the endpoint whose host-side veth is `ifname` off `network`'s
    /// fast path: its MAC leaves the map and the program leaves the veth.
    /// Call it BEFORE deleting the veth (the kernel reuses indexes). On an
    /// error the network's whole fast path is gone (its traffic goes
    /// through the bridge) rather than a stale entry left.
    pub fn remove(&self, network: &str, ifname: &str) -> Result<(), FastPathError> {
        self.lock().remove(network, ifname)
    }

    /// A network is gone: its program, map and links go.
    pub fn remove_network(&self, network: &str) {
        self.lock().networks.remove(network);
    }

    /// The host-side veths on `network`'s fast path.
    pub fn members(&self, network: &str) -> Vec<String> {
        self.lock()
            .networks
            .get(network)
            .map(|p| p.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Why this kernel has no fast path, once an endpoint found out.
    pub fn unavailable(&self) -> Option<String> {
        self.lock().unavailable.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_mac_and_two_zero_bytes() {
        assert_eq!(
            key([0x02, 0x42, 0xac, 0x11, 0, 2]),
            [0x02, 0x42, 0xac, 0x11, 0, 2, 0, 0]
        );
    }

    #[test]
    fn kernel_refusals_turn_the_fast_path_off_other_errors_do_not() {
        for e in [
            Errno::EINVAL,
            Errno::EOPNOTSUPP,
            Errno::EPERM,
            Errno::ENOSYS,
        ] {
            assert!(unsupported(e), "{e}");
        }
        // A veth gone meanwhile, a full map: that endpoint only.
        for e in [Errno::ENODEV, Errno::ENOMEM, Errno::EBUSY] {
            assert!(!unsupported(e), "{e}");
        }
    }

    #[test]
    fn the_program_assembles_and_every_path_ends_in_exit() {
        let p = program(7).unwrap();
        // The redirect's `exit`, then `r0 = TCX_NEXT; exit`.
        let n = p.len();
        assert_eq!(p[n - 1].code, 0x95);
        assert_eq!((p[n - 2].code, p[n - 2].imm), (0xb7, TCX_NEXT));
        assert_eq!(p[n - 3].code, 0x95);
        assert_eq!((p[n - 4].code, p[n - 4].imm), (0x85, HELPER_REDIRECT_PEER));
        // The map is named by its descriptor.
        assert!(
            p.iter()
                .any(|i| i.code == 0x18 && i.src() == 1 && i.imm == 7)
        );
    }
}
