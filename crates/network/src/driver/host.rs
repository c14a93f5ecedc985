//! `host`: containers in the daemon's own network namespace. The engine
//! runs them without a sandbox (network mode `host`), so there is nothing to
//! create, remove, connect or disconnect; one network, predefined.

use super::{not_connectable, single_instance, Attachment, CreateContext, NetworkDriver};
use crate::error::Result;
use crate::model::{now, random_id, Endpoint, Network};

#[derive(Debug, Clone, Copy, Default)]
pub struct HostDriver;

impl NetworkDriver for HostDriver {
    fn name(&self) -> &'static str {
        "host"
    }

    fn predefined(&self, existing: &[Network]) -> Result<Option<Network>> {
        if existing.iter().any(|n| n.name == "host") {
            return Ok(None);
        }
        Ok(Some(Network {
            id: random_id()?,
            name: "host".into(),
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
