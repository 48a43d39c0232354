//! Jaeger Thrift over HTTP (spec §1.5): `POST /api/traces` with a TBinaryProtocol `Batch` body
//! (no message envelope), `Content-Type: application/x-thrift` or
//! `application/vnd.apache.thrift.binary`, optionally gzip or deflate. 202 with an empty body
//! once the spans are stored; 400 (plain text naming the problem) for another content type or an
//! undecodable body; 413 over the size limit; 429 / 503 with `Retry-After` when the collector
//! cannot take the spans now.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http::{HeaderMap, StatusCode};
use spoor_model::thrift::{decode_batch_binary, spans_from_thrift_batch};
use spoor_model::SpanBatch;

use crate::config::JaegerConfig;
use crate::error::ReceiveError;
use crate::http_body::{media_type, plain_text_error, read_and_decode};
use crate::pipeline::{Pipeline, Source, Transport};

/// The path Jaeger clients post batches to.
pub const TRACES_PATH: &str = "/api/traces";

/// The content types Jaeger accepts (`acceptedThriftFormats`).
const THRIFT_MEDIA_TYPES: [&str; 2] = ["application/x-thrift", "application/vnd.apache.thrift.binary"];
const ACCEPTED: &str = "application/x-thrift or application/vnd.apache.thrift.binary";

struct ThriftHttpReceiver {
    pipeline: Arc<Pipeline>,
    max_request_bytes: usize,
}

/// The axum router serving `POST /api/traces`, state applied. The binary merges the sampling
/// router (`GET /api/sampling`) into it for one server on 14268.
pub fn thrift_http_router(pipeline: Arc<Pipeline>, config: &JaegerConfig) -> Router {
    let receiver = Arc::new(ThriftHttpReceiver { pipeline, max_request_bytes: config.http_max_request_bytes });
    Router::new()
        .route(TRACES_PATH, post(post_batch))
        // The handler reads the body itself, with its own limits.
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver)
}

async fn post_batch(State(receiver): State<Arc<ThriftHttpReceiver>>, headers: HeaderMap, body: Body) -> Response {
    match receiver.handle(&headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(error) => {
            tracing::debug!(error = %error, "Jaeger Thrift HTTP batch refused");
            plain_text_error(&error)
        }
    }
}

impl ThriftHttpReceiver {
    async fn handle(&self, headers: &HeaderMap, body: Body) -> Result<(), ReceiveError> {
        let (_, media_type) = media_type(headers);
        if !THRIFT_MEDIA_TYPES.contains(&media_type.as_str()) {
            return Err(ReceiveError::UnsupportedMediaType { found: media_type, accepted: ACCEPTED });
        }
        let spans = read_and_decode(headers, body, self.max_request_bytes, |bytes| {
            Ok(spans_from_thrift_batch(decode_batch_binary(&bytes)?))
        })
        .await?;
        self.pipeline.submit(SpanBatch::new(spans), Source::jaeger(Transport::Http)).await?;
        Ok(())
    }
}
