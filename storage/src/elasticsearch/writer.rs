//! The bulk writer: every `write` call's spans (and the service documents not written recently)
//! join a shared queue; one batcher task cuts the queue into `_bulk` requests by bytes, count and
//! time and runs up to `bulk.workers` of them at once. A `write` returns only when Elasticsearch
//! has acknowledged every item of its batch, because callers (the collector's senders, the Kafka
//! ingester's offsets) treat `Ok` as durable.
//!
//! * **Batching (group commit).** With no bulk request in flight, whatever is queued is sent at
//!   once; while requests are in flight, a bulk request waits until it is full (`max_bytes`,
//!   `max_actions`) or its oldest item has waited `flush_interval`. Low load gets low latency,
//!   high load gets full requests.
//! * **Every item is checked.** 2xx items are done. 429, 408 and 5xx items are retried with
//!   exponential backoff (`retry_initial_backoff` doubling up to `retry_max_backoff`, at most
//!   `max_retries` times; then the write fails with a retryable error). 401/403 (credentials) and
//!   404 (no such index/alias: `es-rollover init` not run) fail the write with a retryable error,
//!   because the document is fine and the cluster side must be fixed.
//! * **Dead letters.** Other item failures (400 mapping errors and the like) are permanent: the
//!   document, its target index, id, status and Elasticsearch's reason are written to the
//!   `<prefix->spoor-dead-letter` index of the same cluster (chosen over a local JSONL file so
//!   that every collector/ingester replica's dead letters are in one searchable place and survive
//!   the pod), counted in `spoor_es_bulk_items_dead_lettered_total`, and the write succeeds for
//!   them. Should the dead-letter index refuse the document too, the write fails.
//! * **Idempotent.** Span documents get Jaeger HEAD's deterministic `_id` (`traceID_spanID_<FNV of
//!   the body>`), service documents Jaeger's FNV id, so a replayed batch overwrites itself.
//! * **Service documents** are written once per (service, operation, kind) per
//!   `service_cache_ttl`: the LRU cache is updated only after Elasticsearch stored the document.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde_json::Value;
use spoor_model::{Namespace, SpanBatch};
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use super::client::{error_reason, index_list, EsClient};
use super::config::{EsBulkConfig, EsTarget};
use super::documents::{span_document_bytes, DocumentOptions, ServiceDocument};
use super::indices::{civil_from_days, IndexNames};
use super::ElasticsearchStore;
use crate::api::{Purger, Result, SpanWriter, StorageError};

