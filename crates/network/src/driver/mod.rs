//! Network drivers: what creating and removing a network, and connecting
//! and disconnecting an endpoint, mean on the host. One file per driver
//! (`bridge.rs`, `singleton.rs` for `host` and `null`, Docker's names, and
//! `cni/`, standard CNI plugins); the store
//! (`Networks`) keeps the records, holds the lock, hands out interface
//! names and says which addresses are taken, and dispatches by a network's
//! `driver` through a [`Drivers`] table.
//!
//! **Invariant:** drivers change the host only through `sys::Host`,
//! `firewall::Firewall` and (the CNI driver) its plugins, run through
//! `cni::PluginExec`, and never read or write the store's files (the CNI
//! driver keeps its lists and results in a directory of its own).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::error::{NetworkError, Result};
use crate::firewall::{Firewall, FirewallNetwork};
use crate::model::{CreateRequest, Endpoint, Network};
use crate::sys::Host;

pub mod bridge;
pub mod cni;
mod singleton;

pub use bridge::Bridge;
pub use cni::Cni;
pub use singleton::{Singleton, HOST, NULL};

/// What a create sees besides the request.
#[derive(Debug)]
pub struct CreateContext<'a> {
    pub request: &'a CreateRequest,
    /// Every network stored so far.
    pub existing: &'a [Network],
}

/// What a connect sees besides the network and the endpoint.
#[derive(Debug)]
pub struct Attachment<'a> {
    /// The sandbox: the container's named network namespace (it exists).
    pub sandbox: &'a str,
    /// Addresses of the network's other endpoints.
    pub used: &'a [Ipv4Addr],
    /// Whether this endpoint is the container's first (it gives the
    /// default route unless the network is internal).
    pub first: bool,
    /// The address asked for (else one is allocated) and the MAC address
    /// (else derived from the address), both checked by the caller's network.
    pub ip: Option<Ipv4Addr>,
    pub mac: Option<&'a str>,
    /// IPv6 addresses of the network's other endpoints, and the one asked for.
    pub used6: &'a [Ipv6Addr],
    pub ip6: Option<Ipv6Addr>,
    /// The container's published ports, for a driver whose plugins publish them.
    pub ports: &'a [crate::firewall::PortMapping],
}

/// A network driver, registered in [`Drivers`] under [`NetworkDriver::name`].
pub trait NetworkDriver: Send + Sync + fmt::Debug {
    /// The name networks record in `driver` (`bridge`, `host`, `null`).
    fn name(&self) -> &'static str;

    /// The network of this driver that every store has (`bridge`, `host`,
    /// `none`), recorded at first open; `None` if `existing` has it (or the
    /// driver has none). It may read the host but not change it.
    fn predefined(&self, existing: &[Network]) -> Result<Option<Network>>;

    /// Completes a new network's record (`id`, `name`, `created` and the
    /// request's flags are set) and makes whatever it needs on the host.
    /// A refusal leaves the host as it was.
    fn create(&self, net: &mut Network, ctx: &CreateContext) -> Result<()>;

    /// Undoes `create` (the store checked that no endpoint is left).
    fn remove(&self, net: &Network) -> Result<()>;

    /// Before the first endpoint of a predefined network (under the store's
    /// lock): a chance to choose its addresses again when what it recorded
    /// has been taken on this host since (by a Wharf instance of another
    /// data root, say) and its device is not there yet. True if `net`
    /// changed (the store saves it).
    fn readdress(&self, _net: &mut Network, _existing: &[Network]) -> Result<bool> {
        Ok(false)
    }

    /// Wires an endpoint into the sandbox and fills in its address fields
    /// (`ip`, `prefix`, `gateway`, `mac`, `veth`); `ifname` is set. A
    /// failure leaves the host as it was.
    fn connect(&self, net: &Network, ep: &mut Endpoint, at: &Attachment) -> Result<()>;

    /// Undoes `connect`; idempotent (the sandbox may be gone already).
    fn disconnect(&self, net: &Network, ep: &Endpoint) -> Result<()>;

    /// Undoes `connect` after the endpoint's sandbox was deleted: what the
    /// namespace's end did not take with it (all of `disconnect` unless the
    /// driver knows better).
    fn release(&self, net: &Network, ep: &Endpoint) -> Result<()> {
        self.disconnect(net, ep)
    }

    /// Whether the endpoint is still wired as `connect` left it (CNI's
    /// CHECK); drivers that cannot tell say yes.
    fn check(&self, _net: &Network, _ep: &Endpoint) -> Result<()> {
        Ok(())
    }

    /// What the firewall holds for a network of this driver (none for a
    /// driver that asks nothing of it).
    fn firewall_network(&self, _net: &Network) -> Result<Option<FirewallNetwork>> {
        Ok(None)
    }
}

/// The driver table: name → driver.
#[derive(Debug, Clone, Default)]
pub struct Drivers(BTreeMap<String, Arc<dyn NetworkDriver>>);

impl Drivers {
    /// An empty table.
    pub fn new() -> Drivers {
        Drivers::default()
    }

    /// `bridge`, `host` and `null` on `host`, the bridge asking `firewall`.
    pub fn builtin(host: Arc<dyn Host>, firewall: Arc<dyn Firewall>) -> Drivers {
        Drivers::builtin_with(Bridge::new(host, firewall))
    }

    /// `host`, `null` and this `bridge`.
    pub fn builtin_with(bridge: Bridge) -> Drivers {
        Drivers::new().with(Arc::new(HOST)).with(Arc::new(NULL)).with(Arc::new(bridge))
    }

    /// Adds (or replaces) the driver registered under its name.
    pub fn with(mut self, driver: Arc<dyn NetworkDriver>) -> Drivers {
        self.0.insert(driver.name().to_string(), driver);
        self
    }

    /// The driver called `name`, or [`NetworkError::UnknownDriver`].
    pub fn get(&self, name: &str) -> Result<&Arc<dyn NetworkDriver>> {
        self.0.get(name).ok_or_else(|| NetworkError::UnknownDriver(name.to_string()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn NetworkDriver>> {
        self.0.values()
    }
}

/// Refuses `create` for a driver with one instance only (`host`, `null`).
pub(crate) fn single_instance(driver: &str) -> NetworkError {
    NetworkError::Invalid {
        what: "network driver".into(),
        reason: format!("only one instance of \"{driver}\" network is allowed"),
    }
}

/// Refuses `connect` for a driver whose containers share a namespace
/// decided by the network mode (`host`, `none`), not by endpoints.
pub(crate) fn not_connectable(net: &Network) -> NetworkError {
    NetworkError::Invalid {
        what: "network".into(),
        reason: format!("container cannot be connected to network {} (driver {})", net.name, net.driver),
    }
}
