//! The embedded DNS server of user networks: answers container names and
//! aliases per network, forwards other names to the host's resolvers.
//!
//! As dockerd's resolver: each container on a user network has its own
//! server at 127.0.0.11:53 (UDP and TCP) inside its network namespace. The
//! sockets are opened by a thread that entered the namespace, so they stay
//! there; the daemon's threads serve them. Names the [`Names`] of the
//! container knows are answered (A, AAAA, PTR, TTL 600 as dockerd); any
//! other query is passed on unchanged to the upstream servers (from the
//! container's namespace, or from the host's for a host-only resolver such
//! as systemd-resolved's 127.0.0.53) and the first answer relayed.
//!
//! Each server has two threads: one serves UDP, its forwarded queries
//! included (a socket per query, polled with the client socket, at most
//! [`MAX_IN_FLIGHT`] waiting, each server given [`UPSTREAM_TIMEOUT`]);
//! one accepts TCP clients, each served by a thread of its own (at most
//! [`MAX_TCP_CLIENTS`]). Sockets for the container's side are made by the
//! serving thread after a `setns` there and back, not by a new thread.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, setns};

use crate::files::ExtServer;
use crate::netns;

/// Where the server listens inside the container.
pub const LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), 53);

/// dockerd's TTL for the records it answers.
const TTL: u32 = 600;

/// How long an upstream server gets to answer before the next is asked.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);

/// The largest DNS message over UDP or TCP.
const MAX_MESSAGE: usize = 65_535;

/// The most queries one server has waiting for upstream over UDP; more
/// are dropped (the client asks again), as dockerd bounds its own.
const MAX_IN_FLIGHT: usize = 100;

/// The most TCP clients one server serves at once; more are closed.
const MAX_TCP_CLIENTS: usize = 16;

/// What a container can resolve: the names of the containers (and their
/// aliases) on its networks, and the names of their addresses.
pub trait Names: Send + Sync + 'static {
    /// The addresses of `name` (lower case, no trailing dot) as the asking
    /// container sees them; `None`: not a name of its networks (forwarded).
    fn addresses(&self, name: &str) -> Option<Vec<IpAddr>>;
    /// The name of `ip` on the asking container's networks, for PTR
    /// queries; `None`: forwarded.
    fn name_of(&self, ip: IpAddr) -> Option<String>;
}

/// Where names the container's networks do not know go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstreams {
    pub servers: Vec<ExtServer>,
    /// The port upstream servers listen on (53; tests use another).
    pub port: u16,
    /// The container's namespace, where upstream queries are sent from
    /// (servers marked `host_loopback` are asked from the host's).
    pub netns: Option<PathBuf>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot enter the network namespace for the DNS server: {0}")]
    Netns(#[from] netns::NetnsError),
    #[error("cannot listen on {addr} ({proto}) in {netns} for the embedded DNS server: {source}")]
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        netns: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start a thread of the embedded DNS server: {0}")]
    Thread(std::io::Error),
}

/// A running server; stops (and closes its sockets) on [`DnsServer::stop`]
/// or drop.
#[derive(Debug)]
pub struct DnsServer {
    stop: Arc<AtomicBool>,
    udp: Arc<UdpSocket>,
    tcp: Arc<TcpListener>,
    threads: Vec<JoinHandle<()>>,
}

/// Opens 127.0.0.11:53 (UDP and TCP) in the namespace at `netns_path` (its
/// loopback must be up) and serves it from threads of this process.
pub fn start(
    netns_path: &Path,
    names: Arc<dyn Names>,
    upstreams: Upstreams,
) -> Result<DnsServer, DnsError> {
    start_at(netns_path, LISTEN, names, upstreams)
}

