//! cgroup managers (v1, hybrid, v2). See the crate docs in the manager module.
