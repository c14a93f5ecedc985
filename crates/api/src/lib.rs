//! Wharf's Docker Engine API server (v1.41 over a unix socket): HTTP is
//! translated into engine and image calls; only this crate knows the Docker
//! wire types. Blocking library work runs on tokio's blocking pool.
//!
//! **Architecture invariant:** handlers never touch container state
//! directly; they call `wharf_engine::Engine` and `wharf_image::Images`.

#![forbid(unsafe_code)]

pub mod body;
pub mod detach;
pub mod error;
mod query;
mod routes;
pub mod ui;

use std::path::PathBuf;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

pub const API_VERSION: &str = "1.41";
pub const MIN_API_VERSION: &str = "1.24";

/// Daemon settings (dockerd's flag names where they apply).
#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub insecure_registries: Vec<String>,
    /// The runtimes containers may be created with.
    pub runtimes: wharf_engine::runtimes::Runtimes,
    /// The `wharf` binary, run as each container's monitor.
    pub monitor_exe: PathBuf,
    /// The image store's snapshotter (`--storage-driver`); `None`: the one the store was created with.
    pub snapshotter: Option<String>,
    /// Firewall rules for networks and ports (dockerd's `--iptables`).
    pub firewall: bool,
    /// A userland proxy per published port for loopback and container
    /// clients (dockerd's `--userland-proxy`); false: the kernel serves all.
    pub userland_proxy: bool,
    /// Served inside a client process (`wharf compose` without a daemon)
    /// rather than by `wharf daemon`: alongside other such processes, it
    /// leaves the firewall settings and the whole table as they are and
    /// starts no container by its restart policy (daemon-start work).
    pub embedded: bool,
    /// Told once the socket is bound.
    pub ready: Option<std::sync::mpsc::Sender<()>>,
    /// The web dashboard (`--ui`), off unless asked.
    pub ui: Option<ui::UiConfig>,
}

pub struct State {
    pub config: Config,
    pub engine: Arc<wharf_engine::Engine>,
    /// The engine's async lifecycle: supervision, waits, attach, exec.
    pub sup: Arc<wharf_engine::supervise::Supervisor>,
    /// Every new event of the journal (daemon's and monitors'), for `/events`.
    pub events: tokio::sync::broadcast::Sender<wharf_engine::events::Event>,
}

/// Binds the socket and serves until the process is stopped.
pub async fn serve(config: Config) -> std::io::Result<()> {
    use wharf_engine::claim::{claim, Claim};
    let _claimed = claim(&config.data_root, if config.embedded { Claim::Embedded } else { Claim::Daemon })
        .map_err(std::io::Error::other)?;
    if let Some(dir) = config.socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::create_dir_all(&config.exec_root)?;
    let _ = std::fs::remove_file(&config.socket);
    if !config.embedded {
        wharf_network::Networks::record_firewall(
            &config.data_root.join("network"),
            config.firewall,
            config.userland_proxy,
        )
        .map_err(std::io::Error::other)?;
    }
    let engine = match &config.snapshotter {
        None => wharf_engine::Engine::open_with(&config.data_root, &config.exec_root),
        Some(s) => wharf_image::Images::open_with(
            config.data_root.join("image"),
            wharf_image::Options { snapshotter: s.clone() },
        )
        .map(|images| wharf_engine::Engine::with_images(&config.data_root, &config.exec_root, images))
        .map_err(wharf_engine::EngineError::from),
    }
    .map_err(std::io::Error::other)?
    .with_runtimes(config.runtimes.clone())
    .with_record_cache();
    // In a client process, names are served by a resolver process of its own, which outlives it.
    let engine = if config.embedded { engine.with_resolver(config.monitor_exe.clone()) } else { engine };
    // The resolver listens before any container can start (a daemon start restarts some).
    let resolver = match config.embedded {
        true => None,
        false => {
            let nets = engine.networks().map_err(std::io::Error::other)?;
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let resolver = wharf_network::dns::Resolver::new(nets, &host_resolv);
            let control = wharf_network::dns::control::socket(&config.exec_root);
            resolver.serve_control(&control).map_err(std::io::Error::other)?;
            Some(resolver)
        }
    };
    if let Err(e) = engine.reconcile() {
        tracing::warn!("reconcile containers: {e}");
    }
    // The firewall holds exactly what exists (fail closed: no daemon without its rules).
    if !config.embedded {
        engine
            .networks()
            .and_then(|n| Ok(n.reconcile_firewall()?))
            .map_err(|e| std::io::Error::other(format!("firewall: {e}")))?;
    }
    // Containers that kept running while the daemon was down are served again
    // (in a client process: by the resolver helper, started if it is not there).
    let named = engine.name_served().map_err(|e| std::io::Error::other(format!("dns: {e}")))?;
    match &resolver {
        Some(resolver) => {
            for (id, dns) in named {
                if !resolver.served().contains(&id) {
                    if let Err(e) = resolver.attach(&id, &dns).await {
                        tracing::warn!(container = %id, "dns: {e}");
                    }
                }
            }
        }
        // Blocking, as the rest of this start (nothing is served yet).
        None if !named.is_empty() => {
            engine.ensure_resolver().map_err(|e| std::io::Error::other(format!("dns: {e}")))?
        }
        None => {}
    }
    if let Err(e) = engine.check_networks() {
        tracing::warn!("network check: {e}");
    }
    let listener = UnixListener::bind(&config.socket)?;
    let mode = if config.embedded { 0o600 } else { 0o660 };
    std::fs::set_permissions(&config.socket, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    tracing::info!("API listening on {}", config.socket.display());
    let engine = Arc::new(engine);
    let sup = wharf_engine::supervise::Supervisor::new(engine.clone(), config.monitor_exe.clone());
    let state = Arc::new(State { config, engine, sup, events: tokio::sync::broadcast::channel(256).0 });
    // Bursts of requests leave free heap behind: hand it back now and then.
    tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            tick.tick().await;
            let _ = tokio::task::spawn_blocking(wharf_runtime::sys::trim_heap).await;
        }
    });
    // One thread follows the event journal for all `/events` clients.
    let (root, tx) = (state.engine.root().to_path_buf(), state.events.clone());
    std::thread::Builder::new().name("events".into()).spawn(move || {
        if let Err(e) = wharf_engine::events::follow(&root, |e| {
            let _ = tx.send(e);
            true
        }) {
            tracing::warn!("event journal: {e}");
        }
    })?;
    if let Some(u) = state.config.ui.clone() {
        ui::start(state.clone(), u).await?;
    }
    // Containers that kept running while the daemon was down are followed again.
    state.sup.recover(!state.config.embedded).await;
    if let Some(ready) = &state.config.ready {
        let _ = ready.send(());
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| routes::route(state.clone(), req));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades().await
            {
                tracing::debug!("connection: {e}");
            }
        });
    }
}
