//! The control protocol of the resolver: one JSON line per connection to
//! `<exec-root>/dns.sock`, answered `ok` or `error <message>`. A process
//! that wires a sandbox asks for it to be served before the container runs.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Control {
    /// Serve the container's sandbox; `dns`: its own upstream servers.
    Attach {
        container: String,
        dns: Vec<String>,
    },
    Detach {
        container: String,
    },
}

/// The control socket under an exec root.
pub fn socket(exec_root: &Path) -> std::path::PathBuf {
    exec_root.join("dns.sock")
}

/// Sends a request and waits for its answer. `Ok(false)`: no resolver is
/// listening (no daemon); a resolver's refusal is an error.
pub fn request(sock: &Path, req: &Control) -> Result<bool> {
    let mut stream = match UnixStream::connect(sock) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => {
            return Ok(false)
        }
        Err(e) => return Err(NetworkError::io("connect", sock)(e)),
    };
    let io = NetworkError::io("talk to the resolver at", sock);
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(io)?;
    let mut line = serde_json::to_string(req).expect("a control request serialises");
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(NetworkError::io("talk to the resolver at", sock))?;
    let mut answer = String::new();
    // An answer is one short line: bounded.
    BufReader::new(std::io::Read::take(stream, 64 * 1024))
        .read_line(&mut answer)
        .map_err(NetworkError::io("talk to the resolver at", sock))?;
    match answer.trim_end() {
        "ok" => Ok(true),
        other => Err(NetworkError::Dns {
            op: "resolver",
            message: other.strip_prefix("error ").unwrap_or("no answer").to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line() {
        let a = Control::Attach { container: "c1".into(), dns: vec!["10.0.0.1".into()] };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(text, r#"{"op":"attach","container":"c1","dns":["10.0.0.1"]}"#);
        assert_eq!(serde_json::from_str::<Control>(&text).unwrap(), a);
    }

    #[test]
    fn no_resolver_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let req = Control::Detach { container: "c".into() };
        assert!(!request(&socket(dir.path()), &req).unwrap());
    }
}
