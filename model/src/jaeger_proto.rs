//! The span model to and from Jaeger's `jaeger.api_v2` protobuf messages (spec §1.3, §1.4):
//! what `CollectorService.PostSpans` receives, what the api_v2 `QueryService` returns and what
//! Jaeger's Kafka `protobuf` encoding carries (one `Span` with its process embedded).
//!
//! Writing always embeds the process (empty `process_id`) and always writes 16-byte trace ids.
//! Reading accepts 8-byte trace ids. A span whose own ids are malformed is an error; smaller
//! problems keep the span and are recorded in [`Span::warnings`], as Jaeger's sanitizers do:
//! a malformed reference is dropped, a negative duration or pre-1970 time becomes 0, a value
//! type this code does not know is read as a string, and a span without any process gets
//! [`NULL_PROCESS_SERVICE_NAME`].
//!
//! `api_v2` has no place for OTLP scope attributes or link attributes, so writing leaves them out
//! (as Jaeger does) and reading never has any.

use std::sync::Arc;

use prost::Message as _;

use crate::proto::jaeger::api_v2;
use crate::{AttributeValue, IdParseError, KeyValue, Log, Process, RefType, Span, SpanId, SpanRef, TraceId};

/// The service name Jaeger's sanitizer gives a span that arrives without a process.
pub const NULL_PROCESS_SERVICE_NAME: &str = "null-process-and-service-name";

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Why a `jaeger.api_v2` message could not become model spans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("not a valid jaeger.api_v2 message: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("span trace_id: {0}")]
    TraceId(IdParseError),
    #[error("span span_id: {0}")]
    SpanId(IdParseError),
    #[error("span {index} of the batch: {source}")]
    InBatch {
        index: usize,
        #[source]
        source: Box<ProtoError>,
    },
}

// ---------------------------------------------------------------------------------------------
// Model to proto

/// Converts a model span to `api_v2::Span`, moving its strings. The process is embedded (moved
/// out of the `Arc` when this span holds the last reference, cloned otherwise).
pub fn span_to_proto(span: Span) -> api_v2::Span {
    let Span {
        trace_id,
        span_id,
        operation_name,
        references,
        flags,
        start_time_unix_nano,
        duration_nanos,
        tags,
        logs,
        process,
        warnings,
        // api_v2 has no field for them (see the module doc).
        scope_attributes: _,
    } = span;
    let process = Arc::try_unwrap(process).unwrap_or_else(|shared| (*shared).clone());
    api_v2::Span {
        trace_id: trace_id.to_bytes().to_vec(),
        span_id: span_id.to_bytes().to_vec(),
        operation_name,
        references: references.into_iter().map(span_ref_to_proto).collect(),
        flags,
        start_time: Some(timestamp_from_nanos(start_time_unix_nano)),
        duration: Some(duration_from_nanos(duration_nanos)),
        tags: tags.into_iter().map(key_value_to_proto).collect(),
        logs: logs.into_iter().map(log_to_proto).collect(),
        process: Some(process_to_proto(process)),
        process_id: String::new(),
        warnings,
    }
}

/// The Kafka `protobuf` message for one span: `api_v2::Span` with the process embedded.
pub fn encode_span(span: &Span) -> Vec<u8> {
    span_to_proto(span.clone()).encode_to_vec()
}

pub fn process_to_proto(process: Process) -> api_v2::Process {
    api_v2::Process {
        service_name: process.service_name,
        tags: process.tags.into_iter().map(key_value_to_proto).collect(),
    }
}

pub fn key_value_to_proto(key_value: KeyValue) -> api_v2::KeyValue {
    let mut proto = api_v2::KeyValue { key: key_value.key, ..Default::default() };
    match key_value.value {
        AttributeValue::String(text) => proto.v_str = text,
        AttributeValue::Bool(flag) => {
            proto.v_type = api_v2::ValueType::Bool as i32;
            proto.v_bool = flag;
        }
        AttributeValue::Int64(number) => {
            proto.v_type = api_v2::ValueType::Int64 as i32;
            proto.v_int64 = number;
        }
        AttributeValue::Float64(number) => {
            proto.v_type = api_v2::ValueType::Float64 as i32;
            proto.v_float64 = number;
        }
        AttributeValue::Binary(bytes) => {
            proto.v_type = api_v2::ValueType::Binary as i32;
            proto.v_binary = bytes;
        }
    }
    proto
}

/// The reference's link attributes are dropped: `api_v2::SpanRef` has no field for them.
fn span_ref_to_proto(reference: SpanRef) -> api_v2::SpanRef {
    let ref_type = match reference.ref_type {
        RefType::ChildOf => api_v2::SpanRefType::ChildOf,
        RefType::FollowsFrom => api_v2::SpanRefType::FollowsFrom,
    };
    api_v2::SpanRef {
        trace_id: reference.trace_id.to_bytes().to_vec(),
        span_id: reference.span_id.to_bytes().to_vec(),
        ref_type: ref_type as i32,
    }
}

