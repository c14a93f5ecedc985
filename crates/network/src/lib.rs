//! Wharf's network layer: named networks (Docker's `bridge`, `host`, `none`
//! and user-defined bridges), IP address management, and the wiring of a
//! container's network namespace (its "sandbox") to them with veth pairs.
//! Published ports are served by the userland proxy (`proxy.rs`).
//!
//! State lives under `<data-root>/network`: `networks/<id>.json` and
//! `endpoints/<network-id>/<container-id>.json`, changed under one file lock
//! so concurrent starts never hand out the same address.

pub mod error;
pub mod ipam;
pub mod link;
pub mod proxy;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

pub use error::{NetworkError, Result};
use ipam::Subnet;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `bridge`, `host` or `null`.
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
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Networks {
    root: PathBuf,
}

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    use std::io::Read;
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(NetworkError::io("read", "/dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Subnets routed in the current network namespace (from /proc/net/route).
fn host_routes() -> Vec<Subnet> {
    parse_routes(&fs::read_to_string("/proc/net/route").unwrap_or_default())
}

fn parse_routes(text: &str) -> Vec<Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints network-order words in host (little-endian) order.
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then(|| Subnet { addr: Ipv4Addr::from(dest.to_le_bytes()), prefix })
        })
        .collect()
}

impl Networks {
    /// Opens the store, creating the predefined networks on first use.
    pub fn open(root: impl Into<PathBuf>) -> Result<Networks> {
        let n = Networks { root: root.into() };
        for d in ["networks", "endpoints"] {
            fs::create_dir_all(n.root.join(d)).map_err(NetworkError::io("create", n.root.join(d)))?;
        }
        if n.find_name("bridge").is_none() {
            let _lock = n.lock()?;
            if n.find_name("bridge").is_none() {
                for (name, driver) in [("host", "host"), ("none", "null")] {
                    n.save(&Network {
                        id: random_id()?,
                        name: name.into(),
                        driver: driver.into(),
                        created: now(),
                        ..Default::default()
                    })?;
                }
                let subnet = n.free_pool()?;
                n.save(&Network {
                    id: random_id()?,
                    name: "bridge".into(),
                    driver: "bridge".into(),
                    created: now(),
                    gateway: Some(subnet.first_host().to_string()),
                    subnet: Some(subnet.to_string()),
                    bridge: Some("wharf0".into()),
                    options: [("com.docker.network.bridge.default_bridge".to_string(), "true".to_string())]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                })?;
            }
        }
        Ok(n)
    }

