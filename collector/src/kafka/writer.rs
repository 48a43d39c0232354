//! [`KafkaSpanWriter`]: the collector's [`SpanWriter`] for Kafka, with the disk spool.
//!
//! `write` encodes each span as one message (key = trace id hex, headers `spoor-namespace` and
//! `spoor-encoding`) and returns `Ok` only when
//!
//! - Kafka acknowledged every message of the batch (with `acks=all` and the idempotent producer
//!   by default), or
//! - the messages Kafka did not take within `delivery_timeout_ms` (timeout, queue full, broker
//!   down) are appended to the spool and `fsync`ed.
//!
//! **Order while spooling**: as long as the spool holds anything, new batches go straight to the
//! spool, behind what is already there, and only the drainer talks to Kafka. So batches that
//! arrive during an outage reach Kafka in arrival order, after everything spooled before them,
//! and a sick Kafka is not hit by every request too. The cost: until the spool is drained, each
//! batch costs an `fsync` and the throughput is the drainer's. Batches that were already in flight
//! to Kafka when it failed are spooled when their delivery times out, possibly behind younger
//! batches that were spooled at once.
//!
//! The drainer sends the oldest spooled records (several at a time, in order), acknowledges a
//! record to the spool only after Kafka acknowledged all of its messages, and backs off while
//! Kafka fails. A message Kafka refuses for good (too large for the broker) is dropped and
//! counted, so it cannot block the spool. After a restart, [`KafkaSpanWriter::new`] reopens the
//! spool and the drainer sends what is left.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use spoor_model::kafka::{encode_span, message_key, KafkaEncoding};
use spoor_model::{Namespace, SpanBatch};
use spoor_storage::{SpanWriter, StorageError};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::config::KafkaProducerConfig;
use super::metrics::KafkaWriterMetrics;
use super::producer::{LinkState, Producer, SendFailure};
use super::KafkaError;
use crate::spool::{now_unix_ms, RecordId, Spool, SpoolError, SpooledBatch, SpooledMessage};

/// Most records the drainer sends in one round.
const DRAIN_RECORDS: usize = 256;
/// Most bytes the drainer sends in one round.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
/// The drainer's backoff after a failed round: doubles from the minimum to the maximum.
const DRAIN_BACKOFF_MIN: Duration = Duration::from_millis(100);
const DRAIN_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the drainer refreshes the spool gauges (the oldest record's age grows by itself).
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// The writer's health, for the collector's health endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterHealth {
    /// Kafka takes spans and nothing waits in the spool.
    Ready,
    /// Spans are being spooled, or Kafka is unreachable; the reason says which.
    Degraded(String),
}

/// Writes spans to Kafka, spooling to disk while Kafka cannot take them. See the module docs.
pub struct KafkaSpanWriter {
    shared: Arc<Shared>,
    drainer: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    topic: String,
    encoding: KafkaEncoding,
    max_message_bytes: usize,
    delivery_timeout: Duration,
    producer: Producer,
    spool: Option<SpoolHandle>,
    metrics: KafkaWriterMetrics,
    closed: AtomicBool,
    /// Set to true when the writer closes (wakes a sleeping drainer).
    closed_signal: watch::Sender<bool>,
    /// An append happened (wakes an idle drainer).
    wake: Notify,
}

/// The spool, used on blocking threads, with its state mirrored in atomics so async code never
/// waits for the lock (held during `fsync`).
struct SpoolHandle {
    spool: Arc<Mutex<Spool>>,
    records: AtomicU64,
    bytes: AtomicU64,
    max_bytes: u64,
}

impl SpoolHandle {
    fn publish(&self, spool: &Spool, metrics: &KafkaWriterMetrics) {
        self.records.store(spool.len() as u64, Ordering::Release);
        self.bytes.store(spool.used_bytes(), Ordering::Release);
        metrics.set_spool_state(spool.used_bytes(), spool.len(), spool.oldest_age_seconds());
    }

    fn records(&self) -> u64 {
        self.records.load(Ordering::Acquire)
    }

    /// Runs `operation` on the spool on a blocking thread, then publishes the spool's state.
    async fn run<T: Send + 'static>(
        &self,
        metrics: &KafkaWriterMetrics,
        operation: impl FnOnce(&mut Spool) -> T + Send + 'static,
    ) -> Result<T, StorageError> {
        let spool = Arc::clone(&self.spool);
        let metrics_for_thread = metrics.clone();
        let (result, records, bytes) = tokio::task::spawn_blocking(move || {
            let mut guard = spool.lock();
            let result = operation(&mut guard);
            metrics_for_thread.set_spool_state(guard.used_bytes(), guard.len(), guard.oldest_age_seconds());
            (result, guard.len() as u64, guard.used_bytes())
        })
        .await
        .map_err(|error| StorageError::Backend(format!("spool task failed: {error}")))?;
        self.records.store(records, Ordering::Release);
        self.bytes.store(bytes, Ordering::Release);
        Ok(result)
    }
}

