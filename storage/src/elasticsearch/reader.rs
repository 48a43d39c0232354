//! [`SpanReader`] for [`ElasticsearchStore`]: Jaeger's two-phase search and reads (spec §4.5),
//! with the query bodies in `queries.rs`.
//!
//! One store serves one namespace's target (the router picks the store), so no query carries a
//! namespace condition; `scope()` is where one would go.
//!
//! * **get_trace** looks the id up in every form it may be stored in (32 hex, 16 hex for a
//!   64-bit id, unpadded) and reads only the indices of the request's time window when it has one
//!   (Jaeger always reads `max_span_age` of daily indices, field notes B2); without one, the
//!   indices of `[now − max_span_age, now + max_trace_duration]` (the tail tolerates senders'
//!   clocks running ahead).
//! * **find_traces** runs phase 1 (trace ids, `queries::trace_ids_body`) and then reads every
//!   found trace with one `_msearch`, each trace only in the indices of
//!   `[its earliest matching span − max_trace_duration, its latest + max_trace_duration]`.
//! * **Every span of a trace**: a read whose page comes back full continues with `search_after`
//!   on `[startTime, spanID]`, and first fetches the spans that tie with the page's last one
//!   (they would be skipped), so traces of any size are read completely. Spans are de-duplicated
//!   by document `_id` (one span in two rolled-over indices is one span).
//! * **dependencies** returns the dependencies documents of the window when there are any (what
//!   Jaeger's Spark job, or `spoor dependencies`, wrote), and otherwise computes the links from
//!   the stored spans (`dependencies.rs`).

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;
use spoor_model::{Namespace, Span, TraceId};

use super::documents::span_from_document_with;
use super::queries::{self, Hit, Page};
use super::ElasticsearchStore;
use crate::api::{
    Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery, Result,
    SpanReader, Trace, TraceQuery,
};

/// Traces read per `_msearch` request in phase 2 (bounds the size of one answer).
const TRACES_PER_MSEARCH: usize = 32;

/// One sorted read that may take several pages.
pub(crate) struct SortedRead<'a> {
    pub indices: Vec<String>,
    pub filters: Vec<Value>,
    pub sort: Value,
    pub sort_fields: &'a [&'a str],
    /// `_source` includes; `None` returns whole documents.
    pub source: Option<&'a [&'a str]>,
    pub page_size: usize,
}

impl SortedRead<'_> {
    fn page(&self, search_after: Option<&Value>) -> Value {
        match self.source {
            Some(fields) => {
                queries::page_body_with_source(&self.filters, &self.sort, self.page_size, search_after, fields)
            }
            None => queries::page_body(&self.filters, &self.sort, self.page_size, search_after),
        }
    }

    fn ties(&self, last_sort: &Value) -> Value {
        let mut body =
            queries::same_sort_values_body(&self.filters, &self.sort, self.sort_fields, last_sort, self.page_size);
        if let Some(fields) = self.source {
            body["_source"] = serde_json::json!({ "includes": fields });
        }
        body
    }
}

pub(crate) fn now_unix_nano() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.as_nanos()).unwrap_or(u64::MAX)
}

