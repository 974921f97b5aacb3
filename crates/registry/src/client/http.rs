//! A small blocking HTTP/1.1 client: one request per connection
//! (`Connection: close`), bodies read as a stream (`Content-Length`,
//! `chunked`, or up to EOF), so a layer never sits in memory.
//!
//! Plain HTTP only for now. The connection is a `Box<dyn Conn>`: TLS
//! slots in by wrapping the TCP stream in [`connect`] when the scheme is
//! `https` (rustls), nothing else changes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest status line + headers accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Connect timeout; reads time out after [`IO_TIMEOUT`] of silence.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// A transport error, worded as Go's `net/http` words it (dockerd's
/// messages are made of these): `Get "URL": dial tcp ADDR: connect:
/// connection refused`.
#[derive(Debug, thiserror::Error)]
#[error("{method} \"{url}\": {detail}")]
pub struct TransportError {
    /// `Get`, `Head`, ...
    pub method: String,
    /// The URL asked for.
    pub url: String,
    /// What went wrong.
    pub detail: String,
}

/// Split URL: scheme, `host:port` authority, path with query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) scheme: String,
    pub(crate) authority: String,
    pub(crate) path: String,
}

impl Url {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (scheme, rest) = s.split_once("://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => match rest.find('?') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            },
        };
        if authority.is_empty() {
            return None;
        }
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            authority: authority.to_owned(),
            path,
        })
    }

    /// `host:port`, with the scheme's default port added.
    fn host_port(&self) -> String {
        let has_port = if let Some(rest) = self.authority.strip_prefix('[') {
            rest.split_once(']')
                .is_some_and(|(_, p)| p.starts_with(':'))
        } else {
            self.authority.contains(':')
        };
        if has_port {
            self.authority.clone()
        } else if self.scheme == "https" {
            format!("{}:443", self.authority)
        } else {
            format!("{}:80", self.authority)
        }
    }
}

/// A response: status, headers (names lowercased), and the body reader.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Body,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The whole body, refusing more than `limit` bytes.
    pub(crate) fn read_limited(mut self, limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        (&mut self.body).take(limit + 1).read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(io::Error::other(format!(
                "response body larger than {limit} bytes"
            )));
        }
        Ok(out)
    }
}

enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    Eof,
}

/// A streamed response body.
pub(crate) struct Body {
    reader: BufReader<TcpStream>,
    framing: Framing,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.framing {
            Framing::Length(0) => Ok(0),
            Framing::Length(left) => {
                let max = (*left).min(buf.len() as u64) as usize;
                let n = self.reader.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before the end of the response body",
                    ));
                }
                *left -= n as u64;
                Ok(n)
            }
            Framing::Eof => self.reader.read(buf),
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let line = read_line(&mut self.reader)?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad chunk size in response")
                    })?;
                    if size == 0 {
                        // Trailers up to the empty line.
                        while !read_line(&mut self.reader)?.is_empty() {}
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let max = (*left).min(buf.len() as u64) as usize;
                let n = self.reader.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed in the middle of a chunk",
                    ));
                }
                *left -= n as u64;
                if *left == 0 {
                    let end = read_line(&mut self.reader)?;
                    if !end.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "bad chunk end in response",
                        ));
                    }
                }
                Ok(n)
            }
        }
    }
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.take(MAX_HEAD as u64).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in the middle of the response head",
        ));
    }
    let s = String::from_utf8_lossy(&line);
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

fn go_method(method: &str) -> String {
    let mut m = method.to_ascii_lowercase();
    if let Some(f) = m.get_mut(..1) {
        f.make_ascii_uppercase();
    }
    m
}

/// Sends `method url` with `headers` and no body; returns once the head
/// is read. Only `http` is supported (see the module doc).
pub(crate) fn request(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
) -> Result<Response, TransportError> {
    request_with_body(method, url, headers, None)
}

/// A request body: a reader and its exact length (sent as
/// `Content-Length`).
pub(crate) struct SendBody<'a> {
    pub(crate) reader: &'a mut dyn Read,
    pub(crate) len: u64,
}

/// [`request`] with a body streamed after the head.
pub(crate) fn request_with_body(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<SendBody<'_>>,
) -> Result<Response, TransportError> {
    let err = |detail: String| TransportError {
        method: go_method(method),
        url: url.to_owned(),
        detail,
    };
    let u = Url::parse(url).ok_or_else(|| err("invalid URL".to_owned()))?;
    if u.scheme != "http" {
        return Err(err(format!(
            "the {} scheme is not supported yet: berth pulls only from plain-HTTP registries",
            u.scheme
        )));
    }
    let addr = u.host_port();
    let stream =
        connect(&addr).map_err(|e| err(format!("dial tcp {addr}: {}", describe_io(&e))))?;
    let mut head = format!("{method} {} HTTP/1.1\r\nHost: {}\r\n", u.path, u.authority);
    head.push_str("User-Agent: berth\r\nConnection: close\r\n");
    for (k, v) in headers {
        if v.contains(['\r', '\n']) {
            return Err(err(format!("invalid value for header {k}")));
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = &body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len));
    } else if matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    let io_err = |e: io::Error| err(e.to_string());
    (&stream).write_all(head.as_bytes()).map_err(io_err)?;
    if let Some(b) = body {
        let sent = io::copy(&mut b.reader.take(b.len), &mut &stream).map_err(io_err)?;
        if sent != b.len {
            return Err(err(format!(
                "the request body ended after {sent} of its {} bytes",
                b.len
            )));
        }
    }
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let status_line = read_line(&mut reader).map_err(io_err)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| err(format!("malformed HTTP response {status_line:?}")))?;
    let mut headers = Vec::new();
    let mut total = status_line.len();
    loop {
        let line = read_line(&mut reader).map_err(io_err)?;
        if line.is_empty() {
            break;
        }
        total += line.len();
        if total > MAX_HEAD {
            return Err(err("response headers too large".to_owned()));
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let framing = if method == "HEAD" || status == 204 || status == 304 {
        Framing::Length(0)
    } else if find("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        Framing::Chunked {
            left: 0,
            done: false,
        }
    } else if let Some(len) = find("content-length") {
        Framing::Length(
            len.parse()
                .map_err(|_| err(format!("bad Content-Length {len:?}")))?,
        )
    } else {
        Framing::Eof
    };
    Ok(Response {
        status,
        headers,
        body: Body { reader, framing },
    })
}

fn connect(addr: &str) -> io::Result<TcpStream> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no addresses found")))
}

/// Error text as Go prints a connect error (`connect: connection refused`).
pub(crate) fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect: connection refused".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:5000/v2/").unwrap_or_else(|| panic!("parse"));
        assert_eq!(u.authority, "127.0.0.1:5000");
        assert_eq!(u.path, "/v2/");
        assert_eq!(u.host_port(), "127.0.0.1:5000");
        let u =
            Url::parse("https://auth.docker.io/token?service=x").unwrap_or_else(|| panic!("parse"));
        assert_eq!(u.host_port(), "auth.docker.io:443");
        assert_eq!(u.path, "/token?service=x");
        let u = Url::parse("http://[::1]/v2/").unwrap_or_else(|| panic!("parse"));
        assert_eq!(u.host_port(), "[::1]:80");
        assert!(Url::parse("nourl").is_none());
    }

    #[test]
    fn go_style_method() {
        assert_eq!(go_method("GET"), "Get");
        assert_eq!(go_method("HEAD"), "Head");
    }
}
