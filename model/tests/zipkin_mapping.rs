//! Zipkin to model, rule by rule: what the v2 (JSON and protobuf) and v1 (JSON and Thrift)
//! decoders keep, derive and refuse, and how their errors name the span at fault.
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

use prost::Message as _;
use serde_json::json;
use spoor_model::zipkin::{
    encode_v1_thrift, proto3, spans_from_v1_json, spans_from_v1_thrift, spans_from_v1_thrift_spans, spans_from_v2_json,
    spans_from_v2_proto, AnnotationType, ZipkinError, ZipkinThriftBinaryAnnotation, ZipkinThriftEndpoint,
    ZipkinThriftSpan, UNKNOWN_SERVICE_NAME,
};
use spoor_model::{AttributeValue, KeyValue, RefType, Span, SpanId, SpanKind, TraceId, FLAG_DEBUG, FLAG_SAMPLED};

fn v2(spans: serde_json::Value) -> Result<Vec<Span>, ZipkinError> {
    spans_from_v2_json(spans.to_string().as_bytes())
}

fn v2_one(span: serde_json::Value) -> Span {
    v2(json!([span])).unwrap().remove(0)
}

fn minimal() -> serde_json::Value {
    json!({"traceId": "463ac35c9f6413ad", "id": "5b4185666d50f68b", "name": "op", "timestamp": 1_000, "duration": 5,
           "localEndpoint": {"serviceName": "svc"}})
}

fn with(mut base: serde_json::Value, field: &str, value: serde_json::Value) -> serde_json::Value {
    base[field] = value;
    base
}

fn tag<'s>(span: &'s Span, key: &str) -> Option<&'s AttributeValue> {
    span.tag(key)
}

// ---- v2 ids

#[test]
fn v2_ids_may_be_64_or_128_bit_and_shorter_ids_are_left_padded() {
    let span = v2_one(with(minimal(), "traceId", json!("463ac35c9f6413ad48485a3953bb6124")));
    assert_eq!(span.trace_id, TraceId::new(0x463a_c35c_9f64_13ad, 0x4848_5a39_53bb_6124));
    let span = v2_one(with(with(minimal(), "traceId", json!("abc")), "id", json!("7")));
    assert_eq!((span.trace_id, span.span_id), (TraceId::new(0, 0xabc), SpanId(7)));
    assert_eq!(span.trace_id.to_hex(), "0000000000000abc");
}

#[test]
fn v2_span_ids_padded_to_128_bits_keep_the_low_half_as_jaeger_does() {
    let span = v2_one(with(minimal(), "id", json!("00000000000000005b4185666d50f68b")));
    assert_eq!(span.span_id, SpanId(0x5b41_8566_6d50_f68b));
}

#[test]
fn v2_errors_name_the_span_and_the_bad_value() {
    let error = v2(json!([minimal(), minimal(), minimal(), with(minimal(), "id", json!("xyz"))])).unwrap_err();
    assert_eq!(error.to_string(), "span 3: id must be 16 hex characters or fewer, got \"xyz\"");
    assert_eq!(error.span_index(), Some(3));
    let error =
        v2(json!([minimal(), with(minimal(), "traceId", json!("0123456789abcdef0123456789abcdef0"))])).unwrap_err();
    assert!(error.to_string().starts_with("span 1: traceId must be 1 to 32 hex characters"), "{error}");
    let mut no_trace = minimal();
    no_trace.as_object_mut().unwrap().remove("traceId");
    assert_eq!(v2(json!([no_trace])).unwrap_err().to_string(), "span 0: traceId is missing");
    let error = v2(json!([with(minimal(), "traceId", json!("0000000000000000"))])).unwrap_err();
    assert_eq!(error.to_string(), "span 0: traceId must not be all zeros");
}

#[test]
fn v2_json_type_errors_inside_a_span_name_the_span() {
    let error = v2(json!([minimal(), with(minimal(), "timestamp", json!({"not": "a number"}))])).unwrap_err();
    assert_eq!(error.span_index(), Some(1), "{error}");
    let error = v2(json!([minimal(), minimal(), with(minimal(), "tags", json!({"a": ["list"]}))])).unwrap_err();
    assert_eq!(error.span_index(), Some(2), "{error}");
}

