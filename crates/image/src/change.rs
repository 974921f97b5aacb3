//! `docker import --change` / `docker commit --change`: one Dockerfile
//! instruction per string, applied to an image's container config.
//!
//! Supported, as in Docker (`builder/dockerfile` `commit`/`import` allow
//! list): `CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`, `ONBUILD`,
//! `STOPSIGNAL`, `USER`, `VOLUME`, `WORKDIR`. `CMD`/`ENTRYPOINT` take the
//! JSON (exec) form or the shell form (wrapped in `/bin/sh -c`); `ENV` and
//! `LABEL` take `k=v` pairs (with quotes) or the legacy `ENV k v` form.
//! Variable substitution (`$VAR`) is not performed (Docker does it for
//! `ENV`, `WORKDIR`, ... in builds; for import it is rarely used).

use std::collections::BTreeMap;

use crate::spec::{ContainerConfig, Empty};

/// A change line that cannot be applied. Messages follow Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// Not an instruction at all.
    #[error("dockerfile parse error line 1: unknown instruction: {instruction}")]
    Unknown {
        /// The first word of the line.
        instruction: String,
    },
    /// A Dockerfile instruction that `--change` does not allow.
    #[error("{instruction} is not a valid change command")]
    NotAllowed {
        /// The instruction.
        instruction: String,
    },
    /// The arguments do not parse.
    #[error("{instruction}: {reason} in `{line}`")]
    Syntax {
        /// The instruction.
        instruction: String,
        /// What is wrong.
        reason: String,
        /// The whole change line.
        line: String,
    },
}

const KNOWN: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies `changes` in order to `config`.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<(), ChangeError> {
    for line in changes {
        apply_change(config, line)?;
    }
    Ok(())
}

fn apply_change(c: &mut ContainerConfig, line: &str) -> Result<(), ChangeError> {
    let trimmed = line.trim();
    let (instr, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (trimmed, ""),
    };
    let upper = instr.to_ascii_uppercase();
    let syntax = |reason: &str| ChangeError::Syntax {
        instruction: upper.clone(),
        reason: reason.to_owned(),
        line: line.to_owned(),
    };
    if !KNOWN.contains(&upper.as_str()) {
        return Err(ChangeError::Unknown {
            instruction: instr.to_ascii_lowercase(),
        });
    }
    match upper.as_str() {
        "CMD" => c.cmd = Some(exec_or_shell(rest)),
        "ENTRYPOINT" => c.entrypoint = Some(exec_or_shell(rest)),
        "ENV" => {
            let pairs = key_values(rest, true).map_err(|r| syntax(&r))?;
            let env = c.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs {
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix) && e != &k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let pairs = key_values(rest, false).map_err(|r| syntax(&r))?;
            let labels = c.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(pairs);
        }
        "EXPOSE" => {
            let ports = c.exposed_ports.get_or_insert_with(BTreeMap::new);
            let words = words(rest).map_err(|r| syntax(&r))?;
            if words.is_empty() {
                return Err(syntax("EXPOSE requires at least one argument"));
            }
            for p in words {
                let key = if p.contains('/') {
                    p.to_ascii_lowercase()
                } else {
                    format!("{p}/tcp")
                };
                let (num, _) = key.split_once('/').unwrap_or((&key, ""));
                let valid = num
                    .split('-')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if !valid {
                    return Err(syntax(&format!("invalid containerPort: {p}")));
                }
                ports.insert(key, Empty {});
            }
        }
        "VOLUME" => {
            let list = match json_array(rest) {
                Some(v) => v,
                None => words(rest).map_err(|r| syntax(&r))?,
            };
            if list.is_empty() {
                return Err(syntax("VOLUME requires at least one argument"));
            }
            let vols = c.volumes.get_or_insert_with(BTreeMap::new);
            for v in list {
                vols.insert(v, Empty {});
            }
        }
        "WORKDIR" => {
            if rest.is_empty() {
                return Err(syntax("WORKDIR requires exactly one argument"));
            }
            // A relative WORKDIR is relative to the previous one (Dockerfile reference).
            let dir = if rest.starts_with('/') {
                rest.to_owned()
            } else {
                let base = c.working_dir.clone().unwrap_or_else(|| "/".to_owned());
                format!("{}/{rest}", base.trim_end_matches('/'))
            };
            c.working_dir = Some(dir);
        }
        "USER" => {
            if rest.is_empty() {
                return Err(syntax("USER requires exactly one argument"));
            }
            c.user = Some(rest.to_owned());
        }
        "STOPSIGNAL" => {
            if rest.is_empty() {
                return Err(syntax("STOPSIGNAL requires exactly one argument"));
            }
            c.stop_signal = Some(rest.to_owned());
        }
        "ONBUILD" => {
            if rest.is_empty() {
                return Err(syntax("ONBUILD requires at least one argument"));
            }
            c.on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_owned());
        }
        _ => {
            return Err(ChangeError::NotAllowed {
                instruction: upper.clone(),
            });
        }
    }
    Ok(())
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// JSON exec form, or shell form wrapped in `/bin/sh -c` (Docker's default
/// shell on Linux).
fn exec_or_shell(s: &str) -> Vec<String> {
    match json_array(s) {
        Some(v) => v,
        None => vec!["/bin/sh".to_owned(), "-c".to_owned(), s.to_owned()],
    }
}

