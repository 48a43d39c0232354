//! Malformed input gets a clear 4xx naming the problem, the process stays up, and nothing stored
//! before is lost.

mod support;

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use support::otlp::trace_request;
use support::{http_post, http_post_tolerant, Spoor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clear_errors_and_break_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spoor = Spoor::start(&dir.path().join("data"), &["--collector.http-server.max-request-size", "64KiB"]);

    // Good data first.
    let mut client = TraceServiceClient::connect(spoor.otlp_grpc_endpoint()).await.expect("connect");
    client.export(trace_request("before-garbage", 0xabc, 3)).await.expect("export");

    let url = spoor.otlp_http_url();
    let protobuf = [("content-type", "application/x-protobuf")];
    let json = [("content-type", "application/json")];
    let good = trace_request("garbage-test", 0xdef, 2).encode_to_vec();

    let (status, body) = http_post(&url, &protobuf, &good[..good.len() / 2]);
    assert_eq!(status, 400, "truncated protobuf: {body}");
    assert!(body.to_lowercase().contains("protobuf") || body.to_lowercase().contains("decode"), "{body}");

    let (status, body) = http_post(&url, &json, br#"{"resourceSpans": [ {"#);
    assert_eq!(status, 400, "bad JSON: {body}");
    assert!(body.to_lowercase().contains("json"), "{body}");

    let (status, body) = http_post(&url, &[("content-type", "text/plain")], b"hello");
    assert_eq!(status, 400, "wrong content type: {body}");
    assert!(body.contains("application/x-protobuf") && body.contains("application/json"), "{body}");

    let host_port = format!("127.0.0.1:{}", spoor.ports.otlp_http);
    let (status, body) = http_post_tolerant(&host_port, "/v1/traces", &protobuf, &vec![0u8; 200 * 1024]);
    assert_eq!(status, 413, "body over the limit: {body}");

    // A gzip bomb: small on the wire, over the limit once inflated.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 1 << 20]).expect("gzip");
    let bomb = gz.finish().expect("gzip");
    let (status, body) =
        http_post(&url, &[("content-type", "application/x-protobuf"), ("content-encoding", "gzip")], &bomb);
    assert_eq!(status, 413, "inflated body over the limit: {body}");

    let (status, body) =
        http_post(&url, &[("content-type", "application/x-protobuf"), ("content-encoding", "gzip")], b"not gzip");
    assert!(status == 400 || status == 415, "corrupt gzip: {status} {body}");

    // Still up, and the data from before is intact; good requests still work.
    let (status, body) = http_post(&url, &protobuf, &good);
    assert_eq!(status, 200, "a good request after the garbage: {body}");
    let before = spoor.query_json("/api/traces/0000000000000abc");
    assert_eq!(before["data"][0]["spans"].as_array().map(Vec::len), Some(3), "{before}");
    let after = spoor.query_json("/api/traces/0000000000000def");
    assert_eq!(after["data"][0]["spans"].as_array().map(Vec::len), Some(2), "{after}");
}
