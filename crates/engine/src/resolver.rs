//! Names and healthchecks without a daemon: a helper process of its own
//! (`wharf resolver`, as Podman's aardvark-dns), one per exec root,
//! started by the first process that wires a sandbox on a user-defined
//! network, or starts a container with a healthcheck, and finds nothing
//! serving `<exec-root>/dns.sock`. It attaches every running container
//! that needs names, probes every one with a healthcheck (`probes.rs`),
//! serves until nothing has needed it for [`IDLE`], and ends. A daemon that starts later takes the socket over
//! (its own resolver attaches everything again); the helper then lets its
//! path be and ends once its last container has.
//!
//! Locks: `dns.lock` is held by the serving helper for its whole life (a
//! new one waits for an ending one to be gone); `dns.spawn.lock` makes
//! processes that find no resolver start one, not one each.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wharf_network::dns::{control, Resolver};

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{EngineError, Result};
use crate::model::{lock_file, Status};
use crate::{probes, Engine};

/// How long the helper serves nothing before it ends.
pub const IDLE: Duration = Duration::from_secs(30);
/// After its socket's path is gone, how long the helper still answers what
/// had connected before it ends.
const GRACE: Duration = Duration::from_millis(500);

/// Probes every running container with a healthcheck that is not probed
/// yet (`probes::watch`, ended when the container is), forgetting ended ones.
async fn probe_new(engine: &Arc<Engine>, probes: &mut HashMap<String, tokio::task::JoinHandle<()>>) {
    probes.retain(|_, h| !h.is_finished());
    let e = engine.clone();
    let Ok(Ok(list)) = tokio::task::spawn_blocking(move || e.list()).await else { return };
    let Some(exe) = engine.resolver_exe.clone() else { return };
    for c in list {
        if c.healthcheck.is_some() && c.state.status == Status::Running && !probes.contains_key(&c.id) {
            if let Some(h) = probes::watch(engine.clone(), exe.clone(), c.id.clone()) {
                probes.insert(c.id, h);
            }
        }
    }
}

/// The path's identity, to remove only the socket this helper bound.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl Engine {
    /// Whether names and healthchecks are the helper's (no daemon serves them).
    pub fn helper_serves(&self) -> bool {
        self.resolver_exe.is_some()
    }

    /// Starts the resolver helper unless a resolver answers on the exec root's socket.
    pub fn ensure_resolver(&self) -> Result<()> {
        let Some(exe) = &self.resolver_exe else { return Ok(()) };
        std::fs::create_dir_all(self.exec_root()).map_err(EngineError::io("create", self.exec_root()))?;
        let _one = lock_file(&self.exec_root().join("dns.spawn.lock"), true)?;
        if std::os::unix::net::UnixStream::connect(control::socket(self.exec_root())).is_ok() {
            return Ok(());
        }
        let mut child = Command::new(exe)
            .arg("--data-root")
            .arg(self.root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("resolver")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Not in the caller's process group: a Ctrl+C there is not for it.
            .process_group(0)
            .spawn()
            .map_err(EngineError::io("start the resolver", exe))?;
        let mut line = String::new();
        let out = child.stdout.take().expect("piped");
        let _ = BufReader::new(out.take(4096)).read_line(&mut line);
        match line.trim_end() {
            "ok" => Ok(()),
            other => {
                let _ = child.wait();
                Err(EngineError::Other(format!("the resolver did not start: {}", other.trim_start_matches("error: "))))
            }
        }
    }

    /// The helper's life (`wharf resolver`): serves names for this exec
    /// root until idle. Says `ok` on stdout once it serves, or `error: why`.
    pub fn resolver_main(&self) -> Result<()> {
        std::fs::create_dir_all(self.exec_root()).map_err(EngineError::io("create", self.exec_root()))?;
        let _serving = lock_file(&self.exec_root().join("dns.lock"), true)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::Other(format!("start the resolver's runtime: {e}")))?;
        rt.block_on(async {
            let host = tokio::task::spawn_blocking(|| std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
                .await
                .unwrap_or_default();
            let resolver = Resolver::new(self.networks()?, &host);
            let sock = control::socket(self.exec_root());
            resolver.serve_control(&sock)?;
            let mut mine = identity(&sock);
            for (id, dns) in self.name_served()? {
                if let Err(e) = resolver.attach(&id, &dns).await {
                    tracing::warn!(container = %id, "dns: {e}");
                }
            }
            println!("ok");
            let me = Arc::new(self.sibling());
            let mut probes: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                probe_new(&me, &mut probes).await;
                if !probes.is_empty() || resolver.idle().is_none_or(|d| d < IDLE) {
                    continue;
                }
                // A daemon may have taken the path over: only ours is removed.
                if identity(&sock) == mine {
                    let _ = std::fs::remove_file(&sock);
                }
                tokio::time::sleep(GRACE).await;
                if resolver.idle().is_some() {
                    return Ok(());
                }
                // Asked for in the meantime: serve on, on a fresh path.
                if identity(&sock).is_none() {
                    resolver.serve_control(&sock)?;
                    mine = identity(&sock);
                }
            }
        })
    }
}
