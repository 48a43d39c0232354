//! Pins how `opentelemetry-proto`'s `with-serde` JSON (the crate an OTLP/HTTP JSON receiver
//! would use) reads and writes OTLP/JSON, against the OTLP/JSON rules: lowerCamelCase keys, hex
//! trace and span ids, enums as integers, 64-bit integers as decimal strings (numbers accepted),
//! bytes as base64, unknown fields ignored, omitted fields meaning defaults. The tests whose
//! names say "gap" record where the crate is stricter or looser than the spec; if one starts
//! failing after an upgrade, the crate changed and the receiver's workarounds can go.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{Span, TracesData};

fn with_span(fields: &str) -> String {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{{fields}}}]}}]}}]}}"#)
}

fn parse(json: &str) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    serde_json::from_str(json)
}

fn parse_span(fields: &str) -> Result<Span, serde_json::Error> {
    parse(&with_span(fields)).map(|mut request| request.resource_spans.remove(0).scope_spans.remove(0).spans.remove(0))
}

fn attribute(json_value: &str) -> Result<Option<any_value::Value>, serde_json::Error> {
    let span = parse_span(&format!(r#""attributes":[{{"key":"a","value":{json_value}}}]"#))?;
    Ok(span.attributes.into_iter().next().and_then(|kv| kv.value).and_then(|any| any.value))
}

#[test]
fn reads_hex_ids_in_either_case() {
    let span = parse_span(r#""traceId":"5B8EFFF798038103d269b633813fc60c","spanId":"EEE19B7EC3C1B174""#).unwrap();
    assert_eq!(hex::encode(span.trace_id), "5b8efff798038103d269b633813fc60c");
    assert_eq!(hex::encode(span.span_id), "eee19b7ec3c1b174");
}

#[test]
fn reads_64_bit_integers_as_strings_or_numbers() {
    let span =
        parse_span(r#""startTimeUnixNano":"1700000000123456789","endTimeUnixNano":1700000000123456790"#).unwrap();
    assert_eq!(
        (span.start_time_unix_nano, span.end_time_unix_nano),
        (1_700_000_000_123_456_789, 1_700_000_000_123_456_790)
    );
    assert_eq!(attribute(r#"{"intValue":"-5"}"#).unwrap(), Some(any_value::Value::IntValue(-5)));
    assert_eq!(attribute(r#"{"intValue":7}"#).unwrap(), Some(any_value::Value::IntValue(7)));
}

#[test]
fn reads_enums_as_integers() {
    let span = parse_span(r#""kind":2,"status":{"code":2}"#).unwrap();
    assert_eq!((span.kind, span.status.map(|s| s.code)), (2, Some(2)));
}

#[test]
fn reads_bytes_as_standard_base64() {
    assert_eq!(
        attribute(r#"{"bytesValue":"3q2+7w=="}"#).unwrap(),
        Some(any_value::Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef]))
    );
}

#[test]
fn ignores_unknown_fields_and_accepts_omitted_ones() {
    let request =
        parse(r#"{"resourceSpans":[{"resource":null,"scopeSpans":[{"spans":[{"future":1,"name":"x"}]}]}],"extra":{}}"#)
            .unwrap();
    assert_eq!(request.resource_spans[0].scope_spans[0].spans[0].name, "x");
    assert_eq!(parse("{}").unwrap(), ExportTraceServiceRequest::default());
    assert_eq!(attribute(r#"{"futureValue":1}"#).unwrap(), None);
}

#[test]
fn gap_snake_case_field_names_are_ignored_not_read() {
    // OTLP/JSON forbids them, so ignoring is compliant; proto3 JSON parsers would accept them.
    let span = parse_span(r#""trace_id":"5b8efff798038103d269b633813fc60c""#).unwrap();
    assert!(span.trace_id.is_empty());
}

#[test]
fn gap_enum_names_are_rejected() {
    // OTLP/JSON says senders MUST use integers; proto3 JSON parsers (and the Go collector) also
    // accept names. A lenient receiver would have to rewrite these before parsing.
    assert!(parse_span(r#""kind":"SPAN_KIND_SERVER""#).is_err());
    assert!(parse_span(r#""status":{"code":"STATUS_CODE_ERROR"}"#).is_err());
}

#[test]
fn gap_empty_array_and_kvlist_objects_are_rejected() {
    // `{"arrayValue":{}}` is an empty array in proto3 JSON; the crate requires `values`.
    assert!(attribute(r#"{"arrayValue":{}}"#).is_err());
    assert!(attribute(r#"{"kvlistValue":{}}"#).is_err());
    assert!(attribute(r#"{"arrayValue":{"values":[]}}"#).is_ok());
}

#[test]
fn gap_a_key_value_without_key_is_rejected() {
    assert!(parse_span(r#""attributes":[{"value":{"stringValue":"x"}}]"#).is_err());
}

#[test]
fn gap_null_ids_nan_strings_url_safe_base64_and_quoted_u32_are_rejected() {
    assert!(parse_span(r#""traceId":null"#).is_err());
    assert!(attribute(r#"{"doubleValue":"NaN"}"#).is_err());
    assert!(attribute(r#"{"bytesValue":"-_8="}"#).is_err());
    assert!(parse_span(r#""droppedAttributesCount":"3""#).is_err());
}

#[test]
fn gap_an_odd_length_hex_id_fails_the_whole_request() {
    // So a receiver answers 400 for the whole body; a wrong even length reaches the converter,
    // which rejects only that span (partial success).
    assert!(parse_span(r#""traceId":"abc""#).is_err());
    assert_eq!(parse_span(r#""traceId":"0102030405""#).unwrap().trace_id.len(), 5);
}

#[test]
fn gap_traces_data_requires_resource_spans() {
    // `ExportTraceServiceRequest` has `serde(default)`, `TracesData` does not.
    assert!(serde_json::from_str::<TracesData>("{}").is_err());
}

#[test]
fn writes_hex_ids_integer_enums_and_64_bit_integers_as_strings() {
    let span = Span {
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        kind: 3,
        start_time_unix_nano: 5,
        attributes: vec![KeyValue {
            key: "n".into(),
            value: Some(AnyValue { value: Some(any_value::Value::IntValue(9)) }),
            key_strindex: 0,
        }],
        ..Default::default()
    };
    let json = serde_json::to_value(&span).unwrap();
    assert_eq!(json["traceId"], "abababababababababababababababab");
    assert_eq!(json["spanId"], "cdcdcdcdcdcdcdcd");
    assert_eq!(json["kind"], 3);
    assert_eq!(json["startTimeUnixNano"], "5");
    assert_eq!(json["attributes"][0]["value"]["intValue"], "9");
}

#[test]
fn gap_writes_defaults_nulls_and_nan_as_null() {
    // Allowed by proto3 JSON except NaN, which should be the string "NaN".
    let span = Span {
        attributes: vec![
            KeyValue {
                key: "nan".into(),
                value: Some(AnyValue { value: Some(any_value::Value::DoubleValue(f64::NAN)) }),
                key_strindex: 0,
            },
            KeyValue { key: "unset".into(), value: None, key_strindex: 0 },
        ],
        ..Default::default()
    };
    let json = serde_json::to_value(&span).unwrap();
    assert_eq!(json["status"], serde_json::Value::Null);
    assert_eq!(json["traceState"], "");
    assert_eq!(json["attributes"][0]["value"]["doubleValue"], serde_json::Value::Null);
    assert_eq!(json["attributes"][1]["value"], serde_json::Value::Null);
}