fn duration_nanos(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl ElasticsearchStore {
    /// Conditions every query of this store carries. Empty: a store serves one namespace.
    fn scope(&self) -> Vec<Value> {
        Vec::new()
    }

    fn dot_replacement(&self) -> &str {
        let replacement = self.target.tags_as_fields.dot_replacement.as_str();
        if replacement.is_empty() {
            "@"
        } else {
            replacement
        }
    }

    fn page_size(&self) -> usize {
        self.target.max_doc_count.clamp(1, 10_000)
    }

    /// `[now − max_span_age, now + max_trace_duration]`: where reads without a time look.
    fn retention_window(&self) -> (u64, u64) {
        let now = now_unix_nano();
        (
            now.saturating_sub(duration_nanos(self.target.max_span_age)),
            now.saturating_add(duration_nanos(self.target.max_trace_duration)),
        )
    }

    async fn search_page(&self, indices: &[String], body: &Value) -> Result<Page> {
        queries::parse_page(&self.client.search(indices, body).await?)
    }

    /// Feeds `on_hit` every hit of `read` in sort order, starting with `first` (its first page,
    /// when already fetched). A full page is followed by the hits that tie with its last one and
    /// then by the page `search_after` it, so no hit is skipped or repeated.
    pub(crate) async fn read_sorted(
        &self,
        read: &SortedRead<'_>,
        first: Option<Page>,
        on_hit: &mut (dyn FnMut(Hit) -> Result<()> + Send),
    ) -> Result<()> {
        let mut page = match first {
            Some(page) => page,
            None => self.search_page(&read.indices, &read.page(None)).await?,
        };
        loop {
            let full = page.hits.len() >= read.page_size;
            let last_sort = page.hits.last().map(|hit| hit.sort.clone()).filter(|sort| !sort.is_null());
            let tail_ids: HashSet<String> = match (&last_sort, full) {
                (Some(last_sort), true) => {
                    page.hits.iter().filter(|hit| &hit.sort == last_sort).map(|hit| hit.id.clone()).collect()
                }
                _ => HashSet::new(),
            };
            for hit in page.hits {
                on_hit(hit)?;
            }
            let Some(last_sort) = last_sort.filter(|_| full) else { return Ok(()) };
            let ties = self.search_page(&read.indices, &read.ties(&last_sort)).await?;
            if ties.hits.len() >= read.page_size {
                tracing::warn!(namespace = %self.ns_label, hits = ties.hits.len(), "more documents share one sort position than a page holds; some may be missing");
            }
            for hit in ties.hits {
                if !tail_ids.contains(&hit.id) {
                    on_hit(hit)?;
                }
            }
            page = self.search_page(&read.indices, &read.page(Some(&last_sort))).await?;
        }
    }

    /// The reads of the spans of `trace_id` within `window` (a superset filter on span start
    /// when `filter_window`).
    fn trace_read(&self, trace_id: TraceId, window: (u64, u64), filter_window: bool) -> SortedRead<'static> {
        SortedRead {
            indices: self.indices.span_read_indices(window.0, window.1),
            filters: queries::trace_spans_filters(trace_id, filter_window.then_some(window), &self.scope()),
            sort: queries::span_sort(),
            sort_fields: &queries::SPAN_SORT_FIELDS,
            source: None,
            page_size: self.page_size(),
        }
    }

    /// Reads the given traces completely, in order: first pages with `_msearch`, the rest of a
    /// trace whose first page was full one page at a time. A trace without spans is `None`.
    async fn read_traces(&self, reads: &[SortedRead<'_>]) -> Result<Vec<Option<Trace>>> {
        let mut traces = Vec::with_capacity(reads.len());
        for chunk in reads.chunks(TRACES_PER_MSEARCH) {
            let bodies: Vec<Value> = chunk.iter().map(|read| read.page(None)).collect();
            let ndjson =
                queries::msearch_ndjson(chunk.iter().zip(&bodies).map(|(read, body)| (read.indices.as_slice(), body)));
            let answer = self.client.msearch(ndjson).await?;
            let pages = queries::parse_msearch(&answer, chunk.len())?;
            for (read, page) in chunk.iter().zip(pages) {
                traces.push(self.collect_trace(read, page?).await?);
            }
        }
        Ok(traces)
    }

    async fn collect_trace(&self, read: &SortedRead<'_>, first: Page) -> Result<Option<Trace>> {
        let dot_replacement = self.dot_replacement().to_owned();
        let mut spans: HashMap<String, Span> = HashMap::with_capacity(first.hits.len());
        let mut on_hit = |hit: Hit| -> Result<()> {
            if !spans.contains_key(&hit.id) || hit.id.is_empty() {
                let span = span_from_document_with(&hit.source, &dot_replacement)?;
                let key = if hit.id.is_empty() { format!("#{}", spans.len()) } else { hit.id };
                spans.insert(key, span);
            }
            Ok(())
        };
        self.read_sorted(read, Some(first), &mut on_hit).await?;
        if spans.is_empty() {
            return Ok(None);
        }
        Ok(Some(Trace { spans: spans.into_values().collect() }))
    }
}

#[async_trait]
impl SpanReader for ElasticsearchStore {
    async fn get_trace(&self, _ns: &Namespace, request: GetTraceRequest) -> Result<Option<Trace>> {
        let (default_min, default_max) = self.retention_window();
        let given = request.start_time_min_unix_nano.is_some() || request.start_time_max_unix_nano.is_some();
        let window = (
            request.start_time_min_unix_nano.unwrap_or(default_min),
            request.start_time_max_unix_nano.unwrap_or(default_max).max(request.start_time_min_unix_nano.unwrap_or(0)),
        );
        let read = self.trace_read(request.trace_id, window, given);
        let mut traces = self.read_traces(std::slice::from_ref(&read)).await?;
        Ok(traces.pop().flatten())
    }

    async fn find_trace_ids(&self, _ns: &Namespace, query: &TraceQuery) -> Result<Vec<FoundTraceId>> {
        query.validate()?;
        let (min, max) = if query.start_time_min_unix_nano == 0 && query.start_time_max_unix_nano == 0 {
            // All time: every span index of the target (a wildcard).
            (0, self.retention_window().1)
        } else {
            (query.start_time_min_unix_nano, query.start_time_max_unix_nano)
        };
        let indices = self.indices.span_read_indices(min, max);
        let body = queries::trace_ids_body(query, &self.scope(), self.dot_replacement());
        let answer = self.client.search(&indices, &body).await?;
        queries::parse_trace_ids(&answer, query.effective_limit())
    }

    async fn find_traces(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<Trace>> {
        let found = self.find_trace_ids(ns, query).await?;
        let lead = duration_nanos(self.target.max_trace_duration);
        let reads: Vec<SortedRead<'_>> = found
            .iter()
            .map(|found| {
                let window = (
                    found.start_time_min_unix_nano.saturating_sub(lead),
                    found.start_time_max_unix_nano.saturating_add(lead),
                );
                self.trace_read(found.trace_id, window, true)
            })
            .collect();
        Ok(self.read_traces(&reads).await?.into_iter().flatten().collect())
    }

    async fn services(&self, _ns: &Namespace) -> Result<Vec<String>> {
        let (min, max) = self.retention_window();
        let indices = self.indices.service_read_indices(min, max);
        let answer = self.client.search(&indices, &queries::services_body(&self.scope(), self.page_size())).await?;
        queries::parse_services(&answer)
    }

    async fn operations(&self, _ns: &Namespace, query: &OperationQuery) -> Result<Vec<Operation>> {
        let (min, max) = self.retention_window();
        let indices = self.indices.service_read_indices(min, max);
        let body = queries::operations_body(&query.service_name, query.span_kind, &self.scope(), self.page_size());
        let answer = self.client.search(&indices, &body).await?;
        queries::parse_operations(&answer)
    }

    async fn dependencies(&self, _ns: &Namespace, query: &DependencyQuery) -> Result<Vec<DependencyLink>> {
        let (start, end) = query.window();
        let indices = self.indices.dependencies_read_indices(start, end);
        let page = self.search_page(&indices, &queries::dependencies_body(start, end, self.page_size())).await?;
        if let Some(links) = queries::parse_dependencies(&page)? {
            return Ok(links);
        }
        super::dependencies::links_from_spans(self, start, end).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { search_without_service: true, operation_span_kind: true, durable: true }
    }
}
