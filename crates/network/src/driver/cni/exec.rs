//! How the CNI driver runs a plugin: the seam ([`PluginExec`]) between the
//! driver's logic (chaining, caching, results) and the processes, as
//! libcni's `invoke.Exec`. `Plugins` finds the binary in the plugin
//! directories and runs it; `fake.rs` answers from a script (tests).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::error::{NetworkError, Result};

/// What one plugin call is given besides its stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `ADD`, `DEL` or `CHECK`.
    pub command: &'static str,
    pub container_id: String,
    /// The sandbox's namespace file.
    pub netns: String,
    pub ifname: String,
}

/// Runs plugin `plugin` (its `type`) for `call` with `stdin` (the plugin's
/// configuration); returns its stdout (a result for ADD). A plugin's error
/// is [`NetworkError::Cni`].
pub trait PluginExec: Send + Sync + std::fmt::Debug {
    fn exec(&self, plugin: &str, call: &Call, stdin: &[u8]) -> Result<Vec<u8>>;
}

/// The plugins of the directories (`/opt/cni/bin`, Debian's `/usr/lib/cni`).
#[derive(Debug, Clone)]
pub struct Plugins {
    pub dirs: Vec<PathBuf>,
}

/// What the CNI spec says a plugin prints when it fails.
#[derive(Debug, Deserialize)]
struct PluginError {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// A plugin's stdout is bounded: a result is a few KiB.
const MAX_OUTPUT: u64 = 1 << 20;

impl Plugins {
    pub fn new(dirs: Vec<PathBuf>) -> Plugins {
        Plugins { dirs }
    }

    /// The default directories.
    pub fn standard() -> Plugins {
        Plugins::new(vec!["/opt/cni/bin".into(), "/usr/lib/cni".into()])
    }

    fn find(&self, plugin: &str) -> Result<PathBuf> {
        // A type is a file name, never a path.
        if plugin.is_empty() || plugin.contains('/') || plugin.starts_with('.') {
            return Err(NetworkError::Invalid { what: "CNI plugin type".into(), reason: format!("{plugin:?}") });
        }
        self.dirs.iter().map(|d| d.join(plugin)).find(|p| p.is_file()).ok_or_else(|| NetworkError::Cni {
            plugin: plugin.to_string(),
            code: 0,
            message: format!(
                "no such plugin in {}",
                self.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
            ),
        })
    }
}

impl PluginExec for Plugins {
    fn exec(&self, plugin: &str, call: &Call, stdin: &[u8]) -> Result<Vec<u8>> {
        let bin = self.find(plugin)?;
        let path = self.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":");
        let mut child = Command::new(&bin)
            .env_clear()
            .env("CNI_COMMAND", call.command)
            .env("CNI_CONTAINERID", &call.container_id)
            .env("CNI_NETNS", &call.netns)
            .env("CNI_IFNAME", &call.ifname)
            .env("CNI_PATH", &path)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(NetworkError::io("run", &bin))?;
        let mut input = child.stdin.take().expect("piped");
        let written = input.write_all(stdin);
        drop(input);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let errs = std::thread::spawn(move || {
            let _ = stderr.take(MAX_OUTPUT).read_to_end(&mut err);
            err
        });
        stdout.take(MAX_OUTPUT).read_to_end(&mut out).map_err(NetworkError::io("read the output of", &bin))?;
        let err = errs.join().unwrap_or_default();
        let status = child.wait().map_err(NetworkError::io("wait for", &bin))?;
        if status.success() {
            written.map_err(NetworkError::io("write to", &bin))?;
            return Ok(out);
        }
        let (code, message) = match serde_json::from_slice::<PluginError>(&out) {
            Ok(e) if !e.msg.is_empty() => {
                (e.code, if e.details.is_empty() { e.msg } else { format!("{}: {}", e.msg, e.details) })
            }
            _ => (0, format!("{status}: {}", String::from_utf8_lossy(&err).trim())),
        };
        Err(NetworkError::Cni { plugin: plugin.to_string(), code, message })
    }
}
