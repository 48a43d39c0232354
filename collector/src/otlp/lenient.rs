//! A lenient protobuf decoder for `ExportTraceServiceRequest`, used when the strict one (prost)
//! fails. prost refuses a whole request when one `string` field holds invalid UTF-8, which some
//! SDKs send (truncated multi-byte characters, binary data in attributes). This decoder reads
//! the same wire format through mirror messages whose string fields are `bytes` (the wire types
//! are identical), replaces invalid sequences with U+FFFD, and remembers which spans it repaired so
//! the receiver can warn on them. Everything else is decoded exactly as prost would.

use std::collections::HashSet;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use spoor_model::{SpanId, TraceId};

/// The spans (by trace id and span id) in which invalid UTF-8 was replaced, including spans of a
/// resource or scope whose strings were repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairedSpans {
    ids: HashSet<(TraceId, SpanId)>,
}

impl RepairedSpans {
    pub fn contains(&self, trace_id: TraceId, span_id: SpanId) -> bool {
        self.ids.contains(&(trace_id, span_id))
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn insert(&mut self, span: &Span) {
        let (Ok(trace_id), Ok(span_id)) =
            (<[u8; 16]>::try_from(span.trace_id.as_slice()), SpanId::from_bytes(&span.span_id))
        else {
            return; // the conversion rejects a span with such ids anyway
        };
        self.ids.insert((TraceId::from_u128(u128::from_be_bytes(trace_id)), span_id));
    }
}

/// Decodes `bytes` as an `ExportTraceServiceRequest`, repairing invalid UTF-8. Fails only on what
/// is malformed apart from UTF-8 (truncation, wrong wire types, ...).
pub fn decode_lenient(bytes: &[u8]) -> Result<(ExportTraceServiceRequest, RepairedSpans), prost::DecodeError> {
    let lossy = LossyExportRequest::decode(bytes)?;
    let mut repaired = RepairedSpans::default();
    let resource_spans = lossy.resource_spans.into_iter().map(|rs| resource_spans(rs, &mut repaired)).collect();
    Ok((ExportTraceServiceRequest { resource_spans }, repaired))
}

/// Tracks whether any string of the current element needed repair.
#[derive(Default)]
struct Repair {
    any: bool,
}

impl Repair {
    fn text(&mut self, bytes: Vec<u8>) -> String {
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                self.any = true;
                String::from_utf8_lossy(error.as_bytes()).into_owned()
            }
        }
    }

    fn attributes(&mut self, attributes: Vec<LossyKeyValue>) -> Vec<KeyValue> {
        attributes.into_iter().map(|kv| self.key_value(kv)).collect()
    }

    fn key_value(&mut self, kv: LossyKeyValue) -> KeyValue {
        KeyValue { key: self.text(kv.key), value: kv.value.map(|v| self.any_value(v)), key_strindex: 0 }
    }

    fn any_value(&mut self, lossy: LossyAnyValue) -> AnyValue {
        let value = lossy.value.map(|lossy_value| match lossy_value {
            LossyValue::String(bytes) => any_value::Value::StringValue(self.text(bytes)),
            LossyValue::Bool(b) => any_value::Value::BoolValue(b),
            LossyValue::Int(i) => any_value::Value::IntValue(i),
            LossyValue::Double(d) => any_value::Value::DoubleValue(d),
            LossyValue::Array(array) => any_value::Value::ArrayValue(ArrayValue {
                values: array.values.into_iter().map(|v| self.any_value(v)).collect(),
            }),
            LossyValue::Kvlist(list) => {
                any_value::Value::KvlistValue(KeyValueList { values: self.attributes(list.values) })
            }
            LossyValue::Bytes(bytes) => any_value::Value::BytesValue(bytes),
        });
        AnyValue { value }
    }
}

