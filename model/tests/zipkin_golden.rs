//! Golden files for Zipkin: hand-written JSON fixtures (`golden/zipkin/*.json`: the shared trace in
//! v1 and v2 JSON, and Envoy-style v2 payloads from integrations.md §1.3-1.4), checked-in binary
//! encodings (`*.hex`: v2 protobuf, v1 Thrift), each with the model spans it must decode to
//! (`*.model.json`). And the cross-protocol check: the one logical trace stores the same through
//! Jaeger Thrift and every Zipkin format. Rerun with `SPOOR_BLESS=1` to rewrite, then review.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod support;
mod thrift_fixtures;

use prost::Message as _;
use spoor_model::thrift::spans_from_thrift_batch;
use spoor_model::zipkin::{
    encode_v1_thrift, proto3, spans_from_v1_json, spans_from_v1_thrift, spans_from_v2_json, spans_from_v2_proto,
};
use spoor_model::{AttributeValue, Span};
use support::{assert_golden, golden_path, pretty, read_golden};
use thrift_fixtures::{comparable, from_hex_text, jaeger_batch, to_hex_lines, zipkin_v1_spans};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(golden_path(name)).unwrap_or_else(|e| panic!("cannot read fixture {name}: {e}"))
}

/// Blesses (or checks) the encoding under `name`, then returns the checked-in bytes.
fn checked_in(name: &str, encoded: &[u8]) -> Vec<u8> {
    assert_golden(name, &to_hex_lines(encoded));
    from_hex_text(&read_golden(name))
}

/// The shared trace as Zipkin v2 protobuf, built from the same values as `trace.v2.json`.
fn trace_v2_proto() -> proto3::ListOfSpans {
    use proto3::span::Kind;
    let checkout =
        || proto3::Endpoint { service_name: "checkout".into(), ipv4: vec![10, 0, 0, 10], ipv6: vec![], port: 8080 };
    let tags = |pairs: &[(&str, &str)]| {
        let process = [("jaeger.version", "Go-2.30.0"), ("jaeger.hostname", "checkout-7d9f")];
        process
            .iter()
            .chain(pairs)
            .map(|(key, value)| proto3::Tag { key: (*key).into(), value: (*value).into() })
            .collect()
    };
    let trace_id = hex::decode("463ac35c9f6413ad48485a3953bb6124").unwrap();
    let id = |text: &str| hex::decode(text).unwrap();
    let t0: u64 = 1_700_000_000_000_000;
    let root = proto3::Span {
        trace_id: trace_id.clone(),
        id: id("5b4185666d50f68b"),
        kind: Kind::Server as i32,
        name: "GET /checkout".into(),
        timestamp: t0,
        duration: 150_000,
        local_endpoint: Some(checkout()),
        tags: tags(&[
            ("http.method", "GET"),
            ("http.status_code", "500"),
            ("user.authenticated", "true"),
            ("retry.ratio", "0.25"),
            ("request.digest", "cafe01"),
        ]),
        ..Default::default()
    };
    let load_cart = proto3::Span {
        trace_id: trace_id.clone(),
        parent_id: id("5b4185666d50f68b"),
        id: id("1d2ad7a6b3c9e4f0"),
        name: "load-cart".into(),
        timestamp: t0 + 5_000,
        duration: 40_000,
        local_endpoint: Some(checkout()),
        annotations: vec![proto3::Annotation { timestamp: t0 + 20_000, value: "cache miss".into() }],
        tags: tags(&[("component", "cart"), ("cart.items", "3")]),
        ..Default::default()
    };
    let select_cart = proto3::Span {
        trace_id,
        parent_id: id("1d2ad7a6b3c9e4f0"),
        id: id("7c3e5f1a9b0d2e46"),
        kind: Kind::Client as i32,
        name: "SELECT cart".into(),
        timestamp: t0 + 10_000,
        duration: 25_000,
        local_endpoint: Some(checkout()),
        remote_endpoint: Some(proto3::Endpoint {
            service_name: "postgres".into(),
            ipv4: vec![10, 0, 0, 20],
            ipv6: vec![],
            port: 5432,
        }),
        tags: tags(&[("db.system", "postgresql"), ("error", "true")]),
        ..Default::default()
    };
    proto3::ListOfSpans { spans: vec![root, load_cart, select_cart] }
}