    fn lock(&self) -> Result<nix::fcntl::Flock<File>> {
        let path = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(NetworkError::io("open", &path))?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| NetworkError::Io {
            context: "lock",
            path,
            source: e.into(),
        })
    }

    fn save(&self, n: &Network) -> Result<()> {
        write_json(&self.root.join("networks").join(format!("{}.json", n.id)), n)
    }

    fn find_name(&self, name: &str) -> Option<Network> {
        self.list().ok()?.into_iter().find(|n| n.name == name)
    }

    /// The first default pool that overlaps no network and no route here.
    fn free_pool(&self) -> Result<Subnet> {
        let mut taken: Vec<Subnet> = host_routes();
        taken.extend(self.list()?.iter().filter_map(|n| n.subnet.as_deref().and_then(|s| Subnet::parse(s).ok())));
        ipam::default_pools().find(|p| !taken.iter().any(|t| t.overlaps(p))).ok_or(NetworkError::NoPool)
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        let dir = self.root.join("networks");
        let mut out: Vec<Network> = fs::read_dir(&dir)
            .map_err(NetworkError::io("read", &dir))?
            .flatten()
            .filter_map(|e| read_json(&e.path()))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// By exact id, exact name, or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Network> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.id == key || n.name == key) {
            return Ok(n.clone());
        }
        let mut m = all.into_iter().filter(|n| !key.is_empty() && n.id.starts_with(key));
        match (m.next(), m.next()) {
            (Some(n), None) => Ok(n),
            (Some(_), Some(_)) => Err(NetworkError::Invalid {
                what: "network reference".into(),
                reason: format!("network {key} is ambiguous"),
            }),
            _ => Err(NetworkError::NotFound(key.to_string())),
        }
    }

    pub fn create(&self, req: CreateRequest) -> Result<Network> {
        if !valid_name(&req.name) {
            return Err(NetworkError::Invalid {
                what: "network name".into(),
                reason: format!("{:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.name),
            });
        }
        let driver = req.driver.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(NetworkError::Invalid {
                what: "network driver".into(),
                reason: format!(
                    "{driver:?} is not supported: Wharf creates bridge networks (host and none are predefined)"
                ),
            });
        }
        let _lock = self.lock()?;
        if self.find_name(&req.name).is_some() {
            return Err(NetworkError::Exists(req.name));
        }
        let subnet =
            match &req.subnet {
                Some(s) => {
                    let s = Subnet::parse(s)?;
                    if let Some(other) = self.list()?.into_iter().find(|n| {
                        n.subnet.as_deref().and_then(|x| Subnet::parse(x).ok()).is_some_and(|x| x.overlaps(&s))
                    }) {
                        return Err(NetworkError::Conflict(format!(
                            "Pool overlaps with other one on this address space ({})",
                            other.name
                        )));
                    }
                    s
                }
                None => self.free_pool()?,
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
        let id = random_id()?;
        let bridge = match req.options.get("com.docker.network.bridge.name") {
            // Interface names go into iproute2 commands: keep them to what Linux allows, nothing more.
            Some(b) if b.len() > 15 || !valid_name(b) => {
                return Err(NetworkError::Invalid {
                    what: "bridge name".into(),
                    reason: format!("{b:?}: at most 15 characters of [a-zA-Z0-9_.-]"),
                })
            }
            // An existing interface (the host's uplink, another network's bridge) is never adopted:
            // removing the network would delete it.
            Some(b) if link::exists(b) || self.list()?.iter().any(|n| n.bridge.as_deref() == Some(b.as_str())) => {
                return Err(NetworkError::Conflict(format!("bridge name {b} is already in use")))
            }
            Some(b) => b.clone(),
            None => format!("br-{}", &id[..12]),
        };
        let n = Network {
            bridge: Some(bridge),
            id,
            name: req.name,
            driver,
            created: now(),
            subnet: Some(subnet.to_string()),
            gateway: Some(gateway.to_string()),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: req.options,
        };
        self.save(&n)?;
        Ok(n)
    }

    /// Removes a user-defined network without endpoints (and its bridge).
    pub fn remove(&self, key: &str) -> Result<Network> {
        let n = self.get(key)?;
        if n.predefined() {
            return Err(NetworkError::Predefined(n.name));
        }
        let _lock = self.lock()?;
        let eps = self.endpoints(&n.id);
        if !eps.is_empty() {
            return Err(NetworkError::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        if let Some(b) = &n.bridge {
            link::delete_link(b);
        }
        let _ = fs::remove_dir_all(self.root.join("endpoints").join(&n.id));
        fs::remove_file(self.root.join("networks").join(format!("{}.json", n.id)))
            .map_err(NetworkError::io("remove", &n.id))?;
        Ok(n)
    }

    pub fn endpoints(&self, network_id: &str) -> Vec<Endpoint> {
        let dir = self.root.join("endpoints").join(network_id);
        let mut out: Vec<Endpoint> =
            fs::read_dir(dir).map(|rd| rd.flatten().filter_map(|e| read_json(&e.path())).collect()).unwrap_or_default();
        out.sort_by(|a, b| a.ip.cmp(&b.ip));
        out
    }

    /// Every endpoint of a container, in interface order.
    pub fn endpoints_of(&self, container_id: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .list()
            .unwrap_or_default()
            .iter()
            .filter_map(|n| read_json(&self.root.join("endpoints").join(&n.id).join(format!("{container_id}.json"))))
            .collect();
        out.sort_by(|a, b| a.ifname.cmp(&b.ifname));
        out
    }

    /// The name of a container's network namespace (`/run/netns/<name>`).
    pub fn sandbox_name(container_id: &str) -> String {
        format!("wharf-{}", &container_id[..12.min(container_id.len())])
    }

    /// Creates the container's network namespace; returns its path.
    pub fn create_sandbox(&self, container_id: &str) -> Result<PathBuf> {
        let name = Self::sandbox_name(container_id);
        let path = link::add_netns(&name)?;
        link::batch(Some(&name), &["link set lo up".to_string()])?;
        Ok(path)
    }

    /// Detaches every endpoint and deletes the namespace (idempotent).
    pub fn delete_sandbox(&self, container_id: &str) {
        for ep in self.endpoints_of(container_id) {
            if let Err(e) = self.disconnect(container_id, &ep.network_id) {
                tracing::warn!("disconnect {container_id} from {}: {e}", ep.network_name);
            }
        }
        link::delete_netns(&Self::sandbox_name(container_id));
    }

    /// Attaches the container's sandbox (which must exist) to a bridge network.
    pub fn connect(&self, container_id: &str, container_name: &str, key: &str, aliases: &[String]) -> Result<Endpoint> {
        let n = self.get(key)?;
        if n.driver != "bridge" {
            return Err(NetworkError::Invalid {
                what: "network".into(),
                reason: format!("container cannot be connected to network {} (driver {})", n.name, n.driver),
            });
        }
        let sandbox = Self::sandbox_name(container_id);
        if !link::netns_path(&sandbox).exists() {
            return Err(NetworkError::Conflict(format!(
                "container {container_id} has no network sandbox (is it running?)"
            )));
        }
        let _lock = self.lock()?;
        let ep_path = self.root.join("endpoints").join(&n.id).join(format!("{container_id}.json"));
        if ep_path.exists() {
            return Err(NetworkError::Conflict(format!(
                "endpoint with name {container_name} already exists in network {}",
                n.name
            )));
        }
        let subnet = Subnet::parse(n.subnet.as_deref().unwrap_or_default())?;
        let gateway: Ipv4Addr = n.gateway.as_deref().unwrap_or_default().parse().unwrap_or(subnet.first_host());
        let used: Vec<Ipv4Addr> = self.endpoints(&n.id).iter().filter_map(|e| e.ip.parse().ok()).collect();
        let ip = subnet.allocate(gateway, &used)?;
        let bridge = n.bridge.clone().unwrap_or_else(|| format!("br-{}", &n.id[..12]));
        link::ensure_bridge(&bridge, &gateway.to_string(), subnet.prefix)?;
        let taken: Vec<String> = self.endpoints_of(container_id).into_iter().map(|e| e.ifname).collect();
        let ifname = (0..).map(|i| format!("eth{i}")).find(|n| !taken.contains(n)).unwrap_or_default();
        let hash = sha2::Sha256::digest(format!("{container_id}/{}", n.id).as_bytes());
        let veth =
            format!("veth{}", hash.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>())[..15].to_string();
        let tmp_peer = format!("vp{}", &veth[4..]);
        let mac = ipam::mac_for(ip);
        link::batch(
            None,
            &[
                format!("link add {veth} type veth peer name {tmp_peer} netns {sandbox}"),
                format!("link set {veth} master {bridge}"),
                format!("link set {veth} up"),
            ],
        )?;
        let mut inside = vec![
            format!("link set {tmp_peer} name {ifname}"),
            format!("link set {ifname} address {mac}"),
            format!("addr add {ip}/{} dev {ifname}", subnet.prefix),
            format!("link set {ifname} up"),
        ];
        if !n.internal && taken.is_empty() {
            inside.push(format!("route add default via {gateway}"));
        }
        if let Err(e) = link::batch(Some(&sandbox), &inside) {
            link::delete_link(&veth);
            return Err(e);
        }
        let ep = Endpoint {
            id: random_id()?,
            network_id: n.id.clone(),
            network_name: n.name.clone(),
            container_id: container_id.into(),
            container_name: container_name.into(),
            ip: ip.to_string(),
            prefix: subnet.prefix,
            gateway: gateway.to_string(),
            mac,
            aliases: aliases.to_vec(),
            ifname,
            veth,
        };
        fs::create_dir_all(ep_path.parent().unwrap_or(Path::new("."))).map_err(NetworkError::io("create", &ep_path))?;
        write_json(&ep_path, &ep)?;
        Ok(ep)
    }

    /// Removes the container's endpoint on a network (its veth goes with it).
    pub fn disconnect(&self, container_id: &str, key: &str) -> Result<()> {
        let n = self.get(key)?;
        let _lock = self.lock()?;
        let ep_path = self.root.join("endpoints").join(&n.id).join(format!("{container_id}.json"));
        let Some(ep) = read_json::<Endpoint>(&ep_path) else {
            return Err(NetworkError::Conflict(format!(
                "container {container_id} is not connected to network {}",
                n.name
            )));
        };
        link::delete_link(&ep.veth);
        fs::remove_file(&ep_path).map_err(NetworkError::io("remove", &ep_path))
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Atomic replace.
fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let data = serde_json::to_vec_pretty(v)
        .map_err(|e| NetworkError::Invalid { what: "record".into(), reason: e.to_string() })?;
    fs::write(&tmp, data).map_err(NetworkError::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(NetworkError::io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        let text = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                    br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n";
        let routes: Vec<String> = parse_routes(text).iter().map(|s| s.to_string()).collect();
        assert_eq!(routes, ["192.0.2.0/24", "172.17.0.0/16"], "the default route is no subnet");
    }

    #[test]
    fn store_predefined_create_and_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let n = Networks::open(tmp.path()).unwrap();
        let names: Vec<String> = n.list().unwrap().into_iter().map(|x| x.name).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let bridge = n.get("bridge").unwrap();
        assert!(bridge.subnet.is_some() && bridge.gateway.is_some());
        assert!(matches!(n.remove("bridge"), Err(NetworkError::Predefined(_))));
        // Reopening does not create a second set.
        let n = Networks::open(tmp.path()).unwrap();
        assert_eq!(n.list().unwrap().len(), 3);
        let a = n
            .create(CreateRequest { name: "app".into(), subnet: Some("10.99.0.0/24".into()), ..Default::default() })
            .unwrap();
        assert_eq!((a.gateway.as_deref(), a.driver.as_str()), (Some("10.99.0.1"), "bridge"));
        assert!(matches!(
            n.create(CreateRequest { name: "app".into(), ..Default::default() }),
            Err(NetworkError::Exists(_))
        ));
        let overlap = CreateRequest { name: "b".into(), subnet: Some("10.99.0.128/25".into()), ..Default::default() };
        assert!(matches!(n.create(overlap), Err(NetworkError::Conflict(_))));
        let auto = n.create(CreateRequest { name: "auto".into(), ..Default::default() }).unwrap();
        assert_ne!(auto.subnet, bridge.subnet, "pools are not reused");
        for bad in [
            CreateRequest {
                name: "evil".into(),
                options: [("com.docker.network.bridge.name".to_string(), "x\nlink delete lo".to_string())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            CreateRequest { name: "bad name".into(), ..Default::default() },
            CreateRequest { name: "x".into(), driver: Some("overlay".into()), ..Default::default() },
            CreateRequest {
                name: "y".into(),
                subnet: Some("10.5.0.0/24".into()),
                gateway: Some("10.6.0.1".into()),
                ..Default::default()
            },
        ] {
            assert!(matches!(n.create(bad), Err(NetworkError::Invalid { .. })));
        }
        assert_eq!(n.get(&a.id[..8]).unwrap().name, "app");
        n.remove("app").unwrap();
        assert!(matches!(n.get("app"), Err(NetworkError::NotFound(_))));
    }
}
