//! berth's one nftables table: masquerade, isolation between networks,
//! and the chains port publishing fills.
