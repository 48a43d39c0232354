//! Load test of [`KafkaSpanWriter`] against a real broker: spans per second and CPU-seconds (of
//! this process: encoding, librdkafka, tokio) per million spans.
//!
//! ```text
//! tests/infra/kafka start
//! cargo run --release -p spoor-collector --example kafka_producer_load
//! SPANS=2000000 BATCH=100 CONCURRENCY=32 ENCODING=protobuf LINGER_MS=5 COMPRESSION=lz4 PARTITIONS=3 \
//!     cargo run --release -p spoor-collector --example kafka_producer_load
//! ```
//!
//! Each write is one batch of `BATCH` spans (about 10 tags each, like an HTTP server span) in a
//! fresh trace; `CONCURRENCY` writes are in flight at once, as from that many receiver requests.
//! The topic is new per run (`PARTITIONS` partitions). The broker runs on the same machine, so
//! its CPU competes with ours; CPU-seconds count this process only (`/proc/self/stat`).
//!
//! `SPOOL_DIR=/path` adds the disk spool; with `OFFLINE=1` as well, the writer points at a port
//! where nothing listens, so after the first delivery timeout every batch goes to the spool: that
//! measures the spool's append rate (one `fsync` per batch).

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use spoor_collector::kafka::{KafkaProducerConfig, KafkaSpanWriter, SpoolConfig};
use spoor_model::{KeyValue, Log, Namespace, Process, Span, SpanBatch, SpanId, SpanRef, TraceId, FLAG_SAMPLED};
use spoor_storage::SpanWriter;

// The spoor binary's allocator, so the CPU figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// User plus system CPU time of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the name; Linux
    // reports them in USER_HZ, which is 100 on every mainstream architecture.
    (ticks(11) + ticks(12)) / 100.0
}

