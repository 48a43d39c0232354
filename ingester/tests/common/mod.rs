//! Helpers of the ingester's Kafka tests: topics, producing spans, a store that fails on demand,
//! committed offsets and metrics.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use spoor_ingester::{Ingester, IngesterConfig, IngesterHealth, NamespaceFn};
use spoor_model::kafka::{encode_span, message_key, KafkaEncoding};
use spoor_model::{KeyValue, Namespace, Process, Span, SpanBatch, SpanId, TraceId, FLAG_SAMPLED};
use spoor_storage::{MemoryStore, SpanWriter, StorageError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("spoor-ingester-{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

pub async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let results = admin.create_topics([&topic], &options).await.expect("create topics");
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => panic!("cannot create topic {topic}: {code}"),
        }
    }
}

pub fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Span `index` of a test run: four spans per trace, service `service`.
pub fn span(run: u64, index: u64, service: &str) -> Span {
    Span {
        trace_id: TraceId::new(run, index / 4 + 1),
        span_id: SpanId(index + 1),
        operation_name: format!("op-{}", index % 7),
        references: Vec::new(),
        flags: FLAG_SAMPLED,
        start_time_unix_nano: 1_700_000_000_000_000_000 + index * 1_000_000,
        duration_nanos: 1_000_000 + index,
        tags: vec![KeyValue::string("http.method", "GET"), KeyValue::int64("index", index as i64)],
        logs: Vec::new(),
        process: Arc::new(Process {
            service_name: service.to_owned(),
            tags: vec![KeyValue::string("hostname", "test-host")],
        }),
        warnings: Vec::new(),
        scope_attributes: Vec::new(),
    }
}

/// A run id, so spans of different tests and runs differ.
pub fn run_id() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1
}

/// Produces spans one per message, keyed by trace id. `headers`: Spoor's encoding and namespace
/// headers (`None`: no headers at all, as Jaeger's collector).
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    spans: &[Span],
    encoding: KafkaEncoding,
    namespace_header: Option<&str>,
    with_encoding_header: bool,
) {
    let sends = spans.iter().map(|span| {
        let payload = encode_span(encoding, span);
        let key = message_key(span);
        let mut headers = None;
        if with_encoding_header || namespace_header.is_some() {
            let mut owned = OwnedHeaders::new();
            if with_encoding_header {
                owned = owned.insert(Header { key: "spoor-encoding", value: Some(encoding.as_str()) });
            }
            if let Some(namespace) = namespace_header {
                owned = owned.insert(Header { key: "spoor-namespace", value: Some(namespace) });
            }
            headers = Some(owned);
        }
        async move {
            let mut record = FutureRecord::to(topic).key(&key).payload(&payload);
            if let Some(headers) = headers {
                record = record.headers(headers);
            }
            producer.send(record, Duration::from_secs(10)).await.map_err(|(error, _)| error).expect("produce");
        }
    });
    futures::future::join_all(sends).await;
}

/// Produces raw bytes (a poison message) to one partition.
pub async fn produce_raw(producer: &FutureProducer, topic: &str, partition: i32, key: &str, payload: &[u8]) {
    let record = FutureRecord::to(topic).partition(partition).key(key).payload(payload);
    producer.send(record, Duration::from_secs(10)).await.map_err(|(error, _)| error).expect("produce");
}

/// A span's identity in a test.
pub type SpanKey = (String, TraceId, SpanId);

/// A store that fails on demand: `failing` makes every write fail with a retryable error,
/// `rejected_service` makes writes containing that service fail permanently. Successful writes
/// go to a [`MemoryStore`] and are recorded by span identity.
#[derive(Default)]
pub struct TestWriter {
    pub store: MemoryStore,
    pub failing: AtomicBool,
    pub rejected_service: Mutex<Option<String>>,
    pub stored: Mutex<HashSet<SpanKey>>,
    pub spans_written: AtomicUsize,
    pub failed_writes: AtomicUsize,
    pub rejected_writes: AtomicUsize,
}

impl TestWriter {
    pub fn stored_count(&self) -> usize {
        self.stored.lock().len()
    }

    /// How many spans the memory store holds for the traces of `spans` in `namespace` (a span
    /// written twice is stored once).
    pub async fn spans_in_store(&self, namespace: &str, spans: &[Span]) -> usize {
        use spoor_storage::{GetTraceRequest, SpanReader};
        let trace_ids: std::collections::BTreeSet<TraceId> = spans.iter().map(|span| span.trace_id).collect();
        let namespace = Namespace::new(namespace);
        let mut count = 0;
        for trace_id in trace_ids {
            let trace = self.store.get_trace(&namespace, GetTraceRequest::new(trace_id)).await.expect("get trace");
            count += trace.map_or(0, |trace| trace.spans.len());
        }
        count
    }

    pub fn contains(&self, namespace: &str, span: &Span) -> bool {
        self.stored.lock().contains(&(namespace.to_owned(), span.trace_id, span.span_id))
    }
}

