//! Containers on networks: the network mode (`bridge`, a user network,
//! `host`, `none`, `container:<id>`), the sandbox and endpoints made at each
//! start, names (the daemon's resolver serves a container on a user network
//! at 127.0.0.11 before it runs; `/etc/hosts` holds only the container's
//! own entries and `--add-host`), and published ports: DNAT in the
//! firewall, and `wharf proxy` processes (owned by the container's monitor)
//! for loopback and for other containers.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use wharf_network::{Endpoint, Networks};

use crate::error::{EngineError, Result};
use crate::model::Container;
use crate::{Engine, RunOptions};

pub use crate::options::PortBinding;

/// What a network mode means for the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Own namespace, loopback only.
    None,
    /// The host's namespace.
    Host,
    /// Another container's namespace.
    Container(String),
    /// Own namespace attached to networks.
    Networks,
}

pub fn mode(opts: &RunOptions) -> Mode {
    match opts.network.as_str() {
        "none" => Mode::None,
        "host" => Mode::Host,
        m if m.starts_with("container:") => Mode::Container(m["container:".len()..].to_string()),
        _ => Mode::Networks,
    }
}

/// The primary network of a mode (`default`/empty means `bridge`).
pub fn primary(opts: &RunOptions) -> String {
    match opts.network.as_str() {
        "" | "default" => "bridge".into(),
        other => other.into(),
    }
}

/// Gives a request in networks mode its primary network among its attachments.
pub fn with_primary(opts: &mut RunOptions) {
    if mode(opts) == Mode::Networks {
        opts.networks.entry(primary(opts)).or_default();
    }
}

/// The networks a start attaches, the primary one first.
pub fn attachments(opts: &RunOptions) -> Vec<String> {
    if mode(opts) != Mode::Networks {
        return Vec::new();
    }
    let p = primary(opts);
    let mut out: Vec<String> = opts.networks.keys().filter(|n| **n == p).cloned().collect();
    out.extend(opts.networks.keys().filter(|n| **n != p).cloned());
    out
}

/// What a started container's networking gave it.
#[derive(Debug, Default)]
pub struct Wired {
    /// The network namespace to join (None: a new one, or the host's with `host`).
    pub netns: Option<PathBuf>,
    pub endpoints: Vec<Endpoint>,
    /// The daemon's resolver serves the sandbox (`nameserver 127.0.0.11`).
    pub dns: bool,
}

impl Engine {
    /// The network store, opened (predefined networks ensured) once per engine.
    pub fn networks(&self) -> Result<Networks> {
        if let Some(n) = self.networks.get() {
            return Ok(n.clone());
        }
        let n = Networks::open(self.root().join("network"), self.exec_root().join("netns"), &self.default_bridge())?;
        Ok(self.networks.get_or_init(|| n).clone())
    }

    /// The predefined `bridge` network's device: `wharf0` for the default
    /// exec root, `wharf-<8 hex of the exec root's hash>` for any other, so
    /// that two Wharf instances on one host (two data roots without a
    /// daemon, or a second daemon) never share a bridge. (A store keeps
    /// the device it recorded first.)
    pub fn default_bridge(&self) -> String {
        let exec = self.exec_root();
        if exec == std::path::Path::new(crate::DEFAULT_EXEC_ROOT) {
            return wharf_network::driver::bridge::DEFAULT_BRIDGE.to_string();
        }
        let digest = wharf_image::Digest::sha256(exec.as_os_str().as_encoded_bytes());
        format!("wharf-{}", &digest.hex()[..8])
    }

