//! The collector's errors, their [`ErrorKind`], and the one place a kind becomes a gRPC code and
//! an HTTP status ([`ErrorKind::grpc_code`], [`ErrorKind::http_status`]).
//!
//! Two enums, one mapping: [`SubmitError`] is what the pipeline returns, [`ReceiveError`] is what
//! a receiver answers (its own decoding problems, or a [`SubmitError`]). Both have `kind()`.

use std::time::Duration;

use spoor_storage::StorageError;

/// How long a sender is asked to wait before retrying a retryable failure that carries no hint of
/// its own (an unavailable store).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What kind of failure an error is. Retryable failures are [`ErrorKind::ResourceExhausted`] and
/// [`ErrorKind::Unavailable`]; every other kind tells the sender to drop the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (HTTP 400, gRPC INVALID_ARGUMENT). Not retryable.
    InvalidArgument,
    /// The request is larger than the configured limit (HTTP 413, gRPC RESOURCE_EXHAUSTED without
    /// retry information, which OTLP clients treat as permanent). Not retryable.
    PayloadTooLarge,
    /// The collector is overloaded (HTTP 429 with `Retry-After`, gRPC RESOURCE_EXHAUSTED with
    /// `RetryInfo`). Retryable.
    ResourceExhausted,
    /// The store cannot take writes now (HTTP 503 with `Retry-After`, gRPC UNAVAILABLE with
    /// `RetryInfo`). Retryable.
    Unavailable,
    /// The spans were attributed to a namespace that is not configured (HTTP 401, gRPC
    /// PERMISSION_DENIED, as the storage contract says). Not retryable.
    UnknownNamespace,
    /// A bug or corrupted data (HTTP 500, gRPC INTERNAL). Not retryable.
    Internal,
}

impl ErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::ResourceExhausted | Self::Unavailable)
    }

    /// The gRPC status code of this kind. The one mapping to gRPC.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            Self::InvalidArgument => tonic::Code::InvalidArgument,
            Self::PayloadTooLarge | Self::ResourceExhausted => tonic::Code::ResourceExhausted,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::UnknownNamespace => tonic::Code::PermissionDenied,
            Self::Internal => tonic::Code::Internal,
        }
    }

    /// The HTTP status of this kind. The one mapping to HTTP.
    pub fn http_status(self) -> http::StatusCode {
        match self {
            Self::InvalidArgument => http::StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            Self::ResourceExhausted => http::StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::UnknownNamespace => http::StatusCode::UNAUTHORIZED,
            Self::Internal => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn from_storage(kind: spoor_storage::ErrorKind) -> Self {
        match kind {
            spoor_storage::ErrorKind::InvalidArgument => Self::InvalidArgument,
            spoor_storage::ErrorKind::Unavailable => Self::Unavailable,
            spoor_storage::ErrorKind::ResourceExhausted => Self::ResourceExhausted,
            spoor_storage::ErrorKind::UnknownNamespace => Self::UnknownNamespace,
            spoor_storage::ErrorKind::Internal => Self::Internal,
        }
    }
}

/// Why [`crate::Pipeline::submit`] refused or failed a batch. On any error nothing was
/// acknowledged; the sender keeps the spans (and retries them when the kind is retryable).
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The in-flight byte budget is used up. Nothing was written.
    #[error(
        "collector overloaded: {inflight_bytes} of {max_inflight_bytes} in-flight bytes in use, batch needs \
         {batch_bytes}; retry later"
    )]
    Overloaded { batch_bytes: usize, inflight_bytes: usize, max_inflight_bytes: usize, retry_after: Duration },
    /// One batch alone is larger than the whole in-flight budget; retrying cannot help.
    #[error(
        "batch of about {batch_bytes} bytes in memory exceeds the collector's in-flight limit of \
         {max_inflight_bytes} bytes; send smaller batches"
    )]
    BatchTooLarge { batch_bytes: usize, max_inflight_bytes: usize },
    /// The writer failed; some spans MAY be stored (writes are idempotent, so a retry is safe).
    #[error("storing spans failed: {0}")]
    Storage(#[from] StorageError),
}

impl SubmitError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Overloaded { .. } => ErrorKind::ResourceExhausted,
            Self::BatchTooLarge { .. } => ErrorKind::PayloadTooLarge,
            Self::Storage(error) => ErrorKind::from_storage(error.kind()),
        }
    }

    /// How long the sender should wait before retrying; `None` when it must not retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Overloaded { retry_after, .. } => Some(*retry_after),
            _ if self.kind().is_retryable() => Some(DEFAULT_RETRY_AFTER),
            _ => None,
        }
    }
}

