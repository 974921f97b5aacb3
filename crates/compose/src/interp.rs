//! `${VAR}` interpolation as compose does it, and `.env` files.
//!
//! Forms: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty),
//! `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (an
//! error), `${VAR:+other}` / `${VAR+other}`, and `$$` for a literal `$`.
//! An unset variable without a default is the empty string.

use serde_json::Value;

/// Interpolates every string in `value` (mapping keys are left alone).
pub(crate) fn interpolate(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match value {
        Value::String(s) => {
            *s = interpolate_str(s, lookup)?;
        }
        Value::Array(items) => {
            for item in items {
                interpolate(item, lookup)?;
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                interpolate(item, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// One string with its variables replaced.
pub fn interpolate_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| {
                format!("invalid interpolation format for `{s}`: no closing `}}`")
            })?;
            out.push_str(&braced(&body[..end], s, lookup)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` closing a `${`, counting nested `${...}`.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn braced(
    expr: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let name_len = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_len);
    if name.is_empty() {
        return Err(format!(
            "invalid interpolation format for `{whole}`: `${{{expr}}}` names no variable"
        ));
    }
    let value = lookup(name);
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let nested = |text: &str| interpolate_str(text, lookup);
    let result = if op.is_empty() {
        value.unwrap_or_default()
    } else if let Some(default) = op.strip_prefix(":-") {
        if set_nonempty {
            value.unwrap_or_default()
        } else {
            nested(default)?
        }
    } else if let Some(default) = op.strip_prefix('-') {
        match value {
            Some(v) => v,
            None => nested(default)?,
        }
    } else if let Some(message) = op.strip_prefix(":?") {
        if !set_nonempty {
            return Err(format!(
                "required variable `{name}` is missing a value: {message}"
            ));
        }
        value.unwrap_or_default()
    } else if let Some(message) = op.strip_prefix('?') {
        match value {
            Some(v) => v,
            None => {
                return Err(format!(
                    "required variable `{name}` is missing a value: {message}"
                ));
            }
        }
    } else if let Some(other) = op.strip_prefix(":+") {
        if set_nonempty {
            nested(other)?
        } else {
            String::new()
        }
    } else if let Some(other) = op.strip_prefix('+') {
        if value.is_some() {
            nested(other)?
        } else {
            String::new()
        }
    } else {
        return Err(format!(
            "invalid interpolation format for `{whole}`: `${{{expr}}}`"
        ));
    };
    Ok(result)
}

/// A `.env` file: `KEY=VALUE` lines, `#` comments, blank lines, an
/// optional `export ` prefix, values optionally in single or double quotes.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        let value = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            value[1..value.len() - 1].to_owned()
        } else {
            // An unquoted value ends at ` #`.
            value.split(" #").next().unwrap_or("").trim_end().to_owned()
        };
        out.push((key.to_owned(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "TAG" => Some("1.2".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn forms() {
        let i = |s: &str| interpolate_str(s, &env).unwrap();
        assert_eq!(i("busybox:${TAG}"), "busybox:1.2");
        assert_eq!(i("busybox:$TAG-x"), "busybox:1.2-x");
        assert_eq!(i("${MISSING}"), "");
        assert_eq!(i("${MISSING:-def}"), "def");
        assert_eq!(i("${EMPTY:-def}"), "def");
        assert_eq!(i("${EMPTY-def}"), "");
        assert_eq!(i("${MISSING-def}"), "def");
        assert_eq!(i("${TAG:+set}"), "set");
        assert_eq!(i("${MISSING:+set}"), "");
        assert_eq!(i("$$HOME and $$"), "$HOME and $");
        assert_eq!(i("${MISSING:-${TAG}}"), "1.2");
        assert_eq!(i("cost: 5$"), "cost: 5$");
    }

    #[test]
    fn errors() {
        let e = interpolate_str("${NEED:?set NEED first}", &env).unwrap_err();
        assert_eq!(
            e,
            "required variable `NEED` is missing a value: set NEED first"
        );
        assert!(
            interpolate_str("${TAG", &env)
                .unwrap_err()
                .contains("no closing")
        );
        assert!(
            interpolate_str("${}", &env)
                .unwrap_err()
                .contains("names no variable")
        );
    }

    #[test]
    fn dotenv() {
        let vars = parse_dotenv("# c\nA=1\nexport B=\"two words\"\nC='x'\nD=plain # note\n\nE\n");
        assert_eq!(
            vars,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("D".into(), "plain".into()),
                ("E".into(), String::new()),
            ]
        );
    }
}
