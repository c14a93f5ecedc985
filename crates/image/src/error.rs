use std::path::PathBuf;

/// Everything the image layer can fail with; messages name the reference,
/// digest or path at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch { digest: String, expected: u64, actual: u64 },
    #[error("blob {0} not found")]
    BlobNotFound(String),
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("image {0} is in use by {1}")]
    InUse(String, String),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("no manifest for platform {0} in {1}")]
    NoPlatform(String, String),
    #[error("invalid {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("unsafe archive entry {path:?}: {reason}")]
    UnsafeEntry { path: String, reason: String },
    #[error("{context} {path}: {source}")]
    Io { context: &'static str, path: PathBuf, source: std::io::Error },
    #[error("registry {registry}: {message}")]
    Registry { registry: String, kind: RegistryErrorKind, message: String },
    #[error("unknown snapshotter {0:?} (known: overlay, native)")]
    UnknownSnapshotter(String),
    #[error("the image store at {root} uses the {recorded} snapshotter, not {requested}: its images live there (use another data root)")]
    SnapshotterMismatch { root: PathBuf, recorded: String, requested: String },
    #[error("snapshot {0} does not exist")]
    SnapshotNotFound(String),
    #[error("snapshot {0} already exists")]
    SnapshotExists(String),
    #[error("snapshot {0} has children")]
    SnapshotHasChildren(String),
    #[error("lease {id}: {reason}")]
    Lease { id: String, reason: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

impl ImageError {
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ImageError::Io { context, path, source }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        ImageError::Invalid { what: what.into(), reason: reason.to_string() }
    }
}

/// What a registry said, as far as callers decide on it (retry or not, which status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryErrorKind {
    /// 404: the repository, manifest or blob is not there.
    NotFound,
    /// 401: credentials missing or wrong.
    Unauthorized,
    /// 403: the credentials do not allow it.
    Denied,
    /// Anything else (transport errors, 5xx, malformed answers).
    Other,
}