/// What a receiver answers when it cannot accept a request. Messages name the problem so the
/// sender's logs say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("unsupported content type {found:?}: send application/x-protobuf or application/json")]
    UnsupportedContentType { found: String },
    #[error("unsupported content encoding {found:?}: send gzip, deflate or no Content-Encoding")]
    UnsupportedContentEncoding { found: String },
    #[error("request body exceeds the limit of {limit_bytes} bytes{after}", after = if *.decompressed { " after decompression" } else { "" })]
    BodyTooLarge { limit_bytes: usize, decompressed: bool },
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
    #[error("invalid {encoding} request body: {message}")]
    Decompress { encoding: &'static str, message: String },
    #[error("malformed OTLP protobuf ExportTraceServiceRequest: {0}")]
    MalformedProtobuf(String),
    #[error("malformed OTLP/JSON ExportTraceServiceRequest: {0}")]
    MalformedJson(String),
    /// A content type a Jaeger or Zipkin receiver does not take. The text starts as Jaeger's does.
    #[error("Unsupported content type: {found} (send {accepted})")]
    UnsupportedMediaType { found: String, accepted: &'static str },
    /// A Jaeger Thrift `Batch` (`POST /api/traces`) that does not decode; the error names the field.
    #[error("malformed Jaeger Thrift Batch: {0}")]
    MalformedThrift(#[from] spoor_model::thrift::ThriftError),
    /// A `PostSpans` batch with a span whose ids do not convert; the whole batch is refused, as in
    /// Jaeger.
    #[error("invalid jaeger.api_v2 batch: {0}")]
    InvalidJaegerBatch(#[from] spoor_model::jaeger_proto::ProtoError),
    /// A Zipkin body that does not decode, or a span in it that cannot be used.
    #[error("malformed Zipkin spans: {0}")]
    MalformedZipkin(#[from] spoor_model::zipkin::ZipkinError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ReceiveError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnsupportedContentType { .. }
            | Self::UnsupportedContentEncoding { .. }
            | Self::BodyRead(_)
            | Self::Decompress { .. }
            | Self::MalformedProtobuf(_)
            | Self::MalformedJson(_)
            | Self::UnsupportedMediaType { .. }
            | Self::MalformedThrift(_)
            | Self::InvalidJaegerBatch(_)
            | Self::MalformedZipkin(_) => ErrorKind::InvalidArgument,
            Self::BodyTooLarge { .. } => ErrorKind::PayloadTooLarge,
            Self::Submit(error) => error.kind(),
            Self::Internal(_) => ErrorKind::Internal,
        }
    }

    /// How long the sender should wait before retrying; `None` when it must not retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Submit(error) => error.retry_after(),
            _ => None,
        }
    }

    /// The gRPC status: the kind's code, this error's message, and for retryable errors a
    /// `google.rpc.RetryInfo` detail (OTLP clients retry RESOURCE_EXHAUSTED only when it is there).
    pub fn to_grpc_status(&self) -> tonic::Status {
        let code = self.kind().grpc_code();
        let message = self.to_string();
        match self.retry_after() {
            Some(delay) => {
                let details = crate::rpc_status::status_with_retry_info(code as i32, &message, delay);
                tonic::Status::with_details(code, message, details.into())
            }
            None => tonic::Status::new(code, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_retryable_with_429_and_resource_exhausted() {
        let error = SubmitError::Overloaded {
            batch_bytes: 10,
            inflight_bytes: 100,
            max_inflight_bytes: 100,
            retry_after: Duration::from_secs(2),
        };
        assert_eq!(error.kind(), ErrorKind::ResourceExhausted);
        assert_eq!(error.kind().http_status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.kind().grpc_code(), tonic::Code::ResourceExhausted);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn storage_errors_keep_their_retryability() {
        let unavailable = SubmitError::Storage(StorageError::Unavailable("down".into()));
        assert_eq!(unavailable.kind().http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.retry_after(), Some(DEFAULT_RETRY_AFTER));
        let corrupt = SubmitError::Storage(StorageError::Corrupt("bad".into()));
        assert_eq!(corrupt.kind().grpc_code(), tonic::Code::Internal);
        assert_eq!(corrupt.retry_after(), None);
    }

    #[test]
    fn retryable_grpc_status_carries_retry_info_details() {
        let error = ReceiveError::Submit(SubmitError::Storage(StorageError::Overloaded("busy".into())));
        let status = error.to_grpc_status();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(!status.details().is_empty());
        let permanent = ReceiveError::MalformedProtobuf("truncated".into()).to_grpc_status();
        assert_eq!(permanent.code(), tonic::Code::InvalidArgument);
        assert!(permanent.details().is_empty());
    }

    #[test]
    fn too_large_body_is_413_and_not_retryable() {
        let error = ReceiveError::BodyTooLarge { limit_bytes: 5, decompressed: true };
        assert_eq!(error.kind().http_status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!error.kind().is_retryable());
        assert!(error.to_string().contains("after decompression"));
    }
}
