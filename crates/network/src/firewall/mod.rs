//! The host firewall seam: what a driver asks of it when a network's subnet
//! comes and goes, and what the store asks when a port is published. One
//! file per backend: `nftables.rs` (with its fixed ruleset in
//! `nft_base.rs`), `none.rs` (nothing: the host's own rules decide),
//! `fake.rs` records calls for tests.

use std::fmt;

use crate::error::Result;
use crate::ipam::Subnet;

#[cfg(any(test, feature = "test-util"))]
pub mod contract;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
mod nft_base;
pub mod nftables;
pub mod none;

#[cfg(any(test, feature = "test-util"))]
pub use fake::{FirewallCall, RecordingFirewall};
pub use nftables::NfTables;
pub use none::NoFirewall;

/// A network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallNetwork {
    /// The bridge device the subnet lives on.
    pub bridge: String,
    pub subnet: Subnet,
    /// No way out: isolation only, no forwarding or masquerade.
    pub internal: bool,
    /// Containers of the network may reach each other (`enable_icc`).
    pub icc: bool,
    /// Traffic leaving the network is masqueraded (`enable_ip_masquerade`).
    pub masquerade: bool,
    /// An IPv6 network's subnet (masqueraded too, as Docker's NAT66).
    pub subnet6: Option<crate::ipam::Subnet6>,
}

/// A published port: `host_ip:host_port` → `container_ip:container_port`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    /// `tcp` or `udp`.
    pub proto: String,
    /// Empty: every address.
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: std::net::Ipv4Addr,
    pub container_port: u16,
    /// The container's IPv6 address on an IPv6 network: the port is
    /// published on the host's IPv6 addresses too (for every-address ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_ip6: Option<std::net::Ipv6Addr>,
}

/// A firewall backend. Each call is idempotent: the bridge driver sets a
/// network up whenever it ensures the network's bridge.
pub trait Firewall: Send + Sync + fmt::Debug {
    /// The backend's name (`nftables`, `none`).
    fn name(&self) -> &'static str;
    /// Forwarding and masquerade for the subnet (for `internal`, isolation).
    fn setup_network(&self, net: &FirewallNetwork) -> Result<()>;
    fn teardown_network(&self, net: &FirewallNetwork) -> Result<()>;
    /// DNAT for a published port (the userland proxy serves the paths it
    /// does not: loopback, and connections from containers).
    fn publish_port(&self, port: &PortMapping) -> Result<()>;
    fn unpublish_port(&self, port: &PortMapping) -> Result<()>;
    /// Makes the backend hold exactly these networks and ports (at daemon
    /// start: whatever a crash or a reboot left is replaced).
    fn reconcile(&self, nets: &[FirewallNetwork], ports: &[PortMapping]) -> Result<()>;
    /// What the backend holds now, as its own tool prints it (a debug view).
    fn rules(&self) -> Result<String>;
}
