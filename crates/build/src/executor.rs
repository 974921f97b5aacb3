//! The boundary between the builder (this crate) and the engine, which
//! runs containers and writes layers.
//!
//! The builder calls these in instruction order, one stage after another.
//! Every method that makes an image gets the step's cache key; the engine
//! remembers key -> image so that [`StepExecutor::cached`] finds it on the
//! next build (the builder never calls `cached` with `--no-cache`).

use berth_image::spec::{ContainerConfig, History, ImageConfig};

/// An image as the builder sees it between steps.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageState {
    /// The image ID (`sha256:<hex>`), or `None` for `FROM scratch` before
    /// any step has committed.
    pub id: Option<String>,
    /// Its config: `config.config` holds ENV, WORKDIR, USER, ... that the
    /// next steps start from; `history` and `rootfs` as stored.
    pub config: ImageConfig,
}

impl ImageState {
    /// The empty image of `FROM scratch` for the host's platform.
    pub fn scratch() -> Self {
        Self {
            id: None,
            config: ImageConfig {
                architecture: berth_image::spec::host_architecture().to_owned(),
                os: "linux".to_owned(),
                config: Some(ContainerConfig::default()),
                ..ImageConfig::default()
            },
        }
    }

    /// The container config the next step runs with.
    pub fn container_config(&self) -> ContainerConfig {
        self.config.config.clone().unwrap_or_default()
    }
}

/// A `RUN` step, fully expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStep {
    /// The process to run: exec form as written, shell form already wrapped
    /// in the stage's `SHELL` (default `["/bin/sh", "-c", line]`).
    pub argv: Vec<String>,
    /// The environment of the process: the image's `Env` plus the build
    /// args in scope that are not overridden by `ENV` (Docker passes those
    /// to RUN but does not store them in the image).
    pub env: Vec<String>,
    /// The config the committed image gets (the parent's, unchanged by
    /// RUN; user, working dir and env of the process come from it).
    pub config: ContainerConfig,
    /// The history entry of the committed image (`created_by` as Docker's
    /// classic builder writes it: `/bin/sh -c echo hi`, with `|N a=b ...`
    /// in front for build args; `author` set after a `MAINTAINER`, which
    /// Docker also copies into the image config's `author`).
    pub history: History,
    /// `--network` of RUN or of the build (`default`, `none`, `host`).
    pub network: Option<String>,
    /// The step's cache key, to record with the result.
    pub cache_key: String,
}

/// Where a `COPY`/`ADD` reads its sources from.
#[derive(Debug, Clone, PartialEq)]
pub enum CopySource {
    /// The build context (a directory the engine unpacked, `.dockerignore`
    /// already applied by the builder's matching).
    Context,
    /// Another stage's result, or an image (`COPY --from=name`).
    Image(Box<ImageState>),
}

/// A `COPY` or `ADD` step, fully expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyStep {
    /// Where the sources are.
    pub from: CopySource,
    /// The source paths relative to the source root, already matched
    /// against the context (no wildcards left, `.dockerignore` applied) for
    /// [`CopySource::Context`]; as written (wildcards allowed, matched by
    /// the executor inside the image) for [`CopySource::Image`].
    pub sources: Vec<String>,
    /// Remote sources of `ADD` (http/https URLs).
    pub urls: Vec<String>,
    /// The destination, absolute (relative ones already joined to WORKDIR);
    /// a trailing `/` means "into this directory".
    pub dest: String,
    /// `--chown=user[:group]`, resolved by the executor against the
    /// image's /etc/passwd and /etc/group.
    pub chown: Option<String>,
    /// `--chmod=` as an octal mode.
    pub chmod: Option<u32>,
    /// `ADD`: unpack local tar archives (plain, gzip, bzip2, xz) into `dest`.
    pub extract_archives: bool,
    /// The config of the committed image (the parent's).
    pub config: ContainerConfig,
    /// History entry (`COPY file:<hash> in /dest` style, as Docker writes).
    pub history: History,
    /// The step's cache key, to record with the result.
    pub cache_key: String,
}

/// Build output that is not an error: the classic builder's text stream
/// (`Step 1/3 : FROM busybox`, ` ---> 1a2b3c4d5e6f`, the RUN process's own
/// output, ...). The API layer turns each piece into a `{"stream": ...}`
/// message.
pub trait Progress {
    /// Text to show, as is (it carries its own newlines).
    fn text(&mut self, text: &str);
}

impl Progress for Vec<u8> {
    fn text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

/// A step the engine could not carry out. The message is shown to the
/// user as the build's error, so it says what failed and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// `RUN` exited non-zero; Docker's text:
    /// `The command '/bin/sh -c false' returned a non-zero code: 1`.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    CommandFailed {
        /// The argv joined with spaces.
        command: String,
        /// Its exit code.
        code: i64,
    },
    /// A base image or `--from` image that does not exist and cannot be
    /// pulled.
    #[error("{0}")]
    ImageNotFound(String),
    /// A COPY/ADD source that does not exist or leaves its root.
    #[error("{0}")]
    Source(String),
    /// The build was cancelled (the client went away).
    #[error("build cancelled")]
    Cancelled,
    /// Anything else (I/O, the store).
    #[error("{0}")]
    Other(String),
}

/// What the builder needs the engine to do. Implemented by `berth-engine`.
pub trait StepExecutor {
    /// `FROM <reference>` (not `scratch`, which the builder handles with
    /// [`ImageState::scratch`]): the local image, pulled when missing or
    /// always when `pull` is set (`docker build --pull`).
    fn base_image(
        &mut self,
        reference: &str,
        platform: Option<&str>,
        pull: bool,
        progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError>;

    /// A previously built image for this cache key whose parent is
    /// `parent`, if the store still has one.
    fn cached(
        &mut self,
        parent: &ImageState,
        cache_key: &str,
    ) -> Result<Option<ImageState>, ExecError>;

    /// `RUN`: runs the step in a container made from `parent` and commits
    /// its changes. Writes the process's output and Docker's
    /// ` ---> Running in <id>` / `Removing intermediate container` lines to
    /// `progress`.
    fn run(
        &mut self,
        parent: &ImageState,
        step: &RunStep,
        progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError>;

    /// `COPY`/`ADD`: copies the sources on top of `parent` and commits.
    fn copy(
        &mut self,
        parent: &ImageState,
        step: &CopyStep,
        context: &std::path::Path,
        progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError>;

    /// A step that changes only the config (ENV, LABEL, CMD, WORKDIR, ...):
    /// a new image with `parent`'s layers, `config`, and `history` appended
    /// (with `empty_layer: true`). `mkdir` is `WORKDIR`'s directory: the
    /// engine creates it when the parent lacks it (owned by root, mode
    /// 0755, as Docker's classic builder does), and then the image gets a
    /// layer holding it and the history entry is not empty.
    fn commit_config(
        &mut self,
        parent: &ImageState,
        config: ContainerConfig,
        history: History,
        mkdir: Option<&str>,
        cache_key: &str,
    ) -> Result<ImageState, ExecError>;

    /// Gives the final image its tags (`-t`, each normalised like
    /// `docker tag`).
    fn tag(&mut self, image: &ImageState, reference: &str) -> Result<(), ExecError>;
}
