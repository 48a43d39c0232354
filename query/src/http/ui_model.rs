//! Jaeger's UI trace model (`internal/uimodel`), the `data` of `/api/traces` responses, as serde
//! structs borrowing from the query service's traces. Field order and omission rules are Jaeger's:
//! processes keyed `p1..pN` by first appearance, `flags` omitted when 0, span and trace `warnings`
//! `null` when empty, int64 beyond ±(2^53−1) as a string, binary as base64, times in µs.
//!
//! The model is kept Jaeger-exact, so OTLP scope attributes ([`Span::scope_attributes`]) and link
//! attributes ([`SpanRef::attributes`]), which it has no field for, are not rendered; api_v3 and
//! remote storage return them (OTLP).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use base64::Engine;
use serde::Serialize;
use spoor_model::{AttributeValue, KeyValue, Log, Process, Span, SpanRef};

use crate::service::QueryTrace;

/// The largest integer a JavaScript number holds exactly.
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

#[derive(Debug, Serialize)]
pub struct UiTrace<'a> {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<UiSpan<'a>>,
    /// Keys sort as Go sorts map keys (`p1`, `p10`, `p2`), so the bytes match Jaeger's.
    pub processes: BTreeMap<String, UiProcess<'a>>,
    pub warnings: Option<&'a [String]>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiSpan<'a> {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    pub operation_name: &'a str,
    pub references: Vec<UiReference>,
    /// Microseconds since the Unix epoch.
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    pub tags: Vec<UiKeyValue<'a>>,
    pub logs: Vec<UiLog<'a>>,
    #[serde(rename = "processID")]
    pub process_id: Arc<str>,
    pub warnings: Option<&'a [String]>,
}

#[derive(Debug, Serialize)]
pub struct UiReference {
    #[serde(rename = "refType")]
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiProcess<'a> {
    pub service_name: &'a str,
    pub tags: Vec<UiKeyValue<'a>>,
}

#[derive(Debug, Serialize)]
pub struct UiLog<'a> {
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    pub fields: Vec<UiKeyValue<'a>>,
}

#[derive(Debug, Serialize)]
pub struct UiKeyValue<'a> {
    pub key: &'a str,
    /// `string`, `bool`, `int64`, `float64` or `binary`.
    #[serde(rename = "type")]
    pub value_type: &'static str,
    pub value: UiValue<'a>,
}

/// A typed JSON value: what Jaeger's `interface{}` value marshals to.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum UiValue<'a> {
    Str(&'a str),
    /// Binary as base64, or an int64 a JavaScript number cannot hold, as decimal text.
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// `{"name": .., "spanKind": ..}` of `GET /api/operations`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiOperation<'a> {
    pub name: &'a str,
    pub span_kind: &'static str,
}

/// `{"parent": .., "child": .., "callCount": ..}` of `GET /api/dependencies` (Jaeger's
/// `ui.DependencyLink`: no `source`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiDependencyLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

/// Links with the same parent and child merged, calls summed (as Jaeger's
/// `deduplicateDependencies`), sorted by parent then child.
pub fn ui_dependency_links(links: Vec<spoor_storage::DependencyLink>) -> Vec<UiDependencyLink> {
    let mut calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    for link in links {
        *calls.entry((link.parent, link.child)).or_insert(0) += link.call_count;
    }
    calls.into_iter().map(|((parent, child), call_count)| UiDependencyLink { parent, child, call_count }).collect()
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// Converts one trace. The trace id shown is the first span's, as Jaeger does.
pub fn ui_trace(trace: &QueryTrace) -> UiTrace<'_> {
    let mut processes = ProcessTable::default();
    let spans = trace
        .spans
        .iter()
        .map(|span| {
            let process_id = processes.key_of(&span.process);
            ui_span(span, process_id)
        })
        .collect();
    UiTrace {
        trace_id: trace.spans.first().map(|span| span.trace_id.to_hex()).unwrap_or_default(),
        spans,
        processes: processes.into_ui_processes(),
        warnings: non_empty(&trace.warnings),
    }
}

