//! Error and debug logging the way runc does it: `--log FILE` receives one
//! line per message, in `--log-format text` or `json`
//! (`{"level":"error","msg":"...","time":"..."}`, which containerd's runc
//! shim reads back to report why a command failed). Errors always go to
//! stderr as well.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub(crate) enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone)]
pub(crate) struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    pub(crate) fn new(file: Option<&Path>, format: LogFormat, debug: bool) -> Self {
        Self {
            file: file.map(Path::to_path_buf),
            format,
            debug,
        }
    }

    pub(crate) fn error(&self, msg: &str) {
        let _ = writeln!(std::io::stderr(), "berth-runtime: error: {msg}");
        self.write("error", msg);
    }

    /// Written only with `--debug`, and only to `--log`.
    pub(crate) fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    pub(crate) fn warn(&self, msg: &str) {
        let _ = writeln!(std::io::stderr(), "berth-runtime: warning: {msg}");
        self.write("warning", msg);
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let time = berth_runtime::state::now_rfc3339();
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}"),
        };
        if let Ok(mut f) = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
