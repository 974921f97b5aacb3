//! A subset of Go's `text/template`, enough for docker's `--format` flags.
//!
//! Supported: literal text; actions `{{.}}`, `{{.A.B}}` (field names match
//! exactly, else case-insensitively, so Go's `APIVersion` finds the JSON key
//! `ApiVersion`); functions `json`, `index`, `join`, `upper`, `lower`,
//! `title`, `println`; pipelines with `|`; trim markers `{{-` and `-}}`.
//! Templates run over the JSON form of the data. Anything else (`range`,
//! `if`, variables) is rejected with an error that names it, never ignored.

use std::fmt::Write as _;

use serde_json::Value;

use crate::ojson::OValue;

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TemplateError(pub(crate) String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template parsing error: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Vec<Command>),
}

/// One command of a pipeline: a function and its arguments, or one operand.
#[derive(Debug, Clone, PartialEq)]
enum Command {
    Call(String, Vec<Arg>),
    Operand(Arg),
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Field(Vec<String>),
    Str(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    nodes: Vec<Node>,
}

impl Template {
    pub(crate) fn parse(src: &str) -> Result<Self, TemplateError> {
        let mut nodes = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("{{") {
            let mut text = &rest[..start];
            let after = &rest[start + 2..];
            let (after, trim_left) = match after.strip_prefix("- ") {
                Some(a) => (a, true),
                None => (after, false),
            };
            if trim_left {
                text = text.trim_end();
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_owned()));
            }
            let end = find_close(after)
                .ok_or_else(|| TemplateError(format!("unclosed action in {src:?}")))?;
            let mut inner = &after[..end];
            let mut next = &after[end + 2..];
            if let Some(i) = inner.strip_suffix(" -") {
                inner = i;
                next = next.trim_start();
            }
            nodes.push(Node::Action(parse_pipeline(inner.trim())?));
            rest = next;
        }
        if !rest.is_empty() {
            nodes.push(Node::Text(rest.to_owned()));
        }
        Ok(Self { nodes })
    }

    /// The top-level fields the template reads, lowercased (lookups
    /// match case-insensitively too); `None` when it reads the whole value
    /// (`.`), so any field may matter.
    pub(crate) fn fields(&self) -> Option<std::collections::BTreeSet<String>> {
        let mut out = std::collections::BTreeSet::new();
        for node in &self.nodes {
            let Node::Action(pipeline) = node else {
                continue;
            };
            for command in pipeline {
                let args = match command {
                    Command::Operand(a) => std::slice::from_ref(a),
                    Command::Call(_, args) => args.as_slice(),
                };
                for arg in args {
                    if let Arg::Field(path) = arg {
                        out.insert(path.first()?.to_ascii_lowercase());
                    }
                }
            }
        }
        Some(out)
    }

    /// Renders a row context (`ps`, `images`, `df`, ... rows, events):
    /// docker builds those as Go maps, so `{{json .}}` prints their keys
    /// sorted; so do these.
    pub(crate) fn render(&self, data: &Value) -> Result<String, TemplateError> {
        self.render_ordered(&OValue::from(data).sorted())
    }

    /// Renders an API object (inspect) with its keys in the order `data`
    /// holds them: docker prints a struct's fields in their declared order
    /// (`{{json .IPAM.Config}}` gives `Subnet` before `Gateway`) and a
    /// map's keys sorted, which is the order of the daemon's JSON and of
    /// serde's output of our API types (see [`OValue`]).
    pub(crate) fn render_ordered(&self, data: &OValue) -> Result<String, TemplateError> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipeline) => {
                    let mut value: Option<OValue> = None;
                    for command in pipeline {
                        value = Some(eval(command, data, value)?);
                    }
                    if let Some(v) = value {
                        out.push_str(&go_string(&v));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The end of an action, skipping `}}` inside string literals.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'}' if !in_str && bytes[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn tokenize(s: &str) -> Result<Vec<String>, TemplateError> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut lit = String::from("\"");
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => lit.push('\n'),
                        Some('t') => lit.push('\t'),
                        Some(other) => lit.push(other),
                        None => return Err(TemplateError("unterminated string".into())),
                    },
                    Some('"') => break,
                    Some(other) => lit.push(other),
                    None => return Err(TemplateError("unterminated string".into())),
                }
            }
            tokens.push(lit);
        } else if c == '|' {
            chars.next();
            tokens.push("|".to_owned());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '|' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(word);
        }
    }
    Ok(tokens)
}