    /// Checks a request's network settings at create time.
    pub fn check_network(&self, opts: &RunOptions) -> Result<()> {
        match mode(opts) {
            Mode::Networks => {
                let nets = self.networks()?;
                // A bad name is the request's fault (400; a 404 would make clients pull the image).
                let get = |n: &str| {
                    nets.get(n).map_err(|e| EngineError::Invalid { what: "network".into(), reason: e.to_string() })
                };
                get(&primary(opts))?;
                for n in opts.networks.keys() {
                    let net = get(n)?;
                    if !matches!(net.driver.as_str(), "bridge" | "cni") {
                        return Err(EngineError::Invalid {
                            what: "network".into(),
                            reason: format!("container cannot be connected to network {} and others", net.name),
                        });
                    }
                }
            }
            Mode::Container(other) => {
                self.get(&other)?;
            }
            Mode::None | Mode::Host => {}
        }
        if !opts.publish.is_empty() && matches!(mode(opts), Mode::None | Mode::Container(_)) {
            return Err(EngineError::Invalid {
                what: "port publishing".into(),
                reason: format!("ports cannot be published with network mode {}", opts.network),
            });
        }
        Ok(())
    }

    /// Makes the container's sandbox and endpoints for this run.
    pub(crate) fn wire(&self, id: &str, name: &str, opts: &RunOptions) -> Result<Wired> {
        match mode(opts) {
            Mode::None => Ok(Wired::default()),
            Mode::Host => Ok(Wired::default()),
            Mode::Container(other) => {
                let o = self.get(&other)?;
                let path = if let Some(sandbox) = self.networks()?.sandbox_path(&o.id) {
                    sandbox
                } else if o.state.pid > 0 {
                    PathBuf::from(format!("/proc/{}/ns/net", o.state.pid))
                } else {
                    return Err(EngineError::Conflict(format!(
                        "cannot join network of a non running container: {}",
                        o.id
                    )));
                };
                Ok(Wired { netns: Some(path), ..Wired::default() })
            }
            Mode::Networks => {
                let nets = self.networks()?;
                let netns = nets.create_sandbox(id)?;
                let mut wired = Wired { netns: Some(netns), ..Wired::default() };
                let order = attachments(opts);
                for (i, n) in order.into_iter().enumerate() {
                    let mut aliases = opts.networks.get(&n).cloned().unwrap_or_default();
                    if !name.is_empty() && !aliases.iter().any(|a| a == name) && n != "bridge" {
                        aliases.push(name.to_string());
                    }
                    let settings = opts.endpoint_settings.get(&n).cloned().unwrap_or_default();
                    let connected = settings.request(aliases).and_then(|mut r| {
                        // Ports go to the primary network; a cni one's plugins may publish them.
                        if i == 0 && nets.get(&n).is_ok_and(|net| net.driver == "cni") {
                            r.ports = plugin_ports(opts)?;
                        }
                        Ok(nets.connect(id, name, &n, &r)?)
                    });
                    match connected {
                        Ok(ep) => wired.endpoints.push(ep),
                        Err(e) => {
                            if let Err(undo) = nets.delete_sandbox(id) {
                                tracing::warn!(container = id, "undo a failed wiring: {undo}");
                            }
                            return Err(e);
                        }
                    }
                }
                match self.serve_names(id, opts, &wired.endpoints) {
                    Ok(dns) => wired.dns = dns,
                    Err(e) => {
                        if let Err(undo) = nets.delete_sandbox(id) {
                            tracing::warn!(container = id, "undo a failed wiring: {undo}");
                        }
                        return Err(e);
                    }
                }
                Ok(wired)
            }
        }
    }

    /// Asks the daemon's resolver to serve a sandbox with endpoints on a
    /// user-defined network (the default bridge has no names, as Docker's).
    /// `false`: no such endpoint, or no daemon to serve it (then names are
    /// not resolved, and resolv.conf has the upstream servers).
    fn serve_names(&self, id: &str, opts: &RunOptions, endpoints: &[Endpoint]) -> Result<bool> {
        if !endpoints.iter().any(|e| e.network_name != "bridge") {
            return Ok(false);
        }
        let req = wharf_network::dns::Control::Attach { container: id.to_string(), dns: opts.dns.clone() };
        let sock = wharf_network::dns::control::socket(self.exec_root());
        let mut served = wharf_network::dns::request(&sock, &req)?;
        if !served && self.resolver_exe.is_some() {
            // No daemon: a resolver of its own serves names (started now if none runs).
            self.ensure_resolver()?;
            served = wharf_network::dns::request(&sock, &req)?;
        }
        if !served {
            tracing::warn!(container = id, "no wharf daemon serves names: peers on user networks are not resolved");
        }
        Ok(served)
    }

