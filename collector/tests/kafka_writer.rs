//! The Kafka span writer against nothing (a port where nobody listens: the spool takes over) and
//! against the real broker of `tests/infra/kafka` (ignored unless run with `--ignored`; the
//! broker address comes from `KAFKA_BROKERS`, default 127.0.0.1:9092). Every test with a broker
//! uses its own topic.
//!
//! The outage test puts a small TCP forwarder between the writer and the broker that can be
//! switched off and on. Kafka tells clients where its brokers are (the advertised listener), so
//! the forwarder rewrites the broker port in the responses it relays (a length-preserving patch
//! of `127.0.0.1` + port); otherwise librdkafka would connect to the broker directly after the
//! first metadata request.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::registry::Registry;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::ClientConfig;
use spoor_collector::kafka::{KafkaProducerConfig, KafkaSpanWriter, SpoolConfig, WriterHealth};
use spoor_model::kafka::{decode_message, KafkaEncoding, ENCODING_HEADER, NAMESPACE_HEADER};
use spoor_model::{KeyValue, Namespace, Process, Span, SpanBatch, SpanId, TraceId, FLAG_SAMPLED};
use spoor_storage::{ErrorKind, SpanWriter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn unique(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() % 1_000_000_000_000;
    format!("spoor-test-{name}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Spans of batch `batch`, `count` of them, each with a unique span id; the operation name says
/// which batch it came from.
fn spans(batch: u64, count: u64) -> SpanBatch {
    let process = Arc::new(Process { service_name: "kafka-test".into(), tags: vec![KeyValue::string("host", "h")] });
    SpanBatch::new(
        (0..count)
            .map(|index| Span {
                trace_id: if index % 2 == 0 { TraceId::new(0, 1000 + batch) } else { TraceId::new(7, 1000 + batch) },
                span_id: SpanId(batch * 10_000 + index + 1),
                operation_name: format!("batch-{batch:04}"),
                references: vec![],
                flags: FLAG_SAMPLED,
                start_time_unix_nano: 1_700_000_000_000_000_000 + index * 1000,
                duration_nanos: 1_000_000,
                tags: vec![KeyValue::int64("index", index as i64), KeyValue::string("kind", "test")],
                logs: vec![],
                process: Arc::clone(&process),
                warnings: vec![],
                scope_attributes: Vec::new(),
            })
            .collect(),
    )
}

fn config(brokers: &str, topic: &str) -> KafkaProducerConfig {
    KafkaProducerConfig {
        brokers: vec![brokers.to_owned()],
        topic: topic.to_owned(),
        delivery_timeout_ms: 2_000,
        ..KafkaProducerConfig::default()
    }
}

fn spool_config(dir: &std::path::Path) -> SpoolConfig {
    SpoolConfig { segment_bytes: 64 * 1024, ..SpoolConfig::in_directory(dir) }
}

/// A local port on which nobody listens.
async fn dead_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let address = listener.local_addr().expect("local address");
    drop(listener);
    address.to_string()
}

fn writer(config: KafkaProducerConfig) -> KafkaSpanWriter {
    KafkaSpanWriter::new(config, &mut Registry::default()).expect("writer starts")
}

// ---- without Kafka

#[tokio::test]
async fn writes_succeed_through_the_spool_when_nothing_listens_on_the_broker_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dead_port().await, "spans");
    config.delivery_timeout_ms = 300;
    config.spool = spool_config(dir.path());
    let writer = writer(config);
    let ns = Namespace::new("team-a");

    writer.write(&ns, spans(1, 5)).await.expect("the first batch is spooled once delivery times out");
    assert_eq!(writer.metrics().spooled_spans(), 5);
    assert!(matches!(writer.health(), WriterHealth::Degraded(_)), "{:?}", writer.health());

    let started = Instant::now();
    writer.write(&ns, spans(2, 5)).await.expect("later batches go straight to the spool");
    assert!(started.elapsed() < Duration::from_millis(300), "no delivery timeout behind a backlog");
    assert_eq!(writer.metrics().spooled_spans(), 10);
    assert_eq!(writer.spooled_batches(), 2);
    assert_eq!(writer.metrics().spans_written(), 0);
    writer.close().await;
}

#[tokio::test]
async fn without_a_spool_an_unreachable_kafka_is_a_retryable_unavailable_error() {
    let mut config = config(&dead_port().await, "spans");
    config.delivery_timeout_ms = 300;
    let writer = writer(config);
    let error = writer.write(&Namespace::default_namespace(), spans(1, 3)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(matches!(writer.health(), WriterHealth::Degraded(_)));
}

#[tokio::test]
async fn a_full_spool_answers_overloaded_so_senders_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dead_port().await, "spans");
    config.delivery_timeout_ms = 300;
    config.spool = SpoolConfig { max_bytes: 3_000, segment_bytes: 1_000, ..SpoolConfig::in_directory(dir.path()) };
    let writer = writer(config);
    let ns = Namespace::new("team-a");
    let mut results = Vec::new();
    for batch in 0..10 {
        results.push(writer.write(&ns, spans(batch, 2)).await);
    }
    assert!(results[0].is_ok());
    let refused = results.iter().find_map(|r| r.as_ref().err()).expect("the spool fills up");
    assert_eq!(refused.kind(), ErrorKind::ResourceExhausted, "{refused}");
}

