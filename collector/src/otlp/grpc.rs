//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, gzip accepted, the
//! message size bounded by [`OtlpConfig::grpc_max_message_bytes`].

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::server::NamedService;

use crate::config::OtlpConfig;
use crate::otlp::http::decode_protobuf;
use crate::otlp::OtlpExporter;
use crate::pipeline::{Pipeline, Transport};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The gRPC `TraceService`. Not the generated server: that one decodes with prost inside tonic,
/// which answers a malformed message with INTERNAL and refuses invalid UTF-8 outright. This one
/// takes the message as bytes and decodes it with the same function as OTLP/HTTP, so a malformed
/// request is INVALID_ARGUMENT naming the problem and invalid UTF-8 is repaired with a warning.
#[derive(Clone)]
pub struct OtlpGrpcReceiver {
    exporter: OtlpExporter,
    max_message_bytes: usize,
    lenient_utf8: bool,
}

impl OtlpGrpcReceiver {
    async fn export(&self, message: Bytes) -> Result<ExportTraceServiceResponse, tonic::Status> {
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

/// Messages at least this large are decoded on the blocking pool.
const BLOCKING_DECODE_BYTES: usize = 256 * 1024;

impl NamedService for OtlpGrpcReceiver {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tower::Service<http::Request<B>> for OtlpGrpcReceiver
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(async move { Ok(tonic::Status::unimplemented("unknown method").into_http()) });
        }
        let receiver = self.clone();
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(RawRequestCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(receiver.max_message_bytes), None);
            Ok(grpc.unary(ExportMethod(receiver), request).await)
        })
    }
}

struct ExportMethod(OtlpGrpcReceiver);

impl tonic::server::UnaryService<Bytes> for ExportMethod {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<'static, Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let receiver = self.0.clone();
        Box::pin(async move { receiver.export(request.into_inner()).await.map(tonic::Response::new) })
    }
}

/// Requests stay bytes (decoded by the receiver); responses are prost-encoded.
#[derive(Clone, Copy, Default)]
struct RawRequestCodec;

impl Codec for RawRequestCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.reserve(item.encoded_len());
        item.encode(dst).map_err(|error| tonic::Status::internal(format!("encoding the response failed: {error}")))
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The tonic service to add to a `tonic::transport::Server`.
pub fn trace_service(pipeline: Arc<Pipeline>, config: &OtlpConfig) -> OtlpGrpcReceiver {
    OtlpGrpcReceiver {
        exporter: OtlpExporter::new(pipeline),
        max_message_bytes: config.grpc_max_message_bytes,
        lenient_utf8: config.lenient_utf8,
    }
}

/// tonic refuses an over-large message with OUT_OF_RANGE, which the OTLP specification lists as
/// retryable: a client would resend the same too-large request until it gives up. grpc-go (and so
/// Jaeger) says RESOURCE_EXHAUSTED without retry information, which OTLP clients do not retry.
/// The receiver itself never answers OUT_OF_RANGE, so every such status is tonic's size check.
pub fn out_of_range_as_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let status = response.headers().get(tonic::Status::GRPC_STATUS);
    if status.is_some_and(|code| code.as_bytes() == b"11") {
        let resource_exhausted = http::HeaderValue::from(tonic::Code::ResourceExhausted as i32);
        response.headers_mut().insert(tonic::Status::GRPC_STATUS, resource_exhausted);
    }
    response
}