    /// The running containers the resolver serves (a sandbox with an
    /// endpoint on a user-defined network), with their `--dns` servers: what
    /// a daemon start attaches again (its sockets died with the last daemon).
    pub fn name_served(&self) -> Result<Vec<(String, Vec<String>)>> {
        let nets = self.networks()?;
        let mut out = Vec::new();
        for c in self.list()?.into_iter().filter(running) {
            let user = nets.endpoints_of(&c.id)?.iter().any(|e| e.network_name != "bridge");
            if user && nets.sandbox_path(&c.id).is_some() {
                out.push((c.id, c.opts.dns));
            }
        }
        Ok(out)
    }

    /// Asks the drivers whether every running container's endpoints are
    /// still wired as connected (CNI's CHECK, at daemon start); what is not
    /// is logged.
    pub fn check_networks(&self) -> Result<()> {
        let nets = self.networks()?;
        for c in self.list()?.into_iter().filter(running) {
            if let Err(e) = nets.check(&c.id) {
                tracing::warn!(container = %c.id, "network check: {e}");
            }
        }
        Ok(())
    }

    /// Undoes `wire` (idempotent): the resolver's attachment, endpoints and
    /// sandbox. Failures are logged: teardown goes on past each.
    pub fn unwire(&self, id: &str) {
        let nets = match self.networks() {
            Ok(n) => n,
            Err(e) => return tracing::warn!(container = id, "unwire: {e}"),
        };
        // The resolver's sockets hold the namespace: let go of them first,
        // so the kernel can take the sandbox now (its sweep would, later).
        if nets.endpoints_of(id).is_ok_and(|eps| eps.iter().any(|e| e.network_name != "bridge")) {
            let req = wharf_network::dns::Control::Detach { container: id.to_string() };
            if let Err(e) = wharf_network::dns::request(&wharf_network::dns::control::socket(self.exec_root()), &req) {
                tracing::debug!(container = id, "resolver detach: {e}");
            }
        }
        if let Err(e) = nets.delete_sandbox(id) {
            tracing::warn!(container = id, "delete network sandbox: {e}");
        }
    }

