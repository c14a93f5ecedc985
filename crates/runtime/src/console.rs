//! Terminals: the pty a container gets when `process.terminal` is set, the
//! console socket that hands its master to the caller, and the copy loop
//! used when the runtime itself holds the master (foreground `run`/`exec -t`).

use std::fs::File;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios;

use crate::error::{Result, RuntimeError};

/// Connects to the caller's console socket (before pivot_root, while its path is reachable).
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(RuntimeError::io("connect console socket", path))
}

/// Sends `master` over `sock` as runc does: the pty name as data, one SCM_RIGHTS fd.
pub fn send_fd(sock: BorrowedFd<'_>, name: &str, fd: BorrowedFd<'_>) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let iov = [IoSlice::new(name.as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(RuntimeError::sys("send pty master"))?;
    Ok(())
}

/// Receives one fd sent with [`send_fd`].
pub fn recv_fd(sock: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(RuntimeError::sys("receive pty master"))?;
    for c in msg.cmsgs().map_err(RuntimeError::sys("receive pty master"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return Ok(crate::sys::own_received_fd(*fd));
            }
        }
    }
    Err(RuntimeError::Init("console socket message carried no file descriptor".into()))
}

/// Inside the container (after pivot_root): opens a pty, optionally bind-mounts
/// its slave on /dev/console, sends the master to `sock`, and makes the slave
/// our stdio and controlling terminal.
pub fn setup_pty(sock: BorrowedFd<'_>, console: bool, size: Option<(u16, u16)>) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(RuntimeError::sys("open /dev/ptmx"))?;
    grantpt(&master).map_err(RuntimeError::sys("grantpt"))?;
    unlockpt(&master).map_err(RuntimeError::sys("unlockpt"))?;
    let name = ptsname_r(&master).map_err(RuntimeError::sys("ptsname"))?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .map_err(RuntimeError::io("open pty", &name))?;
    if let Some((rows, cols)) = size {
        crate::sys::set_winsize(slave.as_fd(), rows, cols).map_err(RuntimeError::io("set window size", &name))?;
    }
    if console {
        let dest = Path::new("/dev/console");
        if !dest.exists() {
            File::create(dest).map_err(RuntimeError::io("create", dest))?;
        }
        mount(Some(name.as_str()), dest, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| RuntimeError::Io { context: "bind console", path: dest.into(), source: e.into() })?;
    }
    send_fd(sock, &name, master.as_fd())?;
    drop(master);
    nix::unistd::dup2_stdin(&slave).map_err(RuntimeError::sys("dup2 pty"))?;
    nix::unistd::dup2_stdout(&slave).map_err(RuntimeError::sys("dup2 pty"))?;
    nix::unistd::dup2_stderr(&slave).map_err(RuntimeError::sys("dup2 pty"))?;
    crate::sys::set_controlling_tty(slave.as_fd())
        .map_err(|e| RuntimeError::Init(format!("set controlling tty: {e}")))?;
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

/// The runtime's end of a container terminal: copies our stdin to the pty
/// master and the master to our stdout. A terminal stdin is put into raw mode
/// until the proxy is dropped.
pub struct Proxy {
    master: File,
    saved: Option<termios::Termios>,
    stdin_open: bool,
    master_open: bool,
}

impl Proxy {
    pub fn new(master: OwnedFd) -> Self {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
        }
        let proxy = Proxy { master: File::from(master), saved, stdin_open: true, master_open: true };
        proxy.sync_size();
        proxy
    }

    /// Copies our terminal's window size to the pty.
    pub fn sync_size(&self) {
        if let Ok((rows, cols)) = crate::sys::get_winsize(std::io::stdin().as_fd()) {
            let _ = crate::sys::set_winsize(self.master.as_fd(), rows, cols);
        }
    }

    /// Waits for data on the master, stdin or `other`; moves what is ready.
    /// Returns whether `other` is readable.
    pub fn poll_once(&mut self, other: BorrowedFd<'_>) -> Result<bool> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(other, PollFlags::POLLIN)];
        if self.master_open {
            fds.push(PollFd::new(self.master.as_fd(), PollFlags::POLLIN));
        }
        if self.stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => return Ok(false),
            Err(e) => return Err(RuntimeError::Sys("poll", e)),
            Ok(_) => {}
        }
        let ready = |f: &PollFd| {
            f.revents()
                .unwrap_or(PollFlags::empty())
                .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
        };
        let other_ready = ready(&fds[0]);
        let mut i = 1;
        let master_ready = self.master_open && ready(&fds[i]);
        if self.master_open {
            i += 1;
        }
        let stdin_ready = self.stdin_open && ready(&fds[i]);
        if master_ready {
            self.copy_out();
        }
        if stdin_ready {
            let mut buf = [0u8; 8192];
            match std::io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => {
                    self.stdin_open = false;
                    // Forward end-of-file as the terminal's EOF character.
                    let _ = self.master.write_all(&[4]);
                }
                Ok(n) => {
                    let _ = self.master.write_all(&buf[..n]);
                }
            }
        }
        Ok(other_ready)
    }

    fn copy_out(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        match self.master.read(&mut buf) {
            Ok(0) | Err(_) => {
                // EIO: every slave descriptor is closed.
                self.master_open = false;
                false
            }
            Ok(n) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
                true
            }
        }
    }

    /// Copies whatever output is still buffered in the pty.
    pub fn drain(&mut self) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        while self.master_open {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) || !self.copy_out() {
                break;
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, t);
        }
    }
}
