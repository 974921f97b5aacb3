//! Log attributes: what the json-file driver's `labels`, `labels-regex`,
//! `env`, `env-regex` and `tag` options add to every record (`"attrs"`),
//! and `docker logs --details` shows.
//!
//! As dockerd's `logger.Info.ExtraAttributes` and json-file driver:
//! `labels`/`env` name keys (comma separated) whose container labels /
//! environment variables are copied when present; the `-regex` forms copy
//! every label / variable whose name matches; `tag` is a template over the
//! container (`{{.ID}}`, `{{.FullID}}`, `{{.Name}}`, `{{.ImageID}}`,
//! `{{.ImageFullID}}`, `{{.ImageName}}`, `{{.Command}}`, `{{.DaemonName}}`)
//! stored as `tag`. The environment is the container's whole one (the
//! image's merged with `-e`), the labels the container's.

use std::collections::BTreeMap;

use super::ContainerError;
use super::model::Container;

fn invalid(message: String) -> ContainerError {
    ContainerError::InvalidArgument { message }
}

fn regex(
    opts: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<regex::Regex>, ContainerError> {
    match opts.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => regex::Regex::new(text)
            .map(Some)
            .map_err(|e| invalid(format!("invalid {key} log option {text:?}: {e}"))),
    }
}

/// One piece of a `tag` template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
}

/// The fields a tag template may name (docker's `logger.Info` methods).
const FIELDS: &[&str] = &[
    "ID",
    "FullID",
    "Name",
    "ImageID",
    "ImageFullID",
    "ImageName",
    "Command",
    "DaemonName",
];

