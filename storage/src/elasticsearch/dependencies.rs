//! Service dependency links from the spans stored in Elasticsearch, and the job that writes them
//! as a Jaeger dependencies document (the role of Jaeger's Spark job).
//!
//! The links follow the contract of [`crate::api::SpanReader::dependencies`]: the spans starting
//! in `[window start − DEPENDENCY_PARENT_LEAD, window end]` are read trace by trace (sorted by
//! `traceID`, then span id, then start, with only the fields links need), so parents that start
//! up to the lead before the window are found, and only one trace is held in memory at a time.
//! The read pages with `search_after` (no point-in-time: it works the same on every
//! Elasticsearch and OpenSearch version, and spans that tie at a page boundary are fetched by an
//! exact query, see `reader.rs`). The cost is a scan of the window plus the lead: fine for the
//! job and for short windows; a long UI window over a busy namespace is better served by running
//! the job (its documents are read instead of the spans).
//!
//! Known limit: a trace whose spans carry different forms of one id (16 hex from Jaeger v1, 32
//! hex from Jaeger v2 for the same trace) is counted as two traces.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;
use spoor_model::Namespace;
use tracing::info;

use super::documents::{fnv1a_64, span_from_document_with};
use super::queries::{self, Hit};
use super::reader::SortedRead;
use super::ElasticsearchStore;
use crate::api::{DependencyLink, DependencyQuery, Result, StorageError, DEPENDENCY_PARENT_LEAD};
use crate::dependencies::{LinkCounter, LinkSpan};

/// Computes the dependency links of the spans starting in `[start, end]` (nanoseconds, both
/// inclusive) from the stored spans.
pub(crate) async fn links_from_spans(store: &ElasticsearchStore, start: u64, end: u64) -> Result<Vec<DependencyLink>> {
    let lead = u64::try_from(DEPENDENCY_PARENT_LEAD.as_nanos()).unwrap_or(u64::MAX);
    let scan_start = start.saturating_sub(lead);
    let read = SortedRead {
        indices: store.indices.span_read_indices(scan_start, end),
        filters: queries::dependency_scan_filters(scan_start, end, &[]),
        sort: queries::trace_scan_sort(),
        sort_fields: &queries::TRACE_SCAN_SORT_FIELDS,
        source: Some(&queries::DEPENDENCY_SCAN_SOURCE),
        page_size: store.target.max_doc_count.clamp(1, 10_000),
    };
    let dot_replacement = store.target.tags_as_fields.dot_replacement.clone();
    let mut scan = TraceScan::new(start, end);
    let mut on_hit = |hit: Hit| scan.add(hit, &dot_replacement);
    store.read_sorted(&read, None, &mut on_hit).await?;
    Ok(scan.finish())
}

/// Groups the sorted hits by trace and counts each trace's calls.
struct TraceScan {
    counter: LinkCounter<u32>,
    /// Service names, interned: links are counted on indices into `names`.
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    current_trace: Option<String>,
    trace: Vec<LinkSpan<u32>>,
    /// Document ids of the current trace (one span in two indices counts once).
    seen: HashSet<String>,
}

impl TraceScan {
    fn new(start: u64, end: u64) -> Self {
        Self {
            counter: LinkCounter::new(start, end),
            names: Vec::new(),
            name_ids: HashMap::new(),
            current_trace: None,
            trace: Vec::new(),
            seen: HashSet::new(),
        }
    }

    fn add(&mut self, hit: Hit, dot_replacement: &str) -> Result<()> {
        let trace_key = hit.source.get(queries::TRACE_ID).and_then(Value::as_str).unwrap_or_default();
        if self.current_trace.as_deref() != Some(trace_key) {
            self.flush();
            self.current_trace = Some(trace_key.to_owned());
        }
        if !hit.id.is_empty() && !self.seen.insert(hit.id) {
            return Ok(());
        }
        let span =
            span_from_document_with(&hit.source, if dot_replacement.is_empty() { "@" } else { dot_replacement })?;
        let link_span = LinkSpan::of(&span);
        let service = match self.name_ids.get(link_span.service) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.names.len())
                    .map_err(|_| StorageError::Backend("more service names than a dependency scan can hold".into()))?;
                self.names.push(link_span.service.to_owned());
                self.name_ids.insert(link_span.service.to_owned(), id);
                id
            }
        };
        self.trace.push(LinkSpan {
            span_id: link_span.span_id,
            parent_span_id: link_span.parent_span_id,
            start: link_span.start,
            service,
            role: link_span.role,
        });
        Ok(())
    }

    fn flush(&mut self) {
        if !self.trace.is_empty() {
            self.trace.sort_unstable_by_key(|span| span.span_id);
            self.counter.count_trace(&self.trace);
        }
        self.trace.clear();
        self.seen.clear();
    }

    fn finish(mut self) -> Vec<DependencyLink> {
        self.flush();
        let names = self.names;
        self.counter.into_links(|id| names[id as usize].clone())
    }
}

