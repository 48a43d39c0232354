//! The collector's Kafka output: [`KafkaSpanWriter`], a [`spoor_storage::SpanWriter`] that sends
//! every span as one Kafka message (Jaeger's format, spec §3.1; see [`spoor_model::kafka`]) and
//! spools to disk ([`crate::spool`]) while Kafka is unreachable or too slow.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | [`KafkaProducerConfig`]: Jaeger's `--kafka.producer.*` settings, the spool, raw librdkafka properties |
//! | `producer.rs` | the librdkafka producer: ordered enqueue, delivery reports, failure classes |
//! | `writer.rs` | [`KafkaSpanWriter`] and its spool drainer; the ordering rule while spooling |
//! | `metrics.rs` | [`KafkaWriterMetrics`], including Jaeger's `kafka_spans_written{status}` |

mod config;
mod metrics;
mod producer;
mod writer;

pub use config::{Compression, KafkaProducerConfig, RequiredAcks};
pub use metrics::KafkaWriterMetrics;
pub use writer::{KafkaSpanWriter, WriterHealth};

pub use crate::spool::SpoolConfig;

/// Why the Kafka writer could not be created.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka writer configuration: {0}")]
    Config(String),
    #[error("kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
}
