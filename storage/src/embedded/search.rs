//! Reads: trace by id and Jaeger's trace search over the day partitions. Blocking; callers run it
//! on the blocking pool.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use spoor_model::{Span, SpanId, TraceId};

use super::dbmodel::{
    decode_span_group, for_each_span_summary, indexed_name, operation_hash, parse_search_row_key, search_bound,
    service_search_prefix, trace_prefix, SpanSummary, SEARCH_ROW_WINDOW_NANOS,
};
use super::fjall_error;
use super::partitions::DayPartition;
use crate::api::{FoundTraceId, Result, TraceQuery};
use crate::hashing::term_hash;
use crate::matching::{sort_most_recent_first, start_time_bounds};

/// Every span of `trace_id` in the live partitions, without duplicates (a span re-written on
/// another day, or in another grouping, is stored twice but returned once).
pub(crate) fn get_trace(
    partitions: &[Arc<DayPartition>],
    namespace_key: &[u8],
    trace_id: TraceId,
) -> Result<Vec<Span>> {
    let prefix = trace_prefix(namespace_key, trace_id);
    let mut seen: HashSet<(SpanId, u64)> = HashSet::new();
    let mut spans = Vec::new();
    for partition in partitions {
        for entry in partition.spans.prefix(&prefix) {
            let value = entry.value().map_err(fjall_error)?;
            for (content_hash, span) in decode_span_group(trace_id, &value)? {
                if seen.insert((span.span_id, content_hash)) {
                    spans.push(span);
                }
            }
        }
    }
    Ok(spans)
}

/// Services of a namespace in the live partitions, sorted.
pub(crate) fn services(partitions: &[Arc<DayPartition>], namespace: &str) -> Vec<String> {
    let mut services = BTreeSet::new();
    for partition in partitions {
        services.extend(partition.catalog.read().services(namespace).cloned());
    }
    services.into_iter().collect()
}

/// A trace query prepared for matching span summaries.
struct CompiledQuery {
    operation_hash: Option<u64>,
    terms: Vec<u64>,
    start_min: u64,
    start_max: u64,
    duration_min: u64,
    duration_max: u64,
    limit: usize,
}

impl CompiledQuery {
    fn new(query: &TraceQuery) -> Self {
        let (start_min, start_max) = start_time_bounds(query);
        Self {
            operation_hash: query.operation_name.as_deref().map(|operation| operation_hash(indexed_name(operation))),
            terms: query.tags.iter().map(|(key, value)| term_hash(key, value)).collect(),
            start_min,
            start_max,
            duration_min: query.duration_min_nanos.unwrap_or(0),
            duration_max: query.duration_max_nanos.unwrap_or(u64::MAX),
            limit: query.effective_limit(),
        }
    }

    fn matches(&self, span: &SpanSummary<'_>) -> bool {
        span.start >= self.start_min
            && span.start <= self.start_max
            && span.duration >= self.duration_min
            && span.duration <= self.duration_max
            && self.operation_hash.is_none_or(|hash| hash == span.operation_hash)
            && self.terms.iter().all(|&term| span.has_term(term))
    }
}

/// Jaeger's search: the traces with a span matching every condition, most recent first by their
/// latest matching span. Without a service, every service of the namespace is searched.
pub(crate) fn find_trace_ids(
    partitions: &[Arc<DayPartition>],
    namespace: &str,
    namespace_key: &[u8],
    query: &TraceQuery,
) -> Result<Vec<FoundTraceId>> {
    let compiled = CompiledQuery::new(query);
    let mut merged: HashMap<TraceId, FoundTraceId> = HashMap::new();
    for partition in partitions {
        let services: Vec<String> = match &query.service_name {
            Some(service) => vec![indexed_name(service).to_owned()],
            None => partition.catalog.read().services(namespace).cloned().collect(),
        };
        for service in services {
            // The top traces of each (day, service) contain the overall top traces: a trace's
            // score is its latest matching span, and it is reached in the scan where that span is.
            for found in scan_service(partition, namespace_key, &service, &compiled)? {
                merged
                    .entry(found.trace_id)
                    .and_modify(|known| {
                        known.start_time_min_unix_nano =
                            known.start_time_min_unix_nano.min(found.start_time_min_unix_nano);
                        known.start_time_max_unix_nano =
                            known.start_time_max_unix_nano.max(found.start_time_max_unix_nano);
                    })
                    .or_insert(found);
            }
        }
    }
    let mut found: Vec<FoundTraceId> = merged.into_values().collect();
    sort_most_recent_first(&mut found);
    found.truncate(compiled.limit);
    Ok(found)
}

/// Scans one service's search rows of one day from the newest, and returns at least the
/// `limit` traces with the latest matching spans (possibly more).
fn scan_service(
    partition: &DayPartition,
    namespace_key: &[u8],
    service: &str,
    query: &CompiledQuery,
) -> Result<Vec<FoundTraceId>> {
    let prefix = service_search_prefix(namespace_key, service);
    let lower = search_bound(&prefix, query.start_min);
    let mut upper = search_bound(&prefix, query.start_max.saturating_add(SEARCH_ROW_WINDOW_NANOS));
    upper.extend_from_slice(&[0xff; 8]);

    let mut found: HashMap<TraceId, FoundTraceId> = HashMap::new();
    // The limit-th best score seen so far: no row whose latest span starts before it can change
    // the top traces, so the scan stops there.
    let mut threshold: Option<u64> = None;
    let mut rows_since_threshold = 0usize;
    let mut processes = Vec::new();
    for entry in partition.index.range(lower..=upper).rev() {
        let (key, value) = entry.into_inner().map_err(fjall_error)?;
        let latest_start = parse_search_row_key(&key, prefix.len())?;
        if threshold.is_some_and(|threshold| latest_start < threshold) {
            break;
        }
        for_each_span_summary(&value, latest_start, &mut processes, |span| {
            if query.matches(&span) {
                found
                    .entry(span.trace_id)
                    .and_modify(|known| {
                        known.start_time_min_unix_nano = known.start_time_min_unix_nano.min(span.start);
                        known.start_time_max_unix_nano = known.start_time_max_unix_nano.max(span.start);
                    })
                    .or_insert(FoundTraceId {
                        trace_id: span.trace_id,
                        start_time_min_unix_nano: span.start,
                        start_time_max_unix_nano: span.start,
                    });
            }
        })?;
        if found.len() >= query.limit {
            rows_since_threshold += 1;
            if threshold.is_none() || rows_since_threshold >= 4 {
                threshold = Some(kth_latest(&found, query.limit));
                rows_since_threshold = 0;
            }
        }
    }
    Ok(found.into_values().collect())
}

/// The `k`-th largest latest-match start among `found` (which has at least `k` entries).
fn kth_latest(found: &HashMap<TraceId, FoundTraceId>, k: usize) -> u64 {
    let mut scores: Vec<u64> = found.values().map(|f| f.start_time_max_unix_nano).collect();
    let index = k.saturating_sub(1).min(scores.len().saturating_sub(1));
    let (_, kth, _) = scores.select_nth_unstable_by(index, |a, b| b.cmp(a));
    *kth
}
