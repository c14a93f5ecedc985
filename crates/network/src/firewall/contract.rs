//! The contract every [`Firewall`] keeps, seen through the trait: changes
//! are idempotent (set up twice, tear down what is not there), what is set
//! up shows in [`Firewall::rules`] until it is torn down, and `reconcile`
//! leaves exactly what it is given. Run on the recording fake (unit tests)
//! and on nftables (`tests/network.rs`, in a network namespace of its own).

use super::{Firewall, FirewallNetwork, PortMapping};
use crate::ipam::Subnet;

pub fn firewall_contract(fw: &dyn Firewall) {
    let net = |bridge: &str, third: u8, internal: bool| FirewallNetwork {
        bridge: bridge.into(),
        subnet: Subnet { addr: std::net::Ipv4Addr::new(10, 232, third, 0), prefix: 24 },
        internal,
        icc: !internal,
        masquerade: true,
        subnet6: None,
    };
    let (a, b) = (net("fwc-a", 1, false), net("fwc-b", 2, true));
    let port = PortMapping {
        proto: "tcp".into(),
        host_ip: String::new(),
        host_port: 18080,
        container_ip: std::net::Ipv4Addr::new(10, 232, 1, 7),
        container_port: 80,
        container_ip6: None,
    };
    let has = |needle: &str| fw.rules().unwrap().contains(needle);
    fw.teardown_network(&a).unwrap();
    fw.unpublish_port(&port).unwrap();
    for _ in 0..2 {
        fw.setup_network(&a).unwrap();
        fw.setup_network(&b).unwrap();
        fw.publish_port(&port).unwrap();
    }
    assert!(has("fwc-a") && has("fwc-b") && has("10.232.1.7"), "{}", fw.rules().unwrap());
    fw.unpublish_port(&port).unwrap();
    assert!(!has("10.232.1.7"), "{}", fw.rules().unwrap());
    fw.teardown_network(&a).unwrap();
    assert!(!has("fwc-a") && has("fwc-b"), "{}", fw.rules().unwrap());
    fw.reconcile(std::slice::from_ref(&a), std::slice::from_ref(&port)).unwrap();
    assert!(has("fwc-a") && !has("fwc-b") && has("10.232.1.7"), "{}", fw.rules().unwrap());
    fw.reconcile(&[], &[]).unwrap();
    assert!(!has("fwc-a") && !has("10.232.1.7"), "{}", fw.rules().unwrap());
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_recording_firewall_keeps_the_contract() {
        super::firewall_contract(&super::super::RecordingFirewall::new());
    }
}
