//! Jaeger's Elasticsearch documents (spec §4.2, §4.3), both directions.
//!
//! Written documents are Jaeger v1's in field order and shape (`references`, `tags`, `logs` and
//! `process.tags` are `[]` when empty; tag values are strings, `kv.AsString()`), followed by
//! additions Jaeger readers ignore:
//! * `startTimeNanos`, `durationNanos` and, in each log, `timestampNanos`: the exact nanoseconds
//!   (Jaeger's fields are microseconds, and OTLP spans carry nanoseconds);
//! * `warnings`, only when the span has warnings, so the sanitizer's notes survive a round trip;
//! * OTLP's instrumentation-scope attributes as `scopeTags` (or, with tags as fields, `scopeTag`)
//!   and a link's attributes as `references[].tags`, both in Jaeger's tag shape and only when
//!   present. Jaeger's index template already maps these fields (nested key/value lists, and
//!   `scopeTag.*` as keywords) but Jaeger never writes them. Because they are absent when empty, a
//!   span without them has the same document, and so the same document id, as before;
//! * `spanKind` in the service document.
//!
//! Reading accepts v1 string values, v2 native values (numbers, booleans), tags stored as fields
//! (`tag`/`process.tag`), unpadded legacy trace ids and the legacy `parentSpanID`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use spoor_model::{AttributeValue, KeyValue, Log, Process, RefType, Span, SpanId, SpanRef, TraceId};

use super::config::EsTagsAsFields;
use crate::api::StorageError;

/// How spans become documents: which tags are stored as fields (Jaeger's `tags_as_fields`).
#[derive(Clone, Debug, Default)]
pub(crate) struct DocumentOptions {
    all_tags_as_fields: bool,
    tags_as_fields: HashSet<String>,
    dot_replacement: String,
}

impl DocumentOptions {
    pub(crate) fn new(tags_as_fields: &EsTagsAsFields) -> Self {
        Self {
            all_tags_as_fields: tags_as_fields.all,
            tags_as_fields: tags_as_fields.include.iter().cloned().collect(),
            dot_replacement: tags_as_fields.dot_replacement.clone(),
        }
    }

    pub(crate) fn dot_replacement(&self) -> &str {
        if self.dot_replacement.is_empty() {
            "@"
        } else {
            &self.dot_replacement
        }
    }

    fn as_field(&self, key_value: &KeyValue) -> bool {
        !matches!(key_value.value, AttributeValue::Binary(_))
            && (self.all_tags_as_fields || self.tags_as_fields.contains(&key_value.key))
    }
}

/// Jaeger's `dbmodel.Span`, field order as Go's `encoding/json` writes it.
#[derive(Serialize)]
pub(crate) struct SpanDocument<'a> {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    flags: u32,
    #[serde(rename = "operationName")]
    operation_name: &'a str,
    references: Vec<ReferenceDocument<'a>>,
    #[serde(rename = "startTime")]
    start_time: u64,
    #[serde(rename = "startTimeMillis")]
    start_time_millis: u64,
    duration: u64,
    tags: Vec<KeyValueDocument<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tag: BTreeMap<String, Value>,
    logs: Vec<LogDocument<'a>>,
    process: ProcessDocument<'a>,
    #[serde(rename = "startTimeNanos")]
    start_time_nanos: u64,
    #[serde(rename = "durationNanos")]
    duration_nanos: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(rename = "scopeTags", skip_serializing_if = "Vec::is_empty")]
    scope_tags: Vec<KeyValueDocument<'a>>,
    #[serde(rename = "scopeTag", skip_serializing_if = "BTreeMap::is_empty")]
    scope_tag: BTreeMap<String, Value>,
}

#[derive(Serialize)]
struct ReferenceDocument<'a> {
    #[serde(rename = "refType")]
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    /// The link's attributes (always as a list: the mapping has no `references.tag` object).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<KeyValueDocument<'a>>,
}

#[derive(Serialize)]
struct KeyValueDocument<'a> {
    key: &'a str,
    #[serde(rename = "type")]
    value_type: &'static str,
    value: Cow<'a, str>,
}

