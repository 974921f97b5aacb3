//! Docker's time values (moby's `api/types/time`): what `--since` and
//! `--until` take on the command line, what the API's `since`/`until`
//! parameters carry, and what an `until` filter means. One reading for the
//! client (which sends [`get_timestamp`]'s text) and the daemon (which
//! reads it back with [`parse_timestamp`], or a filter with
//! [`filter_time`]).
//!
//! ```
//! use berth_api_types::timestamp::{filter_time, get_timestamp, parse_timestamp};
//! let now = 1_700_000_000_000_000_000; // nanoseconds since the epoch
//! assert_eq!(get_timestamp("10m", now).as_deref(), Some("1699999400"));
//! assert_eq!(get_timestamp("2013-01-02", now).as_deref(), Some("1357084800.000000000"));
//! assert_eq!(parse_timestamp("1357084800.5"), Some(1_357_084_800_500_000_000));
//! assert_eq!(filter_time("24h", now), Some(now - 86_400 * 1_000_000_000));
//! ```

const NANOS: i128 = 1_000_000_000;

/// docker's `GetTimestamp`: `value` as the API's `since`/`until` text.
/// A Go duration (`42m`, `1h30m`; not a bare `0`) is that long before
/// `now` (nanoseconds since the epoch), in whole seconds; a Unix time
/// (`1700000000.5`) stays as written; an RFC 3339 time or a date
/// becomes Unix seconds with nine digits of nanoseconds
/// (`1357133017.000000000`). A time without a zone is UTC. `None`: none
/// of these.
pub fn get_timestamp(value: &str, now: i128) -> Option<String> {
    if value != "0"
        && let Ok(d) = go_duration(value)
    {
        return Some((now - i128::from(d)).div_euclid(NANOS).to_string());
    }
    if let Some(t) = date_time(value) {
        return Some(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    // With a `-` it was meant as a date (docker: the date's error).
    (!value.contains('-') && parse_timestamp(value).is_some()).then(|| value.to_owned())
}

/// docker's `ParseTimestamps`: the API's `since`/`until` (Unix seconds,
/// optionally with a fraction of up to nine digits) as nanoseconds since
/// the epoch.
pub fn parse_timestamp(text: &str) -> Option<i128> {
    let (secs, frac) = match text.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (text, None),
    };
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i128 = 0;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: i128 = f.parse().ok()?;
        nanos = digits * 10i128.pow(9 - u32::try_from(f.len()).ok()?);
    }
    Some(i128::from(secs) * NANOS + nanos)
}

/// An `until` filter's value as dockerd reads it (`GetTimestamp` then
/// `ParseTimestamps`): nanoseconds since the epoch.
pub fn filter_time(value: &str, now: i128) -> Option<i128> {
    parse_timestamp(&get_timestamp(value, now)?)
}

/// Go's `time.ParseDuration` (`1h30m`, `10s`, `1.5h`, `500ms`, `-5m`,
/// `0`; units ns, us (µs), ms, s, m, h) in whole nanoseconds; Go's error
/// text when it is not one.
pub fn go_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration \"{text}\"");
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration \"{text}\""))?;
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{text}\"")),
            other => {
                return Err(format!(
                    "time: unknown unit \"{other}\" in duration \"{text}\""
                ));
            }
        };
        total += value * scale;
        rest = tail;
    }
    #[allow(clippy::cast_precision_loss, reason = "a bound, not a value")]
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    // Whole nanoseconds, as Go.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "checked against i64::MAX above"
    )]
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// The RFC 3339 times and dates docker accepts, without a zone as UTC.
fn date_time(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(t.to_utc());
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M%:z") {
        return Some(t.to_utc());
    }
    if let Some(t) = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(value, f).ok())
    {
        return Some(t.and_utc());
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i128 = 1_700_000_000 * NANOS;

    #[test]
    fn command_line_times_as_docker_sends_them() {
        let t = |v: &str| get_timestamp(v, NOW);
        assert_eq!(t("42m").as_deref(), Some("1699997480"));
        assert_eq!(t("1h30m").as_deref(), Some("1699994600"));
        assert_eq!(t("1.5s").as_deref(), Some("1699999998"));
        assert_eq!(t("1600000000.5").as_deref(), Some("1600000000.5"));
        // A bare 0 is the epoch, not "0 seconds ago" (docker's rule).
        assert_eq!(t("0").as_deref(), Some("0"));
        assert_eq!(
            t("2013-01-02T13:23:37Z").as_deref(),
            Some("1357133017.000000000")
        );
        assert_eq!(
            t("2013-01-02T15:23:37+02:00").as_deref(),
            Some("1357133017.000000000")
        );
        assert_eq!(
            t("2013-01-02T15:23+02:00").as_deref(),
            Some("1357132980.000000000")
        );
        assert_eq!(
            t("2026-11-23T18:35:59.705919627Z").as_deref(),
            Some("1795458959.705919627")
        );
        assert_eq!(
            t("2013-01-02T13:23:37").as_deref(),
            Some("1357133017.000000000")
        );
        assert_eq!(t("2013-01-02").as_deref(), Some("1357084800.000000000"));
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("2013-13-02"), None);
        assert_eq!(t("-5"), None);
        assert_eq!(t(""), None);
    }

    #[test]
    fn api_times_as_dockerd_reads_them() {
        assert_eq!(parse_timestamp("0"), Some(0));
        assert_eq!(
            parse_timestamp("1700000000.5"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_timestamp("1700000000.000000001"),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(parse_timestamp("x"), None);
        assert_eq!(parse_timestamp("1."), None);
        assert_eq!(parse_timestamp("1.0000000001"), None);
    }

    #[test]
    fn until_filters_as_dockerd() {
        assert_eq!(filter_time("24h", NOW), Some(NOW - 86_400 * NANOS));
        assert_eq!(filter_time("1700000000", NOW), Some(NOW));
        assert_eq!(filter_time("2023-11-14T22:13:20Z", NOW), Some(NOW));
        assert_eq!(filter_time("2023-11-14", NOW), Some(1_699_920_000 * NANOS));
        assert_eq!(filter_time("soon", NOW), None);
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Ok(1_000_000_000));
        assert_eq!(go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("500ms"), Ok(500_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert_eq!(go_duration("-5m"), Ok(-300_000_000_000));
        assert_eq!(
            go_duration("abc"),
            Err("time: invalid duration \"abc\"".to_owned())
        );
        assert_eq!(
            go_duration("10"),
            Err("time: missing unit in duration \"10\"".to_owned())
        );
        assert_eq!(
            go_duration("1x"),
            Err("time: unknown unit \"x\" in duration \"1x\"".to_owned())
        );
        assert!(go_duration("").is_err());
        assert!(go_duration("99999999999h").is_err());
    }
}
