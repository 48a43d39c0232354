//! The bounded pipeline: receivers hand it a decoded batch, it sanitizes the spans, attributes
//! them to a namespace, and writes them through the [`SpanWriter`]. [`Pipeline::submit`] returns
//! `Ok` only after the writer returned `Ok` (acknowledge = stored).
//!
//! The pipeline is bounded in bytes, not in batches: the estimated in-memory size
//! ([`SpanBatch::estimated_size`]) of every batch being written is reserved from a budget
//! ([`PipelineConfig::max_inflight_bytes`]). When a batch does not fit, `submit` fails at once with
//! the retryable [`SubmitError::Overloaded`]: it never waits for room, and it never drops a span it
//! acknowledged, because nothing is acknowledged before it is stored.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spoor_model::{Namespace, SpanBatch};
use spoor_storage::SpanWriter;

use crate::config::PipelineConfig;
use crate::error::SubmitError;
use crate::metrics::CollectorMetrics;
use crate::sanitizer::Sanitizer;

/// The wire format a batch arrived in (the `format` label of Jaeger's metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Otlp,
    Jaeger,
    Proto,
    Zipkin,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Otlp => "otlp",
            Self::Jaeger => "jaeger",
            Self::Proto => "proto",
            Self::Zipkin => "zipkin",
        }
    }
}

/// The transport a batch arrived on (the `transport` label of Jaeger's metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Grpc,
    Http,
    /// Agent `emitBatch` datagrams (6831, 6832). UDP cannot push back: what the pipeline refuses
    /// is dropped and counted.
    Udp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Http => "http",
            Self::Udp => "udp",
        }
    }
}

/// Where a batch came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    pub format: Format,
    pub transport: Transport,
}

impl Source {
    pub fn otlp(transport: Transport) -> Self {
        Self { format: Format::Otlp, transport }
    }

    /// Jaeger Thrift (`POST /api/traces`, agent `emitBatch`).
    pub fn jaeger(transport: Transport) -> Self {
        Self { format: Format::Jaeger, transport }
    }

    /// Jaeger `api_v2` protobuf (`CollectorService/PostSpans`).
    pub fn proto(transport: Transport) -> Self {
        Self { format: Format::Proto, transport }
    }

    /// Zipkin in any of its encodings (HTTP on 9411, agent `emitZipkinBatch`).
    pub fn zipkin(transport: Transport) -> Self {
        Self { format: Format::Zipkin, transport }
    }
}

/// Decides which namespace spans are stored in. Rules arrive later; today every span goes to the
/// default namespace ([`SingleNamespace`]).
pub trait NamespaceResolver: Send + Sync + 'static {
    /// Splits `batch` by namespace. MUST return every span of `batch` exactly once; MAY return one
    /// group holding the whole batch.
    fn resolve(&self, source: &Source, batch: SpanBatch) -> Vec<(Namespace, SpanBatch)>;
}

/// Puts every span in one namespace.
#[derive(Clone, Debug, Default)]
pub struct SingleNamespace {
    namespace: Namespace,
}

impl SingleNamespace {
    pub fn new(namespace: Namespace) -> Self {
        Self { namespace }
    }
}

impl NamespaceResolver for SingleNamespace {
    fn resolve(&self, _source: &Source, batch: SpanBatch) -> Vec<(Namespace, SpanBatch)> {
        vec![(self.namespace.clone(), batch)]
    }
}

/// Sanitizes, attributes and stores batches, bounded by in-flight bytes. Share it as
/// `Arc<Pipeline>` between receivers.
pub struct Pipeline {
    writer: Arc<dyn SpanWriter>,
    resolver: Arc<dyn NamespaceResolver>,
    sanitizer: Sanitizer,
    metrics: Arc<CollectorMetrics>,
    budget: InflightBudget,
    overload_retry_after: Duration,
}

impl Pipeline {
    /// A pipeline writing everything into the default namespace.
    pub fn new(writer: Arc<dyn SpanWriter>, config: &PipelineConfig, metrics: Arc<CollectorMetrics>) -> Self {
        metrics.set_max_inflight_bytes(config.max_inflight_bytes);
        Self {
            writer,
            resolver: Arc::new(SingleNamespace::default()),
            sanitizer: Sanitizer::new(),
            metrics,
            budget: InflightBudget::new(config.max_inflight_bytes),
            overload_retry_after: Duration::from_secs(config.overload_retry_after_seconds),
        }
    }

    /// Replaces the namespace resolver.
    pub fn with_namespace_resolver(mut self, resolver: Arc<dyn NamespaceResolver>) -> Self {
        self.resolver = resolver;
        self
    }

    pub fn metrics(&self) -> &Arc<CollectorMetrics> {
        &self.metrics
    }

    /// Estimated bytes of spans being written right now.
    pub fn inflight_bytes(&self) -> usize {
        self.budget.bytes.load(Ordering::Acquire)
    }