/// [`start`] on another address (tests).
pub fn start_at(
    netns_path: &Path,
    addr: SocketAddr,
    names: Arc<dyn Names>,
    upstreams: Upstreams,
) -> Result<DnsServer, DnsError> {
    let bind_err = |proto: &'static str| {
        move |source| DnsError::Bind {
            addr,
            proto,
            netns: netns_path.to_owned(),
            source,
        }
    };
    let (udp, tcp) = netns::run_in(netns_path, || {
        let udp = UdpSocket::bind(addr).map_err(bind_err("udp"))?;
        let tcp = TcpListener::bind(addr).map_err(bind_err("tcp"))?;
        Ok::<_, DnsError>((udp, tcp))
    })??;
    let fwd = Arc::new(Forwarder::new(upstreams)?);
    let stop = Arc::new(AtomicBool::new(false));
    let udp = Arc::new(udp);
    let tcp = Arc::new(tcp);
    let mut threads = Vec::new();
    let spawned = (|| {
        let (s, u, n, up) = (stop.clone(), udp.clone(), names.clone(), fwd.clone());
        threads.push(
            std::thread::Builder::new()
                .name("dns-udp".into())
                .spawn(move || serve_udp(&s, &u, &*n, &up))
                .map_err(DnsError::Thread)?,
        );
        let (s, t, n, up) = (stop.clone(), tcp.clone(), names, fwd);
        threads.push(
            std::thread::Builder::new()
                .name("dns-tcp".into())
                .spawn(move || serve_tcp(&s, &t, n, up))
                .map_err(DnsError::Thread)?,
        );
        Ok::<(), DnsError>(())
    })();
    let server = DnsServer {
        stop,
        udp,
        tcp,
        threads,
    };
    spawned.map(|()| server)
}

impl DnsServer {
    /// Stops serving and waits for the serving threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked receive and accept: a datagram to itself (the
        // socket lives in the container's namespace, so does its
        // address) and a shutdown of the listener.
        if let Ok(me) = self.udp.local_addr() {
            let _ = self.udp.send_to(&[], me);
        }
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&self.tcp.as_fd()),
            nix::sys::socket::Shutdown::Both,
        );
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The UDP side, one thread: client queries, the replies of the upstream
/// servers to the queries it forwarded, and their timeouts, all through
/// one `poll`. A query waiting for upstream holds nothing up.
fn serve_udp(stop: &AtomicBool, socket: &UdpSocket, names: &dyn Names, fwd: &Forwarder) {
    let mut flights: Vec<Flight> = Vec::new();
    let mut buf = vec![0u8; MAX_MESSAGE];
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let timeout = flights
            .iter()
            .map(|f| f.deadline.saturating_duration_since(now))
            .min()
            .map_or(PollTimeout::NONE, |d| {
                // Rounded up, so a wake-up finds the deadline passed.
                PollTimeout::try_from(d + Duration::from_millis(1)).unwrap_or(PollTimeout::MAX)
            });
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = std::iter::once(socket.as_fd())
                .chain(flights.iter().map(|f| f.socket.as_fd()))
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            fds.iter()
                .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // Upstream replies (from the end, so removing keeps the indices
        // still to visit; `ready[0]` is the client socket).
        for i in (0..flights.len()).rev() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            match flights[i].socket.recv(&mut buf) {
                // A stray or late datagram for another query: keep waiting.
                Ok(n) if buf.get(..2) != flights[i].query.get(..2) || n < 2 => {}
                Ok(n) => {
                    let f = flights.swap_remove(i);
                    let _ = socket.send_to(&buf[..n], f.client);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // Refused (nothing listens there): the next server, now.
                Err(_) => {
                    let f = flights.swap_remove(i);
                    fwd.next_or_fail(f, socket, &mut flights);
                }
            }
        }
        let now = Instant::now();
        for i in (0..flights.len()).rev() {
            if flights[i].deadline <= now {
                let f = flights.swap_remove(i);
                fwd.next_or_fail(f, socket, &mut flights);
            }
        }
        if !ready[0] {
            continue;
        }
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match local_answer(&buf[..n], names) {
            Local::Reply(reply) => {
                let _ = socket.send_to(&reply, peer);
            }
            Local::Ignore => {}
            // Full: dropped, as dockerd does past its limit; the client
            // asks again.
            Local::Forward if flights.len() >= MAX_IN_FLIGHT => {
                tracing::debug!(
                    limit = MAX_IN_FLIGHT,
                    "embedded DNS: too many forwarded queries in flight, one dropped"
                );
            }
            Local::Forward => {
                let query = buf[..n].to_vec();
                match fwd.launch(query, peer, 0) {
                    Ok(f) => flights.push(f),
                    Err(query) => {
                        if let Some(reply) = servfail(&query) {
                            let _ = socket.send_to(&reply, peer);
                        }
                    }
                }
            }
        }
    }
}

