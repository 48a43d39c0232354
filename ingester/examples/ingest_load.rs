//! Ingest throughput: pre-fills a fresh topic with encoded spans, then times one ingester
//! draining it into a store, from start until every span is durably written.
//!
//! ```text
//! tests/infra/kafka start
//! cargo run --release -p spoor-ingester --example ingest_load -- \
//!     [--spans 200000] [--partitions 6] [--store memory|embedded|null] [--encoding protobuf|json|otlp_proto] \
//!     [--batch 1000] [--in-flight 4]
//! ```
//! `KAFKA_BROKERS` (default `127.0.0.1:9092`) names the broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use prometheus_client::registry::Registry;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use spoor_ingester::{Ingester, IngesterConfig, IngesterHealth};
use spoor_model::kafka::{encode_span, message_key, KafkaEncoding};
use spoor_model::{KeyValue, Namespace, Process, Span, SpanBatch, SpanId, TraceId, FLAG_SAMPLED};
use spoor_storage::{EmbeddedConfig, EmbeddedStore, MemoryStore, SpanWriter, StorageError};

struct Options {
    spans: usize,
    partitions: i32,
    store: String,
    encoding: KafkaEncoding,
    batch: usize,
    in_flight: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        spans: 200_000,
        partitions: 6,
        store: "memory".into(),
        encoding: KafkaEncoding::Protobuf,
        batch: 1000,
        in_flight: 4,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--spans" => options.spans = value.parse()?,
            "--partitions" => options.partitions = value.parse()?,
            "--store" => options.store = value,
            "--encoding" => options.encoding = value.parse()?,
            "--batch" => options.batch = value.parse()?,
            "--in-flight" => options.in_flight = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(options)
}

/// Counts spans written through to the wrapped store (or nowhere, for `null`).
struct Counting {
    inner: Option<Arc<dyn SpanWriter>>,
    spans: AtomicUsize,
}

#[async_trait]
impl SpanWriter for Counting {
    async fn write(&self, ns: &Namespace, batch: SpanBatch) -> Result<(), StorageError> {
        let count = batch.len();
        if let Some(inner) = &self.inner {
            inner.write(ns, batch).await?;
        }
        self.spans.fetch_add(count, Ordering::Relaxed);
        Ok(())
    }
}

