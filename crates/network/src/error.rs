/// Everything the network layer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("no free address left in {0}")]
    Exhausted(String),
    #[error("no free address pool for a new network: give --subnet")]
    NoPool,
    #[error("{command}: {message}")]
    Command { command: String, message: String },
    #[error("{context} {path}: {source}")]
    Io { context: &'static str, path: std::path::PathBuf, source: std::io::Error },
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

impl NetworkError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| NetworkError::Io { context, path, source }
    }
}
