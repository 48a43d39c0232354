//! Recorded Envoy/Istio sidecar requests (integrations.md §1.3-1.4), replayed byte for byte over
//! one keep-alive TCP connection, as Envoy's `zipkin` cluster sends them: HTTP/1.1, `Host:
//! zipkin`, chunked bodies (one gzip-compressed), string and exponent timestamps, 64- and 128-bit
//! trace ids, and a client and server span sharing one span id. Each must be answered 202 (the
//! only status Envoy counts as sent) and stored as the model crate's golden files say.
//!
//! The request files are written by `tests/fixtures/envoy/generate.py`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod receivers;

use std::io::Read;

use receivers::{assert_same_spans, expected_spans, fixture_path, model_golden, Receivers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// (request file, the golden input its body carries, the golden model spans)
const RECORDED: [(&str, &str, &str); 3] = [
    (
        "envoy/envoy_1_12_string_timestamps.http",
        "zipkin/envoy_1_12_string_timestamps.v2.json",
        "zipkin/envoy_1_12_string_timestamps.model.json",
    ),
    (
        "envoy/envoy_1_13_exponent_timestamps_gzip.http",
        "zipkin/envoy_1_13_exponent_timestamps.v2.json",
        "zipkin/envoy_1_13_exponent_timestamps.model.json",
    ),
    (
        "envoy/envoy_shared_span_ids.http",
        "zipkin/envoy_shared_span_ids.v2.json",
        "zipkin/envoy_shared_span_ids.model.json",
    ),
];

fn recorded_request(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The body of a recorded request: de-chunked and, when it says gzip, inflated.
fn recorded_body(request: &[u8]) -> Vec<u8> {
    let split = request.windows(4).position(|window| window == b"\r\n\r\n").expect("request head");
    let head = String::from_utf8_lossy(&request[..split]).to_ascii_lowercase();
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "recorded requests are chunked");
    let mut rest = &request[split + 4..];
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|window| window == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    if head.contains("\r\ncontent-encoding: gzip") {
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut inflated).unwrap();
        return inflated;
    }
    body
}

/// Reads one response (head and a `Content-Length` body) from a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).await.expect("read response");
        assert_eq!(read, 1, "connection closed mid-response: {}", String::from_utf8_lossy(&raw));
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("status");
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, value)| value.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn recorded_requests_carry_the_golden_inputs() {
    for (request, input, _) in RECORDED {
        assert_eq!(
            recorded_body(&recorded_request(request)),
            model_golden(input),
            "{request} no longer carries {input}; rerun tests/fixtures/envoy/generate.py"
        );
    }
}

#[tokio::test]
async fn recorded_envoy_requests_are_answered_202_on_one_connection_and_stored_as_specified() {
    let receivers = Receivers::start().await;
    let mut stream = TcpStream::connect(receivers.zipkin.unwrap()).await.expect("connect");
    for (request, _, golden) in RECORDED {
        stream.write_all(&recorded_request(request)).await.unwrap();
        let (status, head, body) = read_response(&mut stream).await;
        assert_eq!(status, 202, "{request}: {head}{body}");
        let expected = expected_spans(golden);
        let stored = receivers.stored(expected[0].trace_id).await;
        assert_same_spans(&stored, &expected, request);
    }

    // What Kiali and Jaeger's UI rely on (integrations.md §1.4): span.kind from `kind`, string
    // tags kept as strings, the sidecar's service name, both halves of a shared span id.
    let shared = expected_spans("zipkin/envoy_shared_span_ids.model.json");
    let stored = receivers.stored(shared[0].trace_id).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].span_id, stored[1].span_id);
    let kinds: Vec<String> =
        stored.iter().map(|span| span.tag("span.kind").unwrap().as_string().into_owned()).collect();
    assert!(kinds.contains(&"client".to_owned()) && kinds.contains(&"server".to_owned()), "{kinds:?}");
    let exponent = expected_spans("zipkin/envoy_1_13_exponent_timestamps.model.json");
    let stored = receivers.stored(exponent[0].trace_id).await;
    assert!(!stored[0].trace_id.is_64bit(), "128-bit trace id kept");
    assert!(stored
        .iter()
        .any(|span| span.tag("error").map(|value| value.as_string().into_owned()) == Some("true".into())));
    assert!(stored.iter().all(|span| span.start_time_unix_nano > 1_582_662_767_000_000_000));
    assert!(receivers.metrics_text().contains(
        r#"jaeger_collector_spans_received_total{format="zipkin",transport="http",svc="productpage.bookinfo",debug="false"}"#
    ));
    receivers.stop().await;
}
