//! `/networks` handlers.
