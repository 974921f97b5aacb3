//! The attach socket: the handshake and Docker's multiplexed stream format.
//!
//! Without a terminal, stdout and stderr share one connection, so every
//! chunk is preceded by an 8-byte header, exactly as the Engine API's
//! `application/vnd.docker.multiplexed-stream`: `[stream, 0, 0, 0]` then the
//! payload length as a big-endian `u32`. The daemon can forward the shim's
//! bytes to a Docker client unchanged. With a terminal the stream is raw.

use serde::{Deserialize, Serialize};

/// The first frame a client sends on the attach socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    /// `None`: the container's streams; `Some`: an exec's. An exec that
    /// does not exist yet is waited for, so a client can attach before
    /// sending `Exec` and miss none of its output.
    #[serde(default)]
    pub exec_id: Option<String>,
    /// Forward what the client sends to the process's stdin.
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub stdout: bool,
    #[serde(default)]
    pub stderr: bool,
    /// When this client half-closes its side, close the process's stdin
    /// (Docker's `StdinOnce`), so e.g. `cat` sees end-of-file.
    #[serde(default)]
    pub close_stdin: bool,
}

/// A stream in the multiplexed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StdStream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// Errors reading a multiplexed header.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    #[error("invalid stream type {0} in a multiplexed frame header")]
    BadStream(u8),
}

/// The 8-byte header for a payload of `len` bytes on `stream`.
pub fn mux_header(stream: StdStream, len: u32) -> [u8; 8] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// The stream and payload length of a header.
pub fn parse_mux_header(h: &[u8; 8]) -> Result<(StdStream, u32), MuxError> {
    let stream = match h[0] {
        0 => StdStream::Stdin,
        1 => StdStream::Stdout,
        2 => StdStream::Stderr,
        other => return Err(MuxError::BadStream(other)),
    };
    Ok((stream, u32::from_be_bytes([h[4], h[5], h[6], h[7]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_docker() {
        assert_eq!(mux_header(StdStream::Stdout, 6), [1, 0, 0, 0, 0, 0, 0, 6]);
        assert_eq!(
            mux_header(StdStream::Stderr, 0x0102_0304),
            [2, 0, 0, 0, 1, 2, 3, 4]
        );
        assert_eq!(
            parse_mux_header(&[2, 0, 0, 0, 0, 0, 1, 0]).unwrap(),
            (StdStream::Stderr, 256)
        );
        assert!(parse_mux_header(&[7, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn handshake_defaults() {
        let req: AttachRequest = serde_json::from_str(r#"{"stdout":true}"#).unwrap();
        assert_eq!(
            req,
            AttachRequest {
                stdout: true,
                ..Default::default()
            }
        );
    }
}