fn v2_json_spans() -> Vec<Span> {
    spans_from_v2_json(&fixture("zipkin/trace.v2.json")).unwrap()
}

fn v1_json_spans() -> Vec<Span> {
    spans_from_v1_json(&fixture("zipkin/trace.v1.json")).unwrap()
}

fn v2_proto_spans() -> Vec<Span> {
    let bytes = checked_in("zipkin/trace.v2.proto.hex", &trace_v2_proto().encode_to_vec());
    spans_from_v2_proto(&bytes).unwrap()
}

fn v1_thrift_spans() -> Vec<Span> {
    let bytes = checked_in("zipkin/trace.v1.thrift.hex", &encode_v1_thrift(&zipkin_v1_spans()).unwrap());
    spans_from_v1_thrift(&bytes).unwrap()
}

#[test]
fn v2_json_trace_decodes_to_the_golden_model_spans() {
    assert_golden("zipkin/trace.v2.model.json", &pretty(&v2_json_spans()));
}

#[test]
fn v2_protobuf_trace_stores_exactly_what_v2_json_does() {
    assert_eq!(v2_proto_spans(), v2_json_spans());
}

#[test]
fn v1_json_trace_decodes_to_the_golden_model_spans() {
    assert_golden("zipkin/trace.v1.model.json", &pretty(&v1_json_spans()));
}

#[test]
fn v1_thrift_trace_stores_exactly_what_v1_json_does() {
    assert_eq!(v1_thrift_spans(), v1_json_spans());
}

#[test]
fn every_protocol_stores_the_trace_the_same_apart_from_value_types() {
    let thrift = comparable(&spans_from_thrift_batch(jaeger_batch()), &[]);
    for (protocol, spans) in [
        ("zipkin v2 json", v2_json_spans()),
        ("zipkin v2 proto", v2_proto_spans()),
        ("zipkin v1 json", v1_json_spans()),
        ("zipkin v1 thrift", v1_thrift_spans()),
    ] {
        assert_eq!(comparable(&spans, &[]), thrift, "{protocol}");
    }
}

#[test]
fn zipkin_v1_keeps_the_value_types_that_thrift_carries() {
    let thrift = spans_from_thrift_batch(jaeger_batch());
    let typed = |spans: &[Span]| -> Vec<(String, &'static str)> {
        let mut types: Vec<_> =
            spans.iter().flat_map(|span| &span.tags).map(|tag| (tag.key.clone(), tag.value.type_name())).collect();
        types.sort();
        types
    };
    assert_eq!(typed(&v1_json_spans()), typed(&thrift));
    assert!(v2_json_spans()
        .iter()
        .flat_map(|span| &span.tags)
        .all(|tag| { matches!(tag.value, AttributeValue::String(_)) || tag.key.starts_with("peer.") }));
}

fn envoy_golden(name: &str) {
    let spans = spans_from_v2_json(&fixture(&format!("zipkin/{name}.v2.json"))).unwrap();
    assert_golden(&format!("zipkin/{name}.model.json"), &pretty(&spans));
}

#[test]
fn envoy_1_12_string_timestamps_decode_to_the_golden_model_spans() {
    envoy_golden("envoy_1_12_string_timestamps");
}

#[test]
fn envoy_1_13_exponent_timestamps_decode_to_the_golden_model_spans() {
    envoy_golden("envoy_1_13_exponent_timestamps");
}

#[test]
fn envoy_shared_span_ids_decode_to_the_golden_model_spans() {
    envoy_golden("envoy_shared_span_ids");
}
