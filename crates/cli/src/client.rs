//! A blocking client of the Docker Engine API over a unix socket: what
//! `wharf`'s commands use to talk to `wharf daemon` (or any Docker-compatible
//! daemon). HTTP/1.1 is hyper's, driven by a one-worker tokio runtime the
//! client owns: responses are streamed as blocking readers, uploads
//! (`load`, `import`, `build`, `cp`) are streamed from blocking readers in
//! chunks, and attach/exec hijack the connection (HTTP upgrade) into a
//! plain socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub const DEFAULT_SOCKET: &str = "/run/wharf/wharf.sock";

/// Upload chunks (and the depth of the queue between the reading thread and the connection).
const CHUNK: usize = 256 << 10;
const QUEUE: usize = 4;

/// Cheap to clone: the clones share the runtime.
#[derive(Clone)]
pub struct Client {
    pub socket: PathBuf,
    rt: Arc<tokio::runtime::Runtime>,
}

pub struct Response {
    pub headers: hyper::HeaderMap,
    pub body: Box<dyn Read + Send>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body.read_to_end(&mut out).context("read response")?;
        Ok(out)
    }

    pub fn json(self) -> Result<Value> {
        let data = self.bytes()?;
        if data.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&data).context("decode response")
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    wharf_common::percent::encode(s)
}

type Body = BoxBody<Bytes, std::io::Error>;

/// A request body fed by a thread reading a blocking reader.
struct Upload(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl http_body::Body for Upload {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<std::io::Result<Frame<Bytes>>>> {
        self.0.poll_recv(cx).map(|c| c.map(|r| r.map(Frame::data)))
    }
}

fn upload(mut reader: Box<dyn Read + Send>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    std::thread::spawn(move || loop {
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    });
    BodyExt::boxed(Upload(rx))
}

/// The reader's error behind a failed upload.
fn upload_error(e: &hyper::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.to_string());
        }
        cause = c.source();
    }
    None
}

/// The body of `POST /build` and the query's named contexts (empty without any).
pub fn build_body(
    dir: &std::path::Path,
    dockerfile: &str,
    named: &std::collections::BTreeMap<String, wharf_build::NamedContext>,
) -> Result<(Box<dyn std::io::Read + Send>, String)> {
    let (dir, file) = (dir.to_path_buf(), dockerfile.to_string());
    let upload = wharf_build::named::Upload::new(named);
    let query = upload.query.clone();
    let body = produced(move |w| Ok(upload.write(&dir, &file, w)?))?;
    Ok((body, query))
}

/// A reader of what `produce` writes on a thread of its own (a tarball being
/// built while it is uploaded); `produce`'s error is the reader's last read.
pub fn produced(produce: impl FnOnce(&mut dyn Write) -> Result<()> + Send + 'static) -> Result<Box<dyn Read + Send>> {
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let (reader, mut writer) = (std::fs::File::from(reader), std::fs::File::from(writer));
    let handle = std::thread::spawn(move || produce(&mut writer));
    Ok(Box::new(Produced { reader, handle: Some(handle) }))
}

struct Produced {
    reader: std::fs::File,
    handle: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Read for Produced {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buf)?;
        if n == 0 {
            if let Some(h) = self.handle.take() {
                match h.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(std::io::Error::other(format!("{e:#}"))),
                    Err(_) => return Err(std::io::Error::other("the upload's producer panicked")),
                }
            }
        }
        Ok(n)
    }
}

fn full(data: Vec<u8>) -> Body {
    Full::new(Bytes::from(data)).map_err(|never| match never {}).boxed()
}

/// A response body as a blocking reader (the runtime's worker drives the connection).
struct BodyReader {
    rt: Arc<tokio::runtime::Runtime>,
    body: Incoming,
    buf: Bytes,
    done: bool,
}

impl Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() && !self.done {
            match self.rt.handle().block_on(self.body.frame()) {
                None => self.done = true,
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.buf = data;
                    }
                }
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        let _ = self.buf.split_to(n);
        Ok(n)
    }
}

/// A hijacked connection: the bytes the HTTP layer had read ahead, then the socket.
pub struct Hijacked {
    pending: Bytes,
    stream: UnixStream,
}

impl Hijacked {
    /// The socket, for writing (stdin) from another thread.
    pub fn try_clone(&self) -> std::io::Result<UnixStream> {
        self.stream.try_clone()
    }
}

