//! Address management: subnets of networks and addresses of endpoints,
//! never handed out twice, also across daemon restarts.
