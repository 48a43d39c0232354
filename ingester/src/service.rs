//! The ingester: a Kafka consumer-group member that decodes span messages, writes them per
//! namespace in batches, and commits an offset only when every message before it on that
//! partition is durably written or dead-lettered.
//!
//! Data flow (one consumer task, many write tasks):
//!
//! 1. The consumer task receives a message, copies it, decodes it (encoding from the
//!    `spoor-encoding` header, else the configured one), attributes its spans to namespaces (the
//!    `spoor-namespace` header, else the `namespace_of` rules), records it in the
//!    [`OffsetTracker`] with one part per namespace, and appends the spans to that namespace's
//!    batch. Undecodable messages go to the dead-letter topic instead.
//! 2. A batch is written when it is full or old enough, by a write task holding one of
//!    `max_in_flight_batches` permits. Retryable storage errors are retried forever with
//!    exponential backoff and full jitter, re-decoding the spans from the kept payloads. A
//!    permanent error splits the batch in halves until the rejected messages are found; those are
//!    dead-lettered with the reason, the rest written.
//! 3. Finished parts are marked in the tracker; every `commit_interval` the consumer task commits
//!    (asynchronously) each partition's first unfinished offset.
//! 4. While more than `max_pending_spans` are unfinished (store slow or down), the consumer pauses
//!    its partitions but keeps polling, so it stays in the group; it resumes below half of it.
//! 5. A revocation (in the rebalance callback) flushes the batches, waits up to
//!    `revoke_flush_timeout` for the revoked partitions' messages, commits their positions
//!    synchronously and forgets them. Shutdown pauses, flushes, waits up to `shutdown_timeout`,
//!    commits synchronously and closes the consumer; a static member (`instance_id`) does not
//!    leave the group on close, so a restart within the session timeout causes no rebalance.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use spoor_model::kafka::{decode_message, KafkaEncoding, ENCODING_HEADER, NAMESPACE_HEADER};
use spoor_model::{Namespace, Span, SpanBatch};
use spoor_storage::{ErrorKind, SpanWriter, StorageError};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::IngesterConfig;
use crate::dead_letter::{DeadLetterProducer, DeadLetterReason, ReceivedMessage};
use crate::error::IngesterError;
use crate::metrics::{EventLabels, IngesterMetrics, PartitionLabels, ReasonLabels, ResultLabels};
use crate::offsets::{MessageRef, OffsetTracker};
use crate::retry::Backoff;

/// Attributes a span to a namespace when its message has no `spoor-namespace` header.
pub type NamespaceFn = Arc<dyn Fn(&Span) -> Namespace + Send + Sync>;

/// What the ingester is doing, for readiness probes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngesterHealth {
    /// Connecting and joining the consumer group.
    Starting,
    /// In the group (possibly with no partitions, when the group has more members than the topic
    /// has partitions) and writing.
    Ready { assigned_partitions: usize },
    /// In the group, but storage writes are failing and being retried; offsets do not advance
    /// past the unwritten data.
    StorageFailing { assigned_partitions: usize },
    /// Stopped.
    Stopped,
}

impl IngesterHealth {
    /// Joined the group and consuming (writes may be failing).
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready { .. } | Self::StorageFailing { .. })
    }
}

/// A message whose spans are in one or more batches.
struct PendingMessage {
    message: ReceivedMessage,
    message_ref: MessageRef,
    encoding: KafkaEncoding,
    header_namespace: Option<Namespace>,
    received_at: Instant,
    dead_lettered: AtomicBool,
}

/// The spans of one message that belong to one namespace.
#[derive(Clone)]
struct Part {
    message: Arc<PendingMessage>,
}

struct Batch {
    parts: Vec<Part>,
    spans: Vec<Span>,
    started: Instant,
}

impl Batch {
    fn new() -> Self {
        Self { parts: Vec::new(), spans: Vec::new(), started: Instant::now() }
    }
}

#[derive(Default)]
struct State {
    offsets: OffsetTracker,
    batches: HashMap<Namespace, Batch>,
    assigned: BTreeSet<i32>,
}