/// Splits a tag template into text and `{{.Field}}` pieces; anything else
/// in braces is refused (berth's templates are fields only).
fn parse_tag(template: &str) -> Result<Vec<Piece>, ContainerError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            invalid(format!(
                "invalid tag log option {template:?}: unclosed action (\"{{{{\" without \"}}}}\")"
            ))
        })?;
        let action = after[..close].trim();
        match action.strip_prefix('.') {
            Some(field) if FIELDS.contains(&field) => pieces.push(Piece::Field(field.to_owned())),
            _ => {
                return Err(invalid(format!(
                    "invalid tag log option {template:?}: {{{{{action}}}}} is not one of {}",
                    FIELDS
                        .iter()
                        .map(|f| format!("{{{{.{f}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// Checks the attribute options of a json-file configuration (at create,
/// so a bad one is refused before anything runs).
pub(crate) fn validate(opts: &BTreeMap<String, String>) -> Result<(), ContainerError> {
    regex(opts, "labels-regex")?;
    regex(opts, "env-regex")?;
    if let Some(t) = opts.get("tag") {
        parse_tag(t)?;
    }
    Ok(())
}

/// The attributes of `c`'s log records (empty for none).
pub(crate) fn attributes(c: &Container) -> Result<BTreeMap<String, String>, ContainerError> {
    let opts = &c.options.log_config.config;
    let mut out = BTreeMap::new();
    let names = |key: &str| -> Vec<String> {
        opts.get(key)
            .map(|v| {
                v.split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for name in names("labels") {
        if let Some(v) = c.labels.get(&name) {
            out.insert(name, v.clone());
        }
    }
    if let Some(re) = regex(opts, "labels-regex")? {
        for (k, v) in &c.labels {
            if re.is_match(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = c
        .process
        .env
        .iter()
        .filter_map(|e| e.split_once('='))
        .collect();
    for name in names("env") {
        if let Some(v) = env.get(name.as_str()) {
            out.insert(name, (*v).to_owned());
        }
    }
    if let Some(re) = regex(opts, "env-regex")? {
        for (k, v) in &env {
            if re.is_match(k) {
                out.insert((*k).to_owned(), (*v).to_owned());
            }
        }
    }
    if let Some(t) = opts.get("tag") {
        let tag = render_tag(&parse_tag(t)?, c);
        if !tag.is_empty() {
            out.insert("tag".to_owned(), tag);
        }
    }
    Ok(out)
}

fn render_tag(pieces: &[Piece], c: &Container) -> String {
    let image_hex = c.image.strip_prefix("sha256:").unwrap_or(&c.image);
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) => out.push_str(&match f.as_str() {
                "ID" => c.id.chars().take(12).collect(),
                "FullID" => c.id.clone(),
                "Name" => c.name.clone(),
                "ImageID" => image_hex.chars().take(12).collect(),
                "ImageFullID" => c.image.clone(),
                "ImageName" => c.image_ref.clone(),
                "Command" => c.process.args.join(" "),
                // dockerd's constant; tools that read tags expect it.
                "DaemonName" => "docker".to_owned(),
                _ => String::new(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored container document (built from JSON, so fields added to
    /// the model later need no change here).
    fn container(opts: &[(&str, &str)]) -> Container {
        let config: BTreeMap<&str, &str> = opts.iter().copied().collect();
        serde_json::from_value(serde_json::json!({
            "Id": "0123456789abcdef".repeat(4),
            "Name": "web",
            "Created": "",
            "Image": format!("sha256:{}", "fe".repeat(32)),
            "ImageRef": "busybox",
            "Options": {
                "Env": [], "Tty": false, "OpenStdin": false, "Labels": {},
                "LogConfig": {"Type": "", "Config": config},
            },
            "Process": {
                "Args": ["sh", "-c", "true"],
                "Env": ["PATH=/bin", "APP_MODE=prod", "APP_X=1", "EMPTY="],
                "WorkingDir": "/", "User": "", "Hostname": "", "Tty": false, "OpenStdin": false,
            },
            "Labels": {"com.x.team": "core", "tier": "front", "other": "y"},
            "State": {
                "Status": "created", "Pid": 0, "ShimPid": 0, "ExitCode": 0,
                "StartedAt": "", "FinishedAt": "", "Error": "",
            },
        }))
        .unwrap()
    }

    fn attrs(opts: &[(&str, &str)]) -> Vec<(String, String)> {
        attributes(&container(opts)).unwrap().into_iter().collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn labels_and_env_by_name_and_regex() {
        assert!(attrs(&[]).is_empty());
        assert_eq!(
            attrs(&[("labels", "tier,nosuch"), ("env", "PATH,EMPTY,NOPE")]),
            pairs(&[("EMPTY", ""), ("PATH", "/bin"), ("tier", "front")])
        );
        assert_eq!(
            attrs(&[("labels-regex", "^com\\."), ("env-regex", "^APP_")]),
            pairs(&[("APP_MODE", "prod"), ("APP_X", "1"), ("com.x.team", "core")])
        );
    }

    #[test]
    fn tag_templates() {
        assert_eq!(
            attrs(&[("tag", "{{.Name}}/{{ .ID }}/{{.ImageName}}@{{.ImageID}}")]),
            pairs(&[("tag", "web/0123456789ab/busybox@fefefefefefe")])
        );
        assert_eq!(
            attrs(&[("tag", "{{.DaemonName}}: {{.Command}}")]),
            pairs(&[("tag", "docker: sh -c true")])
        );
        assert_eq!(attrs(&[("tag", "")]), Vec::new());
        for bad in ["{{.Nope}}", "{{.Name", "{{printf \"x\"}}"] {
            let opts: BTreeMap<String, String> = [("tag".to_owned(), bad.to_owned())].into();
            let e = validate(&opts).unwrap_err().to_string();
            assert!(e.contains("invalid tag log option"), "{e}");
        }
        let opts: BTreeMap<String, String> = [("env-regex".to_owned(), "(".to_owned())].into();
        assert!(
            validate(&opts)
                .unwrap_err()
                .to_string()
                .contains("invalid env-regex log option")
        );
    }
}
