//! An in-memory [`Host`]: links, addresses, default routes and named
//! namespaces, with the kernel's rules that matter to the drivers (a veth
//! pair dies as one, a namespace takes its links with it, an address on a
//! link routes its subnet). Failures can be injected per operation.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Host, Veth};
use crate::error::{NetworkError, Result};
use crate::ipam::Subnet;

/// The daemon's own namespace in [`FakeState::links`] keys.
pub const HOST_NS: &str = "";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Bridge,
    Loopback,
    /// One end of a pair; the other end's (namespace, name).
    Veth {
        peer: (String, String),
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeLink {
    pub kind: LinkKind,
    pub master: Option<String>,
    pub addrs: Vec<(Ipv4Addr, u8)>,
    pub mac: Option<String>,
    pub up: bool,
    pub mtu: Option<u32>,
    pub addrs6: Vec<(Ipv6Addr, u8)>,
}

impl FakeLink {
    /// A link of `kind`, up, with nothing else set.
    fn up(kind: LinkKind) -> FakeLink {
        FakeLink { kind, master: None, addrs: Vec::new(), mac: None, up: true, mtu: None, addrs6: Vec::new() }
    }
}

/// What the fake host holds; compare snapshots to see what an operation left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeState {
    /// By (namespace, name); [`HOST_NS`] is the daemon's namespace.
    pub links: BTreeMap<(String, String), FakeLink>,
    pub netns: BTreeSet<String>,
    /// Default route of each namespace: the device and the gateway.
    pub default_routes: BTreeMap<String, (String, Ipv4Addr)>,
    /// IPv6 default route of each namespace.
    pub default_routes6: BTreeMap<String, (String, Ipv6Addr)>,
    /// Routes of the host that no link here explains (an uplink's subnet).
    pub external_routes: Vec<Subnet>,
}

#[derive(Debug, Default)]
struct Inner {
    state: FakeState,
    /// Operations (method names) that fail on their next call.
    fail: BTreeSet<&'static str>,
    calls: Vec<String>,
}

/// Cheap to clone: clones share one host.
#[derive(Debug, Clone, Default)]
pub struct FakeHost(Arc<Mutex<Inner>>);

fn refused(op: &str, what: impl std::fmt::Display) -> NetworkError {
    NetworkError::Command { command: format!("fake {op}"), message: what.to_string() }
}

/// The [`Host`] methods that change or read the host, for [`FakeHost::fail_next`].
pub const OPERATIONS: [&str; 9] = [
    "link_exists",
    "routes",
    "add_netns",
    "delete_netns",
    "add_bridge",
    "add_address6",
    "add_veth",
    "configure_peer",
    "delete_link",
];

