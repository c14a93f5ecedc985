//! The network store: records under `<data-root>/network`
//! (`networks/<id>.json`, `endpoints/<network-id>/<container-id>.json`),
//! changed under one file lock so concurrent starts never hand out the same
//! address, and the dispatch of each change to the network's driver.
//! Records are read strictly: a corrupt one is an error naming the file,
//! never skipped (a skipped endpoint would free its address for reuse, a
//! skipped network its subnet).

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::driver::{Attachment, CreateContext, Drivers, NetworkDriver};
use crate::error::{NetworkError, Result};
use crate::firewall::{Firewall, FirewallNetwork, NfTables, PortMapping};
use crate::model::{now, random_id, CreateRequest, Endpoint, EndpointRequest, Network};
use crate::sys::{Host, Netlink};

#[derive(Debug, Clone)]
pub struct Networks {
    root: PathBuf,
    host: Arc<dyn Host>,
    drivers: Arc<Drivers>,
    firewall: Arc<dyn Firewall>,
    userland_proxy: bool,
}

impl Networks {
    /// Opens the store on the real host (netlink) and firewall (nftables, or
    /// none when the daemon recorded `--iptables=false`, see
    /// [`Networks::record_firewall`]) with the built-in drivers, recording
    /// the predefined networks on first use; sandboxes are mounted under
    /// `netns_dir` (`<exec-root>/netns`); a new store's predefined `bridge`
    /// network gets device `default_bridge`.
    pub fn open(root: impl Into<PathBuf>, netns_dir: impl Into<PathBuf>, default_bridge: &str) -> Result<Networks> {
        let root = root.into();
        let host: Arc<dyn Host> = Arc::new(Netlink::new(netns_dir));
        let (enabled, userland_proxy) = Self::recorded_firewall(&root)?;
        let firewall: Arc<dyn Firewall> = match enabled {
            true => Arc::new(NfTables::new(root.join("firewall.lock")).with_userland_proxy(userland_proxy)),
            false => Arc::new(crate::firewall::NoFirewall),
        };
        let cni =
            crate::driver::Cni::new(root.join("cni"), host.clone(), Arc::new(crate::driver::cni::Plugins::standard()));
        let bridge = crate::driver::Bridge::new(host.clone(), firewall.clone()).with_default_device(default_bridge);
        let drivers = Drivers::builtin_with(bridge).with(Arc::new(cni));
        let mut n = Networks::open_with(root, host, firewall, drivers)?;
        n.userland_proxy = userland_proxy;
        Ok(n)
    }

    /// Whether published ports get a userland proxy for loopback and
    /// container clients (Docker's `userland-proxy`, default true).
    pub fn userland_proxy(&self) -> bool {
        self.userland_proxy
    }

