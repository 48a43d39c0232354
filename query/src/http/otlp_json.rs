//! OTLP/JSON bytes as the OpenTelemetry Collector's `ptrace.JSONMarshaler` (pdata v1.61) writes
//! them, which is what Jaeger's api_v3 HTTP gateway puts under `"result"`: fields in proto
//! order, zero values left out except `resource`, `scope`, `status` and a key-value's `value`;
//! hex `traceId`/`spanId`; enums (`kind`, `status.code`) as numbers; 64-bit integers as strings;
//! bytes as base64; strings escaped as json-iterator does without HTML escaping.
//!
//! The messages come from [`spoor_model::otlp::spans_to_otlp`], the conversion every OTLP API of
//! Spoor shares; this module only writes them. Fields Spoor never fills (`entityRefs`,
//! `keyStrindex`, `stringValueStrindex`) are not written.

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, TracesData};

/// `traces` as pdata's OTLP/JSON, appended to `out`.
pub(crate) fn write_traces_data(out: &mut Vec<u8>, traces: &TracesData) {
    let mut object = Object::start(out);
    if !traces.resource_spans.is_empty() {
        object.field("resourceSpans");
        write_list(object.out, &traces.resource_spans, write_resource_spans);
    }
    object.end();
}

fn write_resource_spans(out: &mut Vec<u8>, resource_spans: &ResourceSpans) {
    let mut object = Object::start(out);
    object.field("resource");
    write_resource(object.out, resource_spans.resource.as_ref());
    if !resource_spans.scope_spans.is_empty() {
        object.field("scopeSpans");
        write_list(object.out, &resource_spans.scope_spans, write_scope_spans);
    }
    object.string("schemaUrl", &resource_spans.schema_url);
    object.end();
}

fn write_resource(out: &mut Vec<u8>, resource: Option<&Resource>) {
    let mut object = Object::start(out);
    if let Some(resource) = resource {
        object.attributes(&resource.attributes);
        object.uint32("droppedAttributesCount", resource.dropped_attributes_count);
    }
    object.end();
}

fn write_scope_spans(out: &mut Vec<u8>, scope_spans: &ScopeSpans) {
    let mut object = Object::start(out);
    object.field("scope");
    write_scope(object.out, scope_spans.scope.as_ref());
    if !scope_spans.spans.is_empty() {
        object.field("spans");
        write_list(object.out, &scope_spans.spans, write_span);
    }
    object.string("schemaUrl", &scope_spans.schema_url);
    object.end();
}

fn write_scope(out: &mut Vec<u8>, scope: Option<&InstrumentationScope>) {
    let mut object = Object::start(out);
    if let Some(scope) = scope {
        object.string("name", &scope.name);
        object.string("version", &scope.version);
        object.attributes(&scope.attributes);
        object.uint32("droppedAttributesCount", scope.dropped_attributes_count);
    }
    object.end();
}

fn write_span(out: &mut Vec<u8>, span: &Span) {
    let mut object = Object::start(out);
    object.id("traceId", &span.trace_id);
    object.id("spanId", &span.span_id);
    object.string("traceState", &span.trace_state);
    object.id("parentSpanId", &span.parent_span_id);
    object.uint32("flags", span.flags);
    object.string("name", &span.name);
    object.int32("kind", span.kind);
    object.uint64("startTimeUnixNano", span.start_time_unix_nano);
    object.uint64("endTimeUnixNano", span.end_time_unix_nano);
    object.attributes(&span.attributes);
    object.uint32("droppedAttributesCount", span.dropped_attributes_count);
    if !span.events.is_empty() {
        object.field("events");
        write_list(object.out, &span.events, write_event);
    }
    object.uint32("droppedEventsCount", span.dropped_events_count);
    if !span.links.is_empty() {
        object.field("links");
        write_list(object.out, &span.links, write_link);
    }
    object.uint32("droppedLinksCount", span.dropped_links_count);
    object.field("status");
    write_status(object.out, span.status.as_ref());
    object.end();
}

fn write_event(out: &mut Vec<u8>, event: &Event) {
    let mut object = Object::start(out);
    object.uint64("timeUnixNano", event.time_unix_nano);
    object.string("name", &event.name);
    object.attributes(&event.attributes);
    object.uint32("droppedAttributesCount", event.dropped_attributes_count);
    object.end();
}

fn write_link(out: &mut Vec<u8>, link: &Link) {
    let mut object = Object::start(out);
    object.id("traceId", &link.trace_id);
    object.id("spanId", &link.span_id);
    object.string("traceState", &link.trace_state);
    object.attributes(&link.attributes);
    object.uint32("droppedAttributesCount", link.dropped_attributes_count);
    object.uint32("flags", link.flags);
    object.end();
}

