//! The contract every [`NetworkDriver`] keeps, run unchanged against each
//! one (as containerd's `core/snapshots/testsuite` is against every
//! snapshotter): through the store, on the fake host and the recording
//! firewall. A driver may refuse `create` or `connect` (`host`, `null`),
//! but only with a typed refusal that leaves the host as it was; whatever it
//! makes, `remove`, `disconnect` and `delete_sandbox` take away; a failing
//! host operation leaves no half-made network or endpoint behind. A new
//! driver (CNI) gets the suite with one line in `driver_suite!` below.

use std::sync::Arc;

use crate::driver::{Drivers, NetworkDriver};
use crate::error::{NetworkError, Result};
use crate::firewall::{Firewall, RecordingFirewall};
use crate::model::{CreateRequest, Endpoint, Network};
use crate::networks::Networks;
use crate::sys::fake::{FakeHost, FakeState, LinkKind, HOST_NS, OPERATIONS};
use crate::sys::Host;

/// Makes the driver under test on the given host and firewall.
type Make = fn(Arc<dyn Host>, Arc<dyn Firewall>) -> Arc<dyn NetworkDriver>;

struct Suite {
    _dir: tempfile::TempDir,
    host: FakeHost,
    firewall: RecordingFirewall,
    nets: Networks,
    driver: &'static str,
}

fn suite(make: Make) -> Suite {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost::new();
    let firewall = RecordingFirewall::new();
    let h: Arc<dyn Host> = Arc::new(host.clone());
    let driver = make(h.clone(), Arc::new(firewall.clone()));
    let name = driver.name();
    let nets = Networks::open_with(dir.path(), h, Arc::new(firewall.clone()), Drivers::new().with(driver)).unwrap();
    Suite { _dir: dir, host, firewall, nets, driver: name }
}

/// Refusals are the request's fault, never a host failure.
fn is_refusal(e: &NetworkError) -> bool {
    matches!(e, NetworkError::Invalid { .. } | NetworkError::Conflict(_) | NetworkError::Predefined(_))
}

fn cid(n: u8) -> String {
    format!("{n:02}{}", "d".repeat(62))
}

impl Suite {
    fn request(&self, name: &str) -> CreateRequest {
        CreateRequest { name: name.into(), driver: Some(self.driver.into()), ..Default::default() }
    }

    /// A network of the driver: a new one if it creates, else its predefined one.
    fn network(&self) -> Network {
        match self.nets.create(self.request("suite")) {
            Ok(n) => n,
            Err(e) => {
                assert!(is_refusal(&e), "{e}");
                let all = self.nets.list().unwrap();
                all.into_iter().find(|n| n.driver == self.driver).expect("a driver that creates nothing has a network")
            }
        }
    }

    /// What the host and the firewall hold.
    fn state(&self) -> (FakeState, Vec<crate::firewall::FirewallNetwork>) {
        (self.host.snapshot(), self.firewall.networks())
    }

    fn sandbox(&self, n: u8) -> (String, String) {
        let id = cid(n);
        self.nets.create_sandbox(&id).unwrap();
        (id.clone(), Networks::sandbox_name(&id))
    }

    /// The sandbox holds its loopback only and nothing on the host points into it.
    fn assert_unwired(&self, id: &str, sandbox: &str) {
        let s = self.host.snapshot();
        let inside: Vec<&String> = s.links.keys().filter(|(ns, _)| ns == sandbox).map(|(_, n)| n).collect();
        assert!(inside.iter().all(|n| *n == "lo"), "left in the sandbox: {inside:?}");
        assert!(!s.default_routes.contains_key(sandbox));
        let into = s.links.values().any(|l| matches!(&l.kind, LinkKind::Veth { peer } if peer.0 == sandbox));
        assert!(!into, "a veth still leads into the sandbox");
        assert!(self.nets.endpoints_of(id).unwrap().is_empty());
    }

    fn connect(&self, net: &Network, n: u8) -> (String, String, Result<Endpoint>) {
        let (id, sandbox) = self.sandbox(n);
        let r = self.nets.connect(
            &id,
            &format!("c{n}"),
            &net.id,
            &crate::EndpointRequest { aliases: Vec::new(), ..Default::default() },
        );
        (id, sandbox, r)
    }
}