#[derive(Serialize)]
struct LogDocument<'a> {
    timestamp: u64,
    fields: Vec<KeyValueDocument<'a>>,
    #[serde(rename = "timestampNanos")]
    timestamp_nanos: u64,
}

#[derive(Serialize)]
struct ProcessDocument<'a> {
    #[serde(rename = "serviceName")]
    service_name: &'a str,
    tags: Vec<KeyValueDocument<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tag: BTreeMap<String, Value>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl<'a> SpanDocument<'a> {
    pub(crate) fn new(span: &'a Span, options: &DocumentOptions) -> Self {
        let (tags, tag) = split_tags(&span.tags, options);
        let (process_tags, process_tag) = split_tags(&span.process.tags, options);
        let (scope_tags, scope_tag) = split_tags(&span.scope_attributes, options);
        let start_time = span.start_time_micros();
        Self {
            trace_id: span.trace_id.to_hex(),
            span_id: span.span_id.to_hex(),
            flags: span.flags,
            operation_name: &span.operation_name,
            references: span
                .references
                .iter()
                .map(|reference| ReferenceDocument {
                    ref_type: reference.ref_type.as_str(),
                    trace_id: reference.trace_id.to_hex(),
                    span_id: reference.span_id.to_hex(),
                    tags: reference.attributes.iter().map(key_value_document).collect(),
                })
                .collect(),
            start_time,
            start_time_millis: start_time / 1_000,
            duration: span.duration_micros(),
            tags,
            tag,
            logs: span
                .logs
                .iter()
                .map(|log| LogDocument {
                    timestamp: log.timestamp_unix_nano / 1_000,
                    fields: log.fields.iter().map(key_value_document).collect(),
                    timestamp_nanos: log.timestamp_unix_nano,
                })
                .collect(),
            process: ProcessDocument { service_name: &span.process.service_name, tags: process_tags, tag: process_tag },
            start_time_nanos: span.start_time_unix_nano,
            duration_nanos: span.duration_nanos,
            warnings: &span.warnings,
            scope_tags,
            scope_tag,
        }
    }

    pub(crate) fn trace_id(&self) -> &str {
        &self.trace_id
    }

    pub(crate) fn span_id(&self) -> &str {
        &self.span_id
    }
}

fn key_value_document(key_value: &KeyValue) -> KeyValueDocument<'_> {
    KeyValueDocument {
        key: &key_value.key,
        value_type: key_value.value.type_name(),
        value: key_value.value.as_string(),
    }
}

fn split_tags<'a>(
    tags: &'a [KeyValue],
    options: &DocumentOptions,
) -> (Vec<KeyValueDocument<'a>>, BTreeMap<String, Value>) {
    let mut as_fields = BTreeMap::new();
    let mut as_array = Vec::with_capacity(tags.len());
    for key_value in tags {
        if options.as_field(key_value) {
            as_fields.insert(key_value.key.replace('.', options.dot_replacement()), native_value(&key_value.value));
        } else {
            as_array.push(key_value_document(key_value));
        }
    }
    (as_array, as_fields)
}

/// A tag stored as a field keeps its native JSON type (as Jaeger's `kv.Value()`).
fn native_value(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::String(text) => Value::String(text.clone()),
        AttributeValue::Bool(flag) => Value::Bool(*flag),
        AttributeValue::Int64(number) => Value::from(*number),
        AttributeValue::Float64(number) => serde_json::Number::from_f64(*number)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.as_string().into_owned())),
        AttributeValue::Binary(_) => Value::String(value.as_string().into_owned()),
    }
}

/// Jaeger's span document with default options (no tags as fields).
#[cfg_attr(not(test), allow(dead_code))] // the seams contract; the writer uses `span_document_bytes`
pub(crate) fn span_to_document(span: &Span) -> Value {
    serde_json::to_value(SpanDocument::new(span, &DocumentOptions::default())).unwrap_or(Value::Null)
}

/// The bytes of a span document, as sent in a bulk request.
pub(crate) fn span_document_bytes(span: &Span, options: &DocumentOptions) -> (Vec<u8>, String) {
    let document = SpanDocument::new(span, options);
    // Serializing a struct of strings, numbers and sequences into a Vec cannot fail.
    let body = serde_json::to_vec(&document).unwrap_or_default();
    let id = span_document_id(document.trace_id(), document.span_id(), &body);
    (body, id)
}

