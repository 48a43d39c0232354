//! Every Prometheus metric of the ingester, declared here. Jaeger v1's ingester names are kept
//! where Jaeger has the metric (spec §3.2, prefix `jaeger_ingester_`; its Kafka client was sarama,
//! hence `sarama_` in names that now describe librdkafka), so existing dashboards work. Spoor's
//! own metrics are `spoor_ingester_*`. Labels are bounded: topic and partition, a fixed set of
//! reasons and events.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PartitionLabels {
    pub(crate) topic: String,
    pub(crate) partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EventLabels {
    pub(crate) event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResultLabels {
    pub(crate) result: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The ingester's metrics. Cloning shares them.
#[derive(Clone, Debug)]
pub(crate) struct IngesterMetrics {
    pub(crate) messages: Family<PartitionLabels, Counter>,
    pub(crate) current_offset: Family<PartitionLabels, Gauge>,
    pub(crate) offset_lag: Family<PartitionLabels, Gauge>,
    pub(crate) consumer_errors: Counter,
    pub(crate) partition_start: Family<PartitionLabels, Counter>,
    pub(crate) partition_close: Family<PartitionLabels, Counter>,
    pub(crate) partitions_held: Gauge,
    pub(crate) offset_commits: Family<PartitionLabels, Counter>,
    pub(crate) last_committed_offset: Family<PartitionLabels, Gauge>,
    pub(crate) processor_errors: Counter,
    pub(crate) processor_latency: Histogram,
    pub(crate) retry_attempts: Counter,
    pub(crate) rebalances: Family<EventLabels, Counter>,
    pub(crate) dead_lettered: Family<ReasonLabels, Counter>,
    pub(crate) write_latency: Family<ResultLabels, Histogram>,
    pub(crate) spans_written: Counter,
    pub(crate) pending_spans: Gauge,
    pub(crate) paused: Gauge,
}

impl IngesterMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            messages: Family::default(),
            current_offset: Family::default(),
            offset_lag: Family::default(),
            consumer_errors: Counter::default(),
            partition_start: Family::default(),
            partition_close: Family::default(),
            partitions_held: Gauge::default(),
            offset_commits: Family::default(),
            last_committed_offset: Family::default(),
            processor_errors: Counter::default(),
            processor_latency: latency_histogram(),
            retry_attempts: Counter::default(),
            rebalances: Family::default(),
            dead_lettered: Family::default(),
            write_latency: Family::new_with_constructor(latency_histogram),
            spans_written: Counter::default(),
            pending_spans: Gauge::default(),
            paused: Gauge::default(),
        };
        registry.register(
            "jaeger_ingester_sarama_consumer_messages",
            "Messages received from Kafka",
            metrics.messages.clone(),
        );
        registry.register(
            "jaeger_ingester_sarama_consumer_current_offset",
            "Offset of the last message received",
            metrics.current_offset.clone(),
        );
        registry.register(
            "jaeger_ingester_sarama_consumer_offset_lag",
            "Messages behind the partition's high watermark (high watermark - offset - 1)",
            metrics.offset_lag.clone(),
        );
        registry.register(
            "jaeger_ingester_sarama_consumer_errors",
            "Errors the Kafka consumer reported",
            metrics.consumer_errors.clone(),
        );
        registry.register(
            "jaeger_ingester_sarama_consumer_partition_start",
            "Partitions assigned to this ingester",
            metrics.partition_start.clone(),
        );
        registry.register(
            "jaeger_ingester_sarama_consumer_partition_close",
            "Partitions revoked from this ingester",
            metrics.partition_close.clone(),
        );
        registry.register(
            "jaeger_ingester_sarama_consumer_partitions_held",
            "Partitions currently assigned",
            metrics.partitions_held.clone(),
        );
        registry.register(
            "jaeger_ingester_offset_commits",
            "Offset commits per partition: asynchronous ones when sent (a failed one is sent again), synchronous ones (revocation, shutdown) when acknowledged",
            metrics.offset_commits.clone(),
        );
        registry.register(
            "jaeger_ingester_last_committed_offset",
            "The last committed offset (the next one a restarted consumer reads), as last sent",
            metrics.last_committed_offset.clone(),
        );
        registry.register(
            "jaeger_ingester_span_processor_errors",
            "Failed storage writes (each attempt) and undecodable messages",
            metrics.processor_errors.clone(),
        );
        registry.register(
            "jaeger_ingester_span_processor_latency",
            "Seconds from receiving a message to its spans being durably written",
            metrics.processor_latency.clone(),
        );
        registry.register(
            "jaeger_ingester_span_processor_retry_attempts",
            "Retries of failed storage writes and dead-letter produces",
            metrics.retry_attempts.clone(),
        );
        registry.register(
            "spoor_ingester_rebalances",
            "Consumer group rebalance callbacks, by event (assign, revoke, error)",
            metrics.rebalances.clone(),
        );
        registry.register(
            "spoor_ingester_dead_lettered",
            "Messages sent to the dead-letter topic, by reason",
            metrics.dead_lettered.clone(),
        );
        registry.register(
            "spoor_ingester_write_latency_seconds",
            "Seconds one storage write of a batch took, by result (ok, retryable, permanent)",
            metrics.write_latency.clone(),
        );
        registry.register("spoor_ingester_spans_written", "Spans durably written", metrics.spans_written.clone());
        registry.register(
            "spoor_ingester_pending_spans",
            "Spans received and not yet durably written or dead-lettered",
            metrics.pending_spans.clone(),
        );
        registry.register(
            "spoor_ingester_paused",
            "1 while the partitions are paused because too many spans are pending (store slow or down)",
            metrics.paused.clone(),
        );
        metrics
    }
}
