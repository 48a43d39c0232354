//! The librdkafka producer behind the span writer: enqueue messages in order, await every
//! delivery report, and classify failures as retryable (spool them) or permanent.
//!
//! The producer is rebuilt when librdkafka reports a fatal error (the idempotent producer can
//! enter one, after which it refuses everything).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientConfig, ClientContext};
use spoor_model::kafka::{KafkaEncoding, ENCODING_HEADER, NAMESPACE_HEADER};

use crate::spool::SpooledMessage;

/// Whether Kafka currently takes messages, shared by the writer, its drainer and librdkafka's
/// error callback. State changes are logged once, not per message.
#[derive(Debug)]
pub(crate) struct LinkState {
    reachable: AtomicBool,
    last_error: Mutex<String>,
}

impl LinkState {
    pub(crate) fn new() -> Self {
        Self { reachable: AtomicBool::new(true), last_error: Mutex::new(String::new()) }
    }

    pub(crate) fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    pub(crate) fn last_error(&self) -> String {
        self.last_error.lock().clone()
    }

    pub(crate) fn mark_up(&self) {
        if !self.reachable.swap(true, Ordering::AcqRel) {
            tracing::info!("kafka is reachable again");
        }
    }

    pub(crate) fn mark_down(&self, reason: &str) {
        *self.last_error.lock() = reason.to_owned();
        if self.reachable.swap(false, Ordering::AcqRel) {
            tracing::warn!(reason, "kafka is unreachable or too slow; spooling");
        }
    }
}

/// librdkafka callbacks: notices "all brokers down" before any message times out.
pub(crate) struct WriterContext {
    link: Arc<LinkState>,
}

impl ClientContext for WriterContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown) => self.link.mark_down("all brokers down"),
            Some(RDKafkaErrorCode::Fatal) => tracing::error!(%error, reason, "kafka producer fatal error"),
            _ => tracing::debug!(%error, reason, "librdkafka error"),
        }
    }
}

type RdProducer = FutureProducer<WriterContext>;

/// Why a message was not delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// Kafka may take it later: spool it or retry. `reason` is a bounded metric label.
    Retryable { reason: &'static str, detail: String },
    /// Kafka will never take it (too large, invalid).
    Permanent { reason: &'static str, detail: String },
}

impl SendFailure {
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::Retryable { reason, .. } | Self::Permanent { reason, .. } => reason,
        }
    }

    pub(crate) fn detail(&self) -> &str {
        match self {
            Self::Retryable { detail, .. } | Self::Permanent { detail, .. } => detail,
        }
    }

    fn from_kafka(error: &RdKafkaError) -> Self {
        use RDKafkaErrorCode as Code;
        let detail = error.to_string();
        let Some(code) = error.rdkafka_error_code() else {
            return Self::Retryable { reason: "other", detail };
        };
        let reason = match code {
            Code::MessageSizeTooLarge | Code::MessageBatchTooLarge | Code::InvalidMessageSize => {
                return Self::Permanent { reason: "too_large", detail };
            }
            Code::InvalidMessage | Code::InvalidRecord | Code::BadMessage => {
                return Self::Permanent { reason: "invalid", detail };
            }
            Code::QueueFull => "queue_full",
            Code::MessageTimedOut | Code::RequestTimedOut | Code::OperationTimedOut => "timeout",
            Code::AllBrokersDown
            | Code::BrokerTransportFailure
            | Code::NetworkException
            | Code::BrokerNotAvailable
            | Code::LeaderNotAvailable
            | Code::NotLeaderForPartition
            | Code::NotEnoughReplicas
            | Code::NotEnoughReplicasAfterAppend
            | Code::Resolve => "unreachable",
            Code::Fatal => "fatal",
            _ => "other",
        };
        Self::Retryable { reason, detail }
    }
}

/// The producer, replaceable after a fatal error.
pub(crate) struct Producer {
    client_config: ClientConfig,
    topic: String,
    link: Arc<LinkState>,
    current: RwLock<Arc<RdProducer>>,
    rebuilding: AtomicBool,
}

