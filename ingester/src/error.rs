//! The ingester's errors.

/// Why the ingester could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    /// A configuration value is invalid.
    #[error("invalid ingester configuration: {0}")]
    Config(String),
    /// Kafka refused the consumer or producer configuration, or a subscription.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The ingester's task failed unexpectedly.
    #[error("ingester task failed: {0}")]
    Task(String),
}
