//! What a container's resolver knows: every container on the user-defined
//! networks the asker is on (the default `bridge` has no name resolution,
//! as Docker's), by container name, network alias (Compose service names
//! are aliases) and short id, each also as `<name>.<network>`.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Result;
use crate::{Endpoint, Networks};

/// One address and the names it answers to (lowercase, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ip: Ipv4Addr,
    /// On an IPv6 network, the container's IPv6 address too.
    pub ip6: Option<Ipv6Addr>,
    pub names: Vec<String>,
    /// The reverse name: `<container>.<network>`.
    pub ptr: String,
}

/// The asker's view. Empty: it is on no user-defined network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    pub entries: Vec<Entry>,
}

fn entry(ep: &Endpoint) -> Option<Entry> {
    let ip = ep.ip.parse().ok()?;
    let net = ep.network_name.to_ascii_lowercase();
    let mut short = vec![ep.container_name.clone()];
    short.extend(ep.aliases.iter().cloned());
    short.extend(ep.container_id.get(..12).map(str::to_string));
    let mut names: Vec<String> = Vec::new();
    for n in short.iter().map(|n| n.trim_start_matches('/').to_ascii_lowercase()).filter(|n| !n.is_empty()) {
        for name in [format!("{n}.{net}"), n] {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Some(Entry {
        ip,
        ip6: ep.ip6.parse().ok(),
        names,
        ptr: format!("{}.{net}", ep.container_name.trim_start_matches('/').to_ascii_lowercase()),
    })
}

impl Directory {
    /// The view of `container_id` in the store.
    pub fn of(nets: &Networks, container_id: &str) -> Result<Directory> {
        let mut entries = Vec::new();
        for mine in nets.endpoints_of(container_id)?.into_iter().filter(|e| e.network_name != "bridge") {
            entries.extend(nets.endpoints(&mine.network_id)?.iter().filter_map(entry));
        }
        Ok(Directory { entries })
    }

    /// Whether it resolves any name (the container is on a user network).
    pub fn serves(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Every address of `name` (several: each container that holds the
    /// alias), `None` for a name nobody here holds.
    pub fn lookup(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut out: Vec<Ipv4Addr> = Vec::new();
        for e in self.entries.iter().filter(|e| e.names.contains(&name)) {
            if !out.contains(&e.ip) {
                out.push(e.ip);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Every IPv6 address of `name`; `None` for a name nobody here holds
    /// (a name held on IPv4 only has none).
    pub fn lookup6(&self, name: &str) -> Option<Vec<Ipv6Addr>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let holders: Vec<&Entry> = self.entries.iter().filter(|e| e.names.contains(&name)).collect();
        if holders.is_empty() {
            return None;
        }
        let mut out: Vec<Ipv6Addr> = Vec::new();
        for ip in holders.iter().filter_map(|e| e.ip6) {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        Some(out)
    }

    /// The name of a container's address (`<container>.<network>`).
    pub fn reverse(&self, ip: Ipv4Addr) -> Option<&str> {
        self.entries.iter().find(|e| e.ip == ip).map(|e| e.ptr.as_str())
    }

    pub fn reverse6(&self, ip: Ipv6Addr) -> Option<&str> {
        self.entries.iter().find(|e| e.ip6 == Some(ip)).map(|e| e.ptr.as_str())
    }
}

/// The address of an `in-addr.arpa` name (`4.3.2.1.in-addr.arpa` → 1.2.3.4).
pub fn arpa_v4(name: &str) -> Option<Ipv4Addr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let octets: Vec<u8> = rest.split('.').map(|o| o.parse().ok()).collect::<Option<_>>()?;
    match octets[..] {
        [d, c, b, a] => Some(Ipv4Addr::new(a, b, c, d)),
        _ => None,
    }
}

/// The address of an `ip6.arpa` name (32 nibbles, lowest first).
pub fn arpa_v6(name: &str) -> Option<Ipv6Addr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|n| if n.len() == 1 { u8::from_str_radix(n, 16).ok() } else { None })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    Some(Ipv6Addr::from(nibbles.iter().rev().fold(0u128, |acc, n| acc << 4 | u128::from(*n))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(name: &str, net: &str, ip: &str, aliases: &[&str]) -> Endpoint {
        Endpoint {
            container_name: name.into(),
            container_id: format!("{name:a<64}"),
            network_name: net.into(),
            ip: ip.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names_aliases_short_ids_and_network_suffixes() {
        let d = Directory {
            entries: [ep("Web1", "app", "10.0.0.2", &["svc"]), ep("web2", "app", "10.0.0.3", &["svc"])]
                .iter()
                .filter_map(entry)
                .collect(),
        };
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(d.lookup("web1"), Some(vec![ip("10.0.0.2")]), "case-insensitive");
        assert_eq!(d.lookup("WEB1.app."), Some(vec![ip("10.0.0.2")]), "with the network and a trailing dot");
        assert_eq!(d.lookup("svc"), Some(vec![ip("10.0.0.2"), ip("10.0.0.3")]), "every holder of an alias");
        assert_eq!(d.lookup(&format!("web2{}", "a".repeat(8))), Some(vec![ip("10.0.0.3")]), "short id");
        assert_eq!(d.lookup("web3"), None);
        assert_eq!(d.lookup("web1.other"), None);
        assert_eq!(d.reverse(ip("10.0.0.3")), Some("web2.app"));
        assert_eq!(d.reverse(ip("10.0.0.9")), None);
    }

    #[test]
    fn reverse_names_parse() {
        let six: Ipv6Addr = "fd00:1::2".parse().unwrap();
        let nibbles: String = format!("{:032x}", u128::from(six)).chars().rev().map(|c| format!("{c}.")).collect();
        assert_eq!(arpa_v6(&format!("{nibbles}ip6.arpa.")), Some(six));
        assert_eq!(arpa_v6("1.0.ip6.arpa"), None);
        assert_eq!(arpa_v4("3.0.0.10.in-addr.arpa."), Some(Ipv4Addr::new(10, 0, 0, 3)));
        assert_eq!(arpa_v4("3.0.10.in-addr.arpa"), None);
        assert_eq!(arpa_v4("x.0.0.10.in-addr.arpa"), None);
        assert_eq!(arpa_v4("example.com"), None);
    }
}