/// Computes the links of the spans starting in `[end − lookback, end]` and writes them as one
/// Jaeger dependencies document `{timestamp: end, dependencies: [{parent, child, callCount}]}`
/// into `<prefix>jaeger-dependencies-<date of end>`. The document's id is derived from the
/// window, so running the job again for the same window replaces its document. It is searchable
/// when this returns. Returns the number of links written (a window without calls writes a
/// document with no links, which readers then return instead of computing links from spans).
pub async fn run_dependencies_job(
    store: &ElasticsearchStore,
    ns: &Namespace,
    end_unix_nano: u64,
    lookback: Duration,
) -> Result<usize> {
    let window = DependencyQuery { end_time_unix_nano: end_unix_nano, lookback };
    let (start, end) = window.window();
    let links = links_from_spans(store, start, end).await?;
    let document = queries::dependencies_document(end, &links);
    let index = store.indices.dependencies_write_index(end);
    let id = format!("{:016x}", fnv1a_64(&[&start.to_be_bytes(), &end.to_be_bytes()]));
    let body = serde_json::to_vec(&document)
        .map_err(|error| StorageError::Backend(format!("dependencies document: {error}")))?;
    let path = format!("/{index}/_doc/{id}?refresh=true");
    let (status, answer) = store.client.send(http::Method::PUT, &path, Some(body)).await?;
    if !(200..300).contains(&status) {
        return Err(store.client.status_error(status, &answer, "dependencies write"));
    }
    let calls: u64 = links.iter().map(|link| link.call_count).sum();
    info!(namespace = %ns, index = %index, links = links.len(), calls, "dependencies written");
    Ok(links.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hit(
        id: &str,
        trace: &str,
        span: &str,
        parent: Option<&str>,
        service: &str,
        kind: &str,
        start_micros: u64,
    ) -> Hit {
        let references: Vec<Value> = parent
            .map(|parent| vec![json!({ "refType": "CHILD_OF", "traceID": trace, "spanID": parent })])
            .unwrap_or_default();
        let tags: Vec<Value> =
            if kind.is_empty() { vec![] } else { vec![json!({ "key": "span.kind", "type": "string", "value": kind })] };
        Hit {
            id: id.to_owned(),
            source: json!({
                "traceID": trace, "spanID": span, "references": references, "startTime": start_micros,
                "duration": 1, "operationName": "op", "process": { "serviceName": service }, "tags": tags,
            }),
            sort: Value::Null,
        }
    }

    #[test]
    fn counts_calls_trace_by_trace_from_sorted_hits() {
        let mut scan = TraceScan::new(0, u64::MAX);
        let hits = [
            hit("a1", "0000000000000001", "0000000000000001", None, "frontend", "server", 1),
            hit("a2", "0000000000000001", "0000000000000002", Some("0000000000000001"), "cart", "server", 2),
            // The same document seen twice (two indices) counts once.
            hit("a2", "0000000000000001", "0000000000000002", Some("0000000000000001"), "cart", "server", 2),
            hit("b1", "0000000000000002", "0000000000000001", None, "frontend", "", 1),
            hit("b2", "0000000000000002", "0000000000000002", Some("0000000000000001"), "cart", "", 2),
            hit("b3", "0000000000000002", "0000000000000003", Some("0000000000000002"), "db", "", 3),
        ];
        for hit in hits {
            scan.add(hit, "@").unwrap();
        }
        let links: Vec<_> = scan.finish().into_iter().map(|l| (l.parent, l.child, l.call_count)).collect();
        assert_eq!(links, vec![("cart".to_owned(), "db".to_owned(), 1), ("frontend".to_owned(), "cart".to_owned(), 2)]);
    }

    #[test]
    fn a_parent_in_another_trace_is_not_a_parent() {
        let mut scan = TraceScan::new(0, u64::MAX);
        scan.add(hit("1", "0000000000000001", "0000000000000001", None, "frontend", "", 1), "@").unwrap();
        scan.add(hit("2", "0000000000000002", "0000000000000002", Some("0000000000000001"), "cart", "", 2), "@")
            .unwrap();
        assert!(scan.finish().is_empty());
    }

    #[test]
    fn only_children_starting_in_the_window_count() {
        let mut scan = TraceScan::new(5_000, 6_000);
        scan.add(hit("1", "0000000000000001", "0000000000000001", None, "frontend", "", 1), "@").unwrap();
        scan.add(hit("2", "0000000000000001", "0000000000000002", Some("0000000000000001"), "early", "", 4), "@")
            .unwrap();
        scan.add(hit("3", "0000000000000001", "0000000000000003", Some("0000000000000001"), "inside", "", 5), "@")
            .unwrap();
        let links: Vec<_> = scan.finish().into_iter().map(|l| l.child).collect();
        assert_eq!(links, vec!["inside".to_owned()]);
    }
}
