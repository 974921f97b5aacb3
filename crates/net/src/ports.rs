//! Port publishing: host port choice (random free ports), in-use checks and
//! the DNAT rules (host, 127.0.0.1 and hairpin traffic) of published ports.