enum WriteOutcome {
    Written,
    Rejected(StorageError),
    /// Shutdown gave up on the retries.
    Abandoned,
}

struct Core {
    config: IngesterConfig,
    writer: Arc<dyn SpanWriter>,
    namespace_of: NamespaceFn,
    metrics: IngesterMetrics,
    dead_letters: DeadLetterProducer,
    backoff: Backoff,
    state: Mutex<State>,
    write_permits: Arc<Semaphore>,
    /// Bumped whenever a message part finishes; waiters re-check their condition.
    progress: watch::Sender<u64>,
    /// Write tasks currently retrying a failed write.
    failing_writes: AtomicUsize,
    joined: AtomicBool,
    paused: AtomicBool,
    stopping: AtomicBool,
    /// Set when shutdown stops waiting: retry loops give up.
    abandon: watch::Sender<bool>,
    health: watch::Sender<IngesterHealth>,
    last_client_error: Mutex<Option<String>>,
}

/// Consumes spans from Kafka and writes them to storage, at least once. See the module docs.
pub struct Ingester {
    core: Arc<Core>,
    consumer_config: ClientConfig,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester").field("config", &self.core.config).finish_non_exhaustive()
    }
}

impl Ingester {
    /// Validates the configuration, creates the dead-letter producer and registers the metrics.
    /// Nothing is consumed before [`Ingester::run`].
    pub fn new(
        config: IngesterConfig,
        writer: Arc<dyn SpanWriter>,
        namespace_of: NamespaceFn,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, IngesterError> {
        config.validate().map_err(IngesterError::Config)?;
        let consumer_config = config.consumer_config();
        consumer_config.create_native_config()?;
        let dead_letters = DeadLetterProducer::new(&config)?;
        let metrics = IngesterMetrics::register(registry);
        let backoff = Backoff { initial: config.retry_initial_backoff, max: config.retry_max_backoff };
        let core = Core {
            write_permits: Arc::new(Semaphore::new(config.max_in_flight_batches)),
            config,
            writer,
            namespace_of,
            metrics,
            dead_letters,
            backoff,
            state: Mutex::default(),
            progress: watch::channel(0).0,
            failing_writes: AtomicUsize::new(0),
            joined: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            abandon: watch::channel(false).0,
            health: watch::channel(IngesterHealth::Starting).0,
            last_client_error: Mutex::new(None),
        };
        Ok(Self { core: Arc::new(core), consumer_config })
    }

    /// The ingester's health; changes are sent as they happen.
    pub fn health(&self) -> watch::Receiver<IngesterHealth> {
        self.core.health.subscribe()
    }

    /// Joins the group and ingests until `shutdown` completes, then stops fetching, writes what
    /// it holds (up to `shutdown_timeout`), commits what is durable and closes the consumer.
    ///
    /// Must run on a multi-threaded Tokio runtime for revocations to wait for in-flight writes
    /// (on a current-thread runtime they commit only what is already durable, and the next owner
    /// of the partitions re-reads the rest). Dropping the returned future stops the ingester at
    /// once, committing only what is durable.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), IngesterError> {
        let context = IngesterContext { core: self.core.clone() };
        let consumer: StreamConsumer<IngesterContext> = self.consumer_config.create_with_context(context)?;
        consumer.subscribe(&[self.core.config.topic.as_str()])?;
        info!(
            topic = %self.core.config.topic,
            group = %self.core.config.group_id,
            instance_id = self.core.config.instance_id.as_deref().unwrap_or("(dynamic membership)"),
            dead_letter_topic = %self.core.dead_letters.topic(),
            "ingester started"
        );
        let (stop_sender, stop) = watch::channel(false);
        let mut task = AbortOnDrop(tokio::spawn(consume(self.core.clone(), consumer, stop)));
        tokio::pin!(shutdown);
        tokio::select! {
            () = &mut shutdown => {
                let _ = stop_sender.send(true);
            }
            result = &mut task.0 => return flatten(result),
        }
        flatten((&mut task.0).await)
    }
}

