//! Archive storage (Jaeger's `storage.traces_archive`): a second store that keeps traces a user
//! chose to keep (`POST /api/archive/{traceID}`, api_v2 `ArchiveTrace`) beyond the primary
//! store's retention. Trace lookups fall back to it when the primary store has no such trace.
//!
//! The archive may be another backend, or the same backend under other namespace names: the
//! [`ArchiveStorage::with_namespaces`] mapping turns the namespace a request reads into the one
//! the archive keeps its traces under.

use std::fmt;
use std::sync::Arc;

use spoor_model::{Namespace, Span, SpanBatch};
use spoor_storage::{GetTraceRequest, SpanReader, SpanWriter, StorageError};

/// Maps a request's namespace to the archive's namespace for it.
pub type ArchiveNamespaceMapping = Arc<dyn Fn(&Namespace) -> Namespace + Send + Sync>;

/// The archive's reader and writer, and where each namespace's archived traces live.
#[derive(Clone)]
pub struct ArchiveStorage {
    reader: Arc<dyn SpanReader>,
    writer: Arc<dyn SpanWriter>,
    namespace_of: ArchiveNamespaceMapping,
}

impl fmt::Debug for ArchiveStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveStorage").finish_non_exhaustive()
    }
}

impl ArchiveStorage {
    /// An archive that keeps each namespace's traces under the same namespace name (a separate
    /// store, e.g. an Elasticsearch cluster or index prefix of its own).
    pub fn new(reader: Arc<dyn SpanReader>, writer: Arc<dyn SpanWriter>) -> Self {
        Self { reader, writer, namespace_of: Arc::new(Namespace::clone) }
    }

    /// Keeps archived traces under `namespace_of(request namespace)` instead, e.g. the same store
    /// with an `-archive` suffix: `move |ns| Namespace::new(format!("{ns}-archive"))`.
    pub fn with_namespaces(mut self, namespace_of: impl Fn(&Namespace) -> Namespace + Send + Sync + 'static) -> Self {
        self.namespace_of = Arc::new(namespace_of);
        self
    }

    /// The archive namespace of requests reading `ns`.
    pub fn namespace_for(&self, ns: &Namespace) -> Namespace {
        (self.namespace_of)(ns)
    }

    /// The archived spans of a trace; `Ok(None)` when the archive has none.
    pub(crate) async fn read(
        &self,
        ns: &Namespace,
        request: GetTraceRequest,
    ) -> Result<Option<Vec<Span>>, StorageError> {
        let trace = self.reader.get_trace(&self.namespace_for(ns), request).await?;
        Ok(trace.map(|trace| trace.spans).filter(|spans| !spans.is_empty()))
    }

    /// Stores `spans` in the archive. Idempotent, as every [`SpanWriter`] write is: archiving a
    /// trace twice keeps one copy of each span.
    pub(crate) async fn write(&self, ns: &Namespace, spans: Vec<Span>) -> Result<(), StorageError> {
        self.writer.write(&self.namespace_for(ns), SpanBatch::new(spans)).await
    }
}
