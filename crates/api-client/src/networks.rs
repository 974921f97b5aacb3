//! `/networks` calls.