/// Completes when a stop is requested (or can no longer be).
async fn wait_for_stop(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn flatten(result: Result<Result<(), IngesterError>, tokio::task::JoinError>) -> Result<(), IngesterError> {
    result.map_err(|error| IngesterError::Task(error.to_string()))?
}

/// The consumer task.
async fn consume(
    core: Arc<Core>,
    consumer: StreamConsumer<IngesterContext>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), IngesterError> {
    let tick_every = (core.config.max_batch_delay / 4).clamp(Duration::from_millis(5), Duration::from_millis(100));
    let mut ticker = tokio::time::interval(tick_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_commit = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = wait_for_stop(&mut stop) => break,
            _ = ticker.tick() => {
                core.flush(false);
                if last_commit.elapsed() >= core.config.commit_interval {
                    core.commit_positions(&consumer, CommitMode::Async, false);
                    last_commit = Instant::now();
                }
                core.apply_backpressure(&consumer);
            }
            received = consumer.recv() => match received {
                Ok(message) => {
                    core.handle_message(&message);
                    *core.last_client_error.lock() = None;
                    core.apply_backpressure(&consumer);
                }
                // Counted and logged by the context's error callback.
                Err(error) => {
                    if let KafkaError::MessageConsumptionFatal(_) = error {
                        core.shutdown(consumer).await;
                        return Err(error.into());
                    }
                    debug!(error = %error, "kafka consumer error");
                }
            },
        }
    }
    core.shutdown(consumer).await;
    Ok(())
}

impl Core {
    fn partition_labels(&self, partition: i32) -> PartitionLabels {
        PartitionLabels { topic: self.config.topic.clone(), partition }
    }

    fn handle_message<M: rdkafka::Message>(self: &Arc<Self>, message: &M) {
        let received = ReceivedMessage::copy_of(message);
        let labels = self.partition_labels(received.partition);
        self.metrics.messages.get_or_create(&labels).inc();
        self.metrics.current_offset.get_or_create(&labels).set(received.offset);

        let encoding = match received.header(ENCODING_HEADER) {
            None => self.config.encoding,
            Some(value) => match value.and_then(KafkaEncoding::from_header) {
                Some(encoding) => encoding,
                None => {
                    let shown = String::from_utf8_lossy(value.unwrap_or_default()).into_owned();
                    let detail = format!("unknown {ENCODING_HEADER} header {shown:?}");
                    return self.reject(received, DeadLetterReason::UnknownEncoding, detail);
                }
            },
        };
        let header_namespace = match received.header(NAMESPACE_HEADER) {
            None => None,
            Some(value) => match value.map(std::str::from_utf8) {
                Some(Ok(name)) if !name.is_empty() => Some(Namespace::new(name)),
                _ => {
                    let detail = format!("{NAMESPACE_HEADER} header is empty or not UTF-8");
                    return self.reject(received, DeadLetterReason::InvalidNamespaceHeader, detail);
                }
            },
        };
        let decoded = match received.payload.as_deref() {
            None | Some([]) => Err("empty message".to_owned()),
            Some(payload) => decode_message(encoding, payload).map_err(|error| error.to_string()),
        };
        let spans = match decoded {
            Ok(spans) => spans,
            Err(error) => {
                self.metrics.processor_errors.inc();
                let detail = format!("cannot decode {encoding} message: {error}");
                return self.reject(received, DeadLetterReason::Undecodable, detail);
            }
        };
        let weight = spans.len().max(1);
        let groups = self.group_by_namespace(spans, header_namespace.as_ref());

        let mut full = Vec::new();
        {
            let mut state = self.state.lock();
            let parts = u32::try_from(groups.len()).unwrap_or(u32::MAX);
            let message_ref = state.offsets.received(received.partition, received.offset, parts, weight);
            if groups.is_empty() {
                return;
            }
            let pending = Arc::new(PendingMessage {
                message: received,
                message_ref,
                encoding,
                header_namespace,
                received_at: Instant::now(),
                dead_lettered: AtomicBool::new(false),
            });
            for (namespace, spans) in groups {
                let batch = state.batches.entry(namespace.clone()).or_insert_with(Batch::new);
                batch.parts.push(Part { message: pending.clone() });
                batch.spans.extend(spans);
                if batch.spans.len() >= self.config.max_batch_spans {
                    if let Some(batch) = state.batches.remove(&namespace) {
                        full.push((namespace, batch));
                    }
                }
            }
        }
        for (namespace, batch) in full {
            self.spawn_write(namespace, batch);
        }
    }