/// Jaeger HEAD's `spanDocID`: `traceID_spanID_<hex FNV-1a 64 of the JSON body>`, so the same span
/// written twice is one document and two different spans sharing a span id are two.
pub(crate) fn span_document_id(trace_id: &str, span_id: &str, body: &[u8]) -> String {
    format!("{trace_id}_{span_id}_{:x}", fnv1a_64(&[body]))
}

/// FNV-1a 64 over the concatenation of `parts` (Go's `hash/fnv.New64a`).
pub(crate) fn fnv1a_64(parts: &[&[u8]]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

/// The service/operation document: Jaeger's two fields plus `spanKind` (empty when unspecified).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceDocument<'a> {
    #[serde(rename = "serviceName")]
    pub service_name: &'a str,
    #[serde(rename = "operationName")]
    pub operation_name: &'a str,
    #[serde(rename = "spanKind")]
    pub span_kind: &'static str,
}

impl<'a> ServiceDocument<'a> {
    pub(crate) fn of(span: &'a Span) -> Self {
        Self {
            service_name: &span.process.service_name,
            operation_name: &span.operation_name,
            span_kind: span.kind().as_str(),
        }
    }

    /// Jaeger's `hashCode`: lowercase unpadded hex of FNV-1a 64 over service name then operation
    /// name, with the span kind appended. An unspecified kind is the empty string, so such a
    /// document has exactly Jaeger's id; a server and a client operation of one name are two.
    pub(crate) fn id(&self) -> String {
        format!("{:x}", self.hash())
    }

    pub(crate) fn hash(&self) -> u64 {
        fnv1a_64(&[self.service_name.as_bytes(), self.operation_name.as_bytes(), self.span_kind.as_bytes()])
    }
}

/// Reads a span document (Jaeger v1 or v2, or Spoor's) with the default dot replacement `@`.
#[cfg_attr(not(test), allow(dead_code))] // the seams contract; the reader passes its replacement
pub(crate) fn span_from_document(doc: &Value) -> Result<Span, StorageError> {
    span_from_document_with(doc, "@")
}

/// Reads a span document whose tags-as-fields keys use `dot_replacement` for `.`.
pub(crate) fn span_from_document_with(doc: &Value, dot_replacement: &str) -> Result<Span, StorageError> {
    let object = doc.as_object().ok_or_else(|| corrupt("span document is not an object"))?;
    let trace_id = parse_trace_id(object.get("traceID"))?;
    let span_id = parse_span_id(object.get("spanID"))?;
    let mut references = Vec::new();
    for reference in array(object.get("references")) {
        let ref_type = match reference.get("refType").and_then(Value::as_str) {
            Some("FOLLOWS_FROM") => RefType::FollowsFrom,
            _ => RefType::ChildOf,
        };
        references.push(
            SpanRef::new(ref_type, parse_trace_id(reference.get("traceID"))?, parse_span_id(reference.get("spanID"))?)
                .with_attributes(key_values(reference.get("tags"))?),
        );
    }
    if let Some(parent) = object.get("parentSpanID").and_then(Value::as_str).filter(|text| !text.is_empty()) {
        let parent = SpanId::from_hex(parent).map_err(|error| corrupt(&format!("parentSpanID: {error}")))?;
        if !parent.is_zero() && !references.iter().any(|reference| reference.span_id == parent) {
            references.insert(0, SpanRef::child_of(trace_id, parent));
        }
    }
    let mut tags = key_values(object.get("tags"))?;
    tags.extend(field_tags(object.get("tag"), dot_replacement));
    let mut logs = Vec::new();
    for log in array(object.get("logs")) {
        logs.push(Log {
            timestamp_unix_nano: exact_nanos(log.get("timestamp"), log.get("timestampNanos")),
            fields: key_values(log.get("fields"))?,
        });
    }
    let process = object.get("process");
    let mut process_tags = key_values(process.and_then(|p| p.get("tags")))?;
    process_tags.extend(field_tags(process.and_then(|p| p.get("tag")), dot_replacement));
    let service_name = process.and_then(|p| p.get("serviceName")).and_then(Value::as_str).unwrap_or_default();
    let warnings = array(object.get("warnings")).filter_map(|w| w.as_str().map(str::to_owned)).collect();
    let mut scope_attributes = key_values(object.get("scopeTags"))?;
    scope_attributes.extend(field_tags(object.get("scopeTag"), dot_replacement));
    Ok(Span {
        trace_id,
        span_id,
        operation_name: object.get("operationName").and_then(Value::as_str).unwrap_or_default().to_owned(),
        references,
        flags: object.get("flags").and_then(as_u64).and_then(|flags| u32::try_from(flags).ok()).unwrap_or(0),
        start_time_unix_nano: exact_nanos(object.get("startTime"), object.get("startTimeNanos")),
        duration_nanos: exact_nanos(object.get("duration"), object.get("durationNanos")),
        tags,
        logs,
        process: Arc::new(Process { service_name: service_name.to_owned(), tags: process_tags }),
        warnings,
        scope_attributes,
    })
}