impl KafkaSpanWriter {
    /// Creates the producer (it connects lazily), reopens the spool when one is configured and
    /// starts its drainer. Must be called inside a tokio runtime.
    pub fn new(config: KafkaProducerConfig, registry: &mut Registry) -> Result<Self, KafkaError> {
        Self::with_metrics(config, KafkaWriterMetrics::register(registry))
    }

    /// Like [`KafkaSpanWriter::new`], with metrics the caller registered (or not).
    pub fn with_metrics(config: KafkaProducerConfig, metrics: KafkaWriterMetrics) -> Result<Self, KafkaError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| KafkaError::Config("the Kafka writer must be created inside a tokio runtime".to_owned()))?;
        if config.brokers.is_empty() {
            return Err(KafkaError::Config("no Kafka brokers configured".to_owned()));
        }
        if config.topic.is_empty() {
            return Err(KafkaError::Config("no Kafka topic configured".to_owned()));
        }
        let link = Arc::new(LinkState::new());
        let producer = Producer::new(config.client_config(), config.topic.clone(), link)?;
        let spool = match &config.spool.directory {
            None => None,
            Some(directory) => {
                let (spool, report) = Spool::open(directory, config.spool.max_bytes, config.spool.segment_bytes)?;
                tracing::info!(
                    directory = %directory.display(),
                    records = report.records,
                    spans = report.messages,
                    truncated_bytes = report.truncated_bytes,
                    max_bytes = config.spool.max_bytes,
                    "kafka spool opened"
                );
                let handle = SpoolHandle {
                    records: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                    max_bytes: spool.max_bytes(),
                    spool: Arc::new(Mutex::new(spool)),
                };
                handle.publish(&handle.spool.lock(), &metrics);
                Some(handle)
            }
        };
        tracing::info!(
            brokers = %config.brokers.join(","),
            topic = %config.topic,
            encoding = %config.encoding,
            acks = config.required_acks.as_acks(),
            properties = ?config.redacted_properties(),
            spool = spool.is_some(),
            "kafka span writer created"
        );
        let shared = Arc::new(Shared {
            topic: config.topic.clone(),
            encoding: config.encoding,
            max_message_bytes: config.max_message_bytes,
            delivery_timeout: Duration::from_millis(config.delivery_timeout_ms),
            producer,
            spool,
            metrics,
            closed: AtomicBool::new(false),
            closed_signal: watch::channel(false).0,
            wake: Notify::new(),
        });
        let drainer = shared.spool.is_some().then(|| runtime.spawn(drain(Arc::clone(&shared))));
        Ok(Self { shared, drainer: Mutex::new(drainer) })
    }

    /// `Ready`, or `Degraded` with the reason while spooling or while Kafka is unreachable.
    pub fn health(&self) -> WriterHealth {
        if let Some(spool) = &self.shared.spool {
            let records = spool.records();
            if records > 0 {
                let bytes = spool.bytes.load(Ordering::Acquire);
                return WriterHealth::Degraded(format!(
                    "spooling to disk: {records} batches ({bytes} of {} bytes) wait for Kafka",
                    spool.max_bytes
                ));
            }
        }
        let link = self.shared.producer.link();
        if !link.is_reachable() {
            return WriterHealth::Degraded(format!("Kafka unreachable: {}", link.last_error()));
        }
        WriterHealth::Ready
    }

    pub fn metrics(&self) -> &KafkaWriterMetrics {
        &self.shared.metrics
    }

    /// The topic spans are written to.
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// Batches waiting in the spool (0 without a spool).
    pub fn spooled_batches(&self) -> u64 {
        self.shared.spool.as_ref().map_or(0, SpoolHandle::records)
    }

    /// Stops the drainer (what it has not sent stays in the spool for the next start) and waits
    /// up to the delivery timeout for messages librdkafka still holds. Writes after `close` fail
    /// as unavailable.
    pub async fn close(&self) {
        self.shared.close_signal();
        let drainer = self.drainer.lock().take();
        if let Some(mut drainer) = drainer {
            let grace = self.shared.delivery_timeout + Duration::from_secs(1);
            if tokio::time::timeout(grace, &mut drainer).await.is_err() {
                drainer.abort();
            }
        }
        let shared = Arc::clone(&self.shared);
        let timeout = self.shared.delivery_timeout;
        let _ = tokio::task::spawn_blocking(move || shared.producer.flush_blocking(timeout)).await;
    }
}