#[test]
fn v2_syntax_errors_and_non_arrays_are_malformed_bodies() {
    let error = spans_from_v2_json(b"[{\"traceId\": ").unwrap_err();
    assert!(matches!(error, ZipkinError::Malformed { .. }), "{error}");
    assert!(error.to_string().starts_with("not a valid Zipkin v2 JSON body: "), "{error}");
    assert!(matches!(spans_from_v2_json(b"{}").unwrap_err(), ZipkinError::Malformed { .. }));
    assert!(matches!(spans_from_v2_json(b"[] trailing").unwrap_err(), ZipkinError::Malformed { .. }));
    assert_eq!(spans_from_v2_json(b"[]").unwrap(), []);
}

// ---- v2 times

#[test]
fn v2_times_may_be_integers_exponent_floats_or_numeric_strings() {
    let forms = [json!(1_582_662_767_960_310u64), json!(1.582_662_767_960_31e15), json!("1582662767960310")];
    for form in forms {
        let span = v2_one(with(with(minimal(), "timestamp", form.clone()), "duration", json!("2.5e4")));
        assert_eq!(span.start_time_unix_nano, 1_582_662_767_960_310_000, "{form}");
        assert_eq!(span.duration_nanos, 25_000_000);
    }
}

#[test]
fn v2_negative_times_are_refused_and_a_missing_timestamp_is_a_warning() {
    assert_eq!(v2(json!([with(minimal(), "duration", json!(-1))])).unwrap_err().span_index(), Some(0));
    let mut untimed = minimal();
    untimed.as_object_mut().unwrap().remove("timestamp");
    let span = v2_one(untimed);
    assert_eq!(span.start_time_unix_nano, 0);
    assert_eq!(span.warnings, ["span has no timestamp; start time set to 0"]);
}

// ---- v2 kind, tags, flags

#[test]
fn v2_kind_becomes_a_lower_case_span_kind_tag_after_the_other_tags() {
    for (kind, expected) in
        [("CLIENT", "client"), ("SERVER", "server"), ("PRODUCER", "producer"), ("CONSUMER", "consumer")]
    {
        let span = v2_one(with(with(minimal(), "kind", json!(kind)), "tags", json!({"a": "1"})));
        assert_eq!(span.tags.last().unwrap(), &KeyValue::string("span.kind", expected));
        assert_eq!(span.kind().as_str(), expected);
    }
    let span = v2_one(with(minimal(), "kind", json!("SIDEWAYS")));
    assert!(tag(&span, "span.kind").is_none());
    assert_eq!(span.warnings, ["unknown kind \"SIDEWAYS\"; ignored"]);
    assert_eq!(v2_one(minimal()).kind(), SpanKind::Unspecified);
}

#[test]
fn v2_tags_stay_the_strings_they_arrived_as_in_their_order() {
    // Raw text: `json!` would sort the keys.
    let body = r#"[{"traceId": "1", "id": "2", "localEndpoint": {"serviceName": "svc"}, "timestamp": 1,
        "tags": {"http.status_code": "200", "error": "true", "response_size": "11", "z": "last", "a": "first"}}]"#;
    let span = spans_from_v2_json(body.as_bytes()).unwrap().remove(0);
    let keys: Vec<_> = span.tags.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["http.status_code", "error", "response_size", "z", "a"]);
    assert_eq!(tag(&span, "error"), Some(&AttributeValue::String("true".into())));
    assert_eq!(tag(&span, "http.status_code"), Some(&AttributeValue::String("200".into())));
    assert_eq!(span.status_code(), spoor_model::StatusCode::Error);
}

#[test]
fn v2_operation_names_are_kept_byte_exact() {
    let name = "details.bookinfo.svc.cluster.local:9080/*  Ünïcode";
    assert_eq!(v2_one(with(minimal(), "name", json!(name))).operation_name, name);
}

#[test]
fn v2_debug_sets_the_debug_flag_and_every_span_is_sampled() {
    assert_eq!(v2_one(minimal()).flags, FLAG_SAMPLED);
    assert_eq!(v2_one(with(minimal(), "debug", json!(true))).flags, FLAG_SAMPLED | FLAG_DEBUG);
}

#[test]
fn v2_shared_is_kept_as_a_tag() {
    let span = v2_one(with(with(minimal(), "kind", json!("SERVER")), "shared", json!(true)));
    assert_eq!(tag(&span, "zipkin.shared"), Some(&AttributeValue::Bool(true)));
    assert!(tag(&v2_one(minimal()), "zipkin.shared").is_none());
}

