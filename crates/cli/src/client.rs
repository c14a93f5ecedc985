//! A small blocking client of the Docker Engine API over a unix socket: what
//! `wharf`'s container commands use to talk to `wharf daemon` (or any
//! Docker-compatible daemon). HTTP/1.1 with Content-Length or chunked
//! bodies, streaming responses, and connection hijacking for attach/exec.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

pub const DEFAULT_SOCKET: &str = "/run/wharf/wharf.sock";

pub struct Client {
    pub socket: PathBuf,
}

pub struct Response {
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
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

/// Decodes a chunked transfer-encoded body.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            if line.trim().is_empty() {
                // The CRLF after the previous chunk.
                line.clear();
                self.inner.read_line(&mut line)?;
            }
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            if size == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let n = buf.len().min(self.left);
        let got = self.inner.read(&mut buf[..n])?;
        if got == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "truncated chunk"));
        }
        self.left -= got;
        Ok(got)
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
        Ok(Client { socket: PathBuf::from(path) })
    }

    pub fn reachable(&self) -> bool {
        UnixStream::connect(&self.socket).is_ok()
    }

    fn connect(&self) -> Result<UnixStream> {
        UnixStream::connect(&self.socket).with_context(|| {
            format!(
                "Cannot connect to the Wharf daemon at unix://{}. Is 'wharf daemon' running?",
                self.socket.display()
            )
        })
    }

    fn send(
        &self,
        s: &mut UnixStream,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        upgrade: bool,
    ) -> Result<()> {
        let mut head = format!("{method} /v1.41{path} HTTP/1.1\r\nHost: wharf\r\nUser-Agent: wharf-cli\r\n");
        if upgrade {
            head.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
        }
        match body {
            Some((ctype, data)) => {
                head.push_str(&format!("Content-Type: {ctype}\r\nContent-Length: {}\r\n", data.len()))
            }
            None => head.push_str("Content-Length: 0\r\n"),
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).context("send request")?;
        if let Some((_, data)) = body {
            s.write_all(data).context("send request body")?;
        }
        Ok(())
    }

    fn read_head(r: &mut BufReader<UnixStream>) -> Result<(u16, Vec<(String, String)>)> {
        let mut line = String::new();
        r.read_line(&mut line).context("read response")?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad response from daemon: {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            r.read_line(&mut line).context("read response headers")?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Ok((status, headers))
    }

    /// A request whose response body is streamed.
    pub fn request(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Result<Response> {
        let mut s = self.connect()?;
        self.send(&mut s, method, path, body, false)?;
        let mut r = BufReader::new(s);
        let (status, headers) = Self::read_head(&mut r)?;
        let get = |k: &str| headers.iter().find(|(h, _)| h.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        let body: Box<dyn Read + Send> = if get("Transfer-Encoding").is_some_and(|t| t.contains("chunked")) {
            Box::new(Chunked { inner: r, left: 0, done: false })
        } else if let Some(n) = get("Content-Length").and_then(|n| n.parse::<u64>().ok()) {
            Box::new(r.take(n))
        } else if method == "HEAD" || status == 204 || status == 304 {
            Box::new(std::io::empty())
        } else {
            Box::new(r)
        };
        let resp = Response { headers, body };
        if status >= 400 {
            bail!(ApiFailure::from_body(status, &resp.bytes().unwrap_or_default()));
        }
        Ok(resp)
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.request("GET", path, None)?.json()
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let data = body.map(|b| b.to_string());
        self.request("POST", path, data.as_deref().map(|d| ("application/json", d.as_bytes())))?.json()
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.request("DELETE", path, None)?.json()
    }

    /// Hijacks the connection (attach, exec start): returns the raw stream.
    pub fn hijack(&self, path: &str, body: Option<&Value>) -> Result<UnixStream> {
        let mut s = self.connect()?;
        let data = body.map(|b| b.to_string());
        self.send(&mut s, "POST", path, data.as_deref().map(|d| ("application/json", d.as_bytes())), true)?;
        // Read the head byte by byte: what follows belongs to the stream.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).context("read response")? == 0 {
                bail!("daemon closed the connection");
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head);
        let status: u16 = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        if status >= 400 {
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            bail!(ApiFailure::from_body(status, &rest));
        }
        Ok(s)
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

    #[test]
    fn chunked_bodies() {
        let raw = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
        let mut r = Chunked { inner: BufReader::new(&raw[..]), left: 0, done: false };
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello, world");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(enc("a b/{\"x\"}"), "a%20b%2F%7B%22x%22%7D");
    }
}