    /// Records whether the store's networks get firewall rules (dockerd's
    /// `--iptables`) and published ports a userland proxy (`--userland-proxy`):
    /// every process that opens the store after this (the daemon,
    /// containers' monitors) does the same.
    pub fn record_firewall(root: &Path, enabled: bool, userland_proxy: bool) -> Result<()> {
        fs::create_dir_all(root).map_err(NetworkError::io("create", root))?;
        let path = root.join("firewall");
        let tmp = root.join(".firewall.tmp");
        let backend = if enabled { "nftables" } else { "none" };
        let text = if userland_proxy { format!("{backend}\n") } else { format!("{backend}\nuserland-proxy=false\n") };
        fs::write(&tmp, text).map_err(NetworkError::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(NetworkError::io("rename", &path))
    }

    /// The recorded choices: (firewall, userland proxy); nftables and the
    /// proxy unless recorded otherwise.
    fn recorded_firewall(root: &Path) -> Result<(bool, bool)> {
        let path = root.join("firewall");
        let text = match fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok((true, true)),
            Err(e) => return Err(NetworkError::io("read", path)(e)),
        };
        let (mut enabled, mut proxy) = (true, true);
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line {
                "nftables" => enabled = true,
                "none" => enabled = false,
                "userland-proxy=false" => proxy = false,
                other => {
                    return Err(NetworkError::Invalid {
                        what: "firewall record".into(),
                        reason: format!("{}: unknown line {other:?}", path.display()),
                    })
                }
            }
        }
        Ok((enabled, proxy))
    }

    /// Opens the store with a host, a firewall and a driver table of the
    /// caller's (fakes in tests, more drivers later); the drivers are to
    /// use the same firewall.
    pub fn open_with(
        root: impl Into<PathBuf>,
        host: Arc<dyn Host>,
        firewall: Arc<dyn Firewall>,
        drivers: Drivers,
    ) -> Result<Networks> {
        let n = Networks { root: root.into(), host, drivers: Arc::new(drivers), firewall, userland_proxy: true };
        for d in ["networks", "endpoints"] {
            fs::create_dir_all(n.root.join(d)).map_err(NetworkError::io("create", n.root.join(d)))?;
        }
        if !n.missing_predefined()?.is_empty() {
            let _lock = n.lock()?;
            for p in n.missing_predefined()? {
                tracing::debug!(network = %p.name, driver = %p.driver, "recording predefined network");
                n.save(&p)?;
            }
        }
        Ok(n)
    }

    /// The predefined networks of the drivers that the store lacks.
    fn missing_predefined(&self) -> Result<Vec<Network>> {
        let mut existing = self.list()?;
        let mut out = Vec::new();
        for d in self.drivers.iter() {
            if let Some(p) = d.predefined(&existing)? {
                if !existing.iter().any(|n| n.name == p.name) {
                    existing.push(p.clone());
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// The driver table.
    pub fn drivers(&self) -> &Drivers {
        &self.drivers
    }

    fn driver(&self, n: &Network) -> Result<Arc<dyn NetworkDriver>> {
        self.drivers.get(&n.driver).cloned()
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

    fn network_path(&self, id: &str) -> PathBuf {
        self.root.join("networks").join(format!("{id}.json"))
    }

    fn endpoint_path(&self, network_id: &str, container_id: &str) -> PathBuf {
        self.root.join("endpoints").join(network_id).join(format!("{container_id}.json"))
    }

    fn save(&self, n: &Network) -> Result<()> {
        write_json(&self.network_path(&n.id), n)
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out: Vec<Network> = read_records(&self.root.join("networks"))?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// By exact id, exact name, or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Network> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.id == key) {
            return Ok(n.clone());
        }
        // Names are unique unless a client asked otherwise (API 1.41's CheckDuplicate).
        let named: Vec<&Network> = all.iter().filter(|n| n.name == key).collect();
        match named.as_slice() {
            [n] => return Ok((*n).clone()),
            [] => {}
            many => {
                return Err(NetworkError::Invalid {
                    what: "network reference".into(),
                    reason: format!("network {key} is ambiguous ({} matches found based on name)", many.len()),
                })
            }
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

    /// A new network of the request's driver (`bridge` by default).
    pub fn create(&self, req: CreateRequest) -> Result<Network> {
        // Docker takes any name ("my net", "a/b", "é"); it is never an
        // interface or file name here. Control characters are refused: no
        // client could show them.
        if req.name.is_empty() || req.name.chars().any(char::is_control) {
            return Err(NetworkError::Invalid {
                what: "network name".into(),
                reason: format!("{:?}: a name of printable characters is required", req.name),
            });
        }
        let name = req.driver.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "bridge".into());
        let driver = self.drivers.get(&name)?.clone();
        let _lock = self.lock()?;
        let existing = self.list()?;
        let taken = existing.iter().filter(|n| n.name == req.name);
        if taken.clone().any(|n| n.predefined()) || (!req.allow_duplicate_name && taken.count() > 0) {
            return Err(NetworkError::Exists(req.name));
        }
        let mut n = Network {
            id: random_id()?,
            name: req.name.clone(),
            driver: name,
            created: now(),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options: req.options.clone(),
            ..Default::default()
        };
        driver.create(&mut n, &CreateContext { request: &req, existing: &existing })?;
        if let Err(e) = self.save(&n) {
            if let Err(undo) = driver.remove(&n) {
                tracing::warn!(network = %n.name, "undo a create not recorded: {undo}");
            }
            return Err(e);
        }
        tracing::info!(network = %n.name, id = %n.id, driver = %n.driver, "network created");
        Ok(n)
    }

    /// Removes a user-defined network without endpoints.
    pub fn remove(&self, key: &str) -> Result<Network> {
        let n = self.get(key)?;
        if n.predefined() {
            return Err(NetworkError::Predefined(n.name));
        }
        let _lock = self.lock()?;
        if !self.endpoints(&n.id)?.is_empty() {
            return Err(NetworkError::ActiveEndpoints { name: n.name, id: n.id });
        }
        self.driver(&n)?.remove(&n)?;
        let dir = self.root.join("endpoints").join(&n.id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(NetworkError::io("remove", dir)(e)),
            _ => {}
        }
        let path = self.network_path(&n.id);
        fs::remove_file(&path).map_err(NetworkError::io("remove", &path))?;
        tracing::info!(network = %n.name, id = %n.id, "network removed");
        Ok(n)
    }

    /// The endpoints of a network, by address.
    pub fn endpoints(&self, network_id: &str) -> Result<Vec<Endpoint>> {
        let mut out: Vec<Endpoint> = read_records(&self.root.join("endpoints").join(network_id))?;
        out.sort_by(|a, b| a.ip.cmp(&b.ip));
        Ok(out)
    }

    /// Every endpoint of a container, in interface order.
    pub fn endpoints_of(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        let mut out = Vec::new();
        for n in self.list()? {
            out.extend(read_record::<Endpoint>(&self.endpoint_path(&n.id, container_id))?);
        }
        out.sort_by(|a, b| a.ifname.cmp(&b.ifname));
        Ok(out)
    }

    /// The name of a container's network namespace (mounted at `<netns dir>/<name>`).
    pub fn sandbox_name(container_id: &str) -> String {
        format!("wharf-{}", &container_id[..12.min(container_id.len())])
    }

    /// The path of a container's network namespace, if it has one.
    pub fn sandbox_path(&self, container_id: &str) -> Option<PathBuf> {
        let name = Self::sandbox_name(container_id);
        self.host.netns_exists(&name).then(|| self.host.netns_path(&name))
    }

    /// Creates the container's network namespace; returns its path.
    pub fn create_sandbox(&self, container_id: &str) -> Result<PathBuf> {
        self.host.add_netns(&Self::sandbox_name(container_id))
    }

    /// Deletes the namespace and then releases every endpoint (idempotent):
    /// the kernel takes a sandbox's interfaces with it (veth pairs go in its
    /// own time, off this path: deleting a pair waits for the kernel's
    /// unregistering, tens of milliseconds), and each driver undoes the
    /// rest. If the namespace cannot be deleted, each endpoint is
    /// disconnected whole. Keeps going past failures and returns them all.
    pub fn delete_sandbox(&self, container_id: &str) -> Result<()> {
        let mut errors = Vec::new();
        let nets = match self.list() {
            Ok(nets) => nets,
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        let gone = match self.host.delete_netns(&Self::sandbox_name(container_id)) {
            Ok(()) => true,
            Err(e) => {
                errors.push(e);
                false
            }
        };
        for n in nets {
            match read_record::<Endpoint>(&self.endpoint_path(&n.id, container_id)) {
                Ok(None) => {}
                Ok(Some(_)) => {
                    if let Err(e) = self.detach(container_id, &n.id, gone) {
                        tracing::warn!(container = container_id, network = %n.name, "disconnect: {e}");
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        NetworkError::collect(errors)
    }

    /// Attaches the container's sandbox (which must exist) to a network.
    pub fn connect(
        &self,
        container_id: &str,
        container_name: &str,
        key: &str,
        req: &EndpointRequest,
    ) -> Result<Endpoint> {
        let n = self.get(key)?;
        if (req.ipv4.is_some() || req.ipv6.is_some()) && n.predefined() {
            return Err(NetworkError::Invalid {
                what: "endpoint".into(),
                reason: "user specified IP address is supported on user defined networks only".into(),
            });
        }
        let mac = req.mac.as_deref().map(crate::ipam::parse_mac).transpose()?;
        let driver = self.driver(&n)?;
        let sandbox = Self::sandbox_name(container_id);
        if !self.host.netns_exists(&sandbox) {
            return Err(NetworkError::Conflict(format!(
                "container {container_id} has no network sandbox (is it running?)"
            )));
        }
        let _lock = self.lock()?;
        // Read again under the lock: a concurrent first connect may have readdressed it.
        let mut n = self.get(&n.id)?;
        let ep_path = self.endpoint_path(&n.id, container_id);
        if read_record::<Endpoint>(&ep_path)?.is_some() {
            return Err(NetworkError::Conflict(format!(
                "endpoint with name {container_name} already exists in network {}",
                n.name
            )));
        }
        let peers = self.endpoints(&n.id)?;
        if peers.is_empty() && n.predefined() {
            let others: Vec<Network> = self.list()?.into_iter().filter(|o| o.id != n.id).collect();
            if driver.readdress(&mut n, &others)? {
                self.save(&n)?;
            }
        }
        let used: Vec<Ipv4Addr> = peers.iter().filter_map(|e| e.ip.parse().ok()).collect();
        let used6: Vec<std::net::Ipv6Addr> = peers.iter().filter_map(|e| e.ip6.parse().ok()).collect();
        let taken: Vec<String> = self.endpoints_of(container_id)?.into_iter().map(|e| e.ifname).collect();
        let ifname = (0..).map(|i| format!("eth{i}")).find(|n| !taken.contains(n)).unwrap_or_default();
        let mut ep = Endpoint {
            id: random_id()?,
            network_id: n.id.clone(),
            network_name: n.name.clone(),
            container_id: container_id.into(),
            container_name: container_name.into(),
            aliases: req.aliases.clone(),
            ifname,
            ..Default::default()
        };
        let at = Attachment {
            sandbox: &sandbox,
            used: &used,
            first: taken.is_empty(),
            ip: req.ipv4,
            mac: mac.as_deref(),
            used6: &used6,
            ip6: req.ipv6,
            ports: &req.ports,
        };
        driver.connect(&n, &mut ep, &at)?;
        let dir = ep_path.parent().unwrap_or(Path::new("."));
        let recorded =
            fs::create_dir_all(dir).map_err(NetworkError::io("create", dir)).and_then(|()| write_json(&ep_path, &ep));
        if let Err(e) = recorded {
            if let Err(undo) = driver.disconnect(&n, &ep) {
                tracing::warn!(container = container_id, network = %n.name, "undo a connect not recorded: {undo}");
            }
            return Err(e);
        }
        tracing::debug!(container = container_id, network = %n.name, ip = %ep.ip, ifname = %ep.ifname, "connected");
        Ok(ep)
    }

    /// Removes the container's endpoint on a network (the driver unwires it).
    pub fn disconnect(&self, container_id: &str, key: &str) -> Result<()> {
        self.detach(container_id, key, false)
    }

    /// `disconnect`, or with `sandbox_gone` the release of an endpoint whose
    /// sandbox was deleted (the driver undoes only what that did not).
    fn detach(&self, container_id: &str, key: &str, sandbox_gone: bool) -> Result<()> {
        let n = self.get(key)?;
        let _lock = self.lock()?;
        let ep_path = self.endpoint_path(&n.id, container_id);
        let Some(ep) = read_record::<Endpoint>(&ep_path)? else {
            return Err(NetworkError::Conflict(format!(
                "container {container_id} is not connected to network {}",
                n.name
            )));
        };
        for p in &ep.ports {
            self.firewall.unpublish_port(p)?;
        }
        let driver = self.driver(&n)?;
        if sandbox_gone {
            driver.release(&n, &ep)?;
        } else {
            driver.disconnect(&n, &ep)?;
        }
        fs::remove_file(&ep_path).map_err(NetworkError::io("remove", &ep_path))?;
        tracing::debug!(container = container_id, network = %n.name, ip = %ep.ip, "disconnected");
        Ok(())
    }

    /// Publishes ports to the container's endpoint on a network (DNAT to its
    /// address, which is filled in), recorded with the endpoint so that
    /// every teardown of the endpoint unpublishes them. All or nothing.
    pub fn publish(&self, container_id: &str, network_id: &str, ports: &[PortMapping]) -> Result<Endpoint> {
        let n = self.get(network_id)?;
        let _lock = self.lock()?;
        let ep_path = self.endpoint_path(&n.id, container_id);
        let Some(mut ep) = read_record::<Endpoint>(&ep_path)? else {
            return Err(NetworkError::Conflict(format!(
                "container {container_id} is not connected to network {}",
                n.name
            )));
        };
        let ip = ep.ip.parse().map_err(|_| NetworkError::Invalid {
            what: "endpoint".into(),
            reason: format!("{} has no IPv4 address to publish ports to", ep.container_name),
        })?;
        let mut added = Vec::new();
        let undo = |added: &[PortMapping]| {
            for p in added {
                if let Err(e) = self.firewall.unpublish_port(p) {
                    tracing::warn!(container = container_id, "undo a failed publish: {e}");
                }
            }
        };
        for p in ports {
            let p = PortMapping { container_ip: ip, container_ip6: ep.ip6.parse().ok(), ..p.clone() };
            if let Err(e) = self.firewall.publish_port(&p) {
                undo(&added);
                return Err(e);
            }
            added.push(p);
        }
        ep.ports.extend(added.iter().cloned());
        if let Err(e) = write_json(&ep_path, &ep) {
            undo(&added);
            return Err(e);
        }
        Ok(ep)
    }

    /// Makes the firewall hold exactly the networks and published ports of
    /// the store (at daemon start: after a crash, a reboot, a flush).
    pub fn reconcile_firewall(&self) -> Result<()> {
        let _lock = self.lock()?;
        let mut nets: Vec<FirewallNetwork> = Vec::new();
        let mut ports = Vec::new();
        for n in self.list()? {
            nets.extend(self.driver(&n)?.firewall_network(&n)?);
            ports.extend(self.endpoints(&n.id)?.into_iter().flat_map(|e| e.ports));
        }
        self.firewall.reconcile(&nets, &ports)
    }

    /// Asks each endpoint's driver whether the container's endpoints are
    /// still wired as connected (CNI's CHECK); every failure is returned.
    pub fn check(&self, container_id: &str) -> Result<()> {
        let mut errors = Vec::new();
        for ep in self.endpoints_of(container_id)? {
            let n = self.get(&ep.network_id)?;
            if let Err(e) = self.driver(&n)?.check(&n, &ep) {
                errors.push(e);
            }
        }
        NetworkError::collect(errors)
    }

    /// What the firewall holds now, as its backend prints it.
    pub fn firewall_rules(&self) -> Result<String> {
        self.firewall.rules()
    }

    /// The firewall backend's name (`nftables`, `none`).
    pub fn firewall_backend(&self) -> &'static str {
        self.firewall.name()
    }
}

/// A record, `None` if the file does not exist; unreadable or corrupt is an error.
fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(NetworkError::io("read", path)(e)),
    };
    serde_json::from_slice(&data).map(Some).map_err(|source| NetworkError::Corrupt { path: path.into(), source })
}

/// Every `*.json` record of a directory (none if it does not exist).
fn read_records<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetworkError::io("read", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(NetworkError::io("read", dir))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            // A record removed since the listing is simply gone.
            out.extend(read_record(&path)?);
        }
    }
    Ok(out)
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
mod tests;