// ---------------------------------------------------------------------------------------------
// Metrics

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabel {
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BulkRequestLabels {
    namespace: String,
    result: &'static str,
}

/// The writer's metric families, registered once per registry and shared by every store of it
/// (each store's series carry its `namespace` label). Jaeger's `jaeger_bulk_index_*` names are
/// kept so existing dashboards work.
#[derive(Clone)]
pub struct EsMetrics {
    families: Arc<MetricFamilies>,
}

struct MetricFamilies {
    attempts: Family<NamespaceLabel, Counter>,
    inserts: Family<NamespaceLabel, Counter>,
    errors: Family<NamespaceLabel, Counter>,
    retried: Family<NamespaceLabel, Counter>,
    dead_lettered: Family<NamespaceLabel, Counter>,
    bulk_requests: Family<BulkRequestLabels, Counter>,
    latency_ok: Family<NamespaceLabel, Histogram>,
    latency_err: Family<NamespaceLabel, Histogram>,
    in_flight: Family<NamespaceLabel, Gauge>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl EsMetrics {
    /// Registers the families into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::unregistered();
        let f = &metrics.families;
        registry.register(
            "jaeger_bulk_index_attempts",
            "Documents sent in bulk requests (retries included)",
            f.attempts.clone(),
        );
        registry.register("jaeger_bulk_index_inserts", "Documents Elasticsearch acknowledged", f.inserts.clone());
        registry.register(
            "jaeger_bulk_index_errors",
            "Documents that finally failed (dead-lettered, or retries exhausted)",
            f.errors.clone(),
        );
        registry.register("jaeger_bulk_index_latency_ok", "Seconds of successful bulk requests", f.latency_ok.clone());
        registry.register("jaeger_bulk_index_latency_err", "Seconds of failed bulk requests", f.latency_err.clone());
        registry.register("spoor_es_bulk_requests", "Bulk requests by result (ok, error)", f.bulk_requests.clone());
        registry.register("spoor_es_bulk_items_retried", "Documents retried after 429/5xx", f.retried.clone());
        registry.register(
            "spoor_es_bulk_items_dead_lettered",
            "Documents Elasticsearch rejected permanently, stored in the dead-letter index",
            f.dead_lettered.clone(),
        );
        registry.register("spoor_es_bulk_in_flight", "Bulk requests in flight", f.in_flight.clone());
        metrics
    }

    /// Families that are not exported (no registry given).
    pub fn unregistered() -> Self {
        Self {
            families: Arc::new(MetricFamilies {
                attempts: Family::default(),
                inserts: Family::default(),
                errors: Family::default(),
                retried: Family::default(),
                dead_lettered: Family::default(),
                bulk_requests: Family::default(),
                latency_ok: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
                latency_err: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
                in_flight: Family::default(),
            }),
        }
    }

    pub(crate) fn for_namespace(&self, namespace: &str) -> WriterMetrics {
        // One statement per series: `get_or_create` returns a read guard, and a second call on the
        // same family while it is alive (a temporary of the same statement) would deadlock.
        let label = NamespaceLabel { namespace: namespace.to_owned() };
        let f = &self.families;
        let ok_label = BulkRequestLabels { namespace: namespace.to_owned(), result: "ok" };
        let error_label = BulkRequestLabels { namespace: namespace.to_owned(), result: "error" };
        let bulk_ok = f.bulk_requests.get_or_create(&ok_label).clone();
        let bulk_error = f.bulk_requests.get_or_create(&error_label).clone();
        let latency_ok = f.latency_ok.get_or_create(&label).clone();
        let latency_err = f.latency_err.get_or_create(&label).clone();
        let attempts = f.attempts.get_or_create(&label).clone();
        let inserts = f.inserts.get_or_create(&label).clone();
        let errors = f.errors.get_or_create(&label).clone();
        let retried = f.retried.get_or_create(&label).clone();
        let dead_lettered = f.dead_lettered.get_or_create(&label).clone();
        let in_flight = f.in_flight.get_or_create(&label).clone();
        WriterMetrics {
            attempts,
            inserts,
            errors,
            retried,
            dead_lettered,
            bulk_ok,
            bulk_error,
            latency_ok,
            latency_err,
            in_flight,
        }
    }
}

/// One namespace's series.
#[derive(Clone)]
pub(crate) struct WriterMetrics {
    attempts: Counter,
    inserts: Counter,
    errors: Counter,
    retried: Counter,
    dead_lettered: Counter,
    bulk_ok: Counter,
    bulk_error: Counter,
    latency_ok: Histogram,
    latency_err: Histogram,
    in_flight: Gauge,
}

// ---------------------------------------------------------------------------------------------
// Service-document cache

/// Which (service, operation, kind) hashes were written recently: an LRU of `capacity` entries,
/// each valid for `ttl` after it was written (a hit does not extend it, so a pair is rewritten into
/// the current daily index at least once per TTL).
pub(crate) struct ServiceCache {
    inner: Mutex<ServiceCacheInner>,
    ttl: Duration,
    capacity: usize,
}

#[derive(Default)]
struct ServiceCacheInner {
    /// key → (written at, recency sequence).
    entries: HashMap<u64, (Instant, u64)>,
    /// (key, sequence) in recency order; entries whose sequence is stale are skipped.
    order: VecDeque<(u64, u64)>,
    next_sequence: u64,
}

impl ServiceCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self { inner: Mutex::new(ServiceCacheInner::default()), ttl, capacity: capacity.max(1) }
    }

    /// Whether `key` was written within the TTL (a hit makes it most recently used).
    pub(crate) fn contains(&self, key: u64, now: Instant) -> bool {
        let mut inner = self.inner.lock();
        let ServiceCacheInner { entries, order, next_sequence } = &mut *inner;
        match entries.get_mut(&key) {
            Some((written, _)) if now.duration_since(*written) >= self.ttl => {
                entries.remove(&key);
                false
            }
            Some((_, sequence)) => {
                *next_sequence += 1;
                *sequence = *next_sequence;
                order.push_back((key, *next_sequence));
                Self::compact(entries, order, self.capacity);
                true
            }
            None => false,
        }
    }

    pub(crate) fn insert(&self, key: u64, now: Instant) {
        let mut inner = self.inner.lock();
        let ServiceCacheInner { entries, order, next_sequence } = &mut *inner;
        *next_sequence += 1;
        entries.insert(key, (now, *next_sequence));
        order.push_back((key, *next_sequence));
        while entries.len() > self.capacity {
            let Some((oldest, sequence)) = order.pop_front() else { break };
            if entries.get(&oldest).is_some_and(|(_, current)| *current == sequence) {
                entries.remove(&oldest);
            }
        }
        Self::compact(entries, order, self.capacity);
    }

    pub(crate) fn clear(&self) {
        *self.inner.lock() = ServiceCacheInner::default();
    }

    /// Drops stale recency records once they outnumber the live ones.
    fn compact(entries: &HashMap<u64, (Instant, u64)>, order: &mut VecDeque<(u64, u64)>, capacity: usize) {
        if order.len() > 2 * capacity.max(entries.len()) + 16 {
            order.retain(|(key, sequence)| entries.get(key).is_some_and(|(_, current)| current == sequence));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Items and jobs

/// The completion of one `write` call: done when every one of its items is.
struct JobState {
    remaining: AtomicUsize,
    failure: Mutex<Option<StorageError>>,
    done: Mutex<Option<oneshot::Sender<Result<()>>>>,
}

impl JobState {
    fn finish_item(&self, outcome: Result<()>) {
        if let Err(error) = outcome {
            self.failure.lock().get_or_insert(error);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let result = match self.failure.lock().take() {
                Some(error) => Err(error),
                None => Ok(()),
            };
            if let Some(sender) = self.done.lock().take() {
                let _ = sender.send(result);
            }
        }
    }
}

/// One document of a bulk request.
struct Item {
    /// The action line and the document line, each ending in `\n`.
    lines: Bytes,
    /// Where the document line starts in `lines`.
    document_start: usize,
    index: String,
    id: String,
    /// Set for service documents: the cache key recorded once the document is stored.
    service_key: Option<u64>,
    attempts: u32,
    job: Arc<JobState>,
}

impl Item {
    fn document(&self) -> &[u8] {
        let line = &self.lines[self.document_start..];
        line.strip_suffix(b"\n").unwrap_or(line)
    }
}

#[derive(Serialize)]
struct IndexAction<'a> {
    index: ActionTarget<'a>,
}

#[derive(Serialize)]
struct ActionTarget<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: &'a str,
}