fn log_to_proto(log: Log) -> api_v2::Log {
    api_v2::Log {
        timestamp: Some(timestamp_from_nanos(log.timestamp_unix_nano)),
        fields: log.fields.into_iter().map(key_value_to_proto).collect(),
    }
}

/// Nanoseconds since the epoch as a `Timestamp`.
pub fn timestamp_from_nanos(nanos: u64) -> prost_types::Timestamp {
    // Both parts fit: u64::MAX / 1e9 < i64::MAX, and the remainder is below 1e9.
    prost_types::Timestamp { seconds: (nanos / NANOS_PER_SECOND) as i64, nanos: (nanos % NANOS_PER_SECOND) as i32 }
}

/// Nanoseconds as a (non-negative) `Duration`.
pub fn duration_from_nanos(nanos: u64) -> prost_types::Duration {
    prost_types::Duration { seconds: (nanos / NANOS_PER_SECOND) as i64, nanos: (nanos % NANOS_PER_SECOND) as i32 }
}

// ---------------------------------------------------------------------------------------------
// Proto to model

/// Decodes one Kafka `protobuf` message (an `api_v2::Span`, process embedded).
pub fn decode_span(bytes: &[u8]) -> Result<Span, ProtoError> {
    span_from_proto(api_v2::Span::decode(bytes)?, None)
}

/// Converts an `api_v2::Span`. Its own process wins; without one, `default_process` (a batch's
/// process) is shared; without either, the span gets [`NULL_PROCESS_SERVICE_NAME`] and a warning.
pub fn span_from_proto(span: api_v2::Span, default_process: Option<&Arc<Process>>) -> Result<Span, ProtoError> {
    let trace_id = TraceId::from_bytes(&span.trace_id).map_err(ProtoError::TraceId)?;
    let span_id = SpanId::from_bytes(&span.span_id).map_err(ProtoError::SpanId)?;
    let mut warnings = span.warnings;

    let process = match (span.process, default_process) {
        (Some(own), _) => Arc::new(process_from_proto(own, &mut warnings)),
        (None, Some(shared)) => Arc::clone(shared),
        (None, None) => {
            warnings.push(format!("span has no process; service name set to {NULL_PROCESS_SERVICE_NAME}"));
            Arc::new(Process { service_name: NULL_PROCESS_SERVICE_NAME.to_owned(), tags: Vec::new() })
        }
    };
    let mut references = Vec::with_capacity(span.references.len());
    for (index, reference) in span.references.into_iter().enumerate() {
        match span_ref_from_proto(&reference) {
            Ok(reference) => references.push(reference),
            Err(problem) => warnings.push(format!("reference {index}: {problem}; reference dropped")),
        }
    }
    let start_time_unix_nano = span.start_time.map_or(0, |time| {
        timestamp_to_nanos(&time).unwrap_or_else(|| {
            warnings.push("start time before 1970; set to 0".to_owned());
            0
        })
    });
    let duration_nanos = span.duration.map_or(0, |duration| {
        duration_to_nanos(&duration).unwrap_or_else(|| {
            warnings.push("negative duration; set to 0".to_owned());
            0
        })
    });
    let tags = span.tags.into_iter().map(|tag| key_value_from_proto(tag, &mut warnings)).collect();
    let logs = span.logs.into_iter().map(|log| log_from_proto(log, &mut warnings)).collect();

    Ok(Span {
        trace_id,
        span_id,
        operation_name: span.operation_name,
        references,
        flags: span.flags,
        start_time_unix_nano,
        duration_nanos,
        tags,
        logs,
        process,
        warnings,
        scope_attributes: Vec::new(),
    })
}

/// Converts a `PostSpans` batch. Spans without their own process share the batch process. Like
/// Jaeger, which fails the whole request when an id does not unmarshal, one span with malformed
/// ids fails the batch; the error names the span.
pub fn spans_from_batch(batch: api_v2::Batch) -> Result<Vec<Span>, ProtoError> {
    let mut batch_warnings = Vec::new();
    let batch_process = batch.process.map(|process| Arc::new(process_from_proto(process, &mut batch_warnings)));
    batch
        .spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| {
            let mut span = span_from_proto(span, batch_process.as_ref())
                .map_err(|source| ProtoError::InBatch { index, source: Box::new(source) })?;
            let uses_batch_process = batch_process.as_ref().is_some_and(|shared| Arc::ptr_eq(shared, &span.process));
            if uses_batch_process {
                span.warnings.extend(batch_warnings.iter().cloned());
            }
            Ok(span)
        })
        .collect()
}

