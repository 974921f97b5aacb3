//! The embedded DNS server of user networks: answers container names and
//! aliases per network, forwards other names to the host's resolvers.
