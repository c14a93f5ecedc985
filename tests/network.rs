//! Networking on the kernel's own interfaces (issue 12): the netlink host
//! against the same contract as the fake, then daemons in network
//! namespaces of the tests' own, behind which another namespace plays the
//! outside world.
//!
//! Everything a test makes is in a namespace it created or under a
//! directory it owns, and is taken away by guards, also on failure.

mod support;

#[path = "network/host.rs"]
mod host;

#[path = "network/nat.rs"]
mod nat;

#[path = "network/dns.rs"]
mod dns;

#[path = "network/ipam.rs"]
mod ipam;

#[path = "network/cni.rs"]
mod cni;

#[path = "network/ipv6.rs"]
mod ipv6;