/// `{"index":{"_index":..,"_id":..}}\n<document>\n`.
fn bulk_lines(index: &str, id: &str, document: &[u8]) -> (Bytes, usize) {
    let mut lines = Vec::with_capacity(document.len() + index.len() + id.len() + 40);
    // Serializing two strings cannot fail.
    let _ = serde_json::to_writer(&mut lines, &IndexAction { index: ActionTarget { index, id } });
    lines.push(b'\n');
    let document_start = lines.len();
    lines.extend_from_slice(document);
    lines.push(b'\n');
    (Bytes::from(lines), document_start)
}

struct Job {
    items: Vec<Item>,
}

/// The bulk lines (`action\ndocument\n`) of the span documents of `batch`, exactly as the writer
/// sends them (no service documents). For benchmarks and tools that talk `_bulk` directly.
pub fn span_bulk_lines(target: &EsTarget, batch: &SpanBatch) -> Vec<Bytes> {
    let indices = IndexNames::new(target);
    let documents = DocumentOptions::new(&target.tags_as_fields);
    batch
        .spans
        .iter()
        .map(|span| {
            let (body, id) = span_document_bytes(span, &documents);
            bulk_lines(&indices.span_write_index(span.start_time_unix_nano), &id, &body).0
        })
        .collect()
}

/// A document ready for a bulk request: its lines, where the document starts, index, id and the
/// service-cache key of a service document.
type Prepared = (Bytes, usize, String, String, Option<u64>);

/// The bulk lines of a batch: every span document, then after each span the service document of
/// its (service, operation, kind) unless it is already in this batch or was written recently.
fn prepare_documents(
    indices: &IndexNames,
    documents: &DocumentOptions,
    service_cache: &ServiceCache,
    batch: &SpanBatch,
    now: Instant,
) -> Vec<Prepared> {
    let mut prepared = Vec::with_capacity(batch.len() + 4);
    let mut services_in_batch = HashSet::new();
    for span in &batch.spans {
        let (body, id) = span_document_bytes(span, documents);
        let index = indices.span_write_index(span.start_time_unix_nano);
        let (lines, document_start) = bulk_lines(&index, &id, &body);
        prepared.push((lines, document_start, index, id, None));
        let service = ServiceDocument::of(span);
        let key = service.hash();
        if services_in_batch.insert(key) && !service_cache.contains(key, now) {
            let index = indices.service_write_index(span.start_time_unix_nano);
            let id = service.id();
            let body = serde_json::to_vec(&service).unwrap_or_default();
            let (lines, document_start) = bulk_lines(&index, &id, &body);
            prepared.push((lines, document_start, index, id, Some(key)));
        }
    }
    prepared
}

// ---------------------------------------------------------------------------------------------
// The writer

/// Shared by `write` callers, the batcher and the bulk tasks.
struct WriterContext {
    client: EsClient,
    bulk: EsBulkConfig,
    indices: IndexNames,
    documents: DocumentOptions,
    service_cache: ServiceCache,
    metrics: WriterMetrics,
    dead_letter_index: String,
}

pub(crate) struct BulkWriter {
    jobs: mpsc::Sender<Job>,
    context: Arc<WriterContext>,
}

impl BulkWriter {
    pub(crate) fn start(client: EsClient, target: &EsTarget, indices: IndexNames, metrics: WriterMetrics) -> Self {
        let context = Arc::new(WriterContext {
            client,
            bulk: target.bulk.clone(),
            dead_letter_index: indices.dead_letter_index(),
            indices,
            documents: DocumentOptions::new(&target.tags_as_fields),
            service_cache: ServiceCache::new(target.service_cache_ttl, target.service_cache_capacity),
            metrics,
        });
        // A few jobs may wait per worker; more `write` calls wait for room (backpressure).
        let (jobs, receiver) = mpsc::channel(4 * target.bulk.workers.max(1) + 4);
        tokio::spawn(Batcher::new(context.clone(), receiver).run());
        Self { jobs, context }
    }

    /// Writes the batch; returns when every document was acknowledged (or dead-lettered).
    pub(crate) async fn write(&self, batch: SpanBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let context = &self.context;
        let (sender, receiver) = oneshot::channel();
        let prepared =
            prepare_documents(&context.indices, &context.documents, &context.service_cache, &batch, Instant::now());
        let job = Arc::new(JobState {
            remaining: AtomicUsize::new(prepared.len()),
            failure: Mutex::new(None),
            done: Mutex::new(Some(sender)),
        });
        let items = prepared
            .into_iter()
            .map(|(lines, document_start, index, id, service_key)| Item {
                lines,
                document_start,
                index,
                id,
                service_key,
                attempts: 0,
                job: job.clone(),
            })
            .collect();
        let stopped = || StorageError::Unavailable("elasticsearch writer has stopped".into());
        self.jobs.send(Job { items }).await.map_err(|_| stopped())?;
        receiver.await.map_err(|_| stopped())?
    }

    pub(crate) fn clear_service_cache(&self) {
        self.context.service_cache.clear();
    }
}

/// Queued items, cut into bulk requests from the front.
#[derive(Default)]
struct Pending {
    items: VecDeque<Item>,
    bytes: usize,
    oldest: Option<Instant>,
}

impl Pending {
    fn push_all(&mut self, items: Vec<Item>) {
        if self.items.is_empty() {
            self.oldest = Some(Instant::now());
        }
        for item in items {
            self.bytes += item.lines.len();
            self.items.push_back(item);
        }
    }

    fn is_full(&self, bulk: &EsBulkConfig) -> bool {
        self.bytes >= bulk.max_bytes || self.items.len() >= bulk.max_actions
    }