/// A query forwarded over UDP, waiting for its upstream's reply.
struct Flight {
    /// Who asked (the reply goes back there).
    client: SocketAddr,
    /// The query as the client sent it (same ID upstream).
    query: Vec<u8>,
    /// Which of the upstream servers is being asked.
    server: usize,
    /// Connected to that server, non-blocking, made for this query (so a
    /// fresh source port each time).
    socket: UdpSocket,
    deadline: Instant,
}

/// The daemon's network namespace and the container's: each upstream
/// server is asked from one of them. A serving thread enters the
/// container's for as long as it makes a socket there (or, over TCP, for
/// one exchange), then returns: no thread is started per query.
struct Forwarder {
    up: Upstreams,
    home: OwnedFd,
    container: Option<OwnedFd>,
}

impl Forwarder {
    fn new(up: Upstreams) -> Result<Self, DnsError> {
        let home = netns::open(Path::new("/proc/self/ns/net"))?;
        let container = up.netns.as_deref().map(netns::open).transpose()?;
        Ok(Self {
            up,
            home,
            container,
        })
    }

    /// `f` run in the namespace `server` is asked from; `None` when that
    /// namespace could not be entered.
    fn in_netns_of<T>(&self, server: &ExtServer, f: impl FnOnce() -> T) -> Option<T> {
        let Some(ns) = self.container.as_ref().filter(|_| !server.host_loopback) else {
            return Some(f());
        };
        setns(ns, CloneFlags::CLONE_NEWNET).ok()?;
        let r = f();
        if let Err(e) = setns(&self.home, CloneFlags::CLONE_NEWNET) {
            // Cannot happen with a namespace we hold open; said loudly if
            // it does, as this thread's later sockets would be elsewhere.
            tracing::error!(error = %e, "embedded DNS: cannot return to the daemon's network namespace");
        }
        Some(r)
    }

    /// Sends `query` over UDP to the first server from `from` on that can
    /// be asked; the query back when none can.
    fn launch(&self, query: Vec<u8>, client: SocketAddr, from: usize) -> Result<Flight, Vec<u8>> {
        for (server, ext) in self.up.servers.iter().enumerate().skip(from) {
            let addr = SocketAddr::new(ext.addr, self.up.port);
            let socket = self
                .in_netns_of(ext, || UdpSocket::bind(unspecified(addr)))
                .and_then(Result::ok);
            let Some(socket) = socket else { continue };
            let sent = socket
                .connect(addr)
                .and_then(|()| socket.set_nonblocking(true))
                .and_then(|()| socket.send(&query));
            if sent.is_ok() {
                return Ok(Flight {
                    client,
                    query,
                    server,
                    socket,
                    deadline: Instant::now() + UPSTREAM_TIMEOUT,
                });
            }
        }
        Err(query)
    }

    /// `f` got no answer: the next server is asked, or the client gets a
    /// SERVFAIL when none is left.
    fn next_or_fail(&self, f: Flight, socket: &UdpSocket, flights: &mut Vec<Flight>) {
        match self.launch(f.query, f.client, f.server + 1) {
            Ok(next) => flights.push(next),
            Err(query) => {
                if let Some(reply) = servfail(&query) {
                    let _ = socket.send_to(&reply, f.client);
                }
            }
        }
    }

    /// Asks the upstream servers in turn, blocking (a TCP client's
    /// thread); the first reply. Over UDP; a reply truncated there is
    /// asked again over TCP.
    fn forward_blocking(&self, query: &[u8]) -> Option<Vec<u8>> {
        let exchange = |addr: SocketAddr| {
            let reply = ask(addr, query, false);
            let truncated = reply
                .as_ref()
                .and_then(|r| r.get(2))
                .is_some_and(|flags| flags & 0x02 != 0);
            if truncated {
                ask(addr, query, true).or(reply)
            } else {
                reply
            }
        };
        self.up.servers.iter().find_map(|ext| {
            let addr = SocketAddr::new(ext.addr, self.up.port);
            self.in_netns_of(ext, || exchange(addr)).flatten()
        })
    }
}

