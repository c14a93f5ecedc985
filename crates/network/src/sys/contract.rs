//! The contract every [`Host`] keeps, seen only through the trait: what is
//! made exists, what is removed is gone, removals are idempotent, a
//! refused operation leaves nothing behind. Run on the fake (unit tests)
//! and on the kernel (`tests/network.rs`, in a network namespace of its
//! own), so the fake the drivers are tested on behaves as the kernel does.

use std::net::Ipv4Addr;

use super::{Host, Veth};
use crate::ipam::Subnet;

/// Runs every case; names start with `tag` (at most 5 characters).
pub fn host_contract(host: &dyn Host, tag: &str) {
    bridges(host, tag);
    namespaces_and_veths(host, tag);
    a_veth_on_a_missing_bridge_leaves_nothing(host, tag);
}

fn bridges(host: &dyn Host, tag: &str) {
    let br = format!("{tag}-br0");
    let subnet = Subnet { addr: Ipv4Addr::new(10, 231, 7, 0), prefix: 24 };
    assert!(!host.link_exists(&br).unwrap());
    host.add_bridge(&br, Ipv4Addr::new(10, 231, 7, 1), 24, None).unwrap();
    assert!(host.link_exists(&br).unwrap());
    assert!(host.routes().unwrap().contains(&subnet), "the bridge's address routes its subnet");
    assert!(host.add_bridge(&br, Ipv4Addr::new(10, 231, 7, 1), 24, None).is_err(), "a bridge is made once");
    host.delete_link(&br).unwrap();
    assert!(!host.link_exists(&br).unwrap());
    assert!(!host.routes().unwrap().contains(&subnet), "the subnet's route goes with the bridge");
    host.delete_link(&br).unwrap();
}

fn veth(tag: &str, br: &str, gateway: Option<Ipv4Addr>) -> Veth {
    Veth {
        host: format!("{tag}-v0"),
        bridge: br.to_string(),
        netns: format!("{tag}-ns0"),
        ifname: "eth0".into(),
        mac: "02:42:0a:e7:08:02".into(),
        addr: Ipv4Addr::new(10, 231, 8, 2),
        prefix: 24,
        gateway,
        mtu: Some(1400),
        addr6: Some(("fd00:231:8::2".parse().unwrap(), 64)),
        gateway6: gateway.map(|_| "fd00:231:8::1".parse().unwrap()),
    }
}

fn namespaces_and_veths(host: &dyn Host, tag: &str) {
    let br = format!("{tag}-br1");
    let v = veth(tag, &br, Some(Ipv4Addr::new(10, 231, 8, 1)));
    host.add_bridge(&br, Ipv4Addr::new(10, 231, 8, 1), 24, Some(1400)).unwrap();
    assert!(!host.netns_exists(&v.netns));
    let path = host.add_netns(&v.netns).unwrap();
    assert_eq!(path, host.netns_path(&v.netns));
    assert!(host.netns_exists(&v.netns));
    assert_eq!(host.add_netns(&v.netns).unwrap(), path, "adding an existing namespace is success");
    host.add_veth(&v).unwrap();
    assert!(host.link_exists(&v.host).unwrap());
    assert!(host.add_veth(&v).is_err(), "a pair is made once");
    host.configure_peer(&v).unwrap();
    assert!(host.configure_peer(&v).is_err(), "an address is given once");
    host.delete_link(&v.host).unwrap();
    assert!(!host.link_exists(&v.host).unwrap());
    // The sandbox end went with its peer: the pair can be made again.
    host.add_veth(&v).unwrap();
    host.configure_peer(&v).unwrap();
    host.delete_netns(&v.netns).unwrap();
    assert!(!host.netns_exists(&v.netns));
    host.delete_netns(&v.netns).unwrap();
    host.delete_link(&v.host).unwrap();
    host.delete_link(&br).unwrap();
}

fn a_veth_on_a_missing_bridge_leaves_nothing(host: &dyn Host, tag: &str) {
    let v = veth(tag, &format!("{tag}-none"), None);
    host.add_netns(&v.netns).unwrap();
    assert!(host.add_veth(&v).is_err());
    assert!(!host.link_exists(&v.host).unwrap());
    host.delete_netns(&v.netns).unwrap();
}
