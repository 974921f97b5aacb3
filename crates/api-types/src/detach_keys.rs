//! Detach keys: the key sequence that ends an attach to a container with a
//! terminal while the container keeps running (docker's `--detach-keys`,
//! the `detachKeys` query parameter of `POST /containers/{id}/attach`,
//! `DetachKeys` in an exec's configuration).
//!
//! The syntax is docker's (`github.com/moby/term`'s `ToBytes`): keys are
//! separated by commas; each is a single character (taken as its byte) or
//! `ctrl-<c>` for `c` in `@`, `a`..`z`, `[`, `\`, `]`, `^`, `_` (lower
//! case, as docker), or `DEL`. The default is `ctrl-p,ctrl-q`.
//!
//! [`DetachScanner`] watches a stream of input for the sequence: bytes that
//! start the sequence are held back until it is complete (detach) or turns
//! out to be something else (then they are passed on, in order, followed by
//! the rest). Unlike docker's proxy, which only matches bytes that arrive
//! one per read (typed keys), it matches the sequence anywhere in the input,
//! so what a client sends in one write detaches as well.
//!
//! ```
//! use berth_api_types::detach_keys::{DetachKeys, DetachScanner};
//! let keys = DetachKeys::parse("ctrl-a,x").unwrap();
//! assert_eq!(keys.bytes(), &[1, b'x']);
//! let mut scan = DetachScanner::new(keys);
//! let mut out = Vec::new();
//! assert!(!scan.feed(b"ls\x01", &mut out));
//! assert_eq!(out, b"ls");
//! assert!(!scan.feed(b"y", &mut out));
//! assert_eq!(out, b"ls\x01y");
//! assert!(scan.feed(b"\x01x ignored", &mut out));
//! ```

/// `ctrl-p`, `ctrl-q`.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// A detach key sequence (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

/// A `--detach-keys` value docker would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDetachKeys {
    /// The whole value, as given.
    pub spec: String,
    /// The key that is not understood.
    pub key: String,
}

impl std::fmt::Display for InvalidDetachKeys {
    /// dockerd's wording (the docker CLI prints it after "Error response
    /// from daemon: ").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invalid detach keys ({}) provided", self.spec)
    }
}

impl std::error::Error for InvalidDetachKeys {}

impl Default for DetachKeys {
    fn default() -> Self {
        Self(DEFAULT_DETACH_KEYS.to_vec())
    }
}

/// The control characters by name: `ctrl-@` is 0, `ctrl-a` 1, ... `ctrl-_` 31.
const CTRL: &[u8; 32] = b"@abcdefghijklmnopqrstuvwxyz[\\]^_";

impl DetachKeys {
    /// Parses docker's syntax (see the module documentation).
    pub fn parse(spec: &str) -> Result<Self, InvalidDetachKeys> {
        let mut codes = Vec::new();
        for key in spec.split(',') {
            let b = key.as_bytes();
            let code = if b.len() == 1 {
                Some(b[0])
            } else if key == "DEL" {
                Some(127)
            } else if let Some(c) = key.strip_prefix("ctrl-")
                && c.len() == 1
            {
                CTRL.iter()
                    .position(|&x| x == c.as_bytes()[0])
                    .and_then(|n| u8::try_from(n).ok())
            } else {
                None
            };
            match code {
                Some(code) => codes.push(code),
                None => {
                    return Err(InvalidDetachKeys {
                        spec: spec.to_owned(),
                        key: key.to_owned(),
                    });
                }
            }
        }
        Ok(Self(codes))
    }

    /// The value of a `detachKeys` parameter: empty (or missing) is the
    /// default, as dockerd reads it.
    pub fn from_param(spec: Option<&str>) -> Result<Self, InvalidDetachKeys> {
        match spec {
            None | Some("") => Ok(Self::default()),
            Some(s) => Self::parse(s),
        }
    }

