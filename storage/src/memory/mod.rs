//! The `memory` backend: every span in a map per namespace, for tests, demos and the conformance
//! suite. Nothing survives a restart ([`Capabilities::durable`] is false).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use spoor_model::{Namespace, Span, SpanBatch, SpanId, TraceId};

use crate::api::{
    Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery, Purger,
    Result, SpanReader, SpanWriter, Trace, TraceQuery,
};
use crate::dependencies::{LinkCounter, LinkSpan};
use crate::hashing::span_content_hash;
use crate::matching::{sort_most_recent_first, span_matches};

/// Spans held in memory, isolated per namespace. Writes are idempotent (a span is identified by
/// trace id, span id and a hash of its content) and searches follow Jaeger's semantics.
#[derive(Debug, Default)]
pub struct MemoryStore {
    namespaces: RwLock<HashMap<Namespace, Arc<RwLock<NamespaceData>>>>,
    max_traces_per_namespace: Option<usize>,
}

#[derive(Debug, Default)]
struct NamespaceData {
    traces: HashMap<TraceId, StoredTrace>,
    /// Trace ids in first-write order, for evicting the oldest trace when a bound is set.
    write_order: VecDeque<TraceId>,
    /// Service name to its operations.
    operations: BTreeMap<String, BTreeSet<Operation>>,
}

#[derive(Debug, Default)]
struct StoredTrace {
    spans: Vec<Span>,
    /// (span id, content hash) of every stored span: what makes a re-write a no-op.
    identities: HashSet<(SpanId, u64)>,
}

impl MemoryStore {
    /// An unbounded store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that keeps at most `max_traces` traces per namespace, evicting the trace written
    /// first when a new one arrives (Jaeger's `--memory.max-traces`).
    pub fn with_max_traces_per_namespace(max_traces: usize) -> Self {
        Self { namespaces: RwLock::default(), max_traces_per_namespace: Some(max_traces.max(1)) }
    }

    fn namespace_data(&self, ns: &Namespace) -> Option<Arc<RwLock<NamespaceData>>> {
        self.namespaces.read().get(ns).cloned()
    }

    fn namespace_data_or_create(&self, ns: &Namespace) -> Arc<RwLock<NamespaceData>> {
        if let Some(data) = self.namespace_data(ns) {
            return data;
        }
        self.namespaces.write().entry(ns.clone()).or_default().clone()
    }
}

#[async_trait]
impl SpanWriter for MemoryStore {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let hashed: Vec<(u64, Span)> = batch.spans.into_iter().map(|span| (span_content_hash(&span), span)).collect();
        let data = self.namespace_data_or_create(ns);
        let mut data = data.write();
        for (content_hash, span) in hashed {
            let operation = Operation { name: span.operation_name.clone(), span_kind: span.kind() };
            if !data.operations.get(span.service_name()).is_some_and(|ops| ops.contains(&operation)) {
                data.operations.entry(span.service_name().to_owned()).or_default().insert(operation);
            }
            let trace_id = span.trace_id;
            let is_new_trace = !data.traces.contains_key(&trace_id);
            let trace = data.traces.entry(trace_id).or_default();
            if trace.identities.insert((span.span_id, content_hash)) {
                trace.spans.push(span);
            }
            if is_new_trace {
                data.write_order.push_back(trace_id);
                if let Some(max_traces) = self.max_traces_per_namespace {
                    while data.traces.len() > max_traces {
                        let Some(oldest) = data.write_order.pop_front() else { break };
                        data.traces.remove(&oldest);
                    }
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SpanReader for MemoryStore {
    async fn get_trace(&self, ns: &Namespace, request: GetTraceRequest) -> Result<Option<Trace>> {
        let Some(data) = self.namespace_data(ns) else { return Ok(None) };
        let data = data.read();
        Ok(data.traces.get(&request.trace_id).map(|trace| Trace { spans: trace.spans.clone() }))
    }

    async fn find_trace_ids(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<FoundTraceId>> {
        query.validate()?;
        let Some(data) = self.namespace_data(ns) else { return Ok(Vec::new()) };
        let data = data.read();
        let mut found: Vec<FoundTraceId> = data
            .traces
            .iter()
            .filter_map(|(trace_id, trace)| {
                let mut matching_starts =
                    trace.spans.iter().filter(|span| span_matches(span, query)).map(|span| span.start_time_unix_nano);
                let first = matching_starts.next()?;
                let (min, max) =
                    matching_starts.fold((first, first), |(min, max), start| (min.min(start), max.max(start)));
                Some(FoundTraceId { trace_id: *trace_id, start_time_min_unix_nano: min, start_time_max_unix_nano: max })
            })
            .collect();
        sort_most_recent_first(&mut found);
        found.truncate(query.effective_limit());
        Ok(found)
    }

    async fn find_traces(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<Trace>> {
        let ids = self.find_trace_ids(ns, query).await?;
        let Some(data) = self.namespace_data(ns) else { return Ok(Vec::new()) };
        let data = data.read();
        Ok(ids
            .iter()
            .filter_map(|found| data.traces.get(&found.trace_id))
            .map(|trace| Trace { spans: trace.spans.clone() })
            .collect())
    }

    async fn services(&self, ns: &Namespace) -> Result<Vec<String>> {
        let Some(data) = self.namespace_data(ns) else { return Ok(Vec::new()) };
        let data = data.read();
        Ok(data.operations.keys().cloned().collect())
    }

    async fn operations(&self, ns: &Namespace, query: &OperationQuery) -> Result<Vec<Operation>> {
        let Some(data) = self.namespace_data(ns) else { return Ok(Vec::new()) };
        let data = data.read();
        let Some(operations) = data.operations.get(&query.service_name) else { return Ok(Vec::new()) };
        Ok(operations
            .iter()
            .filter(|operation| query.span_kind.is_none_or(|kind| operation.span_kind == kind))
            .cloned()
            .collect())
    }

    /// Walks every trace of the namespace (as Jaeger's memory store does).
    async fn dependencies(&self, ns: &Namespace, query: &DependencyQuery) -> Result<Vec<DependencyLink>> {
        let Some(data) = self.namespace_data(ns) else { return Ok(Vec::new()) };
        let data = data.read();
        let (window_start, window_end) = query.window();
        let mut counter = LinkCounter::new(window_start, window_end);
        let mut trace_spans: Vec<LinkSpan<&str>> = Vec::new();
        for trace in data.traces.values() {
            if !trace.spans.iter().any(|span| (window_start..=window_end).contains(&span.start_time_unix_nano)) {
                continue;
            }
            trace_spans.clear();
            trace_spans.extend(trace.spans.iter().map(LinkSpan::of));
            trace_spans.sort_unstable_by_key(|span| span.span_id);
            counter.count_trace(&trace_spans);
        }
        Ok(counter.into_links(str::to_owned))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { search_without_service: true, operation_span_kind: true, durable: false }
    }
}

#[async_trait]
impl Purger for MemoryStore {
    /// Forgets every namespace. A write that looked its namespace up before the purge finishes
    /// in the forgotten map: it is purged too.
    async fn purge(&self) -> Result<()> {
        let purged = std::mem::take(&mut *self.namespaces.write());
        tracing::info!(namespaces = purged.len(), "memory store purged");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