fn unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    }
}

/// Accepts TCP clients, each served by its own thread, at most
/// [`MAX_TCP_CLIENTS`] at once (more are closed: they retry).
fn serve_tcp(
    stop: &AtomicBool,
    listener: &TcpListener,
    names: Arc<dyn Names>,
    fwd: Arc<Forwarder>,
) {
    let clients = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if clients.fetch_add(1, Ordering::SeqCst) >= MAX_TCP_CLIENTS {
            clients.fetch_sub(1, Ordering::SeqCst);
            tracing::debug!(
                limit = MAX_TCP_CLIENTS,
                "embedded DNS: too many TCP clients, one closed"
            );
            continue;
        }
        let (names, fwd, count) = (names.clone(), fwd.clone(), clients.clone());
        // Clients send a query or a few, then close.
        let spawned = std::thread::Builder::new()
            .name("dns-tcp-conn".into())
            .spawn(move || {
                serve_tcp_conn(conn, &*names, &fwd);
                count.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            clients.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve_tcp_conn(mut conn: TcpStream, names: &dyn Names, fwd: &Forwarder) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let Ok(query) = read_framed(&mut conn) else {
            return;
        };
        let reply = match local_answer(&query, names) {
            Local::Reply(reply) => Some(reply),
            Local::Ignore => None,
            Local::Forward => fwd.forward_blocking(&query).or_else(|| servfail(&query)),
        };
        let Some(reply) = reply else {
            return;
        };
        if write_framed(&mut conn, &reply).is_err() {
            return;
        }
    }
}

fn read_framed(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut buf)?;
    Ok(buf)
}

