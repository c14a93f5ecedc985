//! The userland port proxy (Docker's docker-proxy): one process per
//! published port forwards host connections to the container's address.
//! It works for connections from the host's own loopback, which NAT rules
//! alone do not cover. TCP is one event loop (`tcp.rs`); UDP a thread per
//! flow.

mod tcp;

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::thread;

/// Binds, calls `ready` (the parent waits for it), then serves until the
/// process is killed.
pub fn serve(proto: &str, listen: SocketAddr, target: SocketAddr, ready: impl FnOnce()) -> io::Result<()> {
    match proto {
        "tcp" => {
            let l = if listen.is_ipv6() {
                TcpListener::from(bind_v6only(listen, true)?)
            } else {
                TcpListener::bind(listen)?
            };
            ready();
            tcp::serve(l, target)
        }
        "udp" => {
            let s =
                if listen.is_ipv6() { UdpSocket::from(bind_v6only(listen, false)?) } else { UdpSocket::bind(listen)? };
            ready();
            udp(s, target)
        }
        other => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unknown protocol {other:?}"))),
    }
}

/// An IPv6 socket for IPv6 only, so that `[::]:port` and `0.0.0.0:port`
/// are two proxies (the IPv4 one may go to another address of the container).
fn bind_v6only(listen: SocketAddr, stream: bool) -> io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{bind, listen as listen_on, setsockopt, socket, sockopt, AddressFamily, Backlog};
    use nix::sys::socket::{SockFlag, SockType, SockaddrIn6};
    let kind = if stream { SockType::Stream } else { SockType::Datagram };
    let fd = socket(AddressFamily::Inet6, kind, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    let SocketAddr::V6(v6) = listen else { return Err(io::Error::other("not an IPv6 address")) };
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn6::from(v6))?;
    if stream {
        listen_on(&fd, Backlog::new(1024).unwrap_or(Backlog::MAXCONN))?;
    }
    Ok(fd)
}

fn udp(socket: UdpSocket, target: SocketAddr) -> io::Result<()> {
    use std::collections::HashMap;
    let socket = Arc::new(socket);
    let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        let upstream = match flows.get(&from) {
            Some(u) => u.clone(),
            None => {
                // Flows are capped; a failing one drops its datagram, never the proxy.
                if flows.len() >= 1024 {
                    flows.clear();
                }
                let bind: SocketAddr = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("static");
                let Ok(u) = UdpSocket::bind(bind).and_then(|u| u.connect(target).map(|_| u)) else { continue };
                let u = Arc::new(u);
                let (back, reply_to, u2) = (socket.clone(), from, u.clone());
                let _ = u2.set_read_timeout(Some(std::time::Duration::from_secs(120)));
                thread::spawn(move || {
                    let mut b = vec![0u8; 65_535];
                    // An idle flow ends after two minutes.
                    while let Ok(n) = u2.recv(&mut b) {
                        if back.send_to(&b[..n], reply_to).is_err() {
                            break;
                        }
                    }
                });
                flows.insert(from, u.clone());
                u
            }
        };
        let _ = upstream.send(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};

    fn echo_server() -> SocketAddr {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap();
        thread::spawn(move || {
            for s in echo.incoming().flatten() {
                thread::spawn(move || {
                    let mut s2 = s.try_clone().unwrap();
                    let mut s = s;
                    let _ = io::copy(&mut s, &mut s2);
                });
            }
        });
        target
    }

    #[test]
    fn connections_held_open_at_once_are_all_served() {
        // One loop serves every open connection, with pipes kept from
        // earlier connections.
        let target = echo_server();
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = front.local_addr().unwrap();
        thread::spawn(move || tcp::serve(front, target));
        for round in 0..3 {
            let mut open: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
            for (i, c) in open.iter_mut().enumerate() {
                c.write_all(format!("{round}-{i};").as_bytes()).unwrap();
            }
            for (i, c) in open.iter_mut().enumerate() {
                let want = format!("{round}-{i};");
                let mut got = vec![0u8; want.len()];
                c.read_exact(&mut got).unwrap();
                assert_eq!(String::from_utf8(got).unwrap(), want);
            }
        }
    }

    #[test]
    fn tcp_round_trip_on_loopback() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap();
        thread::spawn(move || {
            for s in echo.incoming().flatten() {
                let mut s2 = s.try_clone().unwrap();
                let mut s = s;
                let _ = io::copy(&mut s, &mut s2);
            }
        });
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = front.local_addr().unwrap();
        thread::spawn(move || tcp::serve(front, target));
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"ping").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "ping");
    }

    fn proxy_to(target: SocketAddr) -> SocketAddr {
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = front.local_addr().unwrap();
        thread::spawn(move || tcp::serve(front, target));
        addr
    }

    #[test]
    fn bulk_both_ways_at_once_arrive_whole_and_in_order() {
        // More than the sockets and pipes hold: both directions block on
        // writes and resume on the writable edge.
        let target = echo_server();
        let addr = proxy_to(target);
        let data: Vec<u8> = (0..16u32 << 20).map(|i| (i % 251) as u8).collect();
        let mut c = TcpStream::connect(addr).unwrap();
        let mut reader = c.try_clone().unwrap();
        let want = data.clone();
        let got = thread::spawn(move || {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).unwrap();
            got
        });
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let got = got.join().unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "bytes differ");
    }

    #[test]
    fn half_close_is_passed_on_and_the_other_direction_goes_on() {
        // The server answers only after the client's FIN.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        thread::spawn(move || {
            for mut s in server.incoming().flatten() {
                let mut req = Vec::new();
                s.read_to_end(&mut req).unwrap();
                s.write_all(format!("got {} bytes", req.len()).as_bytes()).unwrap();
            }
        });
        let addr = proxy_to(target);
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&[7u8; 1000]).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "got 1000 bytes");
    }

    #[test]
    fn a_refused_upstream_ends_the_client_connection_and_the_proxy_goes_on() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = closed.local_addr().unwrap();
        drop(closed);
        let addr = proxy_to(target);
        for _ in 0..3 {
            let mut c = TcpStream::connect(addr).unwrap();
            let mut got = Vec::new();
            // EOF or a reset, never a hang: the proxy drops the client.
            let _ = c.read_to_end(&mut got);
            assert!(got.is_empty());
        }
    }

    #[test]
    fn many_short_connections_reuse_the_loop() {
        let target = echo_server();
        let addr = proxy_to(target);
        for i in 0..500 {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(format!("{i}").as_bytes()).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut got = String::new();
            c.read_to_string(&mut got).unwrap();
            assert_eq!(got, format!("{i}"));
        }
    }
}
