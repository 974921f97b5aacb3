//! `/volumes` handlers.
