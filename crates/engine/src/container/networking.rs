//! A container's network: its netns, its endpoints on networks, published
//! ports and the resolv.conf/hosts/hostname files, as docker's
//! `HostConfig.NetworkMode`/`PortBindings` and `NetworkSettings`.
