//! Zipkin v1 spans (JSON or Thrift, once parsed) to model spans, with Jaeger's rules
//! (Jaeger v1 `model/converter/thrift/zipkin/to_domain.go`):
//!
//! * Tags are the binary annotations, typed (`BOOL`, `I16`/`I32`/`I64` as `Int64`, `DOUBLE` as
//!   `Float64`, `STRING`, `BYTES` as `Binary`), in order; `lc` becomes `component`; `sa`, `ca`
//!   and `ma` become `peer.service`, `peer.ipv4`, `peer.ipv6`, `peer.port` from their endpoint;
//!   `jaegerClient`, `jaeger.version` and `jaeger.hostname` move to the process.
//! * The first core annotation (`cs`/`cr` client, `sr`/`ss` server) adds the `span.kind` tag, last.
//! * Without a span `timestamp`, the start comes from `cs` (else `sr`) and, without a `duration`,
//!   the duration from `cr - cs` (else `ss - sr`).
//! * A span with both `cs` and `sr` (one Zipkin span for both sides) becomes two spans with the
//!   same ids: the second has the other kind, its side's times, and only the `span.kind` tag.
//! * Other annotations become logs: a JSON object value becomes one string field per member,
//!   any other value a single `event` field; empty values are skipped.
//! * The service name and the `ip` process tag come from the host of the first core annotation
//!   with a service name, else of `lc`, else of any annotation, else of any binary annotation;
//!   without one the service is `unknown-service-name` and the span gets a warning.
//!
//! Differences, each to keep data Jaeger would lose or mangle: spans are flagged sampled (Jaeger
//! writes flags 0 or debug only); a negative time or duration becomes 0 with a warning instead of
//! wrapping; the host's IPv6 address and port also become process tags (`ipv6`, `port`); an
//! empty remote service name adds no `peer.service` tag.

use crate::zipkin::common::{
    micros_to_nanos, process_tag_name, value_text, Endpoint, Processes, FIELD_EVENT, TAG_COMPONENT,
};
use crate::{AttributeValue, KeyValue, Log, Span, SpanId, SpanKind, SpanRef, TraceId, FLAG_DEBUG, FLAG_SAMPLED};

const CLIENT_SEND: &str = "cs";
const CLIENT_RECV: &str = "cr";
const SERVER_SEND: &str = "ss";
const SERVER_RECV: &str = "sr";
const LOCAL_COMPONENT: &str = "lc";
const SERVER_ADDR: &str = "sa";
const CLIENT_ADDR: &str = "ca";
const MESSAGE_ADDR: &str = "ma";

/// A Zipkin v1 span after its ids were parsed and its binary annotations typed.
#[derive(Debug, Default)]
pub(crate) struct V1Span {
    pub trace_id: TraceId,
    pub id: SpanId,
    pub parent_id: Option<SpanId>,
    pub name: String,
    pub annotations: Vec<V1Annotation>,
    pub binary_annotations: Vec<V1BinaryAnnotation>,
    pub debug: bool,
    /// Microseconds; absent and 0 mean "derive from the core annotations".
    pub timestamp: Option<i64>,
    pub duration: Option<i64>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct V1Annotation {
    pub timestamp: i64,
    pub value: String,
    pub host: Option<Endpoint>,
}

#[derive(Debug)]
pub(crate) struct V1BinaryAnnotation {
    pub key: String,
    pub value: AttributeValue,
    pub host: Option<Endpoint>,
}

fn core_annotation_kind(value: &str) -> Option<SpanKind> {
    match value {
        CLIENT_SEND | CLIENT_RECV => Some(SpanKind::Client),
        SERVER_SEND | SERVER_RECV => Some(SpanKind::Server),
        _ => None,
    }
}

pub(crate) fn spans_from_v1(spans: Vec<V1Span>) -> Vec<Span> {
    let mut processes = Processes::default();
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        convert(span, &mut processes, &mut out);
    }
    out
}

fn find<'s>(span: &'s V1Span, value: &str) -> Option<&'s V1Annotation> {
    span.annotations.iter().find(|annotation| annotation.value == value)
}

/// Microseconds to nanoseconds; negative becomes 0 with a warning.
fn nanos(micros: i64, what: &str, warnings: &mut Vec<String>) -> u64 {
    match u64::try_from(micros) {
        Ok(micros) => micros_to_nanos(micros),
        Err(_) => {
            warnings.push(format!("negative {what} {micros}µs; set to 0"));
            0
        }
    }
}

