//! The parent ↔ init channel: a SOCK_SEQPACKET pair, one tagged message per
//! datagram, so neither side ever needs framing.

use std::os::fd::OwnedFd;

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Result, RuntimeError};

/// Message tags.
pub const GO: u8 = b'G';
pub const HOOKS: u8 = b'H';
pub const HOOKS_DONE: u8 = b'h';
pub const READY: u8 = b'R';
pub const START: u8 = b'S';
pub const ERROR: u8 = b'E';
/// An error whose kind is "the executable is not there" (the payload is its message).
pub const NOT_FOUND: u8 = b'N';
/// An error whose kind is "the executable cannot be run" (a directory, no permission).
pub const NOT_RUNNABLE: u8 = b'X';

/// The error a child's `ERROR`/`NOT_FOUND` message stands for.
pub fn child_error(tag: u8, msg: &[u8]) -> Option<RuntimeError> {
    let text = String::from_utf8_lossy(msg).into_owned();
    match tag {
        ERROR => Some(RuntimeError::Child(text)),
        NOT_FOUND => Some(RuntimeError::ExecutableNotFound(text)),
        NOT_RUNNABLE => Some(RuntimeError::ExecutableNotRunnable(text)),
        _ => None,
    }
}

/// The message a child sends for `e`.
pub fn error_message(e: &RuntimeError) -> (u8, String) {
    match e {
        RuntimeError::ExecutableNotFound(m) => (NOT_FOUND, m.clone()),
        RuntimeError::ExecutableNotRunnable(m) => (NOT_RUNNABLE, m.clone()),
        other => (ERROR, other.to_string()),
    }
}

pub struct Channel(OwnedFd);

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(RuntimeError::sys("socketpair"))?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub fn send(&self, tag: u8, payload: &[u8]) -> Result<()> {
        let mut msg = Vec::with_capacity(payload.len() + 1);
        msg.push(tag);
        msg.extend_from_slice(payload);
        send(std::os::fd::AsRawFd::as_raw_fd(&self.0), &msg, MsgFlags::MSG_NOSIGNAL)
            .map_err(RuntimeError::sys("sync send"))?;
        Ok(())
    }

    /// Next message; `None` when the peer closed its end (it exited).
    pub fn recv(&self) -> Result<Option<(u8, Vec<u8>)>> {
        let mut buf = vec![0u8; 8192];
        loop {
            match recv(std::os::fd::AsRawFd::as_raw_fd(&self.0), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    buf.truncate(n);
                    let tag = buf.remove(0);
                    return Ok(Some((tag, buf)));
                }
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(RuntimeError::Sys("sync recv", e)),
            }
        }
    }

    /// Waits for `tag`; an error message or EOF from the peer becomes an error.
    pub fn expect(&self, tag: u8) -> Result<Vec<u8>> {
        match self.recv()? {
            Some((t, payload)) if t == tag => Ok(payload),
            Some((t, msg)) if child_error(t, &msg).is_some() => Err(child_error(t, &msg).expect("checked")),
            Some((t, _)) => Err(RuntimeError::Init(format!("unexpected sync message {:?}", t as char))),
            None => Err(RuntimeError::Init("container process exited during setup".into())),
        }
    }
}
