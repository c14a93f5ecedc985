//! The one daemon↔monitor protocol, typed, used by the monitor (server), the
//! engine and the API (clients), and — for its framing, which is Docker's
//! stream multiplexing — by the API's log and exec streams and the CLI.
//!
//! A client connects to the monitor's socket and sends one request line
//! ([`Request`]); the monitor answers with frames `[kind, 0, 0, 0, len u32
//! BE]` + payload ([`Kind`]): stdout and stderr (Docker's stream numbers),
//! and a last `Exit` frame whose payload is the exit code in decimal. An
//! attached client's own `Stdin` frames are the container's stdin; closing
//! its write side closes stdin.

use std::io::{self, Read, Write};
use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Frame header length.
pub const HEADER: usize = 8;
/// The largest payload a peer may announce; anything larger is a protocol error,
/// never an allocation.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// The longest request line a monitor reads.
pub const MAX_REQUEST: usize = 64;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stdin,
    Stdout,
    Stderr,
    /// The container exited; the payload is the code.
    Exit,
}

impl Kind {
    pub fn byte(self) -> u8 {
        match self {
            Kind::Stdin => 0,
            Kind::Stdout => 1,
            Kind::Stderr => 2,
            Kind::Exit => 9,
        }
    }

    pub fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Stdin,
            1 => Kind::Stdout,
            2 => Kind::Stderr,
            9 => Kind::Exit,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The exit code of an `Exit` frame.
    pub fn exit_code(&self) -> Option<i32> {
        (self.kind == Kind::Exit).then(|| std::str::from_utf8(&self.payload).ok()?.trim().parse().ok()).flatten()
    }
}

/// A client's request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Only the exit frame.
    Wait,
    /// Output frames (and stdin frames the other way), then the exit frame.
    Attach,
    /// Sets the pty size; the monitor closes the connection.
    Resize { rows: u16, cols: u16 },
}

impl Request {
    pub fn line(&self) -> String {
        match self {
            Request::Wait => "wait\n".into(),
            Request::Attach => "attach\n".into(),
            Request::Resize { rows, cols } => format!("resize {rows} {cols}\n"),
        }
    }

    pub fn parse(line: &[u8]) -> Option<Request> {
        let text = std::str::from_utf8(line).ok()?.trim_end();
        match text {
            "wait" => Some(Request::Wait),
            "attach" => Some(Request::Attach),
            _ => {
                let mut it = text.strip_prefix("resize ")?.split_whitespace().map(|n| n.parse::<u16>().ok());
                let r = Request::Resize { rows: it.next()??, cols: it.next()?? };
                it.next().is_none().then_some(r)
            }
        }
    }
}

/// The line a monitor writes on its stdout once the container runs, or failed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartReport {
    Ok,
    Failed { kind: FailureKind, message: String },
}

/// Why a start failed, as far as the exit code goes (Docker: 127 for a missing
/// command, 128 for anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    CommandNotFound,
    CommandNotRunnable,
    Other,
}

impl FailureKind {
    pub fn of(e: &crate::error::EngineError) -> FailureKind {
        if e.is_command_not_found() {
            FailureKind::CommandNotFound
        } else if e.is_command_not_runnable() {
            FailureKind::CommandNotRunnable
        } else {
            FailureKind::Other
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::CommandNotFound => 127,
            FailureKind::CommandNotRunnable => 126,
            FailureKind::Other => 128,
        }
    }
}

impl StartReport {
    pub fn line(&self) -> String {
        match self {
            StartReport::Ok => "ok\n".into(),
            StartReport::Failed { kind: FailureKind::CommandNotFound, message } => {
                format!("notfound: {}\n", message.replace('\n', " "))
            }
            StartReport::Failed { kind: FailureKind::CommandNotRunnable, message } => {
                format!("notrunnable: {}\n", message.replace('\n', " "))
            }
            StartReport::Failed { kind: FailureKind::Other, message } => {
                format!("error: {}\n", message.replace('\n', " "))
            }
        }
    }

    /// An empty or unknown line means the monitor died before it could say.
    pub fn parse(line: &str) -> StartReport {
        let line = line.trim_end();
        if line == "ok" {
            return StartReport::Ok;
        }
        if let Some(m) = line.strip_prefix("notfound: ") {
            return StartReport::Failed { kind: FailureKind::CommandNotFound, message: m.into() };
        }
        if let Some(m) = line.strip_prefix("notrunnable: ") {
            return StartReport::Failed { kind: FailureKind::CommandNotRunnable, message: m.into() };
        }
        let message = line.strip_prefix("error: ").unwrap_or("container monitor exited during start");
        StartReport::Failed { kind: FailureKind::Other, message: message.into() }
    }
}

/// A frame's bytes.
pub fn encode(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&[kind.byte(), 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The exit frame for `code`.
pub fn exit_frame(code: i32) -> Vec<u8> {
    encode(Kind::Exit, code.to_string().as_bytes())
}

fn parse_header(h: &[u8; HEADER]) -> io::Result<(Kind, usize)> {
    let kind = Kind::from_byte(h[0])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unknown frame kind {}", h[0])))?;
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes")));
    }
    Ok((kind, len))
}

/// Reads one frame; `None` at a clean end of stream (between frames).
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut h = [0u8; HEADER];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = parse_header(&h)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some(Frame { kind, payload }))
}