#[async_trait]
impl SpanWriter for TestWriter {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> Result<(), StorageError> {
        if self.failing.load(Ordering::SeqCst) {
            self.failed_writes.fetch_add(1, Ordering::SeqCst);
            return Err(StorageError::Unavailable("test store is down".into()));
        }
        let rejected = self.rejected_service.lock().clone();
        if let Some(service) = rejected {
            if batch.spans.iter().any(|span| span.service_name() == service) {
                self.rejected_writes.fetch_add(1, Ordering::SeqCst);
                return Err(StorageError::InvalidQuery(format!("service {service} is not accepted")));
            }
        }
        let keys: Vec<SpanKey> =
            batch.spans.iter().map(|span| (ns.as_str().to_owned(), span.trace_id, span.span_id)).collect();
        self.spans_written.fetch_add(keys.len(), Ordering::SeqCst);
        self.store.write(ns, batch).await?;
        self.stored.lock().extend(keys);
        Ok(())
    }
}

/// Test defaults: short delays so tests are quick.
pub fn config(topic: &str, group: &str) -> IngesterConfig {
    IngesterConfig {
        brokers: brokers(),
        topic: topic.to_owned(),
        group_id: group.to_owned(),
        client_id: "spoor-ingester-test".to_owned(),
        max_batch_delay: Duration::from_millis(50),
        commit_interval: Duration::from_millis(200),
        retry_initial_backoff: Duration::from_millis(20),
        retry_max_backoff: Duration::from_millis(200),
        statistics_interval: Duration::from_secs(1),
        shutdown_timeout: Duration::from_secs(10),
        ..IngesterConfig::default()
    }
}

pub fn default_namespace() -> NamespaceFn {
    Arc::new(|_: &Span| Namespace::default_namespace())
}

/// A running ingester: its metrics, health, and how to stop it.
pub struct Running {
    pub registry: Registry,
    pub health: watch::Receiver<IngesterHealth>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), spoor_ingester::IngesterError>>>,
}

impl Running {
    pub fn start(config: IngesterConfig, writer: Arc<TestWriter>, namespace_of: NamespaceFn) -> Self {
        let mut registry = Registry::default();
        let ingester = Ingester::new(config, writer, namespace_of, &mut registry).expect("ingester");
        let health = ingester.health();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ingester.run(async move {
            let _ = stopped.await;
        }));
        Self { registry, health, stop: Some(stop), task: Some(task) }
    }

    /// Graceful shutdown: flush, commit, close.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("ingester task").expect("ingester run");
        }
    }

    /// A crash: the ingester's future is dropped mid-stream, nothing more is flushed.
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub async fn wait_ready(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.health.wait_for(IngesterHealth::is_ready)).await.is_ok()
    }

    pub fn assigned_partitions(&self) -> usize {
        match &*self.health.borrow() {
            IngesterHealth::Ready { assigned_partitions } | IngesterHealth::StorageFailing { assigned_partitions } => {
                *assigned_partitions
            }
            _ => 0,
        }
    }

    /// The sum of every sample of `name` whose labels contain all of `labels` (text format).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.registry, name, labels)
    }

    /// How many series of `name` match `labels`.
    pub fn metric_count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        metric_samples(&self.registry, name, labels).len()
    }

    pub fn metrics_text(&self) -> String {
        metrics_text(&self.registry)
    }
}

pub fn metrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode metrics");
    text
}

/// The samples of `name` whose labels contain all of `labels`: (series, value).
pub fn metric_samples(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> Vec<(String, f64)> {
    let text = metrics_text(registry);
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let series_name = series.split('{').next().unwrap_or(series);
        if series_name != name {
            continue;
        }
        if labels.iter().all(|(key, value)| series.contains(&format!("{key}=\"{value}\""))) {
            samples.push((series.to_owned(), value.parse::<f64>().unwrap_or(0.0)));
        }
    }
    samples
}

pub fn metric_value(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_samples(registry, name, labels).iter().map(|(_, value)| value).sum()
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
pub async fn wait_until<F: FnMut() -> bool>(timeout: Duration, mut condition: F) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Committed offsets of `group` on `topic`, by partition (`None`: nothing committed).
pub fn committed_offsets(group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, Option<i64>> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers()).set("group.id", group).create().expect("consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10)).expect("committed offsets");
    committed
        .elements_for_topic(topic)
        .iter()
        .map(|element| {
            let offset = match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            (element.partition(), offset)
        })
        .collect()
}

/// The high watermark (end offset) of every partition.
pub fn end_offsets(topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("consumer");
    (0..partitions)
        .map(|partition| {
            let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)).expect("watermarks");
            (partition, high)
        })
        .collect()
}

/// Reads every message of `topic` from the start until `expected` arrived or `timeout` passed.
pub fn read_topic(topic: &str, expected: usize, timeout: Duration) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut messages = Vec::new();
    while messages.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            messages.push(message.detach());
        }
    }
    messages
}
