//! The dead-letter topic: where a message goes that can never be stored (undecodable, or refused
//! by the store for good), so that it neither crashes the ingester nor blocks its partition.
//!
//! The dead-letter message keeps the original key, payload and headers and adds:
//! `spoor-error` (the reason in words, at most 1 KiB), `spoor-error-reason` (one of
//! [`DeadLetterReason`]), `spoor-source-topic`, `spoor-source-partition`, `spoor-source-offset`.
//! The producer is idempotent with `acks=all`; its offset is committed only once the dead-letter
//! topic acknowledged the message.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::IngesterConfig;

/// Header with the reason a message was dead-lettered, in words.
pub const ERROR_HEADER: &str = "spoor-error";
/// Header with the reason code ([`DeadLetterReason::as_str`]).
pub const ERROR_REASON_HEADER: &str = "spoor-error-reason";
pub const SOURCE_TOPIC_HEADER: &str = "spoor-source-topic";
pub const SOURCE_PARTITION_HEADER: &str = "spoor-source-partition";
pub const SOURCE_OFFSET_HEADER: &str = "spoor-source-offset";

const MAX_ERROR_HEADER_BYTES: usize = 1024;

/// Why a message was dead-lettered (the `reason` label of `spoor_ingester_dead_lettered_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// The payload is not a message of its encoding (or is empty).
    Undecodable,
    /// The `spoor-encoding` header names no known encoding.
    UnknownEncoding,
    /// The `spoor-namespace` header is empty or not UTF-8.
    InvalidNamespaceHeader,
    /// The store refused the spans with a permanent error (invalid argument, internal).
    StorageRejected,
    /// The store has no such namespace (and refuses unknown ones).
    UnknownNamespace,
}

impl DeadLetterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::UnknownEncoding => "unknown_encoding",
            Self::InvalidNamespaceHeader => "invalid_namespace_header",
            Self::StorageRejected => "storage_rejected",
            Self::UnknownNamespace => "unknown_namespace",
        }
    }
}

/// An owned copy of a consumed message: what the dead-letter topic receives, and what a batch
/// re-decodes its spans from when a write must be retried or split.
#[derive(Clone, Debug)]
pub(crate) struct ReceivedMessage {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
}

impl ReceivedMessage {
    pub(crate) fn copy_of<M: rdkafka::Message>(message: &M) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers.iter().map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec))).collect()
            })
            .unwrap_or_default();
        Self {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
        }
    }

    /// The value of the first header named `name`; `Some(None)` for a header without a value.
    pub(crate) fn header(&self, name: &str) -> Option<Option<&[u8]>> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_deref())
    }
}

fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Produces to the dead-letter topic.
pub(crate) struct DeadLetterProducer {
    producer: FutureProducer,
    topic: String,
    source_topic: String,
}

impl DeadLetterProducer {
    pub(crate) fn new(config: &IngesterConfig) -> Result<Self, KafkaError> {
        let producer: FutureProducer = config.dead_letter_producer_config().create()?;
        Ok(Self { producer, topic: config.dead_letter_topic(), source_topic: config.topic.clone() })
    }

    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Produces one dead-letter message and waits for the acknowledgement. One attempt; the
    /// caller retries.
    pub(crate) async fn send(
        &self,
        message: &ReceivedMessage,
        reason: DeadLetterReason,
        detail: &str,
    ) -> Result<(), KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len() + 5);
        for (key, value) in &message.headers {
            if key.starts_with("spoor-error") || key.starts_with("spoor-source-") {
                continue; // a message dead-lettered twice keeps only the latest reason
            }
            headers = headers.insert(Header { key, value: value.as_deref() });
        }
        let partition = message.partition.to_string();
        let offset = message.offset.to_string();
        headers = headers
            .insert(Header { key: ERROR_HEADER, value: Some(truncate_utf8(detail, MAX_ERROR_HEADER_BYTES)) })
            .insert(Header { key: ERROR_REASON_HEADER, value: Some(reason.as_str()) })
            .insert(Header { key: SOURCE_TOPIC_HEADER, value: Some(self.source_topic.as_str()) })
            .insert(Header { key: SOURCE_PARTITION_HEADER, value: Some(partition.as_str()) })
            .insert(Header { key: SOURCE_OFFSET_HEADER, value: Some(offset.as_str()) });
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key.as_slice());
        }
        if let Some(payload) = &message.payload {
            record = record.payload(payload.as_slice());
        }
        match self.producer.send(record, Duration::from_secs(5)).await {
            Ok(_) => Ok(()),
            Err((error, _unsent)) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_a_character_boundary() {
        assert_eq!(truncate_utf8("abc", 10), "abc");
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
    }
}
