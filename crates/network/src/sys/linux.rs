//! The real [`Host`]: iproute2 (`ip`) for namespaces, links, addresses and
//! routes, batched (`ip -batch -`) so a container's wiring costs two or
//! three process spawns; `/proc/net` for what exists.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Host, Veth};
use crate::error::{NetworkError, Result};
use crate::ipam::Subnet;

/// iproute2 on the daemon's network namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct Iproute2;

fn run(args: &[&str], input: Option<&str>) -> Result<()> {
    let command = format!("ip {}", args.join(" "));
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetworkError::Command {
            command: command.clone(),
            message: format!("{e} (is iproute2 installed?)"),
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A write error shows as the command's failure below.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::Command { command: command.clone(), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NetworkError::Command { command: format!("{command} {}", input.unwrap_or("").trim()), message });
    }
    Ok(())
}

/// Runs iproute2 commands (one per line), optionally inside netns `ns`.
fn batch(ns: Option<&str>, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", "-"]);
    run(&args, Some(&(lines.join("\n") + "\n")))
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(NetworkError::io("read", path))
}

/// Interface names of `/proc/net/dev` (per namespace, unlike `/sys/class/net`,
/// which shows the namespace sysfs was mounted in).
pub(crate) fn parse_dev(text: &str) -> impl Iterator<Item = &str> {
    text.lines().skip(2).filter_map(|l| l.split(':').next().map(str::trim))
}

/// Subnets of `/proc/net/route`.
pub(crate) fn parse_routes(text: &str) -> Vec<Subnet> {
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

impl Host for Iproute2 {
    fn link_exists(&self, dev: &str) -> Result<bool> {
        Ok(parse_dev(&read("/proc/net/dev")?).any(|d| d == dev))
    }

    fn routes(&self) -> Result<Vec<Subnet>> {
        Ok(parse_routes(&read("/proc/net/route")?))
    }

    fn netns_path(&self, name: &str) -> PathBuf {
        Path::new("/run/netns").join(name)
    }

    fn netns_exists(&self, name: &str) -> bool {
        self.netns_path(name).exists()
    }

    fn add_netns(&self, name: &str) -> Result<PathBuf> {
        let path = self.netns_path(name);
        if !path.exists() {
            run(&["netns", "add", name], None)?;
        }
        batch(Some(name), &["link set lo up".to_string()])?;
        Ok(path)
    }

    fn delete_netns(&self, name: &str) -> Result<()> {
        if self.netns_exists(name) {
            run(&["netns", "delete", name], None)?;
        }
        Ok(())
    }

    fn add_bridge(&self, dev: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
        batch(
            None,
            &[
                format!("link add name {dev} type bridge"),
                format!("addr add {gateway}/{prefix} dev {dev}"),
                format!("link set {dev} up"),
            ],
        )
    }

    fn add_veth(&self, v: &Veth) -> Result<()> {
        batch(
            None,
            &[
                format!("link add {} type veth peer name {} netns {}", v.host, v.peer, v.netns),
                format!("link set {} master {}", v.host, v.bridge),
                format!("link set {} up", v.host),
            ],
        )
    }

    fn configure_peer(&self, v: &Veth) -> Result<()> {
        let mut lines = vec![
            format!("link set {} name {}", v.peer, v.ifname),
            format!("link set {} address {}", v.ifname, v.mac),
            format!("addr add {}/{} dev {}", v.addr, v.prefix, v.ifname),
            format!("link set {} up", v.ifname),
        ];
        if let Some(gw) = v.gateway {
            lines.push(format!("route add default via {gw}"));
        }
        batch(Some(&v.netns), &lines)
    }

    fn delete_link(&self, dev: &str) -> Result<()> {
        if self.link_exists(dev)? {
            run(&["link", "delete", dev], None)?;
        }
        Ok(())
    }
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
    fn devices_parse() {
        let text = "Inter-|   Receive\n face |bytes\n    lo: 0 0\n  eth0: 1 2\n";
        assert_eq!(parse_dev(text).collect::<Vec<_>>(), ["lo", "eth0"]);
    }
}
