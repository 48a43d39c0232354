//! Jaeger Thrift over HTTP (`POST /api/traces`, 14268), driven by a plain HTTP/1.1 client over
//! TCP against a receiver on loopback port 0 writing into a `MemoryStore`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;
mod receivers;

use std::net::SocketAddr;
use std::time::Duration;

use common::{gzip, http_request, HttpResponse};
use receivers::{
    assert_same_spans, expected_spans, fixture_trace_id, model_corpus, model_golden_hex, Options, Receivers,
};
use spoor_collector::{JaegerConfig, PipelineConfig, Transport};
use spoor_model::thrift::{decode_batch_binary, encode_batch_binary, spans_from_thrift_batch};
use spoor_model::{SpanBatch, TraceId};

const THRIFT: &str = "application/x-thrift";

/// The fixture trace as a `POST /api/traces` body (TBinaryProtocol `Batch`).
fn fixture_body() -> Vec<u8> {
    model_golden_hex("thrift/trace.batch.binary.hex")
}

/// The fixture batch moved to another trace id, so two posts are two traces.
fn body_for_trace(trace_low: i64) -> Vec<u8> {
    let mut batch = decode_batch_binary(&fixture_body()).unwrap();
    for span in &mut batch.spans {
        span.trace_id_high = 0;
        span.trace_id_low = trace_low;
    }
    encode_batch_binary(&batch).unwrap()
}

async fn post(address: SocketAddr, content_type: &str, body: &[u8]) -> HttpResponse {
    http_request(address, "POST", "/api/traces", &[("Content-Type", content_type)], body).await
}

#[tokio::test]
async fn both_thrift_content_types_store_the_fixture_trace_and_answer_202_with_no_body() {
    let receivers = Receivers::start().await;
    let address = receivers.jaeger_http.unwrap();
    let expected = expected_spans("thrift/trace.model.json");
    for content_type in [THRIFT, "application/vnd.apache.thrift.binary", "Application/X-Thrift; charset=binary"] {
        let response = post(address, content_type, &fixture_body()).await;
        assert_eq!(response.status, 202, "{content_type}: {}", response.text());
        assert!(response.body.is_empty(), "{content_type}: {:?}", response.text());
        // Writes are idempotent: the same trace posted again is still three spans.
        assert_same_spans(&receivers.stored(fixture_trace_id()).await, &expected, content_type);
    }
    assert!(receivers.metrics_text().contains(
        r#"jaeger_collector_spans_received_total{format="jaeger",transport="http",svc="checkout",debug="false"} 9"#
    ));
    receivers.stop().await;
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_stored() {
    let receivers = Receivers::start().await;
    let address = receivers.jaeger_http.unwrap();
    let headers = [("Content-Type", THRIFT), ("Content-Encoding", "gzip")];
    let response = http_request(address, "POST", "/api/traces", &headers, &gzip(&body_for_trace(1))).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(receivers.stored(TraceId::new(0, 1)).await.len(), 3);

    let mut deflater = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut deflater, &body_for_trace(2)).unwrap();
    let headers = [("Content-Type", THRIFT), ("Content-Encoding", "deflate")];
    let response = http_request(address, "POST", "/api/traces", &headers, &deflater.finish().unwrap()).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(receivers.stored(TraceId::new(0, 2)).await.len(), 3);
    receivers.stop().await;
}

#[tokio::test]
async fn other_content_types_are_400_unsupported_content_type() {
    let receivers = Receivers::start().await;
    let address = receivers.jaeger_http.unwrap();
    for content_type in ["application/json", "application/x-protobuf", ""] {
        let response = post(address, content_type, &fixture_body()).await;
        assert_eq!(response.status, 400, "{content_type}");
        let text = response.text();
        assert!(text.starts_with(&format!("Unsupported content type: {content_type}")), "{text}");
        assert!(text.contains("application/x-thrift"), "{text}");
    }
    assert!(receivers.stored(fixture_trace_id()).await.is_empty());
    receivers.stop().await;
}

#[tokio::test]
async fn undecodable_bodies_are_400_naming_the_problem() {
    let receivers = Receivers::start().await;
    let address = receivers.jaeger_http.unwrap();
    let body = fixture_body();
    let truncated = post(address, THRIFT, &body[..body.len() / 2]).await;
    assert_eq!(truncated.status, 400);
    assert!(truncated.text().contains("malformed Jaeger Thrift Batch"), "{}", truncated.text());
    assert!(truncated.text().contains("truncated"), "{}", truncated.text());

    // A batch in the compact protocol is not what /api/traces takes.
    let compact = post(address, THRIFT, &model_golden_hex("thrift/trace.batch.compact.hex")).await;
    assert_eq!(compact.status, 400, "{}", compact.text());

    let corrupt_gzip = http_request(
        address,
        "POST",
        "/api/traces",
        &[("Content-Type", THRIFT), ("Content-Encoding", "gzip")],
        b"not gzip",
    )
    .await;
    assert_eq!(corrupt_gzip.status, 400);
    assert!(corrupt_gzip.text().contains("gzip"), "{}", corrupt_gzip.text());
    assert!(receivers.stored(fixture_trace_id()).await.is_empty());
    receivers.stop().await;
}

