//! berth's container networking, with the kernel only: network namespaces,
//! bridges, veth pairs, addresses and routes over netlink, one nftables
//! table owned by berth (masquerade, port publishing, isolation), IPAM and
//! the embedded DNS server of user networks.
//!
//! This crate knows endpoints, bridges and netns paths, not containers: the
//! engine's `network` module maps containers and Docker's network objects
//! onto it.

mod bpf_asm;
pub mod dns;
pub mod fastpath;
pub mod files;
pub mod firewall;
pub mod hosts_edit;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod sockredir;

/// The `ipnet` crate, re-exported so the engine names subnets with the same types.
pub use ipnet;
