//! The records the store keeps and the drivers work on: networks,
//! endpoints, create requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// The driver's name in the driver table: `bridge`, `host` or `null`.
    pub driver: String,
    pub created: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    /// IPv6 too (`--ipv6`): its subnet and gateway.
    pub enable_ipv6: bool,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    /// The bridge device (bridge driver only).
    pub bridge: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

impl Network {
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
}

/// A container's attachment to a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub id: String,
    pub network_id: String,
    pub network_name: String,
    pub container_id: String,
    pub container_name: String,
    pub ip: String,
    pub prefix: u8,
    pub gateway: String,
    /// On an IPv6 network: the address, its prefix length and the gateway.
    pub ip6: String,
    pub prefix6: u8,
    pub gateway6: String,
    pub mac: String,
    pub aliases: Vec<String>,
    /// Interface name inside the container (eth0, eth1, …).
    pub ifname: String,
    /// Host end of the veth pair.
    pub veth: String,
    /// Ports published to this endpoint's address (DNAT in the firewall).
    pub ports: Vec<crate::firewall::PortMapping>,
    /// Ports the network's own plugins publish (a CNI `portMappings`
    /// capability): Wharf's firewall and proxy leave them alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugin_ports: Vec<crate::firewall::PortMapping>,
    /// The other capability arguments a cni network's plugins were given
    /// at ADD (`ips`, `mac`), given again at CHECK and DEL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_args: Option<serde_json::Value>,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    /// Empty or `None`: `bridge`.
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    /// `--ipv6`, with an IPv6 subnet and gateway (else a unique local /64).
    pub enable_ipv6: bool,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// API 1.41's `CheckDuplicate: false`: a second network of the same
    /// name may be made (names then address neither; ids do).
    pub allow_duplicate_name: bool,
}

/// What a container asks of its endpoint on one network: its aliases, and
/// the address and MAC address it is to have (Docker's `--ip`,
/// `--mac-address`; else allocated, and derived from the address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ipv4: Option<std::net::Ipv4Addr>,
    /// `--ip6` (IPv6 networks only).
    pub ipv6: Option<std::net::Ipv6Addr>,
    pub mac: Option<String>,
    /// The container's published ports (host ports chosen), for drivers
    /// whose plugins publish them.
    pub ports: Vec<crate::firewall::PortMapping>,
}

pub(crate) use wharf_common::time::now;

pub(crate) fn random_id() -> Result<String> {
    Ok(wharf_common::ids::new_id())
}

/// What interface names may use here (they name kernel objects:
/// nothing more than Linux allows).
pub(crate) fn valid_name(n: &str) -> bool {
    wharf_common::names::valid(n, 1)
}
