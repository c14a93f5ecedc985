//! The store and the built-in drivers on the fake host: IPAM, wiring,
//! refusals, strict record reading. No root needed.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::firewall::{FirewallCall, RecordingFirewall};
use crate::ipam::Subnet;
use crate::sys::fake::{FakeHost, LinkKind, HOST_NS};

struct Env {
    dir: tempfile::TempDir,
    host: FakeHost,
    firewall: RecordingFirewall,
    nets: Networks,
}

fn env_with(setup: impl FnOnce(&FakeHost)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::new();
    setup(&host);
    let firewall = RecordingFirewall::new();
    let h: Arc<dyn Host> = Arc::new(host.clone());
    let nets = Networks::open_with(
        dir.path(),
        h.clone(),
        Arc::new(firewall.clone()),
        Drivers::builtin(h, Arc::new(firewall.clone())),
    )
    .unwrap();
    Env { dir, host, firewall, nets }
}

fn env() -> Env {
    env_with(|_| {})
}

/// A container id whose sandbox name is unique per `n`.
fn cid(n: u8) -> String {
    format!("{n:02}{}", "c".repeat(62))
}

/// An endpoint request with only aliases.
fn aliases(a: &[String]) -> crate::EndpointRequest {
    crate::EndpointRequest { aliases: a.to_vec(), ..Default::default() }
}

fn req(name: &str, subnet: Option<&str>) -> CreateRequest {
    CreateRequest { name: name.into(), subnet: subnet.map(Into::into), ..Default::default() }
}

impl Env {
    fn run(&self, n: u8) -> String {
        let id = cid(n);
        self.nets.create_sandbox(&id).unwrap();
        id
    }
}

#[test]
fn predefined_networks_recorded_once_without_touching_the_host() {
    let e = env();
    let names: Vec<String> = e.nets.list().unwrap().into_iter().map(|x| x.name).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let bridge = e.nets.get("bridge").unwrap();
    assert_eq!((bridge.subnet.as_deref(), bridge.gateway.as_deref()), (Some("172.17.0.0/16"), Some("172.17.0.1")));
    assert_eq!(bridge.bridge.as_deref(), Some("wharf0"));
    assert_eq!(e.nets.get("none").unwrap().driver, "null");
    assert!(e.host.snapshot().links.is_empty(), "wharf0 is made at the first connect");
    let h: Arc<dyn Host> = Arc::new(e.host.clone());
    let again = Networks::open_with(
        e.dir.path(),
        h.clone(),
        Arc::new(crate::firewall::NoFirewall),
        Drivers::builtin(h, Arc::new(crate::firewall::NoFirewall)),
    )
    .unwrap();
    assert_eq!(again.list().unwrap().len(), 3, "reopening records no second set");
    for name in ["bridge", "host", "none"] {
        assert!(matches!(e.nets.remove(name), Err(NetworkError::Predefined(_))), "{name}");
    }
}

#[test]
fn create_makes_the_bridge_with_its_gateway_and_asks_the_firewall() {
    let e = env();
    let n = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    assert_eq!((n.gateway.as_deref(), n.driver.as_str()), (Some("10.99.0.1"), "bridge"));
    let dev = format!("br-{}", &n.id[..12]);
    assert_eq!(n.bridge.as_deref(), Some(dev.as_str()));
    let link = e.host.link(HOST_NS, &dev).expect("bridge made at create");
    assert_eq!((link.kind, link.addrs, link.up), (LinkKind::Bridge, vec![(Ipv4Addr::new(10, 99, 0, 1), 24)], true));
    let subnet = Subnet::parse("10.99.0.0/24").unwrap();
    assert_eq!(e.firewall.networks().iter().map(|f| (&f.bridge, f.subnet)).collect::<Vec<_>>(), [(&dev, subnet)]);
    e.nets.remove("app").unwrap();
    assert!(e.host.link(HOST_NS, &dev).is_none() && e.firewall.networks().is_empty());
    assert!(matches!(e.nets.get("app"), Err(NetworkError::NotFound(_))));
}

