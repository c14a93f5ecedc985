//! No firewall: containers reach out only if the host already forwards and
//! masquerades for them; published ports are the userland proxy's alone.

use super::{Firewall, FirewallNetwork, PortMapping};
use crate::error::Result;

#[derive(Debug, Clone, Copy, Default)]
pub struct NoFirewall;

impl Firewall for NoFirewall {
    fn name(&self) -> &'static str {
        "none"
    }

    fn setup_network(&self, net: &FirewallNetwork) -> Result<()> {
        if !net.icc {
            // Nothing here could keep the containers apart: refused, not ignored.
            return Err(crate::NetworkError::Firewall {
                op: "set up a network",
                message: format!(
                    "{}=false needs the firewall (the daemon runs with --iptables=false)",
                    crate::driver::bridge::ICC_OPTION
                ),
            });
        }
        tracing::trace!(bridge = %net.bridge, subnet = %net.subnet, "firewall none: nothing to set up");
        Ok(())
    }

    fn teardown_network(&self, _: &FirewallNetwork) -> Result<()> {
        Ok(())
    }

    fn publish_port(&self, _: &PortMapping) -> Result<()> {
        Ok(())
    }

    fn unpublish_port(&self, _: &PortMapping) -> Result<()> {
        Ok(())
    }

    fn reconcile(&self, _: &[FirewallNetwork], _: &[PortMapping]) -> Result<()> {
        Ok(())
    }

    fn rules(&self) -> Result<String> {
        Ok(String::new())
    }
}
