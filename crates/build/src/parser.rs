//! The line-level Dockerfile parser, following Docker's
//! (`frontend/dockerfile/parser`): parser directives (`# escape=`,
//! `# syntax=`), comments, blank lines, line continuations (comment lines
//! inside a continuation are dropped), the instruction word, builder flags
//! (`--from=...`) and each instruction's argument shape (JSON array or
//! shell form, `name=value` pairs, words).
//!
//! Its output, [`Node`], is untyped; [`crate::instructions`] turns nodes
//! into typed instructions and checks their arguments.

use crate::request::BuildError;

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction word, lower-cased (`run`, `from`, ...).
    pub cmd: String,
    /// Builder flags as written (`--from=build`).
    pub flags: Vec<String>,
    /// The arguments (see each instruction for their shape; for `ONBUILD`
    /// the trigger's words, the first being its instruction).
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The logical line (continuations joined, comments dropped).
    pub original: String,
    /// 1-based first line.
    pub start_line: usize,
    /// 1-based last line.
    pub end_line: usize,
    /// `ONBUILD`'s trigger.
    pub sub: Option<Box<Node>>,
}

/// A parsed file: its escape token and instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// `\` unless `# escape=` said otherwise.
    pub escape: char,
    /// The instructions, in order.
    pub nodes: Vec<Node>,
    /// Parser warnings (empty continuation lines), Docker's text.
    pub warnings: Vec<String>,
}

struct Directives {
    escape: char,
    done: bool,
    seen_escape: bool,
    seen_syntax: bool,
}