#[test]
fn connect_wires_a_veth_with_an_address_and_the_default_route() {
    let e = env();
    let app = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let (a, b) = (e.run(1), e.run(2));
    let ea = e.nets.connect(&a, "a", "app", &aliases(&["web".into()])).unwrap();
    assert_eq!((ea.ip.as_str(), ea.prefix, ea.gateway.as_str()), ("10.99.0.2", 24, "10.99.0.1"));
    assert_eq!(
        (ea.ifname.as_str(), ea.mac.as_str(), ea.aliases.as_slice()),
        ("eth0", "02:42:0a:63:00:02", &["web".to_string()][..])
    );
    let sandbox = Networks::sandbox_name(&a);
    let inside = e.host.link(&sandbox, "eth0").expect("eth0 in the sandbox");
    assert_eq!((inside.addrs, inside.mac.as_deref()), (vec![(Ipv4Addr::new(10, 99, 0, 2), 24)], Some(ea.mac.as_str())));
    let veth = e.host.link(HOST_NS, &ea.veth).expect("host end");
    assert_eq!(veth.master, app.bridge);
    let s = e.host.snapshot();
    assert_eq!(s.default_routes.get(&sandbox), Some(&("eth0".to_string(), Ipv4Addr::new(10, 99, 0, 1))));
    assert_eq!(e.nets.connect(&b, "b", "app", &aliases(&[])).unwrap().ip, "10.99.0.3");
    // A second network: eth1, no second default route.
    e.nets.create(req("db", Some("10.98.0.0/24"))).unwrap();
    let second = e.nets.connect(&a, "a", "db", &aliases(&[])).unwrap();
    assert_eq!((second.ifname.as_str(), second.ip.as_str()), ("eth1", "10.98.0.2"));
    assert_eq!(e.host.snapshot().default_routes.get(&sandbox).map(|r| r.0.as_str()), Some("eth0"));
    let of_a: Vec<String> = e.nets.endpoints_of(&a).unwrap().into_iter().map(|x| x.network_name).collect();
    assert_eq!(of_a, ["app", "db"]);
    assert!(matches!(e.nets.connect(&a, "a", "app", &aliases(&[])), Err(NetworkError::Conflict(_))), "twice");
    assert!(matches!(e.nets.connect(&cid(9), "x", "app", &aliases(&[])), Err(NetworkError::Conflict(_))), "no sandbox");
}

#[test]
fn internal_networks_give_no_default_route() {
    let e = env();
    e.nets.create(CreateRequest { internal: true, ..req("inner", Some("10.97.0.0/24")) }).unwrap();
    let a = e.run(1);
    e.nets.connect(&a, "a", "inner", &aliases(&[])).unwrap();
    assert!(e.host.snapshot().default_routes.is_empty());
    assert!(e.firewall.networks().iter().all(|f| f.internal));
}

#[test]
fn the_predefined_bridge_is_made_at_first_connect() {
    let e = env();
    let a = e.run(1);
    let ep = e.nets.connect(&a, "a", "bridge", &aliases(&[])).unwrap();
    assert_eq!(ep.ip, "172.17.0.2");
    assert_eq!(e.host.link(HOST_NS, "wharf0").map(|l| l.addrs), Some(vec![(Ipv4Addr::new(172, 17, 0, 1), 16)]));
    let b = e.run(2);
    e.nets.connect(&b, "b", "bridge", &aliases(&[])).unwrap();
    let made = e.host.calls().iter().filter(|c| c.starts_with("add_bridge")).count();
    assert_eq!(made, 1, "an existing bridge is kept");
    assert!(e.firewall.calls().iter().all(|c| matches!(c, FirewallCall::SetupNetwork(_))));
}

#[test]
fn disconnect_releases_the_address_and_the_veth() {
    let e = env();
    e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let (a, b) = (e.run(1), e.run(2));
    let ea = e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    e.nets.disconnect(&a, "app").unwrap();
    assert!(e.host.link(HOST_NS, &ea.veth).is_none() && e.host.link(&Networks::sandbox_name(&a), "eth0").is_none());
    assert!(e.host.snapshot().default_routes.is_empty());
    assert!(e.nets.endpoints_of(&a).unwrap().is_empty());
    assert_eq!(e.nets.connect(&b, "b", "app", &aliases(&[])).unwrap().ip, ea.ip, "the address is free again");
    assert!(matches!(e.nets.disconnect(&a, "app"), Err(NetworkError::Conflict(_))));
}

