//! Remote sampling's errors: [`SamplingError`] for start-up (configuration, the strategies file,
//! the listeners) and [`SamplingRequestError`] for what a client is answered. Each has `kind()`;
//! HTTP statuses come from [`ErrorKind::http_status`], the collector's one mapping.

use std::path::PathBuf;

use crate::error::ErrorKind;
use crate::listen::ListenError;
use crate::sampling::encode::LegacyEncodingError;
use crate::sampling::file::FileFormatError;

/// Why remote sampling cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SamplingError {
    #[error("invalid sampling configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot read sampling strategies file {}: {source}", path.display())]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("invalid sampling strategies file {}: {source}", path.display())]
    InvalidFile { path: PathBuf, source: FileFormatError },
    #[error("re-reading the sampling strategies file needs a Tokio runtime: open the store inside one")]
    NoRuntime,
    #[error("sampling {transport} server: {source}")]
    Listen { transport: &'static str, source: ListenError },
    #[error("sampling gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("sampling HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
}

impl SamplingError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidConfig(_) | Self::InvalidFile { .. } => ErrorKind::InvalidArgument,
            Self::ReadFile { .. } | Self::Listen { .. } | Self::Grpc(_) | Self::Http(_) => ErrorKind::Unavailable,
            Self::NoRuntime => ErrorKind::Internal,
        }
    }
}

/// Why an HTTP sampling request is not answered with a strategy. The messages are Jaeger's,
/// which clients and their tests see.
#[derive(Debug, thiserror::Error)]
pub enum SamplingRequestError {
    /// `service` is missing or repeated in the query.
    #[error("'service' parameter must be provided once")]
    ServiceParameter,
    /// The strategy cannot be written in the requested form (the legacy form's 16-bit rate).
    #[error("cannot marshall to JSON")]
    Encoding(#[source] LegacyEncodingError),
}

impl SamplingRequestError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::ServiceParameter => ErrorKind::InvalidArgument,
            Self::Encoding(_) => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_map_to_jaegers_statuses() {
        assert_eq!(SamplingRequestError::ServiceParameter.kind().http_status(), http::StatusCode::BAD_REQUEST);
        let encoding = SamplingRequestError::Encoding(LegacyEncodingError::RateTooLarge(40_000));
        assert_eq!(encoding.kind().http_status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(encoding.to_string(), "cannot marshall to JSON");
    }
}
