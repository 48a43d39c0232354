//! OTLP/HTTP receiver, driven by a plain HTTP/1.1 client over TCP against a server on 127.0.0.1:0.

mod common;

use std::time::Duration;

use common::{gzip, http_request, otlp_span, post, request, request_with, trace_id, TestCollector};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use spoor_collector::rpc_status::RpcStatus;
use spoor_collector::sanitizer::WARNING_INVALID_UTF8;
use spoor_collector::{OtlpConfig, PipelineConfig, Transport};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[tokio::test]
async fn http_protobuf_export_is_stored_and_answered_in_protobuf() {
    let collector = TestCollector::start().await;
    let response = post(collector.http, PROTOBUF, &request(1, 3).encode_to_vec()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some(PROTOBUF));
    let answer = ExportTraceServiceResponse::decode(response.body.as_slice()).expect("protobuf response");
    assert_eq!(answer.partial_success, None);
    assert_eq!(collector.stored(trace_id(1)).await.len(), 3);
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_json_export_is_stored_and_answered_in_json() {
    let collector = TestCollector::start().await;
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"frontend"}}]},
        "scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"ABABABABABABABABABABABABABABAB02",
        "spanId":"0000000000000001","name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000",
        "endTimeUnixNano":1700000000000001000,"attributes":[{"key":"http.status_code","value":{"intValue":"200"}}]}]}]}]}"#;
    let response = post(collector.http, JSON, body.as_bytes()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some(JSON));
    assert_eq!(response.text(), "{}");
    let stored = collector.stored(trace_id(2)).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].service_name(), "frontend");
    assert_eq!(stored[0].duration_nanos, 1000);
    assert_eq!(stored[0].tag("http.status_code"), Some(&spoor_model::AttributeValue::Int64(200)));
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_gzip_and_deflate_bodies_are_stored() {
    let collector = TestCollector::start().await;
    let gzipped = gzip(&request(3, 2).encode_to_vec());
    let headers = [("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")];
    let response = http_request(collector.http, "POST", "/v1/traces", &headers, &gzipped).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(collector.stored(trace_id(3)).await.len(), 2);

    let mut deflater = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut deflater, &request(4, 2).encode_to_vec()).unwrap();
    let headers = [("Content-Type", PROTOBUF), ("Content-Encoding", "deflate")];
    let response = http_request(collector.http, "POST", "/v1/traces", &headers, &deflater.finish().unwrap()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(collector.stored(trace_id(4)).await.len(), 2);
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_truncated_protobuf_is_400_with_a_status_naming_the_problem() {
    let collector = TestCollector::start().await;
    let bytes = request(5, 3).encode_to_vec();
    let response = post(collector.http, PROTOBUF, &bytes[..bytes.len() - 7]).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.header("content-type"), Some(PROTOBUF));
    let status = RpcStatus::decode(response.body.as_slice()).expect("google.rpc.Status body");
    assert_eq!(status.code, tonic::Code::InvalidArgument as i32);
    assert!(status.message.contains("malformed OTLP protobuf"), "{}", status.message);
    assert!(status.message.contains("buffer underflow"), "{}", status.message);
    assert!(collector.stored(trace_id(5)).await.is_empty());
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_bad_json_is_400_naming_line_and_column() {
    let collector = TestCollector::start().await;
    let response = post(collector.http, JSON, br#"{"resourceSpans": [ {"scopeSpans": 5} ]"#).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.header("content-type"), Some(JSON));
    let status: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON status");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("malformed OTLP/JSON") && message.contains("line 1 column"), "{message}");
    assert_eq!(status["code"], tonic::Code::InvalidArgument as i32);
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_wrong_content_type_is_400_naming_the_accepted_types() {
    let collector = TestCollector::start().await;
    let response = post(collector.http, "text/plain", b"hello").await;
    assert_eq!(response.status, 400);
    let text = response.text();
    assert!(text.contains("text/plain") && text.contains(PROTOBUF) && text.contains(JSON), "{text}");
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_body_over_the_limit_is_413_whether_sent_or_inflated() {
    let otlp = OtlpConfig { http_max_request_bytes: 4096, ..common::local_otlp_config() };
    let collector = TestCollector::start_with(otlp, PipelineConfig::default(), true).await;

    // A declared length over the limit is refused before the body is read (so none is sent: a
    // server closing on unread bytes would reset the connection under the response).
    let declared = [("Content-Type", PROTOBUF), ("Content-Length", "1000000")];
    let response = http_request(collector.http, "POST", "/v1/traces", &declared, b"").await;
    assert_eq!(response.status, 413, "{}", response.text());
    let status = RpcStatus::decode(response.body.as_slice()).unwrap();
    assert_eq!(status.code, tonic::Code::ResourceExhausted as i32);
    assert!(status.message.contains("4096"), "{}", status.message);

    // Without Content-Length (chunked), the limit holds while reading.
    let large = &request(6, 200).encode_to_vec()[..5000];
    let headers = [("Content-Type", PROTOBUF), ("Transfer-Encoding", "chunked")];
    let mut chunked = format!("{:x}\r\n", large.len()).into_bytes();
    chunked.extend_from_slice(large);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let response = http_request(collector.http, "POST", "/v1/traces", &headers, &chunked).await;
    assert_eq!(response.status, 413, "{}", response.text());

    let bomb = gzip(&vec![0u8; 256 * 1024]);
    assert!(bomb.len() < 4096);
    let headers = [("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")];
    let response = http_request(collector.http, "POST", "/v1/traces", &headers, &bomb).await;
    assert_eq!(response.status, 413, "{}", response.text());
    let status = RpcStatus::decode(response.body.as_slice()).unwrap();
    assert!(status.message.contains("after decompression"), "{}", status.message);
    assert!(collector.stored(trace_id(6)).await.is_empty());
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_overload_is_429_with_retry_after_counted_and_nothing_acknowledged_is_lost() {
    let one_batch = spoor_model::SpanBatch::new(spoor_model::otlp::spans_from_otlp_request(request(7, 4)).spans);
    let pipeline =
        PipelineConfig { max_inflight_bytes: one_batch.estimated_size() * 3 / 2, ..PipelineConfig::default() };
    let collector = TestCollector::start_with(common::local_otlp_config(), pipeline, false).await;

    let http = collector.http;
    let first = tokio::spawn(async move { post(http, PROTOBUF, &request(7, 4).encode_to_vec()).await });
    while collector.pipeline.inflight_bytes() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(collector.metrics_text().contains("jaeger_collector_queue_length 4"));

    let refused = post(collector.http, JSON, &serde_json_request(8)).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    let status: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert_eq!(status["details"][0]["retryDelay"], "1s");
    assert_eq!(collector.pipeline.metrics().overload_rejections(Transport::Http), 1);
    assert!(collector.metrics_text().contains(r#"spoor_collector_overload_rejections_total{transport="http"} 1"#));
    assert!(collector.metrics_text().contains(
        r#"jaeger_collector_spans_rejected_total{format="otlp",transport="http",svc="checkout",debug="false"} 4"#
    ));

    collector.open_gate();
    let acknowledged = first.await.unwrap();
    assert_eq!(acknowledged.status, 200);
    assert_eq!(collector.stored(trace_id(7)).await.len(), 4, "every acknowledged span is stored");
    assert!(collector.stored(trace_id(8)).await.is_empty());
    assert!(collector.metrics_text().contains("spoor_collector_inflight_bytes 0"));

    // Once the budget is free again the refused batch goes through on retry.
    let retried = post(collector.http, JSON, &serde_json_request(8)).await;
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(collector.stored(trace_id(8)).await.len(), 4);
    collector.stop().await.unwrap();
}

/// The JSON form of `request(trace_index, 4)`, written by the derives of opentelemetry-proto.
fn serde_json_request(trace_index: u8) -> Vec<u8> {
    serde_json::to_vec(&request(trace_index, 4)).expect("serializable")
}

#[tokio::test]
async fn http_partial_success_counts_and_names_rejected_spans() {
    let collector = TestCollector::start().await;
    let mut no_span_id = otlp_span(9, 1, "bad");
    no_span_id.span_id = vec![];
    let body = serde_json::to_vec(&request_with("checkout", vec![otlp_span(9, 0, "good"), no_span_id])).unwrap();
    let response = post(collector.http, JSON, &body).await;
    assert_eq!(response.status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("span_id must be 8 bytes, got 0"), "{message}");
    assert_eq!(collector.stored(trace_id(9)).await.len(), 1);
    collector.stop().await.unwrap();
}

fn request_with_invalid_utf8() -> Vec<u8> {
    let mut span = otlp_span(10, 0, "GET /");
    span.attributes.push(common::attribute("user_agent", "MARK-curl"));
    let mut bytes = request_with("checkout", vec![span]).encode_to_vec();
    let at = bytes.windows(4).position(|window| window == b"MARK").expect("marker encoded");
    bytes[at] = 0xc3; // a lone UTF-8 lead byte
    bytes
}

#[tokio::test]
async fn http_invalid_utf8_is_repaired_and_warned_about_on_the_span() {
    let collector = TestCollector::start().await;
    let response = post(collector.http, PROTOBUF, &request_with_invalid_utf8()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let stored = collector.stored(trace_id(10)).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].warnings, vec![WARNING_INVALID_UTF8.to_owned()]);
    let user_agent = stored[0].tag("user_agent").unwrap().as_string().into_owned();
    assert_eq!(user_agent, "\u{fffd}ARK-curl");
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_invalid_utf8_is_400_naming_utf8_when_repair_is_off() {
    let otlp = OtlpConfig { lenient_utf8: false, ..common::local_otlp_config() };
    let collector = TestCollector::start_with(otlp, PipelineConfig::default(), true).await;
    let response = post(collector.http, PROTOBUF, &request_with_invalid_utf8()).await;
    assert_eq!(response.status, 400);
    let status = RpcStatus::decode(response.body.as_slice()).unwrap();
    assert!(status.message.contains("UTF-8"), "{}", status.message);
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_empty_request_is_a_full_success() {
    let collector = TestCollector::start().await;
    let response = post(collector.http, JSON, b"{}").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "{}");
    collector.stop().await.unwrap();
}

#[tokio::test]
async fn http_other_methods_and_paths_are_refused() {
    let collector = TestCollector::start().await;
    let get = http_request(collector.http, "GET", "/v1/traces", &[], b"").await;
    assert_eq!(get.status, 405);
    let metrics = post_to(collector.http, "/v1/metrics").await;
    assert_eq!(metrics, 404);
    collector.stop().await.unwrap();
}

async fn post_to(address: std::net::SocketAddr, path: &str) -> u16 {
    http_request(address, "POST", path, &[("Content-Type", PROTOBUF)], b"").await.status
}