#[tokio::test]
async fn a_span_larger_than_the_maximum_message_is_refused_as_invalid() {
    let mut config = config(&dead_port().await, "spans");
    config.max_message_bytes = 1_000;
    let writer = writer(config);
    let mut batch = spans(1, 2);
    batch.spans[1].tags.push(KeyValue::string("big", "x".repeat(5_000)));
    let error = writer.write(&Namespace::default_namespace(), batch).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
}

#[tokio::test]
async fn a_restarted_writer_reopens_the_spool_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_port().await;
    let mut config = config(&dead, "spans");
    config.delivery_timeout_ms = 300;
    config.spool = spool_config(dir.path());
    let first = writer(config.clone());
    for batch in 0..3 {
        first.write(&Namespace::new("team-a"), spans(batch, 4)).await.unwrap();
    }
    first.close().await;
    drop(first);

    let second = writer(config);
    assert_eq!(second.spooled_batches(), 3);
    assert!(matches!(second.health(), WriterHealth::Degraded(_)));
    second.close().await;
}

// ---- with the real broker

async fn create_topic(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client");
    let results = admin
        .create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create topic");
    for result in results {
        result.expect("topic created");
    }
}

#[derive(Debug)]
struct Received {
    key: String,
    headers: BTreeMap<String, String>,
    payload: Vec<u8>,
}

/// Reads the topic from the beginning until `expected` messages arrived (or the timeout).
async fn consume(topic: &str, expected: usize, timeout: Duration) -> Vec<Received> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut received = Vec::new();
    while received.len() < expected && Instant::now() < deadline {
        let Ok(next) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await else {
            continue;
        };
        let message = next.expect("consume");
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        received.push(Received {
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            headers,
            payload: message.payload().unwrap_or_default().to_vec(),
        });
    }
    received
}

#[tokio::test]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn every_encoding_writes_one_message_per_span_keyed_by_trace_id_with_headers() {
    for encoding in KafkaEncoding::ALL {
        let topic = unique(&format!("encoding-{encoding}"));
        create_topic(&topic, 3).await;
        let mut config = config(&brokers(), &topic);
        config.encoding = encoding;
        let writer = writer(config);
        let batch = spans(1, 6);
        writer.write(&Namespace::new("team-a"), batch.clone()).await.expect("kafka acknowledged");
        assert_eq!(writer.metrics().spans_written(), 6);
        assert_eq!(writer.health(), WriterHealth::Ready);
        writer.close().await;

        let received = consume(&topic, 6, Duration::from_secs(30)).await;
        assert_eq!(received.len(), 6, "{encoding}");
        let mut decoded = Vec::new();
        for message in &received {
            assert_eq!(message.headers.get(NAMESPACE_HEADER).map(String::as_str), Some("team-a"));
            assert_eq!(message.headers.get(ENCODING_HEADER).map(String::as_str), Some(encoding.as_str()));
            let spans = decode_message(encoding, &message.payload).expect("decodes");
            assert_eq!(spans.len(), 1);
            assert_eq!(message.key, spans[0].trace_id.to_hex(), "key is Jaeger's trace id string");
            decoded.extend(spans);
        }
        decoded.sort_by_key(|s| s.span_id);
        if encoding == KafkaEncoding::OtlpProto {
            let ids: Vec<_> = decoded.iter().map(|s| (s.trace_id, s.span_id)).collect();
            assert_eq!(ids, batch.spans.iter().map(|s| (s.trace_id, s.span_id)).collect::<Vec<_>>());
        } else {
            assert_eq!(decoded, batch.spans, "{encoding}");
        }
    }
}

#[tokio::test]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn spans_spooled_while_kafka_was_unreachable_are_drained_after_a_restart() {
    let topic = unique("restart");
    create_topic(&topic, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let mut offline = config(&dead_port().await, &topic);
    offline.delivery_timeout_ms = 300;
    offline.spool = spool_config(dir.path());
    let first = writer(offline);
    for batch in 0..4 {
        first.write(&Namespace::new("team-a"), spans(batch, 5)).await.unwrap();
    }
    first.close().await;
    drop(first);

    let mut online = config(&brokers(), &topic);
    online.spool = spool_config(dir.path());
    let second = writer(online);
    wait_until_drained(&second, Duration::from_secs(60)).await;
    second.close().await;
    let received = consume(&topic, 20, Duration::from_secs(30)).await;
    let distinct: HashSet<_> =
        received.iter().map(|m| decode_message(KafkaEncoding::Protobuf, &m.payload).unwrap()[0].span_id).collect();
    assert_eq!(distinct.len(), 20);
    assert!(received.iter().all(|m| m.headers.get(NAMESPACE_HEADER).map(String::as_str) == Some("team-a")));
}

