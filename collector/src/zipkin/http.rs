//! The Zipkin HTTP receiver (spec §1.8, integrations.md §1.3-1.4). Any `POST` path containing
//! `api/v1/spans` is Zipkin v1 (`application/x-thrift`: a TBinaryProtocol `list<Span>`; anything
//! else: v1 JSON); every other path is v2 (`application/x-protobuf`: `ListOfSpans`, with
//! `X-B3-Flags: 1` marking every span debug; anything else: v2 JSON). Bodies may be chunked,
//! gzip or deflate. 202 with an empty body once the spans are stored; 400 with a plain-text
//! message naming the problem; 413 over the size limit; 429 / 503 with `Retry-After` when the
//! collector cannot take the spans now. The `Host` header is not looked at (Envoy sends
//! `Host: zipkin`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::header::ALLOW;
use http::{HeaderMap, Method, StatusCode, Uri};
use spoor_model::zipkin::{spans_from_v1_json, spans_from_v1_thrift, spans_from_v2_json, spans_from_v2_proto};
use spoor_model::{Span, SpanBatch, FLAG_DEBUG};

use crate::config::ZipkinConfig;
use crate::error::ReceiveError;
use crate::http_body::{media_type, plain_text_error, read_and_decode};
use crate::pipeline::{Pipeline, Source, Transport};

/// The path fragment that makes a request Zipkin v1, wherever it appears.
const V1_PATH_FRAGMENT: &str = "api/v1/spans";
const THRIFT: &str = "application/x-thrift";
const PROTOBUF: &str = "application/x-protobuf";
/// The header of a Zipkin protobuf request whose spans are all debug.
const B3_FLAGS: &str = "x-b3-flags";

/// What a request body holds, decided by path and media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZipkinBody {
    V1Json,
    V1Thrift,
    V2Json,
    /// `debug` when the request said `X-B3-Flags: 1`.
    V2Proto {
        debug: bool,
    },
}

impl ZipkinBody {
    /// The body of a request to `path` with these headers.
    pub fn of_request(path: &str, headers: &HeaderMap) -> Self {
        let (_, media_type) = media_type(headers);
        if path.contains(V1_PATH_FRAGMENT) {
            return if media_type == THRIFT { Self::V1Thrift } else { Self::V1Json };
        }
        if media_type != PROTOBUF {
            return Self::V2Json;
        }
        let debug = headers.get(B3_FLAGS).is_some_and(|value| value.as_bytes().trim_ascii() == b"1");
        Self::V2Proto { debug }
    }

    /// Decodes `bytes` into model spans.
    pub fn decode(self, bytes: &[u8]) -> Result<Vec<Span>, ReceiveError> {
        let mut spans = match self {
            Self::V1Json => spans_from_v1_json(bytes)?,
            Self::V1Thrift => spans_from_v1_thrift(bytes)?,
            Self::V2Json => spans_from_v2_json(bytes)?,
            Self::V2Proto { .. } => spans_from_v2_proto(bytes)?,
        };
        if self == (Self::V2Proto { debug: true }) {
            for span in &mut spans {
                span.flags |= FLAG_DEBUG;
            }
        }
        Ok(spans)
    }
}

struct ZipkinReceiver {
    pipeline: Arc<Pipeline>,
    max_request_bytes: usize,
}

/// The axum router of the Zipkin port: every path, `POST` only (other methods: 405).
pub fn router(pipeline: Arc<Pipeline>, config: &ZipkinConfig) -> Router {
    let receiver = Arc::new(ZipkinReceiver { pipeline, max_request_bytes: config.http_max_request_bytes });
    Router::new()
        .fallback(receive)
        // The handler reads the body itself, with its own limits.
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver)
}

async fn receive(
    State(receiver): State<Arc<ZipkinReceiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(ALLOW, "POST")], "Zipkin spans are sent with POST\n")
            .into_response();
    }
    let kind = ZipkinBody::of_request(uri.path(), &headers);
    match receiver.handle(kind, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => {
            tracing::debug!(path = uri.path(), error = %error, "Zipkin spans refused");
            plain_text_error(&error)
        }
    }
}

impl ZipkinReceiver {
    async fn handle(&self, kind: ZipkinBody, headers: &HeaderMap, body: Body) -> Result<(), ReceiveError> {
        let spans = read_and_decode(headers, body, self.max_request_bytes, move |bytes| kind.decode(&bytes)).await?;
        self.pipeline.submit(SpanBatch::new(spans), Source::zipkin(Transport::Http)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use http::header::CONTENT_TYPE;
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (http::HeaderName::from_static(name), HeaderValue::from_str(value).unwrap()))
            .collect()
    }

    #[test]
    fn v1_is_any_path_containing_api_v1_spans() {
        let thrift = headers(&[("content-type", "application/x-thrift")]);
        assert_eq!(ZipkinBody::of_request("/api/v1/spans", &thrift), ZipkinBody::V1Thrift);
        assert_eq!(ZipkinBody::of_request("/zipkin/api/v1/spans", &HeaderMap::new()), ZipkinBody::V1Json);
        assert_eq!(ZipkinBody::of_request("/api/v2/spans", &thrift), ZipkinBody::V2Json);
        assert_eq!(ZipkinBody::of_request("/", &HeaderMap::new()), ZipkinBody::V2Json);
    }

    #[test]
    fn protobuf_is_debug_only_with_b3_flags_1() {
        let plain = headers(&[("content-type", "application/x-protobuf")]);
        assert_eq!(ZipkinBody::of_request("/api/v2/spans", &plain), ZipkinBody::V2Proto { debug: false });
        let debug = headers(&[("content-type", "application/x-protobuf"), ("x-b3-flags", "1")]);
        assert_eq!(ZipkinBody::of_request("/api/v2/spans", &debug), ZipkinBody::V2Proto { debug: true });
        let json_debug = headers(&[("content-type", "application/json"), ("x-b3-flags", "1")]);
        assert_eq!(ZipkinBody::of_request("/api/v2/spans", &json_debug), ZipkinBody::V2Json);
        assert!(plain.contains_key(CONTENT_TYPE));
    }

    #[test]
    fn malformed_bodies_name_the_format() {
        let error = ZipkinBody::V2Json.decode(b"{").unwrap_err();
        assert_eq!(error.kind(), crate::error::ErrorKind::InvalidArgument);
        assert!(error.to_string().contains("v2 JSON"), "{error}");
    }
}