    fn group_by_namespace(
        &self,
        spans: Vec<Span>,
        header_namespace: Option<&Namespace>,
    ) -> Vec<(Namespace, Vec<Span>)> {
        if spans.is_empty() {
            return Vec::new();
        }
        if let Some(namespace) = header_namespace {
            return vec![(namespace.clone(), spans)];
        }
        let mut groups: Vec<(Namespace, Vec<Span>)> = Vec::new();
        for span in spans {
            let namespace = (self.namespace_of)(&span);
            match groups.iter_mut().find(|(existing, _)| *existing == namespace) {
                Some((_, group)) => group.push(span),
                None => groups.push((namespace, vec![span])),
            }
        }
        groups
    }

    /// The spans of `message` that belong to `namespace`, decoded again from its payload (for a
    /// retry or a split; decoding is deterministic).
    fn spans_of(&self, message: &PendingMessage, namespace: &Namespace) -> Vec<Span> {
        let Some(payload) = message.message.payload.as_deref() else {
            return Vec::new();
        };
        let Ok(spans) = decode_message(message.encoding, payload) else {
            return Vec::new();
        };
        if message.header_namespace.is_some() {
            return spans;
        }
        spans.into_iter().filter(|span| (self.namespace_of)(span) == *namespace).collect()
    }

    fn decode_parts(&self, parts: &[Part], namespace: &Namespace) -> Vec<Span> {
        parts.iter().flat_map(|part| self.spans_of(&part.message, namespace)).collect()
    }

    /// Records an unusable message and sends it to the dead-letter topic.
    fn reject(self: &Arc<Self>, message: ReceivedMessage, reason: DeadLetterReason, detail: String) {
        warn!(
            partition = message.partition,
            offset = message.offset,
            reason = reason.as_str(),
            error = %detail,
            "dead-lettering message"
        );
        let message_ref = self.state.lock().offsets.received(message.partition, message.offset, 1, 1);
        let core = self.clone();
        tokio::spawn(async move {
            if core.dead_letter(&message, reason, &detail).await {
                core.complete(&[message_ref]);
            }
        });
    }

