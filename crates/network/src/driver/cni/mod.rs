//! `cni`: a network whose endpoints are made by standard CNI plugins
//! (containernetworking's `bridge`, `host-local`, `portmap`, `firewall`,
//! `tuning`…) from a network configuration list, as containerd and the
//! CRI do. `network create -d cni -o cni.conflist=FILE` copies the list
//! (its `name`, `cniVersion` and `plugins`) into the driver's directory;
//! each connect runs ADD through the chain (each plugin gets the previous
//! one's result as `prevResult`) and caches the final result, so that DEL
//! (the chain in reverse, given the cached result) works after a daemon
//! restart and CHECK can be asked later. The address, gateway and MAC of
//! the endpoint are the result's. Capability arguments (CNI's conventions)
//! go, as `runtimeConfig`, to the plugins that declare them: the published
//! ports (`portMappings`), `--ip` (`ips`) and `--mac-address` (`mac`); an
//! `--ip` or `--mac-address` no plugin of the list takes is refused, and a
//! result that does not hold it undoes the ADD. Plugins are found in
//! `/opt/cni/bin` and `/usr/lib/cni`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use super::{Attachment, CreateContext, NetworkDriver};
use crate::error::{NetworkError, Result};
use crate::firewall::PortMapping;
use crate::model::{Endpoint, Network};
use crate::sys::Host;

pub mod exec;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;

pub use exec::{Call, PluginExec, Plugins};

/// The option naming the configuration list at create.
pub const CONFLIST_OPTION: &str = "cni.conflist";
/// The CNI versions whose results Wharf reads.
const VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
/// A configuration list is small.
const MAX_CONFLIST: u64 = 1 << 20;

#[derive(Debug, Clone)]
pub struct Cni {
    /// `<id>.conflist` per network, `results/` per endpoint.
    dir: PathBuf,
    host: Arc<dyn Host>,
    exec: Arc<dyn PluginExec>,
}

/// A validated configuration list.
#[derive(Debug, Clone)]
struct ConfList {
    name: String,
    version: String,
    plugins: Vec<Value>,
    check: bool,
}

/// Whether a plugin declares a capability (`portMappings`, `ips`, `mac`).
fn declares(plugin: &Value, capability: &str) -> bool {
    plugin.get("capabilities").and_then(|c| c.get(capability)).and_then(Value::as_bool).unwrap_or(false)
}

/// Whether a plugin asks for the container's port mappings.
fn maps_ports(plugin: &Value) -> bool {
    declares(plugin, "portMappings")
}

/// The capability arguments of an attachment other than its ports
/// (`ips`, `mac`), with the flag each comes from.
fn requested_args(at: &Attachment) -> Vec<(&'static str, &'static str, Value)> {
    let mut args = Vec::new();
    if let Some(ip) = at.ip {
        args.push(("ips", "--ip", json!([ip.to_string()])));
    }
    if let Some(mac) = at.mac {
        args.push(("mac", "--mac-address", json!(mac)));
    }
    args
}

fn invalid(reason: impl Into<String>) -> NetworkError {
    NetworkError::Invalid { what: "CNI configuration list".into(), reason: reason.into() }
}

fn parse(data: &[u8]) -> Result<ConfList> {
    let v: Value = serde_json::from_slice(data).map_err(|e| invalid(e.to_string()))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let name = text("name").filter(|n| !n.is_empty()).ok_or_else(|| invalid("\"name\" is required"))?;
    let version = text("cniVersion").ok_or_else(|| invalid("\"cniVersion\" is required"))?;
    if !VERSIONS.contains(&version.as_str()) {
        return Err(invalid(format!("cniVersion {version:?} is not supported (one of {})", VERSIONS.join(", "))));
    }
    let plugins = v.get("plugins").and_then(Value::as_array).cloned().unwrap_or_default();
    if plugins.is_empty() {
        return Err(invalid("\"plugins\" must list at least one plugin"));
    }
    for (i, p) in plugins.iter().enumerate() {
        if p.get("type").and_then(Value::as_str).is_none_or(|t| t.is_empty()) {
            return Err(invalid(format!("plugins[{i}]: \"type\" is required")));
        }
    }
    let check = !v.get("disableCheck").and_then(Value::as_bool).unwrap_or(false) && !version.starts_with("0.3");
    Ok(ConfList { name, version, plugins, check })
}

