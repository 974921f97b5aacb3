//! `/networks` request and response types.
