//! `/volumes` calls.
