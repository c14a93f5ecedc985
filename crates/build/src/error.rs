/// Everything a build can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Dockerfile line {line}: {reason}")]
    Dockerfile { line: usize, reason: String },
    #[error("{0}")]
    Context(String),
    /// The named Dockerfile is not in the context (Docker answers 500).
    #[error("Cannot locate specified Dockerfile: {0}")]
    NoDockerfile(String),
    #[error("build context {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    /// A `RUN` whose command failed (Docker's words; `code` goes into the stream's `errorDetail`).
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i32 },
    #[error(transparent)]
    Engine(#[from] wharf_engine::EngineError),
    #[error(transparent)]
    Image(#[from] wharf_image::ImageError),
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;
