//! The engine: one data root (images, containers, volumes, networks), one
//! exec root (monitor sockets), the runtimes containers may use. Its
//! operations live in the modules of their concern (`containers`,
//! `bundle`, `monitor`, `supervise`, `exec`, `logs`, …).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wharf_image::Images;
use wharf_runtime::Native;

use crate::error::Result;

/// dockerd's default is /var/run/docker; ours.
pub const DEFAULT_EXEC_ROOT: &str = "/run/wharf";

/// Docker's storage driver names for the image layer's snapshotters
/// (`--storage-driver`, `/info` `Driver`).
pub const STORAGE_DRIVERS: &[(&str, &str)] = &[("overlay2", "overlay"), ("vfs", "native")];

/// The snapshotter of a Docker storage driver name (our own names are accepted too).
pub fn snapshotter_of_driver(driver: &str) -> Result<&'static str> {
    STORAGE_DRIVERS.iter().find(|(d, s)| *d == driver || *s == driver).map(|(_, s)| *s).ok_or_else(|| {
        crate::EngineError::Invalid {
            what: "storage driver".into(),
            reason: format!("{driver:?} is not supported (overlay2 or vfs)"),
        }
    })
}

/// The Docker storage driver name of a snapshotter.
pub fn driver_of_snapshotter(snapshotter: &str) -> &str {
    STORAGE_DRIVERS.iter().find(|(_, s)| *s == snapshotter).map_or(snapshotter, |(d, _)| d)
}

pub struct Engine {
    root: PathBuf,
    /// Runtime state that does not outlive a boot: monitor sockets (`--exec-root`).
    exec_root: PathBuf,
    pub images: Arc<Images>,
    /// The built-in runtime, for the daemonless foreground run.
    native: Native,
    /// The record store's in-memory index (`store.rs`).
    pub(crate) records: crate::store::Index,
    /// The runtimes containers can be created with (`--runtime`); looked up
    /// on first use (a monitor or a foreground run never needs the table).
    runtimes: OnceLock<crate::runtimes::Runtimes>,
    /// Opened on first use (then kept: opening reads the store).
    pub(crate) networks: OnceLock<wharf_network::Networks>,
    /// Mounts (`sys.rs`): the kernel, or a fake in unit tests.
    host: Arc<dyn crate::sys::Host>,
    /// Where containers' monitors run (`monitor.rs`).
    monitors: crate::monitor::Monitors,
    /// The `wharf` binary that serves names when no daemon does (`resolver.rs`).
    pub(crate) resolver_exe: Option<PathBuf>,
}

impl Engine {
    /// The engine over a data root, with the default exec root (`/run/wharf`).
    pub fn open(data_root: &Path) -> Result<Self> {
        Self::open_with(data_root, Path::new(DEFAULT_EXEC_ROOT))
    }

    /// The engine over a data root and an exec root (dockerd's `--exec-root`).
    pub fn open_with(data_root: &Path, exec_root: &Path) -> Result<Self> {
        Ok(Self::with_images(data_root, exec_root, Images::open(data_root.join("image"))?))
    }

    /// The engine over an image store opened by the caller (its snapshotter chosen).
    pub fn with_images(data_root: &Path, exec_root: &Path, images: Images) -> Self {
        Engine {
            root: data_root.to_path_buf(),
            exec_root: exec_root.to_path_buf(),
            images: Arc::new(images),
            native: Native::new(data_root.join("runtime")),
            runtimes: OnceLock::new(),
            records: Default::default(),
            networks: OnceLock::new(),
            host: Arc::new(crate::sys::Kernel),
            monitors: crate::monitor::Monitors::default(),
            resolver_exe: None,
        }
    }

    /// Another engine over the same stores, runtimes, host and monitors (an
    /// in-process monitor's, as a monitor process opens its own).
    pub(crate) fn sibling(&self) -> Engine {
        Engine {
            root: self.root.clone(),
            exec_root: self.exec_root.clone(),
            images: self.images.clone(),
            native: self.native.clone(),
            runtimes: self.runtimes.clone(),
            records: Default::default(),
            networks: OnceLock::new(),
            host: self.host.clone(),
            monitors: self.monitors,
            resolver_exe: self.resolver_exe.clone(),
        }
    }

    /// Where no daemon's resolver answers, names are served by `exe
    /// resolver` (started on first need, `resolver.rs`).
    pub fn with_resolver(mut self, exe: PathBuf) -> Self {
        self.resolver_exe = Some(exe);
        self
    }

    /// Mounts through `host` (a fake in unit tests).
    pub fn with_host(mut self, host: Arc<dyn crate::sys::Host>) -> Self {
        self.host = host;
        self
    }

    pub(crate) fn host(&self) -> &dyn crate::sys::Host {
        self.host.as_ref()
    }

    /// Runs containers' monitors as `monitors` says (processes by default).
    pub fn with_monitors(mut self, monitors: crate::monitor::Monitors) -> Self {
        self.monitors = monitors;
        self
    }

    pub(crate) fn monitors(&self) -> &crate::monitor::Monitors {
        &self.monitors
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
    pub fn runtime_for(&self, id: &str) -> Arc<dyn wharf_runtime::Runtime> {
        let spec = self.load_exact(id).map(|c| c.runtime).unwrap_or_default();
        self.runtime_of(&spec)
    }

    /// A runtime as this process drives it (an instance registered in the
    /// runtimes table, else opened from its spec).
    pub fn runtime_of(&self, spec: &crate::runtimes::RuntimeSpec) -> Arc<dyn wharf_runtime::Runtime> {
        self.instance(&spec.name).unwrap_or_else(|| spec.open(&self.root))
    }

    /// A runtime registered as an instance. Only a table given with
    /// `with_runtimes` can hold one: a monitor process never builds the table.
    fn instance(&self, name: &str) -> Option<Arc<dyn wharf_runtime::Runtime>> {
        self.runtimes.get().and_then(|t| t.instance(name))
    }

    /// A runtime as a multi-threaded process drives it to exec: the built-in
    /// one through the `wharf runtime` command (it forks, which only a
    /// single-threaded process may do).
    pub fn exec_runtime(&self, spec: &crate::runtimes::RuntimeSpec, wharf: &Path) -> Arc<dyn wharf_runtime::Runtime> {
        match self.instance(&spec.name) {
            Some(rt) => rt,
            None if spec.is_builtin() => {
                Arc::new(wharf_runtime::OciBinary::new(wharf, spec.state_root(&self.root)).with_prefix(&["runtime"]))
            }
            None => spec.open(&self.root),
        }
    }

    /// The built-in runtime in this process (the daemonless foreground run).
    pub(crate) fn native(&self) -> &Native {
        &self.native
    }
}