impl Producer {
    pub(crate) fn new(client_config: ClientConfig, topic: String, link: Arc<LinkState>) -> Result<Self, RdKafkaError> {
        let producer = Self::create(&client_config, &link)?;
        Ok(Self {
            client_config,
            topic,
            link,
            current: RwLock::new(Arc::new(producer)),
            rebuilding: AtomicBool::new(false),
        })
    }

    fn create(client_config: &ClientConfig, link: &Arc<LinkState>) -> Result<RdProducer, RdKafkaError> {
        client_config.create_with_context(WriterContext { link: Arc::clone(link) })
    }

    pub(crate) fn link(&self) -> &Arc<LinkState> {
        &self.link
    }

    /// Enqueues every message now, in order, and returns a future of each one's delivery. The
    /// enqueueing happens before this returns, so successive calls keep their order within a
    /// partition.
    pub(crate) fn send_all(
        &self,
        namespace: &str,
        encoding: KafkaEncoding,
        messages: &[SpooledMessage],
    ) -> impl Future<Output = Vec<Result<(), SendFailure>>> + Send + 'static {
        let producer = Arc::clone(&self.current.read());
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            let headers = OwnedHeaders::new_with_capacity(2)
                .insert(Header { key: NAMESPACE_HEADER, value: Some(namespace) })
                .insert(Header { key: ENCODING_HEADER, value: Some(encoding.as_str()) });
            let record = FutureRecord::to(&self.topic)
                .key(message.key.as_slice())
                .payload(message.value.as_slice())
                .headers(headers);
            pending.push(match producer.send_result(record) {
                Ok(delivery) => Ok(delivery),
                Err((error, _record)) => Err(SendFailure::from_kafka(&error)),
            });
        }
        async move {
            let mut results = Vec::with_capacity(pending.len());
            for entry in pending {
                results.push(match entry {
                    Ok(delivery) => match delivery.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((error, _message))) => Err(SendFailure::from_kafka(&error)),
                        Err(_canceled) => {
                            Err(SendFailure::Retryable { reason: "other", detail: "producer closed".to_owned() })
                        }
                    },
                    Err(failure) => Err(failure),
                });
            }
            drop(producer);
            results
        }
    }

    /// Replaces the producer when librdkafka says it hit a fatal error. The old one is dropped on
    /// a blocking thread (dropping waits for its outstanding requests).
    pub(crate) fn rebuild_if_fatal(&self) {
        let fatal = self.current.read().client().fatal_error();
        let Some((code, reason)) = fatal else {
            return;
        };
        if self.rebuilding.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::error!(?code, reason, "kafka producer hit a fatal error; creating a new one");
        match Self::create(&self.client_config, &self.link) {
            Ok(fresh) => {
                let old = std::mem::replace(&mut *self.current.write(), Arc::new(fresh));
                tokio::task::spawn_blocking(move || drop(old));
            }
            Err(error) => tracing::error!(%error, "cannot create a new kafka producer"),
        }
        self.rebuilding.store(false, Ordering::Release);
    }

    /// Waits up to `timeout` for queued messages to be delivered (blocking).
    pub(crate) fn flush_blocking(&self, timeout: Duration) {
        let producer = Arc::clone(&self.current.read());
        if let Err(error) = producer.flush(timeout) {
            tracing::warn!(%error, "kafka producer flush did not finish");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_validity_errors_are_permanent_and_the_rest_retryable() {
        let permanent =
            SendFailure::from_kafka(&RdKafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge));
        assert!(matches!(permanent, SendFailure::Permanent { reason: "too_large", .. }));
        for (code, reason) in [
            (RDKafkaErrorCode::QueueFull, "queue_full"),
            (RDKafkaErrorCode::MessageTimedOut, "timeout"),
            (RDKafkaErrorCode::AllBrokersDown, "unreachable"),
            (RDKafkaErrorCode::TopicAuthorizationFailed, "other"),
        ] {
            let failure = SendFailure::from_kafka(&RdKafkaError::MessageProduction(code));
            assert!(matches!(failure, SendFailure::Retryable { .. }), "{code:?}");
            assert_eq!(failure.reason(), reason);
        }
    }
}