    /// Up to `max_actions` items and `max_bytes` bytes (always at least one item).
    fn take_bulk(&mut self, bulk: &EsBulkConfig) -> Vec<Item> {
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(item) = self.items.front() {
            if !taken.is_empty() && (taken.len() >= bulk.max_actions || bytes + item.lines.len() > bulk.max_bytes) {
                break;
            }
            bytes += item.lines.len();
            self.bytes -= item.lines.len();
            taken.extend(self.items.pop_front());
        }
        self.oldest = if self.items.is_empty() { None } else { Some(Instant::now()) };
        taken
    }
}

struct Batcher {
    context: Arc<WriterContext>,
    jobs: mpsc::Receiver<Job>,
    retry_sender: mpsc::UnboundedSender<Vec<Item>>,
    retries: mpsc::UnboundedReceiver<Vec<Item>>,
    workers: Arc<Semaphore>,
    worker_count: usize,
    finished: Arc<Notify>,
    pending: Pending,
}

enum Received {
    Items(Vec<Item>),
    Closed,
}

impl Batcher {
    fn new(context: Arc<WriterContext>, jobs: mpsc::Receiver<Job>) -> Self {
        let (retry_sender, retries) = mpsc::unbounded_channel();
        let worker_count = context.bulk.workers.max(1);
        Self {
            context,
            jobs,
            retry_sender,
            retries,
            workers: Arc::new(Semaphore::new(worker_count)),
            worker_count,
            finished: Arc::new(Notify::new()),
            pending: Pending::default(),
        }
    }

    /// Runs until the writer is dropped (no `write` can be waiting then).
    async fn run(mut self) {
        loop {
            if self.pending.items.is_empty() {
                match self.receive().await {
                    Received::Items(items) => self.pending.push_all(items),
                    Received::Closed => return,
                }
            }
            // Take whatever is already queued, up to one full bulk request.
            while !self.pending.is_full(&self.context.bulk) {
                if let Ok(items) = self.retries.try_recv() {
                    self.pending.push_all(items);
                    continue;
                }
                match self.jobs.try_recv() {
                    Ok(job) => self.pending.push_all(job.items),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            if self.pending.is_full(&self.context.bulk) {
                let Ok(permit) = self.workers.clone().acquire_owned().await else { return };
                self.dispatch(permit);
                continue;
            }
            if self.workers.available_permits() == self.worker_count {
                // Nothing in flight: send now (group commit).
                if let Ok(permit) = self.workers.clone().try_acquire_owned() {
                    self.dispatch(permit);
                    continue;
                }
            }
            let deadline = self.pending.oldest.unwrap_or_else(Instant::now) + self.context.bulk.flush_interval;
            let finished = self.finished.clone();
            tokio::select! {
                biased;
                received = self.receive() => match received {
                    Received::Items(items) => self.pending.push_all(items),
                    Received::Closed => return,
                },
                _ = finished.notified() => {}
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let Ok(permit) = self.workers.clone().acquire_owned().await else { return };
                    self.dispatch(permit);
                }
            }
        }
    }

    async fn receive(&mut self) -> Received {
        tokio::select! {
            biased;
            Some(items) = self.retries.recv() => Received::Items(items),
            job = self.jobs.recv() => match job {
                Some(job) => Received::Items(job.items),
                None => Received::Closed,
            },
        }
    }

    fn dispatch(&mut self, permit: OwnedSemaphorePermit) {
        let items = self.pending.take_bulk(&self.context.bulk);
        if items.is_empty() {
            return;
        }
        let task = BulkTask {
            context: self.context.clone(),
            retry_sender: self.retry_sender.clone(),
            finished: self.finished.clone(),
        };
        tokio::spawn(task.run(items, permit));
    }
}

/// One bulk request and the fate of each of its items.
struct BulkTask {
    context: Arc<WriterContext>,
    retry_sender: mpsc::UnboundedSender<Vec<Item>>,
    finished: Arc<Notify>,
}

/// Why an item was rejected for good.
struct Rejection {
    status: u16,
    error_type: String,
    reason: String,
}

enum ItemOutcome {
    Stored,
    Retry { status: u16 },
    Fail(StorageError),
    DeadLetter(Rejection),
}

impl BulkTask {
    async fn run(self, items: Vec<Item>, permit: OwnedSemaphorePermit) {
        let metrics = &self.context.metrics;
        metrics.in_flight.inc();
        metrics.attempts.inc_by(items.len() as u64);
        let mut body = Vec::with_capacity(items.iter().map(|item| item.lines.len()).sum());
        for item in &items {
            body.extend_from_slice(&item.lines);
        }
        let started = Instant::now();
        let response = self.context.client.bulk(Bytes::from(body)).await;
        let seconds = started.elapsed().as_secs_f64();
        match response {
            Err(error) => {
                metrics.bulk_error.inc();
                metrics.latency_err.observe(seconds);
                if error.kind().is_retryable() && !is_authentication_error(&error) {
                    let status = if matches!(error, StorageError::Overloaded(_)) { 429 } else { 503 };
                    self.retry(items, status, &error.to_string());
                } else {
                    metrics.errors.inc_by(items.len() as u64);
                    for item in items {
                        item.job.finish_item(Err(copy_error(&error)));
                    }
                }
            }
            Ok(answer) => {
                metrics.bulk_ok.inc();
                metrics.latency_ok.observe(seconds);
                self.settle(items, &answer).await;
            }
        }
        drop(permit);
        metrics.in_flight.dec();
        self.finished.notify_one();
    }