/// The endpoint fields a result gives: the first IPv4 address, its
/// gateway, and the MAC of its interface.
fn read_result(result: &Value) -> Result<(String, u8, String, String)> {
    let none =
        || NetworkError::Cni { plugin: "result".into(), code: 0, message: "no IPv4 address in the result".into() };
    let ips = result.get("ips").and_then(Value::as_array).ok_or_else(none)?;
    let ip = ips
        .iter()
        .find(|i| i.get("address").and_then(Value::as_str).is_some_and(|a| a.contains('.')))
        .ok_or_else(none)?;
    let (addr, prefix) = ip["address"].as_str().unwrap_or_default().split_once('/').ok_or_else(none)?;
    let prefix: u8 = prefix.parse().map_err(|_| none())?;
    addr.parse::<std::net::Ipv4Addr>().map_err(|_| none())?;
    let gateway = ip.get("gateway").and_then(Value::as_str).unwrap_or_default().to_string();
    let mac = ip
        .get("interface")
        .and_then(Value::as_u64)
        .and_then(|i| result.get("interfaces")?.get(i as usize)?.get("mac")?.as_str())
        .unwrap_or_default()
        .to_string();
    Ok((addr.to_string(), prefix, gateway, mac))
}

/// The result holds the address and MAC asked for (a plugin that declares
/// a capability may still not honour it).
fn holds_requested(at: &Attachment, (ip, _, _, mac): &(String, u8, String, String)) -> Result<()> {
    let differs = |what: &str, want: &str, got: &str| NetworkError::Cni {
        plugin: "result".into(),
        code: 0,
        message: format!("the plugins gave {what} {got:?}, not the {want} asked for"),
    };
    if let Some(want) = at.ip.filter(|w| w.to_string() != *ip) {
        return Err(differs("address", &want.to_string(), ip));
    }
    if let Some(want) = at.mac.filter(|w| !w.eq_ignore_ascii_case(mac)) {
        return Err(differs("MAC address", want, mac));
    }
    Ok(())
}

impl Cni {
    pub fn new(dir: impl Into<PathBuf>, host: Arc<dyn Host>, exec: Arc<dyn PluginExec>) -> Cni {
        Cni { dir: dir.into(), host, exec }
    }

    fn conflist_path(&self, net: &Network) -> PathBuf {
        self.dir.join(format!("{}.conflist", net.id))
    }

    fn result_path(&self, net: &Network, ep: &Endpoint) -> PathBuf {
        self.dir.join("results").join(format!("{}-{}-{}.json", net.id, ep.container_id, ep.ifname))
    }

    fn conflist(&self, net: &Network) -> Result<ConfList> {
        let path = self.conflist_path(net);
        parse(&std::fs::read(&path).map_err(NetworkError::io("read", &path))?)
    }

    fn call(&self, command: &'static str, at_sandbox: &str, ep: &Endpoint) -> Call {
        Call {
            command,
            container_id: ep.container_id.clone(),
            netns: self.host.netns_path(at_sandbox).display().to_string(),
            ifname: ep.ifname.clone(),
        }
    }

