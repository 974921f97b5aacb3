//! Length-prefixed JSON frames: a big-endian `u32` byte count, then that
//! many bytes of JSON. Used for every control message and for the attach
//! handshake.

use std::io::{Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Frames larger than this are refused: a corrupt or hostile peer must not
/// make the (tiny) shim allocate gigabytes. An OCI process with a huge
/// environment still fits.
pub const MAX_FRAME_LEN: usize = 4 << 20;

/// Errors while encoding or decoding frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is larger than the limit of {MAX_FRAME_LEN}")]
    TooLarge(usize),
    #[error("invalid message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The frame for `msg`: header and JSON body in one buffer, so it can be
/// written with one call.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; 4];
    serde_json::to_writer(&mut out, msg)?;
    let len = out.len() - 4;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Incremental decoder for non-blocking readers: push whatever arrived,
/// then take complete frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a returned frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The body of the next complete frame, if one has arrived.
    pub fn next_frame_raw(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(header) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let body = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(body))
    }

    /// The next complete frame, decoded as `T`.
    pub fn next_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        match self.next_frame_raw()? {
            Some(body) => Ok(Some(serde_json::from_slice(&body)?)),
            None => Ok(None),
        }
    }

    /// Takes the bytes after the last frame (after a handshake frame they
    /// are already stream data).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Writes one frame to a blocking writer.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame from a blocking reader; `None` on end-of-file before a
/// frame started.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<Option<T>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            e.into()
        }
    })?;
    Ok(Some(serde_json::from_slice(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reply, Request, Response};

    #[test]
    fn encode_layout() {
        let bytes = encode(&Request::Start).unwrap();
        let body = br#"{"op":"start"}"#;
        assert_eq!(&bytes[..4], &(body.len() as u32).to_be_bytes());
        assert_eq!(&bytes[4..], body);
    }

    #[test]
    fn decoder_handles_split_and_joined_frames() {
        let mut all = encode(&Request::State).unwrap();
        all.extend(
            encode(&Request::Kill {
                signal: 15,
                all: true,
            })
            .unwrap(),
        );
        all.extend(b"ab");
        let mut dec = Decoder::new();
        // One byte at a time: nothing comes out early.
        let first_len = encode(&Request::State).unwrap().len();
        for b in &all[..first_len - 1] {
            dec.push(std::slice::from_ref(b));
            assert!(dec.next_frame::<Request>().unwrap().is_none());
        }
        dec.push(&all[first_len - 1..]);
        assert!(matches!(
            dec.next_frame::<Request>().unwrap(),
            Some(Request::State)
        ));
        assert!(matches!(
            dec.next_frame::<Request>().unwrap(),
            Some(Request::Kill {
                signal: 15,
                all: true
            })
        ));
        assert!(dec.next_frame::<Request>().unwrap().is_none());
        assert_eq!(dec.take_rest(), b"ab");
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut dec = Decoder::new();
        dec.push(&u32::MAX.to_be_bytes());
        assert!(matches!(dec.next_frame_raw(), Err(FrameError::TooLarge(_))));
        let mut r = &u32::MAX.to_be_bytes()[..];
        assert!(matches!(
            read_frame::<_, Request>(&mut r),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn blocking_round_trip_and_eof() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Response::Ok(Reply::Done)).unwrap();
        let mut r = &buf[..];
        let got: Option<Response> = read_frame(&mut r).unwrap();
        assert_eq!(got, Some(Response::Ok(Reply::Done)));
        assert!(read_frame::<_, Response>(&mut r).unwrap().is_none());
        let mut cut = &buf[..buf.len() - 1];
        assert!(matches!(
            read_frame::<_, Response>(&mut cut),
            Err(FrameError::Truncated)
        ));
    }
}
