//! The resolver's end inside a container's network namespace: a UDP socket
//! and a TCP listener on 127.0.0.11 at a free port, made by a thread that
//! entered the namespace (the sockets stay bound in it after the thread
//! ends; `sys` enters it), and a NAT rule there that sends port 53 of 127.0.0.11 to them —
//! as Docker does, so a container may run its own server on port 53.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use serde_json::json;

use crate::error::{NetworkError, Result};

/// The address containers ask (`nameserver 127.0.0.11`).
pub const DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// Wharf's table inside a container's namespace.
pub const TABLE: &str = "wharf_dns";

/// The redirect of 127.0.0.11:53 to `port`, replacing any earlier one, as
/// one nft batch.
fn redirect(port: u16) -> serde_json::Value {
    let table = json!({"family": "ip", "name": TABLE});
    let to_us = |proto: &str| {
        json!({"add": {"rule": {"family": "ip", "table": TABLE, "chain": "output", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": DNS_IP.to_string()}},
            {"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": "dport"}}, "right": 53}},
            {"dnat": {"family": "ip", "addr": DNS_IP.to_string(), "port": port}},
        ]}}})
    };
    json!({"nftables": [
        {"add": {"table": table.clone()}},
        {"delete": {"table": table.clone()}},
        {"add": {"table": table}},
        {"add": {"chain": {"family": "ip", "table": TABLE, "name": "output",
                           "type": "nat", "hook": "output", "prio": -100, "policy": "accept"}}},
        to_us("udp"),
        to_us("tcp"),
    ]})
}

/// Binds a UDP socket and a TCP listener at one free port of 127.0.0.11.
fn bind_pair() -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..8 {
        let udp = UdpSocket::bind(SocketAddr::from((DNS_IP, 0)))?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::from((DNS_IP, port))) {
            Ok(tcp) => return Ok((udp, tcp)),
            // The container holds that TCP port: another.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
}

/// Makes the resolver's sockets inside the namespace mounted at `netns`
/// and points 127.0.0.11:53 at them. The sockets are non-blocking.
pub fn attach(netns: &Path) -> Result<(UdpSocket, TcpListener)> {
    let fail = |op: &'static str| move |e: std::io::Error| NetworkError::Dns { op, message: e.to_string() };
    crate::sys::linux::in_namespace(netns, || {
        let (udp, tcp) = bind_pair().map_err(fail("bind 127.0.0.11"))?;
        udp.set_nonblocking(true).map_err(fail("configure socket"))?;
        tcp.set_nonblocking(true).map_err(fail("configure socket"))?;
        let port = udp.local_addr().map_err(fail("configure socket"))?.port();
        // nft runs as a child of this thread: in the container's namespace.
        let batch: nftables::schema::Nftables<'static> =
            serde_json::from_value(redirect(port)).expect("the redirect follows the nftables schema");
        nftables::helper::apply_ruleset(&batch)
            .map_err(|e| NetworkError::Dns { op: "redirect 127.0.0.11:53", message: e.to_string() })?;
        Ok((udp, tcp))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_redirect_follows_the_schema() {
        let batch: nftables::schema::Nftables = serde_json::from_value(super::redirect(4242)).unwrap();
        let text = serde_json::to_string(&batch).unwrap();
        assert!(text.contains("4242") && text.contains("127.0.0.11"), "{text}");
    }
}
