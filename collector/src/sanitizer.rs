//! Fixes what can be fixed in received spans and records every problem on the span as a warning
//! (shown by the UI) instead of dropping the span, as Jaeger's sanitizers do.
//!
//! | problem | what is stored | Jaeger's counterpart |
//! |---|---|---|
//! | empty service name | `empty-service-name` | empty-service-name sanitizer |
//! | empty operation name | `empty-span-name` | empty-span-name sanitizer (v2 HEAD) |
//! | invalid UTF-8 (repaired by the lenient decoder) | U+FFFD in place of bad bytes | UTF-8 sanitizer (keeps the bytes in a binary tag instead) |
//! | all-zero trace or span id | kept as is | none (OTLP calls them invalid) |
//! | zero start time | kept as is | none |
//!
//! The OTLP conversion (`spoor_model::otlp`) already handles what only OTLP fields show: a
//! missing `service.name` becomes `OTLPResourceNoServiceName`, an end before the start becomes a
//! zero duration with a warning, and spans with unusable ids are rejected (OTLP partial success).
//! The checks here are for every receiver, so they also catch what other formats let through.

use std::sync::Arc;

use spoor_model::{Process, Span, SpanBatch};

/// Jaeger's replacement for an empty service name.
pub const EMPTY_SERVICE_NAME: &str = "empty-service-name";
/// Jaeger's replacement for an empty span (operation) name.
pub const EMPTY_SPAN_NAME: &str = "empty-span-name";

pub const WARNING_EMPTY_SERVICE_NAME: &str = "service name was empty; stored as empty-service-name";
pub const WARNING_EMPTY_SPAN_NAME: &str = "span name was empty; stored as empty-span-name";
pub const WARNING_INVALID_UTF8: &str =
    "span contained invalid UTF-8 (in its strings, scope or resource); invalid bytes were replaced with U+FFFD";
pub const WARNING_ZERO_TRACE_ID: &str = "trace id is all zeros, which OTLP defines as invalid";
pub const WARNING_ZERO_SPAN_ID: &str = "span id is all zeros, which OTLP defines as invalid";
pub const WARNING_ZERO_START_TIME: &str = "start time is missing (zero)";

/// Records on `span` that the lenient decoder repaired invalid UTF-8 in it.
pub fn record_repaired_utf8(span: &mut Span) {
    push_warning(span, WARNING_INVALID_UTF8);
}

fn push_warning(span: &mut Span, warning: &str) {
    if !span.warnings.iter().any(|existing| existing == warning) {
        span.warnings.push(warning.to_owned());
    }
}

/// The standard sanitizers in one pass over a batch. Stateless today; a struct so that limits
/// (tag length, tag count) can be configured later without changing callers.
#[derive(Clone, Debug, Default)]
pub struct Sanitizer {}

impl Sanitizer {
    pub fn new() -> Self {
        Self {}
    }

    /// Sanitizes every span of the batch in place. Never removes a span.
    pub fn sanitize(&self, batch: &mut SpanBatch) {
        // Spans of one resource share one `Arc<Process>`; replace each empty-named process once.
        let mut replaced_processes: Vec<(Arc<Process>, Arc<Process>)> = Vec::new();
        for span in &mut batch.spans {
            if span.process.service_name.is_empty() {
                let replacement = match replaced_processes.iter().find(|(old, _)| Arc::ptr_eq(old, &span.process)) {
                    Some((_, new)) => Arc::clone(new),
                    None => {
                        let new = Arc::new(Process {
                            service_name: EMPTY_SERVICE_NAME.to_owned(),
                            tags: span.process.tags.clone(),
                        });
                        replaced_processes.push((Arc::clone(&span.process), Arc::clone(&new)));
                        new
                    }
                };
                span.process = replacement;
                push_warning(span, WARNING_EMPTY_SERVICE_NAME);
            }
            self.sanitize_span(span);
        }
    }

