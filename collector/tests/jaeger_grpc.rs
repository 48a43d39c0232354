//! Jaeger gRPC `CollectorService/PostSpans` (14250), driven by the generated tonic client against
//! a receiver on loopback port 0 writing into a `MemoryStore`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod receivers;

use std::sync::Arc;
use std::time::Duration;

use receivers::{assert_same_spans, expected_spans, fixture_trace_id, model_golden_hex, Options, Receivers};
use spoor_collector::rpc_status::RpcStatus;
use spoor_collector::{JaegerConfig, PipelineConfig, Transport};
use spoor_model::jaeger_proto::{process_to_proto, span_to_proto};
use spoor_model::proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
use spoor_model::proto::jaeger::api_v2::{Batch, PostSpansRequest};
use spoor_model::thrift::{decode_batch_binary, spans_from_thrift_batch};
use spoor_model::{Process, Span, SpanBatch, TraceId};
use tonic::transport::Channel;

/// The fixture trace as model spans (decoded from the Thrift golden file).
fn fixture_spans() -> Vec<Span> {
    spans_from_thrift_batch(decode_batch_binary(&model_golden_hex("thrift/trace.batch.binary.hex")).unwrap())
}

/// The fixture trace as a `PostSpans` batch: the process once, on the batch (as Jaeger clients
/// send it), the spans without their own.
fn fixture_batch() -> Batch {
    let spans = fixture_spans();
    let process = process_to_proto((*spans[0].process).clone());
    let spans = spans
        .into_iter()
        .map(|span| {
            let mut proto = span_to_proto(span);
            proto.process = None;
            proto
        })
        .collect();
    Batch { spans, process: Some(process) }
}

fn request(batch: Batch) -> PostSpansRequest {
    PostSpansRequest { batch: Some(batch) }
}

async fn client(address: std::net::SocketAddr) -> CollectorServiceClient<Channel> {
    CollectorServiceClient::connect(format!("http://{address}")).await.expect("connect")
}

#[tokio::test]
async fn post_spans_stores_the_fixture_trace_with_the_batch_process() {
    let receivers = Receivers::start().await;
    client(receivers.jaeger_grpc.unwrap()).await.post_spans(request(fixture_batch())).await.expect("PostSpans");
    let stored = receivers.stored(fixture_trace_id()).await;
    assert_same_spans(&stored, &expected_spans("thrift/trace.model.json"), "PostSpans");
    assert!(receivers.metrics_text().contains(
        r#"jaeger_collector_spans_received_total{format="proto",transport="grpc",svc="checkout",debug="false"} 3"#
    ));
    receivers.stop().await;
}

#[tokio::test]
async fn post_spans_keeps_each_spans_own_process_and_accepts_gzip() {
    let receivers = Receivers::start().await;
    let mut batch = fixture_batch();
    let mut own = Process { service_name: "cart".into(), tags: vec![] };
    own.tags.push(spoor_model::KeyValue::string("hostname", "cart-1"));
    batch.spans[1].process = Some(process_to_proto(own));
    let mut gzip_client =
        client(receivers.jaeger_grpc.unwrap()).await.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    gzip_client.post_spans(request(batch)).await.expect("gzip PostSpans");
    let stored = receivers.stored(fixture_trace_id()).await;
    let services: Vec<&str> = stored.iter().map(|span| span.process.service_name.as_str()).collect();
    assert_eq!(services.iter().filter(|name| **name == "checkout").count(), 2, "{services:?}");
    assert_eq!(services.iter().filter(|name| **name == "cart").count(), 1, "{services:?}");
    receivers.stop().await;
}

#[tokio::test]
async fn one_span_with_a_bad_id_fails_the_whole_batch_with_invalid_argument() {
    let receivers = Receivers::start().await;
    let mut batch = fixture_batch();
    batch.spans[2].span_id = vec![1, 2, 3];
    let status = client(receivers.jaeger_grpc.unwrap()).await.post_spans(request(batch)).await.expect_err("bad id");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("span 2"), "{}", status.message());
    assert!(status.message().contains("span_id"), "{}", status.message());
    assert!(receivers.stored(fixture_trace_id()).await.is_empty(), "nothing of the batch is stored");
    assert!(receivers.metrics_text().contains(
        r#"jaeger_collector_spans_rejected_total{format="proto",transport="grpc",svc="unknown-service",debug="false"} 3"#
    ));
    receivers.stop().await;
}

#[tokio::test]
async fn an_undecodable_message_is_refused_and_the_server_keeps_serving() {
    let receivers = Receivers::start().await;
    let address = receivers.jaeger_grpc.unwrap();
    // A span whose operation name is not UTF-8: prost refuses the message (grpc-go too).
    let mut batch = fixture_batch();
    batch.spans.truncate(1);
    let mut bytes = prost::Message::encode_to_vec(&request(batch));
    let name = bytes.windows(13).position(|window| window == b"GET /checkout").expect("name in message");
    bytes[name] = 0xff;
    let status = raw_post_spans(address, bytes).await.expect_err("not UTF-8");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("invalid jaeger.api_v2 batch"), "{status:?}");
    client(address).await.post_spans(request(fixture_batch())).await.expect("still serving");
    receivers.stop().await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_resource_exhausted_naming_the_limit() {
    let mut options = Options::local();
    options.jaeger = JaegerConfig { grpc_max_message_bytes: 512, ..options.jaeger };
    let receivers = Receivers::start_with(options).await;
    let status =
        client(receivers.jaeger_grpc.unwrap()).await.post_spans(request(fixture_batch())).await.expect_err("too large");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("512"), "{}", status.message());
    assert!(receivers.stored(fixture_trace_id()).await.is_empty());
    receivers.stop().await;
}