fn parse_arg(token: &str) -> Result<Arg, TemplateError> {
    if let Some(lit) = token.strip_prefix('"') {
        return Ok(Arg::Str(lit.to_owned()));
    }
    if token == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = token.strip_prefix('.') {
        return Ok(Arg::Field(path.split('.').map(str::to_owned).collect()));
    }
    Err(TemplateError(format!("unsupported operand {token:?}")))
}

const FUNCTIONS: &[&str] = &[
    "json", "index", "join", "upper", "lower", "title", "println",
];

fn parse_pipeline(src: &str) -> Result<Vec<Command>, TemplateError> {
    let tokens = tokenize(src)?;
    if tokens.is_empty() {
        return Err(TemplateError("empty action".into()));
    }
    tokens
        .split(|t| t == "|")
        .map(|cmd| {
            let (first, args) = cmd
                .split_first()
                .ok_or_else(|| TemplateError("empty command in pipeline".into()))?;
            if first.starts_with('.') || first.starts_with('"') {
                if !args.is_empty() {
                    return Err(TemplateError(format!(
                        "can't give argument to non-function {first}"
                    )));
                }
                return Ok(Command::Operand(parse_arg(first)?));
            }
            if !FUNCTIONS.contains(&first.as_str()) {
                return Err(TemplateError(format!("function {first:?} not defined")));
            }
            let args = args
                .iter()
                .map(|a| parse_arg(a))
                .collect::<Result<_, _>>()?;
            Ok(Command::Call(first.clone(), args))
        })
        .collect()
}

fn lookup(data: &OValue, path: &[String]) -> OValue {
    let mut cur = data;
    for name in path {
        match cur.get(name) {
            Some(v) => cur = v,
            None => return OValue::Null,
        }
    }
    cur.clone()
}

fn eval(command: &Command, data: &OValue, piped: Option<OValue>) -> Result<OValue, TemplateError> {
    let arg_value = |a: &Arg| match a {
        Arg::Field(path) => lookup(data, path),
        Arg::Str(s) => OValue::String(s.clone()),
    };
    let (name, args) = match command {
        Command::Operand(a) => {
            if piped.is_some() {
                return Err(TemplateError("can't pipe into an operand".into()));
            }
            return Ok(arg_value(a));
        }
        Command::Call(name, args) => (name.as_str(), args),
    };
    let mut values: Vec<OValue> = args.iter().map(arg_value).collect();
    values.extend(piped);
    let one = |values: &[OValue]| -> Result<OValue, TemplateError> {
        match values {
            [v] => Ok(v.clone()),
            _ => Err(TemplateError(format!(
                "wrong number of args for {name}: want 1 got {}",
                values.len()
            ))),
        }
    };
    Ok(match name {
        "json" => OValue::String(serde_json::to_string(&one(&values)?).unwrap_or_default()),
        "upper" => OValue::String(go_string(&one(&values)?).to_uppercase()),
        "lower" => OValue::String(go_string(&one(&values)?).to_lowercase()),
        "title" => {
            let s = go_string(&one(&values)?);
            let mut c = s.chars();
            OValue::String(
                c.next()
                    .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect()),
            )
        }
        "println" => {
            OValue::String(values.iter().map(go_string).collect::<Vec<_>>().join(" ") + "\n")
        }
        "index" => match values.as_slice() {
            [OValue::Object(map), OValue::String(k)] => map
                .iter()
                .find(|(key, _)| key == k)
                .map_or(OValue::Null, |(_, v)| v.clone()),
            [OValue::Array(list), OValue::String(i)] => i
                .parse::<usize>()
                .ok()
                .and_then(|i| list.get(i).cloned())
                .unwrap_or(OValue::Null),
            _ => return Err(TemplateError("index: unsupported arguments".into())),
        },
        "join" => match values.as_slice() {
            [OValue::Array(list), OValue::String(sep)] => {
                OValue::String(list.iter().map(go_string).collect::<Vec<_>>().join(sep))
            }
            [OValue::Null, OValue::String(_)] => OValue::String(String::new()),
            _ => return Err(TemplateError("join: want a list and a separator".into())),
        },
        other => return Err(TemplateError(format!("function {other:?} not defined"))),
    })
}

