//! Flags of `berth volume ...` and the mount flags of `run`/`create`.