#[test]
fn remove_is_refused_while_endpoints_exist() {
    let e = env();
    let app = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let a = e.run(1);
    e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    assert!(matches!(e.nets.remove("app"), Err(NetworkError::ActiveEndpoints { ref name, .. }) if name == "app"));
    assert!(e.host.link(HOST_NS, app.bridge.as_deref().unwrap()).is_some(), "bridge kept");
    e.nets.delete_sandbox(&a).unwrap();
    assert!(!e.host.netns_exists(&Networks::sandbox_name(&a)));
    e.nets.remove("app").unwrap();
    assert!(e.host.snapshot().links.is_empty());
}

#[test]
fn address_exhaustion_is_typed_and_leaves_nothing() {
    let e = env();
    e.nets.create(req("tiny", Some("10.96.0.0/30"))).unwrap();
    let (a, b) = (e.run(1), e.run(2));
    assert_eq!(e.nets.connect(&a, "a", "tiny", &aliases(&[])).unwrap().ip, "10.96.0.2");
    let before = e.host.snapshot();
    assert!(
        matches!(e.nets.connect(&b, "b", "tiny", &aliases(&[])), Err(NetworkError::Exhausted(ref s)) if s == "10.96.0.0/30")
    );
    assert_eq!(e.host.snapshot(), before);
    assert!(e.nets.endpoints_of(&b).unwrap().is_empty());
}

#[test]
fn a_failed_peer_setup_removes_the_pair() {
    let e = env();
    e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let a = e.run(1);
    let before = e.host.snapshot();
    e.host.fail_next("configure_peer");
    assert!(matches!(e.nets.connect(&a, "a", "app", &aliases(&[])), Err(NetworkError::Command { .. })));
    assert_eq!(e.host.snapshot(), before);
    assert!(e.nets.endpoints(&e.nets.get("app").unwrap().id).unwrap().is_empty());
    assert_eq!(e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap().ip, "10.99.0.2");
}

#[test]
fn overlapping_subnets_are_refused() {
    let e = env();
    e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    for (name, s) in [("b", "10.99.0.128/25"), ("c", "10.0.0.0/8"), ("d", "172.17.5.0/24")] {
        assert!(matches!(e.nets.create(req(name, Some(s))), Err(NetworkError::Conflict(_))), "{s}");
    }
    assert!(matches!(e.nets.create(req("app", None)), Err(NetworkError::Exists(_))));
    assert_eq!(e.nets.list().unwrap().len(), 4);
}

#[test]
fn the_default_pool_skips_used_subnets_and_routes() {
    let e = env_with(|h| h.add_external_route(Subnet::parse("172.17.0.0/16").unwrap()));
    assert_eq!(e.nets.get("bridge").unwrap().subnet.as_deref(), Some("172.18.0.0/16"), "routed here");
    e.nets.create(req("x", Some("172.19.0.0/24"))).unwrap();
    let auto = e.nets.create(req("auto", None)).unwrap();
    assert_eq!(auto.subnet.as_deref(), Some("172.20.0.0/16"));
    assert_eq!(e.nets.create(req("auto2", None)).unwrap().subnet.as_deref(), Some("172.21.0.0/16"));
}

#[test]
fn a_subnet_routed_elsewhere_is_readdressed_or_refused() {
    // Another data root's network took 172.17.0.0/16 after this store recorded
    // its predefined `bridge` (whose device is made at the first connect):
    // with no endpoint yet, it takes a free subnet instead.
    let e = env();
    e.host.add_external_route(Subnet::parse("172.17.0.0/16").unwrap());
    let a = e.run(1);
    assert_eq!(e.nets.connect(&a, "a", "bridge", &aliases(&[])).unwrap().ip, "172.18.0.2");
    assert_eq!(e.nets.get("bridge").unwrap().subnet.as_deref(), Some("172.18.0.0/16"), "recorded");
    assert_eq!(e.host.link(HOST_NS, "wharf0").map(|l| l.addrs), Some(vec![(Ipv4Addr::new(172, 18, 0, 1), 16)]));
    // A user network whose bridge went (a reboot) while its subnet was taken: refused, nothing made.
    let app = e.nets.create(req("app", Some("10.98.0.0/24"))).unwrap();
    e.host.delete_link(app.bridge.as_deref().unwrap()).unwrap();
    e.host.add_external_route(Subnet::parse("10.98.0.0/25").unwrap());
    let err = e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap_err();
    assert!(matches!(&err, NetworkError::Conflict(m) if m.contains("network app")), "{err}");
    assert!(e.host.link(HOST_NS, app.bridge.as_deref().unwrap()).is_none());
    // A broader route (a VPN's 10.0.0.0/8) is only narrowed by a bridge, as Docker allows.
    e.host.add_external_route(Subnet::parse("10.0.0.0/8").unwrap());
    e.nets.create(req("vpn", Some("10.97.0.0/24"))).unwrap();
}

