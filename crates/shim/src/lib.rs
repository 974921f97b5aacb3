//! `berth-shim`'s library half: everything the `berth-shim` binary does,
//! in modules that unit tests can reach. The binary (`main.rs`) documents
//! the command line and only wires these together.
//!
//! - [`args`]: the command line.
//! - [`detach`]: fork, `setsid`, subreaper, stdio of the shim itself.
//! - [`stdio`]: the container's pipes around the runtime's fork.
//! - [`jsonlog`]: Docker's json-file log with rotation.
//! - [`shim`]: the event loop: control and attach sockets, reaping, exit
//!   status.

pub mod args;
pub mod detach;
pub mod jsonlog;
pub mod shim;
pub mod stdio;
