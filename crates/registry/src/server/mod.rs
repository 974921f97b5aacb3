//! The registry server behind `berth registry serve`.
