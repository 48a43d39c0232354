//! Trace summaries (`FindTraceSummaries`, api_v3 and storage.v2): what a search result list shows
//! of a trace, computed over all of its spans.
//!
//! Transport-neutral; it lives here while the gRPC APIs are its only users.

use std::collections::{BTreeMap, HashSet};

use spoor_model::{Span, SpanId, StatusCode, TraceId};

/// One trace, summarised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TraceSummary {
    pub trace_id: TraceId,
    /// Of the earliest span without a parent; empty when every span has one.
    pub root_service_name: String,
    pub root_operation_name: String,
    pub min_start_time_unix_nano: u64,
    pub max_end_time_unix_nano: u64,
    pub span_count: usize,
    /// Spans whose status is an error (`error=true` or `otel.status_code=ERROR`).
    pub error_span_count: usize,
    /// Spans with a parent that is not in the trace.
    pub orphan_span_count: usize,
    /// Sorted by name.
    pub services: Vec<ServiceSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceSummary {
    pub name: String,
    pub span_count: usize,
    pub error_span_count: usize,
}

/// Summarises the spans of one trace; `None` when there are none.
pub(crate) fn summarize(spans: &[Span]) -> Option<TraceSummary> {
    let first = spans.first()?;
    let span_ids: HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
    let mut summary = TraceSummary {
        trace_id: first.trace_id,
        root_service_name: String::new(),
        root_operation_name: String::new(),
        min_start_time_unix_nano: u64::MAX,
        max_end_time_unix_nano: 0,
        span_count: spans.len(),
        error_span_count: 0,
        orphan_span_count: 0,
        services: Vec::new(),
    };
    let mut services: BTreeMap<&str, ServiceSummary> = BTreeMap::new();
    let mut root: Option<&Span> = None;
    for span in spans {
        let is_error = span.status_code() == StatusCode::Error;
        let service = services.entry(span.service_name()).or_insert_with(|| ServiceSummary {
            name: span.service_name().to_owned(),
            span_count: 0,
            error_span_count: 0,
        });
        service.span_count += 1;
        if is_error {
            service.error_span_count += 1;
            summary.error_span_count += 1;
        }
        summary.min_start_time_unix_nano = summary.min_start_time_unix_nano.min(span.start_time_unix_nano);
        summary.max_end_time_unix_nano = summary.max_end_time_unix_nano.max(span.end_time_unix_nano());
        match span.parent_span_id() {
            None if root.is_none_or(|earliest| span.start_time_unix_nano < earliest.start_time_unix_nano) => {
                root = Some(span);
            }
            None => {}
            Some(parent) if !span_ids.contains(&parent) => summary.orphan_span_count += 1,
            Some(_) => {}
        }
    }
    if let Some(root) = root {
        summary.root_service_name = root.service_name().to_owned();
        summary.root_operation_name = root.operation_name.clone();
    }
    summary.services = services.into_values().collect();
    Some(summary)
}

/// A count as the protos' `int32`, saturating.
pub(crate) fn count(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use spoor_model::{KeyValue, Process, SpanRef};

    fn span(id: u64, parent: Option<u64>, service: &str, start: u64, duration: u64) -> Span {
        let trace_id = TraceId::new(0, 7);
        Span {
            trace_id,
            span_id: SpanId(id),
            operation_name: format!("op-{id}"),
            references: parent.map(|parent| vec![SpanRef::child_of(trace_id, SpanId(parent))]).unwrap_or_default(),
            flags: 1,
            start_time_unix_nano: start,
            duration_nanos: duration,
            tags: vec![],
            logs: vec![],
            process: Arc::new(Process { service_name: service.to_owned(), tags: vec![] }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn summary_counts_spans_errors_orphans_and_services() {
        let mut failing = span(3, Some(1), "backend", 150, 10);
        failing.tags.push(KeyValue::bool("error", true));
        let spans = vec![
            span(2, Some(1), "backend", 120, 50),
            span(1, None, "frontend", 100, 100),
            failing,
            span(4, Some(99), "backend", 130, 300),
        ];
        let summary = summarize(&spans).unwrap();
        assert_eq!(summary.trace_id, TraceId::new(0, 7));
        assert_eq!(summary.root_service_name, "frontend");
        assert_eq!(summary.root_operation_name, "op-1");
        assert_eq!(summary.min_start_time_unix_nano, 100);
        assert_eq!(summary.max_end_time_unix_nano, 430);
        assert_eq!(summary.span_count, 4);
        assert_eq!(summary.error_span_count, 1);
        assert_eq!(summary.orphan_span_count, 1);
        assert_eq!(
            summary.services,
            vec![
                ServiceSummary { name: "backend".into(), span_count: 3, error_span_count: 1 },
                ServiceSummary { name: "frontend".into(), span_count: 1, error_span_count: 0 },
            ]
        );
    }

    #[test]
    fn earliest_parentless_span_is_the_root() {
        let spans = vec![span(1, None, "late", 200, 1), span(2, None, "early", 100, 1)];
        assert_eq!(summarize(&spans).unwrap().root_service_name, "early");
    }

    #[test]
    fn trace_without_parentless_span_has_no_root() {
        let spans = vec![span(1, Some(2), "a", 100, 1), span(2, Some(1), "b", 100, 1)];
        let summary = summarize(&spans).unwrap();
        assert_eq!(summary.root_service_name, "");
        assert_eq!(summary.orphan_span_count, 0);
    }

    #[test]
    fn no_spans_no_summary() {
        assert_eq!(summarize(&[]), None);
    }
}