fn corrupt(message: &str) -> StorageError {
    StorageError::Corrupt(format!("elasticsearch document: {message}"))
}

/// Spoor's nanoseconds when present and consistent with Jaeger's microseconds (a document edited
/// by another tool may have changed only the microseconds), else the microseconds.
fn exact_nanos(micros: Option<&Value>, nanos: Option<&Value>) -> u64 {
    let micros = micros.and_then(as_u64).unwrap_or(0);
    match nanos.and_then(as_u64) {
        Some(nanos) if nanos / 1_000 == micros => nanos,
        _ => micros.saturating_mul(1_000),
    }
}

fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64().or_else(|| number.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

fn array(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

fn parse_trace_id(value: Option<&Value>) -> Result<TraceId, StorageError> {
    let text = value.and_then(Value::as_str).ok_or_else(|| corrupt("traceID is missing"))?;
    TraceId::from_hex(text).map_err(|error| corrupt(&format!("traceID {text:?}: {error}")))
}

fn parse_span_id(value: Option<&Value>) -> Result<SpanId, StorageError> {
    let text = value.and_then(Value::as_str).ok_or_else(|| corrupt("spanID is missing"))?;
    SpanId::from_hex(text).map_err(|error| corrupt(&format!("spanID {text:?}: {error}")))
}

fn key_values(value: Option<&Value>) -> Result<Vec<KeyValue>, StorageError> {
    array(value).map(key_value).collect()
}

/// One `{key, type, value}`; `value` is a string (v1) or native (v2).
fn key_value(value: &Value) -> Result<KeyValue, StorageError> {
    let key = value.get("key").and_then(Value::as_str).unwrap_or_default().to_owned();
    let raw = value.get("value").unwrap_or(&Value::Null);
    let value_type = value.get("type").and_then(Value::as_str).unwrap_or("string");
    let text = || match raw {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let bad = |what: &str| corrupt(&format!("tag {key:?} has {what} {raw}"));
    let attribute = match value_type {
        "bool" => match raw {
            Value::Bool(flag) => AttributeValue::Bool(*flag),
            Value::String(text) if text == "true" => AttributeValue::Bool(true),
            Value::String(text) if text == "false" => AttributeValue::Bool(false),
            _ => return Err(bad("a non-bool value")),
        },
        "int64" => match raw {
            Value::Number(number) => AttributeValue::Int64(
                number
                    .as_i64()
                    .or_else(|| number.as_f64().map(|f| f as i64))
                    .ok_or_else(|| bad("a non-int64 value"))?,
            ),
            Value::String(text) => AttributeValue::Int64(text.parse().map_err(|_| bad("a non-int64 value"))?),
            _ => return Err(bad("a non-int64 value")),
        },
        "float64" => match raw {
            Value::Number(number) => {
                AttributeValue::Float64(number.as_f64().ok_or_else(|| bad("a non-float64 value"))?)
            }
            Value::String(text) => {
                AttributeValue::Float64(parse_float(text).ok_or_else(|| bad("a non-float64 value"))?)
            }
            _ => return Err(bad("a non-float64 value")),
        },
        "binary" => match raw {
            Value::String(text) => AttributeValue::Binary(decode_hex(text).ok_or_else(|| bad("a non-hex value"))?),
            _ => return Err(bad("a non-hex value")),
        },
        _ => AttributeValue::String(text()),
    };
    Ok(KeyValue { key, value: attribute })
}

/// Go's `strconv.ParseFloat` spellings of the special values, then Rust's.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 == 1 {
        return None;
    }
    (0..text.len()).step_by(2).map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok()).collect()
}

