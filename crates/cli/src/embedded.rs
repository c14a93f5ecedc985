//! The engine inside this process, serving the Engine API on a private
//! socket, for commands that also work without a daemon (`wharf compose`):
//! they talk to it with the same client, so a project behaves the same
//! with `wharf daemon`, with dockerd, and with neither. It claims the data
//! root alongside other such processes (never beside a daemon:
//! `wharf_engine::claim`); containers keep running under their monitors
//! when the process ends.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use sha2::Digest;

use crate::client::Client;

/// The data root a daemon uses unless told otherwise.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/wharf";

/// The exec root of an in-process engine: the daemon's for the default data
/// root (no daemon runs there: the claim sees to it), one of its own per
/// other data root, so that monitors and names of two stores never meet.
pub fn exec_root(data_root: &Path) -> PathBuf {
    let default = Path::new(wharf_engine::DEFAULT_EXEC_ROOT);
    if data_root == Path::new(DEFAULT_DATA_ROOT) {
        return default.to_path_buf();
    }
    let root = std::fs::canonicalize(data_root).unwrap_or_else(|_| data_root.to_path_buf());
    let digest = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    default.join("local").join(hex)
}

/// A client of the daemon, or of an engine in this process.
pub struct Connection {
    client: Client,
    /// The in-process engine's socket, removed when done.
    local: Option<PathBuf>,
}

impl std::ops::Deref for Connection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(socket) = &self.local {
            let _ = std::fs::remove_file(socket);
        }
    }
}

impl Connection {
    pub fn remote(client: Client) -> Connection {
        Connection { client, local: None }
    }

    /// Serves `data_root` from this process (on threads of their own) and
    /// connects to it; returns once it answers, or with why it cannot serve.
    pub fn local(data_root: &Path, insecure_registries: &[String]) -> Result<Connection> {
        let exec_root = exec_root(data_root);
        let socket = exec_root.join("local").join(format!("{}.sock", std::process::id()));
        let runtimes =
            wharf_engine::runtimes::Runtimes::new(&Default::default(), None, &wharf_engine::runtimes::search_path())?;
        let (ready, answered) = std::sync::mpsc::channel();
        let config = wharf_api::Config {
            socket: socket.clone(),
            data_root: data_root.to_path_buf(),
            exec_root,
            insecure_registries: insecure_registries.to_vec(),
            runtimes,
            monitor_exe: std::env::current_exe().context("locate the wharf binary")?,
            snapshotter: None,
            firewall: true,
            userland_proxy: true,
            embedded: true,
            ready: Some(ready),
            ui: None,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wharf-engine")
            .enable_all()
            .build()
            .context("start the engine's runtime")?;
        let serving = std::thread::Builder::new()
            .name("wharf-engine".into())
            .spawn(move || rt.block_on(wharf_api::serve(config)))
            .context("start the engine's thread")?;
        if answered.recv().is_err() {
            // It ended before serving: why.
            let why = match serving.join() {
                Ok(Err(e)) => anyhow!(e),
                Ok(Ok(())) => anyhow!("it ended"),
                Err(_) => anyhow!("it panicked"),
            };
            return Err(why.context(format!("serve {} without a daemon", data_root.display())));
        }
        let client = Client::new(Some(&format!("unix://{}", socket.display())))?;
        Ok(Connection { client, local: Some(socket) })
    }
}
