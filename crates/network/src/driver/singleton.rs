//! The single-instance drivers: `host` (containers in the daemon's own
//! network namespace: the engine runs them without a sandbox) and `null`
//! (network `none`: loopback only, a fresh namespace that is no sandbox of
//! ours). Nothing to create, remove, connect or disconnect; one network
//! each, predefined.

use super::{not_connectable, single_instance, Attachment, CreateContext, NetworkDriver};
use crate::error::Result;
use crate::model::{now, random_id, Endpoint, Network};

/// A driver with one predefined network and nothing to wire.
#[derive(Debug, Clone, Copy)]
pub struct Singleton {
    driver: &'static str,
    network: &'static str,
}

/// `host`: the network named `host`.
pub const HOST: Singleton = Singleton { driver: "host", network: "host" };
/// `null`: the network named `none`.
pub const NULL: Singleton = Singleton { driver: "null", network: "none" };

impl NetworkDriver for Singleton {
    fn name(&self) -> &'static str {
        self.driver
    }

    fn predefined(&self, existing: &[Network]) -> Result<Option<Network>> {
        if existing.iter().any(|n| n.name == self.network) {
            return Ok(None);
        }
        Ok(Some(Network {
            id: random_id()?,
            name: self.network.into(),
            driver: self.name().into(),
            created: now(),
            ..Default::default()
        }))
    }

    fn create(&self, _: &mut Network, _: &CreateContext) -> Result<()> {
        Err(single_instance(self.name()))
    }

    fn remove(&self, _: &Network) -> Result<()> {
        Ok(())
    }

    fn connect(&self, net: &Network, _: &mut Endpoint, _: &Attachment) -> Result<()> {
        Err(not_connectable(net))
    }

    fn disconnect(&self, _: &Network, _: &Endpoint) -> Result<()> {
        Ok(())
    }
}
