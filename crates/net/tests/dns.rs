//! The embedded DNS server for real (root only): it listens on
//! 127.0.0.11:53 inside a network namespace the test makes, answers the
//! names it is given over UDP and TCP, and forwards the rest to a tiny
//! upstream server the test runs on loopback: one in the host's namespace
//! (a host-only resolver such as systemd-resolved's) and one inside the
//! container's namespace. Nothing else is contacted; the namespace goes
//! when the test ends, pass or fail.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_net::dns::{self, Names, Upstreams};
use berth_net::files::ExtServer;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use common::{Ns, root};

/// Two containers on one network, as the engine would describe them.
struct Net;

impl Names for Net {
    fn addresses(&self, name: &str) -> Option<Vec<IpAddr>> {
        match name {
            "web" | "www" | "0123456789ab" => Some(vec!["10.213.40.2".parse().unwrap()]),
            "db" => Some(vec!["10.213.40.3".parse().unwrap()]),
            _ => None,
        }
    }

    fn name_of(&self, ip: IpAddr) -> Option<String> {
        (ip == IpAddr::from([10, 213, 40, 2])).then(|| "web.net".to_owned())
    }
}

/// A tiny upstream: answers every A query with `answer`; stops on drop.
struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    socket: Arc<UdpSocket>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(socket: UdpSocket, answer: [u8; 4]) -> Self {
        let addr = socket.local_addr().unwrap();
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (socket.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::SeqCst) {
                let Ok((n, peer)) = s.recv_from(&mut buf) else {
                    break;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut r = Message::response(q.metadata.id, q.metadata.op_code);
                for query in &q.queries {
                    r.add_query(query.clone());
                    r.add_answer(Record::from_rdata(
                        query.name().clone(),
                        30,
                        RData::A(A(answer.into())),
                    ));
                }
                let _ = s.send_to(&r.to_vec().unwrap(), peer);
            }
        });
        Self {
            addr,
            stop,
            socket,
            thread: Some(thread),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.socket.send_to(&[], self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn query(name: &str, t: RecordType) -> Message {
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    q
}

/// `q` over UDP to 127.0.0.11:53 from inside `ns`.
fn ask_udp(ns: &Ns, q: &Message) -> Message {
    let bytes = q.to_vec().unwrap();
    let reply = ns.run(|| {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.send_to(&bytes, dns::LISTEN).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.recv(&mut buf).unwrap();
        buf.truncate(n);
        buf
    });
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.id, q.metadata.id);
    reply
}

/// `q` over TCP from inside `ns`.
fn ask_tcp(ns: &Ns, q: &Message) -> Message {
    let bytes = q.to_vec().unwrap();
    let reply = ns.run(|| {
        let mut c = TcpStream::connect(dns::LISTEN).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut out = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(&bytes);
        c.write_all(&out).unwrap();
        let mut len = [0u8; 2];
        c.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        c.read_exact(&mut buf).unwrap();
        buf
    });
    Message::from_vec(&reply).unwrap()
}

fn a_answers(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn names_are_answered_and_the_rest_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    root();
    let ns = Ns::with_loopback(dir.path(), "ns");
    // Upstream in the host's namespace, on loopback: a host-only resolver.
    let host_up = Upstream::start(UdpSocket::bind("127.0.0.1:0").unwrap(), [10, 213, 41, 1]);
    let server = dns::start(
        &ns.path,
        Arc::new(Net),
        Upstreams {
            servers: vec![ExtServer {
                addr: host_up.addr.ip(),
                host_loopback: true,
            }],
            port: host_up.addr.port(),
            netns: Some(ns.path.clone()),
        },
    )
    .unwrap();

    for ask in [ask_udp, ask_tcp] {
        let r = ask(&ns, &query("web.", RecordType::A));
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_answers(&r), ["10.213.40.2".parse::<IpAddr>().unwrap()]);
        assert!(r.metadata.recursion_available);
        // Aliases and short IDs are names like any other; case does not matter.
        let r = ask(&ns, &query("WWW.", RecordType::A));
        assert_eq!(a_answers(&r), ["10.213.40.2".parse::<IpAddr>().unwrap()]);
        let r = ask(&ns, &query("0123456789ab.", RecordType::A));
        assert_eq!(a_answers(&r), ["10.213.40.2".parse::<IpAddr>().unwrap()]);
        // A known name without an IPv6 address: no AAAA, not forwarded.
        let r = ask(&ns, &query("db.", RecordType::AAAA));
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());
        let r = ask(&ns, &query("2.40.213.10.in-addr.arpa.", RecordType::PTR));
        assert_eq!(
            r.answers[0].data,
            RData::PTR(PTR(Name::from_ascii("web.net.").unwrap()))
        );
        // Anything else comes from upstream, relayed as it answered.
        let r = ask(&ns, &query("outside.example.", RecordType::A));
        assert_eq!(a_answers(&r), ["10.213.41.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(r.answers[0].ttl, 30);
    }
    server.stop();
    drop(host_up);
    // Stopped: the sockets are closed, the address is free again.
    ns.run(|| UdpSocket::bind(dns::LISTEN).unwrap());
}

#[test]
fn upstreams_are_asked_from_the_containers_namespace() {
    let dir = tempfile::tempdir().unwrap();
    root();
    let ns = Ns::with_loopback(dir.path(), "ns");
    // Only reachable from inside the namespace (its own loopback).
    let inner = ns.run(|| UdpSocket::bind("127.0.0.12:0").unwrap());
    let inner_up = Upstream::start(inner, [10, 213, 42, 1]);
    let server = dns::start(
        &ns.path,
        Arc::new(Net),
        Upstreams {
            servers: vec![
                // Nothing answers here (a closed port in the container's
                // namespace): the next server is asked.
                ExtServer {
                    addr: "127.0.0.13".parse().unwrap(),
                    host_loopback: false,
                },
                ExtServer {
                    addr: inner_up.addr.ip(),
                    host_loopback: false,
                },
            ],
            port: inner_up.addr.port(),
            netns: Some(ns.path.clone()),
        },
    )
    .unwrap();
    let r = ask_udp(&ns, &query("elsewhere.example.", RecordType::A));
    assert_eq!(a_answers(&r), ["10.213.42.1".parse::<IpAddr>().unwrap()]);
    drop(server);
    drop(inner_up);
}

#[test]
fn no_upstream_answer_is_servfail_and_a_busy_address_an_error() {
    let dir = tempfile::tempdir().unwrap();
    root();
    let ns = Ns::with_loopback(dir.path(), "ns");
    let server = dns::start(
        &ns.path,
        Arc::new(Net),
        Upstreams {
            servers: Vec::new(),
            port: 53,
            netns: Some(ns.path.clone()),
        },
    )
    .unwrap();
    let r = ask_udp(&ns, &query("nowhere.example.", RecordType::A));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    // A second server on the same address fails to start, saying why.
    let err = dns::start(
        &ns.path,
        Arc::new(Net),
        Upstreams {
            servers: Vec::new(),
            port: 53,
            netns: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("cannot listen on 127.0.0.11:53 (udp) in "),
        "{err}"
    );
    drop(server);
}

#[test]
fn a_query_waiting_for_upstream_holds_up_no_other() {
    let dir = tempfile::tempdir().unwrap();
    root();
    let ns = Ns::with_loopback(dir.path(), "ns");
    // An upstream that never answers: the forwarded query waits for it
    // until its timeout, then gets SERVFAIL.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let server = dns::start(
        &ns.path,
        Arc::new(Net),
        Upstreams {
            servers: vec![ExtServer {
                addr: silent_addr.ip(),
                host_loopback: true,
            }],
            port: silent_addr.port(),
            netns: Some(ns.path.clone()),
        },
    )
    .unwrap();
    let mut slow = query("slow.example.", RecordType::A);
    slow.metadata.id = 1001;
    let mut fast = query("web.", RecordType::A);
    fast.metadata.id = 1002;
    let (first, second) = ns.run(|| {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.send_to(&slow.to_vec().unwrap(), dns::LISTEN).unwrap();
        s.send_to(&fast.to_vec().unwrap(), dns::LISTEN).unwrap();
        let recv = || {
            let mut buf = vec![0u8; 4096];
            let n = s.recv(&mut buf).unwrap();
            Message::from_vec(&buf[..n]).unwrap()
        };
        (recv(), recv())
    });
    // The local name is answered while the other query is still upstream.
    assert_eq!(first.metadata.id, 1002);
    assert_eq!(
        a_answers(&first),
        ["10.213.40.2".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(second.metadata.id, 1001);
    assert_eq!(second.metadata.response_code, ResponseCode::ServFail);
    drop(server);
    drop(silent);
}