/// `v` with the keys of every object sorted, as Go marshals a map.
pub(crate) fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort_keys(&map[k.as_str()])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// How Go prints a value with `{{.}}`: strings bare, lists as `[a b]`, maps as
/// `map[k:v]` (sorted keys), missing values as `<no value>`.
fn go_string(v: &OValue) -> String {
    match v {
        OValue::Null => "<no value>".to_owned(),
        OValue::String(s) => s.clone(),
        OValue::Bool(b) => b.to_string(),
        OValue::Number(n) => n.to_string(),
        OValue::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(go_string).collect::<Vec<_>>().join(" ")
            )
        }
        OValue::Object(map) => {
            let mut entries: Vec<&(String, OValue)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = String::from("map[");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:{}", go_string(v));
            }
            out.push(']');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_and_case_insensitive_lookup() {
        let v = json!({"Server": {"ApiVersion": "1.51", "Version": "0.1.0"}});
        assert_eq!(render("{{.Server.Version}}", &v), "0.1.0");
        assert_eq!(render("{{.Server.APIVersion}}", &v), "1.51");
        assert_eq!(render("v={{ .Server.Version }}!", &v), "v=0.1.0!");
        assert_eq!(render("{{.Missing}}", &v), "<no value>");
    }

    #[test]
    fn json_and_functions() {
        let v = json!({"A": ["x", "y"], "M": {"k": "v"}, "N": 3});
        assert_eq!(
            render("{{json .}}", &v),
            r#"{"A":["x","y"],"M":{"k":"v"},"N":3}"#
        );
        assert_eq!(render("{{json .A}}", &v), r#"["x","y"]"#);
        assert_eq!(render("{{.A | json}}", &v), r#"["x","y"]"#);
        assert_eq!(render(r#"{{join .A ", "}}"#, &v), "x, y");
        assert_eq!(render(r#"{{index .M "k"}}"#, &v), "v");
        assert_eq!(render("{{.A}} {{.M}} {{.N}}", &v), "[x y] map[k:v] 3");
    }

    #[test]
    fn rows_sort_their_keys() {
        let mut m = serde_json::Map::new();
        m.insert("Subnet".into(), json!("10.0.0.0/24"));
        m.insert("Gateway".into(), json!("10.0.0.1"));
        let t = Template::parse("{{json .}}").unwrap();
        assert_eq!(
            t.render(&Value::Object(m)).unwrap(),
            r#"{"Gateway":"10.0.0.1","Subnet":"10.0.0.0/24"}"#
        );
    }

    #[test]
    fn objects_keep_their_order() {
        let v: OValue = serde_json::from_str(
            r#"{"IPAM":{"Config":[{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}]}}"#,
        )
        .unwrap();
        let t = Template::parse("{{json .IPAM.Config}}").unwrap();
        assert_eq!(
            t.render_ordered(&v).unwrap(),
            r#"[{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}]"#
        );
    }

    #[test]
    fn fields_read() {
        let t = Template::parse("{{.ID}}\t{{json .Labels}} {{.Names | upper}}").unwrap();
        let want: Vec<&str> = vec!["id", "labels", "names"];
        assert_eq!(
            t.fields()
                .unwrap()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            want
        );
        assert_eq!(Template::parse("{{json .}}").unwrap().fields(), None);
        assert_eq!(
            Template::parse("plain").unwrap().fields(),
            Some(Default::default())
        );
    }

    #[test]
    fn trim_markers() {
        let v = json!({"A": "a"});
        assert_eq!(render("x  {{- .A -}}  y", &v), "xay");
    }

    #[test]
    fn unsupported_actions_are_errors() {
        for t in ["{{range .A}}", "{{if .A}}", "{{$x := .A}}", "{{.A", "{{}}"] {
            assert!(Template::parse(t).is_err(), "{t}");
        }
    }
}