fn convert(mut span: V1Span, processes: &mut Processes, out: &mut Vec<Span>) {
    let mut warnings = std::mem::take(&mut span.warnings);

    // Tags, and the process tags that travel as binary annotations.
    let mut tags = Vec::with_capacity(span.binary_annotations.len() + 1);
    let mut moved_tags = Vec::new();
    for annotation in &span.binary_annotations {
        if let Some(process_key) = process_tag_name(&annotation.key) {
            moved_tags.push(KeyValue::new(process_key, annotation.value.clone()));
            continue;
        }
        match annotation.key.as_str() {
            LOCAL_COMPONENT => tags.push(KeyValue::string(TAG_COMPONENT, value_text(&annotation.value))),
            SERVER_ADDR | CLIENT_ADDR | MESSAGE_ADDR => {
                if let Some(host) = &annotation.host {
                    host.push_peer_tags(&mut tags);
                }
            }
            _ => tags.push(KeyValue::new(annotation.key.clone(), annotation.value.clone())),
        }
    }
    let kind = span.annotations.iter().find_map(|annotation| core_annotation_kind(&annotation.value));
    if let Some(kind) = kind {
        tags.push(KeyValue::string(crate::otlp::TAG_SPAN_KIND, kind.as_str()));
    }

    let references = match span.parent_id {
        Some(parent) if !parent.is_zero() => {
            vec![SpanRef::child_of(span.trace_id, parent)]
        }
        _ => Vec::new(),
    };
    let flags = if span.debug { FLAG_SAMPLED | FLAG_DEBUG } else { FLAG_SAMPLED };
    let (start, duration) = start_and_duration(&span);
    let start_time_unix_nano = nanos(start, "start time", &mut warnings);
    let duration_nanos = nanos(duration, "duration", &mut warnings);
    let logs = logs(&span.annotations, &mut warnings);
    let host = service_host(&span);
    let process = processes.get(host, moved_tags, &mut warnings);

    let client_send = find(&span, CLIENT_SEND).map(|annotation| annotation.timestamp);
    let server_recv = find(&span, SERVER_RECV).map(|annotation| annotation.timestamp);
    let other_side = match (client_send, server_recv) {
        (Some(client_send), Some(server_recv)) => {
            let first_is_client = tags.iter().find(|tag| tag.key == crate::otlp::TAG_SPAN_KIND).map(|tag| &tag.value)
                == Some(&AttributeValue::String(SpanKind::Client.as_str().to_owned()));
            let (kind, start, end) = if first_is_client {
                (SpanKind::Server, server_recv, find(&span, SERVER_SEND).map(|annotation| annotation.timestamp))
            } else {
                (SpanKind::Client, client_send, find(&span, CLIENT_RECV).map(|annotation| annotation.timestamp))
            };
            Some((kind, start, end))
        }
        _ => None,
    };

    let first = Span {
        trace_id: span.trace_id,
        span_id: span.id,
        operation_name: span.name,
        references,
        flags,
        start_time_unix_nano,
        duration_nanos,
        tags,
        logs,
        process,
        warnings,
        scope_attributes: Vec::new(),
    };
    if let Some((kind, start, end)) = other_side {
        let mut warnings = Vec::new();
        let start_time_unix_nano = nanos(start, "start time", &mut warnings);
        let duration_nanos = end.map_or(0, |end| nanos(end.saturating_sub(start), "duration", &mut warnings));
        let second = Span {
            trace_id: first.trace_id,
            span_id: first.span_id,
            operation_name: first.operation_name.clone(),
            references: first.references.clone(),
            flags: first.flags,
            start_time_unix_nano,
            duration_nanos,
            tags: vec![KeyValue::string(crate::otlp::TAG_SPAN_KIND, kind.as_str())],
            logs: Vec::new(),
            process: first.process.clone(),
            warnings,
            scope_attributes: Vec::new(),
        };
        out.push(first);
        out.push(second);
    } else {
        out.push(first);
    }
}

/// Jaeger's `getStartTimeAndDuration`.
fn start_and_duration(span: &V1Span) -> (i64, i64) {
    let mut timestamp = span.timestamp.unwrap_or_default();
    let mut duration = span.duration.unwrap_or_default();
    if timestamp == 0 {
        if let Some(client_send) = find(span, CLIENT_SEND) {
            timestamp = client_send.timestamp;
            if let (Some(client_recv), 0) = (find(span, CLIENT_RECV), duration) {
                duration = client_recv.timestamp.saturating_sub(client_send.timestamp);
            }
        } else if let Some(server_recv) = find(span, SERVER_RECV) {
            timestamp = server_recv.timestamp;
            if let (Some(server_send), 0) = (find(span, SERVER_SEND), duration) {
                duration = server_send.timestamp.saturating_sub(server_recv.timestamp);
            }
        }
    }
    (timestamp, duration)
}

/// Jaeger's `findServiceNameAndIP`: the endpoint that names the service.
fn service_host(span: &V1Span) -> Option<&Endpoint> {
    fn named(host: &Option<Endpoint>) -> Option<&Endpoint> {
        host.as_ref().filter(|host| !host.service_name.is_empty())
    }
    span.annotations
        .iter()
        .filter(|annotation| core_annotation_kind(&annotation.value).is_some())
        .find_map(|annotation| named(&annotation.host))
        .or_else(|| {
            span.binary_annotations
                .iter()
                .filter(|annotation| annotation.key == LOCAL_COMPONENT)
                .find_map(|annotation| named(&annotation.host))
        })
        .or_else(|| span.annotations.iter().find_map(|annotation| named(&annotation.host)))
        .or_else(|| span.binary_annotations.iter().find_map(|annotation| named(&annotation.host)))
}

fn logs(annotations: &[V1Annotation], warnings: &mut Vec<String>) -> Vec<Log> {
    annotations
        .iter()
        .filter(|annotation| !annotation.value.is_empty() && core_annotation_kind(&annotation.value).is_none())
        .map(|annotation| Log {
            timestamp_unix_nano: nanos(annotation.timestamp, "annotation time", warnings),
            fields: log_fields(&annotation.value),
        })
        .collect()
}

/// Some tracers encode a key/value log as a JSON object of strings in the annotation value;
/// Jaeger tries that first, then falls back to one `event` field.
fn log_fields(value: &str) -> Vec<KeyValue> {
    if value.starts_with('{') {
        if let Ok(super::json::OrderedStringMap(fields)) = serde_json::from_str(value) {
            return fields.into_iter().map(|(key, value)| KeyValue::string(key, value)).collect();
        }
    }
    vec![KeyValue::string(FIELD_EVENT, value)]
}
