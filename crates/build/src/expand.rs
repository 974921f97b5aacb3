//! Variable expansion in Dockerfile words, the way Docker's shell lexer
//! (`frontend/dockerfile/shell/lex.go`) does it: `$VAR`, `${VAR}`,
//! `${VAR:-word}`, `${VAR:+word}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR%pat}`,
//! `${VAR/pat/repl}`, single and double quotes, and the escape token
//! (`\` or the backtick set by `# escape=`).
//!
//! Which instructions expand, and from what, is the builder's business; this
//! module only turns a word and an environment into a string.

use std::collections::BTreeMap;

/// An environment for expansion: `NAME -> value`, later entries winning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// From `NAME=value` entries (an entry without `=` is an empty variable).
    pub fn from_list<S: AsRef<str>>(list: &[S]) -> Self {
        let mut vars = BTreeMap::new();
        for entry in list {
            let entry = entry.as_ref();
            match entry.split_once('=') {
                Some((k, v)) => vars.insert(k.to_owned(), v.to_owned()),
                None => vars.insert(entry.to_owned(), String::new()),
            };
        }
        Self { vars }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Sets `name`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }
}

/// Why a word could not be expanded; the text is Docker's
/// (`failed to process "${a": syntax error: missing '}'`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word}: {message}", word = crate::gofmt::quote(.word))]
pub struct ExpandError {
    /// The word as written.
    pub word: String,
    /// What is wrong with it.
    pub message: String,
}

/// The lexer, with its escape token.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    escape: char,
}

impl Default for Lex {
    fn default() -> Self {
        Self { escape: '\\' }
    }
}

impl Lex {
    /// A lexer using `escape` (`\` or `` ` ``).
    pub fn new(escape: char) -> Self {
        Self { escape }
    }

    /// Expands `word` into one string (quotes removed, spaces kept).
    pub fn process_word(&self, word: &str, env: &Env) -> Result<String, ExpandError> {
        self.process(word, env).map(|(s, _)| s)
    }

    /// Expands `word` and splits the result into words on unquoted white
    /// space (what `EXPOSE` uses).
    pub fn process_words(&self, word: &str, env: &Env) -> Result<Vec<String>, ExpandError> {
        self.process(word, env).map(|(_, w)| w)
    }

    fn process(&self, word: &str, env: &Env) -> Result<(String, Vec<String>), ExpandError> {
        let mut sw = ShellWord {
            chars: word.chars().collect(),
            pos: 0,
            escape: self.escape,
            env,
            raw_escapes: false,
        };
        sw.process_stop_on(None, false)
            .map_err(|message| ExpandError {
                word: word.to_owned(),
                message,
            })
    }
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct ShellWord<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a Env,
    raw_escapes: bool,
}

type Res<T> = Result<T, String>;

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Res<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let tmp = self.process_dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&tmp);
                }
                '\'' => {
                    let tmp = self.process_single_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '"' => {
                    let tmp = self.process_double_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                _ => {
                    let mut ch = ch;
                    self.next();
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => ch = c,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        self.next();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_owned(),
                    );
                }
                Some('\'') => return Ok(result),
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        self.next();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_owned(),
                    );
                }
                Some('"') => {
                    self.next();
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let Some(mut ch) = self.next() else {
                        continue;
                    };
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&self, name: &str) -> Option<String> {
        self.env.get(name).map(str::to_owned)
    }

    fn process_dollar(&mut self) -> Res<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.get_env(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_owned()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_owned()),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(first) = self.next() else {
            return Err("syntax error: missing '}'".to_owned());
        };
        let mut chs = first.to_string();
        match first {
            '}' => Ok(self.get_env(&name).unwrap_or_default()),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let mut ch = first;
                let mut null_is_unset = false;
                if first == ':' {
                    null_is_unset = true;
                    match self.next() {
                        Some(c) => {
                            ch = c;
                            chs.push(c);
                        }
                        None => return Err("syntax error: missing '}'".to_owned()),
                    }
                }
                let raw = ch == '#' || ch == '%';
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".to_owned());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                let empty =
                    |v: &Option<String>| v.as_deref().is_none_or(|v| null_is_unset && v.is_empty());
                match ch {
                    '-' => Ok(if empty(&value) {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if empty(&value) { String::new() } else { word }),
                    '?' => match value {
                        None => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        )),
                        Some(v) if null_is_unset && v.is_empty() => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            }
                        )),
                        Some(v) => Ok(v),
                    },
                    '%' | '#' => {
                        let mut word = word;
                        let greedy = word.starts_with(ch);
                        if greedy {
                            word.remove(0);
                        }
                        let value = value.unwrap_or_default();
                        let pat = Pattern::compile(&word).map_err(|e| {
                            format!("invalid pattern ({word}) in substitution: {e}")
                        })?;
                        Ok(if ch == '%' {
                            pat.trim_suffix(&value, greedy)
                        } else {
                            pat.trim_prefix(&value, greedy)
                        })
                    }
                    _ => Err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            '/' => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".to_owned());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".to_owned());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name).unwrap_or_default();
                let pat = Pattern::compile(&pattern)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(pat.replace(&value, &replacement, replace_all))
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(c) = self.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }
}