#[test]
fn the_predefined_bridge_device_is_the_instance_s() {
    let dir = tempfile::tempdir().unwrap();
    let h: Arc<dyn Host> = Arc::new(FakeHost::new());
    let fw = Arc::new(crate::firewall::NoFirewall);
    let bridge = crate::driver::Bridge::new(h.clone(), fw.clone()).with_default_device("wharf-0123abcd");
    let nets = Networks::open_with(dir.path(), h, fw, Drivers::builtin_with(bridge)).unwrap();
    assert_eq!(nets.get("bridge").unwrap().bridge.as_deref(), Some("wharf-0123abcd"));
}

#[test]
fn drivers_are_chosen_by_name() {
    let e = env();
    let overlay = CreateRequest { driver: Some("overlay".into()), ..req("x", None) };
    assert!(matches!(e.nets.create(overlay), Err(NetworkError::UnknownDriver(ref d)) if d == "overlay"));
    for d in ["host", "null"] {
        let r = CreateRequest { driver: Some(d.into()), ..req("y", None) };
        assert!(matches!(e.nets.create(r), Err(NetworkError::Invalid { .. })), "{d}");
    }
    let empty = CreateRequest { driver: Some(String::new()), ..req("z", Some("10.95.0.0/24")) };
    assert_eq!(e.nets.create(empty).unwrap().driver, "bridge");
    let a = e.run(1);
    for n in ["host", "none"] {
        assert!(matches!(e.nets.connect(&a, "a", n, &aliases(&[])), Err(NetworkError::Invalid { .. })), "{n}");
    }
    assert!(e.nets.drivers().get("bridge").is_ok() && e.nets.drivers().get("cni").is_err());
}

#[test]
fn bad_requests_are_refused() {
    let e = env_with(|h| h.add_host_link("eth0"));
    let opt = |b: &str| [(crate::driver::bridge::BRIDGE_NAME_OPTION.to_string(), b.to_string())].into_iter().collect();
    for bad in [
        CreateRequest { options: opt("x\nlink delete lo"), ..req("evil", None) },
        CreateRequest { options: opt("a-very-long-bridge"), ..req("long", None) },
        req("bad\nname", None),
        CreateRequest {
            options: [("com.docker.network.driver.mtu".to_string(), "40".to_string())].into_iter().collect(),
            ..req("mtu", None)
        },
        CreateRequest {
            options: [("com.docker.network.bridge.enable_icc".to_string(), "nope".to_string())].into_iter().collect(),
            ..req("icc", None)
        },
        CreateRequest {
            options: [("com.docker.network.bridge.host_binding_ipv4".to_string(), "1.2.3.4".to_string())]
                .into_iter()
                .collect(),
            ..req("unknown", None)
        },
        req("", None),
        CreateRequest { gateway: Some("10.6.0.1".into()), ..req("y", Some("10.5.0.0/24")) },
        CreateRequest { gateway: Some("x".into()), ..req("y", Some("10.5.0.0/24")) },
        req("y", Some("fd00::/64")),
    ] {
        assert!(matches!(e.nets.create(bad.clone()), Err(NetworkError::Invalid { .. })), "{bad:?}");
    }
    // An existing interface is never adopted (removing the network would delete it).
    for taken in ["eth0", "wharf0"] {
        let r = CreateRequest { options: opt(taken), ..req("up", None) };
        assert!(matches!(e.nets.create(r), Err(NetworkError::Conflict(_))), "{taken}");
    }
    let named = e.nets.create(CreateRequest { options: opt("br-mine"), ..req("mine", None) }).unwrap();
    assert_eq!(named.bridge.as_deref(), Some("br-mine"));
    assert!(e.host.link(HOST_NS, "br-mine").is_some());
    assert_eq!(e.nets.list().unwrap().len(), 4);
}

