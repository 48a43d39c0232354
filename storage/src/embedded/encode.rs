//! Turns a batch of spans into the rows of one commit: a span-group row per trace and a search
//! row per service (split by time), so the key count grows with traces, not with spans or tags.
//! Runs on the caller's side (tokio's blocking pool), so the writer thread only inserts.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use fjall::Slice;
use spoor_model::{Span, SpanKind};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::dbmodel::{
    collect_terms, dependency_row_key, dependency_row_prefix, encode_dependency_row, encode_process_body,
    encode_search_row, encode_span_body, encode_span_group, indexed_name, operation_hash, process_hash, search_row_key,
    service_search_prefix, span_content_hash, span_row_key, span_searchable_key_values, DependencyEntry, EncodedSpan,
    SearchEntry, MAX_SPANS_PER_DEPENDENCY_ROW, MAX_SPANS_PER_SEARCH_ROW, MAX_SPANS_PER_SPAN_ROW,
    SEARCH_ROW_WINDOW_NANOS,
};
use crate::dependencies::Role;
use crate::hashing::StableHasher;

/// The rows of one `write` call, ready to be put into a commit.
#[derive(Debug, Default)]
pub(crate) struct EncodedBatch {
    pub namespace: String,
    pub namespace_key: Vec<u8>,
    pub span_rows: Vec<(Slice, Slice)>,
    pub search_rows: Vec<(Slice, Slice)>,
    pub dependency_rows: Vec<(Slice, Slice)>,
    /// Distinct (service, operation, kind) of the batch.
    pub operations: Vec<(String, String, SpanKind)>,
    pub span_count: usize,
}

/// A process of the batch, encoded once.
struct EncodedProcess {
    body: Vec<u8>,
    hash: u64,
    terms: Vec<u64>,
}

