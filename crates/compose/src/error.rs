//! What loading and running a Compose project can fail with.

use std::path::PathBuf;

/// A template that could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `${VAR:?message}` / `${VAR?message}` with the variable missing.
    #[error("required variable {name} is missing a value{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Required { name: String, message: String },
    #[error("invalid interpolation format: {template:?}")]
    Invalid { template: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The file is not YAML (or not one document of it).
    #[error("{}:{line}:{col}: {message}", file.display())]
    Yaml { file: PathBuf, line: usize, col: usize, message: String },
    /// A value's template, at `path` (`services.web.image`).
    #[error("{}:{line}: {path}: {source}", file.display())]
    Interpolation { file: PathBuf, line: usize, path: String, source: InterpolationError },
    /// A departure from the specification's schema.
    #[error("{}:{line}: {path}: {message}", file.display())]
    Schema { file: PathBuf, line: usize, path: String, message: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A key (or value) the engine cannot honour: refused, never dropped.
    #[error("{at}: {path}: {reason}")]
    Unsupported { at: String, path: String, reason: String },
    /// What the engine answered (an HTTP status and Docker's message).
    #[error("Error response from daemon: {message}")]
    Engine { status: u16, message: String },
    /// The project's files, directory or name.
    #[error("{0}")]
    Project(String),
    /// A `.env` file line that is not `NAME=value`.
    #[error("{}:{line}: {message}", file.display())]
    EnvFile { file: PathBuf, line: usize, message: String },
}

pub type Result<T, E = ComposeError> = std::result::Result<T, E>;