#[test]
fn duplicate_names_only_when_asked() {
    let e = env();
    let a = e.nets.create(req("twice", Some("10.98.0.0/24"))).unwrap();
    assert!(matches!(e.nets.create(req("twice", Some("10.98.1.0/24"))), Err(NetworkError::Exists(_))));
    let b = e.nets.create(CreateRequest { allow_duplicate_name: true, ..req("twice", Some("10.98.1.0/24")) }).unwrap();
    // The name now names neither; the ids do.
    assert!(matches!(e.nets.get("twice"), Err(NetworkError::Invalid { .. })));
    assert_eq!(e.nets.get(&b.id).unwrap().id, b.id);
    assert_eq!(e.nets.get(&a.id).unwrap().id, a.id);
    let predefined = CreateRequest { allow_duplicate_name: true, ..req("bridge", None) };
    assert!(e.nets.create(predefined).is_err(), "a predefined name is never taken twice");
}

#[test]
fn networks_are_found_by_id_prefix() {
    let e = env();
    let a = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    assert_eq!(e.nets.get(&a.id[..8]).unwrap().name, "app");
    assert_eq!(e.nets.get(&a.id).unwrap().name, "app");
    assert!(matches!(e.nets.get("nope"), Err(NetworkError::NotFound(_))));
}

#[test]
fn a_corrupt_endpoint_is_an_error_naming_its_file() {
    let e = env();
    let app = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let (a, b) = (e.run(1), e.run(2));
    e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    let path = e.dir.path().join("endpoints").join(&app.id).join(format!("{a}.json"));
    std::fs::write(&path, b"{ not json").unwrap();
    let corrupt = |r: Result<_>| matches!(r, Err(NetworkError::Corrupt { path: ref p, .. }) if *p == path);
    assert!(corrupt(e.nets.endpoints(&app.id).map(drop)));
    assert!(corrupt(e.nets.endpoints_of(&a).map(drop)));
    assert!(corrupt(e.nets.connect(&b, "b", "app", &aliases(&[])).map(drop)), "its address may be in use");
    assert!(corrupt(e.nets.remove("app").map(drop)), "its veth may be on the bridge");
    assert!(e.nets.endpoints(&app.id).unwrap_err().to_string().contains(&path.display().to_string()));
    // Teardown goes on past it and reports it.
    assert!(corrupt(e.nets.delete_sandbox(&a)));
    assert!(!e.host.netns_exists(&Networks::sandbox_name(&a)));
}

