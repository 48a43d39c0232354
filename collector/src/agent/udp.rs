//! One agent UDP socket: a reader task, a queue bounded in bytes, and worker tasks that decode
//! datagrams and submit their spans to the pipeline.
//!
//! UDP cannot push back, so every refusal is a counted drop ([`UdpServerMetrics`]): a datagram
//! that does not fit in the queue is dropped unread, and one whose spans the pipeline refuses
//! (overloaded, or the store failed) is dropped after decoding. A datagram that does not decode
//! is counted as a handler error. Nothing is answered: `emitBatch` is oneway.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::Shared;
use parking_lot::Mutex;
use spoor_model::thrift::{decode_agent_message, spans_from_thrift_batch, AgentMessage, Protocol};
use spoor_model::zipkin::spans_from_v1_thrift_spans;
use spoor_model::{Span, SpanBatch};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::error::ErrorKind;
use crate::metrics::UdpServerMetrics;
use crate::pipeline::{Pipeline, Source, Transport};

/// What an agent socket is for: its `model` and `protocol` metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AgentEndpoint {
    /// `jaeger` (6831, 6832) or `zipkin` (v1's 5775). Either takes both `emitBatch` and
    /// `emitZipkinBatch`; the model only names the socket in metrics and logs.
    pub model: &'static str,
    pub protocol: Protocol,
}

impl AgentEndpoint {
    pub const JAEGER_COMPACT: Self = Self { model: "jaeger", protocol: Protocol::Compact };
    pub const JAEGER_BINARY: Self = Self { model: "jaeger", protocol: Protocol::Binary };
    pub const ZIPKIN_COMPACT: Self = Self { model: "zipkin", protocol: Protocol::Compact };
}

/// How a socket's datagrams are queued and worked on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UdpLimits {
    pub max_packet_bytes: usize,
    pub queue_bytes: usize,
    pub workers: usize,
}

/// A datagram in the queue, holding its share of the queue's bytes until it has been handled.
struct Datagram {
    bytes: Bytes,
    _queue_share: OwnedSemaphorePermit,
}

/// Warnings about drops at most this often per socket; the counters have every drop.
const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The shared state of a socket's reader and workers.
struct SocketState {
    endpoint: AgentEndpoint,
    address: String,
    pipeline: Arc<Pipeline>,
    metrics: UdpServerMetrics,
    last_drop_warning: Mutex<Option<Instant>>,
}

impl SocketState {
    fn record_drop(&self, reason: &'static str) {
        self.metrics.packets_dropped.inc();
        let now = Instant::now();
        let mut last = self.last_drop_warning.lock();
        if last.is_some_and(|logged| now.duration_since(logged) < DROP_WARNING_INTERVAL) {
            return;
        }
        *last = Some(now);
        tracing::warn!(
            address = %self.address,
            model = self.endpoint.model,
            protocol = self.endpoint.protocol.as_str(),
            reason,
            dropped_total = self.metrics.packets_dropped.get(),
            "agent UDP datagrams dropped"
        );
    }

    /// Decodes one datagram and stores its spans.
    async fn handle(&self, bytes: &[u8]) {
        let protocol = self.endpoint.protocol;
        let (spans, source) = match decode_datagram(bytes, protocol) {
            Ok(decoded) => decoded,
            Err(error) => {
                self.metrics.handler_errors.inc();
                tracing::debug!(address = %self.address, protocol = protocol.as_str(), %error, "agent datagram not decodable");
                return;
            }
        };
        match self.pipeline.submit(SpanBatch::new(spans), source).await {
            Ok(()) => {
                self.metrics.packets_processed.inc();
            }
            Err(error) => {
                tracing::debug!(address = %self.address, %error, "agent datagram refused by the pipeline");
                let reason = match error.kind() {
                    ErrorKind::ResourceExhausted => "collector overloaded",
                    ErrorKind::Unavailable => "store unavailable",
                    _ => "spans refused",
                };
                self.record_drop(reason);
            }
        }
    }
}

