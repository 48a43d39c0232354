//! Zipkin v2 spans (JSON or protobuf, once parsed) to model spans.
//!
//! Jaeger v2 receives Zipkin v2 through the OTel Collector's zipkin receiver; Jaeger v1 converted
//! it to Zipkin v1 Thrift and applied its `to_domain` rules. Spoor keeps what both agree on and
//! what Envoy/Istio users rely on (integrations.md §1.3-1.4):
//!
//! * `traceId` (64 or 128 bits), `id`, `parentId` (a CHILD_OF reference; dropped when equal to
//!   `id`, as the OTel receiver does), `name` byte-exact.
//! * `kind` becomes the `span.kind` tag in lower case (`client`, `server`, `producer`,
//!   `consumer`), after the other tags, where Jaeger puts it.
//! * Every tag stays the string it arrived as, in arrival order (Envoy's `error="true"` and
//!   `http.status_code="200"` stay strings); a repeated key keeps its last value. The tags
//!   `jaegerClient`, `jaeger.version` and `jaeger.hostname` move to the process, as Jaeger does.
//! * `localEndpoint.serviceName` is the process's service name (`unknown-service-name` without
//!   one); `ipv4` becomes the process tag `ip` (Jaeger's packed `Int64`), `ipv6` and `port` the
//!   tags `ipv6` and `port`.
//! * `remoteEndpoint` becomes `peer.service`, `peer.ipv4`, `peer.ipv6` and `peer.port` tags
//!   (Jaeger's names and types), whatever the kind.
//! * `annotations` become logs with one `event` field holding the value.
//! * Flags: sampled (a reported Zipkin span was sampled), plus debug when `debug` is true.
//! * `shared: true` adds the bool tag `zipkin.shared`.
//! * Times are microseconds; the model keeps nanoseconds.

use crate::zipkin::common::{micros_to_nanos, process_tag_name, Endpoint, Processes, FIELD_EVENT, TAG_SHARED};
use crate::{KeyValue, Log, Span, SpanId, SpanKind, SpanRef, TraceId, FLAG_DEBUG, FLAG_SAMPLED};

/// A Zipkin v2 span after its ids, times and endpoints were parsed.
#[derive(Debug, Default)]
pub(crate) struct V2Span {
    pub trace_id: TraceId,
    pub id: SpanId,
    pub parent_id: Option<SpanId>,
    pub name: String,
    pub kind: SpanKind,
    pub timestamp_micros: Option<u64>,
    pub duration_micros: Option<u64>,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    pub annotations: Vec<(u64, String)>,
    pub tags: Vec<(String, String)>,
    pub debug: bool,
    pub shared: bool,
    pub warnings: Vec<String>,
}

/// Adds a tag, replacing the value of an earlier one with the same key (JSON objects and proto
/// maps keep the last value of a repeated key).
pub(crate) fn put_tag(tags: &mut Vec<(String, String)>, key: String, value: String) {
    match tags.iter_mut().find(|(existing, _)| *existing == key) {
        Some((_, existing_value)) => *existing_value = value,
        None => tags.push((key, value)),
    }
}

/// Parses a Zipkin v2 `kind`; upper case is the standard, lower case is accepted.
pub(crate) fn parse_kind(text: &str) -> Option<SpanKind> {
    let kind = match text.to_ascii_uppercase().as_str() {
        "CLIENT" => SpanKind::Client,
        "SERVER" => SpanKind::Server,
        "PRODUCER" => SpanKind::Producer,
        "CONSUMER" => SpanKind::Consumer,
        _ => return None,
    };
    Some(kind)
}

pub(crate) fn spans_from_v2(spans: Vec<V2Span>) -> Vec<Span> {
    let mut processes = Processes::default();
    spans.into_iter().map(|span| span_from_v2(span, &mut processes)).collect()
}

fn span_from_v2(span: V2Span, processes: &mut Processes) -> Span {
    let V2Span {
        trace_id,
        id,
        parent_id,
        name,
        kind,
        timestamp_micros,
        duration_micros,
        local_endpoint,
        remote_endpoint,
        annotations,
        tags: zipkin_tags,
        debug,
        shared,
        mut warnings,
    } = span;

    let mut tags = Vec::with_capacity(zipkin_tags.len() + 2);
    let mut moved_tags = Vec::new();
    for (key, value) in zipkin_tags {
        match process_tag_name(&key) {
            Some(process_key) => moved_tags.push(KeyValue::string(process_key, value)),
            None => tags.push(KeyValue::string(key, value)),
        }
    }
    if let Some(remote) = &remote_endpoint {
        remote.push_peer_tags(&mut tags);
    }
    if kind != SpanKind::Unspecified {
        tags.push(KeyValue::string(crate::otlp::TAG_SPAN_KIND, kind.as_str()));
    }
    if shared {
        tags.push(KeyValue::bool(TAG_SHARED, true));
    }

    let references = match parent_id {
        Some(parent) if !parent.is_zero() && parent != id => {
            vec![SpanRef::child_of(trace_id, parent)]
        }
        Some(parent) if parent == id => {
            warnings.push("parentId equals id; parent dropped".to_owned());
            Vec::new()
        }
        _ => Vec::new(),
    };
    let start_time_unix_nano = match timestamp_micros {
        Some(micros) => micros_to_nanos(micros),
        None => {
            warnings.push("span has no timestamp; start time set to 0".to_owned());
            0
        }
    };
    let logs = annotations
        .into_iter()
        .map(|(micros, value)| Log {
            timestamp_unix_nano: micros_to_nanos(micros),
            fields: vec![KeyValue::string(FIELD_EVENT, value)],
        })
        .collect();
    let process = processes.get(local_endpoint.as_ref(), moved_tags, &mut warnings);

    Span {
        trace_id,
        span_id: id,
        operation_name: name,
        references,
        flags: if debug { FLAG_SAMPLED | FLAG_DEBUG } else { FLAG_SAMPLED },
        start_time_unix_nano,
        duration_nanos: micros_to_nanos(duration_micros.unwrap_or_default()),
        tags,
        logs,
        process,
        warnings,
        scope_attributes: Vec::new(),
    }
}