fn predefined_is_recorded_without_host_changes(make: Make) {
    let s = suite(make);
    assert_eq!(s.host.snapshot(), FakeState::default());
    assert!(s.firewall.calls().is_empty());
    assert!(s.nets.list().unwrap().iter().all(|n| n.driver == s.driver && n.predefined()));
}

fn create_is_undone_by_remove(make: Make) {
    let s = suite(make);
    let (before, listed) = (s.state(), s.nets.list().unwrap());
    match s.nets.create(s.request("one")) {
        Ok(n) => {
            assert_eq!((n.name.as_str(), n.driver.as_str()), ("one", s.driver));
            assert_eq!(s.nets.get("one").unwrap(), n);
            assert!(matches!(s.nets.create(s.request("one")), Err(NetworkError::Exists(_))));
            assert_eq!(s.nets.remove("one").unwrap().id, n.id);
            assert!(matches!(s.nets.get(&n.id), Err(NetworkError::NotFound(_))));
        }
        Err(e) => assert!(is_refusal(&e), "{e}"),
    }
    assert_eq!(s.state(), before);
    assert_eq!(s.nets.list().unwrap(), listed);
}

fn a_failed_create_leaves_nothing(make: Make) {
    let s = suite(make);
    let (before, listed) = (s.state(), s.nets.list().unwrap());
    for op in OPERATIONS {
        s.host.fail_next(op);
        let r = s.nets.create(s.request("fails"));
        s.host.clear_failures();
        if let Ok(n) = r {
            s.nets.remove(&n.id).unwrap();
        }
        assert_eq!(s.state(), before, "after a failing {op}");
        assert_eq!(s.nets.list().unwrap(), listed, "after a failing {op}");
    }
}

fn connect_is_undone_by_disconnect(make: Make) {
    let s = suite(make);
    let net = s.network();
    let (id, sandbox) = s.sandbox(1);
    let before = s.state();
    match s.nets.connect(
        &id,
        "c1",
        &net.id,
        &crate::EndpointRequest { aliases: vec!["alias".into()], ..Default::default() },
    ) {
        Ok(ep) => {
            assert_eq!((ep.network_id.as_str(), ep.container_id.as_str()), (net.id.as_str(), id.as_str()));
            assert_eq!((ep.ifname.as_str(), ep.aliases.as_slice()), ("eth0", &["alias".to_string()][..]));
            assert_eq!(s.nets.endpoints(&net.id).unwrap(), std::slice::from_ref(&ep));
            assert_eq!(s.nets.endpoints_of(&id).unwrap(), std::slice::from_ref(&ep));
            if !ep.ip.is_empty() {
                let link = s.host.link(&sandbox, &ep.ifname).expect("the endpoint's interface in the sandbox");
                let ip = ep.ip.parse().unwrap();
                assert_eq!(link.addrs, [(ip, ep.prefix)]);
                let subnet = crate::ipam::Subnet::parse(net.subnet.as_deref().unwrap()).unwrap();
                assert!(subnet.contains(ip));
            }
            assert!(
                matches!(
                    s.nets.connect(
                        &id,
                        "c1",
                        &net.id,
                        &crate::EndpointRequest { aliases: Vec::new(), ..Default::default() }
                    ),
                    Err(NetworkError::Conflict(_))
                ),
                "twice"
            );
            s.nets.disconnect(&id, &net.id).unwrap();
            assert!(matches!(s.nets.disconnect(&id, &net.id), Err(NetworkError::Conflict(_))));
        }
        Err(e) => assert!(is_refusal(&e), "{e}"),
    }
    s.assert_unwired(&id, &sandbox);
    assert_eq!(s.state(), before);
}

fn a_failed_connect_leaves_nothing(make: Make) {
    let s = suite(make);
    let net = s.network();
    let (id, sandbox) = s.sandbox(1);
    let before = s.state();
    for op in OPERATIONS {
        s.host.fail_next(op);
        let r =
            s.nets.connect(&id, "c1", &net.id, &crate::EndpointRequest { aliases: Vec::new(), ..Default::default() });
        s.host.clear_failures();
        if r.is_ok() {
            s.nets.disconnect(&id, &net.id).unwrap();
        }
        s.assert_unwired(&id, &sandbox);
        assert_eq!(s.state(), before, "after a failing {op}");
    }
}

