//! The ingester's configuration: Jaeger's `kafka.consumer.*` options plus Spoor's batching, retry
//! and dead-letter settings, and how they become librdkafka properties.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rdkafka::ClientConfig;
use spoor_model::kafka::KafkaEncoding;

/// Where a consumer group without a committed offset starts reading a partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialOffset {
    /// The oldest retained message: nothing already in the topic is skipped (the default).
    #[default]
    Earliest,
    /// Only messages produced after the group first joined (Jaeger v1's sarama default).
    Latest,
}

impl InitialOffset {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earliest => "earliest",
            Self::Latest => "latest",
        }
    }
}

impl std::str::FromStr for InitialOffset {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "earliest" | "oldest" => Ok(Self::Earliest),
            "latest" | "newest" => Ok(Self::Latest),
            other => Err(format!("unknown initial offset {other:?}: expected earliest or latest")),
        }
    }
}

/// The ingester's configuration. `Default` gives Jaeger's defaults where Jaeger has the option.
#[derive(Clone)]
pub struct IngesterConfig {
    /// Comma-separated `host:port` list (`kafka.consumer.brokers`).
    pub brokers: String,
    /// The topic to consume (`kafka.consumer.topic`).
    pub topic: String,
    /// The consumer group (`kafka.consumer.group-id`).
    pub group_id: String,
    /// The Kafka client id (`kafka.consumer.client-id`).
    pub client_id: String,
    /// Static group membership (`group.instance.id`), e.g. the pod name. With it, a restart
    /// within [`IngesterConfig::session_timeout`] gets its partitions back without a rebalance
    /// of the other members; `None` is dynamic membership (every restart rebalances).
    pub instance_id: Option<String>,
    /// `client.rack` for follower fetching (`kafka.consumer.rack-id`).
    pub rack_id: Option<String>,
    /// The payload encoding of messages without a `spoor-encoding` header, i.e. messages of
    /// Jaeger's own collector (`kafka.consumer.encoding`).
    pub encoding: KafkaEncoding,
    /// Where to start without a committed offset (`auto.offset.reset`).
    pub initial_offset: InitialOffset,
    /// How long the group waits for a silent member before moving its partitions away
    /// (`session.timeout.ms`, 45 s as Kafka's own default). A static member restarting within it
    /// causes no rebalance; a crashed one delays its partitions by up to this long.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (3 s).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (5 min). The ingester polls even while it holds back (partitions
    /// paused), so a slow store never makes it leave the group.
    pub max_poll_interval: Duration,
    /// Most bytes fetched per partition and request (`kafka.consumer.fetch-max-message-bytes`,
    /// librdkafka `max.partition.fetch.bytes`).
    pub fetch_max_message_bytes: usize,
    /// Where undecodable messages and messages the store permanently rejects go; `None` means
    /// `<topic>.dead-letter`.
    pub dead_letter_topic: Option<String>,
    /// A namespace's batch is written when it holds this many spans...
    pub max_batch_spans: usize,
    /// ...or when its first span has waited this long.
    pub max_batch_delay: Duration,
    /// Batches written concurrently.
    pub max_in_flight_batches: usize,
    /// Received spans not yet durably written (or dead-lettered) before the ingester pauses its
    /// partitions; it resumes below half of it. Bounds memory while the store is slow or down.
    pub max_pending_spans: usize,
    /// How often durable offsets are committed (asynchronously). Revocation and shutdown commit
    /// synchronously.
    pub commit_interval: Duration,
    /// First retry delay of a failed write or dead-letter produce (full jitter).
    pub retry_initial_backoff: Duration,
    /// Cap of the exponential retry delay. Retries never stop: data is never skipped.
    pub retry_max_backoff: Duration,
    /// How long a revocation waits for the revoked partitions' in-flight writes before it commits
    /// what is durable and lets the partitions go (the next owner re-reads the rest).
    pub revoke_flush_timeout: Duration,
    /// How long shutdown waits for in-flight writes before it commits what is durable and stops.
    pub shutdown_timeout: Duration,
    /// librdkafka statistics interval, which feeds the offset-lag gauge; zero disables it.
    pub statistics_interval: Duration,
    /// Extra librdkafka properties for the consumer and the dead-letter producer (TLS, SASL,
    /// tuning); they override the ones derived from the fields above.
    pub kafka_properties: BTreeMap<String, String>,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".to_owned(),
            topic: "jaeger-spans".to_owned(),
            group_id: "jaeger-ingester".to_owned(),
            client_id: "jaeger-ingester".to_owned(),
            instance_id: None,
            rack_id: None,
            encoding: KafkaEncoding::Protobuf,
            initial_offset: InitialOffset::Earliest,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            fetch_max_message_bytes: 1_048_576,
            dead_letter_topic: None,
            max_batch_spans: 1000,
            max_batch_delay: Duration::from_millis(200),
            max_in_flight_batches: 4,
            max_pending_spans: 20_000,
            commit_interval: Duration::from_secs(1),
            retry_initial_backoff: Duration::from_millis(100),
            retry_max_backoff: Duration::from_secs(30),
            revoke_flush_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
            statistics_interval: Duration::from_secs(5),
            kafka_properties: BTreeMap::new(),
        }
    }
}