    /// Produces `message` to the dead-letter topic, retrying until it is acknowledged. False when
    /// shutdown gave up.
    async fn dead_letter(&self, message: &ReceivedMessage, reason: DeadLetterReason, detail: &str) -> bool {
        let mut attempt = 0u32;
        loop {
            match self.dead_letters.send(message, reason, detail).await {
                Ok(()) => {
                    self.metrics.dead_lettered.get_or_create(&ReasonLabels { reason: reason.as_str() }).inc();
                    return true;
                }
                Err(error) => {
                    if attempt.is_multiple_of(10) {
                        warn!(
                            topic = %self.dead_letters.topic(),
                            partition = message.partition,
                            offset = message.offset,
                            attempt,
                            error = %error,
                            "dead-letter produce failed; retrying (the offset is not committed past it)"
                        );
                    }
                    if !self.sleep_unless_abandoned(self.backoff.delay(attempt)).await {
                        return false;
                    }
                    self.metrics.retry_attempts.inc();
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    /// Sleeps; false (at once) when shutdown abandons in-flight work.
    async fn sleep_unless_abandoned(&self, delay: Duration) -> bool {
        let mut abandon = self.abandon.subscribe();
        if *abandon.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = async { let _ = abandon.wait_for(|abandon| *abandon).await; } => false,
        }
    }

    /// Marks message parts finished and wakes whoever waits for progress.
    fn complete(&self, refs: &[MessageRef]) {
        {
            let mut state = self.state.lock();
            for message_ref in refs {
                state.offsets.complete(message_ref);
            }
            self.metrics.pending_spans.set(i64::try_from(state.offsets.pending_weight()).unwrap_or(i64::MAX));
        }
        self.progress.send_modify(|count| *count = count.wrapping_add(1));
    }

    fn finish_parts(&self, parts: &[Part]) {
        let refs: Vec<MessageRef> = parts
            .iter()
            .map(|part| {
                self.metrics.processor_latency.observe(part.message.received_at.elapsed().as_secs_f64());
                part.message.message_ref
            })
            .collect();
        self.complete(&refs);
    }

    /// Writes batches that are old enough (all of them when `force`).
    fn flush(self: &Arc<Self>, force: bool) {
        let due: Vec<(Namespace, Batch)> = {
            let mut state = self.state.lock();
            let names: Vec<Namespace> = state
                .batches
                .iter()
                .filter(|(_, batch)| force || batch.started.elapsed() >= self.config.max_batch_delay)
                .map(|(namespace, _)| namespace.clone())
                .collect();
            names.into_iter().filter_map(|name| state.batches.remove(&name).map(|batch| (name, batch))).collect()
        };
        for (namespace, batch) in due {
            self.spawn_write(namespace, batch);
        }
    }

    fn spawn_write(self: &Arc<Self>, namespace: Namespace, batch: Batch) {
        let core = self.clone();
        tokio::spawn(async move { core.write_batch(namespace, batch).await });
    }

    async fn write_batch(self: Arc<Self>, namespace: Namespace, batch: Batch) {
        let Ok(_permit) = self.write_permits.clone().acquire_owned().await else {
            return;
        };
        let Batch { parts, spans, .. } = batch;
        match self.write_with_retry(&namespace, spans, &parts).await {
            WriteOutcome::Written => self.finish_parts(&parts),
            WriteOutcome::Abandoned => {}
            WriteOutcome::Rejected(error) => self.isolate_rejected(&namespace, parts, error).await,
        }
    }

    /// Writes `spans` (the spans of `parts` in `namespace`), retrying retryable failures with
    /// backoff until they succeed or shutdown abandons them.
    async fn write_with_retry(&self, namespace: &Namespace, spans: Vec<Span>, parts: &[Part]) -> WriteOutcome {
        let mut first_attempt = Some(spans);
        let mut attempt = 0u32;
        let mut failing = false;
        let outcome = loop {
            let spans = first_attempt.take().unwrap_or_else(|| self.decode_parts(parts, namespace));
            let count = spans.len() as u64;
            let started = Instant::now();
            let result = self.writer.write(namespace, SpanBatch::new(spans)).await;
            let elapsed = started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    self.metrics.write_latency.get_or_create(&ResultLabels { result: "ok" }).observe(elapsed);
                    self.metrics.spans_written.inc_by(count);
                    if failing {
                        info!(namespace = %namespace, attempt, "storage write succeeded after retries");
                    }
                    break WriteOutcome::Written;
                }
                Err(error) if error.kind().is_retryable() => {
                    self.metrics.write_latency.get_or_create(&ResultLabels { result: "retryable" }).observe(elapsed);
                    self.metrics.processor_errors.inc();
                    if !failing {
                        failing = true;
                        self.failing_writes.fetch_add(1, Ordering::SeqCst);
                        self.refresh_health();
                    }
                    if attempt.is_multiple_of(10) {
                        warn!(
                            namespace = %namespace,
                            spans = count,
                            attempt,
                            error = %error,
                            "storage write failed; retrying (offsets are not committed past it)"
                        );
                    }
                    if !self.sleep_unless_abandoned(self.backoff.delay(attempt)).await {
                        break WriteOutcome::Abandoned;
                    }
                    self.metrics.retry_attempts.inc();
                    attempt = attempt.saturating_add(1);
                }
                Err(error) => {
                    self.metrics.write_latency.get_or_create(&ResultLabels { result: "permanent" }).observe(elapsed);
                    self.metrics.processor_errors.inc();
                    break WriteOutcome::Rejected(error);
                }
            }
        };
        if failing {
            self.failing_writes.fetch_sub(1, Ordering::SeqCst);
            self.refresh_health();
        }
        outcome
    }

    /// The store refused `parts` for good: split them in halves until the refused messages are
    /// found, dead-letter those and write the rest.
    async fn isolate_rejected(&self, namespace: &Namespace, parts: Vec<Part>, error: StorageError) {
        if parts.len() == 1 {
            self.dead_letter_part(&parts[0], &error).await;
            return;
        }
        warn!(
            namespace = %namespace,
            messages = parts.len(),
            error = %error,
            "store rejected a batch; splitting it to find the rejected messages"
        );
        let mut groups = split_in_two(parts);
        while let Some(group) = groups.pop() {
            let spans = self.decode_parts(&group, namespace);
            match self.write_with_retry(namespace, spans, &group).await {
                WriteOutcome::Written => self.finish_parts(&group),
                WriteOutcome::Abandoned => return,
                WriteOutcome::Rejected(error) if group.len() == 1 => {
                    if !self.dead_letter_part(&group[0], &error).await {
                        return;
                    }
                }
                WriteOutcome::Rejected(_) => groups.extend(split_in_two(group)),
            }
        }
    }

    /// Dead-letters the message of a refused part (once per message) and finishes the part.
    async fn dead_letter_part(&self, part: &Part, error: &StorageError) -> bool {
        let message = &part.message;
        let reason = match error.kind() {
            ErrorKind::UnknownNamespace => DeadLetterReason::UnknownNamespace,
            _ => DeadLetterReason::StorageRejected,
        };
        if !message.dead_lettered.swap(true, Ordering::SeqCst) {
            warn!(
                partition = message.message.partition,
                offset = message.message.offset,
                reason = reason.as_str(),
                error = %error,
                "store rejected a message; dead-lettering it"
            );
            let detail = format!("store rejected the spans: {error}");
            if !self.dead_letter(&message.message, reason, &detail).await {
                message.dead_lettered.store(false, Ordering::SeqCst);
                return false;
            }
        }
        self.complete(&[message.message_ref]);
        true
    }

    /// Commits the partitions whose durable position moved (`all`: every partition's position).
    fn commit_positions<K: Consumer<IngesterContext>>(&self, consumer: &K, mode: CommitMode, all: bool) {
        let positions = {
            let mut state = self.state.lock();
            if all {
                state.offsets.all_commits()
            } else {
                state.offsets.due_commits()
            }
        };
        if positions.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::with_capacity(positions.len());
        for &(partition, position) in &positions {
            if let Err(error) = list.add_partition_offset(&self.config.topic, partition, Offset::Offset(position)) {
                warn!(partition, error = %error, "cannot build the offset commit");
            }
        }
        match consumer.commit(&list, mode) {
            Ok(()) => self.count_commits(&positions),
            Err(error) => {
                warn!(error = %error, "offset commit failed; it is retried");
                let mut state = self.state.lock();
                for (partition, position) in positions {
                    state.offsets.commit_failed(partition, position);
                }
            }
        }
    }

    /// Commits sent (asynchronous) or acknowledged (synchronous).
    fn count_commits(&self, positions: &[(i32, i64)]) {
        for &(partition, position) in positions {
            let labels = self.partition_labels(partition);
            self.metrics.offset_commits.get_or_create(&labels).inc();
            self.metrics.last_committed_offset.get_or_create(&labels).set(position);
        }
    }

    /// Pauses the assigned partitions while too many spans are pending, resumes below half.
    fn apply_backpressure(&self, consumer: &StreamConsumer<IngesterContext>) {
        let pending = self.state.lock().offsets.pending_weight();
        self.metrics.pending_spans.set(i64::try_from(pending).unwrap_or(i64::MAX));
        let paused = self.paused.load(Ordering::SeqCst);
        let limit = self.config.max_pending_spans;
        if !paused && pending >= limit {
            let Ok(assignment) = consumer.assignment() else { return };
            match consumer.pause(&assignment) {
                Ok(()) => {
                    self.paused.store(true, Ordering::SeqCst);
                    self.metrics.paused.set(1);
                    info!(pending_spans = pending, limit, "pausing partitions until pending spans are written");
                }
                Err(error) => warn!(error = %error, "cannot pause partitions"),
            }
        } else if paused && pending <= limit / 2 {
            let Ok(assignment) = consumer.assignment() else { return };
            match consumer.resume(&assignment) {
                Ok(()) => {
                    self.paused.store(false, Ordering::SeqCst);
                    self.metrics.paused.set(0);
                    info!(pending_spans = pending, "resuming partitions");
                }
                Err(error) => warn!(error = %error, "cannot resume partitions"),
            }
        }
    }

    /// Waits (asynchronously) until `done` holds for the state.
    async fn wait_until(&self, done: impl Fn(&State) -> bool) {
        let mut progress = self.progress.subscribe();
        loop {
            if done(&self.state.lock()) {
                return;
            }
            if progress.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits from a synchronous callback (the rebalance callback runs inside the consumer task's
    /// poll) for at most `timeout`. Needs a multi-threaded runtime: there the consumer task's
    /// worker hands its other tasks over while it blocks; elsewhere it does not wait.
    fn wait_blocking(&self, done: impl Fn(&State) -> bool, timeout: Duration) -> bool {
        if done(&self.state.lock()) {
            return true;
        }
        let Ok(handle) = Handle::try_current() else {
            return false;
        };
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            debug!("not waiting for in-flight writes: not on a multi-threaded runtime");
            return false;
        }
        tokio::task::block_in_place(|| {
            handle.block_on(async { tokio::time::timeout(timeout, self.wait_until(&done)).await.is_ok() })
        })
    }

    fn on_revoke(self: &Arc<Self>, consumer: &BaseConsumer<IngesterContext>, list: &TopicPartitionList) {
        self.metrics.rebalances.get_or_create(&EventLabels { event: "revoke" }).inc();
        let partitions: Vec<i32> =
            list.elements_for_topic(&self.config.topic).iter().map(|element| element.partition()).collect();
        if partitions.is_empty() {
            return;
        }
        let lost = consumer.assignment_lost();
        let mut drained = true;
        if !lost && !self.stopping.load(Ordering::SeqCst) {
            self.flush(true);
            let revoked = partitions.clone();
            drained = self.wait_blocking(
                move |state| revoked.iter().all(|&partition| !state.offsets.has_unfinished(partition)),
                self.config.revoke_flush_timeout,
            );
        }
        let mut commit = TopicPartitionList::new();
        let mut positions = Vec::new();
        {
            let mut state = self.state.lock();
            for &partition in &partitions {
                if let Some(position) = state.offsets.remove(partition) {
                    let _ = commit.add_partition_offset(&self.config.topic, partition, Offset::Offset(position));
                    positions.push((partition, position));
                }
                state.assigned.remove(&partition);
            }
            self.metrics.partitions_held.set(state.assigned.len() as i64);
        }
        if !lost && commit.count() > 0 {
            match consumer.commit(&commit, CommitMode::Sync) {
                Ok(()) => self.count_commits(&positions),
                Err(error) => {
                    warn!(error = %error, "offset commit on revocation failed; the next owner re-reads from the last commit")
                }
            }
        }
        for &partition in &partitions {
            let labels = self.partition_labels(partition);
            self.metrics.partition_close.get_or_create(&labels).inc();
            self.metrics.offset_lag.remove(&labels);
        }
        info!(partitions = ?partitions, lost, drained, "partitions revoked");
        self.refresh_health();
    }

    fn on_assign(&self, consumer: &BaseConsumer<IngesterContext>, list: &TopicPartitionList) {
        let partitions: Vec<i32> =
            list.elements_for_topic(&self.config.topic).iter().map(|element| element.partition()).collect();
        {
            let mut state = self.state.lock();
            state.assigned.extend(partitions.iter().copied());
            self.metrics.partitions_held.set(state.assigned.len() as i64);
        }
        for &partition in &partitions {
            self.metrics.partition_start.get_or_create(&self.partition_labels(partition)).inc();
        }
        if self.paused.load(Ordering::SeqCst) && list.count() > 0 {
            if let Err(error) = consumer.pause(list) {
                warn!(error = %error, "cannot pause newly assigned partitions");
            }
        }
        self.joined.store(true, Ordering::SeqCst);
        info!(partitions = ?partitions, "partitions assigned");
        self.refresh_health();
    }

    fn refresh_health(&self) {
        let assigned_partitions = self.state.lock().assigned.len();
        let health = if self.stopping.load(Ordering::SeqCst) {
            IngesterHealth::Stopped
        } else if !self.joined.load(Ordering::SeqCst) {
            IngesterHealth::Starting
        } else if self.failing_writes.load(Ordering::SeqCst) > 0 {
            IngesterHealth::StorageFailing { assigned_partitions }
        } else {
            IngesterHealth::Ready { assigned_partitions }
        };
        self.health.send_if_modified(|current| {
            let changed = *current != health;
            *current = health;
            changed
        });
    }

    async fn shutdown(self: &Arc<Self>, consumer: StreamConsumer<IngesterContext>) {
        info!("ingester stopping: writing what it holds and committing");
        if let Ok(assignment) = consumer.assignment() {
            let _ = consumer.pause(&assignment);
        }
        self.flush(true);
        let drained = tokio::time::timeout(
            self.config.shutdown_timeout,
            self.wait_until(|state| state.offsets.pending_weight() == 0),
        )
        .await
        .is_ok();
        if !drained {
            let pending = self.state.lock().offsets.pending_weight();
            warn!(pending_spans = pending, "shutdown timeout: unwritten spans are read again after a restart");
        }
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.abandon.send(true);
        self.commit_positions(&consumer, CommitMode::Sync, true);
        // Closing polls the consumer until librdkafka is done (revocation callback included);
        // a static member does not leave the group.
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        self.refresh_health();
        info!("ingester stopped");
    }
}

fn split_in_two(mut parts: Vec<Part>) -> Vec<Vec<Part>> {
    let right = parts.split_off(parts.len() / 2);
    [parts, right].into_iter().filter(|group| !group.is_empty()).collect()
}

/// librdkafka callbacks: rebalances, commits, statistics, errors.
struct IngesterContext {
    core: Arc<Core>,
}

impl ClientContext for IngesterContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.core.config.topic) else {
            return;
        };
        let assigned = self.core.state.lock().assigned.clone();
        for (&partition, stats) in &topic.partitions {
            if partition < 0 || !assigned.contains(&partition) {
                continue;
            }
            let lag = if stats.hi_offset >= 0 && stats.app_offset >= 0 {
                stats.hi_offset - stats.app_offset
            } else if stats.consumer_lag >= 0 {
                stats.consumer_lag
            } else {
                continue;
            };
            self.core.metrics.offset_lag.get_or_create(&self.core.partition_labels(partition)).set(lag.max(0));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.core.metrics.consumer_errors.inc();
        // The same error (a broker down, a missing topic) repeats; log it when it changes.
        let text = format!("{error}: {reason}");
        let mut last = self.core.last_client_error.lock();
        if last.as_deref() != Some(text.as_str()) {
            warn!(error = %error, reason, "kafka client error");
            *last = Some(text);
        }
    }
}

impl ConsumerContext for IngesterContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => self.core.on_revoke(consumer, list),
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => {
                self.core.metrics.rebalances.get_or_create(&EventLabels { event: "error" }).inc();
                warn!(error = %error, "rebalance failed");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.core.metrics.rebalances.get_or_create(&EventLabels { event: "assign" }).inc();
            self.core.on_assign(consumer, list);
        }
    }

    /// Only failures matter here (successes were counted when sent): a failed position is
    /// handed out again by the next periodic commit.
    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, offsets: &TopicPartitionList) {
        let mut failed = 0;
        for element in offsets.elements_for_topic(&self.core.config.topic) {
            let Offset::Offset(position) = element.offset() else {
                continue;
            };
            if result.is_err() || element.error().is_err() {
                self.core.state.lock().offsets.commit_failed(element.partition(), position);
                failed += 1;
            }
        }
        if let Err(error) = result {
            debug!(error = %error, failed, "offset commit failed");
        }
    }
}
