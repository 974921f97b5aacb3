//! `berth-shim-proto`: what `berthd` and `berth-shim` say to each other.
//!
//! One `berth-shim` runs per container (see `crates/shim`). The daemon talks
//! to it over two unix sockets in the shim's state directory:
//!
//! - [`CONTROL_SOCKET`]: [`Request`]s and [`Response`]s, each one frame
//!   (a big-endian `u32` length, then that many bytes of JSON; see
//!   [`frame`]). A connection carries any number of requests, one at a time:
//!   the next request is read after the previous response was sent (a
//!   [`Request::Wait`] may take as long as the container runs).
//! - [`ATTACH_SOCKET`]: the client sends one [`attach::AttachRequest`]
//!   frame, the shim answers with one [`Response`] frame, and from then on
//!   the connection is a raw stream: the container's output (raw bytes with a
//!   terminal, Docker's multiplexed frames otherwise, see
//!   [`attach::mux_header`]) one way, stdin the other.
//!
//! When started, `berth-shim` prints one [`Ready`] JSON line on its
//! standard output and exits (the container's monitor lives on, detached),
//! so the daemon runs it like any command and reads its output.
//!
//! This crate holds types and byte layouts only: no sockets, no threads, no
//! runtime. The blocking helpers in [`frame`] work on any `Read`/`Write`;
//! async callers use [`frame::encode`] and [`frame::Decoder`].

pub mod attach;
pub mod frame;
pub mod message;

pub use message::{ErrorClass, ExitStatus, Ready, Reply, Request, Response, ShimError, Status};

/// The control socket's file name in the shim's state directory.
pub const CONTROL_SOCKET: &str = "control.sock";
/// The attach socket's file name in the shim's state directory.
pub const ATTACH_SOCKET: &str = "attach.sock";
/// The init's [`ExitStatus`], written atomically before any waiter hears
/// of the exit, so a restarted daemon finds it even if the shim is gone.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's pid, as decimal text.
pub const PID_FILE: &str = "shim.pid";
/// The shim's own diagnostics (its standard error), appended.
pub const SHIM_LOG: &str = "shim.log";