#[test]
fn a_corrupt_network_is_an_error_and_temporaries_are_ignored() {
    let e = env();
    let dir = e.dir.path().join("networks");
    std::fs::write(dir.join("half-written.tmp"), b"{").unwrap();
    assert_eq!(e.nets.list().unwrap().len(), 3);
    let path = dir.join("broken.json");
    std::fs::write(&path, br#"{"id": 5}"#).unwrap();
    assert!(matches!(e.nets.list(), Err(NetworkError::Corrupt { path: ref p, .. }) if *p == path));
    assert!(matches!(e.nets.get("bridge"), Err(NetworkError::Corrupt { .. })));
    assert!(matches!(e.nets.create(req("x", None)), Err(NetworkError::Corrupt { .. })));
}

#[test]
fn delete_sandbox_detaches_every_endpoint() {
    let e = env();
    e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let clean = e.host.snapshot();
    let a = e.run(1);
    e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    e.nets.connect(&a, "a", "bridge", &aliases(&[])).unwrap();
    e.nets.delete_sandbox(&a).unwrap();
    e.nets.delete_sandbox(&a).unwrap();
    assert!(e.nets.endpoints_of(&a).unwrap().is_empty());
    let mut after = e.host.snapshot();
    after.links.remove(&(HOST_NS.to_string(), "wharf0".to_string()));
    assert_eq!(after, clean);
}

#[test]
fn a_deleted_sandbox_takes_its_pairs_and_a_stuck_one_is_disconnected_whole() {
    let e = env();
    e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let a = e.run(1);
    let ea = e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    e.nets.delete_sandbox(&a).unwrap();
    assert!(!e.host.calls().iter().any(|c| c.starts_with("delete_link")), "no pair deleted one by one");
    assert!(e.host.link(HOST_NS, &ea.veth).is_none() && e.nets.endpoints_of(&a).unwrap().is_empty());
    // A namespace that cannot be deleted: each endpoint is disconnected whole, the failure reported.
    let b = e.run(2);
    let eb = e.nets.connect(&b, "b", "app", &aliases(&[])).unwrap();
    e.host.fail_next("delete_netns");
    assert!(matches!(e.nets.delete_sandbox(&b), Err(NetworkError::Command { .. })), "reported");
    assert!(e.host.link(HOST_NS, &eb.veth).is_none() && e.nets.endpoints_of(&b).unwrap().is_empty());
    // A restart's pair has a name of its own (the old one may linger in the kernel).
    let again = e.nets.connect(&a, "a", "app", &aliases(&[]));
    assert!(matches!(again, Err(NetworkError::Conflict(_))), "no sandbox yet");
    e.nets.create_sandbox(&a).unwrap();
    assert_ne!(e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap().veth, ea.veth);
}

fn port(host_port: u16, container_port: u16) -> PortMapping {
    PortMapping {
        proto: "tcp".into(),
        host_ip: String::new(),
        host_port,
        container_ip: Ipv4Addr::UNSPECIFIED,
        container_port,
        container_ip6: None,
    }
}

#[test]
fn published_ports_go_to_the_endpoint_address_and_leave_with_it() {
    let e = env();
    let app = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let a = e.run(1);
    e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    let ep = e.nets.publish(&a, &app.id, &[port(8080, 80), port(8443, 443)]).unwrap();
    let ip = Ipv4Addr::new(10, 99, 0, 2);
    let want =
        vec![PortMapping { container_ip: ip, ..port(8080, 80) }, PortMapping { container_ip: ip, ..port(8443, 443) }];
    assert_eq!((e.firewall.ports(), &ep.ports), (want.clone(), &want));
    assert_eq!(e.nets.endpoints_of(&a).unwrap()[0].ports, want, "recorded with the endpoint");
    e.nets.disconnect(&a, "app").unwrap();
    assert!(e.firewall.ports().is_empty(), "disconnect unpublishes");
    // The same through the sandbox's teardown.
    e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    e.nets.publish(&a, &app.id, &[port(8080, 80)]).unwrap();
    e.nets.delete_sandbox(&a).unwrap();
    assert!(e.firewall.ports().is_empty());
    assert!(matches!(e.nets.publish(&a, &app.id, &[port(1, 1)]), Err(NetworkError::Conflict(_))), "not connected");
}

#[test]
fn a_failed_publish_publishes_nothing() {
    let e = env();
    let app = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    let a = e.run(1);
    e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    e.firewall.fail_publish(8443);
    let err = e.nets.publish(&a, &app.id, &[port(8080, 80), port(8443, 443)]).unwrap_err();
    assert!(matches!(err, NetworkError::Firewall { .. }), "{err:?}");
    assert!(e.firewall.ports().is_empty(), "the first port was taken back");
    assert!(e.nets.endpoints_of(&a).unwrap()[0].ports.is_empty());
}

#[test]
fn reconcile_gives_the_firewall_exactly_the_store() {
    let e = env();
    let app = e.nets.create(req("app", Some("10.99.0.0/24"))).unwrap();
    e.nets.create(CreateRequest { internal: true, ..req("inner", Some("10.97.0.0/24")) }).unwrap();
    let a = e.run(1);
    e.nets.connect(&a, "a", "app", &aliases(&[])).unwrap();
    e.nets.publish(&a, &app.id, &[port(8080, 80)]).unwrap();
    // What a crash could leave: a stale port, a stale network, a lost one.
    e.firewall.reconcile(&[], &[port(9999, 1)]).unwrap();
    e.nets.reconcile_firewall().unwrap();
    let mut nets: Vec<(String, bool)> =
        e.firewall.networks().into_iter().map(|n| (n.subnet.to_string(), n.internal)).collect();
    nets.sort();
    assert_eq!(
        nets,
        [("10.97.0.0/24".to_string(), true), ("10.99.0.0/24".to_string(), false), ("172.17.0.0/16".to_string(), false)]
    );
    assert_eq!(e.firewall.ports(), [PortMapping { container_ip: Ipv4Addr::new(10, 99, 0, 2), ..port(8080, 80) }]);
    assert_eq!(e.nets.firewall_rules().unwrap(), e.firewall.rules().unwrap());
}

#[test]
fn bridge_options_reach_the_links_and_the_firewall() {
    let e = env();
    let opts = [
        ("com.docker.network.driver.mtu", "1400"),
        ("com.docker.network.bridge.enable_icc", "false"),
        ("com.docker.network.bridge.enable_ip_masquerade", "0"),
    ];
    let options = opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let n = e.nets.create(CreateRequest { options, ..req("closed", Some("10.96.0.0/24")) }).unwrap();
    let dev = n.bridge.clone().unwrap();
    assert_eq!(e.host.link(HOST_NS, &dev).and_then(|l| l.mtu), Some(1400));
    let a = e.run(1);
    let ep = e.nets.connect(&a, "a", "closed", &aliases(&[])).unwrap();
    assert_eq!(e.host.link(HOST_NS, &ep.veth).and_then(|l| l.mtu), Some(1400), "host end");
    assert_eq!(e.host.link(&Networks::sandbox_name(&a), "eth0").and_then(|l| l.mtu), Some(1400), "sandbox end");
    let fw: Vec<(bool, bool)> =
        e.firewall.networks().iter().filter(|f| f.bridge == dev).map(|f| (f.icc, f.masquerade)).collect();
    assert_eq!(fw, [(false, false)]);
    assert_eq!(
        e.nets.get("closed").unwrap().options.get("com.docker.network.driver.mtu").map(String::as_str),
        Some("1400")
    );
}

#[test]
fn ipv6_networks_give_both_addresses_and_both_default_routes() {
    let e = env();
    let n = e
        .nets
        .create(CreateRequest {
            enable_ipv6: true,
            subnet6: Some("fd00:99::/64".into()),
            ..req("six", Some("10.95.0.0/24"))
        })
        .unwrap();
    assert_eq!((n.subnet6.as_deref(), n.gateway6.as_deref()), (Some("fd00:99::/64"), Some("fd00:99::1")));
    let dev = n.bridge.clone().unwrap();
    assert_eq!(e.host.link(HOST_NS, &dev).unwrap().addrs6, vec![("fd00:99::1".parse().unwrap(), 64)]);
    let (a, b) = (e.run(1), e.run(2));
    let ea = e.nets.connect(&a, "a", "six", &aliases(&[])).unwrap();
    assert_eq!((ea.ip6.as_str(), ea.prefix6, ea.gateway6.as_str()), ("fd00:99::2", 64, "fd00:99::1"));
    let sandbox = Networks::sandbox_name(&a);
    assert_eq!(e.host.link(&sandbox, "eth0").unwrap().addrs6, vec![("fd00:99::2".parse().unwrap(), 64)]);
    assert_eq!(e.host.snapshot().default_routes6.get(&sandbox).map(|r| r.1.to_string()), Some("fd00:99::1".into()));
    let fixed = crate::EndpointRequest { ipv6: Some("fd00:99::2".parse().unwrap()), ..Default::default() };
    assert!(matches!(e.nets.connect(&b, "b", "six", &fixed), Err(NetworkError::Conflict(_))), "in use");
    let fixed = crate::EndpointRequest { ipv6: Some("fd00:99::42".parse().unwrap()), ..Default::default() };
    assert_eq!(e.nets.connect(&b, "b", "six", &fixed).unwrap().ip6, "fd00:99::42");
    assert_eq!(
        e.firewall.networks().iter().find(|f| f.bridge == dev).and_then(|f| f.subnet6).map(|s| s.to_string()),
        Some("fd00:99::/64".into())
    );
    // Without a subnet: a unique local /64 of its own; a v6 subnet without --ipv6, an
    // overlapping one, an address on a v4-only network: refused.
    let auto = e.nets.create(CreateRequest { enable_ipv6: true, ..req("auto", None) }).unwrap();
    assert!(auto.subnet6.as_deref().is_some_and(|s| s.starts_with("fd") && s.ends_with("::/64")), "{auto:?}");
    let bad = CreateRequest { subnet6: Some("fd00:98::/64".into()), ..req("nov6", None) };
    assert!(matches!(e.nets.create(bad), Err(NetworkError::Invalid { .. })));
    let overlap = CreateRequest { enable_ipv6: true, subnet6: Some("fd00:99::/48".into()), ..req("over", None) };
    assert!(matches!(e.nets.create(overlap), Err(NetworkError::Conflict(_))));
    e.nets.create(req("v4", Some("10.94.0.0/24"))).unwrap();
    let c = e.run(3);
    assert!(matches!(e.nets.connect(&c, "c", "v4", &fixed), Err(NetworkError::Invalid { .. })));
}
