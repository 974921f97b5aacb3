//! `berth-runtime`: berth's OCI runtime library.
//!
//! It turns an OCI bundle (a `config.json` and a root filesystem) into a
//! running, confined process, and manages it afterwards, the way runc does:
//! [`Runtime::create`] leaves the container's init blocked, [`Runtime::start`]
//! releases it, [`Runtime::kill`], [`Runtime::delete`], [`Runtime::exec`],
//! [`Runtime::ps`] and [`Runtime::state`] work on what is recorded under the
//! state root.
//!
//! ```no_run
//! use berth_runtime::{CreateOptions, Runtime};
//! let rt = Runtime::new("/run/berth-runtime");
//! let opts = CreateOptions { bundle: "/tmp/bundle".into(), ..Default::default() };
//! let code = rt.run("demo", &opts, false, false)?;
//! # Ok::<(), berth_runtime::Error>(())
//! ```
//!
//! The library is synchronous and must be called from a single-threaded
//! process (it forks); see `docs/runtime-internals.md` for the process model.

pub mod caps;
pub mod console;
pub mod container;
pub mod defaults;
pub mod features;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod protect;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod wait;

pub use state::{State, Status};

pub use container::{CreateOptions, Error, ExecOptions, Runtime, Spawned};