fn resource_spans(lossy: LossyResourceSpans, repaired: &mut RepairedSpans) -> ResourceSpans {
    let mut resource_repair = Repair::default();
    let resource = lossy.resource.map(|resource| Resource {
        attributes: resource_repair.attributes(resource.attributes),
        dropped_attributes_count: resource.dropped_attributes_count,
        entity_refs: Vec::new(),
    });
    let schema_url = resource_repair.text(lossy.schema_url);
    let scope_spans = lossy
        .scope_spans
        .into_iter()
        .map(|scope_spans| {
            let mut scope_repair = Repair { any: resource_repair.any };
            let scope = scope_spans.scope.map(|scope| InstrumentationScope {
                name: scope_repair.text(scope.name),
                version: scope_repair.text(scope.version),
                attributes: scope_repair.attributes(scope.attributes),
                dropped_attributes_count: scope.dropped_attributes_count,
            });
            let schema_url = scope_repair.text(scope_spans.schema_url);
            let spans = scope_spans
                .spans
                .into_iter()
                .map(|span| {
                    let mut span_repair = Repair { any: scope_repair.any };
                    let span = span_from_lossy(span, &mut span_repair);
                    if span_repair.any {
                        repaired.insert(&span);
                    }
                    span
                })
                .collect();
            ScopeSpans { scope, spans, schema_url }
        })
        .collect();
    ResourceSpans { resource, scope_spans, schema_url }
}