    fn sanitize_span(&self, span: &mut Span) {
        if span.operation_name.is_empty() {
            span.operation_name = EMPTY_SPAN_NAME.to_owned();
            push_warning(span, WARNING_EMPTY_SPAN_NAME);
        }
        if span.trace_id.is_zero() {
            push_warning(span, WARNING_ZERO_TRACE_ID);
        }
        if span.span_id.is_zero() {
            push_warning(span, WARNING_ZERO_SPAN_ID);
        }
        if span.start_time_unix_nano == 0 {
            push_warning(span, WARNING_ZERO_START_TIME);
        }
    }
}

#[cfg(test)]
mod tests {
    use spoor_model::{SpanId, TraceId, FLAG_SAMPLED};

    use super::*;

    fn span(service: &Arc<Process>, name: &str) -> Span {
        Span {
            trace_id: TraceId::new(1, 2),
            span_id: SpanId(3),
            operation_name: name.to_owned(),
            references: vec![],
            flags: FLAG_SAMPLED,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            duration_nanos: 1_000,
            tags: vec![],
            logs: vec![],
            process: Arc::clone(service),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn empty_service_name_becomes_empty_service_name_with_a_warning() {
        let process = Arc::new(Process { service_name: String::new(), tags: vec![] });
        let mut batch = SpanBatch::new(vec![span(&process, "a"), span(&process, "b")]);
        Sanitizer::new().sanitize(&mut batch);
        for span in &batch.spans {
            assert_eq!(span.service_name(), EMPTY_SERVICE_NAME);
            assert_eq!(span.warnings, vec![WARNING_EMPTY_SERVICE_NAME.to_owned()]);
        }
        assert!(Arc::ptr_eq(&batch.spans[0].process, &batch.spans[1].process), "one replacement per process");
    }

    #[test]
    fn empty_operation_name_becomes_empty_span_name_with_a_warning() {
        let process = Arc::new(Process { service_name: "svc".into(), tags: vec![] });
        let mut batch = SpanBatch::new(vec![span(&process, "")]);
        Sanitizer::new().sanitize(&mut batch);
        assert_eq!(batch.spans[0].operation_name, EMPTY_SPAN_NAME);
        assert_eq!(batch.spans[0].warnings, vec![WARNING_EMPTY_SPAN_NAME.to_owned()]);
    }

    #[test]
    fn healthy_spans_are_left_untouched() {
        let process = Arc::new(Process { service_name: "svc".into(), tags: vec![] });
        let mut batch = SpanBatch::new(vec![span(&process, "GET /")]);
        let before = batch.clone();
        Sanitizer::new().sanitize(&mut batch);
        assert_eq!(batch, before);
    }

    #[test]
    fn zero_ids_and_start_time_are_kept_but_warned_about() {
        let process = Arc::new(Process { service_name: "svc".into(), tags: vec![] });
        let mut zero = span(&process, "op");
        zero.trace_id = TraceId::default();
        zero.span_id = SpanId(0);
        zero.start_time_unix_nano = 0;
        let mut batch = SpanBatch::new(vec![zero]);
        Sanitizer::new().sanitize(&mut batch);
        assert_eq!(batch.len(), 1);
        assert_eq!(
            batch.spans[0].warnings,
            vec![WARNING_ZERO_TRACE_ID.to_owned(), WARNING_ZERO_SPAN_ID.to_owned(), WARNING_ZERO_START_TIME.to_owned()]
        );
    }

    #[test]
    fn sanitizing_twice_adds_no_duplicate_warnings() {
        let process = Arc::new(Process { service_name: String::new(), tags: vec![] });
        let mut batch = SpanBatch::new(vec![span(&process, "")]);
        let sanitizer = Sanitizer::new();
        sanitizer.sanitize(&mut batch);
        record_repaired_utf8(&mut batch.spans[0]);
        record_repaired_utf8(&mut batch.spans[0]);
        sanitizer.sanitize(&mut batch);
        assert_eq!(batch.spans[0].warnings.len(), 3);
    }
}
