//! Image references (`[domain/]path[:tag][@digest]`), parsed and normalised
//! exactly as the Docker CLI and dockerd do.
//!
//! The grammar is the one of `github.com/distribution/reference`
//! (`reference.go`, `regexp.go`), and normalisation follows its
//! `normalize.go` (`ParseNormalizedNamed`, `splitDockerDomain`,
//! `FamiliarString`). This is our own hand-written parser, not a port of
//! the regular expressions; the tests pin its behaviour on the cases the
//! upstream tests cover.
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain "/"] path-component ["/" path-component]*
//! domain           := host [":" port-number]
//! host             := domain-name | "[" IPv6 "]"
//! domain-name      := domain-component ["." domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" hex   (validated by [`Digest`])
//! ```
//!
//! ```
//! use berth_image::reference::Reference;
//! let r = Reference::parse_normalized("busybox").unwrap().with_default_tag();
//! assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
//! assert_eq!(r.familiar_string(), "busybox:latest");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{Digest, DigestError};

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The domain old clients wrote for Docker Hub; normalised to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Single-component Hub names live under `library/` ("official images").
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
/// `NameTotalLengthMax` in distribution/reference.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a string is not a valid image reference. Messages are Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Does not match the grammar.
    #[error("invalid reference format")]
    InvalidFormat {
        /// The string given.
        input: String,
    },
    /// The repository path has uppercase letters.
    #[error("invalid reference format: repository name ({repository}) must be lowercase")]
    Uppercase {
        /// The repository path as Docker prints it (e.g. `library/Busybox`).
        repository: String,
    },
    /// A bare 64-hex string is an image ID, never a repository name.
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    LooksLikeId {
        /// The string given.
        input: String,
    },
    /// Domain plus path longer than 255 bytes.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong {
        /// The string given.
        input: String,
    },
    /// The digest part is malformed.
    #[error("{source}")]
    Digest {
        /// The string given.
        input: String,
        /// What is wrong with the digest.
        source: DigestError,
    },
}

/// A parsed, normalised image reference.
///
/// `domain` and `path` are always set after [`Reference::parse_normalized`];
/// at least one of `tag` and `digest` is set after
/// [`Reference::with_default_tag`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// `ParseNormalizedNamed`: fills in `docker.io` and `library/` as the
    /// Docker CLI does. Does not add a default tag (see
    /// [`Reference::with_default_tag`]).
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::LooksLikeId {
                input: s.to_owned(),
            });
        }
        let (domain, remainder) = split_docker_domain(s);
        // Docker checks lowercase on everything up to the first ':' of the
        // remainder, before the grammar, so that `Busybox` gets the helpful
        // message instead of "invalid reference format".
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase {
                repository: remote.to_owned(),
            });
        }
        let invalid = || ReferenceError::InvalidFormat {
            input: s.to_owned(),
        };
        let (before_digest, digest) = match remainder.split_once('@') {
            Some((b, d)) => (b, Some(d)),
            None => (remainder.as_str(), None),
        };
        let (path, tag) = match before_digest.split_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (before_digest, None),
        };
        if !valid_domain(&domain) || !path.split('/').all(valid_path_component) {
            return Err(invalid());
        }
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(invalid());
        }
        let digest = match digest {
            None => None,
            Some(d) => {
                if !digest_matches_reference_grammar(d) {
                    return Err(invalid());
                }
                Some(
                    d.parse::<Digest>()
                        .map_err(|source| ReferenceError::Digest {
                            input: s.to_owned(),
                            source,
                        })?,
                )
            }
        };
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: s.to_owned(),
            });
        }
        Ok(Self {
            domain,
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// `TagNameOnly`: adds `:latest` when there is neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::InvalidFormat {
                input: format!("{}:{tag}", self.name()),
            });
        }
        Ok(Self {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        })
    }

    /// The registry host (and port), e.g. `docker.io` or `host:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name, `domain/path`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker shows it: `busybox`, `org/name`,
    /// `host:5000/org/name` (`FamiliarName`).
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                // `library/a/b` keeps its prefix: only single-component
                // official names are shortened.
                Some(short) if !short.contains('/') => short.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// `FamiliarString`: the familiar name plus `:tag` and `@digest` as present.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