/// Encodes `spans` of namespace `namespace` (whose key component is `namespace_key`).
pub(crate) fn encode_batch(namespace: &str, namespace_key: Vec<u8>, spans: &[Span]) -> EncodedBatch {
    // Processes are shared by pointer within a batch; encode each once.
    let mut process_slots: HashMap<*const spoor_model::Process, usize, Xxh3DefaultBuilder> = HashMap::default();
    let mut processes: Vec<EncodedProcess> = Vec::new();
    let mut span_process: Vec<usize> = Vec::with_capacity(spans.len());
    for span in spans {
        let slot = *process_slots.entry(Arc::as_ptr(&span.process)).or_insert_with(|| {
            let mut body = Vec::with_capacity(128);
            encode_process_body(&span.process, &mut body);
            let mut terms = Vec::new();
            collect_terms(span.process.tags.iter(), &mut terms);
            processes.push(EncodedProcess { hash: process_hash(&body), body, terms });
            processes.len() - 1
        });
        span_process.push(slot);
    }

    // Every span body is encoded once, into one arena, and hashed there.
    let mut arena: Vec<u8> = Vec::with_capacity(spans.len() * 768);
    let mut bodies: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    let mut hashes: Vec<u64> = Vec::with_capacity(spans.len());
    for (span, &slot) in spans.iter().zip(&span_process) {
        let begin = arena.len();
        encode_span_body(span, &mut arena);
        bodies.push(begin..arena.len());
        hashes.push(span_content_hash(&arena[begin..], processes[slot].hash));
    }

    // Spans grouped by trace in start order; an exact duplicate (same trace, id and content)
    // lands next to its twin and is dropped.
    let mut by_trace: Vec<usize> = (0..spans.len()).collect();
    by_trace.sort_unstable_by(|&a, &b| {
        let (x, y) = (&spans[a], &spans[b]);
        x.trace_id
            .cmp(&y.trace_id)
            .then_with(|| x.start_time_unix_nano.cmp(&y.start_time_unix_nano))
            .then_with(|| x.span_id.cmp(&y.span_id))
            .then_with(|| hashes[a].cmp(&hashes[b]))
    });
    by_trace.dedup_by(|&mut later, &mut earlier| {
        spans[later].trace_id == spans[earlier].trace_id
            && spans[later].span_id == spans[earlier].span_id
            && hashes[later] == hashes[earlier]
    });

    let mut encoded =
        EncodedBatch { namespace: namespace.to_owned(), span_count: by_trace.len(), ..EncodedBatch::default() };

    let mut local_processes: Vec<usize> = Vec::new();
    for trace_run in by_trace.chunk_by(|&a, &b| spans[a].trace_id == spans[b].trace_id) {
        let trace_id = spans[trace_run[0]].trace_id;
        for row in trace_run.chunks(MAX_SPANS_PER_SPAN_ROW) {
            local_processes.clear();
            let members: Vec<EncodedSpan<'_>> = row
                .iter()
                .map(|&index| EncodedSpan {
                    body: &arena[bodies[index].clone()],
                    content_hash: hashes[index],
                    process_index: local_index(&mut local_processes, span_process[index]) as u32,
                })
                .collect();
            let process_bodies: Vec<&[u8]> =
                local_processes.iter().map(|&slot| processes[slot].body.as_slice()).collect();
            let mut value = Vec::with_capacity(members.iter().map(|m| m.body.len() + 24).sum::<usize>() + 256);
            encode_span_group(&process_bodies, &members, &mut value);
            let mut hasher = StableHasher::new();
            for &index in row {
                hasher.u64(hashes[index]);
            }
            let key = span_row_key(&namespace_key, trace_id, hasher.finish());
            encoded.span_rows.push((Slice::from(key), Slice::from(value)));
        }
    }

    encoded.dependency_rows = dependency_rows(&namespace_key, spans, &by_trace, &hashes);

    // Search rows: the batch's spans of one service, in start order, split by time window.
    let mut by_service = by_trace;
    by_service.sort_unstable_by(|&a, &b| {
        let (x, y) = (&spans[a], &spans[b]);
        x.service_name()
            .cmp(y.service_name())
            .then_with(|| x.start_time_unix_nano.cmp(&y.start_time_unix_nano))
            .then_with(|| x.trace_id.cmp(&y.trace_id))
    });
    let mut span_terms: Vec<Vec<u64>> = Vec::new();
    for service_run in by_service.chunk_by(|&a, &b| spans[a].service_name() == spans[b].service_name()) {
        let service_prefix = service_search_prefix(&namespace_key, spans[service_run[0]].service_name());
        for row in split_by_time(service_run, spans) {
            local_processes.clear();
            span_terms.resize_with(row.len(), Vec::new);
            let mut process_indexes = Vec::with_capacity(row.len());
            let mut hasher = StableHasher::new();
            for (position, &index) in row.iter().enumerate() {
                let span = &spans[index];
                collect_terms(span_searchable_key_values(span), &mut span_terms[position]);
                process_indexes.push(local_index(&mut local_processes, span_process[index]));
                hasher.u64(span.trace_id.high);
                hasher.u64(span.trace_id.low);
                hasher.u64(hashes[index]);
            }
            let latest_start = row.iter().map(|&i| spans[i].start_time_unix_nano).max().unwrap_or(0);
            let process_terms: Vec<&[u64]> =
                local_processes.iter().map(|&slot| processes[slot].terms.as_slice()).collect();
            let entries = row.iter().enumerate().map(|(position, &index)| {
                let span = &spans[index];
                SearchEntry {
                    trace_id: span.trace_id,
                    start: span.start_time_unix_nano,
                    duration: span.duration_nanos,
                    operation_hash: operation_hash(indexed_name(&span.operation_name)),
                    process_index: process_indexes[position],
                    terms: &span_terms[position],
                }
            });
            let mut value = Vec::with_capacity(row.len() * 200 + 64);
            encode_search_row(&process_terms, entries, latest_start, &mut value);
            let key = search_row_key(&service_prefix, latest_start, hasher.finish());
            encoded.search_rows.push((Slice::from(key), Slice::from(value)));
        }
    }

    let mut operations: HashSet<(&str, &str, SpanKind), Xxh3DefaultBuilder> = HashSet::default();
    for &index in &by_service {
        let span = &spans[index];
        operations.insert((indexed_name(span.service_name()), indexed_name(&span.operation_name), span.kind()));
    }
    encoded.operations = operations
        .into_iter()
        .map(|(service, operation, kind)| (service.to_owned(), operation.to_owned(), kind))
        .collect();
    encoded.namespace_key = namespace_key;
    encoded
}

