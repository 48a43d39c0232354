//! The Zipkin receiver (9411): v1 and v2, JSON, Thrift and protobuf, driven by a plain HTTP/1.1
//! client over TCP against a receiver on loopback port 0 writing into a `MemoryStore`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;
mod receivers;

use std::net::SocketAddr;
use std::time::Duration;

use common::{gzip, http_request, HttpResponse};
use receivers::{
    assert_same_spans, expected_spans, fixture_trace_id, model_corpus, model_golden, model_golden_hex, Options,
    Receivers,
};
use spoor_collector::{PipelineConfig, Transport, ZipkinConfig};
use spoor_model::{TraceId, FLAG_DEBUG};

const JSON: &str = "application/json";
const THRIFT: &str = "application/x-thrift";
const PROTOBUF: &str = "application/x-protobuf";

async fn post(address: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http_request(address, "POST", path, headers, body).await
}

/// (what, path, content type, body, the golden model spans it must store)
fn fixture_requests() -> Vec<(&'static str, &'static str, &'static str, Vec<u8>, &'static str)> {
    vec![
        ("v2 JSON", "/api/v2/spans", JSON, model_golden("zipkin/trace.v2.json"), "zipkin/trace.v2.model.json"),
        (
            "v2 protobuf",
            "/api/v2/spans",
            PROTOBUF,
            model_golden_hex("zipkin/trace.v2.proto.hex"),
            "zipkin/trace.v2.model.json",
        ),
        ("v1 JSON", "/api/v1/spans", JSON, model_golden("zipkin/trace.v1.json"), "zipkin/trace.v1.model.json"),
        (
            "v1 Thrift",
            "/api/v1/spans",
            THRIFT,
            model_golden_hex("zipkin/trace.v1.thrift.hex"),
            "zipkin/trace.v1.model.json",
        ),
    ]
}

#[tokio::test]
async fn every_zipkin_encoding_stores_the_fixture_trace_and_answers_202() {
    for (what, path, content_type, body, golden) in fixture_requests() {
        let receivers = Receivers::start().await;
        let response = post(receivers.zipkin.unwrap(), path, &[("Content-Type", content_type)], &body).await;
        assert_eq!(response.status, 202, "{what}: {}", response.text());
        assert!(response.body.is_empty(), "{what}: {:?}", response.text());
        assert_same_spans(&receivers.stored(fixture_trace_id()).await, &expected_spans(golden), what);
        assert!(
            receivers.metrics_text().contains(r#"jaeger_collector_spans_received_total{format="zipkin",transport="http",svc="checkout",debug="false"}"#),
            "{what}"
        );
        receivers.stop().await;
    }
}

#[tokio::test]
async fn gzip_deflate_and_chunked_bodies_are_stored() {
    let receivers = Receivers::start().await;
    let address = receivers.zipkin.unwrap();
    let expected = expected_spans("zipkin/trace.v2.model.json");
    let body = model_golden("zipkin/trace.v2.json");

    let gzipped =
        post(address, "/api/v2/spans", &[("Content-Type", JSON), ("Content-Encoding", "gzip")], &gzip(&body)).await;
    assert_eq!(gzipped.status, 202, "{}", gzipped.text());
    assert_same_spans(&receivers.stored(fixture_trace_id()).await, &expected, "gzip");

    let mut deflater = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut deflater, &body).unwrap();
    let deflated = deflater.finish().unwrap();
    let response =
        post(address, "/api/v2/spans", &[("Content-Type", JSON), ("Content-Encoding", "deflate")], &deflated).await;
    assert_eq!(response.status, 202, "{}", response.text());

    let mut chunked = Vec::new();
    for chunk in body.chunks(100) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let headers = [("Content-Type", JSON), ("Transfer-Encoding", "chunked")];
    let response = post(address, "/api/v2/spans", &headers, &chunked).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_same_spans(&receivers.stored(fixture_trace_id()).await, &expected, "idempotent re-sends");
    receivers.stop().await;
}

#[tokio::test]
async fn b3_flags_1_on_protobuf_marks_every_span_debug() {
    let receivers = Receivers::start().await;
    let headers = [("Content-Type", PROTOBUF), ("X-B3-Flags", "1")];
    let response =
        post(receivers.zipkin.unwrap(), "/api/v2/spans", &headers, &model_golden_hex("zipkin/trace.v2.proto.hex"))
            .await;
    assert_eq!(response.status, 202, "{}", response.text());
    let stored = receivers.stored(fixture_trace_id()).await;
    assert_eq!(stored.len(), 3);
    assert!(
        stored.iter().all(|span| span.flags & FLAG_DEBUG != 0),
        "{:?}",
        stored.iter().map(|s| s.flags).collect::<Vec<_>>()
    );
    assert!(receivers.metrics_text().contains(
        r#"jaeger_collector_spans_received_total{format="zipkin",transport="http",svc="checkout",debug="true"} 3"#
    ));
    receivers.stop().await;
}