impl Read for Hijacked {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if !self.pending.is_empty() {
            let n = out.len().min(self.pending.len());
            out[..n].copy_from_slice(&self.pending[..n]);
            let _ = self.pending.split_to(n);
            return Ok(n);
        }
        self.stream.read(out)
    }
}

impl Write for Hijacked {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.stream.write(data)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

impl Client {
    /// `-H`/`--host`, then `WHARF_HOST`, then `DOCKER_HOST`, then the default socket.
    pub fn new(host: Option<&str>) -> Result<Client> {
        let host = host
            .map(str::to_string)
            .or_else(|| std::env::var("WHARF_HOST").ok())
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .unwrap_or_else(|| format!("unix://{DEFAULT_SOCKET}"));
        let path = host
            .strip_prefix("unix://")
            .ok_or_else(|| anyhow!("unsupported host {host:?}: only unix:// sockets are supported"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wharf-client")
            .enable_all()
            .build()
            .context("start the client's runtime")?;
        Ok(Client { socket: PathBuf::from(path), rt: Arc::new(rt) })
    }

    pub fn reachable(&self) -> bool {
        UnixStream::connect(&self.socket).is_ok()
    }

    fn unreachable(&self) -> String {
        format!("Cannot connect to the Wharf daemon at unix://{}. Is 'wharf daemon' running?", self.socket.display())
    }

    /// Sends one request on a connection of its own; the response's head.
    fn send(
        &self,
        method: &str,
        path: &str,
        ctype: Option<&str>,
        body: Body,
        upgrade: bool,
    ) -> Result<hyper::Response<Incoming>> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("/v1.41{path}"))
            .header("Host", "wharf")
            .header("User-Agent", "wharf-cli");
        if let Some(t) = ctype {
            req = req.header("Content-Type", t);
        }
        if upgrade {
            req = req.header("Connection", "Upgrade").header("Upgrade", "tcp");
        }
        let req = req.body(body).context("build request")?;
        let socket = self.socket.clone();
        let unreachable = self.unreachable();
        self.rt.block_on(async move {
            let stream = tokio::net::UnixStream::connect(&socket).await.context(unreachable)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.context("connect to the daemon")?;
            tokio::spawn(async move {
                let _ = conn.with_upgrades().await;
            });
            match sender.send_request(req).await {
                Ok(resp) => Ok(resp),
                // A failed upload is its reader's error (an unreadable file of a build context).
                Err(e) => match upload_error(&e) {
                    Some(cause) => Err(anyhow!("{cause}")),
                    None => Err(anyhow::Error::new(e).context("send request")),
                },
            }
        })
    }

    fn failure(&self, resp: hyper::Response<Incoming>) -> anyhow::Error {
        let status = resp.status().as_u16();
        let data = self.rt.block_on(resp.into_body().collect()).map(|b| b.to_bytes().to_vec()).unwrap_or_default();
        anyhow!(ApiFailure::from_body(status, &data))
    }

    fn respond(&self, resp: hyper::Response<Incoming>) -> Result<Response> {
        if resp.status().as_u16() >= 400 {
            return Err(self.failure(resp));
        }
        let (parts, body) = resp.into_parts();
        let body = BodyReader { rt: self.rt.clone(), body, buf: Bytes::new(), done: false };
        Ok(Response { headers: parts.headers, body: Box::new(body) })
    }

    /// A request whose response body is streamed.
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Result<Response> {
        let (ctype, data) = body.map(|(t, d)| (Some(t), d.to_vec())).unwrap_or((None, Vec::new()));
        let resp = self.send(method, path, ctype, full(data), false)?;
        self.respond(resp)
    }

    /// A request whose body is streamed from `body` (a tarball: load, import, build, cp).
    pub fn upload(&self, method: &str, path: &str, ctype: &str, body: Box<dyn Read + Send>) -> Result<Response> {
        let resp = self.send(method, path, Some(ctype), upload(body), false)?;
        self.respond(resp)
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.request("GET", path, None)?.json()
    }

    /// Whether the daemon is Wharf's (`GET /version`'s platform), which
    /// takes the extensions of the Engine API no other daemon knows.
    pub fn is_wharf(&self) -> Result<bool> {
        Ok(self.get("/version")?["Platform"]["Name"] == "Wharf")
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let data = body.map(|b| b.to_string());
        self.request("POST", path, data.as_deref().map(|d| ("application/json", d.as_bytes())))?.json()
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.request("DELETE", path, None)?.json()
    }