    /// One plugin's stdin: its configuration with the list's name and
    /// version, the result so far, and the capability arguments it
    /// declares: the container's published ports (`portMappings`) and
    /// those of `args` (`ips`, `mac`).
    fn stdin(list: &ConfList, plugin: &Value, prev: Option<&Value>, ports: &[PortMapping], args: &Value) -> Vec<u8> {
        let mut conf = plugin.clone();
        if let Some(o) = conf.as_object_mut() {
            o.insert("name".into(), json!(list.name));
            o.insert("cniVersion".into(), json!(list.version));
            if let Some(p) = prev {
                o.insert("prevResult".into(), p.clone());
            }
            let mut runtime = serde_json::Map::new();
            if let Some(args) = args.as_object() {
                runtime.extend(args.iter().filter(|(k, _)| declares(plugin, k)).map(|(k, v)| (k.clone(), v.clone())));
            }
            if maps_ports(plugin) && !ports.is_empty() {
                let mappings: Vec<Value> = ports
                    .iter()
                    .map(|p| {
                        json!({"hostPort": p.host_port, "containerPort": p.container_port, "protocol": p.proto,
                               "hostIP": p.host_ip})
                    })
                    .collect();
                runtime.insert("portMappings".into(), json!(mappings));
            }
            if !runtime.is_empty() {
                o.insert("runtimeConfig".into(), Value::Object(runtime));
            }
        }
        serde_json::to_vec(&conf).expect("json")
    }

    fn plugin_type(plugin: &Value) -> &str {
        plugin["type"].as_str().unwrap_or_default()
    }

    /// DEL through the chain in reverse; keeps going past failures.
    fn del(
        &self,
        list: &ConfList,
        call: &Call,
        prev: Option<&Value>,
        ports: &[PortMapping],
        args: &Value,
    ) -> Result<()> {
        let mut errors = Vec::new();
        for p in list.plugins.iter().rev() {
            if let Err(e) = self.exec.exec(Self::plugin_type(p), call, &Self::stdin(list, p, prev, ports, args)) {
                errors.push(e);
            }
        }
        NetworkError::collect(errors)
    }

    fn cached(&self, net: &Network, ep: &Endpoint) -> Result<Option<Value>> {
        let path = self.result_path(net, ep);
        match std::fs::read(&path) {
            Ok(d) => serde_json::from_slice(&d).map(Some).map_err(|source| NetworkError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NetworkError::io("read", path)(e)),
        }
    }

    fn sandbox_of(ep: &Endpoint) -> String {
        crate::Networks::sandbox_name(&ep.container_id)
    }
}

/// Atomic replace.
fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(NetworkError::io("create", dir))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(NetworkError::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(NetworkError::io("rename", path))
}