/// `splitDockerDomain`: the first component is a registry host only if it
/// contains `.` or `:`, is `localhost`, or has uppercase letters.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_owned();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // `[IPv6]` with an optional port after the bracket.
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(p) => ("ok", Some(p)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
    })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    let mut need_alnum = true;
    while i < b.len() {
        if alnum(b[i]) {
            need_alnum = false;
            i += 1;
            continue;
        }
        if need_alnum {
            return false;
        }
        // A separator: one of `.`, `_`, `__`, or a run of `-`.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        debug_assert!(i > start);
        need_alnum = true;
    }
    !need_alnum
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// The reference grammar's digest: `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.
/// Only when this matches is the digest itself validated (so a short hex
/// gives "invalid reference format", a 40-hex one "invalid checksum digest
/// length", as in Docker).
fn digest_matches_reference_grammar(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

impl fmt::Display for Reference {
    /// The fully qualified form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        Self::parse_normalized(s)
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_normalized(&s)
            .map_err(|e| serde::de::Error::custom(format_args!("invalid reference `{s}`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    /// (input, normalised with default tag, familiar string) — or the error message.
    #[test]
    fn normalise_table() {
        let ok: &[(&str, &str, &str)] = &[
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/library/busybox:latest",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            ("org/name", "docker.io/org/name:latest", "org/name:latest"),
            (
                "org/sub/name:v1",
                "docker.io/org/sub/name:v1",
                "org/sub/name:v1",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            (
                "host:5000/org/name:tag",
                "host:5000/org/name:tag",
                "host:5000/org/name:tag",
            ),
            (
                "host:5000/name",
                "host:5000/name:latest",
                "host:5000/name:latest",
            ),
            (
                "quay.io/coreos/etcd",
                "quay.io/coreos/etcd:latest",
                "quay.io/coreos/etcd:latest",
            ),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            (
                "localhost:5000/x:y",
                "localhost:5000/x:y",
                "localhost:5000/x:y",
            ),
            (
                "localhost",
                "docker.io/library/localhost:latest",
                "localhost:latest",
            ),
            (
                "localhost:5000",
                "docker.io/library/localhost:5000",
                "localhost:5000",
            ),
            (
                "127.0.0.1:5000/a",
                "127.0.0.1:5000/a:latest",
                "127.0.0.1:5000/a:latest",
            ),
            ("[::1]:5000/a", "[::1]:5000/a:latest", "[::1]:5000/a:latest"),
            ("[fe80::1]/a", "[fe80::1]/a:latest", "[fe80::1]/a:latest"),
            ("Foo/bar", "Foo/bar:latest", "Foo/bar:latest"),
            (
                "EXAMPLE.com/a",
                "EXAMPLE.com/a:latest",
                "EXAMPLE.com/a:latest",
            ),
            (
                "a-b.c_d__e---f",
                "docker.io/library/a-b.c_d__e---f:latest",
                "a-b.c_d__e---f:latest",
            ),
            (
                "busybox:Tag_1.2-x",
                "docker.io/library/busybox:Tag_1.2-x",
                "busybox:Tag_1.2-x",
            ),
            ("busybox:_x", "docker.io/library/busybox:_x", "busybox:_x"),
        ];
        for (input, full, familiar) in ok {
            let r = Reference::parse_normalized(input)
                .unwrap_or_else(|e| panic!("{input}: {e}"))
                .with_default_tag();
            assert_eq!(r.to_string(), *full, "{input}");
            assert_eq!(r.familiar_string(), *familiar, "{input}");
            // Normalising the normalised form is the identity.
            let again = Reference::parse_normalized(full)
                .unwrap()
                .with_default_tag();
            assert_eq!(again, r, "{input}");
        }
    }

    #[test]
    fn digests() {
        let r = Reference::parse_normalized(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
        // A digest reference gets no default tag.
        let r = r.with_default_tag();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(r.familiar_string(), format!("busybox@{D}"));

        let r = Reference::parse_normalized(&format!("host:5000/a/b:v2@{D}")).unwrap();
        assert_eq!(r.domain(), "host:5000");
        assert_eq!(r.path(), "a/b");
        assert_eq!(r.tag(), Some("v2"));
        assert_eq!(r.to_string(), format!("host:5000/a/b:v2@{D}"));
    }

    #[test]
    fn errors_table() {
        let long_tag = format!("a:{}", "t".repeat(129));
        let long_name = "a/".repeat(130) + "a";
        let short_hex = format!("a@sha256:{}", "a".repeat(31));
        let mid_hex = format!("a@sha256:{}", "a".repeat(40));
        let upper_hex = format!("a@sha256:{}", "A".repeat(64));
        let id = "a".repeat(64);
        let cases: &[(&str, &str)] = &[
            (
                "Busybox",
                "invalid reference format: repository name (library/Busybox) must be lowercase",
            ),
            (
                "org/Name:tag",
                "invalid reference format: repository name (org/Name) must be lowercase",
            ),
            (
                "host:5000/Org/name",
                "invalid reference format: repository name (Org/name) must be lowercase",
            ),
            ("", "invalid reference format"),
            (":tag", "invalid reference format"),
            ("busybox:", "invalid reference format"),
            ("busybox:.tag", "invalid reference format"),
            ("busybox:-tag", "invalid reference format"),
            (&long_tag, "invalid reference format"),
            ("a//b", "invalid reference format"),
            ("a/", "invalid reference format"),
            ("/a", "invalid reference format"),
            ("a..b", "invalid reference format"),
            ("a.-b", "invalid reference format"),
            ("a___b", "invalid reference format"),
            ("-a", "invalid reference format"),
            ("a-", "invalid reference format"),
            ("a b", "invalid reference format"),
            ("a@b", "invalid reference format"),
            ("host:port/a", "invalid reference format"),
            ("-host.com/a", "invalid reference format"),
            ("[zz::1]/a", "invalid reference format"),
            ("a:b:c", "invalid reference format"),
            ("a@sha256:abc@sha256:def", "invalid reference format"),
            (&short_hex, "invalid reference format"),
            (&mid_hex, "invalid checksum digest length"),
            (&upper_hex, "invalid checksum digest format"),
            (
                &format!("a@md5:{}", "a".repeat(32)),
                "unsupported digest algorithm",
            ),
            (
                &long_name,
                "repository name must not be more than 255 characters",
            ),
            (
                &id,
                &format!(
                    "invalid repository name ({id}), cannot specify 64-byte hexadecimal strings"
                ),
            ),
        ];
        for (input, msg) in cases {
            let err = Reference::parse_normalized(input).expect_err(input);
            assert_eq!(err.to_string(), *msg, "{input}");
        }
    }

    #[test]
    fn with_tag_and_serde() {
        let r = Reference::parse_normalized("busybox").unwrap();
        let t = r.with_tag("v1").unwrap();
        assert_eq!(t.to_string(), "docker.io/library/busybox:v1");
        assert!(r.with_tag("-bad").is_err());
        let j = serde_json::to_string(&t).unwrap();
        assert_eq!(j, "\"docker.io/library/busybox:v1\"");
        assert_eq!(serde_json::from_str::<Reference>(&j).unwrap(), t);
    }

    proptest::proptest! {
        /// Any reference built from the grammar parses, and its full and
        /// familiar forms parse back to the same reference.
        #[test]
        fn grammar_round_trip(
            domain in proptest::option::of("[a-z]{1,6}\\.(com|io)(:[0-9]{1,5})?|localhost(:[0-9]{1,5})?"),
            path in proptest::collection::vec("[a-z0-9]{1,4}(([._]|__|-{1,2})[a-z0-9]{1,4})?", 1..4),
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in proptest::option::of("[a-f0-9]{64}"),
        ) {
            let mut s = String::new();
            if let Some(d) = &domain {
                s.push_str(d);
                s.push('/');
            }
            s.push_str(&path.join("/"));
            if let Some(t) = &tag {
                s.push(':');
                s.push_str(t);
            }
            if let Some(d) = &digest {
                s.push_str("@sha256:");
                s.push_str(d);
            }
            let r = Reference::parse_normalized(&s).unwrap();
            proptest::prop_assert_eq!(Reference::parse_normalized(&r.to_string()).unwrap(), r.clone());
            proptest::prop_assert_eq!(Reference::parse_normalized(&r.familiar_string()).unwrap(), r.clone());
            proptest::prop_assert_eq!(r.tag(), tag.as_deref());
        }
    }
}
