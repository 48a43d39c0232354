//! The transport-neutral query service: reads through a [`SpanReader`], caps and adjusts traces,
//! and records metrics. The HTTP and gRPC handlers are thin layers over it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use spoor_model::{Namespace, Span};
use spoor_storage::{
    Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery,
    SpanReader, SpanWriter, TraceQuery,
};

use crate::adjuster;
use crate::archive::ArchiveStorage;
use crate::error::QueryError;
use crate::metrics::{QueryMetrics, ReadOperation};

/// The default for [`QueryServiceOptions::max_spans_per_trace`].
pub const DEFAULT_MAX_SPANS_PER_TRACE: usize = 100_000;

/// Options of the query service (TOML section of the query role).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryServiceOptions {
    /// The most the clock-skew adjuster may shift a span's timestamps, in milliseconds
    /// (Jaeger's `max_clock_skew_adjust`). 0, the default, turns correction off: spans that would
    /// need it only get a warning saying by how much.
    pub max_clock_skew_adjust_ms: u64,
    /// The most spans one returned trace holds. A larger trace keeps the spans that start first
    /// and gets a trace warning, so one runaway trace cannot exhaust memory while it is rendered.
    /// 0 means no limit.
    pub max_spans_per_trace: usize,
}

impl Default for QueryServiceOptions {
    fn default() -> Self {
        Self { max_clock_skew_adjust_ms: 0, max_spans_per_trace: DEFAULT_MAX_SPANS_PER_TRACE }
    }
}

/// One trace as the query service returns it: its spans (adjusted and sorted by start time unless
/// raw) and trace-level warnings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryTrace {
    pub spans: Vec<Span>,
    pub warnings: Vec<String>,
}

/// Jaeger's query service over one storage backend, and optionally an archive storage
/// ([`QueryService::with_archive`]). Every call names its namespace.
pub struct QueryService {
    reader: Arc<dyn SpanReader>,
    archive: Option<ArchiveStorage>,
    options: QueryServiceOptions,
    metrics: QueryMetrics,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService")
            .field("options", &self.options)
            .field("archive", &self.archive.is_some())
            .finish_non_exhaustive()
    }
}

impl QueryService {
    pub fn new(reader: Arc<dyn SpanReader>, options: QueryServiceOptions, metrics: QueryMetrics) -> Self {
        Self { reader, archive: None, options, metrics }
    }

    /// Adds archive storage that keeps archived traces under the request's own namespace name:
    /// `POST /api/archive/{id}` and api_v2 `ArchiveTrace` copy a trace into it, and trace lookups
    /// fall back to it. Without archive storage, archiving fails with Jaeger's
    /// `archive span storage was not configured` (HTTP 500, gRPC INTERNAL).
    pub fn with_archive(self, reader: Arc<dyn SpanReader>, writer: Arc<dyn SpanWriter>) -> Self {
        self.with_archive_storage(ArchiveStorage::new(reader, writer))
    }

    /// [`QueryService::with_archive`] with a namespace mapping or any other [`ArchiveStorage`].
    pub fn with_archive_storage(mut self, archive: ArchiveStorage) -> Self {
        self.archive = Some(archive);
        self
    }

    /// Whether archive storage is configured (Jaeger's `archiveEnabled` UI capability).
    pub fn has_archive(&self) -> bool {
        self.archive.is_some()
    }

    /// What the primary storage can do (the remote-storage API's `GetCapabilities`).
    pub fn storage_capabilities(&self) -> Capabilities {
        self.reader.capabilities()
    }

    pub fn options(&self) -> &QueryServiceOptions {
        &self.options
    }

    /// Returns one trace, from the primary storage or, when that has none of its spans, from
    /// the archive (as Jaeger's `GetTraces`); [`QueryError::TraceNotFound`] when neither has it.
    /// With `raw` the spans come back as stored (only capped), without adjusters.
    pub async fn get_trace(
        &self,
        ns: &Namespace,
        request: GetTraceRequest,
        raw: bool,
    ) -> Result<QueryTrace, QueryError> {
        let spans = self.read_primary_then_archive(ns, request).await?;
        Ok(self.finish(spans, raw))
    }

