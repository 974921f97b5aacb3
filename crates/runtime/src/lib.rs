//! berth OCI runtime library.
