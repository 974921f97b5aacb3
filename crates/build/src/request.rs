//! What a build is asked to do and what it returns: the API layer fills a
//! [`BuildRequest`] from `POST /build`'s query, the builder's `build`
//! function runs it against a [`crate::StepExecutor`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::executor::{ExecError, ImageState};

/// One build (`docker build` flags as `POST /build` carries them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildRequest {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its path in the context as the user named it (`-f`, default
    /// `Dockerfile`), for messages.
    pub dockerfile_name: String,
    /// The unpacked build context (a directory the engine owns; its
    /// `.dockerignore` was applied by the client when it made the tar).
    pub context: PathBuf,
    /// `--build-arg NAME=value` (the client resolves `--build-arg NAME` from
    /// its environment; a name it could not resolve is absent).
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to stop after (default: the last).
    pub target: Option<String>,
    /// `-t`: references to tag the result with.
    pub tags: Vec<String>,
    /// `--label`: labels added to the final image's config.
    pub labels: BTreeMap<String, String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: pull every base image even when present.
    pub pull: bool,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--network` for every RUN (`default`, `none`, `host`).
    pub network: Option<String>,
}

/// A finished build.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildResult {
    /// The final image (its `id` is always set).
    pub image: ImageState,
}

/// Why a build stopped. The text is what the user sees, in Docker's words
/// where Docker has them (`dockerfile parse error on line 3: unknown
/// instruction: FOO`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse, or an instruction's arguments are
    /// wrong.
    #[error("dockerfile parse error on line {line}: {message}")]
    Parse {
        /// 1-based line in the Dockerfile.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A request that cannot be built (no FROM, unknown `--target`, ...).
    #[error("{0}")]
    Invalid(String),
    /// A step the engine could not carry out.
    #[error(transparent)]
    Exec(#[from] ExecError),
}
