//! `berth network ...`.
