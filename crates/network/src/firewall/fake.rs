//! A firewall that records what it was asked, and holds the networks and
//! ports currently set up (so tests can check teardown undid setup).

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Firewall, FirewallNetwork, PortMapping};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallCall {
    SetupNetwork(FirewallNetwork),
    TeardownNetwork(FirewallNetwork),
    PublishPort(PortMapping),
    UnpublishPort(PortMapping),
    Reconcile,
}

#[derive(Debug, Default)]
struct Inner {
    calls: Vec<FirewallCall>,
    networks: Vec<FirewallNetwork>,
    ports: Vec<PortMapping>,
    /// Publishing this host port fails.
    fail_port: Option<u16>,
}

/// Cheap to clone: clones share one record.
#[derive(Debug, Clone, Default)]
pub struct RecordingFirewall(Arc<Mutex<Inner>>);

impl RecordingFirewall {
    pub fn new() -> RecordingFirewall {
        RecordingFirewall::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn calls(&self) -> Vec<FirewallCall> {
        self.inner().calls.clone()
    }

    /// Networks set up and not torn down.
    pub fn networks(&self) -> Vec<FirewallNetwork> {
        self.inner().networks.clone()
    }

    /// Makes publishing `host_port` fail from now on.
    pub fn fail_publish(&self, host_port: u16) {
        self.inner().fail_port = Some(host_port);
    }

    /// Ports published and not unpublished.
    pub fn ports(&self) -> Vec<PortMapping> {
        self.inner().ports.clone()
    }
}

impl Firewall for RecordingFirewall {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn setup_network(&self, net: &FirewallNetwork) -> Result<()> {
        let mut i = self.inner();
        i.calls.push(FirewallCall::SetupNetwork(net.clone()));
        if !i.networks.contains(net) {
            i.networks.push(net.clone());
        }
        Ok(())
    }

    fn teardown_network(&self, net: &FirewallNetwork) -> Result<()> {
        let mut i = self.inner();
        i.calls.push(FirewallCall::TeardownNetwork(net.clone()));
        i.networks.retain(|n| n != net);
        Ok(())
    }

    fn publish_port(&self, port: &PortMapping) -> Result<()> {
        let mut i = self.inner();
        i.calls.push(FirewallCall::PublishPort(port.clone()));
        if i.fail_port == Some(port.host_port) {
            return Err(crate::NetworkError::Firewall { op: "publish", message: "injected failure".into() });
        }
        if !i.ports.contains(port) {
            i.ports.push(port.clone());
        }
        Ok(())
    }

    fn unpublish_port(&self, port: &PortMapping) -> Result<()> {
        let mut i = self.inner();
        i.calls.push(FirewallCall::UnpublishPort(port.clone()));
        i.ports.retain(|p| p != port);
        Ok(())
    }

    fn reconcile(&self, nets: &[FirewallNetwork], ports: &[PortMapping]) -> Result<()> {
        let mut i = self.inner();
        i.calls.push(FirewallCall::Reconcile);
        i.networks = nets.to_vec();
        i.ports = ports.to_vec();
        Ok(())
    }

    fn rules(&self) -> Result<String> {
        let i = self.inner();
        Ok(format!("{:?}\n{:?}\n", i.networks, i.ports))
    }
}
