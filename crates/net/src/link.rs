//! Bridges, veth pairs, addresses and routes over netlink.
