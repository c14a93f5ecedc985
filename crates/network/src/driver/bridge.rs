//! `bridge`: a Linux bridge per network (`wharf0` for the predefined
//! `bridge`, `br-<id12>` or `com.docker.network.bridge.name` for user
//! networks) holding the gateway address, and per endpoint a veth pair
//! whose sandbox end gets an address of the subnet (and, on the
//! container's first network, the default route). The bridge is made at
//! `create` and ensured again at each `connect` (the predefined one is
//! made lazily; a reboot loses them all); each time one is made the
//! firewall is asked to set the subnet up.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use sha2::Digest as _;

use super::{Attachment, CreateContext, NetworkDriver};
use crate::error::{NetworkError, Result};
use crate::firewall::{Firewall, FirewallNetwork};
use crate::ipam::{self, Subnet, Subnet6};
use crate::model::{now, random_id, valid_name, Endpoint, Network};
use crate::sys::{Host, Veth};

/// The option naming a user network's bridge device.
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";
/// The MTU of the bridge and of every endpoint's pair.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";
/// `false`: containers of the network cannot reach each other.
pub const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";
/// `false`: traffic leaving the network is not masqueraded.
pub const MASQUERADE_OPTION: &str = "com.docker.network.bridge.enable_ip_masquerade";
const OPTIONS: [&str; 4] = [BRIDGE_NAME_OPTION, MTU_OPTION, ICC_OPTION, MASQUERADE_OPTION];
/// The predefined network's bridge device.
pub const DEFAULT_BRIDGE: &str = "wharf0";

#[derive(Debug, Clone)]
pub struct Bridge {
    host: Arc<dyn Host>,
    firewall: Arc<dyn Firewall>,
    /// The predefined `bridge` network's device.
    default_device: String,
}

/// A network's subnet, gateway, bridge device and options, as recorded.
struct Layout {
    subnet: Subnet,
    gateway: Ipv4Addr,
    bridge: String,
    mtu: Option<u32>,
    icc: bool,
    masquerade: bool,
    /// An IPv6 network's subnet and gateway.
    v6: Option<(Subnet6, Ipv6Addr)>,
}

/// Go's `strconv.ParseBool`, as Docker reads these options.
fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(NetworkError::Invalid {
            what: "network option".into(),
            reason: format!("{key}: {v:?} is not a boolean"),
        }),
    }
}

fn parse_mtu(v: &str) -> Result<u32> {
    match v.parse::<u32>() {
        Ok(m) if (68..=65_535).contains(&m) => Ok(m),
        _ => Err(NetworkError::Invalid {
            what: "network option".into(),
            reason: format!("{MTU_OPTION}: {v:?} is not an MTU (68-65535)"),
        }),
    }
}

fn layout(net: &Network) -> Result<Layout> {
    let subnet = Subnet::parse(net.subnet.as_deref().unwrap_or_default())?;
    let gateway = net.gateway.as_deref().and_then(|g| g.parse().ok()).unwrap_or(subnet.first_host());
    let bridge = net.bridge.clone().unwrap_or_else(|| format!("br-{}", &net.id[..12.min(net.id.len())]));
    let opt = |k: &str| net.options.get(k).map(String::as_str);
    let mtu = opt(MTU_OPTION).map(parse_mtu).transpose()?;
    let icc = opt(ICC_OPTION).map(|v| parse_bool(ICC_OPTION, v)).transpose()?.unwrap_or(true);
    let masquerade = opt(MASQUERADE_OPTION).map(|v| parse_bool(MASQUERADE_OPTION, v)).transpose()?.unwrap_or(true);
    let v6 = match (net.enable_ipv6, net.subnet6.as_deref()) {
        (true, Some(s)) => {
            let s6 = Subnet6::parse(s)?;
            let gw = net.gateway6.as_deref().and_then(|g| g.parse().ok()).unwrap_or(s6.first_host());
            Some((s6, gw))
        }
        _ => None,
    };
    Ok(Layout { subnet, gateway, bridge, mtu, icc, masquerade, v6 })
}

impl Bridge {
    pub fn new(host: Arc<dyn Host>, firewall: Arc<dyn Firewall>) -> Bridge {
        Bridge { host, firewall, default_device: DEFAULT_BRIDGE.into() }
    }

    /// The device the predefined `bridge` network records when it is first
    /// recorded ([`DEFAULT_BRIDGE`] unless told): Wharf instances of other
    /// data roots on one host each need their own.
    pub fn with_default_device(mut self, device: &str) -> Bridge {
        self.default_device = device.to_string();
        self
    }