    /// [`QueryService::get_trace`] from the primary storage only (the remote-storage API is a
    /// storage, not a query service: it has no archive fallback).
    pub async fn get_primary_trace(
        &self,
        ns: &Namespace,
        request: GetTraceRequest,
        raw: bool,
    ) -> Result<QueryTrace, QueryError> {
        let spans = self.read_primary(ns, request).await?.ok_or(QueryError::TraceNotFound)?;
        Ok(self.finish(spans, raw))
    }

    /// Copies a trace, every span as stored (not capped, not adjusted), into archive storage
    /// (Jaeger's `ArchiveTrace`). The trace is looked up as [`QueryService::get_trace`] looks it
    /// up, so archiving an archived trace succeeds (and stores nothing new: writes are
    /// idempotent). [`QueryError::ArchiveNotConfigured`] without archive storage,
    /// [`QueryError::TraceNotFound`] when neither storage has the trace.
    pub async fn archive_trace(&self, ns: &Namespace, request: GetTraceRequest) -> Result<(), QueryError> {
        let Some(archive) = &self.archive else {
            return Err(QueryError::ArchiveNotConfigured);
        };
        let spans = self.read_primary_then_archive(ns, request).await?;
        archive.write(ns, spans).await?;
        Ok(())
    }

    async fn read_primary_then_archive(
        &self,
        ns: &Namespace,
        request: GetTraceRequest,
    ) -> Result<Vec<Span>, QueryError> {
        if let Some(spans) = self.read_primary(ns, request.clone()).await? {
            return Ok(spans);
        }
        self.read_archive(ns, request).await?.ok_or(QueryError::TraceNotFound)
    }

    /// The stored spans of a trace; `None` when there are none. A zero id is refused.
    async fn read_primary(&self, ns: &Namespace, request: GetTraceRequest) -> Result<Option<Vec<Span>>, QueryError> {
        if request.trace_id.is_zero() {
            return Err(QueryError::invalid_argument("trace id must not be zero"));
        }
        let started = Instant::now();
        let result = self.reader.get_trace(ns, request).await;
        self.metrics.record(ReadOperation::GetTrace, result.is_ok(), started.elapsed());
        Ok(result?.map(|trace| trace.spans).filter(|spans| !spans.is_empty()))
    }

    /// The archived spans of a trace; `None` when there are none or no archive is configured.
    async fn read_archive(&self, ns: &Namespace, request: GetTraceRequest) -> Result<Option<Vec<Span>>, QueryError> {
        let Some(archive) = &self.archive else { return Ok(None) };
        let started = Instant::now();
        let result = archive.read(ns, request).await;
        self.metrics.record(ReadOperation::GetArchiveTrace, result.is_ok(), started.elapsed());
        Ok(result?)
    }

    /// Searches traces (Jaeger's `FindTraces`): complete traces, most recent first.
    pub async fn find_traces(
        &self,
        ns: &Namespace,
        query: &TraceQuery,
        raw: bool,
    ) -> Result<Vec<QueryTrace>, QueryError> {
        query.validate()?;
        let started = Instant::now();
        let result = self.reader.find_traces(ns, query).await;
        self.metrics.record(ReadOperation::FindTraces, result.is_ok(), started.elapsed());
        let traces = result?;
        Ok(traces
            .into_iter()
            .filter(|trace| !trace.spans.is_empty())
            .map(|trace| self.finish(trace.spans, raw))
            .collect())
    }