/// Tags stored as fields: keys with the dot replacement turned back into `.`, types inferred
/// from the JSON value (integral numbers are int64), as Jaeger's reader does.
fn field_tags(value: Option<&Value>, dot_replacement: &str) -> Vec<KeyValue> {
    let Some(object) = value.and_then(Value::as_object) else {
        return Vec::new();
    };
    object
        .iter()
        .map(|(key, value)| {
            let key = if dot_replacement.is_empty() { key.clone() } else { key.replace(dot_replacement, ".") };
            let attribute = match value {
                Value::Bool(flag) => AttributeValue::Bool(*flag),
                Value::Number(number) => match number.as_i64() {
                    Some(integer) => AttributeValue::Int64(integer),
                    None => AttributeValue::Float64(number.as_f64().unwrap_or(0.0)),
                },
                Value::String(text) => AttributeValue::String(text.clone()),
                other => AttributeValue::String(format!("invalid tag type in {other}")),
            };
            KeyValue { key, value: attribute }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use spoor_model::FLAG_SAMPLED;

    use super::*;

    fn sample_span() -> Span {
        Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(2),
            operation_name: "GET /".into(),
            references: vec![SpanRef::child_of(TraceId::new(0, 1), SpanId(3))],
            flags: FLAG_SAMPLED,
            start_time_unix_nano: 1_485_467_191_639_875_000,
            duration_nanos: 5_000,
            tags: vec![KeyValue::bool("error", true)],
            logs: vec![Log {
                timestamp_unix_nano: 1_485_467_191_639_875_000,
                fields: vec![KeyValue::string("event", "x")],
            }],
            process: Arc::new(Process { service_name: "svc".into(), tags: vec![KeyValue::string("hostname", "h1")] }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn writes_the_spec_example_document_exactly() {
        let expected = r#"{"traceID":"0000000000000001","spanID":"0000000000000002","flags":1,"operationName":"GET /","references":[{"refType":"CHILD_OF","traceID":"0000000000000001","spanID":"0000000000000003"}],"startTime":1485467191639875,"startTimeMillis":1485467191639,"duration":5,"tags":[{"key":"error","type":"bool","value":"true"}],"logs":[{"timestamp":1485467191639875,"fields":[{"key":"event","type":"string","value":"x"}]}],"process":{"serviceName":"svc","tags":[{"key":"hostname","type":"string","value":"h1"}]}}"#;
        // Jaeger's document, then Spoor's exact nanoseconds.
        let expected = expected
            .replace(
                r#""fields":[{"key":"event","type":"string","value":"x"}]}]"#,
                r#""fields":[{"key":"event","type":"string","value":"x"}],"timestampNanos":1485467191639875000}]"#,
            )
            .replace("}]}}", r#"}]},"startTimeNanos":1485467191639875000,"durationNanos":5000}"#);
        let (body, _) = span_document_bytes(&sample_span(), &DocumentOptions::default());
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn empty_lists_are_written_as_empty_arrays() {
        let mut span = sample_span();
        span.references.clear();
        span.tags.clear();
        span.logs.clear();
        span.flags = 0;
        span.process = Arc::new(Process { service_name: "svc".into(), tags: vec![] });
        let doc = span_to_document(&span);
        assert_eq!(doc["references"], json!([]));
        assert_eq!(doc["tags"], json!([]));
        assert_eq!(doc["logs"], json!([]));
        assert_eq!(doc["process"]["tags"], json!([]));
        assert!(doc.get("flags").is_none());
        assert!(doc.get("warnings").is_none());
    }

    #[test]
    fn every_field_round_trips() {
        let mut span = sample_span();
        span.trace_id = TraceId::new(0xabc, 0xdef);
        span.tags = vec![
            KeyValue::string("s", "text"),
            KeyValue::bool("b", false),
            KeyValue::int64("i", -42),
            KeyValue::float64("f", 72.5),
            KeyValue::float64("g", 0.1 + 0.2),
            KeyValue::binary("bin", vec![0, 1, 254]),
        ];
        span.references.push(SpanRef::follows_from(TraceId::new(9, 9), SpanId(9)));
        span.warnings = vec!["clock skew".into()];
        span.scope_attributes = vec![KeyValue::string("library.language", "go"), KeyValue::binary("build", vec![7])];
        span.references[1].attributes = vec![
            KeyValue::string("s", "v"),
            KeyValue::int64("i", 123),
            KeyValue::float64("d", 72.5),
            KeyValue::bool("b", true),
            KeyValue::binary("blob", vec![0, 0, 0x30, 0x39]),
        ];
        span.start_time_unix_nano += 123;
        span.duration_nanos = 987_654_321;
        span.logs[0].timestamp_unix_nano += 7;
        let doc = span_to_document(&span);
        assert_eq!(doc["traceID"], "0000000000000abc0000000000000def");
        assert_eq!(doc["warnings"], json!(["clock skew"]));
        assert_eq!(span_from_document(&doc).unwrap(), span);
    }

    #[test]
    fn scope_and_link_attributes_are_written_in_jaegers_tag_shape_only_when_present() {
        let plain = span_to_document(&sample_span());
        assert!(plain.get("scopeTags").is_none() && plain.get("scopeTag").is_none());
        assert!(plain["references"][0].get("tags").is_none());

        let mut span = sample_span();
        span.scope_attributes = vec![KeyValue::int64("shard", 2)];
        span.references[0].attributes = vec![KeyValue::bool("sampled", true)];
        let doc = span_to_document(&span);
        assert_eq!(doc["scopeTags"], json!([{"key": "shard", "type": "int64", "value": "2"}]));
        assert_eq!(doc["references"][0]["tags"], json!([{"key": "sampled", "type": "bool", "value": "true"}]));
    }

    #[test]
    fn scope_attributes_follow_tags_as_fields_but_link_attributes_stay_a_list() {
        let options = DocumentOptions::new(&EsTagsAsFields { all: true, include: vec![], dot_replacement: "@".into() });
        let mut span = sample_span();
        span.scope_attributes = vec![KeyValue::string("library.language", "go")];
        span.references[0].attributes = vec![KeyValue::string("link.kind", "batch")];
        let doc = serde_json::to_value(SpanDocument::new(&span, &options)).unwrap();
        assert_eq!(doc["scopeTag"], json!({"library@language": "go"}));
        assert!(doc.get("scopeTags").is_none());
        assert_eq!(doc["references"][0]["tags"], json!([{"key": "link.kind", "type": "string", "value": "batch"}]));
        let back = span_from_document(&doc).unwrap();
        assert_eq!(back.scope_attributes, span.scope_attributes);
        assert_eq!(back.references, span.references);
    }

    #[test]
    fn reads_native_values_of_v2_documents() {
        let doc = json!({
            "traceID": "00000000000000010000000000000002", "spanID": "0000000000000003", "operationName": "op",
            "references": null, "startTime": 10, "startTimeMillis": 0, "duration": 2,
            "tags": [{"key": "i", "type": "int64", "value": 7}, {"key": "b", "type": "bool", "value": true},
                     {"key": "f", "type": "float64", "value": 1.5}, {"key": "s", "type": "string", "value": "x"}],
            "logs": null, "process": {"serviceName": "svc", "tags": null}
        });
        let span = span_from_document(&doc).unwrap();
        assert_eq!(span.trace_id, TraceId::new(1, 2));
        assert_eq!(
            span.tags,
            vec![
                KeyValue::int64("i", 7),
                KeyValue::bool("b", true),
                KeyValue::float64("f", 1.5),
                KeyValue::string("s", "x")
            ]
        );
        assert_eq!(span.start_time_unix_nano, 10_000);
        assert!(span.references.is_empty() && span.logs.is_empty() && span.process.tags.is_empty());
    }

    #[test]
    fn reads_tags_stored_as_fields_and_legacy_parent_ids() {
        let doc = json!({
            "traceID": "1", "spanID": "2", "parentSpanID": "0000000000000005", "operationName": "op",
            "startTime": 1, "duration": 1, "tags": [], "tag": {"http@method": "GET", "http@status_code": 200, "ok": true, "ratio": 0.5},
            "logs": [], "process": {"serviceName": "svc", "tags": [], "tag": {"host@name": "h"}}
        });
        let span = span_from_document(&doc).unwrap();
        assert_eq!(span.trace_id, TraceId::new(0, 1));
        assert_eq!(span.references, vec![SpanRef::child_of(TraceId::new(0, 1), SpanId(5))]);
        assert!(span.tags.contains(&KeyValue::string("http.method", "GET")));
        assert!(span.tags.contains(&KeyValue::int64("http.status_code", 200)));
        assert!(span.tags.contains(&KeyValue::bool("ok", true)));
        assert!(span.tags.contains(&KeyValue::float64("ratio", 0.5)));
        assert_eq!(span.process.tags, vec![KeyValue::string("host.name", "h")]);
    }

    #[test]
    fn tags_as_fields_moves_selected_non_binary_tags() {
        let options = DocumentOptions::new(&EsTagsAsFields {
            all: false,
            include: vec!["http.method".into(), "blob".into()],
            dot_replacement: "@".into(),
        });
        let mut span = sample_span();
        span.tags =
            vec![KeyValue::string("http.method", "GET"), KeyValue::binary("blob", vec![1]), KeyValue::int64("n", 1)];
        let doc = serde_json::to_value(SpanDocument::new(&span, &options)).unwrap();
        assert_eq!(doc["tag"], json!({"http@method": "GET"}));
        assert_eq!(
            doc["tags"],
            json!([{"key": "blob", "type": "binary", "value": "01"}, {"key": "n", "type": "int64", "value": "1"}])
        );
    }

    #[test]
    fn rejects_documents_without_ids() {
        assert!(span_from_document(&json!({"spanID": "1"})).is_err());
        assert!(span_from_document(&json!({"traceID": "zz", "spanID": "1"})).is_err());
        assert!(span_from_document(&json!([])).is_err());
    }

    #[test]
    fn fnv1a_matches_go() {
        // Go: fnv.New64a() over "" and "a".
        assert_eq!(fnv1a_64(&[b""]), 0xcbf29ce484222325);
        assert_eq!(fnv1a_64(&[b"a"]), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a_64(&[b"fo", b"obar"]), fnv1a_64(&[b"foobar"]));
    }

    #[test]
    fn service_document_id_is_jaegers_for_unspecified_kinds() {
        let mut span = sample_span();
        let doc = ServiceDocument::of(&span);
        assert_eq!(doc.span_kind, "");
        let unspecified_id = doc.id();
        assert_eq!(unspecified_id, format!("{:x}", fnv1a_64(&[b"svc", b"GET /"])));
        span.tags.push(KeyValue::string("span.kind", "server"));
        let server = ServiceDocument::of(&span);
        assert_eq!(server.span_kind, "server");
        assert_ne!(server.id(), unspecified_id);
        assert_eq!(
            serde_json::to_string(&server).unwrap(),
            r#"{"serviceName":"svc","operationName":"GET /","spanKind":"server"}"#
        );
    }

    #[test]
    fn span_document_id_changes_with_the_content() {
        let span = sample_span();
        let (_, id) = span_document_bytes(&span, &DocumentOptions::default());
        assert!(id.starts_with("0000000000000001_0000000000000002_"), "{id}");
        let mut other = span.clone();
        other.duration_nanos += 1_000;
        assert_ne!(span_document_bytes(&other, &DocumentOptions::default()).1, id);
        assert_eq!(span_document_bytes(&span, &DocumentOptions::default()).1, id);
    }
}