impl Drop for KafkaSpanWriter {
    fn drop(&mut self) {
        self.shared.close_signal();
        if let Some(drainer) = self.drainer.lock().take() {
            drainer.abort();
        }
    }
}

#[async_trait]
impl SpanWriter for KafkaSpanWriter {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> spoor_storage::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(StorageError::Unavailable("the Kafka writer is closed".to_owned()));
        }
        let messages = self.shared.encode(&batch)?;
        self.shared.write_messages(ns.as_str(), messages).await
    }
}

impl Shared {
    fn close_signal(&self) {
        self.closed.store(true, Ordering::Release);
        self.closed_signal.send_replace(true);
        self.wake.notify_waiters();
    }

    fn encode(&self, batch: &SpanBatch) -> Result<Vec<SpooledMessage>, StorageError> {
        let mut messages = Vec::with_capacity(batch.len());
        for span in &batch.spans {
            let value = encode_span(self.encoding, span);
            if value.len() > self.max_message_bytes {
                return Err(StorageError::InvalidQuery(format!(
                    "span {} of trace {} encodes to {} bytes, more than the Kafka maximum message size of {} bytes",
                    span.span_id,
                    span.trace_id,
                    value.len(),
                    self.max_message_bytes
                )));
            }
            messages.push(SpooledMessage { key: message_key(span).into_bytes(), value });
        }
        Ok(messages)
    }

    async fn write_messages(&self, namespace: &str, messages: Vec<SpooledMessage>) -> Result<(), StorageError> {
        if let Some(spool) = &self.spool {
            // Keep the order: behind a backlog, or while Kafka is known to be down, spool at once.
            if spool.records() > 0 || !self.producer.link().is_reachable() {
                return self.append_to_spool(spool, namespace, messages).await;
            }
        }
        let results = self.producer.send_all(namespace, self.encoding, &messages).await;
        let mut delivered = 0u64;
        let mut undelivered = Vec::new();
        let mut first_failure: Option<SendFailure> = None;
        let mut permanent: Option<SendFailure> = None;
        for (message, result) in messages.into_iter().zip(results) {
            match result {
                Ok(()) => delivered += 1,
                Err(failure) => {
                    self.metrics.record_failed(failure.reason(), 1);
                    match failure {
                        SendFailure::Permanent { .. } => {
                            permanent.get_or_insert(failure);
                        }
                        SendFailure::Retryable { .. } => {
                            first_failure.get_or_insert(failure);
                            undelivered.push(message);
                        }
                    }
                }
            }
        }
        self.metrics.record_written(delivered);
        if delivered > 0 {
            self.producer.link().mark_up();
        }
        if let Some(failure) = permanent {
            return Err(StorageError::InvalidQuery(format!("Kafka refused a span for good: {}", failure.detail())));
        }
        let Some(failure) = first_failure else {
            return Ok(());
        };
        self.producer.link().mark_down(failure.detail());
        self.metrics.set_up(false);
        self.producer.rebuild_if_fatal();
        match &self.spool {
            Some(spool) => self.append_to_spool(spool, namespace, undelivered).await,
            None => Err(StorageError::Unavailable(format!(
                "Kafka did not take {} of the batch's spans: {}",
                undelivered.len(),
                failure.detail()
            ))),
        }
    }

    async fn append_to_spool(
        &self,
        spool: &SpoolHandle,
        namespace: &str,
        messages: Vec<SpooledMessage>,
    ) -> Result<(), StorageError> {
        let spans = messages.len() as u64;
        let batch = SpooledBatch {
            namespace: namespace.to_owned(),
            encoding: self.encoding,
            appended_at_unix_ms: now_unix_ms(),
            messages,
        };
        let appended = spool.run(&self.metrics, move |spool| spool.append(&batch).map(|_| ())).await?;
        match appended {
            Ok(()) => {
                self.metrics.record_spooled(spans);
                self.wake.notify_one();
                Ok(())
            }
            Err(error @ SpoolError::Full { .. }) => {
                self.metrics.record_spool_full();
                Err(StorageError::Overloaded(format!("Kafka is not taking spans and {error}")))
            }
            Err(error @ SpoolError::RecordTooLarge { .. }) => Err(StorageError::InvalidQuery(error.to_string())),
            Err(error) => {
                tracing::error!(%error, "cannot append to the kafka spool");
                Err(StorageError::Unavailable(format!("Kafka is not taking spans and the spool failed: {error}")))
            }
        }
    }
}

