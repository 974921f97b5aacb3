//! Build arguments as Docker's classic builder keeps them
//! (`builder/dockerfile/buildargs.go`): the values given with
//! `--build-arg`, the `ARG`s declared in the current stage ("allowed"),
//! the global `ARG`s before the first `FROM` ("meta"), and which names the
//! Dockerfile referenced (for the "not consumed" warning).

use std::collections::{BTreeMap, BTreeSet};

/// Build args every Dockerfile may use without declaring them.
pub const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn is_builtin(key: &str) -> bool {
    BUILTIN_ARGS.contains(&key)
}

/// The build args of a build, or of one stage (see [`BuildArgs::for_stage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    options: BTreeMap<String, String>,
    allowed: BTreeMap<String, Option<String>>,
    meta: BTreeMap<String, Option<String>>,
    referenced: BTreeSet<String>,
}

impl BuildArgs {
    /// From `--build-arg` values.
    pub fn new(options: &BTreeMap<String, String>) -> Self {
        Self {
            options: options.clone(),
            ..Self::default()
        }
    }

    /// A copy for a new stage: the global args stay known (for `ARG name`
    /// without a default), but none is in scope until the stage declares it.
    pub fn for_stage(&self) -> Self {
        Self {
            allowed: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// `ARG key[=value]` in a stage (or globally, with [`Self::add_meta_arg`]).
    pub fn add_arg(&mut self, key: &str, value: Option<String>) {
        self.allowed.insert(key.to_owned(), value);
        self.referenced.insert(key.to_owned());
    }

    /// A global `ARG` (before the first `FROM`).
    pub fn add_meta_arg(&mut self, key: &str, value: Option<String>) {
        self.meta.insert(key.to_owned(), value);
    }

    /// Remembers the names another stage referenced.
    pub fn merge_referenced(&mut self, other: &Self) {
        self.referenced.extend(other.referenced.iter().cloned());
    }

    fn get(&self, key: &str, mapping: &BTreeMap<String, Option<String>>) -> Option<String> {
        let default = mapping.get(key);
        if let Some(v) = self.options.get(key) {
            return Some(v.clone());
        }
        match default {
            Some(Some(v)) => Some(v.clone()),
            _ => match self.meta.get(key) {
                Some(Some(v)) => Some(v.clone()),
                _ => None,
            },
        }
    }

    fn all_from(&self, mapping: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let keys = mapping
            .keys()
            .map(String::as_str)
            .chain(BUILTIN_ARGS.iter().copied());
        for key in keys {
            if let Some(v) = self.get(key, mapping) {
                out.insert(key.to_owned(), v);
            }
        }
        out
    }

    /// The args in scope in this stage, with their values.
    pub fn all_allowed(&self) -> BTreeMap<String, String> {
        self.all_from(&self.allowed)
    }

    /// The global args, with their values (what `FROM` expands with).
    pub fn all_meta(&self) -> BTreeMap<String, String> {
        self.all_from(&self.meta)
    }

    /// `k=v` for every arg in scope that `env` (the image's `Env`) does not
    /// override, sorted.
    pub fn filter_allowed(&self, env: &[String]) -> Vec<String> {
        let names: BTreeSet<&str> = env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        self.all_allowed()
            .into_iter()
            .filter(|(k, _)| !names.contains(k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Whether a `RUN`'s history shows this arg: every arg but an
    /// unreferenced proxy variable.
    pub fn is_referenced_or_not_builtin(&self, key: &str) -> bool {
        self.referenced.contains(key) || !is_builtin(key)
    }

    /// `--build-arg`s the Dockerfile never declared, sorted.
    pub fn unused(&self) -> Vec<String> {
        self.options
            .keys()
            .filter(|k| !is_builtin(k) && !self.referenced.contains(*k))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoping() {
        let opts: BTreeMap<String, String> = [
            ("V".to_owned(), "cli".to_owned()),
            ("HTTP_PROXY".to_owned(), "p".to_owned()),
            ("X".to_owned(), "x".to_owned()),
        ]
        .into();
        let mut g = BuildArgs::new(&opts);
        g.add_arg("G", Some("g".into()));
        g.add_meta_arg("G", Some("g".into()));
        assert_eq!(g.all_meta().get("G").map(String::as_str), Some("g"));
        let mut s = g.for_stage();
        // Not in scope until declared; builtins always are.
        assert_eq!(s.all_allowed().get("G"), None);
        assert_eq!(
            s.all_allowed().get("HTTP_PROXY").map(String::as_str),
            Some("p")
        );
        s.add_arg("G", None);
        assert_eq!(s.all_allowed().get("G").map(String::as_str), Some("g"));
        s.add_arg("V", Some("default".into()));
        assert_eq!(s.all_allowed().get("V").map(String::as_str), Some("cli"));
        assert_eq!(
            s.filter_allowed(&["V=env".into()]),
            vec!["G=g", "HTTP_PROXY=p"]
        );
        assert!(!s.is_referenced_or_not_builtin("HTTP_PROXY"));
        g.merge_referenced(&s);
        assert_eq!(g.unused(), vec!["X"]);
    }
}
