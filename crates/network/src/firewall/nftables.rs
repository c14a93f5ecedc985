//! nftables, in Wharf's own table (`inet wharf`) only: nobody else's rules
//! are read, changed or flushed. The table's chains and rules are fixed;
//! what changes are the elements of its sets and maps, so every change is
//! one atomic, idempotent `nft -j` batch of element additions or removals
//! (a removal adds the element first, so removing what is not there is
//! success) and never duplicates a rule.
//!
//! - `bridges`, `same` (bridge . bridge), `subnets`, `internal`: the
//!   networks. Traffic from a subnet leaving by any other than a Wharf
//!   bridge is masqueraded; forwarding between two Wharf bridges is
//!   dropped (networks are isolated from each other, as Docker's); an
//!   internal network forwards nothing in or out.
//! - `any_addr`/`any_port` (by proto . port) and `ip_addr`/`ip_port` (by
//!   address . proto . port): published ports, DNAT to the container's
//!   address and port, for
//!   traffic to a local address arriving from outside (prerouting) or made
//!   on the host to a non-loopback address (output). Connections to
//!   127.0.0.1 and from containers are the userland proxy's (Docker's
//!   default, `userland-proxy: true`), so every path reaches the port and
//!   the DNAT path keeps the client's source address.
//!
//! The table is made when first needed (under a lock file, so processes
//! that start containers at once make it once) and rebuilt whole, with
//! exactly the elements of what exists, by [`Firewall::reconcile`].

use std::borrow::Cow;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use nftables::expr::{Expression, NamedExpression, Prefix};
use nftables::schema::{Element, NfCmd, NfListObject, NfObject, Nftables, Table};
use nftables::types::NfFamily;

use super::{Firewall, FirewallNetwork, PortMapping};
use crate::error::{NetworkError, Result};

/// Wharf's table.
pub const TABLE: &str = "wharf";

#[derive(Debug)]
pub struct NfTables {
    /// Serialises making the table across processes.
    lock: PathBuf,
    ready: OnceLock<()>,
    /// Docker's `userland-proxy`: loopback and container clients are the proxy's.
    userland_proxy: bool,
}

impl NfTables {
    pub fn new(lock: impl Into<PathBuf>) -> NfTables {
        NfTables { lock: lock.into(), ready: OnceLock::new(), userland_proxy: true }
    }

    /// Without the userland proxy the kernel serves every path to a published port.
    pub fn with_userland_proxy(mut self, on: bool) -> NfTables {
        self.userland_proxy = on;
        self
    }

    fn flock(&self) -> Result<nix::fcntl::Flock<File>> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(NetworkError::io("open", &self.lock))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| NetworkError::io("lock", &self.lock)(e.into()))
    }

    /// The table exists (made now if not) and the host forwards IPv4.
    fn ensure(&self) -> Result<()> {
        if self.ready.get().is_some() {
            return Ok(());
        }
        let _lock = self.flock()?;
        if !table_exists()? {
            apply("create the table", base(false, self.userland_proxy, Vec::new()))?;
        }
        forward_ipv4()?;
        let _ = self.ready.set(());
        Ok(())
    }

    fn elements(&self, op: &'static str, add: bool, elements: Vec<(&'static str, Expression<'static>)>) -> Result<()> {
        self.ensure()?;
        let mut cmds = Vec::new();
        for (set, e) in elements {
            let el = || NfListObject::Element(element(set, e.clone()));
            cmds.push(NfObject::CmdObject(NfCmd::Add(el())));
            if !add {
                cmds.push(NfObject::CmdObject(NfCmd::Delete(el())));
            }
        }
        apply(op, cmds)
    }
}

fn element(set: &'static str, e: Expression<'static>) -> Element<'static> {
    Element { family: NfFamily::INet, table: TABLE.into(), name: set.into(), elem: Cow::Owned(vec![e]) }
}

fn s(v: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(v.into()))
}

fn concat(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(items))
}

/// The set elements of a network.
fn network_elements(net: &FirewallNetwork) -> Vec<(&'static str, Expression<'static>)> {
    let pair = || concat(vec![s(&net.bridge), s(&net.bridge)]);
    let mut out = vec![("bridges", s(&net.bridge)), ("same", pair())];
    if !net.icc {
        out.push(("no_icc", pair()));
    }
    if net.internal {
        out.push(("internal", s(&net.bridge)));
    } else if net.masquerade {
        let prefix = Prefix { addr: Box::new(s(net.subnet.addr.to_string())), len: net.subnet.prefix.into() };
        out.push(("subnets", Expression::Named(NamedExpression::Prefix(prefix))));
        if let Some(s6) = net.subnet6 {
            let prefix = Prefix { addr: Box::new(s(s6.addr.to_string())), len: s6.prefix.into() };
            out.push(("subnets6", Expression::Named(NamedExpression::Prefix(prefix))));
        }
    }
    out
}

