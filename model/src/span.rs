//! The span model. It is Jaeger-shaped on purpose: span kind, status and instrumentation scope are
//! tags (`span.kind`, `error`, `otel.status_code`, `otel.scope.name`, ...), exactly as Jaeger
//! stores them, so every tag keeps the type and text it arrived with (Envoy's `error="true"` stays
//! a string) and the storage and query formats need no second mapping. Typed accessors
//! ([`Span::kind`], [`Span::status_code`]) read those tags.
//!
//! Two OTLP details have no tag form in Jaeger and are kept apart so they round-trip through
//! OTLP: the instrumentation scope's attributes ([`Span::scope_attributes`]) and a link's
//! attributes ([`SpanRef::attributes`]). Jaeger's own formats (api_v2, Thrift, Zipkin, the UI
//! JSON) have no place for them and leave them out.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ids::{SpanId, TraceId};

/// Jaeger span flag: the trace is sampled.
pub const FLAG_SAMPLED: u32 = 1;
/// Jaeger span flag: the trace was force-sampled (debug).
pub const FLAG_DEBUG: u32 = 2;
/// Jaeger span flag: firehose mode.
pub const FLAG_FIREHOSE: u32 = 8;

/// A typed attribute value. Arrays and maps arrive as their JSON text in a `String`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum AttributeValue {
    String(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    #[serde(with = "hex_bytes")]
    Binary(Vec<u8>),
}

impl AttributeValue {
    /// Jaeger's type name (`string`, `bool`, `int64`, `float64`, `binary`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::Bool(_) => "bool",
            Self::Int64(_) => "int64",
            Self::Float64(_) => "float64",
            Self::Binary(_) => "binary",
        }
    }

    /// The value as text, as Jaeger's `KeyValue.AsString()` renders it (binary as hex). This is
    /// the form tag searches compare against, so `error=true` finds a bool `true` and a string
    /// `"true"` alike.
    pub fn as_string(&self) -> Cow<'_, str> {
        match self {
            Self::String(s) => Cow::Borrowed(s),
            Self::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Self::Int64(i) => Cow::Owned(i.to_string()),
            Self::Float64(f) => Cow::Owned(format_float(*f)),
            Self::Binary(b) => Cow::Owned(hex::encode(b)),
        }
    }
}

/// Renders a float the way Go's `strconv.FormatFloat(f, 'g', -1, 64)` would for common values:
/// the shortest representation that round-trips, without a trailing `.0` for whole numbers.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    let text = f.to_string();
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

/// A key and its typed value: a span tag, a process tag or a log field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(flatten)]
    pub value: AttributeValue,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: AttributeValue) -> Self {
        Self { key: key.into(), value }
    }
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(key, AttributeValue::String(value.into()))
    }
    pub fn bool(key: impl Into<String>, value: bool) -> Self {
        Self::new(key, AttributeValue::Bool(value))
    }
    pub fn int64(key: impl Into<String>, value: i64) -> Self {
        Self::new(key, AttributeValue::Int64(value))
    }
    pub fn float64(key: impl Into<String>, value: f64) -> Self {
        Self::new(key, AttributeValue::Float64(value))
    }
    pub fn binary(key: impl Into<String>, value: Vec<u8>) -> Self {
        Self::new(key, AttributeValue::Binary(value))
    }
}

/// A timestamped set of fields (an OTLP event becomes a log with an `event` field).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Log {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_unix_nano: u64,
    pub fields: Vec<KeyValue>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefType {
    ChildOf,
    FollowsFrom,
}

impl RefType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChildOf => "CHILD_OF",
            Self::FollowsFrom => "FOLLOWS_FROM",
        }
    }
}

/// A reference to another span: the parent (CHILD_OF) or a link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanRef {
    pub ref_type: RefType,
    #[serde(with = "hex_trace_id")]
    pub trace_id: TraceId,
    #[serde(with = "hex_span_id")]
    pub span_id: SpanId,
    /// The OTLP link's attributes, except `opentracing.ref_type`, which `ref_type` already holds.
    /// Searched like span tags. No Jaeger format has a place for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
}

