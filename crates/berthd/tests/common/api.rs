//! Raw Engine API requests on a daemon's socket, for what the clients do
//! not show: status codes, error bodies, upgrades.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::Daemon;

/// One request (`Connection: close`, a JSON body): `(status, body)`, the
/// body de-chunked.
pub(crate) fn request(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = exchange(d, method, path, body);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// [`request`] with the body as bytes (multiplexed streams, raw output).
pub(crate) fn request_bytes(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = exchange(d, method, path, body);
    (status, body)
}

/// One request: the status (0 when there is none), the response head and
/// the body, de-chunked.
pub(crate) fn exchange(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String, Vec<u8>) {
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // An early answer (a 404 before the body is read) may close the
    // connection under the write: the answer is still there to read.
    if let Err(e) = s.write_all(req.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (head, mut rest) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => (&raw[..end], &raw[end + 4..]),
        None => (&raw[..], &[][..]),
    };
    let head = String::from_utf8_lossy(head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, head, rest.to_vec());
    }
    let mut body = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let n = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|len| usize::from_str_radix(len.trim(), 16).ok())
            .unwrap_or(0);
        let chunk = &rest[eol + 2..];
        if n == 0 || chunk.len() < n {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
        rest = chunk[n..].strip_prefix(b"\r\n").unwrap_or(&chunk[n..]);
    }
    (status, head, body)
}

/// `POST path` with docker's upgrade headers on a new connection: the
/// status, the response head (with a refusal's body after it, unread) and
/// the connection, read up to the end of the head (what follows a `101`
/// is the container's).
pub(crate) fn upgrade(d: &Daemon, path: &str) -> (u16, String, UnixStream) {
    let mut s = UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    // The head, byte by byte.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, s)
}
