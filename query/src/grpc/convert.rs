//! Request fields the three gRPC APIs share, turned into the query service's types, and the
//! one change every API makes to a returned trace.

use std::collections::BTreeMap;

use prost_types::{Duration, Timestamp};
use spoor_model::jaeger_proto::{duration_to_nanos, timestamp_to_nanos};
use spoor_model::{Span, SpanKind, TraceId};
use spoor_storage::{DependencyQuery, GetTraceRequest, TraceQuery};

use crate::error::QueryError;
use crate::service::QueryTrace;

/// A time bound that may be absent. An unset message, the Unix epoch itself and anything before
/// 1970 all mean "no bound": clients built on gogo-proto send Go's zero `time.Time` (year 1) for
/// a time they did not set.
pub(crate) fn optional_time(time: Option<&Timestamp>) -> Option<u64> {
    time.and_then(timestamp_to_nanos).filter(|nanos| *nanos > 0)
}

/// A time bound the request must carry (`name` is the proto field, for the message).
pub(crate) fn required_time(time: Option<&Timestamp>, name: &str) -> Result<u64, QueryError> {
    optional_time(time).ok_or_else(|| QueryError::invalid_argument(format!("{name} is required")))
}

/// A duration bound; absent, zero and negative durations mean "no bound" (as Jaeger's zero
/// `time.Duration`).
pub(crate) fn optional_duration(duration: Option<&Duration>) -> Option<u64> {
    duration.and_then(duration_to_nanos).filter(|nanos| *nanos > 0)
}

/// An empty string is an unset field in proto3.
pub(crate) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// The span kind filter of `GetOperations`: empty lists every kind; otherwise one of Jaeger's
/// kind names (`unspecified` selects operations without a kind).
pub(crate) fn span_kind_filter(text: &str) -> Result<Option<SpanKind>, QueryError> {
    match text {
        "" => Ok(None),
        "unspecified" => Ok(Some(SpanKind::Unspecified)),
        known => match SpanKind::parse(known) {
            SpanKind::Unspecified => Err(QueryError::invalid_argument(format!("unsupported span kind {text:?}"))),
            kind => Ok(Some(kind)),
        },
    }
}

/// A trace id sent as bytes (api_v2, storage.v2): 16 bytes, or 8 for a 64-bit id.
pub(crate) fn trace_id_from_bytes(bytes: &[u8]) -> Result<TraceId, QueryError> {
    TraceId::from_bytes(bytes).map_err(|error| QueryError::invalid_argument(format!("malformed trace_id: {error}")))
}

/// A trace id sent as hex (api_v3).
pub(crate) fn trace_id_from_hex(text: &str) -> Result<TraceId, QueryError> {
    TraceId::from_hex(text).map_err(|error| QueryError::invalid_argument(format!("malformed trace_id: {error}")))
}

/// A trace lookup with its optional start-time window.
pub(crate) fn trace_lookup(trace_id: TraceId, start: Option<&Timestamp>, end: Option<&Timestamp>) -> GetTraceRequest {
    GetTraceRequest {
        trace_id,
        start_time_min_unix_nano: optional_time(start),
        start_time_max_unix_nano: optional_time(end),
    }
}

/// The window of a `GetDependencies` request (every API names it `start_time`, `end_time`): both
/// bounds are required, as Jaeger requires them, and the end must not be before the start.
pub(crate) fn dependency_query(
    start: Option<&Timestamp>,
    end: Option<&Timestamp>,
) -> Result<DependencyQuery, QueryError> {
    let start = required_time(start, "start_time")?;
    let end = required_time(end, "end_time")?;
    let Some(lookback_nanos) = end.checked_sub(start) else {
        return Err(QueryError::invalid_argument("end_time is before start_time"));
    };
    Ok(DependencyQuery { end_time_unix_nano: end, lookback: std::time::Duration::from_nanos(lookback_nanos) })
}

/// The search fields every API's `TraceQueryParameters` carries, however it spells them.
pub(crate) struct SearchFields<'a> {
    pub service_name: String,
    pub operation_name: String,
    pub tags: BTreeMap<String, String>,
    pub start_time_min: Option<&'a Timestamp>,
    pub start_time_max: Option<&'a Timestamp>,
    pub duration_min: Option<&'a Duration>,
    pub duration_max: Option<&'a Duration>,
    pub search_depth: i32,
}

