//! The storage contract. Every backend (memory, embedded, elasticsearch) implements [`SpanWriter`]
//! and [`SpanReader`] and passes the one conformance suite in `conformance.rs`.
//!
//! The namespace is an explicit argument on every call: a backend MUST NOT let one namespace's
//! call read or write another namespace's data.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use spoor_model::{Namespace, Span, SpanBatch, SpanKind, TraceId};

/// What kind of failure a storage error is; mapped to HTTP statuses and gRPC codes in exactly one
/// place per transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (HTTP 400, gRPC INVALID_ARGUMENT). Not retryable.
    InvalidArgument,
    /// The backend cannot serve now (HTTP 503, gRPC UNAVAILABLE). Retryable.
    Unavailable,
    /// The backend is overloaded (HTTP 429, gRPC RESOURCE_EXHAUSTED). Retryable.
    ResourceExhausted,
    /// The namespace is not configured (HTTP 401, gRPC PERMISSION_DENIED).
    UnknownNamespace,
    /// A bug or corrupted data (HTTP 500, gRPC INTERNAL). Not retryable.
    Internal,
}

impl ErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::ResourceExhausted)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage overloaded: {0}")]
    Overloaded(String),
    #[error("namespace {0:?} is not configured")]
    UnknownNamespace(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage backend failed: {0}")]
    Backend(String),
}

impl StorageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidQuery(_) => ErrorKind::InvalidArgument,
            Self::Unavailable(_) | Self::Io(_) => ErrorKind::Unavailable,
            Self::Overloaded(_) => ErrorKind::ResourceExhausted,
            Self::UnknownNamespace(_) => ErrorKind::UnknownNamespace,
            Self::Corrupt(_) | Self::Backend(_) => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The spans of one trace, in no particular order (the query service sorts and adjusts).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    pub spans: Vec<Span>,
}

/// A request for one trace. The optional time window lets a backend look only where the trace
/// can be (a backend MAY ignore it; it MUST NOT return spans of another trace).
#[derive(Clone, Debug, PartialEq)]
pub struct GetTraceRequest {
    pub trace_id: TraceId,
    /// Inclusive lower bound on span start, nanoseconds since the epoch.
    pub start_time_min_unix_nano: Option<u64>,
    /// Inclusive upper bound on span start, nanoseconds since the epoch.
    pub start_time_max_unix_nano: Option<u64>,
}

impl GetTraceRequest {
    pub fn new(trace_id: TraceId) -> Self {
        Self { trace_id, start_time_min_unix_nano: None, start_time_max_unix_nano: None }
    }
}

/// Jaeger's trace search. A trace matches when at least one of its spans matches every given
/// condition at once (service, operation, every tag, duration range, start-time range).
///
/// Tags match a span tag, a process tag, a log field, a scope attribute or a link attribute with
/// that key whose value, rendered as text ([`spoor_model::AttributeValue::as_string`]), equals the
/// given value (where Jaeger's v2 memory store looks). Every backend MUST search all five.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceQuery {
    pub service_name: Option<String>,
    pub operation_name: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Inclusive, nanoseconds since the epoch.
    pub start_time_min_unix_nano: u64,
    /// Inclusive, nanoseconds since the epoch. When both bounds are 0 (the `Default`), the query
    /// covers all time.
    pub start_time_max_unix_nano: u64,
    /// Inclusive, on a span's duration.
    pub duration_min_nanos: Option<u64>,
    /// Inclusive, on a span's duration.
    pub duration_max_nanos: Option<u64>,
    /// The most traces to return (Jaeger's `limit` / search depth). 0 means the default (100).
    pub limit: usize,
}

/// The default number of traces a search returns, as Jaeger.
pub const DEFAULT_SEARCH_LIMIT: usize = 100;

impl TraceQuery {
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            DEFAULT_SEARCH_LIMIT
        } else {
            self.limit
        }
    }

    /// Checks the query's own consistency (ranges the right way round).
    pub fn validate(&self) -> Result<()> {
        if self.start_time_max_unix_nano < self.start_time_min_unix_nano {
            return Err(StorageError::InvalidQuery("start time maximum is before start time minimum".into()));
        }
        if let (Some(min), Some(max)) = (self.duration_min_nanos, self.duration_max_nanos) {
            if max < min {
                return Err(StorageError::InvalidQuery("duration maximum is smaller than duration minimum".into()));
            }
        }
        Ok(())
    }
}

/// A trace id found by a search, with the start-time range of the spans that were seen for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundTraceId {
    pub trace_id: TraceId,
    pub start_time_min_unix_nano: u64,
    pub start_time_max_unix_nano: u64,
}

/// An operation of a service, with the span kind it was seen with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation {
    pub name: String,
    pub span_kind: SpanKind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationQuery {
    pub service_name: String,
    /// `None` lists operations of every kind.
    pub span_kind: Option<SpanKind>,
}

/// Calls from one service to another, derived from spans (Jaeger's `DependencyLink`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DependencyLink {
    /// The calling service.
    pub parent: String,
    /// The called service.
    pub child: String,
    pub call_count: u64,
    /// What the link was derived from: [`DEPENDENCY_SOURCE_SPANS`] for links computed from
    /// stored spans (Jaeger's `source`).
    pub source: String,
}

/// The `source` of links computed from stored spans; Jaeger's value for links derived from its
/// own traces.
pub const DEPENDENCY_SOURCE_SPANS: &str = "jaeger";

