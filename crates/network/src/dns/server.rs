//! The resolver: one per daemon, serving every container on a user-defined
//! network through the sockets [`sandbox::attach`] made in its namespace.
//! A query is answered from the network store ([`Directory`]) or relayed
//! to the container's upstream servers (its `--dns`, else the host's
//! resolv.conf: the daemon relays from its own namespace, so loopback
//! resolvers such as systemd-resolved's work, as with Docker). Processes
//! that wire a sandbox (monitors) ask for an attachment over the control
//! socket ([`super::control`]); an attachment ends when its sandbox is gone.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::answer::{answer, Reply};
use super::control::Control;
use super::directory::Directory;
use super::sandbox;
use crate::error::{NetworkError, Result};
use crate::Networks;

/// How long an upstream server has to answer, per server tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// Queries of one container in flight at once; more are dropped (UDP) or wait (TCP).
const IN_FLIGHT: usize = 64;
/// A TCP client's time to send its next query.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// How often attachments are checked against their sandboxes.
const SWEEP: Duration = Duration::from_secs(2);

/// The daemon's resolver. Cheap to clone.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    nets: Networks,
    /// The host's name servers (resolv.conf), for containers without `--dns`.
    host_upstreams: Vec<SocketAddr>,
    attached: Mutex<HashMap<String, Attached>>,
    turn: AtomicUsize,
    /// Control requests being answered, and when the last one ended or an
    /// attachment went: what [`Resolver::idle`] tells.
    busy: AtomicUsize,
    last_use: Mutex<std::time::Instant>,
}

/// A container's sockets being served; dropping it ends their tasks (and
/// closes the sockets, releasing the namespace).
struct Attached {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The `nameserver` addresses of a resolv.conf text, as port-53 sockets.
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|ip| ip.split('%').next().and_then(|ip| ip.parse::<IpAddr>().ok()))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn upstreams_of(dns: &[String], host: &[SocketAddr]) -> Result<Vec<SocketAddr>> {
    if dns.is_empty() {
        return Ok(host.to_vec());
    }
    dns.iter()
        .map(|d| {
            d.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)).map_err(|_| NetworkError::Invalid {
                what: "DNS server".into(),
                reason: format!("{d} is not an IP address"),
            })
        })
        .collect()
}

impl Resolver {
    /// A resolver over the store; `resolv_conf` is the host's (its servers
    /// are the default upstreams).
    pub fn new(nets: Networks, resolv_conf: &str) -> Resolver {
        let inner = Inner {
            nets,
            host_upstreams: nameservers(resolv_conf),
            attached: Mutex::new(HashMap::new()),
            turn: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            last_use: Mutex::new(std::time::Instant::now()),
        };
        Resolver { inner: Arc::new(inner) }
    }

    fn attached(&self) -> std::sync::MutexGuard<'_, HashMap<String, Attached>> {
        self.inner.attached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves the container's sandbox (replacing an earlier attachment: a
    /// restart made a new sandbox). `dns`: its own upstream servers.
    pub async fn attach(&self, container_id: &str, dns: &[String]) -> Result<()> {
        let upstreams = Arc::new(upstreams_of(dns, &self.inner.host_upstreams)?);
        let nets = self.inner.nets.clone();
        let id = container_id.to_string();
        let (udp, tcp) = tokio::task::spawn_blocking(move || {
            let path = nets
                .sandbox_path(&id)
                .ok_or_else(|| NetworkError::Conflict(format!("container {id} has no network sandbox")))?;
            sandbox::attach(&path)
        })
        .await
        .map_err(|e| NetworkError::Dns { op: "attach", message: e.to_string() })??;
        let io = |e: std::io::Error| NetworkError::Dns { op: "serve", message: e.to_string() };
        let udp = Arc::new(UdpSocket::from_std(udp).map_err(io)?);
        let tcp = TcpListener::from_std(tcp).map_err(io)?;
        let limit = Arc::new(Semaphore::new(IN_FLIGHT));
        let ctx = Ctx { inner: self.inner.clone(), id: container_id.to_string(), upstreams, limit };
        let tasks = vec![tokio::spawn(ctx.clone().serve_udp(udp)), tokio::spawn(ctx.serve_tcp(tcp))];
        self.attached().insert(container_id.to_string(), Attached { tasks });
        tracing::debug!(container = container_id, "dns attached");
        Ok(())
    }

    /// Stops serving the container.
    pub fn detach(&self, container_id: &str) {
        self.attached().remove(container_id);
        self.touch();
    }

