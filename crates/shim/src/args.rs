//! The shim's command line. Parsed by hand: the shim is started by the
//! daemon with a fixed set of flags, and a flag parser would only add size.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::jsonlog::Rotation;

/// Errors in the command line.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("`{0}` needs a value")]
    MissingValue(String),
    #[error("unknown argument `{0}`")]
    Unknown(String),
    #[error("`{0}` is required")]
    Required(&'static str),
    #[error("invalid value `{value}` for `{flag}`: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
}

/// Everything the shim is told at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
    pub log_path: Option<PathBuf>,
    pub rotation: Rotation,
    /// Attributes added to every log record (`--log-attrs`, a JSON object
    /// of strings).
    pub log_attrs: BTreeMap<String, String>,
    pub stdin: bool,
    pub terminal: bool,
}

pub const USAGE: &str = "usage: berth-shim --id ID --bundle DIR --state-dir DIR --runtime-root DIR \
[--log-path FILE [--log-max-size BYTES] [--log-max-file N] [--log-attrs JSON]] [--stdin] [--terminal]";

impl Args {
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, ArgsError> {
        let mut id = None;
        let mut bundle = None;
        let mut state_dir = None;
        let mut runtime_root = None;
        let mut log_path = None;
        let mut rotation = Rotation::default();
        let mut log_attrs = BTreeMap::new();
        let mut stdin = false;
        let mut terminal = false;
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let arg = arg.to_string_lossy().into_owned();
            // Both `--flag value` and `--flag=value`.
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(OsString::from(v))),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<OsString, ArgsError> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => it
                        .next()
                        .ok_or_else(|| ArgsError::MissingValue(name.to_string())),
                }
            };
            match flag.as_str() {
                "--id" => id = Some(value(&flag)?.to_string_lossy().into_owned()),
                "--bundle" => bundle = Some(PathBuf::from(value(&flag)?)),
                "--state-dir" => state_dir = Some(PathBuf::from(value(&flag)?)),
                "--runtime-root" => runtime_root = Some(PathBuf::from(value(&flag)?)),
                "--log-path" => log_path = Some(PathBuf::from(value(&flag)?)),
                "--log-max-size" => {
                    rotation.max_size = number("--log-max-size", value(&flag)?)?;
                }
                "--log-max-file" => {
                    let n: u64 = number("--log-max-file", value(&flag)?)?;
                    rotation.max_file = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
                }
                "--log-attrs" => {
                    let text = value(&flag)?.to_string_lossy().into_owned();
                    log_attrs = serde_json::from_str(&text).map_err(|e| ArgsError::Invalid {
                        flag: "--log-attrs",
                        value: text.clone(),
                        reason: e.to_string(),
                    })?;
                }
                "--stdin" => stdin = true,
                "--terminal" => terminal = true,
                _ => return Err(ArgsError::Unknown(arg)),
            }
        }
        Ok(Self {
            id: id.ok_or(ArgsError::Required("--id"))?,
            bundle: bundle.ok_or(ArgsError::Required("--bundle"))?,
            state_dir: state_dir.ok_or(ArgsError::Required("--state-dir"))?,
            runtime_root: runtime_root.ok_or(ArgsError::Required("--runtime-root"))?,
            log_path,
            rotation,
            log_attrs,
            stdin,
            terminal,
        })
    }
}

fn number(flag: &'static str, value: OsString) -> Result<u64, ArgsError> {
    let text = value.to_string_lossy();
    text.parse()
        .map_err(|e: std::num::ParseIntError| ArgsError::Invalid {
            flag,
            value: text.into_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, ArgsError> {
        Args::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn full_command_line() {
        let a = parse(&[
            "--id",
            "c1",
            "--bundle",
            "/b",
            "--state-dir=/s",
            "--runtime-root",
            "/r",
            "--log-path",
            "/l.json",
            "--log-max-size",
            "1000",
            "--log-max-file",
            "3",
            "--log-attrs",
            r#"{"tag":"web","A":"1"}"#,
            "--stdin",
        ])
        .unwrap();
        assert_eq!(
            a.log_attrs.iter().collect::<Vec<_>>(),
            [
                (&"A".to_owned(), &"1".to_owned()),
                (&"tag".to_owned(), &"web".to_owned())
            ]
        );
        assert_eq!(a.id, "c1");
        assert_eq!(a.state_dir, PathBuf::from("/s"));
        assert_eq!(
            a.rotation,
            Rotation {
                max_size: 1000,
                max_file: 3
            }
        );
        assert!(a.stdin && !a.terminal);
    }

    #[test]
    fn errors_name_the_flag() {
        let e = parse(&["--id"]).unwrap_err().to_string();
        assert_eq!(e, "`--id` needs a value");
        let e = parse(&["--id", "x"]).unwrap_err().to_string();
        assert_eq!(e, "`--bundle` is required");
        let e = parse(&["--log-max-size", "1k"]).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid value `1k` for `--log-max-size`"),
            "{e}"
        );
        assert!(matches!(parse(&["--bogus"]), Err(ArgsError::Unknown(_))));
        let e = parse(&["--log-attrs", "[1]"]).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid value `[1]` for `--log-attrs`"),
            "{e}"
        );
    }
}