/// How long before a dependency window a parent span may start and still be found for certain
/// (Jaeger's default maximum trace duration).
pub const DEPENDENCY_PARENT_LEAD: Duration = Duration::from_secs(24 * 3600);

/// The time window of a dependency read: spans that start in `[end - lookback, end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DependencyQuery {
    /// Inclusive, nanoseconds since the epoch.
    pub end_time_unix_nano: u64,
    /// How far before `end_time_unix_nano` the window begins (the beginning is inclusive and
    /// saturates at the epoch).
    pub lookback: Duration,
}

impl DependencyQuery {
    /// The window `[start, end]`, both inclusive, in nanoseconds since the epoch.
    pub fn window(&self) -> (u64, u64) {
        let lookback_nanos = u64::try_from(self.lookback.as_nanos()).unwrap_or(u64::MAX);
        (self.end_time_unix_nano.saturating_sub(lookback_nanos), self.end_time_unix_nano)
    }
}

/// What a backend can do, so callers (and the conformance suite) know what to expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Searches without a service name are supported.
    pub search_without_service: bool,
    /// Operations carry their span kind.
    pub operation_span_kind: bool,
    /// Spans survive a process restart.
    pub durable: bool,
}

/// Writes spans.
#[async_trait]
pub trait SpanWriter: Send + Sync + 'static {
    /// Stores a batch of spans in namespace `ns`.
    ///
    /// - `Ok` MUST mean every span of the batch is stored as durably as the backend promises
    ///   (embedded: on disk per its sync policy; elasticsearch: acknowledged by the cluster). Callers
    ///   acknowledge senders and commit Kafka offsets on it.
    /// - Writing MUST be idempotent: writing the same span (same trace id, span id and content)
    ///   again leaves one copy. Two different spans that share a span id are both kept.
    /// - On `Err` some spans MAY have been stored; the caller retries the whole batch, which is
    ///   safe because writes are idempotent. Retryable failures have a retryable [`ErrorKind`].
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> Result<()>;
}

/// Reads spans.
#[async_trait]
pub trait SpanReader: Send + Sync + 'static {
    /// Returns every stored span of the trace. Not found is `Ok(None)`, never an error.
    async fn get_trace(&self, ns: &Namespace, request: GetTraceRequest) -> Result<Option<Trace>>;

    /// Returns ids of traces matching the query, most recent first (by the latest matching span
    /// start), at most `query.effective_limit()`.
    async fn find_trace_ids(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<FoundTraceId>>;

    /// Returns the traces of [`SpanReader::find_trace_ids`], complete (every span, not only the
    /// matching ones), in the same order.
    async fn find_traces(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<Trace>> {
        let ids = self.find_trace_ids(ns, query).await?;
        let mut traces = Vec::with_capacity(ids.len());
        for found in ids {
            let request = GetTraceRequest::new(found.trace_id);
            if let Some(trace) = self.get_trace(ns, request).await? {
                traces.push(trace);
            }
        }
        Ok(traces)
    }

    /// Service names with spans in the retention window, sorted.
    async fn services(&self, ns: &Namespace) -> Result<Vec<String>>;

    /// Operations of a service, sorted by name then kind.
    async fn operations(&self, ns: &Namespace, query: &OperationQuery) -> Result<Vec<Operation>>;

    /// The service dependency links of namespace `ns`, computed from its stored spans:
    ///
    /// - A span that starts within [`DependencyQuery::window`] (both ends inclusive) and whose
    ///   parent span — its first CHILD_OF reference within the same trace — is stored in the
    ///   namespace with a different service name counts as one call from the parent's service to
    ///   the span's service. The parent may start outside the window. A span whose parent is not
    ///   stored, or has the same service, counts nothing; FOLLOWS_FROM references count nothing.
    ///   A backend MAY miss a parent that starts more than [`DEPENDENCY_PARENT_LEAD`] before the
    ///   window, so that it need not read all of its data for a short window.
    /// - Zipkin-style shared span ids, as the query adjusters read them: a server span that
    ///   shares its span id with a client span is called by that client span, and a span whose
    ///   parent id is such a shared id is the child of the server span.
    /// - A span stored twice (same trace id, span id and content) counts once.
    /// - The result has one link per (parent, child) with the calls summed, sorted by parent then
    ///   child, each with `source` [`DEPENDENCY_SOURCE_SPANS`]. No spans is an empty list, not an
    ///   error.
    async fn dependencies(&self, ns: &Namespace, query: &DependencyQuery) -> Result<Vec<DependencyLink>>;

    fn capabilities(&self) -> Capabilities;
}

/// Deletes everything a backend stores. For tests only: Jaeger's storage integration suite purges
/// the backend between its tests (`POST /purge` on port 9231).
#[async_trait]
pub trait Purger: Send + Sync + 'static {
    /// Deletes every span, service and operation of every namespace.
    ///
    /// - `Ok` MUST mean that reads started after it returns see nothing written by writes that
    ///   returned before it was called, and that writes started after it returns are kept.
    /// - It MUST be safe while writes and reads are in flight, but their outcome is open: spans
    ///   of a write that overlaps the purge MAY be kept or purged, and an overlapping read MAY
    ///   see data either way or fail with a retryable error. A caller that needs an empty store
    ///   lets its writes finish first (as Jaeger's suite does).
    async fn purge(&self) -> Result<()>;
}

/// A backend that both writes and reads.
pub trait SpanStore: SpanWriter + SpanReader {}
impl<T: SpanWriter + SpanReader> SpanStore for T {}
