//! The userland port proxy (Docker's docker-proxy): one process per
//! published port forwards host connections to the container's address.
//! It works for connections from the host's own loopback, which NAT rules
//! alone do not cover.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

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
            tcp(l, target)
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

fn tcp(listener: TcpListener, target: SocketAddr) -> io::Result<()> {
    let pool = Pool::default();
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let p = pool.clone();
        pool.run(Box::new(move || {
            let Ok(upstream) = TcpStream::connect(target) else { return };
            let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else { return };
            // The other direction on a thread of its own (blocking splices).
            p.run(Box::new(move || pipe(client, upstream)));
            pipe(u2, c2);
        }));
    }
    Ok(())
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads kept for the next connections (a thread per direction of each
/// connection, but not a new one each time: starting two threads was a
/// tenth of a short connection's cost). A job goes to an idle thread it
/// claimed, or to a new one; idle threads end after a minute.
#[derive(Clone)]
struct Pool {
    tx: mpsc::Sender<Job>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    idle: Arc<AtomicUsize>,
}

impl Default for Pool {
    fn default() -> Pool {
        let (tx, rx) = mpsc::channel();
        Pool { tx, rx: Arc::new(Mutex::new(rx)), idle: Arc::new(AtomicUsize::new(0)) }
    }
}

/// Takes one from `n` unless it is zero.
fn claim(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |i| i.checked_sub(1)).is_ok()
}

impl Pool {
    fn run(&self, job: Job) {
        if claim(&self.idle) {
            // A thread that counted itself idle is (about to be) waiting for it;
            // the receiver lives as long as the pool.
            let _ = self.tx.send(job);
            return;
        }
        let me = self.clone();
        thread::spawn(move || {
            job();
            me.worker();
        });
    }

    fn worker(&self) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            loop {
                let next = self.rx.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(Duration::from_secs(60));
                match next {
                    Ok(job) => {
                        job();
                        break;
                    }
                    // Idle for a minute: end, unless a job was claimed for this thread.
                    Err(mpsc::RecvTimeoutError::Timeout) if claim(&self.idle) => return,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }
}

/// Copies until EOF, then half-closes the other side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    if let Err(Unspliced) = splice_all(&from, &to) {
        let _ = io::copy(&mut from, &mut to);
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Nothing moved yet: splice is not available here (copy instead).
struct Unspliced;

/// Moves bytes socket → pipe → socket in the kernel (as Go's io.Copy does
/// for docker-proxy): no copy through this process's memory. Until EOF or
/// an error of either side.
fn splice_all(from: &TcpStream, to: &TcpStream) -> Result<(), Unspliced> {
    use nix::fcntl::{splice, SpliceFFlags};
    const CHUNK: usize = 1 << 20;
    // Not SPLICE_F_MORE: like MSG_MORE it holds back a short last segment (~200 ms).
    let flags = SpliceFFlags::SPLICE_F_MOVE;
    let (rd, wr) = nix::unistd::pipe().map_err(|_| Unspliced)?;
    let mut moved = false;
    loop {
        let n = match splice(from, None, &wr, None, CHUNK, flags) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) if !moved => return Err(Unspliced),
            Err(_) => return Ok(()),
        };
        moved = true;
        let mut left = n;
        while left > 0 {
            match splice(&rd, None, to, None, left, flags) {
                Ok(0) => return Ok(()),
                Ok(m) => left -= m,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Ok(()),
            }
        }
    }
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
        // Pooled threads: every open connection has both directions running,
        // whether its threads are new or kept from earlier connections.
        let target = echo_server();
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = front.local_addr().unwrap();
        thread::spawn(move || tcp(front, target));
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
        thread::spawn(move || tcp(front, target));
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"ping").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "ping");
    }
}
