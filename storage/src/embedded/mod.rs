//! The `embedded` backend: spans in a local [fjall](https://docs.rs/fjall) LSM database, for
//! single-node deployments without Elasticsearch.
//!
//! Design (figures in `BENCHMARKS.md`):
//! * **Few keys per span.** One fjall writer does ~220k keys/s on a 2-core machine, so a commit
//!   writes one span-group row per trace and one search row per (trace, service), never one key
//!   per tag (`encode.rs`, `dbmodel.rs`).
//! * **Day partitions.** Two keyspaces per UTC day of writing, shared by all namespaces whose
//!   keys carry the namespace (`partitions.rs`). Retention deletes whole days (`retention.rs`);
//!   reads visit each live day.
//! * **Group commit.** One writer thread commits all queued writes at once and syncs per
//!   [`SyncPolicy`] before answering them (`writer.rs`).
//! * **Search** scans a service's search rows newest first and checks each span summary (operation,
//!   duration, start, hashes of `key=value` for tags, process tags and log fields) against all
//!   conditions (`search.rs`).
//! * **Dependencies** are computed at read time from compact dependency rows (about 32 bytes per
//!   span, a few rows per `write` call) that are sorted by trace and joined span to parent
//!   (`dependencies.rs`): no key per trace at write time, and parents that arrive after their
//!   children (the usual order) are found all the same.
//! * **Purge** (for Jaeger's storage integration suite) deletes every day partition from the
//!   writer thread, between two commits (`writer.rs`).
//!
//! Blocking fjall calls run on the writer thread or tokio's blocking pool, never on the runtime.

mod config;
mod dbmodel;
mod dependencies;
mod encode;
mod partitions;
mod retention;
mod search;
mod writer;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use fjall::{Database, PersistMode};
use parking_lot::Mutex;
use spoor_model::{Namespace, SpanBatch};
use tokio::sync::{mpsc, oneshot};

pub use config::{EmbeddedConfig, SyncPolicy};

use crate::api::{
    Capabilities, DependencyLink, DependencyQuery, FoundTraceId, GetTraceRequest, Operation, OperationQuery, Purger,
    Result, SpanReader, SpanWriter, StorageError, Trace, TraceQuery,
};
use dbmodel::namespace_key;
use encode::encode_batch;
use partitions::Partitions;
use retention::RetentionTask;
use writer::{WriteRequest, WriterCommand};

/// Batches of at most this many spans are encoded on the calling task; larger ones on the
/// blocking pool.
const INLINE_ENCODE_MAX_SPANS: usize = 16;

/// Spans stored on local disk. Open with [`EmbeddedStore::open`]; close with
/// [`EmbeddedStore::close`] or by dropping it (both wait for queued writes and sync).
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    writer: Mutex<Option<WriterHandle>>,
    retention: Mutex<Option<RetentionTask>>,
    config: EmbeddedConfig,
}

/// What the writer, the retention task and readers share.
pub(crate) struct Shared {
    db: Database,
    partitions: Partitions,
    clock: Clock,
}

struct WriterHandle {
    requests: mpsc::Sender<WriterCommand>,
    thread: std::thread::JoinHandle<()>,
}

/// Wall-clock time, replaceable in tests.
#[derive(Clone)]
pub(crate) struct Clock(Option<Arc<dyn Fn() -> u64 + Send + Sync>>);

impl Clock {
    pub(crate) fn system() -> Self {
        Self(None)
    }

