//! What the network layer asks of the host: named network namespaces,
//! bridges, veth pairs, addresses and routes, and the routing table that
//! IPAM avoids. [`Host`] is the seam; `linux.rs` is the real one (netlink
//! through `rtnl.rs`, namespaces by `unshare`/`setns` on threads of their
//! own — no process spawned), `fake.rs` an in-memory host for tests
//! (feature `test-util`).
//!
//! **Invariant:** nothing outside `sys/` opens a netlink socket or enters a
//! network namespace.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use crate::error::Result;
use crate::ipam::Subnet;

#[cfg(any(test, feature = "test-util"))]
pub mod contract;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
pub mod linux;
mod rtnl;

#[cfg(any(test, feature = "test-util"))]
pub use fake::FakeHost;
pub use linux::Netlink;

/// One container endpoint's veth pair, as the bridge driver asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    /// Host end (enslaved to `bridge`).
    pub host: String,
    /// The bridge the host end joins.
    pub bridge: String,
    /// The sandbox: a named network namespace.
    pub netns: String,
    /// Interface name inside the sandbox (`eth0`, …).
    pub ifname: String,
    /// The sandbox end's MAC address.
    pub mac: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// The default route of the sandbox, if this endpoint gives it one.
    pub gateway: Option<Ipv4Addr>,
    /// Both ends' MTU (the kernel's default when `None`).
    pub mtu: Option<u32>,
    /// On an IPv6 network: the sandbox end's IPv6 address and prefix, and
    /// the IPv6 default route it gives (if it gives the default route).
    pub addr6: Option<(Ipv6Addr, u8)>,
    pub gateway6: Option<Ipv6Addr>,
}

/// The host's network plumbing. Every method names the object it changes;
/// the removals are idempotent (an absent object is success).
pub trait Host: Send + Sync + fmt::Debug {
    /// Whether link `dev` exists in the daemon's network namespace.
    fn link_exists(&self, dev: &str) -> Result<bool>;
    /// Subnets routed in the daemon's network namespace (the default route
    /// is no subnet).
    fn routes(&self) -> Result<Vec<Subnet>>;
    /// Where named network namespace `name` is (or would be) mounted.
    fn netns_path(&self, name: &str) -> PathBuf;
    fn netns_exists(&self, name: &str) -> bool;
    /// Creates netns `name` unless it exists, loopback up; returns its path.
    fn add_netns(&self, name: &str) -> Result<PathBuf>;
    fn delete_netns(&self, name: &str) -> Result<()>;
    /// Creates bridge `dev` with `gateway/prefix` (and `mtu`), up. Fails if it exists.
    fn add_bridge(&self, dev: &str, gateway: Ipv4Addr, prefix: u8, mtu: Option<u32>) -> Result<()>;
    /// Adds an IPv6 address to link `dev` of the daemon's namespace (no
    /// duplicate address detection: the address is usable at once).
    fn add_address6(&self, dev: &str, addr: Ipv6Addr, prefix: u8) -> Result<()>;
    /// The pair: the host end on its bridge, the sandbox end made inside the
    /// sandbox under `ifname` with `mac`; both up.
    fn add_veth(&self, veth: &Veth) -> Result<()>;
    /// The sandbox side: addresses and default routes.
    fn configure_peer(&self, veth: &Veth) -> Result<()>;
    /// Deletes link `dev` of the daemon's namespace (a veth takes its peer).
    fn delete_link(&self, dev: &str) -> Result<()>;
    /// Held while a bridge's subnet is checked against the host's routes
    /// and its bridge made: Wharf instances of other data roots on this host
    /// (other stores, other store locks) never take one subnet at once.
    fn lock_addresses(&self) -> Result<AddressLock>;
}

/// The host-wide address lock (none on a fake host).
pub type AddressLock = Option<nix::fcntl::Flock<std::fs::File>>;

#[cfg(test)]
mod tests {
    #[test]
    fn the_fake_keeps_the_host_contract() {
        super::contract::host_contract(&super::FakeHost::new(), "t");
    }
}
