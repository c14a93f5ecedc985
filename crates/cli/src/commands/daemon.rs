//! `wharf daemon`: the Docker Engine API server (dockerd's flag names).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wharf_engine::runtimes::{RuntimeConfig, Runtimes};

use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Args)]
pub struct DaemonArgs {
    /// Socket to listen on (unix:///path)
    #[arg(short = 'H', long = "host")]
    host: Vec<String>,
    /// Root of the daemon's runtime state
    #[arg(long = "exec-root", default_value = "/run/wharf")]
    exec_root: PathBuf,
    /// daemon.json-style configuration (hosts, data-root, exec-root, insecure-registries, log-level, runtimes, default-runtime, storage-driver, iptables, userland-proxy)
    #[arg(long = "config-file")]
    config_file: Option<PathBuf>,
    /// debug, info, warn, error
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    log_level: String,
    /// Register an OCI runtime (NAME=PATH), as dockerd's --add-runtime
    #[arg(long = "add-runtime")]
    add_runtime: Vec<String>,
    /// The runtime containers use unless they name one (default: wharf, the built-in runtime)
    #[arg(long = "default-runtime")]
    default_runtime: Option<String>,
    /// Image storage: overlay2 (overlayfs, the default) or vfs (plain copies, any filesystem);
    /// a data root keeps the driver it was created with
    #[arg(short = 's', long = "storage-driver")]
    storage_driver: Option<String>,
    /// Firewall rules for networks and published ports (nftables: masquerade, isolation, DNAT);
    /// false leaves the host's firewall alone (ports are then the userland proxy's only)
    #[arg(long = "iptables", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    iptables: Option<bool>,
    /// A userland proxy per published port for clients on loopback and in containers (as dockerd,
    /// default true); false: DNAT in the kernel for every path
    #[arg(long = "userland-proxy", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    userland_proxy: Option<bool>,
    /// Serve the web dashboard on ADDR (host:port, or a port alone for loopback; another
    /// address than loopback needs --ui-token)
    #[arg(long = "ui", value_name = "ADDR")]
    ui: Option<String>,
    /// The dashboard's token (at least 16 characters), required off loopback;
    /// the browser logs in once at /login?token=…
    #[arg(long = "ui-token", env = "WHARF_UI_TOKEN", hide_env_values = true)]
    ui_token: Option<String>,
}

/// daemon.json: the directives Wharf honours; any other is refused (as dockerd does).
#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    hosts: Vec<String>,
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    insecure_registries: Vec<String>,
    log_level: Option<String>,
    runtimes: BTreeMap<String, RuntimeConfig>,
    default_runtime: Option<String>,
    storage_driver: Option<String>,
    iptables: Option<bool>,
    userland_proxy: Option<bool>,
}

fn socket_path(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) => Ok(PathBuf::from(p)),
        None if host.starts_with('/') => Ok(PathBuf::from(host)),
        None => bail!("unsupported host {host:?}: only unix:// sockets are served"),
    }
}

/// `--ui`'s address: `host:port` (a name resolved, the first address
/// taken), or a port alone (loopback: `127.0.0.1:PORT`).
fn resolve_ui(addr: &str) -> Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    if let Ok(port) = addr.trim_start_matches(':').parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    addr.to_socket_addrs()
        .with_context(|| format!("--ui {addr:?}: expected host:port"))?
        .next()
        .with_context(|| format!("--ui {addr:?}: no address"))
}

pub fn run(a: &DaemonArgs, data_root: &Path, insecure: &[String]) -> Result<()> {
    let file: FileConfig = match &a.config_file {
        Some(p) => serde_json::from_slice(&std::fs::read(p).with_context(|| format!("read {}", p.display()))?)
            .with_context(|| format!("invalid config file {}", p.display()))?,
        None => FileConfig::default(),
    };
    let level = file.log_level.clone().unwrap_or_else(|| a.log_level.clone());
    let level = match level.as_str() {
        "debug" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "warn" | "warning" => tracing::Level::WARN,
        "error" | "fatal" => tracing::Level::ERROR,
        other => bail!("invalid log level {other:?}"),
    };
    let _ = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).try_init();
    for warning in wharf_engine::security::host_warnings() {
        tracing::warn!("{warning}");
    }
    let hosts: Vec<String> = if !a.host.is_empty() { a.host.clone() } else { file.hosts.clone() };
    let socket = socket_path(hosts.first().map(String::as_str).unwrap_or("unix:///run/wharf/wharf.sock"))?;
    let mut runtimes = file.runtimes.clone();
    for r in &a.add_runtime {
        let Some((name, path)) = r.split_once('=') else { bail!("--add-runtime {r:?}: want NAME=PATH") };
        if runtimes.insert(name.to_string(), RuntimeConfig { path: path.into(), runtime_args: Vec::new() }).is_some() {
            bail!("runtime {name:?} is configured twice");
        }
    }
    let default_runtime = a.default_runtime.clone().or(file.default_runtime.clone());
    let runtimes = Runtimes::new(&runtimes, default_runtime.as_deref(), &wharf_engine::runtimes::search_path())?;
    let snapshotter = match a.storage_driver.as_ref().or(file.storage_driver.as_ref()) {
        Some(d) => Some(wharf_engine::snapshotter_of_driver(d)?.to_string()),
        None => None,
    };
    let mut insecure = insecure.to_vec();
    insecure.extend(file.insecure_registries.iter().cloned());
    let config = wharf_api::Config {
        socket,
        data_root: file.data_root.clone().unwrap_or_else(|| data_root.to_path_buf()),
        exec_root: file.exec_root.clone().unwrap_or_else(|| a.exec_root.clone()),
        insecure_registries: insecure,
        runtimes,
        monitor_exe: std::env::current_exe().context("locate the wharf binary")?,
        snapshotter,
        firewall: a.iptables.or(file.iptables).unwrap_or(true),
        userland_proxy: a.userland_proxy.or(file.userland_proxy).unwrap_or(true),
        embedded: false,
        ready: None,
        ui: match &a.ui {
            Some(addr) => {
                let ui = wharf_api::ui::UiConfig { addr: resolve_ui(addr)?, token: a.ui_token.clone() };
                ui.check().map_err(anyhow::Error::msg)?;
                Some(ui)
            }
            None if a.ui_token.is_some() => bail!("--ui-token is only for --ui"),
            None => None,
        },
    };
    wharf_runtime::sys::limit_malloc_arenas(2);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    rt.block_on(async {
        tokio::select! {
            r = wharf_api::serve(config) => r.context("serve"),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