#[test]
fn v2_parent_id_becomes_child_of_unless_it_is_the_span_itself() {
    let span = v2_one(with(minimal(), "parentId", json!("1d2ad7a6b3c9e4f0")));
    assert_eq!(span.references.len(), 1);
    assert_eq!(span.references[0].ref_type, RefType::ChildOf);
    assert_eq!(span.parent_span_id(), Some(SpanId(0x1d2a_d7a6_b3c9_e4f0)));
    let span = v2_one(with(minimal(), "parentId", json!("5b4185666d50f68b")));
    assert!(span.references.is_empty());
    assert_eq!(span.warnings, ["parentId equals id; parent dropped"]);
    assert!(v2_one(with(minimal(), "parentId", json!(""))).references.is_empty());
}

#[test]
fn v2_annotations_become_event_logs() {
    let span = v2_one(with(minimal(), "annotations", json!([{"timestamp": "1500", "value": "{\"k\":\"v\"}"}])));
    assert_eq!(span.logs.len(), 1);
    assert_eq!(span.logs[0].timestamp_unix_nano, 1_500_000);
    assert_eq!(span.logs[0].fields, [KeyValue::string("event", "{\"k\":\"v\"}")]);
}

// ---- v2 endpoints

#[test]
fn v2_local_endpoint_is_the_process_with_jaegers_ip_tag() {
    let endpoint = json!({"serviceName": "reviews.bookinfo", "ipv4": "192.168.0.1", "ipv6": "fd00::1", "port": 9080});
    let span = v2_one(with(minimal(), "localEndpoint", endpoint));
    assert_eq!(span.process.service_name, "reviews.bookinfo");
    assert_eq!(
        span.process.tags,
        [KeyValue::int64("ip", -1_062_731_775), KeyValue::string("ipv6", "fd00::1"), KeyValue::int64("port", 9080)]
    );
}

#[test]
fn v2_without_a_local_service_name_the_service_is_unknown() {
    let mut span = minimal();
    span.as_object_mut().unwrap().remove("localEndpoint");
    let span = v2_one(span);
    assert_eq!(span.process.service_name, UNKNOWN_SERVICE_NAME);
    assert_eq!(span.warnings, ["cannot find service name in Zipkin span; set to unknown-service-name"]);
}

#[test]
fn v2_remote_endpoint_becomes_jaegers_peer_tags() {
    let remote = json!({"serviceName": "postgres", "ipv4": "10.0.0.20", "ipv6": "::1", "port": 5432});
    let span = v2_one(with(minimal(), "remoteEndpoint", remote));
    let mut ipv6 = vec![0; 15];
    ipv6.push(1);
    assert_eq!(
        span.tags,
        [
            KeyValue::string("peer.service", "postgres"),
            KeyValue::int64("peer.ipv4", 167_772_180),
            KeyValue::binary("peer.ipv6", ipv6),
            KeyValue::int64("peer.port", 5432),
        ]
    );
}

#[test]
fn v2_jaeger_process_tags_move_to_the_process() {
    let body = r#"[{"traceId": "1", "id": "2", "localEndpoint": {"serviceName": "svc"}, "timestamp": 1,
        "tags": {"jaegerClient": "Go-2.30.0", "jaeger.hostname": "h1", "http.method": "GET"}}]"#;
    let span = spans_from_v2_json(body.as_bytes()).unwrap().remove(0);
    assert_eq!(span.tags, [KeyValue::string("http.method", "GET")]);
    assert_eq!(
        span.process.tags,
        [KeyValue::string("jaeger.version", "Go-2.30.0"), KeyValue::string("hostname", "h1")]
    );
}

#[test]
fn v2_bad_endpoints_name_the_field() {
    let error =
        v2(json!([with(minimal(), "localEndpoint", json!({"serviceName": "s", "ipv4": "10.0.0"}))])).unwrap_err();
    assert_eq!(error.to_string(), "span 0: localEndpoint.ipv4 must be a dotted IPv4 address, got \"10.0.0\"");
    let error = v2(json!([with(minimal(), "remoteEndpoint", json!({"port": 70000}))])).unwrap_err();
    assert_eq!(error.to_string(), "span 0: remoteEndpoint.port must be 0 to 65535, got 70000");
}

#[test]
fn spans_of_one_service_share_a_process() {
    let spans = v2(json!([
        minimal(),
        with(minimal(), "id", json!("1")),
        with(minimal(), "localEndpoint", json!({"serviceName": "b"}))
    ]))
    .unwrap();
    assert!(std::sync::Arc::ptr_eq(&spans[0].process, &spans[1].process));
    assert!(!std::sync::Arc::ptr_eq(&spans[0].process, &spans[2].process));
}

// ---- v2 protobuf

