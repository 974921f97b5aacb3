//! Query parameters as dockerd reads them: percent-decoded pairs, Go's
//! loose booleans, the JSON `filters` map, RFC 3339 times.

use std::collections::BTreeMap;

use axum::http::Uri;

use crate::error::ApiError;

/// Query parameters, in order, percent-decoded.
pub(crate) fn query(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(crate) fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(crate) fn params<'a>(
    q: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    q.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Go's `strconv.ParseBool` subset dockerd's `httputils.BoolValue` accepts:
/// anything but empty, `0`, `no`, `false`, `none` is true.
pub(crate) fn flag(q: &[(String, String)], name: &str) -> bool {
    param(q, name).is_some_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "no" | "false" | "none"
        )
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3339 → Unix seconds (0 when absent or malformed).
pub(crate) fn unix_seconds(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(berth_engine::container::logs::parse_rfc3339_nanos)
        .and_then(|n| i64::try_from(n.div_euclid(1_000_000_000)).ok())
        .unwrap_or(0)
}

/// The `filters` parameter: `{"name": ["v", ...]}` or the old
/// `{"name": {"v": true}}`.
pub(crate) fn filters(q: &[(String, String)]) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let Some(raw) = param(q, "filters").filter(|s| !s.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let value: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::invalid_argument(format!("invalid filter: {e}")))?;
    let mut out = BTreeMap::new();
    let Some(map) = value.as_object() else {
        return Err(ApiError::invalid_argument("invalid filter: not an object"));
    };
    for (k, v) in map {
        let vals: Vec<String> = match v {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            serde_json::Value::Object(o) => o
                .iter()
                .filter(|(_, b)| b.as_bool() == Some(true))
                .map(|(s, _)| s.clone())
                .collect(),
            _ => return Err(ApiError::invalid_argument("invalid filter")),
        };
        out.insert(k.clone(), vals);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_times() {
        let uri: Uri =
            "/images/create?fromSrc=-&repo=a%2Fb&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1"
                .parse()
                .unwrap();
        let q = query(&uri);
        assert_eq!(param(&q, "repo"), Some("a/b"));
        assert_eq!(
            params(&q, "changes").collect::<Vec<_>>(),
            ["CMD [\"sh\"]", "ENV A=1"]
        );
        assert_eq!(unix_seconds(Some("1970-01-01T00:00:00Z")), 0);
        assert_eq!(unix_seconds(Some("2026-01-01T00:00:00Z")), 1_767_225_600);
        assert_eq!(
            unix_seconds(Some("2026-01-01T02:00:00.5+02:00")),
            1_767_225_600
        );
        assert_eq!(unix_seconds(None), 0);
    }
}
