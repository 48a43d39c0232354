//! OTLP/HTTP: `POST /v1/traces` with an `application/x-protobuf` or `application/json` body,
//! optionally `Content-Encoding: gzip` or `deflate`. The answer is an `ExportTraceServiceResponse`
//! (or, on failure, a `google.rpc.Status`) in the request's encoding, as the OTLP specification
//! requires; retryable failures carry `Retry-After`.
//!
//! Body size is bounded twice by [`OtlpConfig::http_max_request_bytes`]: as sent, and after
//! decompression (so a small gzip bomb cannot inflate past it). Either gives 413.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;

use crate::config::OtlpConfig;
use crate::error::ReceiveError;
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
        let found = headers.get(CONTENT_TYPE).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let media_type = found.as_deref().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media_type.as_str() {
            PROTOBUF | "application/protobuf" => Ok(Self::Protobuf),
            JSON => Ok(Self::Json),
            _ => Err(ReceiveError::UnsupportedContentType { found: found.unwrap_or_default() }),
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
        let compression = Compression::from_headers(headers)?;
        let wire_bytes = self.read_body(headers, body).await?;
        // Inflating and decoding megabytes takes milliseconds: off the async workers with it.
        let runs_long = compression != Compression::Identity || wire_bytes.len() >= BLOCKING_DECODE_BYTES;
        let limit = self.max_request_bytes;
        let lenient_utf8 = self.lenient_utf8;
        let decode = move || {
            let message_bytes = compression.decompress(wire_bytes, limit)?;
            match encoding {
                Encoding::Protobuf => decode_protobuf(&message_bytes, lenient_utf8),
                Encoding::Json => Ok((decode_json(&message_bytes)?, None)),
            }
        };
        let (request, repaired) = if runs_long {
            tokio::task::spawn_blocking(decode)
                .await
                .map_err(|error| ReceiveError::Internal(format!("decoding task failed: {error}")))??
        } else {
            decode()?
        };
        self.exporter.export(request, Transport::Http, repaired.as_ref()).await
    }

    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, ReceiveError> {
        let too_large = ReceiveError::BodyTooLarge { limit_bytes: self.max_request_bytes, decompressed: false };
        let declared_length = headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > self.max_request_bytes as u64) {
            return Err(too_large);
        }
        match Limited::new(body, self.max_request_bytes).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
            Err(error) => Err(ReceiveError::BodyRead(error.to_string())),
        }
    }
}

/// Bodies at least this large (or compressed ones) are decoded on the blocking pool.
const BLOCKING_DECODE_BYTES: usize = 256 * 1024;

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

/// `Content-Encoding` of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    Identity,
    Gzip,
    Deflate,
}

impl Compression {
    fn from_headers(headers: &HeaderMap) -> Result<Self, ReceiveError> {
        let Some(value) = headers.get(CONTENT_ENCODING) else { return Ok(Self::Identity) };
        let text = String::from_utf8_lossy(value.as_bytes());
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "deflate" => Ok(Self::Deflate),
            _ => Err(ReceiveError::UnsupportedContentEncoding { found: text.into_owned() }),
        }
    }

    /// Decompresses `body`, refusing output larger than `limit` bytes.
    fn decompress(self, body: Bytes, limit: usize) -> Result<Bytes, ReceiveError> {
        match self {
            Self::Identity => Ok(body),
            Self::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(&body[..]), limit, "gzip"),
            // HTTP's "deflate" is zlib-wrapped, but some senders send raw deflate.
            Self::Deflate => read_bounded(flate2::read::ZlibDecoder::new(&body[..]), limit, "deflate")
                .or_else(|_| read_bounded(flate2::read::DeflateDecoder::new(&body[..]), limit, "deflate")),
        }
    }
}

fn read_bounded(reader: impl Read, limit: usize, encoding: &'static str) -> Result<Bytes, ReceiveError> {
    let mut decompressed = Vec::new();
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(read_limit)
        .read_to_end(&mut decompressed)
        .map_err(|error| ReceiveError::Decompress { encoding, message: error.to_string() })?;
    if decompressed.len() > limit {
        return Err(ReceiveError::BodyTooLarge { limit_bytes: limit, decompressed: true });
    }
    Ok(decompressed.into())
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
    if let Some(delay) = retry_after {
        let seconds = delay.as_secs().max(1);
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn unknown_content_encoding_is_refused() {
        let error = Compression::from_headers(&headers(&[(CONTENT_ENCODING, "br")])).unwrap_err();
        assert!(error.to_string().contains("\"br\""));
    }

    #[test]
    fn gzip_output_beyond_the_limit_is_too_large() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&vec![0u8; 10_000]).unwrap();
        let compressed = Bytes::from(encoder.finish().unwrap());
        let error = Compression::Gzip.decompress(compressed.clone(), 9_999).unwrap_err();
        assert!(matches!(error, ReceiveError::BodyTooLarge { decompressed: true, .. }), "{error}");
        assert_eq!(Compression::Gzip.decompress(compressed, 10_000).unwrap().len(), 10_000);
    }

    #[test]
    fn deflate_accepts_zlib_and_raw_streams() {
        use std::io::Write;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(b"hello").unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(b"hello").unwrap();
        for body in [zlib.finish().unwrap(), raw.finish().unwrap()] {
            assert_eq!(&Compression::Deflate.decompress(body.into(), 100).unwrap()[..], b"hello");
        }
    }

    #[test]
    fn corrupt_gzip_is_an_invalid_argument_naming_gzip() {
        let error = Compression::Gzip.decompress(Bytes::from_static(b"not gzip"), 100).unwrap_err();
        assert_eq!(error.kind(), crate::error::ErrorKind::InvalidArgument);
        assert!(error.to_string().contains("gzip"), "{error}");
    }
}