fn batch(template: &SpanBatch, number: u64) -> SpanBatch {
    let trace_id = TraceId::new(number, number.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut batch = template.clone();
    for (index, span) in batch.spans.iter_mut().enumerate() {
        span.trace_id = trace_id;
        span.span_id = SpanId(number * 1_000 + index as u64 + 1);
        if let Some(reference) = span.references.first_mut() {
            reference.trace_id = trace_id;
            reference.span_id = SpanId(number * 1_000 + 1);
        }
    }
    batch
}

fn template(spans: usize) -> SpanBatch {
    let process = Arc::new(Process {
        service_name: "checkout".into(),
        tags: vec![
            KeyValue::string("host.name", "checkout-7d9f8b6c5-x2x9p"),
            KeyValue::string("telemetry.sdk.language", "go"),
            KeyValue::string("k8s.namespace.name", "shop"),
        ],
    });
    let start = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    SpanBatch::new(
        (0..spans)
            .map(|index| Span {
                trace_id: TraceId::new(1, 1),
                span_id: SpanId(index as u64 + 1),
                operation_name: "HTTP GET /api/cart/{id}".into(),
                references: if index == 0 { vec![] } else { vec![SpanRef::child_of(TraceId::new(1, 1), SpanId(1))] },
                flags: FLAG_SAMPLED,
                start_time_unix_nano: start + index as u64 * 1_000,
                duration_nanos: 1_234_000,
                tags: vec![
                    KeyValue::string("span.kind", "server"),
                    KeyValue::string("http.method", "GET"),
                    KeyValue::string("http.route", "/api/cart/{id}"),
                    KeyValue::string("http.url", "http://checkout.shop.svc:8080/api/cart/12345?currency=EUR"),
                    KeyValue::int64("http.status_code", 200),
                    KeyValue::string("net.peer.ip", "10.1.2.3"),
                    KeyValue::int64("net.peer.port", 51234),
                    KeyValue::string("otel.scope.name", "go.opentelemetry.io/contrib/net/http"),
                    KeyValue::bool("cache.hit", index % 3 == 0),
                    KeyValue::float64("sampler.param", 0.1),
                ],
                logs: vec![Log {
                    timestamp_unix_nano: start + 500_000,
                    fields: vec![KeyValue::string("event", "cart loaded"), KeyValue::int64("items", 3)],
                }],
                process: Arc::clone(&process),
                warnings: vec![],
                scope_attributes: Vec::new(),
            })
            .collect(),
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let total_spans: u64 = env_or("SPANS", 1_000_000);
    let batch_spans: usize = env_or("BATCH", 100);
    let concurrency: usize = env_or("CONCURRENCY", 32);
    let partitions: i32 = env_or("PARTITIONS", 1);
    let encoding = std::env::var("ENCODING").unwrap_or_else(|_| "protobuf".to_owned()).parse()?;
    let compression = std::env::var("COMPRESSION").unwrap_or_else(|_| "none".to_owned()).parse()?;
    let linger_ms: u64 = env_or("LINGER_MS", 0);

    let offline = std::env::var("OFFLINE").is_ok_and(|v| v == "1");
    let brokers = if offline { "127.0.0.1:1".to_owned() } else { brokers };
    let topic = format!("spoor-bench-{}", SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis());
    if !offline {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &brokers).create()?;
        for result in admin
            .create_topics(&[NewTopic::new(&topic, partitions, TopicReplication::Fixed(1))], &AdminOptions::new())
            .await?
        {
            result.map_err(|(name, code)| format!("cannot create topic {name}: {code:?}"))?;
        }
    }
    let mut spool = SpoolConfig::default();
    if let Ok(directory) = std::env::var("SPOOL_DIR") {
        spool = SpoolConfig { max_bytes: 64 * 1024 * 1024 * 1024, ..SpoolConfig::in_directory(directory) };
    }

    let config = KafkaProducerConfig {
        brokers: vec![brokers.clone()],
        topic: topic.clone(),
        encoding,
        compression,
        batch_linger_ms: linger_ms,
        delivery_timeout_ms: if offline { 500 } else { 30_000 },
        spool,
        ..KafkaProducerConfig::default()
    };
    let writer = Arc::new(KafkaSpanWriter::new(config, &mut Registry::default())?);
    let template = Arc::new(template(batch_spans));
    let namespace = Namespace::new("bench");
    let encoded_bytes = spoor_model::kafka::encode_span(encoding, &template.spans[1]).len();
    writer.write(&namespace, batch(&template, 0)).await?; // connect and warm up

    let batches = total_spans.div_ceil(batch_spans as u64);
    // What making and dropping the input batches costs alone (a receiver's decoding does this).
    let input_cpu_before = cpu_seconds();
    for number in 1..=batches {
        std::hint::black_box(batch(&template, number));
    }
    let input_cpu = cpu_seconds() - input_cpu_before;
    let next = Arc::new(AtomicU64::new(1));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (writer, template, namespace, next) =
            (Arc::clone(&writer), Arc::clone(&template), namespace.clone(), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                if number > batches {
                    return Ok::<(), spoor_storage::StorageError>(());
                }
                writer.write(&namespace, batch(&template, number)).await?;
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let spans = batches * batch_spans as u64;
    let failed = writer.metrics().spans_failed();
    let spooled = writer.metrics().spooled_spans();
    writer.close().await;

    println!(
        "kafka_producer_load: {spans} spans in {:.2} s = {:.0} spans/s; CPU {:.2} s = {:.2} CPU-s per million spans",
        elapsed.as_secs_f64(),
        spans as f64 / elapsed.as_secs_f64(),
        cpu,
        cpu / (spans as f64 / 1e6),
    );
    println!("  of which making the input batches: {:.2} CPU-s per million spans", input_cpu / (spans as f64 / 1e6));
    println!(
        "  encoding={encoding} (~{encoded_bytes} B/span) compression={compression} linger_ms={linger_ms} batch={batch_spans} \
         concurrency={concurrency} partitions={partitions} failed={failed} spooled={spooled} topic={topic}"
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