    /// The first default pool that overlaps no network and no route here.
    fn free_pool(&self, existing: &[Network]) -> Result<Subnet> {
        let mut taken = self.host.routes()?;
        taken.extend(subnets(existing));
        ipam::default_pools().find(|p| !taken.iter().any(|t| t.overlaps(p))).ok_or(NetworkError::NoPool)
    }

    /// Makes the bridge unless it exists, and then sets the subnet up in the
    /// firewall (a bridge that exists has been set up, or the daemon's
    /// reconcile at start sets it up again).
    fn ensure(&self, net: &Network, l: &Layout) -> Result<()> {
        if self.host.link_exists(&l.bridge)? {
            return Ok(());
        }
        let _lock = self.host.lock_addresses()?;
        self.make(net, l)
    }

    /// [`Self::ensure`] with the address lock held: the subnet must be routed
    /// nowhere on this host yet (another data root's network, say, that
    /// took it while this one's bridge was gone) — its bridge would make
    /// two routes for one subnet, and both networks would break.
    fn make(&self, net: &Network, l: &Layout) -> Result<()> {
        if self.host.link_exists(&l.bridge)? {
            return Ok(());
        }
        if let Some(r) = self.host.routes()?.into_iter().find(|r| l.subnet.covers(r)) {
            return Err(NetworkError::Conflict(format!(
                "network {}: its subnet {} overlaps {r}, routed on this host (another network, perhaps of another \
                 Wharf data root, or the host's own)",
                net.name, l.subnet
            )));
        }
        if let Err(e) = self.host.add_bridge(&l.bridge, l.gateway, l.subnet.prefix, l.mtu) {
            // A concurrent start created it first (and sets it up).
            return if self.host.link_exists(&l.bridge)? { Ok(()) } else { Err(e) };
        }
        tracing::debug!(bridge = %l.bridge, subnet = %l.subnet, network = %net.name, "bridge created");
        if let Some((s6, gw6)) = l.v6 {
            if let Err(e) = self.host.add_address6(&l.bridge, gw6, s6.prefix) {
                let _ = self.host.delete_link(&l.bridge);
                return Err(e);
            }
        }
        self.firewall.setup_network(&firewall_network(net, l))
    }
}

fn firewall_network(net: &Network, l: &Layout) -> FirewallNetwork {
    FirewallNetwork {
        bridge: l.bridge.clone(),
        subnet: l.subnet,
        internal: net.internal,
        icc: l.icc,
        masquerade: l.masquerade,
        subnet6: l.v6.map(|(s, _)| s),
    }
}

fn subnets6(nets: &[Network]) -> impl Iterator<Item = Subnet6> + '_ {
    nets.iter().filter(|n| n.enable_ipv6).filter_map(|n| n.subnet6.as_deref().and_then(|s| Subnet6::parse(s).ok()))
}

/// An IPv6 network's subnet and gateway from the request (a unique local
/// /64 of the network's own without a subnet); refused when it overlaps
/// another's or the gateway is outside it.
fn ipv6_layout(net: &Network, ctx: &CreateContext) -> Result<Option<(Subnet6, Ipv6Addr)>> {
    let req = ctx.request;
    if !req.enable_ipv6 {
        if req.subnet6.is_some() || req.gateway6.is_some() {
            return Err(NetworkError::Invalid {
                what: "network".into(),
                reason: "an IPv6 subnet or gateway needs IPv6 enabled (--ipv6)".into(),
            });
        }
        return Ok(None);
    }
    let s6 = match &req.subnet6 {
        Some(s) => Subnet6::parse(s)?,
        None => Subnet6::ula_for(&net.id),
    };
    if let Some(other) = ctx.existing.iter().find(|n| subnets6(std::slice::from_ref(n)).any(|x| x.overlaps(&s6))) {
        return Err(NetworkError::Conflict(format!(
            "Pool overlaps with other one on this address space ({})",
            other.name
        )));
    }
    let gw = match &req.gateway6 {
        Some(g) => {
            let ip: Ipv6Addr = g.parse().map_err(|_| NetworkError::Invalid {
                what: "gateway".into(),
                reason: format!("{g:?} is not an IPv6 address"),
            })?;
            if !s6.contains(ip) {
                return Err(NetworkError::Invalid {
                    what: "gateway".into(),
                    reason: format!("{ip} is not in subnet {s6}"),
                });
            }
            ip
        }
        None => s6.first_host(),
    };
    Ok(Some((s6, gw)))
}

fn subnets(nets: &[Network]) -> impl Iterator<Item = Subnet> + '_ {
    nets.iter().filter_map(|n| n.subnet.as_deref().and_then(|s| Subnet::parse(s).ok()))
}