impl SpanRef {
    /// A reference without attributes (every reference Jaeger's formats can express).
    pub fn new(ref_type: RefType, trace_id: TraceId, span_id: SpanId) -> Self {
        Self { ref_type, trace_id, span_id, attributes: Vec::new() }
    }

    pub fn child_of(trace_id: TraceId, span_id: SpanId) -> Self {
        Self::new(RefType::ChildOf, trace_id, span_id)
    }

    pub fn follows_from(trace_id: TraceId, span_id: SpanId) -> Self {
        Self::new(RefType::FollowsFrom, trace_id, span_id)
    }

    pub fn with_attributes(mut self, attributes: Vec<KeyValue>) -> Self {
        self.attributes = attributes;
        self
    }
}

/// The emitting process: the service name and its tags (OTLP resource attributes).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Process {
    pub service_name: String,
    pub tags: Vec<KeyValue>,
}

/// The span kind, read from the `span.kind` tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// The `span.kind` tag value; empty for unspecified (Jaeger writes no tag then).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }

    /// Parses a `span.kind` value; unknown text is `Unspecified`.
    pub fn parse(text: &str) -> Self {
        match text {
            "internal" => Self::Internal,
            "server" => Self::Server,
            "client" => Self::Client,
            "producer" => Self::Producer,
            "consumer" => Self::Consumer,
            _ => Self::Unspecified,
        }
    }
}

/// The span status, read from the `error` and `otel.status_code` tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

/// One span, with its process. Times are kept in nanoseconds (OTLP's precision); Jaeger's
/// storage and UI formats use microseconds, see [`Span::start_time_micros`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    #[serde(with = "hex_trace_id")]
    pub trace_id: TraceId,
    #[serde(with = "hex_span_id")]
    pub span_id: SpanId,
    pub operation_name: String,
    /// The parent (first, as CHILD_OF) and links.
    pub references: Vec<SpanRef>,
    /// Jaeger flags ([`FLAG_SAMPLED`], [`FLAG_DEBUG`], ...).
    pub flags: u32,
    pub start_time_unix_nano: u64,
    pub duration_nanos: u64,
    pub tags: Vec<KeyValue>,
    /// The OTLP instrumentation scope's attributes (its name and version are the tags
    /// `otel.scope.name`/`otel.scope.version`, as Jaeger maps them). Searched like span tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope_attributes: Vec<KeyValue>,
    pub logs: Vec<Log>,
    /// Shared by every span of one incoming batch.
    pub process: Arc<Process>,
    /// Problems found while receiving the span (the sanitizer records them instead of dropping).
    pub warnings: Vec<String>,
}

impl Span {
    pub fn start_time_micros(&self) -> u64 {
        self.start_time_unix_nano / 1_000
    }

    pub fn duration_micros(&self) -> u64 {
        self.duration_nanos / 1_000
    }

    pub fn end_time_unix_nano(&self) -> u64 {
        self.start_time_unix_nano.saturating_add(self.duration_nanos)
    }

    pub fn service_name(&self) -> &str {
        &self.process.service_name
    }

