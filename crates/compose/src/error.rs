//! What can go wrong loading a project or running it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no configuration file found in `{dir}`\n\nhint: create `compose.yaml` there, or name one with `-f`"
    )]
    NoConfigFile { dir: PathBuf },
    #[error("`{file}` is not valid YAML: {message}")]
    Yaml { file: String, message: String },
    /// A key with a value compose cannot use.
    #[error("{}", invalid_message(file, service.as_deref(), key, message))]
    Invalid {
        file: String,
        service: Option<String>,
        key: String,
        message: String,
    },
    #[error("`{file}`: {message}")]
    Interpolation { file: String, message: String },
    #[error("no such service: `{0}`")]
    NoSuchService(String),
    #[error("dependency cycle between services: {0}")]
    Cycle(String),
    #[error("service `{service}` {message}")]
    Dependency { service: String, message: String },
    #[error("{what}: {source}")]
    Api {
        what: String,
        source: berth_api_client::Error,
    },
    #[error("{0}")]
    Output(std::io::Error),
}

fn invalid_message(file: &str, service: Option<&str>, key: &str, message: &str) -> String {
    match service {
        Some(s) => format!("`{file}`: service `{s}`: `{key}`: {message}"),
        None => format!("`{file}`: `{key}`: {message}"),
    }
}

/// `source` with what was being done.
pub(crate) fn api(what: impl Into<String>) -> impl FnOnce(berth_api_client::Error) -> Error {
    let what = what.into();
    move |source| Error::Api { what, source }
}
