//! Checks the allowed dependency edges between berth crates.
