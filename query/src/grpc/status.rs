//! The one place where query error kinds become gRPC status codes (the HTTP counterpart is
//! `http::envelope::status_for`).

use crate::error::{ErrorKind, QueryError};

/// The gRPC code of each error kind. The only such mapping in the crate.
pub(crate) fn code_for(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::InvalidArgument => tonic::Code::InvalidArgument,
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorKind::PermissionDenied => tonic::Code::PermissionDenied,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::ResourceExhausted => tonic::Code::ResourceExhausted,
        ErrorKind::Internal => tonic::Code::Internal,
    }
}

/// A handler's failure as a gRPC status carrying the error's message (`trace not found`, ...).
/// Server-side failures are logged; the caller's mistakes are not.
pub(crate) fn status_for(error: QueryError) -> tonic::Status {
    let code = code_for(error.kind());
    if matches!(code, tonic::Code::Internal | tonic::Code::Unavailable | tonic::Code::ResourceExhausted) {
        tracing::warn!(code = ?code, error = %error, "query grpc request failed");
    }
    tonic::Status::new(code, error.to_string())
}

impl From<QueryError> for tonic::Status {
    fn from(error: QueryError) -> Self {
        status_for(error)
    }
}

/// [`status_for`], with server-side failures' messages prefixed by `context` (as Jaeger's
/// `failed to archive trace: <reason>`); the caller's mistakes and not-found keep their message.
pub(crate) fn status_with_context(error: QueryError, context: &str) -> tonic::Status {
    let status = status_for(error);
    match status.code() {
        tonic::Code::Internal | tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {
            tonic::Status::new(status.code(), format!("{context}: {}", status.message()))
        }
        _ => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_storage::StorageError;

    #[test]
    fn every_error_kind_has_a_grpc_code() {
        let cases = [
            (ErrorKind::InvalidArgument, tonic::Code::InvalidArgument),
            (ErrorKind::NotFound, tonic::Code::NotFound),
            (ErrorKind::Unauthenticated, tonic::Code::Unauthenticated),
            (ErrorKind::PermissionDenied, tonic::Code::PermissionDenied),
            (ErrorKind::Unavailable, tonic::Code::Unavailable),
            (ErrorKind::ResourceExhausted, tonic::Code::ResourceExhausted),
            (ErrorKind::Internal, tonic::Code::Internal),
        ];
        for (kind, code) in cases {
            assert_eq!(code_for(kind), code, "{kind:?}");
        }
    }

    #[test]
    fn trace_not_found_becomes_not_found_with_jaegers_message() {
        let status = tonic::Status::from(QueryError::TraceNotFound);
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(status.message(), "trace not found");
    }

    #[test]
    fn tenancy_refusals_carry_jaegers_codes_and_messages() {
        let missing = tonic::Status::from(QueryError::MissingTenant);
        assert_eq!((missing.code(), missing.message()), (tonic::Code::Unauthenticated, "missing tenant header"));
        let unknown = tonic::Status::from(QueryError::UnknownTenant);
        assert_eq!((unknown.code(), unknown.message()), (tonic::Code::PermissionDenied, "unknown tenant"));
    }

    #[test]
    fn context_prefixes_server_failures_only() {
        let internal = status_with_context(QueryError::ArchiveNotConfigured, "failed to archive trace");
        assert_eq!(internal.code(), tonic::Code::Internal);
        assert_eq!(internal.message(), "failed to archive trace: archive span storage was not configured");
        let not_found = status_with_context(QueryError::TraceNotFound, "failed to archive trace");
        assert_eq!((not_found.code(), not_found.message()), (tonic::Code::NotFound, "trace not found"));
    }

    #[test]
    fn storage_failures_keep_their_kind() {
        let status = tonic::Status::from(QueryError::from(StorageError::Unavailable("disk busy".into())));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains("disk busy"), "{}", status.message());
    }
}
