//! The bits of Go's `fmt` and `time` that Docker's messages and history
//! strings are made of (`%q` of a string or slice, `%v` of a slice,
//! `time.Duration`'s text and `time.ParseDuration`), so berth writes the
//! same bytes.

use std::fmt::Write as _;

/// Go's `strconv.Quote` (`%q` of a string).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let n = c as u32;
            if n <= 0xffff {
                let _ = write!(out, "\\u{n:04x}");
            } else {
                let _ = write!(out, "\\U{n:08x}");
            }
        }
        c => out.push(c),
    }
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_slice(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", parts.join(" "))
}

/// `%v` of a `[]string`: `[a b]`.
pub fn slice(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// `%q` of an `int` (Go quotes it as a rune: `'\x00'`, `'A'`).
pub fn quote_rune(n: i64) -> String {
    let c = u32::try_from(n).ok().and_then(char::from_u32);
    match c {
        Some(c) => {
            let mut out = String::from("'");
            push_escaped(&mut out, c, '\'');
            out.push('\'');
            out
        }
        None => "'\u{fffd}'".to_owned(),
    }
}

/// Go's `time.Duration.String()` of `ns` nanoseconds: `0s`, `1.5s`,
/// `1m30s`, `500ms`, `1h0m0s`.
pub fn duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Less than a second: the largest unit that keeps it >= 1.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let secs_total = u / 1_000_000_000;
        let sub = u % 1_000_000_000;
        let h = secs_total / 3600;
        let m = (secs_total % 3600) / 60;
        let s = secs_total % 60;
        let secs = frac(s * 1_000_000_000 + sub, 1_000_000_000);
        if h > 0 {
            let _ = write!(out, "{h}h{m}m{secs}s");
        } else if m > 0 {
            let _ = write!(out, "{m}m{secs}s");
        } else {
            let _ = write!(out, "{secs}s");
        }
    }
    if neg { format!("-{out}") } else { out }
}

fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rest = v % div;
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Go's `time.ParseDuration`: `300ms`, `-1.5h`, `2h45m`; units ns, us, µs,
/// ms, s, m, h. The error is Go's text (`time: invalid duration "x"`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(s));
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {}", quote(s))),
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit),
                    quote(s)
                ));
            }
        };
        total += value * mult;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    #[allow(clippy::cast_possible_truncation)]
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote("é"), "\"é\"");
        assert_eq!(
            quote_slice(&["/bin/sh".into(), "-c".into(), "echo hi".into()]),
            "[\"/bin/sh\" \"-c\" \"echo hi\"]"
        );
        assert_eq!(quote_slice(&[]), "[]");
        assert_eq!(slice(&["/bin/bash".into(), "-c".into()]), "[/bin/bash -c]");
        assert_eq!(quote_rune(0), "'\\x00'");
        assert_eq!(quote_rune(3), "'\\x03'");
        assert_eq!(quote_rune(65), "'A'");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(30_000_000_000), "30s");
        assert_eq!(duration(90_000_000_000), "1m30s");
        assert_eq!(duration(1_500_000_000), "1.5s");
        assert_eq!(duration(500_000_000), "500ms");
        assert_eq!(duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration(300_000_000_000), "5m0s");
        assert_eq!(parse_duration("5m").unwrap(), 300_000_000_000);
        assert_eq!(parse_duration("1h2m3.5s").unwrap(), 3_723_500_000_000);
        assert_eq!(parse_duration("10ms").unwrap(), 10_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(
            parse_duration("abc").unwrap_err(),
            "time: invalid duration \"abc\""
        );
        assert_eq!(
            parse_duration("5").unwrap_err(),
            "time: missing unit in duration \"5\""
        );
    }
}
