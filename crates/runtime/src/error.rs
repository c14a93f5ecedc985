use std::path::PathBuf;

/// Everything the runtime layer can fail with. Messages are lowercase and name
/// the container, path or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.', '+' only")]
    InvalidId(String),
    #[error("container {id} is {status}, {action} needs it {needed}")]
    WrongState { id: String, status: String, action: &'static str, needed: &'static str },
    #[error("container not running")]
    NotRunning,
    #[error("invalid signal: {0}")]
    InvalidSignal(String),
    #[error("invalid config {path}: {reason}")]
    InvalidConfig { path: PathBuf, reason: String },
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    #[error("rootfs {0} does not exist")]
    RootfsMissing(PathBuf),
    #[error("{context} {path}: {source}")]
    Io { context: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}: {1}")]
    Sys(&'static str, #[source] nix::Error),
    #[error("cgroup: {0}")]
    Cgroup(String),
    /// The spec asks for something a cgroup controller enforces, and the host
    /// does not offer that controller: the container is not started without it.
    #[error(
        "cgroup: controller {controller} is not available on this host (no mountpoint for it): cannot enforce {wanted}"
    )]
    ControllerMissing { controller: &'static str, wanted: &'static str },
    /// No cgroup hierarchy with a controller is visible (e.g. /sys remounted by `ip netns exec`).
    #[error("cgroup: no cgroup hierarchy is visible (no controller mounted under /sys/fs/cgroup): refusing to run a container outside any cgroup")]
    NoCgroupHierarchy,
    /// The spec asks for a Linux security module the kernel does not have enabled.
    #[error("{field} is set but {lsm} is not enabled on this host")]
    LsmUnavailable { lsm: &'static str, field: &'static str },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("{0} hook {1} failed: {2}")]
    Hook(&'static str, PathBuf, String),
    #[error("container init failed: {0}")]
    Init(String),
    /// The process's executable is not there (Docker: exit 127).
    #[error("{0}")]
    ExecutableNotFound(String),
    /// The process's executable is there but cannot be run (a directory, no
    /// execute permission): Docker's exit 126.
    #[error("{0}")]
    ExecutableNotRunnable(String),
    /// An error the container process reported over the sync channel (already worded).
    #[error("{0}")]
    Child(String),
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    /// A path inside an untrusted tree that had to be a regular file and is not.
    #[error("{0} is not a regular file")]
    NotRegularFile(PathBuf),
    #[error("{path} is larger than {limit} bytes")]
    FileTooLarge { path: PathBuf, limit: u64 },
    #[error("runtime {binary} {verb} failed: {message}")]
    External { binary: PathBuf, verb: String, message: String },
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

impl RuntimeError {
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RuntimeError::Io { context, path, source }
    }

    pub(crate) fn sys(context: &'static str) -> impl FnOnce(nix::Error) -> Self {
        move |e| RuntimeError::Sys(context, e)
    }
}

impl From<wharf_common::confined::ConfinedError> for RuntimeError {
    fn from(e: wharf_common::confined::ConfinedError) -> Self {
        use wharf_common::confined::ConfinedError as C;
        match e {
            C::Io { context, path, source } => RuntimeError::Io { context, path, source },
            C::NotRegularFile(p) => RuntimeError::NotRegularFile(p),
            C::FileTooLarge { path, limit } => RuntimeError::FileTooLarge { path, limit },
            C::TooManySymlinks(p) => RuntimeError::InvalidSpec(format!("too many symlinks resolving {}", p.display())),
        }
    }
}
