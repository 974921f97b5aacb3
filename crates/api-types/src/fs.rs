//! A container's file system: `top`, `changes` (`docker diff`), the
//! archive path stat (`docker cp`) and `commit` bodies (moby
//! `api/swagger.yaml` v1.51: `ContainerTopResponse`,
//! `FilesystemChange`, `ContainerPathStat`, `IDResponse`).

use serde::{Deserialize, Serialize};

/// The answer to `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerTopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// One item of `GET /containers/{id}/changes`: `Kind` 0 modified, 1
/// added, 2 deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilesystemChange {
    pub path: String,
    pub kind: u8,
}

/// `X-Docker-Container-Path-Stat`: base64 of this JSON (lower-case names,
/// `mode` is Go's `os.FileMode`, `mtime` RFC 3339 with nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(default)]
    pub link_target: String,
}

/// The header that carries a [`ContainerPathStat`].
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// The answer to `POST /commit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdResponse {
    pub id: String,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Go's `base64.StdEncoding.EncodeToString` (padded).
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` if it is not.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let v = B64.iter().position(|&b| b == c)?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

impl ContainerPathStat {
    /// The header value.
    pub fn to_header(&self) -> String {
        base64_encode(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses a header value.
    pub fn from_header(value: &str) -> Option<Self> {
        serde_json::from_slice(&base64_decode(value)?).ok()
    }

    /// Whether it is a directory (Go's `FileMode.IsDir`).
    pub fn is_dir(&self) -> bool {
        self.mode & (1 << 31) != 0
    }

    /// Whether it is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & (1 << 27) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_as_go() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert!(base64_decode("!!").is_none());
        let st = ContainerPathStat {
            name: "etc".into(),
            size: 4096,
            mode: (1 << 31) | 0o755,
            mtime: "2024-01-01T00:00:00Z".into(),
            link_target: String::new(),
        };
        assert_eq!(ContainerPathStat::from_header(&st.to_header()).unwrap(), st);
        assert!(st.is_dir());
    }
}