    fn touch(&self) {
        *self.inner.last_use.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
    }

    /// How long the resolver has served nothing (no attachment, no control
    /// request): `None` while it serves.
    pub fn idle(&self) -> Option<Duration> {
        if self.inner.busy.load(std::sync::atomic::Ordering::SeqCst) > 0 || !self.attached().is_empty() {
            return None;
        }
        Some(self.inner.last_use.lock().unwrap_or_else(|e| e.into_inner()).elapsed())
    }

    /// The containers served now.
    pub fn served(&self) -> Vec<String> {
        let mut v: Vec<String> = self.attached().keys().cloned().collect();
        v.sort();
        v
    }

    /// Ends the attachments whose sandbox is gone.
    pub fn sweep(&self) {
        let ids = self.served();
        for id in ids {
            if self.inner.nets.sandbox_path(&id).is_none() {
                self.detach(&id);
                tracing::debug!(container = %id, "dns detached: sandbox gone");
            }
        }
    }

    /// Binds the control socket (replacing a stale one) and serves it, and
    /// sweeps, until the runtime ends. Returns once the socket is bound.
    pub fn serve_control(&self, path: &Path) -> Result<()> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(NetworkError::io("bind", path))?;
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(NetworkError::io("chmod", path))?;
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        me.inner.busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let me = me.clone();
                        tokio::spawn(async move { me.control(stream).await });
                    }
                    Err(e) => tracing::warn!("dns control socket: {e}"),
                }
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            loop {
                tick.tick().await;
                let me = me.clone();
                let _ = tokio::task::spawn_blocking(move || me.sweep()).await;
            }
        });
        Ok(())
    }

    /// Answers one accepted connection (counted busy from its accept on).
    async fn control(&self, stream: UnixStream) {
        self.answer(stream).await;
        self.touch();
        self.inner.busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }

    async fn answer(&self, stream: UnixStream) {
        let (rd, mut wr) = stream.into_split();
        let mut line = String::new();
        let read = BufReader::new(rd.take(64 * 1024)).read_line(&mut line).await;
        let result = match read.map(|_| serde_json::from_str::<Control>(&line)) {
            Ok(Ok(Control::Attach { container, dns })) => self.attach(&container, &dns).await,
            Ok(Ok(Control::Detach { container })) => {
                self.detach(&container);
                Ok(())
            }
            Ok(Err(e)) => Err(NetworkError::Dns { op: "control request", message: e.to_string() }),
            Err(e) => Err(NetworkError::Dns { op: "control request", message: e.to_string() }),
        };
        let reply = match result {
            Ok(()) => "ok\n".to_string(),
            Err(e) => format!("error {}\n", e.to_string().replace('\n', " ")),
        };
        let _ = wr.write_all(reply.as_bytes()).await;
    }
}

/// One attachment's serving context.
#[derive(Clone)]
struct Ctx {
    inner: Arc<Inner>,
    id: String,
    upstreams: Arc<Vec<SocketAddr>>,
    limit: Arc<Semaphore>,
}

impl Ctx {
    async fn serve_udp(self, sock: Arc<UdpSocket>) {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, src)) = sock.recv_from(&mut buf).await else { continue };
            let Ok(permit) = self.limit.clone().try_acquire_owned() else { continue };
            let (me, sock, query) = (self.clone(), sock.clone(), buf[..n].to_vec());
            tokio::spawn(async move {
                if let Some(reply) = me.resolve(query, false).await {
                    let _ = sock.send_to(&reply, src).await;
                }
                drop(permit);
            });
        }
    }

    async fn serve_tcp(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let Ok(permit) = self.limit.clone().acquire_owned().await else { return };
            let me = self.clone();
            tokio::spawn(async move {
                let _ = me.tcp_client(stream).await;
                drop(permit);
            });
        }
    }

    async fn tcp_client(&self, mut stream: TcpStream) -> std::io::Result<()> {
        loop {
            let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
                Ok(Ok(len)) => len,
                _ => return Ok(()),
            };
            let mut query = vec![0u8; len as usize];
            tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut query)).await??;
            if let Some(reply) = self.resolve(query, true).await {
                let len = u16::try_from(reply.len()).map_err(std::io::Error::other)?;
                stream.write_u16(len).await?;
                stream.write_all(&reply).await?;
            }
        }
    }

    async fn resolve(&self, query: Vec<u8>, tcp: bool) -> Option<Vec<u8>> {
        let (nets, id) = (self.inner.nets.clone(), self.id.clone());
        // The store's records are files: read off the async threads. A
        // store that cannot be read answers nothing itself.
        let dir = match tokio::task::spawn_blocking(move || Directory::of(&nets, &id)).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::warn!(container = %self.id, "dns: network store: {e}");
                Directory::default()
            }
            Err(_) => Directory::default(),
        };
        match answer(&query, &dir, &self.inner.turn) {
            Reply::Answer(a) => Some(a),
            Reply::Drop => None,
            Reply::Forward => Some(match forward(&query, &self.upstreams, tcp).await {
                Some(a) => a,
                None => servfail(&query)?,
            }),
        }
    }
}

fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    let mut m = Message::error_msg(id, OpCode::Query, ResponseCode::ServFail);
    if let Ok(q) = Message::from_vec(query) {
        m.add_queries(q.queries);
    }
    m.to_vec().ok()
}

/// Relays a query to the first upstream server that answers.
async fn forward(query: &[u8], upstreams: &[SocketAddr], tcp: bool) -> Option<Vec<u8>> {
    for up in upstreams {
        let answer = if tcp { forward_tcp(query, *up).await } else { forward_udp(query, *up).await };
        match answer {
            Ok(a) => return Some(a),
            Err(e) => tracing::debug!(upstream = %up, "dns forward: {e}"),
        }
    }
    None
}

async fn forward_udp(query: &[u8], up: SocketAddr) -> std::io::Result<Vec<u8>> {
    let any: IpAddr = if up.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let sock = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
    sock.connect(up).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 65535];
    tokio::time::timeout(UPSTREAM_TIMEOUT, async {
        loop {
            let n = sock.recv(&mut buf).await?;
            // Only the answer to this query (same id).
            if n >= 2 && buf[..2] == query[..2] {
                return Ok(buf[..n].to_vec());
            }
        }
    })
    .await?
}

async fn forward_tcp(query: &[u8], up: SocketAddr) -> std::io::Result<Vec<u8>> {
    tokio::time::timeout(UPSTREAM_TIMEOUT, async {
        let mut s = TcpStream::connect(up).await?;
        let len = u16::try_from(query.len()).map_err(std::io::Error::other)?;
        s.write_u16(len).await?;
        s.write_all(query).await?;
        let n = s.read_u16().await?;
        let mut out = vec![0u8; n as usize];
        s.read_exact(&mut out).await?;
        Ok(out)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_come_from_the_container_or_the_host() {
        let host = nameservers("# c\nnameserver 127.0.0.53\nsearch x\nnameserver fe80::1%eth0\nnameserver bogus\n");
        assert_eq!(host, ["127.0.0.53:53".parse().unwrap(), "[fe80::1]:53".parse().unwrap()]);
        assert_eq!(upstreams_of(&[], &host).unwrap(), host);
        assert_eq!(upstreams_of(&["10.0.0.1".into()], &host).unwrap(), ["10.0.0.1:53".parse().unwrap()]);
        assert!(matches!(upstreams_of(&["dns.example".into()], &host), Err(NetworkError::Invalid { .. })));
    }

    #[tokio::test]
    async fn a_loopback_upstream_answers_through_the_relay() {
        // As systemd-resolved's 127.0.0.53: reachable from the daemon's namespace.
        let up = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = up.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = up.recv_from(&mut buf).unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            let mut a = Message::response(q.metadata.id, OpCode::Query);
            a.add_queries(q.queries);
            up.send_to(&a.to_vec().unwrap(), from).unwrap();
        });
        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_ascii("example.com.").unwrap(),
            hickory_proto::rr::RecordType::A,
        ));
        let answer = forward(&q.to_vec().unwrap(), &[addr], false).await.expect("relayed");
        assert_eq!(Message::from_vec(&answer).unwrap().metadata.id, q.metadata.id);
        server.join().unwrap();
    }

    #[tokio::test]
    async fn a_query_nobody_answers_gets_servfail() {
        // An upstream that never answers: a bound socket that reads nothing.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_ascii("example.com.").unwrap(),
            hickory_proto::rr::RecordType::A,
        ));
        let bytes = q.to_vec().unwrap();
        assert_eq!(forward(&bytes, &[silent.local_addr().unwrap()], false).await, None);
        let m = Message::from_vec(&servfail(&bytes).unwrap()).unwrap();
        assert_eq!((m.metadata.id, m.metadata.response_code), (q.metadata.id, ResponseCode::ServFail));
    }
}