/// The map elements of a published port; none for a loopback host address
/// (only the userland proxy serves those).
fn port_elements(p: &PortMapping) -> Vec<(&'static str, Expression<'static>)> {
    let mut key = vec![s(&p.proto), Expression::Number(p.host_port.into())];
    let maps = match p.host_ip.as_str() {
        "" | "0.0.0.0" => ("any_addr", "any_port"),
        ip if ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback()) => return Vec::new(),
        // A port on one IPv6 address is the userland proxy's.
        ip if ip.parse::<std::net::Ipv6Addr>().is_ok() => return Vec::new(),
        ip => {
            key.insert(0, s(ip));
            ("ip_addr", "ip_port")
        }
    };
    let key = concat(key);
    let mut out = vec![
        (maps.0, Expression::List(vec![key.clone(), s(p.container_ip.to_string())])),
        (maps.1, Expression::List(vec![key.clone(), Expression::Number(p.container_port.into())])),
    ];
    if let (Some(ip6), "any_addr") = (p.container_ip6, maps.0) {
        out.push(("any_addr6", Expression::List(vec![key.clone(), s(ip6.to_string())])));
        out.push(("any_port6", Expression::List(vec![key, Expression::Number(p.container_port.into())])));
    }
    out
}

fn table() -> NfListObject<'static> {
    NfListObject::Table(Table { family: NfFamily::INet, name: TABLE.into(), handle: None })
}

/// The table's chains, sets and rules (see the module's text), preceded by
/// its deletion when `replace`, and followed by `elements`.
fn base(replace: bool, userland_proxy: bool, elements: Vec<NfObject<'static>>) -> Vec<NfObject<'static>> {
    let mut out = vec![NfObject::CmdObject(NfCmd::Add(table()))];
    if replace {
        out.push(NfObject::CmdObject(NfCmd::Delete(table())));
        out.push(NfObject::CmdObject(NfCmd::Add(table())));
    }
    let structure: Nftables<'static> = serde_json::from_value(super::nft_base::structure(TABLE, userland_proxy))
        .expect("the base ruleset follows the nftables schema");
    out.extend(structure.objects.iter().cloned());
    out.extend(elements);
    out
}

fn apply(op: &'static str, cmds: Vec<NfObject<'static>>) -> Result<()> {
    let batch = Nftables { objects: Cow::Owned(cmds) };
    nftables::helper::apply_ruleset(&batch).map_err(|e| firewall_error(op, e))
}

fn firewall_error(op: &'static str, e: nftables::helper::NftablesError) -> NetworkError {
    let detail = match &e {
        nftables::helper::NftablesError::NftFailed { stderr, .. } => stderr.trim().to_string(),
        other => other.to_string(),
    };
    NetworkError::Firewall { op, message: detail }
}

fn nft(args: &[&str]) -> Result<std::process::Output> {
    Command::new("nft")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetworkError::Firewall { op: "run nft", message: format!("{e} (is nftables installed?)") })
}

fn table_exists() -> Result<bool> {
    Ok(nft(&["list", "table", "inet", TABLE])?.status.success())
}

/// Bridged IPv4 passes the inet hooks (br_netfilter), turned on as dockerd
/// does; a host without it cannot keep a network's containers apart, and
/// says so (fail closed).
fn bridged_traffic_filtered() -> Result<()> {
    let path = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    let on = |v: String| v.trim() == "1";
    if std::fs::read_to_string(path).is_ok_and(on) {
        return Ok(());
    }
    if std::fs::write(path, "1").is_ok() && std::fs::read_to_string(path).is_ok_and(on) {
        return Ok(());
    }
    Err(NetworkError::Firewall {
        op: "set up a network",
        message: format!(
            "{ICC}=false needs bridged traffic filtered (br_netfilter, {path} = 1), which this host does not offer",
            ICC = crate::driver::bridge::ICC_OPTION
        ),
    })
}

/// The bridge routes what comes from the host's loopback (DNAT of
/// 127.0.0.1 to a container, without the userland proxy), as dockerd sets it.
fn route_localnet(bridge: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    std::fs::write(&path, "1").map_err(NetworkError::io("write", path))
}

/// Forwarding on, as dockerd turns it on (the host routes for its bridges).
fn forward_ipv4() -> Result<()> {
    forward("/proc/sys/net/ipv4/ip_forward")
}

/// Turns a forwarding switch on (IPv6's when a network has IPv6).
fn forward(path: &str) -> Result<()> {
    if std::fs::read_to_string(path).map_err(NetworkError::io("read", path))?.trim() != "1" {
        std::fs::write(path, "1").map_err(NetworkError::io("write", path))?;
    }
    Ok(())
}