/// Process tags with an unknown value type are read as strings; a warning says so.
fn process_from_proto(process: api_v2::Process, warnings: &mut Vec<String>) -> Process {
    Process {
        service_name: process.service_name,
        tags: process.tags.into_iter().map(|tag| key_value_from_proto(tag, warnings)).collect(),
    }
}

/// Converts a tag, log field or process tag. A value type this code does not know is read from
/// `v_str`, with a warning.
pub fn key_value_from_proto(key_value: api_v2::KeyValue, warnings: &mut Vec<String>) -> KeyValue {
    let value = match api_v2::ValueType::try_from(key_value.v_type) {
        Ok(api_v2::ValueType::String) => AttributeValue::String(key_value.v_str),
        Ok(api_v2::ValueType::Bool) => AttributeValue::Bool(key_value.v_bool),
        Ok(api_v2::ValueType::Int64) => AttributeValue::Int64(key_value.v_int64),
        Ok(api_v2::ValueType::Float64) => AttributeValue::Float64(key_value.v_float64),
        Ok(api_v2::ValueType::Binary) => AttributeValue::Binary(key_value.v_binary),
        Err(_) => {
            warnings
                .push(format!("tag {:?} has unknown value type {}; read as string", key_value.key, key_value.v_type));
            AttributeValue::String(key_value.v_str)
        }
    };
    KeyValue { key: key_value.key, value }
}

fn span_ref_from_proto(reference: &api_v2::SpanRef) -> Result<SpanRef, IdParseError> {
    // An unknown reference type reads as FOLLOWS_FROM: only CHILD_OF makes a parent.
    let ref_type = match api_v2::SpanRefType::try_from(reference.ref_type) {
        Ok(api_v2::SpanRefType::ChildOf) => RefType::ChildOf,
        Ok(api_v2::SpanRefType::FollowsFrom) | Err(_) => RefType::FollowsFrom,
    };
    Ok(SpanRef::new(ref_type, TraceId::from_bytes(&reference.trace_id)?, SpanId::from_bytes(&reference.span_id)?))
}

fn log_from_proto(log: api_v2::Log, warnings: &mut Vec<String>) -> Log {
    let timestamp_unix_nano = log.timestamp.map_or(0, |time| {
        timestamp_to_nanos(&time).unwrap_or_else(|| {
            warnings.push("log time before 1970; set to 0".to_owned());
            0
        })
    });
    Log {
        timestamp_unix_nano,
        fields: log.fields.into_iter().map(|field| key_value_from_proto(field, warnings)).collect(),
    }
}

/// Nanoseconds since the epoch, or `None` before 1970; saturates past year 2554.
pub fn timestamp_to_nanos(time: &prost_types::Timestamp) -> Option<u64> {
    non_negative_nanos(time.seconds, time.nanos)
}

/// Nanoseconds, or `None` when negative; saturates past about 584 years.
pub fn duration_to_nanos(duration: &prost_types::Duration) -> Option<u64> {
    non_negative_nanos(duration.seconds, duration.nanos)
}