    /// The bytes of the sequence.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Watches input for a detach sequence (see the module documentation).
#[derive(Debug, Clone)]
pub struct DetachScanner {
    keys: DetachKeys,
    /// How many bytes of the sequence the input ends with (held back).
    matched: usize,
}

impl DetachScanner {
    pub fn new(keys: DetachKeys) -> Self {
        Self { keys, matched: 0 }
    }

    /// Scans `input`: appends to `out` what is to be passed on and returns
    /// true once the sequence is complete (the rest of `input` is dropped:
    /// the session ends there).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        let keys = self.keys.bytes();
        for &b in input {
            if b == keys[self.matched] {
                self.matched += 1;
                if self.matched == keys.len() {
                    self.matched = 0;
                    return true;
                }
                continue;
            }
            // The held bytes plus this one are not the sequence: pass on
            // bytes from the front until what is left starts it again.
            let mut held: Vec<u8> = keys[..self.matched].to_vec();
            held.push(b);
            let mut start = 0;
            while start < held.len() && !keys.starts_with(&held[start..]) {
                out.push(held[start]);
                start += 1;
            }
            self.matched = held.len() - start;
            if self.matched == keys.len() {
                self.matched = 0;
                return true;
            }
        }
        false
    }

    /// The input ended: passes on what was held back.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.keys.bytes()[..self.matched]);
        self.matched = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_syntax() {
        assert_eq!(DetachKeys::default().bytes(), &[16, 17]);
        let k = |s: &str| DetachKeys::parse(s).map(|k| k.bytes().to_vec());
        assert_eq!(k("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(
            k("ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_"),
            Ok(vec![0, 1, 26, 27, 28, 29, 30, 31])
        );
        assert_eq!(k("a"), Ok(vec![b'a']));
        assert_eq!(
            k("a,b,,"),
            Err(InvalidDetachKeys {
                spec: "a,b,,".into(),
                key: String::new()
            })
        );
        assert_eq!(k("DEL"), Ok(vec![127]));
        assert_eq!(k("ctrl-x,X"), Ok(vec![24, b'X']));
        for bad in [
            "", "ctrl-A", "ctrl-", "ctrl-ab", "ab", "del", "ctrl-p,", "é",
        ] {
            let e = k(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("Invalid detach keys ({bad}) provided")
            );
        }
        assert_eq!(DetachKeys::from_param(None), Ok(DetachKeys::default()));
        assert_eq!(DetachKeys::from_param(Some("")), Ok(DetachKeys::default()));
        assert!(DetachKeys::from_param(Some("nope")).is_err());
    }

    fn scan(keys: &str, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut s = DetachScanner::new(DetachKeys::parse(keys).unwrap());
        let mut out = Vec::new();
        for c in chunks {
            if s.feed(c, &mut out) {
                return (out, true);
            }
        }
        s.finish(&mut out);
        (out, false)
    }

    #[test]
    fn detaches_on_the_whole_sequence_only() {
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"ab\x10", b"\x11cd"]),
            (b"ab".to_vec(), true)
        );
        assert_eq!(scan("ctrl-p,ctrl-q", &[b"\x10\x11"]), (Vec::new(), true));
        // A partial match followed by something else reaches the process.
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"\x10", b"x\x11"]),
            (b"\x10x\x11".to_vec(), false)
        );
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"\x10\x10\x11"]),
            (b"\x10".to_vec(), true)
        );
        // Held bytes come back when the input ends.
        assert_eq!(
            scan("ctrl-p,ctrl-q", &[b"a\x10"]),
            (b"a\x10".to_vec(), false)
        );
        // Overlapping prefixes: `aab` is found in `aaab`.
        assert_eq!(scan("a,a,b", &[b"xaa", b"ab"]), (b"xa".to_vec(), true));
        assert_eq!(scan("a,b,a,c", &[b"ababac"]), (b"ab".to_vec(), true));
        assert_eq!(scan("z", &[b"abz"]), (b"ab".to_vec(), true));
    }
}