#[tokio::test]
async fn decode_errors_are_400_with_a_plain_text_message_naming_the_problem() {
    let receivers = Receivers::start().await;
    let address = receivers.zipkin.unwrap();
    let cases: [(&str, &str, &[u8], &str); 5] = [
        ("/api/v2/spans", JSON, br#"[{"traceId":"1","id":"xyz"}]"#, "span 0"),
        ("/api/v2/spans", JSON, b"{\"traceId\":", "v2 JSON"),
        ("/api/v2/spans", PROTOBUF, b"\x0a\xff\xff\xff", "v2 protobuf"),
        ("/api/v1/spans", JSON, b"[{]", "v1 JSON"),
        ("/api/v1/spans", THRIFT, b"\x0c\x00\x00\x00\x05", "v1 Thrift"),
    ];
    for (path, content_type, body, named) in cases {
        let response = post(address, path, &[("Content-Type", content_type)], body).await;
        assert_eq!(response.status, 400, "{path} {content_type}: {}", response.text());
        assert!(response.header("content-type").is_some_and(|value| value.starts_with("text/plain")));
        let text = response.text();
        assert!(text.contains("Zipkin") && text.contains(named), "{path} {content_type}: {text}");
    }
    receivers.stop().await;
}

#[tokio::test]
async fn every_body_of_the_malformed_corpus_is_refused_or_stored_never_a_server_error() {
    let receivers = Receivers::start().await;
    let address = receivers.zipkin.unwrap();
    let corpora = [
        ("zipkin_v2_json", "/api/v2/spans", JSON),
        ("zipkin_v2_proto", "/api/v2/spans", PROTOBUF),
        ("zipkin_v1_json", "/api/v1/spans", JSON),
        ("zipkin_v1_thrift", "/api/v1/spans", THRIFT),
    ];
    let mut refused = 0;
    for (folder, path, content_type) in corpora {
        for (name, body) in model_corpus(folder) {
            let response = post(address, path, &[("Content-Type", content_type)], &body).await;
            // A few corpus entries are odd but usable (stored with a warning on the span).
            assert!(matches!(response.status, 202 | 400), "{folder}/{name}: {} {}", response.status, response.text());
            refused += usize::from(response.status == 400);
        }
    }
    assert!(refused > 30, "most of the corpus is refused, {refused} were");
    let response =
        post(address, "/api/v2/spans", &[("Content-Type", JSON)], &model_golden("zipkin/trace.v2.json")).await;
    assert_eq!(response.status, 202, "still serving");
    receivers.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let mut options = Options::local();
    options.zipkin = ZipkinConfig { http_max_request_bytes: 300, ..options.zipkin };
    let receivers = Receivers::start_with(options).await;
    let address = receivers.zipkin.unwrap();
    let body = model_golden("zipkin/trace.v2.json");
    let response = post(address, "/api/v2/spans", &[("Content-Type", JSON)], &body).await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(response.text().contains("300"), "{}", response.text());
    let bomb = gzip(&vec![b' '; 32 * 1024]);
    let response = post(address, "/api/v2/spans", &[("Content-Type", JSON), ("Content-Encoding", "gzip")], &bomb).await;
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(response.text().contains("after decompression"), "{}", response.text());
    receivers.stop().await;
}

#[tokio::test]
async fn overload_is_429_with_retry_after_and_nothing_acknowledged_is_lost() {
    let spans = spoor_model::zipkin::spans_from_v2_json(&model_golden("zipkin/trace.v2.json")).unwrap();
    let one_batch = spoor_model::SpanBatch::new(spans).estimated_size();
    let mut options = Options::local();
    options.pipeline = PipelineConfig { max_inflight_bytes: one_batch * 3 / 2, ..PipelineConfig::default() };
    options.gate_open = false;
    let receivers = Receivers::start_with(options).await;
    let address = receivers.zipkin.unwrap();

    let first = tokio::spawn(async move {
        post(address, "/api/v2/spans", &[("Content-Type", JSON)], &model_golden("zipkin/trace.v2.json")).await
    });
    while receivers.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let other = String::from_utf8(model_golden("zipkin/trace.v2.json"))
        .unwrap()
        .replace("463ac35c9f6413ad48485a3953bb6124", "00000000000000000000000000000007");
    let refused = post(address, "/api/v2/spans", &[("Content-Type", JSON)], other.as_bytes()).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(receivers.pipeline.metrics().overload_rejections(Transport::Http), 1);

    receivers.open_gate();
    assert_eq!(first.await.unwrap().status, 202);
    assert_eq!(receivers.stored(fixture_trace_id()).await.len(), 3, "every acknowledged span is stored");
    assert!(receivers.stored(TraceId::new(0, 7)).await.is_empty());
    receivers.stop().await;
}

#[tokio::test]
async fn any_path_is_accepted_and_only_post_is_allowed() {
    let receivers = Receivers::start().await;
    let address = receivers.zipkin.unwrap();
    let body = model_golden("zipkin/trace.v1.json");
    let response = post(address, "/zipkin/api/v1/spans", &[("Content-Type", JSON)], &body).await;
    assert_eq!(response.status, 202, "any path containing api/v1/spans is v1: {}", response.text());
    let response = post(address, "/", &[("Content-Type", JSON)], &model_golden("zipkin/trace.v2.json")).await;
    assert_eq!(response.status, 202, "every other path is v2: {}", response.text());
    let get = http_request(address, "GET", "/api/v2/spans", &[], b"").await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
    receivers.stop().await;
}

#[tokio::test]
async fn zipkin_over_ipv6_loopback() {
    if !receivers::ipv6_loopback_available() {
        return;
    }
    let receivers = Receivers::start_with(Options::on("[::1]")).await;
    let address = receivers.zipkin.unwrap();
    assert!(address.is_ipv6(), "{address}");
    let response =
        post(address, "/api/v2/spans", &[("Content-Type", JSON)], &model_golden("zipkin/trace.v2.json")).await;
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(receivers.stored(fixture_trace_id()).await.len(), 3);
    receivers.stop().await;
}