/// Property names whose values are never printed.
fn is_secret_property(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "key", "token", "jaas"].iter().any(|word| name.contains(word))
}

impl fmt::Debug for IngesterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .kafka_properties
            .iter()
            .map(|(name, value)| (name.as_str(), if is_secret_property(name) { "<redacted>" } else { value.as_str() }))
            .collect();
        f.debug_struct("IngesterConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("client_id", &self.client_id)
            .field("instance_id", &self.instance_id)
            .field("rack_id", &self.rack_id)
            .field("encoding", &self.encoding)
            .field("initial_offset", &self.initial_offset)
            .field("session_timeout", &self.session_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("max_poll_interval", &self.max_poll_interval)
            .field("fetch_max_message_bytes", &self.fetch_max_message_bytes)
            .field("dead_letter_topic", &self.dead_letter_topic())
            .field("max_batch_spans", &self.max_batch_spans)
            .field("max_batch_delay", &self.max_batch_delay)
            .field("max_in_flight_batches", &self.max_in_flight_batches)
            .field("max_pending_spans", &self.max_pending_spans)
            .field("commit_interval", &self.commit_interval)
            .field("retry_initial_backoff", &self.retry_initial_backoff)
            .field("retry_max_backoff", &self.retry_max_backoff)
            .field("revoke_flush_timeout", &self.revoke_flush_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("statistics_interval", &self.statistics_interval)
            .field("kafka_properties", &properties)
            .finish()
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}

impl IngesterConfig {
    /// The dead-letter topic: the configured one, or `<topic>.dead-letter`.
    pub fn dead_letter_topic(&self) -> String {
        match &self.dead_letter_topic {
            Some(topic) if !topic.is_empty() => topic.clone(),
            _ => format!("{}.dead-letter", self.topic),
        }
    }

    /// Checks the values librdkafka does not check itself.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("brokers must not be empty".into());
        }
        if self.topic.is_empty() {
            return Err("topic must not be empty".into());
        }
        if self.group_id.is_empty() {
            return Err("group id must not be empty".into());
        }
        if self.dead_letter_topic() == self.topic {
            return Err("the dead-letter topic must differ from the consumed topic".into());
        }
        if self.instance_id.as_deref() == Some("") {
            return Err("instance id must not be empty (leave it unset for dynamic membership)".into());
        }
        if self.max_batch_spans == 0 || self.max_in_flight_batches == 0 || self.max_pending_spans == 0 {
            return Err("max batch spans, max in-flight batches and max pending spans must be positive".into());
        }
        if self.max_batch_delay.is_zero() || self.commit_interval.is_zero() {
            return Err("max batch delay and commit interval must be positive".into());
        }
        Ok(())
    }

    /// The consumer's librdkafka properties.
    pub(crate) fn consumer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("client.id", &self.client_id)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", self.initial_offset.as_str())
            .set("session.timeout.ms", millis(self.session_timeout))
            .set("heartbeat.interval.ms", millis(self.heartbeat_interval))
            .set("max.poll.interval.ms", millis(self.max_poll_interval))
            .set("max.partition.fetch.bytes", self.fetch_max_message_bytes.to_string());
        if let Some(instance_id) = &self.instance_id {
            config.set("group.instance.id", instance_id);
        }
        if let Some(rack_id) = &self.rack_id {
            config.set("client.rack", rack_id);
        }
        if !self.statistics_interval.is_zero() {
            config.set("statistics.interval.ms", millis(self.statistics_interval));
        }
        for (name, value) in &self.kafka_properties {
            config.set(name, value);
        }
        config
    }

    /// The dead-letter producer's librdkafka properties: acknowledged by every in-sync replica,
    /// idempotent (a retried produce is not duplicated).
    pub(crate) fn dead_letter_producer_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("{}-dead-letter", self.client_id))
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000");
        if let Some(rack_id) = &self.rack_id {
            config.set("client.rack", rack_id);
        }
        for (name, value) in &self.kafka_properties {
            if !is_consumer_only_property(name) {
                config.set(name, value);
            }
        }
        config
    }
}

