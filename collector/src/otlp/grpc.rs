//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, gzip accepted, the
//! message size bounded by [`OtlpConfig::grpc_max_message_bytes`].

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

use crate::config::OtlpConfig;
use crate::grpc_bytes::{BytesHandler, BytesUnaryService};
use crate::otlp::http::decode_protobuf;
use crate::otlp::OtlpExporter;
use crate::pipeline::{Pipeline, Transport};

pub use crate::grpc_bytes::out_of_range_as_resource_exhausted;

/// `TraceService/Export`. The message reaches it as bytes and is decoded with the same function
/// as OTLP/HTTP (see [`crate::grpc_bytes`]): a malformed request is INVALID_ARGUMENT naming the
/// problem, and invalid UTF-8 is repaired with a span warning.
#[derive(Clone)]
pub struct OtlpGrpcReceiver {
    exporter: OtlpExporter,
    lenient_utf8: bool,
}

/// Messages at least this large are decoded on the blocking pool.
const BLOCKING_DECODE_BYTES: usize = 256 * 1024;

impl OtlpGrpcReceiver {
    async fn export(self, message: Bytes) -> Result<ExportTraceServiceResponse, tonic::Status> {
        let lenient_utf8 = self.lenient_utf8;
        let decoded = if message.len() >= BLOCKING_DECODE_BYTES {
            tokio::task::spawn_blocking(move || decode_protobuf(&message, lenient_utf8))
                .await
                .map_err(|error| tonic::Status::internal(format!("decoding task failed: {error}")))?
        } else {
            decode_protobuf(&message, lenient_utf8)
        };
        let result = match decoded {
            Ok((request, repaired)) => self.exporter.export(request, Transport::Grpc, repaired.as_ref()).await,
            Err(error) => Err(error),
        };
        result.map_err(|error| {
            tracing::debug!(error = %error, "OTLP gRPC export refused");
            error.to_grpc_status()
        })
    }
}

impl BytesHandler for OtlpGrpcReceiver {
    const SERVICE_NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const METHOD_PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    type Response = ExportTraceServiceResponse;

    fn handle(&self, message: Bytes) -> BoxFuture<'static, Result<Self::Response, tonic::Status>> {
        Box::pin(self.clone().export(message))
    }
}

/// The tonic service to add to a `tonic::transport::Server`.
pub fn trace_service(pipeline: Arc<Pipeline>, config: &OtlpConfig) -> BytesUnaryService<OtlpGrpcReceiver> {
    let receiver = OtlpGrpcReceiver { exporter: OtlpExporter::new(pipeline), lenient_utf8: config.lenient_utf8 };
    BytesUnaryService::new(receiver, config.grpc_max_message_bytes)
}
