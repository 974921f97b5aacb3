//! The files docker writes into a container: `/etc/resolv.conf`,
//! `/etc/hosts` and `/etc/hostname`.
