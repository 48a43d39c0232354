//! The api_v3 and storage.v2 protos against the spec's field tables (shared/spec/jaeger.md §5.4,
//! §6.2): every field of a fully set message is encoded and its (number, wire type) read back
//! from the bytes, so a wrong number or type in a `.proto` fails here, not at a Jaeger client.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue, KeyValueList};
use prost::Message;
use prost_types::{Duration, Timestamp};
use spoor_model::proto::jaeger::{api_v3, storage::v2 as storage_v2};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// The top-level (field number, wire type) pairs of an encoded message, in order.
fn fields_of(message: &impl Message) -> Vec<(u64, u8)> {
    let bytes = message.encode_to_vec();
    let mut rest = bytes.as_slice();
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let key = read_varint(&mut rest);
        let wire_type = (key & 0x7) as u8;
        match wire_type {
            VARINT => {
                read_varint(&mut rest);
            }
            FIXED64 => rest = &rest[8..],
            LEN => {
                let len = usize::try_from(read_varint(&mut rest)).expect("length fits");
                rest = &rest[len..];
            }
            5 => rest = &rest[4..],
            other => panic!("unexpected wire type {other}"),
        }
        fields.push((key >> 3, wire_type));
    }
    fields
}

fn read_varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (byte, rest) = bytes.split_first().expect("varint ends");
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

fn time() -> Option<Timestamp> {
    Some(Timestamp { seconds: 1, nanos: 2 })
}

fn duration() -> Option<Duration> {
    Some(Duration { seconds: 1, nanos: 2 })
}

#[test]
fn api_v3_requests_have_the_spec_field_numbers() {
    let get_trace =
        api_v3::GetTraceRequest { trace_id: "abc".into(), start_time: time(), end_time: time(), raw_traces: true };
    assert_eq!(fields_of(&get_trace), vec![(1, LEN), (2, LEN), (3, LEN), (4, VARINT)]);

    let query = api_v3::TraceQueryParameters {
        service_name: "s".into(),
        operation_name: "o".into(),
        attributes: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
        start_time_min: time(),
        start_time_max: time(),
        duration_min: duration(),
        duration_max: duration(),
        search_depth: 5,
        raw_traces: true,
    };
    let expected: Vec<(u64, u8)> = (1..=7).map(|number| (number, LEN)).chain([(8, VARINT), (9, VARINT)]).collect();
    assert_eq!(fields_of(&query), expected);
    assert_eq!(fields_of(&api_v3::FindTracesRequest { query: Some(query.clone()) }), vec![(1, LEN)]);
    assert_eq!(fields_of(&api_v3::FindTraceSummariesRequest { query: Some(query) }), vec![(1, LEN)]);

    let operations = api_v3::GetOperationsRequest { service: "s".into(), span_kind: "server".into() };
    assert_eq!(fields_of(&operations), vec![(1, LEN), (2, LEN)]);
    let dependencies = api_v3::GetDependenciesRequest { start_time: time(), end_time: time() };
    assert_eq!(fields_of(&dependencies), vec![(1, LEN), (2, LEN)]);
}

#[test]
fn api_v3_responses_have_the_spec_field_numbers() {
    let services = api_v3::GetServicesResponse { services: vec!["a".into()] };
    assert_eq!(fields_of(&services), vec![(1, LEN)]);
    let operation = api_v3::Operation { name: "n".into(), span_kind: "k".into() };
    assert_eq!(fields_of(&operation), vec![(1, LEN), (2, LEN)]);
    assert_eq!(fields_of(&api_v3::GetOperationsResponse { operations: vec![operation] }), vec![(1, LEN)]);
    let dependency = api_v3::Dependency { parent: "p".into(), child: "c".into(), call_count: 3 };
    assert_eq!(fields_of(&dependency), vec![(1, LEN), (2, LEN), (3, VARINT)]);
    assert_eq!(fields_of(&api_v3::GetDependenciesResponse { dependencies: vec![dependency] }), vec![(1, LEN)]);

    let service = api_v3::ServiceSummary { name: "s".into(), span_count: 1, error_span_count: 1 };
    assert_eq!(fields_of(&service), vec![(1, LEN), (2, VARINT), (3, VARINT)]);
    let summary = api_v3::TraceSummary {
        trace_id: "abc".into(),
        root_service_name: "s".into(),
        root_operation_name: "o".into(),
        min_start_time_unix_nano: 1,
        max_end_time_unix_nano: 2,
        span_count: 3,
        error_span_count: 4,
        orphan_span_count: 5,
        services: vec![service],
    };
    assert_eq!(
        fields_of(&summary),
        vec![(1, LEN), (2, LEN), (3, LEN), (4, FIXED64), (5, FIXED64), (6, VARINT), (7, VARINT), (8, VARINT), (9, LEN)]
    );
    assert_eq!(fields_of(&api_v3::FindTraceSummariesResponse { summaries: vec![summary] }), vec![(1, LEN)]);
}