fn write_framed(conn: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| std::io::Error::other("DNS message too long for TCP"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    conn.write_all(&out)
}

/// What the container's names make of a query.
#[derive(Debug, PartialEq, Eq)]
enum Local {
    /// The reply (a name of its networks, or FORMERR for garbage).
    Reply(Vec<u8>),
    /// Not theirs: upstream's to answer.
    Forward,
    /// Not a query: dropped, as dockerd does.
    Ignore,
}

fn local_answer(bytes: &[u8], names: &dyn Names) -> Local {
    let query = match Message::from_vec(bytes) {
        Ok(q) => q,
        Err(_) => {
            // Unparsable: FORMERR with the ID, if there is one.
            let (Some(&hi), Some(&lo)) = (bytes.first(), bytes.get(1)) else {
                return Local::Ignore;
            };
            let id = u16::from_be_bytes([hi, lo]);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .map_or(Local::Ignore, Local::Reply);
        }
    };
    if query.metadata.message_type != MessageType::Query {
        return Local::Ignore;
    }
    let Some(q) = query.queries.first() else {
        return Local::Ignore;
    };
    let Some(records) = local(q, names) else {
        return Local::Forward;
    };
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(q.clone());
    reply.add_answers(records);
    reply.to_vec().map_or(Local::Ignore, Local::Reply)
}

/// SERVFAIL for `bytes` (a query no upstream answered).
fn servfail(bytes: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(bytes).ok()?;
    let mut reply = Message::error_msg(
        query.metadata.id,
        query.metadata.op_code,
        ResponseCode::ServFail,
    );
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    if let Some(q) = query.queries.first() {
        reply.add_query(q.clone());
    }
    reply.to_vec().ok()
}

/// The records `names` has for `q`; `None` when they are not its to answer.
fn local(q: &Query, names: &dyn Names) -> Option<Vec<Record>> {
    let qname = q.name().clone();
    let text = qname.to_ascii().to_ascii_lowercase();
    let text = text.trim_end_matches('.');
    match q.query_type() {
        RecordType::A | RecordType::AAAA => {
            let addrs = names.addresses(text)?;
            Some(
                addrs
                    .into_iter()
                    .filter_map(|ip| match (ip, q.query_type()) {
                        (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
                        (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
                        _ => None,
                    })
                    .map(|rdata| Record::from_rdata(qname.clone(), TTL, rdata))
                    .collect(),
            )
        }
        RecordType::PTR => {
            let ip = reverse_ip(text)?;
            let name = names.name_of(ip)?;
            let target = Name::from_ascii(format!("{name}.")).ok()?;
            Some(vec![Record::from_rdata(
                qname,
                TTL,
                RData::PTR(PTR(target)),
            )])
        }
        _ => None,
    }
}

/// `4.3.2.1.in-addr.arpa` -> 1.2.3.4; `<32 nibbles>.ip6.arpa` -> the IPv6.
fn reverse_ip(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets: Vec<u8> = rest
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if octets.len() != 4 {
            return None;
        }
        octets.reverse();
        return Some(IpAddr::from([octets[0], octets[1], octets[2], octets[3]]));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|n| u8::from_str_radix(n, 16).ok().filter(|_| n.len() == 1))
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in nibbles
        .iter()
        .rev()
        .collect::<Vec<_>>()
        .chunks(2)
        .enumerate()
    {
        bytes[i] = (pair[0] << 4) | pair[1];
    }
    Some(IpAddr::V6(Ipv6Addr::from(bytes)))
}

/// One exchange with `addr`; `None` on any failure or a timeout.
fn ask(addr: SocketAddr, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    if tcp {
        let mut conn = TcpStream::connect_timeout(&addr, UPSTREAM_TIMEOUT).ok()?;
        conn.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
        write_framed(&mut conn, query).ok()?;
        return read_framed(&mut conn).ok();
    }
    let socket = UdpSocket::bind(unspecified(addr)).ok()?;
    socket.connect(addr).ok()?;
    socket.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
    socket.send(query).ok()?;
    let id = query.get(..2)?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = socket.recv(&mut buf).ok()?;
        // A stray or late datagram for another query: keep waiting.
        if buf.get(..2) == Some(id) {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Names for Fixed {
        fn addresses(&self, name: &str) -> Option<Vec<IpAddr>> {
            (name == "web").then(|| vec!["10.213.0.2".parse().unwrap(), "fd00::2".parse().unwrap()])
        }
        fn name_of(&self, ip: IpAddr) -> Option<String> {
            (ip == IpAddr::from([10, 213, 0, 2])).then(|| "web".to_owned())
        }
    }

    fn ask_local(name: &str, t: RecordType) -> Message {
        let mut q = Message::query();
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        let bytes = q.to_vec().unwrap();
        let reply = match local_answer(&bytes, &Fixed) {
            Local::Reply(reply) => reply,
            Local::Forward => servfail(&bytes).unwrap(),
            Local::Ignore => panic!("{name}: ignored"),
        };
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.id, q.metadata.id);
        reply
    }

    #[test]
    fn known_names_are_answered() {
        let r = ask_local("WEB.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(
            &r.answers[0].data,
            &RData::A(A("10.213.0.2".parse().unwrap()))
        );
        assert_eq!(r.answers[0].ttl, TTL);
        let r = ask_local("web.", RecordType::AAAA);
        assert_eq!(
            &r.answers[0].data,
            &RData::AAAA(AAAA("fd00::2".parse().unwrap()))
        );
        let r = ask_local("2.0.213.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(
            &r.answers[0].data,
            &RData::PTR(PTR(Name::from_ascii("web.").unwrap()))
        );
        // Unknown: upstream's; SERVFAIL when no upstream answers.
        let r = ask_local("other.example.", RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn reverse_names_parse() {
        assert_eq!(
            reverse_ip("4.3.2.1.in-addr.arpa"),
            Some(IpAddr::from([1, 2, 3, 4]))
        );
        assert_eq!(reverse_ip("3.2.1.in-addr.arpa"), None);
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(reverse_ip(v6), Some("fd00::2".parse().unwrap()));
        assert_eq!(local_answer(&[1], &Fixed), Local::Ignore);
    }
}