fn proto_span() -> proto3::Span {
    proto3::Span {
        trace_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
        id: vec![0, 0, 0, 0, 0, 0, 0, 2],
        name: "op".into(),
        timestamp: 1_000,
        duration: 5,
        local_endpoint: Some(proto3::Endpoint { service_name: "svc".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn proto(spans: Vec<proto3::Span>) -> Result<Vec<Span>, ZipkinError> {
    spans_from_v2_proto(&proto3::ListOfSpans { spans }.encode_to_vec())
}

#[test]
fn v2_proto_maps_like_json_and_keeps_tag_order() {
    let mut span = proto_span();
    span.kind = proto3::span::Kind::Producer as i32;
    span.tags = ["b", "a", "c"].iter().map(|k| proto3::Tag { key: (*k).into(), value: "v".into() }).collect();
    span.local_endpoint.as_mut().unwrap().ipv4 = vec![10, 0, 0, 1];
    let span = proto(vec![span]).unwrap().remove(0);
    let keys: Vec<_> = span.tags.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["b", "a", "c", "span.kind"]);
    assert_eq!(span.kind(), SpanKind::Producer);
    assert_eq!(span.process.tags, [KeyValue::int64("ip", 167_772_161)]);
    assert_eq!((span.trace_id, span.span_id), (TraceId::new(0, 1), SpanId(2)));
}

#[test]
fn v2_proto_errors_name_the_span() {
    let mut bad = proto_span();
    bad.trace_id = vec![1, 2, 3];
    assert_eq!(
        proto(vec![proto_span(), bad]).unwrap_err().to_string(),
        "span 1: trace_id must be 8 or 16 bytes, got 3"
    );
    let mut bad = proto_span();
    bad.local_endpoint.as_mut().unwrap().ipv4 = vec![1, 2];
    assert_eq!(proto(vec![bad]).unwrap_err().to_string(), "span 0: local_endpoint.ipv4 must be 4 bytes, got 2");
    let error = spans_from_v2_proto(&[0x0a, 0xff]).unwrap_err();
    assert!(error.to_string().starts_with("not a valid Zipkin v2 protobuf body: "), "{error}");
}

// ---- v1 JSON

fn v1(spans: serde_json::Value) -> Result<Vec<Span>, ZipkinError> {
    spans_from_v1_json(spans.to_string().as_bytes())
}

fn endpoint(service: &str) -> serde_json::Value {
    json!({"serviceName": service, "ipv4": "10.0.0.1", "port": 80})
}

#[test]
fn v1_times_come_from_core_annotations_when_the_span_has_none() {
    let span = v1(json!([{"traceId": "1", "id": "2", "name": "get", "annotations": [
        {"timestamp": 100, "value": "cs", "endpoint": endpoint("client")},
        {"timestamp": 250, "value": "cr", "endpoint": endpoint("client")},
    ]}]))
    .unwrap()
    .remove(0);
    assert_eq!((span.start_time_unix_nano, span.duration_nanos), (100_000, 150_000));
    assert_eq!(span.kind(), SpanKind::Client);
    assert_eq!(span.service_name(), "client");
    assert!(span.logs.is_empty(), "core annotations are not logs");
}

#[test]
fn v1_span_with_client_and_server_annotations_splits_in_two() {
    let spans = v1(json!([{"traceId": "1", "id": "2", "parentId": "9", "name": "get", "annotations": [
        {"timestamp": 100, "value": "cs", "endpoint": endpoint("frontend")},
        {"timestamp": 120, "value": "sr", "endpoint": endpoint("backend")},
        {"timestamp": 180, "value": "ss", "endpoint": endpoint("backend")},
        {"timestamp": 200, "value": "cr", "endpoint": endpoint("frontend")},
    ]}]))
    .unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(
        (spans[0].kind(), spans[0].start_time_unix_nano, spans[0].duration_nanos),
        (SpanKind::Client, 100_000, 100_000)
    );
    assert_eq!(
        (spans[1].kind(), spans[1].start_time_unix_nano, spans[1].duration_nanos),
        (SpanKind::Server, 120_000, 60_000)
    );
    assert_eq!(spans[1].tags, [KeyValue::string("span.kind", "server")]);
    assert_eq!(spans[0].span_id, spans[1].span_id);
    assert_eq!(spans[1].parent_span_id(), Some(SpanId(9)));
}

#[test]
fn v1_annotations_become_logs_and_json_objects_become_fields() {
    let span = v1(json!([{"traceId": "1", "id": "2", "timestamp": 1, "annotations": [
        {"timestamp": 5, "value": "retry", "endpoint": endpoint("svc")},
        {"timestamp": 6, "value": "{\"event\":\"error\",\"message\":\"boom\"}"},
        {"timestamp": 7, "value": ""},
    ]}]))
    .unwrap()
    .remove(0);
    assert_eq!(span.logs.len(), 2);
    assert_eq!(span.logs[0].fields, [KeyValue::string("event", "retry")]);
    assert_eq!(span.logs[1].fields, [KeyValue::string("event", "error"), KeyValue::string("message", "boom")]);
}

#[test]
fn v1_special_binary_annotations_follow_jaeger() {
    let span = v1(json!([{"traceId": "1", "id": "2", "timestamp": 1, "binaryAnnotations": [
        {"key": "lc", "value": "cache", "endpoint": endpoint("svc")},
        {"key": "ca", "value": true, "type": "BOOL",
         "endpoint": {"serviceName": "caller", "ipv4": "192.168.0.1", "port": 65535}},
        {"key": "jaeger.hostname", "value": "h1"},
    ]}]))
    .unwrap()
    .remove(0);
    assert_eq!(
        span.tags,
        [
            KeyValue::string("component", "cache"),
            KeyValue::string("peer.service", "caller"),
            KeyValue::int64("peer.ipv4", 3_232_235_521),
            KeyValue::int64("peer.port", 65535),
        ]
    );
    assert_eq!(span.service_name(), "svc");
    assert_eq!(
        span.process.tags,
        [KeyValue::string("hostname", "h1"), KeyValue::int64("ip", 167_772_161), KeyValue::int64("port", 80)]
    );
}

#[test]
fn v1_bad_binary_annotation_values_name_the_span_and_annotation() {
    let error =
        v1(json!([{"traceId": "1", "id": "2", "binaryAnnotations": [{"key": "n", "value": "x", "type": "I32"}]}]))
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "span 0: binaryAnnotations[0] (\"n\"): an I32 value must be an integer from -2147483648 to 2147483647, \
         got \"x\""
    );
}

// ---- v1 Thrift

fn thrift_span() -> ZipkinThriftSpan {
    ZipkinThriftSpan {
        trace_id: 1,
        id: 2,
        name: "op".into(),
        timestamp: Some(10),
        duration: Some(5),
        ..Default::default()
    }
}

#[test]
fn v1_thrift_values_are_decoded_as_jaeger_does() {
    let mut span = thrift_span();
    let host = Some(ZipkinThriftEndpoint { ipv4: 0x0a00_0001, port: -1, service_name: "svc".into(), ipv6: None });
    let annotation = |key: &str, annotation_type, value: Vec<u8>| ZipkinThriftBinaryAnnotation {
        key: key.into(),
        value,
        annotation_type,
        host: host.clone(),
    };
    span.binary_annotations = vec![
        annotation("flag", AnnotationType::Bool, vec![1]),
        annotation("short", AnnotationType::I32, vec![0, 1]),
        annotation("odd", AnnotationType::Unknown(42), vec![]),
    ];
    span.trace_id_high = Some(-1);
    let span = spans_from_v1_thrift(&encode_v1_thrift(&[span]).unwrap()).unwrap().remove(0);
    assert_eq!(span.trace_id, TraceId::new(u64::MAX, 1));
    assert_eq!(
        span.tags,
        [
            KeyValue::bool("flag", true),
            KeyValue::string("short", "Cannot parse Zipkin value AAE=: unexpected EOF"),
            KeyValue::string("odd", "Cannot parse Zipkin value : unknown zipkin annotation type: 42"),
        ]
    );
    assert_eq!(span.process.tags, [KeyValue::int64("ip", 167_772_161), KeyValue::int64("port", 65535)]);
}

#[test]
fn v1_thrift_zero_trace_id_names_the_span() {
    let mut zero = thrift_span();
    zero.trace_id = 0;
    let error = spans_from_v1_thrift_spans(vec![thrift_span(), zero]).unwrap_err();
    assert_eq!(error.to_string(), "span 1: trace_id must not be zero");
}

#[test]
fn v1_thrift_structural_errors_name_the_span() {
    let mut bytes = encode_v1_thrift(&[thrift_span(), thrift_span()]).unwrap();
    bytes.truncate(bytes.len() - 3);
    let error = spans_from_v1_thrift(&bytes).unwrap_err();
    assert_eq!(error.span_index(), Some(1), "{error}");
}

#[test]
fn deeply_nested_unknown_fields_are_skipped_without_recursing() {
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let body = format!(r#"[{{"traceId":"1","id":"2","timestamp":1,"extension":{deep}}}]"#);
    assert_eq!(spans_from_v2_json(body.as_bytes()).unwrap().len(), 1);
}