impl NetworkDriver for Cni {
    fn name(&self) -> &'static str {
        "cni"
    }

    fn predefined(&self, _: &[Network]) -> Result<Option<Network>> {
        Ok(None)
    }

    fn create(&self, net: &mut Network, ctx: &CreateContext) -> Result<()> {
        let req = ctx.request;
        if let Some(k) = req.options.keys().find(|k| k.as_str() != CONFLIST_OPTION) {
            return Err(NetworkError::Invalid {
                what: "network option".into(),
                reason: format!("{k} is not supported by the cni driver (only {CONFLIST_OPTION})"),
            });
        }
        if req.subnet.is_some() || req.gateway.is_some() || req.internal || req.enable_ipv6 || req.subnet6.is_some() {
            return Err(NetworkError::Invalid {
                what: "network".into(),
                reason: "subnets, gateways, IPv6 and internal of a cni network are its plugins' configuration".into(),
            });
        }
        let path = req.options.get(CONFLIST_OPTION).ok_or_else(|| NetworkError::Invalid {
            what: "network option".into(),
            reason: format!("the cni driver needs -o {CONFLIST_OPTION}=FILE"),
        })?;
        let data = read_conflist(Path::new(path))?;
        parse(&data)?;
        write_file(&self.conflist_path(net), &data)
    }

    fn remove(&self, net: &Network) -> Result<()> {
        match std::fs::remove_file(self.conflist_path(net)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NetworkError::io("remove", self.conflist_path(net))(e))
            }
            _ => Ok(()),
        }
    }

    fn connect(&self, net: &Network, ep: &mut Endpoint, at: &Attachment) -> Result<()> {
        let list = self.conflist(net)?;
        let requested = requested_args(at);
        if let Some((cap, flag, _)) =
            requested.iter().find(|(cap, _, _)| !list.plugins.iter().any(|p| declares(p, cap)))
        {
            return Err(NetworkError::Invalid {
                what: "endpoint".into(),
                reason: format!(
                    "{flag} on cni network {}: no plugin of its list declares the {cap:?} capability",
                    net.name
                ),
            });
        }
        let args = if requested.is_empty() {
            Value::Null
        } else {
            Value::Object(requested.iter().map(|(cap, _, v)| (cap.to_string(), v.clone())).collect())
        };
        let call = self.call("ADD", at.sandbox, ep);
        let mut result: Option<Value> = None;
        for p in &list.plugins {
            let out =
                self.exec.exec(Self::plugin_type(p), &call, &Self::stdin(&list, p, result.as_ref(), at.ports, &args));
            let parsed = out.and_then(|o| {
                serde_json::from_slice::<Value>(&o).map_err(|e| NetworkError::Cni {
                    plugin: Self::plugin_type(p).into(),
                    code: 0,
                    message: format!("unreadable result: {e}"),
                })
            });
            match parsed {
                Ok(r) => result = Some(r),
                Err(e) => {
                    if let Err(undo) =
                        self.del(&list, &Call { command: "DEL", ..call.clone() }, result.as_ref(), at.ports, &args)
                    {
                        tracing::warn!(network = %net.name, "undo a failed ADD: {undo}");
                    }
                    return Err(e);
                }
            }
        }
        let result = result.unwrap_or_default();
        let fields = read_result(&result).and_then(|f| holds_requested(at, &f).map(|()| f)).and_then(|f| {
            write_file(&self.result_path(net, ep), &serde_json::to_vec(&result).expect("json")).map(|()| f)
        });
        match fields {
            Ok((ip, prefix, gateway, mac)) => {
                (ep.ip, ep.prefix, ep.gateway, ep.mac) = (ip, prefix, gateway, mac);
                if list.plugins.iter().any(maps_ports) {
                    ep.plugin_ports = at.ports.to_vec();
                }
                ep.plugin_args = (!args.is_null()).then_some(args);
                Ok(())
            }
            Err(e) => {
                if let Err(undo) = self.del(&list, &Call { command: "DEL", ..call }, Some(&result), at.ports, &args) {
                    tracing::warn!(network = %net.name, "undo an unusable ADD: {undo}");
                }
                Err(e)
            }
        }
    }

    fn disconnect(&self, net: &Network, ep: &Endpoint) -> Result<()> {
        let list = self.conflist(net)?;
        let prev = self.cached(net, ep)?;
        let args = ep.plugin_args.clone().unwrap_or_default();
        self.del(&list, &self.call("DEL", &Self::sandbox_of(ep), ep), prev.as_ref(), &ep.plugin_ports, &args)?;
        let path = self.result_path(net, ep);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(NetworkError::io("remove", path)(e)),
            _ => Ok(()),
        }
    }

    fn check(&self, net: &Network, ep: &Endpoint) -> Result<()> {
        let list = self.conflist(net)?;
        if !list.check {
            return Ok(());
        }
        let prev = self.cached(net, ep)?.ok_or_else(|| NetworkError::Cni {
            plugin: list.name.clone(),
            code: 0,
            message: format!("no cached result for {} on {}", ep.container_name, net.name),
        })?;
        let call = self.call("CHECK", &Self::sandbox_of(ep), ep);
        let args = ep.plugin_args.clone().unwrap_or_default();
        for p in &list.plugins {
            let stdin = Self::stdin(&list, p, Some(&prev), &ep.plugin_ports, &args);
            self.exec.exec(Self::plugin_type(p), &call, &stdin)?;
        }
        Ok(())
    }
}

/// The list a create names: a regular file, bounded.
fn read_conflist(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(NetworkError::io("open", path))?;
    let meta = f.metadata().map_err(NetworkError::io("stat", path))?;
    if !meta.is_file() || meta.len() > MAX_CONFLIST {
        return Err(invalid(format!("{}: a regular file of at most 1 MiB is required", path.display())));
    }
    let mut data = Vec::new();
    f.take(MAX_CONFLIST).read_to_end(&mut data).map_err(NetworkError::io("read", path))?;
    Ok(data)
}

#[cfg(test)]
mod tests;
