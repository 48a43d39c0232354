//! `jaeger.api_v2.CollectorService/PostSpans` (spec §1.3): the generated tonic server, gzip
//! accepted, the message size bounded by [`JaegerConfig::grpc_max_message_bytes`].
//!
//! As in Jaeger, one span whose ids do not convert fails the whole batch with INVALID_ARGUMENT
//! (the message names the span). A message tonic cannot decode is INTERNAL, as grpc-go (and so
//! Jaeger) answers it. An over-large message is RESOURCE_EXHAUSTED, as grpc-go says it.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::FutureExt;
use spoor_model::jaeger_proto::spans_from_batch;
use spoor_model::proto::jaeger::api_v2::collector_service_server::{CollectorService, CollectorServiceServer};
use spoor_model::proto::jaeger::api_v2::{PostSpansRequest, PostSpansResponse};
use spoor_model::SpanBatch;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;

use crate::config::JaegerConfig;
use crate::error::ReceiveError;
use crate::otlp::grpc::out_of_range_as_resource_exhausted;
use crate::pipeline::{Pipeline, Source, Transport};

/// The gRPC service name, also the name to report on a grpc.health service.
pub const COLLECTOR_SERVICE_NAME: &str = "jaeger.api_v2.CollectorService";

/// Converts a `PostSpans` batch and submits it; answers after the pipeline stored it.
#[derive(Clone)]
pub struct PostSpansHandler {
    pipeline: Arc<Pipeline>,
}

impl PostSpansHandler {
    async fn store_batch(&self, request: PostSpansRequest) -> Result<(), ReceiveError> {
        let source = Source::proto(Transport::Grpc);
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

#[tonic::async_trait]
impl CollectorService for PostSpansHandler {
    async fn post_spans(
        &self,
        request: tonic::Request<PostSpansRequest>,
    ) -> Result<tonic::Response<PostSpansResponse>, tonic::Status> {
        match self.store_batch(request.into_inner()).await {
            Ok(()) => Ok(tonic::Response::new(PostSpansResponse {})),
            Err(error) => {
                tracing::debug!(error = %error, "Jaeger gRPC PostSpans refused");
                Err(error.to_grpc_status())
            }
        }
    }
}

/// The tonic service to add to a `tonic::transport::Server` (or to [`tonic::service::Routes`]):
/// the generated `CollectorServiceServer`, whose too-large answers say RESOURCE_EXHAUSTED
/// rather than tonic's OUT_OF_RANGE.
#[derive(Clone)]
pub struct CollectorGrpcService {
    inner: CollectorServiceServer<PostSpansHandler>,
}

impl NamedService for CollectorGrpcService {
    const NAME: &'static str = COLLECTOR_SERVICE_NAME;
}

impl<B> tower::Service<http::Request<B>> for CollectorGrpcService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::<http::Request<B>>::poll_ready(&mut self.inner, context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.inner.call(request).map(|answer| answer.map(out_of_range_as_resource_exhausted)).boxed()
    }
}

/// The `CollectorService` for 14250. The binary adds it to the same tonic server as the sampling
/// service (see [`crate::jaeger::JaegerServer::with_grpc_service`]).
pub fn grpc_service(pipeline: Arc<Pipeline>, config: &JaegerConfig) -> CollectorGrpcService {
    let inner = CollectorServiceServer::new(PostSpansHandler { pipeline })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(config.grpc_max_message_bytes);
    CollectorGrpcService { inner }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_name_is_jaegers() {
        assert_eq!(
            <CollectorServiceServer<PostSpansHandler> as NamedService>::NAME,
            <CollectorGrpcService as NamedService>::NAME
        );
    }
}