impl SearchFields<'_> {
    /// Both start-time bounds are required (as Jaeger's api_v3 and its Elasticsearch reader
    /// require them); a search depth of 0 or less means the default of 100 traces.
    pub fn into_trace_query(self) -> Result<TraceQuery, QueryError> {
        Ok(TraceQuery {
            service_name: non_empty(self.service_name),
            operation_name: non_empty(self.operation_name),
            tags: self.tags,
            start_time_min_unix_nano: required_time(self.start_time_min, "start_time_min")?,
            start_time_max_unix_nano: required_time(self.start_time_max, "start_time_max")?,
            duration_min_nanos: optional_duration(self.duration_min),
            duration_max_nanos: optional_duration(self.duration_max),
            // 0 is TraceQuery's "default" (spoor_storage::DEFAULT_SEARCH_LIMIT, 100).
            limit: usize::try_from(self.search_depth).unwrap_or(0),
        })
    }
}

/// The trace's spans, with the trace-level warnings (e.g. "trace has more spans than the limit")
/// added to the first span's warnings: no gRPC trace message has a field for them, and a client
/// should still learn that spans were left out.
pub(crate) fn spans_with_trace_warnings(trace: QueryTrace) -> Vec<Span> {
    let QueryTrace { mut spans, warnings } = trace;
    if let Some(first) = spans.first_mut() {
        first.warnings.extend(warnings);
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use spoor_model::{Process, SpanId};

    fn timestamp(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    #[test]
    fn unset_epoch_and_go_zero_times_are_no_bound() {
        assert_eq!(optional_time(None), None);
        assert_eq!(optional_time(Some(&timestamp(0, 0))), None);
        assert_eq!(optional_time(Some(&timestamp(-62_135_596_800, 0))), None);
        assert_eq!(optional_time(Some(&timestamp(1, 5))), Some(1_000_000_005));
    }

    #[test]
    fn missing_required_time_names_the_field() {
        let error = required_time(None, "start_time_min").unwrap_err();
        assert_eq!(error.to_string(), "start_time_min is required");
    }

    #[test]
    fn zero_or_negative_durations_are_no_bound() {
        assert_eq!(optional_duration(Some(&Duration { seconds: 0, nanos: 0 })), None);
        assert_eq!(optional_duration(Some(&Duration { seconds: -1, nanos: 0 })), None);
        assert_eq!(optional_duration(Some(&Duration { seconds: 0, nanos: 1_000 })), Some(1_000));
    }

    #[test]
    fn span_kind_filter_accepts_empty_and_known_kinds_only() {
        assert_eq!(span_kind_filter("").unwrap(), None);
        assert_eq!(span_kind_filter("server").unwrap(), Some(SpanKind::Server));
        assert_eq!(span_kind_filter("unspecified").unwrap(), Some(SpanKind::Unspecified));
        assert!(span_kind_filter("sideways").is_err());
    }

    #[test]
    fn dependency_window_needs_both_bounds_in_order() {
        let query = dependency_query(Some(&timestamp(10, 0)), Some(&timestamp(70, 5))).unwrap();
        assert_eq!(query.window(), (10_000_000_000, 70_000_000_005));
        assert_eq!(dependency_query(None, Some(&timestamp(1, 0))).unwrap_err().to_string(), "start_time is required");
        assert_eq!(dependency_query(Some(&timestamp(1, 0)), None).unwrap_err().to_string(), "end_time is required");
        let inverted = dependency_query(Some(&timestamp(2, 0)), Some(&timestamp(1, 0))).unwrap_err();
        assert_eq!(inverted.to_string(), "end_time is before start_time");
    }

    #[test]
    fn search_depth_of_zero_or_less_means_the_default() {
        let start = timestamp(10, 0);
        let end = timestamp(20, 0);
        for depth in [0, -5] {
            let fields = SearchFields {
                service_name: "svc".into(),
                operation_name: String::new(),
                tags: BTreeMap::new(),
                start_time_min: Some(&start),
                start_time_max: Some(&end),
                duration_min: None,
                duration_max: None,
                search_depth: depth,
            };
            let query = fields.into_trace_query().unwrap();
            assert_eq!(query.effective_limit(), spoor_storage::DEFAULT_SEARCH_LIMIT);
            assert_eq!(query.operation_name, None);
            assert_eq!(query.service_name.as_deref(), Some("svc"));
        }
    }

    #[test]
    fn trace_warnings_land_on_the_first_span() {
        let process = Arc::new(Process { service_name: "svc".into(), tags: vec![] });
        let span = |id| Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(id),
            operation_name: "op".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: id,
            duration_nanos: 1,
            tags: vec![],
            logs: vec![],
            process: Arc::clone(&process),
            warnings: vec!["own".into()],
            scope_attributes: Vec::new(),
        };
        let trace = QueryTrace { spans: vec![span(1), span(2)], warnings: vec!["capped".into()] };
        let spans = spans_with_trace_warnings(trace);
        assert_eq!(spans[0].warnings, vec!["own".to_owned(), "capped".to_owned()]);
        assert_eq!(spans[1].warnings, vec!["own".to_owned()]);
    }
}