fn span_from_lossy(lossy: LossySpan, repair: &mut Repair) -> Span {
    Span {
        trace_id: lossy.trace_id,
        span_id: lossy.span_id,
        trace_state: repair.text(lossy.trace_state),
        parent_span_id: lossy.parent_span_id,
        flags: lossy.flags,
        name: repair.text(lossy.name),
        kind: lossy.kind,
        start_time_unix_nano: lossy.start_time_unix_nano,
        end_time_unix_nano: lossy.end_time_unix_nano,
        attributes: repair.attributes(lossy.attributes),
        dropped_attributes_count: lossy.dropped_attributes_count,
        events: lossy
            .events
            .into_iter()
            .map(|event| Event {
                time_unix_nano: event.time_unix_nano,
                name: repair.text(event.name),
                attributes: repair.attributes(event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: lossy.dropped_events_count,
        links: lossy
            .links
            .into_iter()
            .map(|link| Link {
                trace_id: link.trace_id,
                span_id: link.span_id,
                trace_state: repair.text(link.trace_state),
                attributes: repair.attributes(link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: link.flags,
            })
            .collect(),
        dropped_links_count: lossy.dropped_links_count,
        status: lossy.status.map(|status| Status { message: repair.text(status.message), code: status.code }),
    }
}

// Mirror messages: the field numbers and wire types of opentelemetry-proto's trace, common and
// resource messages, with every `string` read as `bytes`. Fields used only by the profiling signal
// (`key_strindex`, `string_value_strindex`) and resource entity refs are skipped as unknown.

#[derive(Clone, PartialEq, Message)]
struct LossyExportRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<LossyResourceSpans>,
}

#[derive(Clone, PartialEq, Message)]
struct LossyResourceSpans {
    #[prost(message, optional, tag = "1")]
    resource: Option<LossyResource>,
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<LossyScopeSpans>,
    #[prost(bytes = "vec", tag = "3")]
    schema_url: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct LossyResource {
    #[prost(message, repeated, tag = "1")]
    attributes: Vec<LossyKeyValue>,
    #[prost(uint32, tag = "2")]
    dropped_attributes_count: u32,
}

#[derive(Clone, PartialEq, Message)]
struct LossyScopeSpans {
    #[prost(message, optional, tag = "1")]
    scope: Option<LossyScope>,
    #[prost(message, repeated, tag = "2")]
    spans: Vec<LossySpan>,
    #[prost(bytes = "vec", tag = "3")]
    schema_url: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct LossyScope {
    #[prost(bytes = "vec", tag = "1")]
    name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    version: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    attributes: Vec<LossyKeyValue>,
    #[prost(uint32, tag = "4")]
    dropped_attributes_count: u32,
}

#[derive(Clone, PartialEq, Message)]
struct LossySpan {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    trace_state: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    parent_span_id: Vec<u8>,
    #[prost(fixed32, tag = "16")]
    flags: u32,
    #[prost(bytes = "vec", tag = "5")]
    name: Vec<u8>,
    #[prost(int32, tag = "6")]
    kind: i32,
    #[prost(fixed64, tag = "7")]
    start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    attributes: Vec<LossyKeyValue>,
    #[prost(uint32, tag = "10")]
    dropped_attributes_count: u32,
    #[prost(message, repeated, tag = "11")]
    events: Vec<LossyEvent>,
    #[prost(uint32, tag = "12")]
    dropped_events_count: u32,
    #[prost(message, repeated, tag = "13")]
    links: Vec<LossyLink>,
    #[prost(uint32, tag = "14")]
    dropped_links_count: u32,
    #[prost(message, optional, tag = "15")]
    status: Option<LossyStatus>,
}

#[derive(Clone, PartialEq, Message)]
struct LossyEvent {
    #[prost(fixed64, tag = "1")]
    time_unix_nano: u64,
    #[prost(bytes = "vec", tag = "2")]
    name: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    attributes: Vec<LossyKeyValue>,
    #[prost(uint32, tag = "4")]
    dropped_attributes_count: u32,
}

#[derive(Clone, PartialEq, Message)]
struct LossyLink {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    trace_state: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    attributes: Vec<LossyKeyValue>,
    #[prost(uint32, tag = "5")]
    dropped_attributes_count: u32,
    #[prost(fixed32, tag = "6")]
    flags: u32,
}

#[derive(Clone, PartialEq, Message)]
struct LossyStatus {
    #[prost(bytes = "vec", tag = "2")]
    message: Vec<u8>,
    #[prost(int32, tag = "3")]
    code: i32,
}

#[derive(Clone, PartialEq, Message)]
struct LossyKeyValue {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(message, optional, tag = "2")]
    value: Option<LossyAnyValue>,
}

#[derive(Clone, PartialEq, Message)]
struct LossyAnyValue {
    #[prost(oneof = "LossyValue", tags = "1, 2, 3, 4, 5, 6, 7")]
    value: Option<LossyValue>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum LossyValue {
    #[prost(bytes, tag = "1")]
    String(Vec<u8>),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
    #[prost(message, tag = "5")]
    Array(LossyArrayValue),
    #[prost(message, tag = "6")]
    Kvlist(LossyKeyValueList),
    #[prost(bytes, tag = "7")]
    Bytes(Vec<u8>),
}

#[derive(Clone, PartialEq, Message)]
struct LossyArrayValue {
    #[prost(message, repeated, tag = "1")]
    values: Vec<LossyAnyValue>,
}

#[derive(Clone, PartialEq, Message)]
struct LossyKeyValueList {
    #[prost(message, repeated, tag = "1")]
    values: Vec<LossyKeyValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_value(text: &str) -> Option<AnyValue> {
        Some(AnyValue { value: Some(any_value::Value::StringValue(text.to_owned())) })
    }

    fn request(span_name: &str, attribute: &str) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: string_value("svc"),
                        key_strindex: 0,
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope { name: "lib".into(), ..Default::default() }),
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: span_name.into(),
                        kind: 2,
                        start_time_unix_nano: 10,
                        end_time_unix_nano: 20,
                        attributes: vec![KeyValue { key: "k".into(), value: string_value(attribute), key_strindex: 0 }],
                        status: Some(Status { message: "m".into(), code: 2 }),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// Replaces the first occurrence of `marker` in the encoded bytes with invalid UTF-8 of the
    /// same length.
    fn corrupt(mut bytes: Vec<u8>, marker: &[u8]) -> Vec<u8> {
        let at = bytes.windows(marker.len()).position(|window| window == marker).unwrap();
        bytes[at] = 0xff;
        bytes
    }

    #[test]
    fn valid_requests_decode_exactly_as_prost_does() {
        let original = request("GET /", "value");
        let (decoded, repaired) = decode_lenient(&original.encode_to_vec()).unwrap();
        assert_eq!(decoded, original);
        assert!(repaired.is_empty());
    }

    #[test]
    fn invalid_utf8_in_an_attribute_is_replaced_and_the_span_remembered() {
        let bytes = corrupt(request("GET /", "XYZ-value").encode_to_vec(), b"XYZ");
        assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err(), "prost refuses it");
        let (decoded, repaired) = decode_lenient(&bytes).unwrap();
        let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.attributes[0].value, string_value("\u{fffd}YZ-value"));
        assert!(repaired.contains(TraceId::from_u128(u128::from_be_bytes([1; 16])), SpanId(u64::from_be_bytes([2; 8]))));
    }

    #[test]
    fn truncated_input_still_fails() {
        let bytes = request("GET /", "v").encode_to_vec();
        assert!(decode_lenient(&bytes[..bytes.len() - 3]).is_err());
    }
}