    /// Applies each item's result of a bulk answer.
    async fn settle(&self, items: Vec<Item>, answer: &Value) {
        let results = answer.get("items").and_then(Value::as_array);
        let all_ok = answer.get("errors").and_then(Value::as_bool) == Some(false);
        let Some(results) = results.filter(|results| results.len() == items.len()) else {
            let error = StorageError::Backend(format!(
                "elasticsearch {}: bulk answer does not list the {} documents sent",
                self.context.client.endpoint(),
                items.len()
            ));
            self.context.metrics.errors.inc_by(items.len() as u64);
            for item in items {
                item.job.finish_item(Err(copy_error(&error)));
            }
            return;
        };
        let mut retry = Vec::new();
        let mut retry_status = 0;
        let mut retry_reason = String::new();
        let mut dead = Vec::new();
        let now = Instant::now();
        for (item, result) in items.into_iter().zip(results) {
            let outcome = if all_ok { ItemOutcome::Stored } else { self.item_outcome(&item, result) };
            match outcome {
                ItemOutcome::Stored => {
                    self.context.metrics.inserts.inc();
                    if let Some(key) = item.service_key {
                        self.context.service_cache.insert(key, now);
                    }
                    item.job.finish_item(Ok(()));
                }
                ItemOutcome::Retry { status } => {
                    if retry_reason.is_empty() || status == 429 {
                        retry_status = status;
                        retry_reason = item_reason(result);
                    }
                    retry.push(item);
                }
                ItemOutcome::Fail(error) => {
                    self.context.metrics.errors.inc();
                    item.job.finish_item(Err(error));
                }
                ItemOutcome::DeadLetter(rejection) => dead.push((item, rejection)),
            }
        }
        if !retry.is_empty() {
            self.retry(retry, retry_status, &retry_reason);
        }
        if !dead.is_empty() {
            self.dead_letter(dead).await;
        }
    }

    fn item_outcome(&self, item: &Item, result: &Value) -> ItemOutcome {
        // `{"index": {"status": 201, ...}}`: one key, the operation.
        let detail = result.as_object().and_then(|object| object.values().next()).unwrap_or(&Value::Null);
        let status = detail.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
        let endpoint = self.context.client.endpoint();
        match status {
            200..=299 => ItemOutcome::Stored,
            408 | 429 | 500..=599 => ItemOutcome::Retry { status },
            401 | 403 => ItemOutcome::Fail(StorageError::Unavailable(format!(
                "elasticsearch {endpoint}: authentication failed for index {} (HTTP {status}): {}",
                item.index,
                item_reason(result)
            ))),
            404 => ItemOutcome::Fail(StorageError::Unavailable(format!(
                "elasticsearch {endpoint}: index {} does not exist and cannot be created (run `spoor es-rollover init` when use_aliases is on): {}",
                item.index,
                item_reason(result)
            ))),
            0 => ItemOutcome::Fail(StorageError::Backend(format!("elasticsearch {endpoint}: bulk item without a status"))),
            _ => {
                let error = detail.get("error");
                let error_type = error.and_then(|error| error.get("type")).and_then(Value::as_str).unwrap_or("unknown");
                let reason = item_reason(result);
                match classify_rejection(error_type, &reason) {
                    Rejected::Document => ItemOutcome::DeadLetter(Rejection { status, error_type: error_type.to_owned(), reason }),
                    Rejected::Cluster => ItemOutcome::Fail(StorageError::Unavailable(format!(
                        "elasticsearch {endpoint}: index {} cannot take writes (HTTP {status}): {reason}",
                        item.index
                    ))),
                    Rejected::Unknown => ItemOutcome::Fail(StorageError::Backend(format!(
                        "elasticsearch {endpoint}: document for {} rejected (HTTP {status}): {reason}",
                        item.index
                    ))),
                }
            }
        }
    }

    /// Queues the items again after a backoff, or fails them when they have been tried enough.
    fn retry(&self, items: Vec<Item>, status: u16, reason: &str) {
        let bulk = &self.context.bulk;
        let (mut again, exhausted): (Vec<Item>, Vec<Item>) =
            items.into_iter().partition(|item| item.attempts < bulk.max_retries);
        if !exhausted.is_empty() {
            let message = format!(
                "elasticsearch {}: gave up after {} retries: {reason}",
                self.context.client.endpoint(),
                bulk.max_retries
            );
            self.context.metrics.errors.inc_by(exhausted.len() as u64);
            for item in exhausted {
                let error = if status == 429 {
                    StorageError::Overloaded(message.clone())
                } else {
                    StorageError::Unavailable(message.clone())
                };
                item.job.finish_item(Err(error));
            }
        }
        if again.is_empty() {
            return;
        }
        let attempt = again.iter().map(|item| item.attempts).min().unwrap_or(0);
        for item in &mut again {
            item.attempts += 1;
        }
        self.context.metrics.retried.inc_by(again.len() as u64);
        let delay = backoff(bulk, attempt);
        let sender = self.retry_sender.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // The writer is gone when this fails: nobody waits for these items any more.
            let _ = sender.send(again);
        });
    }

    /// Stores permanently rejected documents in the dead-letter index; their writes then succeed.
    async fn dead_letter(&self, dead: Vec<(Item, Rejection)>) {
        let context = &self.context;
        let timestamp = rfc3339(SystemTime::now());
        let mut body = Vec::new();
        for (item, rejection) in &dead {
            let document = DeadLetter {
                timestamp: &timestamp,
                index: &item.index,
                document_id: &item.id,
                status: rejection.status,
                error_type: &rejection.error_type,
                reason: &rejection.reason,
                document: &String::from_utf8_lossy(item.document()),
            };
            let document = serde_json::to_vec(&document).unwrap_or_default();
            let (lines, _) = bulk_lines(&context.dead_letter_index, &item.id, &document);
            body.extend_from_slice(&lines);
        }
        let first = &dead[0].1;
        warn!(
            index = %context.dead_letter_index,
            documents = dead.len(),
            status = first.status,
            error = %first.reason,
            "elasticsearch rejected documents; writing them to the dead-letter index"
        );
        let answer = context.client.bulk(Bytes::from(body)).await;
        let results = match &answer {
            Ok(answer) => answer.get("items").and_then(Value::as_array).filter(|items| items.len() == dead.len()),
            Err(_) => None,
        };
        for (position, (item, rejection)) in dead.into_iter().enumerate() {
            let stored = results
                .and_then(|results| results.get(position))
                .and_then(|result| result.as_object().and_then(|object| object.values().next()))
                .and_then(|detail| detail.get("status"))
                .and_then(Value::as_u64)
                .is_some_and(|status| (200..300).contains(&status));
            context.metrics.errors.inc();
            if stored {
                context.metrics.dead_lettered.inc();
                item.job.finish_item(Ok(()));
            } else {
                let error = match &answer {
                    Err(error) => copy_error(error),
                    Ok(_) => StorageError::Backend(format!(
                        "elasticsearch {}: document for {} rejected ({}) and the dead-letter index {} refused it too",
                        context.client.endpoint(),
                        item.index,
                        rejection.reason,
                        context.dead_letter_index
                    )),
                };
                item.job.finish_item(Err(error));
            }
        }
    }
}