    pub(crate) fn now_unix_nanos(&self) -> u64 {
        match &self.0 {
            Some(now) => now(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        }
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the database in `config.data_dir`, deletes expired days and starts the
    /// writer and retention threads.
    pub fn open(config: EmbeddedConfig) -> Result<Self> {
        Self::open_with_clock(config, Clock::system())
    }

    pub(crate) fn open_with_clock(config: EmbeddedConfig, clock: Clock) -> Result<Self> {
        if config.retention.is_zero() {
            return Err(StorageError::InvalidQuery("embedded retention must be longer than zero".into()));
        }
        std::fs::create_dir_all(&config.data_dir)?;
        // The journal is written by the one writer thread: compressing large search rows there
        // costs more of that thread than the extra bytes cost the page cache.
        let db = Database::builder(&config.data_dir)
            .cache_size(config.cache_size_bytes)
            .journal_compression(fjall::CompressionType::None)
            .manual_journal_persist(true)
            .open()
            .map_err(fjall_error)?;
        let partitions = Partitions::open(db.clone())?;
        let shared = Arc::new(Shared { db, partitions, clock });
        retention::apply(&shared, config.retention)?;

        let (requests, queue) = mpsc::channel(config.write_queue_len.max(1));
        let thread = writer::spawn(shared.clone(), queue, config.sync_policy, config.max_commit_spans.max(1))?;
        let retention_task = RetentionTask::spawn(shared.clone(), config.retention, config.retention_check_interval)?;
        tracing::info!(
            data_dir = %config.data_dir.display(),
            days = shared.partitions.live().len(),
            retention = %config::duration_text::format(config.retention),
            sync_policy = ?config.sync_policy,
            "embedded store opened"
        );
        Ok(Self {
            shared,
            writer: Mutex::new(Some(WriterHandle { requests, thread })),
            retention: Mutex::new(Some(retention_task)),
            config,
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &EmbeddedConfig {
        &self.config
    }

    /// Stops accepting writes, waits for queued writes to commit, stops retention and syncs
    /// everything to disk. Later writes fail with [`StorageError::Unavailable`]; reads still work.
    /// Blocks the calling thread until done (call it from a blocking context at shutdown).
    pub fn close(&self) -> Result<()> {
        let writer = self.writer.lock().take();
        let was_open = writer.is_some();
        if let Some(writer) = writer {
            drop(writer.requests);
            if writer.thread.join().is_err() {
                tracing::error!("embedded store writer thread panicked");
            }
        }
        let retention = self.retention.lock().take();
        if let Some(retention) = retention {
            retention.stop();
        }
        self.shared.db.persist(PersistMode::SyncAll).map_err(fjall_error)?;
        if was_open {
            tracing::info!(data_dir = %self.config.data_dir.display(), "embedded store closed");
        }
        Ok(())
    }

    /// Deletes expired day partitions now (the background task does it every
    /// `retention_check_interval`); returns how many days were deleted.
    pub fn apply_retention(&self) -> Result<usize> {
        retention::apply(&self.shared, self.config.retention)
    }

    fn writer_queue(&self) -> Result<mpsc::Sender<WriterCommand>> {
        self.writer
            .lock()
            .as_ref()
            .map(|writer| writer.requests.clone())
            .ok_or_else(|| StorageError::Unavailable("embedded store is closed".into()))
    }

    async fn blocking<T: Send + 'static>(&self, read: impl FnOnce(&Shared) -> Result<T> + Send + 'static) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || read(&shared))
            .await
            .map_err(|e| StorageError::Backend(format!("embedded store task failed: {e}")))?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::error!(error = %error, "embedded store did not close cleanly");
        }
    }
}

#[async_trait]
impl SpanWriter for EmbeddedStore {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let key = namespace_key(ns)?;
        let queue = self.writer_queue()?;
        let namespace = ns.as_str().to_owned();
        let encoded = if batch.len() <= INLINE_ENCODE_MAX_SPANS {
            encode_batch(&namespace, key, &batch.spans)
        } else {
            tokio::task::spawn_blocking(move || encode_batch(&namespace, key, &batch.spans))
                .await
                .map_err(|e| StorageError::Backend(format!("embedded store encoding failed: {e}")))?
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send(WriterCommand::Write(WriteRequest { batch: encoded, reply }))
            .await
            .map_err(|_| StorageError::Unavailable("embedded store writer has stopped".into()))?;
        answer.await.map_err(|_| StorageError::Unavailable("embedded store writer has stopped".into()))?
    }
}

#[async_trait]
impl SpanReader for EmbeddedStore {
    async fn get_trace(&self, ns: &Namespace, request: GetTraceRequest) -> Result<Option<Trace>> {
        let key = namespace_key(ns)?;
        // Partitions are by day of writing, not span time, so the request's time window does not
        // narrow the days; every live day is a single prefix seek.
        let spans =
            self.blocking(move |shared| search::get_trace(&shared.partitions.live(), &key, request.trace_id)).await?;
        Ok((!spans.is_empty()).then_some(Trace { spans }))
    }