#[tokio::test]
async fn overload_is_resource_exhausted_with_retry_info_and_nothing_acknowledged_is_lost() {
    let one_batch = SpanBatch::new(fixture_spans()).estimated_size();
    let mut options = Options::local();
    options.pipeline = PipelineConfig { max_inflight_bytes: one_batch * 3 / 2, ..PipelineConfig::default() };
    options.gate_open = false;
    let receivers = Receivers::start_with(options).await;
    let address = receivers.jaeger_grpc.unwrap();

    let first = tokio::spawn(async move { client(address).await.post_spans(request(fixture_batch())).await });
    while receivers.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut second = fixture_batch();
    let other_trace = TraceId::new(0, 42).to_bytes().to_vec();
    for span in &mut second.spans {
        span.trace_id.clone_from(&other_trace);
    }
    let status = client(address).await.post_spans(request(second.clone())).await.expect_err("overloaded");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("overloaded"), "{}", status.message());
    let details = <RpcStatus as prost::Message>::decode(status.details()).expect("google.rpc.Status details");
    assert!(details.details[0].type_url.ends_with("google.rpc.RetryInfo"), "{:?}", details.details[0].type_url);
    assert_eq!(receivers.pipeline.metrics().overload_rejections(Transport::Grpc), 1);

    receivers.open_gate();
    first.await.unwrap().expect("the first batch is acknowledged");
    assert_eq!(receivers.stored(fixture_trace_id()).await.len(), 3, "every acknowledged span is stored");
    assert!(receivers.stored(TraceId::new(0, 42)).await.is_empty());
    client(address).await.post_spans(request(second)).await.expect("accepted once there is room");
    assert_eq!(receivers.stored(TraceId::new(0, 42)).await.len(), 3);
    receivers.stop().await;
}

#[tokio::test]
async fn the_grpc_port_also_serves_services_the_binary_adds() {
    let store = Arc::new(spoor_storage::MemoryStore::new());
    let metrics = Arc::new(spoor_collector::CollectorMetrics::unregistered());
    let pipeline = Arc::new(spoor_collector::Pipeline::new(store, &PipelineConfig::default(), metrics));
    let config = JaegerConfig {
        grpc_host_port: "127.0.0.1:0".into(),
        thrift_http_host_port: String::new(),
        ..JaegerConfig::default()
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(spoor_collector::jaeger::COLLECTOR_SERVICE_NAME, tonic_health::ServingStatus::Serving)
        .await;
    let server = spoor_collector::JaegerServer::bind(config, pipeline).await.unwrap().with_grpc_service(health_service);
    let address = server.grpc_local_addr().unwrap();
    assert!(server.thrift_http_local_addr().is_none(), "an empty host_port leaves Thrift HTTP off");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));

    let channel = Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    let mut health_client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let answer = health_client
        .check(tonic_health::pb::HealthCheckRequest { service: "jaeger.api_v2.CollectorService".into() })
        .await
        .expect("health on the same port");
    assert_eq!(answer.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    CollectorServiceClient::new(channel).post_spans(request(fixture_batch())).await.expect("PostSpans beside it");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving).await.expect("stops").unwrap().unwrap();
}

#[tokio::test]
async fn post_spans_over_ipv6_loopback() {
    if !receivers::ipv6_loopback_available() {
        return;
    }
    let receivers = Receivers::start_with(Options::on("[::1]")).await;
    let address = receivers.jaeger_grpc.unwrap();
    assert!(address.is_ipv6(), "{address}");
    client(address).await.post_spans(request(fixture_batch())).await.expect("PostSpans over [::1]");
    assert_eq!(receivers.stored(fixture_trace_id()).await.len(), 3);
    receivers.stop().await;
}

/// Posts raw message bytes (for messages the typed client cannot build).
async fn raw_post_spans(address: std::net::SocketAddr, message: Vec<u8>) -> Result<(), tonic::Status> {
    use bytes::{Buf, BufMut};
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Default)]
    struct RawCodec;
    struct RawEncoder;
    struct EmptyDecoder;
    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = RawEncoder;
        type Decoder = EmptyDecoder;
        fn encoder(&mut self) -> Self::Encoder {
            RawEncoder
        }
        fn decoder(&mut self) -> Self::Decoder {
            EmptyDecoder
        }
    }
    impl Encoder for RawEncoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }
    impl Decoder for EmptyDecoder {
        type Item = ();
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
            src.advance(src.remaining());
            Ok(Some(()))
        }
    }

    let channel = Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/jaeger.api_v2.CollectorService/PostSpans");
    grpc.unary(tonic::Request::new(message), path, RawCodec).await.map(|_| ())
}