impl Firewall for NfTables {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn setup_network(&self, net: &FirewallNetwork) -> Result<()> {
        if !net.icc {
            bridged_traffic_filtered()?;
        }
        if !self.userland_proxy {
            route_localnet(&net.bridge)?;
        }
        if net.subnet6.is_some() {
            forward("/proc/sys/net/ipv6/conf/all/forwarding")?;
        }
        self.elements("set up a network", true, network_elements(net))
    }

    fn teardown_network(&self, net: &FirewallNetwork) -> Result<()> {
        self.elements("tear down a network", false, network_elements(net))
    }

    fn publish_port(&self, port: &PortMapping) -> Result<()> {
        self.elements("publish a port", true, port_elements(port))
    }

    fn unpublish_port(&self, port: &PortMapping) -> Result<()> {
        self.elements("unpublish a port", false, port_elements(port))
    }

    fn reconcile(&self, nets: &[FirewallNetwork], ports: &[PortMapping]) -> Result<()> {
        let _lock = self.flock()?;
        let mut elements = Vec::new();
        let wanted = nets.iter().flat_map(network_elements).chain(ports.iter().flat_map(port_elements));
        for (set, e) in wanted {
            elements.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Element(element(set, e)))));
        }
        apply("rebuild the table", base(true, self.userland_proxy, elements))?;
        if nets.iter().any(|n| n.subnet6.is_some()) {
            forward("/proc/sys/net/ipv6/conf/all/forwarding")?;
        }
        if !self.userland_proxy {
            // A bridge a reboot took is made again (and set up) at its next connect.
            for n in
                nets.iter().filter(|n| std::path::Path::new(&format!("/proc/sys/net/ipv4/conf/{}", n.bridge)).exists())
            {
                route_localnet(&n.bridge)?;
            }
        }
        forward_ipv4()?;
        let _ = self.ready.set(());
        Ok(())
    }

    fn rules(&self) -> Result<String> {
        let out = nft(&["list", "table", "inet", TABLE])?;
        if !out.status.success() {
            return Ok(String::new());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::Subnet;

    #[test]
    fn the_base_ruleset_follows_the_schema() {
        let cmds = base(true, true, Vec::new());
        let json = serde_json::to_value(Nftables { objects: Cow::Owned(cmds) }).unwrap();
        let text = json.to_string();
        for needle in ["\"masquerade\"", "\"dnat\"", "@any_addr", "@ip_port", "@same", "\"fib\""] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(text.starts_with(r#"{"nftables":[{"add":{"table""#), "{text}");
        assert!(text.contains(r#""return""#) && !text.contains(r#""ct""#), "loopback and containers are the proxy's");
        let kernel = serde_json::to_value(Nftables { objects: Cow::Owned(base(true, false, Vec::new())) }).unwrap();
        let kernel = kernel.to_string();
        assert!(
            !kernel.contains(r#""return""#) && kernel.contains(r#""ct""#),
            "the kernel serves every path: {kernel}"
        );
    }

    #[test]
    fn elements_of_networks_and_ports() {
        let net = FirewallNetwork {
            bridge: "br-1".into(),
            subnet: Subnet { addr: "172.18.0.0".parse().unwrap(), prefix: 16 },
            internal: false,
            icc: true,
            masquerade: true,
            subnet6: None,
        };
        let sets: Vec<&str> = network_elements(&net).iter().map(|(s, _)| *s).collect();
        assert_eq!(sets, ["bridges", "same", "subnets"]);
        let closed = FirewallNetwork { icc: false, masquerade: false, ..net.clone() };
        let sets: Vec<&str> = network_elements(&closed).iter().map(|(s, _)| *s).collect();
        assert_eq!(sets, ["bridges", "same", "no_icc"], "no icc, no masquerade");
        let internal = FirewallNetwork { internal: true, ..net };
        let sets: Vec<&str> = network_elements(&internal).iter().map(|(s, _)| *s).collect();
        assert_eq!(sets, ["bridges", "same", "internal"], "an internal network is not masqueraded");
        let port = |host_ip: &str| PortMapping {
            proto: "tcp".into(),
            host_ip: host_ip.into(),
            host_port: 8080,
            container_ip: "172.18.0.2".parse().unwrap(),
            container_port: 80,
            container_ip6: None,
        };
        let any = port_elements(&port(""));
        assert_eq!(any.iter().map(|(s, _)| *s).collect::<Vec<_>>(), ["any_addr", "any_port"]);
        assert_eq!(serde_json::to_string(&any[0].1).unwrap(), r#"[{"concat":["tcp",8080]},"172.18.0.2"]"#);
        assert_eq!(serde_json::to_string(&any[1].1).unwrap(), r#"[{"concat":["tcp",8080]},80]"#);
        let one = port_elements(&port("192.0.2.1"));
        assert_eq!(one.iter().map(|(s, _)| *s).collect::<Vec<_>>(), ["ip_addr", "ip_port"]);
        assert!(port_elements(&port("127.0.0.1")).is_empty(), "loopback is the proxy's");
    }
}