/// The dependency rows of the batch: every span (grouped by trace, as `by_trace` orders them)
/// with what dependency links need, a few rows per `write` call rather than keys per trace.
fn dependency_rows(namespace_key: &[u8], spans: &[Span], by_trace: &[usize], hashes: &[u64]) -> Vec<(Slice, Slice)> {
    let prefix = dependency_row_prefix(namespace_key);
    let mut rows = Vec::with_capacity(by_trace.len().div_ceil(MAX_SPANS_PER_DEPENDENCY_ROW));
    let mut services: Vec<&str> = Vec::new();
    let mut service_slots: HashMap<&str, usize, Xxh3DefaultBuilder> = HashMap::default();
    let mut entries: Vec<DependencyEntry> = Vec::new();
    for row in by_trace.chunks(MAX_SPANS_PER_DEPENDENCY_ROW) {
        services.clear();
        service_slots.clear();
        entries.clear();
        let mut hasher = StableHasher::new();
        for &index in row {
            let span = &spans[index];
            let service_index = *service_slots.entry(span.service_name()).or_insert_with(|| {
                services.push(span.service_name());
                services.len() - 1
            });
            entries.push(DependencyEntry {
                trace_id: span.trace_id,
                span_id: span.span_id.0,
                content_hash: hashes[index],
                parent_span_id: span.parent_span_id().map_or(0, |parent| parent.0),
                start: span.start_time_unix_nano,
                service_index,
                role: Role::of(span.kind()),
            });
            hasher.u64(span.trace_id.high);
            hasher.u64(span.trace_id.low);
            hasher.u64(hashes[index]);
        }
        let latest_start = entries.iter().map(|entry| entry.start).max().unwrap_or(0);
        let mut value = Vec::with_capacity(entries.len() * 36 + services.len() * 24 + 16);
        encode_dependency_row(&services, &entries, latest_start, &mut value);
        let key = dependency_row_key(&prefix, latest_start, hasher.finish());
        rows.push((Slice::from(key), Slice::from(value)));
    }
    rows
}

/// The position of `slot` in `local`, appended when missing.
fn local_index(local: &mut Vec<usize>, slot: usize) -> usize {
    match local.iter().position(|&known| known == slot) {
        Some(position) => position,
        None => {
            local.push(slot);
            local.len() - 1
        }
    }
}

