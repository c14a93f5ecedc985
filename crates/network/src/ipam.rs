//! Address management: IPv4 and IPv6 subnets in CIDR form, the gateway,
//! and free addresses for endpoints.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{NetworkError, Result};

/// An IPv4 subnet (`172.18.0.0/16`), normalised to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet> {
        let bad = |reason: &str| NetworkError::Invalid { what: format!("subnet {s:?}"), reason: reason.into() };
        let (a, p) = s.split_once('/').ok_or_else(|| bad("use CIDR notation, e.g. 172.20.0.0/16"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address (IPv6 is not supported)"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("prefix length must be between 8 and 30"));
        }
        Ok(Subnet { addr: Ipv4Addr::from(u32::from(addr) & Self::mask_of(prefix)), prefix })
    }

    fn mask_of(prefix: u8) -> u32 {
        u32::MAX << (32 - prefix as u32)
    }

    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// Whether `other` is this subnet or a part of it (a route that a
    /// bridge on this subnet would collide with; a broader one, as a VPN's
    /// 10.0.0.0/8, it would only narrow, as Docker allows).
    pub fn covers(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The first usable address (Docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    pub fn broadcast(&self) -> u32 {
        u32::from(self.addr) | !self.mask()
    }

    /// The lowest address not in `used`, excluding network, gateway and broadcast.
    pub fn allocate(&self, gateway: Ipv4Addr, used: &[Ipv4Addr]) -> Result<Ipv4Addr> {
        let start = u32::from(self.addr) + 1;
        (start..self.broadcast())
            .map(Ipv4Addr::from)
            .find(|ip| *ip != gateway && !used.contains(ip))
            .ok_or_else(|| NetworkError::Exhausted(self.to_string()))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv6 subnet (`fd00:1::/64`), normalised to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Subnet6 {
    pub fn parse(s: &str) -> Result<Subnet6> {
        let bad = |reason: &str| NetworkError::Invalid { what: format!("subnet {s:?}"), reason: reason.into() };
        let (a, p) = s.split_once('/').ok_or_else(|| bad("use CIDR notation, e.g. fd00:1::/64"))?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad("not an IPv6 address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        if !(16..=124).contains(&prefix) {
            return Err(bad("prefix length must be between 16 and 124"));
        }
        Ok(Subnet6 { addr: Ipv6Addr::from(u128::from(addr) & Self::mask_of(prefix)), prefix })
    }

    fn mask_of(prefix: u8) -> u128 {
        u128::MAX << (128 - prefix as u32)
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & Self::mask_of(self.prefix) == u128::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let m = Self::mask_of(self.prefix) & Self::mask_of(other.prefix);
        u128::from(self.addr) & m == u128::from(other.addr) & m
    }

    /// The first address after the subnet-router anycast (the gateway).
    pub fn first_host(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) + 1)
    }

    /// The lowest address not in `used`, excluding the subnet-router
    /// anycast address and the gateway.
    pub fn allocate(&self, gateway: Ipv6Addr, used: &[Ipv6Addr]) -> Result<Ipv6Addr> {
        let start = u128::from(self.addr) + 1;
        let end = u128::from(self.addr) | !Self::mask_of(self.prefix);
        // Endpoints are few: the first free one is near the start.
        (start..=end)
            .take(used.len() + 2)
            .map(Ipv6Addr::from)
            .find(|ip| *ip != gateway && !used.contains(ip))
            .ok_or_else(|| NetworkError::Exhausted(self.to_string()))
    }

    /// A unique local /64 for a network without a given IPv6 subnet: `fd`
    /// and a 40-bit global id from the network's id (RFC 4193), as Docker
    /// derives one.
    pub fn ula_for(network_id: &str) -> Subnet6 {
        use sha2::Digest as _;
        let h = sha2::Sha256::digest(network_id.as_bytes());
        let mut o = [0u8; 16];
        o[0] = 0xfd;
        o[1..6].copy_from_slice(&h[..5]);
        Subnet6 { addr: Ipv6Addr::from(o), prefix: 64 }
    }
}

impl std::fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Docker's default address pools: 172.17–31.0.0/16, then 192.168.x.0/20.
pub fn default_pools() -> impl Iterator<Item = Subnet> {
    (17..=31u8)
        .map(|b| Subnet { addr: Ipv4Addr::new(172, b, 0, 0), prefix: 16 })
        .chain((0..=240u8).step_by(16).map(|c| Subnet { addr: Ipv4Addr::new(192, 168, c, 0), prefix: 20 }))
}

/// A MAC address derived from the IP, as Docker does (02:42:a.b.c.d).
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// A MAC address a client asked for (`--mac-address`): six hex octets,
/// unicast; normalised to lower case.
pub fn parse_mac(s: &str) -> Result<String> {
    Ok(mac_octets(s)?.iter().map(|o| format!("{o:02x}")).collect::<Vec<_>>().join(":"))
}

/// The octets of a unicast MAC address written `xx:xx:xx:xx:xx:xx`.
pub fn mac_octets(s: &str) -> Result<[u8; 6]> {
    let bad =
        || NetworkError::Invalid { what: "MAC address".into(), reason: format!("{s:?} is not a unicast MAC address") };
    let octets: Vec<u8> = s
        .split(':')
        .map(|o| if o.len() == 2 { u8::from_str_radix(o, 16).ok() } else { None })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let octets: [u8; 6] = octets.try_into().map_err(|_| bad())?;
    if octets[0] & 1 == 1 {
        return Err(bad());
    }
    Ok(octets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:42:AC:11:00:09").unwrap(), "02:42:ac:11:00:09");
        for bad in ["01:00:5e:00:00:01", "02:42:ac:11:00", "zz:42:ac:11:00:09", "0242ac110009"] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.1.2.3/24").unwrap();
        assert_eq!(s.to_string(), "10.1.2.0/24");
        assert!(s.contains("10.1.2.200".parse().unwrap()) && !s.contains("10.1.3.1".parse().unwrap()));
        assert!(s.overlaps(&Subnet::parse("10.1.0.0/16").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.2.0.0/16").unwrap()));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/31", "x/16", "fd00::/64"] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_subnets() {
        let s = Subnet6::parse("fd00:1:2:3::5/64").unwrap();
        assert_eq!(s.to_string(), "fd00:1:2:3::/64");
        assert!(s.contains("fd00:1:2:3::9".parse().unwrap()) && !s.contains("fd00:1:2:4::1".parse().unwrap()));
        assert!(s.overlaps(&Subnet6::parse("fd00:1::/32").unwrap()));
        let gw = s.first_host();
        assert_eq!(gw.to_string(), "fd00:1:2:3::1");
        let a = s.allocate(gw, &[]).unwrap();
        assert_eq!(a.to_string(), "fd00:1:2:3::2");
        assert_eq!(s.allocate(gw, &[a]).unwrap().to_string(), "fd00:1:2:3::3");
        for bad in ["fd00::", "fd00::/129", "fd00::/8", "10.0.0.0/8", "x/64"] {
            assert!(Subnet6::parse(bad).is_err(), "{bad}");
        }
        let u = Subnet6::ula_for("abc");
        assert_eq!((u.addr.octets()[0], u.prefix, u), (0xfd, 64, Subnet6::ula_for("abc")));
        assert_ne!(u, Subnet6::ula_for("abd"));
    }

    #[test]
    fn allocation_skips_gateway_and_used() {
        let s = Subnet::parse("10.0.0.0/30").unwrap();
        let gw = s.first_host();
        assert_eq!(gw, Ipv4Addr::new(10, 0, 0, 1));
        let a = s.allocate(gw, &[]).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 0, 0, 2));
        assert!(s.allocate(gw, &[a]).is_err(), "/30 has two hosts");
        assert_eq!(mac_for(a), "02:42:0a:00:00:02");
        assert_eq!(default_pools().next().unwrap().to_string(), "172.17.0.0/16");
    }
}