/// Consumer properties a producer would warn about; they are left out of the producer's config.
fn is_consumer_only_property(name: &str) -> bool {
    name.starts_with("group.")
        || name.starts_with("fetch.")
        || name.starts_with("auto.")
        || name.starts_with("enable.auto")
        || matches!(
            name,
            "partition.assignment.strategy"
                | "session.timeout.ms"
                | "heartbeat.interval.ms"
                | "max.poll.interval.ms"
                | "max.partition.fetch.bytes"
                | "isolation.level"
                | "enable.partition.eof"
                | "queued.min.messages"
                | "queued.max.messages.kbytes"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_jaegers() {
        let config = IngesterConfig::default();
        assert_eq!(config.brokers, "127.0.0.1:9092");
        assert_eq!(config.topic, "jaeger-spans");
        assert_eq!(config.group_id, "jaeger-ingester");
        assert_eq!(config.client_id, "jaeger-ingester");
        assert_eq!(config.encoding, KafkaEncoding::Protobuf);
        assert_eq!(config.dead_letter_topic(), "jaeger-spans.dead-letter");
        assert!(config.validate().is_ok());
    }

    #[test]
    fn consumer_config_uses_static_membership_only_with_an_instance_id() {
        let mut config = IngesterConfig::default();
        assert_eq!(config.consumer_config().get("group.instance.id"), None);
        config.instance_id = Some("ingester-0".into());
        let client = config.consumer_config();
        assert_eq!(client.get("group.instance.id"), Some("ingester-0"));
        assert_eq!(client.get("partition.assignment.strategy"), Some("cooperative-sticky"));
        assert_eq!(client.get("enable.auto.commit"), Some("false"));
        assert_eq!(client.get("session.timeout.ms"), Some("45000"));
        assert_eq!(client.get("auto.offset.reset"), Some("earliest"));
    }

    #[test]
    fn extra_properties_override_and_skip_the_producer_when_consumer_only() {
        let mut config = IngesterConfig::default();
        config.kafka_properties.insert("security.protocol".into(), "SSL".into());
        config.kafka_properties.insert("session.timeout.ms".into(), "60000".into());
        assert_eq!(config.consumer_config().get("session.timeout.ms"), Some("60000"));
        let producer = config.dead_letter_producer_config();
        assert_eq!(producer.get("security.protocol"), Some("SSL"));
        assert_eq!(producer.get("session.timeout.ms"), None);
    }

    #[test]
    fn debug_never_prints_secret_properties() {
        let mut config = IngesterConfig::default();
        config.kafka_properties.insert("sasl.password".into(), "hunter2".into());
        config.kafka_properties.insert("ssl.key.password".into(), "hunter3".into());
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2") && !text.contains("hunter3"), "{text}");
        assert!(text.contains("sasl.password"));
    }

    #[test]
    fn rejects_a_dead_letter_topic_equal_to_the_topic() {
        let config = IngesterConfig { dead_letter_topic: Some("jaeger-spans".into()), ..IngesterConfig::default() };
        assert!(config.validate().is_err());
    }
}