/// [`read_frame`] on an async stream.
pub async fn read_frame_async(r: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<Frame>> {
    let mut h = [0u8; HEADER];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = parse_header(&h)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(Frame { kind, payload }))
}

/// Incremental decoding of bytes read from a non-blocking socket (the monitor's side).
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if there is one; an error for a malformed stream.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let h: [u8; HEADER] = self.buf[..HEADER].try_into().expect("length checked");
        let (kind, len) = parse_header(&h)?;
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER..HEADER + len].to_vec();
        self.buf.drain(..HEADER + len);
        Ok(Some(Frame { kind, payload }))
    }
}

/// Connects to a monitor and sends a request (blocking).
pub fn connect(socket: &Path, req: Request) -> io::Result<std::os::unix::net::UnixStream> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.write_all(req.line().as_bytes())?;
    Ok(s)
}

/// Connects to a monitor and sends a request (async).
pub async fn connect_async(socket: &Path, req: Request) -> io::Result<tokio::net::UnixStream> {
    let mut s = tokio::net::UnixStream::connect(socket).await?;
    s.write_all(req.line().as_bytes()).await?;
    Ok(s)
}

/// Follows a monitor until its exit frame (blocking). `None` if the monitor
/// went away without one, or is not there.
pub fn wait_exit(socket: &Path) -> Option<i32> {
    let mut s = connect(socket, Request::Wait).ok()?;
    while let Ok(Some(f)) = read_frame(&mut s) {
        if f.kind == Kind::Exit {
            return f.exit_code();
        }
    }
    None
}

/// [`wait_exit`] without holding a thread.
pub async fn wait_exit_async(socket: &Path) -> Option<i32> {
    let mut s = connect_async(socket, Request::Wait).await.ok()?;
    while let Ok(Some(f)) = read_frame_async(&mut s).await {
        if f.kind == Kind::Exit {
            return f.exit_code();
        }
    }
    None
}

/// Docker's multiplexed stream into two writers (stdout, stderr); a TTY's
/// stream is raw. Used by the CLI for attach, logs and exec.
pub fn demux(mut r: impl Read, tty: bool, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
    if tty {
        let mut buf = [0u8; 32 << 10];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
    }
    while let Some(f) = read_frame(&mut r)? {
        let w: &mut dyn Write = if f.kind == Kind::Stderr { &mut *err } else { &mut *out };
        w.write_all(&f.payload)?;
        w.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let f = encode(Kind::Stderr, b"boom");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(read_frame(&mut &f[..]).unwrap(), Some(Frame { kind: Kind::Stderr, payload: b"boom".to_vec() }));
        assert_eq!(read_frame(&mut &[][..]).unwrap(), None);
        let e = exit_frame(137);
        assert_eq!(read_frame(&mut &e[..]).unwrap().unwrap().exit_code(), Some(137));
    }

    #[test]
    fn malformed_frames_are_errors() {
        // Unknown kind, oversized length, truncated payload.
        assert!(read_frame(&mut &[7u8, 0, 0, 0, 0, 0, 0, 0][..]).is_err());
        assert!(read_frame(&mut &[1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]).is_err());
        assert!(read_frame(&mut &[1u8, 0, 0, 0, 0, 0, 0, 5, b'a'][..]).is_err());
    }

    #[test]
    fn decoder_is_incremental() {
        let mut bytes = encode(Kind::Stdin, b"abc");
        bytes.extend(encode(Kind::Stdin, b"de"));
        let mut d = Decoder::default();
        d.push(&bytes[..5]);
        assert_eq!(d.next_frame().unwrap(), None);
        d.push(&bytes[5..]);
        assert_eq!(d.next_frame().unwrap().unwrap().payload, b"abc");
        assert_eq!(d.next_frame().unwrap().unwrap().payload, b"de");
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn requests_round_trip() {
        for r in [Request::Wait, Request::Attach, Request::Resize { rows: 24, cols: 80 }] {
            assert_eq!(Request::parse(r.line().as_bytes()), Some(r));
        }
        assert_eq!(Request::parse(b"resize 1"), None);
        assert_eq!(Request::parse(b"resize 1 2 3"), None);
        assert_eq!(Request::parse(b"bogus"), None);
    }

    #[test]
    fn start_reports_round_trip() {
        for r in [
            StartReport::Ok,
            StartReport::Failed { kind: FailureKind::CommandNotFound, message: "exec: \"x\": not found".into() },
            StartReport::Failed {
                kind: FailureKind::CommandNotRunnable,
                message: "exec: \"/etc\": permission denied".into(),
            },
            StartReport::Failed { kind: FailureKind::Other, message: "boom".into() },
        ] {
            assert_eq!(StartReport::parse(&r.line()), r);
        }
        assert!(matches!(StartReport::parse(""), StartReport::Failed { kind: FailureKind::Other, .. }));
    }

    #[test]
    fn demuxes_frames() {
        let mut data = encode(Kind::Stdout, b"out");
        data.extend(encode(Kind::Stderr, b"err"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&data[..], false, &mut o, &mut e).unwrap();
        assert_eq!((o.as_slice(), e.as_slice()), (&b"out"[..], &b"err"[..]));
    }
}