fn a_failed_teardown_keeps_its_record_for_a_retry(make: Make) {
    let s = suite(make);
    let before = s.state();
    let created = s.nets.create(s.request("kept")).ok();
    let net = created.clone().unwrap_or_else(|| s.network());
    let (id, _, connected) = s.connect(&net, 1);
    for op in OPERATIONS {
        s.host.fail_next(op);
        let r = s.nets.disconnect(&id, &net.id);
        s.host.clear_failures();
        match (&connected, r) {
            (Ok(_), Err(_)) => assert_eq!(s.nets.endpoints_of(&id).unwrap().len(), 1, "{op}: record kept"),
            (Ok(_), Ok(())) => break,
            (Err(_), r) => assert!(matches!(r, Err(NetworkError::Conflict(_))), "{op}: nothing to disconnect"),
        }
    }
    if connected.is_ok() && !s.nets.endpoints_of(&id).unwrap().is_empty() {
        s.nets.disconnect(&id, &net.id).unwrap();
    }
    s.nets.delete_sandbox(&id).unwrap();
    if let Some(n) = created {
        for op in OPERATIONS {
            s.host.fail_next(op);
            let r = s.nets.remove(&n.id);
            s.host.clear_failures();
            match r {
                Ok(_) => break,
                Err(_) => assert!(s.nets.get(&n.id).is_ok(), "{op}: record kept"),
            }
        }
        if s.nets.get(&n.id).is_ok() {
            s.nets.remove(&n.id).unwrap();
        }
    }
    assert_eq!(s.state(), before);
}

fn endpoints_keep_their_network_and_addresses(make: Make) {
    let s = suite(make);
    let net = s.network();
    let (_, _, a) = s.connect(&net, 1);
    let (_, _, b) = s.connect(&net, 2);
    if let (Ok(a), Ok(b)) = (&a, &b) {
        assert!(a.ip.is_empty() || a.ip != b.ip, "one address, two endpoints");
        assert_ne!(a.veth, b.veth);
    }
    let r = s.nets.remove(&net.id);
    if a.is_ok() || net.predefined() {
        assert!(matches!(r, Err(NetworkError::ActiveEndpoints { .. } | NetworkError::Predefined(_))), "{r:?}");
        assert!(s.nets.get(&net.id).is_ok());
    }
}

fn delete_sandbox_releases_everything(make: Make) {
    let s = suite(make);
    let net = s.network();
    let before = s.state();
    let (id, sandbox, _) = s.connect(&net, 1);
    s.nets.delete_sandbox(&id).unwrap();
    s.nets.delete_sandbox(&id).unwrap();
    assert!(!s.host.netns_exists(&sandbox));
    s.assert_unwired(&id, &sandbox);
    assert_eq!(s.state(), before);
}

fn disconnect_survives_a_vanished_sandbox(make: Make) {
    let s = suite(make);
    let net = s.network();
    let before = s.state();
    let (id, sandbox, r) = s.connect(&net, 1);
    // The container's namespace went first (its last process died).
    s.host.delete_netns(&sandbox).unwrap();
    if r.is_ok() {
        s.nets.disconnect(&id, &net.id).unwrap();
    }
    assert!(s.nets.endpoints(&net.id).unwrap().is_empty());
    assert!(s.host.snapshot().links.keys().all(|(ns, _)| ns == HOST_NS));
    assert_eq!(s.state(), before);
}

macro_rules! driver_suite {
    ($($driver:ident => $make:expr;)*) => {$(
        mod $driver {
            driver_suite!(@tests $make;
                predefined_is_recorded_without_host_changes,
                create_is_undone_by_remove,
                a_failed_create_leaves_nothing,
                connect_is_undone_by_disconnect,
                a_failed_connect_leaves_nothing,
                a_failed_teardown_keeps_its_record_for_a_retry,
                endpoints_keep_their_network_and_addresses,
                delete_sandbox_releases_everything,
                disconnect_survives_a_vanished_sandbox);
        }
    )*};
    (@tests $make:expr; $($test:ident),*) => {$(
        #[test]
        fn $test() {
            super::$test($make)
        }
    )*};
}

driver_suite! {
    bridge => |host, firewall| std::sync::Arc::new(crate::driver::Bridge::new(host, firewall));
    host => |_, _| std::sync::Arc::new(crate::driver::HOST);
    null => |_, _| std::sync::Arc::new(crate::driver::NULL);
}
