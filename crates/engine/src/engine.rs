//! The engine: one data root (images, containers, volumes, networks), one
//! exec root (monitor sockets), the runtimes containers may use. Its
//! operations live in the modules of their concern (`containers`,
//! `bundle`, `monitor`, `supervise`, `exec`, `logs`, …).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wharf_image::Images;
use wharf_runtime::Native;

use crate::error::Result;

/// dockerd's default is /var/run/docker; ours.
pub const DEFAULT_EXEC_ROOT: &str = "/run/wharf";

pub struct Engine {
    root: PathBuf,
    /// Runtime state that does not outlive a boot: monitor sockets (`--exec-root`).
    exec_root: PathBuf,
    pub images: Images,
    /// The built-in runtime, for the daemonless foreground run.
    native: Native,
    /// The record store's in-memory index (`store.rs`).
    pub(crate) records: crate::store::Index,
    /// The runtimes containers can be created with (`--runtime`); looked up
    /// on first use (a monitor or a foreground run never needs the table).
    runtimes: OnceLock<crate::runtimes::Runtimes>,
    /// Opened on first use (then kept: opening reads the store).
    pub(crate) networks: OnceLock<wharf_network::Networks>,
}

impl Engine {
    /// The engine over a data root, with the default exec root (`/run/wharf`).
    pub fn open(data_root: &Path) -> Result<Self> {
        Self::open_with(data_root, Path::new(DEFAULT_EXEC_ROOT))
    }

    /// The engine over a data root and an exec root (dockerd's `--exec-root`).
    pub fn open_with(data_root: &Path, exec_root: &Path) -> Result<Self> {
        Ok(Engine {
            root: data_root.to_path_buf(),
            exec_root: exec_root.to_path_buf(),
            images: Images::open(data_root.join("image"))?,
            native: Native::new(data_root.join("runtime")),
            runtimes: OnceLock::new(),
            records: Default::default(),
            networks: OnceLock::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn exec_root(&self) -> &Path {
        &self.exec_root
    }

    /// Where the monitors' sockets live (root-only).
    pub fn monitor_dir(&self) -> PathBuf {
        self.exec_root.join("monitor")
    }

    /// Keeps an in-memory index of the records (the daemon: it lists them
    /// often); without it every read parses the file (a monitor).
    pub fn with_record_cache(self) -> Self {
        self.records.enable();
        self
    }

    /// The runtimes this engine offers (the daemon's `runtimes` config).
    pub fn with_runtimes(mut self, runtimes: crate::runtimes::Runtimes) -> Self {
        self.runtimes = OnceLock::from(runtimes);
        self
    }

    pub fn runtimes(&self) -> &crate::runtimes::Runtimes {
        self.runtimes.get_or_init(crate::runtimes::Runtimes::default)
    }

    /// The runtime a container was created with (the built-in one for a record that is gone).
    pub fn runtime_for(&self, id: &str) -> std::sync::Arc<dyn wharf_runtime::Runtime> {
        let spec = self.load_exact(id).map(|c| c.runtime).unwrap_or_default();
        spec.open(&self.root)
    }

    /// The built-in runtime in this process (the daemonless foreground run).
    pub(crate) fn native(&self) -> &Native {
        &self.native
    }
}
