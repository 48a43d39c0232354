//! `jaeger.thrift` batch to model spans, with Jaeger's `to_domain` rules
//! (`internal/converter/thrift/jaeger/to_domain.go`, spec §1.7):
//!
//! * Ids are the signed `i64` halves cast to `u64`; the trace id is `(high, low)`.
//! * `startTime`, `duration` and log timestamps are microseconds; the model keeps nanoseconds.
//! * A non-zero `parentSpanId` becomes a CHILD_OF reference placed first, unless a CHILD_OF
//!   reference to the same trace and span is already there (`model.MaybeAddParentSpanID`).
//! * Tag types map by name, not number: DOUBLE is `Float64`, LONG is `Int64`.
//! * Every span of the batch shares one `Arc<Process>`.
//!
//! Where Jaeger would store a nonsense value, the span is kept with a warning instead (the model's
//! sanitizer convention, as in `jaeger_proto`): a negative time or duration becomes 0 (Jaeger
//! casts it to a huge unsigned number), an unknown tag type is read from `vStr` (Jaeger writes
//! `Unknown VType: ...`), and an unknown reference type is FOLLOWS_FROM (only CHILD_OF is a parent).

use std::sync::Arc;

use super::jaeger::{
    SpanRefType, TagType, ThriftBatch, ThriftLog, ThriftProcess, ThriftSpan, ThriftSpanRef, ThriftTag,
};
use crate::{AttributeValue, KeyValue, Log, Process, RefType, Span, SpanId, SpanRef, TraceId};

const NANOS_PER_MICRO: u64 = 1_000;

/// Converts a decoded batch into model spans that share the batch's process. Never fails: what
/// the wire allowed but the model cannot hold is recorded in each span's warnings.
pub fn spans_from_thrift_batch(batch: ThriftBatch) -> Vec<Span> {
    let mut process_warnings = Vec::new();
    let process = Arc::new(process_from_thrift(batch.process, &mut process_warnings));
    batch
        .spans
        .into_iter()
        .map(|span| {
            let mut span = span_from_thrift(span, Arc::clone(&process));
            span.warnings.extend(process_warnings.iter().cloned());
            span
        })
        .collect()
}

/// Converts one span, giving it `process`.
pub fn span_from_thrift(span: ThriftSpan, process: Arc<Process>) -> Span {
    let mut warnings = Vec::new();
    let trace_id = TraceId::new(span.trace_id_high as u64, span.trace_id_low as u64);
    let references = span.references.unwrap_or_default().into_iter().map(|r| span_ref(r, &mut warnings)).collect();
    let references = maybe_add_parent_span_id(trace_id, SpanId(span.parent_span_id as u64), references);
    let start_time_unix_nano = micros_to_nanos(span.start_time, "start time", &mut warnings);
    let duration_nanos = micros_to_nanos(span.duration, "duration", &mut warnings);
    let tags = key_values(span.tags.unwrap_or_default(), &mut warnings);
    let logs = span.logs.unwrap_or_default().into_iter().map(|log| log_from_thrift(log, &mut warnings)).collect();
    Span {
        trace_id,
        span_id: SpanId(span.span_id as u64),
        operation_name: span.operation_name,
        references,
        flags: span.flags as u32,
        start_time_unix_nano,
        duration_nanos,
        tags,
        logs,
        process,
        warnings,
        scope_attributes: Vec::new(),
    }
}

/// Jaeger's `MaybeAddParentSpanID`: a non-zero parent becomes a CHILD_OF reference, first in
/// the list, unless an identical CHILD_OF reference is already present.
pub fn maybe_add_parent_span_id(trace_id: TraceId, parent: SpanId, mut references: Vec<SpanRef>) -> Vec<SpanRef> {
    if parent.is_zero() {
        return references;
    }
    let already_there =
        references.iter().any(|r| r.ref_type == RefType::ChildOf && r.trace_id == trace_id && r.span_id == parent);
    if !already_there {
        references.insert(0, SpanRef::child_of(trace_id, parent));
    }
    references
}

fn span_ref(reference: ThriftSpanRef, warnings: &mut Vec<String>) -> SpanRef {
    let ref_type = match reference.ref_type {
        SpanRefType::ChildOf => RefType::ChildOf,
        SpanRefType::FollowsFrom => RefType::FollowsFrom,
        SpanRefType::Unknown(number) => {
            warnings.push(format!("reference type {number} is unknown; read as FOLLOWS_FROM"));
            RefType::FollowsFrom
        }
    };
    SpanRef::new(
        ref_type,
        TraceId::new(reference.trace_id_high as u64, reference.trace_id_low as u64),
        SpanId(reference.span_id as u64),
    )
}

fn process_from_thrift(process: ThriftProcess, warnings: &mut Vec<String>) -> Process {
    Process { service_name: process.service_name, tags: key_values(process.tags.unwrap_or_default(), warnings) }
}

fn log_from_thrift(log: ThriftLog, warnings: &mut Vec<String>) -> Log {
    Log {
        timestamp_unix_nano: micros_to_nanos(log.timestamp, "log time", warnings),
        fields: key_values(log.fields, warnings),
    }
}