    async fn find_trace_ids(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<FoundTraceId>> {
        query.validate()?;
        let key = namespace_key(ns)?;
        let namespace = ns.as_str().to_owned();
        let query = query.clone();
        self.blocking(move |shared| search::find_trace_ids(&shared.partitions.live(), &namespace, &key, &query)).await
    }

    async fn find_traces(&self, ns: &Namespace, query: &TraceQuery) -> Result<Vec<Trace>> {
        query.validate()?;
        let key = namespace_key(ns)?;
        let namespace = ns.as_str().to_owned();
        let query = query.clone();
        self.blocking(move |shared| {
            let partitions = shared.partitions.live();
            let found = search::find_trace_ids(&partitions, &namespace, &key, &query)?;
            let mut traces = Vec::with_capacity(found.len());
            for trace in found {
                let spans = search::get_trace(&partitions, &key, trace.trace_id)?;
                if !spans.is_empty() {
                    traces.push(Trace { spans });
                }
            }
            Ok(traces)
        })
        .await
    }

    async fn services(&self, ns: &Namespace) -> Result<Vec<String>> {
        Ok(search::services(&self.shared.partitions.live(), ns.as_str()))
    }

    async fn operations(&self, ns: &Namespace, query: &OperationQuery) -> Result<Vec<Operation>> {
        let service = dbmodel::indexed_name(&query.service_name);
        let mut operations = std::collections::BTreeSet::new();
        for partition in self.shared.partitions.live() {
            let catalog = partition.catalog.read();
            operations.extend(
                catalog
                    .operations(ns.as_str(), service)
                    .filter(|operation| query.span_kind.is_none_or(|kind| operation.span_kind == kind))
                    .cloned(),
            );
        }
        Ok(operations.into_iter().collect())
    }

    /// Reads the namespace's dependency rows of every live day (see `dependencies.rs`).
    async fn dependencies(&self, ns: &Namespace, query: &DependencyQuery) -> Result<Vec<DependencyLink>> {
        let key = namespace_key(ns)?;
        let window = query.window();
        self.blocking(move |shared| dependencies::dependencies(&shared.partitions.live(), &key, window)).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { search_without_service: true, operation_span_kind: true, durable: true }
    }
}

#[async_trait]
impl Purger for EmbeddedStore {
    /// Deletes every day partition, from the writer thread between two commits: writes queued
    /// before the purge are deleted with it, writes queued after it land in fresh partitions.
    /// A closed store refuses with [`StorageError::Unavailable`].
    async fn purge(&self) -> Result<()> {
        let queue = self.writer_queue()?;
        let (reply, answer) = oneshot::channel();
        let stopped = || StorageError::Unavailable("embedded store writer has stopped".into());
        queue.send(WriterCommand::Purge(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map(|_days| ())
    }
}

/// Maps a fjall failure to the storage error kinds: I/O is retryable, a poisoned database (a
/// failed fsync) needs a restart, anything else is a bug or corruption.
pub(crate) fn fjall_error(error: fjall::Error) -> StorageError {
    match error {
        fjall::Error::Io(io) => StorageError::Io(io),
        fjall::Error::Locked => {
            StorageError::Unavailable("embedded data directory is locked by another process".into())
        }
        fjall::Error::KeyspaceDeleted => StorageError::Unavailable("day partition was just deleted".into()),
        fjall::Error::Poisoned => {
            StorageError::Backend("embedded database stopped after a failed disk write; restart the process".into())
        }
        other => StorageError::Backend(format!("embedded database: {other}")),
    }
}

#[cfg(test)]
mod tests;