/// The spans of an `emitBatch` or `emitZipkinBatch` datagram, and where they came from.
fn decode_datagram(bytes: &[u8], protocol: Protocol) -> Result<(Vec<Span>, Source), String> {
    match decode_agent_message(bytes, protocol).map_err(|error| error.to_string())? {
        AgentMessage::EmitBatch(batch) => Ok((spans_from_thrift_batch(batch), Source::jaeger(Transport::Udp))),
        AgentMessage::EmitZipkinBatch(spans) => {
            let spans = spans_from_v1_thrift_spans(spans).map_err(|error| error.to_string())?;
            Ok((spans, Source::zipkin(Transport::Udp)))
        }
    }
}

/// Reads `socket` until `shutdown` completes; then the workers finish what is queued (so every
/// datagram taken in is handled) and this returns.
pub(crate) async fn run(
    socket: UdpSocket,
    endpoint: AgentEndpoint,
    limits: UdpLimits,
    pipeline: Arc<Pipeline>,
    shutdown: Shared<impl std::future::Future<Output = ()>>,
) {
    let address = socket.local_addr().map(|address| address.to_string()).unwrap_or_else(|_| "unknown".into());
    let metrics = pipeline.metrics().udp_server(endpoint.model, endpoint.protocol.as_str());
    let state = Arc::new(SocketState { endpoint, address, pipeline, metrics, last_drop_warning: Mutex::new(None) });
    let queue = Arc::new(Semaphore::new(limits.queue_bytes.min(Semaphore::MAX_PERMITS)));
    // Unbounded as a channel, bounded by `queue`: a datagram is sent only with its share of bytes.
    let (sender, receiver) = mpsc::unbounded_channel::<Datagram>();
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));

    let mut workers = JoinSet::new();
    for _ in 0..limits.workers.max(1) {
        let state = Arc::clone(&state);
        let receiver = Arc::clone(&receiver);
        workers.spawn(async move {
            loop {
                let next = receiver.lock().await.recv().await;
                let Some(datagram) = next else { return };
                state.metrics.queue_size.dec();
                state.handle(&datagram.bytes).await;
            }
        });
    }

    tracing::info!(
        address = %state.address,
        model = endpoint.model,
        protocol = endpoint.protocol.as_str(),
        "agent UDP receiver listening"
    );
    // One byte more than allowed, to tell a datagram of exactly the limit from a longer one.
    let mut buffer = vec![0u8; limits.max_packet_bytes.saturating_add(1)];
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let received = tokio::select! {
            () = &mut shutdown => break,
            received = socket.recv_from(&mut buffer) => received,
        };
        let length = match received {
            Ok((length, _peer)) => length,
            Err(error) => {
                state.metrics.read_errors.inc();
                tracing::debug!(address = %state.address, %error, "agent UDP read failed");
                // A persistent error must not spin the reader.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        state.metrics.packet_size.set(i64::try_from(length).unwrap_or(i64::MAX));
        if length > limits.max_packet_bytes {
            state.metrics.read_errors.inc();
            tracing::debug!(address = %state.address, limit = limits.max_packet_bytes, "agent datagram over the maximum packet size");
            continue;
        }
        let share = u32::try_from(length).ok().and_then(|bytes| Arc::clone(&queue).try_acquire_many_owned(bytes).ok());
        let Some(share) = share else {
            state.record_drop("queue full");
            continue;
        };
        state.metrics.queue_size.inc();
        let datagram = Datagram { bytes: Bytes::copy_from_slice(&buffer[..length]), _queue_share: share };
        if sender.send(datagram).is_err() {
            // Only when every worker panicked; nothing is left to handle datagrams.
            tracing::error!(address = %state.address, "agent UDP workers stopped");
            break;
        }
    }
    drop(sender);
    while let Some(result) = workers.join_next().await {
        if let Err(error) = result {
            tracing::error!(address = %state.address, %error, "agent UDP worker failed");
        }
    }
    tracing::info!(address = %state.address, "agent UDP receiver stopped");
}