    /// Sanitizes `batch`, attributes it to namespaces and writes it. `Ok` means every span is
    /// stored (as durably as the writer promises). On `Err` nothing is acknowledged and the sender
    /// keeps the spans; [`SubmitError::kind`] says whether it may retry. Fails fast with
    /// [`SubmitError::Overloaded`] when the in-flight byte budget has no room for the batch.
    pub async fn submit(&self, mut batch: SpanBatch, source: Source) -> Result<(), SubmitError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.sanitizer.sanitize(&mut batch);
        let counts = self.metrics.span_counts(source, &batch);
        let batch_bytes = batch.estimated_size();
        self.metrics.record_received(&counts, batch_bytes);

        let reservation = self.budget.try_acquire(batch_bytes, batch.len(), &self.metrics, self.overload_retry_after);
        let permit = match reservation {
            Ok(permit) => permit,
            Err(error) => {
                if matches!(error, SubmitError::Overloaded { .. }) {
                    self.metrics.record_overload(source.transport);
                    tracing::debug!(transport = source.transport.as_str(), error = %error, "batch refused");
                }
                self.metrics.record_rejected(&counts, !error.kind().is_retryable());
                return Err(error);
            }
        };

        let started = Instant::now();
        let result = self.write(&source, batch).await;
        self.metrics.record_saved(&counts, result.is_ok(), started.elapsed());
        drop(permit);

        if let Err(error) = &result {
            tracing::warn!(transport = source.transport.as_str(), error = %error, "storing a batch failed");
            self.metrics.record_rejected(&counts, !error.kind().is_retryable());
        }
        result
    }

    async fn write(&self, source: &Source, batch: SpanBatch) -> Result<(), SubmitError> {
        let mut groups = self.resolver.resolve(source, batch);
        if groups.len() == 1 {
            let (namespace, whole_batch) = groups.remove(0);
            return Ok(self.writer.write(&namespace, whole_batch).await?);
        }
        let writes =
            groups.into_iter().map(|(namespace, batch)| async move { self.writer.write(&namespace, batch).await });
        futures::future::try_join_all(writes).await?;
        Ok(())
    }
}

/// The in-flight byte budget. Reservations are released when their permit drops, so a cancelled
/// submit (the sender hung up) gives its bytes back.
struct InflightBudget {
    bytes: AtomicUsize,
    max_bytes: usize,
}

impl InflightBudget {
    fn new(max_bytes: usize) -> Self {
        Self { bytes: AtomicUsize::new(0), max_bytes }
    }

    fn try_acquire<'a>(
        &'a self,
        bytes: usize,
        spans: usize,
        metrics: &'a CollectorMetrics,
        retry_after: Duration,
    ) -> Result<InflightPermit<'a>, SubmitError> {
        if bytes > self.max_bytes {
            return Err(SubmitError::BatchTooLarge { batch_bytes: bytes, max_inflight_bytes: self.max_bytes });
        }
        let reserved = self.bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |inflight| {
            let total = inflight.checked_add(bytes)?;
            (total <= self.max_bytes).then_some(total)
        });
        match reserved {
            Ok(_) => {
                metrics.add_inflight(bytes, spans);
                Ok(InflightPermit { budget: self, metrics, bytes, spans })
            }
            Err(inflight) => Err(SubmitError::Overloaded {
                batch_bytes: bytes,
                inflight_bytes: inflight,
                max_inflight_bytes: self.max_bytes,
                retry_after,
            }),
        }
    }
}

/// Bytes and spans reserved for one batch; dropping it releases them and updates the gauges.
struct InflightPermit<'a> {
    budget: &'a InflightBudget,
    metrics: &'a CollectorMetrics,
    bytes: usize,
    spans: usize,
}

