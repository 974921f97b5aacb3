//! `/volumes` request and response types.
