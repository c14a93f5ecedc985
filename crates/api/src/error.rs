//! API errors: a status code and Docker's `{"message": ...}` body. The one
//! place where library errors become HTTP statuses.

use hyper::StatusCode;
use wharf_engine::EngineError;
use wharf_image::{ImageError, RegistryErrorKind};

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Longest error message sent to a client, in bytes.
pub const MAX_MESSAGE: usize = 2048;

impl ApiError {
    /// Messages are bounded (they may quote untrusted input: paths from a
    /// layer, names from a request).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        ApiError { status, message }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, message)
    }
}

/// How each library error maps to a status (Docker's choices).
pub fn status_of_image(e: &ImageError) -> StatusCode {
    match e {
        ImageError::ImageNotFound(_) | ImageError::BlobNotFound(_) | ImageError::NoPlatform(..) => {
            StatusCode::NOT_FOUND
        }
        ImageError::InvalidReference(_)
        | ImageError::InvalidDigest(_)
        | ImageError::Invalid { .. }
        | ImageError::UnsafeEntry { .. } => StatusCode::BAD_REQUEST,
        ImageError::InUse(..) => StatusCode::CONFLICT,
        ImageError::Registry { kind: RegistryErrorKind::NotFound, .. } => StatusCode::NOT_FOUND,
        ImageError::Registry { kind: RegistryErrorKind::Unauthorized | RegistryErrorKind::Denied, .. } => {
            StatusCode::FORBIDDEN
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        let message = match &e {
            ImageError::ImageNotFound(name) => format!("No such image: {name}"),
            _ => e.to_string(),
        };
        ApiError { status: status_of_image(&e), message }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Image(i) => i.into(),
            EngineError::Network(n) => n.into(),
            EngineError::NoSuchContainer(ref id) => ApiError::not_found(format!("No such container: {id}")),
            EngineError::NoSuchVolume(_) | EngineError::NoSuchExec(_) => ApiError::not_found(e.to_string()),
            EngineError::NotFound(ref m) => ApiError::not_found(m.clone()),
            EngineError::Conflict(ref m) => ApiError::conflict(m.clone()),
            EngineError::Invalid { .. }
            | EngineError::NoCommand
            | EngineError::NoSuchUser(_)
            | EngineError::NoSuchGroup(_)
            | EngineError::LogsUnsupported(_)
            | EngineError::CommandNotFound(_)
            | EngineError::CommandNotRunnable(_)
            | EngineError::Runtime(wharf_runtime::RuntimeError::InvalidSignal(_))
            | EngineError::Runtime(wharf_runtime::RuntimeError::NotRegularFile(_))
            | EngineError::Runtime(wharf_runtime::RuntimeError::FileTooLarge { .. }) => {
                ApiError::bad_request(e.to_string())
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<wharf_network::NetworkError> for ApiError {
    fn from(e: wharf_network::NetworkError) -> Self {
        use wharf_network::NetworkError as N;
        match e {
            N::NotFound(n) => ApiError::not_found(format!("network {n} not found")),
            N::Exists(_) => ApiError::conflict(e.to_string()),
            N::Predefined(_) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            N::ActiveEndpoints { .. } => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            N::Conflict(_) => ApiError::conflict(e.to_string()),
            N::Invalid { .. } | N::UnknownDriver(_) | N::NoPool => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<wharf_build::BuildError> for ApiError {
    fn from(e: wharf_build::BuildError) -> Self {
        use wharf_build::BuildError as B;
        match e {
            B::Engine(e) => e.into(),
            B::Image(e) => e.into(),
            B::Dockerfile { .. } | B::Context(_) => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bounded() {
        let e = ApiError::bad_request("é".repeat(MAX_MESSAGE));
        assert!(e.message.len() <= MAX_MESSAGE + '…'.len_utf8() && e.message.ends_with('…'));
        assert_eq!(ApiError::bad_request("short").message, "short");
    }
}