impl Drop for InflightPermit<'_> {
    fn drop(&mut self) {
        self.budget.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.metrics.remove_inflight(self.bytes, self.spans);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use parking_lot::Mutex;
    use spoor_model::{Process, Span, SpanId, TraceId, FLAG_SAMPLED};
    use spoor_storage::{SpanWriter, StorageError};
    use tokio::sync::Notify;

    use super::*;
    use crate::error::ErrorKind;

    #[derive(Default)]
    struct RecordingWriter {
        written: Mutex<Vec<(Namespace, SpanBatch)>>,
        release: Option<Arc<Notify>>,
        fail_with: Mutex<Option<StorageError>>,
    }

    #[async_trait]
    impl SpanWriter for RecordingWriter {
        async fn write(&self, ns: &Namespace, batch: SpanBatch) -> spoor_storage::Result<()> {
            if let Some(release) = &self.release {
                release.notified().await;
            }
            if let Some(error) = self.fail_with.lock().take() {
                return Err(error);
            }
            self.written.lock().push((ns.clone(), batch));
            Ok(())
        }
    }

    fn batch(spans: usize) -> SpanBatch {
        let process = Arc::new(Process { service_name: "svc".into(), tags: vec![] });
        SpanBatch::new(
            (0..spans)
                .map(|i| Span {
                    trace_id: TraceId::new(0, 1),
                    span_id: SpanId(i as u64 + 1),
                    operation_name: "op".into(),
                    references: vec![],
                    flags: FLAG_SAMPLED,
                    start_time_unix_nano: 1,
                    duration_nanos: 1,
                    tags: vec![],
                    logs: vec![],
                    process: Arc::clone(&process),
                    warnings: vec![],
                    scope_attributes: Vec::new(),
                })
                .collect(),
        )
    }

    fn pipeline(writer: Arc<RecordingWriter>, max_inflight_bytes: usize) -> Pipeline {
        let config = PipelineConfig { max_inflight_bytes, ..PipelineConfig::default() };
        Pipeline::new(writer, &config, Arc::new(CollectorMetrics::unregistered()))
    }

    const HTTP: Source = Source { format: Format::Otlp, transport: Transport::Http };

    #[tokio::test]
    async fn submit_returns_after_the_writer_stored_the_batch_in_the_default_namespace() {
        let writer = Arc::new(RecordingWriter::default());
        let pipeline = pipeline(Arc::clone(&writer), 1 << 20);
        pipeline.submit(batch(3), HTTP).await.unwrap();
        let written = writer.written.lock();
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].0, Namespace::default_namespace());
        assert_eq!(written[0].1.len(), 3);
        assert_eq!(pipeline.inflight_bytes(), 0);
    }

    #[tokio::test]
    async fn submit_fails_fast_with_overloaded_while_the_budget_is_in_use() {
        let release = Arc::new(Notify::new());
        let writer = Arc::new(RecordingWriter { release: Some(Arc::clone(&release)), ..Default::default() });
        let one_batch = batch(2).estimated_size();
        let pipeline = Arc::new(pipeline(Arc::clone(&writer), one_batch + one_batch / 2));

        let first = tokio::spawn({
            let pipeline = Arc::clone(&pipeline);
            async move { pipeline.submit(batch(2), HTTP).await }
        });
        while pipeline.inflight_bytes() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = pipeline.submit(batch(2), HTTP).await.unwrap_err();
        assert!(matches!(refused, SubmitError::Overloaded { .. }), "{refused}");
        assert_eq!(refused.kind(), ErrorKind::ResourceExhausted);
        assert_eq!(pipeline.metrics().overload_rejections(Transport::Http), 1);

        release.notify_one();
        first.await.unwrap().unwrap();
        assert_eq!(writer.written.lock().len(), 1, "the acknowledged batch was stored");
        assert_eq!(pipeline.inflight_bytes(), 0);
    }

    #[tokio::test]
    async fn batch_larger_than_the_whole_budget_is_refused_permanently() {
        let writer = Arc::new(RecordingWriter::default());
        let pipeline = pipeline(Arc::clone(&writer), 10);
        let error = pipeline.submit(batch(1), HTTP).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::PayloadTooLarge);
        assert!(writer.written.lock().is_empty());
    }

    #[tokio::test]
    async fn writer_errors_keep_their_retryability_and_release_the_budget() {
        let writer = Arc::new(RecordingWriter::default());
        *writer.fail_with.lock() = Some(StorageError::Unavailable("cluster red".into()));
        let pipeline = pipeline(Arc::clone(&writer), 1 << 20);
        let error = pipeline.submit(batch(1), HTTP).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert!(error.kind().is_retryable());
        assert_eq!(pipeline.inflight_bytes(), 0);
    }

    #[tokio::test]
    async fn cancelled_submit_gives_its_bytes_back() {
        let release = Arc::new(Notify::new());
        let writer = Arc::new(RecordingWriter { release: Some(release), ..Default::default() });
        let pipeline = pipeline(writer, 1 << 20);
        let submit = pipeline.submit(batch(1), HTTP);
        let timed_out = tokio::time::timeout(Duration::from_millis(10), submit).await;
        assert!(timed_out.is_err());
        assert_eq!(pipeline.inflight_bytes(), 0);
    }

    struct SplitByService;

    impl NamespaceResolver for SplitByService {
        fn resolve(&self, _source: &Source, batch: SpanBatch) -> Vec<(Namespace, SpanBatch)> {
            let (a, b): (Vec<Span>, Vec<Span>) = batch.spans.into_iter().partition(|s| s.span_id.0 % 2 == 0);
            vec![(Namespace::new("even"), SpanBatch::new(a)), (Namespace::new("odd"), SpanBatch::new(b))]
        }
    }

    #[tokio::test]
    async fn a_pluggable_resolver_can_split_a_batch_across_namespaces() {
        let writer = Arc::new(RecordingWriter::default());
        let pipeline = pipeline(Arc::clone(&writer), 1 << 20).with_namespace_resolver(Arc::new(SplitByService));
        pipeline.submit(batch(3), HTTP).await.unwrap();
        let mut written: Vec<(String, usize)> =
            writer.written.lock().iter().map(|(ns, b)| (ns.to_string(), b.len())).collect();
        written.sort();
        assert_eq!(written, vec![("even".to_owned(), 1), ("odd".to_owned(), 2)]);
    }
}
