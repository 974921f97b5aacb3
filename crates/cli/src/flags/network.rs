//! Flags of `berth network ...` and the networking flags of `run`/`create`.
