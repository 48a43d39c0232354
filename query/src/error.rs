//! The query service's one error type. Its [`ErrorKind`] is mapped to HTTP statuses in exactly one
//! place (`http::envelope::status_for`), and to gRPC codes in exactly one place
//! (`grpc::status::code_for`).

use spoor_storage::{ErrorKind as StorageErrorKind, StorageError};

/// What kind of failure a [`QueryError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (HTTP 400, gRPC INVALID_ARGUMENT). Not retryable.
    InvalidArgument,
    /// The requested trace does not exist (HTTP 404, gRPC NOT_FOUND).
    NotFound,
    /// The request names no tenant (HTTP 401, gRPC UNAUTHENTICATED).
    Unauthenticated,
    /// The namespace is not configured or not allowed (HTTP 401, gRPC PERMISSION_DENIED).
    PermissionDenied,
    /// The storage cannot serve now (HTTP 503, gRPC UNAVAILABLE). Retryable.
    Unavailable,
    /// The storage is overloaded (HTTP 429, gRPC RESOURCE_EXHAUSTED). Retryable.
    ResourceExhausted,
    /// A bug or corrupted data (HTTP 500, gRPC INTERNAL). Not retryable.
    Internal,
}

/// Why a query failed. Messages are what Jaeger's clients see in the `errors[].msg` field.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A request parameter is missing or malformed; the message names the parameter
    /// (`parameter 'service' is required`).
    #[error("{0}")]
    InvalidArgument(String),
    /// No span of the trace is stored (Jaeger's exact message).
    #[error("trace not found")]
    TraceNotFound,
    /// Tenancy is on and the request has no tenant header (Jaeger's exact message).
    #[error("missing tenant header")]
    MissingTenant,
    /// Tenancy is on and the request's tenant is not an allowed one (Jaeger's exact message).
    #[error("unknown tenant")]
    UnknownTenant,
    /// Tenancy is on and the request names more than one tenant (Jaeger's exact message).
    #[error("extra tenant header")]
    ExtraTenantHeader,
    /// Archiving was asked for but no archive storage is configured (Jaeger's exact message;
    /// Jaeger answers it with HTTP 500 and gRPC INTERNAL).
    #[error("archive span storage was not configured")]
    ArchiveNotConfigured,
    /// The storage failed; its own kind decides the status.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl QueryError {
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    /// A refusal by tenancy, which Jaeger answers before any handler runs (HTTP: the bare
    /// message, no envelope).
    pub fn is_tenancy_refusal(&self) -> bool {
        matches!(self, Self::MissingTenant | Self::UnknownTenant | Self::ExtraTenantHeader)
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::TraceNotFound => ErrorKind::NotFound,
            Self::MissingTenant => ErrorKind::Unauthenticated,
            Self::UnknownTenant | Self::ExtraTenantHeader => ErrorKind::PermissionDenied,
            Self::ArchiveNotConfigured => ErrorKind::Internal,
            Self::Storage(error) => match error.kind() {
                StorageErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                StorageErrorKind::Unavailable => ErrorKind::Unavailable,
                StorageErrorKind::ResourceExhausted => ErrorKind::ResourceExhausted,
                StorageErrorKind::UnknownNamespace => ErrorKind::PermissionDenied,
                StorageErrorKind::Internal => ErrorKind::Internal,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_error_kinds_carry_over_to_query_error_kinds() {
        let cases = [
            (StorageError::InvalidQuery("x".into()), ErrorKind::InvalidArgument),
            (StorageError::Unavailable("x".into()), ErrorKind::Unavailable),
            (StorageError::Overloaded("x".into()), ErrorKind::ResourceExhausted),
            (StorageError::UnknownNamespace("x".into()), ErrorKind::PermissionDenied),
            (StorageError::Corrupt("x".into()), ErrorKind::Internal),
        ];
        for (storage_error, expected) in cases {
            assert_eq!(QueryError::from(storage_error).kind(), expected);
        }
    }

    #[test]
    fn trace_not_found_reads_as_jaeger_message() {
        assert_eq!(QueryError::TraceNotFound.to_string(), "trace not found");
        assert_eq!(QueryError::TraceNotFound.kind(), ErrorKind::NotFound);
    }
}
