//! The ingester against a real Kafka (`tests/infra/kafka start`): at-least-once delivery,
//! commits only of durable data, dead-lettering, static membership.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rdkafka::message::Headers as _;
use rdkafka::Message as _;
use spoor_ingester::IngesterHealth;
use spoor_model::kafka::KafkaEncoding;
use spoor_model::{Namespace, Span};

fn assert_committed_to_end(group: &str, topic: &str, partitions: i32) {
    let committed = committed_offsets(group, topic, partitions);
    let end = end_offsets(topic, partitions);
    for (partition, end) in end {
        let committed = committed.get(&partition).copied().flatten();
        if end == 0 {
            assert!(committed.is_none_or(|offset| offset == 0), "partition {partition}: {committed:?}");
        } else {
            assert_eq!(committed, Some(end), "partition {partition} committed up to the end");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn ingests_every_span_once_and_commits_to_the_end() {
    let topic = unique("all");
    let group = unique("group");
    create_topic(&topic, 3).await;
    let run = run_id();
    let spans: Vec<Span> = (0..2000).map(|index| span(run, index, "frontend")).collect();
    // Jaeger's own collector: protobuf, no headers at all.
    produce(&producer(), &topic, &spans, KafkaEncoding::Protobuf, None, false).await;

    let writer = Arc::new(TestWriter::default());
    let mut ingester = Running::start(config(&topic, &group), writer.clone(), default_namespace());
    assert!(ingester.wait_ready(Duration::from_secs(30)).await, "joined the group");
    assert!(wait_until(Duration::from_secs(60), || writer.stored_count() == spans.len()).await, "all spans stored");
    assert!(spans.iter().all(|span| writer.contains("default", span)));
    // Durable offsets are committed periodically, before shutdown.
    let periodic = eventually(Duration::from_secs(10), || async {
        let committed = committed_offsets(&group, &topic, 3);
        let end = end_offsets(&topic, 3);
        end.iter().all(|(partition, end)| committed.get(partition).copied().flatten() == Some(*end))
    })
    .await;
    assert!(periodic, "periodic commits reached the end");
    assert!(
        ingester.metric("jaeger_ingester_offset_commits_total", &[]) >= 1.0,
        "commits counted:\n{}",
        ingester.metrics_text()
    );
    assert_eq!(ingester.metric("jaeger_ingester_sarama_consumer_messages_total", &[]), 2000.0);
    let lag_reported = eventually(Duration::from_secs(5), || async {
        ingester.metric_count("jaeger_ingester_sarama_consumer_offset_lag", &[("topic", &topic)]) == 3
            && ingester.metric("jaeger_ingester_sarama_consumer_offset_lag", &[("topic", &topic)]) == 0.0
            && ingester.metric("jaeger_ingester_sarama_consumer_partitions_held", &[]) == 3.0
    })
    .await;
    assert!(lag_reported, "lag of every partition is 0:\n{}", ingester.metrics_text());
    ingester.stop().await;
    assert_committed_to_end(&group, &topic, 3);
    assert_eq!(writer.spans_in_store("default", &spans).await, spans.len(), "each span stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn offsets_do_not_pass_unwritten_data_while_storage_fails() {
    let topic = unique("failing");
    let group = unique("group");
    create_topic(&topic, 2).await;
    let run = run_id();
    let spans: Vec<Span> = (0..600).map(|index| span(run, index, "frontend")).collect();
    let producer = producer();
    produce(&producer, &topic, &spans[..300], KafkaEncoding::Protobuf, None, false).await;

    let writer = Arc::new(TestWriter::default());
    writer.failing.store(true, Ordering::SeqCst);
    let config =
        spoor_ingester::IngesterConfig { max_pending_spans: 100, max_batch_spans: 50, ..config(&topic, &group) };
    let mut ingester = Running::start(config, writer.clone(), default_namespace());
    assert!(ingester.wait_ready(Duration::from_secs(30)).await);
    assert!(wait_until(Duration::from_secs(30), || writer.failed_writes.load(Ordering::SeqCst) >= 5).await);
    assert!(
        tokio::time::timeout(
            Duration::from_secs(10),
            ingester.health.wait_for(|health| matches!(health, IngesterHealth::StorageFailing { .. }))
        )
        .await
        .is_ok(),
        "health reports the failing store"
    );
    produce(&producer, &topic, &spans[300..], KafkaEncoding::Protobuf, None, false).await;
    // Let the ingester try for a while: retries, commits, backpressure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(writer.stored_count(), 0);
    for (partition, committed) in committed_offsets(&group, &topic, 2) {
        assert!(committed.is_none_or(|offset| offset == 0), "partition {partition} committed {committed:?}");
    }
    assert_eq!(ingester.metric("spoor_ingester_paused", &[]), 1.0, "partitions paused at max_pending_spans");
    assert!(ingester.metric("jaeger_ingester_span_processor_retry_attempts_total", &[]) >= 3.0);
    assert!(
        ingester.metric("jaeger_ingester_sarama_consumer_messages_total", &[]) < 600.0,
        "backpressure stopped fetching"
    );

    writer.failing.store(false, Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(60), || writer.stored_count() == spans.len()).await,
        "all stored after healing"
    );
    assert!(tokio::time::timeout(
        Duration::from_secs(10),
        ingester.health.wait_for(|h| matches!(h, IngesterHealth::Ready { .. }))
    )
    .await
    .is_ok());
    assert_eq!(ingester.metric("spoor_ingester_paused", &[]), 0.0);
    ingester.stop().await;
    assert_committed_to_end(&group, &topic, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn garbage_is_dead_lettered_without_blocking_its_partition() {
    let topic = unique("garbage");
    let group = unique("group");
    create_topic(&topic, 1).await;
    let dead_letter_topic = format!("{topic}.dead-letter");
    create_topic(&dead_letter_topic, 1).await;
    let run = run_id();
    let spans: Vec<Span> = (0..40).map(|index| span(run, index, "frontend")).collect();
    let producer = producer();
    produce(&producer, &topic, &spans[..20], KafkaEncoding::Protobuf, None, false).await;
    produce_raw(&producer, &topic, 0, "garbage-key", b"\xff\xfe this is not a span \x00\x01").await;
    produce(&producer, &topic, &spans[20..30], KafkaEncoding::Json, None, true).await;
    // An unknown encoding header.
    {
        use rdkafka::message::{Header, OwnedHeaders};
        use rdkafka::producer::FutureRecord;
        let headers = OwnedHeaders::new().insert(Header { key: "spoor-encoding", value: Some("avro") });
        let record = FutureRecord::to(&topic).partition(0).key("k").payload("{}").headers(headers);
        producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("produce");
    }
    produce(&producer, &topic, &spans[30..], KafkaEncoding::Protobuf, Some("default"), true).await;

    let writer = Arc::new(TestWriter::default());
    let mut ingester = Running::start(config(&topic, &group), writer.clone(), default_namespace());
    assert!(ingester.wait_ready(Duration::from_secs(30)).await);
    assert!(wait_until(Duration::from_secs(30), || writer.stored_count() == spans.len()).await, "later spans stored");
    assert!(
        eventually(Duration::from_secs(10), || async {
            ingester.metric("spoor_ingester_dead_lettered_total", &[("reason", "undecodable")]) == 1.0
                && ingester.metric("spoor_ingester_dead_lettered_total", &[("reason", "unknown_encoding")]) == 1.0
        })
        .await,
        "dead letters counted"
    );
    assert!(ingester.metric("jaeger_ingester_span_processor_errors_total", &[]) >= 1.0);
    ingester.stop().await;
    assert_committed_to_end(&group, &topic, 1);

    let dead = read_topic(&dead_letter_topic, 2, Duration::from_secs(20));
    assert_eq!(dead.len(), 2, "two dead letters");
    let garbage = dead.iter().find(|m| m.key() == Some(b"garbage-key".as_slice())).expect("garbage dead-lettered");
    assert_eq!(garbage.payload(), Some(b"\xff\xfe this is not a span \x00\x01".as_slice()));
    let headers = garbage.headers().expect("headers");
    let header = |name: &str| {
        headers.iter().find(|h| h.key == name).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(header("spoor-error-reason").as_deref(), Some("undecodable"));
    assert!(
        header("spoor-error").is_some_and(|text| text.contains("cannot decode protobuf")),
        "{:?}",
        header("spoor-error")
    );
    assert_eq!(header("spoor-source-topic").as_deref(), Some(topic.as_str()));
    assert_eq!(header("spoor-source-offset").as_deref(), Some("20"));
    let unknown = dead.iter().find(|m| m.key() == Some(b"k".as_slice())).expect("unknown encoding dead-lettered");
    let unknown_headers = unknown.headers().expect("headers");
    assert!(unknown_headers.iter().any(|h| h.key == "spoor-encoding" && h.value == Some(b"avro".as_slice())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn spans_the_store_rejects_are_dead_lettered_and_the_rest_written() {
    let topic = unique("rejected");
    let group = unique("group");
    create_topic(&topic, 1).await;
    let dead_letter_topic = unique("dlq");
    create_topic(&dead_letter_topic, 1).await;
    let run = run_id();
    let mut spans: Vec<Span> = (0..100).map(|index| span(run, index, "frontend")).collect();
    spans[37] = span(run, 37, "poison");
    spans[80] = span(run, 80, "poison");
    produce(&producer(), &topic, &spans, KafkaEncoding::Protobuf, None, false).await;

    let writer = Arc::new(TestWriter::default());
    *writer.rejected_service.lock() = Some("poison".into());
    let config = spoor_ingester::IngesterConfig {
        dead_letter_topic: Some(dead_letter_topic.clone()),
        max_batch_delay: Duration::from_millis(500),
        ..config(&topic, &group)
    };
    let mut ingester = Running::start(config, writer.clone(), default_namespace());
    assert!(ingester.wait_ready(Duration::from_secs(30)).await);
    assert!(wait_until(Duration::from_secs(30), || writer.stored_count() == 98).await, "the other spans are written");
    assert!(
        eventually(Duration::from_secs(10), || async {
            ingester.metric("spoor_ingester_dead_lettered_total", &[("reason", "storage_rejected")]) == 2.0
        })
        .await
    );
    ingester.stop().await;
    assert_committed_to_end(&group, &topic, 1);
    let dead = read_topic(&dead_letter_topic, 2, Duration::from_secs(20));
    let mut offsets: Vec<String> = dead
        .iter()
        .filter_map(|m| {
            m.headers()?
                .iter()
                .find(|h| h.key == "spoor-source-offset")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .collect();
    offsets.sort();
    assert_eq!(offsets, vec!["37".to_owned(), "80".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn headers_choose_the_encoding_and_the_namespace() {
    let topic = unique("headers");
    let group = unique("group");
    create_topic(&topic, 2).await;
    let run = run_id();
    let producer = producer();
    let tagged: Vec<Span> = (0..10).map(|index| span(run, index, "checkout")).collect();
    let json: Vec<Span> = (10..20).map(|index| span(run, index, "cart")).collect();
    let otlp: Vec<Span> = (20..30).map(|index| span(run, index, "payments")).collect();
    let plain: Vec<Span> = (30..40).map(|index| span(run, index, "frontend")).collect();
    produce(&producer, &topic, &tagged, KafkaEncoding::Protobuf, Some("team-a"), true).await;
    produce(&producer, &topic, &json, KafkaEncoding::Json, Some("team-b"), true).await;
    produce(&producer, &topic, &otlp, KafkaEncoding::OtlpProto, None, true).await;
    produce(&producer, &topic, &plain, KafkaEncoding::Protobuf, None, false).await;

    let writer = Arc::new(TestWriter::default());
    let by_service: spoor_ingester::NamespaceFn =
        Arc::new(|span: &Span| Namespace::new(format!("rules-{}", span.service_name())));
    let mut ingester = Running::start(config(&topic, &group), writer.clone(), by_service);
    assert!(ingester.wait_ready(Duration::from_secs(30)).await);
    assert!(wait_until(Duration::from_secs(30), || writer.stored_count() == 40).await);
    assert!(tagged.iter().all(|span| writer.contains("team-a", span)));
    assert!(json.iter().all(|span| writer.contains("team-b", span)));
    assert!(otlp.iter().all(|span| writer.contains("rules-payments", span)));
    assert!(plain.iter().all(|span| writer.contains("rules-frontend", span)));
    ingester.stop().await;
    assert_committed_to_end(&group, &topic, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn static_member_restart_causes_no_rebalance_and_a_kill_loses_nothing() {
    let topic = unique("static");
    let group = unique("group");
    create_topic(&topic, 6).await;
    let run = run_id();
    let producer = producer();
    let writer = Arc::new(TestWriter::default());
    let member = |instance: &str| spoor_ingester::IngesterConfig {
        instance_id: Some(instance.to_owned()),
        ..config(&topic, &group)
    };

    let mut a = Running::start(member("ingester-a"), writer.clone(), default_namespace());
    assert!(a.wait_ready(Duration::from_secs(30)).await);
    let mut b = Running::start(member("ingester-b"), writer.clone(), default_namespace());
    assert!(b.wait_ready(Duration::from_secs(30)).await);
    assert!(
        wait_until(Duration::from_secs(60), || a.assigned_partitions() + b.assigned_partitions() == 6
            && a.assigned_partitions() > 0
            && b.assigned_partitions() > 0)
        .await,
        "the group settled: a {} b {}",
        a.assigned_partitions(),
        b.assigned_partitions()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first: Vec<Span> = (0..600).map(|index| span(run, index, "frontend")).collect();
    produce(&producer, &topic, &first, KafkaEncoding::Protobuf, None, false).await;
    assert!(wait_until(Duration::from_secs(60), || writer.stored_count() == 600).await);

    // Graceful restart of b with the same instance id, well within the 45 s session timeout.
    let rebalances_of_a = a.metric("spoor_ingester_rebalances_total", &[]);
    let b_partitions = b.assigned_partitions();
    b.stop().await;
    let mut b = Running::start(member("ingester-b"), writer.clone(), default_namespace());
    assert!(b.wait_ready(Duration::from_secs(30)).await);
    assert!(wait_until(Duration::from_secs(20), || b.assigned_partitions() == b_partitions).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(a.metric("spoor_ingester_rebalances_total", &[]), rebalances_of_a, "the other member saw no rebalance");
    assert_eq!(a.assigned_partitions(), 6 - b_partitions);

    let second: Vec<Span> = (600..1200).map(|index| span(run, index, "frontend")).collect();
    produce(&producer, &topic, &second, KafkaEncoding::Protobuf, None, false).await;
    assert!(wait_until(Duration::from_secs(60), || writer.stored_count() == 1200).await);

    // Kill b mid-stream (its future dropped), then restart it: nothing is lost.
    let third: Vec<Span> = (1200..4200).map(|index| span(run, index, "frontend")).collect();
    let producing = {
        let topic = topic.clone();
        let third = third.clone();
        tokio::spawn(async move {
            let producer = common::producer();
            for chunk in third.chunks(100) {
                produce(&producer, &topic, chunk, KafkaEncoding::Protobuf, None, false).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    assert!(wait_until(Duration::from_secs(30), || writer.stored_count() > 1500).await);
    b.kill().await;
    let mut b = Running::start(member("ingester-b"), writer.clone(), default_namespace());
    assert!(b.wait_ready(Duration::from_secs(30)).await);
    producing.await.expect("producer task");
    assert!(
        wait_until(Duration::from_secs(90), || writer.stored_count() == 4200).await,
        "stored {} of 4200",
        writer.stored_count()
    );
    b.stop().await;
    a.stop().await;
    assert_committed_to_end(&group, &topic, 6);
}

/// The control of the test above: without an instance id, the same restart rebalances the other
/// member (so the rebalance counter does see rebalances).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kafka (tests/infra/kafka)"]
async fn dynamic_member_restart_rebalances_the_other_member() {
    let topic = unique("dynamic");
    let group = unique("group");
    create_topic(&topic, 6).await;
    let writer = Arc::new(TestWriter::default());
    let mut a = Running::start(config(&topic, &group), writer.clone(), default_namespace());
    assert!(a.wait_ready(Duration::from_secs(30)).await);
    let mut b = Running::start(config(&topic, &group), writer.clone(), default_namespace());
    assert!(b.wait_ready(Duration::from_secs(30)).await);
    assert!(
        wait_until(Duration::from_secs(60), || a.assigned_partitions() + b.assigned_partitions() == 6
            && b.assigned_partitions() > 0)
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rebalances_of_a = a.metric("spoor_ingester_rebalances_total", &[]);
    b.stop().await;
    let mut b = Running::start(config(&topic, &group), writer.clone(), default_namespace());
    assert!(b.wait_ready(Duration::from_secs(30)).await);
    assert!(
        wait_until(Duration::from_secs(30), || a.metric("spoor_ingester_rebalances_total", &[]) > rebalances_of_a)
            .await,
        "a dynamic member leaving and rejoining rebalances the group"
    );
    b.stop().await;
    a.stop().await;
}