    /// `/etc/hosts` of a container: localhost, itself, extra hosts (peers
    /// are the resolver's).
    pub(crate) fn hosts_file(&self, id: &str, hostname: &str, opts: &RunOptions) -> Result<String> {
        let mut out = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        for h in &opts.extra_hosts {
            if let Some((name, ip)) = h.split_once(':') {
                out.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        let mine = self.networks()?.endpoints_of(id)?;
        match mine.first() {
            Some(ep) => out.push_str(&format!("{}\t{hostname}\n", ep.ip)),
            None => out.push_str(&format!("127.0.1.1\t{hostname}\n")),
        }
        Ok(out)
    }

    /// `resolv.conf` for a container: with `dns` (the resolver serves it)
    /// `nameserver 127.0.0.11` (its `--dns` servers are the resolver's
    /// upstreams); else the host's, without loopback name servers
    /// (unreachable from the container's own namespace), and its `--dns`.
    pub(crate) fn resolv_conf(opts: &RunOptions, dns: bool) -> String {
        let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        if mode(opts) == Mode::Host {
            return host;
        }
        let mut out: String = host
            .lines()
            .filter(|l| {
                let mut w = l.split_whitespace();
                let server = w.next() == Some("nameserver");
                !(server && (dns || w.next().is_some_and(|ip| ip.starts_with("127.") || ip == "::1")))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        if dns {
            out.push_str(&format!("nameserver {}\n", wharf_network::dns::DNS_IP));
            if opts.dns_options.is_empty() {
                // As Docker: names with a dot are asked as they are first.
                out.push_str("options ndots:0\n");
            }
        }
        for d in opts.dns.iter().filter(|_| !dns) {
            out.push_str(&format!("nameserver {d}\n"));
        }
        // As Docker: given search domains and options replace the host's.
        if !opts.dns_search.is_empty() {
            out.retain_lines(|l| !l.starts_with("search ") && !l.starts_with("domain "));
            out.push_str(&format!("search {}\n", opts.dns_search.join(" ")));
        }
        if !opts.dns_options.is_empty() {
            out.retain_lines(|l| !l.starts_with("options "));
            out.push_str(&format!("options {}\n", opts.dns_options.join(" ")));
        }
        out
    }

    /// Publishes the container's ports: one `wharf proxy` per port
    /// (children of the caller, which kills them when the container stops;
    /// they serve loopback and other containers, and their bind finds a port
    /// already taken) and the firewall's DNAT to the first endpoint (the
    /// path of every other client, which keeps the client's address; undone
    /// with the endpoint). Returns the proxies with the bindings as served
    /// (free host ports chosen).
    pub fn publish(
        &self,
        proxy_exe: &Path,
        id: &str,
        opts: &RunOptions,
        endpoints: &[Endpoint],
    ) -> Result<(Vec<Child>, Vec<PortBinding>)> {
        let mut children: Vec<Child> = Vec::new();
        let mut served = Vec::new();
        let kill_all = |children: &mut Vec<Child>| {
            for c in children.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        };
        let (target_ip, target_ip6) = match (mode(opts), endpoints.first()) {
            (Mode::Host, _) => return Ok((children, opts.publish.clone())),
            // The network's plugins published them (host ports chosen at wiring).
            (_, Some(ep)) if !ep.plugin_ports.is_empty() => {
                let served = opts
                    .publish
                    .iter()
                    .zip(&ep.plugin_ports)
                    .map(|(b, p)| PortBinding { host_port: p.host_port, ..b.clone() })
                    .collect();
                return Ok((children, served));
            }
            (_, Some(ep)) => (ep.ip.clone(), Some(ep.ip6.clone()).filter(|i| !i.is_empty())),
            (_, None) => return Ok((children, served)),
        };
        let proxied = self.networks()?.userland_proxy();
        for b in &opts.publish {
            let v6_host = b.host_ip.contains(':');
            let ip = if b.host_ip.is_empty() { "0.0.0.0" } else { b.host_ip.as_str() };
            let mut port = b.host_port;
            if port == 0 {
                port = free_port(ip, &b.proto)?;
            }
            if !proxied {
                // The kernel serves every path (the firewall's DNAT below).
                served.push(PortBinding { host_port: port, ..b.clone() });
                continue;
            }
            // One proxy per address family: IPv4 to the IPv4 address; IPv6
            // (every IPv6 address, or the one given) to the IPv6 one, if any.
            let mut proxies = Vec::new();
            if !v6_host {
                proxies.push((format!("{ip}:{port}"), format!("{target_ip}:{}", b.container_port)));
            }
            let six = if v6_host { Some(b.host_ip.as_str()) } else { b.host_ip.is_empty().then_some("::") };
            if let Some(host6) = six {
                match &target_ip6 {
                    Some(t6) => proxies.push((format!("[{host6}]:{port}"), format!("[{t6}]:{}", b.container_port))),
                    None if v6_host => {
                        proxies.push((format!("[{host6}]:{port}"), format!("{target_ip}:{}", b.container_port)))
                    }
                    None => {}
                }
            }
            for (listen, target) in proxies {
                match spawn_proxy(proxy_exe, &b.proto, &listen, &target) {
                    Ok(child) => children.push(child),
                    Err(e) => {
                        kill_all(&mut children);
                        return Err(e);
                    }
                }
            }
            served.push(PortBinding { host_port: port, ..b.clone() });
        }
        if let (Some(ep), false) = (endpoints.first(), served.is_empty()) {
            let mappings: Vec<wharf_network::firewall::PortMapping> = served
                .iter()
                .map(|b| wharf_network::firewall::PortMapping {
                    proto: b.proto.clone(),
                    host_ip: b.host_ip.clone(),
                    host_port: b.host_port,
                    container_ip: std::net::Ipv4Addr::UNSPECIFIED,
                    container_port: b.container_port,
                    container_ip6: None,
                })
                .collect();
            if let Err(e) = self.networks().and_then(|n| Ok(n.publish(id, &ep.network_id, &mappings)?)) {
                kill_all(&mut children);
                return Err(e);
            }
        }
        Ok((children, served))
    }
}

impl Engine {
    /// `network connect`: a running container gets the endpoint now, a
    /// stopped one at its next start.
    pub fn connect(&self, key: &str, network: &str, aliases: &[String]) -> Result<()> {
        let c = self.get(key)?;
        if mode(&c.opts) != Mode::Networks {
            return Err(EngineError::Conflict(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network (mode {})",
                c.opts.network
            )));
        }
        let nets = self.networks()?;
        let n = nets.get(network)?;
        let configured = c.opts.networks.contains_key(&n.name);
        if configured && (nets.endpoints_of(&c.id)?.iter().any(|e| e.network_id == n.id) || !running(&c)) {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                c.name, n.name
            )));
        }
        if running(&c) {
            let mut all = aliases.to_vec();
            if n.name != "bridge" && !all.contains(&c.name) {
                all.push(c.name.clone());
            }
            let before = nets.endpoints_of(&c.id)?;
            let ep = nets.connect(
                &c.id,
                &c.name,
                &n.id,
                &wharf_network::EndpointRequest { aliases: all, ..Default::default() },
            )?;
            // The first user network: the resolver serves it from now on (as Docker, resolv.conf is rewritten).
            if !before.iter().any(|e| e.network_name != "bridge") && self.serve_names(&c.id, &c.opts, &[ep])? {
                let path = Container::dir(self.root(), &c.id).join("resolv.conf");
                fs::write(&path, Self::resolv_conf(&c.opts, true)).map_err(EngineError::io("write", &path))?;
            }
        }
        let (name, aliases) = (n.name.clone(), aliases.to_vec());
        self.update(&c.id, |c| {
            c.opts.networks.insert(name, aliases);
            Ok(())
        })?;
        self.emit(&network_event("connect", &n, Some(&c.id)));
        Ok(())
    }