impl Directives {
    /// Looks at a line for a parser directive while directives are still
    /// allowed (before any instruction, comment or blank line).
    fn possible_directive(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "escape" => {
                if self.seen_escape {
                    return Err("only one escape parser directive can be used".to_owned());
                }
                self.seen_escape = true;
                match value {
                    "\\" => self.escape = '\\',
                    "`" => self.escape = '`',
                    other => {
                        return Err(format!(
                            "invalid escape token '{other}' does not match ` or \\"
                        ));
                    }
                }
            }
            "syntax" => {
                if self.seen_syntax {
                    return Err("only one syntax parser directive can be used".to_owned());
                }
                self.seen_syntax = true;
            }
            _ => self.done = true,
        }
        Ok(())
    }
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_end];
    if !key.chars().next()?.is_ascii_alphabetic() {
        return None;
    }
    let rest = rest[key_end..].trim_start().strip_prefix('=')?;
    let value = rest.trim();
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing continuation (`\` then spaces/tabs at the end).
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(stripped) = trimmed.strip_suffix(escape) {
        (stripped.to_owned(), false)
    } else {
        (line.to_owned(), true)
    }
}

fn parse_error(line: usize, message: impl Into<String>) -> BuildError {
    BuildError::Parse {
        line,
        message: message.into(),
    }
}

/// Parses a Dockerfile's text into nodes.
pub fn parse_ast(text: &str) -> Result<Ast, BuildError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = Directives {
        escape: '\\',
        done: false,
        seen_escape: false,
        seen_syntax: false,
    };
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    // `split` yields a last empty piece for a trailing newline; bufio's
    // scanner does not.
    let line_count = if text.ends_with('\n') || text.is_empty() {
        lines.len() - 1
    } else {
        lines.len()
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < line_count {
        let raw = lines[i];
        let trimmed = raw.trim_start();
        d.possible_directive(trimmed)
            .map_err(|e| parse_error(i + 1, e))?;
        let processed = if trimmed.starts_with('#') {
            ""
        } else {
            trimmed
        };
        i += 1;
        let start_line = i;
        let (mut line, mut end) = trim_continuation(processed, d.escape);
        if end && line.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !end && i < line_count {
            let raw = lines[i];
            d.possible_directive(raw)
                .map_err(|e| parse_error(i + 1, e))?;
            i += 1;
            if is_comment(raw) {
                continue;
            }
            if raw.trim().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (cont, e) = trim_continuation(raw, d.escape);
            end = e;
            line.push_str(&cont);
        }
        if empty_continuation {
            warnings.push(format!(
                "[WARNING]: Empty continuation line found in:\n    {line}"
            ));
        }
        let node = node_from_line(&line, d.escape, start_line, i)?;
        nodes.push(node);
    }
    if !warnings.is_empty() {
        warnings.push(
            "[WARNING]: Empty continuation lines will become errors in a future release."
                .to_owned(),
        );
    }
    if nodes.is_empty() {
        return Err(parse_error(line_count, "file with no instructions"));
    }
    Ok(Ast {
        escape: d.escape,
        nodes,
        warnings,
    })
}

/// Parses one instruction line (an `ONBUILD` trigger, the builder's
/// `--label` line).
pub fn parse_line(line: &str, escape: char, line_no: usize) -> Result<Node, BuildError> {
    node_from_line(line, escape, line_no, line_no)
}

fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

fn node_from_line(
    line: &str,
    escape: char,
    start_line: usize,
    end_line: usize,
) -> Result<Node, BuildError> {
    let trimmed = line.trim();
    let (cmd, rest) = match trimmed.find(is_ws) {
        Some(p) => (&trimmed[..p], trimmed[p..].trim_start_matches(is_ws)),
        None => (trimmed, ""),
    };
    let cmd = cmd.to_lowercase();
    let (rest, flags) = extract_builder_flags(rest);
    let rest = rest.trim();
    let err = |m: String| parse_error(start_line, m);
    let mut node = Node {
        cmd: cmd.clone(),
        flags,
        args: Vec::new(),
        json: false,
        original: line.to_owned(),
        start_line,
        end_line,
        sub: None,
    };
    match cmd.as_str() {
        "add" | "copy" | "volume" => match parse_json(rest) {
            Json::Array(a) => {
                node.args = a;
                node.json = true;
            }
            Json::NotStrings => return Err(err(NOT_STRINGS.to_owned())),
            Json::No => node.args = split_whitespace(rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" => match parse_json(rest) {
            Json::Array(a) => {
                node.args = a;
                node.json = true;
            }
            Json::NotStrings => return Err(err(NOT_STRINGS.to_owned())),
            Json::No => {
                if !rest.is_empty() {
                    node.args = vec![rest.to_owned()];
                }
            }
        },
        "arg" => node.args = parse_words(rest, escape),
        "env" | "label" => {
            node.args = parse_name_val(rest, &cmd.to_uppercase(), escape).map_err(err)?;
        }
        "expose" | "from" => node.args = split_whitespace(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.to_owned()];
        }
        "healthcheck" => {
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep > 0 {
                node.args.push(rest[..sep].to_owned());
                let cmd_part = rest[sep..].trim_start();
                match parse_json(cmd_part) {
                    Json::Array(a) => {
                        node.args.extend(a);
                        node.json = true;
                    }
                    Json::NotStrings => return Err(err(NOT_STRINGS.to_owned())),
                    Json::No => {
                        if !cmd_part.is_empty() {
                            node.args.push(cmd_part.to_owned());
                        }
                    }
                }
            }
        }
        "onbuild" if !rest.is_empty() => {
            let child = node_from_line(rest, escape, start_line, end_line)?;
            node.args.push(child.cmd.clone());
            node.args.extend(child.args.iter().cloned());
            node.sub = Some(Box::new(child));
        }
        _ => {}
    }
    Ok(node)
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

enum Json {
    Array(Vec<String>),
    NotStrings,
    No,
}

fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Json::No;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Ok(values) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Array(out)
        }
        Err(_) => Json::No,
    }
}

fn split_whitespace(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_ws)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Words separated by white space; quotes and escapes are kept (expansion
/// removes them later), a quoted empty word counts.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    loop {
        let at_end = pos >= chars.len();
        let ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            let mut ch = ch;
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In a quote.
        let mut ch = ch;
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// `ENV`/`LABEL` arguments: `k=v ...` or the legacy `k v`, flattened to
/// `[k, v, k, v, ...]`.
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some(p) = rest.find(is_ws) else {
            return Err(format!("{key} must have two arguments"));
        };
        let name = &rest[..p];
        let value = rest[p..].trim_start_matches(is_ws);
        return Ok(vec![name.to_owned(), value.to_owned()]);
    }
    let mut out = Vec::with_capacity(words.len() * 2);
    for word in &words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                crate::gofmt::quote(word)
            ));
        };
        out.push(k.to_owned());
        out.push(v.to_owned());
    }
    Ok(out)
}

/// Splits leading `--flag[=value]` words off an instruction's arguments.
fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    let rest_from = |pos: usize| chars[pos..].iter().collect::<String>();
    loop {
        let at_end = pos >= chars.len();
        let ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || pos + 1 == chars.len() || chars[pos + 1] != '-' {
                return (rest_from(pos), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_from(pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut ch = ch;
            if ch == '\\' {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut ch = ch;
        if ch == '\\' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    (String::new(), words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_comments_and_case() {
        let ast = parse_ast(
            "# syntax=docker/dockerfile:1\nfrom busybox\n\n# a comment\nRUN echo a \\\n  # inside\n  && echo b\nrun [\"echo\", \"x\"]\n",
        )
        .unwrap();
        assert_eq!(ast.nodes.len(), 3);
        assert_eq!(ast.nodes[0].cmd, "from");
        assert_eq!(ast.nodes[0].start_line, 2);
        assert_eq!(ast.nodes[1].args, vec!["echo a   && echo b"]);
        assert_eq!(ast.nodes[1].start_line, 5);
        assert_eq!(ast.nodes[1].end_line, 7);
        assert!(!ast.nodes[1].json);
        assert!(ast.nodes[2].json);
        assert_eq!(ast.nodes[2].args, vec!["echo", "x"]);
    }

    #[test]
    fn escape_directive() {
        let ast = parse_ast("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n").unwrap();
        assert_eq!(ast.escape, '`');
        assert_eq!(ast.nodes[1].args, vec!["dir c:\\   && echo"]);
        // After an instruction a directive is a comment.
        let ast = parse_ast("FROM x\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(ast.escape, '\\');
        let e = parse_ast("# escape=x\nFROM x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\"
        );
    }

    #[test]
    fn flags() {
        let n = parse_line("COPY --from=build --chown=1:2 a b", '\\', 1).unwrap();
        assert_eq!(n.flags, vec!["--from=build", "--chown=1:2"]);
        assert_eq!(n.args, vec!["a", "b"]);
        let n = parse_line("COPY -- --x b", '\\', 1).unwrap();
        assert!(n.flags.is_empty());
        assert_eq!(n.args, vec!["--x", "b"]);
    }

    #[test]
    fn env_forms() {
        let n = parse_line("ENV a=1 b=\"x y\"", '\\', 1).unwrap();
        assert_eq!(n.args, vec!["a", "1", "b", "\"x y\""]);
        let n = parse_line("ENV a hello world", '\\', 1).unwrap();
        assert_eq!(n.args, vec!["a", "hello world"]);
        let e = parse_line("ENV a", '\\', 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: ENV must have two arguments"
        );
        let e = parse_line("ENV a=1 b", '\\', 1).unwrap_err();
        assert!(e.to_string().contains("can't find = in \"b\""));
    }

    #[test]
    fn onbuild_and_healthcheck() {
        let n = parse_line("ONBUILD RUN echo hi", '\\', 1).unwrap();
        assert_eq!(n.args, vec!["run", "echo hi"]);
        let n = parse_line("HEALTHCHECK --interval=5s CMD [\"curl\", \"x\"]", '\\', 1).unwrap();
        assert_eq!(n.flags, vec!["--interval=5s"]);
        assert_eq!(n.args, vec!["CMD", "curl", "x"]);
        assert!(n.json);
    }

    #[test]
    fn empty_file() {
        let e = parse_ast("# only a comment\n\n").unwrap_err();
        assert!(e.to_string().ends_with("file with no instructions"));
    }
}