    /// Hijacks the connection (attach, exec start): the raw stream.
    pub fn hijack(&self, path: &str, body: Option<&Value>) -> Result<Hijacked> {
        let (ctype, data) = match body {
            Some(b) => (Some("application/json"), b.to_string().into_bytes()),
            None => (None, Vec::new()),
        };
        let resp = self.send("POST", path, ctype, full(data), true)?;
        if resp.status().as_u16() >= 400 {
            return Err(self.failure(resp));
        }
        if resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
            bail!("the daemon did not hijack the connection (status {})", resp.status());
        }
        let upgraded = self.rt.block_on(hyper::upgrade::on(resp)).context("upgrade the connection")?;
        let parts = upgraded
            .downcast::<TokioIo<tokio::net::UnixStream>>()
            .map_err(|_| anyhow!("upgraded connection of an unexpected type"))?;
        let stream = parts.io.into_inner().into_std().context("hijacked socket")?;
        stream.set_nonblocking(false).context("hijacked socket")?;
        Ok(Hijacked { pending: parts.read_buf, stream })
    }
}

/// An error answer of the daemon (its status and message).
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
}

impl ApiFailure {
    /// The daemon's `{"message"}` (or the raw body).
    fn from_body(status: u16, data: &[u8]) -> ApiFailure {
        let message = serde_json::from_slice::<Value>(data)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(data).trim().to_string());
        ApiFailure { status, message }
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// The daemon's status code of an error, if it came from the daemon.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<ApiFailure>().map(|f| f.status)
}

/// Reads Docker's multiplexed stream (8-byte headers) into stdout/stderr;
/// with a TTY the stream is raw.
pub use wharf_engine::protocol::demux;

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-connection server: hands the raw request to `check`, writes `reply`.
    fn serve_once(reply: &'static [u8]) -> (tempfile::TempDir, std::thread::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("s.sock")).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 64 << 10];
            // Until the end of the head and, for a chunked body, its last chunk.
            while !(req.windows(4).any(|w| w == b"\r\n\r\n")
                && (!String::from_utf8_lossy(&req).to_ascii_lowercase().contains("transfer-encoding: chunked")
                    || req.ends_with(b"0\r\n\r\n")))
            {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(reply).unwrap();
            req
        });
        (dir, server)
    }

    fn client(dir: &tempfile::TempDir) -> Client {
        Client::new(Some(&format!("unix://{}", dir.path().join("s.sock").display()))).unwrap()
    }

    #[test]
    fn uploads_are_streamed_in_chunks() {
        let (dir, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
        let big = vec![7u8; 3 * CHUNK + 5];
        let body = produced(move |w| Ok(w.write_all(&big)?)).unwrap();
        let v = client(&dir).upload("POST", "/images/load", "application/x-tar", body).unwrap().json().unwrap();
        assert_eq!(v["ok"], true);
        let req = String::from_utf8_lossy(&server.join().unwrap()).to_string();
        let head = req.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /v1.41/images/load http/1.1"), "{head}");
        assert!(head.contains("transfer-encoding: chunked") && !head.contains("content-length"), "{head}");
        assert!(req.len() > 3 * CHUNK, "the whole body arrived");
    }

    #[test]
    fn a_failed_producer_fails_the_upload_with_its_error() {
        let (dir, _server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let body = produced(|w| {
            w.write_all(b"partial")?;
            bail!("cannot read context/secret.txt")
        })
        .unwrap();
        let Err(e) = client(&dir).upload("POST", "/build", "application/x-tar", body) else { panic!("uploaded") };
        assert!(format!("{e:#}").contains("cannot read context/secret.txt"), "{e:#}");
    }

    #[test]
    fn hijacked_streams_keep_bytes_read_ahead() {
        let (dir, _server) = serve_once(
            b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x02hi",
        );
        let mut s = client(&dir).hijack("/containers/x/attach?stream=1", None).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"\x01\x00\x00\x00\x00\x00\x00\x02hi");
    }

    #[test]
    fn errors_carry_the_daemons_status_and_message() {
        let (dir, _server) = serve_once(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"message\":\"No such image\"}",
        );
        let Err(e) = client(&dir).get("/images/x/json") else { panic!("no error") };
        assert_eq!(status_of(&e), Some(404));
        assert_eq!(e.to_string(), "Error response from daemon: No such image");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(enc("a b/{\"x\"}"), "a%20b%2F%7B%22x%22%7D");
    }
}