fn key_values(tags: Vec<ThriftTag>, warnings: &mut Vec<String>) -> Vec<KeyValue> {
    tags.into_iter().map(|tag| key_value(tag, warnings)).collect()
}

/// A tag by its declared type; an absent value field reads as the type's zero, as in Go.
pub fn key_value(tag: ThriftTag, warnings: &mut Vec<String>) -> KeyValue {
    let value = match tag.v_type {
        TagType::String => AttributeValue::String(tag.v_str.unwrap_or_default()),
        TagType::Double => AttributeValue::Float64(tag.v_double.unwrap_or_default()),
        TagType::Bool => AttributeValue::Bool(tag.v_bool.unwrap_or_default()),
        TagType::Long => AttributeValue::Int64(tag.v_long.unwrap_or_default()),
        TagType::Binary => AttributeValue::Binary(tag.v_binary.unwrap_or_default()),
        TagType::Unknown(number) => {
            warnings.push(format!("tag {:?} has unknown value type {number}; read as string", tag.key));
            AttributeValue::String(tag.v_str.unwrap_or_default())
        }
    };
    KeyValue { key: tag.key, value }
}

/// Microseconds since the epoch (or a duration) to nanoseconds; negative becomes 0 with a
/// warning, and values past year 2554 saturate.
fn micros_to_nanos(micros: i64, what: &str, warnings: &mut Vec<String>) -> u64 {
    match u64::try_from(micros) {
        Ok(micros) => micros.saturating_mul(NANOS_PER_MICRO),
        Err(_) => {
            warnings.push(format!("negative {what} {micros}µs; set to 0"));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thrift_span() -> ThriftSpan {
        ThriftSpan {
            trace_id_low: -1,
            trace_id_high: 0x0102,
            span_id: -2,
            parent_span_id: 7,
            operation_name: "op".into(),
            references: None,
            flags: 1,
            start_time: 1_700_000_000_000_001,
            duration: 5,
            tags: None,
            logs: None,
        }
    }

    fn process() -> Arc<Process> {
        Arc::new(Process { service_name: "svc".into(), tags: vec![] })
    }

    #[test]
    fn signed_halves_become_unsigned_ids_and_micros_become_nanos() {
        let span = span_from_thrift(thrift_span(), process());
        assert_eq!(span.trace_id, TraceId::new(0x0102, u64::MAX));
        assert_eq!(span.span_id, SpanId(u64::MAX - 1));
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_001_000);
        assert_eq!(span.duration_nanos, 5_000);
        assert_eq!(span.parent_span_id(), Some(SpanId(7)));
    }

    #[test]
    fn parent_span_id_is_not_added_twice() {
        let mut thrift = thrift_span();
        thrift.references = Some(vec![
            ThriftSpanRef { ref_type: SpanRefType::FollowsFrom, trace_id_low: 9, trace_id_high: 0, span_id: 3 },
            ThriftSpanRef { ref_type: SpanRefType::ChildOf, trace_id_low: -1, trace_id_high: 0x0102, span_id: 7 },
        ]);
        let span = span_from_thrift(thrift, process());
        assert_eq!(span.references.len(), 2);
        assert_eq!(span.references[0].ref_type, RefType::FollowsFrom);
    }

    #[test]
    fn parent_span_id_goes_first_when_only_a_follows_from_names_it() {
        let mut thrift = thrift_span();
        thrift.references = Some(vec![ThriftSpanRef {
            ref_type: SpanRefType::FollowsFrom,
            trace_id_low: -1,
            trace_id_high: 0x0102,
            span_id: 7,
        }]);
        let span = span_from_thrift(thrift, process());
        assert_eq!(span.references.len(), 2);
        assert_eq!(span.references[0].ref_type, RefType::ChildOf);
        assert_eq!(span.references[0].span_id, SpanId(7));
    }

    #[test]
    fn zero_parent_adds_no_reference() {
        let mut thrift = thrift_span();
        thrift.parent_span_id = 0;
        assert!(span_from_thrift(thrift, process()).references.is_empty());
    }

    #[test]
    fn tag_types_map_by_name_not_number() {
        let mut warnings = Vec::new();
        assert_eq!(key_value(ThriftTag::double("d", 0.5), &mut warnings), KeyValue::float64("d", 0.5));
        assert_eq!(key_value(ThriftTag::long("l", -3), &mut warnings), KeyValue::int64("l", -3));
        assert_eq!(key_value(ThriftTag::bool("b", true), &mut warnings), KeyValue::bool("b", true));
        assert_eq!(key_value(ThriftTag::binary("x", vec![1]), &mut warnings), KeyValue::binary("x", vec![1]));
        assert!(warnings.is_empty());
        let mut odd = ThriftTag::string("k", "text");
        odd.v_type = TagType::Unknown(9);
        assert_eq!(key_value(odd, &mut warnings), KeyValue::string("k", "text"));
        assert_eq!(warnings, ["tag \"k\" has unknown value type 9; read as string"]);
    }

    #[test]
    fn negative_times_become_zero_with_a_warning() {
        let mut thrift = thrift_span();
        thrift.duration = -5;
        let span = span_from_thrift(thrift, process());
        assert_eq!(span.duration_nanos, 0);
        assert_eq!(span.warnings, ["negative duration -5µs; set to 0"]);
    }
}
