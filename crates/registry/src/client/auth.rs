//! Registry authentication: the `WWW-Authenticate` challenge of a 401,
//! Bearer token fetch (anonymous or with basic credentials, distribution
//! `docs/spec/auth/token.md`) and Basic auth.

use base64::Engine as _;
use std::collections::BTreeMap;

use serde::Deserialize;

/// Credentials for one registry (what `X-Registry-Auth` or `docker
/// login` gives).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or personal access token.
    pub password: String,
    /// An identity token (OAuth refresh token) instead of a password.
    pub identity_token: Option<String>,
    /// A registry token to send as is (`registrytoken`).
    pub registry_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer` or `basic` (lowercased).
    pub scheme: String,
    /// Its parameters (names lowercased): `realm`, `service`, `scope`.
    pub params: BTreeMap<String, String>,
}

/// Parses `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`
/// (one or more challenges; quoted or token values).
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let s = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && (s[*i] == b' ' || s[*i] == b'\t' || s[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && !matches!(s[*i], b' ' | b'\t' | b',' | b'=' | b'"') {
            *i += 1;
        }
        String::from_utf8_lossy(&s[start..*i]).into_owned()
    };
    loop {
        skip_ws(&mut i);
        if i >= s.len() {
            break;
        }
        let word = token(&mut i);
        if word.is_empty() {
            i += 1;
            continue;
        }
        // `name=` is a parameter of the current challenge; a bare word
        // starts a new challenge.
        let mut j = i;
        while j < s.len() && (s[j] == b' ' || s[j] == b'\t') {
            j += 1;
        }
        if j < s.len() && s[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            let value = if i < s.len() && s[i] == b'"' {
                i += 1;
                let mut v = Vec::new();
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' && i + 1 < s.len() {
                        i += 1;
                    }
                    v.push(s[i]);
                    i += 1;
                }
                i += 1;
                String::from_utf8_lossy(&v).into_owned()
            } else {
                token(&mut i)
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(word.to_ascii_lowercase(), value);
            }
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    out
}

/// Decoding accepts padded and unpadded input alike.
const DECODE: base64::engine::GeneralPurposeConfig = base64::engine::GeneralPurposeConfig::new()
    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
const STANDARD: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, DECODE);
const URL_SAFE: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, DECODE);

/// Standard base64 with padding (for `Authorization: Basic`).
pub fn base64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes base64, standard or URL-safe alphabet, padded or not (the
/// docker CLI sends `X-Registry-Auth` as URL-safe base64).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.contains(['-', '_']) {
        URL_SAFE.decode(text).ok()
    } else {
        STANDARD.decode(text).ok()
    }
}

/// `Authorization: Basic ...` for `creds`.
pub(crate) fn basic_header(creds: &Credentials) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{}:{}", creds.username, creds.password).as_bytes())
    )
}

/// A token server's answer (`token`, or OAuth's `access_token`).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub(crate) token: Option<String>,
    #[serde(default)]
    pub(crate) access_token: Option<String>,
}

/// Percent-encodes a query value.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token URL for a Bearer challenge and the scopes asked for
/// (space-separated).
pub(crate) fn token_url(challenge: &Challenge, scope: &str) -> Option<String> {
    let realm = challenge.params.get("realm")?;
    let mut url = realm.clone();
    let mut sep = if realm.contains('?') { '&' } else { '?' };
    if let Some(service) = challenge.params.get("service") {
        url.push_str(&format!("{sep}service={}", query_escape(service)));
        sep = '&';
    }
    // Several scopes (`repository:a:push,pull repository:b:pull`) are
    // several `scope` parameters.
    for s in scope.split_whitespace() {
        url.push_str(&format!("{sep}scope={}", query_escape(s)));
        sep = '&';
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.docker.io/token");
        assert_eq!(c[0].params["service"], "registry.docker.io");
        assert_eq!(c[0].params["scope"], "repository:library/busybox:pull");
        let url = token_url(&c[0], "repository:library/busybox:pull").unwrap_or_default();
        assert_eq!(
            url,
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull"
        );
    }

    #[test]
    fn basic_and_several_challenges() {
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
        let c = parse_challenges(r#"Basic realm="a, b", Bearer realm=http://x/t ,service=s"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].params["realm"], "a, b");
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].params["realm"], "http://x/t");
        assert_eq!(c[1].params["service"], "s");
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "user:pa ss", "\u{e9}\u{e8}xyz?>"] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap_or_default(), s.as_bytes());
        }
        assert_eq!(
            base64_encode(b"aladdin:opensesame"),
            "YWxhZGRpbjpvcGVuc2VzYW1l"
        );
        // URL-safe alphabet, no padding.
        assert_eq!(base64_decode("-_8").unwrap_or_default(), vec![0xfb, 0xff]);
        assert!(base64_decode("a*b").is_none());
    }
}