/// A document of the dead-letter index. `document` is the rejected JSON as text, so it can never
/// be rejected by a mapping itself.
#[derive(Serialize)]
struct DeadLetter<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    index: &'a str,
    #[serde(rename = "documentId")]
    document_id: &'a str,
    status: u16,
    #[serde(rename = "errorType")]
    error_type: &'a str,
    reason: &'a str,
    document: &'a str,
}

/// What a rejected bulk item (4xx other than 401/403/404/408/429) says about itself.
#[derive(Debug, PartialEq, Eq)]
enum Rejected {
    /// The document cannot be indexed as it is (mapping or parse errors): dead-letter it.
    Document,
    /// The index cannot take writes now (closed, read-only, an alias without a write index):
    /// fix the cluster and retry; the document is fine.
    Cluster,
    /// Anything else: fail the write without retrying, naming the reason.
    Unknown,
}

fn classify_rejection(error_type: &str, reason: &str) -> Rejected {
    match error_type {
        "illegal_argument_exception" if reason.contains("write index") || reason.contains("alias") => Rejected::Cluster,
        "mapper_parsing_exception"
        | "document_parsing_exception"
        | "strict_dynamic_mapping_exception"
        | "mapper_exception"
        | "illegal_argument_exception"
        | "json_parse_exception"
        | "x_content_parse_exception"
        | "not_x_content_exception"
        | "document_missing_exception" => Rejected::Document,
        "index_closed_exception"
        | "cluster_block_exception"
        | "index_not_found_exception"
        | "invalid_index_name_exception" => Rejected::Cluster,
        _ => Rejected::Unknown,
    }
}

fn is_authentication_error(error: &StorageError) -> bool {
    matches!(error, StorageError::Unavailable(message) if message.contains("authentication failed"))
}

/// The same error again (StorageError is not Clone: its `Io` variant holds an `io::Error`).
fn copy_error(error: &StorageError) -> StorageError {
    match error {
        StorageError::InvalidQuery(message) => StorageError::InvalidQuery(message.clone()),
        StorageError::Unavailable(message) => StorageError::Unavailable(message.clone()),
        StorageError::Overloaded(message) => StorageError::Overloaded(message.clone()),
        StorageError::UnknownNamespace(message) => StorageError::UnknownNamespace(message.clone()),
        StorageError::Corrupt(message) => StorageError::Corrupt(message.clone()),
        StorageError::Io(error) => StorageError::Unavailable(error.to_string()),
        StorageError::Backend(message) => StorageError::Backend(message.clone()),
    }
}

/// `type: reason` of a bulk item's error, redacted and short.
fn item_reason(result: &Value) -> String {
    let detail = result.as_object().and_then(|object| object.values().next());
    detail
        .map(|detail| serde_json::json!({ "error": detail.get("error").cloned().unwrap_or(Value::Null) }))
        .and_then(|wrapped| error_reason(wrapped.to_string().as_bytes()))
        .unwrap_or_else(|| "no reason given".to_owned())
}

/// `retry_initial_backoff · 2^attempt`, at most `retry_max_backoff`, with up to 25% jitter so
/// writers that failed together do not retry together.
fn backoff(bulk: &EsBulkConfig, attempt: u32) -> Duration {
    let base = bulk.retry_initial_backoff.saturating_mul(1u32 << attempt.min(20)).min(bulk.retry_max_backoff);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 1_000) / 4_000.0);
    base + jitter
}

/// `2024-05-31T23:59:59.123Z`.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3_600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

// ---------------------------------------------------------------------------------------------
// The store's SpanWriter and Purger

#[async_trait]
impl SpanWriter for ElasticsearchStore {
    /// Returns when Elasticsearch acknowledged every span of the batch (rejected ones are in the
    /// dead-letter index). The namespace is this store's: the router picks the store.
    async fn write(&self, _ns: &Namespace, batch: SpanBatch) -> Result<()> {
        self.writer.write(batch).await
    }
}

