//! The TCP side of the userland proxy: one thread and one epoll (mio) for
//! every connection of a published port. Bytes move socket → pipe → socket
//! by non-blocking splice (no copy through this process's memory, as Go's
//! `io.Copy` does for docker-proxy); pipes are kept for the next
//! connections. An event on either socket of a connection moves whatever
//! can move in both directions until the kernel would block (mio's
//! notifications are edge-triggered).

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use nix::errno::Errno;
use nix::fcntl::{splice, SpliceFFlags};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;

const LISTENER: Token = Token(usize::MAX);
/// At most this much per splice (a pipe holds less: its capacity bounds it).
const CHUNK: usize = 1 << 20;
/// Empty pipes kept for the next connections.
const POOLED_PIPES: usize = 64;

/// Serves until an unrecoverable error of the listener's poll.
pub(super) fn serve(listener: std::net::TcpListener, target: SocketAddr) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut proxy = Proxy { target, conns: Vec::new(), free: Vec::new(), pipes: Vec::new() };
    let mut events = Events::with_capacity(256);
    loop {
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => proxy.accept(&listener, poll.registry()),
                Token(t) => proxy.ready(t / 2),
            }
        }
    }
}

struct Proxy {
    target: SocketAddr,
    /// Connection `i` has tokens `2i` (client) and `2i + 1` (upstream).
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    pipes: Vec<Pipe>,
}

struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    /// Client → upstream.
    up: Half,
    /// Upstream → client.
    down: Half,
}

/// One direction of a connection.
#[derive(Default)]
struct Half {
    pipe: Option<Pipe>,
    /// Bytes in the pipe not yet written on.
    pending: usize,
    /// The reading side sent its FIN.
    eof: bool,
    /// EOF passed on (the writing side shut down for writing).
    closed: bool,
}

struct Pipe {
    rd: OwnedFd,
    wr: OwnedFd,
}

impl Proxy {
    fn accept(&mut self, listener: &TcpListener, registry: &Registry) {
        loop {
            match listener.accept() {
                Ok((client, _)) => {
                    if let Err(e) = self.open(client, registry) {
                        tracing::debug!("proxy: connection to {} not opened: {e}", self.target);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                // Out of descriptors, say: the connection stays queued and
                // the next one to arrive wakes this loop again.
                Err(e) => {
                    tracing::warn!("proxy: accept: {e}");
                    return;
                }
            }
        }
    }

    fn open(&mut self, client: TcpStream, registry: &Registry) -> io::Result<()> {
        let upstream = TcpStream::connect(self.target)?;
        // As Go's sockets (docker-proxy's): small writes are not held back.
        client.set_nodelay(true)?;
        upstream.set_nodelay(true)?;
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let mut conn = Conn { client, upstream, up: Half::default(), down: Half::default() };
        let both = Interest::READABLE | Interest::WRITABLE;
        let registered = registry
            .register(&mut conn.client, Token(2 * slot), both)
            .and_then(|()| registry.register(&mut conn.upstream, Token(2 * slot + 1), both));
        if let Err(e) = registered {
            let _ = registry.deregister(&mut conn.client);
            self.free.push(slot);
            return Err(e);
        }
        self.conns[slot] = Some(conn);
        Ok(())
    }

    fn ready(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else { return };
        match conn.progress(&mut self.pipes) {
            Ok(false) => {}
            Ok(true) => self.close(slot),
            Err(e) => {
                tracing::debug!("proxy: connection to {} ended: {e}", self.target);
                self.close(slot);
            }
        }
    }

    fn close(&mut self, slot: usize) {
        // Closing the sockets takes them out of the poll.
        let Some(conn) = self.conns[slot].take() else { return };
        for half in [conn.up, conn.down] {
            // A pipe still holding bytes is not reused.
            if let (Some(pipe), 0) = (half.pipe, half.pending) {
                if self.pipes.len() < POOLED_PIPES {
                    self.pipes.push(pipe);
                }
            }
        }
        self.free.push(slot);
    }
}

impl Conn {
    /// Moves what can move; true once both directions have ended.
    fn progress(&mut self, pipes: &mut Vec<Pipe>) -> io::Result<bool> {
        // The upstream connection may still be on its way: until it is,
        // splicing to or from it would block (and a refusal comes out of
        // the splice as its error).
        pump(&self.client, &self.upstream, &mut self.up, pipes)?;
        pump(&self.upstream, &self.client, &mut self.down, pipes)?;
        Ok(self.up.closed && self.down.closed)
    }
}

/// One direction until either socket would block, or it has ended.
fn pump(from: &TcpStream, to: &TcpStream, half: &mut Half, pipes: &mut Vec<Pipe>) -> io::Result<()> {
    // Not SPLICE_F_MORE: like MSG_MORE it holds back a short last segment (~200 ms).
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    while !half.closed {
        let moved = if half.pending > 0 {
            let Some(pipe) = &half.pipe else { return Err(io::Error::other("bytes pending without a pipe")) };
            splice(&pipe.rd, None, to, None, half.pending, flags).map(|n| half.pending -= n)
        } else if half.eof {
            // The peer may be gone already: nothing more to tell it.
            let _ = to.shutdown(Shutdown::Write);
            half.closed = true;
            Ok(())
        } else {
            let pipe = match &mut half.pipe {
                Some(pipe) => pipe,
                None => half.pipe.insert(take_pipe(pipes)?),
            };
            splice(from, None, &pipe.wr, None, CHUNK, flags).map(|n| match n {
                0 => half.eof = true,
                n => half.pending = n,
            })
        };
        match moved {
            Ok(()) | Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn take_pipe(pipes: &mut Vec<Pipe>) -> io::Result<Pipe> {
    if let Some(pipe) = pipes.pop() {
        return Ok(pipe);
    }
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    Ok(Pipe { rd, wr })
}