    /// Searches trace ids only (the remote-storage API's `FindTraceIDs`): most recent first, each
    /// with the start-time range of its spans that the search saw.
    pub async fn find_trace_ids(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<FoundTraceId>, QueryError> {
        query.validate()?;
        let started = Instant::now();
        let result = self.reader.find_trace_ids(ns, query).await;
        self.metrics.record(ReadOperation::FindTraceIds, result.is_ok(), started.elapsed());
        Ok(result?)
    }

    /// Service names with spans in the retention window, sorted.
    pub async fn services(&self, ns: &Namespace) -> Result<Vec<String>, QueryError> {
        let started = Instant::now();
        let result = self.reader.services(ns).await;
        self.metrics.record(ReadOperation::GetServices, result.is_ok(), started.elapsed());
        Ok(result?)
    }

    /// Operations of a service (of one span kind, or of every kind), sorted by name then kind.
    pub async fn operations(&self, ns: &Namespace, query: &OperationQuery) -> Result<Vec<Operation>, QueryError> {
        let started = Instant::now();
        let result = self.reader.operations(ns, query).await;
        self.metrics.record(ReadOperation::GetOperations, result.is_ok(), started.elapsed());
        Ok(result?)
    }

    /// Service dependency links of spans that start in the query's window (Jaeger's
    /// `GetDependencies`), one per (parent, child), sorted by parent then child.
    pub async fn dependencies(
        &self,
        ns: &Namespace,
        query: &DependencyQuery,
    ) -> Result<Vec<DependencyLink>, QueryError> {
        let started = Instant::now();
        let result = self.reader.dependencies(ns, query).await;
        self.metrics.record(ReadOperation::GetDependencies, result.is_ok(), started.elapsed());
        Ok(result?)
    }

    fn finish(&self, spans: Vec<Span>, raw: bool) -> QueryTrace {
        let mut trace = QueryTrace { spans, warnings: Vec::new() };
        cap_spans(&mut trace, self.options.max_spans_per_trace);
        if !raw {
            adjuster::adjust(&mut trace.spans, Duration::from_millis(self.options.max_clock_skew_adjust_ms));
        }
        trace
    }
}

/// Keeps the `max_spans` spans that start first (0 = no limit) and says so in a trace warning.
fn cap_spans(trace: &mut QueryTrace, max_spans: usize) {
    let total = trace.spans.len();
    if max_spans == 0 || total <= max_spans {
        return;
    }
    trace.spans.sort_by_key(|span| (span.start_time_unix_nano, span.span_id));
    trace.spans.truncate(max_spans);
    trace.spans.shrink_to_fit();
    trace.warnings.push(format!(
        "trace has {total} spans, more than the limit of {max_spans} (max_spans_per_trace); \
         showing the {max_spans} that start first"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_model::{Process, SpanId, TraceId};

    fn span(id: u64, start: u64) -> Span {
        Span {
            trace_id: TraceId::new(0, 1),
            span_id: SpanId(id),
            operation_name: "op".into(),
            references: vec![],
            flags: 1,
            start_time_unix_nano: start,
            duration_nanos: 1_000,
            tags: vec![],
            logs: vec![],
            process: Arc::new(Process { service_name: "svc".into(), tags: vec![] }),
            warnings: vec![],
            scope_attributes: Vec::new(),
        }
    }

    #[test]
    fn span_cap_keeps_earliest_spans_and_warns() {
        let mut trace = QueryTrace { spans: vec![span(1, 30), span(2, 10), span(3, 20)], warnings: vec![] };
        cap_spans(&mut trace, 2);
        let ids: Vec<u64> = trace.spans.iter().map(|s| s.span_id.0).collect();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(trace.warnings.len(), 1);
        assert!(trace.warnings[0].contains("3 spans"), "{}", trace.warnings[0]);
    }

    #[test]
    fn span_cap_of_zero_means_no_limit() {
        let mut trace = QueryTrace { spans: vec![span(1, 30), span(2, 10)], warnings: vec![] };
        cap_spans(&mut trace, 0);
        assert_eq!(trace.spans.len(), 2);
        assert!(trace.warnings.is_empty());
    }

    #[test]
    fn options_reject_unknown_keys() {
        let parsed: Result<QueryServiceOptions, _> = serde_json::from_str(r#"{"max_spans_per_trace": 5, "bogus": 1}"#);
        assert!(parsed.is_err());
        let parsed: QueryServiceOptions = serde_json::from_str(r#"{"max_spans_per_trace": 5}"#).unwrap();
        assert_eq!(parsed, QueryServiceOptions { max_clock_skew_adjust_ms: 0, max_spans_per_trace: 5 });
    }
}
