//! `jaeger.api_v2.CollectorService/PostSpans` (spec §1.3), decoded by us (see [`crate::grpc_bytes`]), gzip
//! accepted, the message size bounded by [`JaegerConfig::grpc_max_message_bytes`].
//!
//! As in Jaeger, one span whose ids do not convert fails the whole batch with INVALID_ARGUMENT
//! (the message names the span). A message that does not decode is INVALID_ARGUMENT too (grpc-go,
//! and so Jaeger, says INTERNAL: bad input is the sender's problem, not ours). An over-large
//! message is RESOURCE_EXHAUSTED, as grpc-go says it.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use prost::Message;
use spoor_model::jaeger_proto::{spans_from_batch, ProtoError};
use spoor_model::proto::jaeger::api_v2::{PostSpansRequest, PostSpansResponse};
use spoor_model::SpanBatch;

use crate::config::JaegerConfig;
use crate::error::ReceiveError;
use crate::grpc_bytes::{BytesHandler, BytesUnaryService};
use crate::pipeline::{Pipeline, Source, Transport};

/// The gRPC service name, also the name to report on a grpc.health service.
pub const COLLECTOR_SERVICE_NAME: &str = "jaeger.api_v2.CollectorService";

/// Decodes a `PostSpans` request, converts the batch and submits it; answers after the pipeline
/// stored it.
#[derive(Clone)]
pub struct PostSpansHandler {
    pipeline: Arc<Pipeline>,
}

impl PostSpansHandler {
    async fn store_batch(&self, message: Bytes) -> Result<(), ReceiveError> {
        let source = Source::proto(Transport::Grpc);
        let request = PostSpansRequest::decode(message).map_err(|error| ReceiveError::from(ProtoError::from(error)))?;
        // The field is non-null in Jaeger's IDL (gogoproto); a request without it holds no spans.
        let Some(batch) = request.batch else { return Ok(()) };
        let span_count = batch.spans.len();
        let spans = match spans_from_batch(batch) {
            Ok(spans) => spans,
            Err(error) => {
                self.pipeline.metrics().record_invalid_spans(source, u64::try_from(span_count).unwrap_or(u64::MAX));
                return Err(error.into());
            }
        };
        self.pipeline.submit(SpanBatch::new(spans), source).await?;
        Ok(())
    }
}

impl BytesHandler for PostSpansHandler {
    const SERVICE_NAME: &'static str = COLLECTOR_SERVICE_NAME;
    const METHOD_PATH: &'static str = "/jaeger.api_v2.CollectorService/PostSpans";
    type Response = PostSpansResponse;

    fn handle(&self, message: Bytes) -> BoxFuture<'static, Result<Self::Response, tonic::Status>> {
        let handler = self.clone();
        Box::pin(async move {
            match handler.store_batch(message).await {
                Ok(()) => Ok(PostSpansResponse {}),
                Err(error) => {
                    tracing::debug!(error = %error, "Jaeger gRPC PostSpans refused");
                    Err(error.to_grpc_status())
                }
            }
        })
    }
}

/// The tonic service for 14250 (add it to a `tonic::transport::Server` or to
/// [`tonic::service::Routes`]).
pub type CollectorGrpcService = BytesUnaryService<PostSpansHandler>;

/// The `CollectorService` for 14250. The binary adds it to the same tonic server as the sampling
/// service (see [`crate::jaeger::JaegerServer::with_grpc_service`]).
pub fn grpc_service(pipeline: Arc<Pipeline>, config: &JaegerConfig) -> CollectorGrpcService {
    BytesUnaryService::new(PostSpansHandler { pipeline }, config.grpc_max_message_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::proto::jaeger::api_v2::collector_service_server::CollectorServiceServer;
    use tonic::server::NamedService;

    #[derive(Clone)]
    struct Unused;

    #[tonic::async_trait]
    impl spoor_model::proto::jaeger::api_v2::collector_service_server::CollectorService for Unused {
        async fn post_spans(
            &self,
            _request: tonic::Request<PostSpansRequest>,
        ) -> Result<tonic::Response<PostSpansResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("unused"))
        }
    }

    #[test]
    fn service_name_is_jaegers() {
        assert_eq!(
            <CollectorServiceServer<Unused> as NamedService>::NAME,
            <CollectorGrpcService as NamedService>::NAME
        );
    }
}