    /// `network disconnect`.
    pub fn disconnect(&self, key: &str, network: &str) -> Result<()> {
        let c = self.get(key)?;
        let nets = self.networks()?;
        let n = nets.get(network)?;
        if !c.opts.networks.contains_key(&n.name) {
            return Err(EngineError::Conflict(format!("container {} is not connected to network {}", c.id, n.name)));
        }
        if running(&c) && nets.endpoints_of(&c.id)?.iter().any(|e| e.network_id == n.id) {
            nets.disconnect(&c.id, &n.id)?;
        }
        self.update(&c.id, |c| {
            c.opts.networks.remove(&n.name);
            Ok(())
        })?;
        self.emit(&network_event("disconnect", &n, Some(&c.id)));
        Ok(())
    }
}

/// A `network` event (Docker's attributes: name, type, and the container if any).
pub fn network_event(action: &str, n: &wharf_network::Network, container: Option<&str>) -> crate::events::Event {
    let mut attrs: BTreeMap<String, String> =
        [("name".to_string(), n.name.clone()), ("type".to_string(), n.driver.clone())].into_iter().collect();
    if let Some(c) = container {
        attrs.insert("container".into(), c.to_string());
    }
    crate::events::Event::new("network", action, &n.id, attrs)
}

fn running(c: &Container) -> bool {
    matches!(c.state.status, crate::model::Status::Running | crate::model::Status::Paused)
}

