/// Everything the network layer can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    /// A create request names a driver no table entry answers to.
    #[error("invalid network driver: plugin \"{0}\" not found")]
    UnknownDriver(String),
    /// `remove` of a network that still has endpoints.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints { name: String, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("no free address left in {0}")]
    Exhausted(String),
    #[error("no free address pool for a new network: give --subnet")]
    NoPool,
    /// A network or endpoint record that does not parse (never skipped:
    /// a skipped endpoint would free its address for reuse).
    #[error("corrupt record {path}: {source}")]
    Corrupt { path: std::path::PathBuf, source: serde_json::Error },
    /// The kernel refused a netlink request (the errno is the source's).
    #[error("{op} {target}: {source}")]
    Netlink { op: &'static str, target: String, source: std::io::Error },
    /// The firewall backend refused a change (its tool's message).
    #[error("firewall: {op}: {message}")]
    Firewall { op: &'static str, message: String },
    /// A CNI plugin refused (its code and message, as the spec's error).
    #[error("cni plugin {plugin} failed ({code}): {message}")]
    Cni { plugin: String, code: u32, message: String },
    /// The embedded DNS resolver could not serve a container.
    #[error("dns: {op}: {message}")]
    Dns { op: &'static str, message: String },
    #[error("{command}: {message}")]
    Command { command: String, message: String },
    #[error("{context} {path}: {source}")]
    Io { context: &'static str, path: std::path::PathBuf, source: std::io::Error },
    /// Several failures of one teardown, which kept going past each.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    List(Vec<NetworkError>),
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

    /// `Ok` for no errors, the error itself for one, a `List` for more.
    pub(crate) fn collect(mut errors: Vec<NetworkError>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(NetworkError::List(errors)),
        }
    }
}
