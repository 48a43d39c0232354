//! Configuration of the Kafka span writer: Jaeger's `--kafka.producer.*` settings (spec §3.1),
//! typed, plus the disk spool and raw librdkafka properties.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use spoor_model::kafka::KafkaEncoding;

use crate::spool::SpoolConfig;

/// Compression of produced batches (`--kafka.producer.compression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// librdkafka's `compression.type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            "snappy" => Ok(Self::Snappy),
            "lz4" => Ok(Self::Lz4),
            "zstd" => Ok(Self::Zstd),
            other => Err(format!("unknown compression {other:?}: expected none, gzip, snappy, lz4 or zstd")),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which acknowledgement a produce waits for (`--kafka.producer.required-acks`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequiredAcks {
    /// No acknowledgement (`acks=0`): a "success" proves nothing; the idempotent producer is off.
    Noack,
    /// The partition leader wrote it (`acks=1`, Jaeger's default); the idempotent producer is off.
    Local,
    /// Every in-sync replica wrote it (`acks=all`) and the producer is idempotent: Spoor's
    /// default, because `Ok` from the writer is what the sender is acknowledged on.
    #[default]
    All,
}

impl RequiredAcks {
    /// librdkafka's `acks` value.
    pub fn as_acks(self) -> &'static str {
        match self {
            Self::Noack => "0",
            Self::Local => "1",
            Self::All => "all",
        }
    }
}

impl FromStr for RequiredAcks {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "noack" => Ok(Self::Noack),
            "local" => Ok(Self::Local),
            "all" => Ok(Self::All),
            other => Err(format!("unknown required-acks {other:?}: expected noack, local or all")),
        }
    }
}

/// The Kafka span writer. Field names follow Jaeger's `--kafka.producer.*` flags, with units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaProducerConfig {
    /// Bootstrap brokers, `host:port` (`--kafka.producer.brokers`, comma-separated there).
    pub brokers: Vec<String>,
    /// The topic every span goes to (`--kafka.producer.topic`).
    pub topic: String,
    /// The message encoding (`--kafka.producer.encoding`): `protobuf`, `json` or `otlp_proto`.
    pub encoding: KafkaEncoding,
    /// `--kafka.producer.compression`.
    pub compression: Compression,
    /// Codec level (`--kafka.producer.compression-level`); `None` keeps librdkafka's default for
    /// the codec.
    pub compression_level: Option<i32>,
    /// `--kafka.producer.required-acks`. Anything but `all` turns the idempotent producer off.
    pub required_acks: RequiredAcks,
    /// How long librdkafka waits to fill a batch (`--kafka.producer.batch-linger`, `linger.ms`).
    /// 0 sends at once, as Jaeger does.
    pub batch_linger_ms: u64,
    /// Largest produce batch in bytes (`--kafka.producer.batch-size`, `batch.size`); 0 keeps
    /// librdkafka's default (1 MB).
    pub batch_size_bytes: usize,
    /// Most messages in a produce batch (`--kafka.producer.batch-max-messages`,
    /// `batch.num.messages`); 0 keeps librdkafka's default (10000).
    pub batch_max_messages: usize,
    /// Largest message (`--kafka.producer.max-message-bytes`, `message.max.bytes`). A batch with a
    /// span that encodes larger is refused as invalid (400 / INVALID_ARGUMENT).
    pub max_message_bytes: usize,
    /// How long a message may wait for Kafka's acknowledgement (`message.timeout.ms`) before the
    /// writer spools it (or, without a spool, fails the batch as unavailable). The sender waits
    /// at most about this long while Kafka is slow or gone; afterwards batches go to the spool at
    /// once until it is drained.
    pub delivery_timeout_ms: u64,
    /// librdkafka's `client.id`.
    pub client_id: String,
    /// Raw librdkafka properties, applied last (TLS, SASL, tuning), e.g.
    /// `security.protocol = "SASL_SSL"`. Secrets belong in files these properties point to.
    pub properties: BTreeMap<String, String>,
    /// The disk spool for when Kafka is unreachable or too slow.
    pub spool: SpoolConfig,
}