impl FakeHost {
    pub fn new() -> FakeHost {
        FakeHost::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked with the lock held fails anyway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the host's state now.
    pub fn snapshot(&self) -> FakeState {
        self.inner().state.clone()
    }

    /// Every call so far, e.g. `add_bridge br-0123 10.0.0.1/24`.
    pub fn calls(&self) -> Vec<String> {
        self.inner().calls.clone()
    }

    /// Makes the next call of `op` (a [`Host`] method name) fail.
    pub fn fail_next(&self, op: &'static str) {
        self.inner().fail.insert(op);
    }

    /// Forgets failures injected and not yet hit.
    pub fn clear_failures(&self) {
        self.inner().fail.clear();
    }

    /// Adds a route the host has for other reasons (IPAM must avoid it).
    pub fn add_external_route(&self, s: Subnet) {
        self.inner().state.external_routes.push(s);
    }

    /// Adds a link to the daemon's namespace (e.g. the host's uplink).
    pub fn add_host_link(&self, name: &str) {
        let link = FakeLink::up(LinkKind::Loopback);
        self.inner().state.links.insert((HOST_NS.into(), name.into()), link);
    }

    /// A link, by namespace ([`HOST_NS`] for the daemon's) and name.
    pub fn link(&self, ns: &str, name: &str) -> Option<FakeLink> {
        self.inner().state.links.get(&(ns.to_string(), name.to_string())).cloned()
    }

    fn call(&self, op: &'static str, args: String) -> Result<MutexGuard<'_, Inner>> {
        let mut inner = self.inner();
        inner.calls.push(format!("{op} {args}"));
        if inner.fail.remove(op) {
            return Err(refused(op, "injected failure"));
        }
        Ok(inner)
    }
}

impl FakeState {
    /// Removes a link and, for a veth, its peer, with the routes through them.
    fn remove_link(&mut self, key: &(String, String)) {
        let mut gone = vec![key.clone()];
        if let Some(FakeLink { kind: LinkKind::Veth { peer }, .. }) = self.links.remove(key) {
            self.links.remove(&peer);
            gone.push(peer);
        }
        self.default_routes.retain(|ns, (dev, _)| !gone.contains(&(ns.clone(), dev.clone())));
        self.default_routes6.retain(|ns, (dev, _)| !gone.contains(&(ns.clone(), dev.clone())));
    }
}

impl Host for FakeHost {
    fn link_exists(&self, dev: &str) -> Result<bool> {
        let inner = self.call("link_exists", dev.into())?;
        Ok(inner.state.links.contains_key(&(HOST_NS.to_string(), dev.to_string())))
    }

    fn lock_addresses(&self) -> Result<super::AddressLock> {
        Ok(None)
    }

    fn routes(&self) -> Result<Vec<Subnet>> {
        let inner = self.call("routes", String::new())?;
        let s = &inner.state;
        let mut out = s.external_routes.clone();
        for ((ns, _), l) in &s.links {
            if ns == HOST_NS {
                out.extend(
                    l.addrs.iter().map(|(a, p)| Subnet { addr: Ipv4Addr::from(u32::from(*a) & mask(*p)), prefix: *p }),
                );
            }
        }
        Ok(out)
    }

    fn netns_path(&self, name: &str) -> PathBuf {
        Path::new("/fake/netns").join(name)
    }

    fn netns_exists(&self, name: &str) -> bool {
        self.inner().state.netns.contains(name)
    }

    fn add_netns(&self, name: &str) -> Result<PathBuf> {
        let mut inner = self.call("add_netns", name.into())?;
        inner.state.netns.insert(name.into());
        let lo = FakeLink::up(LinkKind::Loopback);
        inner.state.links.insert((name.into(), "lo".into()), lo);
        Ok(self.netns_path(name))
    }

    fn delete_netns(&self, name: &str) -> Result<()> {
        let mut inner = self.call("delete_netns", name.into())?;
        let s = &mut inner.state;
        s.netns.remove(name);
        s.default_routes.remove(name);
        s.default_routes6.remove(name);
        let inside: Vec<_> = s.links.keys().filter(|(ns, _)| ns == name).cloned().collect();
        for key in inside {
            s.remove_link(&key);
        }
        Ok(())
    }

    fn add_bridge(&self, dev: &str, gateway: Ipv4Addr, prefix: u8, mtu: Option<u32>) -> Result<()> {
        let mut inner = self.call("add_bridge", format!("{dev} {gateway}/{prefix}"))?;
        let key = (HOST_NS.to_string(), dev.to_string());
        if inner.state.links.contains_key(&key) {
            return Err(refused("add_bridge", format!("{dev}: file exists")));
        }
        let link = FakeLink { addrs: vec![(gateway, prefix)], mtu, ..FakeLink::up(LinkKind::Bridge) };
        inner.state.links.insert(key, link);
        Ok(())
    }

    fn add_veth(&self, v: &Veth) -> Result<()> {
        let mut inner = self.call("add_veth", format!("{} {} {} {}", v.host, v.ifname, v.netns, v.bridge))?;
        let s = &mut inner.state;
        let host = (HOST_NS.to_string(), v.host.clone());
        let peer = (v.netns.clone(), v.ifname.clone());
        if !s.netns.contains(&v.netns) {
            return Err(refused("add_veth", format!("netns {}: no such file", v.netns)));
        }
        if s.links.contains_key(&host) || s.links.contains_key(&peer) {
            return Err(refused("add_veth", format!("{}: file exists", v.host)));
        }
        if !matches!(
            s.links.get(&(HOST_NS.to_string(), v.bridge.clone())),
            Some(FakeLink { kind: LinkKind::Bridge, .. })
        ) {
            return Err(refused("add_veth", format!("bridge {}: no such device", v.bridge)));
        }
        let end = |peer, master| FakeLink { master, mtu: v.mtu, ..FakeLink::up(LinkKind::Veth { peer }) };
        s.links.insert(host.clone(), end(peer.clone(), Some(v.bridge.clone())));
        s.links.insert(peer, FakeLink { mac: Some(v.mac.clone()), ..end(host, None) });
        Ok(())
    }

    fn configure_peer(&self, v: &Veth) -> Result<()> {
        let mut inner = self.call("configure_peer", format!("{} {} {}/{}", v.netns, v.ifname, v.addr, v.prefix))?;
        let s = &mut inner.state;
        let key = (v.netns.clone(), v.ifname.clone());
        if v.gateway.is_some() && s.default_routes.contains_key(&v.netns) {
            return Err(refused("configure_peer", "default route: file exists"));
        }
        let Some(link) = s.links.get_mut(&key) else {
            return Err(refused("configure_peer", format!("{}: no such device", v.ifname)));
        };
        if link.addrs.contains(&(v.addr, v.prefix)) {
            return Err(refused("configure_peer", format!("{}/{}: file exists", v.addr, v.prefix)));
        }
        link.addrs.push((v.addr, v.prefix));
        link.addrs6.extend(v.addr6);
        link.up = true;
        if let Some(gw) = v.gateway {
            s.default_routes.insert(v.netns.clone(), (v.ifname.clone(), gw));
        }
        if let Some(gw) = v.gateway6 {
            s.default_routes6.insert(v.netns.clone(), (v.ifname.clone(), gw));
        }
        Ok(())
    }

    fn add_address6(&self, dev: &str, addr: Ipv6Addr, prefix: u8) -> Result<()> {
        let mut inner = self.call("add_address6", format!("{dev} {addr}/{prefix}"))?;
        let Some(link) = inner.state.links.get_mut(&(HOST_NS.to_string(), dev.to_string())) else {
            return Err(refused("add_address6", format!("{dev}: no such device")));
        };
        if link.addrs6.contains(&(addr, prefix)) {
            return Err(refused("add_address6", format!("{addr}/{prefix}: file exists")));
        }
        link.addrs6.push((addr, prefix));
        Ok(())
    }

    fn delete_link(&self, dev: &str) -> Result<()> {
        let mut inner = self.call("delete_link", dev.into())?;
        inner.state.remove_link(&(HOST_NS.to_string(), dev.to_string()));
        Ok(())
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0)
}
