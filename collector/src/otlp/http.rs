//! OTLP/HTTP: `POST /v1/traces` with an `application/x-protobuf` or `application/json` body,
//! optionally `Content-Encoding: gzip` or `deflate`. The answer is an `ExportTraceServiceResponse`
//! (or, on failure, a `google.rpc.Status`) in the request's encoding, as the OTLP specification
//! requires; retryable failures carry `Retry-After`.
//!
//! Body size is bounded twice by [`OtlpConfig::http_max_request_bytes`]: as sent, and after
//! decompression (so a small gzip bomb cannot inflate past it). Either gives 413 (see
//! [`crate::http_body`], shared with the Jaeger and Zipkin receivers).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;

use crate::config::OtlpConfig;
use crate::error::ReceiveError;
use crate::http_body::{media_type, read_and_decode, set_retry_after};
use crate::otlp::json::decode_json;
use crate::otlp::lenient::{decode_lenient, RepairedSpans};
use crate::otlp::OtlpExporter;
use crate::pipeline::{Pipeline, Transport};
use crate::rpc_status::{rpc_status, rpc_status_json};

/// The OTLP/HTTP traces path.
pub const TRACES_PATH: &str = "/v1/traces";

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

struct HttpReceiver {
    exporter: OtlpExporter,
    max_request_bytes: usize,
    lenient_utf8: bool,
}

/// The axum router serving `POST /v1/traces`.
pub fn router(pipeline: Arc<Pipeline>, config: &OtlpConfig) -> Router {
    let receiver = Arc::new(HttpReceiver {
        exporter: OtlpExporter::new(pipeline),
        max_request_bytes: config.http_max_request_bytes,
        lenient_utf8: config.lenient_utf8,
    });
    Router::new()
        .route(TRACES_PATH, post(export_traces))
        // The handler reads the body itself, with its own limits.
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver)
}

/// The request body encodings OTLP/HTTP defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn from_headers(headers: &HeaderMap) -> Result<Self, ReceiveError> {
        let (found, media_type) = media_type(headers);
        match media_type.as_str() {
            PROTOBUF | "application/protobuf" => Ok(Self::Protobuf),
            JSON => Ok(Self::Json),
            _ => Err(ReceiveError::UnsupportedContentType { found }),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => PROTOBUF,
            Self::Json => JSON,
        }
    }
}

async fn export_traces(State(receiver): State<Arc<HttpReceiver>>, headers: HeaderMap, body: Body) -> Response {
    // A request in neither encoding is answered in JSON, the readable one.
    let encoding = match Encoding::from_headers(&headers) {
        Ok(encoding) => encoding,
        Err(error) => return error_response(&error, Encoding::Json),
    };
    match receiver.handle(encoding, &headers, body).await {
        Ok(response) => success_response(&response, encoding),
        Err(error) => {
            tracing::debug!(error = %error, "OTLP HTTP export refused");
            error_response(&error, encoding)
        }
    }
}

impl HttpReceiver {
    async fn handle(
        &self,
        encoding: Encoding,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<ExportTraceServiceResponse, ReceiveError> {
        let lenient_utf8 = self.lenient_utf8;
        let (request, repaired) =
            read_and_decode(headers, body, self.max_request_bytes, move |message_bytes| match encoding {
                Encoding::Protobuf => decode_protobuf(&message_bytes, lenient_utf8),
                Encoding::Json => Ok((decode_json(&message_bytes)?, None)),
            })
            .await?;
        self.exporter.export(request, Transport::Http, repaired.as_ref()).await
    }
}

/// prost first; when it fails and repair is on, the lenient decoder, which succeeds where prost
/// failed only on invalid UTF-8.
pub(crate) fn decode_protobuf(
    body: &[u8],
    lenient_utf8: bool,
) -> Result<(ExportTraceServiceRequest, Option<RepairedSpans>), ReceiveError> {
    let strict_error = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => return Ok((request, None)),
        Err(error) => error,
    };
    if lenient_utf8 {
        if let Ok((request, repaired)) = decode_lenient(body) {
            if !repaired.is_empty() {
                return Ok((request, Some(repaired)));
            }
        }
    }
    Err(ReceiveError::MalformedProtobuf(strict_error.to_string()))
}

fn success_response(response: &ExportTraceServiceResponse, encoding: Encoding) -> Response {
    let body = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => {
            // Written by hand: proto3 JSON leaves an unset message out (the derive writes null) and
            // writes int64 as a string.
            let json = match &response.partial_success {
                None => serde_json::json!({}),
                Some(partial) => serde_json::json!({
                    "partialSuccess": {
                        "rejectedSpans": partial.rejected_spans.to_string(),
                        "errorMessage": partial.error_message,
                    }
                }),
            };
            json.to_string().into_bytes()
        }
    };
    ([(CONTENT_TYPE, encoding.content_type())], body).into_response()
}

fn error_response(error: &ReceiveError, encoding: Encoding) -> Response {
    let kind = error.kind();
    let status: StatusCode = kind.http_status();
    let code = kind.grpc_code() as i32;
    let message = error.to_string();
    let retry_after = error.retry_after();
    let body = match encoding {
        Encoding::Protobuf => rpc_status(code, &message, retry_after).encode_to_vec(),
        Encoding::Json => rpc_status_json(code, &message, retry_after).to_string().into_bytes(),
    };
    let mut response = (status, [(CONTENT_TYPE, encoding.content_type())], body).into_response();
    set_retry_after(&mut response, error);
    response
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(http::header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn content_type_parameters_and_case_are_ignored() {
        let json = headers(&[(CONTENT_TYPE, "Application/JSON; charset=utf-8")]);
        assert_eq!(Encoding::from_headers(&json).unwrap(), Encoding::Json);
        let protobuf = headers(&[(CONTENT_TYPE, "application/x-protobuf")]);
        assert_eq!(Encoding::from_headers(&protobuf).unwrap(), Encoding::Protobuf);
    }

    #[test]
    fn other_content_types_are_refused_naming_the_accepted_ones() {
        let error = Encoding::from_headers(&headers(&[(CONTENT_TYPE, "text/plain")])).unwrap_err().to_string();
        assert!(error.contains("text/plain") && error.contains(PROTOBUF) && error.contains(JSON), "{error}");
        assert!(Encoding::from_headers(&HeaderMap::new()).is_err());
    }
}
