//! The Kafka writer's metrics. They live with the writer rather than in `crate::metrics` because
//! only a collector that writes to Kafka registers them; the names are declared here, once.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `jaeger_kafka_spans_written_total{status}` | counter | Jaeger's name: messages Kafka acknowledged (`success`) or failed (`failure`), each attempt |
//! | `spoor_kafka_produce_errors_total{reason}` | counter | failed messages by bounded reason |
//! | `spoor_kafka_up` | gauge | 1 while Kafka takes messages, 0 after a failure until the next success |
//! | `spoor_kafka_spool_bytes` | gauge | bytes of the spool's segment files |
//! | `spoor_kafka_spool_records` | gauge | batches waiting in the spool |
//! | `spoor_kafka_spool_oldest_record_age_seconds` | gauge | age of the oldest waiting batch (0 when empty) |
//! | `spoor_kafka_spooled_spans_total` | counter | messages written to the spool |
//! | `spoor_kafka_drained_spans_total` | counter | spooled messages Kafka acknowledged |
//! | `spoor_kafka_spool_full_total` | counter | batches refused because the spool was full (429) |
//! | `spoor_kafka_spool_dropped_spans_total` | counter | spooled messages dropped: unreadable on disk or refused by Kafka for good |

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Cheap to clone; every clone updates the same series.
#[derive(Clone, Debug, Default)]
pub struct KafkaWriterMetrics {
    spans_written: Family<StatusLabels, Counter>,
    produce_errors: Family<ReasonLabels, Counter>,
    up: Gauge,
    spool_bytes: Gauge,
    spool_records: Gauge,
    spool_oldest_age_seconds: Gauge<f64, AtomicU64>,
    spooled_spans: Counter,
    drained_spans: Counter,
    spool_full: Counter,
    spool_dropped_spans: Counter,
}

impl KafkaWriterMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "jaeger_kafka_spans_written",
            "Spans Kafka acknowledged (status=success) or failed to take (status=failure), per attempt",
            metrics.spans_written.clone(),
        );
        registry.register(
            "spoor_kafka_produce_errors",
            "Spans Kafka failed to take, by reason (timeout, queue_full, unreachable, too_large, other)",
            metrics.produce_errors.clone(),
        );
        registry.register(
            "spoor_kafka_up",
            "1 while Kafka takes spans, 0 after a failure until a success",
            metrics.up.clone(),
        );
        registry.register(
            "spoor_kafka_spool_bytes",
            "Bytes of the disk spool's segment files",
            metrics.spool_bytes.clone(),
        );
        registry.register(
            "spoor_kafka_spool_records",
            "Batches waiting in the disk spool",
            metrics.spool_records.clone(),
        );
        registry.register(
            "spoor_kafka_spool_oldest_record_age_seconds",
            "Age of the oldest batch waiting in the disk spool (0 when it is empty)",
            metrics.spool_oldest_age_seconds.clone(),
        );
        registry.register(
            "spoor_kafka_spooled_spans",
            "Spans written to the disk spool",
            metrics.spooled_spans.clone(),
        );
        registry.register(
            "spoor_kafka_drained_spans",
            "Spooled spans Kafka acknowledged (spool drained)",
            metrics.drained_spans.clone(),
        );
        registry.register(
            "spoor_kafka_spool_full",
            "Batches refused with 429 / RESOURCE_EXHAUSTED because the disk spool was full",
            metrics.spool_full.clone(),
        );
        registry.register(
            "spoor_kafka_spool_dropped_spans",
            "Spooled spans dropped: unreadable on disk, or refused by Kafka for good",
            metrics.spool_dropped_spans.clone(),
        );
        metrics.up.set(1);
        metrics
    }

    pub fn record_written(&self, spans: u64) {
        if spans > 0 {
            self.spans_written.get_or_create(&StatusLabels { status: "success" }).inc_by(spans);
            self.up.set(1);
        }
    }

    pub fn record_failed(&self, reason: &'static str, spans: u64) {
        if spans > 0 {
            self.spans_written.get_or_create(&StatusLabels { status: "failure" }).inc_by(spans);
            self.produce_errors.get_or_create(&ReasonLabels { reason }).inc_by(spans);
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    pub fn set_spool_state(&self, bytes: u64, records: usize, oldest_age_seconds: f64) {
        self.spool_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.spool_records.set(i64::try_from(records).unwrap_or(i64::MAX));
        self.spool_oldest_age_seconds.set(oldest_age_seconds);
    }

    pub fn record_spooled(&self, spans: u64) {
        self.spooled_spans.inc_by(spans);
    }

    pub fn record_drained(&self, spans: u64) {
        self.drained_spans.inc_by(spans);
    }

    pub fn record_spool_full(&self) {
        self.spool_full.inc();
    }

    pub fn record_spool_dropped(&self, spans: u64) {
        self.spool_dropped_spans.inc_by(spans);
    }

    /// Spans Kafka acknowledged so far (tests, benchmarks).
    pub fn spans_written(&self) -> u64 {
        self.spans_written.get_or_create(&StatusLabels { status: "success" }).get()
    }

    /// Spans that failed so far, every attempt counted.
    pub fn spans_failed(&self) -> u64 {
        self.spans_written.get_or_create(&StatusLabels { status: "failure" }).get()
    }

    pub fn spooled_spans(&self) -> u64 {
        self.spooled_spans.get()
    }

    pub fn drained_spans(&self) -> u64 {
        self.drained_spans.get()
    }
}
