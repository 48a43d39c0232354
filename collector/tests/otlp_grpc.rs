//! OTLP/gRPC receiver, driven by a real tonic client against a server on 127.0.0.1:0.

mod common;

use std::time::Duration;

use common::{otlp_span, request, request_with, trace_id, TestCollector};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use spoor_collector::rpc_status::{RetryInfo, RpcStatus, RETRY_INFO_TYPE_URL};
use spoor_collector::{OtlpConfig, PipelineConfig, Transport};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

async fn client(collector: &TestCollector) -> TraceServiceClient<Channel> {
    TraceServiceClient::connect(format!("http://{}", collector.grpc)).await.expect("connect")
}

#[tokio::test]
async fn grpc_export_is_stored_before_the_client_is_answered() {
    let collector = TestCollector::start().await;
    let response = client(&collector).await.export(request(1, 3)).await.expect("export").into_inner();
    assert_eq!(response.partial_success, None);
    let stored = collector.stored(trace_id(1)).await;
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|span| span.service_name() == "checkout" && span.operation_name == "GET /cart"));
    assert!(collector.metrics_text().contains(
        r#"jaeger_collector_spans_received_total{format="otlp",transport="grpc",svc="checkout",debug="false"} 3"#
    ));
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_accepts_gzip_compressed_requests() {
    let collector = TestCollector::start().await;
    let mut client = client(&collector).await.send_compressed(CompressionEncoding::Gzip);
    client.export(request(2, 5)).await.expect("export");
    assert_eq!(collector.stored(trace_id(2)).await.len(), 5);
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_reports_spans_with_unusable_ids_in_partial_success_and_stores_the_rest() {
    let collector = TestCollector::start().await;
    let mut bad = otlp_span(3, 1, "bad");
    bad.trace_id = vec![1, 2, 3, 4, 5];
    let response = client(&collector)
        .await
        .export(request_with("checkout", vec![otlp_span(3, 0, "good"), bad]))
        .await
        .expect("export")
        .into_inner();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("trace_id must be 16 bytes, got 5"), "{}", partial.error_message);
    assert_eq!(collector.stored(trace_id(3)).await.len(), 1);
    assert!(collector.metrics_text().contains(
        r#"jaeger_collector_spans_rejected_total{format="otlp",transport="grpc",svc="unknown-service",debug="false"} 1"#
    ));
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_refuses_messages_over_the_configured_size_as_resource_exhausted_naming_the_limit() {
    let otlp = OtlpConfig { grpc_max_message_bytes: 1024, ..common::local_otlp_config() };
    let collector = TestCollector::start_with(otlp, PipelineConfig::default(), true).await;
    let status = client(&collector).await.export(request(4, 50)).await.expect_err("too large");
    // tonic says OUT_OF_RANGE, which OTLP clients would retry forever; the receiver answers as
    // grpc-go (and so Jaeger) does.
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("1024"), "{}", status.message());
    assert!(collector.stored(trace_id(4)).await.is_empty());
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_overload_is_resource_exhausted_with_retry_info_and_loses_nothing_acknowledged() {
    let one_batch = spoor_model::SpanBatch::new(spoor_model::otlp::spans_from_otlp_request(request(5, 4)).spans);
    let pipeline =
        PipelineConfig { max_inflight_bytes: one_batch.estimated_size() * 3 / 2, ..PipelineConfig::default() };
    let collector = TestCollector::start_with(common::local_otlp_config(), pipeline, false).await;

    let mut first_client = client(&collector).await;
    let first = tokio::spawn(async move { first_client.export(request(5, 4)).await });
    while collector.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let status = client(&collector).await.export(request(6, 4)).await.expect_err("overloaded");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(status.message().contains("overloaded"), "{}", status.message());
    let details = RpcStatus::decode(status.details()).expect("google.rpc.Status details");
    assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE_URL);
    let retry_info = RetryInfo::decode(details.details[0].value.as_slice()).unwrap();
    assert_eq!(retry_info.retry_delay.unwrap().seconds, 1);
    assert_eq!(collector.pipeline.metrics().overload_rejections(Transport::Grpc), 1);

    collector.open_gate();
    first.await.unwrap().expect("the first export is acknowledged");
    assert_eq!(collector.stored(trace_id(5)).await.len(), 4, "every acknowledged span is stored");
    assert!(collector.stored(trace_id(6)).await.is_empty(), "the refused batch was not half-stored");
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_server_stops_gracefully_on_shutdown() {
    let collector = TestCollector::start().await;
    client(&collector).await.export(request(7, 1)).await.expect("export");
    let grpc = collector.grpc;
    tokio::time::timeout(Duration::from_secs(10), collector.stop()).await.expect("stops in time").unwrap();
    assert!(tokio::net::TcpStream::connect(grpc).await.is_err(), "listener closed");
}

/// A client that sends arbitrary bytes as the Export request, to test what real clients cannot
/// produce: truncated messages and invalid UTF-8.
mod raw {
    use bytes::{Buf, BufMut};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Clone, Copy, Default)]
    pub struct RawCodec;

    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = ExportTraceServiceResponse;
        type Encoder = RawCodec;
        type Decoder = RawCodec;
        fn encoder(&mut self) -> Self::Encoder {
            RawCodec
        }
        fn decoder(&mut self) -> Self::Decoder {
            RawCodec
        }
    }

    impl Encoder for RawCodec {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for RawCodec {
        type Item = ExportTraceServiceResponse;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
            let bytes = src.copy_to_bytes(src.remaining());
            ExportTraceServiceResponse::decode(bytes).map(Some).map_err(|e| tonic::Status::internal(e.to_string()))
        }
    }

    pub async fn export(
        address: std::net::SocketAddr,
        body: Vec<u8>,
    ) -> Result<ExportTraceServiceResponse, tonic::Status> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.expect("ready");
        let path = http::uri::PathAndQuery::from_static("/opentelemetry.proto.collector.trace.v1.TraceService/Export");
        grpc.unary(tonic::Request::new(body), path, RawCodec).await.map(tonic::Response::into_inner)
    }
}

#[tokio::test]
async fn grpc_truncated_message_is_invalid_argument_naming_the_problem() {
    let collector = TestCollector::start().await;
    let bytes = request(9, 3).encode_to_vec();
    let status = raw::export(collector.grpc, bytes[..bytes.len() / 2].to_vec()).await.expect_err("truncated");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("malformed OTLP protobuf"), "{status:?}");
    // The server is still fine: the whole message goes through.
    raw::export(collector.grpc, bytes).await.expect("the complete message");
    assert_eq!(collector.stored(trace_id(9)).await.len(), 3);
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn grpc_invalid_utf8_is_repaired_and_recorded_as_a_warning() {
    let collector = TestCollector::start().await;
    let mut bytes = request(10, 1).encode_to_vec();
    let at = bytes.windows(4).position(|w| w == b"cart").expect("operation name in the message");
    bytes[at + 1] = 0xff; // "c\xffrt": same length, so every length prefix stays right
    raw::export(collector.grpc, bytes).await.expect("repaired, not refused");
    let stored = collector.stored(trace_id(10)).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].operation_name, "GET /c\u{fffd}rt");
    assert!(stored[0].warnings.iter().any(|w| w.to_lowercase().contains("utf-8")), "{:?}", stored[0].warnings);
    collector.stop().await.unwrap();
}