#[async_trait]
impl Purger for ElasticsearchStore {
    /// Deletes this target's `<prefix->jaeger-*` indices and its dead-letter index, and forgets
    /// which service documents were written.
    async fn purge(&self) -> Result<()> {
        let names = self.list_indices(&self.indices.jaeger_wildcard()).await?;
        for chunk in names.chunks(50) {
            self.delete_indices(chunk).await?;
        }
        self.delete_indices(&[self.indices.dead_letter_index()]).await?;
        self.writer.clear_service_cache();
        info!(namespace = %self.ns_label, indices = names.len(), "elasticsearch indices purged");
        Ok(())
    }
}

impl ElasticsearchStore {
    /// Concrete index names matching `pattern` (wildcard deletes are refused by default since ES 8).
    pub(crate) async fn list_indices(&self, pattern: &str) -> Result<Vec<String>> {
        list_indices(&self.client, pattern).await
    }

    async fn delete_indices(&self, names: &[String]) -> Result<()> {
        delete_indices(&self.client, names).await
    }
}

/// Index names matching `pattern`, via `GET /_cat/indices/<pattern>?format=json&h=index`.
pub(crate) async fn list_indices(client: &EsClient, pattern: &str) -> Result<Vec<String>> {
    let path = format!("/_cat/indices/{}?format=json&h=index&expand_wildcards=all", index_list(&[pattern.to_owned()]));
    let (status, body) = client.send(http::Method::GET, &path, None).await?;
    if status == 404 {
        return Ok(Vec::new());
    }
    if !(200..300).contains(&status) {
        return Err(client.status_error(status, &body, "listing indices"));
    }
    let rows: Value =
        serde_json::from_slice(&body).map_err(|error| StorageError::Backend(format!("_cat/indices: {error}")))?;
    let mut names: Vec<String> = rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row.get("index").and_then(Value::as_str).map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Deletes the named indices; missing ones are fine.
pub(crate) async fn delete_indices(client: &EsClient, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let path = format!("/{}?ignore_unavailable=true", index_list(names));
    let (status, body) = client.send(http::Method::DELETE, &path, None).await?;
    if (200..300).contains(&status) || status == 404 {
        Ok(())
    } else {
        Err(client.status_error(status, &body, "deleting indices"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_cache_forgets_after_the_ttl() {
        let cache = ServiceCache::new(Duration::from_secs(10), 100);
        let start = Instant::now();
        assert!(!cache.contains(1, start));
        cache.insert(1, start);
        assert!(cache.contains(1, start + Duration::from_secs(9)));
        assert!(!cache.contains(1, start + Duration::from_secs(10)));
    }

    #[test]
    fn service_cache_evicts_the_least_recently_used() {
        let cache = ServiceCache::new(Duration::from_secs(3600), 2);
        let now = Instant::now();
        cache.insert(1, now);
        cache.insert(2, now);
        assert!(cache.contains(1, now)); // 1 is now more recent than 2
        cache.insert(3, now);
        assert!(cache.contains(1, now));
        assert!(!cache.contains(2, now));
        assert!(cache.contains(3, now));
        cache.clear();
        assert!(!cache.contains(1, now));
    }

    #[test]
    fn service_cache_stays_bounded_under_many_hits() {
        let cache = ServiceCache::new(Duration::from_secs(3600), 4);
        let now = Instant::now();
        for key in 0..4 {
            cache.insert(key, now);
        }
        for _ in 0..10_000 {
            assert!(cache.contains(2, now));
        }
        assert!(cache.inner.lock().order.len() < 100);
    }

    #[test]
    fn bulk_lines_are_an_action_then_the_document() {
        let (lines, start) = bulk_lines("jaeger-span-2024-05-31", "a_b_c", br#"{"x":1}"#);
        assert_eq!(&lines[..], b"{\"index\":{\"_index\":\"jaeger-span-2024-05-31\",\"_id\":\"a_b_c\"}}\n{\"x\":1}\n");
        assert_eq!(&lines[start..], b"{\"x\":1}\n");
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let bulk = EsBulkConfig {
            retry_initial_backoff: Duration::from_millis(100),
            retry_max_backoff: Duration::from_secs(1),
            ..EsBulkConfig::default()
        };
        let first = backoff(&bulk, 0);
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125));
        let third = backoff(&bulk, 2);
        assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(500));
        assert!(backoff(&bulk, 30) <= Duration::from_millis(1250));
    }

    #[test]
    fn only_document_errors_are_dead_lettered() {
        assert_eq!(classify_rejection("mapper_parsing_exception", "failed to parse field [flags]"), Rejected::Document);
        assert_eq!(classify_rejection("document_parsing_exception", "x"), Rejected::Document);
        assert_eq!(
            classify_rejection("illegal_argument_exception", "Limit of total fields [1000] has been exceeded"),
            Rejected::Document
        );
        assert_eq!(
            classify_rejection("illegal_argument_exception", "no write index is defined for alias [jaeger-span-write]"),
            Rejected::Cluster
        );
        assert_eq!(
            classify_rejection("cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)]"),
            Rejected::Cluster
        );
        assert_eq!(classify_rejection("something_new", "x"), Rejected::Unknown);
    }

    #[test]
    fn rfc3339_renders_utc() {
        let time = UNIX_EPOCH + Duration::from_millis(1_717_199_999_123);
        assert_eq!(rfc3339(time), "2024-05-31T23:59:59.123Z");
    }

    #[test]
    fn jobs_finish_once_with_the_first_failure() {
        let (sender, mut receiver) = oneshot::channel();
        let job =
            JobState { remaining: AtomicUsize::new(3), failure: Mutex::new(None), done: Mutex::new(Some(sender)) };
        job.finish_item(Ok(()));
        job.finish_item(Err(StorageError::Overloaded("first".into())));
        assert!(receiver.try_recv().is_err());
        job.finish_item(Err(StorageError::Unavailable("second".into())));
        let result = receiver.try_recv().unwrap();
        assert!(matches!(result, Err(StorageError::Overloaded(message)) if message == "first"));
    }

    fn item(bytes: usize, job: &Arc<JobState>) -> Item {
        Item {
            lines: Bytes::from(vec![b'x'; bytes]),
            document_start: 0,
            index: "i".into(),
            id: "d".into(),
            service_key: None,
            attempts: 0,
            job: job.clone(),
        }
    }

    /// Two spans of one trace at 2024-05-31T23:59:59.000123456Z: every field kind, a 128-bit id,
    /// a server span and an internal one of the same service.
    fn golden_batch() -> SpanBatch {
        use spoor_model::{KeyValue, Log, Process, Span, SpanId, SpanRef, TraceId, FLAG_DEBUG, FLAG_SAMPLED};
        let trace_id = TraceId::new(0x0af7651916cd43dd, 0x8448eb211c80319c);
        let start = 1_717_199_999_000_123_456;
        let process = Arc::new(Process {
            service_name: "checkout".into(),
            tags: vec![KeyValue::string("hostname", "node-1"), KeyValue::int64("pid", 42)],
        });
        let server = Span {
            trace_id,
            span_id: SpanId(0xb7ad6b7169203331),
            operation_name: "POST /pay".into(),
            references: vec![
                SpanRef::child_of(trace_id, SpanId(1)),
                SpanRef::follows_from(TraceId::new(0, 99), SpanId(u64::MAX)),
            ],
            flags: FLAG_SAMPLED | FLAG_DEBUG,
            start_time_unix_nano: start,
            duration_nanos: 987_654_321,
            tags: vec![
                KeyValue::string("span.kind", "server"),
                KeyValue::bool("error", true),
                KeyValue::int64("http.status_code", -500),
                KeyValue::float64("ratio", 0.25),
                KeyValue::binary("blob", vec![0, 1, 255]),
                KeyValue::string("unicode", "grüße ✓ \"quoted\""),
            ],
            logs: vec![Log { timestamp_unix_nano: start + 5, fields: vec![KeyValue::string("event", "retry")] }],
            process: process.clone(),
            warnings: vec!["clock skew adjusted".into()],
            scope_attributes: Vec::new(),
        };
        let internal = Span {
            span_id: SpanId(0x00f067aa0ba902b7),
            operation_name: "charge".into(),
            references: vec![SpanRef::child_of(trace_id, server.span_id)],
            flags: FLAG_SAMPLED,
            start_time_unix_nano: start + 1_000_000,
            duration_nanos: 1_000,
            tags: vec![],
            logs: vec![],
            warnings: vec![],
            ..server.clone()
        };
        // The same span again: one more span document, no second service document.
        SpanBatch::new(vec![server, internal.clone(), internal])
    }

    #[test]
    fn bulk_body_matches_its_golden_file() {
        let mut target = EsTarget::new(vec!["http://127.0.0.1:9200".into()]);
        target.index_prefix = "test".into();
        let indices = IndexNames::new(&target);
        let cache = ServiceCache::new(Duration::from_secs(60), 10);
        let prepared =
            prepare_documents(&indices, &DocumentOptions::default(), &cache, &golden_batch(), Instant::now());
        let body: String = prepared.iter().map(|(lines, ..)| String::from_utf8(lines.to_vec()).unwrap()).collect();
        // Documents do not depend on the server version: one golden file serves ES 8, ES 9 and
        // OpenSearch 2 (the integration tests read them back from each).
        crate::elasticsearch::templates::tests::assert_golden("common/bulk_request.ndjson", &body);
        assert_eq!(prepared.len(), 5, "three span documents and two service documents");
        assert_eq!(prepared[2].3, prepared[4].3.clone(), "the repeated span has the same id");
    }

    #[test]
    fn recently_written_services_are_not_written_again() {
        let indices = IndexNames::new(&EsTarget::default());
        let cache = ServiceCache::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        let batch = golden_batch();
        for (_, _, _, _, key) in prepare_documents(&indices, &DocumentOptions::default(), &cache, &batch, now) {
            if let Some(key) = key {
                cache.insert(key, now);
            }
        }
        let again = prepare_documents(&indices, &DocumentOptions::default(), &cache, &batch, now);
        assert_eq!(again.len(), 3);
        assert!(again.iter().all(|(.., key)| key.is_none()));
    }

    #[test]
    fn bulks_are_cut_by_count_and_bytes_but_hold_at_least_one_item() {
        let job =
            Arc::new(JobState { remaining: AtomicUsize::new(0), failure: Mutex::new(None), done: Mutex::new(None) });
        let bulk = EsBulkConfig { max_actions: 3, max_bytes: 100, ..EsBulkConfig::default() };
        let mut pending = Pending::default();
        pending.push_all((0..5).map(|_| item(10, &job)).collect());
        assert!(pending.is_full(&bulk));
        assert_eq!(pending.take_bulk(&bulk).len(), 3);
        assert_eq!(pending.take_bulk(&bulk).len(), 2);
        pending.push_all(vec![item(500, &job), item(10, &job)]);
        assert_eq!(pending.take_bulk(&bulk).len(), 1);
        assert_eq!(pending.bytes, 10);
    }
}