/// Splits spans (sorted by start) into rows whose starts lie within the search window of the
/// row's first span and that hold at most [`MAX_SPANS_PER_SEARCH_ROW`] spans.
fn split_by_time<'a>(run: &'a [usize], spans: &[Span]) -> Vec<&'a [usize]> {
    let mut rows = Vec::new();
    let mut row_begin = 0;
    for position in 1..run.len() {
        let first_start = spans[run[row_begin]].start_time_unix_nano;
        let start = spans[run[position]].start_time_unix_nano;
        if start.saturating_sub(first_start) > SEARCH_ROW_WINDOW_NANOS
            || position - row_begin >= MAX_SPANS_PER_SEARCH_ROW
        {
            rows.push(&run[row_begin..position]);
            row_begin = position;
        }
    }
    if row_begin < run.len() {
        rows.push(&run[row_begin..]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use spoor_model::{Namespace, TraceId};

    use super::*;
    use crate::conformance::span;
    use crate::embedded::dbmodel::{decode_span_group, namespace_key};

    fn ns_key() -> Vec<u8> {
        namespace_key(&Namespace::new("shop")).unwrap()
    }

    #[test]
    fn one_span_row_per_trace_and_one_search_row_per_service() {
        let spans = vec![
            span(TraceId::new(0, 1), 1, "frontend", "GET /", 1_000, 5),
            span(TraceId::new(0, 1), 2, "cart", "get", 1_001, 5),
            span(TraceId::new(0, 2), 1, "frontend", "GET /", 1_002, 5),
            span(TraceId::new(0, 3), 1, "frontend", "GET /", 1_003, 5),
        ];
        let encoded = encode_batch("shop", ns_key(), &spans);
        assert_eq!(encoded.span_rows.len(), 3);
        assert_eq!(encoded.search_rows.len(), 2);
        assert_eq!(encoded.dependency_rows.len(), 1, "one dependency row per write, not per trace");
        assert_eq!(encoded.span_count, 4);
        let mut operations = encoded.operations.clone();
        operations.sort();
        assert_eq!(
            operations,
            vec![
                ("cart".into(), "get".into(), SpanKind::Unspecified),
                ("frontend".into(), "GET /".into(), SpanKind::Unspecified)
            ]
        );
    }

    #[test]
    fn search_rows_split_when_spans_start_further_apart_than_the_window() {
        let spans = vec![
            span(TraceId::new(0, 1), 1, "frontend", "GET /", 1_000, 5),
            span(TraceId::new(0, 2), 1, "frontend", "GET /", 1_000 + SEARCH_ROW_WINDOW_NANOS, 5),
            span(TraceId::new(0, 3), 1, "frontend", "GET /", 1_001 + SEARCH_ROW_WINDOW_NANOS, 5),
        ];
        assert_eq!(encode_batch("shop", ns_key(), &spans).search_rows.len(), 2);
    }

    #[test]
    fn exact_duplicates_in_one_batch_are_written_once() {
        let twin = span(TraceId::new(0, 1), 1, "frontend", "GET /", 1_000, 5);
        let encoded = encode_batch("shop", ns_key(), &[twin.clone(), twin.clone()]);
        assert_eq!(encoded.span_count, 1);
        let decoded = decode_span_group(twin.trace_id, &encoded.span_rows[0].1).unwrap();
        assert_eq!(decoded.len(), 1);
        assert_eq!(decoded[0].1, twin);
    }

    #[test]
    fn encoding_is_deterministic_so_replays_rewrite_the_same_keys() {
        let spans = vec![
            span(TraceId::new(0, 1), 1, "frontend", "GET /", 1_000, 5),
            span(TraceId::new(0, 1), 2, "cart", "get", 1_001, 5),
        ];
        let first = encode_batch("shop", ns_key(), &spans);
        let reversed: Vec<Span> = spans.iter().rev().cloned().collect();
        let second = encode_batch("shop", ns_key(), &reversed);
        let keys = |rows: &[(Slice, Slice)]| rows.iter().map(|(k, _)| k.to_vec()).collect::<Vec<_>>();
        assert_eq!(keys(&first.span_rows), keys(&second.span_rows));
        assert_eq!(keys(&first.search_rows), keys(&second.search_rows));
        assert_eq!(keys(&first.dependency_rows), keys(&second.dependency_rows));
    }

    #[test]
    fn spans_of_one_id_with_different_content_get_different_hashes() {
        let client = span(TraceId::new(0, 1), 9, "frontend", "egress", 1_000, 5);
        let server = span(TraceId::new(0, 1), 9, "cart", "ingress", 1_001, 4);
        let encoded = encode_batch("shop", ns_key(), &[client, server]);
        let decoded = decode_span_group(TraceId::new(0, 1), &encoded.span_rows[0].1).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_ne!(decoded[0].0, decoded[1].0);
    }
}
