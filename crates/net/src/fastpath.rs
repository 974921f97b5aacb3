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
//! [`FastPath`] (by a worker thread: an attach waits for an RCU grace
//! period, see [`FastPath`]), nothing is pinned: when it is dropped, or the daemon
//! exits or crashes, the kernel detaches them and frees the maps (the
//! daemon attaches them again for running containers when it starts). A
//! kernel without tcx or `bpf_redirect_peer()` refuses the program or the
//! link; that is logged once and the bridge carries all traffic.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

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
    link: OwnedFd,
}

/// One network's map, program and attached endpoints (by host-side veth
/// name).
#[derive(Debug)]
struct NetworkPath {
    map: OwnedFd,
    /// Shared with the worker while it attaches the program outside the
    /// lock; also tells it whether the network was removed and made again
    /// meanwhile.
    prog: Arc<OwnedFd>,
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
            prog: Arc::new(prog),
            members: BTreeMap::new(),
        })
    }

    /// Takes `ifname` off the map (or points its MAC at another member
    /// with the same address); its link goes to `closing`.
    fn remove(
        &mut self,
        network: &str,
        ifname: &str,
        closing: &mut Vec<OwnedFd>,
    ) -> Result<(), FastPathError> {
        let Some(gone) = self.members.remove(ifname) else {
            return Ok(());
        };
        closing.push(gone.link);
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

/// An endpoint waiting for the worker to attach it.
#[derive(Debug)]
struct Request {
    network: String,
    ifname: String,
    ifindex: u32,
    mac: [u8; 6],
}

#[derive(Debug, Default)]
struct State {
    networks: BTreeMap<String, NetworkPath>,
    /// Why this kernel has no fast path, once found out (logged then).
    unavailable: Option<String>,
    /// Endpoints [`FastPath::add_soon`] queued for the worker.
    queue: VecDeque<Request>,
    /// The endpoint (network, host-side veth) the worker is attaching
    /// right now, outside the lock.
    attaching: Option<(String, String)>,
    /// Links of endpoints that left: the worker closes them (each close
    /// waits for an RCU grace period in the kernel).
    closing: Vec<OwnedFd>,
    /// The worker is to end.
    stop: bool,
}

impl State {
    /// [`NetworkPath::remove`]; when the map cannot be corrected, the
    /// whole network leaves the fast path (its links close, the programs
    /// are detached), so no stale entry can redirect a frame.
    fn remove(&mut self, network: &str, ifname: &str) -> Result<(), FastPathError> {
        let Some(path) = self.networks.get_mut(network) else {
            return Ok(());
        };
        let res = path.remove(network, ifname, &mut self.closing);
        if res.is_err() || path.members.is_empty() {
            self.drop_network(network);
        }
        res
    }

    /// A network leaves the fast path: its map and program go, its links
    /// to `closing`.
    fn drop_network(&mut self, network: &str) {
        if let Some(path) = self.networks.remove(network) {
            self.closing
                .extend(path.members.into_values().map(|m| m.link));
        }
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

    /// The first half of an attach, under the lock: stale entries of the
    /// veth go, and the network's program is made if it has none yet.
    /// `None`: this kernel has no fast path.
    fn prepare(&mut self, req: &Request) -> Result<Option<Arc<OwnedFd>>, FastPathError> {
        if self.unavailable.is_some() {
            return Ok(None);
        }
        // An endpoint added again, or a veth deleted behind berth's back
        // whose index the kernel gave to this one: the old entries go.
        let stale: Vec<(String, String)> = self
            .networks
            .iter()
            .flat_map(|(net, path)| {
                path.members
                    .iter()
                    .filter(|(name, m)| name.as_str() == req.ifname || m.ifindex == req.ifindex)
                    .map(|(name, _)| (net.clone(), name.clone()))
            })
            .collect();
        for (net, name) in stale {
            self.remove(&net, &name)?;
        }
        if !self.networks.contains_key(&req.network) {
            match NetworkPath::new(&req.network) {
                Ok(path) => {
                    self.networks.insert(req.network.clone(), path);
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
                        self.give_up(&e);
                        return Ok(None);
                    }
                    return Err(e);
                }
            }
        }
        Ok(self.networks.get(&req.network).map(|p| Arc::clone(&p.prog)))
    }

    /// The second half, under the lock again: with the link made for
    /// `prog`, the endpoint's MAC goes into the map. `Ok(false)`: not on
    /// the fast path (the kernel cannot, or the network left meanwhile).
    fn finish(
        &mut self,
        req: &Request,
        prog: &Arc<OwnedFd>,
        link: Result<OwnedFd, berth_sys::SysError>,
    ) -> Result<bool, FastPathError> {
        let current = self
            .networks
            .get(&req.network)
            .is_some_and(|p| Arc::ptr_eq(&p.prog, prog));
        let link = match link {
            Ok(link) if !current => {
                self.closing.push(link);
                return Ok(false);
            }
            Ok(link) => link,
            Err(source) => {
                let refused = unsupported(source.errno);
                let e = FastPathError::Attach {
                    link: req.ifname.clone(),
                    source,
                };
                if current
                    && self
                        .networks
                        .get(&req.network)
                        .is_some_and(|p| p.members.is_empty())
                {
                    self.drop_network(&req.network);
                }
                if refused {
                    self.give_up(&e);
                    return Ok(false);
                }
                return Err(e);
            }
        };
        let Some(path) = self.networks.get_mut(&req.network) else {
            self.closing.push(link);
            return Ok(false);
        };
        if let Err(source) = bpf::map_update(
            path.map.as_fd(),
            &key(req.mac),
            &req.ifindex.to_ne_bytes(),
            (KEY_SIZE, VALUE_SIZE),
        ) {
            self.closing.push(link);
            if path.members.is_empty() {
                self.drop_network(&req.network);
            }
            return Err(FastPathError::Update {
                network: req.network.clone(),
                source,
            });
        }
        path.members.insert(
            req.ifname.clone(),
            Member {
                mac: req.mac,
                ifindex: req.ifindex,
                link,
            },
        );
        Ok(true)
    }
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Wakes the worker: an endpoint queued, links to close, or stop.
    work: Condvar,
    /// The worker finished an attach.
    attached: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fast path programs of all networks, and their endpoints.
///
/// Attaching a tcx link, and closing one, each wait for an RCU grace
/// period in the kernel (10-20 ms here), longer than the rest of a
/// container's network setup. So [`FastPath::add_soon`] leaves the attach
/// to a worker thread (the bridge carries the endpoint's first frames),
/// and [`FastPath::remove`] takes the endpoint out of the map at once but
/// leaves closing its link to the worker: frames stop being redirected to
/// it before its veth goes, and a `run`, `stop` or `rm` never waits for
/// the kernel's grace periods.
#[derive(Debug)]
pub struct FastPath {
    inner: Arc<Inner>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Default for FastPath {
    fn default() -> Self {
        Self::new()
    }
}

impl FastPath {
    /// The fast path, with its worker thread. The worker attaches in the
    /// network namespace of the thread that calls this (ifindexes are
    /// per namespace). Without a worker (the thread cannot be made),
    /// [`FastPath::add_soon`] attaches at once.
    pub fn new() -> Self {
        let inner = Arc::new(Inner::default());
        let worker = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("fastpath".into())
                .spawn(move || work(&inner))
        };
        let worker = match worker {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "fast path: no worker thread; endpoints attach as they start");
                None
            }
        };
        Self { inner, worker }
    }

    /// Puts an endpoint of `network` on the fast path now: its host-side
    /// veth `ifname` (index `ifindex` in the calling thread's network
    /// namespace, the other end in the container's) gets the network's
    /// program, and frames to `mac` from the network's other endpoints go
    /// straight to its container interface. Call it once the veth exists
    /// and is plugged into the bridge. `Ok(false)`: this kernel has no
    /// fast path (said once in the log); the bridge carries the traffic.
    pub fn add(
        &self,
        network: &str,
        ifname: &str,
        ifindex: u32,
        mac: [u8; 6],
    ) -> Result<bool, FastPathError> {
        let req = Request {
            network: network.to_owned(),
            ifname: ifname.to_owned(),
            ifindex,
            mac,
        };
        let mut st = self.lock_idle(|a| a.1 == req.ifname);
        st.queue.retain(|r| r.ifname != req.ifname);
        let res = match st.prepare(&req) {
            Ok(Some(prog)) => {
                let link = bpf::link_create_tcx(ifindex, prog.as_fd(), bpf::ATTACH_TCX_INGRESS);
                st.finish(&req, &prog, link)
            }
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        self.wake(st);
        res
    }

    /// [`FastPath::add`], left to the worker: returns at once, and the
    /// endpoint joins within milliseconds (its first frames go through
    /// the bridge). A failure is logged by the worker.
    pub fn add_soon(&self, network: &str, ifname: &str, ifindex: u32, mac: [u8; 6]) {
        if self.worker.is_none() {
            if let Err(e) = self.add(network, ifname, ifindex, mac) {
                tracing::warn!(link = ifname, error = %e, "fast path: this endpoint's traffic goes through the bridge");
            }
            return;
        }
        let mut st = self.inner.lock();
        if st.unavailable.is_some() {
            return;
        }
        st.queue.retain(|r| r.ifname != ifname);
        st.queue.push_back(Request {
            network: network.to_owned(),
            ifname: ifname.to_owned(),
            ifindex,
            mac,
        });
        drop(st);
        self.inner.work.notify_all();
    }

    /// The state, once the worker is not attaching an endpoint `busy`
    /// matches (network, host-side veth).
    fn lock_idle(&self, busy: impl Fn(&(String, String)) -> bool) -> MutexGuard<'_, State> {
        let st = self.inner.lock();
        self.inner
            .attached
            .wait_while(st, |s| s.attaching.as_ref().is_some_and(&busy))
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Unlocks, and wakes the worker when there are links to close.
    fn wake(&self, st: MutexGuard<'_, State>) {
        let close = !st.closing.is_empty();
        drop(st);
        if close {
            if self.worker.is_some() {
                self.inner.work.notify_all();
            } else {
                let links = std::mem::take(&mut self.inner.lock().closing);
                drop(links);
            }
        }
    }

    /// Takes the endpoint whose host-side veth is `ifname` off `network`'s
    /// fast path: its MAC leaves the map (a queued attach of it is
    /// dropped; one under way is waited for), and the worker detaches the
    /// program from the veth. Call it BEFORE deleting the veth (the kernel
    /// reuses indexes). On an error the network's whole fast path is gone
    /// (its traffic goes through the bridge) rather than a stale entry
    /// left.
    pub fn remove(&self, network: &str, ifname: &str) -> Result<(), FastPathError> {
        let mut st = self.lock_idle(|a| a.0 == network && a.1 == ifname);
        st.queue
            .retain(|r| !(r.network == network && r.ifname == ifname));
        let res = st.remove(network, ifname);
        self.wake(st);
        res
    }

    /// A network is gone: its program, map and links go.
    pub fn remove_network(&self, network: &str) {
        let mut st = self.lock_idle(|a| a.0 == network);
        st.queue.retain(|r| r.network != network);
        st.drop_network(network);
        self.wake(st);
    }

    /// The host-side veths on `network`'s fast path (attached, not
    /// queued).
    pub fn members(&self, network: &str) -> Vec<String> {
        self.inner
            .lock()
            .networks
            .get(network)
            .map(|p| p.members.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Why this kernel has no fast path, once an endpoint found out.
    pub fn unavailable(&self) -> Option<String> {
        self.inner.lock().unavailable.clone()
    }

    /// Waits until the worker has attached every queued endpoint and
    /// closed every link it was given (tests, and callers that need the
    /// fast path in place before they go on).
    pub fn settle(&self) {
        let st = self.inner.lock();
        let st = self
            .inner
            .attached
            .wait_while(st, |s| {
                self.worker.is_some()
                    && (!s.queue.is_empty() || s.attaching.is_some() || !s.closing.is_empty())
            })
            .unwrap_or_else(PoisonError::into_inner);
        drop(st);
    }
}

impl Drop for FastPath {
    fn drop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.work.notify_all();
        if let Some(worker) = self.worker.take() {
            // Ends once the links given to it are closed.
            let _ = worker.join();
        }
    }
}

/// The worker: closes links it is given, attaches queued endpoints one at
/// a time (outside the lock, so removals and other calls never wait for
/// the kernel's grace periods unless they are about that endpoint), and
/// ends on `stop` once nothing is left to close.
fn work(inner: &Inner) {
    let mut st = inner.lock();
    loop {
        if !st.closing.is_empty() {
            let links = std::mem::take(&mut st.closing);
            drop(st);
            drop(links);
            st = inner.lock();
            inner.attached.notify_all();
            continue;
        }
        if st.stop {
            return;
        }
        if let Some(req) = st.queue.pop_front() {
            let res = match st.prepare(&req) {
                Ok(Some(prog)) => {
                    st.attaching = Some((req.network.clone(), req.ifname.clone()));
                    drop(st);
                    let link =
                        bpf::link_create_tcx(req.ifindex, prog.as_fd(), bpf::ATTACH_TCX_INGRESS);
                    st = inner.lock();
                    st.attaching = None;
                    st.finish(&req, &prog, link)
                }
                Ok(None) => Ok(false),
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                tracing::warn!(
                    link = req.ifname,
                    error = %e,
                    "fast path: this endpoint's traffic goes through the bridge"
                );
            }
            inner.attached.notify_all();
            continue;
        }
        inner.attached.notify_all();
        st = inner.work.wait(st).unwrap_or_else(PoisonError::into_inner);
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