#[tokio::test]
async fn every_body_of_the_malformed_corpus_is_400_and_the_receiver_keeps_serving() {
    let receivers = Receivers::start().await;
    let address = receivers.jaeger_http.unwrap();
    for (name, body) in model_corpus("thrift_batch_binary") {
        let response = post(address, THRIFT, &body).await;
        assert_eq!(response.status, 400, "{name}: {}", response.text());
        assert!(response.text().contains("Jaeger Thrift"), "{name}: {}", response.text());
    }
    assert_eq!(post(address, THRIFT, &fixture_body()).await.status, 202);
    receivers.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_whether_declared_chunked_or_inflated() {
    let mut options = Options::local();
    options.jaeger = JaegerConfig { http_max_request_bytes: 256, ..options.jaeger };
    let receivers = Receivers::start_with(options).await;
    let address = receivers.jaeger_http.unwrap();

    let declared = [("Content-Type", THRIFT), ("Content-Length", "100000")];
    let response = http_request(address, "POST", "/api/traces", &declared, b"").await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(response.text().contains("256"), "{}", response.text());

    let body = fixture_body();
    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let headers = [("Content-Type", THRIFT), ("Transfer-Encoding", "chunked")];
    let response = http_request(address, "POST", "/api/traces", &headers, &chunked).await;
    assert_eq!(response.status, 413, "{}", response.text());

    let bomb = gzip(&vec![0u8; 32 * 1024]);
    assert!(bomb.len() < 256);
    let headers = [("Content-Type", THRIFT), ("Content-Encoding", "gzip")];
    let response = http_request(address, "POST", "/api/traces", &headers, &bomb).await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(response.text().contains("after decompression"), "{}", response.text());
    receivers.stop().await;
}

#[tokio::test]
async fn overload_is_429_with_retry_after_and_nothing_acknowledged_is_lost() {
    let fixture = spans_from_thrift_batch(decode_batch_binary(&fixture_body()).unwrap());
    let one_batch = SpanBatch::new(fixture).estimated_size();
    let mut options = Options::local();
    options.pipeline = PipelineConfig { max_inflight_bytes: one_batch * 3 / 2, ..PipelineConfig::default() };
    options.gate_open = false;
    let receivers = Receivers::start_with(options).await;
    let address = receivers.jaeger_http.unwrap();

    let first = tokio::spawn(async move { post(address, THRIFT, &fixture_body()).await });
    while receivers.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let refused = post(address, THRIFT, &body_for_trace(7)).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(refused.text().contains("overloaded"), "{}", refused.text());
    assert_eq!(receivers.pipeline.metrics().overload_rejections(Transport::Http), 1);

    receivers.open_gate();
    assert_eq!(first.await.unwrap().status, 202);
    assert_eq!(receivers.stored(fixture_trace_id()).await.len(), 3, "every acknowledged span is stored");
    assert!(receivers.stored(TraceId::new(0, 7)).await.is_empty());
    assert_eq!(post(address, THRIFT, &body_for_trace(7)).await.status, 202, "accepted once there is room");
    receivers.stop().await;
}

#[tokio::test]
async fn other_methods_and_paths_are_refused_and_the_query_is_ignored() {
    let receivers = Receivers::start().await;
    let address = receivers.jaeger_http.unwrap();
    let get = http_request(address, "GET", "/api/traces", &[], b"").await;
    assert_eq!(get.status, 405);
    let elsewhere = http_request(address, "POST", "/api/spans", &[("Content-Type", THRIFT)], &fixture_body()).await;
    assert_eq!(elsewhere.status, 404);
    // Clients conventionally add ?format=jaeger.thrift; the query is not looked at.
    let with_query = [("Content-Type", THRIFT)];
    let response =
        http_request(address, "POST", "/api/traces?format=jaeger.thrift", &with_query, &fixture_body()).await;
    assert_eq!(response.status, 202, "{}", response.text());
    receivers.stop().await;
}

#[tokio::test]
async fn the_thrift_http_port_also_serves_routes_the_binary_merges() {
    let store = std::sync::Arc::new(spoor_storage::MemoryStore::new());
    let metrics = std::sync::Arc::new(spoor_collector::CollectorMetrics::unregistered());
    let pipeline = std::sync::Arc::new(spoor_collector::Pipeline::new(store, &PipelineConfig::default(), metrics));
    let config = JaegerConfig {
        grpc_host_port: String::new(),
        thrift_http_host_port: "127.0.0.1:0".into(),
        ..JaegerConfig::default()
    };
    let sampling = axum::Router::new().route("/api/sampling", axum::routing::get(|| async { "{\"strategyType\":0}" }));
    let server = spoor_collector::JaegerServer::bind(config, pipeline).await.unwrap().with_http_router(sampling);
    let address = server.thrift_http_local_addr().unwrap();
    assert!(server.grpc_local_addr().is_none(), "an empty host_port leaves gRPC off");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    let sampling = http_request(address, "GET", "/api/sampling?service=checkout", &[], b"").await;
    assert_eq!((sampling.status, sampling.text().as_str()), (200, "{\"strategyType\":0}"));
    assert_eq!(post(address, THRIFT, &fixture_body()).await.status, 202);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving).await.expect("stops").unwrap().unwrap();
}

#[tokio::test]
async fn thrift_http_over_ipv6_loopback() {
    if !receivers::ipv6_loopback_available() {
        return;
    }
    let receivers = Receivers::start_with(Options::on("[::1]")).await;
    let address = receivers.jaeger_http.unwrap();
    assert!(address.is_ipv6(), "{address}");
    let response = post(address, THRIFT, &fixture_body()).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(receivers.stored(fixture_trace_id()).await.len(), 3);
    receivers.stop().await;
}