/// A shell pattern of `${VAR#pat}` and friends: `*`, `?` and literals (no
/// bracket expressions, as in Docker).
#[derive(Debug, Clone)]
struct Pattern(Vec<Tok>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

impl Pattern {
    fn compile(p: &str) -> Result<Self, String> {
        let chars: Vec<char> = p.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => out.push(Tok::Star),
                '?' => out.push(Tok::Any),
                '\\' => match chars.get(i) {
                    Some('}' | '/') => {}
                    Some(&n @ ('*' | '?' | '\\')) => {
                        out.push(Tok::Lit(n));
                        i += 1;
                    }
                    Some(&n) => return Err(format!("invalid escape '\\{n}'")),
                    None => return Err("invalid escape '\\'".to_owned()),
                },
                _ => out.push(Tok::Lit(c)),
            }
        }
        Ok(Self(out))
    }

    /// Whether the whole of `s` matches (dynamic programming, so a pattern
    /// full of `*` cannot make it exponential).
    fn matches(&self, s: &[char]) -> bool {
        // row[j]: the pattern so far matches s[..j].
        let mut row = vec![false; s.len() + 1];
        row[0] = true;
        for tok in &self.0 {
            let mut next = vec![false; s.len() + 1];
            match tok {
                Tok::Star => {
                    let mut any = false;
                    for j in 0..=s.len() {
                        any |= row[j];
                        next[j] = any;
                    }
                }
                Tok::Any => {
                    next[1..].copy_from_slice(&row[..s.len()]);
                }
                Tok::Lit(c) => {
                    for j in 1..=s.len() {
                        next[j] = row[j - 1] && s[j - 1] == *c;
                    }
                }
            }
            row = next;
        }
        row[s.len()]
    }

    fn trim_prefix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let lens: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new((0..=v.len()).rev())
        } else {
            Box::new(0..=v.len())
        };
        for k in lens {
            if self.matches(&v[..k]) {
                return v[k..].iter().collect();
            }
        }
        value.to_owned()
    }

    fn trim_suffix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let starts: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new(0..=v.len())
        } else {
            Box::new((0..=v.len()).rev())
        };
        for k in starts {
            if self.matches(&v[k..]) {
                return v[..k].iter().collect();
            }
        }
        value.to_owned()
    }

    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut done = false;
        while i <= v.len() {
            let found = if done {
                None
            } else {
                (i..=v.len()).rev().find(|&j| self.matches(&v[i..j]))
            };
            match found {
                Some(j) => {
                    out.push_str(replacement);
                    if !all {
                        done = true;
                    }
                    if j == i {
                        if let Some(c) = v.get(i) {
                            out.push(*c);
                        }
                        i += 1;
                    } else {
                        i = j;
                    }
                }
                None => {
                    if let Some(c) = v.get(i) {
                        out.push(*c);
                    }
                    i += 1;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::from_list(&["A=a", "EMPTY=", "PATH=/usr/bin:/bin", "SP=x y"])
    }

    fn w(s: &str) -> String {
        Lex::default().process_word(s, &env()).unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(w("$A"), "a");
        assert_eq!(w("${A}"), "a");
        assert_eq!(w("x${A}y"), "xay");
        assert_eq!(w("$A-$A"), "a-a");
        assert_eq!(w("$NOPE"), "");
        assert_eq!(w("$"), "$");
        assert_eq!(w("a$"), "a$");
        assert_eq!(w("$1x"), "x");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${A:-d}"), "a");
        assert_eq!(w("${NOPE:-d}"), "d");
        assert_eq!(w("${EMPTY:-d}"), "d");
        assert_eq!(w("${EMPTY-d}"), "");
        assert_eq!(w("${NOPE-d}"), "d");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${EMPTY:+alt}"), "");
        assert_eq!(w("${EMPTY+alt}"), "alt");
        assert_eq!(w("${NOPE:+alt}"), "");
        assert_eq!(w("${NOPE:-$A}"), "a");
        assert_eq!(w("${PATH#*:}"), "/bin");
        assert_eq!(w("${PATH%:*}"), "/usr/bin");
        assert_eq!(w("${PATH##*/}"), "bin");
        assert_eq!(w("${PATH%%/*}"), "");
        assert_eq!(w("${PATH/bin/sbin}"), "/usr/sbin:/bin");
        assert_eq!(w("${PATH//bin/sbin}"), "/usr/sbin:/sbin");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A\""), "a");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"\\$A\""), "$A");
        assert_eq!(w("\"a\\b\""), "a\\b");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("\"x y\""), "x y");
    }

    #[test]
    fn backtick_escape() {
        let l = Lex::new('`');
        assert_eq!(l.process_word("`$A", &env()).unwrap(), "$A");
        assert_eq!(l.process_word("c:\\dir", &env()).unwrap(), "c:\\dir");
    }

    #[test]
    fn words_split_after_expansion() {
        let l = Lex::default();
        assert_eq!(l.process_words("$SP", &env()).unwrap(), vec!["x", "y"]);
        assert_eq!(l.process_words("\"$SP\"", &env()).unwrap(), vec!["x y"]);
        assert_eq!(
            l.process_words("80 443", &env()).unwrap(),
            vec!["80", "443"]
        );
    }

    #[test]
    fn errors() {
        let l = Lex::default();
        let e = l.process_word("${A", &env()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to process \"${A\": syntax error: missing '}'"
        );
        let e = l.process_word("${}", &env()).unwrap_err();
        assert_eq!(e.message, "syntax error: bad substitution");
        let e = l.process_word("'abc", &env()).unwrap_err();
        assert_eq!(
            e.message,
            "unexpected end of statement while looking for matching single-quote"
        );
        let e = l.process_word("${NOPE?must be set}", &env()).unwrap_err();
        assert_eq!(e.message, "NOPE: must be set");
        let e = l.process_word("${A!x}", &env()).unwrap_err();
        assert_eq!(e.message, "unsupported modifier (!) in substitution");
    }
}