/// An Envoy-like span: 10 tags, 4 process tags.
fn span(run: u64, index: u64) -> Span {
    let service = ["frontend", "cart", "checkout", "payments"][(index % 4) as usize];
    Span {
        trace_id: TraceId::new(run, index / 8 + 1),
        span_id: SpanId(index + 1),
        operation_name: format!("GET /api/v1/items/{}", index % 50),
        references: Vec::new(),
        flags: FLAG_SAMPLED,
        start_time_unix_nano: 1_700_000_000_000_000_000 + index * 100_000,
        duration_nanos: 1_000_000 + index % 10_000,
        tags: vec![
            KeyValue::string("component", "proxy"),
            KeyValue::string("http.method", "GET"),
            KeyValue::string("http.url", format!("http://cart.shop.svc:8080/api/v1/items/{}", index % 50)),
            KeyValue::int64("http.status_code", 200),
            KeyValue::string("upstream_cluster", "outbound|8080||cart.shop.svc.cluster.local"),
            KeyValue::string("node_id", "sidecar~10.1.2.3~cart-6d9f.shop~shop.svc.cluster.local"),
            KeyValue::string("guid:x-request-id", format!("{index:032x}")),
            KeyValue::string("response_flags", "-"),
            KeyValue::string("span.kind", "server"),
            KeyValue::int64("response_size", 1234),
        ],
        logs: Vec::new(),
        process: Arc::new(Process {
            service_name: service.to_owned(),
            tags: vec![
                KeyValue::string("hostname", "cart-6d9f"),
                KeyValue::string("ip", "10.1.2.3"),
                KeyValue::string("k8s.namespace.name", "shop"),
                KeyValue::string("client-uuid", "0123456789abcdef"),
            ],
        }),
        warnings: Vec::new(),
        scope_attributes: Vec::new(),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let topic = format!("spoor-ingest-load-{nanos}");

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", &brokers).create()?;
    let new_topic = NewTopic::new(&topic, options.partitions, TopicReplication::Fixed(1));
    for result in admin.create_topics([&new_topic], &AdminOptions::new()).await? {
        result.map_err(|(topic, code)| anyhow::anyhow!("cannot create {topic}: {code}"))?;
    }

    let run = (nanos as u64) | 1;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "lz4")
        .create()?;
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut deliveries = Vec::with_capacity(options.spans);
    for index in 0..options.spans as u64 {
        let span = span(run, index);
        let payload = encode_span(options.encoding, &span);
        bytes += payload.len();
        let key = message_key(&span);
        let record = FutureRecord::to(&topic).key(&key).payload(&payload);
        let delivery = producer.send_result(record).map_err(|(error, _)| error)?;
        deliveries.push(delivery);
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(error, _)| error)?;
    }
    let produce_secs = started.elapsed().as_secs_f64();
    println!(
        "pre-filled {} spans ({:.0} B/message, {}) into {} partitions in {:.2} s ({:.0} spans/s)",
        options.spans,
        bytes as f64 / options.spans as f64,
        options.encoding,
        options.partitions,
        produce_secs,
        options.spans as f64 / produce_secs
    );

    let data_dir = std::env::temp_dir().join(format!("spoor-ingest-load-{nanos}"));
    let inner: Option<Arc<dyn SpanWriter>> = match options.store.as_str() {
        "memory" => Some(Arc::new(MemoryStore::new())),
        "embedded" => Some(Arc::new(EmbeddedStore::open(EmbeddedConfig::new(&data_dir))?)),
        "null" => None,
        other => bail!("unknown store {other}: memory, embedded or null"),
    };
    let writer = Arc::new(Counting { inner, spans: AtomicUsize::new(0) });
    let config = IngesterConfig {
        brokers,
        topic: topic.clone(),
        group_id: format!("{topic}-group"),
        encoding: options.encoding,
        max_batch_spans: options.batch,
        max_in_flight_batches: options.in_flight,
        max_pending_spans: options.batch * options.in_flight * 4,
        ..IngesterConfig::default()
    };
    let mut registry = Registry::default();
    let namespace_of = Arc::new(|_: &Span| Namespace::default_namespace());
    let ingester = Ingester::new(config, writer.clone(), namespace_of, &mut registry)?;
    let mut health = ingester.health();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(ingester.run(async move {
        let _ = stopped.await;
    }));
    health.wait_for(IngesterHealth::is_ready).await?;
    let joined = started.elapsed().as_secs_f64();
    let mut first_span_at = None;
    let (mut last_count, mut last_progress) = (0, Instant::now());
    loop {
        let count = writer.spans.load(Ordering::Relaxed);
        if count >= options.spans {
            break;
        }
        if first_span_at.is_none() && count > 0 {
            first_span_at = Some(started.elapsed().as_secs_f64());
        }
        if count != last_count {
            (last_count, last_progress) = (count, Instant::now());
        } else if last_progress.elapsed() > Duration::from_secs(20) {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry)?;
            let interesting = text.lines().filter(|line| !line.starts_with('#') && !line.contains("_bucket"));
            eprintln!("{}", interesting.collect::<Vec<_>>().join("\n"));
            bail!("stalled at {count} of {} spans", options.spans);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let total = started.elapsed().as_secs_f64();
    let first = first_span_at.unwrap_or(joined);
    let _ = stop.send(());
    task.await??;
    println!(
        "ingested {} spans into {} in {:.2} s from start ({:.0} spans/s); joined after {:.2} s, first write after {:.2} s, \
         steady {:.0} spans/s",
        options.spans,
        options.store,
        total,
        options.spans as f64 / total,
        joined,
        first,
        options.spans as f64 / (total - first).max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}