    /// The first CHILD_OF reference within the same trace, as Jaeger's `ParentSpanID()`.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.references
            .iter()
            .find(|r| r.ref_type == RefType::ChildOf && r.trace_id == self.trace_id)
            .map(|r| r.span_id)
    }

    pub fn tag(&self, key: &str) -> Option<&AttributeValue> {
        self.tags.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
    }

    pub fn kind(&self) -> SpanKind {
        match self.tag("span.kind") {
            Some(AttributeValue::String(s)) => SpanKind::parse(s),
            _ => SpanKind::Unspecified,
        }
    }

    /// `Error` when the `error` tag is `true` (bool or the string `"true"`), `Ok` when
    /// `otel.status_code` is `OK`, else `Unset`.
    pub fn status_code(&self) -> StatusCode {
        match self.tag("error") {
            Some(AttributeValue::Bool(true)) => return StatusCode::Error,
            Some(AttributeValue::String(s)) if s == "true" => return StatusCode::Error,
            _ => {}
        }
        match self.tag("otel.status_code") {
            Some(AttributeValue::String(s)) if s == "ERROR" => StatusCode::Error,
            Some(AttributeValue::String(s)) if s == "OK" => StatusCode::Ok,
            _ => StatusCode::Unset,
        }
    }

    /// A cheap estimate of the span's size in memory, for byte-bounded queues.
    pub fn estimated_size(&self) -> usize {
        fn kv_size(kvs: &[KeyValue]) -> usize {
            kvs.iter()
                .map(|kv| {
                    48 + kv.key.len()
                        + match &kv.value {
                            AttributeValue::String(s) => s.len(),
                            AttributeValue::Binary(b) => b.len(),
                            _ => 8,
                        }
                })
                .sum()
        }
        200 + self.operation_name.len()
            + self.references.iter().map(|r| 40 + kv_size(&r.attributes)).sum::<usize>()
            + kv_size(&self.tags)
            + kv_size(&self.scope_attributes)
            + self.logs.iter().map(|l| 32 + kv_size(&l.fields)).sum::<usize>()
            + self.warnings.iter().map(|w| 24 + w.len()).sum::<usize>()
    }
}

/// The unit every stage passes on: spans that arrived together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanBatch {
    pub spans: Vec<Span>,
}

impl SpanBatch {
    pub fn new(spans: Vec<Span>) -> Self {
        Self { spans }
    }
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// Sum of [`Span::estimated_size`] plus the processes, counted once each.
    pub fn estimated_size(&self) -> usize {
        self.spans.iter().map(Span::estimated_size).sum()
    }
}

impl From<Vec<Span>> for SpanBatch {
    fn from(spans: Vec<Span>) -> Self {
        Self { spans }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

mod hex_trace_id {
    use crate::TraceId;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(id: &TraceId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_hex())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TraceId, D::Error> {
        let text = String::deserialize(d)?;
        TraceId::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

mod hex_span_id {
    use crate::SpanId;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(id: &SpanId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_hex())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SpanId, D::Error> {
        let text = String::deserialize(d)?;
        SpanId::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span_with_tags(tags: Vec<KeyValue>) -> Span {
        Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(2),
            operation_name: "op".into(),
            references: vec![],
            flags: FLAG_SAMPLED,
            start_time_unix_nano: 1_000_000,
            duration_nanos: 5_000,
            tags,
            logs: vec![],
            process: Arc::new(Process { service_name: "svc".into(), tags: vec![] }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn kind_and_status_are_read_from_tags() {
        let span = span_with_tags(vec![KeyValue::string("span.kind", "server"), KeyValue::bool("error", true)]);
        assert_eq!(span.kind(), SpanKind::Server);
        assert_eq!(span.status_code(), StatusCode::Error);
        let envoy = span_with_tags(vec![KeyValue::string("error", "true")]);
        assert_eq!(envoy.status_code(), StatusCode::Error);
        assert_eq!(span_with_tags(vec![]).kind(), SpanKind::Unspecified);
    }

    #[test]
    fn values_render_as_jaeger_strings() {
        assert_eq!(AttributeValue::Bool(true).as_string(), "true");
        assert_eq!(AttributeValue::Int64(-3).as_string(), "-3");
        assert_eq!(AttributeValue::Float64(72.5).as_string(), "72.5");
        assert_eq!(AttributeValue::Float64(2.0).as_string(), "2");
        assert_eq!(AttributeValue::Binary(vec![0xab, 1]).as_string(), "ab01");
    }

    #[test]
    fn time_is_reported_in_micros() {
        let span = span_with_tags(vec![]);
        assert_eq!(span.start_time_micros(), 1_000);
        assert_eq!(span.duration_micros(), 5);
    }
}