/// The host end of a container's pair on a network, at most 15 characters:
/// one per endpoint (a restart's new pair never meets the old one, which
/// the kernel may still be taking away), recorded with it.
pub fn veth_name(container_id: &str, network_id: &str, endpoint_id: &str) -> String {
    let hash = sha2::Sha256::digest(format!("{container_id}/{network_id}/{endpoint_id}").as_bytes());
    format!("veth{}", hash.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>())[..15].to_string()
}

impl NetworkDriver for Bridge {
    fn name(&self) -> &'static str {
        "bridge"
    }

    fn predefined(&self, existing: &[Network]) -> Result<Option<Network>> {
        if existing.iter().any(|n| n.name == "bridge") {
            return Ok(None);
        }
        let subnet = self.free_pool(existing)?;
        Ok(Some(Network {
            id: random_id()?,
            name: "bridge".into(),
            driver: self.name().into(),
            created: now(),
            gateway: Some(subnet.first_host().to_string()),
            subnet: Some(subnet.to_string()),
            bridge: Some(self.default_device.clone()),
            options: [("com.docker.network.bridge.default_bridge".to_string(), "true".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        }))
    }

    fn create(&self, net: &mut Network, ctx: &CreateContext) -> Result<()> {
        let req = ctx.request;
        // Options the bridge driver does not apply are refused, never ignored.
        if let Some(k) = req.options.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
            return Err(NetworkError::Invalid {
                what: "network option".into(),
                reason: format!("{k} is not supported by Wharf's bridge driver (only {})", OPTIONS.join(", ")),
            });
        }
        // Held from the choice of the subnet to its bridge being there.
        let _lock = self.host.lock_addresses()?;
        let subnet = match &req.subnet {
            Some(s) => {
                let s = Subnet::parse(s)?;
                if let Some(other) =
                    ctx.existing.iter().find(|n| subnets(std::slice::from_ref(n)).any(|x| x.overlaps(&s)))
                {
                    return Err(NetworkError::Conflict(format!(
                        "Pool overlaps with other one on this address space ({})",
                        other.name
                    )));
                }
                s
            }
            None => self.free_pool(ctx.existing)?,
        };
        let gateway = match &req.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g.parse().map_err(|_| NetworkError::Invalid {
                    what: "gateway".into(),
                    reason: format!("{g:?} is not an IPv4 address"),
                })?;
                if !subnet.contains(ip) {
                    return Err(NetworkError::Invalid {
                        what: "gateway".into(),
                        reason: format!("{ip} is not in subnet {subnet}"),
                    });
                }
                ip
            }
            None => subnet.first_host(),
        };
        let bridge = match req.options.get(BRIDGE_NAME_OPTION) {
            // Interface names: what Linux allows, nothing more.
            Some(b) if b.len() > 15 || !valid_name(b) => {
                return Err(NetworkError::Invalid {
                    what: "bridge name".into(),
                    reason: format!("{b:?}: at most 15 characters of [a-zA-Z0-9_.-]"),
                })
            }
            // An existing interface (the host's uplink, another network's bridge) is never adopted:
            // removing the network would delete it.
            Some(b)
                if self.host.link_exists(b)?
                    || ctx.existing.iter().any(|n| n.bridge.as_deref() == Some(b.as_str())) =>
            {
                return Err(NetworkError::Conflict(format!("bridge name {b} is already in use")))
            }
            Some(b) => b.clone(),
            None => format!("br-{}", &net.id[..12.min(net.id.len())]),
        };
        let v6 = ipv6_layout(net, ctx)?;
        net.subnet = Some(subnet.to_string());
        net.gateway = Some(gateway.to_string());
        net.bridge = Some(bridge);
        if let Some((s6, gw6)) = v6 {
            net.enable_ipv6 = true;
            net.subnet6 = Some(s6.to_string());
            net.gateway6 = Some(gw6.to_string());
        }
        let l = layout(net)?;
        if let Err(e) = self.make(net, &l) {
            if let Err(undo) = self.remove(net) {
                tracing::warn!(network = %net.name, "undo a failed create: {undo}");
            }
            return Err(e);
        }
        Ok(())
    }

    /// The predefined `bridge` records its subnet when the store is first
    /// opened, its device is made at its first connect: in between another
    /// instance on this host may have routed that subnet.
    /// Under the address lock, the new subnet's bridge is made here.
    fn readdress(&self, net: &mut Network, existing: &[Network]) -> Result<bool> {
        let l = layout(net)?;
        if !net.predefined() || self.host.link_exists(&l.bridge)? {
            return Ok(false);
        }
        let _lock = self.host.lock_addresses()?;
        if self.host.link_exists(&l.bridge)? || !self.host.routes()?.iter().any(|r| l.subnet.covers(r)) {
            return Ok(false);
        }
        let subnet = self.free_pool(existing)?;
        tracing::info!(network = %net.name, was = %l.subnet, now = %subnet, "subnet taken on this host: readdressed");
        let mut moved = net.clone();
        moved.subnet = Some(subnet.to_string());
        moved.gateway = Some(subnet.first_host().to_string());
        self.make(&moved, &layout(&moved)?)?;
        // The old subnet's firewall setup (a daemon's reconcile may have made it) goes.
        if let Err(e) = self.firewall.teardown_network(&firewall_network(net, &l)) {
            tracing::warn!(network = %net.name, "tear the old subnet's rules down: {e}");
        }
        *net = moved;
        Ok(true)
    }

    fn remove(&self, net: &Network) -> Result<()> {
        let l = layout(net)?;
        let mut errors = Vec::new();
        if let Err(e) = self.firewall.teardown_network(&firewall_network(net, &l)) {
            errors.push(e);
        }
        if let Err(e) = self.host.delete_link(&l.bridge) {
            errors.push(e);
        }
        NetworkError::collect(errors)
    }

    fn connect(&self, net: &Network, ep: &mut Endpoint, at: &Attachment) -> Result<()> {
        let l = layout(net)?;
        let ip = match at.ip {
            Some(ip) if !l.subnet.contains(ip) => {
                return Err(NetworkError::Invalid {
                    what: "IP address".into(),
                    reason: format!("Invalid address {ip}: It does not belong to any of this network's subnets"),
                })
            }
            Some(ip)
                if ip == l.gateway
                    || at.used.contains(&ip)
                    || ip == l.subnet.addr
                    || u32::from(ip) == l.subnet.broadcast() =>
            {
                return Err(NetworkError::Conflict(format!("Address already in use: {ip}")))
            }
            Some(ip) => ip,
            None => l.subnet.allocate(l.gateway, at.used)?,
        };
        let ip6 = match (l.v6, at.ip6) {
            (None, Some(_)) => {
                return Err(NetworkError::Invalid {
                    what: "IP address".into(),
                    reason: format!("network {} has no IPv6 (--ipv6)", net.name),
                })
            }
            (None, None) => None,
            (Some((s6, _)), Some(ip)) if !s6.contains(ip) => {
                return Err(NetworkError::Invalid {
                    what: "IP address".into(),
                    reason: format!("Invalid address {ip}: It does not belong to any of this network's subnets"),
                })
            }
            (Some((s6, gw6)), Some(ip)) if ip == gw6 || ip == s6.addr || at.used6.contains(&ip) => {
                return Err(NetworkError::Conflict(format!("Address already in use: {ip}")))
            }
            (Some((s6, _)), Some(ip)) => Some((ip, s6.prefix)),
            (Some((s6, gw6)), None) => Some((s6.allocate(gw6, at.used6)?, s6.prefix)),
        };
        self.ensure(net, &l)?;
        let host = veth_name(&ep.container_id, &net.id, &ep.id);
        let v = Veth {
            host,
            bridge: l.bridge.clone(),
            netns: at.sandbox.to_string(),
            ifname: ep.ifname.clone(),
            mac: at.mac.map_or_else(|| ipam::mac_for(ip), str::to_string),
            addr: ip,
            prefix: l.subnet.prefix,
            gateway: (!net.internal && at.first).then_some(l.gateway),
            mtu: l.mtu,
            addr6: ip6,
            gateway6: l.v6.filter(|_| !net.internal && at.first).map(|(_, gw)| gw),
        };
        self.host.add_veth(&v)?;
        if let Err(e) = self.host.configure_peer(&v) {
            if let Err(undo) = self.host.delete_link(&v.host) {
                tracing::warn!(veth = %v.host, "undo a failed connect: {undo}");
            }
            return Err(e);
        }
        ep.ip = ip.to_string();
        ep.prefix = l.subnet.prefix;
        ep.gateway = l.gateway.to_string();
        if let Some(((ip6, prefix6), (_, gw6))) = ip6.zip(l.v6) {
            (ep.ip6, ep.prefix6, ep.gateway6) = (ip6.to_string(), prefix6, gw6.to_string());
        }
        ep.mac = v.mac;
        ep.veth = v.host;
        Ok(())
    }

    fn firewall_network(&self, net: &Network) -> Result<Option<FirewallNetwork>> {
        Ok(Some(firewall_network(net, &layout(net)?)))
    }

    fn disconnect(&self, _: &Network, ep: &Endpoint) -> Result<()> {
        if ep.veth.is_empty() {
            return Ok(());
        }
        self.host.delete_link(&ep.veth)
    }

    /// The pair went with the sandbox: nothing is left to undo.
    fn release(&self, _: &Network, _: &Endpoint) -> Result<()> {
        Ok(())
    }
}