fn non_negative_nanos(seconds: i64, nanos: i32) -> Option<u64> {
    let total = i128::from(seconds) * i128::from(NANOS_PER_SECOND) + i128::from(nanos);
    if total < 0 {
        return None;
    }
    Some(u64::try_from(total).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FLAG_DEBUG, FLAG_SAMPLED};

    fn sample_span() -> Span {
        Span {
            trace_id: TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10),
            span_id: SpanId(0xaa),
            operation_name: "GET /users".into(),
            references: vec![
                SpanRef::child_of(TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10), SpanId(0xbb)),
                SpanRef::follows_from(TraceId::new(0, 7), SpanId(8)),
            ],
            flags: FLAG_SAMPLED | FLAG_DEBUG,
            start_time_unix_nano: 1_700_000_000_123_456_789,
            duration_nanos: 2_500_000_001,
            tags: vec![
                KeyValue::string("http.method", "GET"),
                KeyValue::bool("error", true),
                KeyValue::int64("http.status_code", -500),
                KeyValue::float64("ratio", 0.25),
                KeyValue::binary("blob", vec![0, 1, 255]),
            ],
            logs: vec![Log {
                timestamp_unix_nano: 1_700_000_000_200_000_000,
                fields: vec![KeyValue::string("event", "retry")],
            }],
            process: Arc::new(Process { service_name: "users".into(), tags: vec![KeyValue::string("host.name", "a")] }),
            warnings: vec!["clock skew".into()],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn span_survives_proto_round_trip() {
        let span = sample_span();
        assert_eq!(decode_span(&encode_span(&span)).unwrap(), span);
    }

    #[test]
    fn trace_ids_are_written_as_sixteen_bytes_even_when_64_bit() {
        let mut span = sample_span();
        span.trace_id = TraceId::new(0, 5);
        let proto = span_to_proto(span);
        assert_eq!(proto.trace_id, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert!(proto.process_id.is_empty());
        assert_eq!(proto.process.unwrap().service_name, "users");
    }

    #[test]
    fn eight_byte_trace_ids_are_accepted() {
        let mut proto = span_to_proto(sample_span());
        proto.trace_id = 5u64.to_be_bytes().to_vec();
        proto.references[1].trace_id = 7u64.to_be_bytes().to_vec();
        let span = span_from_proto(proto, None).unwrap();
        assert_eq!(span.trace_id, TraceId::new(0, 5));
        assert_eq!(span.references[1].trace_id, TraceId::new(0, 7));
    }

    #[test]
    fn malformed_span_ids_are_typed_errors() {
        let mut proto = span_to_proto(sample_span());
        proto.trace_id = vec![1, 2, 3];
        assert_eq!(span_from_proto(proto, None), Err(ProtoError::TraceId(IdParseError::TraceIdBytes(3))));
        let mut proto = span_to_proto(sample_span());
        proto.span_id.clear();
        assert_eq!(span_from_proto(proto, None), Err(ProtoError::SpanId(IdParseError::SpanIdBytes(0))));
    }

    #[test]
    fn malformed_reference_is_dropped_with_a_warning() {
        let mut proto = span_to_proto(sample_span());
        proto.references[0].span_id = vec![1];
        let span = span_from_proto(proto, None).unwrap();
        assert_eq!(span.references.len(), 1);
        assert_eq!(span.warnings.last().unwrap(), "reference 0: span id must be 8 bytes, got 1; reference dropped");
    }

    #[test]
    fn negative_duration_becomes_zero_with_a_warning() {
        let mut proto = span_to_proto(sample_span());
        proto.duration = Some(prost_types::Duration { seconds: -1, nanos: 0 });
        let span = span_from_proto(proto, None).unwrap();
        assert_eq!(span.duration_nanos, 0);
        assert_eq!(span.warnings.last().unwrap(), "negative duration; set to 0");
    }

    #[test]
    fn span_without_any_process_gets_the_null_process() {
        let mut proto = span_to_proto(sample_span());
        proto.process = None;
        let span = span_from_proto(proto, None).unwrap();
        assert_eq!(span.process.service_name, NULL_PROCESS_SERVICE_NAME);
        assert!(span.warnings.last().unwrap().starts_with("span has no process"));
    }

    #[test]
    fn batch_process_applies_to_spans_without_their_own() {
        let mut own = span_to_proto(sample_span());
        own.process = Some(api_v2::Process { service_name: "own".into(), tags: vec![] });
        let mut first = span_to_proto(sample_span());
        first.process = None;
        let mut second = first.clone();
        second.span_id = 9u64.to_be_bytes().to_vec();
        let batch = api_v2::Batch {
            spans: vec![own, first, second],
            process: Some(api_v2::Process { service_name: "batch".into(), tags: vec![] }),
        };
        let spans = spans_from_batch(batch).unwrap();
        let services: Vec<_> = spans.iter().map(Span::service_name).collect();
        assert_eq!(services, ["own", "batch", "batch"]);
        assert!(Arc::ptr_eq(&spans[1].process, &spans[2].process));
    }

    #[test]
    fn batch_error_names_the_span() {
        let mut bad = span_to_proto(sample_span());
        bad.span_id = vec![1, 2];
        let batch = api_v2::Batch { spans: vec![span_to_proto(sample_span()), bad], process: None };
        let error = spans_from_batch(batch).unwrap_err();
        assert_eq!(error.to_string(), "span 1 of the batch: span span_id: span id must be 8 bytes, got 2");
    }

    #[test]
    fn unknown_value_type_is_read_as_string_with_a_warning() {
        let mut proto = span_to_proto(sample_span());
        proto.tags[0].v_type = 42;
        let span = span_from_proto(proto, None).unwrap();
        assert_eq!(span.tags[0], KeyValue::string("http.method", "GET"));
        assert_eq!(span.warnings.last().unwrap(), "tag \"http.method\" has unknown value type 42; read as string");
    }

    #[test]
    fn timestamps_before_1970_and_huge_durations_do_not_wrap() {
        assert_eq!(timestamp_to_nanos(&prost_types::Timestamp { seconds: -1, nanos: 999_999_999 }), None);
        assert_eq!(timestamp_to_nanos(&prost_types::Timestamp { seconds: 0, nanos: -1 }), None);
        assert_eq!(duration_to_nanos(&prost_types::Duration { seconds: i64::MAX, nanos: 0 }), Some(u64::MAX));
        assert_eq!(timestamp_to_nanos(&timestamp_from_nanos(u64::MAX)), Some(u64::MAX));
    }
}
