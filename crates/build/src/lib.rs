//! `berth-build` turns a Dockerfile and a build context into an image, the
//! way Docker's classic builder does (`docker build` with
//! `DOCKER_BUILDKIT=0`, and what the docker CLI uses against a daemon that
//! reports `Builder-Version: 1`).
//!
//! The crate decides *what* to do and never touches containers itself:
//! parsing, `ARG`/`ENV` expansion, stages and `--target`, the image config
//! each instruction produces, cache keys and the progress text are here;
//! running a `RUN` step, copying files into an image and committing layers
//! are the engine's, behind the [`StepExecutor`] trait
//! (`berth-engine`'s `build` module implements it). So everything in this
//! crate is unit-testable with an in-memory executor.
//!
//! ```text
//! Dockerfile text --parse--> Dockerfile { stages, global ARGs }
//!     --plan (target, build args)--> the stages to build, in order
//!     --per instruction: expand, cache key, executor call--> ImageState
//!     --> the last stage's image, tagged
//! ```

pub mod args;
pub mod builder;
pub mod cache;
pub mod context;
pub mod executor;
pub mod expand;
pub mod gofmt;
pub mod instructions;
pub mod parser;
pub mod request;

pub use builder::build;
pub use executor::{CopySource, CopyStep, ExecError, ImageState, Progress, RunStep, StepExecutor};
pub use instructions::{Dockerfile, parse};
pub use request::{BuildError, BuildRequest, BuildResult};
