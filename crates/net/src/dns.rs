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

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

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
    let stop = Arc::new(AtomicBool::new(false));
    let udp = Arc::new(udp);
    let tcp = Arc::new(tcp);
    let upstreams = Arc::new(upstreams);
    let mut threads = Vec::new();
    let spawned = (|| {
        let (s, u, n, up) = (stop.clone(), udp.clone(), names.clone(), upstreams.clone());
        threads.push(
            std::thread::Builder::new()
                .name("dns-udp".into())
                .spawn(move || serve_udp(&s, &u, &*n, &up))
                .map_err(DnsError::Thread)?,
        );
        let (s, t, n, up) = (stop.clone(), tcp.clone(), names, upstreams);
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

fn serve_udp(stop: &AtomicBool, socket: &UdpSocket, names: &dyn Names, up: &Upstreams) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    while !stop.load(Ordering::SeqCst) {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Some(reply) = answer(&buf[..n], names, up, false) {
            let _ = socket.send_to(&reply, peer);
        }
    }
}

fn serve_tcp(stop: &AtomicBool, listener: &TcpListener, names: Arc<dyn Names>, up: Arc<Upstreams>) {
    while !stop.load(Ordering::SeqCst) {
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (names, up) = (names.clone(), up.clone());
        // One thread a connection: clients send a query or a few, then close.
        let _ = std::thread::Builder::new()
            .name("dns-tcp-conn".into())
            .spawn(move || serve_tcp_conn(conn, &*names, &up));
    }
}

fn serve_tcp_conn(mut conn: TcpStream, names: &dyn Names, up: &Upstreams) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let Ok(query) = read_framed(&mut conn) else {
            return;
        };
        let Some(reply) = answer(&query, names, up, true) else {
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

/// The reply to the query `bytes`: from `names`, else from upstream;
/// `None` for something that is not a query (dropped, as dockerd).
pub fn answer(bytes: &[u8], names: &dyn Names, up: &Upstreams, tcp: bool) -> Option<Vec<u8>> {
    let query = match Message::from_vec(bytes) {
        Ok(q) => q,
        Err(_) => {
            // Unparsable: FORMERR with the ID, if there is one.
            let id = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok();
        }
    };
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let q = query.queries.first()?;
    if let Some(records) = local(q, names) {
        let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
        reply.metadata.recursion_desired = query.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        reply.add_query(q.clone());
        reply.add_answers(records);
        return reply.to_vec().ok();
    }
    match forward(bytes, up, tcp) {
        Some(reply) => Some(reply),
        None => {
            let mut reply = Message::error_msg(
                query.metadata.id,
                query.metadata.op_code,
                ResponseCode::ServFail,
            );
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.recursion_available = true;
            reply.add_query(q.clone());
            reply.to_vec().ok()
        }
    }
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

/// Asks the upstream servers in turn; the first reply. Over UDP; a reply
/// truncated there is asked again over TCP when the client came over TCP
/// (a UDP client gets the truncated reply and retries over TCP itself).
fn forward(query: &[u8], up: &Upstreams, tcp: bool) -> Option<Vec<u8>> {
    let exchange = |addr: SocketAddr| {
        let reply = ask(addr, query, false);
        let truncated = reply
            .as_ref()
            .and_then(|r| r.get(2))
            .is_some_and(|flags| flags & 0x02 != 0);
        if tcp && truncated {
            ask(addr, query, true).or(reply)
        } else {
            reply
        }
    };
    for server in &up.servers {
        let addr = SocketAddr::new(server.addr, up.port);
        let from_container = !server.host_loopback;
        let reply = match (&up.netns, from_container) {
            (Some(ns), true) => netns::run_in(ns, || exchange(addr)).ok().flatten(),
            _ => exchange(addr),
        };
        if reply.is_some() {
            return reply;
        }
    }
    None
}

/// One exchange with `addr`; `None` on any failure or a timeout.
fn ask(addr: SocketAddr, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    if tcp {
        let mut conn = TcpStream::connect_timeout(&addr, UPSTREAM_TIMEOUT).ok()?;
        conn.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
        write_framed(&mut conn, query).ok()?;
        return read_framed(&mut conn).ok();
    }
    let bind: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).ok()?;
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

    fn no_upstream() -> Upstreams {
        Upstreams {
            servers: Vec::new(),
            port: 53,
            netns: None,
        }
    }

    fn ask_local(name: &str, t: RecordType) -> Message {
        let mut q = Message::query();
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        let reply = answer(&q.to_vec().unwrap(), &Fixed, &no_upstream(), false).unwrap();
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
        // Unknown, with nowhere to forward: SERVFAIL.
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
        assert_eq!(answer(&[1], &Fixed, &no_upstream(), false), None);
    }
}
