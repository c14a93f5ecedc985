/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Image(#[from] wharf_image::ImageError),
    #[error(transparent)]
    Runtime(#[from] wharf_runtime::RuntimeError),
    #[error(transparent)]
    Network(#[from] wharf_network::NetworkError),
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoSuchUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoSuchGroup(String),
    #[error("{context} {path}: {source}")]
    Io { context: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("no command specified")]
    NoCommand,
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// A path or object that does not exist (404).
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Another process serves the data root (`claim.rs`).
    #[error("{}", if *by_daemon { format!("a wharf daemon serves the data root {}: use it (-H) instead", root.display()) } else { format!("the data root {} is in use by wharf commands working without a daemon; wait for them to end", root.display()) })]
    DataRootInUse { root: std::path::PathBuf, by_daemon: bool },
    /// The container's logging driver keeps nothing to read (Docker's wording).
    #[error("configured logging driver does not support reading: {0}")]
    LogsUnsupported(String),
    /// A record file that is there but cannot be parsed.
    #[error("container {id}: corrupt record: {reason}")]
    CorruptRecord { id: String, reason: String },
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// The command of a container or exec is not there (exit 127, as Docker).
    #[error("{0}")]
    CommandNotFound(String),
    /// The command is there but cannot be run (exit 126, as Docker).
    #[error("{0}")]
    CommandNotRunnable(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// The container's command is not there (Docker's exit 127), as the
    /// runtime reported it or as the monitor relayed it.
    pub fn is_command_not_found(&self) -> bool {
        matches!(
            self,
            EngineError::CommandNotFound(_) | EngineError::Runtime(wharf_runtime::RuntimeError::ExecutableNotFound(_))
        )
    }

    /// The container's command is there but cannot be run (Docker's exit 126).
    pub fn is_command_not_runnable(&self) -> bool {
        matches!(
            self,
            EngineError::CommandNotRunnable(_)
                | EngineError::Runtime(wharf_runtime::RuntimeError::ExecutableNotRunnable(_))
        )
    }

    pub(crate) fn io(
        context: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Io { context, path, source }
    }
}

impl From<wharf_common::confined::ConfinedError> for EngineError {
    fn from(e: wharf_common::confined::ConfinedError) -> Self {
        EngineError::Runtime(e.into())
    }
}
