//! A blocking rtnetlink socket: one request at a time, answered by the
//! kernel's messages (a dump) or its acknowledgement. The socket belongs to
//! the network namespace of the thread that opened it, wherever it is used
//! afterwards — which is how the sandbox side of an endpoint is configured
//! without a process entering the namespace.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol};
use netlink_packet_route::route::{RouteScope, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// The kernel's refusal of one request: the operation and its errno.
#[derive(Debug)]
pub(crate) struct Refused {
    pub op: &'static str,
    pub error: io::Error,
}

pub(crate) type Answer<T> = std::result::Result<T, Refused>;

/// Flags of a request that makes something new (and fails if it exists).
pub(crate) const CREATE: u16 = NLM_F_CREATE | NLM_F_EXCL;

pub(crate) struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// A socket on the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Dumps filtered by the kernel where asked (a route table); older kernels ignore it.
        let _ = socket.set_netlink_get_strict_chk(true);
        Ok(Rtnl { socket, seq: 0, buf: Vec::with_capacity(1 << 16) })
    }

    /// Sends `msg` (with `NLM_F_REQUEST|NLM_F_ACK` and `flags`) and collects
    /// the answer up to the acknowledgement or the end of the dump.
    pub(crate) fn request(
        &mut self,
        op: &'static str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Answer<Vec<RouteNetlinkMessage>> {
        let refused = |error| Refused { op, error };
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0).map_err(refused)?;
        let mut answer = Vec::new();
        loop {
            self.buf.clear();
            let n = self.socket.recv(&mut self.buf, 0).map_err(refused)?;
            let mut offset = 0;
            while offset < n.min(self.buf.len()) {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[offset..])
                    .map_err(|e| refused(io::Error::new(io::ErrorKind::InvalidData, e.to_string())))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(refused(io::Error::new(io::ErrorKind::InvalidData, "empty netlink message")));
                }
                offset += len;
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(answer),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(answer),
                        Some(code) => return Err(refused(io::Error::from_raw_os_error(-code.get()))),
                    },
                    NetlinkPayload::InnerMessage(m) => answer.push(m),
                    _ => {}
                }
            }
        }
    }

    /// Runs a change (no answer expected beyond the acknowledgement).
    pub(crate) fn change(&mut self, op: &'static str, msg: RouteNetlinkMessage, flags: u16) -> Answer<()> {
        self.request(op, msg, flags).map(drop)
    }

    /// The index of link `name`, `None` if there is none.
    pub(crate) fn link_index(&mut self, name: &str) -> Answer<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request("get link", RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(links) => Ok(links.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(r) if r.error.raw_os_error() == Some(libc_enodev()) => Ok(None),
            Err(r) => Err(r),
        }
    }

    /// Sets link `index` up.
    pub(crate) fn set_up(&mut self, index: u32) -> Answer<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.change("set link up", RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// Adds `addr/prefix` (with its broadcast address) to link `index`.
    pub(crate) fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Answer<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        let host_bits = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
        let broadcast = Ipv4Addr::from(u32::from(addr) | host_bits);
        msg.attributes.push(AddressAttribute::Local(addr.into()));
        msg.attributes.push(AddressAttribute::Address(addr.into()));
        if prefix < 31 {
            msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        }
        self.change("add address", RouteNetlinkMessage::NewAddress(msg), CREATE)
    }

    /// Adds `addr/prefix` to link `index`, usable at once (no DAD).
    pub(crate) fn add_address6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8) -> Answer<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.header.flags = AddressHeaderFlags::Nodad;
        msg.attributes.push(AddressAttribute::Address(addr.into()));
        msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        self.change("add address", RouteNetlinkMessage::NewAddress(msg), CREATE)
    }

    /// Adds the default route (of the gateway's family) via `gateway` in the main table.
    pub(crate) fn add_default_route(&mut self, gateway: IpAddr) -> Answer<()> {
        let mut msg = RouteMessage::default();
        let (family, via) = match gateway {
            IpAddr::V4(g) => (AddressFamily::Inet, RouteAddress::Inet(g)),
            IpAddr::V6(g) => (AddressFamily::Inet6, RouteAddress::Inet6(g)),
        };
        msg.header.address_family = family;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(via));
        self.change("add default route", RouteNetlinkMessage::NewRoute(msg), CREATE)
    }

    /// IPv4 routes of the main table: (destination, prefix length).
    pub(crate) fn routes(&mut self) -> Answer<Vec<(Ipv4Addr, u8)>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        let answer = self.request("list routes", RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
        Ok(answer
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == RouteHeader::RT_TABLE_MAIN && r.header.kind == RouteType::Unicast =>
                {
                    let dest = r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
                        _ => None,
                    });
                    Some((dest.unwrap_or(Ipv4Addr::UNSPECIFIED), r.header.destination_prefix_length))
                }
                _ => None,
            })
            .collect())
    }
}

fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}