/// The container's published ports with every host port chosen, for a
/// network whose plugins publish them.
fn plugin_ports(opts: &RunOptions) -> Result<Vec<wharf_network::firewall::PortMapping>> {
    opts.publish
        .iter()
        .map(|b| {
            let ip = if b.host_ip.is_empty() { "0.0.0.0" } else { b.host_ip.as_str() };
            let host_port = if b.host_port == 0 { free_port(ip, &b.proto)? } else { b.host_port };
            Ok(wharf_network::firewall::PortMapping {
                proto: b.proto.clone(),
                host_ip: b.host_ip.clone(),
                host_port,
                container_ip: std::net::Ipv4Addr::UNSPECIFIED,
                container_port: b.container_port,
                container_ip6: None,
            })
        })
        .collect()
}

/// Starts one `wharf proxy` and waits for its bind.
fn spawn_proxy(proxy_exe: &Path, proto: &str, listen: &str, target: &str) -> Result<Child> {
    let mut child = Command::new(proxy_exe)
        .args(["proxy", "--proto", proto, "--listen", listen, "--target", target])
        .env("WHARF_PARENT_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(EngineError::io("spawn proxy", proxy_exe))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim() != "ok" {
        let _ = child.kill();
        let _ = child.wait();
        let why = line.trim().strip_prefix("error: ").unwrap_or("proxy exited").to_string();
        return Err(EngineError::Conflict(format!(
            "driver failed programming external connectivity: Bind for {listen} failed: {why}"
        )));
    }
    Ok(child)
}

/// A free port on `ip` (the kernel's choice).
fn free_port(ip: &str, proto: &str) -> Result<u16> {
    let addr: SocketAddr = if ip.contains(':') { format!("[{ip}]:0") } else { format!("{ip}:0") }
        .parse()
        .map_err(|_| EngineError::Invalid { what: "host ip".into(), reason: ip.to_string() })?;
    let port = if proto == "udp" {
        UdpSocket::bind(addr).and_then(|s| s.local_addr())
    } else {
        TcpListener::bind(addr).and_then(|s| s.local_addr())
    }
    .map_err(EngineError::io("bind", ip))?
    .port();
    Ok(port)
}

/// Keeps the lines of a text that `keep` says to.
trait RetainLines {
    fn retain_lines(&mut self, keep: impl Fn(&str) -> bool);
}

impl RetainLines for String {
    fn retain_lines(&mut self, keep: impl Fn(&str) -> bool) {
        *self = self.lines().filter(|l| keep(l)).map(|l| format!("{l}\n")).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let p = PortBinding::parse("8080:80").unwrap();
        assert_eq!(p, [PortBinding { container_port: 80, proto: "tcp".into(), host_ip: "".into(), host_port: 8080 }]);
        let p = PortBinding::parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!((p[0].host_ip.as_str(), p[0].host_port, p[0].key()), ("127.0.0.1", 5353, "53/udp".to_string()));
        assert_eq!(PortBinding::parse("80").unwrap()[0].host_port, 0);
        let r = PortBinding::parse("9000-9001:80-81").unwrap();
        assert_eq!(r.iter().map(|b| (b.host_port, b.container_port)).collect::<Vec<_>>(), [(9000, 80), (9001, 81)]);
        let six = PortBinding::parse("[::1]:8080:80").unwrap();
        assert_eq!((six[0].host_ip.as_str(), six[0].host_port, six[0].container_port), ("::1", 8080, 80));
        assert_eq!(PortBinding::parse("[::]::53/udp").unwrap()[0].host_ip, "::");
        for bad in [
            "",
            "x",
            "80/sctp",
            "1:2:3:4",
            "9000-9002:80-81",
            "0",
            "host:80:80",
            "70000",
            "[x]:1:2",
            "[::1]:80",
            "[::1:1:2",
            "::1:8080:80",
        ] {
            assert!(PortBinding::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes() {
        let o = |n: &str| RunOptions { network: n.into(), ..Default::default() };
        assert_eq!(mode(&o("")), Mode::Networks);
        assert_eq!(primary(&o("")), "bridge");
        assert_eq!(primary(&o("app")), "app");
        assert_eq!(mode(&o("host")), Mode::Host);
        assert_eq!(mode(&o("container:abc")), Mode::Container("abc".into()));
    }
}