fn write_status(out: &mut Vec<u8>, status: Option<&Status>) {
    let mut object = Object::start(out);
    if let Some(status) = status {
        object.string("message", &status.message);
        object.int32("code", status.code);
    }
    object.end();
}

fn write_key_value(out: &mut Vec<u8>, key_value: &KeyValue) {
    let mut object = Object::start(out);
    object.string("key", &key_value.key);
    object.field("value");
    write_any_value(object.out, key_value.value.as_ref());
    object.end();
}

fn write_any_value(out: &mut Vec<u8>, value: Option<&AnyValue>) {
    let mut object = Object::start(out);
    match value.and_then(|value| value.value.as_ref()) {
        None => {}
        Some(Value::StringValue(text)) => {
            object.field("stringValue");
            write_string(object.out, text);
        }
        Some(Value::BoolValue(flag)) => {
            object.field("boolValue");
            object.out.extend_from_slice(if *flag { b"true" } else { b"false" });
        }
        Some(Value::IntValue(number)) => {
            object.field("intValue");
            write_string(object.out, &number.to_string());
        }
        Some(Value::DoubleValue(number)) => {
            object.field("doubleValue");
            write_float64(object.out, *number);
        }
        Some(Value::ArrayValue(array)) => {
            object.field("arrayValue");
            let mut inner = Object::start(object.out);
            if !array.values.is_empty() {
                inner.field("values");
                write_list(inner.out, &array.values, |out, value| write_any_value(out, Some(value)));
            }
            inner.end();
        }
        Some(Value::KvlistValue(list)) => {
            object.field("kvlistValue");
            let mut inner = Object::start(object.out);
            if !list.values.is_empty() {
                inner.field("values");
                write_list(inner.out, &list.values, write_key_value);
            }
            inner.end();
        }
        Some(Value::BytesValue(bytes)) => {
            object.field("bytesValue");
            write_string(object.out, &base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        Some(Value::StringValueStrindex(index)) => object.int32("stringValueStrindex", *index),
    }
    object.end();
}

fn write_list<T>(out: &mut Vec<u8>, items: &[T], write_item: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_item(out, item);
    }
    out.push(b']');
}

/// An object being written: puts the comma before every field but the first.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn start(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    fn field(&mut self, name: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        write_string(self.out, name);
        self.out.push(b':');
    }

    fn string(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.field(name);
            write_string(self.out, value);
        }
    }

    fn uint32(&mut self, name: &str, value: u32) {
        if value != 0 {
            self.field(name);
            self.out.extend_from_slice(value.to_string().as_bytes());
        }
    }

    fn int32(&mut self, name: &str, value: i32) {
        if value != 0 {
            self.field(name);
            self.out.extend_from_slice(value.to_string().as_bytes());
        }
    }

    /// 64-bit integers are strings in proto3 JSON.
    fn uint64(&mut self, name: &str, value: u64) {
        if value != 0 {
            self.field(name);
            write_string(self.out, &value.to_string());
        }
    }

    /// A trace or span id in lowercase hex; an absent or all-zero id is left out (pdata's
    /// `IsEmpty`).
    fn id(&mut self, name: &str, bytes: &[u8]) {
        if bytes.iter().any(|byte| *byte != 0) {
            self.field(name);
            write_string(self.out, &hex_lower(bytes));
        }
    }

    fn attributes(&mut self, attributes: &[KeyValue]) {
        if !attributes.is_empty() {
            self.field("attributes");
            write_list(self.out, attributes, write_key_value);
        }
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// json-iterator's `WriteString`: `"` and `\` escaped, `\n` `\r` `\t` by name, every other
/// control character as `\u00xx`; nothing else (no HTML escaping, U+2028 as is).
fn write_string(out: &mut Vec<u8>, text: &str) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut unwritten_from = 0;
    for (at, byte) in bytes.iter().enumerate() {
        let escape: [u8; 2] = match byte {
            b'"' => *b"\\\"",
            b'\\' => *b"\\\\",
            b'\n' => *b"\\n",
            b'\r' => *b"\\r",
            b'\t' => *b"\\t",
            0..=0x1f => [0, 0],
            _ => continue,
        };
        out.extend_from_slice(&bytes[unwritten_from..at]);
        if escape == [0, 0] {
            out.extend_from_slice(b"\\u00");
            out.push(DIGITS[usize::from(byte >> 4)]);
            out.push(DIGITS[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(&escape);
        }
        unwritten_from = at + 1;
    }
    out.extend_from_slice(&bytes[unwritten_from..]);
    out.push(b'"');
}

/// pdata's `WriteFloat64`: `NaN`, `Infinity`, `-Infinity` as strings; otherwise Go's shortest
/// `strconv.AppendFloat(f, 'f' or 'e', -1, 64)`, with the exponent form (at least two exponent
/// digits) below 1e-6 and from 1e21 on.
fn write_float64(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        return write_string(out, "NaN");
    }
    if value.is_infinite() {
        return write_string(out, if value > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        out.extend_from_slice(format!("{value}").as_bytes());
        return;
    }
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    out.extend_from_slice(format!("{mantissa}e{sign}{digits:0>2}").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn value(value: Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(value) })
    }

    #[test]
    fn empty_span_keeps_only_its_status() {
        let span = Span { trace_id: vec![0; 16], ..Default::default() };
        assert_eq!(text(|out| write_span(out, &span)), r#"{"status":{}}"#);
    }

    #[test]
    fn resource_and_scope_are_written_even_when_empty() {
        let resource_spans = ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![Span::default()], ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(
            text(|out| write_resource_spans(out, &resource_spans)),
            r#"{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"status":{}}]}]}"#
        );
    }

    #[test]
    fn span_fields_follow_proto_order_with_ids_hex_and_64_bit_numbers_as_strings() {
        let span = Span {
            trace_id: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 0xab],
            parent_span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
            flags: 1,
            name: "GET /".into(),
            kind: 2,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            status: Some(Status { message: "boom".into(), code: 2 }),
            ..Default::default()
        };
        assert_eq!(
            text(|out| write_span(out, &span)),
            r#"{"traceId":"00000000000000000000000000000001","spanId":"00000000000000ab","parentSpanId":"0000000000000001","flags":1,"name":"GET /","kind":2,"startTimeUnixNano":"1000","endTimeUnixNano":"2000","status":{"message":"boom","code":2}}"#
        );
    }

    #[test]
    fn attribute_values_are_written_as_pdata_writes_them() {
        let attributes = vec![
            KeyValue { key: "s".into(), value: value(Value::StringValue(String::new())), key_strindex: 0 },
            KeyValue { key: "i".into(), value: value(Value::IntValue(-7)), key_strindex: 0 },
            KeyValue { key: "d".into(), value: value(Value::DoubleValue(2.0)), key_strindex: 0 },
            KeyValue { key: "b".into(), value: value(Value::BoolValue(false)), key_strindex: 0 },
            KeyValue { key: "x".into(), value: value(Value::BytesValue(vec![1, 2, 3])), key_strindex: 0 },
            KeyValue {
                key: "a".into(),
                value: value(Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: None }] })),
                key_strindex: 0,
            },
            KeyValue {
                key: "m".into(),
                value: value(Value::KvlistValue(KeyValueList { values: vec![] })),
                key_strindex: 0,
            },
            KeyValue { key: "n".into(), value: None, key_strindex: 0 },
        ];
        let resource = Resource { attributes, ..Default::default() };
        assert_eq!(
            text(|out| write_resource(out, Some(&resource))),
            concat!(
                r#"{"attributes":[{"key":"s","value":{"stringValue":""}},{"key":"i","value":{"intValue":"-7"}},"#,
                r#"{"key":"d","value":{"doubleValue":2}},{"key":"b","value":{"boolValue":false}},"#,
                r#"{"key":"x","value":{"bytesValue":"AQID"}},{"key":"a","value":{"arrayValue":{"values":[{}]}}},"#,
                r#"{"key":"m","value":{"kvlistValue":{}}},{"key":"n","value":{}}]}"#
            )
        );
    }

    #[test]
    fn strings_are_escaped_like_json_iterator_without_html_escaping() {
        assert_eq!(text(|out| write_string(out, "a<b>&\"\\\n\u{8}\u{2028}é")), "\"a<b>&\\\"\\\\\\n\\u0008\u{2028}é\"");
    }

    #[test]
    fn floats_use_go_shortest_form_and_two_digit_exponents() {
        let float = |number| text(|out| write_float64(out, number));
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(100.0), "100");
        assert_eq!(float(1e20), "100000000000000000000");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(1.5e-7), "1.5e-07");
        assert_eq!(float(-0.0), "-0");
        assert_eq!(float(f64::NAN), "\"NaN\"");
        assert_eq!(float(f64::NEG_INFINITY), "\"-Infinity\"");
    }
}