fn ui_span(span: &Span, process_id: Arc<str>) -> UiSpan<'_> {
    UiSpan {
        trace_id: span.trace_id.to_hex(),
        span_id: span.span_id.to_hex(),
        flags: span.flags,
        operation_name: &span.operation_name,
        references: span.references.iter().map(ui_reference).collect(),
        start_time: span.start_time_micros(),
        duration: span.duration_micros(),
        tags: ui_key_values(&span.tags),
        logs: span.logs.iter().map(ui_log).collect(),
        process_id,
        warnings: non_empty(&span.warnings),
    }
}

/// The link's attributes are left out (see the module doc).
fn ui_reference(reference: &SpanRef) -> UiReference {
    UiReference {
        ref_type: reference.ref_type.as_str(),
        trace_id: reference.trace_id.to_hex(),
        span_id: reference.span_id.to_hex(),
    }
}

fn ui_log(log: &Log) -> UiLog<'_> {
    UiLog { timestamp: log.timestamp_unix_nano / 1_000, fields: ui_key_values(&log.fields) }
}

fn ui_key_values(key_values: &[KeyValue]) -> Vec<UiKeyValue<'_>> {
    key_values.iter().map(ui_key_value).collect()
}

fn ui_key_value(key_value: &KeyValue) -> UiKeyValue<'_> {
    let value = match &key_value.value {
        AttributeValue::String(text) => UiValue::Str(text),
        AttributeValue::Bool(flag) => UiValue::Bool(*flag),
        AttributeValue::Int64(number) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(number) => {
            UiValue::Int(*number)
        }
        AttributeValue::Int64(number) => UiValue::Text(number.to_string()),
        AttributeValue::Float64(number) => UiValue::Float(*number),
        AttributeValue::Binary(bytes) => UiValue::Text(base64::engine::general_purpose::STANDARD.encode(bytes)),
    };
    UiKeyValue { key: &key_value.key, value_type: key_value.value.type_name(), value }
}

fn non_empty(warnings: &[String]) -> Option<&[String]> {
    (!warnings.is_empty()).then_some(warnings)
}

/// Assigns `p1`, `p2`, ... to distinct processes (equal service name and tags) in order of first
/// appearance. Spans of one batch share an `Arc`, so the pointer is checked before the contents.
#[derive(Default)]
struct ProcessTable<'a> {
    key_of_pointer: HashMap<*const Process, Arc<str>>,
    keys_of_fingerprint: HashMap<u64, Vec<usize>>,
    distinct: Vec<(&'a Process, Arc<str>)>,
}

impl<'a> ProcessTable<'a> {
    fn key_of(&mut self, process: &'a Arc<Process>) -> Arc<str> {
        if let Some(key) = self.key_of_pointer.get(&Arc::as_ptr(process)) {
            return Arc::clone(key);
        }
        let fingerprint = fingerprint(process);
        let same_fingerprint = self.keys_of_fingerprint.entry(fingerprint).or_default();
        let existing = same_fingerprint.iter().find(|&&index| *self.distinct[index].0 == **process);
        let key = match existing {
            Some(&index) => Arc::clone(&self.distinct[index].1),
            None => {
                let key: Arc<str> = Arc::from(format!("p{}", self.distinct.len() + 1));
                same_fingerprint.push(self.distinct.len());
                self.distinct.push((process, Arc::clone(&key)));
                key
            }
        };
        self.key_of_pointer.insert(Arc::as_ptr(process), Arc::clone(&key));
        key
    }

    fn into_ui_processes(self) -> BTreeMap<String, UiProcess<'a>> {
        self.distinct
            .into_iter()
            .map(|(process, key)| {
                (key.to_string(), UiProcess { service_name: &process.service_name, tags: ui_key_values(&process.tags) })
            })
            .collect()
    }
}

