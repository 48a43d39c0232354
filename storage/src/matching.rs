//! Jaeger's search semantics on whole spans, shared by backends that hold spans in memory: a span
//! matches when it meets every condition of the query at once.

use spoor_model::Span;

use crate::api::{FoundTraceId, TraceQuery};

/// The query's inclusive start-time range; a query whose two bounds are both 0 covers all time.
pub(crate) fn start_time_bounds(query: &TraceQuery) -> (u64, u64) {
    let max = if query.start_time_max_unix_nano == 0 { u64::MAX } else { query.start_time_max_unix_nano };
    (query.start_time_min_unix_nano, max)
}

/// True when `span` matches every condition of `query` (service, operation, every tag, duration
/// and start-time ranges).
pub(crate) fn span_matches(span: &Span, query: &TraceQuery) -> bool {
    let (start_min, start_max) = start_time_bounds(query);
    if span.start_time_unix_nano < start_min || span.start_time_unix_nano > start_max {
        return false;
    }
    if query.duration_min_nanos.is_some_and(|min| span.duration_nanos < min) {
        return false;
    }
    if query.duration_max_nanos.is_some_and(|max| span.duration_nanos > max) {
        return false;
    }
    if query.service_name.as_deref().is_some_and(|service| service != span.service_name()) {
        return false;
    }
    if query.operation_name.as_deref().is_some_and(|operation| operation != span.operation_name) {
        return false;
    }
    query.tags.iter().all(|(key, value)| span_has_tag(span, key, value))
}

/// True when a span tag, a process tag, a log field, a scope attribute or a link attribute has
/// `key` and a value whose text form is `value` (the places Jaeger's v2 memory store searches).
pub(crate) fn span_has_tag(span: &Span, key: &str, value: &str) -> bool {
    let matches = |key_value: &spoor_model::KeyValue| key_value.key == key && key_value.value.as_string() == value;
    span.tags.iter().any(matches)
        || span.process.tags.iter().any(matches)
        || span.logs.iter().any(|log| log.fields.iter().any(matches))
        || span.scope_attributes.iter().any(matches)
        || span.references.iter().any(|reference| reference.attributes.iter().any(matches))
}

/// Most recent first by the latest matching span start; ties broken by trace id so results are
/// deterministic.
pub(crate) fn sort_most_recent_first(found: &mut [FoundTraceId]) {
    found.sort_unstable_by(|a, b| {
        b.start_time_max_unix_nano.cmp(&a.start_time_max_unix_nano).then_with(|| b.trace_id.cmp(&a.trace_id))
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use spoor_model::{KeyValue, Log, Process, SpanId, SpanRef, TraceId};

    use super::*;

    fn span() -> Span {
        Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(1),
            operation_name: "GET /cart".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: 5_000,
            duration_nanos: 100,
            tags: vec![KeyValue::int64("http.status_code", 200)],
            logs: vec![Log { timestamp_unix_nano: 5_010, fields: vec![KeyValue::string("event", "retry")] }],
            process: Arc::new(Process {
                service_name: "cart".into(),
                tags: vec![KeyValue::string("hostname", "node-1")],
            }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    fn query(tags: &[(&str, &str)]) -> TraceQuery {
        TraceQuery {
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            ..TraceQuery::default()
        }
    }

    #[test]
    fn tags_match_span_tags_process_tags_and_log_fields_by_text() {
        assert!(span_matches(
            &span(),
            &query(&[("http.status_code", "200"), ("hostname", "node-1"), ("event", "retry")])
        ));
        assert!(!span_matches(&span(), &query(&[("http.status_code", "404")])));
    }

    #[test]
    fn tags_match_scope_attributes_and_link_attributes() {
        let mut with_attributes = span();
        with_attributes.scope_attributes = vec![KeyValue::float64("scope.ratio", 72.5)];
        with_attributes.references = vec![SpanRef::follows_from(TraceId::new(0, 9), SpanId(9))
            .with_attributes(vec![KeyValue::bool("link.sampled", true)])];
        assert!(span_matches(&with_attributes, &query(&[("scope.ratio", "72.5"), ("link.sampled", "true")])));
        assert!(!span_matches(&span(), &query(&[("scope.ratio", "72.5")])));
        assert!(!span_matches(&with_attributes, &query(&[("link.sampled", "false")])));
    }

    #[test]
    fn zero_time_bounds_cover_all_time_and_set_bounds_are_inclusive() {
        assert!(span_matches(&span(), &query(&[])));
        let exact = TraceQuery { start_time_min_unix_nano: 5_000, start_time_max_unix_nano: 5_000, ..query(&[]) };
        assert!(span_matches(&span(), &exact));
        let after = TraceQuery { start_time_min_unix_nano: 5_001, start_time_max_unix_nano: 9_000, ..query(&[]) };
        assert!(!span_matches(&span(), &after));
    }

    #[test]
    fn duration_bounds_are_inclusive() {
        let exact = TraceQuery { duration_min_nanos: Some(100), duration_max_nanos: Some(100), ..query(&[]) };
        assert!(span_matches(&span(), &exact));
        let longer = TraceQuery { duration_min_nanos: Some(101), ..query(&[]) };
        assert!(!span_matches(&span(), &longer));
    }
}