impl Default for KafkaProducerConfig {
    fn default() -> Self {
        Self {
            brokers: vec!["127.0.0.1:9092".to_owned()],
            topic: "jaeger-spans".to_owned(),
            encoding: KafkaEncoding::Protobuf,
            compression: Compression::None,
            compression_level: None,
            required_acks: RequiredAcks::All,
            batch_linger_ms: 0,
            batch_size_bytes: 0,
            batch_max_messages: 0,
            max_message_bytes: 1_000_000,
            delivery_timeout_ms: 5_000,
            client_id: "spoor-collector".to_owned(),
            properties: BTreeMap::new(),
            spool: SpoolConfig::default(),
        }
    }
}

/// Property names whose values are never logged.
const SECRET_PROPERTY_MARKERS: [&str; 3] = ["password", "secret", "token"];

impl KafkaProducerConfig {
    /// The librdkafka configuration of the producer.
    ///
    /// Fixed choices: `partitioner=fnv1a_random`, librdkafka's Sarama-compatible hash, so a trace
    /// lands in the same partition as from Jaeger's collector; `enable.idempotence=true` with
    /// `acks=all` (librdkafka refuses idempotence with other acks).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", &self.client_id)
            .set("acks", self.required_acks.as_acks())
            .set("enable.idempotence", if self.required_acks == RequiredAcks::All { "true" } else { "false" })
            .set("compression.type", self.compression.as_str())
            .set("linger.ms", self.batch_linger_ms.to_string())
            .set("message.max.bytes", self.max_message_bytes.max(1000).to_string())
            .set("message.timeout.ms", self.delivery_timeout_ms.max(1).to_string())
            .set("partitioner", "fnv1a_random");
        if let Some(level) = self.compression_level {
            config.set("compression.level", level.to_string());
        }
        if self.batch_size_bytes > 0 {
            config.set("batch.size", self.batch_size_bytes.to_string());
        }
        if self.batch_max_messages > 0 {
            config.set("batch.num.messages", self.batch_max_messages.to_string());
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// The raw properties with secret-looking values replaced, for logs.
    pub fn redacted_properties(&self) -> BTreeMap<String, String> {
        self.properties
            .iter()
            .map(|(key, value)| {
                let secret = SECRET_PROPERTY_MARKERS.iter().any(|marker| key.contains(marker));
                (key.clone(), if secret { "<redacted>".to_owned() } else { value.clone() })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_jaeger_except_the_durable_acks() {
        let config = KafkaProducerConfig::default();
        assert_eq!(config.brokers, ["127.0.0.1:9092"]);
        assert_eq!(config.topic, "jaeger-spans");
        assert_eq!(config.encoding, KafkaEncoding::Protobuf);
        assert_eq!(config.max_message_bytes, 1_000_000);
        let client = config.client_config();
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("enable.idempotence"), Some("true"));
        assert_eq!(client.get("partitioner"), Some("fnv1a_random"));
        assert_eq!(client.get("compression.type"), Some("none"));
    }

    #[test]
    fn weaker_acks_turn_idempotence_off_and_raw_properties_win() {
        let mut config = KafkaProducerConfig { required_acks: RequiredAcks::Local, ..Default::default() };
        config.properties.insert("linger.ms".into(), "7".into());
        config.properties.insert("sasl.password".into(), "hunter2".into());
        let client = config.client_config();
        assert_eq!(client.get("acks"), Some("1"));
        assert_eq!(client.get("enable.idempotence"), Some("false"));
        assert_eq!(client.get("linger.ms"), Some("7"));
        assert_eq!(config.redacted_properties()["sasl.password"], "<redacted>");
    }

    #[test]
    fn config_reads_from_toml_with_units_and_rejects_unknown_keys() {
        let config: KafkaProducerConfig = toml_like(
            r#"{"brokers":["k1:9092","k2:9092"],"encoding":"otlp_proto","compression":"zstd","required_acks":"all",
                "spool":{"directory":"/var/lib/spoor/spool","max_bytes":1048576}}"#,
        )
        .unwrap();
        assert_eq!(config.encoding, KafkaEncoding::OtlpProto);
        assert_eq!(config.compression, Compression::Zstd);
        assert_eq!(config.spool.max_bytes, 1_048_576);
        assert_eq!(config.client_config().get("bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert!(toml_like(r#"{"batch_linger":"1s"}"#).is_err());
        assert_eq!("lz4".parse::<Compression>().unwrap(), Compression::Lz4);
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!("noack".parse::<RequiredAcks>().unwrap(), RequiredAcks::Noack);
    }

    fn toml_like(json: &str) -> Result<KafkaProducerConfig, serde_json::Error> {
        serde_json::from_str(json)
    }
}