/// Splits on whitespace, honouring `"..."`, `'...'` and backslash escapes.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unterminated quote".to_owned()),
                        Some(c) if c == ch => break,
                        Some('\\') if ch == '"' => match chars.next() {
                            Some(n) => cur.push(n),
                            None => return Err("unterminated quote".to_owned()),
                        },
                        Some(c) => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `k=v k2="v 2"`, or (legacy, `ENV` only) `k the rest of the line`.
fn key_values(s: &str, legacy_ok: bool) -> Result<Vec<(String, String)>, String> {
    let first = s.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        if legacy_ok {
            let (k, v) = s
                .split_once(char::is_whitespace)
                .ok_or_else(|| "ENV must have two arguments".to_owned())?;
            return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
        }
        if s.is_empty() {
            return Err("LABEL requires at least one argument".to_owned());
        }
    }
    let mut out = Vec::new();
    for w in words(s)? {
        let (k, v) = w.split_once('=').ok_or_else(|| {
            format!("Syntax error - can't find = in \"{w}\". Must be of the form: name=value")
        })?;
        if k.is_empty() {
            return Err("key cannot be empty".to_owned());
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    if out.is_empty() {
        return Err("requires at least one argument".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> Result<ContainerConfig, ChangeError> {
        let mut c = ContainerConfig::default();
        apply_changes(
            &mut c,
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn changes_table() {
        let c = apply(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/init --flag",
            "ENV A=1 B=\"two words\"",
            "ENV C legacy value",
            "ENV A=3",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "EXPOSE 80 53/UDP 8000-8001",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /cache",
            "LABEL a=b \"c d\"=e",
            "STOPSIGNAL SIGQUIT",
            "onbuild RUN true",
            "cmd echo lower-case instruction",
        ])
        .unwrap();
        assert_eq!(
            c.cmd.unwrap(),
            vec!["/bin/sh", "-c", "echo lower-case instruction"]
        );
        assert_eq!(
            c.entrypoint.unwrap(),
            vec!["/bin/sh", "-c", "/bin/init --flag"]
        );
        assert_eq!(c.env.unwrap(), vec!["B=two words", "C=legacy value", "A=3"]);
        assert_eq!(c.working_dir.as_deref(), Some("/srv/app"));
        assert_eq!(c.user.as_deref(), Some("1000:1000"));
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, vec!["53/udp", "80/tcp", "8000-8001/tcp"]);
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, vec!["/cache", "/data", "/logs"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.on_build.unwrap(), vec!["RUN true"]);
    }

    #[test]
    fn change_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "FOO bar",
                "dockerfile parse error line 1: unknown instruction: foo",
            ),
            ("RUN true", "RUN is not a valid change command"),
            ("FROM busybox", "FROM is not a valid change command"),
            (
                "EXPOSE abc",
                "EXPOSE: invalid containerPort: abc in `EXPOSE abc`",
            ),
            ("ENV A=\"x", "ENV: unterminated quote in `ENV A=\"x`"),
            ("ENV", "ENV: ENV must have two arguments in `ENV`"),
            (
                "WORKDIR",
                "WORKDIR: WORKDIR requires exactly one argument in `WORKDIR`",
            ),
        ];
        for (line, msg) in cases {
            assert_eq!(apply(&[line]).unwrap_err().to_string(), *msg, "{line}");
        }
    }
}
