//! Content digests (`<algorithm>:<hex>`), as defined by the OCI image spec
//! ("Digests", descriptor.md) and `github.com/opencontainers/go-digest`.
//!
//! berth computes and stores only `sha256` (what every Docker and OCI image
//! uses), but it parses `sha384`/`sha512` so that references and descriptors
//! naming them are understood and can be reported as unsupported where they
//! are used. Parsing is strict, as go-digest's `Digest.Validate`: the encoded
//! part must be lowercase hex of exactly the algorithm's length.
//!
//! ```
//! use berth_image::digest::{Digest, Sha256Hasher};
//! let d: Digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
//!     .parse()
//!     .unwrap();
//! let mut h = Sha256Hasher::new();
//! h.update(b"hello");
//! assert_eq!(h.finish(), d);
//! ```

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// Why a string is not a valid digest. The messages are go-digest's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// No `:`, nothing before or after it, or non-hex characters.
    #[error("invalid checksum digest format")]
    InvalidFormat,
    /// Hex part of the wrong length for the algorithm.
    #[error("invalid checksum digest length")]
    InvalidLength,
    /// A well-formed digest with an algorithm we do not know.
    #[error("unsupported digest algorithm")]
    Unsupported,
}

/// A digest algorithm registered in the OCI image spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the only one berth hashes with.
    Sha256,
    /// SHA-384 (parse only).
    Sha384,
    /// SHA-512 (parse only).
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as it appears in a digest string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }
}

/// A validated digest, e.g. `sha256:<64 lowercase hex>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Builds a sha256 digest from 32 raw bytes.
    pub fn sha256_from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(bytes),
        }
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        let mut h = Sha256Hasher::new();
        h.update(data);
        h.finish()
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded (hex) part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    /// Mirrors go-digest `Digest.Validate`: the order of checks decides
    /// which error a malformed string gets.
    fn from_str(s: &str) -> Result<Self, DigestError> {
        let Some((alg, enc)) = s.split_once(':') else {
            return Err(DigestError::InvalidFormat);
        };
        if alg.is_empty() || enc.is_empty() {
            return Err(DigestError::InvalidFormat);
        }
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            _ => {
                // go-digest: a digest that is well formed per the generic
                // grammar but names an unknown algorithm is "unsupported";
                // anything else is a format error.
                let alg_ok = alg.split(['+', '.', '_', '-']).all(|c| {
                    let mut ch = c.chars();
                    ch.next().is_some_and(|f| f.is_ascii_alphabetic())
                        && ch.all(|x| x.is_ascii_alphanumeric())
                });
                let enc_ok = enc
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
                return Err(if alg_ok && enc_ok {
                    DigestError::Unsupported
                } else {
                    DigestError::InvalidFormat
                });
            }
        };
        if enc.len() != algorithm.hex_len() {
            return Err(DigestError::InvalidLength);
        }
        if !enc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::InvalidFormat);
        }
        Ok(Self {
            algorithm,
            hex: enc.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e| serde::de::Error::custom(format_args!("invalid digest `{s}`: {e}")))
    }
}

/// An incremental sha256 that also counts bytes.
#[derive(Clone, Default)]
pub struct Sha256Hasher {
    inner: sha2::Sha256,
    len: u64,
}

impl Sha256Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.len += data.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before any byte was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let out = self.inner.finalize();
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(out.as_slice()),
        }
    }
}

/// A reader that hashes (sha256) and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256Hasher,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256Hasher::new(),
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True before any byte was read.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The digest and size of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        let len = self.hasher.len();
        (self.hasher.finish(), len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<(), DigestError>)] = &[
            (HELLO, Ok(())),
            ("sha256:", Err(DigestError::InvalidFormat)),
            (":abc", Err(DigestError::InvalidFormat)),
            ("sha256", Err(DigestError::InvalidFormat)),
            ("sha256:abc", Err(DigestError::InvalidLength)),
            (
                "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
                Err(DigestError::InvalidFormat),
            ),
            (
                "sha256:zzf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                Err(DigestError::InvalidFormat),
            ),
            (
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                Err(DigestError::Unsupported),
            ),
            ("md5:d41d8cd9 8f00", Err(DigestError::InvalidFormat)),
            (&format!("sha512:{}", "a".repeat(128)), Ok(())),
            (
                &format!("sha384:{}", "a".repeat(64)),
                Err(DigestError::InvalidLength),
            ),
        ];
        for (s, want) in cases {
            let got = s.parse::<Digest>().map(|_| ());
            assert_eq!(&got, want, "{s}");
        }
    }

    #[test]
    fn display_round_trip_and_serde() {
        let d: Digest = HELLO.parse().unwrap();
        assert_eq!(d.to_string(), HELLO);
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, format!("\"{HELLO}\""));
        let back: Digest = serde_json::from_str(&j).unwrap();
        assert_eq!(back, d);
        let err = serde_json::from_str::<Digest>("\"sha256:xyz\"").unwrap_err();
        assert!(
            err.to_string().contains("invalid digest `sha256:xyz`"),
            "{err}"
        );
    }

    #[test]
    fn hashing_reader_counts_and_hashes() {
        let mut r = HashingReader::new(&b"hello"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        let (d, n) = r.finish();
        assert_eq!(n, 5);
        assert_eq!(d.to_string(), HELLO);
        assert_eq!(Digest::sha256_of(b"hello").to_string(), HELLO);
    }
}
