//! `berth volume ...`.