async fn wait_until_drained(writer: &KafkaSpanWriter, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while writer.spooled_batches() > 0 || writer.health() != WriterHealth::Ready {
        assert!(Instant::now() < deadline, "spool not drained: {:?}", writer.health());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn an_outage_is_bridged_by_the_spool_and_every_span_arrives_in_spool_order() {
    let topic = unique("outage");
    create_topic(&topic, 1).await;
    let forwarder = Forwarder::start(&brokers()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&forwarder.address.to_string(), &topic);
    config.delivery_timeout_ms = 1_500;
    config.spool = spool_config(dir.path());
    let writer = writer(config);
    let ns = Namespace::new("team-a");

    writer.write(&ns, spans(0, 10)).await.expect("kafka is up");
    assert_eq!(writer.metrics().spooled_spans(), 0);

    forwarder.set_enabled(false);
    for batch in 1..=20 {
        writer.write(&ns, spans(batch, 10)).await.expect("spooled during the outage");
    }
    assert!(writer.metrics().spooled_spans() >= 200, "{}", writer.metrics().spooled_spans());
    assert!(matches!(writer.health(), WriterHealth::Degraded(_)));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(writer.spooled_batches() > 0, "nothing drains while Kafka is away");

    forwarder.set_enabled(true);
    wait_until_drained(&writer, Duration::from_secs(90)).await;
    writer.write(&ns, spans(21, 10)).await.expect("kafka is back");
    assert!(writer.metrics().drained_spans() >= 200);
    writer.close().await;

    let received = consume(&topic, 220, Duration::from_secs(60)).await;
    let decoded: Vec<Span> =
        received.iter().map(|m| decode_message(KafkaEncoding::Protobuf, &m.payload).unwrap().remove(0)).collect();
    let distinct: HashSet<_> = decoded.iter().map(|s| s.span_id).collect();
    assert_eq!(distinct.len(), 220, "every span arrived at least once ({} messages)", decoded.len());
    // One partition: the order of first arrival is the order of the batches.
    let mut seen = HashSet::new();
    let first_arrivals: Vec<_> =
        decoded.iter().filter(|s| seen.insert(s.span_id)).map(|s| s.operation_name.clone()).collect();
    let mut sorted = first_arrivals.clone();
    sorted.sort();
    assert_eq!(first_arrivals, sorted, "batches arrive in spool order");
}

// ---- a switchable TCP forwarder in front of the broker

struct Forwarder {
    address: SocketAddr,
    enabled: Arc<AtomicBool>,
    kill: watch::Sender<u64>,
}

impl Forwarder {
    async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the forwarder");
        let address = listener.local_addr().expect("forwarder address");
        let upstream: SocketAddr = upstream.parse().expect("KAFKA_BROKERS is one ip:port");
        let enabled = Arc::new(AtomicBool::new(true));
        let (kill, _) = watch::channel(0u64);
        let accept_enabled = Arc::clone(&enabled);
        let accept_kill = kill.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if !accept_enabled.load(Ordering::Acquire) {
                    drop(client);
                    continue;
                }
                let killed = accept_kill.subscribe();
                tokio::spawn(relay(client, upstream, address.port(), killed));
            }
        });
        Self { address, enabled, kill }
    }

    /// Off: every open connection is cut and new ones are closed at once.
    fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Release);
        if !enabled {
            self.kill.send_modify(|generation| *generation += 1);
        }
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, own_port: u16, mut killed: watch::Receiver<u64>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::io::copy(&mut client_read, &mut server_write);
    let responses = relay_responses(&mut server_read, &mut client_write, upstream.port(), own_port);
    tokio::select! {
        _ = requests => {}
        _ = responses => {}
        _ = killed.changed() => {}
    }
}

/// Copies response frames, rewriting the broker's advertised `127.0.0.1:<port>` to ours.
async fn relay_responses(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    upstream_port: u16,
    own_port: u16,
) -> std::io::Result<()> {
    let mut advertised = b"127.0.0.1".to_vec();
    advertised.extend_from_slice(&i32::from(upstream_port).to_be_bytes());
    loop {
        let mut size = [0u8; 4];
        from.read_exact(&mut size).await?;
        let mut frame = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        from.read_exact(&mut frame).await?;
        let mut start = 0;
        while let Some(found) = find(&frame[start..], &advertised) {
            let port_at = start + found + advertised.len() - 4;
            frame[port_at..port_at + 4].copy_from_slice(&i32::from(own_port).to_be_bytes());
            start = port_at + 4;
        }
        to.write_all(&size).await?;
        to.write_all(&frame).await?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}