fn fingerprint(process: &Process) -> u64 {
    let mut hasher = DefaultHasher::new();
    process.service_name.hash(&mut hasher);
    for tag in &process.tags {
        tag.key.hash(&mut hasher);
        match &tag.value {
            AttributeValue::String(text) => (0u8, text).hash(&mut hasher),
            AttributeValue::Bool(flag) => (1u8, flag).hash(&mut hasher),
            AttributeValue::Int64(number) => (2u8, number).hash(&mut hasher),
            AttributeValue::Float64(number) => (3u8, number.to_bits()).hash(&mut hasher),
            AttributeValue::Binary(bytes) => (4u8, bytes).hash(&mut hasher),
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::{SpanId, TraceId};

    fn span(id: u64, process: &Arc<Process>) -> Span {
        Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(id),
            operation_name: "op".into(),
            references: vec![],
            flags: 0,
            start_time_unix_nano: 1_500_000,
            duration_nanos: 2_999,
            tags: vec![],
            logs: vec![],
            process: Arc::clone(process),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    fn to_json<T: Serialize>(value: &T) -> String {
        String::from_utf8(crate::http::json::to_go_json(value, false).unwrap()).unwrap()
    }

    #[test]
    fn processes_are_keyed_by_first_appearance_of_distinct_contents() {
        let a = Arc::new(Process { service_name: "a".into(), tags: vec![] });
        let a_again = Arc::new(Process { service_name: "a".into(), tags: vec![] });
        let b = Arc::new(Process { service_name: "b".into(), tags: vec![KeyValue::int64("x", 1)] });
        let trace =
            QueryTrace { spans: vec![span(1, &b), span(2, &a), span(3, &a_again), span(4, &b)], warnings: vec![] };
        let ui = ui_trace(&trace);
        let keys: Vec<&str> = ui.spans.iter().map(|s| &*s.process_id).collect();
        assert_eq!(keys, vec!["p1", "p2", "p2", "p1"]);
        assert_eq!(ui.processes["p1"].service_name, "b");
        assert_eq!(ui.processes.len(), 2);
    }

    #[test]
    fn values_are_typed_like_jaeger_json() {
        let tags = [
            KeyValue::int64("safe", (1 << 53) - 1),
            KeyValue::int64("big", 1 << 53),
            KeyValue::int64("small", -(1 << 53)),
            KeyValue::binary("blob", vec![0, 0, 0x30, 0x39]),
            KeyValue::float64("f", 72.5),
            KeyValue::bool("b", true),
        ];
        assert_eq!(
            to_json(&ui_key_values(&tags)),
            concat!(
                r#"[{"key":"safe","type":"int64","value":9007199254740991},"#,
                r#"{"key":"big","type":"int64","value":"9007199254740992"},"#,
                r#"{"key":"small","type":"int64","value":"-9007199254740992"},"#,
                r#"{"key":"blob","type":"binary","value":"AAAwOQ=="},"#,
                r#"{"key":"f","type":"float64","value":72.5},"#,
                r#"{"key":"b","type":"bool","value":true}]"#
            )
        );
    }

    #[test]
    fn zero_flags_are_omitted_and_empty_warnings_are_null() {
        let p = Arc::new(Process { service_name: "a".into(), tags: vec![] });
        let mut with_parent = span(2, &p);
        with_parent.references.push(SpanRef::child_of(TraceId::new(0, 1), SpanId(1)));
        with_parent.flags = 1;
        let trace = QueryTrace { spans: vec![span(1, &p), with_parent], warnings: vec![] };
        assert_eq!(
            to_json(&ui_trace(&trace)),
            concat!(
                r#"{"traceID":"0000000000000001","spans":["#,
                r#"{"traceID":"0000000000000001","spanID":"0000000000000001","operationName":"op","references":[],"#,
                r#""startTime":1500,"duration":2,"tags":[],"logs":[],"processID":"p1","warnings":null},"#,
                r#"{"traceID":"0000000000000001","spanID":"0000000000000002","flags":1,"operationName":"op","#,
                r#""references":[{"refType":"CHILD_OF","traceID":"0000000000000001","spanID":"0000000000000001"}],"#,
                r#""startTime":1500,"duration":2,"tags":[],"logs":[],"processID":"p1","warnings":null}],"#,
                r#""processes":{"p1":{"serviceName":"a","tags":[]}},"warnings":null}"#
            )
        );
    }

    #[test]
    fn process_keys_sort_as_go_sorts_map_keys() {
        let processes: Vec<Arc<Process>> =
            (0..11).map(|i| Arc::new(Process { service_name: format!("s{i}"), tags: vec![] })).collect();
        let trace = QueryTrace {
            spans: processes.iter().enumerate().map(|(i, p)| span(i as u64 + 1, p)).collect(),
            warnings: vec![],
        };
        let ui = ui_trace(&trace);
        let keys: Vec<&String> = ui.processes.keys().collect();
        assert_eq!(keys[..3], [&"p1".to_string(), &"p10".to_string(), &"p11".to_string()]);
    }
}
