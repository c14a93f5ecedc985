//! The records the store keeps and the drivers work on: networks,
//! endpoints, create requests.

use std::collections::BTreeMap;
use std::fs::File;

use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};

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
    pub mac: String,
    pub aliases: Vec<String>,
    /// Interface name inside the container (eth0, eth1, …).
    pub ifname: String,
    /// Host end of the veth pair.
    pub veth: String,
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    /// Empty or `None`: `bridge`.
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

pub(crate) fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

pub(crate) fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    use std::io::Read;
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(NetworkError::io("read", "/dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Docker's network names, also what interface names may use here (they go
/// into iproute2 commands: nothing more than Linux allows).
pub(crate) fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}