/// The drainer: sends spooled records to Kafka in order until the writer closes.
async fn drain(shared: Arc<Shared>) {
    let Some(spool) = shared.spool.as_ref() else {
        return;
    };
    let mut window: VecDeque<(RecordId, SpooledBatch)> = VecDeque::new();
    let mut backoff = DRAIN_BACKOFF_MIN;
    while !shared.closed.load(Ordering::Acquire) {
        if window.is_empty() {
            if spool.records() == 0 {
                // Nothing to send: wait for an append (or refresh the gauges now and then).
                let _ = tokio::time::timeout(GAUGE_INTERVAL, shared.wake.notified()).await;
                let _ = spool.run(&shared.metrics, |_| ()).await;
                continue;
            }
            let peeked = spool.run(&shared.metrics, |spool| spool.peek(DRAIN_RECORDS, DRAIN_BYTES)).await;
            match peeked {
                Ok(Ok((records, dropped))) => {
                    shared.metrics.record_spool_dropped(dropped);
                    window.extend(records);
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot read the kafka spool");
                    sleep_unless_closed(&shared, DRAIN_BACKOFF_MAX).await;
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot read the kafka spool");
                    sleep_unless_closed(&shared, DRAIN_BACKOFF_MAX).await;
                    continue;
                }
            }
            if window.is_empty() {
                continue;
            }
        }

        let retryable = send_window(&shared, &mut window).await;
        // Acknowledge, oldest first, the records Kafka took completely.
        let mut done = Vec::new();
        while window.front().is_some_and(|(_, batch)| batch.messages.is_empty()) {
            if let Some((id, _)) = window.pop_front() {
                done.push(id);
            }
        }
        if !done.is_empty() {
            let acked =
                spool.run(&shared.metrics, move |spool| done.into_iter().try_for_each(|id| spool.ack(id))).await;
            match acked {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "cannot acknowledge kafka spool records"),
                Err(error) => tracing::error!(%error, "cannot acknowledge kafka spool records"),
            }
        }
        match retryable {
            None => {
                backoff = DRAIN_BACKOFF_MIN;
                if spool.records() == 0 {
                    tracing::info!("kafka spool drained");
                }
            }
            Some(failure) => {
                shared.producer.link().mark_down(failure.detail());
                shared.metrics.set_up(false);
                shared.producer.rebuild_if_fatal();
                sleep_unless_closed(&shared, backoff).await;
                backoff = (backoff * 2).min(DRAIN_BACKOFF_MAX);
            }
        }
    }
}

/// Sends every remaining message of the window (in order) and removes the delivered ones and the
/// ones Kafka refuses for good. Returns the first retryable failure, if any.
async fn send_window(shared: &Shared, window: &mut VecDeque<(RecordId, SpooledBatch)>) -> Option<SendFailure> {
    let sends: Vec<_> = window
        .iter()
        .map(|(_, batch)| shared.producer.send_all(&batch.namespace, batch.encoding, &batch.messages))
        .collect();
    let results = futures::future::join_all(sends).await;
    let mut first_retryable = None;
    let (mut delivered, mut dropped) = (0u64, 0u64);
    for ((_, batch), results) in window.iter_mut().zip(results) {
        let messages = std::mem::take(&mut batch.messages);
        for (message, result) in messages.into_iter().zip(results) {
            match result {
                Ok(()) => delivered += 1,
                Err(failure) => {
                    shared.metrics.record_failed(failure.reason(), 1);
                    match failure {
                        SendFailure::Permanent { ref detail, .. } => {
                            tracing::error!(detail, "kafka refused a spooled span for good; dropped");
                            dropped += 1;
                        }
                        SendFailure::Retryable { .. } => {
                            first_retryable.get_or_insert(failure);
                            batch.messages.push(message);
                        }
                    }
                }
            }
        }
    }
    shared.metrics.record_written(delivered);
    shared.metrics.record_drained(delivered);
    shared.metrics.record_spool_dropped(dropped);
    if delivered > 0 {
        shared.producer.link().mark_up();
    }
    first_retryable
}

/// Sleeps for `duration`, or less when the writer closes. New appends do not cut it short.
async fn sleep_unless_closed(shared: &Shared, duration: Duration) {
    let mut closed = shared.closed_signal.subscribe();
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        _ = closed.wait_for(|closed| *closed) => {}
    }
}