#[test]
fn storage_v2_messages_have_the_spec_field_numbers() {
    let params = storage_v2::GetTraceParams { trace_id: vec![1; 16], start_time: time(), end_time: time() };
    assert_eq!(fields_of(&params), vec![(1, LEN), (2, LEN), (3, LEN)]);
    assert_eq!(fields_of(&storage_v2::GetTracesRequest { query: vec![params] }), vec![(1, LEN)]);

    let query = storage_v2::TraceQueryParameters {
        service_name: "s".into(),
        operation_name: "o".into(),
        attributes: vec![KeyValue {
            key: "k".into(),
            value: Some(AnyValue { value: Some(any_value::Value::IntValue(1)) }),
            key_strindex: 0,
        }],
        start_time_min: time(),
        start_time_max: time(),
        duration_min: duration(),
        duration_max: duration(),
        search_depth: 5,
    };
    let expected: Vec<(u64, u8)> = (1..=7).map(|number| (number, LEN)).chain([(8, VARINT)]).collect();
    assert_eq!(fields_of(&query), expected);
    assert_eq!(fields_of(&storage_v2::FindTracesRequest { query: Some(query.clone()) }), vec![(1, LEN)]);
    assert_eq!(fields_of(&storage_v2::FindTraceIDsRequest { query: Some(query.clone()) }), vec![(1, LEN)]);
    assert_eq!(fields_of(&storage_v2::FindTraceSummariesRequest { query: Some(query) }), vec![(1, LEN)]);

    let found = storage_v2::FoundTraceId { trace_id: vec![1; 16], start: time(), end: time() };
    assert_eq!(fields_of(&found), vec![(1, LEN), (2, LEN), (3, LEN)]);
    assert_eq!(fields_of(&storage_v2::FindTraceIDsResponse { trace_ids: vec![found] }), vec![(1, LEN)]);

    let operations = storage_v2::GetOperationsRequest { service: "s".into(), span_kind: "server".into() };
    assert_eq!(fields_of(&operations), vec![(1, LEN), (2, LEN)]);
    let operation = storage_v2::Operation { name: "n".into(), span_kind: "k".into() };
    assert_eq!(fields_of(&storage_v2::GetOperationsResponse { operations: vec![operation] }), vec![(1, LEN)]);

    let dependencies = storage_v2::GetDependenciesRequest { start_time: time(), end_time: time() };
    assert_eq!(fields_of(&dependencies), vec![(1, LEN), (2, LEN)]);
    let dependency =
        storage_v2::Dependency { parent: "p".into(), child: "c".into(), call_count: 3, source: "s".into() };
    assert_eq!(fields_of(&dependency), vec![(1, LEN), (2, LEN), (3, VARINT), (4, LEN)]);
}

#[test]
fn otlp_attributes_are_wire_identical_to_the_spec_key_value_and_any_value() {
    let key_value = KeyValue {
        key: "k".into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue("v".into())) }),
        key_strindex: 0,
    };
    assert_eq!(fields_of(&key_value), vec![(1, LEN), (2, LEN)]);
    let any = |value| AnyValue { value: Some(value) };
    let cases = [
        (any_value::Value::StringValue("s".into()), (1, LEN)),
        (any_value::Value::BoolValue(true), (2, VARINT)),
        (any_value::Value::IntValue(7), (3, VARINT)),
        (any_value::Value::DoubleValue(0.5), (4, FIXED64)),
        (any_value::Value::ArrayValue(ArrayValue::default()), (5, LEN)),
        (any_value::Value::KvlistValue(KeyValueList::default()), (6, LEN)),
        (any_value::Value::BytesValue(vec![1]), (7, LEN)),
    ];
    for (value, expected) in cases {
        assert_eq!(fields_of(&any(value)), vec![expected]);
    }
}
